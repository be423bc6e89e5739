"""Stochastic training: the noisy quadratic model against theory, minibatches, epoch logs."""

import importlib.util
import itertools
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import lrscape
from lrscape import theory
from lrscape.landscapes import LinearRegression, NoisyQuadratic

ROOT = pathlib.Path(__file__).parents[1]


# -- the noisy quadratic model ----------------------------------------------------------------


@pytest.mark.parametrize("momentum", [0.0, 0.5])
def test_noisy_quadratic_matches_the_closed_form(momentum):
    """The mean over seeds of the simulated loss follows E[L_t] and settles where theory says."""
    nqm = NoisyQuadratic(dim=8, batch_size=4.0, start=1.0)
    lr, steps, every = 0.6, 400, 20
    optimizer = lrscape.optimizers.get("momentum", momentum=momentum)
    ds = lrscape.sweep(nqm, optimizer, {"learning_rate": [lr], "seed": np.arange(4096)},
                       steps=steps, record_every=every, progress=False)
    expected = theory.nqm_expected_loss(nqm.eigenvalues, lr, 4.0, steps, momentum=momentum)
    simulated = ds.loss_full.mean("seed").values[0]
    np.testing.assert_allclose(simulated, expected[every::every], rtol=0.04)
    steady = theory.nqm_steady_state_loss(nqm.eigenvalues, lr, 4.0, momentum)
    late = ds.loss_full.isel(step=slice(-5, None)).mean().item()
    assert late == pytest.approx(steady, rel=0.03)
    assert float(ds.final_loss.mean()) == pytest.approx(steady, rel=0.04)
    # The minibatch loss exceeds the full loss by n / (2B) on average.
    gap = float((ds.loss_mean - ds.loss_full).isel(step=slice(-5, None)).mean())
    assert gap == pytest.approx(nqm.dim / (2 * 4.0), rel=0.05)


def test_steady_state_is_the_limit_of_the_recursion():
    h = 1.0 / np.arange(1, 21)
    for momentum in (0.0, 0.3, 0.9):
        loss = theory.nqm_expected_loss(h, 0.3, 2.0, 20_000, momentum=momentum)
        assert loss[-1] == pytest.approx(theory.nqm_steady_state_loss(h, 0.3, 2.0, momentum),
                                         rel=1e-6)
    assert theory.nqm_steady_state_loss([1.0], 2.5, 1.0) == float("inf")


def test_gradient_noise_on_a_quadratic_is_the_noisy_quadratic_model():
    """Noise N(0, s^2) on the gradient of (h/2) x^2 is the NQM with B = h / s^2."""
    h, sigma, lr = 2.0, 0.5, 0.3
    bowl = lrscape.landscapes.get("quadratic", eigenvalues=[h])
    ds = lrscape.sweep(bowl, "sgd", {"learning_rate": [lr], "seed": np.arange(4096)},
                       gradient_noise=sigma, steps=200, progress=False)
    steady = theory.nqm_steady_state_loss([h], lr, h / sigma**2)
    assert float(ds.final_loss.mean()) == pytest.approx(steady, rel=0.05)
    # Noisy runs are never labelled periodic or chaotic.
    assert set(np.unique(ds.regime.values)) <= {lrscape.Regime.MONOTONE,
                                                lrscape.Regime.OSCILLATORY}


