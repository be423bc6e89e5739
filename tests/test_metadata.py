"""CF metadata: a sweep's Dataset and its zarr store say which conventions they follow, and
every variable that is a number has its units (lrscape's quantities are all dimensionless)."""

import numpy as np
import xarray as xr

import lrscape

#: Indices and identifiers, not quantities: CF gives them no units.
_NOT_QUANTITIES = ("plane", "path_origin", "path_basis", "chunk", "chunk_variable",
                   "chunk_checksum")


def _check_cf(ds: xr.Dataset) -> None:
    assert ds.attrs["Conventions"] == "CF-1.10"
    for name, array in {**ds.data_vars, **ds.coords}.items():
        if "flag_values" in array.attrs:  # a flag variable: its meanings instead of units
            assert len(array.attrs["flag_values"]) == len(array.attrs["flag_meanings"].split())
            assert "units" not in array.attrs
        elif name == "chunk_nbytes":
            assert array.attrs["units"] == "byte"
        elif array.dtype == bool or name in _NOT_QUANTITIES:
            continue
        else:
            assert array.attrs.get("units") == "1", name
            assert array.attrs.get("long_name"), name


def test_a_sweep_and_its_store_carry_cf_units_and_conventions(tmp_path):
    store = tmp_path / "cf.zarr"
    ds = lrscape.sweep("narrow-valley", "momentum",
                       {"learning_rate": lrscape.logspace(1e-3, 0.05, 3), "momentum": [0.0, 0.9]},
                       steps=200, store=store, progress=False,
                       observe=lrscape.Observe(curvature_every=100, best=True,
                                               trainability=True, path_every=10))
    _check_cf(ds)
    opened = xr.open_zarr(store)
    _check_cf(opened)
    assert opened.learning_rate.attrs["long_name"] == "learning_rate of the optimizer"
    np.testing.assert_array_equal(opened.regime.attrs["flag_values"],
                                  [r.value for r in lrscape.Regime])


def test_a_stochastic_sweeps_epoch_records_carry_units():
    data = lrscape.landscapes.get("linear-regression", n_train=64, n_val=32, batch_size=16)
    ds = lrscape.sweep(data, "sgd", {"learning_rate": [0.01, 0.1]}, steps=40, progress=False)
    _check_cf(ds)
    assert ds.epoch.attrs["units"] == "1" and ds.val_loss.attrs["units"] == "1"
