"""Compressed sparse rows: the one gather every CSR table here needs."""
from __future__ import annotations

import numpy as np


def row_positions(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Positions (int64) of every entry of the rows that start at ``starts`` with ``lengths``, row by row.

    With ``ptr`` a CSR row pointer, ``row_positions(ptr[rows], ptr[rows + 1] - ptr[rows])`` indexes
    the entries of ``rows`` in order, without a Python loop over the rows.
    """
    lengths = np.asarray(lengths, np.int64)
    offsets = np.cumsum(lengths) - lengths
    return np.arange(int(lengths.sum()), dtype=np.int64) + np.repeat(np.asarray(starts, np.int64) - offsets, lengths)
