"""The ledger: counts x per-event energy, terms sum to the total, ratios are labelled and derived."""
from __future__ import annotations

import math

from neuroemu.config import chip_from_data
from neuroemu.engine.energy import Ledger, figures, total_j


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
                                 "depression_pj": {"value": 3.5, "source": "test"}})
    small_workload["learning"] = {"rule": "stdp", "a_plus": 1.5, "a_minus": 1.0, "tau_plus_ticks": 5.0,
                                  "tau_minus_ticks": 5.0, "w_min": -8, "w_max": 8}
    r = simulate(chip_from_data(small_chip, "tiny.yaml"), workload_from_data(small_workload, "w.yaml"))
    c, e = r.counts, r.energy_breakdown_j
    assert r.hops_by_class["x"] > 0 and r.hops_by_class["y"] > 0 and c["potentiation"] > 0 and c["depression"] > 0
    assert c["wire_nm"] == r.hops * 240_000  # every hop one 0.24 mm link, counted in nm
    assert e["wire"] == pytest.approx(r.hops * 0.24 * 0.75e-12, rel=1e-12)
    assert e["hop_x"] == pytest.approx(r.hops_by_class["x"] * 3.0e-12, rel=1e-12)
    assert e["hop_y"] == pytest.approx(r.hops_by_class["y"] * 4.5e-12, rel=1e-12)
    assert e["potentiation"] == pytest.approx(c["potentiation"] * 7.25e-12, rel=1e-12)
    assert e["depression"] == pytest.approx(c["depression"] * 3.5e-12, rel=1e-12)
    assert e["synaptic"] == pytest.approx(r.synaptic_events * 1.5e-12, rel=1e-12)
    assert e["neuron_update"] == pytest.approx((c["neuron_update"] * 0.25 + c["neuron_update_active"] * 0.5) * 1e-12,
                                               rel=1e-12)
    assert e["spike"] == pytest.approx(r.spikes * 3.0e-12, rel=1e-12)
    assert e["static"] == pytest.approx(1.0e-3 * r.ticks * 1e-3, rel=1e-12)  # 1 mW for ticks x 1 ms
    assert set(e) == {"synaptic", "neuron_update", "spike", "potentiation", "depression", "hop_x", "hop_y",
                      "wire", "static"}


def test_figures_of_a_run_that_cost_nothing():
    """A chip charging nothing: pJ/SOP 0, no power, and no GSOPS/W (not a division by zero)."""
    zero = {"synaptic": 0.0, "neuron_update": 0.0, "spike": 0.0, "static": 0.0}
    assert figures(zero, sops=10, sim_time_s=1e-3) == {"pj_per_sop": 0.0, "pj_per_sop_synaptic": 0.0,
                                                        "power_w": 0.0, "gsops_per_w": None}
    assert figures(zero, sops=0, sim_time_s=0.0) == dict.fromkeys(("pj_per_sop", "pj_per_sop_synaptic", "power_w",
                                                                   "gsops_per_w"))
