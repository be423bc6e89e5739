r"""The closed-form lines over a phase diagram, from the owners that declare them.

A landscape declares the curvature :math:`\lambda` the edges use
(:meth:`lrscape.landscapes.Landscape.edge_curvature`), an optimizer its edges
:math:`\eta\lambda = e(\beta)` (:attr:`lrscape.optimizers.Optimizer.edges`). Here the two meet:
:func:`edge_overlays` turns them into curves over two grid axes, and :func:`theory_overlays`
rebuilds them from a Dataset's attributes first. Neither names a landscape or an optimizer;
:mod:`lrscape.plot` draws what they return.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np
import xarray as xr

from .landscapes import Landscape
from .landscapes._base import REGISTRY
from .optimizers import Optimizer
from .rerun import landscape_of, optimizer_of

Overlay = tuple[str, np.ndarray, np.ndarray]  # (label, x values, y values)

#: What the learning-rate axis sweeps, as a Dataset's ``grid_axes`` names it.
LEARNING_RATE = "optimizer.learning_rate"
#: What a momentum axis sweeps: the β of the edges.
MOMENTUM = "optimizer.momentum"
#: Owners of the axes the edges do not depend on, along which they are vertical lines. Gradient
#: noise leaves both in place (the stationary variance is finite up to eta*lambda = 2, and the
#: steps of a noisy run correlate below -1/2 beyond eta*lambda = 1; see lrscape.regimes).
EDGE_FREE = ("seed", "noise")
#: What the axes sweep that a sweep names without an owner.
_UNOWNED = {"seed": "seed.seed", "gradient_noise": "noise.gradient_noise"}
#: Points along a curve over the ``y`` axis.
CURVE_POINTS = 200


def edge_overlays(
    landscape: Landscape,
    optimizer: Optimizer,
    x: str,
    y: str | None = None,
    y_values: Any = None,
    *,
    noisy: bool = False,
) -> list[Overlay]:
    r"""The optimizer's edges on this landscape over the axes ``x`` and ``y``, divergence first.

    ``landscape`` and ``optimizer`` hold the values of the plane drawn (its curvature field,
    its momentum :math:`\beta`); ``x`` and ``y`` say what the axes sweep, as ``"owner.field"``
    (``"optimizer.learning_rate"``, ``"landscape.scale"``, ``"optimizer.momentum"``,
    ``"seed.seed"``, ``"noise.gradient_noise"``); ``y_values`` are the values along ``y``.
    An edge :math:`\eta\lambda = e(\beta)`, with :math:`\lambda` = ``field * per_unit`` from
    :meth:`~lrscape.landscapes.Landscape.edge_curvature`, is drawn with the learning rate on
    ``x`` as

    - the curve :math:`\eta = e(\beta)/\lambda` over :math:`\beta`, for ``y`` the momentum;
    - the curve :math:`\eta = e(\beta)/(k \cdot \text{per\_unit})` over :math:`k`, for ``y``
      the curvature field;
    - a vertical line at :math:`\eta = e(\beta)/\lambda` (``y`` values NaN), for no ``y`` or
      one the edges do not depend on (:data:`EDGE_FREE`: seeds, gradient noise).

    None where the landscape declares no curvature, the optimizer no edges, ``x`` is not the
    learning rate, or ``y`` is another axis. ``noisy``: the bounce edge of noisy runs
    (:meth:`lrscape.theory.Edges.drawn`). Labels read ``"{name}: {what} beyond ηλ = {edge}"``,
    with the formula on a curve over :math:`\beta` and the value (3 significant figures)
    otherwise.
    """
    declared = landscape.edge_curvature()
    edges = optimizer.edges
    if x != LEARNING_RATE or declared is None or edges is None:
        return []
    field, per_unit = declared
    curvature = getattr(landscape, field) * per_unit
    beta = optimizer.hyperparams.get("momentum") or 0.0
    over_beta = y == MOMENTUM and "momentum" in optimizer.hyperparams
    lines = []
    for edge in edges.drawn(noisy):
        if over_beta:
            betas = np.linspace(np.min(y_values), np.max(y_values), CURVE_POINTS)
            lines.append((f"{edges.name}: {edge.what} beyond ηλ = {edge.formula}",
                          edge.function(betas) / curvature, betas))
            continue
        at = float(edge.function(beta))
        label = f"{edges.name}: {edge.what} beyond ηλ = {at:.3g}"
        if y == f"landscape.{field}":
            ks = np.geomspace(np.min(y_values), np.max(y_values), CURVE_POINTS)
            lines.append((label, at / (ks * per_unit), ks))
        elif y is None or y.partition(".")[0] in EDGE_FREE:
            lines.append((label, np.array([at / curvature]), np.array([np.nan])))
    return lines


def theory_overlays(ds: xr.Dataset, x: str, y: str | None = None) -> list[Overlay]:
    """The closed-form edges of :func:`edge_overlays` for this sweep over the grid axes ``x``
    and ``y`` (names of the Dataset's axes), with the landscape and optimizer rebuilt from its
    attributes at the values of the slice drawn (the swept values held as scalar
    coordinates). None where either is not registered (a user's class not imported) or
    declares nothing.
    """
    optimizer = sweep_optimizer(ds)
    if optimizer is None or optimizer.edges is None:
        return []
    landscape = sweep_landscape(ds)
    if landscape is None:
        return []
    targets = axis_targets(ds, landscape, optimizer)
    fixed = {targets[name]: ds[name].item() for name in ds.coords
             if ds[name].ndim == 0 and name in targets}
    landscape, optimizer = at_values(landscape, optimizer, fixed)
    return edge_overlays(landscape, optimizer, targets.get(x, x),
                         None if y is None else targets.get(y, y),
                         None if y is None else ds[y].values, noisy=bool(ds.attrs.get("noisy")))


def sweep_optimizer(ds: xr.Dataset) -> Optimizer | None:
    """The registered optimizer the Dataset's attributes name, with their hyperparameters
    (:func:`lrscape.rerun.optimizer_of`); ``None`` if none is registered under that name or
    the one stored is another (other hyperparameters or options), such as an optax factory of
    the same name."""
    try:
        return optimizer_of(ds.attrs)
    except (KeyError, ValueError):
        return None


def sweep_landscape(ds: xr.Dataset) -> Landscape | None:
    """The registered landscape the Dataset's attributes name, with their fields
    (:func:`lrscape.rerun.landscape_of`), where it declares an edge curvature
    (:meth:`~lrscape.landscapes.Landscape.edge_curvature`; one that cannot is not built);
    ``None`` otherwise, or if it is not registered."""
    cls = REGISTRY.lookup(ds.attrs.get("landscape"))
    if cls is None or cls.edge_curvature is Landscape.edge_curvature:
        return None
    try:
        return landscape_of(ds.attrs)
    except (KeyError, TypeError, ValueError):
        return None


def axis_targets(ds: xr.Dataset, landscape: Landscape, optimizer: Optimizer) -> dict[str, str]:
    """What each grid axis sweeps, ``"owner.field"`` by axis name: from the ``grid_axes``
    attribute, else (a Dataset without it, as :func:`lrscape.refine` makes) from the names of
    the landscape's fields and the optimizer's hyperparameters."""
    stored = dict(json.loads(ds.attrs.get("grid_axes", "[]")))
    fields = set(type(landscape).sweepable_fields())
    targets = {}
    for name in map(str, ds.coords):
        if name in stored:
            targets[name] = stored[name]
        elif "." in name:
            targets[name] = name
        elif name in optimizer.hyperparams:
            targets[name] = f"optimizer.{name}"
        elif name in fields:
            targets[name] = f"landscape.{name}"
        elif name in _UNOWNED:
            targets[name] = _UNOWNED[name]
    return targets


def at_values(landscape: Landscape, optimizer: Optimizer, fixed: Mapping[str, Any]
              ) -> tuple[Landscape, Optimizer]:
    """The landscape and optimizer with the fields and (global) hyperparameters that
    ``fixed`` (``"owner.field"``: value) sets; other owners, per-group values are left."""
    fields = {f: v for t, v in fixed.items() for owner, _, f in [t.partition(".")]
              if owner == "landscape" and f in type(landscape).sweepable_fields()}
    hyper = {f: v for t, v in fixed.items() for owner, _, f in [t.partition(".")]
             if owner == "optimizer" and f in optimizer.hyperparams}
    return (landscape.replace(**fields) if fields else landscape,
            optimizer.with_values(**hyper) if hyper else optimizer)
