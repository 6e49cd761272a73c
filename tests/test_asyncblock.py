"""The clockless loop's fast path (engine/asyncblock.py, hardware/asyncloop.py + async_loop.c): whole
records equal to the per-window loop's, bit for bit -- windows and threshold checks included -- on
both queues and across runs; the rule that chooses it."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from neuroemu.config.loader import chip_from_data, workload_from_data
from neuroemu.engine.asyncblock import STOP_TICKS, ineligible
from neuroemu.engine.asynccore import AsyncCoreLoop
from neuroemu.engine.options import RunOptions
from neuroemu.engine.run import simulate
from neuroemu.errors import NeuroEmuError, RunawayError
from neuroemu.models.neuron import NeuronArrays
from neuroemu.networks.edgelist import save_network
from neuroemu.networks.graph import NetworkBuilder

sys.path.insert(0, str(Path(__file__).resolve().parent))
from conservation import assert_conserved  # noqa: E402
from test_async_cores import chip_data  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
T = 10**9  # one 1 ms tick in ps
#: (name, NEUROEMU_BLOCK, queue, tick backend the record must name)
PATHS = (("fast", "on", "c", "c+loop"), ("again", "on", "c", "c+loop"), ("window", "off", "c", "c"),
         ("python queue", "on", "python", "c"))


def make_chip(**changes):
    """The default TrueNorth chip cut to 4 cores (2 x 2 mesh): its hops give routes a latency."""
    return chip_from_data(chip_data(**changes), "tiny_chip.yaml")


def make_workload(ticks=150, seed=5, **net):
    """Recurrent, delays 1-3 ticks, Poisson inputs (chunks of 64 ticks: 150 ticks take three)."""
    network = {"kind": "random_recurrent", "synapses_per_axon": 32, "rate_hz": 30.0, "stochastic": True,
               "weights": [3, 2, -1, -2], "delay_ticks": [1, 3]}
    network.update(net)
    data = {"name": "tiny", "ticks": ticks, "seed": seed, "network": network,
            "inputs": [{"kind": "poisson", "rate_hz": 60.0, "axons_per_core": 32}]}
    return workload_from_data(data, "tiny.yaml")


def whole(record) -> dict:
    """The whole record but its wall time, memory and the names of the backends that ran."""
    d = record.to_dict()
    for key in ("wall_s", "peak_rss_mb", "tick_backend", "queue_backend"):
        d.pop(key)
    return d


def runs(monkeypatch, chip, workload, **kw) -> dict:
    """The same async run through every path of PATHS: name -> record (each checked to have run there)."""
    out = {}
    for name, block, queue, backend in PATHS:
        monkeypatch.setenv("NEUROEMU_BLOCK", block)
        out[name] = simulate(chip, workload, timing="async", queue=queue, record_spikes=True, **kw)
        assert out[name].tick_backend == backend, name
    return out


def assert_identical(records: dict) -> None:
    base = whole(records["window"])
    for name, r in records.items():
        assert whole(r) == base, name
        assert_conserved(r)
    assert records["fast"].spikes > 0 and records["fast"].axon_events > 0


@pytest.mark.parametrize("seed", [1, 2])
def test_the_default_workload_is_the_same_record_on_every_path(monkeypatch, seed):
    """The embedded default (16 TrueNorth cores, stochastic leak, recurrent, Poisson inputs)."""
    records = runs(monkeypatch, None, None, ticks=100, seed=seed)
    assert_identical(records)
    assert records["fast"].loop_stats["windows"] == 100  # a window a tick: the leak steps run every tick


@pytest.mark.parametrize("reset", ["linear", "zero", "none"])
def test_stochastic_leak_and_threshold_every_reset_mode(monkeypatch, reset):
    """A stochastic threshold (patched in: mask 7) on top of the stochastic leak; inputs over three
    chunks; routes with hop latency, so windows do not start on ticks; crossings checked."""
    orig = NeuronArrays.uniform
    monkeypatch.setattr(NeuronArrays, "uniform", classmethod(lambda cls, n, **kw: orig(n, **{**kw, "threshold_mask": 7})))
    records = runs(monkeypatch, make_chip(latency__hop_ns={"value": 2.0, "source": "test"}),
                   make_workload(reset=reset, threshold=None))
    assert_identical(records)
    assert records["fast"].timing_report["spike_flow"]["in_flight_end"] > 0


def test_leak_driven_crossings_with_no_stochastic_step(monkeypatch):
    """No stochastic leak: windows start only at events, and a positive leak brings neurons to
    threshold alone (checks queued at their crossings, some moved by inputs and going stale)."""
    records = runs(monkeypatch, make_chip(), make_workload(stochastic=False, rate_hz=100.0, threshold=None, seed=9))
    assert_identical(records)
    stats = records["fast"].loop_stats
    assert stats["threshold_checks"] > 0


@pytest.mark.parametrize("guard", [{"max_window_events": 40}, {"max_events": 3000}])
def test_a_runaway_guard_stops_every_path_at_the_same_window(monkeypatch, guard):
    """Arrivals in one window, or in the run so far, past the limit: every path raises at the same
    window with the same partial record."""
    partial = {}
    for name, block, queue, backend in PATHS:
        monkeypatch.setenv("NEUROEMU_BLOCK", block)
        with pytest.raises(RunawayError, match="runaway activity") as exc:
            simulate(make_chip(), make_workload(ticks=200), timing="async", queue=queue, record_spikes=True, **guard)
        partial[name] = exc.value.partial_record
        assert partial[name].tick_backend == backend
    base = whole(partial["window"])
    assert all(whole(r) == base for r in partial.values())
    assert 0 < partial["fast"].ticks < 200 and partial["fast"].loop_stats["windows"] > 0


def test_progress_is_reported_every_stop_ticks_and_at_the_end(monkeypatch):
    """The per-window loop reports at each tick a window starts in; the fast path every STOP_TICKS
    ticks (a subset of those calls), and both end with (ticks, ticks); the records are the same."""
    seen, records = {}, {}
    ticks = 2 * STOP_TICKS + 90
    for block in ("on", "off"):
        monkeypatch.setenv("NEUROEMU_BLOCK", block)
        calls = []
        r = simulate(make_chip(), make_workload(ticks=ticks, stochastic=False, rate_hz=0.0), timing="async",
                     queue="c", progress=lambda d, n: calls.append((d, n)))
        assert r.tick_backend == {"on": "c+loop", "off": "c"}[block]
        seen[block], records[block] = calls, whole(r)
    assert records["on"] == records["off"]
    assert seen["on"] == [(STOP_TICKS, ticks), (2 * STOP_TICKS, ticks), (ticks, ticks)]
    assert set(seen["on"]) <= set(seen["off"]) and seen["off"][-1] == (ticks, ticks) and len(seen["off"]) > 10


def recurrent_edgelist(tmp_path, n_in=16, n=48, seed=0):
    """A mapped network (edge list): inputs -> a recurrent IF group with integer weights, one-tick and
    three-tick delays; a few neurons with a bias that fire on their own."""
    rng = np.random.default_rng(seed)
    b = NetworkBuilder("mapped")
    b.add_inputs("in", n_in)
    b.add_neurons("a", n, model="IF", threshold=4.0, reset="zero")
    w_in = rng.integers(-1, 3, (n_in, n)) * (rng.random((n_in, n)) < 0.3)
    b.connect("in", "a", w_in)
    w_rec = rng.integers(-2, 3, (n, n)) * (rng.random((n, n)) < 0.1)
    b.connect("a", "a", w_rec, delay=3)
    b.set_input_spikes(rng.integers(0, 130, 600), rng.integers(0, n_in, 600))
    save_network(b.build(outputs="a"), tmp_path / "mapped.npz")
    return workload_from_data({"name": "mapped", "ticks": 140,
                               "network": {"kind": "edgelist", "file": str(tmp_path / "mapped.npz")}}, "mapped.yaml")


def test_a_mapped_edge_list(monkeypatch, tmp_path):
    records = runs(monkeypatch, make_chip(), recurrent_edgelist(tmp_path))
    assert_identical(records)


def test_presentations_of_the_digits_classifier(monkeypatch):
    """Ten samples (34 ticks each): readout and reset at each boundary, the spikes still in
    flight dropped there (counted), the classification report the same."""
    records = runs(monkeypatch, "truenorth", ROOT / "workloads" / "digits.yaml", ticks=34 * 10)
    assert_identical(records)
    fast = records["fast"]
    assert fast.workload_report["classification"]["samples"] == 10
    assert fast.counts.get("in_flight_dropped_at_reset", 0) > 0


# --- the rule that chooses the path ---------------------------------------------------------------

def loop_of(chip, workload, **opt):
    return AsyncCoreLoop(chip, workload, RunOptions(ticks=20, seed=1, **opt))


def test_the_fast_path_is_taken_where_it_applies_and_the_reason_named_where_not(monkeypatch, tmp_path):
    c, w = make_chip(), make_workload(ticks=20)
    monkeypatch.setenv("NEUROEMU_BLOCK", "on")
    assert ineligible(loop_of(c, w, queue="c"), False) is None
    assert ineligible(loop_of(c, w, queue="c"), True) == "a split or hooked loop (a subclass)"
    assert ineligible(loop_of(c, w, queue="python"), False) == "the Python event queue"
    assert ineligible(loop_of(c, w, queue="c", tick_backend="numpy"), False) == \
        "no C window kernel for this model or tick backend"
    assert ineligible(loop_of(c, w, queue="c", network="packet"), False) == "the packet network"
    learn = workload_from_data({"name": "l", "ticks": 20, "network": {"kind": "edgelist",
                                "file": str(recurrent_edgelist(tmp_path).network.file)},
                                "learning": {"rule": "stdp"}}, "l.yaml")
    assert ineligible(loop_of(c, learn, queue="c"), False) == "a learning rule"
    monkeypatch.setenv("NEUROEMU_BLOCK", "off")
    assert ineligible(loop_of(c, w, queue="c"), False) == "NEUROEMU_BLOCK=off"
    monkeypatch.setenv("NEUROEMU_BLOCK", "sometimes")
    with pytest.raises(NeuroEmuError, match="NEUROEMU_BLOCK: unknown value 'sometimes'; valid: on, off"):
        simulate(c, w, timing="async")


def test_a_packet_network_runs_window_by_window(monkeypatch):
    monkeypatch.setenv("NEUROEMU_BLOCK", "on")
    r = simulate(make_chip(), make_workload(ticks=20), timing="async", queue="c", network="packet")
    assert r.tick_backend == "c" and r.spikes > 0


def test_a_run_longer_than_the_periodic_return(monkeypatch):
    """Past STOP_TICKS with no progress callback the C loop comes back to Python and goes on: the
    same record as the per-window loop."""
    w = make_workload(ticks=STOP_TICKS + 76, rate_hz=10.0)
    out = {}
    for block in ("on", "off"):
        monkeypatch.setenv("NEUROEMU_BLOCK", block)
        out[block] = simulate(make_chip(), w, timing="async", queue="c", record_spikes=True)
    assert out["on"].tick_backend == "c+loop"
    assert whole(out["on"]) == whole(out["off"]) and out["on"].loop_stats["windows"] > STOP_TICKS


class _Queue:
    """An event queue as ineligible sees it: its backend's name, and an address when it is the C queue."""

    def __init__(self, backend, address=True):
        self.backend = backend
        if address:
            self.address = lambda: 0


