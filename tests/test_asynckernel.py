"""The C window kernel's set-up (neuroemu.hardware.asynckernel): the crossbar packed as bits.

The reference is the crossbar written out densely (a bool per (axon, neuron of its core)) and
packed with numpy, built here from the rows themselves."""
from __future__ import annotations

import numpy as np
import pytest

from neuroemu.engine.asynccore import AsyncCoreLoop
from neuroemu.engine.options import RunOptions
from neuroemu.engine.run import with_timing
from neuroemu.errors import NeuroEmuError
from neuroemu.hardware.asynckernel import _ffi, pack_row_bits, TrueNorthWindowC
from test_async_cores import make_chip, make_workload


def dense_bits(row_ptr: np.ndarray, row_neurons: np.ndarray, n_axons: int, npc: int) -> np.ndarray | None:
    """The bits written out one synapse at a time; None if a row reaches one neuron twice."""
    dense = np.zeros((n_axons, npc), bool)
    for a in range(n_axons):
        for j in row_neurons[row_ptr[a]:row_ptr[a + 1]].tolist():
            if dense[a, j]:
                return None
            dense[a, j] = True
    return np.packbits(dense, axis=1, bitorder="little")


def crossbar(npc: int, dtype, n_axons: int = 40, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Rows of distinct neurons, some empty, one reaching every neuron of its core."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(0, npc + 1, n_axons)
    sizes[:3] = [0, npc, 1]
    rows = [rng.choice(npc, k, replace=False) for k in sizes]
    row_ptr = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    return row_ptr, np.concatenate(rows).astype(dtype)


@pytest.mark.parametrize("npc, dtype", [(256, np.uint8), (13, np.uint8), (8, np.uint8), (300, np.uint16),
                                        (1000, np.uint16), (5, np.uint16)])
def test_the_packed_rows_are_the_dense_crossbars_bits(npc, dtype):
    """Each row's neurons as little-endian bits, ceil(npc / 8) bytes a row (npc not a multiple of 8: the
    last byte's high bits stay 0), for 8- and 16-bit neuron ids."""
    row_ptr, rn = crossbar(npc, dtype)
    bits = pack_row_bits(row_ptr, rn, len(row_ptr) - 1, npc)
    want = dense_bits(row_ptr, rn, len(row_ptr) - 1, npc)
    assert bits.shape == (len(row_ptr) - 1, -(-npc // 8)) and bits.dtype == np.uint8
    np.testing.assert_array_equal(bits, want)
    assert int(np.unpackbits(bits, axis=1, bitorder="little").sum()) == len(rn)  # one bit per synapse


@pytest.mark.parametrize("npc, dtype", [(256, np.uint8), (13, np.uint8), (300, np.uint16)])
def test_a_row_reaching_one_neuron_twice_keeps_the_row_scan(npc, dtype):
    """A synapse listed twice in a row counts twice in the scan but would be one bit: no bits (None)."""
    row_ptr, rn = crossbar(npc, dtype)
    rn = rn.copy()
    k = int(row_ptr[1])  # the full row: its last synapse repeats its first
    rn[k + npc - 1] = rn[k]
    assert dense_bits(row_ptr, rn, len(row_ptr) - 1, npc) is None
    assert pack_row_bits(row_ptr, rn, len(row_ptr) - 1, npc) is None


def test_a_neuron_id_past_the_core_is_not_packed():
    """An id >= neurons per core has no bit in its row (the numpy construction set the next row's): None."""
    row_ptr, rn = crossbar(13, np.uint8)
    rn = rn.copy()
    rn[-1] = 13
    assert pack_row_bits(row_ptr, rn, len(row_ptr) - 1, 13) is None


def test_bad_row_arrays_are_refused():
    row_ptr, rn = crossbar(13, np.uint8)
    with pytest.raises(NeuroEmuError, match="pack_row_bits"):
        pack_row_bits(row_ptr, rn.astype(np.int32), len(row_ptr) - 1, 13)
    with pytest.raises(NeuroEmuError, match="pack_row_bits"):
        pack_row_bits(row_ptr.astype(np.int32), rn, len(row_ptr) - 1, 13)
    with pytest.raises(NeuroEmuError, match="pack_row_bits"):
        pack_row_bits(row_ptr, rn, len(row_ptr), 13)


def kernel_bits(loop, arrays) -> np.ndarray | None:
    """The bits a fresh C kernel over ``arrays`` is given (None: the rows are scanned)."""
    k = TrueNorthWindowC(loop.model, loop.pend)
    k.bind_network(arrays, loop.model, loop._flat_weights, None, loop.queued, loop.end_ps)
    if k._x.row_bits == _ffi.NULL:
        return None
    shape = (arrays.n_axons, -(-arrays.neurons_per_core // 8))
    return np.frombuffer(_ffi.buffer(k._x.row_bits, shape[0] * shape[1]), np.uint8).reshape(shape).copy()


def test_the_kernel_gets_the_crossbars_bits_unless_a_row_repeats_a_neuron():
    """A run's crossbar reaches the C kernel as its dense bits; with one synapse repeated it gets none."""
    loop = AsyncCoreLoop(with_timing(make_chip(), "async"), make_workload(ticks=3), RunOptions(ticks=3, seed=1))
    a = loop.arrays
    assert loop.backend == "c"
    np.testing.assert_array_equal(kernel_bits(loop, a), dense_bits(a.row_ptr, a.row_neurons, a.n_axons,
                                                                   a.neurons_per_core))
    x = int(np.flatnonzero(np.diff(a.row_ptr) >= 2)[0])
    a.row_neurons[a.row_ptr[x] + 1] = a.row_neurons[a.row_ptr[x]]
    assert kernel_bits(loop, a) is None