def test_noisy_steps_correlate_as_minus_half_eta_lambda_and_bounce_beyond_one():
    """At the noise floor of (h/2) x^2, x' = (1 - eta h) x - eta xi: successive steps have
    correlation -eta h / 2 at every rate, so noise alone makes reversing pairs outweigh the
    others; the label changes where that correlation passes -1/2, at eta h = 1, the edge of
    the noiseless zig-zag."""
    h = 2.0
    eta_h = np.array([0.2, 0.6, 0.9, 1.1, 1.4, 1.8])
    bowl = lrscape.landscapes.get("quadratic", eigenvalues=[h])
    ds = lrscape.sweep(bowl, "sgd", {"learning_rate": eta_h / h, "seed": np.arange(8)},
                       gradient_noise=1.0, steps=4000, progress=False)
    np.testing.assert_allclose(ds.step_correlation.mean("seed"),
                               theory.noisy_step_correlation(eta_h), atol=0.03)
    np.testing.assert_allclose(theory.noisy_step_correlation(eta_h), -eta_h / 2)
    assert np.all(ds.oscillation.values > 0.5)  # reversing pairs outweigh at every rate ...
    regime = ds.regime.values
    assert np.all(regime[eta_h < 1] == lrscape.Regime.MONOTONE)  # ... bouncing does not
    assert np.all(regime[eta_h > 1] == lrscape.Regime.OSCILLATORY)
    # the threshold is lrscape.Thresholds.noisy_correlation
    strict = lrscape.reclassify(ds, noisy_correlation=-0.8)
    assert np.all(strict.regime.values[eta_h < 1.8] == lrscape.Regime.MONOTONE)
    with pytest.raises(ValueError, match=r"no `step_correlation` .* re-run the sweep"):
        lrscape.reclassify(ds.drop_vars("step_correlation"))
    with pytest.raises(ValueError, match=r"`noisy_correlation` must be a number in \[-1, 0\]"):
        lrscape.reclassify(ds, noisy_correlation=0.5)


def test_noisy_heavy_ball_steps_correlate_as_beta_minus_half_eta_lambda():
    """With momentum the noise floor's step correlation is beta - eta lambda / 2, so the label
    changes at eta lambda = 1 + 2 beta, beyond the noiseless 1 + beta; the phase diagram draws
    that edge on noisy sweeps, and the simulated boundary sits on it."""
    from lrscape import plot

    bowl = lrscape.landscapes.get("quadratic", eigenvalues=[1.0])
    eta = np.array([0.5, 1.2, 1.8, 2.2, 2.6, 2.9])
    ds = lrscape.sweep(bowl, "momentum", {"learning_rate": eta, "momentum": [0.5],
                                          "seed": np.arange(4)},
                       gradient_noise=1.0, steps=4000, progress=False)
    rho = ds.step_correlation.isel(momentum=0).mean("seed")
    np.testing.assert_allclose(rho, theory.noisy_step_correlation(eta, 0.5), atol=0.03)
    edge = float(theory.heavy_ball_noisy_oscillation_edge(0.5))
    assert edge == 2.0
    regime = ds.regime.isel(momentum=0).values
    assert np.all(regime[eta < edge] == lrscape.Regime.MONOTONE)
    assert np.all(regime[eta > edge] == lrscape.Regime.OSCILLATORY)
    labels = [label for label, _, _ in plot.theory_overlays(ds.isel(seed=0), "learning_rate",
                                                            "momentum")]
    assert labels == ["heavy ball: diverges beyond ηλ = 2(1+β)",
                      "heavy ball: noisy steps anticorrelate (ρ ≤ −1/2) beyond ηλ = 1+2β"]


def test_a_noisy_floor_above_the_start_is_not_taken_for_growth():
    """Gradient descent with noise at eta*lambda = 1.5 fluctuates around a floor of
    sigma^2 eta / (2 (2 - eta lambda)) = 1.5, above its starting loss 0.5; over four record
    windows the last one's peak often doubles the one before by chance. That is noise, not a
    run diverging: noisy runs are not judged growing (1 in 9 of these were DIVERGED)."""
    bowl = lrscape.landscapes.get("quadratic", eigenvalues=[1.0])
    ds = lrscape.sweep(bowl, "sgd", {"learning_rate": [1.0, 1.5], "seed": np.arange(200)},
                       gradient_noise=1.0, steps=40, progress=False)
    assert not np.any(ds.regime.values == lrscape.Regime.DIVERGED)
    assert np.mean(ds.final_loss.values[1] > ds.initial_loss.values[1]) > 0.5
    assert np.mean(ds.late_change.values >= 1.0) > 0.03  # would have been labelled so


def test_a_noisy_run_from_the_minimum_says_why_it_diverged_and_how_not_to():
    """Started at the minimum (loss 0) the divergence limit is 10^6 * divergence_floor = 1e-6,
    and gradient noise passes it in a step; the sweep says so. With a floor on the loss's
    scale the same runs fluctuate about the minimum, MONOTONE below eta*lambda = 1."""
    import warnings

    bowl = lrscape.landscapes.get("quadratic", eigenvalues=[1.0], start=0.0)
    grid = {"learning_rate": [0.1, 0.5, 1.5]}
    with pytest.warns(UserWarning, match="3 noisy trajectories started where the loss is 0"):
        ds = lrscape.sweep(bowl, "sgd", grid, gradient_noise=1.0, steps=200, progress=False)
    assert np.all(ds.regime.values == lrscape.Regime.DIVERGED)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ds = lrscape.sweep(bowl, "sgd", grid, gradient_noise=1.0, steps=200, progress=False,
                           thresholds={"divergence_floor": 1.0})
    assert list(ds.regime.values) == [lrscape.Regime.MONOTONE] * 2 + [lrscape.Regime.OSCILLATORY]


