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
