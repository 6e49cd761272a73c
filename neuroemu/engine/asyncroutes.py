"""The routes of the clockless loop, mixed into :class:`neuroemu.engine.asynccore.AsyncCoreLoop`.

Which routes the loop binds (:meth:`ClocklessRoutes._own_routes`), each route's delay in ps (the
axonal delay in whole ticks plus the route's zero-load latency), the lookahead they allow, and
their prices at the end (:meth:`ClocklessRoutes._route_prices`: integers only,
:meth:`neuroemu.hardware.chip.Router.prices`). A one-process loop binds every neuron's routes; a
loop split over MPI ranks (:mod:`neuroemu.engine.asyncranks`) binds, counts and prices only its
own neurons' (sources numbered from ``neuron_base``), and rank 0 sums the ranks' prices
(:func:`neuroemu.engine.rankshare.reduce_prices`), as the tick split does.
"""
from __future__ import annotations

import numpy as np

from neuroemu.config.schema import ChipSpec
from neuroemu.errors import ConfigError
from neuroemu.hardware.chip import build_chip_topology, router_for
from neuroemu.hardware.cores import CoreArrays

_EMPTY = np.empty(0, np.int64)


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
        self.router = router_for(chip, self.topology, whole, self.route_src)  # Neurogrid: multicast trees
        A, N = whole.axons_per_core, whole.neurons_per_core
        self.router.bind(whole.chip_cores((self.route_src + self.neuron_base) // N),
                         np.where(self.sends, whole.chip_cores(np.maximum(self.route_axon, 0) // A), -1))
        # route delay in ps: the axonal delay (whole ticks) plus the route's latency
        self.latency = self.router.neuron_latency(np.arange(len(self.route_src)))
        self.route_ps = self.route_delay * T + (self.latency if self.opt.network == "analytic" else 0)
        self.lookahead_ps = self._lookahead(chip, self.name)
        self.window_ps = min(self.lookahead_ps, T)

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

    def _route_prices(self) -> dict:
        """The bound routes' traffic in integers (Router.prices), from their neurons' spikes."""
        fired = np.concatenate(self._fired) if self._fired else _EMPTY
        n = len(self._route_ptr) - 1 if self.fanout else len(self.route_src)
        spikes = np.bincount(fired - self.neuron_base, minlength=n).astype(np.int64)
        return self.router.prices(spikes[self.route_src] if self.fanout else spikes, self.sends)
