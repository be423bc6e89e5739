"""``lrscape twin LOG.csv``: fit a twin to a log, draw it, predict other schedules."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

import numpy as np

PREDICT_HELP = (
    "a run to predict, as comma-separated KEY=VALUE (repeatable): rate=R (a constant rate; "
    "default: the log's own rates, its last one after its end), cut=F@S (multiply the rate by "
    "F from update S on; repeatable), batch=B (another batch size; needs --batch-size), "
    "steps=N (default: the log's). E.g. --predict cut=0.1@3000 --predict rate=0.01")


def add_parser(sub: Any) -> None:
    """Add the ``twin`` subcommand to the CLI's subparsers."""
    tw = sub.add_parser(
        "twin", help="fit a noisy quadratic twin to a training log; predict other schedules",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description="Fit lrscape.twin's noisy quadratic model to a training log (a CSV with "
                    "columns step, learning_rate, loss and optionally val_loss: one row per "
                    "logging event, the loss the mean minibatch loss since the previous row), "
                    "print its numbers, and write a figure: the log and its fit, the "
                    "predictions asked for, and the run on its twin's phase diagram.")
    tw.add_argument("log", help="the log, a CSV file")
    tw.add_argument("--batch-size", type=float, default=None,
                    help="the run's batch size (lets --predict batch=B scale the noise)")
    tw.add_argument("--momentum", type=float, default=0.0,
                    help="the run's heavy-ball momentum (optax sgd(momentum=...))")
    tw.add_argument("--predict", action="append", metavar="KEY=VALUE,...", default=None,
                    help=PREDICT_HELP)
    tw.add_argument("--dim", type=int, default=100, help="directions of the twin's spectrum")
    tw.add_argument("--restarts", type=int, default=24, help="random starts of the fit")
    tw.add_argument("--resamples", type=int, default=16,
                    help="refits on resampled logs, for the spread")
    tw.add_argument("--phase", action=argparse.BooleanOptionalAction, default=True,
                    help="the panel of the run on its twin's phase diagram (a sweep)")
    tw.add_argument("--out", default=None,
                    help="the figure's path (default: the log's name with -twin.png)")
    tw.set_defaults(func=command)


def command(args: argparse.Namespace) -> int:
    from .. import twin as _twin

    try:
        specs = [_parse(spec) for spec in args.predict or []]
        fitted = _twin.fit(args.log, batch_size=args.batch_size, momentum=args.momentum,
                           dim=args.dim, restarts=args.restarts, resamples=args.resamples)
        predictions = {text: _predict(fitted, spec) for text, spec in
                       zip(args.predict or [], specs, strict=True)}
    except (ValueError, FileNotFoundError, TypeError) as err:
        print(f"lrscape twin: {err}", file=sys.stderr)
        return 2
    print(fitted.summary())
    for name, pred in predictions.items():
        print(f"  predict {name}: expected loss {float(pred[-1]):.4g} at step "
              f"{int(pred.step[-1])} [{float(pred.low[-1]):.4g}, {float(pred.high[-1]):.4g}]")
    out = args.out or os.path.splitext(args.log)[0] + "-twin.png"
    _figure(fitted, predictions, args.phase, out)
    print(f"wrote {out}")
    return 0


def _parse(spec: str) -> dict[str, Any]:
    """``rate=R,cut=F@S,batch=B,steps=N`` as a dict; a one-line error names a bad item."""
    out: dict[str, Any] = {"cuts": []}
    for item in filter(None, (s.strip() for s in spec.split(","))):
        key, sep, value = item.partition("=")
        try:
            if not sep:
                raise ValueError
            if key == "cut":
                factor, at, step = value.partition("@")
                if not at:
                    raise ValueError
                out["cuts"].append((float(factor), int(step)))
            elif key in ("rate", "batch"):
                out[key] = float(value)
            elif key == "steps":
                out[key] = int(value)
            else:
                raise KeyError(key)
        except KeyError:
            raise ValueError(f"--predict {spec!r}: unknown key {key!r} (rate, cut, batch, "
                             f"steps)") from None
        except ValueError:
            raise ValueError(f"--predict {spec!r}: cannot read {item!r} (expected rate=R, "
                             f"cut=F@S, batch=B or steps=N)") from None
    return out


def _predict(fitted: Any, spec: dict[str, Any]) -> Any:
    log = fitted.log
    steps = spec.get("steps", log.steps)
    if "rate" in spec:
        rates = np.full(steps, spec["rate"])
    else:
        own = log.rates_per_update()[:steps]
        rates = np.concatenate([own, np.full(steps - own.size, own[-1])])
    for factor, step in spec["cuts"]:
        if not (0 <= step < steps):
            raise ValueError(f"--predict: cut at update {step} lies outside the run's "
                             f"{steps} updates")
        rates[step:] *= factor
    return fitted.predict(rates, steps, batch_size=spec.get("batch"))


def _figure(fitted: Any, predictions: dict[str, Any], phase: bool, out: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..plot import twin_figure

    fig = twin_figure(fitted, predictions or None, fitted.phase_sweep() if phase else None)
    fig.savefig(out, dpi=110)
    plt.close(fig)