def _fit_loop(**changes):
    """What ineligible reads of a loop the fast path takes; ``changes`` set one condition at a time."""
    from types import SimpleNamespace
    base = dict(ckernel=object(), queue=_Queue("c"), packets=None, fanout=False, learning=None, read_noise=None,
                _dac=False, n0=0)
    return SimpleNamespace(**{**base, **changes})


@pytest.mark.parametrize("changes, reason", [
    ({}, None),
    ({"ckernel": None}, "no C window kernel for this model or tick backend"),
    ({"queue": _Queue("python")}, "the Python event queue"),
    ({"queue": _Queue("c", address=False)}, "the Python event queue"),
    ({"queue": _Queue("python", address=True), "packets": object()}, "the Python event queue"),
    ({"packets": object()}, "the packet network"),
    ({"fanout": True}, "fan-out routes"),
    ({"learning": object()}, "a learning rule"),
    ({"read_noise": object()}, "NVM periphery"),
    ({"_dac": True}, "NVM periphery"),
    ({"n0": 1}, "a part of the network"),
    ({"n0": 64, "ckernel": None}, "no C window kernel for this model or tick backend"),   # the first one named
])
def test_each_condition_alone_names_its_reason_and_the_first_one_wins(monkeypatch, changes, reason):
    """The rule itself, one condition at a time (some cannot meet on a real loop: NVM periphery and
    fan-out tables need a model without the C window kernel, a part of the network a subclass)."""
    monkeypatch.setenv("NEUROEMU_BLOCK", "on")
    assert ineligible(_fit_loop(**changes), False) == reason
    assert ineligible(_fit_loop(**changes), True) == (reason if changes.get("ckernel", 1) is None
                                                      or "queue" in changes else "a split or hooked loop (a subclass)")


