"""Sweeps: spec checking, point expansion and seeds, execution, crash-safe results and resume."""
from __future__ import annotations

import csv
import importlib
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from neuroemu.cli.app import main
from neuroemu.errors import ConfigError, NeuroEmuError
from neuroemu.studies.results import NONDETERMINISTIC_COLUMNS, ResultsStore, format_cell, parse_cell, write_run_output
from neuroemu.studies.sweep import plan, sweep
from neuroemu.studies.sweepspec import expand, load_sweep_spec, point_seed

REPO = Path(__file__).resolve().parents[1]
#: the module (``neuroemu.studies.sweep`` the attribute may be the function once the package exports it)
sweep_mod = importlib.import_module("neuroemu.studies.sweep")


@pytest.fixture
def spec(small_chip, small_workload):
    """A 2 x 2 grid on the tiny chip, 2 repetitions (8 runs of a few ms)."""
    small_workload["ticks"] = 40
    return {
        "name": "tiny_sweep",
        "base": {"chip": small_chip, "workload": small_workload},
        "axes": [
            {"key": "workload.network.rate_hz", "values": [20.0, 60.0]},
            {"key": "chip.topology", "values": [{"kind": "mesh", "width": 2, "height": 2},
                                                {"kind": "htree"}], "labels": ["mesh", "htree"]},
        ],
        "repetitions": 2,
        "seed": 11,
    }


def _rows(table):
    """A results table as comparable row dicts without the columns that differ between identical runs."""
    records = table.to_dict(orient="records") if hasattr(table, "to_dict") else table
    out = []
    for r in records:
        out.append({k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in r.items()
                    if k not in NONDETERMINISTIC_COLUMNS})
    return out


