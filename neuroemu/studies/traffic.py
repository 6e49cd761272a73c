"""Synthetic traffic on the packet network: latency against offered load, and saturation.

Conventions
-----------
- A **node** is a core, one per router (``concentration`` 1); on trees the nodes are the leaves.
- A **cycle** is the time to serialise one packet on a unit-bandwidth link (1 packet/ns): 1 ns.
- **Offered load** lambda is in packets per node per cycle: every injecting node starts a packet
  at each cycle boundary with probability lambda (Bernoulli), so lambda <= 1.
- **Patterns** (registry :data:`PATTERNS`) give each packet's destination. Nodes sit on the grid
  of their positions (mesh, torus, H-tree and tree layouts all fill one), column x, row y:

  - ``uniform``: any other node, uniformly (a node never sends to itself);
  - ``transpose``: (x, y) -> (y, x), needs a square grid;
  - ``bit-complement``: (x, y) -> (w-1-x, h-1-y) (node i -> N-1-i on a k x k mesh);
  - ``neighbour``: (x, y) -> (x+1 mod w, y+1 mod h);
  - ``hotspot``: with probability ``hotspot_fraction`` the node nearest the grid's centre,
    otherwise uniform (the hotspot itself sends uniformly).

  A permutation's fixed points (the diagonal under transpose) do not inject; every rate is per
  *injecting* node.
- **Accepted throughput**: packets delivered during the measurement window (cycles
  ``warmup`` .. ``cycles``), per injecting node per cycle. **Latency**: injection (into the
  source queue) to delivery, over the packets injected in the measurement window; the network
  is drained so each of them counts.
- **Saturation throughput** (measured): the largest accepted throughput among the sweep's rates
  up to and including the first whose mean latency exceeds ``latency_factor`` (3) x the
  zero-load latency -- past that knee the network accepts what its bottleneck links carry. It is
  as fine as the sweep: put a few rates around the expected value. ``stable_offered`` is the
  highest rate below the knee. The **link bound** is the ideal saturation, min(1, min over links
  of capacity / load at lambda = 1), from the pattern's exact link loads: where the *first* link
  saturates. Under uniform traffic back-pressure from the bottleneck soon holds up every flow,
  so the two agree; under permutations and hotspots the flows that avoid the bottleneck keep
  flowing past it, and accepted throughput can exceed the link bound.
- The closed forms of reference/topology-closed-forms.md (:func:`closed_form_saturation`: 4/k
  on a k x k mesh, r^2 / ((r - 1) N) on an r-ary tree) let a node send to itself; uniform
  traffic here does not, which moves the bound by a factor (N - 1)/N. The packet network
  approaches the bound as buffers deepen: a buffer must cover a slot's round trip (latency +
  serialisation) as well as queueing, so the traffic command defaults to 8 packets per input
  buffer (benchmarks/README.md shows the effect of depth).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from neuroemu.errors import ConfigError
from neuroemu.hardware.packet import PacketNetwork, serialisation_ps, zero_load_latency_ps
from neuroemu.hardware.topology import LinkParams, Topology, build_topology

__all__ = ["CYCLE_PS", "PATTERNS", "Grid", "LoadPoint", "SweepResult", "closed_form_saturation",
           "link_bound", "list_patterns", "node_grid", "parse_rates", "run_load", "sweep",
           "traffic_topology", "zero_load_latency"]

#: one cycle: a packet's serialisation on a unit-bandwidth (1 packet/ns) link
CYCLE_PS = 1000
#: above this many nodes uniform traffic's pairs are not enumerated (link bound from closed forms)
_MAX_UNIFORM_PAIRS_NODES = 1024


@dataclass(frozen=True)
class Grid:
    """Nodes on a grid: node i at column ``x[i]``, row ``y[i]``; ``at[y, x]`` is the node there."""

    x: np.ndarray
    y: np.ndarray
    width: int
    height: int
    at: np.ndarray

    @property
    def n(self) -> int:
        """Number of nodes."""
        return int(self.x.size)

    def centre(self) -> int:
        """The node nearest the grid's centre (ties: the lower id)."""
        d = np.abs(self.x - (self.width - 1) / 2) + np.abs(self.y - (self.height - 1) / 2)
        return int(np.argmin(d))


