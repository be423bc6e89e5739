"""Every landscape: well-formed, differentiable, vmappable, validated; formulas checked."""

import dataclasses
import inspect
import pickle

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import lrscape
from lrscape import landscapes as L


def test_registry_lists_the_families():
    assert set(L.available()) >= {
        "quadratic", "narrow-valley", "rosenbrock", "double-well", "rugged-quadratic",
        "rastrigin", "uv-model",
    }


def test_loss_and_gradient_are_finite_at_init(landscape_name, key):
    landscape = L.get(landscape_name)
    params = landscape.init(key)
    loss, grads = jax.value_and_grad(landscape.loss)(params)
    assert loss.shape == ()
    assert np.isfinite(loss)
    assert all(np.all(np.isfinite(g)) for g in jax.tree.leaves(grads))


def test_loss_jits_and_vmaps_over_a_traced_field(landscape_name, key):
    landscape = L.get(landscape_name)
    fields = type(landscape).sweepable_fields()
    params = landscape.init(key)
    if not fields:
        pytest.skip("no sweepable field")
    field = fields[0]
    base = float(getattr(landscape, field))
    values = jnp.array([base, base * 1.5 + 0.1])

    @jax.jit
    def losses(land, vals):
        return jax.vmap(lambda v: land.replace(**{field: v}).loss(params))(vals)

    out = losses(landscape, values)
    loop = [landscape.replace(**{field: float(v)}).loss(params) for v in values]
    np.testing.assert_allclose(out, loop, rtol=1e-6)


def test_docstring_has_a_formula(landscape_name):
    doc = inspect.getdoc(type(L.get(landscape_name)))
    assert ".. math::" in doc and "Fields:" in doc


def test_minimum_is_attained_where_known(landscape_name):
    landscape = L.get(landscape_name)
    minimizers = {
        "quadratic": jnp.zeros(1),
        "narrow-valley": jnp.zeros(2),
        "rosenbrock": jnp.ones(2),
        "double-well": jnp.ones(1),
        "rastrigin": jnp.zeros(2),
        "uv-model": (jnp.zeros(100), jnp.zeros(100)),
        "twisted-valley": jnp.zeros(3),
        "noisy-quadratic": jnp.zeros(100),
    }
    if landscape.minimum is None:
        assert landscape_name in ("rugged-quadratic", "mlp", "linear-regression",
                                  "logistic-regression", "teacher-student")
        return
    x = minimizers[landscape_name]
    assert float(landscape.loss(x)) == pytest.approx(landscape.minimum, abs=1e-6)
    grads = jax.grad(landscape.loss)(x)
    assert all(np.allclose(g, 0, atol=1e-5) for g in jax.tree.leaves(grads))


def test_static_fields_are_not_leaves():
    valley = L.get("narrow-valley", dim=5)
    leaves = jax.tree.leaves(valley)
    assert 5 not in [leaf for leaf in leaves if isinstance(leaf, int)]
    assert "dim" not in L.NarrowValley.sweepable_fields()
    assert "wall_curvature" in L.NarrowValley.sweepable_fields()


def test_quadratic_hessian_spectrum_is_the_given_one_also_when_rotated():
    h = [0.5, 2.0, 7.0]
    q = L.get("quadratic", eigenvalues=h, scale=2.0, rotation_seed=3)
    hess = jax.hessian(q.loss)(jnp.zeros(3))
    assert not np.allclose(hess, np.diag(np.diag(hess)), atol=1e-3)  # really rotated
    np.testing.assert_allclose(np.linalg.eigvalsh(hess), 2.0 * np.array(h), rtol=1e-5)
    np.testing.assert_allclose(q.hessian_eigenvalues(), [14.0, 4.0, 1.0])


def test_narrow_valley_walls_narrow_along_the_floor():
    valley = L.get("narrow-valley", dim=3, wall_curvature=10.0, wall_growth=0.1, start=10.0)
    for x0, expected in [(10.0, 10.0), (0.0, 10.0 * np.e)]:
        hess = jax.hessian(valley.loss)(jnp.array([x0, 0.0, 0.0]))
        np.testing.assert_allclose(np.diag(hess)[1:], expected, rtol=1e-5)
    # the floor declines with slope floor_slope far from its minimum
    g = jax.grad(valley.loss)(jnp.array([50.0, 0.0, 0.0]))
    assert float(g[0]) == pytest.approx(valley.floor_slope, rel=1e-3)


