"""Plots: every kind draws a non-empty PNG with the expected axes; missing matplotlib is a clear error."""
from __future__ import annotations

import copy
import json
import sys

import numpy as np
import pytest
from click.testing import CliRunner

pytest.importorskip("matplotlib", reason="matplotlib is not installed (pip install neuroemu[plots])")

from neuroemu.studies import plots  # noqa: E402
from neuroemu.cli.app import main  # noqa: E402
from neuroemu.config import chip_from_data, workload_from_data  # noqa: E402
from neuroemu.errors import NeuroEmuError  # noqa: E402
from neuroemu.studies.results import write_run_output  # noqa: E402
from neuroemu.engine.run import simulate  # noqa: E402
from neuroemu.studies.sweep import sweep  # noqa: E402

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _run_dir(tmp_path, small_chip, small_workload, *, spikes=True, kind="mesh", name="run"):
    chip = copy.deepcopy(small_chip)
    if kind != "mesh":
        chip["topology"] = {"kind": kind}
    result = simulate(chip_from_data(chip, "tiny"), workload_from_data(small_workload, "tiny_workload"),
                      ticks=30, record_spikes=spikes)
    return write_run_output(result, tmp_path / name), result


def _labels(fig):
    ax = fig.axes[0]
    return ax.get_xlabel(), ax.get_ylabel()


def _check_png(path):
    data = path.read_bytes()
    assert data.startswith(PNG_MAGIC) and len(data) > 2000


@pytest.mark.parametrize("kind, labels", [
    ("raster", ("tick", "core")),
    ("energy", ("energy (J)", "term")),
    ("links", ("x (mm)", "y (mm)")),
    ("hops", ("hops per spike", "spikes")),
])
def test_run_kinds_draw_a_png_with_the_expected_axes(kind, labels, tmp_path, small_chip, small_workload):
    run_dir, _ = _run_dir(tmp_path, small_chip, small_workload)
    out = tmp_path / f"{kind}.png"
    fig = plots.plot(run_dir, kind, out)
    assert _labels(fig) == labels
    _check_png(out)


def test_raster_shows_every_spike(tmp_path, small_chip, small_workload):
    run_dir, result = _run_dir(tmp_path, small_chip, small_workload)
    fig = plots.plot_raster(run_dir)
    offsets = fig.axes[0].collections[0].get_offsets()
    assert len(offsets) == len(result.spike_trains)
    assert np.array_equal(np.asarray(offsets[:, 0]), result.spike_trains.ticks)
    assert fig.axes[0].get_ylim() == (0, 4)


def test_links_and_hops_without_spikes_replay_the_run(tmp_path, small_chip, small_workload):
    with_spikes, result = _run_dir(tmp_path, small_chip, small_workload, kind="htree", name="a")
    without, _ = _run_dir(tmp_path, small_chip, small_workload, kind="htree", spikes=False, name="b")
    assert not (without / "spikes.npz").exists()
    a, b = plots.load_run(with_spikes), plots.load_run(without)
    ua, ub = plots.link_utilization(a), plots.link_utilization(b)
    assert np.array_equal(ua["utilization"], ub["utilization"])
    assert len(ua["src"]) == 8  # 4 leaves and a root: 4 links each way
    report = result.timing_report
    if "max_link_utilization" in report:  # the run's own per-link figures agree with the replay
        assert ua["utilization"].max() == pytest.approx(report["max_link_utilization"], rel=1e-12)
    hist = plots.hop_histogram(b)
    assert np.array_equal(hist, plots.hop_histogram(a))
    assert hist.sum() * result.hops_per_spike == pytest.approx((np.arange(len(hist)) * hist).sum())
    assert set(np.flatnonzero(hist)) <= {0, 2}  # on a one-level H-tree a route is 0 or 2 hops


