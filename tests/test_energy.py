"""The ledger: counts x per-event energy, terms sum to the total, ratios are labelled and derived."""
from __future__ import annotations

import math

import numpy as np
import pytest

from neuroemu import simulate
from neuroemu.config import chip_from_data, workload_from_data
from neuroemu.config.loader import workload_for_network_file
from neuroemu.engine.energy import Ledger, figures, total_j
from neuroemu.errors import ConfigError


def test_breakdown_is_counts_times_energy(small_chip):
    chip = chip_from_data(small_chip, "tiny.yaml")
    ledger = Ledger()
    ledger.add("synaptic_op", 1000)
    ledger.add("neuron_update", 10)
    ledger.add("neuron_update_active", 4)
    ledger.add("spike", 7)
    ledger.add("hop:x", 11)
    ledger.add("hop:y", 5)
    b = ledger.breakdown_j(chip.energy, 0.002)
    assert math.isclose(b["synaptic"], 1000 * 1.5e-12)
    assert math.isclose(b["neuron_update"], (10 * 0.25 + 4 * 0.5) * 1e-12)
    assert math.isclose(b["spike"], 7 * 3.0e-12)
    assert math.isclose(b["hop_x"], 11 * 2.3e-12) and math.isclose(b["hop_y"], 5 * 2.3e-12)
    assert math.isclose(b["static"], 1e-3 * 0.002)
    total = total_j(b)
    assert abs(sum(b.values()) - total) / total < 1e-12
    f = figures(b, 1000, 0.002)
    assert math.isclose(f["pj_per_sop"], total / 1000 / 1e-12)
    assert math.isclose(f["pj_per_sop_synaptic"], 1.5)
    assert math.isclose(f["power_w"], total / 0.002)
    assert math.isclose(f["gsops_per_w"], 1000 / total / 1e9)


def test_per_class_hop_energy(small_chip):
    small_chip["energy"]["hop_class_pj"] = {"x": 3.0, "y": {"value": 4.0, "source": "Loihi Table 2"}}
    chip = chip_from_data(small_chip, "tiny.yaml")
    ledger = Ledger()
    ledger.add("hop:x", 2)
    ledger.add("hop:y", 3)
    b = ledger.breakdown_j(chip.energy, 1.0)
    assert math.isclose(b["hop_x"], 6e-12) and math.isclose(b["hop_y"], 12e-12)


def test_no_sops_gives_no_ratio(small_chip):
    chip = chip_from_data(small_chip, "tiny.yaml")
    b = Ledger().breakdown_j(chip.energy, 1.0)
    assert figures(b, 0, 1.0)["pj_per_sop"] is None


def test_learning_updates_are_charged_by_direction(small_chip):
    small_chip["energy"]["learning_update_pj"] = 120.0
    small_chip["energy"]["depression_pj"] = {"value": 50.0, "source": "PCM RESET, Kuzum 2012"}
    chip = chip_from_data(small_chip, "tiny.yaml")
    ledger = Ledger()
    ledger.add("potentiation", 3)
    ledger.add("depression", 2)
    b = ledger.breakdown_j(chip.energy, 1.0)
    assert math.isclose(b["potentiation"], 3 * 120.0 * 1e-12)
    assert math.isclose(b["depression"], 2 * 50.0 * 1e-12)
    # one direction alone is still charged, the other shown at 0; no learning at all shows neither term
    only_pot = Ledger()
    only_pot.add("potentiation", 4)
    b = only_pot.breakdown_j(chip.energy, 1.0)
    assert b["potentiation"] == 4 * 120.0 * 1e-12 and b["depression"] == 0.0
    only_dep = Ledger()
    only_dep.add("depression", 5)
    b = only_dep.breakdown_j(chip.energy, 1.0)
    assert b["depression"] == 5 * 50.0 * 1e-12 and b["potentiation"] == 0.0
    assert "potentiation" not in Ledger().breakdown_j(chip.energy, 1.0)


# --- clocking: clock per core tick, handshakes per event, gating under gals ----------------------------

CLOCK_PJ, HANDSHAKE_PJ = 7.0, 0.5


def _clocked_chip(small_chip, mode):
    small_chip["timing"]["mode"] = mode
    small_chip["energy"]["clock_pj_per_core_tick"] = {"value": CLOCK_PJ, "source": "test"}
    small_chip["energy"]["handshake_pj"] = {"value": HANDSHAKE_PJ, "source": "test"}
    return chip_from_data(small_chip, "tiny.yaml")


