"""The block path of the tick loop: many ticks per C call when nothing in Python needs every tick.

:class:`~neuroemu.engine.run.TickLoop` steps one tick at a time through Python (deliver, step,
learn, route, advance): about 100 us of glue per tick, which is all the time of a one-core network.
When a run needs none of that per-tick Python, :func:`block_runner` returns a :class:`BlockRun`
that runs the same ticks in blocks through :class:`neuroemu.hardware.block.BlockKernel`: the inputs
of a block are staged ahead in arrays, spikes in flight wait in a ring of whole-tick delays in C,
the counters, spikes per neuron and the spike record are kept in C, a presentation's resets happen
at their ticks inside the block and its readout is taken from the block's spikes afterwards.

The record is the per-tick loop's bit for bit (tests/test_blockrun.py compares whole records:
both queues, both tick backends, recurrence, multi-tick delays, presentations). A run takes the
block path when all of these hold (:func:`ineligible` names the first that does not):

- the C tick backend, one synaptic current (``cuba`` without ``du_syn``/``v_min``, or ``truenorth``);
- ``sync`` or ``barrier`` timing on the ``analytic`` network, or ``gals`` where it is sync plus
  per-core clock counting: the truenorth kernel, no presentations, and no route on which a spike
  could arrive late (:func:`can_be_late`; late spikes, packets and async have their own loops);
- no learning rule, no NVM periphery (ADC, DAC pricing, read noise), no ``max_events`` /
  ``max_window_events`` guard (its partial record is taken between ticks);
- every route's delay at least one tick, and no subclass hooking a per-tick step (tests' tracers);
- the ring (delay slots x sending routes x 8 bytes) within :data:`MAX_RING_BYTES`.

``NEUROEMU_BLOCK=off`` forces the per-tick loop (``on``, the default, takes the block path where
it applies). The record's ``tick_backend`` says which ran: ``c+block`` or ``c``.
"""
from __future__ import annotations

import os

import numpy as np

from neuroemu.errors import NeuroEmuError
from neuroemu.hardware.block import BarrierCosts, BlockKernel, GalsClocking
from neuroemu.networks.presentation import Presentation

#: the ring of spikes in flight stays below this (else the per-tick loop and its queue run)
MAX_RING_BYTES = 1 << 28
#: ticks per C call, rounded to whole input chunks (the inputs of a block are staged at once)
BLOCK_TICKS = 2048


def block_mode() -> bool:
    """$NEUROEMU_BLOCK: "on" (default) or "off"."""
    value = os.environ.get("NEUROEMU_BLOCK", "on")
    if value not in ("on", "off"):
        raise NeuroEmuError(f"NEUROEMU_BLOCK: unknown value {value!r}; valid: on, off")
    return value == "on"


def ineligible(loop) -> str | None:
    """Why ``loop`` (a TickLoop) must step tick by tick, or None when the block path applies."""
    stepper, opt, policy = loop.stepper, loop.opt, loop.policy
    checks = (
        (not block_mode(), "NEUROEMU_BLOCK=off"),
        (stepper.backend != "c", f"tick backend {stepper.backend}"),
        (stepper.kernel not in ("cuba", "truenorth") or stepper.multi, "a neuron kernel without a block form"),
        (policy.mode not in ("sync", "barrier", "gals"), f"{policy.mode} timing"),
        (policy.mode == "gals" and stepper.kernel != "truenorth", "gals clocking of a current-based kernel"),
        (policy.mode == "gals" and loop.reset_period, "gals with presentations"),
        (loop.packets is not None, "the packet network"),
        (loop.learning is not None, "a learning rule"),
        (loop.device is not None or stepper.adc is not None or stepper.read_noise is not None, "NVM periphery"),
        (opt.max_events is not None or opt.max_window_events is not None, "a runaway guard"),
        (loop.hooks is not None and type(loop.hooks) is not Presentation, "state hooks without a block form"),
    )
    for failed, reason in checks:
        if failed:
            return reason
    sends = loop.route_axon >= 0
    if sends.any() and int(loop.route_delay[sends].min()) < 1:
        return "a route delay below one tick"
    slots = int(loop.route_delay[sends].max(initial=1)) + 1
    if slots * max(int(sends.sum()), 1) * 8 > MAX_RING_BYTES:
        return "a ring of spikes in flight too large"
    if policy.mode == "gals" and can_be_late(loop):
        return "a route on which a gals spike could arrive late"
    return None