def test_twisted_valley_turns_its_steep_direction_and_steepens():
    tv = lrscape.landscapes.get("twisted-valley", twist=0.3, wall_growth=0.15, start=10.0)
    for x0 in (10.0, 7.0, 3.0):
        hess = jax.hessian(tv.loss)(jnp.array([x0, 0.0, 0.0]))
        values, vectors = np.linalg.eigh(np.asarray(hess)[1:, 1:])
        assert values[-1] == pytest.approx(float(tv.wall_curvature_at(x0)), rel=1e-4)
        assert values[0] == pytest.approx(tv.minor_curvature, rel=1e-4)
        steep = np.asarray(tv.steep_direction_at(x0))
        assert abs(float(np.dot(vectors[:, -1], steep))) == pytest.approx(1.0, abs=1e-5)
    # turned by twist * distance: 0.3 * 3 = 0.9 rad between x0 = 10 and 7
    a, b = np.asarray(tv.steep_direction_at(10.0)), np.asarray(tv.steep_direction_at(7.0))
    assert abs(float(np.dot(a, b))) == pytest.approx(np.cos(0.9), rel=1e-5)


def test_double_well_gradient_is_the_cubic():
    dw = L.get("double-well", dim=3)
    x = jnp.array([-1.5, 0.3, 2.0])
    np.testing.assert_allclose(jax.grad(dw.loss)(x), x * (x**2 - 1), rtol=1e-6)


def test_rosenbrock_variants_agree_in_2d_and_differ_beyond():
    x = jnp.array([0.3, -0.7, 1.1, 0.2])
    chained = L.get("rosenbrock", dim=4)
    extended = L.get("rosenbrock", dim=4, variant="extended")
    expected_ext = 100 * (-0.7 - 0.09) ** 2 + 0.7**2 + 100 * (0.2 - 1.21) ** 2 + (1 - 1.1) ** 2
    assert float(extended.loss(x)) == pytest.approx(expected_ext, rel=1e-5)
    assert float(chained.loss(x)) != pytest.approx(expected_ext, rel=1e-3)
    x2 = jnp.array([-1.2, 1.0])
    assert float(L.get("rosenbrock").loss(x2)) == pytest.approx(24.2, rel=1e-5)


def test_uv_model_curvature_at_a_zero_output_point_is_the_ntk(key):
    # At f = 0 the Hessian of (f - 0)^2 / 2 is grad f grad f^T, whose top eigenvalue is
    # |grad f|^2 = (|u|^2 + |v|^2) / n: the NTK that sets the catapult thresholds.
    uv = L.get("uv-model", width=8)
    u, v = uv.init(key)
    v = v - jnp.dot(u, v) / jnp.dot(u, u) * u  # make v orthogonal to u: f = 0
    flat, unravel = jax.flatten_util.ravel_pytree((u, v))
    hess = jax.hessian(lambda p: uv.loss(unravel(p)))(flat)
    top = np.linalg.eigvalsh(hess)[-1]
    assert top == pytest.approx(float(uv.ntk((u, v))), rel=1e-4)


def test_rugged_quadratic_is_seeded_and_ripples_scale_with_amplitude(key):
    a = L.get("rugged-quadratic", dim=5, seed=1)
    b = L.get("rugged-quadratic", dim=5, seed=1)
    c = L.get("rugged-quadratic", dim=5, seed=2)
    x = jnp.linspace(-1, 1, 5)
    assert float(a.loss(x)) == float(b.loss(x))
    assert float(a.loss(x)) != float(c.loss(x))
    flat = L.get("rugged-quadratic", dim=5, seed=1, amplitude=0.0)
    assert float(flat.loss(x)) == pytest.approx(0.5 * float(jnp.sum(x * x)), rel=1e-6)
    # the ripple field has standard deviation ~ amplitude over random points
    pts = jax.random.normal(key, (4000, 5)) * 3
    wide = L.get("rugged-quadratic", dim=5, amplitude=1.0, curvature=1e-9, n_features=512)
    ripples = jax.vmap(wide.loss)(pts)
    assert float(jnp.std(ripples)) == pytest.approx(1.0, rel=0.15)


def test_init_is_seeded_for_random_families():
    r = L.get("rastrigin", dim=3)
    a, b = r.init(jax.random.key(1)), r.init(jax.random.key(2))
    assert not np.allclose(a, b)
    assert np.all(np.abs(a) <= 5.12)


