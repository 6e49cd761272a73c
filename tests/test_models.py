"""Neuron models: the current-based LIF's three twins agree bit for bit, it matches Lava's arithmetic,
the registry lists and refuses, and every model's per-core limits are enforced with the limit named."""
from __future__ import annotations

import copy

import numpy as np
import pytest

from neuroemu import simulate
from neuroemu.config import chip_from_data, workload_from_data
from neuroemu.errors import CapacityError, ConfigError
from neuroemu.hardware.step import TickStepper
from neuroemu.models.loihi import (CubaArrays, bias_for_rate, cuba_range, cuba_step, cuba_step_one, decay,
                                   decay_int)
from neuroemu.models.neuron import NEURON_MODELS, check_chip_model, neuron_model
from neuroemu.engine.reference import simulate_reference
from neuroemu.networks.workloads import build_network, plan_network


def cuba_chip(small_chip: dict, model: str = "loihi_cuba") -> dict:
    """The tiny 2 x 2 chip with current-based LIF cores (24-bit u and v, 9-bit weights)."""
    chip = copy.deepcopy(small_chip)
    chip["core"].update({"neuron_model": model, "membrane_bits": 24})
    return chip


def cuba_workload(small_workload: dict, kind: str = "random_recurrent_weighted") -> dict:
    wl = copy.deepcopy(small_workload)
    wl["network"].update({"kind": kind, "rate_hz": 0.0, "threshold": 40, "weights": [30, 20, 10, -20, -30],
                          "neuron": {"du": 1024, "dv": 300, "refractory": 2}})
    wl["inputs"][0].update({"rate_hz": 150.0, "axons_per_core": 8})
    return wl


# --- the arithmetic -----------------------------------------------------------------------------

def test_decay_rounds_towards_zero_like_lava():
    # -5 * 2048 / 4096 = -2.5: Lava's sign * (|x| >> 12) gives -2 (numpy's >> alone would give -3)
    assert decay_int(-5, 2048) == -2 and decay_int(5, 2048) == 2
    x = np.array([-5, 5, -4097, 4097, 0, -1], np.int64)
    assert decay(x, np.full(6, 2048)).tolist() == [decay_int(int(v), 2048) for v in x]
    assert decay_int(1000, 0) == 1000 and decay_int(1000, 4096) == 0


def test_a_hand_computed_trajectory():
    # du 4096: the current is this step's input; dv 0: no leak; threshold 10 (strictly above fires)
    p = CubaArrays.uniform(1, du=4096, dv=0, bias=0, threshold=10, refractory=1)
    v, u, r = np.zeros(1, np.int32), np.zeros(1, np.int32), np.zeros(1, np.int32)
    out = []
    for syn in (6, 4, 1, 12, 12, 0):
        fired = cuba_step(v, u, r, np.array([syn], np.int64), p, membrane_bits=24)
        out.append((int(v[0]), int(u[0]), len(fired)))
    # 6; 10 (not > 10); 11 fires -> 0 and 1 refractory step; held at 0 (u = 12); 12 fires; 0 held
    assert out == [(6, 6, 0), (10, 4, 0), (0, 1, 1), (0, 12, 0), (0, 12, 1), (0, 0, 0)]


def _lava_bit_accurate(u, v, a_in, du_lava, dv, bias, vth):
    """Lava's PyLifModelBitAcc sub-threshold update and spike (ds_offset 1, act/vth shift 6), in range."""
    decayed = np.int64(u) * (4096 - (du_lava + 1))
    u = int(np.sign(decayed) * (abs(decayed) >> 12)) + (a_in << 6)
    decayed = np.int64(v) * (4096 - dv)
    v = int(np.sign(decayed) * (abs(decayed) >> 12)) + u + bias
    v = min(max(v, -(2 ** 23) + 1), 2 ** 23 - 1)
    spike = v > (vth << 6)
    return u, (0 if spike else v), spike


