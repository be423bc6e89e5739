"""The experiment: what a sweep simulates, validated once, with its identity and its Dataset.

An :class:`Experiment` is a landscape, an optimizer, a schedule, the grid's axes (or a list of
points), the run length, seeds, start, dtype, the classifier's thresholds and what to observe
(:class:`~lrscape.observe.Observe`). :meth:`Experiment.create` checks everything a user can get
wrong, in Python, before anything is compiled, and raises a ``ValueError`` naming the setting
and the value. The experiment owns the sweep's stored configuration (:meth:`attrs`, whose
:data:`CONFIG_KEYS` decide whether a store holds the same sweep) and turns the flat outputs of
its trajectories into the Dataset :func:`lrscape.sweep` returns (:meth:`dataset`).
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import os
import sys
import warnings
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import xarray as xr

from . import grid as grid_mod
from . import landscapes, optimizers, paths
from . import schedules as schedules_mod
from ._fields import cast_floats, require_int, require_nonnegative
from ._version import code_versions
from .landscapes import Landscape, StochasticLandscape
from .observe import CF_CONVENTIONS, DIMENSIONLESS, Observe, variable
from .optimizers import Optimizer
from .regimes import Thresholds
from .schedules import Schedule

#: Record windows the CHAOTIC label needs: its steady envelope compares the largest losses of
#: the windows in the last two quarters of the run.
MIN_WINDOWS_FOR_CHAOS = 4

#: Attributes that define a sweep: two stores agreeing on these (and on their grid's
#: coordinates) hold the same experiment.
CONFIG_KEYS = (
    "landscape", "landscape_config", "optimizer", "optimizer_config", "schedule",
    "schedule_config", "grid_axes", "steps", "record_every", "seed", "x0", "thresholds", "dtype",
    "gradient_noise", *Observe.config_keys(),
)


@dataclasses.dataclass(frozen=True, eq=False)
class Experiment:
    """One sweep's simulation, validated: build it with :meth:`create`.

    Attributes:
        landscape: the loss landscape.
        optimizer: the optimizer, with its fixed hyperparameters.
        axes: the grid's axes (or, with ``points``, the columns of a list of points).
        steps: updates per trajectory.
        seed: the PRNG seed when ``seed`` is not an axis.
        x0: explicit starting parameters (``None``: ``landscape.init`` per seed).
        schedule: the learning-rate multiplier per step (``None``: constant).
        gradient_noise: the Gaussian gradient noise's standard deviation when it is not an axis.
        thresholds: the classifier's thresholds.
        dtype: float32 or float64.
        observe: what is recorded.
        points: the axes are a list of points (trajectory ``i`` takes every axis's ``i``-th
            value), not the axes of a grid.
        plane: the plane paths are recorded in (:mod:`lrscape.paths`), chosen once when
            ``observe.path_every`` is set; else ``None``.
    """

    landscape: Landscape
    optimizer: Optimizer
    axes: tuple[grid_mod.Axis, ...]
    steps: int = 1000
    seed: int = 0
    x0: Any = None
    schedule: Schedule | None = None
    gradient_noise: float = 0.0
    thresholds: Thresholds = Thresholds()
    dtype: np.dtype = np.dtype(np.float32)
    observe: Observe = Observe()
    points: bool = False
    plane: paths.Plane | None = None

    @classmethod
    def create(
        cls,
        landscape: Landscape | str,
        optimizer: str | Optimizer | Callable[..., Any] = "sgd",
        grid: Mapping[str, Iterable[float]] | None = None,
        *,
        points: Mapping[str, Iterable[float]] | None = None,
        steps: int = 1000,
        seed: int = 0,
        x0: Any = None,
        schedule: Schedule | str | Callable[[jax.Array], Any] | None = None,
        gradient_noise: float = 0.0,
        thresholds: Thresholds | Mapping[str, Any] | None = None,
        dtype: Any = None,
        observe: Observe | None = None,
    ) -> Experiment:
        """The experiment, every setting checked (the arguments of :func:`lrscape.sweep`)."""
        landscape = _landscape(landscape)
        schedule = schedules_mod.resolve(schedule)
        optimizer = optimizers.get(optimizer)
        thresholds = _thresholds(thresholds)
        observe = Observe() if observe is None else observe
        if not isinstance(observe, Observe):
            raise ValueError(f"`observe` must be an lrscape.Observe, got {observe!r}")
        require_int("steps", steps)
        dtype = _dtype(dtype)
        _check_step_count(steps, dtype)
        observe.check_steps(steps)
        if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or not (
                0 <= seed < 2**32):
            raise ValueError(f"`seed` must be an integer in [0, 2**32), got {seed!r}")
        if schedule is not None:
            schedule.check_horizon(steps)
        axes = _axes(grid, points, landscape, optimizer, schedule)
        if missing := optimizer.missing(grid_mod.covered(axes, landscape)):
            raise ValueError(
                f"optimizer {optimizer.name!r} needs {', '.join(missing)}: make it a grid axis "
                f"(grid={{{missing[0]!r}: ...}}) or fix it with "
                f"lrscape.optimizers.get({optimizer.name!r}, {missing[0]}=...)")
        if not axes:
            raise ValueError(f"`grid` is {grid!r}: a sweep needs at least one axis, e.g. "
                             "grid={'learning_rate': [0.1]} (one value runs one trajectory)")
        _check_schedule_axes(axes, schedule, int(steps))
        x0 = None if x0 is None else _normalise_x0(x0, landscape)
        noise = require_nonnegative("gradient_noise", gradient_noise)
        experiment = cls(landscape, optimizer, axes, steps=int(steps), seed=int(seed), x0=x0,
                         schedule=schedule, gradient_noise=noise, thresholds=thresholds,
                         dtype=dtype, observe=observe, points=points is not None)
        _check_representable(experiment)
        experiment.warn_of_idle_seeds()
        if observe.path_every is not None:
            experiment = dataclasses.replace(experiment, plane=experiment.path_plane())
        return experiment

    def start(self) -> Any:
        """The nominal start: ``x0``, or ``landscape.init`` of the sweep's ``seed``, in the
        sweep's dtype (trajectories of a ``seed`` or start axis start elsewhere)."""
        with jax.enable_x64(self.dtype == np.float64):
            params = (self.landscape.init(jax.random.key(self.seed)) if self.x0 is None
                      else self.x0)
            return cast_floats(params, self.dtype, jnp)

    def path_plane(self) -> paths.Plane:
        """The plane the sweep's paths are recorded in, chosen by ``observe.path_plane`` at
        the nominal start (:func:`lrscape.paths.resolve`)."""
        with jax.enable_x64(self.dtype == np.float64):
            landscape = cast_floats(self.landscape, self.dtype).prepare()
            return paths.resolve(self.observe.path_plane, landscape, self.start())

    # -- what follows from the settings ----------------------------------------------------

    @property
    def total(self) -> int:
        """The number of trajectories."""
        return len(self.axes[0].values) if self.points else grid_mod.size(self.axes)

    @property
    def shape(self) -> tuple[int, ...]:
        """The Dataset's shape over the grid (``(n,)`` for ``n`` points)."""
        return (self.total,) if self.points else tuple(len(a.values) for a in self.axes)

    @property
    def dims(self) -> tuple[str, ...]:
        """The Dataset's dimensions over the grid (``("point",)`` for a list of points)."""
        return ("point",) if self.points else tuple(a.name for a in self.axes)

    @property
    def adds_noise(self) -> bool:
        """Whether Gaussian noise is added to the gradients (a value > 0, or an axis)."""
        return self.gradient_noise > 0 or any(a.target == "noise" for a in self.axes)

    @property
    def noisy(self) -> bool:
        """Whether the gradients are noisy: a stochastic landscape, or added noise. Noisy runs
        are labelled by their step correlation and keep each window's extremes."""
        return isinstance(self.landscape, StochasticLandscape) or self.adds_noise

    @property
    def steps_per_epoch(self) -> int | None:
        """Updates per epoch on a finite-sum landscape, else ``None``."""
        return getattr(self.landscape, "steps_per_epoch", None)

    def fixed_hyperparams(self) -> dict[str, np.ndarray]:
        """The optimizer's hyperparameters that no axis sweeps, as arrays of the dtype."""
        swept = {a.field for a in self.axes if a.target == "optimizer"}
        return {k: np.asarray(v, self.dtype) for k, v in self.optimizer.hyperparams.items()
                if v is not None and k not in swept}

    @property
    def seed_matters(self) -> bool:
        """Whether the seed changes a trajectory: it draws the start (a landscape with a
        random start and no ``x0``), the minibatches (a stochastic landscape) or the added
        gradient noise."""
        random_start = self.x0 is None and type(self.landscape).random_start
        return random_start or self.noisy

    def warn_of_idle_seeds(self) -> None:
        """A ``seed`` axis along which nothing can change: say so, naming the axis and why."""
        axis = next((a.name for a in self.axes if a.target == "seed"), None)
        if axis is None or self.seed_matters:
            return
        if self.x0 is not None and type(self.landscape).random_start:
            start, remedy = "every trajectory starts at the given x0", "leave x0 unset or add"
        else:
            start = f"the landscape {self.landscape.name!r} starts at a fixed point"
            remedy = "add"
        warnings.warn(
            f"{axis} axis: {start} and has no noise, so every seed runs the same trajectory "
            f"({remedy} gradient_noise for seeds to differ)", UserWarning,
            stacklevel=_outside_lrscape())

    def warn_of_few_windows(self) -> None:
        """Too few record windows for the CHAOTIC label: say so."""
        windows = self.steps // self.observe.record_every
        if windows < MIN_WINDOWS_FOR_CHAOS and not self.noisy:
            warnings.warn(
                f"{windows} record window(s) (steps = {self.steps}, record_every = "
                f"{self.observe.record_every}): with fewer than {MIN_WINDOWS_FOR_CHAOS}, no "
                "trajectory can be labelled CHAOTIC (a chaotic one reads as OSCILLATORY); "
                "record more often to tell chaos apart", UserWarning, stacklevel=3)

    # -- identity and output ---------------------------------------------------------------

    def attrs(self) -> dict[str, Any]:
        """The Dataset's (and the store's) attributes: the whole configuration, versions
        and the facts figures need (``noisy``, ``steps_per_epoch``, and
        ``oscillation_words``, the landscape's words for an OSCILLATORY trajectory:
        :attr:`lrscape.landscapes.Landscape.oscillation_words`)."""
        noise_axis = any(a.target == "noise" for a in self.axes)
        schedule = self.schedule
        return {
            "Conventions": CF_CONVENTIONS,
            "landscape": self.landscape.name,
            "landscape_config": json.dumps(self.landscape.config()),
            "optimizer": self.optimizer.name,
            "optimizer_config": json.dumps(self.optimizer.config()),
            "schedule": schedule.name if schedule is not None else "constant",
            "schedule_config": json.dumps(schedule.run_config(self.steps)
                                          if schedule is not None else {}),
            "grid_axes": json.dumps([[a.name, f"{a.target}.{a.field}"] for a in self.axes]),
            "steps": self.steps,
            "record_every": self.observe.record_every,
            "seed": self.seed,
            "x0": "landscape.init" if self.x0 is None else json.dumps(
                jax.tree.map(lambda v: np.asarray(v).tolist(), self.x0)),
            "thresholds": json.dumps(dataclasses.asdict(self.thresholds)),
            "dtype": self.dtype.name,
            **code_versions(),
            **self.observe.attrs(),
            "gradient_noise": "axis" if noise_axis else float(self.gradient_noise),
            "steps_per_epoch": self.steps_per_epoch or 0,
            "noisy": int(self.noisy),
            "oscillation_words": type(self.landscape).oscillation_words,
            **({"path_plane": self.plane.describe()} if self.plane is not None else {}),
        }

    def dataset(self, values: Mapping[str, np.ndarray]) -> xr.Dataset:
        """The Dataset of the flat outputs ``values`` (name -> ``(total, ...)``), over the
        grid, with coordinates and attributes; see :mod:`lrscape.observe` for the variables."""
        data = grid_mod.to_grid({name: (variable(name).dims, value, variable(name).attrs)
                                 for name, value in values.items()}, self.dims, self.shape)
        ds = xr.Dataset(data, coords=self._coords(values))
        ds.attrs.update(self.attrs())
        if "label_margin" in ds:  # the borderline of these thresholds, not the default's
            ds["label_margin"].attrs["borderline"] = self.thresholds.borderline
        return ds

    def _coords(self, values: Mapping[str, np.ndarray]) -> dict[str, Any]:
        dims = {d for name in values for d in variable(name).dims}
        coords: dict[str, Any] = {}
        for a in self.axes:
            spacing = "log" if grid_mod.is_log_spaced(a.values) else "linear"
            coords[a.name] = ("point" if self.points else a.name, a.values,
                              {"long_name": f"{a.field} of the {a.target}",
                               "units": DIMENSIONLESS, "sweeps": f"{a.target}.{a.field}",
                               "spacing": spacing})
        every, steps = self.observe.record_every, self.steps
        if "step" in dims:
            coords["step"] = ("step", np.arange(1, steps // every + 1) * every,
                              _count("updates done at the end of the record window"))
        if "curvature_step" in dims:
            coords["curvature_step"] = (
                "curvature_step", np.arange(0, steps + 1, self.observe.curvature_every),
                _count("updates done when the curvature was measured"))
        if "epoch" in dims:
            per_epoch = self.steps_per_epoch
            coords["epoch"] = ("epoch", np.arange(1, steps // per_epoch + 1),
                               _count(f"epochs done ({per_epoch} updates each)"))
        if self.plane is not None:
            coords.update(self._plane_coords("path_step" in dims))
        return coords

    def _plane_coords(self, with_steps: bool) -> dict[str, Any]:
        """The path plane's coordinates: its origin and basis (always, so that a Dataset
        without its records still says where its paths lie), and the records' updates."""
        plane = self.plane
        names = ", ".join(plane.axis_names())
        coords: dict[str, Any] = {
            "plane": ("plane", np.arange(plane.rank), {
                "long_name": f"coordinate in the path plane ({names})",
                "axes": names, "how": plane.describe()}),
            "path_origin": ("parameter", plane.origin, {
                "long_name": "the path plane's origin (flattened parameters)"}),
            "path_basis": (("plane", "parameter"), plane.basis, {
                "long_name": "the path plane's orthonormal basis vectors (rows)"}),
        }
        if with_steps:
            coords["path_step"] = ("path_step", np.arange(0, self.steps + 1,
                                                          self.observe.path_every),
                                   _count("updates done when the position was recorded"))
        return coords


def _count(long_name: str) -> dict[str, str]:
    """The attributes of a coordinate that counts updates or epochs: a dimensionless number."""
    return {"long_name": long_name, "units": DIMENSIONLESS}


def _outside_lrscape() -> int:
    """The ``stacklevel`` that points a warning given by this module's caller at the first
    frame outside the lrscape package: the user's call, however deep the library's own."""
    package = os.path.dirname(os.path.abspath(__file__))
    frame, level = sys._getframe(1), 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(package):
        frame, level = frame.f_back, level + 1
    return level


def _landscape(landscape: Landscape | str) -> Landscape:
    landscape = landscapes.get(landscape) if isinstance(landscape, str) else landscape
    if not isinstance(landscape, Landscape):
        raise ValueError(f"`landscape` must be a Landscape or a registry name, got {landscape!r}")
    if jax.tree_util.all_leaves([landscape]):
        raise ValueError(
            f"`landscape` {type(landscape).__name__} is not a JAX pytree: declare the class "
            f"with @lrscape.landscapes.register(\"a-name\"), which makes it a frozen dataclass "
            f"whose numeric fields are traced")
    return landscape


def _axes(grid: Mapping[str, Iterable[float]] | None,
          points: Mapping[str, Iterable[float]] | None, landscape: Landscape,
          optimizer: Optimizer, schedule: Schedule | None) -> tuple[grid_mod.Axis, ...]:
    """The grid's axes, or a list of points' columns, checked."""
    if points is None:
        axes = grid_mod.resolve(grid, landscape, optimizer, schedule)
        grid_mod.check_ordered(axes)
        return axes
    if grid is not None:
        raise ValueError("give `grid` or `points`, not both")
    axes = grid_mod.resolve(points, landscape, optimizer, schedule)
    lengths = {a.name: len(a.values) for a in axes}
    if not axes or len(set(lengths.values())) != 1:
        raise ValueError(f"`points` must give every axis the same number of values, got "
                         f"{lengths}")
    return axes


def _check_step_count(steps: int, dtype: np.dtype) -> None:
    """Refuse more updates than a run counts exactly: its step counters are of the
    simulation's dtype (float32 counts to 2**24), its step index and ``divergence_step``
    32-bit integers."""
    limit = min(2 ** (np.finfo(dtype).nmant + 1), 2**31 - 1)
    if steps > limit:
        other = (" or run with dtype=float64 (up to 2**31 - 1 = 2,147,483,647 steps)"
                 if dtype == np.float32 else "")
        raise ValueError(f"`steps` = {steps:,} is more than a {dtype.name} run counts exactly "
                         f"({limit:,} updates): run fewer steps{other}")


#: Schedule-axis combinations checked one by one against the run's length; beyond, each axis's
#: values are checked with the others at their extremes.
MAX_SCHEDULE_COMBINATIONS = 10_000


def _check_schedule_axes(axes: tuple[grid_mod.Axis, ...], schedule: Schedule | None,
                         steps: int) -> None:
    """Check schedule fields swept as axes against the run's length, as a fixed schedule's
    are (:meth:`Schedule.check_horizon`)."""
    swept = [a for a in axes if a.target == "schedule"]
    if not swept or schedule is None:
        return
    values = [np.unique(a.values) for a in swept]
    if math.prod(len(v) for v in values) <= MAX_SCHEDULE_COMBINATIONS:
        combinations: Iterable[tuple[float, ...]] = itertools.product(*values)
    else:
        combinations = (combination for k in range(len(swept)) for combination in
                        itertools.product(*(v if i == k else (v[0], v[-1])
                                            for i, v in enumerate(values))))
    for combination in combinations:
        fields = {a.field: float(v) for a, v in zip(swept, combination, strict=True)}
        try:
            schedule.replace(**fields).check_horizon(steps)
        except ValueError as err:
            named = ", ".join(f"{a.name!r} = {float(v):g}"
                              for a, v in zip(swept, combination, strict=True))
            raise ValueError(f"grid axis {named}: {err}") from None


def _check_representable(experiment: Experiment) -> None:
    """Refuse a value that is finite (or nonzero) as given but not in the simulation's dtype,
    where it would silently run as inf (or 0): every swept value, fixed hyperparameter,
    numeric landscape and schedule field, ``x0`` and ``gradient_noise``."""
    dtype = experiment.dtype
    for axis in experiment.axes:
        if axis.target != "seed":
            _check_in_dtype(f"grid axis {axis.name!r}", axis.values, dtype)
    swept = {a.field for a in experiment.axes if a.target == "optimizer"}
    for key, value in experiment.optimizer.hyperparams.items():
        if value is not None and key not in swept:
            _check_in_dtype(f"the optimizer's {key!r}", value, dtype)
    for what, obj in (("landscape", experiment.landscape), ("schedule", experiment.schedule)):
        for name, value in (obj.config() if obj is not None else {}).items():
            _check_in_dtype(f"{what} field `{name}`", value, dtype)
    if experiment.x0 is not None:
        for leaf in jax.tree.leaves(experiment.x0):
            _check_in_dtype("`x0`", leaf, dtype)
    _check_in_dtype("`gradient_noise`", experiment.gradient_noise, dtype)


def _check_in_dtype(what: str, value: Any, dtype: np.dtype) -> None:
    """``value`` (numbers; anything else is left alone) must stay finite and nonzero in
    ``dtype`` where it is so as given."""
    if isinstance(value, bool | str) or value is None:
        return
    try:
        given = np.asarray(value, dtype=np.float64)
    except OverflowError:  # a Python integer beyond float64
        raise ValueError(f"{what} = {value!r} overflows {dtype.name}") from None
    except (TypeError, ValueError):
        return
    with np.errstate(over="ignore", under="ignore"):
        cast = given.astype(dtype)
    finfo = np.finfo(dtype)
    other = " (or give a smaller value)" if dtype == np.float32 else ""
    if np.any(bad := np.isfinite(given) & ~np.isfinite(cast)):
        raise ValueError(
            f"{what} = {given[bad].flat[0]:g} overflows {dtype.name} (its largest number is "
            f"{finfo.max:.3g}), where it would run as inf: run with dtype=float64{other}")
    if np.any(bad := (given != 0) & (cast == 0)):
        raise ValueError(
            f"{what} = {given[bad].flat[0]:g} rounds to 0 in {dtype.name} (its smallest number "
            f"is {finfo.smallest_subnormal:.3g}), where it would run as 0: run with "
            f"dtype=float64{other.replace('smaller', 'larger')}")


def _normalise_x0(x0: Any, landscape: Landscape) -> Any:
    """``x0`` as arrays in the structure and shapes of ``landscape.init``'s parameters."""
    expected = jax.eval_shape(lambda: landscape.init(jax.random.key(0)))
    treedef = jax.tree.structure(expected)
    want = [leaf.shape for leaf in jax.tree.leaves(expected)]
    try:
        leaves = [np.asarray(v, dtype=float) for v in treedef.flatten_up_to(x0)]
    except (TypeError, ValueError):
        leaves = None
    if leaves is None or [leaf.shape for leaf in leaves] != want:
        got = x0 if leaves is None else [leaf.shape for leaf in leaves]
        raise ValueError(f"`x0` must have the shapes of {type(landscape).__name__}'s parameters "
                         f"{want if len(want) > 1 else want[0]}, got {got!r}")
    if not all(np.all(np.isfinite(leaf)) for leaf in leaves):
        raise ValueError(f"`x0` must be finite, got {x0!r}")
    return jax.tree.unflatten(treedef, leaves)


def _thresholds(value: Thresholds | Mapping[str, Any] | None) -> Thresholds:
    if value is None:
        return Thresholds()
    if isinstance(value, Thresholds):
        return value
    if isinstance(value, Mapping):
        known = [f.name for f in dataclasses.fields(Thresholds)]
        if unknown := sorted(set(value) - set(known)):
            raise ValueError(f"`thresholds`: unknown {unknown}; the thresholds are {known}")
        return Thresholds(**value)
    raise ValueError(f"`thresholds` must be a Thresholds or a dict, got {value!r}")


def _dtype(dtype: Any) -> np.dtype:
    try:
        resolved = np.dtype(jnp.float32 if dtype is None else dtype)
    except TypeError:
        raise ValueError(f"`dtype` must be float32 or float64, got {dtype!r}") from None
    if resolved not in (np.float32, np.float64):
        raise ValueError(f"`dtype` must be float32 or float64, got {dtype!r}")
    return resolved