def _csv_rows(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _no_runs(monkeypatch):
    def fail(*a, **k):
        raise AssertionError("a point ran before the spec was checked")
    monkeypatch.setattr(sweep_mod, "run_point", fail)


# --- the spec --------------------------------------------------------------------------------

@pytest.mark.parametrize("axis, needle", [
    ({"key": "chip.energy.hop_pjx", "values": [1.0]}, "axes[1] (chip.energy.hop_pjx)"),
    ({"key": "chip.energyx.hop_pj", "values": [1.0]}, "axes[1].key: chip: no key 'energyx'"),
    ({"key": "chip.energy.hop_pj", "values": [1.0, "lots"]}, "axes[1] (chip.energy.hop_pj): value 'lots'"),
    ({"key": "workload.network.rate_hz", "values": [-5.0]}, "same key as axes[0]"),
    ({"key": "workload.network.cores", "values": [2, 9]}, "axes[1] (workload.network.cores): value 9"),
    ({"key": "workload.inputs[3].rate_hz", "values": [1.0]}, "no item 3"),
    ({"key": "run.ticks", "values": [0]}, "axes[1] (run.ticks): value 0"),
    ({"key": "run.seed", "values": [1]}, "run options that can be swept: ticks, timing"),
    ({"key": "wrkload.ticks", "values": [1]}, "must start with chip., workload., run."),
    ({"key": "chip.topology.kind", "values": ["mesh", "ring"]}, "axes[1] (chip.topology.kind): value 'ring'"),
])
def test_invalid_axis_fails_before_any_point_runs_naming_the_axis(spec, axis, needle, tmp_path, monkeypatch):
    _no_runs(monkeypatch)
    spec["axes"] = [spec["axes"][0], axis]
    with pytest.raises(ConfigError) as err:
        sweep(spec, out=tmp_path / "out")
    assert needle in str(err.value)
    assert not (tmp_path / "out" / "results.csv").exists()


def test_spec_file_errors_name_the_file_and_key(spec, write_yaml, monkeypatch):
    _no_runs(monkeypatch)
    spec["axes"][0] = {"key": "workload.network.rate_hz", "values": [1.0], "range": [1, 2, 3]}
    path = write_yaml("bad_sweep.yaml", spec)
    with pytest.raises(ConfigError, match=r"bad_sweep.yaml: axes\[0\]: needs exactly one of values, range"):
        plan(path)
    spec["axes"][0] = {"key": "workload.network.rate_hz", "values": [1.0]}
    spec["mode"] = "zip"
    with pytest.raises(ConfigError, match=r"bad_sweep.yaml: axes: zip mode needs axes of equal length "
                                          r"\(got \[1, 2\]\)"):
        plan(write_yaml("bad_sweep.yaml", spec))
    spec["mode"] = "random"
    with pytest.raises(ConfigError, match=r"samples: random mode needs samples: N"):
        plan(write_yaml("bad_sweep.yaml", spec))
    spec["modes"] = "grid"
    with pytest.raises(ConfigError, match=r"bad_sweep.yaml: modes: unknown key; valid keys here: axes, base"):
        plan(write_yaml("bad_sweep.yaml", spec))


def test_base_files_are_found_next_to_the_sweep_file(tiny_files, write_yaml, tmp_path, monkeypatch):
    chip_path, workload_path = tiny_files
    monkeypatch.chdir(REPO)  # not the directory of the files
    axes = [{"key": "run.ticks", "values": [5, 10]}]
    both = plan(write_yaml("both.yaml", {"base": {"chip": "tiny.yaml", "workload": "tiny_workload.yaml"},
                                         "axes": axes}))
    alone = plan(write_yaml("alone.yaml", {"base": {"workload": "tiny_workload.yaml"}, "axes": axes}))
    assert both.resolved["base"] == alone.resolved["base"]
    assert both.resolved["base"]["chip"]["name"] == "tiny"  # the chip the workload names, beside it
    assert [t.ticks for t in both.tasks] == [5, 10]
    with pytest.raises(ConfigError, match="nowhere.yaml: no such file"):
        plan(write_yaml("missing.yaml", {"base": {"chip": "nowhere.yaml"}}))


def test_ranges_past_64_bit_integers_expand_or_refuse_in_one_line(spec):
    """YAML integers have no size limit: a range past int64 expands as floats (numpy would take it
    as an object array), one past a float's range is not a number, and random draws of integers
    past int64 are refused in one line."""
    s = load_sweep_spec(dict(spec, axes=[{"key": "chip.energy.hop_pj", "range": [-2**63 - 1, 3.0, 2]}]))
    assert [p.params["chip.energy.hop_pj"] for p in expand(s)] == [-9223372036854775808.0, 3.0]
    with pytest.raises(ConfigError) as err:
        load_sweep_spec(dict(spec, axes=[{"key": "chip.energy.hop_pj", "range": [10**400, 3.0, 2]}]))
    assert "axes[0].range: must be [lo, hi, n] with numbers lo and hi" in str(err.value)
    with pytest.raises(ConfigError) as err:
        load_sweep_spec(dict(spec, mode="random", samples=2,
                             axes=[{"key": "workload.seed", "low": 0, "high": 2**63}]))
    assert "integer low and high are drawn as 64-bit integers: keep them within +-2^63" in str(err.value)


def test_grid_zip_and_range_expansion(spec):
    s = load_sweep_spec(dict(spec, axes=[{"key": "workload.network.rate_hz", "range": [10, 30, 3]},
                                         {"key": "chip.energy.hop_pj", "range": [1.0, 100.0, 3], "log": True}]))
    points = expand(s)
    assert [tuple(p.params.values()) for p in points] == [
        (10, 1.0, ), (10, 10.0), (10, 100.0), (20, 1.0), (20, 10.0), (20, 100.0), (30, 1.0), (30, 10.0), (30, 100.0)]
    assert isinstance(points[0].params["workload.network.rate_hz"], int)
    z = load_sweep_spec(dict(spec, mode="zip", axes=[{"key": "workload.network.rate_hz", "values": [1.0, 2.0]},
                                                     {"key": "run.ticks", "values": [5, 6]}]))
    assert [p.params for p in expand(z)] == [{"workload.network.rate_hz": 1.0, "run.ticks": 5},
                                             {"workload.network.rate_hz": 2.0, "run.ticks": 6}]


def test_random_samples_are_seeded_and_do_not_depend_on_their_number(spec):
    axes = [{"key": "workload.network.rate_hz", "low": 5.0, "high": 50.0},
            {"key": "workload.network.synapses_per_axon", "low": 2, "high": 8},
            {"key": "chip.topology.kind", "choices": ["mesh", "torus"]}]
    few = expand(load_sweep_spec(dict(spec, mode="random", samples=3, axes=axes)))
    many = expand(load_sweep_spec(dict(spec, mode="random", samples=6, axes=axes)))
    assert [p.params for p in few] == [p.params for p in many[:3]]
    assert [p.point_id for p in few] == [p.point_id for p in many[:3]]
    for p in many:
        assert 5.0 <= p.params["workload.network.rate_hz"] <= 50.0
        assert isinstance(p.params["workload.network.synapses_per_axon"], int)
        assert p.params["chip.topology.kind"] in ("mesh", "torus")
    other = expand(load_sweep_spec(dict(spec, mode="random", samples=3, axes=axes, seed=12)))
    assert [p.params for p in other] != [p.params for p in few]


def test_seeds_derive_from_master_point_and_repetition_only(spec):
    p = plan(spec)
    seeds = {(t.point_id, t.repetition): t.seed for t in p.tasks}
    assert len(set(seeds.values())) == len(seeds) == 8
    # a point keeps its seed when the axes around it change
    wider = dict(spec, axes=[dict(spec["axes"][0], values=[60.0, 20.0, 40.0]), spec["axes"][1]])
    wider_seeds = {(t.point_id, t.repetition): t.seed for t in plan(wider).tasks}
    assert all(wider_seeds[k] == v for k, v in seeds.items())
    assert point_seed(11, p.tasks[0].point_id, 0) == p.tasks[0].seed
    # common seeds: one per repetition, shared by every point
    common = plan(dict(spec, common_seeds=True))
    assert {t.seed for t in common.tasks if t.repetition == 0} == {point_seed(11, "", 0, common=True)}
    assert len({t.seed for t in common.tasks}) == 2


# --- running ---------------------------------------------------------------------------------

def test_sweep_writes_csv_parquet_and_resolved_spec(spec, tmp_path):
    out = tmp_path / "out"
    table = sweep(spec, out=out)
    rows = _rows(table)
    assert len(rows) == 8
    assert [(r["point"], r["repetition"]) for r in rows] == [(i, j) for i in range(4) for j in range(2)]
    cols = list(rows[0])
    assert cols[:6] == ["point", "point_id", "repetition", "seed", "workload.network.rate_hz", "chip.topology"]
    assert {"energy_j", "energy_synaptic_j", "energy_static_j", "gsops_per_w", "spikes", "hops_per_spike"} <= set(cols)
    assert {"energy_hop_x_j", "energy_hop_level1_j"} <= set(cols)  # mesh and H-tree link classes side by side
    for r in rows:  # the breakdown columns sum to the total
        terms = [v for k, v in r.items() if k.startswith("energy_") and k.endswith("_j") and k != "energy_j" and v]
        assert sum(terms) == pytest.approx(r["energy_j"], rel=1e-12, abs=0)
    assert {r["chip.topology"] for r in rows} == {"mesh", "htree"}
    on_disk = _csv_rows(out / "results.csv")
    assert len(on_disk) == 8
    resolved = yaml.safe_load((out / "spec.yaml").read_text())
    assert resolved["base"]["chip"]["name"] == "tiny" and resolved["axes"][1]["labels"] == ["mesh", "htree"]
    assert _rows(sweep(out / "spec.yaml", out=out)) == rows  # the resolved spec is the same sweep
    if _has("pyarrow"):
        import pyarrow.parquet as pq
        assert pq.read_table(out / "results.parquet").num_rows == 8


def _has(module: str) -> bool:
    try:
        __import__(module)
    except ImportError:
        return False
    return True


def test_rerun_resumes_and_extended_axes_keep_finished_points(spec, tmp_path, monkeypatch):
    out = tmp_path / "out"
    first = _rows(sweep(spec, out=out))
    calls = []
    real = sweep_mod.run_point
    monkeypatch.setattr(sweep_mod, "run_point", lambda task, runs_dir=None: calls.append(task) or real(task, runs_dir))
    assert _rows(sweep(spec, out=out)) == first
    assert calls == []
    wider = dict(spec, axes=[dict(spec["axes"][0], values=[20.0, 60.0, 40.0]), spec["axes"][1]], repetitions=3)
    seen = []
    table = _rows(sweep(wider, out=out, progress=lambda done, total: seen.append((done, total))))
    assert len(calls) == 18 - 8  # 6 points x 3 repetitions, of which 4 x 2 had run
    # progress starts from the 8 finished runs and counts each new one
    assert seen == [(k, 18) for k in range(8, 19)]
    assert len(table) == 18 and len(_csv_rows(out / "results.csv")) == 18
    by_key = {(r["point_id"], r["repetition"]): r for r in table}
    for r in first:  # finished rows are kept as they were (new points may only add columns)
        new = by_key[(r["point_id"], r["repetition"])]
        assert {k: new[k] for k in r if k != "point"} == {k: v for k, v in r.items() if k != "point"}


def test_a_different_sweep_in_the_same_directory_is_refused(spec, tmp_path):
    out = tmp_path / "out"
    sweep(dict(spec, repetitions=1), out=out)
    other = dict(spec, seed=99)
    with pytest.raises(ConfigError, match=r"holds the results of a different sweep \(seed differs"):
        sweep(other, out=out)
    spec["base"]["chip"]["energy"]["hop_pj"] = 9.0
    with pytest.raises(ConfigError, match=r"base.chip.energy.hop_pj differs"):
        sweep(spec, out=out)


def test_a_half_written_last_line_is_dropped_and_rerun(spec, tmp_path):
    out = tmp_path / "out"
    full = _rows(sweep(spec, out=out))
    path = out / "results.csv"
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[:-1]) + lines[-1][: len(lines[-1]) // 2])  # crash mid-append
    store = ResultsStore(out).open()
    assert store.dropped == 1 and len(store.done) == 7
    assert path.read_bytes().endswith(b"\n")
    assert _rows(sweep(spec, out=out)) == full
    assert len(_csv_rows(path)) == 8


def test_failed_points_are_reported_after_the_others_are_saved(spec, tmp_path, monkeypatch):
    out = tmp_path / "out"
    real = sweep_mod.run_point

    def flaky(task, runs_dir=None):
        if task.point == 2:
            raise NeuroEmuError("boom")
        return real(task, runs_dir)

    monkeypatch.setattr(sweep_mod, "run_point", flaky)
    with pytest.raises(NeuroEmuError, match=r"2 of 8 runs failed.*First: point 2 \(.*\) repetition 0: boom"):
        sweep(spec, out=out)
    assert len(_csv_rows(out / "results.csv")) == 6
    monkeypatch.setattr(sweep_mod, "run_point", real)
    assert len(_rows(sweep(spec, out=out))) == 8


def test_one_and_two_workers_give_identical_results(spec, tmp_path):
    one = _rows(sweep(spec, out=tmp_path / "one", workers=1))
    two = _rows(sweep(spec, out=tmp_path / "two", workers=2))
    assert one == two
    assert multiprocessing.active_children() == []  # the pool was shut down and waited for


class _WatchedPool(sweep_mod.cf.ProcessPoolExecutor):
    """A process pool that notes, at its shutdown, its worker processes and how it was shut down."""

    pools: list = []

    def shutdown(self, wait=True, *, cancel_futures=False):
        procs = list((self._processes or {}).values())
        super().shutdown(wait=wait, cancel_futures=cancel_futures)
        # read at once: a pool shut down without waiting still has live workers here
        self.pools.append({"wait": wait, "exitcodes": [p.exitcode for p in procs], "n": len(procs)})


def _failing_run_point(task, runs_dir=None):
    """run_point, but point 2 fails with a NeuroEmuError in its worker (module level: picklable)."""
    if task.point == 2:
        raise NeuroEmuError("boom")
    return _REAL_RUN_POINT(task, runs_dir)


@pytest.mark.skipif(multiprocessing.get_start_method() != "fork",
                    reason="the patched worker reaches the pool only through fork")
def test_a_local_pool_is_shut_down_and_its_processes_joined_before_sweep_returns(spec, tmp_path, monkeypatch):
    """No race with the pool's teardown: when sweep returns, every worker process it started has
    exited (exit code 0), on success and when a run fails."""
    monkeypatch.setattr(_WatchedPool, "pools", [])
    monkeypatch.setattr(sweep_mod.cf, "ProcessPoolExecutor", _WatchedPool)
    sweep(spec, out=tmp_path / "ok", workers=2)
    monkeypatch.setattr(sweep_mod, "run_point", _failing_run_point)
    with pytest.raises(NeuroEmuError, match=r"2 of 8 runs failed.*boom"):
        sweep(spec, out=tmp_path / "bad", workers=2)
    assert [p["n"] for p in _WatchedPool.pools] == [2, 2]
    for pool in _WatchedPool.pools:
        assert pool["wait"] is True and pool["exitcodes"] == [0, 0]


def test_dask_local_cluster_gives_identical_results(spec, tmp_path):
    distributed = pytest.importorskip("dask.distributed", reason="dask[distributed] is not installed "
                                      "(pip install neuroemu[distributed])")
    one = _rows(sweep(spec, out=tmp_path / "one", workers=1))
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                  dashboard_address=None) as cluster:
        on_dask = _rows(sweep(spec, out=tmp_path / "dask", scheduler=cluster.scheduler_address))
        with pytest.raises(ValueError):  # the client the sweep opened from the address is closed again
            distributed.default_client()
    assert on_dask == one


