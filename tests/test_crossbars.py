"""Balanced crossbars: the C and numpy generators give the same rows as the original one, bit for bit."""
from __future__ import annotations

import numpy as np
import pytest

from neuroemu.networks.crossbars import balanced_crossbar


def _reference(n_cores, cores_used, A, n_per, N, k, axon_type, n_types, rng):
    """The generator as first written (put_along_axis / take_along_axis), kept as the definition."""
    row_ptr = np.zeros(n_cores * A + 1, np.int64)
    row_ptr[1:cores_used * A + 1] = np.arange(1, cores_used * A + 1) * k
    row_ptr[cores_used * A + 1:] = cores_used * A * k
    dense = np.zeros((n_cores * A, N), np.uint8)
    out = []
    types, offsets = axon_type.reshape(n_cores, A), np.arange(k)
    chunk = max(1, (1 << 22) // (A * k))
    for lo in range(0, cores_used, chunk):
        hi = min(cores_used, lo + chunk)
        t_chunk = types[lo:hi]
        cols_of_row = np.empty((hi - lo, A, k), np.int64)
        for t in range(n_types):
            R = int((t_chunk[0] == t).sum())
            band = (((np.arange(R) * n_per) // R)[:, None] + offsets[None, :]) % n_per
            col_perm = np.argsort(rng.random((hi - lo, n_per)), axis=1)
            row_perm = np.argsort(rng.random((hi - lo, R)), axis=1)
            cols = np.take_along_axis(col_perm[:, band], row_perm[:, :, None], axis=1)
            axon_idx = np.argsort(t_chunk != t, axis=1, kind="stable")[:, :R]
            np.put_along_axis(cols_of_row, axon_idx[:, :, None], cols, axis=1)
        cols_of_row.sort(axis=2)
        out.append(cols_of_row.reshape(-1))
        np.put_along_axis(dense[lo * A:hi * A], cols_of_row.reshape(-1, k), 1, axis=1)
    return row_ptr, np.concatenate(out), dense


@pytest.mark.parametrize("n_cores,cores_used,A,n_per,N,k,n_types", [
    (6, 5, 32, 32, 32, 8, 4),        # uint8 neuron ids
    (3, 3, 64, 300, 320, 40, 4),     # uint16 ids, unused neurons at the end of each core
    (300, 290, 16, 16, 16, 16, 2),   # full rows, several chunks of cores
    (4, 4, 64, 200, 256, 4, 2),      # bands 6-7 columns apart, rows of 4: every window rebuilt
    (2, 2, 512, 100, 300, 10, 2),    # more rows than columns: bands 0 or 1 apart (uint16 ids)
    (3, 2, 64, 1000, 1024, 200, 4),  # windows sliding 62-63 columns a row, not in any dense copy
])
@pytest.mark.parametrize("use_c", [True, False], ids=["c", "numpy"])
def test_same_rows_as_the_reference(n_cores, cores_used, A, n_per, N, k, n_types, use_c):
    axon_type = np.tile(np.arange(n_types, dtype=np.int8), n_cores * A // n_types)
    axon_type.reshape(n_cores, A)[:] = np.random.default_rng(1).permuted(axon_type.reshape(n_cores, A), axis=1)
    row_ptr, rows, dense = balanced_crossbar(n_cores, cores_used, A, n_per, N, k, axon_type, n_types,
                                             np.random.default_rng(7), True, use_c=use_c)
    ref_ptr, ref_rows, ref_dense = _reference(n_cores, cores_used, A, n_per, N, k, axon_type, n_types,
                                              np.random.default_rng(7))
    assert np.array_equal(row_ptr, ref_ptr)
    assert rows.dtype == (np.uint8 if N <= 256 else np.uint16)
    assert np.array_equal(rows.astype(np.int64), ref_rows)
    assert np.array_equal(dense, ref_dense)
    # without the dense copy (uint16 ids then written in place): the same rows
    no_dense = balanced_crossbar(n_cores, cores_used, A, n_per, N, k, axon_type, n_types,
                                 np.random.default_rng(7), False, use_c=use_c)
    assert no_dense[2] is None and np.array_equal(no_dense[1], rows)
    # each row: k distinct sorted columns among the core's used neurons
    per_row = rows.reshape(-1, k).astype(np.int64)
    assert (np.diff(per_row, axis=1) > 0).all() and per_row.max() < n_per
    # balanced: per core and type, every used neuron gets the same number of inputs (within one)
    used = dense.reshape(n_cores, A, N)[:cores_used]
    for t in range(n_types):
        fan_in = (used * (axon_type.reshape(n_cores, A)[:cores_used] == t)[:, :, None]).sum(axis=1)[:, :n_per]
        assert (fan_in.max(axis=1) - fan_in.min(axis=1) <= 1).all()
