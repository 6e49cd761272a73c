"""`neuroemu matrix`: every chip x tick semantics x workload x network fidelity runs or refuses in one line."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from click.testing import CliRunner

from neuroemu import simulate
from neuroemu.cli.app import main
from neuroemu.config.loader import load_chip
from neuroemu.errors import ConfigError
from neuroemu.studies.matrix import NETWORKS, TIMINGS, WORKLOADS, Cell, document, markdown, run_matrix

DOC = Path(__file__).resolve().parent.parent / "docs" / "timing-and-networks-matrix.md"
CHEAP = ["loihi", "neurogrid", "rram_htree"]  # the fast test's chips (TrueNorth's 1 M neurons take ~1 s a run)


@pytest.fixture(scope="module")
def cheap_cells():
    return run_matrix(CHEAP)


def test_every_cell_runs_or_refuses_in_one_line(cheap_cells):
    assert len(cheap_cells) == len(CHEAP) * len(TIMINGS) * len(WORKLOADS) * len(NETWORKS)
    assert [(c.chip, c.workload, c.network, c.timing) for c in cheap_cells[:5]] == [
        ("loihi", "default", "analytic", t) for t in TIMINGS] + [("loihi", "default", "packet", "sync")]
    for c in cheap_cells:
        assert c.status in ("ok", "refused"), c
        assert c.figure and "\n" not in c.figure and "neuroemu-matrix-" not in c.figure
        if c.status == "ok":
            assert c.pj_per_sop is not None and math.isfinite(c.pj_per_sop) and "pJ/SOP" in c.figure
            assert (c.accuracy is not None) == (c.workload == "digits")
    ok = {(c.chip, c.workload) for c in cheap_cells if c.status == "ok"}
    assert {("loihi", "default"), ("loihi", "digits"), ("rram_htree", "default"), ("rram_htree", "digits")} <= ok
    # Neurogrid runs every workload clockless, and its analog neurons refuse every clocked semantics
    for c in (c for c in cheap_cells if c.chip == "neurogrid"):
        if c.timing == "async":
            assert c.status == "ok", c
        else:
            assert c.status == "refused" and "no clock and no tick kernel" in c.figure, c


def test_a_cell_is_the_run_it_names(cheap_cells):
    from neuroemu.studies.matrix import DIGITS_SAMPLES
    from neuroemu.config.loader import load_workload
    wl = load_workload("workloads/digits.yaml")
    ticks = DIGITS_SAMPLES * (wl.classify.present_ticks + wl.classify.settle_ticks)
    r = simulate(load_chip("loihi"), wl, ticks=ticks, timing="gals", network="packet")
    cell = next(c for c in cheap_cells if (c.chip, c.timing, c.workload, c.network) == ("loihi", "gals", "digits",
                                                                                          "packet"))
    assert cell.pj_per_sop == r.pj_per_sop
    assert cell.accuracy == r.workload_report["classification"]["accuracy"]


def test_markdown_numbers_identical_reasons_once():
    cells = [Cell("a", "sync", "default", "analytic", "ok", "1.5 pJ/SOP", 1.5),
             Cell("a", "async", "default", "analytic", "refused", "x: no async model"),
             Cell("b", "sync", "default", "analytic", "refused", "y: too big | really"),
             Cell("b", "async", "default", "analytic", "refused", "x: no async model")]
    md = markdown(cells).splitlines()
    assert md[0] == "| chip | workload | network | sync | async |"
    assert md[2] == "| a | default | analytic | 1.5 pJ/SOP | refused [1] |"
    assert md[3] == "| b | default | analytic | refused [2] | refused [1] |"
    assert "[1] x: no async model  " in md and "[2] y: too big / really  " in md
    assert md[-1] == "1 of 4 cells run; 3 refused or crashed."


def test_unknown_names_are_one_line_errors():
    with pytest.raises(ConfigError, match="unknown timing 'clockless'; valid: sync, gals, barrier, async"):
        run_matrix(["loihi"], timings=("clockless",))
    r = CliRunner().invoke(main, ["matrix", "--chips", "loihi", "--workloads", "mnist"])
    assert r.exit_code == 1 and "unknown workload 'mnist'" in r.output and "Traceback" not in r.output
    r = CliRunner().invoke(main, ["matrix", "--chips", "nochip"])
    assert r.exit_code == 1 and "nochip" in r.output and "Traceback" not in r.output


def test_cli_json_and_markdown(tmp_path):
    md = tmp_path / "m.md"
    r = CliRunner().invoke(main, ["matrix", "--chips", "rram_htree", "--workloads", "default", "--networks",
                                  "analytic", "--json", "-", "--markdown", str(md)])
    assert r.exit_code == 0, r.output
    cells = json.loads(r.output)["cells"]
    assert [c["timing"] for c in cells] == list(TIMINGS)
    page = md.read_text()
    assert page.startswith("# Timing semantics") and "| chip | workload | network | sync | gals | barrier | async |" in page


@pytest.mark.slow
def test_the_docs_table_is_the_generated_one():
    """docs/timing-and-networks-matrix.md is `neuroemu matrix --markdown -` verbatim (about a minute)."""
    assert DOC.read_text() == document(run_matrix()) + "\n"
