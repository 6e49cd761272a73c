"""Neurogrid's diffuser network for the async engine: parameters, checks, arrays, routes, start state.

The model (continuous-time LIF neurons, the diffuser's neighbourhood, multicast targets, the
mean-field start) is described in :mod:`neuroemu.engine.asyncsim`, which runs it. Here: the
``network.neuron`` parameters (:class:`NeurogridParams`) and their checks, the plan of a
``neurogrid_diffuser`` network (sizes checked before anything is allocated) and its build --
O(neurons) arrays (state, bias, targets) and one route per (source chip, target chip set),
with the links of its multicast tree counted once each.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Callable

import numpy as np

from neuroemu.hardware.asynckernel import KernelArrays
from neuroemu.config.fields import Where
from neuroemu.config.schema import ChipSpec, WorkloadSpec
from neuroemu.errors import CapacityError, ConfigError
from neuroemu.engine.options import STREAM_NEURON_RNG
from neuroemu.hardware.chip import build_chip_topology
from neuroemu.models.rng import generator

#: seed purposes under the neuron stream (``options.STREAM_NEURON_RNG``)
PURPOSE_BIAS, PURPOSE_TARGETS, PURPOSE_PHASE = 1, 2, 3


@dataclass(frozen=True)
class NeurogridParams:
    """Parameters of ``neurogrid_lif`` neurons on a ``neurogrid_diffuser`` network (``network.neuron``).

    Potentials are in units of the user's choice (threshold 1 by default); times in ms.
    """

    tau_ms: float = 20.0           #: membrane time constant
    threshold: float = 1.0         #: V at which the neuron fires
    reset: float = 0.0             #: V after a spike (below threshold)
    bias: float = 1.5              #: rest potential the bias current drives V to (> threshold: fires alone)
    bias_spread: float = 0.0       #: each neuron's bias is uniform in bias +- bias_spread (analog mismatch)
    refractory_ms: float = 1.0     #: V held at reset, inputs ignored
    weight: float = -0.01          #: jump of V per synaptic event (negative: inhibitory)
    diffuser_radius: float = 0.0   #: disc neighbourhood (0: use width x height)
    diffuser_width: float = 0.0    #: rectangle neighbourhood, columns
    diffuser_height: float = 0.0   #: rectangle neighbourhood, rows
    diffuser_wrap: float = 1.0     #: 1: the array wraps at its edges, 0: clipped
    targets: float = 1.0           #: chips each spike is multicast to
    init_mean_field: float = 1.0   #: 1: start in the mean-field steady state, 0: all at reset


NEURON_KEYS = tuple(f.name for f in fields(NeurogridParams))

#: the neuron models the async engine runs (``core.neuron_model``), with their parameter class
ASYNC_NEURON_MODELS = {"neurogrid_lif": NeurogridParams}


def _workload_file(workload: WorkloadSpec, file: str | None = None) -> str:
    """What errors name as the workload's file."""
    if file:
        return str(file)
    where = getattr(workload, "where", None)
    if where:
        return str(where)
    from neuroemu.config.loader import WORKLOADS_DIR
    path = WORKLOADS_DIR / f"{workload.name}.yaml"
    return str(path) if path.is_file() else workload.name


def neurogrid_params(workload: WorkloadSpec, file: str | None = None) -> NeurogridParams:
    """``network.neuron`` checked: unknown keys, non-finite values and broken rules name the key."""
    where = Where(_workload_file(workload, file), "network.neuron")
    given = dict(workload.network.neuron or {})
    for key, value in given.items():
        if key not in NEURON_KEYS:
            raise where.child(key).error(f"unknown neuron parameter; valid: {', '.join(sorted(NEURON_KEYS))}")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise where.child(key).error("must be a finite number", value)
    p = NeurogridParams(**{k: float(v) for k, v in given.items()})

    def rule(key: str, ok: bool, text: str) -> None:
        if not ok:
            raise where.child(key).error(text, getattr(p, key))

    rule("tau_ms", 0 < p.tau_ms <= 1e6, "must be > 0 and <= 1e6 ms")
    rule("refractory_ms", 0 <= p.refractory_ms <= 1e6, "must be >= 0 and <= 1e6 ms")
    rule("reset", p.reset < p.threshold, f"must be below the threshold ({p.threshold})")
    rule("bias_spread", p.bias_spread >= 0, "must be >= 0")
    for key in ("diffuser_radius", "diffuser_width", "diffuser_height"):
        rule(key, getattr(p, key) >= 0, "must be >= 0")
    for key in ("diffuser_width", "diffuser_height", "targets"):
        rule(key, getattr(p, key) == int(getattr(p, key)), "must be a whole number")
    rule("targets", p.targets >= 1, "must be >= 1")
    rule("diffuser_wrap", p.diffuser_wrap in (0, 1), "must be 0 (clip at the edge) or 1 (wrap)")
    rule("init_mean_field", p.init_mean_field in (0, 1), "must be 0 or 1")
    rect = p.diffuser_width > 0 or p.diffuser_height > 0
    if rect and p.diffuser_radius > 0:
        raise where.child("diffuser_radius").error("give either diffuser_radius (a disc) or diffuser_width "
                                                   "and diffuser_height (a rectangle), not both")
    if rect and not (p.diffuser_width >= 1 and p.diffuser_height >= 1):
        raise where.child("diffuser_width").error("a rectangle needs both diffuser_width and diffuser_height >= 1")
    return p