def test_matches_lavas_bit_accurate_lif_in_range():
    # our du is Lava's du + its ds_offset; Lava's 6-bit input and threshold shifts are folded into the units
    rng = np.random.default_rng(0)
    du_lava, dv, bias, vth = 409, 205, 70, 120
    p = CubaArrays.uniform(1, du=du_lava + 1, dv=dv, bias=bias, threshold=vth << 6)
    v, u, r = np.zeros(1, np.int32), np.zeros(1, np.int32), np.zeros(1, np.int32)
    lu = lv = 0
    spikes = 0
    for _ in range(300):
        a_in = int(rng.integers(-20, 40))
        lu, lv, ls = _lava_bit_accurate(lu, lv, a_in, du_lava, dv, bias, vth)
        fired = cuba_step(v, u, r, np.array([a_in << 6], np.int64), p, membrane_bits=24)
        assert (int(u[0]), int(v[0]), len(fired) == 1) == (lu, lv, ls)
        spikes += ls
    assert spikes > 5


def test_numpy_and_python_twins_agree_with_saturation_and_refractory():
    rng = np.random.default_rng(4)
    n = 300
    p = CubaArrays(du=rng.integers(0, 4097, n).astype(np.int32), dv=rng.integers(0, 4097, n).astype(np.int32),
                   bias=rng.integers(-50, 200, n).astype(np.int32), threshold=rng.integers(1, 3000, n).astype(np.int32),
                   refractory=rng.integers(0, 4, n).astype(np.int32))
    bits = 12  # small, so u and v saturate often
    v, u, r = np.zeros(n, np.int32), np.zeros(n, np.int32), np.zeros(n, np.int32)
    pv, pu, pr = [0] * n, [0] * n, [0] * n
    lo, hi = cuba_range(bits)
    seen = set()
    for _ in range(60):
        syn = rng.integers(-2500, 2500, n)
        fired = set(cuba_step(v, u, r, syn, p, membrane_bits=bits).tolist())
        for j in range(n):
            pv[j], pu[j], pr[j], f = cuba_step_one(pv[j], pu[j], pr[j], int(syn[j]), p, j, membrane_bits=bits)
            assert f == (j in fired)
        assert v.tolist() == pv and u.tolist() == pu and r.tolist() == pr
        seen |= {int(u.max()), int(u.min()), int(v.min())}
    assert {hi, lo} <= seen  # both ends saturated at some point


@pytest.mark.parametrize("dense", [True, False], ids=["dense-crossbar", "csr-crossbar"])
def test_c_and_numpy_cuba_steps_agree(small_chip, small_workload, dense):
    chip = chip_from_data(cuba_chip(small_chip), "tiny.yaml")
    runs = []
    for backend in ("c", "numpy"):
        net = build_network(chip, workload_from_data(cuba_workload(small_workload), "w.yaml"), 5, "w")
        a = net.arrays
        assert a.neuron_model == "loihi_cuba" and a.row_weights is not None
        if not dense:
            a.dense = a.dense_weights = None
        p = a.params  # several parameter profiles, saturation and refractory periods
        p.du[::3], p.dv[1::4], p.bias[2::5], p.refractory[::7] = 4096, 0, 9, 0
        w = a.row_weights.copy()
        w[::5] = 900
        a.set_row_weights(w)  # keeps the dense copy in step
        stepper = TickStepper(a, net.enabled, 12, 99, backend)
        if backend == "c":
            assert stepper._dense == dense and stepper._per_synapse
        draws = np.random.default_rng(1)
        out = []
        for t in range(120):
            fired, sops, n_active = stepper.step(t, draws.integers(0, a.n_axons, 40))
            out.append((fired.tolist(), sops, n_active, a.v.copy(), a.u.copy(), a.refractory_left.copy()))
        runs.append(out)
    for r1, r2 in zip(*runs):
        assert r1[:3] == r2[:3]
        assert all(np.array_equal(x, y) for x, y in zip(r1[3:], r2[3:]))
    assert sum(len(r[0]) for r in runs[0]) > 50
    assert max(int(np.abs(r[4]).max()) for r in runs[0]) == 2 ** 11 - 1  # the 12-bit current saturates


@pytest.mark.parametrize("model", ["loihi_cuba", "cuba_lif"])
def test_fast_loop_matches_simpy_reference_for_cuba(small_chip, small_workload, model):
    chip = chip_from_data(cuba_chip(small_chip, model), "tiny.yaml")
    wl = workload_from_data(cuba_workload(small_workload), "w.yaml")
    fast = simulate(chip, wl, record_spikes=True)
    ref = simulate_reference(chip, wl)
    assert fast.spikes > 50
    assert np.array_equal(fast.spike_trains.ticks, ref.spike_trains.ticks)
    assert np.array_equal(fast.spike_trains.neurons, ref.spike_trains.neurons)
    assert fast.counts == ref.counts
    assert fast.energy_breakdown_j == ref.energy_breakdown_j


