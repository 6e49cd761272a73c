"""Crossbar generators: which axon rows connect to which neurons in a core.

``balanced_crossbar`` gives every row exactly k ones and every neuron the same number of
inputs from each axon type (within one when the sizes do not divide). With +w and -w types in
equal numbers, every neuron's expected input is then exactly zero, so a spontaneous rate set by
the leak is not skewed by some neurons happening to get more excitation than inhibition (which,
with a purely random crossbar, rectifies into a higher mean rate at high rates: neurons pushed
down stop firing, those pushed up cannot make up for it).

Construction, per core and axon type: a cyclic band (row i covers k consecutive columns
starting at i x N / R), then a random permutation of the columns and of the rows. Rows are
uniformly spread; the column sets are bands in a random order rather than independent draws.
"""
from __future__ import annotations

import numpy as np

from neuroemu.hardware.step import balanced_rows_c

#: random draws per chunk of a crossbar fill (bounds the temporaries to ~32 MB); the streams
#: depend on it, so it is fixed (a test makes it small to cross chunk edges, whole and part alike)
CHUNK_DRAWS = 1 << 22


def empty_rows(n_rows: int, rows_used: int, k: int, N: int) -> tuple[np.ndarray, np.ndarray]:
    """CSR skeleton: ``row_ptr`` with k synapses in each of the first ``rows_used`` rows, and room
    for their neuron ids (uint8 when a core has at most 256 neurons, else uint16)."""
    # the running sum of the lengths, written directly (a board's 33 M rows: no lengths array and cumsum)
    row_ptr = np.empty(n_rows + 1, np.int64)
    row_ptr[:rows_used + 1] = np.arange(rows_used + 1, dtype=np.int64) * k
    row_ptr[rows_used + 1:] = rows_used * k
    return row_ptr, np.empty(rows_used * k, np.uint8 if N <= 256 else np.uint16)


