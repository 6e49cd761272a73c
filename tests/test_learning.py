"""Pair-based STDP: exact hand-computed changes, counts equal the synapses updated, the vectorised rule
and its plain-Python twin agree bit for bit, and the SimPy reference with learning matches a fast loop."""
from __future__ import annotations

import copy
import math

import numpy as np
import pytest

from neuroemu.config import chip_from_data, load_chip, workload_from_data
from neuroemu.engine.energy import Ledger
from neuroemu.errors import ConfigError
from neuroemu.hardware.step import TickStepper
from neuroemu.hardware.learning import (LEARNING_RULES, STDP, STDPReference, learning_rule, pair_factor,
                                        round_weight)
from neuroemu.models.rng import stream_key
from neuroemu.engine.reference import simulate_reference
from neuroemu.engine.options import STREAM_NEURON_RNG
from neuroemu.networks.workloads import build_inputs, build_network


def _network(small_chip, small_workload, **network):
    wl = copy.deepcopy(small_workload)
    wl["network"].update(network)
    chip = chip_from_data(small_chip, "tiny.yaml")
    w = workload_from_data(wl, "w.yaml")
    return chip, w, build_network(chip, w, 3, "w")


def _one_synapse(arrays):
    """An axon, its first synapse, and that synapse's neuron and weight."""
    axon = 5
    s = int(arrays.row_ptr[axon])
    g = (axon // arrays.axons_per_core) * arrays.neurons_per_core + int(arrays.row_neurons[s])
    return axon, s, g


def test_a_hand_computed_pair_gives_the_exact_change(small_chip, small_workload):
    _, _, net = _network(small_chip, small_workload)
    a = net.arrays
    # a dense crossbar (a learning workload's network has one; the TrueNorth kernel alone reads bits)
    a.dense = np.zeros((a.n_axons, a.neurons_per_core), np.uint8)
    a.dense[a.synapse_axons(), a.row_neurons] = 1
    axon, s, g = _one_synapse(a)
    rule = STDP(a_plus=8, a_minus=6, tau_plus_ticks=4, tau_minus_ticks=8, w_min=-100, w_max=100).bind(a)
    w0 = int(a.row_weights[s])
    assert w0 == int(a.weights[g, a.axon_type[axon]])  # materialised from the per-type weights
    assert rule.apply(3, [axon], []) == (0, 0)          # a pre spike alone pairs with nothing
    # post at 5, 2 ticks after the pre at 3: potentiation 8 e^(-2/4); g's other synapses never spiked
    assert rule.apply(5, [], [g]) == (1, 0)
    assert rule.w[s] == w0 + 8 * math.exp(-0.5)
    assert int(a.row_weights[s]) == w0 + 5                # 4.852 rounds to 5
    # pre again at 9, 4 ticks after the post at 5: depression 6 e^(-4/8) on that synapse only
    assert rule.apply(9, [axon], []) == (0, 1)
    assert rule.w[s] == w0 + 8 * math.exp(-0.5) - 6 * math.exp(-0.5)
    assert int(a.row_weights[s]) == w0 + 1                # +1.213
    # the dense copy the C kernel reads follows
    assert int(a.dense_weights[axon, a.row_neurons[s]]) == w0 + 1


def test_same_tick_pairs_potentiate_and_bounds_and_window_hold(small_chip, small_workload):
    _, _, net = _network(small_chip, small_workload)
    a = net.arrays
    axon, s, g = _one_synapse(a)
    rule = STDP(50, 50, 2, 2, w_min=-3, w_max=4, window_ticks=3).bind(a)
    assert rule.apply(0, [axon], [g]) == (1, 0)   # the input arrived in the tick the neuron fired: causal
    assert rule.w[s] == 4 and int(a.row_weights[s]) == 4  # clipped to w_max
    assert rule.apply(4, [axon], []) == (0, 0)    # 4 ticks after the post: outside the 3-tick window
    assert rule.apply(6, [], [g]) == (1, 0)       # 2 ticks after the pre at 4
    assert rule.apply(8, [axon], []) == (0, 1)
    assert rule.w[s] == -3 and int(a.row_weights[s]) == -3  # 4 - 50 e^(-2/2) = -14.4, clipped to w_min


def test_counts_equal_the_synapses_updated(small_chip, small_workload):
    _, _, net = _network(small_chip, small_workload)
    a = net.arrays
    rule = STDP(3, 2, 5, 5, -100, 100).bind(a)
    core0 = np.arange(a.axons_per_core)
    before = a.row_weights.copy()
    assert rule.apply(0, core0, []) == (0, 0)
    fired = np.array([0, 3, 7, 40])                 # 3 neurons of core 0, one of core 1
    n_pot, n_dep = rule.apply(1, [], fired)
    cols = a.synapse_neurons()
    expected = np.flatnonzero(np.isin(cols, fired[:3]))  # every synapse into them comes from core 0's axons
    assert (n_pot, n_dep) == (len(expected), 0) and n_pot > 10
    assert np.array_equal(np.flatnonzero(a.row_weights != before), expected)  # 3 e^(-1/5) = 2.46 -> +2
    # every core-0 axon spikes again: each synapse into a neuron that fired is depressed once
    n_pot, n_dep = rule.apply(4, core0, [])
    assert (n_pot, n_dep) == (0, len(expected))


def test_vectorised_rule_and_plain_python_twin_agree(small_chip, small_workload):
    _, _, net = _network(small_chip, small_workload, kind="random_recurrent_weighted", weights=[5, -5, 9, 2])
    a = net.arrays
    rule = STDP(2.5, 1.75, 3.0, 6.5, -20, 20, window_ticks=12).bind(a)
    twin = STDPReference(rule, a)
    draws = np.random.default_rng(8)
    totals = [0, 0]
    for t in range(80):
        pre = draws.integers(0, a.n_axons, 12)
        post = draws.integers(0, a.n_neurons, 6)
        counts = rule.apply(t, pre, post)
        assert counts == twin.apply(t, pre.tolist(), post.tolist())
        totals[0] += counts[0]
        totals[1] += counts[1]
    assert rule.w.tolist() == twin.w              # bit for bit, float weights included
    assert a.row_weights.tolist() == twin.weights
    assert min(totals) > 50


def test_reference_with_learning_matches_a_fast_loop(small_chip, small_workload):
    """Inputs only (no recurrence), so a short loop of TickStepper + STDP is the whole fast engine."""
    params = dict(a_plus=6.0, a_minus=4.0, tau_plus_ticks=3.0, tau_minus_ticks=3.0, w_min=-8, w_max=12)
    chip, wl, net = _network(small_chip, small_workload, recurrent_fraction=0.0, rate_hz=0.0, stochastic=False,
                             threshold=6, weights=[3, 2, -1, -2])
    ticks = 60
    ref = simulate_reference(chip, wl, ticks=ticks, learning=STDP(**params))
    plain = simulate_reference(chip, wl, ticks=ticks)
    a = net.arrays
    rule = STDP(**params).bind(a, weight_bits=chip.core.weight_bits)
    stepper = TickStepper(a, net.enabled, chip.core.membrane_bits, stream_key(wl.seed, STREAM_NEURON_RNG), "c")
    in_ticks, in_axons = build_inputs(chip, wl, net, wl.seed, "w")[0].events(0, ticks)
    ledger = Ledger()
    spikes = []
    for t in range(ticks):
        fired, sops, _ = stepper.step(t, in_axons[in_ticks == t])
        n_pot, n_dep = rule.apply(t, in_axons[in_ticks == t], fired)
        ledger.add("potentiation", n_pot)
        ledger.add("depression", n_dep)
        spikes += [(t, int(g)) for g in fired]
    assert spikes == list(zip(ref.spike_trains.ticks.tolist(), ref.spike_trains.neurons.tolist()))
    assert ledger.get("potentiation") == ref.counts["potentiation"] > 100
    assert ledger.get("depression") == ref.counts["depression"] > 100
    assert ref.spikes != plain.spikes                 # learning changed what happened
    # the tiny chip charges nothing for learning
    assert ref.energy_breakdown_j["potentiation"] == ref.energy_breakdown_j["depression"] == 0.0


def test_pcm_charges_each_update_its_own_energy():
    chip = load_chip("pcm_htree")
    ledger = Ledger()
    ledger.add("potentiation", 1000)
    ledger.add("depression", 10)
    terms = ledger.breakdown_j(chip.energy, 0.0)
    assert terms["potentiation"] == pytest.approx(1000 * 0.675e-12, rel=1e-12)
    assert terms["depression"] == pytest.approx(10 * 50.0e-12, rel=1e-12)
    loihi = load_chip("loihi")
    b = Ledger(ledger.counts).breakdown_j(loihi.energy, 0.0)
    assert b["potentiation"] + b["depression"] == pytest.approx(1010 * 120e-12)


def test_rule_registry_and_bad_parameters():
    assert set(LEARNING_RULES) == {"stdp"}
    rule = learning_rule("stdp", {"a_plus": 1, "a_minus": 1, "tau_plus_ticks": 20, "tau_minus_ticks": 20,
                                  "w_min": 0, "w_max": 255})
    assert rule.w_max == 255 and pair_factor(20, 20.0) == math.exp(-1.0)
    with pytest.raises(ConfigError, match=r"workload.learning.rule: unknown learning rule 'bcm'; valid: stdp"):
        learning_rule("bcm", {}, "workload.learning")
    with pytest.raises(ConfigError, match=r"learning.tau: unknown parameter of stdp"):
        learning_rule("stdp", {"tau": 3})
    with pytest.raises(ConfigError, match=r"learning.w_max: is required"):
        learning_rule("stdp", {"a_plus": 1, "a_minus": 1, "tau_plus_ticks": 2, "tau_minus_ticks": 2, "w_min": 0})
    with pytest.raises(ConfigError, match=r"learning.tau_minus_ticks: must be a finite number > 0"):
        STDP(1, 1, 2, 0, 0, 10)
    with pytest.raises(ConfigError, match=r"learning.w_min: must be <= w_max"):
        STDP(1, 1, 2, 2, 10, 0)


def test_bounds_must_fit_the_chips_weights(small_chip, small_workload):
    _, _, net = _network(small_chip, small_workload)
    with pytest.raises(ConfigError, match=r"learning.w_max: must fit the chip's signed 9-bit weights \(-256..255\) \(got 300\)"):
        STDP(1, 1, 2, 2, 0, 300).bind(net.arrays, weight_bits=9)
    with pytest.raises(ConfigError, match="not bound"):
        STDP(1, 1, 2, 2, 0, 3).apply(0, [1], [])


@pytest.mark.parametrize("w0,a_plus,a_minus,w1", [(2, 0.5, 0.0, 3), (-3, 0.5, 0.0, -2), (3, 0.0, 0.5, 3),
                                                  (-2, 0.0, 0.5, -2), (0, 0.5, 0.0, 1), (0, 0.0, 0.5, 0)])
def test_weights_landing_on_a_half_round_up(small_chip, small_workload, w0, a_plus, a_minus, w1):
    """A float weight on exactly .5 rounds half up (2.5 -> 3, -2.5 -> -2, -0.5 -> 0), after a potentiation
    (pre and post in one tick: factor e^0 = 1) or a depression (pre 1 tick after post, tau so long that
    e^(-1/tau) is exactly 1.0 in float64)."""
    _, _, net = _network(small_chip, small_workload)
    a = net.arrays
    axon, s, g = _one_synapse(a)
    rule = STDP(a_plus=a_plus, a_minus=a_minus, tau_plus_ticks=4, tau_minus_ticks=1e300, w_min=-100,
                w_max=100).bind(a)
    rule.w[s] = w0
    a.row_weights[s] = w0
    if a_plus:
        assert rule.apply(5, [axon], [g]) == (1, 0)
    else:
        rule.apply(4, [], [g])
        assert rule.apply(5, [axon], []) == (0, 1)
    assert rule.w[s] == w0 + a_plus - a_minus  # exactly on the half
    assert int(a.row_weights[s]) == w1


def test_round_weight_halves():
    """The twin's scalar rule: halves round up, whatever the sign."""
    assert [round_weight(x) for x in (2.5, -2.5, 0.5, -0.5, 1.4999999, -1.5000001)] == [3, -2, 1, 0, 1, -2]


def test_pairs_far_apart_use_the_same_factor_as_the_scalar_rule(small_chip, small_workload):
    """A pairing 150 ticks apart (past the first table of factors) changes the weight by exactly
    a_plus e^(-150/tau), the twin's scalar factor."""
    _, _, net = _network(small_chip, small_workload)
    a = net.arrays
    axon, s, g = _one_synapse(a)
    rule = STDP(a_plus=8, a_minus=0, tau_plus_ticks=40, tau_minus_ticks=40, w_min=-100, w_max=100).bind(a)
    w0 = rule.w[s]
    rule.apply(10, [axon], [])
    assert rule.apply(160, [], [g]) == (1, 0)
    assert rule.w[s] == w0 + 8 * pair_factor(150, 40.0)
    assert rule.apply(1000, [], [g]) == (1, 0)  # 990 ticks after the pre spike: still paired, tiny change
    assert rule.w[s] == w0 + 8 * pair_factor(150, 40.0) + 8 * pair_factor(990, 40.0)


@pytest.mark.parametrize("window", [-1, 2.5, True])
def test_a_bad_window_is_named(window):
    with pytest.raises(ConfigError, match="learning.window_ticks: must be an integer >= 0 or absent"):
        STDP(1, 1, 2, 2, w_min=-3, w_max=4, window_ticks=window)
    assert STDP(1, 1, 2, 2, w_min=-3, w_max=4, window_ticks=0).window == 0


def test_weight_bounds_are_int16_inclusive():
    STDP(1, 1, 2, 2, w_min=-(1 << 15), w_max=(1 << 15) - 1)  # the full int16 range is allowed
    for bounds in ({"w_min": -(1 << 15) - 1, "w_max": 0}, {"w_min": 0, "w_max": 1 << 15}):
        with pytest.raises(ConfigError, match=r"must be an integer weight in -32768\.\.32767"):
            STDP(1, 1, 2, 2, **bounds)


def test_clockless_stdp_pairs_a_whole_number_of_ticks_apart_exactly(small_chip, small_workload):
    """The continuous-time rule (async): a pre at 2 T and a post at exactly 5 T potentiate by
    a_plus e^(-3 / tau_plus) (a whole number of ticks: the scalar rule's own table); a pre 2.5 T after
    that post depresses by a_minus e^(-2.5 / tau_minus)."""
    from neuroemu.hardware.learning import STDPContinuous
    _, _, net = _network(small_chip, small_workload)
    a = net.arrays
    axon, s, g = _one_synapse(a)
    T = 1000
    rule = STDP(a_plus=8, a_minus=6, tau_plus_ticks=4, tau_minus_ticks=8, w_min=-100, w_max=100).bind(a)
    ct = STDPContinuous(rule, T)
    w0 = rule.w[s]
    none = np.empty(0, np.int64)
    assert ct.apply_window(np.array([2 * T]), np.array([axon]), none, none)[:2] == (0, 0)
    assert ct.apply_window(none, none, np.array([g]), np.array([5 * T]))[:2] == (1, 0)
    assert rule.w[s] == w0 + 8 * pair_factor(3, 4.0)
    assert ct.apply_window(np.array([7 * T + T // 2]), np.array([axon]), none, none)[:2] == (0, 1)
    assert rule.w[s] == w0 + 8 * pair_factor(3, 4.0) - 6 * math.exp(-2.5 / 8)


@pytest.mark.parametrize("window", [None, 3])
def test_clockless_stdp_on_tick_starts_is_the_tick_rule(small_chip, small_workload, window):
    """Spikes placed on tick starts (arrivals repeated within an instant, pre and post in one tick, pairs
    inside and outside the window): the continuous-time rule makes the tick rule's changes, counts,
    float weights and stored integer weights, tick by tick."""
    from neuroemu.hardware.learning import STDPContinuous
    T = 1000
    params = dict(a_plus=2.5, a_minus=1.75, tau_plus_ticks=4, tau_minus_ticks=6, w_min=-20, w_max=20, window_ticks=window)
    tick_a = _network(small_chip, small_workload)[2].arrays
    cont_a = _network(small_chip, small_workload)[2].arrays
    tick_rule = STDP(**params).bind(tick_a)
    cont = STDPContinuous(STDP(**params).bind(cont_a), T)
    rng = np.random.default_rng(4)
    axons = np.arange(0, tick_a.n_axons, 7)[:12]
    neurons = np.unique(np.concatenate([tick_a.row_neurons[tick_a.row_ptr[x]:tick_a.row_ptr[x + 1]]
                                        + (x // tick_a.axons_per_core) * tick_a.neurons_per_core for x in axons]))[:16]
    totals = [0, 0]
    for k in range(40):
        pre = rng.choice(axons, size=int(rng.integers(0, 5)))       # repeats allowed
        post = np.unique(rng.choice(neurons, size=int(rng.integers(0, 4))))
        got_tick = tick_rule.apply(k, pre.tolist(), post.tolist())
        got_cont = cont.apply_window(np.full(len(pre), k * T, np.int64), pre.astype(np.int64),
                                     post.astype(np.int64), np.full(len(post), k * T, np.int64))
        assert got_tick == got_cont[:2], k
        totals[0] += got_tick[0]
        totals[1] += got_tick[1]
        assert np.array_equal(tick_rule.w, cont.rule.w), k
        assert np.array_equal(tick_a.row_weights, cont_a.row_weights), k
    assert totals[0] > 20 and totals[1] > 20


def test_the_clockless_rule_needs_a_bound_rule():
    from neuroemu.hardware.learning import STDPContinuous
    with pytest.raises(ConfigError, match="not bound to a chip"):
        STDPContinuous(STDP(a_plus=1, a_minus=1, tau_plus_ticks=4, tau_minus_ticks=4, w_min=-8, w_max=8), 1000)
