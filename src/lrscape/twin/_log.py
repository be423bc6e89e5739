"""A training run's log, checked: what :func:`lrscape.twin.fit` reads.

A log has one row per logging event. ``step`` is the update count at the end of the row,
``learning_rate`` the rate used for the row's updates, ``loss`` the mean of the minibatch losses
of those updates (what training loops print per epoch or per window; with one row per update,
the minibatch loss itself), and optionally ``val_loss``, a snapshot at the row's end.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from typing import Any

import numpy as np

COLUMNS = ("step", "learning_rate", "loss")
OPTIONAL = ("val_loss",)
MIN_ROWS = 8  # more rows than the twin has parameters, with some to spare


@dataclasses.dataclass(frozen=True)
class TrainingLog:
    """The columns of a log as float64 arrays, one value per row (``val_loss`` may be absent).

    Build one with :meth:`read`, which refuses bad logs by name.
    """

    step: np.ndarray
    learning_rate: np.ndarray
    loss: np.ndarray
    val_loss: np.ndarray | None = None

    @classmethod
    def read(cls, log: Any) -> TrainingLog:
        """A :class:`TrainingLog` from a DataFrame, a mapping of 1-D arrays, or a CSV path."""
        if isinstance(log, TrainingLog):
            return log
        if isinstance(log, str | os.PathLike):
            log = _read_csv(log)
        columns = _columns(log)
        rows = _rows(columns)
        step = _column(columns, "step", rows)
        rate = _column(columns, "learning_rate", rows, scalar_ok=True)
        loss = _column(columns, "loss", rows)
        val = _column(columns, "val_loss", rows) if "val_loss" in columns else None
        _check_steps(step)
        _check_positive("learning_rate", rate)
        _check_positive("loss", loss)
        if val is not None:
            _check_positive("val_loss", val)
        return cls(step=step, learning_rate=rate, loss=loss, val_loss=val)

    @property
    def rows(self) -> int:
        return int(self.step.size)

    @property
    def window(self) -> np.ndarray:
        """The number of updates each row averages over."""
        return np.diff(self.step, prepend=0.0)

    @property
    def steps(self) -> int:
        """The updates the log covers."""
        return int(self.step[-1])

    def rates_per_update(self) -> np.ndarray:
        """The learning rate of every update ``0..steps-1``."""
        return np.repeat(self.learning_rate, self.window.astype(int))


def _read_csv(path: str | os.PathLike) -> Any:
    import pandas as pd

    if not os.path.exists(path):
        raise FileNotFoundError(f"log: no file {os.fspath(path)!r}")
    return pd.read_csv(path)


def _columns(log: Any) -> Mapping[str, Any]:
    if hasattr(log, "columns") and hasattr(log, "__getitem__"):  # a pandas DataFrame
        return {str(c): log[c].to_numpy() for c in log.columns}
    if isinstance(log, Mapping):
        return {str(k): v for k, v in log.items()}
    raise TypeError(f"log must be a pandas DataFrame, a mapping of 1-D arrays or a CSV path, "
                    f"got {type(log).__name__}")


def _rows(columns: Mapping[str, Any]) -> int:
    missing = [c for c in COLUMNS if c not in columns]
    if missing:
        raise ValueError(f"log: missing column(s) {', '.join(map(repr, missing))}; a log needs "
                         f"{', '.join(COLUMNS)} (and optionally val_loss), has "
                         f"{', '.join(map(repr, columns)) or 'none'}")
    rows = int(np.size(columns["step"]))
    if np.ndim(columns["step"]) != 1 or rows < MIN_ROWS:
        raise ValueError(f"log: `step` must be a 1-D column of at least {MIN_ROWS} rows to fit "
                         f"a twin, got {rows} row(s)")
    return rows


def _column(columns: Mapping[str, Any], name: str, rows: int, scalar_ok: bool = False
            ) -> np.ndarray:
    try:
        values = np.asarray(columns[name], dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"log: column `{name}` must hold numbers, got "
                         f"{columns[name]!r:.80}") from None
    if scalar_ok and values.ndim == 0:
        values = np.full(rows, float(values))
    if values.shape != (rows,):
        raise ValueError(f"log: column `{name}` has {values.size} value(s) in shape "
                         f"{values.shape}; `step` has {rows} rows")
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        raise ValueError(f"log: column `{name}` has non-finite values at row(s) "
                         f"{_rows_named(bad)} (first: {values[bad[0]]!r})")
    return values


def _check_steps(step: np.ndarray) -> None:
    if np.any(step != np.round(step)) or step[0] < 1:
        raise ValueError(f"log: `step` must count updates (whole numbers from 1), got "
                         f"{_head(step)}")
    back = np.flatnonzero(np.diff(step) <= 0)
    if back.size:
        i = back[0]
        raise ValueError(f"log: `step` must increase from row to row; row {i + 1} has "
                         f"{step[i + 1]:g} after {step[i]:g} at row {i}")


def _check_positive(name: str, values: np.ndarray) -> None:
    bad = np.flatnonzero(values <= 0)
    if bad.size:
        raise ValueError(f"log: column `{name}` must be > 0, got {values[bad[0]]!r} at row(s) "
                         f"{_rows_named(bad)}")


def _rows_named(index: np.ndarray) -> str:
    shown = ", ".join(str(int(i)) for i in index[:5])
    return shown + (f" and {index.size - 5} more" if index.size > 5 else "")


def _head(values: np.ndarray) -> str:
    return "[" + ", ".join(f"{v:g}" for v in values[:5]) + (", ...]" if values.size > 5 else "]")