def test_noisy_nesterov_steps_correlate_as_its_closed_form():
    """Nesterov's noise-floor step correlation (a ratio of quadratics in eta*lambda from the
    stationary covariance) crosses -1/2 between eta*lambda = 0.85 and 1 whatever beta: the
    simulated correlation follows it, the label changes there, and noisy sweeps draw it."""
    from lrscape import plot

    bowl = lrscape.landscapes.get("quadratic", eigenvalues=[1.0])
    eta = np.array([0.3, 0.6, 0.75, 1.0, 1.15, 1.3])
    betas = np.array([0.5, 0.9])
    ds = lrscape.sweep(bowl, "nesterov", {"learning_rate": eta, "momentum": betas,
                                          "seed": np.arange(4)},
                       gradient_noise=1.0, steps=4000, progress=False)
    rho = ds.step_correlation.mean("seed").values
    np.testing.assert_allclose(
        rho, theory.noisy_step_correlation(eta[:, None], betas, nesterov=True), atol=0.03)
    edges = theory.nesterov_noisy_oscillation_edge(betas)
    np.testing.assert_allclose(edges, [0.8512, 0.8652], atol=1e-4)
    regime = ds.regime.values  # (learning_rate, momentum, seed)
    assert np.all(regime[eta[:, None] < edges - 0.05] == lrscape.Regime.MONOTONE)
    assert np.all(regime[eta[:, None] > edges + 0.05] == lrscape.Regime.OSCILLATORY)
    labels = [label for label, _, _ in plot.theory_overlays(ds.isel(seed=0), "learning_rate",
                                                            "momentum")]
    assert labels == ["Nesterov: diverges beyond ηλ = (2+2β)/(1+2β)",
                      "Nesterov: noisy steps anticorrelate (ρ ≤ −1/2) beyond ηλ = h(β), "
                      "0.85 to 1"]


def test_a_noisy_valley_bounces_and_diverges_at_the_noiseless_edges():
    """SGD with gradient noise on a valley of wall curvature kappa: OSCILLATORY from
    eta kappa = 1 (a little beyond: the floor's steps keep their direction), DIVERGED from 2;
    the phase diagram's edges, drawn along the seeds as vertical lines, sit there."""
    from lrscape import plot

    kappa = 15.0
    valley = lrscape.landscapes.get("narrow-valley", dim=11, wall_curvature=kappa,
                                    wall_offset=0.0)
    eta_kappa = np.round(np.arange(0.8, 2.21, 0.05), 2)
    ds = lrscape.sweep(valley, "sgd", {"learning_rate": eta_kappa / kappa, "seed": [0, 1]},
                       gradient_noise=1.0, steps=1500, progress=False)
    regime = ds.regime.values
    bouncing = np.all(regime == lrscape.Regime.OSCILLATORY, axis=1)
    diverged = np.all(regime == lrscape.Regime.DIVERGED, axis=1)
    assert np.all(regime[eta_kappa < 1] == lrscape.Regime.MONOTONE)
    assert np.all(bouncing[(eta_kappa >= 1.1) & (eta_kappa < 1.95)])
    assert np.all(diverged[eta_kappa >= 2.05])
    edges = plot.theory_overlays(ds, "learning_rate", "seed")
    assert [xs.tolist() for _, xs, ys in edges] == [[2 / kappa], [1 / kappa]]
    assert all(np.isnan(ys).all() for _, _, ys in edges)  # vertical: along every seed


