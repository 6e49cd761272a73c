"""Systems of chips: the meshes of a grid of chips joined into one mesh (issue 17).

A system (``ChipSpec.system``, expanded from a system file by
:func:`neuroemu.config.loader.expand_system`) is a ``gx x gy`` grid of identical mesh chips of
``w x h`` routers each. Their meshes join across chip edges into one ``gx w x gy h`` mesh with
XY dimension-order routing, as TrueNorth's merge/split ports and Loihi's chip-to-chip links
extend the on-chip mesh; router ``y * (gx w) + x`` belongs to chip ``(x // w, y // h)``.
A link between routers of two different chips is of class ``chip`` (after the chip's own
``x`` and ``y``): its energy and latency come from ``system.link``, so chip-to-chip hops are
counted and priced apart (``hop:chip`` in the ledger; the prices are
``energy.hop_class_pj.chip`` and ``latency.hop_class_ns.chip``, which a system file's
``system.link`` expands to). Routes are the XY routes of the joined
mesh, so a route's chip hops are the chip edges it crosses: ``|cx_s - cx_d| + |cy_s - cy_d|``.
Mapped networks placed by ``locality`` weigh routes by :attr:`SystemTopology.placement_cost`,
in which leaving a chip costs more than any route inside one: a network that fits on one chip
stays on one chip, and one that does not crosses as few chip edges as the layout finds.

The routing tables are those of the joined mesh, n_routers^2 in size:
:func:`system_table_bytes` estimates them and :func:`build_system_topology` refuses, in one
line, a system whose tables would not fit (a full NS16e has 65,536 routers: 17 GB of next-hop
table alone). Splitting such a system over MPI ranks, each with its own rows of the tables,
is the design in docs/systems.md.
"""
from __future__ import annotations

import os
from functools import cached_property

import numpy as np

from neuroemu.config.schema import ChipSpec
from neuroemu.errors import ConfigError
from neuroemu.hardware import routing as rt
from neuroemu.hardware.topology import MAX_ROUTERS, Topology, _Links

#: the link class of chip-to-chip links
CHIP_CLASS = "chip"
CLASS_NAMES = ("x", "y", CHIP_CLASS)

# bytes per router pair of the tables a run builds: next_link int32 + hops int16 eagerly, then
# class_hops (3 x int16), path_latency_ps (int64) and wire_mm (float64) on first use
TABLE_BYTES_PER_PAIR = 4 + 2 + 3 * 2 + 8 + 8


def system_table_bytes(n_routers: int) -> int:
    """Bytes of the routing tables of a joined mesh of ``n_routers`` routers."""
    return TABLE_BYTES_PER_PAIR * n_routers * n_routers


