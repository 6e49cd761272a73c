"""The C window kernel's set-up (neuroemu.hardware.asynctn): the crossbar packed as bits.

The reference is the crossbar written out densely (a bool per (axon, neuron of its core)) and
packed with numpy, built here from the rows themselves.

And the kernel's stochastic leak steps: they are the numpy model's (TrueNorthCT.leak_steps), step for step, on every path the kernel takes to draw
them: every neuron stochastic (one run of neurons: 32 leak bytes compared at once where the CPU has
AVX-512), a run that starts past neuron 0, stochastic neurons scattered among deterministic ones
(the portable path), an MPI rank's block (the bytes keyed by the global id, at an offset that is or
is not a multiple of 8), a tick of 2^33 ps (every neuron again, on the portable draws), each over
whole ticks, parts of one and windows across a tick's end, and leaks up to 256 (a step every tick).

And the steps kept apart from the records (step_n, step_s0) with pass 2 in vector lanes or not
(NEUROEMU_ASYNC_LANES): windows fed by hand against the numpy paths, and whole runs with leaks
drifting up against the numpy window path."""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from neuroemu.engine.asynccore import AsyncCoreLoop
from neuroemu.engine.asyncmodels import NEVER, TrueNorthCT
from neuroemu.engine.options import RunOptions
from neuroemu.engine.run import simulate, with_timing
from neuroemu.errors import NeuroEmuError
from neuroemu.hardware.asynctn import _ffi, pack_row_bits, TrueNorthWindowC
from neuroemu.models.neuron import NeuronArrays
from test_asyncblock import whole
from test_async_cores import _feed_and_compare, _hand_fed_pair, make_chip, make_workload


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


T = 10**9   # a 1 ms tick in ps
NPC = 256   # neurons (and axons) per core
N = 2 * NPC


def window_kernel(stochastic: np.ndarray, leak: np.ndarray, offset: int, T: int = T):
    """A TrueNorthCT of N neurons on two cores with no synapses (thresholds out of reach: no spike),
    bound to the C window kernel."""
    p = NeuronArrays.uniform(N, threshold=1 << 18, floor=1 << 19)
    p.leak[:] = leak
    p.leak_stochastic[:] = stochastic
    arrays = SimpleNamespace(params=p, n_neurons=N, v=np.zeros(N, np.int32), neuron_model="truenorth_lif")
    model = TrueNorthCT(arrays, np.ones(N, bool), 20, T, key=12345, offset=offset)
    pend = model.predict(np.arange(N, dtype=np.int64))
    kernel = TrueNorthWindowC(model, pend)
    crossbar = SimpleNamespace(row_ptr=np.zeros(N + 1, np.int64), row_neurons=np.zeros(0, np.uint8),
                               axon_type=np.zeros(N, np.int8), weights=np.zeros((N, 4), np.int64),
                               axons_per_core=NPC, neurons_per_core=NPC, n_axons=N)
    kernel.bind_network(crossbar, model, np.zeros(N * 4, np.int64), None, np.full(N, NEVER, np.int64), 1 << 62)
    return model, kernel


def patterns():
    r = np.random.default_rng(4)
    leak = r.choice([-256, -200, -128, -1, 1, 3, 128, 255], N)
    every = np.ones(N, bool)
    from5 = np.arange(N) >= 5
    scattered = r.random(N) < 0.6
    return {"every neuron": (every, leak, 0), "a run from neuron 5": (from5, leak, 0),
            "scattered among deterministic": (scattered, leak, 0), "a rank's block": (every, leak, 8 * 37),
            "a block at an odd offset": (scattered | True, leak, 3),
            "scattered, offset": (scattered, np.where(scattered, leak, 7), 8 * 5),
            "every neuron, a tick of 2^33 ps": (every, leak, 0, 1 << 33)}