def test_link_stats_and_hop_histogram_in_the_record_are_used_as_given(tmp_path, small_chip, small_workload):
    run_dir, result = _run_dir(tmp_path, small_chip, small_workload, spikes=False)
    record = json.loads((run_dir / "record.json").read_text())
    record["link_stats"] = {"src": [0, 1], "dst": [1, 0], "utilization": [0.25, 0.5]}
    record["router_pos_mm"] = [[0.0, 0.0], [1.0, 0.0]]
    record["hop_histogram"] = {"0": 3, "2": 5}
    run = plots.RunOutput(record, None, "<test>")
    assert plots.link_utilization(run)["utilization"].tolist() == [0.25, 0.5]
    assert plots.hop_histogram(run).tolist() == [3, 0, 5]
    fig = plots.plot_links(run)
    assert "peak utilisation 0.5" in fig.axes[0].get_title()


@pytest.fixture
def sweep_dir(tmp_path, small_chip, small_workload):
    small_workload["ticks"] = 30
    spec = {"name": "tiny", "base": {"chip": small_chip, "workload": small_workload},
            "axes": [{"key": "workload.network.rate_hz", "values": [10.0, 40.0, 80.0]},
                     {"key": "chip.topology.kind", "values": ["mesh", "htree"]}],
            "repetitions": 2, "seed": 3}
    out = tmp_path / "sweep"
    sweep(spec, out=out)
    return out


def test_sweep_plot_one_line_per_value_of_the_other_axis(sweep_dir, tmp_path):
    out = tmp_path / "s.png"
    fig = plots.plot(sweep_dir, "sweep", out)  # defaults: x = first axis, group = second, y = GSOPS/W
    _check_png(out)
    ax = fig.axes[0]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("workload.network.rate_hz", "GSOPS/W")
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["chip.topology.kind = mesh",
                                                                   "chip.topology.kind = htree"]
    fig = plots.plot_sweep(sweep_dir / "results.csv", y="hops_per_spike", x="chip.topology.kind",
                           group="workload.network.rate_hz", where={"repetition": 0})
    ax = fig.axes[0]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("chip.topology.kind", "hops per spike")
    assert [t.get_text() for t in ax.get_xticklabels()] == ["htree", "mesh"]  # a categorical axis
    assert len(ax.get_lines()) == 3


def test_sweep_plot_from_a_table_and_unknown_columns(sweep_dir):
    import neuroemu.studies.results as res
    rows, _ = res.read_results(sweep_dir)
    fig = plots.plot_sweep(rows, y="power_w", x="workload.network.rate_hz")
    assert _labels(fig) == ("workload.network.rate_hz", "power (W, energy / chip time)")
    with pytest.raises(NeuroEmuError, match=r"no column 'gsops' for y; columns: point, point_id"):
        plots.plot_sweep(sweep_dir, y="gsops")


def test_missing_matplotlib_says_what_to_install(tmp_path, small_chip, small_workload, monkeypatch):
    run_dir, _ = _run_dir(tmp_path, small_chip, small_workload)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(NeuroEmuError, match=r"pip install neuroemu\[plots\]"):
        plots.plot(run_dir, "energy", tmp_path / "e.png")


def test_cli_plot(tmp_path, small_chip, small_workload, sweep_dir):
    run_dir, _ = _run_dir(tmp_path, small_chip, small_workload)
    runner = CliRunner()
    res = runner.invoke(main, ["plot", str(run_dir), "--kind", "hops", "--out", str(tmp_path / "h.png")])
    assert res.exit_code == 0, res.output
    _check_png(tmp_path / "h.png")
    res = runner.invoke(main, ["plot", str(sweep_dir), "--kind", "sweep", "--y", "energy_j", "--where",
                               "chip.topology.kind=mesh", "--logx", "--out", str(tmp_path / "s.png")])
    assert res.exit_code == 0, res.output
    _check_png(tmp_path / "s.png")
    res = runner.invoke(main, ["plot", str(tmp_path), "--kind", "energy", "--out", str(tmp_path / "x.png")])
    assert res.exit_code == 1 and "no run record here" in res.output and "Traceback" not in res.output
    res = runner.invoke(main, ["plot", str(run_dir), "--kind", "energy", "--x", "a", "--out", str(tmp_path / "x.png")])
    assert res.exit_code == 2 and "apply to --kind sweep only" in res.output