def test_gradient_noise_is_a_grid_axis():
    grid = {"gradient_noise": [0.0, 0.3], "learning_rate": [0.1], "seed": np.arange(256)}
    ds = lrscape.sweep("quadratic", "sgd", grid, steps=100, progress=False)
    final = ds.final_loss.mean(["learning_rate", "seed"]).values
    assert final[0] < 1e-8
    assert final[1] == pytest.approx(theory.nqm_steady_state_loss([1.0], 0.1, 1 / 0.3**2),
                                     rel=0.2)
    assert ds.attrs["gradient_noise"] == "axis" and ds.attrs["noisy"] == 1


# -- minibatches and what a training loop logs ------------------------------------------------


def python_loop(task, lr, steps, seed=0, schedule=None):
    """Plain SGD written out step by step: the minibatch losses and the epoch-end metrics."""
    task = task.prepare()
    key = jax.random.key(seed)
    params = task.init(key)
    sampler = task.sampler(jax.random.fold_in(key, 1))
    grad = jax.jit(jax.value_and_grad(task.batch_loss))
    sample, evaluate = jax.jit(task.sample), jax.jit(task.metrics)
    rates = [lr * (1.0 if schedule is None else float(schedule(t))) for t in range(steps)]
    losses, metrics = [], []
    for t in range(steps):
        batch, sampler = sample(sampler, jnp.int32(t))
        loss, g = grad(params, batch)
        params = params - rates[t] * g
        losses.append(float(loss))
        if (t + 1) % task.steps_per_epoch == 0:
            metrics.append({k: float(v) for k, v in evaluate(params).items()})
    return np.array(losses), metrics, params


@pytest.fixture(scope="module")
def small_task():
    return LinearRegression(n_train=64, n_val=32, batch_size=8, wall_curvature=5.0)


def test_records_with_k_1_are_the_per_step_losses(small_task):
    losses, metrics, _ = python_loop(small_task, 0.1, 24)
    ds = lrscape.sweep(small_task, "sgd", {"learning_rate": [0.1]}, steps=24, record_every=1,
                       progress=False)
    np.testing.assert_allclose(ds.loss_last.values[0], losses, rtol=2e-5)
    np.testing.assert_allclose(ds.loss_mean.values[0], losses, rtol=2e-5)
    # Epoch logs: the mean of the epoch's minibatch losses, then evaluations at its end.
    np.testing.assert_allclose(ds.epoch_loss_mean.values[0], losses.reshape(3, 8).mean(1),
                               rtol=2e-5)
    for name in ("train_loss", "train_accuracy", "val_loss", "val_accuracy"):
        np.testing.assert_allclose(ds[name].values[0], [m[name] for m in metrics], rtol=2e-5)
    assert list(ds.epoch.values) == [1, 2, 3]


def test_window_records_for_k_above_1_are_their_windows_statistics(small_task):
    losses, _, params = python_loop(small_task, 0.1, 24)
    ds = lrscape.sweep(small_task, "sgd", {"learning_rate": [0.1]}, steps=24, record_every=6,
                       progress=False)
    windows = losses.reshape(4, 6)
    np.testing.assert_allclose(ds.loss_mean.values[0], windows.mean(1), rtol=2e-5)
    np.testing.assert_allclose(ds.loss_min.values[0], windows.min(1), rtol=2e-5)
    np.testing.assert_allclose(ds.loss_max.values[0], windows.max(1), rtol=2e-5)
    np.testing.assert_allclose(ds.loss_last.values[0], windows[:, -1], rtol=2e-5)
    assert ds.loss_full.values[0, -1] == pytest.approx(float(small_task.loss(params)), rel=2e-5)
    assert list(ds.step.values) == [6, 12, 18, 24]


def test_memory_grows_with_records_not_steps(small_task):
    ds = lrscape.sweep(small_task, "sgd", {"learning_rate": [0.05]}, steps=800, record_every=400,
                       progress=False)
    assert ds.loss_mean.shape == (1, 2) and ds.val_loss.shape == (1, 100)


def test_each_epoch_sees_every_example_once_in_a_new_order():
    task = LinearRegression(n_train=50, batch_size=8)  # 6 minibatches, 2 examples sit out
    sampler = task.sampler(jax.random.key(3))
    sample = jax.jit(task.sample)
    epochs = []
    for epoch in range(3):
        seen = []
        for position in range(task.steps_per_epoch):
            batch, sampler = sample(sampler, jnp.int32(epoch * 6 + position))
            seen.extend(np.asarray(batch).tolist())
        assert len(seen) == len(set(seen)) == 48 and set(seen) <= set(range(50))
        epochs.append(seen)
    assert epochs[0] != epochs[1] != epochs[2]