def test_missing_dask_is_a_clear_error(spec, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "dask.distributed", None)  # import fails
    with pytest.raises(NeuroEmuError, match=r"pip install neuroemu\[distributed\]"):
        sweep(spec, out=tmp_path / "out", scheduler="tcp://127.0.0.1:1")


_REAL_RUN_POINT = sweep_mod.run_point


def _dying_run_point(task, runs_dir=None):
    """run_point, but the worker running point 3's second repetition dies (module level: picklable)."""
    if task.point == 3 and task.repetition == 1:
        time.sleep(0.3)  # let the others finish first
        os._exit(1)      # the worker process dies (as if killed or out of memory)
    return _REAL_RUN_POINT(task, runs_dir)


@pytest.mark.skipif(multiprocessing.get_start_method() != "fork",
                    reason="the patched worker reaches the pool only through fork")
def test_a_killed_worker_loses_no_finished_point(spec, tmp_path, monkeypatch):
    out = tmp_path / "out"
    monkeypatch.setattr(sweep_mod, "run_point", _dying_run_point)
    with pytest.raises(NeuroEmuError, match="a worker process died"):
        sweep(spec, out=out, workers=2)
    finished = {(r["point_id"], r["repetition"]) for r in _csv_rows(out / "results.csv")}
    assert 0 < len(finished) < 8
    monkeypatch.setattr(sweep_mod, "run_point", _REAL_RUN_POINT)
    rows = _rows(sweep(spec, out=out, workers=2))
    assert len(rows) == 8 and len(_csv_rows(out / "results.csv")) == 8


