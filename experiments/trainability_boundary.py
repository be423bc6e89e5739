"""The boundary of trainability: fractal for a small network, a smooth curve for a valley.

    python experiments/trainability_boundary.py [--out experiments/out] [--resolution 1025]

A one-hidden-layer tanh network (width 16, mean-field parameterisation, no biases, MSE on 272
random points = as many as parameters, weights N(0, 1), float64) trained by full-batch gradient
descent with one learning rate for the input layer and another for the output layer
(Sohl-Dickstein, "The boundary of neural network trainability is fractal", 2024). The image of
which rate pairs train is computed by ``lrscape.refine``: a 33 x 33 coarse lattice, then only
cells whose known pixels disagree are subdivided, down to single pixels of the
``--resolution`` image. For contrast, the same picture for gradient descent on the 2-D narrow
valley over (wall curvature, learning rate), where theory puts the boundary on the smooth
curve eta * kappa = 2. Box counting on both boundaries gives their dimensions. Then a zoom
into the network's boundary, frame after frame down to where float64 runs out.

Also measured and printed: trajectories evaluated and seconds for the refined image, and for
a brute-force 129 x 129 grid of the same network, from which the brute-force cost of the full
image is extrapolated (trajectories cost the same wherever they are).

Writes trainability_boundary.png, trainability_zoom.png and trainability_zoom.gif.
"""

from __future__ import annotations

import argparse
import os
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import lrscape  # noqa: E402
from lrscape import fractal, plot  # noqa: E402
from lrscape.refine import zoom  # noqa: E402


def network(gain: float = 1.0) -> lrscape.landscapes.MLP:
    """The network of the figure; ``gain=sqrt(2)`` is the paper's (with its rates doubled)."""
    return lrscape.landscapes.get(
        "mlp", width=16, depth=1, input_dim=16, nonlinearity="tanh", gain=gain,
        parameterization="mean-field", bias=False, task="random", data_ratio=1.0,
        label_noise=0.0)


LR_IN, LR_OUT = "learning_rate@input", "learning_rate@output"
STEPS = 200
RANGE_IN, RANGE_OUT = (1.0, 1e5), (30.0, 3e3)


def network_axes(resolution: int) -> dict[str, np.ndarray]:
    return {LR_IN: lrscape.logspace(*RANGE_IN, resolution),
            LR_OUT: lrscape.logspace(*RANGE_OUT, resolution)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "out"))
    parser.add_argument("--resolution", type=int, default=1025,
                        help="pixels per side of the network image: 32 * 2**L + 1")
    parser.add_argument("--zoom-resolution", type=int, default=129)
    parser.add_argument("--brute-resolution", type=int, default=129)
    parser.add_argument("--gain", type=float, default=1.0,
                        help="pre-activation gain; 1.4142135623730951 is the paper's network")
    args = parser.parse_args()
    net = network(args.gain)
    os.makedirs(args.out, exist_ok=True)
    common = {"steps": STEPS, "dtype": "float64"}

    start = time.perf_counter()
    image = lrscape.refine(net, "sgd", network_axes(args.resolution), coarse=33,
                           progress=True, **common)
    t_refine = time.perf_counter() - start
    n = args.resolution
    print(f"network, refined {n}x{n}: {image.attrs['evaluated']:,} trajectories of "
          f"{n * n:,} ({image.attrs['saving']:.1f}x fewer), {t_refine:.0f} s")

    m = args.brute_resolution
    lrscape.sweep(net, "sgd", network_axes(9), trainability=True, progress=False,
                  **common)  # compile outside the timing
    start = time.perf_counter()
    lrscape.sweep(net, "sgd", network_axes(m), trainability=True, progress=False,
                  **common)
    t_brute = time.perf_counter() - start
    per_trajectory = t_brute / (m * m)
    print(f"network, brute force {m}x{m}: {m * m:,} trajectories, {t_brute:.0f} s "
          f"({per_trajectory * 1e3:.2f} ms each); {n}x{n} extrapolated: "
          f"{n * n * per_trajectory:.0f} s")

    valley_axes = {"wall_curvature": lrscape.logspace(10.0, 1000.0, 513),
                   "learning_rate": lrscape.logspace(1e-4, 1.0, 513)}
    valley = lrscape.refine("narrow-valley", "sgd", valley_axes, coarse=33, steps=300)
    print(f"valley, refined 513x513: {valley.attrs['evaluated']:,} trajectories")

    fits = {name: fractal.box_counting(fractal.boundary(ds.trainable.values))
            for name, ds in (("network", image), ("valley", valley))}
    for name, fit in fits.items():
        print(f"{name} boundary: box-counting dimension {fit.dimension:.3f} +- "
              f"{fit.stderr:.3f} over box sides {fit.fit_range[0]}..{fit.fit_range[1]} px; "
              f"local slopes {np.round(fit.local_slopes, 2).tolist()}")

    fig, axes = plt.subplots(1, 3, figsize=(18, 5.8), constrained_layout=True)
    plot.trainability_image(image, axes[0], title=(
        f"tanh network, width 16, mean field, gain {args.gain:.4g}, {STEPS} steps\n"
        f"{n}x{n} image from {image.attrs['evaluated']:,} runs; boundary dimension "
        f"{fits['network'].dimension:.2f}"))
    plot.trainability_image(valley, axes[1], title=(
        "2-D narrow valley, gradient descent: 513x513\nboundary dimension "
        f"{fits['valley'].dimension:.2f}; theory: eta * kappa = 2"))
    kappa = valley_axes["wall_curvature"]
    axes[1].plot(2.0 / kappa, kappa, "k--", lw=1.2, label="theory: eta = 2 / kappa")
    axes[1].legend(fontsize="x-small", loc="upper right")
    for name, fit in fits.items():
        plot.box_counting_plot(fit, axes[2], label=name)
    axes[2].set_title("box counting on the two boundaries")
    fig.savefig(os.path.join(args.out, "trainability_boundary.png"), dpi=110)
    plt.close(fig)

    # A zoom onto the network's boundary, each frame centred on the boundary found in the last.
    edge = fractal.boundary(image.trainable.values)
    rows, cols = np.nonzero(edge)
    pick = np.argmin((rows - n / 2) ** 2 + (cols - n / 2) ** 2)
    centre = (float(image[LR_IN].values[rows[pick]]), float(image[LR_OUT].values[cols[pick]]))
    widths = [0.5, 0.05, 5e-3, 5e-5, 5e-7, 5e-9, 5e-11, 5e-13, 5e-14, 5e-15]
    start = time.perf_counter()
    frames = zoom(net, "sgd", (LR_IN, LR_OUT), centre, widths,
                  resolution=args.zoom_resolution, coarse=17, **common)
    print(f"zoom: {len(frames)} frames in {time.perf_counter() - start:.0f} s, "
          f"{sum(int(f.attrs.get('evaluated', 0)) for f in frames):,} trajectories")
    for frame in frames:
        state = ("float64 exhausted, not drawn" if frame.attrs["float64_exhausted"] else
                 f"{int(frame.trainable.mean() * 100)}% trains")
        print(f"  frame {frame.attrs['frame']}: +-{frame.attrs['half_width']:.0e} decades, "
              f"{frame.attrs['ulps_per_pixel']:.3g} float64 steps per pixel: {state}")
    plot.zoom_figure(frames, os.path.join(args.out, "trainability_zoom.png"), columns=5)
    plot.zoom_animation(frames, os.path.join(args.out, "trainability_zoom.gif"))
    print(f"wrote {args.out}/trainability_boundary.png, trainability_zoom.png, "
          "trainability_zoom.gif")


if __name__ == "__main__":
    main()
