"""Generated networks built block by block, each block from its own random streams (issue 17).

A system of chips is emulated split over MPI ranks, and each rank must build only its own cores.
With one random stream over the whole chip (networks/workloads.py on a single chip), a rank could
not draw its cores' crossbars without drawing every core before them. So on a **system** (a chip
with ``system`` set) the generated networks (``random_recurrent``, ``random_recurrent_weighted``)
and their Poisson inputs are drawn in fixed **blocks of cores**: a block is one chip's share of
the cores (:func:`block_cores`: ``chip.cores / chips``, consecutive core ids), a number fixed by
the system and not by the rank count, and every random choice about a block's cores comes from
a stream keyed by (seed, purpose, block) (:func:`block_generator`):

- the axon types of its cores (balanced per core, permuted), its crossbar rows
  (:func:`neuroemu.networks.crossbars.fill_balanced` / ``fill_random``), its per-synapse weights
  and its neurons' initial potentials;
- the Poisson inputs of its axons, per chunk of ticks (``PoissonInput``).

A neuron's target axon and delay are counter-based functions of its global id
(:func:`route_arrays`), not draws from a stream, so any rank computes any neuron's route, and
TrueNorth's rule "each axon has one source" still holds: the targets are a keyed bijection
(:func:`keyed_permutation`, a Feistel network on the id's bits with cycle walking) from the
source neurons onto the used axons. The sources (``recurrent_fraction`` < 1) are the neurons
whose permuted id falls below the source count, by another keyed bijection.

So the network is the same whether built whole (one process: every block in order) or block by
block (a rank: its own blocks), and the records of 1, 2 and 4 ranks agree. A rank owns whole
blocks (:func:`block_owner`). Single chips keep their whole-chip streams, so no single-chip
network, pinned figure or reproduced table changed; the choice depends on the chip, never on the
rank count.
"""
from __future__ import annotations

import numpy as np

from neuroemu.errors import ConfigError
from neuroemu.models.rng import MASK64, generator, mix64, mix64_int, stream_key
from neuroemu.networks.crossbars import fill_balanced, fill_random

#: the entropy word that tells a block's stream from the whole chip's stream of the same purpose
BLOCK_TAG = 0xB10C
#: stream ids of the counter-based route draws (apart from the Generator streams' ids)
KEY_SOURCES, KEY_TARGETS, KEY_DELAYS = 1001, 1002, 1003
#: neurons per chunk when computing routes (bounds the uint64 temporaries to ~100 MB)
ROUTE_CHUNK = 1 << 22
FEISTEL_ROUNDS = 4


def block_cores(chip) -> int | None:
    """Cores per generation block: one chip's share of a system's cores; None for a single chip
    (whose generated networks draw from whole-chip streams)."""
    system = getattr(chip, "system", None)
    if system is None:
        return None
    return chip.cores // system.n_chips


def block_generator(seed: int, stream: int, block: int, *extra: int) -> np.random.Generator:
    """The numpy Generator of one purpose (``stream``) for one block of cores."""
    return generator(seed, stream, BLOCK_TAG, block, *extra)


