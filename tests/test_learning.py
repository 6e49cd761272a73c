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


# --- exact values per public function: windows at their boundary, ties, the clockless rule, bounds ------

def _rules(small_chip, small_workload, device=None, **params):
    """The vectorised rule, its plain-Python twin and the clockless rule, each on its own arrays."""
    from neuroemu.hardware.learning import STDPContinuous
    a1 = _network(small_chip, small_workload)[2].arrays
    a2 = _network(small_chip, small_workload)[2].arrays
    a3 = _network(small_chip, small_workload)[2].arrays
    tick = STDP(**params).bind(a1, device=device)
    twin = STDPReference(STDP(**params), a2, device=device)
    cont = STDPContinuous(STDP(**params).bind(a3, device=device), 1000)
    return tick, twin, cont


@pytest.mark.parametrize("window", [0, 3])
def test_a_pair_exactly_window_ticks_apart_is_updated_one_more_is_not(small_chip, small_workload, window):
    """window_ticks w: a pair w ticks apart pairs (<= w), w + 1 ticks apart does not, in each twin and
    in the clockless rule (w x T ps pairs, one ps more does not)."""
    params = dict(a_plus=2.0, a_minus=1.0, tau_plus_ticks=4.0, tau_minus_ticks=8.0, w_min=-50, w_max=50,
                  window_ticks=window)
    tick, twin, cont = _rules(small_chip, small_workload, **params)
    axon, s, g = _one_synapse(tick.arrays)
    none = np.empty(0, np.int64)
    w0 = tick.w[s]
    # potentiation: pre at 10, post at 10 + window (pairs), post again at 10 + 2 window + 1 (pre 10 is too old)
    for rule in (tick, twin):
        assert rule.apply(10, [axon], []) == (0, 0)
        assert rule.apply(10 + window, [], [g]) == (1, 0)
    assert cont.apply_window(np.array([10_000]), np.array([axon]), none, none)[:2] == (0, 0)
    assert cont.apply_window(none, none, np.array([g]), np.array([(10 + window) * 1000]))[:2] == (1, 0)
    up = w0 + 2.0 * pair_factor(window, 4.0)
    assert tick.w[s] == twin.w[s] == cont.rule.w[s] == up
    # depression: pre window + 1 ticks after that post does not pair (nor count), nor does the clockless
    # rule's pre window x T + 1 ps after it; then a post pairs with the new pre at its own tick (dt 0)
    for rule in (tick, twin):
        assert rule.apply(10 + 2 * window + 1, [axon], []) == (0, 0)
    assert cont.apply_window(np.array([(10 + 2 * window) * 1000 + 1]), np.array([axon]), none, none)[:2] == (0, 0)
    assert tick.w[s] == twin.w[s] == cont.rule.w[s] == up
    dep = 1 if window else 0  # a depression needs the post strictly earlier: window 0 never depresses
    for rule in (tick, twin):
        assert rule.apply(10 + 3 * window + 1, [], [g]) == (1, 0)
        assert rule.apply(10 + 4 * window + 1, [axon], []) == (0, dep)  # exactly window after the post
    assert tick.w[s] == twin.w[s] == up + 2.0 * pair_factor(window, 4.0) - dep * 1.0 * pair_factor(window, 8.0)
    # the clockless depression exactly window x T after a post pairs (an instant lies in one window only,
    # so window 0 has no clockless depression to check)
    assert cont.apply_window(none, none, np.array([g]), np.array([(10 + 3 * window) * 1000 + 1]))[:2] == (1, 0)
    if window:
        assert cont.apply_window(np.array([(10 + 4 * window) * 1000 + 1]), np.array([axon]), none, none)[:2] == (0, 1)
        assert cont.rule.w[s] == tick.w[s]


