"""The routes of the clockless loop, mixed into :class:`neuroemu.engine.asynccore.AsyncCoreLoop`.

Which routes the loop binds (:meth:`ClocklessRoutes._own_routes`), each route's delay in ps (the
axonal delay in whole ticks plus the route's zero-load latency), the lookahead they allow, and
their prices at the end (:meth:`ClocklessRoutes._route_prices`: integers only,
:meth:`neuroemu.hardware.chip.Router.prices`). A one-process loop binds every neuron's routes; a
loop split over MPI ranks (:mod:`neuroemu.engine.asyncranks`) binds, counts and prices only its
own neurons' (sources numbered from ``neuron_base``), and rank 0 sums the ranks' prices
(:func:`neuroemu.engine.rankshare.reduce_prices`), as the tick split does.

Inputs placed on cores (``network.inputs: on_cores``) are sources as neurons are: their routes
(one per input and destination axon, from the core of the input's first destination axon:
:meth:`neuroemu.networks.compile.MappedNetwork.input_routes`) are bound after the neurons', and
each input spike is a packet (:class:`RoutedInputs`) that leaves at the instant the input spike is
given (the start of its tick) and reaches its axon after the input's delay in whole ticks plus
the route's latency, as a neuron's spike does. Their hops, wire and latency samples are priced
with the neurons' routes, from the input spikes given in the run (those still travelling at the
end included, as the tick loops charge them). Split over MPI ranks, every rank binds every input
route (its packets to the rank's own axons may come from any core) and prices those leaving its
own cores; rank 0 sums them with the neurons'.
"""
from __future__ import annotations

import numpy as np

from neuroemu.config.schema import ChipSpec
from neuroemu.errors import ConfigError
from neuroemu.hardware.chip import build_chip_topology, router_for
from neuroemu.hardware.cores import CoreArrays
from neuroemu.hardware.csr import row_positions
from neuroemu.networks.compile import SpikeListInput


