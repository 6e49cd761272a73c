"""NVM endurance per cell (neuroemu.hardware.devices.Endurance, applied by the learning rules of
hardware/learning.py): a potentiation pulses G+, a depression G-; a cell takes writes 1..limit and
then sticks while its pair's other cell still responds; counts against a hand count; the record's
wear fields; the fast loops, the plain-Python twin and the SimPy reference agree."""
from __future__ import annotations

import copy
import dataclasses
import math

import numpy as np
import pytest

from neuroemu import simulate
from neuroemu.config import chip_from_data, load_chip, workload_from_data
from neuroemu.config.loader import REPO_ROOT
from neuroemu.config.schema import Sourced, SynapseDeviceSpec
from neuroemu.engine.reference import simulate_reference
from neuroemu.hardware import devices as dv
from neuroemu.hardware.learning import STDP, STDPContinuous, STDPReference, learning_rule, pair_factor
from neuroemu.networks.workloads import build_network

import yaml


def _arrays(small_chip, small_workload, **network):
    """The tiny chip's network arrays (4 cores x 32 axons x 8 synapses per axon)."""
    wl = copy.deepcopy(small_workload)
    wl["network"].update(network)
    chip = chip_from_data(small_chip, "tiny.yaml")
    return build_network(chip, workload_from_data(wl, "w.yaml"), 3, "w").arrays


def _wear(limit: float) -> SynapseDeviceSpec:
    return SynapseDeviceSpec(endurance_writes=Sourced(limit))


