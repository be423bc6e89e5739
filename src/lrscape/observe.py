"""What a sweep records of each trajectory, and the output schema: every variable's dims,
dtype and attributes, in one table.

:class:`Observe` is to a sweep what diffrax's ``SaveAt`` is to a solve: the records every
``record_every`` steps, and the opt-in observations (curvature, the Lyapunov exponent, the
period detector's tail, the trainability score, the best loss). Its fields are validated
when it is made. :data:`VARIABLES` is the schema: the in-scan recorder
(:mod:`lrscape.record`, :mod:`lrscape.simulate`) produces variables by these names, and the
store's layout and the returned Dataset are built from this table.

Adding an observation is one field here (whose ``help`` the flag of ``lrscape sweep`` that
it gets shows), its variables in :data:`VARIABLES`, and its recorder in :mod:`lrscape.record`
(see ``best``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, NamedTuple, TypeVar

from . import paths
from ._fields import require_bool, require_int, require_optional_int
from .regimes import Regime, Thresholds

T = TypeVar("T")

#: The dimensions of records (what ``records=False`` leaves out): every other variable a
#: trajectory has once.
RECORD_DIMS = frozenset({"step", "epoch", "curvature_step", "path_step"})


class Variable(NamedTuple):
    """One output variable: its dimensions after the grid's (or ``trajectory`` in a store),
    its dtype (``"float"``: the sweep's ``dtype``) and its attributes."""

    dims: tuple[str, ...]
    dtype: str
    attrs: dict[str, Any]

    @property
    def is_record(self) -> bool:
        """Whether it is a record over steps, epochs or curvature measurements."""
        return bool(RECORD_DIMS & set(self.dims))


#: The metadata conventions the Datasets and stores follow (their global ``Conventions``).
CF_CONVENTIONS = "CF-1.10"
#: CF's unit of a dimensionless number: every quantity of a synthetic landscape is one (its
#: losses, rates, curvatures, counts of updates), so every variable that is a number says so.
DIMENSIONLESS = "1"


def _summary(long_name: str, dtype: str = "float", **attrs: Any) -> Variable:
    numeric = dtype != "bool" and "flag_values" not in attrs  # flags and booleans have none
    units = {"units": DIMENSIONLESS} if numeric else {}
    return Variable((), dtype, {"long_name": long_name, **units, **attrs})


def _along(dims: tuple[str, ...], long_name: str) -> Variable:
    return Variable(dims, "float", {"long_name": long_name, "units": DIMENSIONLESS})


#: Every variable a sweep can return, by name.
VARIABLES: dict[str, Variable] = {
    "regime": _summary("regime of the trajectory", "int8", **Regime.flag_attrs()),
    "label_margin": _summary(
        "how far the statistic that decided the regime was from its threshold (0: on it, "
        "1: clear-cut)", borderline=Thresholds.borderline),
    "period": _summary("period of the final cycle (1: fixed, 0: none found; a PERIODIC run "
                       "with 0 is bounded, unsettled and not chaotic by its Lyapunov exponent: "
                       "a cycle longer than max_period)", "int32"),
    "period_mismatch": _summary("largest deviation of the tail from itself at its period, in "
                                "units of period_rtol (at most 1; NaN: no period)"),
    "approach_reversal": _summary("share of the approach's progress (nats of decay of the "
                                  "step energy) made by reversing second differences "
                                  "(NaN: no measurable approach)"),
    "reversals": _summary("measurable steps of the approach that turn around (the step "
                          "dx_t . dx_(t-1) < 0, or its change D_t . D_(t-1) < 0)", "int32"),
    "zigzag_progress": _summary("progress (nats of decay of the step energy) made by steps "
                                "that reverse direction right after a reversal"),
    "quiet_stretch": _summary("share of the approach's progress made after its last "
                              "turn-around (NaN: fewer than two turn-arounds)"),
    "late_low": _summary("smallest window-mean loss over the record windows that start in the "
                         "last quarter of the run"),
    "converged": _summary("reached a fixed point within tolerance by the end", "bool"),
    "initial_loss": _summary("loss at the start"),
    "final_loss": _summary("loss after the last update (NaN if it passed the divergence "
                           "limit)"),
    "peak_loss_ratio": _summary("largest loss over the run / initial loss"),
    "divergence_step": _summary(
        "update at which the loss passed the divergence limit (-1: never, also where a run "
        "is labelled diverged because it ended still growing)", "int32"),
    "oscillation": _summary("share of the step-pair weight sum_t |dx_t . dx_(t-1)| on pairs "
                            "that reverse direction"),
    "late_oscillation": _summary("the same share over the record windows that start in the "
                                 "second half of the run"),
    "step_ratio": _summary("length of the last step / length of the first"),
    "step_correlation": _summary("correlation of successive steps dx_t, dx_(t-1) over the "
                                 "record windows that start in the second half of the run "
                                 "(noisy runs)"),
    "late_change": _summary("relative change of the largest loss, last quarter vs third"),
    "trainability": _summary("trainability score: -sum of L_t/L_0 if trained, else sum of "
                             "L_0/L_t (Sohl-Dickstein 2024)"),
    "trainable": _summary("trained: the mean of the last 20 losses is below the initial loss",
                          "bool"),
    "lyapunov": _summary("largest finite-time Lyapunov exponent of the update map, per step"),
    "best_loss": _summary("smallest loss over the run, at the start and after every update "
                          "before any divergence (the minibatch loss on a stochastic "
                          "landscape, the full loss after the last update)"),
    "best_step": _summary("updates done when the smallest loss was reached (0: at the start)",
                          "int32"),
    "tail_loss": _along(("tail",), "loss over the last 2*max_period steps (oldest first)"),
    "tail_projection": _along(("tail",), "iterate projected on a fixed random unit "
                                         "direction, last 2*max_period steps"),
    "loss_last": _along(("step",), "loss at the last step of each record window (the "
                                   "minibatch loss on a stochastic landscape)"),
    "loss_mean": _along(("step",), "mean loss over each record window"),
    "loss_min": _along(("step",), "smallest loss over each record window"),
    "loss_max": _along(("step",), "largest loss over each record window"),
    "loss_full": _along(("step",), "full loss (noise-free, or on the whole training set) "
                                   "after each record window's last update"),
    "sharpness": _along(("curvature_step",), "top Hessian eigenvalue (Lanczos)"),
    "eigvec_overlap": _along(("curvature_step",),
                             "|<v1(t), v1(t')>| of successive top eigenvectors"),
    "top_eigenvalues": _along(("curvature_step", "rank"),
                              "largest Hessian eigenvalues (Lanczos Ritz values), by rank"),
    "path": Variable(("path_step", "plane"), "float", {
        "long_name": "the iterate's coordinates in the sweep's path plane (path_origin, "
                     "path_basis), at the start and every path_every updates (NaN once "
                     "diverged)", "units": DIMENSIONLESS}),
    "path_distance": _along(("path_step",), "distance of the iterate from the path plane "
                                            "(what the plane's picture does not show)"),
    "epoch_loss_mean": _along(("epoch",), "mean minibatch loss over the epoch, as a training "
                                          "loop logs it"),
    "train_loss": _along(("epoch",), "loss on the whole training set at the end of the epoch"),
    "train_accuracy": _along(("epoch",), "accuracy on the training set at the end of the "
                                         "epoch"),
    "val_loss": _along(("epoch",), "loss on the validation set at the end of the epoch"),
    "val_accuracy": _along(("epoch",), "accuracy on the validation set at the end of the "
                                       "epoch"),
}

#: What is logged at the end of every epoch of a finite-sum landscape, in this order.
EPOCH_RECORDS = ("epoch_loss_mean", "train_loss", "train_accuracy", "val_loss", "val_accuracy")


def variable(name: str) -> Variable:
    """The schema of the output variable ``name``."""
    if name not in VARIABLES:
        raise KeyError(f"output {name!r} is not in lrscape.observe.VARIABLES: add it there")
    return VARIABLES[name]


def is_record(name: str) -> bool:
    """Whether the variable ``name`` is a record (left out with ``records=False``)."""
    return variable(name).is_record


def kept(values: Mapping[str, T], records: bool) -> dict[str, T]:
    """What a sweep keeps of some outputs (name -> anything): all of them, or with
    ``records=False`` those a trajectory has once."""
    return dict(values) if records else {k: v for k, v in values.items() if not is_record(k)}


#: Attributes every store holds, whatever their value (a store written before an observation
#: existed lacks its attribute, which therefore is only written when the observation is on).
_ALWAYS_STORED = ("curvature_every", "curvature_iters", "curvature_k", "lyapunov",
                  "trainability")


def _option(default: Any, help: str) -> Any:
    """A field of :class:`Observe` with its default and a one-line ``help``, which ``lrscape
    sweep --help`` shows for its flag (a name in backquotes there becomes its flag)."""
    return dataclasses.field(default=default, metadata={"help": help})


@dataclasses.dataclass(frozen=True)
class Observe:
    """What is recorded of every trajectory, beyond its regime and summary.

    Args:
        record_every: the window, in steps, of each record (``loss_last``, ``loss_mean``, and
            on noisy runs ``loss_min``, ``loss_max``); must divide the run's ``steps``.
            Memory grows with ``steps / record_every``, never with ``steps``.
        curvature_every: measure the sharpness (the Hessian's top eigenvalue, by Lanczos
            warm-started from the last top eigenvector) at step 0 and every this many steps,
            with the overlap of successive top eigenvectors; a multiple of ``record_every``
            that divides ``steps``. ``None``: not measured.
        curvature_iters: Lanczos steps (Hessian-vector products) per measurement.
        curvature_k: also record the top ``curvature_k`` Ritz values as ``top_eigenvalues``
            when more than 1; at most ``curvature_iters``.
        lyapunov: the largest Lyapunov exponent of the update map (``lyapunov``).
        keep_tail: the last ``2 * max_period`` steps the period detector saw (``tail_loss``,
            ``tail_projection``).
        trainability: the trainability score of Sohl-Dickstein (2024) (``trainability``,
            ``trainable``).
        best: the smallest loss over the run and the number of updates done when it was
            reached (``best_loss``, ``best_step``): where a run that later bounced or
            diverged was best. Two scalars more per trajectory and step.
        path_every: record where the iterate is, at the start and every this many updates
            (``path`` in the sweep's path plane and ``path_distance`` from it, along
            ``path_step``: :mod:`lrscape.paths`); 1 records every update, which a bounce
            from wall to wall needs (every other update is on the same side). It divides
            ``record_every`` or is a multiple of it that divides the run's ``steps``; memory
            grows with ``steps / path_every``. ``None``: not recorded.
        path_plane: with ``path_every``, the plane the paths are seen in: ``"auto"`` (the
            coordinates of a landscape of at most two, else the plane the landscape declares,
            else the Hessian's two top eigenvectors at the start), ``"hessian"``, or an
            :class:`lrscape.paths.Plane`.

    >>> Observe(record_every=10, curvature_every=100).curvature_every
    100
    >>> Observe(curvature_k=2)
    Traceback (most recent call last):
    ...
    ValueError: `curvature_k` = 2 acts only with `curvature_every` ...
    """

    record_every: int = _option(10, "record window in steps: the loss at each window's end "
                                "and its mean are recorded; must divide `steps`")
    curvature_every: int | None = _option(
        None, "measure the sharpness (top Hessian eigenvalue) at step 0 and every N steps, a "
              "multiple of `record_every` (default: not measured); the figure draws it "
              "against the edge of stability")
    curvature_iters: int = _option(20, "with `curvature_every`, Lanczos steps (Hessian-vector "
                                       "products) per measurement")
    curvature_k: int = _option(1, "with `curvature_every`, also record the top N eigenvalues")
    lyapunov: bool = _option(False, "also estimate each trajectory's largest Lyapunov exponent "
                                    "(positive: chaos; about doubles the cost)")
    keep_tail: bool = _option(False, "also keep the last 2 * max_period losses and iterates the "
                                     "period detector saw (tail_loss, tail_projection)")
    trainability: bool = _option(False, "also score trainability (Sohl-Dickstein 2024: "
                                        "trainability, trainable)")
    best: bool = _option(False, "also keep the smallest loss over the run and the update it "
                                "was reached at (best_loss, best_step)")
    path_every: int | None = _option(
        None, "record the iterate's position in a plane (path, path_distance) at the start and "
              "every N updates (1: every one, which a bounce needs); N divides `record_every` "
              "or is a multiple of it (default: not recorded)")
    path_plane: str | paths.Plane = dataclasses.field(default="auto", metadata={
        "help": "with `path_every`, the plane of the paths: auto (a 2-D landscape's "
                "coordinates, else the landscape's own plane, else the top two Hessian "
                "eigenvectors at the start) or hessian",
        "choices": ("auto", "hessian")})

    def __post_init__(self) -> None:
        require_int("record_every", self.record_every)
        require_optional_int("curvature_every", self.curvature_every)
        require_int("curvature_iters", self.curvature_iters)
        require_int("curvature_k", self.curvature_k)
        for name in ("lyapunov", "keep_tail", "trainability", "best"):
            require_bool(name, getattr(self, name))
        require_optional_int("path_every", self.path_every)
        paths.check_spec(self.path_plane)
        if self.path_every is None and self.path_plane != "auto":
            raise ValueError(f"`path_plane` = {self.path_plane!r} acts only with `path_every` "
                             "(how often to record the path): give it too")
        if self.curvature_every is None:
            unused = [f"`{name}` = {getattr(self, name)}" for name in ("curvature_k",
                                                                         "curvature_iters")
                      if getattr(self, name) != _DEFAULTS[name]]
            if unused:
                raise ValueError(
                    f"{' and '.join(unused)} {'act' if len(unused) > 1 else 'acts'} only with "
                    "`curvature_every` (how often to measure the sharpness): give it too")
        if self.curvature_k > self.curvature_iters:
            raise ValueError(f"`curvature_k` = {self.curvature_k} must be at most "
                             f"`curvature_iters` = {self.curvature_iters}")

    def check_steps(self, steps: int) -> None:
        """Refuse windows and curvature intervals that do not fit a run of ``steps``."""
        if steps % self.record_every:
            below = steps - steps % self.record_every
            above = below + self.record_every
            nearby = f"steps={below} or steps={above}" if below else f"steps={above}"
            raise ValueError(f"`record_every` = {self.record_every} does not divide `steps` = "
                             f"{steps}: the last window would be partial; choose e.g. {nearby}")
        every = self.curvature_every
        if every is not None and (every % self.record_every or steps % every):
            raise ValueError(f"`curvature_every` = {every} must be a multiple of `record_every` "
                             f"= {self.record_every} and divide `steps` = {steps}")
        every = self.path_every
        if every is not None and self.record_every % every and (
                every % self.record_every or steps % every):
            raise ValueError(f"`path_every` = {every} must divide `record_every` = "
                             f"{self.record_every}, or be a multiple of it that divides `steps` "
                             f"= {steps}")

    def attrs(self) -> dict[str, int]:
        """The observation part of a sweep's stored configuration."""
        measured = self.curvature_every is not None
        values = {"curvature_every": self.curvature_every or 0,
                  "curvature_iters": self.curvature_iters if measured else 0,
                  "curvature_k": self.curvature_k if measured else 0,
                  "lyapunov": int(self.lyapunov), "trainability": int(self.trainability),
                  "keep_tail": int(self.keep_tail), "best": int(self.best),
                  "path_every": self.path_every or 0}
        return {k: v for k, v in values.items() if k in _ALWAYS_STORED or v}

    @classmethod
    def config_keys(cls) -> tuple[str, ...]:
        """The attribute names of :meth:`attrs` (some written only when on)."""
        return ("curvature_every", "curvature_iters", "curvature_k", "lyapunov",
                "trainability", "keep_tail", "best", "path_every", "path_plane")


_DEFAULTS = {f.name: f.default for f in dataclasses.fields(Observe)}