def test_killing_the_sweep_loses_no_finished_point_and_a_rerun_runs_only_the_rest(
        small_chip, small_workload, write_yaml, tmp_path, monkeypatch):
    small_workload["ticks"] = 300  # a few tens of ms per point: slow enough to kill mid-way
    spec = {"base": {"chip": small_chip, "workload": small_workload},
            "axes": [{"key": "workload.network.rate_hz", "range": [10.0, 60.0, 12]}], "seed": 5}
    path = write_yaml("kill.yaml", spec)
    out = tmp_path / "out"
    results = out / "results.csv"
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen([sys.executable, "-m", "neuroemu.cli.app", "sweep", path, "--out", str(out), "-j", "1"],
                            cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if results.exists() and results.read_bytes().count(b"\n") >= 4:  # header + 3 points
                break
            time.sleep(0.005)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()
    before = _csv_rows(results) if results.read_bytes().endswith(b"\n") else _csv_rows(results)[:-1]
    assert 3 <= len(before) < 12, "the sweep finished before it could be killed"
    calls = []
    real = sweep_mod.run_point
    monkeypatch.setattr(sweep_mod, "run_point", lambda task, runs_dir=None: calls.append(task) or real(task, runs_dir))
    table = _rows(sweep(path, out=out))
    after = _csv_rows(results)
    keys = [(r["point_id"], r["repetition"]) for r in after]
    assert len(keys) == len(set(keys)) == 12  # nothing lost, nothing twice
    finished = {(r["point_id"], r["repetition"]) for r in before}
    assert {(t.point_id, str(t.repetition)) for t in calls} == set(keys) - finished
    finished_first = {r["point_id"]: r for r in before}
    for r in after:  # the rows written before the kill are kept as they were
        if r["point_id"] in finished_first:
            old = finished_first[r["point_id"]]
            assert {k: r[k] for k in old} == old
    assert len(table) == 12


# --- the command line --------------------------------------------------------------------------

def test_cli_sweep_runs_and_resumes(spec, write_yaml, tmp_path):
    path = write_yaml("s.yaml", spec)
    out = tmp_path / "out"
    runner = CliRunner()
    res = runner.invoke(main, ["sweep", path, "--out", str(out), "--workers", "1"])
    assert res.exit_code == 0, res.output
    assert "8 runs in" in res.output
    res = runner.invoke(main, ["sweep", path, "--out", str(out), "-j", "1"])
    assert res.exit_code == 0 and len(_csv_rows(out / "results.csv")) == 8


def test_cli_sweep_errors_are_one_line(spec, write_yaml, tmp_path):
    spec["axes"][0]["key"] = "workload.network.rate_hzz"
    res = CliRunner().invoke(main, ["sweep", write_yaml("s.yaml", spec), "--out", str(tmp_path / "o"), "-j", "1"])
    assert res.exit_code == 1
    assert "Error: " in res.output and "axes[0] (workload.network.rate_hzz)" in res.output
    assert "Traceback" not in res.output


def test_record_spikes_sweeps_keep_each_runs_output(spec, tmp_path):
    spec["run"] = {"record_spikes": True, "ticks": 20}
    spec["repetitions"] = 1
    out = tmp_path / "out"
    rows = _rows(sweep(spec, out=out))
    assert all(r["ticks"] == 20 for r in rows)
    run_dir = out / "runs" / f"{rows[0]['point_id']}-r0"
    assert (run_dir / "record.json").is_file() and (run_dir / "spikes.npz").is_file()


# --- cells and run outputs ---------------------------------------------------------------------

@pytest.mark.parametrize("value", [None, True, False, 0, -7, 2 ** 40, 0.1, 1e-300, 26.2, "mesh", "a\nb",
                                   '"quoted"', "10x"])
def test_cells_round_trip(value):
    assert parse_cell(format_cell(value)) == value


def test_write_run_output(tmp_path):
    import neuroemu
    result = neuroemu.simulate(None, None, ticks=10, record_spikes=True)
    out = write_run_output(result, tmp_path / "run")
    assert (out / "record.json").is_file()
    with np.load(out / "spikes.npz") as data:
        assert np.array_equal(data["ticks"], result.spike_trains.ticks)
        assert np.array_equal(data["neurons"], result.spike_trains.neurons)
    again = write_run_output(neuroemu.simulate(None, None, ticks=10), tmp_path / "run")
    assert not (again / "spikes.npz").exists()  # no stale spikes beside a record without them


# --- faults: a full disk and Ctrl-C ------------------------------------------------------------

def test_a_full_disk_stops_cleanly_and_a_rerun_completes_exactly_the_rest(spec, tmp_path, monkeypatch):
    out = tmp_path / "out"
    real_fsync = os.fsync
    state = {"writes": 0}

    def fsync_full_after_three(fd):
        state["writes"] += 1
        if state["writes"] > 3:  # the disk fills up during the fourth append
            raise OSError(28, "No space left on device")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync_full_after_three)
    with pytest.raises(NeuroEmuError, match="No space left on device.*rerun"):
        sweep(spec, out=out, workers=1)
    monkeypatch.setattr(os, "fsync", real_fsync)
    saved = _csv_rows(out / "results.csv")  # still a readable table
    assert 0 < len(saved) < 8
    keys_before = {(r["point_id"], r["repetition"]) for r in saved}
    rows = _rows(sweep(spec, out=out, workers=1))
    after = _csv_rows(out / "results.csv")
    keys = [(r["point_id"], r["repetition"]) for r in after]
    assert len(keys) == len(set(keys)) == 8 and keys_before <= set(keys) and len(rows) == 8