def windows(T: int) -> list[tuple[int, int]]:
    """Windows as the engine cuts them (at most a tick long): whole ticks, parts of one, across a tick's end."""
    return [(0, T), (T, T + T // 3), (T + T // 3, 2 * T + T // 5), (2 * T + T // 5, 3 * T), (3 * T, 4 * T),
            (4 * T, 5 * T), (5 * T + 7, 5 * T + 8), (5 * T + 8, 6 * T + 8)]


@pytest.mark.parametrize("name", list(patterns()))
def test_the_kernels_leak_steps_are_the_models_on_every_path(name):
    """Each window: every stochastic neuron's potential moves by exactly the steps leak_steps places
    in the window (+-1 V each), a deterministic one by its drift alone, and each step is one plain
    update."""
    stochastic, leak, offset, *tick = patterns()[name]
    model, kernel = window_kernel(stochastic, leak, offset, *tick)
    empty = np.zeros(0, np.int64)
    total = 0
    for w0, w1 in windows(model.T):
        v0, t0 = model.v.copy(), model.t_last.copy()
        ids, times, signs = model.leak_steps(w0, w1)
        assert ((times >= w0) & (times < w1)).all()
        expected = v0 + model.drift * (w1 - t0)  # each neuron's potential at w1 (an untouched one is not advanced)
        np.add.at(expected, ids, signs)
        sn, st, moved, active, plain, sops, sent = kernel.run(empty, empty, empty, w0, w1)
        assert len(sn) == 0 and active == 0 and sops == 0 and sent is None
        assert plain == len(ids)
        np.testing.assert_array_equal(model.v + model.drift * (w1 - model.t_last), expected)
        total += len(ids)
    assert total > 2 * np.count_nonzero(stochastic)  # six ticks: over half step in each (|leak| = 256: always)


def test_a_network_of_stochastic_and_deterministic_leaks_is_the_same_record_on_both_window_kernels(monkeypatch):
    """The default workload with every third neuron's leak deterministic and leaks of several sizes
    (up to -256): the C kernel takes its portable draws (the stochastic neurons are no one run); the
    numpy window path (leak_steps) is its twin, bit for bit, over the whole record."""
    orig = NeuronArrays.uniform

    def mixed(cls, n, **kw):
        p = orig(n, **kw)
        if kw.get("leak_stochastic"):
            g = np.arange(n)
            p.leak_stochastic[:] = g % 3 != 0
            p.leak[:] = np.array([-256, 90, -3, 128, 255, -128, 17])[g % 7]
        return p

    monkeypatch.setattr(NeuronArrays, "uniform", classmethod(mixed))
    records = {backend: whole(simulate(ticks=60, timing="async", tick_backend=backend, record_spikes=True))
               for backend in ("c", "numpy")}
    assert records["c"] == records["numpy"]
    assert records["c"]["spikes"] > 0 and records["c"]["counts"]["neuron_update"] > 0



@pytest.mark.parametrize("lanes", ["on", "off"])
@pytest.mark.parametrize("weights", [[40, 20, -40, -10], [255, 120, -255, -60]])
def test_the_steps_kept_apart_from_the_records_give_the_numpy_windows_on_every_path(monkeypatch, weights, lanes):
    """The window's leak steps live in compact arrays (step_n, step_s0), not the kernel's records:
    a counted window's pass 2 reads them there (in AVX-512 lanes where the CPU has them, else the
    scalar code: NEUROEMU_ASYNC_LANES), the record paths get them copied in. Windows fed by hand,
    following each other, each compared with the numpy paths (state, counts, spikes, checks): whole
    ticks (the at-rest put), a part of a tick, one across a tick's end (neurons with two steps), one
    with an arrival at a step's instant (the record paths), a short one reaching few neurons (the
    listed pass 2), and whole ticks again after those (every count left at zero). A stochastic leak
    (threshold 30); weights of +-40 and +-255 leave neurons to the ordered pass and make spikes."""
    monkeypatch.setenv("NEUROEMU_ASYNC_LANES", lanes)
    loops = _hand_fed_pair(weights=weights, threshold=30, rate_hz=30.0, stochastic=True)
    x, model = loops[0].ckernel.c_parts()[1], loops[0].model
    assert x.scalar_only == (lanes == "off")
    T, n_axons, draws = model.T, loops[0].arrays.n_axons, np.random.default_rng(7)

    def window(w0, w1, n_arr, counted, at_step=False):
        before = x.cnt_windows
        t, ax = draws.integers(w0, w1, n_arr), draws.integers(0, n_axons, n_arr)
        if at_step:  # an arrival at a step's instant
            t[0] = model.leak_steps(w0, w1)[1][0]
        _feed_and_compare(loops, w0, w1, t, ax)
        assert x.cnt_windows - before == counted

    window(0, T, 150, 1)
    window(T, T + T // 3, 150, 1)
    ids = model.leak_steps(T + T // 3, 2 * T + T // 5)[0]
    assert len(np.unique(ids)) < len(ids)  # some neurons step twice in the next window
    window(T + T // 3, 2 * T + T // 5, 150, 1)
    window(2 * T + T // 5, 3 * T, 150, 0, at_step=True)
    window(3 * T, 3 * T + T // 2, 150, 1)
    window(3 * T + T // 2, 3 * T + T // 2 + 1000, 2, 0)  # (a step lands in 1,000 ps for a few neurons at most)
    window(3 * T + T // 2 + 1000, 4 * T, 150, 1)
    for k in range(4, 9):
        window(k * T, (k + 1) * T, 150, 1)
    assert np.count_nonzero(np.frombuffer(_ffi.buffer(x.step_n, model.v.size), np.uint8) & 3) == 0
    assert loops[0].ledger.get("spike") > 0


@pytest.mark.parametrize("lanes", ["on", "off"])
@pytest.mark.parametrize("net", ["mixed", "deterministic"])
def test_leaks_with_a_drift_up_are_the_same_record_with_and_without_vector_lanes(monkeypatch, net, lanes):
    """The default workload with a deterministic leak up on every third neuron (mixed with
    stochastic ones of several sizes) or on every neuron: pass 2 predicts crossings (the vector
    lanes hand those neurons to the scalar code) and checks are queued; the C kernel with and
    without vector lanes equals the numpy window path, bit for bit, over the whole record."""
    orig = NeuronArrays.uniform

    def leaks(cls, n, **kw):
        p = orig(n, **kw)
        if kw.get("leak_stochastic"):
            g = np.arange(n)
            p.leak_stochastic[:] = (g % 3 != 0) if net == "mixed" else False
            p.leak[:] = np.where(g % 3 == 0, 7, np.array([-256, 90, -3, 128, 255, -128, 17])[g % 7])
            if net == "deterministic":
                p.leak[:] = np.where(g % 5 == 0, -2, 3)
        return p

    monkeypatch.setattr(NeuronArrays, "uniform", classmethod(leaks))
    monkeypatch.setenv("NEUROEMU_ASYNC_LANES", lanes)
    records = {backend: whole(simulate(ticks=40, timing="async", tick_backend=backend, record_spikes=True))
               for backend in ("c", "numpy")}
    assert records["c"] == records["numpy"]
    assert records["c"]["spikes"] > 0 and records["c"]["counts"]["neuron_update_active"] > 0


def test_the_lanes_switch_takes_on_or_off_only(monkeypatch):
    """NEUROEMU_ASYNC_LANES: on (the default) or off; anything else is refused in one line."""
    from neuroemu.hardware.asynctn import vector_lanes
    monkeypatch.delenv("NEUROEMU_ASYNC_LANES", raising=False)
    assert vector_lanes()
    monkeypatch.setenv("NEUROEMU_ASYNC_LANES", "off")
    assert not vector_lanes()
    monkeypatch.setenv("NEUROEMU_ASYNC_LANES", "fast")
    with pytest.raises(NeuroEmuError, match="NEUROEMU_ASYNC_LANES: unknown value 'fast'; valid: on, off"):
        vector_lanes()

@pytest.mark.parametrize("neurons, axons", [(200, 200), (256, 200), (200, 256)])
def test_cores_of_no_power_of_two_and_crowded_windows_are_the_numpy_paths_record(neurons, axons):
    """ak_tn_run finds an arrival's core by a shift and a neuron's core and place in it (the
    ordered pass over the crossbar's bits) by a shift and a mask when axons / neurons per core
    are powers of two, else by a division; its spike sort merges 16-spike runs with a buffer kept
    from window to window (grown, never freed between windows), as are the arrivals' scratch.
    Cores of 200 axons or neurons and weights of +-255 (most touched neurons listed for the
    ordered pass, crowded windows: many spikes in a window) on the C kernel and on the numpy
    paths (python queue): the same record, bit for bit."""
    c = make_chip(core__neurons=neurons, core__axons=axons, latency__hop_ns={"value": 2.0, "source": "test"})
    w = make_workload(ticks=40, rate_hz=30.0, stochastic=True, threshold=None, weights=[255, 200, -255, -100])
    runs = {b: simulate(c, w, timing="async", record_spikes=True, tick_backend=b, queue=q)
            for b, q in (("c", "c"), ("numpy", "python"))}
    a, b = runs["c"], runs["numpy"]
    assert a.tick_backend.split("+")[0] == "c" and b.tick_backend == "numpy"
    assert a.counts == b.counts and a.energy_breakdown_j == b.energy_breakdown_j
    assert np.array_equal(a.spike_trains.ticks, b.spike_trains.ticks)
    assert np.array_equal(a.spike_trains.neurons, b.spike_trains.neurons)
    per_window = np.bincount(a.spike_trains.ticks // T)
    assert per_window.max() > 4 * 16  # windows whose sort merges several runs
    assert len(np.unique(per_window)) > 10  # windows of many sizes: the kept buffers grow along the run