def _chain(tmp_path, ticks=20):
    """Input 0 -> neuron 0 -> neuron 1 (delay 3), threshold 1: every delivery fires at once; packed on
    core 0 of the 4-core tiny chip, so cores 1-3 never have work."""
    np.savez(tmp_path / "chain.npz", src=np.array([0, 0]), dst=np.array([0, 1]), weight=np.array([1.0, 1.0]),
             delay=np.array([1, 3]), src_input=np.array([1, 0]), threshold=np.array([1.0, 1.0]),
             input_times=np.array([2, 10]), input_ids=np.array([0, 0]))
    return workload_for_network_file(tmp_path / "chain.npz", ticks=ticks, mapping="pack")


def test_gals_clocks_only_cores_with_work(tmp_path, small_chip):
    wl = _chain(tmp_path)
    gals = simulate(_clocked_chip(small_chip, "gals"), wl, record_spikes=True)
    trains = gals.spike_trains
    neurons_per_core = small_chip["core"]["neurons"]
    assert set((trains.neurons // neurons_per_core).tolist()) == {0}  # only core 0 ever works
    # each delivery fires its neuron in the same tick, so core 0 works exactly in the ticks with a spike
    busy_ticks = len(np.unique(trains.ticks))
    assert busy_ticks == 4 and gals.counts["clock_core_tick"] == busy_ticks
    assert gals.energy_breakdown_j["clock"] == busy_ticks * CLOCK_PJ * 1e-12


def _quiet_cores_workload(small_workload, rate_hz=0.0, ticks=40, stochastic=False):
    """Input on core 0 only, no recurrent spikes, no leak: cores 1-3 hold enabled neurons that never
    have work (no input, nothing to leak, never firing)."""
    small_workload["ticks"] = ticks
    small_workload["network"].update(rate_hz=rate_hz, stochastic=stochastic, threshold=3, recurrent_fraction=0.0)
    small_workload["inputs"][0].update(cores=1, rate_hz=30.0)
    return workload_from_data(small_workload, "w.yaml")


def test_gals_charges_a_core_with_no_work_neither_clock_nor_neuron_updates(small_chip, small_workload):
    from conservation import run_traced
    wl = _quiet_cores_workload(small_workload)
    n_per, ticks = small_chip["core"]["neurons"], 40
    gals, trace = run_traced(_clocked_chip(small_chip, "gals"), wl)
    axons_per_core = small_chip["core"]["axons"]
    fired_ticks = set((gals.spike_trains.ticks[gals.spike_trains.neurons // n_per == 0]).tolist())
    assert set((gals.spike_trains.neurons // n_per).tolist()) == {0}
    busy = [t for t, d in enumerate(trace.delivered) if np.any(d // axons_per_core == 0) or t in fired_ticks]
    assert 0 < len(busy) < ticks  # core 0 itself idles in some ticks
    # only core 0 has work: one clock and n_per neuron updates (active or not) in each tick it has work
    assert gals.counts["clock_core_tick"] == len(busy)
    assert gals.counts.get("neuron_update", 0) + gals.counts["neuron_update_active"] == n_per * len(busy)
    assert gals.energy_breakdown_j["clock"] == len(busy) * CLOCK_PJ * 1e-12
    assert math.fsum(gals.energy_breakdown_j.values()) == gals.energy_j
    # the same run under sync: every core clocked and every enabled neuron updated, every tick
    sync = simulate(_clocked_chip(small_chip, "sync"), wl)
    assert sync.counts["clock_core_tick"] == 4 * ticks
    assert sync.counts["neuron_update"] + sync.counts["neuron_update_active"] == 4 * n_per * ticks
    assert sync.spikes == gals.spikes and sync.synaptic_events == gals.synaptic_events


def test_gals_a_leak_is_work_every_tick(small_chip, small_workload):
    # a stochastic leak on every neuron: a step may come in any tick, so every core is clocked every tick
    wl = _quiet_cores_workload(small_workload, rate_hz=20.0, stochastic=True)
    gals = simulate(_clocked_chip(small_chip, "gals"), wl)
    n_per = small_chip["core"]["neurons"]
    assert gals.counts["clock_core_tick"] == 4 * 40
    assert gals.counts.get("neuron_update", 0) + gals.counts["neuron_update_active"] == 4 * n_per * 40


@pytest.mark.parametrize("bias, busy_cores", [(0, 1), (5, 4)])
def test_gals_work_of_the_current_based_lif(small_chip, small_workload, bias, busy_cores):
    """cuba_lif: with no bias a core with no input never moves (u = v = 0); a bias moves every core."""
    small_chip["core"]["neuron_model"] = "cuba_lif"
    wl = _quiet_cores_workload(small_workload)
    wl = workload_from_data({**small_workload, "network": {**small_workload["network"],
                                                           "neuron": {"bias": bias, "du": 4096, "dv": 0}}}, "w.yaml")
    gals = simulate(_clocked_chip(small_chip, "gals"), wl, record_spikes=True)
    n_per = small_chip["core"]["neurons"]
    assert set((gals.spike_trains.neurons // n_per).tolist()) <= {0} or busy_cores == 4
    updates = gals.counts.get("neuron_update", 0) + gals.counts["neuron_update_active"]
    assert updates == n_per * gals.counts["clock_core_tick"]
    if busy_cores == 4:
        assert gals.counts["clock_core_tick"] == 4 * 40
    else:
        assert 0 < gals.counts["clock_core_tick"] < 40  # core 0 alone, and not in every tick


def test_sync_clocks_every_core_every_tick(tmp_path, small_chip):
    sync = simulate(_clocked_chip(small_chip, "sync"), _chain(tmp_path))
    assert sync.counts["clock_core_tick"] == small_chip["cores"] * 20 == 80
    assert sync.energy_breakdown_j["clock"] == 80 * CLOCK_PJ * 1e-12
    assert "handshake" not in sync.counts  # a clocked network moves spikes on clock edges


@pytest.mark.parametrize("mode", ["gals", "barrier"])
def test_handshakes_are_axon_events_plus_hops(small_chip, small_workload, mode):
    chip = _clocked_chip(small_chip, mode)
    r = simulate(chip, workload_from_data(small_workload, "w.yaml"))
    assert r.hops > 100 and r.axon_events > 100
    assert r.counts["handshake"] == r.axon_events + r.hops
    assert r.energy_breakdown_j["handshake"] == r.counts["handshake"] * HANDSHAKE_PJ * 1e-12
    if mode == "barrier":  # no clock; one sync handshake per router per timestep (2 x 2 mesh)
        assert "clock" not in r.energy_breakdown_j and r.counts["barrier_sync"] == 4 * r.ticks
    else:
        assert r.counts["clock_core_tick"] <= small_chip["cores"] * r.ticks
    assert math.fsum(r.energy_breakdown_j.values()) == r.energy_j


def test_async_handshakes_from_the_engine_counters():
    r = simulate("neurogrid", "workloads/neurogrid_small.yaml", ticks=10)
    assert r.hops > 0 and r.counts["handshake"] == r.axon_events + r.hops
    assert "clock_core_tick" not in r.counts
    assert math.fsum(r.energy_breakdown_j.values()) == r.energy_j


def test_clocking_constants_priced_in_the_breakdown(small_chip):
    chip = _clocked_chip(small_chip, "sync")
    ledger = Ledger()
    for name, n in (("synaptic_op", 10), ("clock_core_tick", 12), ("handshake", 5), ("barrier_sync", 3)):
        ledger.add(name, n)
    b = ledger.breakdown_j(chip.energy, 0.001)
    assert b["clock"] == 12 * CLOCK_PJ * 1e-12
    assert b["handshake"] == 5 * HANDSHAKE_PJ * 1e-12 and b["barrier_sync"] == 3 * HANDSHAKE_PJ * 1e-12
    assert total_j(b) == math.fsum([b[k] for k in b])


@pytest.mark.parametrize("key", ["handshake_pj", "clock_pj_per_core_tick"])
def test_negative_clocking_energy_is_one_line(small_chip, key):
    small_chip["energy"][key] = -1.0
    with pytest.raises(ConfigError, match=rf"tiny.yaml: energy.{key}: must be >= 0") as info:
        chip_from_data(small_chip, "tiny.yaml")
    assert "\n" not in str(info.value)


def test_every_term_of_a_run_on_a_chip_that_sets_it(small_chip, small_workload):
    """A run on a chip with a wire term, per-class hops and learning energies: each term by hand.

    The 2 x 2 mesh's links are all one pitch (0.24 mm) long, so the wire is hops x 0.24 mm, charged at
    0.75 pJ/mm (nm counted, converted to mm); potentiation and depression have their own energies."""
    import pytest

    from neuroemu import simulate
    from neuroemu.config import workload_from_data
    small_chip["energy"].update({"wire_pj_per_mm": {"value": 0.75, "source": "test"},
                                 "hop_class_pj": {"x": {"value": 3.0, "source": "test"},
                                                  "y": {"value": 4.5, "source": "test"}},
                                 "potentiation_pj": {"value": 7.25, "source": "test"},
                                 "depression_pj": {"value": 3.5, "source": "test"},
                                 "clock_pj_per_core_tick": {"value": 2.5, "source": "test"}})
    small_workload["learning"] = {"rule": "stdp", "a_plus": 1.5, "a_minus": 1.0, "tau_plus_ticks": 5.0,
                                  "tau_minus_ticks": 5.0, "w_min": -8, "w_max": 8}
    r = simulate(chip_from_data(small_chip, "tiny.yaml"), workload_from_data(small_workload, "w.yaml"))
    c, e = r.counts, r.energy_breakdown_j
    assert r.hops_by_class["x"] > 0 and r.hops_by_class["y"] > 0 and c["potentiation"] > 0 and c["depression"] > 0
    assert c["wire_nm"] == r.hops * 240_000  # every hop one 0.24 mm link, counted in nm
    assert e["wire"] == pytest.approx(r.hops * 0.24 * 0.75e-12, rel=1e-12, abs=0)
    assert e["hop_x"] == pytest.approx(r.hops_by_class["x"] * 3.0e-12, rel=1e-12, abs=0)
    assert e["hop_y"] == pytest.approx(r.hops_by_class["y"] * 4.5e-12, rel=1e-12, abs=0)
    assert e["potentiation"] == pytest.approx(c["potentiation"] * 7.25e-12, rel=1e-12, abs=0)
    assert e["depression"] == pytest.approx(c["depression"] * 3.5e-12, rel=1e-12, abs=0)
    assert e["synaptic"] == pytest.approx(r.synaptic_events * 1.5e-12, rel=1e-12, abs=0)
    assert e["neuron_update"] == pytest.approx((c["neuron_update"] * 0.25 + c["neuron_update_active"] * 0.5) * 1e-12,
                                               rel=1e-12, abs=0)
    assert e["spike"] == pytest.approx(r.spikes * 3.0e-12, rel=1e-12, abs=0)
    assert e["static"] == pytest.approx(1.0e-3 * r.ticks * 1e-3, rel=1e-12, abs=0)  # 1 mW for ticks x 1 ms
    assert c["clock_core_tick"] == r.cores * r.ticks  # sync clocks every core every tick
    assert e["clock"] == pytest.approx(r.cores * r.ticks * 2.5e-12, rel=1e-12, abs=0)
    assert set(e) == {"synaptic", "neuron_update", "spike", "potentiation", "depression", "hop_x", "hop_y",
                      "wire", "clock", "static"}


def test_figures_of_a_run_that_cost_nothing():
    """A chip charging nothing: pJ/SOP 0, no power, and no GSOPS/W (not a division by zero)."""
    zero = {"synaptic": 0.0, "neuron_update": 0.0, "spike": 0.0, "static": 0.0}
    assert figures(zero, sops=10, sim_time_s=1e-3) == {"pj_per_sop": 0.0, "pj_per_sop_synaptic": 0.0,
                                                        "power_w": 0.0, "gsops_per_w": None}
    assert figures(zero, sops=0, sim_time_s=0.0) == dict.fromkeys(("pj_per_sop", "pj_per_sop_synaptic", "power_w",
                                                                   "gsops_per_w"))


def _gals_arrays(**over):
    """A stub of 4 cores x 2 neurons x 3 axons, every state at rest (two synaptic currents)."""
    from types import SimpleNamespace
    n = 8
    params = SimpleNamespace(bias=np.zeros(n, np.int32), dv=np.zeros(n, np.int32), leak=np.zeros(n, np.int32),
                             threshold_mask=np.zeros(n, np.int32))
    a = SimpleNamespace(n_cores=4, neurons_per_core=2, axons_per_core=3, n_neurons=n, params=params,
                        u=np.zeros(2 * n, np.int32), v=np.zeros(n, np.int32), refractory_left=np.zeros(n, np.int32))
    for k, v in over.items():
        setattr(params if k in ("bias", "dv", "leak", "threshold_mask") else a, k, v)
    return a


def test_gals_work_by_hand_current_based():
    """Which cores can change on their own, neuron by neuron (current-based kernels): core 1 has a
    current of 1 in its second synaptic current, core 2 a refractory countdown of 1, core 3 a v of 1
    that a voltage decay of 1 moves; core 0 only a disabled neuron with a current, and a v with no
    decay (neither is work). Then a delivery to axon 4 (core 1) and a spike of neuron 1 (core 0)."""
    from neuroemu.engine.energy import GalsWork
    u = np.zeros(16, np.int32)
    u[8 + 2] = 1          # current 1 of neuron 2 (core 1)
    u[1] = 7              # current 0 of neuron 1 (core 0): disabled
    a = _gals_arrays(u=u, refractory_left=np.array([0, 0, 0, 0, 1, 0, 0, 0], np.int32),
                     v=np.array([5, 0, 0, 0, 0, 0, 0, 1], np.int32), dv=np.array([0, 0, 0, 0, 0, 0, 0, 1], np.int32))
    enabled = np.array([1, 0, 1, 1, 1, 1, 0, 1], bool)
    work = GalsWork(a, enabled, "cuba")
    assert work.enabled_per_core.tolist() == [1, 2, 2, 1] and not work.always.any()
    work.start()
    assert work.busy.tolist() == [False, True, True, True]
    # nothing moves on its own once the state is at rest
    a.u[:], a.refractory_left[:], a.v[:] = 0, 0, 0
    work.start()
    assert work.busy.tolist() == [False, False, False, False]
    assert work.finish(np.empty(0, np.int64), np.empty(0, np.int64)) == (0, 0)
    work.start()
    assert work.finish(np.array([4]), np.array([1])) == (2, 1 + 2)
    # a bias is work every tick, but only on an enabled neuron
    biased = GalsWork(_gals_arrays(bias=np.array([0, 0, 0, 0, 0, 0, 3, 0], np.int32)), enabled, "cuba")
    assert biased.always.tolist() == [False, False, False, False]
    biased = GalsWork(_gals_arrays(bias=np.array([0, 0, 0, 0, 0, -2, 0, 0], np.int32)), enabled, "cuba")
    biased.start()
    assert biased.always.tolist() == biased.busy.tolist() == [False, False, True, False]


def test_gals_work_by_hand_truenorth_and_global_ids():
    """TrueNorth: a leak or a stochastic threshold on an enabled neuron is work every tick (core 0 by
    its leak, core 3 by its threshold mask; core 1's leaky neuron is disabled). A rank's block of cores
    takes global ids: axon 30 + 7 is its core 2, neuron 16 + 3 its core 1; start clears them again."""
    from neuroemu.engine.energy import GalsWork
    a = _gals_arrays(leak=np.array([0, -1, 0, 2, 0, 0, 0, 0], np.int32),
                     threshold_mask=np.array([0, 0, 0, 0, 0, 0, 0, 3], np.int32))
    enabled = np.array([1, 1, 1, 0, 1, 1, 1, 1], bool)
    work = GalsWork(a, enabled, "truenorth", first_axon=30, first_neuron=16)
    assert work.always.tolist() == [True, False, False, True]
    work.start()
    assert work.finish(np.array([37, 37]), np.array([19])) == (4, 2 + 1 + 2 + 2)
    work.start()
    assert work.busy.tolist() == [True, False, False, True]
    assert work.finish(np.empty(0, np.int64), np.array([16])) == (2, 2 + 2)


def test_ledger_counts_by_hand():
    """A zero adds no counter (records list only what happened); hops are every hop:<class> counter
    and nothing else; a counter never added reads 0."""
    ledger = Ledger()
    ledger.add("spike", 0)
    ledger.add("hop:x", np.int64(3))
    ledger.add("hop:chip", 4)
    ledger.add("hops_note", 100)   # not a hop class
    ledger.add("hop:x", 2)
    assert dict(ledger.counts) == {"hop:x": 5, "hop:chip": 4, "hops_note": 100}
    assert ledger.hops() == 9 and ledger.get("spike") == 0 and type(ledger.get("hop:x")) is int


def test_figures_by_hand():
    """3 pJ synaptic + 5 pJ else over 4 SOPs in 2 ns: 2 pJ/SOP all-in, 0.75 synaptic, 4 mW, 4 SOPs / 8 pJ = 500 GSOPS/W."""
    f = figures({"synaptic": 3e-12, "static": 5e-12}, sops=4, sim_time_s=2e-9)
    assert f == {"pj_per_sop": pytest.approx(2.0, rel=1e-12, abs=0),
                 "pj_per_sop_synaptic": pytest.approx(0.75, rel=1e-12, abs=0),
                 "power_w": pytest.approx(4e-3, rel=1e-12, abs=0), "gsops_per_w": pytest.approx(500.0, rel=1e-12, abs=0)}
    assert total_j({"a": 1e16, "b": 1.0, "c": -1e16}) == 1.0  # summed exactly (fsum): a plain sum loses the 1