def block_owner(n_cores: int, block: int, n_ranks: int, where: str) -> np.ndarray:
    """int32 [n_cores]: the rank holding each core when ranks own whole blocks of ``block`` cores,
    in contiguous runs (block b to rank ``b * n_ranks // n_blocks``). More ranks than blocks is
    bad input (one line naming the chip)."""
    n_blocks = -(-n_cores // block)
    if n_ranks > n_blocks:
        raise ConfigError(f"ranks: {n_ranks} ranks for {n_blocks} blocks of {block} cores ({where}: a generated "
                          "network on a system is built a chip's share of cores at a time): at most one rank a block")
    owner = (np.arange(n_blocks, dtype=np.int64) * n_ranks // n_blocks).astype(np.int32)
    return np.repeat(owner, block)[:n_cores]


def _feistel(x: np.ndarray, half: int, keys: list[int]) -> np.ndarray:
    """One pass of a balanced Feistel network on 2 x ``half`` bits (a bijection of [0, 4**half))."""
    mask = np.uint64((1 << half) - 1)
    left, right = x >> np.uint64(half), x & mask
    for k in keys:
        left, right = right, left ^ (mix64(right ^ np.uint64(k)) & mask)
    return (left << np.uint64(half)) | right


def keyed_permutation(x: np.ndarray, n: int, key: int) -> np.ndarray:
    """pi(x) for every x in ``x`` (ids in [0, n)), pi a bijection of [0, n) chosen by ``key``.

    A Feistel network on the smallest even number of bits that holds n - 1 is a bijection of
    [0, 4**half); applying it again to the values that land at n or above (cycle walking) makes
    it one of [0, n). Counter-based: pi(x) needs no other id, so a rank computes its own."""
    x = np.asarray(x, np.uint64)
    if n <= 1:
        return x.copy()
    half = max(1, ((n - 1).bit_length() + 1) // 2)
    keys = [mix64_int((key + r * 0x9E3779B97F4A7C15) & MASK64) for r in range(FEISTEL_ROUNDS)]
    out = _feistel(x, half, keys)
    walk = np.flatnonzero(out >= np.uint64(n))
    while len(walk):  # expected < 4 passes: 4**half < 4 n
        out[walk] = _feistel(out[walk], half, keys)
        walk = walk[out[walk] >= np.uint64(n)]
    return out


def route_arrays(n_cores: int, A: int, N: int, cores_used: int, n_per: int, recurrent_fraction: float,
                 delay_ticks: tuple[int, int], seed: int, neurons: tuple[int, int] | None = None
                 ) -> tuple[np.ndarray, np.ndarray]:
    """(target_axon int64 [G], delay int8 [G]) of every neuron of the system, counter-based; of the
    neurons ``g0 .. g1 - 1`` alone when ``neurons`` = (g0, g1) (an MPI rank's own: the same values).

    The used neurons (cores below ``cores_used``, columns below ``n_per``) are numbered
    j = core x n_per + column; the first round(n_used x fraction) of a keyed permutation of j are
    the sources; with no more sources than used axons, source j targets axon pi2(pi1(j)) (one
    source per axon at most), else a hashed uniform axon. Delays are uniform in ``delay_ticks``
    by a hash of the global neuron id (as the whole-chip stream gives every neuron one)."""
    G = n_cores * N
    n_used = cores_used * n_per
    used_axons = cores_used * A
    n_sources = int(round(n_used * recurrent_fraction))
    k_src, k_tgt, k_del = (stream_key(seed, s) for s in (KEY_SOURCES, KEY_TARGETS, KEY_DELAYS))
    first, last = neurons or (0, G)
    target = np.full(last - first, -1, np.int64)
    lo, hi = delay_ticks
    delay = np.full(last - first, lo, np.int8)
    for g0 in range(first, last, ROUTE_CHUNK):
        g = np.arange(g0, min(last, g0 + ROUTE_CHUNK), dtype=np.int64)
        if hi > lo:
            h = mix64(g.astype(np.uint64) + np.uint64(k_del))
            delay[g0 - first:g0 - first + len(g)] = (lo + (h % np.uint64(hi - lo + 1)).astype(np.int64)).astype(np.int8)
        core, col = g // N, g % N
        used = (core < cores_used) & (col < n_per)
        if not used.any() or n_sources == 0:
            continue
        j = (core * n_per + col)[used]
        rank = j.astype(np.uint64) if n_sources == n_used else keyed_permutation(j, n_used, k_src)
        src = rank < np.uint64(n_sources)
        if n_sources <= used_axons:
            tgt = keyed_permutation(rank[src], used_axons, k_tgt).astype(np.int64)
        else:  # more sources than axons: some axons merge several sources
            tgt = (mix64(j[src].astype(np.uint64) + np.uint64(k_tgt)) % np.uint64(used_axons)).astype(np.int64)
        ids = g[used][src]
        target[ids - first] = tgt
    return target, delay


def fill_blocks(seed: int, streams: dict[str, int], block: int, c0: int, c1: int, cores_used: int, A: int, N: int,
                n_per: int, k: int, n_types: int, balanced: bool, axon_type: np.ndarray, row_neurons: np.ndarray,
                dense: np.ndarray | None, v: np.ndarray, enabled: np.ndarray, threshold: int,
                weight_values: np.ndarray | None, row_weights: np.ndarray | None) -> None:
    """Draw the random state of cores ``c0 .. c1 - 1`` (whole blocks) into their arrays, block by
    block from each block's streams: axon types (``axon_type`` [cores x A], balanced per core on
    entry), crossbar rows (``row_neurons``, k per used row; ``dense`` rows), initial potentials
    (``v`` of the ``enabled`` neurons, uniform below ``threshold``, when ``threshold`` > 0) and
    per-synapse weights (``row_weights`` from ``weight_values``). ``streams`` names the purposes'
    stream ids (types, crossbar, init, weights)."""
    if c0 % block:
        raise ValueError(f"fill_blocks: core {c0} does not start a block of {block} cores")
    types = axon_type.reshape(-1, A)
    for b0 in range(c0, c1, block):
        b = b0 // block
        lo, hi = b0 - c0, min(c1, b0 + block) - c0         # the block's cores, local ids
        used = max(0, min(hi, cores_used - c0) - lo)       # its used cores (a prefix of the block)
        if used:
            view = types[lo:lo + used]
            view[:] = block_generator(seed, streams["types"], b).permuted(view, axis=1)
            rows = slice(lo * A * k, (lo + used) * A * k)
            d = None if dense is None else dense[lo * A:(lo + used) * A]
            rng = block_generator(seed, streams["crossbar"], b)
            if balanced:
                fill_balanced(view, n_per, k, n_types, rng, row_neurons[rows], d)
            else:
                fill_random(n_per, k, rng, row_neurons[rows], d)
            if row_weights is not None and k:
                draws = block_generator(seed, streams["weights"], b).integers(0, len(weight_values), used * A * k)
                row_weights[rows] = weight_values[draws]
        if threshold > 0:
            mask = enabled[lo * N:hi * N]
            vb = v[lo * N:hi * N]
            vb[mask] = block_generator(seed, streams["init"], b).integers(0, threshold, int(mask.sum()),
                                                                          dtype=np.int32)


def input_hits(seed: int, stream: int, chunk: int, n_ticks: int, p: float, block_axons: list[tuple[int, int]]
               ) -> tuple[np.ndarray, np.ndarray]:
    """(tick offsets, axon columns) of a Poisson chunk drawn block by block: ``block_axons`` lists
    (block, input axons of the block) in axon order; each block's [n_ticks, axons] draw is its own
    stream's, and the hits come tick-major, axon order within a tick, as one draw over the axons
    side by side gives them."""
    if not block_axons:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    hit = np.concatenate([block_generator(seed, stream, b, chunk).random((n_ticks, n)) < p
                          for b, n in block_axons], axis=1)
    t, i = np.nonzero(hit)
    return t.astype(np.int64), i.astype(np.int64)