def _synapse(a, axon: int = 5):
    """An axon's first synapse and its (global) neuron."""
    s = int(a.row_ptr[axon])
    return s, (axon // a.axons_per_core) * a.neurons_per_core + int(a.row_neurons[s])


def _address(a, s: int, half: int) -> list[int]:
    """A cell's [chip core, axon row, neuron column, half], from the CSR rows (not from Endurance)."""
    axon = int(np.searchsorted(a.row_ptr, s, side="right")) - 1
    return [int(a.chip_cores(np.array([axon // a.axons_per_core]))[0]), axon % a.axons_per_core,
            int(a.row_neurons[s]), half]


def test_a_stuck_g_plus_stops_potentiation_while_depression_still_moves_the_weight(small_chip, small_workload):
    """Limit 2 per cell, hand-computed weights, the vectorised rule and its twin step by step."""
    a = _arrays(small_chip, small_workload)
    axon, (s, g) = 5, _synapse(a)
    rule = STDP(a_plus=3, a_minus=2, tau_plus_ticks=4, tau_minus_ticks=4, w_min=-100, w_max=100)
    rule.bind(a, device=_wear(2))
    twin = STDPReference(rule, a, device=_wear(2))
    w0 = rule.w[s]
    f1 = pair_factor(1, 4.0)
    steps = [  # (tick, pre, post, counts, the weight after, [G+ writes, G- writes])
        (0, [axon], [g], (1, 0), w0 + 3 * pair_factor(0, 4.0), [1, 0]),    # G+ write 1 takes
        (1, [], [g], (1, 0), None, [2, 0]),                                 # G+ write 2 (the limit) takes
        (2, [], [g], (1, 0), "same", [3, 0]),                               # G+ write 3: counted, no effect
        (3, [axon], [], (0, 1), "dep", [3, 1]),                             # G- still responds
        (4, [], [g], (1, 0), "same", [4, 1]),                               # potentiation still blocked
        (5, [axon], [], (0, 1), "dep", [4, 2]),                             # G- write 2 (its limit) takes
        (6, [axon], [], (0, 1), "same", [4, 3]),                            # both stuck: the weight is frozen
    ]
    want = w0
    for tick, pre, post, counts, after, writes in steps:
        assert rule.apply(tick, pre, post) == counts == twin.apply(tick, pre, post), tick
        if after is None:
            want = want + 3 * f1
        elif after == "dep":
            want = want - 2 * f1
        elif after != "same":
            want = after
        assert rule.w[s] == want == twin.w[s], tick
        assert a.row_weights[s] == math.floor(want + 0.5) == twin.weights[s], tick
        assert rule.endurance.writes[s].tolist() == writes == twin.writes[s], tick
    assert rule.endurance.stuck[s].tolist() == [True, True]


def _hand_count(a, spikes) -> np.ndarray:
    """Each cell's write pulses by the pairing rule written out: a pre at t depresses (pulses G- of)
    each of its synapses whose neuron last fired before t; a post at t potentiates (pulses G+ of)
    each of its synapses whose axon last spiked at or before t."""
    axon_of, neuron_of = a.synapse_axons().tolist(), a.synapse_neurons().tolist()
    counts = np.zeros((a.n_synapses, 2), np.int64)
    pre_last: dict[int, int] = {}
    post_last: dict[int, int] = {}
    for t, (pre, post) in enumerate(spikes):
        pre, post = set(pre), set(post)
        for s in range(a.n_synapses):
            if axon_of[s] in pre and neuron_of[s] in post_last:
                counts[s, 1] += 1
        pre_last.update((x, t) for x in pre)
        for s in range(a.n_synapses):
            if neuron_of[s] in post and axon_of[s] in pre_last:
                counts[s, 0] += 1
        post_last.update((g, t) for g in post)
    return counts


def test_writes_per_cell_equal_a_hand_count_and_so_does_the_report(small_chip, small_workload):
    a = _arrays(small_chip, small_workload)
    rule = STDP(2.5, 1.75, 3.0, 6.5, -20, 20).bind(a, device=_wear(4))
    draws = np.random.default_rng(11)
    spikes = [(draws.integers(0, a.n_axons, 10).tolist(), draws.integers(0, a.n_neurons, 5).tolist())
              for _ in range(50)]
    totals = np.zeros(2, np.int64)
    for t, (pre, post) in enumerate(spikes):
        totals += rule.apply(t, pre, post)
    counts = _hand_count(a, spikes)
    assert np.array_equal(rule.endurance.writes, counts)
    assert counts[:, 0].sum() == totals[0] > 100 and counts[:, 1].sum() == totals[1] > 100  # G+: potentiations
    rep = rule.endurance.report()
    top = int(np.argmax(counts.reshape(-1)))
    past = int((counts >= 4).sum())
    assert 0 < past < counts.size
    assert rep == {"endurance_writes": 4, "most_writes": int(counts.max()),
                   "most_written_cell": _address(a, top // 2, top % 2),
                   "cells_written": int((counts > 0).sum()), "synapses_written": int((counts > 0).any(axis=1).sum()),
                   "cells_past_endurance": past, "fraction_past_endurance": past / (2 * a.n_synapses),
                   "writes": int(totals.sum())}


def test_the_report_of_a_hand_built_wear(small_chip, small_workload):
    a = _arrays(small_chip, small_workload)
    wear = dv.Endurance(a, 5)
    wear.writes[3] = [5, 0]   # G+ at its limit: stuck
    wear.writes[7] = [2, 5]   # G- stuck; a tie with synapse 3's G+ at 5: the first in synapse order wins
    wear.writes[10] = [0, 1]
    rep = wear.report()
    assert rep == {"endurance_writes": 5, "most_writes": 5, "most_written_cell": _address(a, 3, 0),
                   "cells_written": 4, "synapses_written": 3, "cells_past_endurance": 2,
                   "fraction_past_endurance": 2 / (2 * a.n_synapses), "writes": 13}
    assert a.n_synapses == 4 * 32 * 8


def test_the_twin_agrees_bit_for_bit_while_cells_stick(small_chip, small_workload):
    a = _arrays(small_chip, small_workload, kind="random_recurrent_weighted", weights=[5, -5, 9, 2])
    rule = STDP(2.5, 1.75, 3.0, 6.5, -20, 20, window_ticks=12).bind(a, device=_wear(3))
    twin = STDPReference(rule, a, device=_wear(3))
    draws = np.random.default_rng(8)
    for t in range(80):
        pre, post = draws.integers(0, a.n_axons, 12), draws.integers(0, a.n_neurons, 6)
        assert rule.apply(t, pre, post) == twin.apply(t, pre.tolist(), post.tolist())
    assert rule.w.tolist() == twin.w and a.row_weights.tolist() == twin.weights
    assert rule.endurance.writes.tolist() == twin.writes
    stuck = rule.endurance.stuck
    assert (stuck[:, 0] & ~stuck[:, 1]).any() and (stuck[:, 1] & ~stuck[:, 0]).any()  # cells of a pair apart


def test_the_clockless_rule_on_tick_starts_wears_cells_as_the_tick_rule(small_chip, small_workload):
    T = 1000
    params = dict(a_plus=2.5, a_minus=1.75, tau_plus_ticks=4, tau_minus_ticks=6, w_min=-20, w_max=20)
    tick_a, cont_a = (_arrays(small_chip, small_workload) for _ in range(2))
    tick_rule = STDP(**params).bind(tick_a, device=_wear(3))
    cont = STDPContinuous(STDP(**params).bind(cont_a, device=_wear(3)), T)
    rng = np.random.default_rng(4)
    axons = np.arange(0, tick_a.n_axons, 7)[:12]
    neurons = np.unique(np.concatenate([tick_a.row_neurons[tick_a.row_ptr[x]:tick_a.row_ptr[x + 1]]
                                        + (x // tick_a.axons_per_core) * tick_a.neurons_per_core for x in axons]))[:16]
    for k in range(60):
        pre = rng.choice(axons, size=int(rng.integers(0, 5)))
        post = np.unique(rng.choice(neurons, size=int(rng.integers(0, 4))))
        got = tick_rule.apply(k, pre.tolist(), post.tolist())
        assert got == cont.apply_window(np.full(len(pre), k * T, np.int64), pre.astype(np.int64),
                                        post.astype(np.int64), np.full(len(post), k * T, np.int64))[:2], k
        assert np.array_equal(tick_rule.w, cont.rule.w) and np.array_equal(tick_a.row_weights, cont_a.row_weights), k
    assert np.array_equal(tick_rule.endurance.writes, cont.rule.endurance.writes)
    assert tick_rule.endurance.stuck.any()


def test_the_clockless_rule_counts_a_windows_writes_to_a_cell_in_time_order(small_chip, small_workload):
    """Three arrivals on one axon in one window after its neuron fired: three G- pulses in time order;
    with a limit of 2 the first two take and the third does not; G+ still responds afterwards."""
    a = _arrays(small_chip, small_workload)
    axon, (s, g) = 5, _synapse(a)
    T = 1000
    rule = STDP(a_plus=3, a_minus=2, tau_plus_ticks=4, tau_minus_ticks=4, w_min=-100, w_max=100)
    ct = STDPContinuous(rule.bind(a, device=_wear(2)), T)
    w0 = rule.w[s]
    none = np.empty(0, np.int64)
    ct.apply_window(none, none, np.array([g]), np.array([0]))
    got = ct.apply_window(np.array([3 * T, T, 2 * T]), np.full(3, axon), none, none)  # out of order on purpose
    assert got[1] >= 3 and np.count_nonzero(got[2] == s) == 3
    want = (w0 - 2 * pair_factor(1, 4.0)) - 2 * pair_factor(2, 4.0)  # the pulse at 3 T does not take
    assert rule.w[s] == want and rule.endurance.writes[s].tolist() == [0, 3]
    ct.apply_window(none, none, np.array([g]), np.array([4 * T]))
    assert rule.w[s] == want + 3 * pair_factor(1, 4.0) and rule.endurance.writes[s].tolist() == [1, 3]
    assert a.row_weights[s] == math.floor(rule.w[s] + 0.5)


def _pcm_cut(endurance: float | None, cores: int = 2):
    """pcm_htree (with this endurance) and a 2-core cut of its learning workload."""
    data = yaml.safe_load((REPO_ROOT / "workloads" / "pcm_small.yaml").read_text())
    data["network"]["cores"] = cores
    pcm = load_chip("pcm_htree")
    dev = dataclasses.replace(pcm.synapse_device, endurance_writes=None if endurance is None else Sourced(endurance))
    return dataclasses.replace(pcm, synapse_device=dev), workload_from_data(data, "w.yaml")


@pytest.mark.parametrize("queue", ["c", "python"])
def test_the_fast_loop_and_the_reference_agree_bit_for_bit_while_cells_stick(queue):
    chip, wl = _pcm_cut(2.0)
    fast = simulate(chip, wl, ticks=30, record_spikes=True, queue=queue)
    ref = simulate_reference(chip, wl, ticks=30, learning=learning_rule(wl.learning.rule, wl.learning.params()))
    rep = fast.workload_report["synapse_device"]
    assert rep["cells_past_endurance"] > 0 and rep["writes"] == fast.counts["potentiation"] + fast.counts["depression"]
    assert fast.comparable() == ref.comparable()  # spikes, counts, energy and the wear report


def test_the_records_wear_fields_equal_a_recount_of_the_pulses(monkeypatch):
    """Every pulse the run asks the endurance for, recounted per cell outside Endurance: the record's
    most-written cell, cells past endurance and their fraction follow exactly."""
    seen = []
    take = dv.Endurance.take

    def spy(self, synapses, half):
        seen.append((self.arrays, np.array(synapses, copy=True), np.broadcast_to(half, np.shape(synapses)).copy()))
        return take(self, synapses, half)

    monkeypatch.setattr(dv.Endurance, "take", spy)
    chip, wl = _pcm_cut(3.0)
    r = simulate(chip, wl, ticks=30)
    a = seen[0][0]
    counts = np.zeros((a.n_synapses, 2), np.int64)
    for _, syn, half in seen:
        np.add.at(counts, (syn, half), 1)
    rep = r.workload_report["synapse_device"]
    top = int(np.argmax(counts.reshape(-1)))
    past = int((counts >= 3).sum())
    assert past > 0 and rep["writes"] == counts.sum() == r.counts["potentiation"] + r.counts["depression"]
    assert counts[:, 0].sum() == r.counts["potentiation"] and counts[:, 1].sum() == r.counts["depression"]
    assert (rep["most_writes"], rep["most_written_cell"], rep["cells_past_endurance"]) == \
        (int(counts.max()), _address(a, top // 2, top % 2), past)
    assert rep["fraction_past_endurance"] == past / (2 * a.n_synapses)
    assert rep["write_energy_j"] == r.energy_breakdown_j["potentiation"] + r.energy_breakdown_j["depression"] > 0


@pytest.mark.parametrize("timing", ["sync", "async"])
def test_an_endurance_never_reached_reproduces_the_record_bit_for_bit(timing):
    """A limit no cell reaches changes nothing the chip does: the record is the one without endurance
    (spikes, counts, energy), only with the wear report added; a limit of one write changes what is learned."""
    def run(endurance):
        chip, wl = _pcm_cut(endurance)
        r = simulate(chip, wl, ticks=60, record_spikes=True, timing=timing)
        return r, (r.spikes, dict(r.counts), r.energy_j, dict(r.energy_breakdown_j),
                   r.spike_trains.ticks.tolist(), r.spike_trains.neurons.tolist())
    (free, fp_free), (high, fp_high), (_low, fp_low) = run(None), run(1e12), run(1.0)
    assert fp_high == fp_free and free.counts["potentiation"] > 0
    assert "most_writes" not in free.workload_report["synapse_device"]
    assert high.workload_report["synapse_device"]["cells_past_endurance"] == 0
    assert fp_low != fp_free  # a cell writable once: the run learns something else


def test_the_report_names_the_top_cell_by_core_row_column_and_half(small_chip, small_workload):
    """The most-written cell on core 2, axon row 5 (global axon 69), its G- half: every field of its
    address differs from the others, so a core read as a row (or a row as a core) shows."""
    a = _arrays(small_chip, small_workload)
    assert a.axons_per_core == 32 and a.chip_core is None  # chip core = array core here
    s = int(a.row_ptr[69]) + 1  # the second synapse of axon 69
    wear = dv.Endurance(a, 4)
    wear.writes[s] = [3, 7]
    wear.writes[0] = [6, 0]
    rep = wear.report()
    assert rep["most_written_cell"] == [2, 5, int(a.row_neurons[s]), 1]
    assert (rep["most_writes"], rep["cells_written"], rep["synapses_written"], rep["cells_past_endurance"],
            rep["writes"]) == (7, 3, 2, 2, 16)
    assert rep["fraction_past_endurance"] == 2 / (2 * 4 * 32 * 8)


def test_the_report_of_an_unwritten_wear_and_of_a_network_without_synapses(small_chip, small_workload):
    """No write yet: the most-written cell is the first (synapse 0, G+) with 0 writes. No synapse at
    all: no cell, 0 of everything, and the address of core 0's first row, column 0, G+."""
    a = _arrays(small_chip, small_workload)
    rep = dv.Endurance(a, 2).report()
    assert rep == {"endurance_writes": 2, "most_writes": 0, "most_written_cell": [0, 0, int(a.row_neurons[0]), 0],
                   "cells_written": 0, "synapses_written": 0, "cells_past_endurance": 0,
                   "fraction_past_endurance": 0.0, "writes": 0}
    empty = type("NoSynapses", (), {"n_synapses": 0, "axons_per_core": 32, "row_neurons": np.empty(0, np.int16),
                                    "chip_cores": staticmethod(lambda c: c + 7),
                                    "synapse_axons": staticmethod(lambda: np.empty(0, np.int64))})()
    rep = dv.Endurance(empty, 3).report()
    assert rep == {"endurance_writes": 3, "most_writes": 0, "most_written_cell": [7, 0, 0, 0],
                   "cells_written": 0, "synapses_written": 0, "cells_past_endurance": 0,
                   "fraction_past_endurance": 0.0, "writes": 0}


def test_take_lets_exactly_limit_writes_through_per_cell_and_half():
    """take: the k-th pulse to a cell takes for k <= limit; each half counts alone; a per-synapse
    half array pulses each synapse's own cell."""
    fake = type("A", (), {"n_synapses": 3})()
    wear = dv.Endurance(fake, 2.0)
    syn = np.array([0, 2])
    assert wear.take(syn, 0).tolist() == [True, True]
    assert wear.take(syn, 0).tolist() == [True, True]
    assert wear.take(syn, 0).tolist() == [False, False]
    assert wear.take(np.array([0, 1, 2]), np.array([1, 0, 1])).tolist() == [True, True, True]
    assert wear.writes.tolist() == [[3, 1], [1, 0], [3, 1]]
    assert wear.stuck.tolist() == [[True, False], [False, False], [True, False]]
    assert dv.Endurance(fake, 0).take(np.array([1]), 1).tolist() == [False]
