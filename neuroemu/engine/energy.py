"""The energy ledger: counted events times per-event energy, plus static power times time.

Counters are plain integers per event type; the chip's :class:`EnergySpec` gives the
energy of each. Nothing here knows a headline figure: pJ per SOP, power and
GSOPS/W are ratios of counted totals, computed in :func:`figures`.

Event types (counter names):
``synaptic_op``, ``neuron_update`` (inactive), ``neuron_update_active`` (neuron
integrated input or fired), ``spike`` (generated and sent), ``packet`` (a message
sent to one destination: one per routed spike per route, a route being a destination core's
axon; priced by ``packet_pj`` beside the per-link ``hop:<class>``), ``hop:<class>``
(a packet crossing one link of that class), ``wire_nm`` (packet-nanometres of wire
travelled), ``potentiation`` and ``depression``
(synaptic weight updates by a learning rule).

NVM synapses (a chip's ``synapse_device``, docs/devices.md): ``dac_drive`` (one word line driven
for one read: a distinct row that received spikes in a tick) and ``adc_conversion`` (one column
converted: every used column of a crossbar with a driven row, per tick), priced as ``dac`` and ``adc``.

Clocking (docs/clocking.md) is priced by three more counters, so one network can be compared
clocked, clockless and mixed on equal terms:

- ``clock_core_tick``: one core clocked for one tick, at ``clock_pj_per_core_tick``. Under
  ``sync`` a global clock drives every core of the chip every tick (cores x ticks, added by
  :func:`add_clocking`); under ``gals`` asynchronous control switches a core's clock on only in
  ticks where it has work (:class:`GalsWork`, counted by the tick loop), and only such a core's
  neurons are updated; ``barrier`` and ``async`` cores have no clock.
- ``handshake``: one asynchronous request/acknowledge, at ``handshake_pj``: under ``gals``,
  ``barrier`` and ``async`` the network is clockless, so every delivered spike (``axon_event``)
  and every hop is one handshake (derived here from those counters, so no engine counts it twice).
- ``barrier_sync``: under ``barrier`` each timestep ends with a synchronisation wave through the
  mesh: one handshake per router per timestep (counted by the tick loop), priced at ``handshake_pj``
  (no published barrier energy exists: Davies 2018 gives only its latency).
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from neuroemu.config.schema import EnergySpec, SynapseDeviceSpec

PJ = 1e-12

#: the counters that price clocking: they differ between semantics that see the same events
CLOCKING_COUNTERS = ("clock_core_tick", "handshake", "barrier_sync")

#: tick semantics whose spikes cross the network by handshakes rather than on a clock edge
HANDSHAKE_MODES = ("gals", "barrier", "async")


@dataclass
class Ledger:
    """Event counters (int) by type, filled in bulk by the simulation loop."""

    counts: Counter = field(default_factory=Counter)

    def add(self, event: str, n: int) -> None:
        """Count ``n`` more events of one type."""
        if n:
            self.counts[event] += int(n)

    def get(self, event: str) -> int:
        """The count of one event type (0 if never counted)."""
        return int(self.counts.get(event, 0))

    def hops(self) -> int:
        """All link crossings, every class."""
        return sum(v for k, v in self.counts.items() if k.startswith("hop:"))

    def breakdown_j(self, energy: EnergySpec, sim_time_s: float,
                    device: SynapseDeviceSpec | None = None) -> dict[str, float]:
        """Energy in joules per term; the terms sum to the total.

        ``device``: a chip's NVM synapse section, which prices the column periphery (``adc``:
        conversions x FOM x 2**bits; ``dac``: word-line drives x ``dac_pj_per_row``); a term is
        present only when its energy is not zero, so an ideal device adds nothing.
        """
        terms = {
            "synaptic": self.get("synaptic_op") * energy.synaptic_op_pj.value * PJ,
            "neuron_update": (self.get("neuron_update") * energy.neuron_update_pj.value
                              + self.get("neuron_update_active") * energy.update_active_energy()) * PJ,
            "spike": self.get("spike") * energy.spike_pj.value * PJ,
        }
        if energy.packet_pj.value:
            terms["packet"] = self.get("packet") * energy.packet_pj.value * PJ
        if self.get("potentiation") or self.get("depression"):
            pot = energy.potentiation_pj or energy.learning_update_pj
            dep = energy.depression_pj or energy.learning_update_pj
            terms["potentiation"] = self.get("potentiation") * pot.value * PJ
            terms["depression"] = self.get("depression") * dep.value * PJ
        for name in sorted(k for k in self.counts if k.startswith("hop:")):
            cls = name.split(":", 1)[1]
            terms[f"hop_{cls}"] = self.counts[name] * energy.hop_energy(cls) * PJ
        if energy.wire_pj_per_mm.value:
            terms["wire"] = self.get("wire_nm") * 1e-6 * energy.wire_pj_per_mm.value * PJ
        if self.get("clock_core_tick"):
            terms["clock"] = self.get("clock_core_tick") * energy.clock_pj_per_core_tick.value * PJ
        if self.get("handshake"):
            terms["handshake"] = self.get("handshake") * energy.handshake_pj.value * PJ
        if self.get("barrier_sync"):
            terms["barrier_sync"] = self.get("barrier_sync") * energy.handshake_pj.value * PJ
        if device is not None and device.adc_conversion_pj():
            terms["adc"] = self.get("adc_conversion") * device.adc_conversion_pj() * PJ
        if device is not None and device.dac_pj_per_row.value:
            terms["dac"] = self.get("dac_drive") * device.dac_pj_per_row.value * PJ
        terms["static"] = energy.static_mw.value * 1e-3 * sim_time_s
        return terms


def add_clocking(ledger: Ledger, mode: str, cores: int, ticks: int) -> None:
    """Add the clocking counters a finished run implies (once, after the hop counters are in).

    ``sync``: every one of the chip's ``cores`` is clocked in each of ``ticks``. ``gals``,
    ``barrier`` and ``async``: one handshake per delivered spike and per hop. (``gals`` core
    clocks and ``barrier`` syncs depend on each tick's activity and are counted by the loop.)
    """
    if mode == "sync":
        ledger.add("clock_core_tick", cores * ticks)
    if mode in HANDSHAKE_MODES:
        ledger.add("handshake", ledger.get("axon_event") + ledger.hops())


class GalsWork:
    """Which cores have work in a tick under ``gals``, so their clock runs and their neurons update.

    A core has work in tick t when an axon of it receives a spike in t, a neuron of it fires in t,
    or one of its enabled neurons can change state in t with no input, judged on the state at the
    tick's start (docs/clocking.md):

    - ``truenorth_lif``: a nonzero leak (a deterministic leak moves V; a stochastic one may draw a
      step) or a stochastic threshold (its draw may fire V); with neither, V = clamp(V) is V.
    - ``loihi_cuba`` / ``cuba_lif``: a nonzero bias, a nonzero current u (it decays or feeds v), a
      nonzero v with a voltage decay (decay rounds towards zero, so v != 0 always moves), or a
      refractory countdown under way. (At a saturation rail this counts a core that would not
      change: never one that would.)

    A core with no work is not clocked and none of its neurons is updated; a core with work updates
    every enabled neuron it holds, as a clocked core does. Cost: O(cores) per tick for TrueNorth
    (its condition is static), O(neurons) for the current-based models.
    """

    def __init__(self, arrays, enabled: np.ndarray, kernel: str, first_axon: int = 0, first_neuron: int = 0):
        # first_axon / first_neuron: the global ids of the arrays' first axon and neuron (an MPI
        # rank's block of cores takes global ids in finish)
        self.arrays, self.enabled, self.kernel = arrays, enabled, kernel
        self.first_axon, self.first_neuron = first_axon, first_neuron
        shape = (arrays.n_cores, arrays.neurons_per_core)
        self.enabled_per_core = enabled.reshape(shape).sum(axis=1).astype(np.int64)
        p = arrays.params
        static = (p.leak != 0) | (p.threshold_mask != 0) if kernel == "truenorth" else p.bias != 0
        self.always = (static & enabled).reshape(shape).any(axis=1)
        self.busy = self.always.copy()

    def start(self) -> None:
        """Mark the cores whose neurons can change on their own (call before the tick's update)."""
        if self.kernel == "truenorth":
            self.busy[:] = self.always
            return
        a, n = self.arrays, self.arrays.n_neurons
        moving = (a.u.reshape(-1, n) != 0).any(axis=0) | (a.refractory_left > 0) | ((a.v != 0) & (a.params.dv > 0))
        self.busy = self.always | (moving & self.enabled).reshape(a.n_cores, a.neurons_per_core).any(axis=1)

    def finish(self, due_axons: np.ndarray, fired: np.ndarray) -> tuple[int, int]:
        """(cores with work, enabled neurons on them) once the tick's deliveries and spikes are known."""
        a = self.arrays
        self.busy[(due_axons - self.first_axon) // a.axons_per_core] = True
        self.busy[(fired - self.first_neuron) // a.neurons_per_core] = True
        return int(np.count_nonzero(self.busy)), int(self.enabled_per_core[self.busy].sum())


def total_j(breakdown: dict[str, float]) -> float:
    """The exactly rounded sum of the breakdown terms."""
    return math.fsum(breakdown.values())


def figures(breakdown: dict[str, float], sops: int, sim_time_s: float) -> dict[str, float | None]:
    """The derived ratios, each labelled: all-in and synaptic pJ/SOP, power, GSOPS/W."""
    total = total_j(breakdown)
    return {
        "pj_per_sop": total / sops / PJ if sops else None,
        "pj_per_sop_synaptic": breakdown["synaptic"] / sops / PJ if sops else None,
        "power_w": total / sim_time_s if sim_time_s > 0 else None,
        "gsops_per_w": sops / total / 1e9 if total > 0 else None,
    }