def test_per_synapse_weights_match_the_reference_on_truenorth_neurons(small_chip, small_workload):
    wl = copy.deepcopy(small_workload)
    wl["network"].update({"kind": "random_recurrent_weighted", "weights": [3, 2, 1, -1, -2, -4],
                          "delay_ticks": [2, 9]})
    chip = chip_from_data(small_chip, "tiny.yaml")
    w = workload_from_data(wl, "w.yaml")
    fast = simulate(chip, w, record_spikes=True)
    ref = simulate_reference(chip, w)
    assert fast.spikes > 50
    assert np.array_equal(fast.spike_trains.neurons, ref.spike_trains.neurons)
    assert fast.comparable() == ref.comparable()


def test_bias_sets_a_regular_rate(small_chip, small_workload):
    wl = copy.deepcopy(small_workload)
    wl["network"].update({"rate_hz": 50.0, "neuron": {"refractory": 3}})
    wl["inputs"] = []
    chip = chip_from_data(cuba_chip(small_chip), "tiny.yaml")
    r = simulate(chip, workload_from_data(wl, "w.yaml"), ticks=400)
    # input from the recurrent spikes perturbs the phase, but the mean stays at the bias-driven rate
    assert r.mean_rate_hz == pytest.approx(50.0, rel=0.15)
    assert bias_for_rate(0.05, None, 3, "w") == (64, 64 * 16 + 32)   # period 20 = 17 integrating + 3 held
    assert bias_for_rate(0.05, 1700, 3, "w") == (106, 1700)
    with pytest.raises(ConfigError, match=r"network.threshold: with threshold 5 no integer bias"):
        bias_for_rate(0.05, 5, 3, "w: network")


# --- the registry and the limits ---------------------------------------------------------------------

def test_registry_lists_models_and_refuses_unknown_ones():
    assert {"truenorth_lif", "loihi_cuba", "cuba_lif"} <= set(NEURON_MODELS)
    assert neuron_model("loihi_cuba").kernel == "cuba"
    with pytest.raises(ConfigError, match=r"core.neuron_model: unknown model 'izhikevich'; valid: cuba_lif, loihi_cuba"):
        neuron_model("izhikevich")


@pytest.mark.parametrize("model, key, value, limit", [
    ("loihi_cuba", "neurons", 2048, "1024"),
    ("loihi_cuba", "axons", 4096 + 1, "4096"),
    ("truenorth_lif", "neurons", 512, "256"),
    ("truenorth_lif", "membrane_bits", 24, "20"),
])
def test_a_core_beyond_the_model_is_refused_naming_the_limit(small_chip, small_workload, model, key, value, limit):
    chip_data = cuba_chip(small_chip, model) if model != "truenorth_lif" else copy.deepcopy(small_chip)
    chip_data["core"][key] = value
    chip = chip_from_data(chip_data, "big.yaml")
    with pytest.raises(CapacityError) as err:
        check_chip_model(chip, "big.yaml")
    message = str(err.value)
    assert f"core.{key}: {value}" in message and model in message and f"allows ({limit};" in message
    wl = workload_from_data(small_workload, "w.yaml")
    with pytest.raises(CapacityError, match=f"core.{key}"):
        plan_network(chip, wl, "w.yaml")


def test_synaptic_memory_beyond_loihis_is_refused(small_chip, small_workload):
    chip_data = cuba_chip(small_chip)
    chip_data["core"].update({"axons": 4096, "neurons": 1024})
    chip = chip_from_data(chip_data, "tiny.yaml")
    wl = cuba_workload(small_workload)
    wl["network"]["synapses_per_axon"] = 29   # 4096 x 29 x 9 bits = 1,069,056 > 1,048,576
    with pytest.raises(CapacityError, match=r"w.yaml: network.synapses_per_axon: 118,784 synapses per core at 9 "
                                            r"bits need 1,069,056 bits.*loihi_cuba.*\(1,048,576 bits"):
        plan_network(chip, workload_from_data(wl, "w.yaml"), "w.yaml")
    wl["network"]["synapses_per_axon"] = 28
    plan_network(chip, workload_from_data(wl, "w.yaml"), "w.yaml")
    # the same network with per-type (1-bit crossbar) weights needs far less memory
    wl["network"].update({"kind": "random_recurrent", "synapses_per_axon": 200, "weights": [1, 1, -1, -1]})
    plan_network(chip, workload_from_data(wl, "w.yaml"), "w.yaml")