def chip_of_router(topo: Topology) -> np.ndarray:
    """int32 [n_routers]: the chip (``cy * gx + cx``) each router of a system's mesh belongs to."""
    p = topo.params
    ids = np.arange(topo.n_routers)
    x, y = ids % p["width"], ids // p["width"]
    return ((y // p["chip_height"]) * p["grid"][0] + x // p["chip_width"]).astype(np.int32)


def chip_of_core(topo: Topology) -> np.ndarray:
    """int32 [n_cores]: the chip each core of a system sits on."""
    return chip_of_router(topo)[topo.core_router]


class SystemTopology(Topology):
    """A joined mesh: a :class:`Topology` whose placements keep traffic on one chip where they can."""

    @cached_property
    def placement_cost(self) -> np.ndarray:
        """int32 [n_routers, n_routers]: route length for placement, a chip hop counting as one
        hop more than a chip's diameter, so any route inside a chip costs less than any route
        that leaves it (:func:`neuroemu.networks.place.place` lays ``locality`` out by it; its
        report still counts plain hops)."""
        p = self.params
        weight = p["chip_width"] + p["chip_height"] - 1
        chip = self.class_names.index(CHIP_CLASS)
        cost = self.hops.astype(np.int32) + (weight - 1) * self.class_hops[chip].astype(np.int32)
        cost.setflags(write=False)
        return cost


class SystemRouting(rt.GridRouting):
    """XY routing on the joined mesh, with links across chip edges in class 2 (``chip``)."""

    # the grid's per-pair closed forms know two link classes (x, y); a system has a third, so its
    # routes are read from the [n, n] tables (a system too big for them is refused before building)
    pairwise = False

    def __init__(self, width: int, height: int, chip_width: int, chip_height: int):
        super().__init__(width, height, wrap=False)
        sx, sy = self.link_src % width, self.link_src // width
        dx, dy = self.link_dst % width, self.link_dst // width
        across = (sx // chip_width != dx // chip_width) | (sy // chip_height != dy // chip_height)
        self.link_class = np.where(across, 2, self.link_class).astype(np.int16)

    def class_hops(self, link_class, n_classes, link_dst):
        """Per class, the sum over each route of the one-hot class indicator (the grid's closed form)."""
        n = self.width * self.height
        out = np.empty((n_classes, n, n), dtype=np.int16)
        for c in range(n_classes):
            out[c] = self.path_sum((link_class == c).astype(np.int16), np.int16, link_dst)
        return out


def _available_bytes() -> int:
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # not on this platform: only the router limit applies
        return 1 << 62


def check_system_size(chip: ChipSpec) -> None:
    """Refuse, in one line and before anything is allocated, a system whose joined mesh's routing
    tables exceed :data:`MAX_ROUTERS` routers or 80 % of the free memory; no-op for other chips.
    Run setup calls it first (:func:`neuroemu.networks.workloads.check_memory`), so a full NS16e
    is refused before its 16 M neurons are built."""
    system, t = chip.system, chip.topology
    if system is None or t.kind != "mesh":
        return
    n = t.width * t.height
    need = system_table_bytes(n)
    if n <= MAX_ROUTERS and need <= 0.8 * _available_bytes():
        return
    gx, gy = system.grid
    why = (f"one machine holds at most {MAX_ROUTERS} routers" if n > MAX_ROUTERS
           else f"only {_available_bytes() / 2**30:.1f} GiB of memory is free")
    raise ConfigError(
        f"{chip.source or chip.name}: system: the joined mesh has {n} routers ({gx} x {gy} chips of "
        f"{t.width // gx} x {t.height // gy}); its routing tables (n_routers^2) would take "
        f"{need / 2**30:.1f} GiB, and {why}: use a smaller grid (see docs/systems.md)")


def build_system_topology(chip: ChipSpec, link_of) -> Topology:
    """The joined mesh of a system chip; ``link_of(latency_ns, energy_pj, bandwidth)`` makes a
    :class:`LinkParams` (the chip's per-mm wire energy applies to every class)."""
    system, t = chip.system, chip.topology
    if t.kind != "mesh":  # e.g. compare's other layouts: the chip links exist only on the joined mesh
        raise ConfigError(f"{chip.source or chip.name}: topology.kind: a system of chips is their joined mesh; "
                          f"{t.kind!r} does not apply (run its chip {system.chip!r} under {t.kind} instead)")
    check_system_size(chip)
    gx, gy = system.grid
    w, h = t.width, t.height
    n = w * h
    routing = SystemRouting(w, h, w // gx, h // gy)
    on_chip = [link_of((chip.latency.hop_class_ns or {}).get(c, chip.latency.hop_ns).value, chip.energy.hop_energy(c),
                       t.bandwidth_pkts_per_ns) for c in ("x", "y")]
    between = link_of((chip.latency.hop_class_ns or {}).get(CHIP_CLASS, chip.latency.hop_ns).value,
                      chip.energy.hop_energy(CHIP_CLASS), system.bandwidth_pkts_per_ns)
    ids = np.arange(n)
    pos = np.stack([ids % w, ids // w], axis=1) * t.pitch_mm
    src, dst = routing.link_src, routing.link_dst
    return SystemTopology(
        "mesh", core_router=ids.repeat(t.concentration), router_pos_mm=pos, router_level=np.zeros(n),
        links=_Links(src, dst, routing.link_class, np.abs(pos[src] - pos[dst]).sum(axis=1)),
        class_names=CLASS_NAMES, class_params=on_chip + [between], routing_fn=lambda topo: routing,
        params={"width": w, "height": h, "concentration": t.concentration, "grid": (gx, gy),
                "chip_width": w // gx, "chip_height": h // gy},
    )

