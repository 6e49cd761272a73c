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
Mapped networks placed by ``locality`` weigh routes by :meth:`SystemTopology.core_cost`,
in which leaving a chip costs more than any route inside one: a network that fits on one chip
stays on one chip, and one that does not crosses as few chip edges as the layout finds.

No n_routers^2 table is built (a full NS16e has 65,536 routers: its tables would take 112 GiB,
:func:`system_table_bytes`). :class:`SystemRouting` answers every per-pair question in closed
form: hops per class (x, y, chip) from the formula above, path sums (latency, wire, energy) as
class hops x value or the grid's running sums along the two legs, per-link loads and next links
as the grid's (the links are the grid's); :class:`SystemTopology` gives the placement cost per
core pair and summed per core. The tables remain, built on first use, for tests and small
systems. :func:`routing_bytes` estimates what a run's routing allocates, and
:func:`check_system_size` refuses, in one line before anything is built, a system whose network
and routing together would not fit in memory (docs/systems.md).
"""
from __future__ import annotations

import os

import numpy as np

from neuroemu.config.schema import ChipSpec
from neuroemu.errors import ConfigError
from neuroemu.hardware import routing as rt
from neuroemu.hardware.packet import _EVENT_FIELDS, _LINK_FIELDS, _ROUTER_FIELDS
from neuroemu.hardware.topology import Topology, _Links

#: the link class of chip-to-chip links
CHIP_CLASS = "chip"
CLASS_NAMES = ("x", "y", CHIP_CLASS)

# bytes per router pair of the [n, n] tables (next_link int32, hops int16, class_hops 3 x int16,
# path_latency_ps int64, wire_mm float64): what a run built before the closed forms, and what
# trees and custom graphs still build
TABLE_BYTES_PER_PAIR = 4 + 2 + 3 * 2 + 8 + 8
# bytes per route that Router.bind keeps (class hops 3 x int16, latency, wire, source and target
# router int64, a flag) plus its transient per-pair closed forms (coordinates, legs: ~8 int64)
ROUTE_BYTES = 3 * 2 + 8 + 8 + 8 + 8 + 1 + 8 * 8
# per link, the arrays a run holds: the topology's (src, dst int32, class int16, length, latency,
# energy, bandwidth 8 bytes each), the grid routing's (src, dst int64, class int16), the per-link
# loads (int64) and the packet network's (its copies of latency, serialisation, dst and class, its
# per-link state and one event slot per link). No networkx graph: it is built only for exports
# and drawings (Topology.graph), never in a run, a sweep or an MPI rank's setup.
LINK_BYTES = (4 + 4 + 2 + 3 * 8 + 8) + (8 + 8 + 2) + 8 + (8 + 8 + 4 + 2 + 8) + sum(
    np.dtype(dt).itemsize for _, dt in _LINK_FIELDS + _EVENT_FIELDS)
# per router: position (2 float64), level (int16), four ports (int32) and the packet network's
# per-router state; per core: its router in the topology (int32) and in the route binder (int64)
ROUTER_BYTES = 16 + 2 + 4 * 4 + sum(np.dtype(dt).itemsize for _, dt in _ROUTER_FIELDS)
CORE_BYTES = 4 + 8


def system_table_bytes(n_routers: int) -> int:
    """Bytes the [n, n] routing tables of ``n_routers`` routers would take (built only on demand:
    runs on meshes, the packet network's included, use the closed forms)."""
    return TABLE_BYTES_PER_PAIR * n_routers * n_routers


def routing_bytes(chip: ChipSpec, routes: int | None = None) -> int:
    """Bytes a run's routing takes: on a mesh (a system's joined mesh included) the router, core
    and link arrays (no networkx graph: a run never builds it), the packet network's per-link
    state, the per-route closed forms of :class:`neuroemu.hardware.chip.Router` for ``routes``
    bound routes (default one per neuron of the chip, as the generated networks have; an MPI
    rank binds its own neurons' only), plus one block of running sums; on trees and custom
    graphs also the [n, n] tables, which they still build."""
    t = chip.topology
    routers = t.width * t.height if t.kind in ("mesh", "torus") else chip.cores // t.concentration
    links = 4 * routers
    routes = chip.cores * chip.core.neurons if routes is None else routes
    need = routers * ROUTER_BYTES + chip.cores * CORE_BYTES + links * LINK_BYTES + routes * ROUTE_BYTES
    need += 2 * 8 * rt._LEG_BLOCK
    if t.kind not in ("mesh", "torus"):
        need += system_table_bytes(routers)
    return need


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
    """A joined mesh: a :class:`Topology` whose placements keep traffic on one chip where they can.

    Routes are read in closed form per pair (:class:`SystemRouting`); the cost a placement
    weighs is given per core pair (:meth:`core_cost`) and per core summed over all cores
    (:meth:`core_cost_sums`), never as an [n, n] matrix."""

    def _weight(self, placement: bool) -> int:
        # a chip hop costs one hop more than a chip's diameter under the placement cost
        p = self.params
        return p["chip_width"] + p["chip_height"] - 1 if placement else 1

    def core_cost(self, src_cores: np.ndarray, dst_cores: np.ndarray, placement: bool) -> np.ndarray:
        """int64 per core pair: hops between their routers, or with ``placement`` the route length
        for placement, a chip hop counting as one hop more than a chip's diameter, so any route
        inside a chip costs less than any route that leaves it (:func:`neuroemu.networks.place.place`
        lays ``locality`` out by it; its report still counts plain hops)."""
        a = self.core_router[np.asarray(src_cores)].astype(np.int64)
        b = self.core_router[np.asarray(dst_cores)].astype(np.int64)
        hops = self._routing.pair_hops(a, b).astype(np.int64)
        if not placement:
            return hops
        return hops + (self._weight(True) - 1) * self._routing.pair_chip_hops(a, b)

    def core_cost_sums(self, placement: bool) -> np.ndarray:
        """int64 [n_cores]: each core's :meth:`core_cost` summed over every core (separable: the
        x terms summed over the columns times the rows, plus the y terms likewise)."""
        p, r = self.params, self._routing
        w, h, c = p["width"], p["height"], p["concentration"]
        wt = self._weight(placement) - 1
        x, y = np.arange(w), np.arange(h)
        fx = r._hx.astype(np.int64) + wt * np.abs(x[:, None] // p["chip_width"] - x[None, :] // p["chip_width"])
        fy = r._hy.astype(np.int64) + wt * np.abs(y[:, None] // p["chip_height"] - y[None, :] // p["chip_height"])
        per_router = (h * fx.sum(axis=1))[None, :] + (w * fy.sum(axis=1))[:, None]
        return (c * per_router.ravel())[self.core_router]


class SystemRouting(rt.GridRouting):
    """XY routing on the joined mesh, with links across chip edges in class 2 (``chip``).

    Every per-pair question has a closed form, so no [n, n] table is built unless asked for:
    a route's chip hops are the chip edges it crosses, ``|cx_s - cx_d| + |cy_s - cy_d|``
    (``cx = x // chip_width``), its x hops the x distance less the x crossings, likewise y;
    path sums, per-link loads and next links are the grid's (the links are the grid's links)."""

    pairwise = True

    def __init__(self, width: int, height: int, chip_width: int, chip_height: int):
        super().__init__(width, height, wrap=False)
        self.chip_width, self.chip_height = chip_width, chip_height
        sx, sy = self.link_src % width, self.link_src // width
        dx, dy = self.link_dst % width, self.link_dst // width
        across = (sx // chip_width != dx // chip_width) | (sy // chip_height != dy // chip_height)
        self.link_class = np.where(across, 2, self.link_class).astype(np.int16)

    def _class_legs(self, src, dst):
        """Per pair: x distance, y distance, chip edges crossed in x and in y."""
        (sy, sx), (dy, dx) = np.divmod(src, self.width), np.divmod(dst, self.width)
        # (callers pass chunks of rt.PAIR_CHUNK pairs)
        cx = np.abs(sx // self.chip_width - dx // self.chip_width)
        cy = np.abs(sy // self.chip_height - dy // self.chip_height)
        return np.abs(sx - dx), np.abs(sy - dy), cx, cy  # no wrap links: distances are differences

    def pair_chip_hops(self, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
        """int64 chip hops of each route: the chip edges crossed in x, then in y."""
        return self.pair_class_hops(src, dst)[2].astype(np.int64)

    def pair_class_hops(self, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
        """``class_hops()[:, src, dst]`` without the table: (x, y, chip) hops per pair, in chunks
        of ``PAIR_CHUNK`` pairs (small temporaries: 16 M routes at once spend most of their time
        faulting in fresh pages)."""
        src, dst = np.asarray(src), np.asarray(dst)
        out = np.empty((3, src.size), np.int16)
        for c in range(0, src.size, rt.PAIR_CHUNK):
            part = slice(c, c + rt.PAIR_CHUNK)
            hx, hy, cx, cy = self._class_legs(src[part], dst[part])
            out[0, part], out[1, part], out[2, part] = hx - cx, hy - cy, cx + cy
        return out

    def pair_path_sum(self, values, dtype, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
        """``path_sum(values)[src, dst]`` per pair: integer values that are one per class (the
        latencies) are ``sum_c class hops x value`` (exact in integers, so the tables' numbers);
        anything else takes the grid's running sums along the two legs."""
        values = np.asarray(values)
        if np.issubdtype(np.dtype(dtype), np.integer):
            per_class = [values[self.link_class == c] for c in range(3)]
            if all(v.size == 0 or np.all(v == v[0]) for v in per_class):
                hops = self.pair_class_hops(src, dst)
                out = np.zeros(len(src), dtype)
                for c, v in enumerate(per_class):
                    if v.size:
                        for k in range(0, len(src), rt.PAIR_CHUNK):
                            part = slice(k, k + rt.PAIR_CHUNK)
                            out[part] += hops[c, part].astype(dtype) * np.asarray(v[0], dtype)
                return out
        return super().pair_path_sum(values, dtype, src, dst)

    def class_hops(self, link_class, n_classes, link_dst):
        """Per class, the sum over each route of the one-hot class indicator: the [n, n] tables
        (built only when asked for; runs use :meth:`pair_class_hops`)."""
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


def check_system_size(chip: ChipSpec, network_bytes: int = 0) -> None:
    """Refuse, in one line and before anything is allocated, a system whose routing
    (:func:`routing_bytes`) plus ``network_bytes`` (the network's arrays, when the caller knows
    them) exceeds 80 % of the free memory; no-op for other chips. Run setup calls it first
    (:func:`neuroemu.networks.workloads.check_memory`), so a system too large for this machine is
    refused before its neurons are built."""
    system, t = chip.system, chip.topology
    if system is None or t.kind != "mesh":
        return
    routing = routing_bytes(chip)
    have = _available_bytes()
    if routing + network_bytes <= 0.8 * have:
        return
    gx, gy = system.grid
    raise ConfigError(
        f"{chip.source or chip.name}: system: {gx} x {gy} chips ({chip.cores} cores, {t.width * t.height} "
        f"routers) need about {(routing + network_bytes) / 2**30:.1f} GiB ({network_bytes / 2**30:.1f} GiB of "
        f"network, {routing / 2**30:.1f} GiB of routing) but only {have / 2**30:.1f} GiB of memory is free: "
        f"use a smaller grid or split it over MPI ranks (see docs/systems.md)")


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

