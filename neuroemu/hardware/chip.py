"""Chip assembly: the engine built from a ChipSpec and a workload (spec apart from behaviour)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..config.schema import ChipSpec
from .topology import LinkParams, Topology, build_topology

PS_PER_S = 10 ** 12


def tick_ps(chip: ChipSpec) -> int:
    """The tick length as an integer number of picoseconds."""
    return int(round(chip.timing.tick_s * PS_PER_S))


def build_chip_topology(chip: ChipSpec) -> Topology:
    """The chip's router graph and compiled routing tables."""
    t = chip.topology
    link = LinkParams(latency_ps=max(1, int(round(chip.latency.hop_ns.value * 1000))),
                      energy_pj=chip.energy.hop_pj.value,
                      bandwidth_pkts_per_ns=t.bandwidth_pkts_per_ns)
    return build_topology(t.kind, n_cores=chip.cores, width=t.width, height=t.height, radix=t.radix,
                          concentration=t.concentration, pitch_mm=t.pitch_mm, link=link,
                          custom_path=t.custom_path)


@dataclass
class Router:
    """Bulk routing of spikes between cores through the compiled tables (analytic fidelity)."""

    topology: Topology

    def __post_init__(self):
        topo = self.topology
        self.core_router = topo.core_router.astype(np.int64)
        self.class_names = tuple(topo.class_names)
        self._class_hops = topo.class_hops
        self._latency = topo.path_latency_ps
        self._n = topo.n_routers

    def route(self, src_cores: np.ndarray, dst_cores: np.ndarray) -> tuple[np.ndarray, int]:
        """Hops per link class (int64 [classes]) and the summed zero-load latency in ps."""
        src = self.core_router[src_cores]
        dst = self.core_router[dst_cores]
        flat = src * self._n + dst
        per_class = np.array([int(ch.ravel()[flat].sum(dtype=np.int64)) for ch in self._class_hops], np.int64)
        latency = int(self._latency.ravel()[flat].sum(dtype=np.int64))
        return per_class, latency