def test_an_unbuilt_c_loop_is_named(monkeypatch):
    monkeypatch.setenv("NEUROEMU_BLOCK", "on")
    monkeypatch.setattr("neuroemu.engine.asyncblock.available", lambda: False)
    assert ineligible(_fit_loop(), False) == "the C window loop is not built"
    monkeypatch.setenv("NEUROEMU_BLOCK", "off")
    assert ineligible(_fit_loop(), False) == "NEUROEMU_BLOCK=off"


def _drawn_chunk_by_chunk(stream, ticks):
    """The stream's own spikes, drawn one chunk at a time as the per-window loop asks for them."""
    return [stream.events(lo, min(ticks, lo + stream.CHUNK)) for lo in range(0, ticks, stream.CHUNK)]


@pytest.mark.parametrize("system", [False, True])
def test_inputs_drawn_ahead_are_the_streams_own_chunks(system, write_yaml, small_chip):
    """A Poisson stream drawn a block of ticks at a time (the fast path's DrawnAhead) hands out each
    chunk's spikes as drawn alone, in order, across blocks, with a start and stop tick and a last
    chunk cut short; on one chip (one draw over every axon) and on a system (block by block)."""
    from neuroemu.engine.asyncblock import BLOCK_TICKS, DrawnAhead
    from neuroemu.networks.workloads import PoissonInput, build_inputs, build_network
    chip = make_chip()
    if system:
        write_yaml("tiny.yaml", small_chip)
        link = {"hop_pj": 40.0, "hop_ns": 25.0, "bandwidth_pkts_per_ns": 0.5}
        chip = chip_from_data({"name": "sys", "system": {"chip": "tiny.yaml", "grid": [2, 1], "link": link}},
                              write_yaml("sys.yaml", {}))
    ticks = BLOCK_TICKS + 3 * 64 + 21
    data = {"name": "tiny", "ticks": ticks, "seed": 4,
            "network": {"kind": "random_recurrent", "synapses_per_axon": 8, "rate_hz": 0.0},
            "inputs": [{"kind": "poisson", "rate_hz": 80.0, "axons_per_core": 8, "start_tick": 70,
                        "stop_tick": BLOCK_TICKS + 100}]}
    w = workload_from_data(data, "tiny.yaml")
    stream, = build_inputs(chip, w, build_network(chip, w, 4, "tiny"), 4, "tiny")
    assert type(stream) is PoissonInput and (stream.block_axons is not None) == system
    want = _drawn_chunk_by_chunk(stream, ticks)
    ahead = DrawnAhead(stream, ticks)
    got = _drawn_chunk_by_chunk(ahead, ticks)
    assert len(got) == len(want) == -(-ticks // 64)
    for (gt, ga), (wt, wa) in zip(got, want):
        np.testing.assert_array_equal(gt, wt)
        np.testing.assert_array_equal(ga, wa)
    assert sum(len(t) for t, _ in want) > 1000 and len(want[0][0]) == 0 and len(want[-1][0]) == 0


@pytest.mark.parametrize("seed, keep_min", [(1, None), (3, None), (1, 0)])
def test_spikes_counted_as_they_come_price_the_routes_as_the_trains_do(monkeypatch, seed, keep_min):
    """Without spike trains the spikes are kept (the fast path's copied out of the C loop's buffers)
    and counted per neuron together (``keep_min`` 0: every 4 x 256 spikes, during the run): the same
    record on every path, and the same hops, wire and latencies as the run that keeps its trains."""
    from neuroemu.engine.asyncroutes import ClocklessRoutes
    if keep_min is not None:
        monkeypatch.setattr(ClocklessRoutes, "KEEP_MIN", keep_min)
    w = make_workload(ticks=220, seed=seed)
    out = {}
    for name, block, queue, backend in PATHS:
        monkeypatch.setenv("NEUROEMU_BLOCK", block)
        out[name] = simulate(make_chip(), w, timing="async", queue=queue)
        assert out[name].tick_backend == backend and out[name].spike_trains is None
    base = whole(out["window"])
    for name, r in out.items():
        assert whole(r) == base, name
    kept = simulate(make_chip(), w, timing="async", record_spikes=True)
    assert kept.hops > 0 and kept.counts == out["fast"].counts and kept.spikes > 4 * 4 * 256
    assert kept.timing_report == out["fast"].timing_report


# --- inputs queued inside the C loop (drawn ahead BLOCK_TICKS ticks at a time) -------------------

def runs_with_queue(monkeypatch, chip, workload, paths=PATHS, **kw) -> tuple[dict, dict]:
    """runs(), and what each run left in its event queue at the end: the events (time, seq, kind,
    target, in queue order) and the next seq number, as the record's spike flow drains it."""
    left = {}
    orig = AsyncCoreLoop._spike_flow

    def spy(self):
        q = self.queue
        rest = q.pop_before(1 << 62)
        left[self.backend, q.backend] = (rest.time.tolist(), rest.seq.tolist(), rest.kind.tolist(),
                                         rest.target.tolist(), q.push(1 << 62, KIND_PROBE, 0))
        q.pop_before = lambda *a: rest  # the spike flow counts the same events
        return orig(self)

    monkeypatch.setattr(AsyncCoreLoop, "_spike_flow", spy)
    out, queues = {}, {}
    for name, block, queue, backend in paths:
        monkeypatch.setenv("NEUROEMU_BLOCK", block)
        out[name] = simulate(chip, workload, timing="async", queue=queue, record_spikes=True, **kw)
        assert out[name].tick_backend == backend, name
        queues[name] = left.pop((backend, queue))
    return out, queues


KIND_PROBE = 9  # a kind no loop uses: pushed once to read the queue's next seq number


def assert_same_queues(queues: dict, left: bool = True) -> None:
    """The same events left, seq numbers included, and the same next seq (``left``: some left)."""
    base = queues["window"]
    for name, q in queues.items():
        assert q == base, name
    assert (len(base[0]) > 0) == left and base[4] > 0


def two_streams(ticks, start=70, stop=None, rate_hz=120.0):
    """make_workload with two Poisson streams (so a chunk's batch is both streams' spikes, in
    stream order), the second with start and stop ticks."""
    w = make_workload(ticks=ticks, rate_hz=10.0)
    extra = {"kind": "poisson", "rate_hz": rate_hz, "axons_per_core": 16, "start_tick": start,
             "stop_tick": stop if stop is not None else ticks}
    data = {"name": "tiny", "ticks": ticks, "seed": 5,
            "network": {"kind": "random_recurrent", "synapses_per_axon": 32, "rate_hz": 10.0, "stochastic": True,
                        "weights": [3, 2, -1, -2], "delay_ticks": [1, 3]},
            "inputs": [{"kind": "poisson", "rate_hz": 60.0, "axons_per_core": 32}, extra]}
    assert w.ticks == ticks
    return workload_from_data(data, "tiny.yaml")


@pytest.mark.parametrize("ticks, start, stop", [(2 * 2048 + 3 * 64 + 21, 70, 2048 + 100),  # across two block ends
                                                (2048 + 64, 2040, 2048 + 30),                # a stream only near one
                                                (2048, 0, 2048)])                            # exactly one block
def test_inputs_across_the_drawn_ahead_blocks_queue_the_same_events_and_seq_numbers(monkeypatch, ticks, start, stop):
    """Two streams, one with start and stop ticks, over runs that cross the blocks drawn ahead (and
    one exactly a block long): the record and what is left queued at the end, seq numbers included,
    are the per-window loop's on both queues."""
    from neuroemu.engine.asyncblock import BLOCK_TICKS
    assert BLOCK_TICKS == 2048
    records, queues = runs_with_queue(monkeypatch, make_chip(latency__hop_ns={"value": 2.0, "source": "test"}),
                                      two_streams(ticks, start, stop))
    assert_identical(records)
    assert_same_queues(queues)
    flow = records["fast"].timing_report["spike_flow"]
    assert flow["inputs"] > 0 and flow["in_flight_end"] > 0


def test_presentations_across_a_drawn_ahead_block(monkeypatch):
    """Sample boundaries every 34 ticks, one falling inside the chunk where the block ends (2,048 =
    60 x 34 + 8): readout, reset and the dropped spikes the per-window loop's, queue included."""
    paths = tuple(p for p in PATHS if p[0] in ("fast", "window"))
    records, queues = runs_with_queue(monkeypatch, "truenorth", ROOT / "workloads" / "digits.yaml", paths=paths,
                                      ticks=34 * 62)
    assert_identical(records)
    assert_same_queues(queues, left=False)  # the last sample's spikes: dropped at the end
    assert records["fast"].workload_report["classification"]["samples"] == 62


@pytest.mark.parametrize("inputs", [None, "on_cores"])
def test_an_edge_lists_input_spikes_across_a_block(monkeypatch, tmp_path, inputs):
    """Input spikes known in advance (a SpikeListInput, or packets from the inputs' cores at their
    arrivals: drawn chunk by chunk into the block) past the first block's end: the same record and
    queue."""
    rng = np.random.default_rng(3)
    b = NetworkBuilder("mapped")
    b.add_inputs("in", 16)
    b.add_neurons("a", 48, model="IF", threshold=4.0, reset="zero")
    b.connect("in", "a", rng.integers(0, 3, (16, 48)) * (rng.random((16, 48)) < 0.3))
    b.connect("a", "a", rng.integers(-2, 3, (48, 48)) * (rng.random((48, 48)) < 0.1), delay=3)
    b.set_input_spikes(rng.integers(1900, 2300, 900), rng.integers(0, 16, 900))
    save_network(b.build(outputs="a"), tmp_path / "m.npz")
    network = {"kind": "edgelist", "file": str(tmp_path / "m.npz"), **({"inputs": inputs} if inputs else {})}
    w = workload_from_data({"name": "m", "ticks": 2301, "network": network}, "m.yaml")
    records, queues = runs_with_queue(monkeypatch, make_chip(latency__hop_ns={"value": 2.0, "source": "test"}), w)
    assert_identical(records)
    assert_same_queues(queues)
    flow = records["fast"].timing_report["spike_flow"]
    assert (flow.get("inputs_routed", 0) > 0) == (inputs == "on_cores")


def test_ctrl_c_at_a_progress_report_stops_the_fast_path(monkeypatch):
    """Ctrl-C (KeyboardInterrupt from the progress callback, as the CLI's) is seen at the periodic
    return though the inputs are queued in C: the run stops at the first report."""
    monkeypatch.setenv("NEUROEMU_BLOCK", "on")
    seen = []

    def interrupt(done, total):
        seen.append(done)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        simulate(make_chip(), two_streams(3 * STOP_TICKS), timing="async", queue="c", progress=interrupt)
    assert seen == [STOP_TICKS]


@pytest.mark.parametrize("record_spikes", [True, False])  # False: the fast path counts the spikes in C
@pytest.mark.parametrize("guard", [{"max_events": 50_000}, {"max_window_events": 45}])
def test_a_runaway_past_the_first_block_stops_every_path_at_the_same_window(monkeypatch, guard, record_spikes):
    """A guard tripped after the first block drawn ahead: the same partial record (inputs queued so
    far included, route prices from the spikes counted so far) on every path."""
    partial = {}
    w = two_streams(2 * 2048, start=2100, stop=2400, rate_hz=600.0)  # ~22 arrivals a window before 2,100, ~60 after
    for name, block, queue, backend in PATHS:
        monkeypatch.setenv("NEUROEMU_BLOCK", block)
        with pytest.raises(RunawayError, match="runaway activity") as exc:
            simulate(make_chip(), w, timing="async", queue=queue, record_spikes=record_spikes, **guard)
        partial[name] = exc.value.partial_record
    base = whole(partial["window"])
    assert all(whole(r) == base for r in partial.values())
    assert 2048 < partial["fast"].ticks < 2 * 2048 and partial["fast"].hops > 0


class _Stop(Exception):
    pass


@pytest.mark.parametrize("at_tick", [STOP_TICKS, 2 * STOP_TICKS])  # inside the first block drawn ahead; its end
def test_the_queue_holds_the_same_inputs_in_the_same_order_before_a_window(monkeypatch, at_tick):
    """Stopped just before the window at ``at_tick`` (the fast path at its progress return, the
    per-window loop as its window starts): both queues hold the same events -- the chunk just
    queued, both streams' spikes, with the same seq numbers (their order within a tick is
    otherwise unseen: the window's sums do not depend on it) -- and the same next seq."""
    assert 2 * STOP_TICKS == 2048  # the second report falls where the first block drawn ahead ends
    w, held = two_streams(3 * STOP_TICKS), {}
    for block in ("on", "off"):
        monkeypatch.setenv("NEUROEMU_BLOCK", block)
        loop = AsyncCoreLoop(make_chip(), w, RunOptions(ticks=w.ticks, seed=5, queue="c", tick_backend="c"))
        window = loop._window

        def stop_before(w0, w1, start, window=window):
            if w0 >= at_tick * T:
                raise _Stop
            window(w0, w1, start)

        def report(done, total):
            if done == at_tick:
                raise _Stop

        monkeypatch.setattr(loop, "_window", stop_before)
        with pytest.raises(_Stop):
            loop.run(report)
        rest = loop.queue.pop_before(1 << 62)
        held[block] = (rest.time.tolist(), rest.seq.tolist(), rest.kind.tolist(), rest.target.tolist(),
                       loop.queue.push(1 << 62, KIND_PROBE, 0))
        assert loop.backend == {"on": "c+loop", "off": "c"}[block]
    assert held["on"] == held["off"]
    inputs = [t for t, k in zip(held["on"][0], held["on"][2]) if k == 2]
    assert min(inputs) == at_tick * T and max(inputs) < (at_tick + 64) * T and len(inputs) > 20
