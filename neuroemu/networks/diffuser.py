"""A generated or mapped network written onto Neurogrid's shared synapses and diffuser.

Neurogrid stores no synapse weights (Benjamin et al. 2014). A spike is routed by the multicast
tree router to the chips its router tables name; the digital axonal arbor (the board's RAM)
expands it into target *locations* on each chip, and each location's input enters one of the
neuron's shared synapse circuits -- excitatory or inhibitory, whose gain is one analog bias per
chip -- and is spread by the analog diffuser over the neurons around that location. So one
synaptic connection keeps its source, its target and its delay, and loses its own weight.

The mapping (:func:`diffuse`), applied to the core arrays a network compiles to (the chip's
``core.neuron_model`` is ``neurogrid_lif``, whose ``diffuser`` flag asks for it):

1. **Type by sign.** A synapse of weight w > 0 is excitatory, w < 0 inhibitory; w = 0 is
   dropped (no circuit is driven).
2. **One gain per (chip, type)**, fitted so the mean drive matches: gain = mean |w| over the
   synapses of that type whose target sits on that chip. A synapse then delivers +-gain: the
   total input a chip receives when every source fires equally is unchanged, each neuron's
   share of it is not (the approximation: weights within a type become equal).
3. **The diffuser.** The input lands at the target neuron's position (row j // side, column
   j % side of the side x side array) and is spread evenly over the neighbourhood of
   ``network.neuron.diffuser_radius`` (lattice points with dx^2 + dy^2 <= r^2) or the
   ``diffuser_width`` x ``diffuser_height`` rectangle, wrapping at the array's edges
   (``diffuser_wrap: 1``, the default) or cut there (0, as the resistive grid is): each of the
   K neurons reached gets gain / K, so the diffuser redistributes the input and never creates
   it. Radius 0 (the default) is the target alone: the mapping is then exact but for step 2.
   Where neighbourhoods of one packet's targets overlap, a neuron's shares are summed: it is
   one synaptic event (one neuron reached), as in the ``neurogrid_diffuser`` network.

Weights become float64 per synapse (``row_weights``): the analog circuits have no weight grid.
"""
from __future__ import annotations

import math

import numpy as np

from neuroemu.errors import ConfigError

#: the ``network.neuron`` keys of the diffuser (the rest are the neuron's)
DIFFUSER_KEYS = ("diffuser_radius", "diffuser_width", "diffuser_height", "diffuser_wrap")


