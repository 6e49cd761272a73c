"""Integer weights a chip can store: per-synapse scales (Loihi-style) or TrueNorth's axon types.

:func:`quantise` takes any :class:`~neuroemu.networks.graph.Network` (from NIR, an edge list or code)
to integer weights, with thresholds, biases and resets in the same units, and reports how far the
weights moved (:class:`QuantReport`). :mod:`neuroemu.networks.compile` calls it with the chip's weight
bits and axon types when it maps a network onto a chip.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from neuroemu.errors import ConfigError
from neuroemu.networks.graph import Group, Network

__all__ = ["QuantReport", "SCHEMES", "quantise"]


@dataclass(frozen=True)
class QuantReport:
    """What :func:`quantise` did and how far the weights moved.

    Each synapse's error is |w_q s - w| over the largest |w| into its target group;
    ``max_rel_error`` is the largest of these, ``mean_rel_error`` their mean over all synapses
    (one definition, so the mean never exceeds the max). ``scale`` float64
    [N]: model units per chip unit of each neuron (its weights, bias, threshold and reset were
    divided by it). ``kept`` bool [E]: original edges still present (a weight that rounds to 0,
    or a TrueNorth crossbar point switched off, is dropped). TrueNorth only: ``edge_type`` int8
    per kept edge and ``type_weights`` int64 [N, types]. ``groups``: per target group a dict of
    name, scale range, errors and dropped count.
    """

    scheme: str
    bits: int
    max_rel_error: float
    mean_rel_error: float
    scale: np.ndarray
    kept: np.ndarray
    groups: tuple[dict, ...]
    edge_type: np.ndarray | None = None
    type_weights: np.ndarray | None = None
    notes: tuple[str, ...] = field(default=())

    def summary(self) -> str:
        """One line for a run report."""
        return (f"{self.scheme} {self.bits}-bit weights: max relative error {self.max_rel_error:.3%}, "
                f"mean {self.mean_rel_error:.3%}, {int((~self.kept).sum())} of {self.kept.size} synapses dropped")


SCHEMES = {"loihi": "per_synapse", "per_synapse": "per_synapse", "truenorth": "axon_types", "axon_types": "axon_types"}


def quantise(network: Network, *, bits: int = 8, scheme: str = "loihi", types: int = 4, copies: int = 1,
             decay_bits: int | None = None, iterations: int = 25) -> tuple[Network, QuantReport]:
    """Integer weights a chip can store, with thresholds, biases and resets in the same units.

    ``per_synapse`` (alias ``loihi``): each target group g shares one scale s_g = max |w| / wmax,
    wmax = 2^(bits-1) - 1 (Loihi shares a weight exponent per synapse group); w_q = round(w /
    s_g) in [-wmax, wmax].

    ``axon_types`` (alias ``truenorth``, ``types`` = 4, ``bits`` = 9 on the chip): on TrueNorth a
    synapse's weight is its neuron's weight for the type of its axon, and the type belongs to
    the axon, that is to the source. Rule: per target group, cluster the sources into ``types``
    types by k-means on their rows of outgoing weights (a source's weights into the group's
    neurons), where every present synapse may take either its neuron's level for its source's
    type or 0 (crossbar point off) -- whichever is nearer. Level L[type, j] is the mean of the
    synapses that take it; each neuron then gets its own scale s_j = max |L[:, j]| / wmax and
    integer levels round(L / s_j). Types are chosen per (source, target group), so they hold
    whatever the placement, as long as a source's synapses into one group come from one axon.

    ``axon_types`` with ``copies`` = c > 1 (c <= ``types``): every source drives c axons on each
    core, of types 0..c-1, and every neuron weighs those types (1, 2, ..., 2^(c-2), -2^(c-1)), so
    a synapse's weight is a c-bit two's-complement integer, written as its bits on the c
    crossbar points of its source's axons (TrueNorth's axon-duplication trick; it costs c axons
    per source and up to c SOPs per synaptic event). Each neuron gets its own scale s_j = the
    largest of max(w) / (2^(c-1) - 1) and -min(w) / 2^(c-1); w_q = round(w / s_j).
    ``type_weights`` is then (1, 2, ..., -2^(c-1)) for every neuron and ``edge_type`` None.

    Either way every neuron's bias, i_bias and v_reset are divided by its scale and rounded; its
    threshold is divided and rounded up (for an integer membrane, v >= ceil(T) is v >= T).
    ``decay_bits``: round decays to multiples of 2^-bits (Loihi: 12) -- off by default.
    """
    kind = SCHEMES.get(scheme)
    if kind is None:
        raise ConfigError(f"scheme: unknown quantisation scheme {scheme!r}; valid: {', '.join(SCHEMES)}")
    if not 1 <= bits <= 16:
        raise ConfigError(f"bits: must be 1..16 (got {bits})")
    if kind == "axon_types" and not 1 <= types <= 16:
        raise ConfigError(f"types: must be 1..16 axon types (got {types})")
    if not 1 <= copies <= (types if kind == "axon_types" else 1):
        raise ConfigError(f"copies: must be 1..types ({types}) with scheme axon_types, else 1 (got {copies})")
    wmax = (1 << (bits - 1)) - 1 or 1  # 1 bit: the weights are 0 or +-1
    n, e = network.n_neurons, network.n_edges
    scale = np.ones(n)
    wq = np.zeros(e)
    edge_type = np.full(e, -1, np.int8) if kind == "axon_types" and copies == 1 else None
    type_w = np.zeros((n, types), np.int64) if kind == "axon_types" else None
    gidx = network.group_index()
    edge_group = gidx[network.dst]
    reports, worst = [], 0.0
    rel_sum, rel_count = 0.0, 0
    for gi, g in enumerate(network.groups):
        m = np.flatnonzero(edge_group == gi)
        w = network.weight[m]
        if kind == "axon_types" and copies > 1:
            hi, lo = (1 << (copies - 1)) - 1, 1 << (copies - 1)
            wd = np.zeros(g.size)
            np.maximum.at(wd, network.dst[m] - g.start, np.maximum(w / hi, -w / lo))
            wd[wd == 0] = 1.0
            scale[g.start:g.stop] = wd
            wq[m] = np.clip(np.rint(w / wd[network.dst[m] - g.start]), -lo, hi)
            type_w[g.start:g.stop, :copies] = [1 << b for b in range(copies - 1)] + [-lo]
        elif kind == "per_synapse" or not m.size:
            s = np.abs(w).max() / wmax if m.size and np.abs(w).max() > 0 else 1.0
            scale[g.start:g.stop] = s
            wq[m] = np.clip(np.rint(w / s), -wmax, wmax)
        else:
            tq, etype, s_j, levels = _axon_types(network, m, g, types, wmax, iterations)
            scale[g.start:g.stop] = s_j
            wq[m] = tq
            edge_type[m] = etype
            type_w[g.start:g.stop] = levels
        approx = wq[m] * scale[network.dst[m]]
        err = np.abs(approx - w)
        big = np.abs(w).max() if m.size else 0.0
        rel = err / big if m.size and big > 0 else np.zeros(m.size)
        rel_max = float(rel.max()) if rel.size else 0.0
        rel_mean = float(rel.mean()) if rel.size else 0.0
        rel_sum, rel_count = rel_sum + float(rel.sum()), rel_count + int(rel.size)
        worst = max(worst, rel_max)
        reports.append(dict(group=g.name, synapses=int(m.size), scale_min=float(scale[g.start:g.stop].min()) if g.size else 1.0,
                            scale_max=float(scale[g.start:g.stop].max()) if g.size else 1.0, max_rel_error=rel_max,
                            mean_rel_error=rel_mean, dropped=int((wq[m] == 0).sum())))
    kept = wq != 0
    # the mean of the same per-synapse errors whose largest is max_rel_error, so mean <= max always
    mean_rel = rel_sum / rel_count if rel_count else 0.0
    decay, i_decay = network.decay, network.i_decay
    notes = []
    if decay_bits is not None:
        unit = float(1 << decay_bits)
        decay = 1.0 - np.rint((1.0 - decay) * unit) / unit
        i_decay = np.clip(1.0 - np.rint((1.0 - i_decay) * unit) / unit, 0.0, (unit - 1) / unit)
    if kind == "axon_types" and (network.decay != 1).any():
        notes.append("TrueNorth's leak is linear, not multiplicative: neurons with decay < 1 need a leak "
                     "approximation on that chip")
    thr = np.where(np.isinf(network.threshold), np.inf, np.ceil(network.threshold / scale))
    q = Network(groups=network.groups, input_groups=network.input_groups, decay=decay, i_decay=i_decay,
                threshold=thr, v_reset=np.rint(network.v_reset / scale), bias=np.rint(network.bias / scale),
                i_bias=np.rint(network.i_bias / scale), reset_subtract=network.reset_subtract,
                src=network.src[kept], dst=network.dst[kept], weight=wq[kept], delay=network.delay[kept],
                src_input=network.src_input[kept], input_times=network.input_times, input_ids=network.input_ids,
                outputs=network.outputs, name=network.name, where=network.where)
    report = QuantReport(scheme=kind, bits=bits, max_rel_error=worst, mean_rel_error=mean_rel, scale=scale,
                         kept=kept, groups=tuple(reports),
                         edge_type=None if edge_type is None else edge_type[kept], type_weights=type_w,
                         notes=tuple(notes))
    return q, report


def _axon_types(network: Network, m: np.ndarray, g: Group, k: int, wmax: int, iterations: int):
    """k-means of a group's sources into k axon types (see :func:`quantise`); integer results."""
    w = network.weight[m]
    key = np.where(network.src_input[m], network.src[m] + network.n_neurons, network.src[m])
    sources, row = np.unique(key, return_inverse=True)
    col = network.dst[m] - g.start
    n_rows = len(sources)
    # start: sources sorted by their mean outgoing weight, cut into k equal runs (deterministic)
    mean_w = np.bincount(row, weights=w, minlength=n_rows) / np.maximum(np.bincount(row, minlength=n_rows), 1)
    rank = np.empty(n_rows, np.int64)
    rank[np.argsort(mean_w, kind="stable")] = np.arange(n_rows)
    t = (rank * k) // max(n_rows, 1)
    levels = np.zeros((k, g.size))
    for _ in range(iterations):
        on = np.ones(len(w), bool)
        for _inner in range(2):  # levels from the synapses that take them, then who takes them
            num = np.zeros((k, g.size))
            cnt = np.zeros((k, g.size))
            np.add.at(num, (t[row][on], col[on]), w[on])
            np.add.at(cnt, (t[row][on], col[on]), 1)
            levels = np.where(cnt > 0, num / np.maximum(cnt, 1), 0.0)
            on = (w - levels[t[row], col]) ** 2 < w ** 2
        # per source, the cost of each type: each synapse takes its level or 0, whichever is nearer
        cost = np.minimum((w[:, None] - levels[:, col].T) ** 2, (w ** 2)[:, None])
        per_type = np.stack([np.bincount(row, weights=cost[:, c], minlength=n_rows) for c in range(k)], axis=1)
        new_t = np.argmin(per_type, axis=1)
        if np.array_equal(new_t, t):
            break
        t = new_t
    s_j = np.abs(levels).max(axis=0) / wmax
    s_j[s_j == 0] = 1.0
    ints = np.clip(np.rint(levels / s_j), -wmax, wmax).astype(np.int64)
    et = t[row]
    eff = ints[et, col]
    # the crossbar point is on only when its level is nearer the real weight than 0 is
    on = (w - eff * s_j[col]) ** 2 < w ** 2
    return np.where(on, eff, 0).astype(np.float64), et.astype(np.int8), s_j, ints.T
