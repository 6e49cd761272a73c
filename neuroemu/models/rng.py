"""Counter-based random numbers: the same bits in numpy, in plain Python and in C.

Stochastic neuron modes need one random number per neuron per tick. A
counter-based generator (splitmix64 of key + counter) gives every
(stream, tick, neuron) its own bits without any generator state, so the fast
kernel, the numpy path and the SimPy reference draw identical numbers whatever
order they visit neurons in. The C twin is ``ne_mix64`` in hardware/tick.c.
"""
from __future__ import annotations

import numpy as np

MASK64 = (1 << 64) - 1
_GAMMA = 0x9E3779B97F4A7C15
_M1 = 0xBF58476D1CE4E5B9
_M2 = 0x94D049BB133111EB


def mix64_int(x: int) -> int:
    """splitmix64's finaliser on one Python int (the reference twin of :func:`mix64`)."""
    z = (x + _GAMMA) & MASK64
    z = ((z ^ (z >> 30)) * _M1) & MASK64
    z = ((z ^ (z >> 27)) * _M2) & MASK64
    return z ^ (z >> 31)


def mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser, vectorised over uint64 (wrapping arithmetic)."""
    z = x.astype(np.uint64, copy=True)
    z += np.uint64(_GAMMA)
    z ^= z >> np.uint64(30)
    z *= np.uint64(_M1)
    z ^= z >> np.uint64(27)
    z *= np.uint64(_M2)
    z ^= z >> np.uint64(31)
    return z


def stream_key(seed: int, stream: int) -> int:
    """A 64-bit key for one purpose (``stream``) under a master ``seed``."""
    return mix64_int((mix64_int(seed & MASK64) + stream * _GAMMA) & MASK64)


def threshold_key(key: int) -> int:
    """The key of the stochastic-threshold stream, derived from the leak stream's key."""
    return mix64_int(key ^ 0x5DEECE66D)


def leak_bytes(key: int, tick: int, n: int, offset: int = 0) -> np.ndarray:
    """One random byte per neuron 0..n-1 at ``tick``: byte (g mod 8) of word g // 8.

    Eight neurons share one 64-bit draw, which makes the stochastic leak cheap. ``offset`` (a
    multiple of 8): the neurons are ``offset .. offset + n - 1`` of the chip (an MPI rank's block),
    so a rank draws the bytes the whole chip's draw gives its neurons.
    """
    if offset % 8:
        raise ValueError(f"leak_bytes: offset {offset} is not a multiple of 8")
    base = np.uint64((key + (offset >> 3) + (int(tick) << 32)) & MASK64)
    words = mix64(np.arange((n + 7) // 8, dtype=np.uint64) + base)
    return words.astype("<u8").view(np.uint8)[:n]


def leak_byte_int(key: int, tick: int, g: int) -> int:
    """The leak byte of neuron ``g``, in plain Python."""
    return (mix64_int((key + (int(tick) << 32) + (g >> 3)) & MASK64) >> (8 * (g & 7))) & 0xFF


def threshold_bits(key: int, tick: int, n: int, offset: int = 0) -> np.ndarray:
    """24 random bits per neuron 0..n-1 at ``tick`` for the stochastic threshold (neurons
    ``offset ..`` of the chip: the bits are keyed on the global neuron id)."""
    base = np.uint64((threshold_key(key) + offset + (int(tick) << 32)) & MASK64)
    return (mix64(np.arange(n, dtype=np.uint64) + base) & np.uint64(0xFFFFFF)).astype(np.int64)


def threshold_bits_int(key: int, tick: int, g: int) -> int:
    """The threshold bits of neuron ``g``, in plain Python."""
    return mix64_int((threshold_key(key) + (int(tick) << 32) + g) & MASK64) & 0xFFFFFF


def generator(seed: int, stream: int, *extra: int) -> np.random.Generator:
    """The numpy Generator for one purpose under a master seed."""
    return np.random.default_rng(np.random.SeedSequence([seed, stream, *extra]))