class ClocklessRoutes:
    """Route binding, delays, lookahead and pricing of the clockless loop (module docstring)."""

    def _bind_routes(self, whole: CoreArrays) -> None:
        """The router graph and the bound routes' tables, delays (``route_ps``) and lookahead."""
        chip, T = self.chip, self.T
        self.topology = build_chip_topology(chip)
        # _route_ptr: each bound neuron's first route (fan-out arrays), else None (route i: neuron i)
        self.neuron_base, self.route_src, self.route_axon, self.route_delay, self._route_ptr = self._own_routes(whole)
        self.sends = self.route_axon >= 0
        self.fanout = self._route_ptr is not None
        A, N = whole.axons_per_core, whole.neurons_per_core
        src = whole.chip_cores((self.route_src + self.neuron_base) // N)
        dst = np.where(self.sends, whole.chip_cores(np.maximum(self.route_axon, 0) // A), -1)
        # inputs on cores: their routes follow the neurons' in the router's tables (module docstring)
        self.input_route_ids, tree_src = None, self.route_src
        if getattr(self.network, "inputs_on_cores", False):
            if self.opt.network == "packet":  # as the tick loops: counted, not moved hop by hop
                raise ConfigError(f"{self.name}: network.inputs: on_cores is counted with the analytic network "
                                  "(its packets' hops and energy), not moved hop by hop: run with --network analytic")
            in_src, in_dst, self.input_route_ids = self.network.input_routes()
            src, dst = np.concatenate([src, whole.chip_cores(in_src)]), np.concatenate([dst, whole.chip_cores(in_dst)])
            # a multicast tree per source: an input is a source of its own, numbered past every neuron
            tree_src = np.concatenate([self.route_src, whole.n_neurons + self.input_route_ids])
        self.router = router_for(chip, self.topology, whole, tree_src)  # Neurogrid: multicast trees
        self.router.bind(src, dst)
        # route delay in ps: the axonal delay (whole ticks) plus the route's latency
        n_routes = len(self.route_src)
        self.latency = self.router.neuron_latency(np.arange(n_routes))
        if self.input_route_ids is not None:
            in_latency = self.router.neuron_latency(np.arange(n_routes, n_routes + len(self.input_route_ids)))
            given = len(self.network.input_spikes[0])
            self.inputs = [RoutedInputs(self.network, in_latency, self.T)] if given else []
        self.route_ps = self.route_delay * T + (self.latency if self.opt.network == "analytic" else 0)
        self.lookahead_ps = self._lookahead(chip, self.name)
        self.window_ps = min(self.lookahead_ps, T)
        # spikes per bound neuron, counted as they come (_count_spikes), as the tick loop's C kernels count them
        self.spikes_per_neuron = np.zeros(len(self._route_ptr) - 1 if self.fanout else n_routes, np.int64)
        self._fired: list[np.ndarray] = []  # spikes (global ids) kept to be counted together
        self._n_fired = 0

    def _own_routes(self, whole: CoreArrays):
        """(first neuron, then :func:`neuroemu.engine.rankshare.own_routes`' four) of the routes this
        loop binds: every neuron's (a loop split over MPI ranks binds its own neurons')."""
        return (0, *whole.routes(), whole.fanout_ptr)

    def _kernel_routes(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """(target axon, delay in ps) of the route of each of the loop's ``n`` neurons, for the C kernel."""
        return self.route_axon[self.n0:self.n0 + n], self.route_ps[self.n0:self.n0 + n]

    def _lookahead(self, chip: ChipSpec, name: str) -> int:
        """The smallest delay any spike can take (delay x tick + route latency); 0 is refused."""
        sent = self.route_ps[self.sends]
        L = int(sent.min()) if len(sent) else self.T
        if L <= 0:
            raise ConfigError(f"{chip.source or chip.name}: timing.tick_s: under async the lookahead (the smallest spike delay: "
                              f"delay x tick + route latency) must be > 0 ps, or time would never advance "
                              f"(got {L} ps)")
        return L

    #: spikes kept uncounted: KEEP x the neurons, and at least KEEP_MIN (2 MB of ids), so that a count
    #: pass over the neurons comes rarely (one per C loop return, or per window, costs more than
    #: their spikes; on the default workload the run's 82 k spikes are counted once, at the end)
    KEEP, KEEP_MIN = 4, 1 << 18

    def _count_spikes(self, fired: np.ndarray, now: bool = False) -> None:
        """Count spikes (global ids of bound neurons) per neuron: kept in ``_fired`` (copied if ``now``:
        its buffer is reused after the call) and counted together once they reach KEEP x the
        neurons and KEEP_MIN; a batch that large at once (np.add.at per batch is slow)."""
        n = max(self.KEEP * len(self.spikes_per_neuron), self.KEEP_MIN)
        if len(fired) >= n:
            self.spikes_per_neuron += np.bincount(fired - self.neuron_base if self.neuron_base else fired,
                                                  minlength=len(self.spikes_per_neuron))
            return
        self._fired.append(fired.copy() if now else fired)
        self._n_fired += len(fired)
        if self._n_fired >= n:
            self._count_kept()

    def _count_kept(self) -> np.ndarray:
        """The spikes per bound neuron, those kept in ``_fired`` counted now."""
        if self._fired:
            fired, self._fired, self._n_fired = np.concatenate(self._fired), [], 0  # (a new list: a test may share it)
            self.spikes_per_neuron += np.bincount(fired - self.neuron_base if self.neuron_base else fired,
                                                  minlength=len(self.spikes_per_neuron))
        return self.spikes_per_neuron

    def _route_prices(self) -> dict:
        """The bound routes' traffic in integers (Router.prices), from their neurons' spikes."""
        spikes = self._count_kept()
        spikes = spikes[self.route_src] if self.fanout else spikes
        if self.input_route_ids is None:
            return self.router.prices(spikes, self.sends)
        per_input = self.network.input_spike_counts(self.opt.ticks)[self.input_route_ids] * self._own_inputs()
        return self.router.prices(np.concatenate([spikes, per_input]),
                                  np.concatenate([self.sends, np.ones(len(per_input), bool)]))

    def _own_inputs(self) -> np.ndarray:
        """Which bound input routes this loop prices: every one (a loop split over MPI ranks binds every
        input's route, for its latency, and prices those leaving its own cores)."""
        return np.ones(len(self.input_route_ids), np.int64)

    def _inputs_routed(self, flow: dict[str, int]) -> dict[str, int]:
        """The spike flow with inputs on cores as packets, as the tick loop counts them: ``inputs_routed``
        one per input spike given in the run and destination axon, ``inputs`` 0, and those not
        delivered in flight at the end (queued and not arrived, or not queued: due past the end)."""
        if self.input_route_ids is None:
            return flow
        routed = int(self.network.input_spike_counts(self.opt.ticks)[self.input_route_ids].sum())
        flow["in_flight_end"] += routed - flow["inputs"]  # the queued ones are counted already
        flow["inputs"], flow["inputs_routed"] = 0, routed
        return flow


class RoutedInputs:
    """A mapped network's input spikes as packets from their inputs' cores (inputs on cores): the
    stream :meth:`AsyncCoreLoop._feed_chunk` queues, chunk by chunk of arrival ticks.

    Input spike i given at tick t reaches each axon k of its input at (t + delay_k) x T + the
    latency of input route k (``latency_ps``, in the order of ``input_axons``); the emission time
    is the instant the input spike is given, t x T, as a neuron's spike leaves when it fires."""

    CHUNK = SpikeListInput.CHUNK  # ticks queued at a time, as the axon-fed stream's

    def __init__(self, network, latency_ps: np.ndarray, T: int):
        times, ids = (np.asarray(x, np.int64) for x in network.input_spikes)
        ptr = network.input_ptr
        starts, lengths = ptr[ids], ptr[ids + 1] - ptr[ids]
        route = row_positions(starts, lengths)  # the input route of each packet
        ticks = np.repeat(times, lengths) + network.input_delay[route]
        order = np.argsort(ticks, kind="stable")
        self.ticks = ticks[order]
        self.axons = np.asarray(network.input_axons, np.int64)[route][order]
        self.arrival_ps = self.ticks * T + np.asarray(latency_ps, np.int64)[route][order]

    def events(self, tick_lo: int, tick_hi: int) -> tuple[np.ndarray, np.ndarray]:
        """Packets (arrival ticks, axons) due in ticks [tick_lo, tick_hi) (before their latency)."""
        lo, hi = np.searchsorted(self.ticks, [tick_lo, tick_hi])
        return self.ticks[lo:hi], self.axons[lo:hi]

    def arrivals(self, tick_lo: int, tick_hi: int) -> tuple[np.ndarray, np.ndarray]:
        """The same packets as (arrival ps, with the route's latency; axons)."""
        lo, hi = np.searchsorted(self.ticks, [tick_lo, tick_hi])
        return self.arrival_ps[lo:hi], self.axons[lo:hi]