def test_ctrl_c_keeps_finished_points_and_a_rerun_completes_the_rest(spec, tmp_path, monkeypatch):
    out = tmp_path / "out"
    calls = []
    real = sweep_mod.run_point

    def interrupted_after_three(task, runs_dir=None):
        if len(calls) == 3:
            raise KeyboardInterrupt
        calls.append(task)
        return real(task, runs_dir)

    monkeypatch.setattr(sweep_mod, "run_point", interrupted_after_three)
    with pytest.raises(KeyboardInterrupt):
        sweep(spec, out=out, workers=1)
    assert len(_csv_rows(out / "results.csv")) == 3
    monkeypatch.setattr(sweep_mod, "run_point", real)
    rows = _rows(sweep(spec, out=out, workers=1))
    keys = [(r["point_id"], r["repetition"]) for r in _csv_rows(out / "results.csv")]
    assert len(keys) == len(set(keys)) == 8 and len(rows) == 8


def test_a_finished_sweep_rerun_with_workers_runs_nothing(spec, tmp_path):
    """Nothing left to run: no pool is started, the table comes back as it was."""
    out = tmp_path / "out"
    first = _rows(sweep(spec, out=out))
    assert _rows(sweep(spec, out=out, workers=2)) == first


def test_a_users_dask_client_is_left_open(spec, tmp_path):
    """A Client passed in belongs to the caller: the sweep uses it and does not close it."""
    distributed = pytest.importorskip("dask.distributed", reason="dask[distributed] is not installed "
                                      "(pip install neuroemu[distributed])")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                  dashboard_address=None) as cluster:
        with distributed.Client(cluster) as client:
            rows = _rows(sweep(dict(spec, repetitions=1), out=tmp_path / "dask", scheduler=client))
            assert len(rows) == 4 and client.status == "running"