def neighbourhood_rows(radius: float, width: int, height: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The neighbourhood as rows: (dy, first dx, last dx), int32 arrays, dy ascending.

    A rectangle (width > 0) of width x height, an even side reaching one further on the + side;
    else a disc of the lattice points with dx^2 + dy^2 <= radius^2 (radius 0: the centre alone).
    """
    if width > 0:
        dy = np.arange(height) - (height - 1) // 2
        lo = np.full(height, -((width - 1) // 2))
        return dy.astype(np.int32), lo.astype(np.int32), (lo + width - 1).astype(np.int32)
    r2 = math.floor(radius ** 2 + 1e-9)
    top = math.isqrt(r2)
    dy = np.arange(-top, top + 1)
    half = np.array([math.isqrt(r2 - int(d) * int(d)) for d in dy])
    return dy.astype(np.int32), (-half).astype(np.int32), half.astype(np.int32)


def diffuser_settings(neuron: dict | None, where: str) -> tuple[np.ndarray, np.ndarray, bool]:
    """(dy, dx) offsets of the neighbourhood and whether it wraps, from ``network.neuron``."""
    given = {k: v for k, v in (neuron or {}).items() if k in DIFFUSER_KEYS}
    for key, value in given.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            raise ConfigError(f"{where}.neuron.{key}: must be a finite number >= 0 (got {value!r})")
    radius = float(given.get("diffuser_radius", 0))
    width, height = given.get("diffuser_width", 0), given.get("diffuser_height", 0)
    wrap = given.get("diffuser_wrap", 1)
    for key, value in (("diffuser_width", width), ("diffuser_height", height)):
        if value != int(value):
            raise ConfigError(f"{where}.neuron.{key}: must be a whole number (got {value!r})")
    if wrap not in (0, 1):
        raise ConfigError(f"{where}.neuron.diffuser_wrap: must be 0 (clip at the edge) or 1 (wrap) (got {wrap!r})")
    if (width or height) and radius:
        raise ConfigError(f"{where}.neuron.diffuser_radius: give either diffuser_radius (a disc) or diffuser_width "
                          "and diffuser_height (a rectangle), not both")
    if (width or height) and not (width >= 1 and height >= 1):
        raise ConfigError(f"{where}.neuron.diffuser_width: a rectangle needs both diffuser_width and "
                          f"diffuser_height >= 1 (got {width:g} x {height:g})")
    dy, lo, hi = neighbourhood_rows(radius, int(width), int(height))
    oy = np.repeat(dy.astype(np.int64), (hi - lo + 1).astype(np.int64))
    ox = np.concatenate([np.arange(a, b + 1, dtype=np.int64) for a, b in zip(lo.tolist(), hi.tolist())])
    return oy, ox, bool(wrap)


def shared_gains(core: np.ndarray, w: np.ndarray, n_cores: int) -> np.ndarray:
    """The shared synapse weight of each synapse: sign(w) x mean |w| of its (core, type); 0 for w = 0."""
    inhib = (w < 0).astype(np.int64)
    key = core * 2 + inhib
    live = w != 0
    total = np.bincount(key[live], np.abs(w[live]), minlength=2 * n_cores)
    count = np.bincount(key[live], minlength=2 * n_cores)
    gain = total / np.maximum(count, 1)
    return np.where(live, np.sign(w) * gain[key], 0.0)


def diffuse(arrays, neuron: dict | None, where: str) -> dict:
    """Rewrite ``arrays`` (CoreArrays) in place onto shared synapse types and the diffuser (module
    docstring); returns what the mapping did, for the workload report."""
    A, N = arrays.axons_per_core, arrays.neurons_per_core
    oy, ox, wrap = diffuser_settings(neuron, where)
    ax = arrays.synapse_axons()
    local = arrays.row_neurons.astype(np.int64)
    if arrays.row_weights is not None:
        w = arrays.row_weights.astype(np.float64)
    else:  # weights[neuron, type of its axon], gathered without a per-synapse global neuron array
        core_n = (ax // A) * (N * arrays.weights.shape[1])
        w = arrays.weights.ravel()[core_n + local * arrays.weights.shape[1] + arrays.axon_type[ax].astype(np.int64)].astype(np.float64)
    g = shared_gains(ax // A, w, arrays.n_cores)
    live = g != 0
    if not live.all():
        ax, local, g = ax[live], local[live], g[live]
    K = len(oy)
    if K > 1:
        side = math.isqrt(N)
        if side * side != N:
            raise ConfigError(f"{where}.neuron: the diffuser spreads over a square array of neurons per core (side x "
                              f"side), but the cores hold {N}")
        if wrap and (int(oy.max() - oy.min()) + 1 > side or int(ox.max() - ox.min()) + 1 > side):
            raise ConfigError(f"{where}.neuron: the diffuser neighbourhood must fit in the {side} x {side} array "
                              "when it wraps")
        y = (local // side)[:, None] + oy[None, :]
        x = (local % side)[:, None] + ox[None, :]
        if wrap:
            inside = np.ones(y.shape, bool)
            y, x = y % side, x % side
        else:
            inside = (y >= 0) & (y < side) & (x >= 0) & (x < side)
        reached = inside.sum(axis=1)
        share = np.repeat(g / reached, reached)
        ax = np.repeat(ax, reached)
        local = (y * side + x)[inside]
        # one synapse per (axon, neuron): overlapping neighbourhoods sum their shares
        key = ax * N + local
        uniq, inv = np.unique(key, return_inverse=True)
        g = np.bincount(inv, share, minlength=len(uniq))
        ax, local = uniq // N, uniq % N
    kept = len(g)
    arrays.row_ptr = np.concatenate([[0], np.cumsum(np.bincount(ax, minlength=arrays.n_axons))]).astype(np.int64)
    arrays.row_neurons = local.astype(np.uint16 if N <= 65536 else np.int64)
    arrays.row_weights = np.ascontiguousarray(g, np.float64)
    arrays.dense = arrays.dense_weights = None
    return {"synapse_types": "excitatory, inhibitory", "diffuser_neurons": int(K), "diffuser_wrap": wrap,
            "synapses_mapped": int(np.count_nonzero(live)), "diffused_synapses": kept,
            "zero_weights_dropped": int(np.count_nonzero(~live))}
