"""Tick semantics as window policies over the one event loop (DESIGN: "One kernel").

A policy answers three questions for the loop in :mod:`neuroemu.engine.run`: when does a
spike fired in tick t leave its core (``emission_ps``), when does it count as arrived
(``arrival_ps``), and when does tick t+1 start (``next_start``). The loop then pops, at each
tick start, every spike that has arrived; one due in an earlier tick is a timing violation.

- ``sync``: a global clock; a spike fired in tick t is delivered at the start of tick t + d,
  whatever the network latency (assumed to fit in the tick).
- ``gals``: the tick is global, the network is not: a core emits its spikes when its work in the
  tick is done (counted operations x per-operation latency), they arrive after the route's
  latency, and one arriving after its delivery tick began is a timing violation, dropped or
  delivered at the next tick boundary (``timing.late_spikes``).
- ``barrier``: no fixed tick: timestep t ends when the busiest core's work is done and every
  spike has arrived, plus the barrier sync latency (``barrier_ns`` + ``barrier_per_router_ns`` x
  (routers - 1)). The timestep durations, and so the chip's speed against real time (one
  timestep standing for ``tick_s`` of model time), emerge from activity.

Core work (gals and barrier) is SOPs x synaptic_op_ns + inactive updates x neuron_update_ns +
active updates x neuron_update_active_ns + spikes x spike_ns, per core. The SOPs and active
updates per core are counted by the tick kernels as they run (``TickStepper(core_counts=True)``),
the same counts the energy ledger sums, so pricing a tick is O(cores), whatever its activity.
"""
from __future__ import annotations

import numpy as np

from neuroemu.config.schema import ChipSpec
from neuroemu.hardware.chip import tick_ps
from neuroemu.hardware.cores import CoreArrays
from neuroemu.hardware.fused import RoutePass
from neuroemu.hardware.topology import Topology

PS_PER_NS = 1000


class TimingPolicy:
    """Base: sync semantics."""

    mode = "sync"
    #: whether emission_ps reads each core's counted work (the stepper must then count it)
    needs_core_counts = False

    def __init__(self, chip: ChipSpec, topology: Topology, arrays: CoreArrays, enabled: np.ndarray):
        self.chip = chip
        self.arrays = arrays
        self.nominal_tick_ps = tick_ps(chip)
        self.late_spikes = chip.timing.late_spikes
        self.n_routers = topology.n_routers

    def input_ps(self, in_ticks: np.ndarray, now: int) -> np.ndarray:
        """When input spikes due in ``in_ticks`` are queued (at their tick's start)."""
        return np.maximum(in_ticks * self.nominal_tick_ps, now)

    def emission_ps(self, now: int, fired: np.ndarray, core_sops: np.ndarray | None,
                    core_active: np.ndarray | None) -> np.ndarray:
        """When each fired neuron's spike leaves its core, given each core's SOPs and active
        neuron updates in this tick (None unless ``needs_core_counts``)."""
        return np.full(len(fired), now, np.int64)

    def arrival_ps(self, emit: np.ndarray, latency: np.ndarray, due_tick: np.ndarray) -> np.ndarray:
        """When each spike counts as arrived at its target core."""
        return due_tick * self.nominal_tick_ps

    def next_start(self, now: int, arrival: np.ndarray | None) -> int:
        """The start of the next tick."""
        return now + self.nominal_tick_ps

    def report(self, tick_starts: np.ndarray, ticks: int) -> dict:
        """Timing figures for the record (``_sim_time_s`` is the chip time)."""
        return {"_sim_time_s": ticks * self.chip.timing.tick_s}