def node_grid(topology: Topology) -> Grid:
    """The grid the nodes' positions fill (a node is a core; cores at one router are refused)."""
    cr = np.asarray(topology.core_router)
    if np.unique(cr).size != cr.size:
        raise ConfigError("traffic: patterns need one core per router (concentration 1); got "
                          f"{cr.size} cores on {np.unique(cr).size} routers")
    pos = topology.router_pos_mm[cr]
    xs, x = np.unique(np.round(pos[:, 0], 9), return_inverse=True)
    ys, y = np.unique(np.round(pos[:, 1], 9), return_inverse=True)
    w, h = xs.size, ys.size
    at = np.full((h, w), -1, np.int64)
    at[y, x] = np.arange(cr.size)
    if w * h != cr.size or (at < 0).any():
        raise ConfigError(f"traffic: the nodes' positions do not fill a grid ({cr.size} nodes on "
                          f"{w} x {h} positions); use the uniform pattern")
    return Grid(x.astype(np.int64), y.astype(np.int64), int(w), int(h), at)


# --- patterns -----------------------------------------------------------------------------------

def _uniform_dst(src: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    dst = rng.integers(0, n - 1, size=src.size)
    return dst + (dst >= src)  # skip the source itself: uniform over the other n - 1 nodes


def _permutation(fn: Callable[[Grid], np.ndarray]):
    def pattern(src, grid, rng, hotspot_fraction):
        return fn(grid)[src]
    pattern.permutation = fn
    return pattern


def _transpose(g: Grid) -> np.ndarray:
    if g.width != g.height:
        raise ConfigError(f"traffic: transpose needs a square grid of nodes; got {g.width} x {g.height}")
    return g.at[g.x, g.y]


def _uniform(src, grid, rng, hotspot_fraction):
    return _uniform_dst(src, grid.n, rng)


def _hotspot(src, grid, rng, hotspot_fraction):
    dst = _uniform_dst(src, grid.n, rng)
    hot = grid.centre()
    to_hot = (rng.random(src.size) < hotspot_fraction) & (src != hot)
    return np.where(to_hot, hot, dst)


PATTERNS: dict[str, Callable] = {
    "uniform": _uniform,
    "transpose": _permutation(_transpose),
    "bit-complement": _permutation(lambda g: g.at[g.height - 1 - g.y, g.width - 1 - g.x]),
    "neighbour": _permutation(lambda g: g.at[(g.y + 1) % g.height, (g.x + 1) % g.width]),
    "hotspot": _hotspot,
}
"""Registry: pattern name -> ``fn(src_nodes, grid, rng, hotspot_fraction) -> dst_nodes``."""


def list_patterns() -> list[str]:
    """The pattern names, in registry order."""
    return list(PATTERNS)


def _pattern(name: str):
    if name not in PATTERNS:
        raise ConfigError(f"traffic: unknown pattern {name!r}; valid: {', '.join(PATTERNS)}")
    return PATTERNS[name]


def _sources(pattern: str, grid: Grid) -> np.ndarray:
    """The nodes that inject: all, except a permutation's fixed points."""
    fn = getattr(_pattern(pattern), "permutation", None)
    if fn is None:
        return np.arange(grid.n)
    return np.flatnonzero(fn(grid) != np.arange(grid.n))


def _pair_weights(pattern: str, grid: Grid, hotspot_fraction: float):
    """(src, dst, weight): expected packets per injected packet of each (src, dst) pair, or None
    when uniform pairs are too many to enumerate."""
    n = grid.n
    fn = getattr(_pattern(pattern), "permutation", None)
    if fn is not None:
        src = _sources(pattern, grid)
        return src, fn(grid)[src], np.ones(src.size)
    if n > _MAX_UNIFORM_PAIRS_NODES:
        return None
    s, d = np.nonzero(~np.eye(n, dtype=bool))
    w = np.full(s.size, 1.0 / (n - 1))
    if pattern == "hotspot":
        hot = grid.centre()
        w = np.where(s != hot, w * (1 - hotspot_fraction), w)
        w = w + np.where((d == hot) & (s != hot), hotspot_fraction, 0.0)
    return s, d, w


def _link_loads(topology: Topology, src, dst, weight) -> np.ndarray:
    """float [n_links]: expected packets over each link for pairs (src, dst) of the given weights
    (routers); all routes advance one hop per step."""
    loads = np.zeros(topology.n_links)
    cur, dst, w = np.asarray(src, np.int64), np.asarray(dst, np.int64), np.asarray(weight, float)
    while cur.size:
        moving = cur != dst
        cur, dst, w = cur[moving], dst[moving], w[moving]
        links = topology.next_links(cur, dst)  # closed form on meshes: no [n, n] table
        loads += np.bincount(links, weights=w, minlength=topology.n_links)
        cur = topology.link_dst[links].astype(np.int64)
    return loads


def link_bound(topology: Topology, pattern: str, hotspot_fraction: float = 0.1) -> float | None:
    """Ideal saturation (packets/node/cycle): min(1, min over links of capacity / load per unit
    of offered load), from the pattern's exact link loads; None if too many pairs to enumerate."""
    grid = node_grid(topology)
    pairs = _pair_weights(pattern, grid, hotspot_fraction)
    if pairs is None:
        return None
    s, d, w = pairs
    cr = np.asarray(topology.core_router, np.int64)
    loads = _link_loads(topology, cr[s], cr[d], w)
    capacity = CYCLE_PS / serialisation_ps(topology.link_bandwidth)
    used = loads > 0
    return float(min(1.0, (capacity[used] / loads[used]).min())) if used.any() else 1.0


def closed_form_saturation(kind: str, size: int, radix: int = 4) -> float | None:
    """lambda_sat for uniform traffic with unit-bandwidth links, from
    reference/topology-closed-forms.md: min(1, 4/k) on a k x k mesh (``size`` = k), r^2/((r-1)N)
    on an r-ary tree or H-tree (r = 4) of N = ``size`` leaves; None for other topologies."""
    if kind == "mesh":
        return min(1.0, 4.0 / size)
    if kind in ("tree", "htree"):
        r = 4 if kind == "htree" else radix
        return min(1.0, r * r / ((r - 1) * size))
    return None


def zero_load_latency(topology: Topology, pattern: str, hotspot_fraction: float = 0.1) -> float:
    """Mean zero-load latency (ps) of the pattern's packets on the packet network."""
    grid = node_grid(topology)
    cr = np.asarray(topology.core_router, np.int64)
    z = zero_load_latency_ps(topology)
    pairs = _pair_weights(pattern, grid, hotspot_fraction)
    if pairs is None:  # uniform on many nodes: the mean over all distinct pairs
        sub = z[np.ix_(cr, cr)]
        return float((sub.sum() - np.trace(sub)) / (cr.size * (cr.size - 1)))
    s, d, w = pairs
    return float((z[cr[s], cr[d]] * w).sum() / w.sum())


# --- running ------------------------------------------------------------------------------------

def traffic_topology(kind: str, size: int, *, radix: int = 4, link: LinkParams = LinkParams(),
                     custom_path: str | None = None) -> Topology:
    """The topology for ``size``: k x k nodes for mesh and torus (size = k), ``size`` leaves for
    trees and H-trees, ``size`` cores for custom graphs; one core per router."""
    if not isinstance(size, (int, np.integer)) or size < 1:
        raise ConfigError(f"traffic: size must be an integer >= 1; got {size!r}")
    n = size * size if kind in ("mesh", "torus") else size
    return build_topology(kind, n_cores=int(n), radix=radix, link=link, custom_path=custom_path)


@dataclass(frozen=True)
class LoadPoint:
    """One offered load's measurement: rates per injecting node per cycle, latencies in s,
    ``injected`` packets in all, ``measured`` (injected in the measurement window), the busiest
    link's utilisation over the measurement window, and back-pressure stalls until ``cycles``."""

    offered: float
    accepted: float
    latency_mean_s: float | None
    latency_p99_s: float | None
    injected: int
    measured: int
    max_link_utilization: float
    stalls: int

    def to_dict(self) -> dict:
        """The point as a JSON-ready dict."""
        return dict(self.__dict__)


@dataclass(frozen=True)
class SweepResult:
    """A latency-load sweep and its saturation estimates (see the module docstring)."""

    topology: str
    size: int
    n_nodes: int
    pattern: str
    cycles: int
    warmup: int
    buffer_packets: int | None
    zero_load_latency_s: float
    saturation: float | None
    saturation_note: str
    stable_offered: float | None
    max_accepted: float
    link_bound: float | None
    closed_form: float | None
    points: list[LoadPoint] = field(default_factory=list)

    def to_dict(self) -> dict:
        """The sweep as a JSON-ready dict."""
        out = {k: v for k, v in self.__dict__.items() if k != "points"}
        out["cycle_s"] = CYCLE_PS * 1e-12
        out["points"] = [p.to_dict() for p in self.points]
        return out


def _check_load_args(rate, cycles, warmup, hotspot_fraction):
    if not (isinstance(rate, (int, float)) and 0 < rate <= 1):
        raise ConfigError(f"traffic: offered load must be in (0, 1] packets/node/cycle; got {rate!r}")
    if not isinstance(cycles, (int, np.integer)) or cycles < 2:
        raise ConfigError(f"traffic: cycles must be an integer >= 2; got {cycles!r}")
    if not isinstance(warmup, (int, np.integer)) or not 0 <= warmup < cycles:
        raise ConfigError(f"traffic: warmup must be an integer in [0, cycles={cycles}); got {warmup!r}")
    if not 0 <= hotspot_fraction <= 1:
        raise ConfigError(f"traffic: hotspot fraction must be in [0, 1]; got {hotspot_fraction!r}")


def run_load(topology: Topology, pattern: str, rate: float, *, cycles: int = 2000, warmup: int | None = None,
             seed: int = 0, buffer_packets: int | None = 8, hotspot_fraction: float = 0.1,
             queue_backend: str | None = None) -> LoadPoint:
    """Inject Bernoulli traffic at ``rate`` for ``cycles`` cycles, drain, and measure (module
    docstring). ``warmup`` defaults to cycles // 4; the same seed gives the same packets."""
    warmup = cycles // 4 if warmup is None else warmup
    _check_load_args(rate, cycles, warmup, hotspot_fraction)
    grid = node_grid(topology)
    fn = _pattern(pattern)
    sources = _sources(pattern, grid)
    if sources.size == 0:
        raise ConfigError(f"traffic: pattern {pattern!r} sends nothing on {grid.n} nodes")
    rng = np.random.default_rng(seed)
    # Bernoulli per node per cycle, drawn in blocks of cycles to bound memory
    block = max(1, 2**22 // sources.size)
    cyc_parts, src_parts = [], []
    for c0 in range(0, cycles, block):
        c, i = np.nonzero(rng.random((min(block, cycles - c0), sources.size)) < rate)
        cyc_parts.append(c + c0)
        src_parts.append(sources[i])
    cyc = np.concatenate(cyc_parts)
    src = np.concatenate(src_parts)
    dst = fn(src, grid, rng, hotspot_fraction)
    net = PacketNetwork(topology, buffer_packets=buffer_packets, queue_backend=queue_backend)
    cr = np.asarray(topology.core_router, np.int64)
    net.inject(cyc * CYCLE_PS, cr[src], cr[dst], np.arange(src.size))
    start, end = warmup * CYCLE_PS, cycles * CYCLE_PS
    parts = [net.advance(start)]
    busy0 = net.busy_ps
    parts.append(net.advance(end))
    utilization = (net.busy_ps - busy0) / max(end - start, 1)
    stalls = net.stats["stalls"]
    parts.append(net.advance(2**62))  # drain: every measured packet's latency counts
    t = np.concatenate([p.time_ps for p in parts])
    tag = np.concatenate([p.tag for p in parts])
    window = (t >= start) & (t < end)
    accepted = int(window.sum()) / (sources.size * (cycles - warmup))
    lat = (t - cyc[tag] * CYCLE_PS)[cyc[tag] >= warmup]
    return LoadPoint(
        offered=float(rate), accepted=accepted,
        latency_mean_s=float(lat.mean()) * 1e-12 if lat.size else None,
        latency_p99_s=float(np.percentile(lat, 99)) * 1e-12 if lat.size else None,
        injected=int(src.size), measured=int(lat.size),
        max_link_utilization=float(utilization.max()) if utilization.size else 0.0, stalls=stalls)


def parse_rates(text: str) -> list[float]:
    """``"A:B:N"`` -> N offered loads evenly spaced from A to B inclusive; ``"A"`` -> [A]."""
    parts = str(text).split(":")
    try:
        if len(parts) == 1:
            a, b, n = float(parts[0]), float(parts[0]), 1
        elif len(parts) == 3:
            a, b, n = float(parts[0]), float(parts[1]), int(parts[2])
        else:
            raise ValueError
    except ValueError:
        raise ConfigError(f"--rates: expected A:B:N (N loads from A to B, packets/node/cycle) or one "
                          f"load A; got {text!r}") from None
    if not (0 < a <= b <= 1 and math.isfinite(b)) or n < 1 or (n == 1 and a != b):
        raise ConfigError(f"--rates: need 0 < A <= B <= 1 and N >= 1 (N = 1 only when A = B); got {text!r}")
    return [float(v) for v in np.linspace(a, b, n)]


def _saturation(points: list[LoadPoint], zero_load_s: float, factor: float) -> tuple[float | None, str]:
    limit = factor * zero_load_s
    for i, p in enumerate(points):
        if p.latency_mean_s is not None and p.latency_mean_s > limit:
            # past the knee accepted traffic is the network's capacity; further on, back-pressure
            # makes it fall (and with unbounded buffers, uncongested flows make it rise again)
            note = f"max accepted throughput up to the first rate with mean latency > {factor:g}x zero-load"
            if i == 0:
                note += " (already the lowest rate: lower the rates to see the knee)"
            return max(q.accepted for q in points[: i + 1]), note
    return None, f"not reached: latency stays below {factor:g}x zero-load at every rate; raise the rates"


def sweep(kind: str, size: int, pattern: str, rates, *, radix: int = 4, cycles: int = 2000,
          warmup: int | None = None, seed: int = 0, buffer_packets: int | None = 8,
          hotspot_fraction: float = 0.1, latency_factor: float = 3.0, link: LinkParams = LinkParams(),
          queue_backend: str | None = None, custom_path: str | None = None,
          progress: Callable[[int, int], None] | None = None) -> SweepResult:
    """Run :func:`run_load` at each rate (sorted) on a fresh network and estimate saturation.

    Topology as in :func:`traffic_topology`. Point i uses seed ``(seed, i)``, so a point never
    depends on the others; ``progress(done, total)`` is called after each point."""
    topology = traffic_topology(kind, size, radix=radix, link=link, custom_path=custom_path)
    _pattern(pattern)
    rates = sorted(float(r) for r in rates)
    if not rates:
        raise ConfigError("traffic: give at least one offered load")
    warmup = cycles // 4 if warmup is None else warmup
    points = []
    for i, rate in enumerate(rates):
        point_seed = int(np.random.SeedSequence([seed, i]).generate_state(1)[0])
        points.append(run_load(topology, pattern, rate, cycles=cycles, warmup=warmup, seed=point_seed,
                               buffer_packets=buffer_packets, hotspot_fraction=hotspot_fraction,
                               queue_backend=queue_backend))
        if progress is not None:
            progress(i + 1, len(rates))
    z = zero_load_latency(topology, pattern, hotspot_fraction) * 1e-12
    sat, note = _saturation(points, z, latency_factor)
    stable = None
    for p in points:  # the highest rate below the knee
        if p.latency_mean_s is None or p.latency_mean_s > latency_factor * z:
            break
        stable = p.offered
    return SweepResult(
        topology=kind, size=int(size), n_nodes=topology.n_cores, pattern=pattern, cycles=int(cycles),
        warmup=int(warmup), buffer_packets=buffer_packets, zero_load_latency_s=z, saturation=sat,
        saturation_note=note, stable_offered=stable, max_accepted=max(p.accepted for p in points),
        link_bound=link_bound(topology, pattern, hotspot_fraction),
        closed_form=closed_form_saturation(kind, size, radix) if pattern == "uniform" else None,
        points=points)