def balanced_crossbar(n_cores: int, cores_used: int, A: int, n_per: int, N: int, k: int,
                      axon_type: np.ndarray, n_types: int, rng: np.random.Generator,
                      dense_ok: bool, use_c: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """CSR (row_ptr, row_neurons) and an optional dense 0/1 copy, balanced by axon type
    (``use_c=False``: numpy only, which gives the same rows)."""
    rows_used = cores_used * A
    row_ptr, row_neurons = empty_rows(n_cores * A, rows_used, k, N)
    dense = np.zeros((n_cores * A, N), np.uint8) if dense_ok else None
    fill_balanced(axon_type.reshape(n_cores, A)[:cores_used], n_per, k, n_types, rng, row_neurons,
                  None if dense is None else dense[:rows_used], use_c)
    return row_ptr, row_neurons, dense


def fill_balanced(types: np.ndarray, n_per: int, k: int, n_types: int, rng: np.random.Generator,
                  row_neurons: np.ndarray, dense: np.ndarray | None, use_c: bool = True) -> None:
    """Write the balanced rows of the cores whose axon types are ``types`` [cores, A] into
    ``row_neurons`` (k a row, in row order) and ``dense`` (their 0/1 rows, or None).

    The draws come from ``rng`` in chunks of cores whose size depends on A and k only, so the
    rows of a set of cores depend on its own stream and nothing else (networks/blocks.py fills
    one block of cores at a time from the block's stream).
    """
    cores, A = types.shape
    if k == 0 or cores == 0:
        return
    offsets = np.arange(k)
    chunk = max(1, CHUNK_DRAWS // (A * k))  # cores per chunk: bounds the temporaries
    for lo in range(0, cores, chunk):
        hi = min(cores, lo + chunk)
        rows = dense[lo * A:hi * A] if dense is not None else None
        part = row_neurons[lo * A * k:hi * A * k]
        # uint16 columns are written in place (no chunk copy: a board has 8.6 GB of them)
        out = part.reshape(-1, k) if part.dtype == np.uint16 and part.flags.c_contiguous else None
        cols_of_row = _balanced_cores(types[lo:hi], n_per, k, n_types, offsets, rng, rows, use_c, out)
        if out is None:
            part[:] = cols_of_row.reshape(-1)


def fill_random(n_per: int, k: int, rng: np.random.Generator, row_neurons: np.ndarray,
                dense: np.ndarray | None) -> None:
    """Write rows with exactly k ones at uniformly random columns among the first ``n_per`` into
    ``row_neurons`` (k a row, sorted) and ``dense`` (their 0/1 rows, or None); the rows are
    ``len(row_neurons) // k``, drawn from ``rng`` in chunks that depend on ``n_per`` only."""
    if k == 0:
        return
    rows = len(row_neurons) // k
    dtype = row_neurons.dtype
    chunk = max(1, CHUNK_DRAWS // n_per)
    for start in range(0, rows, chunk):
        stop = min(rows, start + chunk)
        keys = rng.random((stop - start, n_per), dtype=np.float32)
        cols = np.argpartition(keys, k - 1, axis=1)[:, :k] if k < n_per else np.broadcast_to(
            np.arange(n_per), keys.shape)
        cols = np.sort(cols, axis=1)
        row_neurons[start * k:stop * k] = cols.astype(dtype).ravel()
        if dense is not None:
            np.put_along_axis(dense[start:stop], cols, 1, axis=1)


def _balanced_cores(types: np.ndarray, n_per: int, k: int, n_types: int, offsets: np.ndarray,
                    rng: np.random.Generator, dense: np.ndarray | None, use_c: bool,
                    out: np.ndarray | None = None) -> np.ndarray:
    """Sorted columns [cores x A, k] of every row of a chunk of cores (ones into its ``dense`` rows),
    into ``out`` (uint16) when given.

    Per axon type: row r of the core's rows of that type (in axon order) is band row
    ``row_perm[r]`` with its columns renamed by ``col_perm``. The permutations are drawn the same
    way whatever computes the rows (argsort of uniform draws, in one order), so the same seed
    gives the same crossbar bit for bit: the C kernel (``ne_balanced_rows``: each row's columns
    as a bitmap, read out in order) or numpy (one flat gather and scatter per type, then a
    uint16 sort, which numpy does with SIMD).
    """
    cores, A = types.shape
    wide = n_per > 65536
    cols_of_row = out if out is not None and not wide else np.empty((cores * A, k), np.int64 if wide else np.uint16)
    core_rows = (np.arange(cores, dtype=np.int64) * A)[:, None]
    in_c = use_c and not wide
    for t in range(n_types):
        # every core has the same number of rows of each type (the types are balanced per core)
        R = int((types[0] == t).sum())
        if R == 0:
            continue
        starts = (np.arange(R) * n_per) // R
        col_perm = np.argsort(rng.random((cores, n_per)), axis=1)              # [cores, n_per]
        row_perm = np.argsort(rng.random((cores, R)), axis=1)                  # [cores, R]
        # the core's axons of type t, in axon order, take the permuted rows
        axon_idx = np.argsort(types != t, axis=1, kind="stable")[:, :R]        # [cores, R]
        in_c = in_c and balanced_rows_c(cores, R, k, n_per, A, starts, col_perm, row_perm, axon_idx,
                                        cols_of_row, dense)
        if not in_c:
            band = (starts[:, None] + offsets[None, :]) % n_per                 # [R, k]
            flat = band[row_perm] + (np.arange(cores, dtype=np.int64) * n_per)[:, None, None]  # [cores, R, k]
            cols_of_row[(core_rows + axon_idx).reshape(-1)] = (
                col_perm.astype(cols_of_row.dtype).reshape(-1)[flat].reshape(-1, k))
    if not in_c:
        cols_of_row.sort(axis=1)
        if dense is not None:
            # one flat scatter over the chunk's rows (put_along_axis builds index grids: ~20x slower)
            width = dense.shape[1]
            dense.reshape(-1)[(np.arange(cores * A, dtype=np.int64)[:, None] * width + cols_of_row).reshape(-1)] = 1
    return cols_of_row


def fill_balanced_part(types: np.ndarray, n_per: int, k: int, n_types: int, rng: np.random.Generator, c0: int, c1: int,
                       row_neurons: np.ndarray, dense: np.ndarray | None, use_c: bool = True) -> None:
    """The rows :func:`fill_balanced` writes for every core of ``types`` [cores, A], kept for the
    cores ``c0 .. c1 - 1`` alone (into their ``row_neurons`` and ``dense`` rows): the same
    chunks draw from ``rng`` in the same order, and a chunk without one of those cores only
    draws (its permutations' uniforms), so the rows kept are the whole fill's bit for bit."""
    cores, A = types.shape
    if k == 0 or cores == 0:
        return
    offsets = np.arange(k)
    chunk = max(1, CHUNK_DRAWS // (A * k))  # as fill_balanced: the draws depend on the chunks
    for lo in range(0, cores, chunk):
        hi = min(cores, lo + chunk)
        a, b = max(lo, c0), min(hi, c1)
        if a >= b:
            for t in range(n_types):
                R = int((types[lo] == t).sum())
                if R:
                    rng.random((hi - lo, n_per))
                    rng.random((hi - lo, R))
            continue
        rows = np.zeros(((hi - lo) * A, dense.shape[1]), np.uint8) if dense is not None else None
        cols = _balanced_cores(types[lo:hi], n_per, k, n_types, offsets, rng, rows, use_c)
        row_neurons[(a - c0) * A * k:(b - c0) * A * k] = cols[(a - lo) * A:(b - lo) * A].reshape(-1)
        if dense is not None:
            dense[(a - c0) * A:(b - c0) * A] = rows[(a - lo) * A:(b - lo) * A]


def fill_random_part(n_per: int, k: int, rng: np.random.Generator, rows: int, r0: int, r1: int,
                     row_neurons: np.ndarray, dense: np.ndarray | None) -> None:
    """The rows ``r0 .. r1 - 1`` of :func:`fill_random` over ``rows`` rows, alone (into
    ``row_neurons``, k a row, and ``dense``): every chunk is drawn in order, the others' draws
    dropped, so the rows kept are the whole fill's bit for bit."""
    if k == 0:
        return
    chunk = max(1, CHUNK_DRAWS // n_per)  # as fill_random: the draws depend on the chunks
    for start in range(0, rows, chunk):
        stop = min(rows, start + chunk)
        a, b = max(start, r0), min(stop, r1)
        if a >= b:
            rng.random((stop - start, n_per), dtype=np.float32)
            continue
        out = np.empty((stop - start) * k, row_neurons.dtype)
        rows_dense = np.zeros((stop - start, dense.shape[1]), np.uint8) if dense is not None else None
        fill_random(n_per, k, rng, out, rows_dense)  # one chunk: the same single draw
        row_neurons[(a - r0) * k:(b - r0) * k] = out[(a - start) * k:(b - start) * k]
        if dense is not None:
            dense[a - r0:b - r0] = rows_dense[a - start:b - start]
