"""Hessian-vector products and eigen-solvers against the dense Hessian's eigvalsh."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import lrscape
from lrscape import curvature

POINTS = {
    "quadratic": lambda: (lrscape.landscapes.get("quadratic", eigenvalues=[0.5, 3.0, 9.0, 1.0],
                                                 rotation_seed=1), None),
    "narrow-valley": lambda: (lrscape.landscapes.get("narrow-valley", dim=4, wall_growth=0.1),
                              None),
    "rosenbrock": lambda: (lrscape.landscapes.get("rosenbrock", dim=5), None),
    "rugged-quadratic": lambda: (lrscape.landscapes.get("rugged-quadratic", dim=6,
                                                        amplitude=0.05), None),
    "uv-model": lambda: (lrscape.landscapes.get("uv-model", width=6, target=1.0), None),
}


def random_point(landscape, seed):
    params = landscape.init(jax.random.key(seed))
    noise = jax.tree.map(lambda x: 0.3 * jax.random.normal(jax.random.key(seed + 1), x.shape),
                         params)
    return jax.tree.map(jnp.add, params, noise)


@pytest.mark.parametrize("name", sorted(POINTS))
def test_hvp_equals_the_dense_hessian_times_v(name):
    landscape, _ = POINTS[name]()
    params = random_point(landscape, 3)
    flat, unravel = jax.flatten_util.ravel_pytree(params)
    dense = jax.jit(jax.hessian(lambda x: landscape.loss(unravel(x))))(flat)
    v = jax.random.normal(jax.random.key(5), flat.shape)
    got, _ = jax.flatten_util.ravel_pytree(
        jax.jit(lambda p, u: curvature.hvp(landscape.loss, p, u))(params, unravel(v)))
    np.testing.assert_allclose(got, dense @ v, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name", sorted(POINTS))
@pytest.mark.parametrize("seed", [0, pytest.param(11, marks=pytest.mark.slow)])
def test_lanczos_and_power_iteration_match_eigvalsh(name, seed):
    landscape, _ = POINTS[name]()
    params = random_point(landscape, seed)
    exact = np.asarray(curvature.hessian_eigenvalues(landscape.loss, params))
    top = curvature.lanczos(landscape.loss, params, k=2, iters=40)
    np.testing.assert_allclose(top.value, exact[:2], rtol=1e-3, atol=1e-3)
    dominant = exact[np.argmax(np.abs(exact))]
    power = curvature.power_iteration(landscape.loss, params, iters=300)
    assert float(power.value) == pytest.approx(dominant, rel=1e-3, abs=1e-3)
    # the vector is an eigenvector: |H v - lambda v| small
    flat, unravel = jax.flatten_util.ravel_pytree(params)
    hv, _ = jax.flatten_util.ravel_pytree(
        curvature.hvp(landscape.loss, params, unravel(top.vector[:, 0])))
    np.testing.assert_allclose(hv, top.value[0] * top.vector[:, 0], atol=2e-2 * abs(exact[0]))


def test_vmapped_sharpness_equals_a_loop():
    valley = lrscape.landscapes.get("narrow-valley", dim=3, wall_growth=0.2)
    points = jnp.stack([jnp.array([x0, 0.1, -0.2]) for x0 in (-2.0, 0.0, 3.0, 9.0)])
    vmapped = jax.jit(jax.vmap(lambda p: curvature.power_iteration(valley.loss, p).value))(points)
    looped = [float(curvature.power_iteration(valley.loss, p).value) for p in points]
    np.testing.assert_allclose(vmapped, looped, rtol=1e-5)
    # and it is the wall curvature kappa(x0) there, which grows as the walls narrow
    kappa = np.asarray(valley.wall_curvature_at(points[:, 0]))
    np.testing.assert_allclose(vmapped, kappa, rtol=1e-3)


def test_preconditioned_sharpness_of_a_diagonal_quadratic():
    q = lrscape.landscapes.get("quadratic", eigenvalues=[4.0, 1.0, 0.25])
    p = jnp.array([2.0, 0.5, 0.1])
    value = curvature.preconditioned_sharpness(q.loss, jnp.ones(3), p, iters=200)
    assert float(value) == pytest.approx(max(4.0 / 2.0, 1.0 / 0.5, 0.25 / 0.1), rel=1e-4)


def test_adam_preconditioner_is_read_from_the_optax_state():
    q = lrscape.landscapes.get("quadratic", eigenvalues=[4.0, 1.0])
    tx = optax.adam(0.01, b2=0.99)
    x = jnp.array([1.0, -2.0])
    state = tx.init(x)
    for _ in range(3):
        g = jax.grad(q.loss)(x)
        updates, state = tx.update(g, state, x)
        x = optax.apply_updates(x, updates)
    pre = curvature.adam_preconditioner(state, b2=0.99)
    nu = state[0].nu
    np.testing.assert_allclose(pre, jnp.sqrt(nu / (1 - 0.99**3)) + 1e-8, rtol=1e-5)
    with pytest.raises(ValueError, match="no Adam state"):
        curvature.adam_preconditioner(optax.sgd(0.1).init(x), b2=0.99)


def test_lanczos_rejects_bad_k():
    q = lrscape.landscapes.get("quadratic", eigenvalues=[1.0, 2.0])
    with pytest.raises(ValueError, match="`k` must be in"):
        curvature.lanczos(q.loss, jnp.ones(2), k=3)


def test_lyapunov_exponent_is_positive_in_chaos_and_negative_on_cycles():
    dw = lrscape.landscapes.get("double-well", start=0.5)
    ds = lrscape.sweep(dw, "sgd", {"learning_rate": [0.9, 1.1, 1.25, 1.4, 1.6]}, steps=2000,
                       lyapunov=True, progress=False)
    lyap = dict(zip(ds.learning_rate.values.round(2), ds.lyapunov.values, strict=True))
    assert lyap[1.4] > 0.05 and lyap[1.6] > 0.05  # chaos
    assert lyap[1.1] < -0.05 and lyap[1.25] < -0.01  # stable 2- and 4-cycles
    # On the fixed point x = 1 (f'' = 2) the exponent is log|1 - 2 eta|.
    assert lyap[0.9] == pytest.approx(np.log(abs(1 - 2 * 0.9)), abs=0.02)
    chaotic = ds.regime.values == lrscape.Regime.CHAOTIC
    np.testing.assert_array_equal(chaotic, ds.lyapunov.values > 0)


def test_lyapunov_of_momentum_on_a_quadratic_is_the_log_spectral_radius():
    q = lrscape.landscapes.get("quadratic", eigenvalues=[1.0])
    eta, beta = 0.1, 0.3  # real roots: the tangent converges to the dominant eigenvector
    ds = lrscape.sweep(q, lrscape.optimizers.get("momentum", momentum=beta),
                       {"learning_rate": [eta]}, steps=300, lyapunov=True, dtype="float64",
                       progress=False)
    rho = lrscape.theory.heavy_ball_spectral_radius(eta, 1.0, beta)
    assert ds.lyapunov.item() == pytest.approx(np.log(rho), abs=0.01)


def test_uv_model_catapults_between_two_and_four():
    # Lewkowycz et al. 2020: lazy below eta*lambda0 = 2, catapult (loss spike, then convergence
    # with eta*lambda < 2) between 2 and 4, divergence beyond 4.
    uv = lrscape.landscapes.get("uv-model", width=1000)
    x0 = uv.init(jax.random.key(0))
    lam0 = float(uv.ntk(x0))
    ratios = np.array([1.5, 3.0, 3.9, 4.1])
    ds = lrscape.sweep(uv, "sgd", {"learning_rate": ratios / lam0}, x0=x0, steps=2000,
                       curvature_every=2000, progress=False)
    regime = ds.regime.values
    final_eta_lambda = ds.sharpness.values[:, -1] * ratios / lam0
    initial = ds.sharpness.values[:, 0]
    assert initial == pytest.approx(lam0, rel=0.05)  # at init the top eigenvalue is ~ the NTK
    assert ds.converged.values[:3].all()
    assert np.all(final_eta_lambda[:3] < 2.0)
    assert ds.peak_loss_ratio.values[0] == pytest.approx(1.0)  # lazy: no spike
    assert np.all(ds.peak_loss_ratio.values[1:3] > 10.0)  # catapult: the loss spikes first
    assert regime[3] == lrscape.Regime.DIVERGED


def test_tracked_sharpness_equals_a_direct_measurement():
    # dim=2: one wall, so the top eigenvector is unique and the overlap means something
    valley = lrscape.landscapes.get("narrow-valley", dim=2, wall_growth=0.1, wall_offset=0.5)
    lrs = [1e-3, 5e-3]
    ds = lrscape.sweep(valley, "sgd", {"learning_rate": lrs}, steps=400, record_every=10,
                       curvature_every=200, curvature_iters=30, progress=False)
    assert ds.sharpness.dims == ("learning_rate", "curvature_step")
    np.testing.assert_array_equal(ds.curvature_step.values, [0, 200, 400])
    for i, lr in enumerate(lrs):
        x = valley.init(None)
        for j, until in enumerate([0, 200, 400]):
            if until:
                x = jax.lax.fori_loop(0, 200, lambda _, x, lr=lr: x - lr * jax.grad(valley.loss)(x),
                                      x)
            exact = float(curvature.hessian_eigenvalues(valley.loss, x)[0])
            assert float(ds.sharpness.values[i, j]) == pytest.approx(exact, rel=1e-4)
    overlap = ds.eigvec_overlap.values[:, 1:]
    assert np.all((overlap > 0.99) & (overlap <= 1.0 + 1e-5))  # the steep direction stays put
    assert np.isnan(ds.eigvec_overlap.values[:, 0]).all()  # nothing to compare at step 0


def test_curvature_options_are_validated():
    q = lrscape.landscapes.get("quadratic")
    with pytest.raises(ValueError, match="`curvature_every` = 15 must be a multiple"):
        lrscape.sweep(q, "sgd", {"learning_rate": [0.1]}, steps=100, curvature_every=15)
    with pytest.raises(ValueError, match="`curvature_iters` must be an integer >= 1"):
        lrscape.sweep(q, "sgd", {"learning_rate": [0.1]}, steps=100, curvature_every=50,
                      curvature_iters=0)
    with pytest.raises(ValueError, match="`lyapunov` must be True or False"):
        lrscape.sweep(q, "sgd", {"learning_rate": [0.1]}, steps=100, lyapunov="yes")
    with pytest.raises(ValueError, match="`curvature_k` = 3 acts only with `curvature_every`"):
        lrscape.sweep(q, "sgd", {"learning_rate": [0.1]}, steps=100, curvature_k=3)


@pytest.mark.parametrize("m", [1, 2, 7, 20])
def test_top_of_a_tridiagonal_matches_eigh(m):
    rng = np.random.default_rng(m)
    diag = rng.standard_normal(m).astype(np.float32) * 10
    off = rng.standard_normal(m - 1).astype(np.float32)
    dense = np.diag(diag) + np.diag(off, 1) + np.diag(off, -1)
    values, vectors = np.linalg.eigh(dense)
    top, vector = curvature._tridiagonal_top(jnp.asarray(diag), jnp.asarray(off), min(m, 3))
    np.testing.assert_allclose(top, values[::-1][: min(m, 3)], rtol=1e-5, atol=1e-5)
    assert abs(float(np.dot(vectors[:, -1], vector))) == pytest.approx(1.0, abs=1e-4)


@pytest.mark.parametrize("name", sorted(POINTS))
def test_lanczos_top_one_matches_eigvalsh(name):
    landscape, _ = POINTS[name]()
    params = random_point(landscape, 4)
    exact = np.asarray(curvature.hessian_eigenvalues(landscape.loss, params))
    top = curvature.lanczos(landscape.loss, params, k=1, iters=40)
    assert float(top.value[0]) == pytest.approx(exact[0], rel=1e-3, abs=1e-3)


def test_kept_tail_repeats_with_the_detected_period():
    dw = lrscape.landscapes.get("double-well")
    ds = lrscape.sweep(dw, "sgd", {"learning_rate": [0.5, 1.1, 1.25, 1.295]}, steps=2000,
                       keep_tail=True, progress=False)
    assert ds.tail_projection.dims == ("learning_rate", "tail")
    for tail, period in zip(ds.tail_projection.values, ds.period.values, strict=True):
        assert period in (1, 2, 4, 8)
        np.testing.assert_allclose(tail[period:], tail[:-period], rtol=1e-4, atol=1e-6)
        if period > 1:  # and not with any shorter period
            assert not np.allclose(tail[period // 2:], tail[:-(period // 2)], rtol=1e-3)
    # the fixed point of the double well is |x| = 1
    assert abs(ds.tail_projection.values[0, -1]) == pytest.approx(1.0, rel=1e-5)


def test_gradient_descent_on_an_mlp_sharpens_to_the_edge_of_stability_and_stays():
    # Cohen et al. 2021: sharpness rises during training until 2/eta, then hovers there.
    mlp = lrscape.landscapes.get("mlp")
    etas = np.array([0.4, 0.6])
    ds = lrscape.sweep(mlp, "sgd", {"learning_rate": etas}, steps=6000, record_every=100,
                       curvature_every=500, progress=False)
    sharp = ds.sharpness.values
    steps = ds.curvature_step.values
    # eta = 0.4: starts below 2/eta = 5, sharpens progressively, then sits at the edge.
    assert sharp[0, 0] < 0.9 * 2 / etas[0]
    late = steps >= 4500
    np.testing.assert_allclose(sharp[0, late], 2 / etas[0], rtol=0.1)
    # eta = 0.6: starts above 2/eta = 3.33; the instability flattens it to the edge, where it
    # stays for the rest of the run.
    assert sharp[1, 0] > 1.2 * 2 / etas[1]
    np.testing.assert_allclose(sharp[1, steps >= 500], 2 / etas[1], rtol=0.1)
    assert np.all(np.isfinite(ds.final_loss.values))


def test_heavy_ball_sharpness_hovers_at_its_stability_threshold():
    # The edge of stability of heavy ball is 2(1+beta)/eta (the quadratic's edge), and
    # plot.stability_threshold, which the figures draw, gives it for each trajectory of the grid.
    from lrscape import plot

    mlp = lrscape.landscapes.get("mlp")
    ds = lrscape.sweep(mlp, "momentum", {"learning_rate": [0.65, 0.72], "momentum": [0.5]},
                       steps=3000, record_every=100, curvature_every=300, progress=False)
    late = ds.curvature_step.values >= 1500
    for i, eta in enumerate([0.65, 0.72]):
        trajectory = ds.isel(learning_rate=i, momentum=0)
        steps, threshold, formula = plot.stability_threshold(ds, trajectory)
        assert formula == "2(1+β)/η"
        np.testing.assert_allclose(threshold, 2 * 1.5 / eta)
        assert steps[-1] == 3000
        np.testing.assert_allclose(trajectory.sharpness.values[late], 2 * 1.5 / eta, rtol=0.05)
    # from either side: 0.65 sharpened up to its edge, 0.72 was flattened down to it
    assert ds.sharpness.values[0, 0, 0] < 2 * 1.5 / 0.65 and ds.sharpness.values[1, 0, 0] > (
        2 * 1.5 / 0.72)


def test_mlp_parameterizations_agree_at_initialisation():
    outputs = []
    for p in ("standard", "ntk"):
        mlp = lrscape.landscapes.get("mlp", parameterization=p, depth=2)
        params = mlp.init(jax.random.key(1))
        outputs.append(mlp.output(params, mlp.inputs))
    # same function in distribution: compare the output scale over the data
    assert float(jnp.std(outputs[0])) == pytest.approx(float(jnp.std(outputs[1])), rel=0.5)
    mf = lrscape.landscapes.get("mlp", parameterization="mean-field", width=256)
    out = mf.output(mf.init(jax.random.key(1)), mf.inputs)
    assert float(jnp.std(out)) < 0.2  # mean-field outputs start near zero


def test_large_rate_instability_flattens_and_shifts_the_landscape():
    # Wang & Roberts 2023: an instability moves the iterate to flatter ground (sharpness drops
    # after passing 2/eta) and turns the direction of highest curvature (overlap drops).
    valley = lrscape.landscapes.get("twisted-valley")
    ds = lrscape.sweep(valley, "sgd", {"learning_rate": [0.005, 0.02]}, steps=1500,
                       record_every=10, curvature_every=50, progress=False)
    small, medium = ds.sharpness.values
    assert np.all(np.diff(small) > 0) and small.max() * 0.005 < 1  # stable, steepening
    assert np.nanmin(ds.eigvec_overlap.values[0, 1:]) > 0.99
    passed = np.flatnonzero(medium * 0.02 > 2.0)
    assert passed.size, "the medium rate should pass the edge on the way down"
    after = medium[passed[0]:]
    assert after.min() < 0.8 * 2 / 0.02  # flattened well below the edge afterwards
    assert np.nanmin(ds.eigvec_overlap.values[1, 1:]) < 0.6  # the steep direction turned


def test_top_k_eigenvalues_in_a_sweep_match_eigvalsh():
    q = lrscape.landscapes.get("quadratic", eigenvalues=[9.0, 4.0, 1.0, 0.25, 0.1],
                               rotation_seed=2)
    ds = lrscape.sweep(q, "sgd", {"learning_rate": [0.01]}, steps=100, curvature_every=50,
                       curvature_iters=5, curvature_k=3, progress=False)
    assert ds.top_eigenvalues.dims == ("learning_rate", "curvature_step", "rank")
    np.testing.assert_allclose(ds.top_eigenvalues.values[0], np.tile([9.0, 4.0, 1.0], (3, 1)),
                               rtol=1e-4)
    np.testing.assert_allclose(ds.sharpness.values[0], 9.0, rtol=1e-4)
    with pytest.raises(ValueError, match="`curvature_k` = 6 must be at most"):
        lrscape.sweep(q, "sgd", {"learning_rate": [0.01]}, steps=100, curvature_every=50,
                      curvature_iters=5, curvature_k=6)