def test_data_are_shared_unless_data_seed_is_an_axis():
    task = LinearRegression(n_train=64, n_val=32, batch_size=64)  # full batch: no order effect
    # points, not a grid: a grid axis holds each value once
    ds = lrscape.sweep(task, "sgd", points={"data_seed": [0, 0, 1], "learning_rate": [0.05] * 3},
                       steps=16, record_every=4, progress=False)
    val = ds.val_loss.values
    np.testing.assert_array_equal(val[0], val[1])
    assert not np.allclose(val[0], val[2])
    assert float(ds.final_loss.values[2]) != float(ds.final_loss.values[0])


@pytest.mark.parametrize("name", ["logistic-regression", "teacher-student"])
def test_classification_and_teacher_student_tasks_learn(name):
    task = lrscape.landscapes.get(name, n_train=256, n_val=256, batch_size=32)
    ds = lrscape.sweep(task, "sgd", {"learning_rate": [0.2]}, steps=8 * 30, record_every=8,
                       progress=False)
    assert ds.val_loss.values[0, -1] < ds.val_loss.values[0, 0]
    assert ds.val_accuracy.values[0, -1] > 0.7
    assert np.all((ds.train_accuracy.values >= 0) & (ds.train_accuracy.values <= 1))


# -- schedules in stochastic sweeps ----------------------------------------------------------

SCHEDULES = {
    "piecewise-constant": ({"boundaries": [16, 32], "multipliers": [1.0, 0.1, 0.01]},
                           "multipliers"),
    "warmup-stable-decay": ({"warmup_steps": 8, "stable_steps": 24, "decay_steps": 16},
                            "final"),
    "cosine": ({"decay_steps": 48}, "final"),
    "triangular": ({"period": 16}, "minimum"),
    "one-cycle": ({"total_steps": 48}, "peak_fraction"),
}


#: Each case compiles its own stochastic sweep (about 5 s on 2 cores). The default run keeps the
#: step-decay schedules behind the plateau-then-drop question; the rest run with ``-m slow``
#: (every schedule is checked against its closed form, without a sweep, in
#: ``test_optimizers_schedules.py``).
FAST_SCHEDULES = {"piecewise-constant", "warmup-stable-decay"}


@pytest.mark.parametrize("name", [
    name if name in FAST_SCHEDULES else pytest.param(name, marks=pytest.mark.slow)
    for name in sorted(SCHEDULES)])
def test_schedules_run_in_stochastic_sweeps_and_sweep_their_fields(name, small_task):
    fields, swept = SCHEDULES[name]
    schedule = lrscape.schedules.get(name, **fields)
    if swept == "multipliers":  # an array field: sweep the rate instead
        grid = {"learning_rate": [0.1, 0.2]}
    else:
        grid = {"learning_rate": [0.1], swept: [0.3, 0.5]}
    ds = lrscape.sweep(small_task, "sgd", grid, schedule=schedule, steps=48, record_every=1,
                       progress=False)
    for point in itertools.product(*grid.values()):
        coords = dict(zip(grid, point, strict=True))
        sched = schedule.replace(**{k: v for k, v in coords.items() if k == swept})
        losses, _, _ = python_loop(small_task, coords["learning_rate"], 48, schedule=sched)
        np.testing.assert_allclose(ds.loss_last.sel(coords).values, losses, rtol=5e-5)


