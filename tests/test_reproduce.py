"""Reproduction rows compute from counted events; the cheap ones run in the default suite."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from neuroemu.studies import reproduce as rp
from neuroemu.cli.app import main
from neuroemu.engine.run import simulate


def test_loihi_rram_pcm_rows_are_ok():
    runs = rp.Runs(None, simulate)
    rows = [r for f in (rp.loihi_rows, rp.rram_pcm_rows, rp.biological_rows) for r in f(runs)]
    assert all(r.ok for r in rows), [(r.figure, r.emulated) for r in rows if not r.ok]
    by = {(r.chip, r.figure): r for r in rows}
    synaptic = by[("loihi", "synaptic energy per synaptic op (synaptic term / SOPs)")]
    assert synaptic.emulated == pytest.approx(23.6, rel=1e-12)
    all_in = by[("loihi", "all-in energy per synaptic op, same run (total / SOPs)")]
    assert all_in.emulated > synaptic.emulated
    d = synaptic.to_dict()
    assert list(d) == ["chip", "figure", "published", "unit", "emulated", "rel_error", "tolerance", "conditions",
                       "derived", "ok"]


def test_a_changed_constant_moves_the_figure(tmp_path):
    """Honesty: double Loihi's synaptic op energy in a copy and the synaptic figure doubles."""
    import yaml
    data = yaml.safe_load(open("chips/loihi.yaml"))
    data["energy"]["synaptic_op_pj"] = {"value": 47.2, "source": "test: doubled"}
    path = tmp_path / "loihi2.yaml"
    path.write_text(yaml.safe_dump(data))
    base = simulate("loihi", "workloads/loihi_small.yaml", ticks=20)
    changed = simulate(str(path), "workloads/loihi_small.yaml", ticks=20)
    assert changed.pj_per_sop_synaptic == pytest.approx(2 * base.pj_per_sop_synaptic, rel=1e-12)
    assert changed.energy_j - base.energy_j == pytest.approx(23.6e-12 * base.synaptic_events, rel=1e-9)


def test_truenorth_26_pj_from_a_short_full_chip_run():
    """The full 64 x 64 chip at 20 Hz, 128 synapses: all-in pJ/SOP within 5 % of 26 (100 ticks)."""
    rows = list(rp.truenorth_rows(rp.Runs(100, simulate)))
    head = rows[0]
    assert head.figure == "all-in energy per synaptic event" and head.ok, head
    assert all(r.ok for r in rows), [(r.figure, r.emulated) for r in rows if not r.ok]


@pytest.mark.slow
def test_reproduce_cli_full(tmp_path):
    md = tmp_path / "table.md"
    r = CliRunner().invoke(main, ["reproduce", "--json", "-", "--markdown", str(md)])
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert all(row["ok"] for row in d["rows"]) and md.read_text().startswith("| chip |")