class GalsPolicy(TimingPolicy):
    """Global tick, asynchronous network: late arrivals are timing violations."""

    mode = "gals"

    def __init__(self, chip, topology, arrays, enabled):
        super().__init__(chip, topology, arrays, enabled)
        lat = chip.latency
        self.sop_ps = lat.synaptic_op_ns.value * PS_PER_NS
        self.update_ps = lat.neuron_update_ns.value * PS_PER_NS
        active = lat.neuron_update_active_ns
        self.active_ps = (lat.neuron_update_ns if active is None else active).value * PS_PER_NS
        self.spike_ps = lat.spike_ns.value * PS_PER_NS
        self.enabled_per_core = enabled.reshape(arrays.n_cores, -1).sum(axis=1).astype(np.int64)
        self.core_busy_ps = np.zeros(arrays.n_cores, np.int64)
        self.no_latency = self.sop_ps == self.update_ps == self.active_ps == self.spike_ps == 0
        self.needs_core_counts = not self.no_latency
        self._no_active = np.zeros(arrays.n_cores)
        # a tick with no SOP, no active update and no spike: every core's work is its idle updates
        self._idle_busy = np.rint(self.enabled_per_core * self.update_ps).astype(np.int64)

    def _busy(self, core_sops: np.ndarray, core_active: np.ndarray, fired: np.ndarray) -> np.ndarray:
        """Each core's work this tick in ps (counted operations x per-operation latency)."""
        if not len(fired) and not core_sops.any() and not core_active.any():
            return self._idle_busy  # the formula below with every count 0, without its nine array ops
        spikes = np.bincount(fired // self.arrays.neurons_per_core, minlength=self.arrays.n_cores)
        # with one update latency the active/inactive split cannot matter: leave it out, so the
        # products are the same floats whatever the split
        active = core_active if self.active_ps != self.update_ps else self._no_active
        work = (core_sops * self.sop_ps + (self.enabled_per_core - active) * self.update_ps
                + active * self.active_ps + spikes * self.spike_ps)
        return np.rint(work).astype(np.int64)

    def emission_ps(self, now, fired, core_sops, core_active):
        if self.no_latency:
            return np.full(len(fired), now, np.int64)  # no per-operation latency: cores finish at once
        self.core_busy_ps = self._busy(core_sops, core_active, fired)
        return now + self.core_busy_ps[fired // self.arrays.neurons_per_core]

    def arrival_ps(self, emit, latency, due_tick):
        return emit + latency


class BarrierPolicy(GalsPolicy):
    """Loihi-style: the timestep ends at the busiest core's end, the network drain and a barrier."""

    mode = "barrier"

    def __init__(self, chip, topology, arrays, enabled):
        super().__init__(chip, topology, arrays, enabled)
        t = chip.timing
        self.barrier_ps = int(round((t.barrier_ns.value + t.barrier_per_router_ns.value * (self.n_routers - 1))
                                    * PS_PER_NS))

    def input_ps(self, in_ticks, now):
        # future timestep starts are not known yet: queue now, held until their tick
        return np.full(len(in_ticks), now, np.int64)

    def next_start(self, now, arrival):
        end = now + int(self.core_busy_ps.max(initial=0))
        if arrival is not None and len(arrival):
            end = max(end, int(arrival.max()))
        # at least 1 ps: the window up to now + 1 is popped, and a chip that prices neither work nor
        # barrier (TrueNorth run under barrier) must still move on, or the next tick starts in the past
        return max(end + self.barrier_ps, now + 1)

    def report(self, tick_starts, ticks):
        durations = np.diff(tick_starts[: ticks + 1]) * 1e-12
        sim_time = float(tick_starts[ticks]) * 1e-12
        return {
            "_sim_time_s": sim_time,
            "barrier_s": self.barrier_ps * 1e-12,
            "timestep_mean_s": float(durations.mean()) if ticks else None,
            "timestep_min_s": float(durations.min()) if ticks else None,
            "timestep_max_s": float(durations.max()) if ticks else None,
            # one timestep stands for tick_s of model time: > 1 means faster than real time
            "realtime_factor": ticks * self.chip.timing.tick_s / sim_time if sim_time > 0 else None,
        }


POLICIES = {"sync": TimingPolicy, "gals": GalsPolicy, "barrier": BarrierPolicy}


def timing_policy(chip: ChipSpec, topology: Topology, arrays: CoreArrays, enabled: np.ndarray) -> TimingPolicy:
    """The policy of the chip's ``timing.mode`` (async runs in its own engine)."""
    return POLICIES[chip.timing.mode](chip, topology, arrays, enabled)


def route_pass(policy: TimingPolicy, route_axon: np.ndarray, route_delay: np.ndarray, router) -> RoutePass | None:
    """The one-pass C routing of fired neurons (:class:`neuroemu.hardware.fused.RoutePass`) with the
    policy's arrival rule, or None when the policy has a rule it does not know (then the run
    routes in numpy with ``arrival_ps``; so also when a value does not fit the pass's int32 records)."""
    rule = type(policy).arrival_ps
    if rule is TimingPolicy.arrival_ps:  # the due tick's start
        return RoutePass.build(route_axon, route_delay, None, policy.nominal_tick_ps)
    if rule is GalsPolicy.arrival_ps:    # emission + the route's zero-load latency
        return RoutePass.build(route_axon, route_delay, router.neuron_latency(np.arange(len(route_axon))), 0)
    return None