# -- bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize("fields, message", [
    ({"n_train": 16, "batch_size": 32}, "`batch_size` must be at most the training set's size"),
    ({"batch_size": 0}, "`batch_size` must be >= 1, got 0"),
    ({"batch_size": -4}, "`batch_size` must be >= 1, got -4"),
    ({"n_train": 0}, "`n_train` must be >= 1, got 0"),
    ({"n_val": -1}, "`n_val` must be >= 1, got -1"),
    ({"data_seed": 1.5}, "`data_seed` must be a whole number, got 1.5"),
])
def test_bad_dataset_sizes_are_refused(fields, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        LinearRegression(**fields)


@pytest.mark.parametrize("value", [0.0, -1.0])
def test_noisy_quadratic_needs_a_positive_batch_size(value):
    with pytest.raises(ValueError, match=f"`batch_size` must be > 0, got {value}"):
        NoisyQuadratic(batch_size=value)


def test_bad_noise_and_late_boundaries_are_refused_before_compiling(small_task):
    with pytest.raises(ValueError, match="`gradient_noise` must be a finite number >= 0"):
        lrscape.sweep("quadratic", "sgd", {"learning_rate": [0.1]}, gradient_noise=-0.1)
    with pytest.raises(ValueError, match="grid axis 'gradient_noise'.*>= 0, got -0.5"):
        lrscape.sweep("quadratic", "sgd", {"learning_rate": [0.1], "gradient_noise": [-0.5]})
    late = lrscape.schedules.get("piecewise-constant", boundaries=[100, 900],
                                 multipliers=[1.0, 0.1, 0.01])
    with pytest.raises(ValueError, match="900"):
        lrscape.sweep(small_task, "sgd", {"learning_rate": [0.1]}, schedule=late, steps=400)


# -- the first question, measured ------------------------------------------------------------


def _load_experiment(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "experiments" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_epoch_mean_hides_the_bouncing_that_validation_snapshots_show():
    """Why validation loss jumps while the epoch-mean training loss falls smoothly."""
    experiment = _load_experiment("snapshot_vs_mean")
    ds = experiment.run(epochs=20, seeds=4)
    jumps = experiment.epoch_jumps(ds.isel(epoch=slice(4, None)))
    large, small = experiment.LARGE_LR, experiment.SMALL_LR
    # At the large rate the validation snapshot jumps several times more than the epoch mean.
    assert jumps["val_loss"].sel(learning_rate=large) > 2.5 * jumps["epoch_loss_mean"].sel(
        learning_rate=large)
    # A smaller rate lets the parameters settle: the validation jumps shrink.
    assert jumps["val_loss"].sel(learning_rate=small) < 0.25 * jumps["val_loss"].sel(
        learning_rate=large)
    # And the bouncing is there at the large rate (eta lambda_wall = 1.2), not at the small one
    # (0.2): their successive steps correlate as -eta lambda_wall / 2 would have them.
    assert np.all(ds.regime.sel(learning_rate=large) == lrscape.Regime.OSCILLATORY)
    assert np.all(ds.regime.sel(learning_rate=small) == lrscape.Regime.MONOTONE)
    np.testing.assert_allclose(ds.step_correlation.mean("seed"), [-0.6, -0.1], atol=0.05)


def test_the_summary_figure_of_a_stochastic_sweep_shows_its_training_log(small_task, tmp_path):
    """Per epoch, as a training loop logs it: the epoch-mean training loss beside the
    validation snapshot, for the trajectories whose minibatch losses are drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from lrscape import plot

    store = str(tmp_path / "s.zarr")
    ds = lrscape.sweep(small_task, "sgd", {"learning_rate": [0.01, 0.3, 2.0]},
                       steps=12 * small_task.steps_per_epoch, record_every=4, store=store,
                       progress=False)
    for fig in (plot.summary_figure(ds),  # the trajectories run again, with their paths
                plot.summary_figure(lrscape.open(store, records=False), store=store,
                                    paths=False)):  # their records read from the store
        titles = [ax.get_title() for ax in fig.axes]
        assert titles[1] == "loss along each lettered trajectory (marked on the phase diagram)"
        assert titles[-1] == "per epoch: training mean, validation snapshot"
        assert titles[2].startswith("paths over the loss") == (len(titles) == 4)
        loss, epochs = fig.axes[1], fig.axes[-1]
        assert loss.get_ylabel() == "minibatch loss, mean over each window of 4 steps"
        drawn = [line for line in epochs.get_lines() if len(line.get_xdata())]
        points = plot.representative_points(ds, "learning_rate", None)
        assert len(drawn) == 2 * len(points) >= 4  # two regimes at least, two curves each
        pairs = zip(drawn[::2], drawn[1::2], strict=True)
        for point, (mean, val) in zip(points, pairs, strict=True):
            expected = ds.sel(point)
            np.testing.assert_array_equal(mean.get_ydata(), expected.epoch_loss_mean.values)
            np.testing.assert_array_equal(val.get_ydata(), expected.val_loss.values)
            assert mean.get_linestyle() == "-" and val.get_linestyle() == "--"
        plt.close(fig)