@pytest.mark.parametrize("workers", [0, -1, True, 2.0, "2"])
def test_workers_must_be_a_positive_integer(spec, tmp_path, workers):
    with pytest.raises(NeuroEmuError, match="workers must be an integer >= 1"):
        sweep(spec, out=tmp_path / "out", workers=workers)


def test_a_failed_run_names_its_cells_or_no_axes(spec, tmp_path, monkeypatch):
    """The failure message shows the failed point's axis values; a sweep without axes says so."""
    def broken(task, runs_dir=None):
        raise NeuroEmuError("boom")

    monkeypatch.setattr(sweep_mod, "run_point", broken)
    with pytest.raises(NeuroEmuError, match=r"First: point 0 \(workload\.network\.rate_hz=20\.0, chip\.topology="):
        sweep(spec, out=tmp_path / "grid")
    bare = dict(spec, axes=[], repetitions=1)
    with pytest.raises(NeuroEmuError, match=r"1 of 1 runs failed.*First: point 0 \(no axes\) repetition 0: boom"):
        sweep(bare, out=tmp_path / "bare")


def test_a_sweep_without_an_output_directory_runs_in_a_temporary_one(spec, tmp_path, monkeypatch):
    """out=None: the same table as with a directory, from a temporary directory removed afterwards."""
    import tempfile
    made = []
    real = tempfile.TemporaryDirectory

    def watched(*a, **k):
        made.append(real(*a, **k))
        return made[-1]

    monkeypatch.setattr(tempfile, "TemporaryDirectory", watched)
    spec["repetitions"] = 1
    assert _rows(sweep(spec)) == _rows(sweep(spec, out=tmp_path / "kept"))
    assert len(made) == 1 and not Path(made[0].name).exists()


def test_fewer_repetitions_on_a_finished_sweep_show_only_those(spec, tmp_path):
    """The store keeps every row it was given; the table shows the plan's own: rerun with one
    repetition fewer, the second repetition's rows stay in the store but not in the table."""
    out = tmp_path / "out"
    assert len(_rows(sweep(spec, out=out))) == 8
    spec["repetitions"] = 1
    rows = _rows(sweep(spec, out=out))
    assert sorted((r["point"], r["repetition"]) for r in rows) == [(p, 0) for p in range(4)]
    assert len(_csv_rows(out / "results.csv")) == 8