@pytest.mark.parametrize(
    ("name", "fields", "message"),
    [
        ("narrow-valley", {"wall_curvature": -1.0}, "wall_curvature"),
        ("narrow-valley", {"wall_curvature": float("nan")}, "wall_curvature"),
        ("narrow-valley", {"dim": 1}, "dim"),
        ("narrow-valley", {"dim": 2.5}, "dim"),
        ("quadratic", {"eigenvalues": []}, "eigenvalues"),
        ("quadratic", {"eigenvalues": [1.0, -2.0]}, "eigenvalues"),
        ("quadratic", {"eigenvalues": [[1.0]]}, "eigenvalues"),
        ("quadratic", {"scale": 0.0}, "scale"),
        ("rosenbrock", {"variant": "banana"}, "variant"),
        ("rosenbrock", {"dim": 3, "variant": "extended"}, "dim"),
        ("double-well", {"dim": 0}, "dim"),
        ("rugged-quadratic", {"frequency": 0.0}, "frequency"),
        ("rugged-quadratic", {"n_features": 0}, "n_features"),
        ("rastrigin", {"A": -1.0}, "A"),
        ("uv-model", {"width": True}, "width"),
        ("mlp", {"nonlinearity": "sigmoid"}, "nonlinearity"),
        ("mlp", {"parameterization": "muP"}, "parameterization"),
        ("mlp", {"n_data": 0}, "n_data"),
        ("uv-model", {"target": "zero"}, "target"),
    ],
)
def test_bad_fields_name_the_field_and_value(name, fields, message):
    with pytest.raises(ValueError, match=message) as err:
        L.get(name, **fields)
    assert repr(next(iter(fields.values()))) in str(err.value)


def test_unknown_names_and_fields():
    with pytest.raises(ValueError, match="unknown landscape 'valley'.*narrow-valley"):
        L.get("valley")
    with pytest.raises(ValueError, match="no field.*'curvature'"):
        L.get("narrow-valley", curvature=1.0)


def test_landscapes_are_frozen():
    valley = L.get("narrow-valley")
    with pytest.raises(dataclasses.FrozenInstanceError):
        valley.wall_curvature = 3.0


def test_replace_validates():
    with pytest.raises(ValueError, match="wall_curvature"):
        L.get("narrow-valley").replace(wall_curvature=-5.0)


def test_a_landscape_survives_pickling(landscape_name, key):
    """Ray ships landscapes pickled; the copy is the same landscape."""
    landscape = L.get(landscape_name)
    copy = pickle.loads(pickle.dumps(landscape))
    assert type(copy) is type(landscape) and copy.config() == landscape.config()
    params = landscape.init(key)
    np.testing.assert_array_equal(copy.loss(params), landscape.loss(params))


def test_public_namespace():
    assert lrscape.landscapes.NarrowValley is L.NarrowValley


# -- landscapes written by the user -----------------------------------------------------------


def _tilted_bowl(register):
    @register("user-tilted-bowl")
    class TiltedBowl(L.Landscape):
        """f(x) = a x_0^2 / 2 + x_1^2 / 2 + t x_1."""

        a: float = 10.0
        t: float = 0.0

        def loss(self, x):
            return 0.5 * self.a * x[0] ** 2 + 0.5 * x[1] ** 2 + self.t * x[1]

        def init(self, key):
            return jnp.ones(2)

    return TiltedBowl


def test_a_user_landscape_sweeps_its_fields_and_meets_the_stability_edge(user_registry):
    bowl = _tilted_bowl(user_registry)(t=0.5)
    assert L.get("user-tilted-bowl", a=3.0).a == 3.0
    curvatures = np.array([2.0, 5.0, 20.0])
    lrs = lrscape.logspace(0.01, 1.5, 120)
    ds = lrscape.sweep(bowl, "sgd", {"learning_rate": lrs, "a": curvatures}, steps=400,
                       progress=False)
    assert ds.a.attrs["sweeps"] == "landscape.a"
    for j, a in enumerate(curvatures):
        first_diverged = lrs[np.argmax(ds.regime.values[:, j] == lrscape.Regime.DIVERGED)]
        edge = lrscape.theory.critical_learning_rate(lrscape.theory.gd_edge(), a)
        assert edge < first_diverged < edge * 1.05


def test_registering_a_user_landscape(user_registry):
    first = _tilted_bowl(user_registry)
    again = _tilted_bowl(user_registry)  # the same class declared again: a notebook cell re-run
    assert L.get("user-tilted-bowl").__class__ is again is not first

    with pytest.raises(ValueError, match="'narrow-valley' is already registered.*NarrowValley"):
        @user_registry("narrow-valley")
        class Impostor(L.Landscape):
            def loss(self, x):
                return jnp.sum(x**2)

            def init(self, key):
                return jnp.ones(2)

    with pytest.raises(ValueError, match="landscape NoStart must define init"):
        @user_registry("user-no-start")
        class NoStart(L.Landscape):
            def loss(self, x):
                return jnp.sum(x**2)

    with pytest.raises(ValueError, match="must subclass Landscape"):
        user_registry("user-plain")(type("Plain", (), {}))


def test_an_undeclared_landscape_class_is_refused_with_the_fix():
    class Undeclared(L.Landscape):
        def loss(self, x):
            return jnp.sum(x**2)

        def init(self, key):
            return jnp.ones(2)

    with pytest.raises(ValueError, match=r"Undeclared is not a JAX pytree.*landscapes.register"):
        lrscape.sweep(Undeclared(), "sgd", {"learning_rate": [0.1]}, steps=10, progress=False)
