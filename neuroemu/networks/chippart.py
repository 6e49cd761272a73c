"""A single chip's generated network, built for some of its cores alone from its whole-chip streams.

On a single chip the generated networks draw every random choice from one stream per purpose
over the whole chip (networks/workloads.py), and reproduced figures and pinned records depend on
those streams, so they stay. Those streams cannot be entered at a core: ``permuted``,
``permutation`` and ``integers`` draw bounded integers by rejection (Lemire's method), so how
many raw draws the cores before a core took is known only by drawing them. But every one of
them is drawn in core order, in chunks whose draws do not depend on the chunking (tested), so an
MPI rank (engine/ranks.py) draws the whole streams in order and **keeps** only its own cores'
share (:func:`whole_chip_part`):

- axon types: every used core's row permuted in turn (1 byte an axon held for the crossbar's
  chunks, then cut);
- crossbar rows: the chunks of cores :func:`neuroemu.networks.crossbars.fill_balanced` (or
  ``fill_random``) draws; a chunk without one of its cores only draws its uniforms (no sorting),
  one with them is computed and its cores' rows kept;
- routes: the whole chip's target and delay arrays (a permutation of every used axon is one
  object: 9 bytes a neuron, transient) cut to its neurons;
- initial potentials and per-synapse weights: drawn in order in chunks, its own range kept.

So a rank holds its own cores' arrays (total / N), plus transients of a few bytes a neuron, and
the arrays are the whole network's bit for bit (tests/test_blocks.py); its time to draw is the
whole chip's (the streams are not split), which is the price of keeping every single-chip record.
A system instead draws by blocks from streams of their own (networks/blocks.py), which a rank
draws alone.
"""
from __future__ import annotations

import numpy as np

from neuroemu.hardware.cores import CoreArrays
from neuroemu.models.rng import generator
from neuroemu.networks import crossbars
from neuroemu.networks.crossbars import empty_rows, fill_balanced_part, fill_random_part

#: elements per chunk when drawing a stream in order to keep a range of it
DRAW_CHUNK = 1 << 20
#: transient bytes per neuron of the chip while a part is drawn: the whole chip's targets
#: (int64) and delays (int8), the enabled flags they are drawn over, the sources' permutation
#: and its sort (int64 each)
TRANSIENT_BYTES_PER_NEURON = 8 + 1 + 1 + 8 + 8
#: ... per axon: the used axons' permutation (int64), the types and their permuted copy (int8)
TRANSIENT_BYTES_PER_AXON = 8 + 1 + 1


def chip_part_transient_bytes(chip) -> int:
    """Bytes a part of a single chip's generated network draws whole beside its own arrays
    (:data:`TRANSIENT_BYTES_PER_NEURON`, :data:`TRANSIENT_BYTES_PER_AXON`), plus a crossbar
    chunk's temporaries (:data:`neuroemu.networks.crossbars.CHUNK_DRAWS` doubles, ~4 arrays)."""
    return (chip.cores * (chip.core.neurons * TRANSIENT_BYTES_PER_NEURON + chip.core.axons * TRANSIENT_BYTES_PER_AXON)
            + 4 * 8 * crossbars.CHUNK_DRAWS)


def kept_draws(draw, total: int, lo: int, hi: int) -> np.ndarray:
    """Elements ``lo .. hi - 1`` of ``draw(total)``, drawn in order in chunks (``draw(n)``: the next n
    of the stream), those before ``lo`` dropped and none after ``hi`` drawn."""
    for start in range(0, lo, DRAW_CHUNK):
        draw(min(lo, start + DRAW_CHUNK) - start)
    return draw(hi - lo) if hi > lo else draw(0)


def whole_chip_part(seed: int, streams: dict[str, int], c0: int, c1: int, n_all: int, cores_used: int, A: int,
                    N: int, n_per: int, k: int, n_types: int, balanced: bool, dense_ok: bool, cell_bytes: int,
                    axon_type: np.ndarray, routes, v: np.ndarray, enabled: np.ndarray, threshold: int,
                    weight_values: np.ndarray | None) -> dict:
    """The random state of cores ``c0 .. c1 - 1`` of a single chip, drawn from its whole-chip streams
    (module docstring): writes ``axon_type`` (theirs, balanced per core on entry) and ``v`` (of the
    ``enabled`` neurons, uniform below ``threshold`` when it is > 0); returns ``row_ptr``,
    ``row_neurons``, ``dense``, ``row_weights``, and ``target_axon`` and ``delay`` of their neurons
    cut from ``routes()``, the whole chip's (also returned, as ``whole_routes``)."""
    n_cores = c1 - c0
    here = max(0, min(c1, cores_used) - c0)  # used cores among them (a prefix)
    u0, u1 = min(c0, cores_used), min(c1, cores_used)
    # axon types: every used core's row in turn; every used core's types kept for the crossbar's chunks
    types = np.tile(axon_type[:A], (cores_used, 1))
    types[:] = generator(seed, streams["types"]).permuted(types, axis=1)
    axon_type[:here * A] = types[u0:u1].reshape(-1)
    row_ptr, row_neurons = empty_rows(n_cores * A, here * A, k, N)
    rng = generator(seed, streams["crossbar"])
    if balanced:
        dense = np.zeros((n_cores * A, N), np.uint8) if dense_ok else None
        fill_balanced_part(types, n_per, k, n_types, rng, u0, u1, row_neurons, dense)
    else:  # as workloads._random_crossbar decides its dense copy: on the whole chip
        dense = (np.zeros((n_cores * A, N), np.uint8) if k >= N * CoreArrays.DENSE_MIN_DENSITY
                 and n_all * A * N * cell_bytes <= CoreArrays.DENSE_MAX_BYTES else None)
        fill_random_part(n_per, k, rng, cores_used * A, u0 * A, u1 * A, row_neurons, dense)
    del types
    whole_target, whole_delay = routes()
    target_axon, delay = whole_target[c0 * N:c1 * N].copy(), whole_delay[c0 * N:c1 * N].copy()
    if threshold > 0:  # the enabled neurons in chip order: the used cores' first n_per columns
        init = generator(seed, streams["init"])
        v[enabled] = kept_draws(lambda n: init.integers(0, threshold, n, dtype=np.int32), cores_used * n_per,
                                u0 * n_per, u1 * n_per)
    row_weights = None
    if weight_values is not None:
        w = generator(seed, streams["weights"])
        row_weights = weight_values[kept_draws(lambda n: w.integers(0, len(weight_values), n), cores_used * A * k,
                                               u0 * A * k, u1 * A * k)]
    return {"row_ptr": row_ptr, "row_neurons": row_neurons, "dense": dense, "row_weights": row_weights,
            "target_axon": target_axon, "delay": delay, "whole_routes": (whole_target, whole_delay)}