def test_repeated_spikes_in_a_tick_count_once_and_updates_are_listed_depressions_first(small_chip, small_workload):
    """An axon listed three times and a neuron listed twice in one tick are one spike each; the synapses
    written are the depressions (pre axons ascending) then the potentiations (fired neurons ascending)."""
    tick, twin, _ = _rules(small_chip, small_workload, a_plus=1.0, a_minus=1.0, tau_plus_ticks=2.0,
                           tau_minus_ticks=2.0, w_min=-100, w_max=100)
    a = tick.arrays
    axon, s, g = _one_synapse(a)
    row = list(range(int(a.row_ptr[axon]), int(a.row_ptr[axon + 1])))
    neurons = sorted({(axon // a.axons_per_core) * a.neurons_per_core + int(a.row_neurons[x]) for x in row})
    for rule in (tick, twin):
        assert rule.apply(0, [], neurons + neurons[:1]) == (0, 0)
        assert rule.apply(1, [axon, axon, axon], []) == (0, len(row))   # each synapse of the row once
    assert tick.last_written.tolist() == twin.last_written == row
    for rule in (tick, twin):
        assert rule.apply(2, [axon], [g, g]) == (len([x for x in range(a.n_synapses)
                                                       if tick.syn_axon[x] == axon and
                                                       (axon // a.axons_per_core) * a.neurons_per_core
                                                       + int(a.row_neurons[x]) == g]), len(row))
    col = sorted(int(x) for x in np.flatnonzero(a.synapse_neurons() == g) if tick.syn_axon[x] == axon)
    assert tick.last_written.tolist() == twin.last_written == row + col
    assert tick.w.tolist() == twin.w and a.row_weights.tolist() == twin.weights
    assert a.dense_weights is None or a.dense_weights[axon, a.row_neurons[s]] == a.row_weights[s]


def test_twins_agree_on_ties_bounds_and_a_nonlinear_device(small_chip, small_workload):
    """Duplicates, same-tick pre and post, pairs at the window's edge and tight bounds that clip, on a
    device with non-linear steps: the vectorised rule and its twin give the same counts, the same
    synapses written and the same float weights, bit for bit."""
    from neuroemu.config.schema import Sourced, SynapseDeviceSpec
    dev = SynapseDeviceSpec(ltp_nonlinearity=Sourced(2.0), ltd_nonlinearity=Sourced(0.6))
    params = dict(a_plus=1.5, a_minus=2.0, tau_plus_ticks=3.0, tau_minus_ticks=5.0, w_min=-3, w_max=3,
                  window_ticks=2)
    tick, twin, _ = _rules(small_chip, small_workload, device=dev, **params)
    a = tick.arrays
    draws = np.random.default_rng(12)
    axons = np.arange(0, 64, 3)
    totals = [0, 0]
    for t in range(60):
        pre = draws.choice(axons, size=int(draws.integers(0, 8)))        # repeats in a tick
        post = draws.integers(0, a.n_neurons, int(draws.integers(0, 10)))
        post = np.concatenate([post, post[:2]])
        got = tick.apply(t, pre, post)
        assert got == twin.apply(t, pre.tolist(), post.tolist()), t
        assert tick.last_written.tolist() == twin.last_written, t
        totals = [totals[0] + got[0], totals[1] + got[1]]
    assert tick.w.tolist() == twin.w and a.row_weights.tolist() == twin.weights
    assert min(totals) > 30 and {-3.0, 3.0} <= set(tick.w.tolist())  # both bounds reached


def test_a_tick_depression_on_a_nonlinear_device_follows_its_curve(small_chip, small_workload):
    """d = a_minus e^(-dt / tau_minus) moves w to bottom + (w - bottom) e^(-d / (R a_ltd)),
    bottom = w_max - R / (1 - e^(-1 / a_ltd)); hand values, R = 16."""
    from neuroemu.config.schema import Sourced, SynapseDeviceSpec
    _, _, net = _network(small_chip, small_workload)
    a = net.arrays
    axon, s, g = _one_synapse(a)
    rule = STDP(a_plus=0.0, a_minus=3.0, tau_plus_ticks=2.0, tau_minus_ticks=4.0, w_min=-8, w_max=8).bind(
        a, device=SynapseDeviceSpec(ltd_nonlinearity=Sourced(0.5)))
    rule.w[s] = 2.0
    rule.apply(0, [], [g])
    assert rule.apply(2, [axon], []) == (0, 1)
    d = 3.0 * math.exp(-2 / 4)
    bottom = 8 - 16 / (1 - math.exp(-2.0))
    assert rule.w[s] == pytest.approx(bottom + (2.0 - bottom) * math.exp(-d / 8.0), abs=1e-12)
    assert int(a.row_weights[s]) == math.floor(rule.w[s] + 0.5)


def test_clockless_pairs_inside_one_window_take_their_own_instants(small_chip, small_workload):
    """T = 1000 ps, one window: pre at 100, post at 400, pre again at 700. The post pairs with the pre at
    100 (300 ps: e^(-0.3 / tau_plus)); the second pre with the post (300 ps: e^(-0.3 / tau_minus)); the
    first pre pairs with no earlier post. Then a pre and a post at one instant: potentiation by a_plus
    (dt 0), and no depression from that post."""
    _, _, cont = _rules(small_chip, small_workload, a_plus=4.0, a_minus=2.0, tau_plus_ticks=2.0,
                        tau_minus_ticks=5.0, w_min=-100, w_max=100)
    a = cont.rule.arrays
    axon, s, g = _one_synapse(a)
    w0 = cont.rule.w[s]
    n_pot, n_dep, written = cont.apply_window(np.array([700, 100]), np.array([axon, axon]), np.array([g]),
                                              np.array([400]))
    assert (n_pot, n_dep) == (1, 1) and s in written.tolist()
    want = w0 + 4.0 * math.exp(-0.3 / 2.0) - 2.0 * math.exp(-0.3 / 5.0)
    assert cont.rule.w[s] == pytest.approx(want, abs=1e-12)
    assert cont.pre_last[axon] == 700 and cont.post_last[g] == 400
    assert int(a.row_weights[s]) == math.floor(cont.rule.w[s] + 0.5)
    got = cont.apply_window(np.array([1500]), np.array([axon]), np.array([g]), np.array([1500]))[:2]
    # the pre at 1500 pairs with the post at 400 (1100 ps back), not with the post at its own instant
    assert got == (1, 1)
    assert cont.rule.w[s] == pytest.approx(want - 2.0 * math.exp(-1.1 / 5.0) + 4.0, abs=1e-12)


def test_clockless_depression_comes_before_potentiation_at_one_instant(small_chip, small_workload):
    """At w_max, a pre and a post at one instant after an earlier post: the depression lands first and the
    potentiation (dt 0, a_plus) is clipped back to w_max; the other order would end below it."""
    _, _, cont = _rules(small_chip, small_workload, a_plus=5.0, a_minus=3.0, tau_plus_ticks=2.0,
                        tau_minus_ticks=1e300, w_min=-10, w_max=10)
    a = cont.rule.arrays
    axon, s, g = _one_synapse(a)
    cont.rule.w[s] = 10.0
    none = np.empty(0, np.int64)
    cont.apply_window(none, none, np.array([g]), np.array([200]))
    assert cont.apply_window(np.array([900]), np.array([axon]), np.array([g]), np.array([900]))[:2] == (1, 1)
    assert cont.rule.w[s] == 10.0  # 10 - 3 + 5 clipped, not 10 clipped - 3


def test_clockless_steps_off_whole_ticks_use_the_curve_of_the_change(small_chip, small_workload):
    """Not a whole number of ticks apart, a clockless pairing's device factor is e^(-|d| / (R a)) of its
    own change d: hand values on R = 16, a_ltp 0.5, a_ltd 0.25."""
    from neuroemu.config.schema import Sourced, SynapseDeviceSpec
    dev = SynapseDeviceSpec(ltp_nonlinearity=Sourced(0.5), ltd_nonlinearity=Sourced(0.25))
    _, _, cont = _rules(small_chip, small_workload, device=dev, a_plus=2.0, a_minus=3.0, tau_plus_ticks=2.0,
                        tau_minus_ticks=4.0, w_min=-8, w_max=8)
    a = cont.rule.arrays
    axon, s, g = _one_synapse(a)
    cont.rule.w[s] = 0.0
    none = np.empty(0, np.int64)
    cont.apply_window(np.array([1000]), np.array([axon]), none, none)
    assert cont.apply_window(none, none, np.array([g]), np.array([2500]))[:2] == (1, 0)
    d = 2.0 * math.exp(-1.5 / 2.0)
    top = -8 + 16 / (1 - math.exp(-2.0))
    w1 = top - top * math.exp(-d / 8.0)
    assert cont.rule.w[s] == pytest.approx(w1, abs=1e-12)
    assert cont.apply_window(np.array([3250]), np.array([axon]), none, none)[:2] == (0, 1)
    d = 3.0 * math.exp(-0.75 / 4.0)
    bottom = 8 - 16 / (1 - math.exp(-4.0))
    assert cont.rule.w[s] == pytest.approx(bottom + (w1 - bottom) * math.exp(-d / 4.0), abs=1e-12)


@pytest.mark.parametrize("bits, w_min, w_max, bad", [(9, -256, 255, None), (9, -257, 0, "w_min"),
                                                     (9, 0, 256, "w_max"), (4, -8, 7, None), (4, -8, 8, "w_max")])
def test_bounds_fit_the_chips_signed_weights_at_their_edges(small_chip, small_workload, bits, w_min, w_max, bad):
    _, _, net = _network(small_chip, small_workload)
    rule = STDP(1, 1, 2, 2, w_min, w_max)
    if bad is None:
        assert rule.bind(net.arrays, weight_bits=bits) is rule
    else:
        lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
        with pytest.raises(ConfigError, match=rf"learning.{bad}: must fit the chip's signed {bits}-bit weights "
                                              rf"\({lo}\.\.{hi}\)"):
            rule.bind(net.arrays, weight_bits=bits)


@pytest.mark.parametrize("key, value, rule", [
    ("a_plus", -0.5, "must be a finite number >= 0"), ("a_minus", float("inf"), "must be a finite number >= 0"),
    ("a_plus", True, "must be a finite number >= 0"), ("a_minus", "1", "must be a finite number >= 0"),
    ("tau_plus_ticks", 0, "must be a finite number > 0"), ("tau_minus_ticks", -1.0, "must be a finite number > 0"),
    ("tau_plus_ticks", float("nan"), "must be a finite number > 0"), ("tau_minus_ticks", False, "must be a finite"),
    ("w_min", 1.5, "must be an integer weight"), ("w_max", True, "must be an integer weight"),
])
def test_each_bad_parameter_is_named_with_its_rule(key, value, rule):
    params = dict(a_plus=1.0, a_minus=1.0, tau_plus_ticks=2.0, tau_minus_ticks=2.0, w_min=-4, w_max=4)
    params[key] = value
    with pytest.raises(ConfigError, match=rf"^learning.{key}: {rule}"):
        STDP(**params)
    with pytest.raises(ConfigError, match=rf"^workload.learning.{key}: {rule}"):
        learning_rule("stdp", params, "workload.learning")
    ok = dict(params, **{key: {"a_plus": 0, "a_minus": 0.0, "tau_plus_ticks": 0.5, "tau_minus_ticks": 3,
                               "w_min": -4.0, "w_max": 4}[key]})
    assert STDP(**ok).w_min == -4  # a zero amplitude, a fractional tau, an integral float bound are fine


def test_bounds_may_meet_and_a_flat_device_range_holds_the_weight(small_chip, small_workload):
    """w_min == w_max is allowed (one weight); on a device with curves and no range, a pairing off whole
    ticks (zero change: a_plus 0) still leaves the weight exactly at that bound, never NaN."""
    from neuroemu.config.schema import Sourced, SynapseDeviceSpec
    dev = SynapseDeviceSpec(ltp_nonlinearity=Sourced(0.5), ltd_nonlinearity=Sourced(0.5))
    _, _, cont = _rules(small_chip, small_workload, device=dev, a_plus=0.0, a_minus=0.0, tau_plus_ticks=2.0,
                        tau_minus_ticks=2.0, w_min=2, w_max=2)
    a = cont.rule.arrays
    axon, s, g = _one_synapse(a)
    none = np.empty(0, np.int64)
    cont.apply_window(np.array([100]), np.array([axon]), none, none)
    assert cont.apply_window(none, none, np.array([g]), np.array([350]))[:2] == (1, 0)
    assert cont.apply_window(np.array([800]), np.array([axon]), none, none)[:2] == (0, 1)
    assert cont.rule.w[s] == 2.0 and a.row_weights[s] == 2


@pytest.mark.parametrize("ltp, ltd", [(None, 0.5), (0.5, None)])
def test_a_device_with_one_curve_steps_the_other_way_linearly(small_chip, small_workload, ltp, ltd):
    """A device with only one non-linear curve: the other direction adds (or subtracts) exactly
    d = a x e^(-dt / tau), in the tick rule, its twin and the clockless rule."""
    from neuroemu.config.schema import Sourced, SynapseDeviceSpec
    dev = SynapseDeviceSpec(ltp_nonlinearity=None if ltp is None else Sourced(ltp),
                            ltd_nonlinearity=None if ltd is None else Sourced(ltd))
    tick, twin, cont = _rules(small_chip, small_workload, device=dev, a_plus=2.0, a_minus=3.0, tau_plus_ticks=4.0,
                              tau_minus_ticks=5.0, w_min=-20, w_max=20)
    axon, s, g = _one_synapse(tick.arrays)
    w0 = tick.w[s]
    none = np.empty(0, np.int64)
    for rule in (tick, twin):
        rule.apply(1, [axon], [])
        assert rule.apply(3, [], [g]) == (1, 0)
        assert rule.apply(4, [axon], []) == (0, 1)
    cont.apply_window(np.array([1000]), np.array([axon]), none, none)
    cont.apply_window(none, none, np.array([g]), np.array([3000]))
    cont.apply_window(np.array([4000]), np.array([axon]), none, none)
    up, down = 2.0 * math.exp(-2 / 4.0), 3.0 * math.exp(-1 / 5.0)  # R = 40, a = 0.5: b = 1 / (1 - e^-2)
    b = 1 / (1 - math.exp(-2.0))
    if ltp is None:  # linear up, curved down towards bottom = w_max - R b
        w1 = w0 + up
        want = (20 - 40 * b) + (w1 - (20 - 40 * b)) * math.exp(-down / 20.0)
    else:            # curved up towards top = w_min + R b, linear down
        w1 = (-20 + 40 * b) - ((-20 + 40 * b) - w0) * math.exp(-up / 20.0)
        want = w1 - down
    assert tick.w[s] == twin.w[s] == cont.rule.w[s]
    assert tick.w[s] == pytest.approx(want, abs=1e-12)


def test_clockless_pairs_one_ps_past_whole_ticks_and_a_post_at_time_zero(small_chip, small_workload):
    """dt = 2 T + 1 ps is not a whole number of ticks: its factor is e^(-(2 + 1/T) / tau), not the
    2-tick table's. A post at 0 ps (the first instant) pairs with a later pre in its window."""
    _, _, cont = _rules(small_chip, small_workload, a_plus=4.0, a_minus=2.0, tau_plus_ticks=2.0,
                        tau_minus_ticks=5.0, w_min=-100, w_max=100)
    a = cont.rule.arrays
    axon, s, g = _one_synapse(a)
    w0 = cont.rule.w[s]
    none = np.empty(0, np.int64)
    assert cont.apply_window(np.array([500]), np.array([axon]), np.array([g]), np.array([0]))[:2] == (0, 1)
    assert cont.rule.w[s] == pytest.approx(w0 - 2.0 * math.exp(-0.5 / 5.0), abs=1e-12)
    w1 = cont.rule.w[s]
    assert cont.apply_window(none, none, np.array([g]), np.array([2501]))[:2] == (1, 0)  # 2001 ps after 500
    assert cont.rule.w[s] == pytest.approx(w1 + 4.0 * math.exp(-2.001 / 2.0), abs=1e-12)
    assert abs(cont.rule.w[s] - (w1 + 4.0 * math.exp(-1.0))) > 1e-4


def test_clockless_a_post_and_a_pre_at_one_instant_in_two_calls_do_not_depress(small_chip, small_workload):
    """A post at 1000 ps handed over in one call and a pre at the same 1000 ps in the next: that post
    is not the pre's partner (dt = 0 is no depression pair: the rule's t_post < t, as the tick rule's
    strict test). The engine's windows partition time, so it never splits an instant; before the fix
    a caller that did got a full a_minus depression (factor e^0). In one call the pre pairs with the
    post before it, at 200 ps."""
    _, _, cont = _rules(small_chip, small_workload, a_plus=4.0, a_minus=2.0, tau_plus_ticks=2.0,
                        tau_minus_ticks=5.0, w_min=-100, w_max=100)
    _, _, one = _rules(small_chip, small_workload, a_plus=4.0, a_minus=2.0, tau_plus_ticks=2.0,
                       tau_minus_ticks=5.0, w_min=-100, w_max=100)
    axon, s, g = _one_synapse(cont.rule.arrays)
    w0 = cont.rule.w[s]
    none = np.empty(0, np.int64)
    for rule in (cont, one):
        rule.apply_window(none, none, np.array([g]), np.array([200]))
    assert cont.apply_window(none, none, np.array([g]), np.array([1000]))[:2] == (0, 0)
    assert cont.apply_window(np.array([1000]), np.array([axon]), none, none)[:2] == (0, 0)
    assert cont.rule.w[s] == w0 and cont.post_last[g] == 1000 and cont.pre_last[axon] == 1000
    assert one.apply_window(np.array([1000]), np.array([axon]), np.array([g]), np.array([1000]))[:2] == (1, 1)
    assert one.rule.w[s] == pytest.approx(w0 - 2.0 * math.exp(-0.8 / 5.0) + 4.0, abs=1e-12)


def _clockless_by_hand(a, params, T, windows, device=None):
    """The clockless rule of the STDPContinuous docstring, event by event in plain Python: per window,
    each distinct (axon, instant) arrival depresses every synapse of the axon whose neuron last fired
    strictly before it (this window's spike if earlier, else the last before the window), each spike
    potentiates every synapse of its neuron whose axon last received an arrival at or before it; the
    factor is e^(-(dt / T) / tau) (the tick rule's pair_factor when dt is whole ticks); a pair more
    than window_ticks x T apart does not pair; each synapse's changes in time order, depression first
    at one instant, each clipped (and along the device's curves; a pulse past a cell's endurance does
    not take); integer weights rounded half up. Returns per window (pot, dep, float weights, ints)."""
    from neuroemu.hardware.devices import conductance_steps
    steps = conductance_steps(device, params["w_min"], params["w_max"])
    limit = None if device is None or device.endurance_writes is None else int(device.endurance_writes.value)
    writes = {}
    row_ptr = a.row_ptr.tolist()
    A, N = a.axons_per_core, a.neurons_per_core
    syn_neuron = [(x // A) * N + int(a.row_neurons[s]) for x in range(a.n_axons) for s in range(row_ptr[x], row_ptr[x + 1])]
    syn_axon = [x for x in range(a.n_axons) for _ in range(row_ptr[x], row_ptr[x + 1])]
    w = [float(x) for x in a.row_weights]
    ints = [int(x) for x in a.row_weights]
    pre_last, post_last = {}, {}
    window = params.get("window_ticks")

    def factor(dt, tau):
        return pair_factor(dt // T, tau) if dt % T == 0 else math.exp(-(dt / T) / tau)

    out = []
    for a_t, a_ax, p_n, p_t in windows:
        events = []
        post_here = dict(zip(p_n, p_t))
        for x, ta in sorted(set(zip(a_ax, a_t))):
            for s in range(row_ptr[x], row_ptr[x + 1]):
                g = syn_neuron[s]
                last = post_here[g] if g in post_here and post_here[g] < ta else post_last.get(g, -1)
                dt = ta - last
                if last >= 0 and dt > 0 and (window is None or dt <= window * T):
                    events.append((s, ta, 0, params["a_minus"] * factor(dt, params["tau_minus_ticks"])))
        for g, tp in post_here.items():
            for s in (s for s in range(len(syn_neuron)) if syn_neuron[s] == g):
                x = syn_axon[s]
                here = [t for xx, t in zip(a_ax, a_t) if xx == x and t <= tp]
                last = max(here) if here else pre_last.get(x, -1)
                dt = tp - last
                if last >= 0 and (window is None or dt <= window * T):
                    events.append((s, tp, 1, params["a_plus"] * factor(dt, params["tau_plus_ticks"])))
        for x, ta in zip(a_ax, a_t):
            pre_last[x] = max(pre_last.get(x, -1), ta)
        post_last.update(post_here)
        for s, _, kind, d in sorted(events):
            if kind == 0:
                new = w[s] - d if steps is None else steps.depress(w[s], d, steps.keep_ltd(d))
            else:
                new = w[s] + d if steps is None else steps.potentiate(w[s], d, steps.keep_ltp(d))
            half = 1 - kind
            writes[(s, half)] = writes.get((s, half), 0) + 1
            if limit is None or writes[(s, half)] <= limit:
                w[s] = min(max(new, params["w_min"]), params["w_max"])
            ints[s] = math.floor(w[s] + 0.5)
        out.append((sum(e[2] for e in events), sum(1 - e[2] for e in events), list(w), list(ints),
                    sorted(e[0] for e in events)))
    return out


@pytest.mark.parametrize("case", ["plain", "window", "device", "endurance"])
def test_clockless_rule_off_tick_starts_is_the_rule_written_out(small_chip, small_workload, case):
    """Windows of 1..1000 ps at any instant (T = 1000 ps): arrivals repeated and on tick starts, spikes
    on arrivals' instants, before and after them; against the plain-Python rule above, window by window:
    counts, the synapses written, float weights (to 1e-12: numpy's exp against math's) and stored ints."""
    from neuroemu.config.schema import Sourced, SynapseDeviceSpec
    from neuroemu.hardware.learning import STDPContinuous
    T = 1000
    params = dict(a_plus=2.5, a_minus=1.75, tau_plus_ticks=1.5, tau_minus_ticks=2.5, w_min=-9, w_max=9)
    device = None
    if case == "window":
        params["window_ticks"] = 1
    elif case == "device":
        device = SynapseDeviceSpec(ltp_nonlinearity=Sourced(0.5), ltd_nonlinearity=Sourced(0.25))
    elif case == "endurance":
        device = SynapseDeviceSpec(endurance_writes=Sourced(3.0))
    a = _network(small_chip, small_workload)[2].arrays
    ref = _network(small_chip, small_workload)[2].arrays
    cont = STDPContinuous(STDP(**params).bind(a, device=device), T)
    STDP(**params).bind(ref)  # the reference starts from the same per-synapse weights
    rng = np.random.default_rng(7)
    axons = np.arange(3, a.n_axons, 11)[:6]
    neurons = np.unique(np.concatenate([a.row_neurons[a.row_ptr[x]:a.row_ptr[x + 1]]
                                        + (x // a.axons_per_core) * a.neurons_per_core for x in axons]))[:8]
    windows, t0 = [], 0
    for k in range(70):
        width = int(rng.choice([1, 2, 250, 999, 1000]))
        n_a = int(rng.integers(0, 5))
        a_t = (t0 + rng.integers(0, width, n_a)).astype(np.int64)
        if n_a and k % 3 == 0:
            a_t[0] = t0  # on the window's first instant (a tick start when t0 is one)
        a_ax = rng.choice(axons, n_a).astype(np.int64)
        if n_a > 1 and k % 4 == 0:
            a_t[1], a_ax[1] = a_t[0], a_ax[0]  # a repeated arrival
        p_n = np.unique(rng.choice(neurons, int(rng.integers(0, 3)))).astype(np.int64)
        p_t = (t0 + rng.integers(0, width, len(p_n))).astype(np.int64)
        if len(p_n) and n_a and k % 2:
            p_t[0] = a_t[-1]  # a spike on an arrival's instant
        windows.append((a_t, a_ax, p_n, p_t))
        t0 += width + int(rng.choice([0, 0, 1, 1000 - width % 1000]))
    want = _clockless_by_hand(ref, params, T, [tuple(x.tolist() for x in win) for win in windows], device)
    totals = [0, 0]
    for k, (win, (pot, dep, w, ints, written)) in enumerate(zip(windows, want)):
        got = cont.apply_window(*win)
        assert got[:2] == (pot, dep) and sorted(got[2].tolist()) == written, k
        assert cont.rule.w.tolist() == pytest.approx(w, rel=1e-12, abs=1e-12), k
        assert a.row_weights.tolist() == ints, k
        totals[0] += pot
        totals[1] += dep
    assert totals[0] > 20 and totals[1] > 20
