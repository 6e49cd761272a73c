"""Axons as placement counts them: a synapse needs one axon per distinct (source, delay, class) on
its destination core. One sort of the synapses (:class:`_AxonTable`: every neuron's distinct
axon keys as CSR rows) serves the fan-in check, pack's greedy fill and the per-core axon counts
of :mod:`neuroemu.networks.place`; :func:`unique_rows` is the sorted row-unique they share.
"""
from __future__ import annotations

import numpy as np

from neuroemu.hardware.csr import row_positions
from neuroemu.networks.graph import Network

__all__ = ["unique_rows", "DENSE_KEYS_PER_EDGE", "DENSE_KEYS_MIN"]

#: pack's greedy fill indexes a table by axon key; above this many keys per synapse (and 2^20) the
#: keys are renumbered densely first (TrueNorth's delay and class radices make sparse keys)
DENSE_KEYS_PER_EDGE = 8
#: ... and a dense table of this many entries is always fine
DENSE_KEYS_MIN = 1 << 20


def unique_rows(*columns: np.ndarray, return_inverse: bool = False):
    """The distinct rows of non-negative integer columns, sorted; ``np.unique(axis=1)``'s result.

    Rows are packed into one int64 key (mixed radix) when the key fits, which sorts an order of
    magnitude faster than numpy's row-wise unique; otherwise that is the fallback.
    Returns int64 [k, rows] (and the inverse when asked for).
    """
    cols = [np.asarray(c, np.int64) for c in columns]
    n = len(cols[0])
    if n == 0:
        empty = np.empty((len(cols), 0), np.int64)
        return (empty, np.empty(0, np.int64)) if return_inverse else empty
    radix = [int(c.max()) + 1 for c in cols]
    if min(int(c.min()) for c in cols) < 0 or np.prod(np.array(radix, dtype=np.float64)) >= 2.0 ** 62:
        out = np.unique(np.stack(cols), axis=1, return_inverse=return_inverse)
        return (out[0], out[1].ravel()) if return_inverse else out
    key = np.zeros(n, np.int64)
    for c, r in zip(cols, radix):
        key = key * r + c
    # by sorting: numpy 2's hash-based unique is far slower on millions of distinct keys
    order = np.argsort(key, kind="stable") if return_inverse else None
    ordered = key[order] if return_inverse else np.sort(key)
    first = np.empty(n, bool)
    first[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=first[1:])
    keys = ordered[first]
    inv = None
    if return_inverse:
        inv = np.empty(n, np.int64)
        inv[order] = np.cumsum(first) - 1
    rows = np.empty((len(cols), len(keys)), np.int64)
    for i in range(len(cols) - 1, -1, -1):
        rows[i] = keys % radix[i]
        keys = keys // radix[i]
    return (rows, inv.ravel()) if return_inverse else rows


def _combined_src(network: Network) -> np.ndarray:
    """Every edge's source as one id: neurons 0..N-1, then inputs N..N+inputs-1."""
    if not network.src_input.any():
        return network.src
    return np.where(network.src_input, network.src + network.n_neurons, network.src)


def _axon_keys(network: Network) -> tuple[np.ndarray, int]:
    """One integer per edge for the axon it needs on its destination core: its (source, delay,
    class), mixed radix with the smallest radices (so distinct triples never share a key); and
    the number of possible keys."""
    n_src = network.n_neurons + network.n_inputs
    d_radix = int(network.delay.max(initial=0)) + 1
    keys = _combined_src(network) * d_radix + network.delay
    c_radix = 1
    if network.edge_class is not None and network.edge_class.size:
        c_radix = int(network.edge_class.max()) + 1
        keys = keys * c_radix + network.edge_class
    return keys, n_src * d_radix * c_radix


class _AxonTable:
    """Every neuron's distinct axon keys, sorted, as CSR rows (``ptr``, ``key``): one sort of the
    edges, shared by the fan-in check, pack's greedy fill and the per-core axon counts."""

    def __init__(self, network: Network):
        n = network.n_neurons
        keys, radix = _axon_keys(network)
        self.radix = radix
        if n * float(radix) < 2.0 ** 62:
            packed = network.dst * radix + keys
            packed.sort()
            first = np.empty(len(packed), bool)
            first[:1] = True
            np.not_equal(packed[1:], packed[:-1], out=first[1:])
            packed = packed[first]
            dst = packed // radix
            self.key = packed - dst * radix
        else:
            dst, self.key = unique_rows(network.dst, keys)
        self.dst = dst
        self.ptr = np.zeros(n + 1, np.int64)
        np.cumsum(np.bincount(dst, minlength=n), out=self.ptr[1:])

    def fan_in(self) -> np.ndarray:
        """int64 [N]: distinct axons per neuron."""
        return np.diff(self.ptr)

    def per_core(self, core_of: np.ndarray, n_cores: int) -> np.ndarray:
        """int64 [n_cores]: distinct axons each core needs under the placement ``core_of``."""
        core = np.repeat(core_of, np.diff(self.ptr))  # = core_of[self.dst], rows being sorted
        if n_cores * float(self.radix) >= 2.0 ** 62:
            return np.bincount(unique_rows(core, self.key)[0], minlength=n_cores)
        packed = core * self.radix + self.key
        packed.sort()
        first = np.empty(len(packed), bool)
        first[:1] = True
        np.not_equal(packed[1:], packed[:-1], out=first[1:])
        return np.bincount(packed[first] // self.radix, minlength=n_cores)

    def count(self, nodes: np.ndarray) -> int:
        """Distinct axons the neurons ``nodes`` need together on one core."""
        starts = self.ptr[nodes]
        return len(np.unique(self.key[row_positions(starts, self.ptr[nodes + 1] - starts)]))

    def dense_keys(self) -> tuple[np.ndarray, int]:
        """The keys renumbered 0..k-1 when the key space is much larger than the synapses."""
        if self.radix <= max(DENSE_KEYS_PER_EDGE * len(self.key), DENSE_KEYS_MIN):
            return self.key, self.radix
        uniq = np.unique(self.key)
        return np.searchsorted(uniq, self.key), len(uniq)


def _pack_numpy(ptr: np.ndarray, keys: np.ndarray, n_keys: int, npc: int, apc: int, n_cores: int):
    """The greedy fill where the C kernels are not built (the same result as ``ne_pack_greedy``),
    one numpy step per core, not per neuron: (core of each neuron, -1), or (None, j) when neuron
    j finds all cores full.

    ``prev[p]``: the position of the previous entry with entry p's key. A core opening at neuron
    s takes entry p (of its neurons) as a new axon iff ``prev[p] < ptr[s]``; the core holds the
    longest run of neurons whose cumulative new axons stay within ``apc``.
    """
    n = len(ptr) - 1
    order = np.argsort(keys, kind="stable")
    sk = keys[order]
    prev = np.full(len(keys), -1, np.int64)
    same = np.flatnonzero(sk[1:] == sk[:-1])
    prev[order[same + 1]] = order[same]
    core_of = np.empty(n, np.int64)
    s, core = 0, 0
    while s < n:
        if core >= n_cores:
            return None, s
        e = min(s + npc, n)
        lo, hi = ptr[s], ptr[e]
        new = (prev[lo:hi] < lo).astype(np.int64)
        cum = np.concatenate(([0], np.cumsum(new)))
        axons = cum[ptr[s + 1:e + 1] - lo]  # axons after each of neurons s..e-1
        take = max(int(np.searchsorted(axons, apc, side="right")), 1)  # a lone neuron fits (fan-in checked)
        core_of[s:s + take] = core
        s += take
        core += 1
    return core_of, -1