def diffuser_rows(p: NeurogridParams) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The neighbourhood as rows: (dy, first dx, last dx), int32 arrays, dy ascending.

    A disc holds the lattice points with dx^2 + dy^2 <= radius^2 (radius 0: the centre alone); an
    even rectangle side reaches one further on the + side.
    """
    if p.diffuser_width > 0:
        w, h = int(p.diffuser_width), int(p.diffuser_height)
        dy = np.arange(h) - (h - 1) // 2
        lo = np.full(h, -((w - 1) // 2))
        return dy.astype(np.int32), lo.astype(np.int32), (lo + w - 1).astype(np.int32)
    r2 = math.floor(p.diffuser_radius ** 2 + 1e-9)
    top = math.isqrt(r2)
    dy = np.arange(-top, top + 1)
    half = np.array([math.isqrt(r2 - int(d) * int(d)) for d in dy])
    return dy.astype(np.int32), (-half).astype(np.int32), half.astype(np.int32)


def _mean_reach(dy: np.ndarray, lo: np.ndarray, hi: np.ndarray, side: int, wrap: bool) -> float:
    """Neurons one spike reaches on one chip, averaged over the target positions."""
    if wrap:
        return float((hi - lo + 1).sum())
    total = 0.0
    for y, a, b in zip(dy.tolist(), lo.tolist(), hi.tolist()):
        dx = np.arange(a, b + 1)
        total += max(side - abs(y), 0) / side * np.clip(side - np.abs(dx), 0, None).sum() / side
    return total


def lif_rate_hz(drive: np.ndarray, p: NeurogridParams) -> np.ndarray:
    """The firing rate of a neuron held at a constant drive (its rest potential), per neuron."""
    drive = np.asarray(drive, np.float64)
    out = np.zeros_like(drive)
    above = drive > p.threshold
    d = drive[above]
    period_ms = p.refractory_ms + p.tau_ms * np.log((d - p.reset) / (d - p.threshold))
    out[above] = 1e3 / period_ms
    return out


def mean_field_rate(bias: np.ndarray, p: NeurogridParams, sops_per_spike: float) -> tuple[float, float]:
    """(rate in Hz, drive shift) of the mean-field steady state: r = mean f(b + w tau K r).

    Inhibition only (the right side falls as r grows, so the root is unique); for w > 0 the
    unshifted rate is returned.
    """
    sample = np.sort(bias)[:: max(1, len(bias) // 4096)]
    free = float(lif_rate_hz(sample, p).mean())
    gain = p.weight * p.tau_ms * 1e-3 * sops_per_spike  # drive shift per Hz of mean rate
    if gain >= 0 or free == 0.0:
        return free, 0.0
    lo, hi = 0.0, free
    for _ in range(80):
        mid = 0.5 * (lo + hi)
        if lif_rate_hz(sample + gain * mid, p).mean() > mid:
            lo = mid
        else:
            hi = mid
    r = 0.5 * (lo + hi)
    return r, gain * r


@dataclass
class DiffuserNetwork:
    """A ``neurogrid_diffuser`` network on a chip: the kernel's arrays plus its routes.

    Route j is one (source chip, target chip set): ``route_class_hops[j]`` links of each class in
    its multicast tree, ``route_links[j]`` their ids, ``route_wire_nm[j]`` their length and
    ``route_latency_ps[j]`` the latest arrival among its targets.
    """

    params: NeurogridParams
    arrays: KernelArrays
    n_chips: int
    class_names: tuple[str, ...]
    route_class_hops: np.ndarray
    route_links: list[np.ndarray]
    route_wire_nm: np.ndarray
    route_latency_ps: np.ndarray
    lookahead_ps: int
    sops_per_spike: float
    mean_field_hz: float
    mean_field_shift: float
    topology: object

    @property
    def n(self) -> int:
        """Neurons."""
        return self.arrays.n


def _pick_targets(rng: np.random.Generator, n: int, n_chips: int, k: int) -> np.ndarray:
    """k distinct chips per neuron, uniformly at random, sorted: int32 [n, k]."""
    if k == 1:
        return rng.integers(0, n_chips, size=(n, 1)).astype(np.int32)
    out = np.empty((n, k), np.int32)
    chunk = 1 << 16
    for s in range(0, n, chunk):
        keys = rng.random((min(chunk, n - s), n_chips))
        out[s:s + chunk] = np.sort(np.argpartition(keys, k - 1, axis=1)[:, :k], axis=1)
    return out


@dataclass(frozen=True)
class DiffuserPlan:
    """The checked sizes of a ``neurogrid_diffuser`` network, before anything is allocated."""

    params: NeurogridParams
    n_chips: int      #: chips used
    nc: int           #: neurons per chip (side x side)
    side: int
    k: int            #: chips each spike reaches
    rows: tuple[np.ndarray, np.ndarray, np.ndarray]  #: the neighbourhood (see diffuser_rows)
    wrap: bool

    @property
    def n(self) -> int:
        """Neurons."""
        return self.n_chips * self.nc


def plan_diffuser(chip: ChipSpec, workload: WorkloadSpec, file: str | None = None) -> DiffuserPlan:
    """Check a ``neurogrid_diffuser`` workload against the chip; every broken rule names the key."""
    file = _workload_file(workload, file)
    net = workload.network
    p = neurogrid_params(workload, file)
    n_chips = net.cores or chip.cores
    if n_chips > chip.cores:
        raise CapacityError(f"{file}: network.cores: the workload uses {n_chips} cores but chip "
                            f"{chip.name!r} has {chip.cores}")
    nc = net.neurons_per_core or chip.core.neurons
    side = math.isqrt(nc)
    if nc > chip.core.neurons:
        raise CapacityError(f"{file}: network.neurons_per_core: {nc} neurons per core, more than a core of "
                            f"chip {chip.name!r} holds ({chip.core.neurons})")
    if side * side != nc:
        raise ConfigError(f"{file}: network.neurons_per_core: the diffuser needs a square array of neurons "
                          f"per core (side x side) (got {nc})")
    k = int(p.targets)
    if k > n_chips:
        raise ConfigError(f"{file}: network.neuron.targets: a spike can reach at most the {n_chips} chips used "
                          f"(got {k})")
    dy, lo, hi = diffuser_rows(p)
    wrap = bool(p.diffuser_wrap)
    if wrap and (len(dy) > side or int((hi - lo).max()) + 1 > side):
        raise ConfigError(f"{file}: network.neuron: the diffuser neighbourhood ({int((hi - lo).max()) + 1} x "
                          f"{len(dy)}) must fit in the {side} x {side} array when it wraps")
    if n_chips * nc >= 2**31:
        raise CapacityError(f"{file}: network: {n_chips * nc} neurons, more than the async engine's 2^31 - 1")
    return DiffuserPlan(p, n_chips, nc, side, k, (dy, lo, hi), wrap)


def build_diffuser_network(chip: ChipSpec, workload: WorkloadSpec, seed: int) -> DiffuserNetwork:
    """Check the workload against the chip and build the network's arrays and routes."""
    plan = plan_diffuser(chip, workload)
    p, n_chips, nc, side, k, wrap, n = plan.params, plan.n_chips, plan.nc, plan.side, plan.k, plan.wrap, plan.n
    dy, lo, hi = plan.rows

    topo = build_chip_topology(chip)
    spike_ps = int(round(chip.latency.spike_ns.value * 1000))
    routers = topo.core_router[:n_chips].astype(np.int64)
    lat = (spike_ps + topo.path_latency_ps[routers[:, None], routers[None, :]]).astype(np.int64)
    if int(lat.min()) <= 0:
        # the lookahead would be 0: a window would never end (a spike could cause one at once)
        raise ConfigError(f"{chip.source or chip.name}: latency.spike_ns: under async the lookahead (the smallest "
                          f"spike latency: spike_ns + the route's hops x hop_ns) must be > 0 ps, or time would never "
                          f"advance (got {int(lat.min())} ps)")

    targets = _pick_targets(generator(seed, STREAM_NEURON_RNG, PURPOSE_TARGETS), n, n_chips, k)
    src_chip = (np.arange(n) // nc).astype(np.int64)
    keys = np.column_stack([src_chip, targets]).astype(np.int64)
    if n_chips ** (k + 1) < 2**62:
        code = keys @ (n_chips ** np.arange(k, -1, -1, dtype=np.int64))
        _, first, route = np.unique(code, return_index=True, return_inverse=True)
        combos = keys[first]
    else:
        combos, route = np.unique(keys, axis=0, return_inverse=True)
    n_classes = len(topo.class_names)
    route_class_hops = np.zeros((len(combos), n_classes), np.int64)
    route_wire_nm = np.zeros(len(combos), np.int64)
    route_latency = np.zeros(len(combos), np.int64)
    route_links = []
    for j, row in enumerate(combos.tolist()):
        links = topo.multicast_links(int(routers[row[0]]), routers[row[1:]])
        route_links.append(links)
        route_class_hops[j] = np.bincount(topo.link_class[links], minlength=n_classes)
        route_wire_nm[j] = int(np.rint(topo.link_length_mm[links].sum() * 1e6))
        route_latency[j] = lat[row[0], row[1:]].max()
    lookahead = int(min(lat[row[0], row[1:]].min() for row in combos.tolist()))

    rng = generator(seed, STREAM_NEURON_RNG, PURPOSE_BIAS)
    binf = p.bias + p.bias_spread * (2.0 * rng.random(n) - 1.0) if p.bias_spread else np.full(n, p.bias)
    reach = _mean_reach(dy, lo, hi, side, wrap)
    sops_per_spike = reach * k
    tau_ps = p.tau_ms * 1e9
    ref_ps = int(round(p.refractory_ms * 1e9))
    u, r, rate, shift = _initial_state(binf, p, sops_per_spike, tau_ps,
                                       generator(seed, STREAM_NEURON_RNG, PURPOSE_PHASE))
    centres = (targets.astype(np.int64) * nc + (np.arange(n) % nc)[:, None]).astype(np.int32).ravel()
    arrays = KernelArrays(nc=nc, side=side, n_chips=n_chips, k_targets=k, wrap=wrap, tau_ps=tau_ps,
                          theta=p.threshold, v_reset=p.reset, ref_ps=ref_ps, spike_weight=p.weight,
                          u=u, r=r, binf=binf, tgt=centres, route=route.astype(np.int32).ravel(),
                          route_spikes=np.zeros(len(combos), np.int64), lat=lat.ravel().copy(),
                          row_dy=dy, row_lo=lo, row_hi=hi)
    return DiffuserNetwork(p, arrays, n_chips, tuple(topo.class_names), route_class_hops, route_links,
                           route_wire_nm, route_latency, lookahead, sops_per_spike, rate, shift, topo)


def _initial_state(binf: np.ndarray, p: NeurogridParams, sops_per_spike: float, tau_ps: float,
                   rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, float, float]:
    """(u, refractory end, mean-field rate, drive shift) at t = 0 (epoch 0)."""
    n = len(binf)
    if not p.init_mean_field:
        return p.reset - binf, np.zeros(n, np.int64), 0.0, 0.0
    rate, shift = mean_field_rate(binf, p, sops_per_spike)
    drive = binf + shift
    phase = rng.random(n)
    v0 = drive.copy()                       # below threshold: at the steady value
    r = np.zeros(n, np.int64)
    firing = drive > p.threshold
    d = drive[firing]
    ref_ms = p.refractory_ms
    elapsed = phase[firing] * (ref_ms + p.tau_ms * np.log((d - p.reset) / (d - p.threshold)))
    in_ref = elapsed < ref_ms
    v_f = d - (d - p.reset) * np.exp(-(elapsed - ref_ms) / p.tau_ms)
    r_f = np.where(in_ref, np.rint((ref_ms - elapsed) * 1e9), 0).astype(np.int64)
    v0[firing] = np.where(in_ref, p.reset, v_f)
    r[firing] = r_f
    u = (v0 - binf) * np.exp(r / tau_ps)
    return u, r, rate, shift


@dataclass(frozen=True)
class AsyncNetworkKind:
    """A network generator of the async engine: its check (no allocation) and its builder."""

    plan: Callable[..., object]
    build: Callable[[ChipSpec, WorkloadSpec, int], DiffuserNetwork]


#: the network generators of the async engine (``network.kind``)
ASYNC_NETWORKS = {"neurogrid_diffuser": AsyncNetworkKind(plan_diffuser, build_diffuser_network)}
