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

__all__ = ["QuantReport", "SCHEMES", "WEIGHT_SCALES", "quantise"]


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

    ``errors``: per quantity (``weight``, ``threshold``, ``decay``, ``i_decay`` and, with synapse
    types, ``syn_i_decay``) a dict of ``max_rel_error`` and ``mean_rel_error``, each defined as
    for the weights: max_rel = the worst group's max |x_q - x| / max |x| (over the group's
    values), mean_rel = sum |x_q - x| / sum |x| over all values, x_q the value the chip realises
    in model units. ``weight_scale`` ("auto" or "keep") and ``keep_zero_weights``: the options
    used; ``zero_weights_kept``: synapses kept at weight 0. ``notes``: what was rounded and how far.
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
    errors: dict = field(default_factory=dict)
    weight_scale: str = "auto"
    keep_zero_weights: bool = False
    zero_weights_kept: int = 0

    def summary(self) -> str:
        """One line for a run report."""
        extra = "".join(f"; {k} max {v['max_rel_error']:.3%}" for k, v in self.errors.items()
                        if k != "weight" and v["max_rel_error"] > 0)
        return (f"{self.scheme} {self.bits}-bit weights ({self.weight_scale} scale): max relative error "
                f"{self.max_rel_error:.3%}, mean {self.mean_rel_error:.3%}, {int((~self.kept).sum())} of "
                f"{self.kept.size} synapses dropped{extra}")


SCHEMES = {"loihi": "per_synapse", "per_synapse": "per_synapse", "truenorth": "axon_types", "axon_types": "axon_types"}


WEIGHT_SCALES = ("auto", "keep")