@pytest.mark.parametrize("neuron, message", [
    ({"tau": 3}, r"w.yaml: network.neuron.tau: unknown parameter of neuron model 'loihi_cuba'; valid: bias, du, dv, refractory"),
    ({"du": 5000}, r"w.yaml: network.neuron.du: must be an integer in 0..4096 \(got 5000\)"),
    ({"dv": 1.5}, r"network.neuron.dv: must be an integer"),
])
def test_bad_model_parameters_name_the_key(small_chip, small_workload, neuron, message):
    chip = chip_from_data(cuba_chip(small_chip), "tiny.yaml")
    wl = cuba_workload(small_workload)
    wl["network"]["neuron"] = neuron
    with pytest.raises(ConfigError, match=message):
        plan_network(chip, workload_from_data(wl, "w.yaml"), "w.yaml")


def test_truenorth_takes_no_model_parameters_and_rate_needs_no_decay(small_chip, small_workload):
    wl = copy.deepcopy(small_workload)
    wl["network"]["neuron"] = {"du": 10}
    with pytest.raises(ConfigError, match=r"network.neuron.du: unknown parameter of neuron model 'truenorth_lif'; valid: none"):
        plan_network(chip_from_data(small_chip, "tiny.yaml"), workload_from_data(wl, "w.yaml"), "w.yaml")
    wl["network"].update({"rate_hz": 20.0, "neuron": {"dv": 10}})
    with pytest.raises(ConfigError, match=r"network.neuron.dv: a spontaneous rate_hz is set by a constant bias"):
        plan_network(chip_from_data(cuba_chip(small_chip), "tiny.yaml"), workload_from_data(wl, "w.yaml"), "w.yaml")


def test_weighted_network_has_the_same_structure_and_drawn_weights(small_chip, small_workload):
    chip = chip_from_data(small_chip, "tiny.yaml")
    plain = build_network(chip, workload_from_data(small_workload, "w.yaml"), 3, "w")
    wl = copy.deepcopy(small_workload)
    wl["network"].update({"kind": "random_recurrent_weighted", "weights": [5, -3, 7]})
    weighted = build_network(chip, workload_from_data(wl, "w.yaml"), 3, "w")
    a, b = plain.arrays, weighted.arrays
    for name in ("row_ptr", "row_neurons", "axon_type", "target_axon", "delay", "v"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    assert a.row_weights is None and b.row_weights is not None
    assert set(np.unique(b.row_weights).tolist()) == {5, -3, 7}
    # the dense copy holds each synapse's weight at its crossbar point, 0 elsewhere
    assert np.array_equal(b.dense_weights[b.synapse_axons(), b.row_neurons], b.row_weights)
    assert int(np.count_nonzero(b.dense_weights)) == len(b.row_weights)
    assert np.array_equal(b.core(1).weight_matrix() != 0, b.core(1).crossbar())


def test_a_model_with_no_tick_kernel_says_why_clocked_semantics_refuse_it(small_chip):
    from neuroemu.models.neuron import require_clocked
    assert [m.name for m in NEURON_MODELS.values() if m.no_clock] == ["neurogrid_lif"]
    assert neuron_model("neurogrid_lif").diffuser and not neuron_model("cuba_lif").diffuser
    tn = chip_from_data(copy.deepcopy(small_chip), "tn.yaml")
    small_chip["core"]["neuron_model"] = "neurogrid_lif"
    chip = chip_from_data(small_chip, "ng.yaml")
    with pytest.raises(ConfigError, match=r"^\S*ng.yaml: core.neuron_model: neurogrid_lif cannot run under barrier "
                                          r"timing: Neurogrid's neurons are analog circuits .*--timing async$"):
        require_clocked(chip, "barrier")
    require_clocked(tn, "sync")  # a tick model: no error
