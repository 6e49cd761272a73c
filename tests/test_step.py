"""The C tick kernels and their numpy twins agree bit for bit; the RNG twins agree."""
from __future__ import annotations

import numpy as np

from neuroemu.config import chip_from_data, workload_from_data
from neuroemu.hardware import _tick
from neuroemu.hardware.step import TickStepper
from neuroemu.models import rng
from neuroemu.networks.workloads import build_network
import pytest


def dense_copy(arrays) -> np.ndarray:
    """The 0/1 dense crossbar [axons, neurons per core] of the arrays' CSR rows."""
    dense = np.zeros((arrays.n_axons, arrays.neurons_per_core), np.uint8)
    dense[arrays.synapse_axons(), arrays.row_neurons] = 1
    return dense


def test_rng_twins_agree():
    key = rng.stream_key(42, 7)
    leak = rng.leak_bytes(key, 5, 300)
    thr = rng.threshold_bits(key, 5, 300)
    for g in (0, 1, 7, 8, 17, 299):
        word = int(_tick.lib.ne_mix64((key + (5 << 32) + g // 8) % 2**64))
        assert int(leak[g]) == rng.leak_byte_int(key, 5, g) == (word >> (8 * (g % 8))) & 0xFF
        tk = rng.threshold_key(key)
        assert int(thr[g]) == rng.threshold_bits_int(key, 5, g) == int(_tick.lib.ne_mix64((tk + (5 << 32) + g) % 2**64)) & 0xFFFFFF
    assert 100 < len(set(leak.tolist())) and leak.dtype == np.uint8


def test_rng_offset_draws_a_blocks_bits_of_the_whole_chip():
    """An MPI rank's block (neurons 64..) draws the bits the whole chip draws for those neurons."""
    key = rng.stream_key(3, 7)
    whole_leak, whole_thr = rng.leak_bytes(key, 9, 300), rng.threshold_bits(key, 9, 300)
    assert rng.leak_bytes(key, 9, 100, offset=64).tolist() == whole_leak[64:164].tolist()
    assert rng.threshold_bits(key, 9, 100, offset=64).tolist() == whole_thr[64:164].tolist()
    with pytest.raises(ValueError, match="multiple of 8"):
        rng.leak_bytes(key, 9, 10, offset=4)


@pytest.mark.parametrize("dense", [True, False], ids=["dense-crossbar", "csr-crossbar"])
def test_c_and_numpy_steps_agree(small_chip, small_workload, dense):
    small_workload["network"]["reset"] = "linear"
    chip = chip_from_data(small_chip, "tiny.yaml")
    runs = []
    for backend in ("c", "numpy"):
        wl = workload_from_data(small_workload, "w.yaml")
        net = build_network(chip, wl, 5, "w")
        # the TrueNorth kernel reads bits (hardware/fused.py): the dense two-pass kernel gets a copy
        net.arrays.dense = dense_copy(net.arrays) if dense else None
        # exercise every mode: stochastic threshold, all resets, floors, saturation
        p = net.arrays.params
        p.threshold_mask[::3] = 7
        p.reset_mode[1::3] = 1
        p.reset_value[1::3] = -3
        p.reset_mode[2::5] = 2
        p.floor[::2] = 5
        net.arrays.weights[::7] = 255
        stepper = TickStepper(net.arrays, net.enabled, 10, 99, backend)
        if backend == "c":
            assert stepper._dense == dense
            stepper._fused = None  # the two-pass kernels (tests/test_fused.py checks the fused one)
        draws = np.random.default_rng(1)
        out = []
        for t in range(150):
            active = np.unique(draws.integers(0, net.arrays.n_axons, 40))
            fired, sops, n_active = stepper.step(t, active)
            out.append((fired.tolist(), sops, n_active, net.arrays.v.copy()))
        runs.append(out)
    for (f1, s1, a1, v1), (f2, s2, a2, v2) in zip(*runs):
        assert f1 == f2 and s1 == s2 and a1 == a2
        assert np.array_equal(v1, v2)
    assert any(r[0] for r in runs[0])  # something fired
    assert max(int(np.abs(r[3]).max()) for r in runs[0]) <= 2 ** 9  # the 10-bit membrane saturates


@pytest.mark.parametrize("dense", [True, False], ids=["dense-crossbar", "csr-crossbar"])
def test_c_and_numpy_agree_with_per_synapse_weights(small_chip, small_workload, dense):
    small_workload["network"].update({"kind": "random_recurrent_weighted", "weights": [200, 3, 1, -1, -2, -150]})
    chip = chip_from_data(small_chip, "tiny.yaml")
    runs = []
    for backend in ("c", "numpy"):
        net = build_network(chip, workload_from_data(small_workload, "w.yaml"), 5, "w")
        a = net.arrays
        assert a.row_weights is not None and (a.dense_weights is not None) == (a.dense is not None)
        if not dense:
            a.dense = a.dense_weights = None
        a.params.threshold_mask[::3] = 7
        stepper = TickStepper(a, net.enabled, 12, 99, backend)
        if backend == "c":
            assert stepper._dense == dense and stepper._per_synapse
        draws = np.random.default_rng(2)
        out = []
        for t in range(100):
            fired, sops, n_active = stepper.step(t, draws.integers(0, a.n_axons, 40))
            out.append((fired.tolist(), sops, n_active, a.v.copy()))
        runs.append(out)
    for (f1, s1, a1, v1), (f2, s2, a2, v2) in zip(*runs):
        assert f1 == f2 and s1 == s2 and a1 == a2
        assert np.array_equal(v1, v2)
    assert sum(len(r[0]) for r in runs[0]) > 50


@pytest.mark.parametrize("backend", ["c", "numpy"])
def test_switching_to_per_synapse_weights_mid_run_changes_nothing(small_chip, small_workload, backend):
    """A learning rule makes the weights per synapse after the stepper was built: same spikes."""
    chip = chip_from_data(small_chip, "tiny.yaml")
    wl = workload_from_data(small_workload, "w.yaml")
    runs = []
    for switch in (False, True):
        net = build_network(chip, wl, 5, "w")
        stepper = TickStepper(net.arrays, net.enabled, 20, 7, backend)
        draws = np.random.default_rng(3)
        out = []
        for t in range(60):
            if switch and t == 20:
                net.arrays.materialize_row_weights()
            fired, sops, n_active = stepper.step(t, draws.integers(0, net.arrays.n_axons, 30))
            out.append((fired.tolist(), sops, n_active))
        runs.append(out)
        if switch and backend == "c":
            assert stepper._per_synapse
    assert runs[0] == runs[1]


def _as_cuba(small_chip, small_workload) -> None:
    """The small chip and workload on Loihi's current-based model, with signed weights that fire."""
    small_chip["core"]["neuron_model"] = "loihi_cuba"
    small_workload["network"].update({"kind": "random_recurrent_weighted", "weights": [90, 40, -30, -60],
                                      "threshold": 400})


@pytest.mark.parametrize("neurons", [32, 36], ids=["whole-blocks", "ragged-cores"])
@pytest.mark.parametrize("kind", ["truenorth-dense", "truenorth-csr", "truenorth-profiles", "cuba"])
def test_per_core_counts_agree_and_sum_to_the_totals(small_chip, small_workload, kind, neurons):
    """The kernels' per-core SOPs and active updates (what barrier timing prices) equal the numpy
    twin's, core by core, and add up to the tick's totals; 36 neurons per core is not whole blocks
    of eight, so the TrueNorth kernel counts neuron by neuron there."""
    small_chip["core"]["neurons"] = neurons
    if kind == "cuba":
        _as_cuba(small_chip, small_workload)
    chip = chip_from_data(small_chip, "tiny.yaml")
    runs = []
    for backend in ("c", "numpy"):
        net = build_network(chip, workload_from_data(small_workload, "w.yaml"), 5, "w")
        a = net.arrays
        if kind == "truenorth-csr":
            a.dense = None
        elif kind == "truenorth-dense":
            a.dense = dense_copy(a)
        if kind == "truenorth-profiles":
            a.params.threshold_mask[::3] = 7  # several parameter profiles: the general loop
        stepper = TickStepper(a, net.enabled, 16, 99, backend, core_counts=True)
        if backend == "c" and kind != "truenorth-profiles":
            stepper._fused = None  # the two-pass kernels' counts (profiles: the fused kernel's)
        draws = np.random.default_rng(4)
        out = []
        for t in range(50):
            fired, sops, n_active = stepper.step(t, draws.integers(0, a.n_axons, 30))
            assert stepper.core_sops.sum() == sops and stepper.core_active.sum() == n_active
            out.append((fired.tolist(), stepper.core_sops.tolist(), stepper.core_active.tolist()))
        runs.append(out)
    assert runs[0] == runs[1]
    assert sum(len(f) for f, _, _ in runs[0]) > 20  # neurons fired
    assert len({tuple(c) for _, _, c in runs[0]}) > 5  # the counts differ from core to core and tick to tick


@pytest.mark.parametrize("cuba", [False, True], ids=["truenorth", "cuba"])
def test_cores_past_the_last_used_one_are_skipped_with_the_same_result(small_chip, small_workload, cuba):
    """A network on 2 of the chip's 4 cores: the C kernel updates only those 2 cores' neurons
    (the rest stay at rest), and agrees bit for bit with numpy, which updates all of them."""
    small_workload["network"]["cores"] = 2
    if cuba:
        _as_cuba(small_chip, small_workload)
    chip = chip_from_data(small_chip, "tiny.yaml")
    runs = []
    for backend in ("c", "numpy"):
        net = build_network(chip, workload_from_data(small_workload, "w.yaml"), 5, "w")
        a = net.arrays
        stepper = TickStepper(a, net.enabled, 16, 99, backend, core_counts=True)
        if backend == "c":
            assert stepper._hi == 2 * a.neurons_per_core < a.n_neurons
        draws = np.random.default_rng(6)
        out = []
        for t in range(60):
            fired, sops, n_active = stepper.step(t, draws.integers(0, 2 * a.axons_per_core, 20))
            out.append((fired.tolist(), sops, n_active, stepper.core_active.tolist(), a.v.tolist()))
        runs.append(out)
    assert runs[0] == runs[1]
    assert sum(len(r[0]) for r in runs[0]) > 20


def test_parameter_profiles_rebuild_every_neurons_parameters():
    """Each neuron's profile row is its own parameters, one row per distinct combination, whether
    columns hold one value (no sort needed) or many."""
    from neuroemu.hardware.step import parameter_profiles

    rng = np.random.default_rng(0)
    for case in range(200):
        n = int(rng.integers(1, 60))
        cols = [np.full(n, int(rng.integers(-5, 5)), np.int32) if k == 0 else
                rng.integers(-3, 3, n).astype(np.int32) if k == 1 else rng.random(n) < 0.5
                for k in rng.integers(0, 3, int(rng.integers(1, 6)))]
        table, profile = parameter_profiles(cols)
        rows = np.stack(cols).astype(np.int64).T
        assert profile.dtype == np.int32 and np.array_equal(table[profile], rows), case
        assert len(np.unique(table, axis=0)) == len(table) == len(np.unique(rows, axis=0))


@pytest.mark.parametrize("weighted", [False, True], ids=["type-weights", "per-synapse"])
@pytest.mark.parametrize("dense", [True, False], ids=["dense-crossbar", "csr-crossbar"])
@pytest.mark.parametrize("backend", ["c", "numpy"])
def test_an_axon_hit_twice_in_a_tick_activates_once(small_chip, small_workload, dense, weighted, backend):
    """Twins fed duplicates, as the window loop can deliver them (an input and a routed spike on one axon):
    the step with each axon repeated (unsorted, one axon 3 times) equals the step with each axon once,
    and its SOPs are the distinct rows' synapse counts."""
    if weighted:
        small_workload["network"].update({"kind": "random_recurrent_weighted", "weights": [9, 3, 1, -1, -2, -7]})
    chip = chip_from_data(small_chip, "tiny.yaml")
    results = []
    for dup in (False, True):
        net = build_network(chip, workload_from_data(small_workload, "w.yaml"), 5, "w")
        a = net.arrays
        if not dense:
            a.dense = a.dense_weights = None
        stepper = TickStepper(a, net.enabled, 12, 99, backend)
        draws = np.random.default_rng(3)
        out = []
        for t in range(60):
            axons = np.unique(draws.integers(0, a.n_axons, 30))
            fed = np.concatenate([axons[::-1], axons[::2], axons[:1]]) if dup else axons
            fired, sops, n_active = stepper.step(t, fed)
            assert sops == int(np.diff(a.row_ptr)[axons].sum())
            out.append((fired.tolist(), sops, n_active, a.v.copy()))
        results.append(out)
    for (f1, s1, a1, v1), (f2, s2, a2, v2) in zip(*results):
        assert f1 == f2 and s1 == s2 and a1 == a2 and np.array_equal(v1, v2)
    assert sum(len(r[0]) for r in results[0]) > 10