def quantise(network: Network, *, bits: int = 8, scheme: str = "loihi", types: int = 4, copies: int = 1,
             decay_bits: int | None = None, iterations: int = 25, weight_scale: str = "auto",
             keep_zero_weights: bool = False) -> tuple[Network, QuantReport]:
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

    ``weight_scale="keep"`` (per-synapse only): integer weights that fit ``[-wmax, wmax]`` are
    stored as given, scale 1 (anything else is one ConfigError naming the first edge).
    ``keep_zero_weights`` (per-synapse only): every synapse of the network stays a synapse, also
    at weight 0 (given so, or rounded to it), so each still costs its synaptic operation, as on
    hardware that stores it. ``v_init``, ``u_init`` and ``v_min`` are divided by the scale and
    rounded like ``v_reset``; refractory periods, cores and synapse types are kept.
    """
    kind = SCHEMES.get(scheme)
    where = network.where or network.name
    if kind is None:
        raise ConfigError(f"scheme: unknown quantisation scheme {scheme!r}; valid: {', '.join(SCHEMES)}")
    if weight_scale not in WEIGHT_SCALES:
        raise ConfigError(f"{where}: weight_scale: must be one of {', '.join(WEIGHT_SCALES)} (got {weight_scale!r})")
    if kind == "axon_types" and (weight_scale == "keep" or keep_zero_weights):
        raise ConfigError(f"{where}: {'weight_scale keep' if weight_scale == 'keep' else 'keep_zero_weights'}: "
                          "needs per-synapse weights; TrueNorth's weights belong to neuron and axon type, and "
                          "its crossbar stores no zero weight")
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
        elif weight_scale == "keep":
            s = 1.0
            _check_kept(where, network, m, w, wmax, bits)
            scale[g.start:g.stop] = s
            wq[m] = w
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
                            mean_rel_error=rel_mean,
                            dropped=0 if keep_zero_weights else int((wq[m] == 0).sum())))
    kept = np.ones(e, bool) if keep_zero_weights else wq != 0
    # the mean of the same per-synapse errors whose largest is max_rel_error, so mean <= max always
    mean_rel = rel_sum / rel_count if rel_count else 0.0
    decay, i_decay, syn_i_decay = network.decay, network.i_decay, network.syn_i_decay
    notes = []
    if decay_bits is not None:
        decay = _round_decay(decay, decay_bits, 1.0)
        i_decay = _round_decay(i_decay, decay_bits, 1.0 - 2.0 ** -decay_bits)
        if syn_i_decay is not None:
            syn_i_decay = _round_decay(syn_i_decay, decay_bits, 1.0 - 2.0 ** -decay_bits)
        for name, x, xq in (("decay", network.decay, decay), ("i_decay", network.i_decay, i_decay),
                            ("syn_i_decay", network.syn_i_decay, syn_i_decay)):
            if x is not None:
                notes.extend(_decay_notes(name, x, xq, decay_bits))
    if kind == "axon_types" and (network.decay != 1).any():
        notes.append("TrueNorth's leak is linear, not multiplicative: neurons with decay < 1 need a leak "
                     "approximation on that chip")
    thr = np.where(np.isinf(network.threshold), np.inf, np.ceil(network.threshold / scale))
    v_min = np.where(np.isinf(network.v_min), -np.inf, np.rint(network.v_min / scale))
    q = Network(groups=network.groups, input_groups=network.input_groups, decay=decay, i_decay=i_decay,
                threshold=thr, v_reset=np.rint(network.v_reset / scale), bias=np.rint(network.bias / scale),
                i_bias=np.rint(network.i_bias / scale), reset_subtract=network.reset_subtract,
                refractory=network.refractory, v_init=np.maximum(np.rint(network.v_init / scale), v_min),
                u_init=np.rint(network.u_init / scale), v_min=v_min, core=network.core,
                src=network.src[kept], dst=network.dst[kept], weight=wq[kept], delay=network.delay[kept],
                src_input=network.src_input[kept], syn_type=network.syn_type[kept], syn_i_decay=syn_i_decay,
                input_times=network.input_times, input_ids=network.input_ids,
                outputs=network.outputs, name=network.name, where=network.where)
    errors = {"weight": {"max_rel_error": worst, "mean_rel_error": mean_rel}}
    finite = np.isfinite(network.threshold)
    gidx_thr = np.where(finite, gidx, -1)
    errors["threshold"] = _rel_errors(network.threshold[finite], (thr * scale)[finite], gidx_thr[finite])
    errors["decay"] = _rel_errors(network.decay, decay, gidx)
    errors["i_decay"] = _rel_errors(network.i_decay, i_decay, gidx)
    if network.syn_i_decay is not None:
        errors["syn_i_decay"] = _rel_errors(network.syn_i_decay, syn_i_decay, np.zeros(len(syn_i_decay), np.int64))
    moved = finite & (thr * scale != network.threshold)
    if moved.any():
        notes.append(f"threshold rounded up to whole chip units in {int(moved.sum())} of {network.n_neurons} neurons "
                     f"(e.g. {network.threshold[moved][0]:g} -> {thr[moved][0]:g} x scale "
                     f"{scale[moved][0]:.6g} = {(thr * scale)[moved][0]:.6g}); max relative error "
                     f"{errors['threshold']['max_rel_error']:.3%}")
    if worst > 0:
        notes.append(f"weights rounded to {bits}-bit integers: max relative error {worst:.3%}, mean {mean_rel:.3%}")
    zero_kept = int((kept & (wq == 0)).sum())
    if keep_zero_weights and zero_kept:
        notes.append(f"keep_zero_weights: {zero_kept} synapses kept at weight 0 "
                     "(each still costs its synaptic operation)")
    report = QuantReport(scheme=kind, bits=bits, max_rel_error=worst, mean_rel_error=mean_rel, scale=scale,
                         kept=kept, groups=tuple(reports),
                         edge_type=None if edge_type is None else edge_type[kept], type_weights=type_w,
                         notes=tuple(notes), errors=errors, weight_scale=weight_scale,
                         keep_zero_weights=bool(keep_zero_weights), zero_weights_kept=zero_kept)
    return q, report


def _round_decay(x: np.ndarray, bits: int, top: float) -> np.ndarray:
    """Decays as the chip holds them: 1 - k / 2^bits, k an integer (capped at ``top``)."""
    unit = float(1 << bits)
    return np.clip(1.0 - np.rint((1.0 - x) * unit) / unit, 0.0, top)


def _decay_notes(name: str, x: np.ndarray, xq: np.ndarray, bits: int, show: int = 3) -> list[str]:
    """One note per rounded decay field: the distinct values that moved, as fractions of 2^bits."""
    moved = x != xq
    if not moved.any():
        return []
    unit = 1 << bits
    values, first = np.unique(x[moved], return_index=True)
    shown = ", ".join(f"{v:g} -> {int(round(xq[moved][i] * unit))}/{unit} ({xq[moved][i]:.6g})"
                      for v, i in zip(values[:show], first[:show]))
    more = f" and {len(values) - show} more values" if len(values) > show else ""
    what = "types" if name == "syn_i_decay" else "neurons"
    return [f"{name} rounded to {bits} bits in {int(moved.sum())} {what}: {shown}{more}"]


def _rel_errors(x: np.ndarray, xq: np.ndarray, group: np.ndarray) -> dict:
    """max (worst group) and mean relative error of ``xq`` against ``x`` (QuantReport's definition)."""
    err, mag = np.abs(xq - x), np.abs(x)
    worst = 0.0
    for g in np.unique(group):
        m = group == g
        big = mag[m].max(initial=0.0)
        if big > 0:
            worst = max(worst, float(err[m].max() / big))
    total = mag.sum()
    return {"max_rel_error": worst, "mean_rel_error": float(err.sum() / total) if total > 0 else 0.0}


def _check_kept(where: str, network: Network, m: np.ndarray, w: np.ndarray, wmax: int, bits: int) -> None:
    """weight_scale keep: every weight an integer the chip holds as given."""
    bad = (w != np.rint(w)) | (np.abs(w) > wmax)
    if bad.any():
        k = int(m[np.flatnonzero(bad)[0]])
        raise ConfigError(f"{where}: weight: weight_scale keep stores weights as given, so they must be integers "
                          f"within -{wmax}..{wmax} (the chip's {bits}-bit weights) (edge {k}: got "
                          f"{network.weight[k]:g})")


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
        # levels from the synapses that take them, then who takes them, until nobody changes: the
        # rule's fixed point. After the first round every level only moves away from 0 (the synapses
        # dropped lie between 0 and half the level), so each round drops at least one synapse or ends
        on = np.ones(len(w), bool)
        for _inner in range(len(w) + 1):
            num = np.zeros((k, g.size))
            cnt = np.zeros((k, g.size))
            np.add.at(num, (t[row][on], col[on]), w[on])
            np.add.at(cnt, (t[row][on], col[on]), 1)
            levels = np.where(cnt > 0, num / np.maximum(cnt, 1), 0.0)
            taken = (w - levels[t[row], col]) ** 2 < w ** 2
            if np.array_equal(taken, on):
                break
            on = taken
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
