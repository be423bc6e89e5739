"""Box-counting dimension of a phase boundary.

:func:`boundary` marks where a class image changes: the 2 x 2 blocks of neighbouring pixels
that do not all hold one class (for a signed score, the blocks whose signs differ, as in
Sohl-Dickstein 2024). :func:`box_counting` covers a set of pixels with boxes of side
:math:`s = 1, 2, 4, \\dots` and fits

.. math::

    \\log N(s) = -D \\log s + c

over a range of sizes, where :math:`N(s)` is the number of boxes holding at least one pixel of
the set. A smooth curve gives :math:`D = 1`, a filled region :math:`D = 2`, a fractal boundary
something in between. The smallest boxes see pixelation and the largest see the image's edges,
so the fit leaves out sizes below ``min_size`` and above a quarter of the image by default, and
reports the range it used and the local slopes, so a reader can judge the scaling.

>>> import numpy as np
>>> line = np.zeros((256, 256), bool)
>>> line[128, :] = True
>>> round(box_counting(line).dimension, 2)
1.0
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class BoxCount(NamedTuple):
    """A box-counting fit."""

    dimension: float  # the fitted D
    stderr: float  # its standard error from the least-squares fit
    sizes: np.ndarray  # box sides s (pixels), every size counted
    counts: np.ndarray  # N(s)
    fit_range: tuple[int, int]  # the smallest and largest s in the fit
    local_slopes: np.ndarray  # -d log N / d log s between successive sizes


def boundary(image: np.ndarray) -> np.ndarray:
    """The pixels' 2 x 2 blocks that span more than one class: shape ``(H - 1, W - 1)``.

    ``image`` holds classes (booleans or integers), or a signed score whose sign is the class
    (floats; NaN pixels belong to no block of the boundary).
    """
    image = np.asarray(image)
    if image.ndim != 2 or min(image.shape) < 2:
        raise ValueError(f"`image` must be 2-D and at least 2 x 2, got shape {image.shape}")
    if np.issubdtype(image.dtype, np.floating):
        valid = np.isfinite(image)
        image = np.where(valid, np.sign(image), 0)
        blocks_valid = valid[1:, 1:] & valid[:-1, 1:] & valid[1:, :-1] & valid[:-1, :-1]
    else:
        blocks_valid = True
    corners = (image[1:, 1:], image[:-1, 1:], image[1:, :-1], image[:-1, :-1])
    same = (corners[0] == corners[1]) & (corners[0] == corners[2]) & (corners[0] == corners[3])
    return ~same & blocks_valid


def box_counting(
    mask: np.ndarray, *, min_size: int = 2, max_size: int | None = None
) -> BoxCount:
    """The box-counting dimension of the pixels set in ``mask``.

    Args:
        mask: a 2-D boolean array (e.g. :func:`boundary` of a class image).
        min_size: the smallest box side in the fit (pixels; a power of two).
        max_size: the largest (default: a quarter of the image's shorter side).
    """
    mask = np.asarray(mask, bool)
    if mask.ndim != 2:
        raise ValueError(f"`mask` must be 2-D, got shape {mask.shape}")
    if not mask.any():
        raise ValueError("`mask` is empty: there is no boundary to measure")
    side = min(mask.shape)
    max_size = max_size if max_size is not None else max(side // 4, 1)
    if not (1 <= min_size < max_size <= side):
        raise ValueError(f"need 1 <= `min_size` < `max_size` <= {side}, got "
                         f"min_size={min_size}, max_size={max_size}")
    sizes, counts = [], []
    s = 1
    while s <= side:
        h, w = -(-mask.shape[0] // s) * s, -(-mask.shape[1] // s) * s
        padded = np.zeros((h, w), bool)
        padded[: mask.shape[0], : mask.shape[1]] = mask
        boxes = padded.reshape(h // s, s, w // s, s).any(axis=(1, 3))
        sizes.append(s)
        counts.append(int(boxes.sum()))
        s *= 2
    sizes_arr, counts_arr = np.array(sizes), np.array(counts)
    fit = (sizes_arr >= min_size) & (sizes_arr <= max_size)
    if fit.sum() < 2:
        raise ValueError(f"fewer than two box sizes between {min_size} and {max_size}")
    x, y = np.log(sizes_arr[fit]), np.log(counts_arr[fit])
    slope, intercept = np.polyfit(x, y, 1)
    residual = y - (slope * x + intercept)
    dof = max(fit.sum() - 2, 1)
    stderr = float(np.sqrt(np.sum(residual**2) / dof / np.sum((x - x.mean()) ** 2)))
    local = -np.diff(np.log(counts_arr)) / np.diff(np.log(sizes_arr))
    return BoxCount(dimension=float(-slope), stderr=stderr, sizes=sizes_arr,
                    counts=counts_arr, fit_range=(int(sizes_arr[fit][0]),
                                                  int(sizes_arr[fit][-1])),
                    local_slopes=local)
