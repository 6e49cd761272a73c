"""The C window loop's wrapper (neuroemu.hardware.asyncloop, async_loop.c), by hand: one arrival
queued on an otherwise quiet network, and what each return code means."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from neuroemu.config.loader import chip_from_data, workload_from_data
from neuroemu.engine.asyncblock import KIND_ARRIVAL, KIND_CHECK, KIND_INPUT
from neuroemu.engine.asynccore import AsyncCoreLoop
from neuroemu.engine.options import RunOptions
from neuroemu.errors import NeuroEmuError
from neuroemu.hardware.asynctn import TrueNorthWindowC
from neuroemu.hardware.asyncloop import BOUNDARY, DONE, FEED, NEVER, RUNAWAY, STOP, WindowLoopC, available

pytestmark = pytest.mark.skipif(not available(), reason="the C window loop is not built")
ROOT = Path(__file__).resolve().parent.parent
T = 10**9
KINDS = (KIND_ARRIVAL, KIND_INPUT, KIND_CHECK)


def quiet_loop(ticks=20):
    """A 4-core TrueNorth network with no leak, no bias crossing and no inputs: nothing happens
    unless queued by hand (threshold 100: one arrival fires nothing)."""
    data = yaml.safe_load((ROOT / "neuroemu/data/default_chip.yaml").read_text())
    data["cores"] = 4
    data["topology"].update(width=2, height=2)
    w = workload_from_data({"name": "quiet", "ticks": ticks, "network": {
        "kind": "random_recurrent", "synapses_per_axon": 8, "rate_hz": 0.0, "stochastic": False,
        "weights": [1, 1, 1, 1], "threshold": 100}}, "quiet.yaml")
    loop = AsyncCoreLoop(chip_from_data(data, "c.yaml"), w, RunOptions(ticks=ticks, seed=1, queue="c", tick_backend="c"))
    assert not loop.model.has_steps and not loop.inputs
    return loop


def c_loop(loop, **guards):
    return WindowLoopC(loop.ckernel, loop.queue.address(), KINDS, loop.window_ps, loop.end_ps, False,
                       guards.get("max_window_events"), guards.get("max_events"))


def test_one_arrival_is_one_window_its_row_of_sops_and_no_spike():
    loop = quiet_loop()
    k = c_loop(loop)
    assert k.run(NEVER, NEVER, NEVER) == DONE and k.counters()["windows"] == 0  # an empty queue: nothing
    loop.queue.push_batch(np.array([3 * T + 5]), KIND_ARRIVAL, np.array([0]))
    assert k.run(NEVER, NEVER, NEVER) == DONE
    c = k.counters()
    row = int(loop.arrays.row_ptr[1] - loop.arrays.row_ptr[0])
    assert row == 8
    assert (c["windows"], c["axon_event"], c["synaptic_op"], c["neuron_update_active"], c["spike"]) == (1, 1, row, row, 0)
    assert k.last_w1 == 4 * T + 5 and k.take_spikes()[0].size == 0   # the window is one tick from its event
    assert len(loop.queue) == 0


def test_the_return_codes_say_what_python_must_do_first():
    loop = quiet_loop()
    k = c_loop(loop)
    loop.queue.push_batch(np.array([3 * T]), KIND_ARRIVAL, np.array([0]))
    assert k.run(NEVER, 3 * T, NEVER) == FEED and k.next_time == 3 * T        # an input chunk starts at or before it
    assert k.run(2 * T, NEVER, NEVER) == BOUNDARY                               # a sample ends before it
    assert k.run(NEVER, NEVER, 3 * T) == STOP and k.counters()["windows"] == 0  # a progress report is due
    assert k.run(NEVER, NEVER, NEVER) == DONE and k.counters()["windows"] == 1


def test_a_guard_stops_before_the_window_and_says_which():
    loop = quiet_loop()
    k = c_loop(loop, max_window_events=1)
    loop.queue.push_batch(np.array([2 * T, 2 * T + 1]), KIND_ARRIVAL, np.array([0, 1]))
    assert k.run(NEVER, NEVER, NEVER) == RUNAWAY
    assert k.runaway == (2 * T, 2)
    c = k.counters()
    assert (c["axon_event"], c["synaptic_op"], c["windows"]) == (2, 0, 0)  # counted as delivered, not processed


def test_a_finished_samples_arrivals_are_dropped_and_counted_inputs_kept():
    loop = quiet_loop()
    k = c_loop(loop)
    loop.queue.push_batch(np.array([2 * T, 2 * T]), KIND_ARRIVAL, np.array([0, 1]))
    loop.queue.push_batch(np.array([2 * T]), KIND_INPUT, np.array([2]))
    k.drop_seq = 1  # the two arrivals were queued before the sample ended; the input after
    assert k.run(NEVER, NEVER, NEVER) == DONE
    c = k.counters()
    assert (c["dropped_at_reset"], c["axon_event"], c["windows"]) == (2, 1, 1)


def test_a_kernel_without_its_routes_is_refused():
    fresh = quiet_loop()
    bare = TrueNorthWindowC(fresh.model, fresh.pend)
    bare.bind_network(fresh.arrays, fresh.model, fresh._flat_weights, None, fresh.queued, fresh.end_ps)
    with pytest.raises(NeuroEmuError, match="needs the kernel's routes bound"):
        WindowLoopC(bare, fresh.queue.address(), KINDS, fresh.window_ps, fresh.end_ps, False, None, None)


def test_chunks_handed_ahead_are_queued_where_the_python_loop_queues_them():
    """Three chunks handed to feed (the second empty): each is pushed (one batch, its seq numbers
    in order) just before the first window at or after its start, windows end at chunk starts, and
    FEED comes back only when all are queued and the caller's next chunk is due."""
    loop = quiet_loop(ticks=40)
    k = c_loop(loop)
    loop.queue.push_batch(np.array([T + 7]), KIND_ARRIVAL, np.array([5]))  # seq 0
    starts = np.array([0, 8, 16]) * T
    at = np.array([2 * T, 3 * T, 17 * T, 17 * T])
    axons = np.array([0, 1, 2, 3])
    k.feed(starts, np.array([0, 2, 2, 4]), at, axons)
    assert k.fed == 0
    assert k.run(NEVER, 24 * T, NEVER) == FEED and k.fed == 3 and k.next_time == NEVER  # nothing left queued
    c = k.counters()
    assert (c["inputs"], c["axon_event"]) == (4, 5)
    # windows: [T+7, 2T+7) (the arrival and the input at 2T), [3T, 4T), then [17T, 18T): the
    # chunks at 8T and 16T are queued once nothing is queued before them (the next event: never)
    assert c["windows"] == 3 and k.last_w1 == 18 * T
    # the same through Python: the seq numbers each push took (the queue's next one is 5)
    assert loop.queue.push(30 * T, KIND_INPUT, 0) == 5
    with pytest.raises(NeuroEmuError, match="mismatched offsets"):
        k.feed(starts, np.array([0, 2, 4]), at, axons)


def test_chunks_are_handed_only_once_the_last_ones_are_queued():
    loop = quiet_loop(ticks=40)
    k = c_loop(loop)
    loop.queue.push_batch(np.array([3 * T]), KIND_ARRIVAL, np.array([5]))
    k.feed(np.array([10 * T]), np.array([0, 1]), np.array([10 * T]), np.array([0]))
    with pytest.raises(NeuroEmuError, match="before the last ones were queued"):
        k.feed(np.array([20 * T]), np.array([0, 0]), np.empty(0, np.int64), np.empty(0, np.int64))
    # the window at 3T, then nothing queued before the chunk: it is queued, and its input is past stop
    assert k.run(NEVER, NEVER, 5 * T) == STOP and k.fed == 1 and k.next_time == 10 * T
    assert k.counters()["windows"] == 1 and k.last_w1 == 4 * T and k.counters()["inputs"] == 1
    assert k.run(NEVER, NEVER, NEVER) == DONE
    assert k.counters()["windows"] == 2 and k.last_w1 == 11 * T