def can_be_late(loop) -> bool:
    """Whether some spike of a gals run could arrive after its delivery tick began (a timing
    violation, which the block path does not model). A spike fired in tick t on route r leaves its
    core after the core's work in the tick and arrives a route latency later; it is on time when
    that is within the route's delay of whole ticks. The core's work is bounded by every synapse of
    it operating, every enabled neuron updating at the dearer rate and every neuron firing."""
    policy, a = loop.policy, loop.arrays
    sends = np.flatnonzero(loop.route_axon >= 0)
    if not len(sends):
        return False
    latency = np.asarray(loop.router.neuron_latency(sends), np.int64)
    if policy.no_latency:
        work = np.zeros(len(sends), np.int64)
    else:
        synapses = np.diff(a.row_ptr).reshape(a.n_cores, a.axons_per_core).sum(axis=1)
        most = (synapses * policy.sop_ps + policy.enabled_per_core * max(policy.update_ps, policy.active_ps)
                + a.neurons_per_core * policy.spike_ps)
        core_most = np.ceil(most).astype(np.int64) + 1   # (the policy rounds each core's work)
        source = loop.route_src[sends] if loop.fanout else sends
        work = core_most[source // a.neurons_per_core]
    return bool((work + latency > loop.route_delay[sends] * policy.nominal_tick_ps).any())


def block_runner(loop) -> "BlockRun | None":
    """The block run of ``loop``, or None when it must step tick by tick (see :func:`ineligible`)."""
    return None if ineligible(loop) is not None else BlockRun(loop)


class BlockRun:
    """Runs a TickLoop's ticks in blocks; leaves the loop's counters as its per-tick run would."""

    def __init__(self, loop):
        self.loop = loop
        policy, arrays = loop.policy, loop.arrays
        self.hooks = loop.hooks
        barrier = None
        if policy.mode == "barrier":
            n_routes = len(loop.route_axon)
            barrier = BarrierCosts(barrier_ps=policy.barrier_ps, sop_ps=policy.sop_ps, update_ps=policy.update_ps,
                                   active_ps=policy.active_ps, spike_ps=policy.spike_ps,
                                   no_latency=policy.no_latency, enabled_per_core=policy.enabled_per_core,
                                   route_latency=loop.router.neuron_latency(np.arange(n_routes)))
        gals = None
        if policy.mode == "gals":
            gals = GalsClocking(always=loop.gals_work.always, enabled_per_core=loop.gals_work.enabled_per_core)
        probes = self.hooks.outputs if self.hooks is not None else None
        self.kernel = BlockKernel(loop.stepper, loop.route_axon, loop.route_delay,
                                  arrays.fanout_ptr if loop.fanout else None, loop.tick_starts,
                                  loop.spikes_per_neuron, loop.network.n_enabled, loop.opt.ticks,
                                  tick_ps=policy.nominal_tick_ps,
                                  record=loop.opt.record_spikes or self.hooks is not None,
                                  reset_period=loop.reset_period, probe_ids=probes, barrier=barrier,
                                  gals=gals)

    def run(self, progress) -> None:
        """Every tick, block by block; then the loop's ledger and spike counts as the per-tick loop leaves them."""
        loop, kernel = self.loop, self.kernel
        ticks = loop.opt.ticks
        chunk = loop.reset_period or (loop.inputs[0].CHUNK if loop.inputs else 0)
        step = max(chunk, 1) * max(1, BLOCK_TICKS // max(chunk, 1))
        for t0 in range(0, ticks, step):
            t1 = min(ticks, t0 + step)
            in_ticks, in_axons = self._inputs(t0, t1, chunk)
            fired_ticks, fired_ids, probes = kernel.run(t0, t1, in_ticks, in_axons)
            if self.hooks is not None:
                self.hooks.observe_block(t0, t1, fired_ticks, fired_ids, probes)
            if loop.opt.record_spikes and len(fired_ticks):
                loop.spike_ticks.append(fired_ticks)
                loop.spike_ids.append(fired_ids)
            if progress is not None:
                progress(t1, ticks)
        counts = kernel.counters()
        ledger = loop.ledger
        ledger.add("in_flight_dropped_at_reset", counts["dropped_at_reset"])
        for name in ("axon_event", "synaptic_op", "neuron_update_active", "neuron_update", "spike"):
            ledger.add(name, counts[name])
        if loop.policy.mode == "barrier":
            ledger.add("barrier_sync", loop.topology.n_routers * ticks)
        elif loop.policy.mode == "gals":
            ledger.add("clock_core_tick", counts["clock_core_tick"])
        loop.spikes_sent += counts["sent"]
        loop.held_outside += kernel.in_flight
        loop.tick_backend = "c+block"

    def _inputs(self, t0: int, t1: int, chunk: int) -> tuple[np.ndarray, np.ndarray]:
        """The block's input spikes, read chunk by chunk exactly as the per-tick loop reads them."""
        loop = self.loop
        parts_t, parts_a = [], []
        if chunk:
            for t in range(t0, t1, chunk):
                for stream in loop.inputs:
                    in_ticks, in_axons = stream.events(t, min(loop.opt.ticks, t + chunk))
                    loop.inputs_sent += len(in_axons)
                    parts_t.append(in_ticks)
                    parts_a.append(in_axons)
        if not parts_t:
            return np.empty(0, np.int64), np.empty(0, np.int64)
        return np.concatenate(parts_t), np.concatenate(parts_a)

