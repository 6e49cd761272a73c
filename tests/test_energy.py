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
