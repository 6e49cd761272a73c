"""neuroemu.engine.asyncranks: the clockless loop split over MPI ranks gives the one-process record.

Split runs go through ``mpiexec -n 2`` (and ``-n 4``, oversubscribed, marked slow) on a 2 x 2
system of the tiny 2 x 2-core chip under async timing: a generated network (TrueNorth neurons
with stochastic leaks and thresholds, both window kernels), the same system with CUBA neurons
(float state; one current, and two mapped currents), a mapped edge list, and a single chip (built
whole by every rank). One rank runs in this process (``MPI.COMM_SELF``).
Records are compared whole but for the fields that may differ between runs the same by issue 17's
rule (``NONDETERMINISTIC_FIELDS``: wall time, backends, the memory peak and the loop statistics,
``loop_stats``) and the split's own report, ``timing_report.mpi``.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from neuroemu.engine.asynccore import AsyncCoreLoop
from neuroemu.engine.asyncranks import AsyncRankLoop, cross_rank_lookahead
from neuroemu.engine.mpi import mpiexec_path, partition_cores
from neuroemu.engine.options import RunOptions, with_timing
from neuroemu.engine.record import NONDETERMINISTIC_FIELDS
from neuroemu.engine.run import simulate
from neuroemu.errors import ConfigError, NeuroEmuError
from fake_comm import OneRankOfTwo

ROOT = Path(__file__).resolve().parents[1]
PROGRAM = Path(__file__).with_name("mpi_program.py")
FAULTS = Path(__file__).with_name("async_rank_program.py")
LINK = {"hop_pj": 40.0, "hop_ns": 25.0, "bandwidth_pkts_per_ns": 0.5}


@pytest.fixture
def files(write_yaml, small_chip, small_workload, tmp_path):
    """{name: path}: TrueNorth and CUBA systems of 2 x 2 tiny chips, a generated workload for
    each, and a mapped edge list (inputs -> 8 neurons -> 8 x 8 all to all -> 8)."""
    write_yaml("tiny.yaml", small_chip)
    cuba = dict(small_chip, name="tiny_cuba", core=dict(small_chip["core"], neuron_model="cuba_lif", membrane_bits=24))
    write_yaml("tiny_cuba.yaml", cuba)
    out = {"system": write_yaml("sys.yaml", {"name": "sys", "system": {"chip": "tiny.yaml", "grid": [2, 2], "link": LINK}}),
           "cuba_system": write_yaml("sys_cuba.yaml", {"name": "sys_cuba", "system": {
               "chip": "tiny_cuba.yaml", "grid": [2, 2], "link": LINK}})}
    small_workload.update(chip="sys.yaml", ticks=40)
    out["generated"] = write_yaml("wl.yaml", small_workload)
    cuba_wl = dict(small_workload, chip="sys_cuba.yaml", inputs=[{"kind": "poisson", "rate_hz": 200.0, "axons_per_core": 8}],
                   network={"kind": "random_recurrent_weighted", "synapses_per_axon": 8, "rate_hz": 0.0, "threshold": 100,
                            "weights": [64, 48, 32, -32, -48], "delay_ticks": [1, 4],
                            "neuron": {"du": 1024, "dv": 128, "refractory": 2}})
    out["cuba"] = write_yaml("wl_cuba.yaml", cuba_wl)
    k, a = 8, np.arange(8)
    src = np.concatenate([a, np.repeat(a, k), np.repeat(a + k, k)])
    dst = np.concatenate([a, np.tile(a + k, k), np.tile(a + 2 * k, k)])
    np.savez(tmp_path / "layers.npz", src=src, dst=dst, weight=np.where(np.arange(len(src)) % 3 == 0, -1.0, 1.0),
             src_input=np.r_[np.ones(k, int), np.zeros(2 * k * k, int)], threshold=np.full(3 * k, 3.0),
             input_times=np.repeat(np.arange(0, 30, 2), k), input_ids=np.tile(a, 15), n_inputs=k)
    out["mapped"] = str(tmp_path / "layers.npz")
    return out


def _pair(chip: str, workload: str, mapping: str | None):
    sys.path.insert(0, str(PROGRAM.parent))
    from mpi_program import load_pair  # a network file: 40 ticks, placed by mapping
    return load_pair(chip, workload, mapping)


def _one(chip: str, workload: str, mapping: str | None = None) -> dict:
    c, w = _pair(chip, workload, mapping)
    return json.loads(simulate(c, w, record_spikes=True, timing="async").to_json())


def _split(n: int, chip: str, workload: str, mapping: str | None = None, env: dict | None = None) -> dict:
    """The record of ``mpiexec -n n`` (conservation checked on rank 0, tests/conservation.py) as a dict."""
    exe = mpiexec_path()
    if exe is None:
        pytest.fail("mpiexec not found: install the extra with pip install 'neuroemu[mpi]' (make does)")
    args = [exe, "-n", str(n), sys.executable, str(PROGRAM), "run", chip, workload, "async", *([mapping] if mapping else [])]
    out = subprocess.run(args, capture_output=True, text=True, timeout=240,
                         env=dict(os.environ, PYTHONPATH=str(ROOT), **(env or {})))
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def _same(one: dict, split: dict, ranks: int) -> dict:
    """Equal on every field but wall time, backends, memory peak, the loop statistics and the split's
    own report (returned)."""
    mpi = split["timing_report"].pop("mpi")
    assert mpi["ranks"] == ranks and sum(mpi["cores_per_rank"]) == one["cores"] and len(mpi["cores_per_rank"]) == ranks
    assert len(mpi["peak_rss_mb_per_rank"]) == ranks and min(mpi["peak_rss_mb_per_rank"]) > 0
    # the loop statistics: the split's windows are the one process's, cut at span ends as well
    assert split["loop_stats"]["windows"] >= one["loop_stats"]["windows"] > 0
    for key in NONDETERMINISTIC_FIELDS:
        one.pop(key), split.pop(key)
    assert split == one
    return mpi


def _expected_span_s(chip: str, workload: str, ranks: int, mapping: str | None = None) -> float:
    """The smallest delay (ps) of a route whose neuron and axon sit on different ranks, from the
    one-process loop's own route delays (axonal delay x tick + path latency), in s."""
    c, w = _pair(chip, workload, mapping)
    loop = AsyncCoreLoop(with_timing(c, "async"), w, RunOptions(ticks=w.ticks, seed=w.seed))
    a = loop.arrays
    owner = partition_cores(a.n_cores, ranks)
    s = loop.sends
    cross = owner[loop.route_src[s] // a.neurons_per_core] != owner[loop.route_axon[s] // a.axons_per_core]
    assert cross.any() and (~cross).any()
    return int(loop.route_ps[s][cross].min()) * 1e-12


def test_one_rank_in_this_process_gives_the_one_process_record_entire(files):
    """One rank (``MPI.COMM_SELF``): no route crosses ranks, the run is one span, and even the loop
    statistics agree (the windows are the one process's)."""
    MPI = pytest.importorskip("mpi4py.MPI", reason="the mpi extra is not installed: pip install 'neuroemu[mpi]'")
    from neuroemu.engine.ranks import simulate_ranks
    one = json.loads(simulate(files["system"], files["generated"], record_spikes=True, timing="async").to_json())
    split = json.loads(simulate_ranks(files["system"], files["generated"], record_spikes=True, timing="async",
                                      comm=MPI.COMM_SELF).to_json())
    mpi = split["timing_report"].pop("mpi")
    assert (mpi["ranks"], mpi["spans"], mpi["lookahead_s"], mpi["exchanged_spikes_per_rank"]) == (1, 1, None, [0])
    assert split["loop_stats"] == one["loop_stats"] and one["loop_stats"]["windows"] > 0
    for key in NONDETERMINISTIC_FIELDS:
        one.pop(key), split.pop(key)
    assert split == one and one["spikes"] > 0


@pytest.mark.parametrize("backend", ["c", "numpy"])
def test_two_ranks_give_the_one_process_record_for_a_generated_network(files, backend, monkeypatch):
    """TrueNorth neurons with stochastic leak and threshold (counter-based draws keyed by neuron and
    step or update count), on the C window kernel and on the numpy paths."""
    monkeypatch.setenv("NEUROEMU_TICK", backend)
    one = _one(files["system"], files["generated"])
    assert one["spikes"] > 0 and one["timing_report"]["spike_flow"]["in_flight_end"] > 0
    mpi = _same(one, _split(2, files["system"], files["generated"], env={"NEUROEMU_TICK": backend}), 2)
    assert min(mpi["exchanged_spikes_per_rank"]) > 0  # spikes did cross ranks, both ways
    span = _expected_span_s(files["system"], files["generated"], 2)
    assert mpi["lookahead_s"] == pytest.approx(span, rel=1e-12)
    # one span per stretch of the lookahead that holds an event: here every tick has one
    assert mpi["spans"] == mpi["exchanges"] == -(-40 * 1e-3 // span)


def test_two_ranks_bind_only_their_own_routes_on_a_single_chip(files, write_yaml, small_workload):
    """A single chip's network (its whole-chip streams drawn by every rank, its own cores kept): each
    rank binds its own neurons' routes alone, and its C kernel routes only those."""
    chip = str(Path(files["system"]).with_name("tiny.yaml"))
    workload = write_yaml("wl_tiny.yaml", dict(small_workload, chip="tiny.yaml", ticks=40))
    one = _one(chip, workload)
    assert one["spikes"] > 0
    mpi = _same(one, _split(2, chip, workload), 2)
    assert min(mpi["exchanged_spikes_per_rank"]) > 0 and mpi["routes_bound_per_rank"] == [64, 64]
    assert mpi["memory_estimate_bytes_per_rank"]["by_block"] == 0


def test_two_ranks_give_the_one_process_record_for_cuba_neurons(files):
    """CUBA neurons: float state advanced in closed form from event to event, alike on every rank count."""
    one = _one(files["cuba_system"], files["cuba"])
    assert one["spikes"] > 0
    mpi = _same(one, _split(2, files["cuba_system"], files["cuba"]), 2)
    assert min(mpi["exchanged_spikes_per_rank"]) > 0


def test_two_ranks_give_the_one_process_record_on_a_single_chip(files, write_yaml, small_workload):
    """A single chip's generated network: each rank draws the whole-chip streams in order and keeps
    its own cores' arrays (networks/chippart.py); every route on its shell, as the split binds them."""
    small_workload.update(chip="tiny.yaml", ticks=40)
    workload = write_yaml("wl_single.yaml", small_workload)
    chip = files["system"].replace("sys.yaml", "tiny.yaml")
    one = _one(chip, workload)
    assert one["spikes"] > 0
    mpi = _same(one, _split(2, chip, workload), 2)
    assert min(mpi["exchanged_spikes_per_rank"]) > 0


def test_two_ranks_give_the_one_process_record_for_a_mapped_network(files):
    one = _one(files["system"], files["mapped"], "spread")
    assert one["spikes"] > 0 and one["workload_report"]["mapping"]["cores_used"] >= 4
    mpi = _same(one, _split(2, files["system"], files["mapped"], "spread"), 2)
    assert sum(mpi["exchanged_spikes_per_rank"]) > 0
    # inputs end at 30 ms and the activity dies out: fewer spans than ticks (empty stretches are skipped)
    assert mpi["spans"] < 40


def test_two_ranks_give_the_one_process_record_for_two_synaptic_currents(files, tmp_path):
    """Brian2's CUBA shape (fast excitation, slow inhibition, a v leak: engine/asynccuba.py), mapped
    over the CUBA system's cores."""
    sys.path.insert(0, str(PROGRAM.parent))
    from neuroemu.networks.edgelist import save_npz
    from test_peer_fields import two_current_network
    save_npz(two_current_network(np.random.default_rng(5)), tmp_path / "two.npz")
    one = _one(files["cuba_system"], str(tmp_path / "two.npz"), "spread")
    assert one["spikes"] > 20
    mpi = _same(one, _split(2, files["cuba_system"], str(tmp_path / "two.npz"), "spread"), 2)
    assert min(mpi["exchanged_spikes_per_rank"]) > 0


@pytest.mark.slow
def test_four_ranks_oversubscribed_give_the_one_process_record(files):
    for chip, workload, mapping in ((files["system"], files["generated"], None), (files["cuba_system"], files["cuba"], None),
                                    (files["system"], files["mapped"], "spread")):
        mpi = _same(_one(chip, workload, mapping), _split(4, chip, workload, mapping), 4)
        assert mpi["lookahead_s"] == pytest.approx(_expected_span_s(chip, workload, 4, mapping), rel=1e-12)


@pytest.mark.parametrize("size, rank, cores, blocks", [(2, 1, (8, 16), [2, 3]), (3, 1, (8, 12), [2])])
def test_a_rank_builds_and_draws_only_its_own_blocks(files, monkeypatch, size, rank, cores, blocks):
    """A generated network on a system is built block by block (4 cores a block here) and ranks own
    whole blocks: rank 1 of 2 builds and holds blocks 2 and 3 alone (no whole network is built),
    rank 1 of 3 block 2. Its Poisson inputs are drawn from its blocks' streams alone, and its
    spikes are the whole stream's bound for its axons, tick for tick (as the loop's local axon ids)."""
    chip, wl = _pair(files["system"], files["generated"], None)
    chip, opt = with_timing(chip, "async"), RunOptions(ticks=wl.ticks, seed=wl.seed)
    whole_loop = AsyncCoreLoop(chip, wl, opt)
    whole, full_arrays = whole_loop.inputs, whole_loop.arrays

    def no_whole(*args, **kwargs):
        raise AssertionError("the whole network was built")

    from neuroemu.engine import asynccore
    monkeypatch.setattr(asynccore, "build_network", no_whole)
    world = type("World", (), {"Get_rank": lambda self: rank, "Get_size": lambda self: size})()
    loop = type("Rank", (AsyncRankLoop,), {"comm": world})(chip, wl, opt)
    assert loop.setup_error is None and (loop.c0, loop.c1) == cores
    A, N = loop.arrays.axons_per_core, loop.arrays.neurons_per_core
    # the state it holds: its cores' arrays alone, the whole network's bit for bit; the model's too
    held = loop.arrays
    assert held.n_cores == cores[1] - cores[0] and (loop.n0, loop.x0) == (cores[0] * N, cores[0] * A)
    assert len(loop.model.v) == len(loop.pend) == held.n_neurons == (cores[1] - cores[0]) * N
    np.testing.assert_array_equal(held.v, full_arrays.v[cores[0] * N:cores[1] * N])
    np.testing.assert_array_equal(held.row_neurons, full_arrays.row_neurons[full_arrays.row_ptr[cores[0] * A]:
                                                                            full_arrays.row_ptr[cores[1] * A]])
    np.testing.assert_array_equal(loop.model.theta, whole_loop.model.theta[cores[0] * N:cores[1] * N])
    np.testing.assert_array_equal(loop.model.stochastic + loop.n0, whole_loop.model.stochastic[
        (whole_loop.model.stochastic >= cores[0] * N) & (whole_loop.model.stochastic < cores[1] * N)])
    # estimated before building: the largest rank's share (8 of 16 cores: 2 blocks, on 2 ranks and on 3)
    from neuroemu.networks.workloads import estimate_bytes
    assert loop.memory["by_block"] == 1 and loop.memory["held"] == -(-estimate_bytes(chip, wl.network) * 8 // 16)
    assert len(loop.inputs) == len(whole) >= 1
    for mine, full in zip(loop.inputs, whole):
        assert [b for b, _ in mine.stream.block_axons] == blocks
        got, want = mine.events(0, wl.ticks), full.events(0, wl.ticks)
        keep = (want[1] >= cores[0] * A) & (want[1] < cores[1] * A)
        assert keep.any() and not keep.all()
        np.testing.assert_array_equal(got[0], want[0][keep])
        np.testing.assert_array_equal(got[1] + loop.x0, want[1][keep])


@pytest.mark.parametrize("workload, mapping, size, rank", [("generated", None, 2, 1), ("generated", None, 3, 2),
                                                           ("mapped", "spread", 2, 1), ("mapped", "spread", 4, 0)])
def test_a_rank_binds_and_prices_only_its_own_neurons_routes(files, workload, mapping, size, rank):
    """Its route tables are the one-process loop's for its own neurons alone (sources numbered from
    its first neuron), their delays in ps too; a network built by blocks carries no whole routes at
    all; the C kernel gets a route for each neuron it holds (none for the others of a network held
    whole); and what it prices is its own neurons' spikes on its own routes."""
    chip, wl = _pair(files["system"], files[workload], mapping)
    chip, opt = with_timing(chip, "async"), RunOptions(ticks=wl.ticks, seed=wl.seed)
    whole = AsyncCoreLoop(chip, wl, opt)
    world = type("World", (), {"Get_rank": lambda self: rank, "Get_size": lambda self: size})()
    loop = type("Rank", (AsyncRankLoop,), {"comm": world})(chip, wl, opt)
    assert loop.setup_error is None
    g0, g1 = loop.g0, loop.g1
    mine = (whole.route_src >= g0) & (whole.route_src < g1)
    assert mine.any() and not mine.all() and loop.neuron_base == g0
    assert len(loop.route_axon) == len(loop.route_src) == int(mine.sum())
    np.testing.assert_array_equal(loop.route_src + g0, whole.route_src[mine])
    np.testing.assert_array_equal(loop.route_axon, whole.route_axon[mine])
    np.testing.assert_array_equal(loop.route_ps, whole.route_ps[mine])
    if workload == "generated":
        assert loop.network.arrays.target_axon is None and loop.network.arrays.fanout_ptr is None
    if not loop.fanout and loop.ckernel is not None:
        axon, ps = loop._kernel_routes(loop.arrays.n_neurons)
        lo = g0 - loop.n0
        assert (axon[:lo] == -1).all() and (axon[lo + g1 - g0:] == -1).all()
        np.testing.assert_array_equal(axon[lo:lo + g1 - g0], whole.route_axon[g0:g1])
        np.testing.assert_array_equal(ps[lo:lo + g1 - g0], whole.route_ps[g0:g1])
    # each of its neurons fired once: it prices its own routes' spikes, as the whole loop its share
    loop._fired = whole._fired = [np.arange(g0, g1)]
    mine_priced, whole_priced = AsyncCoreLoop._route_prices(loop), whole._route_prices()  # (before the sum)
    assert mine_priced["routed"] == whole_priced["routed"] == int(whole.sends[mine].sum()) > 0
    np.testing.assert_array_equal(mine_priced["class_hops"], whole_priced["class_hops"])
    np.testing.assert_array_equal(mine_priced["link_loads"], whole_priced["link_loads"])
    assert mine_priced["wire_nm"] == whole_priced["wire_nm"]
    for a, b in zip(mine_priced["latency"], whole_priced["latency"]):
        np.testing.assert_array_equal(a, b)


def test_a_split_async_run_that_does_not_fit_is_refused_in_one_line(files, monkeypatch):
    """Checked per rank before anything is built, with the clockless state (neuroemu.engine.rankshare)."""
    from neuroemu.engine import rankshare
    from neuroemu.errors import CapacityError
    monkeypatch.setattr(rankshare, "available_memory_bytes", lambda: 1 << 20)
    loop = type("Loop", (), {"async_loop": type("OneRank", (AsyncRankLoop,), {"comm": OneRankOfTwo()})})
    with pytest.raises(CapacityError) as err:
        simulate(files["system"], files["generated"], loop=loop, ticks=5, timing="async")
    text = str(err.value)
    assert "\n" not in text and "async ranks on this machine need about" in text
    assert "GiB of clockless state) but only 0.0 GiB is available" in text


def test_cross_rank_lookahead_is_the_smallest_crossing_delay_and_zero_is_refused():
    ps = np.array([7, 3, 5, 9])
    assert cross_rank_lookahead(ps, np.array([0, 0, 1, 1]), np.array([1, 0, 0, 1]), "c.yaml") == 5
    assert cross_rank_lookahead(ps, np.zeros(4, int), np.zeros(4, int), "c.yaml") is None  # one span: the run
    with pytest.raises(ConfigError) as err:
        cross_rank_lookahead(np.array([0, 3]), np.array([0, 1]), np.array([1, 1]), "c.yaml")
    text = str(err.value)
    assert "\n" not in text and text.startswith("c.yaml: latency:") and "must be > 0 ps" in text and "got 0 ps" in text


@pytest.mark.parametrize("option, message", [
    ({"network": "packet"}, "--network: packet does not run split over MPI ranks"),
    ({"max_events": 10}, "--max-events/--max-window-events: not checked across MPI ranks"),
    ({"workload": "neurogrid_small", "chip": "neurogrid"}, "network.kind: neurogrid_diffuser runs on Neurogrid's "
                                                           "diffuser engine, which does not run split"),
    ({"workload": "rram_small", "chip": "rram_htree"}, "synapse_device: NVM synapses do not run split over MPI ranks"),
    ({"workload": "learning"}, "learning: does not run split over MPI ranks")])
def test_what_does_not_run_split_is_refused_in_one_line(files, option, message, write_yaml, small_workload):
    option = dict(option)
    chip, workload = option.pop("chip", files["system"]), option.pop("workload", files["generated"])
    if workload == "learning":
        workload = write_yaml("learn.yaml", dict(small_workload, learning={"rule": "stdp", "w_min": -7, "w_max": 7}))
    loop = type("Loop", (), {"async_loop": type("OneRank", (AsyncRankLoop,), {"comm": OneRankOfTwo()})})
    with pytest.raises(NeuroEmuError, match=message) as err:
        simulate(chip, workload, loop=loop, ticks=5, timing="async", **option)
    assert "\n" not in str(err.value)


def test_a_loop_without_an_async_twin_refuses_async_in_one_line(files):
    with pytest.raises(ConfigError, match="timing.mode: async does not run split over MPI ranks by this loop") as err:
        simulate(files["system"], files["generated"], loop=type("Loop", (), {}), ticks=5, timing="async")
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("how, line", [("raise", "Error (rank 1): fault injected at 5 ms"),
                                       ("setup", "Error: (rank 1) setup fault on rank 1")])
def test_a_rank_that_raises_ends_every_rank_with_one_line(files, how, line):
    """Rank 1 raises mid-run (rank 0 waits in a collective) or while it builds: one line, every
    rank exits (never a hang: the timeout)."""
    exe = mpiexec_path()
    if exe is None:
        pytest.fail("mpiexec not found: install the extra with pip install 'neuroemu[mpi]' (make does)")
    out = subprocess.run([exe, "-n", "2", sys.executable, str(FAULTS), files["system"], files["generated"], how],
                         capture_output=True, text=True, timeout=120, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert out.returncode != 0
    assert [x for x in out.stderr.splitlines() if x.startswith("Error")] == [line], out.stderr



def test_two_ranks_route_inputs_on_cores_as_one_process_does(files, write_yaml):
    """Inputs on cores: every rank queues the input packets bound for its own axons at their arrival
    (route latency included) and prices the input routes leaving its own cores; rank 0's spike flow
    lists every input packet (``inputs_routed``). The record is the one process's."""
    workload = write_yaml("wl_on_cores.yaml", {"name": "on_cores", "ticks": 40, "network": {
        "kind": "edgelist", "file": files["mapped"], "mapping": "spread", "axon_copies": 1, "inputs": "on_cores"}})
    one = _one(files["system"], workload)
    flow = one["timing_report"]["spike_flow"]
    assert flow["inputs"] == 0 and flow["inputs_routed"] > 0 and flow["sent"] > 0
    axons = _one(files["system"], files["mapped"], "spread")
    assert one["hops"] > axons["hops"]  # the inputs' packets cross cores
    _same(one, _split(2, files["system"], workload), 2)


@pytest.mark.parametrize("backend", ["c", "numpy"])
@pytest.mark.parametrize("ranks, on_system", [(2, False), (4, True)])
def test_ranks_classify_as_one_process_does(digits_files, ranks, on_system, backend, monkeypatch):
    """Presentations split: spans end at every sample's end (the ranks exchange there), then each
    rank reads its own outputs, resets and predicts its own neurons again and drops its own queued
    spikes; rank 0 merges the readouts into the one process's classification report and record.
    Both window backends (the numpy path's scan once kept V as of a window's start with the later
    inputs in, read as a crossing at the start under a down drift when a span cut the window)."""
    monkeypatch.setenv("NEUROEMU_TICK", backend)
    chip, system, workload = digits_files
    chip = system if on_system else chip
    one = _one(chip, workload)
    report = one["workload_report"]["classification"]
    assert report["samples"] == 6 and report["output_spikes_per_classification"] > 0
    assert report["in_flight_dropped_at_reset"] > 0  # spikes were in flight at the resets, and dropped
    split = _split(ranks, chip, workload)
    mpi = _same(one, split, ranks)
    assert min(mpi["exchanged_spikes_per_rank"]) > 0  # the network spans every rank's cores
    assert mpi["spans"] >= 6  # (at least one span a sample: none crosses a sample's end)
