"""neuroemu.engine.ranks: the tick loop split over MPI ranks gives the one-process record.

The split runs go through ``mpiexec -n 2`` (and ``-n 4``, oversubscribed: MPICH's launcher starts
more ranks than CPUs as it is) on a 2 x 2 system of the tiny 2 x 2-core chip, for a generated
and a mapped workload, under sync and gals (with per-operation latencies that make late spikes),
and under barrier (each timestep set by the busiest core of any rank).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from neuroemu.config.loader import load_chip, load_workload
from neuroemu.engine import rankshare
from neuroemu.engine import ranks as rk
from neuroemu.engine.mpi import launched_rank, launched_size, local_size, mpiexec_path
from neuroemu.engine.options import STREAM_NEURON_RNG
from neuroemu.engine.run import simulate
from neuroemu.errors import CapacityError, NeuroEmuError
from neuroemu.hardware.system import ROUTE_BYTES, routing_bytes
from neuroemu.hardware.step import TickStepper
from neuroemu.models.rng import stream_key
from neuroemu.networks.workloads import build_network
from fake_comm import OneRankOfTwo

ROOT = Path(__file__).resolve().parents[1]
PROGRAM = Path(__file__).with_name("mpi_program.py")
LINK = {"hop_pj": 40.0, "hop_ns": 25.0, "bandwidth_pkts_per_ns": 0.5}
#: gals on this chip makes late spikes: a core's work takes tens of microseconds, a chip link 0.2 ms
SLOW = {"hop_ns": {"value": 20000.0, "source": "test"}, "synaptic_op_ns": {"value": 60000.0, "source": "test"},
        "neuron_update_ns": {"value": 100.0, "source": "test"}, "spike_ns": {"value": 5000.0, "source": "test"}}


@pytest.fixture
def split_files(write_yaml, small_chip, small_workload, tmp_path):
    """(sync system, gals system with late spikes, generated workload, mapped network file)."""
    write_yaml("tiny.yaml", small_chip)
    slow = dict(small_chip, name="tiny_slow", latency=SLOW, timing=dict(small_chip["timing"], late_spikes="late"))
    write_yaml("tiny_slow.yaml", slow)
    system = write_yaml("sys.yaml", {"name": "sys", "system": {"chip": "tiny.yaml", "grid": [2, 2], "link": LINK}})
    slow_system = write_yaml("sys_slow.yaml", {"name": "sys_slow", "system": {
        "chip": "tiny_slow.yaml", "grid": [2, 2], "link": dict(LINK, hop_ns=200000.0)}})
    small_workload.update(chip="sys.yaml", ticks=40)
    workload = write_yaml("wl.yaml", small_workload)
    return system, slow_system, workload, _layers(tmp_path / "layers.npz")


def _layers(path: Path, k: int = 8) -> str:
    """Inputs -> layer 0 one to one, then all to all to layers 1 and 2 (spread over the system's cores)."""
    a = np.arange(k)
    src = np.concatenate([a, np.repeat(a, k), np.repeat(a + k, k)])
    dst = np.concatenate([a, np.tile(a + k, k), np.tile(a + 2 * k, k)])
    weight = np.where(np.arange(len(src)) % 3 == 0, -1.0, 1.0)
    np.savez(path, src=src, dst=dst, weight=weight, src_input=np.r_[np.ones(k, int), np.zeros(2 * k * k, int)],
             threshold=np.full(3 * k, 3.0), input_times=np.repeat(np.arange(0, 30, 2), k),
             input_ids=np.tile(a, 15), n_inputs=k)
    return str(path)


def _split(n: int, chip: str, workload: str, timing: str, mapping: str | None = None, timeout: int = 180,
           queue: str | None = None) -> dict:
    """The record of ``mpiexec -n n`` (conservation checked on rank 0) as a dict."""
    exe = mpiexec_path()
    if exe is None:
        pytest.fail("mpiexec not found: install the extra with pip install 'neuroemu[mpi]' (make does)")
    env = dict(os.environ, PYTHONPATH=str(ROOT), **({"NEUROEMU_QUEUE": queue} if queue else {}))
    args = [exe, "-n", str(n), sys.executable, str(PROGRAM), "run", chip, workload, timing, *([mapping] if mapping else [])]
    out = subprocess.run(args, capture_output=True, text=True, timeout=timeout, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def _routes_of_mapped(chip: str, layers: str) -> int:
    """The routes of the mapped network (one per neuron and target core) as one process binds them."""
    sys.path.insert(0, str(PROGRAM.parent))
    from mpi_program import load_pair
    c, w = load_pair(chip, layers, "spread")
    return len(build_network(c, w, w.seed, "w").arrays.routes()[0])


def _one(chip: str, workload: str, timing: str, mapping: str | None = None) -> dict:
    sys.path.insert(0, str(PROGRAM.parent))
    from mpi_program import load_pair
    c, w = load_pair(chip, workload, mapping)
    return json.loads(simulate(c, w, record_spikes=True, timing=timing).to_json())


def _same(one: dict, split: dict, ranks: int) -> None:
    """Equal on every field but wall time, backends, memory peak and the split's own report."""
    mpi = split["timing_report"].pop("mpi")
    assert mpi["ranks"] == ranks and sum(mpi["cores_per_rank"]) == one["cores"]
    for key in ("wall_s", "queue_backend", "tick_backend", "peak_rss_mb"):
        one.pop(key), split.pop(key)
    assert split == one


@pytest.mark.parametrize("timing", ["sync", "gals", "barrier"])
def test_two_ranks_give_the_one_process_record_for_a_generated_network(split_files, timing, write_yaml,
                                                                        small_workload):
    system, slow_system, workload, _ = split_files
    chip = system if timing == "sync" else slow_system
    if timing == "sync":  # delays of 2..5 ticks: the ranks exchange every second tick
        small_workload.update(chip="sys.yaml", ticks=40)
        small_workload["network"]["delay_ticks"] = [2, 5]
        workload = write_yaml("wl_delay2.yaml", small_workload)
    one = _one(chip, workload, timing)
    split = _split(2, chip, workload, timing)
    mpi = split["timing_report"]["mpi"]
    assert mpi["memory_estimate_bytes_per_rank"]["by_block"] == 1  # each rank built its own cores alone
    assert len(mpi["peak_rss_mb_per_rank"]) == 2 and min(mpi["peak_rss_mb_per_rank"]) > 0
    assert min(mpi["exchanged_spikes_per_rank"]) > 0  # spikes did cross ranks, both ways
    assert mpi["routes_bound_per_rank"] == [8 * 32, 8 * 32]  # each rank bound its own neurons' routes only
    assert (mpi["window_ticks"], mpi["exchanges"]) == ((2, 20) if timing == "sync" else (1, 40))
    if timing == "gals":
        assert one["timing_report"]["timing_violations"] > 0  # late spikes too are counted alike
    if timing == "barrier":  # timesteps set by the busiest core of either rank: they vary, alike
        assert one["timing_report"]["timestep_max_s"] > one["timing_report"]["timestep_min_s"]
    _same(one, split, 2)


@pytest.mark.parametrize("timing", ["sync", pytest.param("gals", marks=pytest.mark.slow)])
def test_two_ranks_give_the_one_process_record_for_a_mapped_network(split_files, timing):
    system, slow_system, _, layers = split_files
    chip = system if timing == "sync" else slow_system
    one = _one(chip, layers, timing, "spread")
    assert one["spikes"] > 0 and one["workload_report"]["mapping"]["cores_used"] >= 4
    split = _split(2, chip, layers, timing, "spread")
    assert sum(split["timing_report"]["mpi"]["exchanged_spikes_per_rank"]) > 0
    memory = split["timing_report"]["mpi"]["memory_estimate_bytes_per_rank"]
    assert memory["by_block"] == 0 and memory["by_part"] == 1  # placed whole, each rank's share laid out alone
    # fan-out routes (several per neuron): each rank binds its own neurons' share, together every route
    bound = split["timing_report"]["mpi"]["routes_bound_per_rank"]
    assert min(bound) > 0 and sum(bound) == _routes_of_mapped(chip, layers)
    _same(one, split, 2)


@pytest.mark.parametrize("timing", ["sync", "barrier"])
def test_two_ranks_route_inputs_on_cores_as_one_process_does(split_files, write_yaml, timing):
    """Inputs on cores: each rank prices the input routes leaving its own cores, and rank 0's spike
    flow lists every input packet (``inputs_routed``), those of the last tick in flight at the end
    (input spikes every second tick from 0 to 28, a run of 29 ticks); the record is the one process's."""
    from neuroemu.config.loader import NETWORK_FILE_KINDS
    system, _, _, layers = split_files
    workload = write_yaml("wl_on_cores.yaml", {"name": "on_cores", "ticks": 29, "network": {
        "kind": NETWORK_FILE_KINDS[".npz"], "file": Path(layers).name, "mapping": "spread", "axon_copies": 1,
        "inputs": "on_cores"}})
    one = _one(system, workload, timing)
    flow = one["timing_report"]["spike_flow"]
    assert flow["inputs"] == 0 and flow["inputs_routed"] > 0 and flow["sent"] > 0 and flow["in_flight_end"] > 0
    _same(one, _split(2, system, workload, timing), 2)


@pytest.mark.slow
def test_four_ranks_oversubscribed_give_the_one_process_record(split_files, tiny_files):
    """Generated (each rank builds its own block of 4 cores) and mapped, under sync and gals; a
    single chip's generated network (a core a rank, from the whole-chip streams); and one rank
    through the rank loop."""
    system, slow_system, workload, layers = split_files
    _same(_one(system, workload, "sync"), _split(1, system, workload, "sync"), 1)
    _same(_one(*tiny_files, "sync"), _split(4, *tiny_files, "sync"), 4)
    for timing, chip in (("sync", system), ("gals", slow_system)):
        _same(_one(chip, workload, timing), _split(4, chip, workload, timing), 4)
        _same(_one(chip, layers, timing, "spread"), _split(4, chip, layers, timing, "spread"), 4)


def test_split_records_are_bit_identical_across_queues(split_files):
    """Two ranks on the C queue and on the Python queue: the same record (and the one-process one)."""
    system, _, workload, _ = split_files
    c, py = _split(2, system, workload, "sync", queue="c"), _split(2, system, workload, "sync", queue="python")
    assert (c["queue_backend"], py["queue_backend"]) == ("c", "python")
    _same(_one(system, workload, "sync"), c, 2)
    _same(_one(system, workload, "sync"), py, 2)


def test_cli_ranks_launches_mpiexec_and_rank_0_writes_the_record(split_files, tmp_path):
    system, _, workload, _ = split_files
    cli = [sys.executable, "-m", "neuroemu.cli", "run", system, workload, "--ticks", "20"]
    out = subprocess.run([*cli, "--ranks", "2", "--json", str(tmp_path / "two.json")], capture_output=True,
                         text=True, timeout=180)
    assert out.returncode == 0, out.stderr
    assert out.stdout.count("synaptic events") == 1  # one summary: rank 0's
    mpi_line = next(line for line in out.stdout.splitlines() if line.startswith("MPI ranks"))
    assert mpi_line.split(")", 1)[1].split()[:5] == ["2", "(20", "exchanges,", "one", "per"]
    one = json.loads(simulate(system, workload, ticks=20).to_json())
    two = json.loads((tmp_path / "two.json").read_text())
    assert two["timing_report"]["mpi"]["ranks"] == 2
    _same(one, two, 2)


def test_cli_ranks_bad_input_is_one_line_on_rank_0(split_files):
    """Every rank meets the error; rank 0 alone says it, and every rank exits."""
    tiny = str(Path(split_files[0]).with_name("tiny.yaml"))  # 4 cores
    cli = [sys.executable, "-m", "neuroemu.cli", "run", tiny, split_files[2], "--ticks", "5", "--ranks", "5"]
    out = subprocess.run(cli, capture_output=True, text=True, timeout=120)
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert out.returncode == 1 and lines == ["Error: ranks: 5 ranks for 4 cores: at most one rank per core"]


def test_full_ns16e_per_rank_estimate_splits_the_routes_and_is_refused_in_one_line(monkeypatch):
    """NS16e's routes were 2.7 GiB on every rank; now a rank's are its own share: on 16 ranks the
    routes and routing beyond the shared graph and flags are 1/16 of one rank's."""
    chip, wl = load_chip("ns16e"), load_workload(None)
    one, sixteen = rk.rank_bytes(chip, wl, 1), rk.rank_bytes(chip, wl, 16)
    G = chip.cores * chip.core.neurons
    fixed = routing_bytes(chip, routes=0) + rk.WHOLE_BYTES_PER_NEURON * G  # graph and flags: whole on each rank
    assert one["routes"] + one["routing"] - fixed == (rk.ROUTE_BYTES_PER_NEURON + ROUTE_BYTES) * G
    assert sixteen["routes"] + sixteen["routing"] - fixed == (one["routes"] + one["routing"] - fixed) // 16
    assert sixteen["held"] == one["held"] // 16 and sixteen["cores"] == chip.cores // 16
    peak = sixteen["build"] + sixteen["routes"] + sixteen["routing"]
    monkeypatch.setattr(rankshare, "available_memory_bytes", lambda: int(16 * peak / 0.8) - 1)
    with pytest.raises(CapacityError) as err:
        rk.check_rank_memory(chip, wl, 16, 16)
    assert "16 ranks on this machine need about" in str(err.value) and "GiB of routing" in str(err.value)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("option, message", [
    ({"timing": "async"}, "timing.mode: async does not run split over MPI ranks"),
    ({"network": "packet"}, "--network: packet does not run split over MPI ranks"),
    ({"max_events": 10}, "--max-events/--max-window-events: not checked across MPI ranks")])
def test_what_does_not_run_split_is_refused_in_one_line(split_files, option, message):
    loop = type("OneRank", (rk.RankLoop,), {"comm": OneRankOfTwo()})
    with pytest.raises(NeuroEmuError, match=message) as err:
        simulate(split_files[0], split_files[2], loop=loop, ticks=5, **option)
    assert "\n" not in str(err.value)


def test_cli_ranks_without_mpiexec_is_one_line(split_files, monkeypatch):
    from click.testing import CliRunner
    from neuroemu.cli import ranks as cli_ranks
    from neuroemu.cli.app import main
    monkeypatch.setattr(cli_ranks, "mpiexec_path", lambda: None)
    res = CliRunner().invoke(main, ["run", split_files[0], split_files[2], "--ranks", "2"])
    assert res.exit_code == 1 and res.output.strip().splitlines() == [
        "Error: --ranks: mpiexec not found: pip install 'neuroemu[mpi]' (mpi4py and MPICH as wheels)"]


def test_a_rank_that_raises_or_dies_mid_run_ends_every_rank(split_files):
    """Rank 1 fails at tick 5 while rank 0 waits in the exchange: never a hang (the timeout)."""
    exe, env = mpiexec_path(), dict(os.environ, PYTHONPATH=str(ROOT))
    for how in ("raise", "die"):
        out = subprocess.run([exe, "-n", "2", sys.executable, str(PROGRAM), "fault", split_files[0], split_files[2], how],
                             capture_output=True, text=True, timeout=120, env=env)
        errors = [line for line in out.stderr.splitlines() if line.startswith("Error")]
        assert out.returncode != 0
        assert errors == (["Error (rank 1): fault injected at tick 5"] if how == "raise" else []), out.stderr


def test_cli_ranks_says_when_a_rank_died_unheard(split_files, monkeypatch):
    from click.testing import CliRunner
    from neuroemu.cli import ranks as cli_ranks
    from neuroemu.cli.app import main
    monkeypatch.setattr(cli_ranks.subprocess, "call", lambda argv: 137)  # a rank killed by SIGKILL
    res = CliRunner().invoke(main, ["run", split_files[0], split_files[2], "--ranks", "2"])
    assert res.exit_code == 1 and res.output.strip().splitlines() == [
        "Error: --ranks: a rank ended abnormally (mpiexec exit code 137); every rank was stopped"]


def test_command_line_rebuilds_the_arguments_given(split_files):
    import click
    from neuroemu.cli.app import main
    from neuroemu.cli.ranks import command_line
    cmd = main.commands["run"]
    ctx = cmd.make_context("run", ["a.yaml", "b.yaml", "--ticks", "7", "--no-spikes", "--ranks", "3"])
    assert isinstance(ctx, click.Context)
    args = command_line(ctx)
    assert args[:2] == ["a.yaml", "b.yaml"] and args[args.index("--ticks") + 1] == "7"
    assert "--no-spikes" in args and "--ranks" not in args


def test_launch_environment_is_read_without_mpi():
    assert launched_size({}) == 1 and launched_rank({}) == 0
    assert launched_size({"PMI_SIZE": "4"}) == 4 and launched_rank({"PMI_RANK": "3"}) == 3
    assert launched_size({"OMPI_COMM_WORLD_SIZE": "2"}) == 2
    assert local_size(8, {"MPI_LOCALNRANKS": "2"}) == 2 and local_size(8, {}) == 8


@pytest.mark.parametrize("backend", ["c", "numpy"])
def test_blocks_stepped_apart_with_global_ids_match_the_whole_chip(tiny_files, backend):
    """Random bits keyed on global ids: two halves stepped on their own fire what the whole does."""
    chip, wl = load_chip(tiny_files[0]), load_workload(tiny_files[1])
    whole = build_network(chip, wl, wl.seed, "w")
    a = whole.arrays
    key = stream_key(wl.seed, STREAM_NEURON_RNG)
    full = TickStepper(rk.slice_arrays(a, 0, a.n_cores), whole.enabled, chip.core.membrane_bits, key, backend)
    halves = [rk._BlockStepper(rk.slice_arrays(a, c0, c1), whole.enabled[c0 * 32:c1 * 32], c0, a.n_cores,
                               chip.core.membrane_bits, key, backend, core_counts=True) for c0, c1 in ((0, 2), (2, 4))]
    rng = np.random.default_rng(0)
    fired_total = 0
    for t in range(30):
        axons = rng.choice(a.n_axons, 20, replace=False)
        fired, sops, active = full.step(t, axons)
        parts = [h.step(t, axons[(axons >= h.a0) & (axons < h.a0 + 64)]) for h in halves]
        assert np.concatenate([p[0] for p in parts]).tolist() == fired.tolist()
        assert sum(p[1] for p in parts) == sops and sum(p[2] for p in parts) == active
        fired_total += len(fired)
    assert fired_total > 0
    assert np.concatenate([h.inner.arrays.v for h in halves]).tolist() == full.arrays.v.tolist()


def test_rank_memory_is_estimated_and_checked_before_building(split_files, monkeypatch):
    """A generated network on a system: each rank builds its share alone and binds its own
    neurons' routes, so its estimate is the total / N (whole blocks: exactly, when N divides the
    blocks), routes included, beside the router graph and flags it holds whole."""
    chip, wl = load_chip(split_files[0]), load_workload(split_files[2])
    one, two, four = (rk.rank_bytes(chip, wl, n) for n in (1, 2, 4))
    assert one["by_block"] == four["by_block"] == 1 and one["held"] == one["build"] > 0
    flags, graph = rk.WHOLE_BYTES_PER_NEURON * 16 * 32, routing_bytes(chip, routes=0)
    assert one["routes"] == rk.ROUTE_BYTES_PER_NEURON * 16 * 32 + flags
    assert one["routing"] == routing_bytes(chip) == graph + ROUTE_BYTES * 16 * 32  # closed forms (test_systems)
    for n, share in ((2, two), (4, four)):
        assert share["held"] == share["build"] == -(-one["held"] // n)  # the total / N
        assert share["routes"] - flags == (one["routes"] - flags) // n  # its own neurons' routes
        assert share["routing"] - graph == (one["routing"] - graph) // n  # ... and their closed forms
        assert share["cores"] == 16 // n
    three = rk.rank_bytes(chip, wl, 3)  # the largest rank: 2 of 4 blocks
    assert three["held"] == -(-one["held"] * 8 // 16) and three["routes"] == rk.ROUTE_BYTES_PER_NEURON * 8 * 32 + flags
    peak = two["build"] + two["routes"] + two["routing"]
    monkeypatch.setattr(rankshare, "available_memory_bytes", lambda: int(peak * 2 / 0.8))
    assert rk.check_rank_memory(chip, wl, 2, 2) == two
    with pytest.raises(CapacityError, match="3 ranks on this machine need .* for its share of the network"):
        rk.check_rank_memory(chip, wl, 2, 3)


def test_mapped_rank_memory_is_its_share_of_the_arrays_beside_the_whole_graph(split_files, monkeypatch):
    """A mapped network: every rank reads and places the whole graph (its bytes exactly, and the
    mapping's per edge), and writes its share of the cores used: that share's arrays shrink as
    1 / N and cover what a rank really holds; a machine too small is refused in one line."""
    from neuroemu.config.loader import workload_for_network_file
    from neuroemu.engine.options import RunOptions
    from neuroemu.networks import partsize
    from neuroemu.networks.presentation import load_file_network
    chip = load_chip(split_files[0])
    wl = workload_for_network_file(split_files[3], mapping="spread", axon_copies=1, ticks=5)
    net = load_file_network(wl, "w")
    one, two, four = (rk.rank_bytes(chip, wl, n) for n in (1, 2, 4))
    graph = sum(getattr(net, f).nbytes for f in net.__dataclass_fields__ if isinstance(getattr(net, f), np.ndarray))
    for share in (one, two, four):
        assert share["by_part"] == 1 and share["by_block"] == 0
        assert share["graph"] == graph > 0  # whole on every rank
        assert share["mapping"] == partsize.MAP_BYTES_PER_EDGE * net.n_edges * chip.core.axon_types ** 2
        assert share["build"] == share["graph"] + share["mapping"] + share["held"]
    used = min(chip.cores, net.n_neurons * chip.core.axon_types)  # at most: spread puts a neuron a core
    assert (one["cores"], two["cores"], four["cores"]) == (used, -(-used // 2), -(-used // 4))
    assert one["held"] > two["held"] > four["held"] and abs(2 * two["held"] - one["held"]) <= one["held"] // 8
    whole = build_network(chip, wl, wl.seed, "w")
    assert one["held"] >= whole.arrays.nbytes() + whole.network_id.nbytes + whole.axon_delay.nbytes
    for rank in (0, 1):  # what each of two ranks holds is within its estimate
        loop = type("Half", (rk.RankLoop,), {"comm": _Rank(rank)})(chip, wl, RunOptions(ticks=5, seed=wl.seed))
        assert loop.setup_error is None and loop.memory == two
        assert two["held"] >= loop.stepper.inner.arrays.nbytes() > 0
    peak = rankshare.rank_peak(two)
    monkeypatch.setattr(rankshare, "available_memory_bytes", lambda: int(peak * 2 / 0.8))
    assert rk.check_rank_memory(chip, wl, 2, 2) == two
    with pytest.raises(CapacityError, match="3 ranks on this machine need .* the graph and its mapping whole and "
                                            "its share of the arrays"):
        rk.check_rank_memory(chip, wl, 2, 3)


class _Rank:
    """Rank ``rank`` of a two-rank communicator, for the setup only (no collective happens before run())."""

    def __init__(self, rank):
        self.rank = rank

    def Get_rank(self):
        return self.rank

    def Get_size(self):
        return 2


@pytest.mark.parametrize("rank", [0, 1])
def test_a_rank_builds_and_holds_only_its_own_cores(split_files, monkeypatch, rank):
    """No whole network is built (build_network would raise); the rank holds half the state arrays."""
    from neuroemu.engine import run as run_module
    from neuroemu.engine.options import RunOptions
    chip, wl = load_chip(split_files[0]), load_workload(split_files[2])
    whole = build_network(chip, wl, wl.seed, "w").arrays

    def no_whole(*args, **kwargs):
        raise AssertionError("the whole network was built")

    monkeypatch.setattr(run_module, "build_network", no_whole)
    loop = type("Half", (rk.RankLoop,), {"comm": _Rank(rank)})(chip, wl, RunOptions(ticks=5, seed=wl.seed))
    assert loop.setup_error is None
    held = loop.stepper.inner.arrays
    assert (loop.c0, loop.c1) == ((0, 8) if rank == 0 else (8, 16)) and held.n_cores == 8
    assert abs(2 * held.nbytes() - whole.nbytes()) <= 8  # half of everything (row_ptr has one entry more)
    assert loop.arrays.v is None and loop.network.part is None  # nothing else kept
    assert [len(s.stream.axons) for s in loop.inputs] == [8 * 4]  # its own input axons only
    # its own neurons' routes alone: bound, counted and priced at the sender; no other rank's kept
    g0, g1 = loop.c0 * 32, loop.c1 * 32
    assert loop.neuron_base == g0 and len(loop.spikes_per_neuron) == g1 - g0 == 256
    assert np.array_equal(loop.route_axon, whole.target_axon[g0:g1])
    assert np.array_equal(loop.route_delay, whole.delay[g0:g1])
    assert len(loop.router.neuron_latency(np.arange(g1 - g0))) == 256 and len(loop.router._src_router) == 256
    assert loop.arrays.target_axon is None and loop.arrays.delay is None
    assert loop.fast_routes is None or len(loop.fast_routes._records) == 256


@pytest.mark.parametrize("rank", [0, 1])
@pytest.mark.parametrize("fan_out", [False, True])
def test_a_rank_lays_out_and_holds_only_its_own_cores_of_a_mapped_network(split_files, fanout_system, monkeypatch,
                                                                           rank, fan_out):
    """A mapped network is read and placed whole, but the rank lays out and writes its own share of
    the cores used alone: its arrays are the whole build's cut (bit for bit, bytes and all), and
    nothing of the other cores' state or routes is built."""
    from neuroemu.config.loader import workload_for_network_file
    from neuroemu.engine.options import RunOptions
    from neuroemu.networks import compile as compile_module
    chip = load_chip(fanout_system if fan_out else split_files[0])
    wl = workload_for_network_file(split_files[3], mapping="spread", axon_copies=1, ticks=5)
    whole = build_network(chip, wl, wl.seed, "w").arrays
    laid, layout = [], compile_module.layout
    monkeypatch.setattr(compile_module, "layout", lambda *a, **k: laid.append(k["cores"]) or layout(*a, **k))
    loop = type("Half", (rk.RankLoop,), {"comm": _Rank(rank)})(chip, wl, RunOptions(ticks=5, seed=wl.seed))
    assert loop.setup_error is None
    k = whole.n_cores
    assert laid == [(loop.c0, loop.c1)] and 0 < loop.c1 - loop.c0 < k  # its own cores, laid out once
    held, cut = loop.stepper.inner.arrays, rk.slice_arrays(whole, loop.c0, loop.c1)
    for name in ("v", "weights", "axon_type", "row_ptr", "row_neurons", "target_axon", "delay", "row_weights", "u",
                 "chip_core"):
        a, b = getattr(held, name), getattr(cut, name)
        assert (a is None and b is None) or np.array_equal(a, b), name
    N = whole.neurons_per_core
    if fan_out:  # its neurons' fan-out routes only (bound by the rank, and kept with its arrays)
        lo, hi = whole.fanout_ptr[loop.c0 * N], whole.fanout_ptr[loop.c1 * N]
        assert np.array_equal(held.fanout_axon, whole.fanout_axon[lo:hi]) and 0 < hi - lo < len(whole.fanout_axon)
        assert held.nbytes() - held.fanout_ptr.nbytes - held.fanout_axon.nbytes - held.fanout_delay.nbytes \
            == cut.nbytes()
    else:
        assert held.nbytes() == cut.nbytes() < whole.nbytes()
    assert loop.arrays.v is None and loop.arrays.row_ptr is None and loop.network.part is None  # nothing else
    assert len(loop.network.network_id) == (loop.c1 - loop.c0) * N


@pytest.mark.parametrize("rank", [0, 1])
def test_a_rank_draws_a_single_chips_streams_and_holds_only_its_own_cores(tiny_files, monkeypatch, rank):
    """A single chip keeps its whole-chip streams: the rank draws them in order (never builds the
    whole network) and holds its own cores' arrays, the whole network's cut bit for bit; its
    estimate is the total / N plus the transients of drawing."""
    from neuroemu.engine import run as run_module
    from neuroemu.engine.options import RunOptions
    from neuroemu.networks.chippart import chip_part_transient_bytes
    chip, wl = load_chip(tiny_files[0]), load_workload(tiny_files[1])
    whole = build_network(chip, wl, wl.seed, "w").arrays

    def no_whole(*args, **kwargs):
        raise AssertionError("the whole network was built")

    monkeypatch.setattr(run_module, "build_network", no_whole)
    loop = type("Half", (rk.RankLoop,), {"comm": _Rank(rank)})(chip, wl, RunOptions(ticks=5, seed=wl.seed))
    assert loop.setup_error is None and (loop.c0, loop.c1) == ((0, 2), (2, 4))[rank]
    held, cut = loop.stepper.inner.arrays, rk.slice_arrays(whole, loop.c0, loop.c1)
    for name in ("v", "weights", "axon_type", "row_ptr", "row_neurons", "target_axon", "delay", "dense"):
        a, b = getattr(held, name), getattr(cut, name)
        assert (a is None and b is None) or np.array_equal(a, b), name
    assert held.nbytes() == cut.nbytes() and 2 * held.nbytes() - whole.nbytes() <= 8
    assert loop.arrays.v is None and loop.network.part is None
    memory = rk.rank_bytes(chip, wl, 2)
    assert memory["by_part"] == 1 and memory["by_block"] == 0 and loop.memory == memory
    assert memory["build"] == memory["held"] + chip_part_transient_bytes(chip) < rk.rank_bytes(chip, wl, 1)["held"] \
        + chip_part_transient_bytes(chip)
    assert memory["held"] == -(-rk.rank_bytes(chip, wl, 1)["held"] // 2)


def test_two_ranks_give_the_one_process_record_on_a_single_chip(tiny_files):
    """The single chip's whole-chip streams, drawn by each rank for its own cores: the record is the
    one process's."""
    one = _one(tiny_files[0], tiny_files[1], "sync")
    assert one["spikes"] > 0
    split = _split(2, tiny_files[0], tiny_files[1], "sync")
    assert split["timing_report"]["mpi"]["memory_estimate_bytes_per_rank"]["by_part"] == 1
    assert min(split["timing_report"]["mpi"]["exchanged_spikes_per_rank"]) > 0
    _same(one, split, 2)


@pytest.fixture
def fanout_system(write_yaml, small_chip):
    """A 2 x 2 system of the tiny chip with a current-based neuron: mapped networks fan out
    (one route per neuron and target core)."""
    cuba = dict(small_chip, name="tiny_cuba", core=dict(small_chip["core"], neuron_model="cuba_lif"))
    write_yaml("tiny_cuba.yaml", cuba)
    return write_yaml("sys_cuba.yaml", {"name": "sys_cuba", "system": {"chip": "tiny_cuba.yaml", "grid": [2, 2],
                                                                       "link": LINK}})


def test_two_ranks_give_the_one_process_record_with_fan_out_routes(split_files, fanout_system):
    """Each rank binds and prices its own neurons' fan-out routes; rank 0's sums are the record's."""
    layers = split_files[3]
    one = _one(fanout_system, layers, "gals", "spread")
    assert one["spikes"] > 0 and one["timing_report"]["latency_samples"] > 0
    split = _split(2, fanout_system, layers, "gals", "spread")
    bound = split["timing_report"]["mpi"]["routes_bound_per_rank"]
    routes = _routes_of_mapped(fanout_system, layers)
    assert min(bound) > 0 and sum(bound) == routes > one["workload_report"]["mapping"]["neurons"]  # fan-out
    _same(one, split, 2)


@pytest.mark.parametrize("rank", [0, 1])
def test_a_rank_binds_only_its_own_neurons_fan_out_routes(split_files, fanout_system, rank):
    """A mapped network (several routes per neuron), built whole and sliced: the rank keeps its
    own neurons' routes (each neuron's in order) and drops the whole network's."""
    from neuroemu.config.loader import workload_for_network_file
    from neuroemu.engine.options import RunOptions
    chip = load_chip(fanout_system)
    wl = workload_for_network_file(split_files[3], mapping="spread", axon_copies=1, ticks=5)
    a = build_network(chip, wl, wl.seed, "w").arrays
    src, axon, delay = a.routes()
    loop = type("Half", (rk.RankLoop,), {"comm": _Rank(rank)})(chip, wl, RunOptions(ticks=5, seed=wl.seed))
    assert loop.setup_error is None and loop.fanout
    N = a.neurons_per_core
    mine = (src >= loop.c0 * N) & (src < loop.c1 * N)
    assert 0 < mine.sum() < len(src) and len(loop.route_axon) == mine.sum()
    assert np.array_equal(loop.route_src + loop.neuron_base, src[mine])
    assert np.array_equal(loop.route_axon, axon[mine]) and np.array_equal(loop.route_delay, delay[mine])
    assert loop.arrays.fanout_ptr is None and loop.arrays.fanout_axon is None
    fired = np.flatnonzero(np.diff(a.fanout_ptr)[loop.c0 * N:loop.c1 * N])  # its neurons that send, local ids
    routes, per = loop._routes_of(fired)
    assert np.array_equal(loop.route_src[routes], np.repeat(fired, per))


def test_routes_priced_apart_and_summed_are_the_whole_routers_prices(split_files):
    """What rank 0 sums (engine/ranks.py finish) is what one router over every route gives: hops
    per class, wire and packets per link as integer sums, and the latency histograms merged
    (the percentiles read from the same distribution), for any cut of the routes."""
    from neuroemu.hardware.chip import Router, build_chip_topology, latency_counts, latency_summary
    chip, wl = load_chip(split_files[0]), load_workload(split_files[2])
    a = build_network(chip, wl, wl.seed, "w").arrays
    N, A = a.neurons_per_core, a.axons_per_core
    src = np.arange(a.n_neurons) // N
    dst = np.where(a.target_axon >= 0, np.maximum(a.target_axon, 0) // A, -1)
    topo = build_chip_topology(chip)
    spikes = np.random.default_rng(1).integers(0, 9, a.n_neurons).astype(np.int64)
    whole = Router(topo)
    whole.bind(src, dst)
    want = latency_summary(*whole.latency_histogram(spikes))
    assert want["_latency_samples"] > 0 and want["latency_p99_s"] > want["latency_p50_s"]  # a spread to cut
    for cuts in ([0, 256, 512], [0, 96, 200, 416, 512]):
        parts = []
        for g0, g1 in zip(cuts, cuts[1:]):
            r = Router(topo)
            r.bind(src[g0:g1], dst[g0:g1])
            s = spikes[g0:g1]
            parts.append((r.class_hops_of(s), r.wire_nm(s), r.link_loads(s), r.latency_histogram(s)))
        assert np.array_equal(sum(p[0] for p in parts), whole.class_hops_of(spikes))
        assert sum(p[1] for p in parts) == whole.wire_nm(spikes)
        assert np.array_equal(sum(p[2] for p in parts), whole.link_loads(spikes))
        merged = latency_counts(np.concatenate([p[3][0] for p in parts]), np.concatenate([p[3][1] for p in parts]))
        assert latency_summary(*merged) == want


@pytest.mark.parametrize("rank", [0, 1])
def test_a_rank_lays_out_only_its_own_cores_of_a_presentation(digits_files, monkeypatch, rank):
    """A presentation (classify) is mapped by part as any file network: the rank lays out its own
    share of the cores used alone, holds that cut of the whole build, and its readout reads only
    the output neurons on its own cores."""
    from neuroemu.engine.options import RunOptions
    from neuroemu.networks import compile as compile_module
    chip, wl = load_chip(digits_files[0]), load_workload(digits_files[2])
    whole_net = build_network(chip, wl, wl.seed, "w")
    whole = whole_net.arrays
    laid, layout = [], compile_module.layout
    monkeypatch.setattr(compile_module, "layout", lambda *a, **k: laid.append(k["cores"]) or layout(*a, **k))
    loop = type("Half", (rk.RankLoop,), {"comm": _Rank(rank)})(chip, wl, RunOptions(ticks=5, seed=wl.seed))
    assert loop.setup_error is None
    assert laid == [(loop.c0, loop.c1)] and 0 < loop.c1 - loop.c0 < whole.n_cores  # its own cores, laid out once
    held, cut = loop.stepper.inner.arrays, rk.slice_arrays(whole, loop.c0, loop.c1)
    assert held.nbytes() == cut.nbytes() < whole.nbytes()
    for name in ("v", "weights", "row_ptr", "row_neurons", "target_axon", "delay"):
        a, b = getattr(held, name), getattr(cut, name)
        assert (a is None and b is None) or np.array_equal(a, b), name
    g0, g1 = loop.c0 * whole.neurons_per_core, loop.c1 * whole.neurons_per_core
    outputs = whole_net.hooks.outputs
    assert loop.hooks.arrays is loop._local and np.array_equal(loop.hooks.outputs, outputs)
    assert np.array_equal(loop.hooks._own, np.flatnonzero((outputs >= g0) & (outputs < g1)))


@pytest.mark.parametrize("ranks, on_system, timing", [(2, False, "sync"), (2, False, "gals"), (2, False, "barrier"),
                                                      (4, True, "sync")])
def test_ranks_classify_as_one_process_does(digits_files, ranks, on_system, timing):
    """Presentations split: each rank resets its own cores and drops its own queued spikes at every
    sample's end (after an exchange there, so spikes crossing ranks are dropped alike), and rank 0's
    readout, merged from the ranks', gives the one process's classification report and record."""
    chip, system, workload = digits_files
    chip = system if on_system else chip
    one = _one(chip, workload, timing)
    report = one["workload_report"]["classification"]
    assert report["samples"] == 6 and report["output_spikes_per_classification"] > 0
    assert report["in_flight_dropped_at_reset"] > 0  # spikes were in flight at the resets, and dropped
    split = _split(ranks, chip, workload, timing)
    mpi = split["timing_report"]["mpi"]
    assert min(mpi["exchanged_spikes_per_rank"]) > 0  # the network spans every rank's cores
    # after every third tick and after each of the 6 samples' last ticks (4 of them inside a window)
    ends = set(range(3, 6 * 34 + 1, 3)) | set(range(34, 6 * 34 + 1, 34))
    assert mpi["window_ticks"] == 3 and mpi["exchanges"] == len(ends) == 68 + 4
    _same(one, split, ranks)
