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
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

from neuroemu.config.schema import EnergySpec

PJ = 1e-12


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

    def breakdown_j(self, energy: EnergySpec, sim_time_s: float) -> dict[str, float]:
        """Energy in joules per term; the terms sum to the total."""
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
        terms["static"] = energy.static_mw.value * 1e-3 * sim_time_s
        return terms


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
