"""A chip-independent spiking network: neuron groups, synapses as edge arrays, inputs, outputs.

This is the description a user brings (from NIR, an edge list or code) before it is mapped onto
a chip. It is plain numpy arrays, validated once, read-only afterwards.

Ids. Neurons are numbered 0..N-1, inputs (spike sources outside the network: sensors, a data
set) 0..I-1 in a space of their own. Groups name contiguous ranges of each. A synapse (edge) k
runs from ``src[k]`` -- a neuron id, or an input id when ``src_input[k]`` -- to neuron
``dst[k]`` with a real ``weight[k]`` and an integer ``delay[k]`` >= 1 ticks.

The discretised neuron (one equation for every model; the model name of a group is a label):

    in[t] = sum over edges k into the neuron of weight[k] * s_src[k][t - delay[k]]
    i[t]  = i_decay * i[t-1] + in[t] + i_bias          (synaptic current)
    v[t]  = decay   * v[t-1] + i[t]  + bias            (membrane)
    spike s[t] = 1  when v[t] >= threshold
    after a spike: v[t] = v_reset        (reset "zero": to v_reset, 0 unless set)
               or  v[t] = v[t] - threshold  (reset "subtract")

with i[-1] = ``u_init``, v[-1] = ``v_init`` (0 unless set) and s_input[t] = 1 at the input spike
times. Optional per-neuron state and limits (defaults change nothing):

    refractory  R ticks after a spike the membrane is held at its reset value (no update, no
                spike) while the current goes on integrating (Loihi's refractory counter)
    v_min       a floor: v[t] = max(v[t], v_min) after the update and after the reset
                (-inf: none; must be <= 0 and <= v_reset, so a reset is never undone)
    core        the chip core a neuron must sit on (-1: not given), used by mapping ``given``

Several synaptic currents: edge k feeds the current of its type ``syn_type[k]`` (0 unless set);
with T types every neuron has T currents, ``i_c[t] = syn_i_decay[c] * i_c[t-1] + in_c[t]`` (+
``i_bias`` on current 0) and the membrane takes their sum, ``v[t] = decay * v[t-1] + sum_c i_c[t]
+ bias``. ``syn_i_decay`` (one decay per type) replaces the per-neuron ``i_decay``, which must then
be 0 (a type's current decays the same in every neuron, as a synapse type's time constant does);
without it there is one type and the per-neuron ``i_decay``. A spike emitted (or
injected) at tick t reaches its targets at tick t + delay, so nothing propagates within a tick,
as on a synchronous chip where every synapse costs at least one tick. With ``i_decay`` = 0 and
``i_bias`` = 0 the current is just this tick's input and ``v[t] = decay * v[t-1] + in[t] +
bias``. The models are settings of this one equation:

    ========  ========  =========  ===========  ============================================
    model     decay     i_decay    threshold    note
    ========  ========  =========  ===========  ============================================
    IF        1         0          finite       integrate and fire
    LIF       (0, 1)    0          finite       leaky integrate and fire
    I         1         0          inf          integrator: never fires, read its ``v``
    LI        (0, 1)    0          inf          leaky integrator: never fires
    CubaLIF   [0, 1]    (0, 1)     finite       current-based LIF (Loihi's CUBA compartment)
    CubaLI    [0, 1]    (0, 1)     inf          current-based leaky integrator
    ========  ========  =========  ===========  ============================================

This is Loihi's compartment (u = current, v = voltage; ``du = 4096 (1 - i_decay)``, ``dv =
4096 (1 - decay)``) and, with ``i_decay`` = 0, TrueNorth's neuron with a multiplicative
rather than a linear leak. :func:`simulate_reference` steps exactly these equations in float64,
one vectorised step per tick.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from neuroemu.hardware.csr import row_positions
from neuroemu.errors import ConfigError
from neuroemu.networks.fields import (EDGE_FIELDS, EDGE_TYPE_FIELDS, FIELD_DEFAULTS, FIELD_KINDS,
                                      NEURON_FIELDS, NEURON_STATE_FIELDS, _array, _check_ids,
                                      _fail, check_state)

__all__ = ["MODELS", "RESETS", "Group", "Network", "NetworkBuilder", "ReferenceRun", "decay_from_tau",
           "simulate_reference", "MAX_DELAY"]

#: the model labels a group may carry (all are settings of the one equation above)
MODELS = ("IF", "LIF", "I", "LI", "CubaLIF", "CubaLI", "Threshold", "input")
#: reset modes: to v_reset, or by subtracting the threshold
RESETS = ("zero", "subtract")
#: the longest synaptic delay in ticks (the reference keeps a ring of this many [N] rows)
MAX_DELAY = 1 << 16



def decay_from_tau(tau, dt: float = 1.0, method: str = "euler") -> np.ndarray:
    """The per-tick decay factor of a time constant ``tau`` at step ``dt`` (same units).

    ``euler``: ``1 - dt / tau`` (forward Euler, what snnTorch, Norse and most NIR exporters mean);
    ``exact``: ``exp(-dt / tau)`` (the exact decay of the homogeneous equation).
    """
    tau = np.asarray(tau, np.float64)
    if method == "euler":
        return 1.0 - dt / tau
    if method == "exact":
        return np.exp(-dt / tau)
    raise ConfigError(f"method: unknown discretisation {method!r}; valid: euler, exact")


@dataclass(frozen=True)
class Group:
    """A named contiguous range ``start .. start + size - 1`` of neuron (or input) ids."""

    name: str
    start: int
    size: int
    model: str = "LIF"

    @property
    def stop(self) -> int:
        """One past the last id."""
        return self.start + self.size

    @property
    def ids(self) -> np.ndarray:
        """The ids of the group, int64."""
        return np.arange(self.start, self.stop, dtype=np.int64)


def _check_groups(where: str, name: str, groups, n: int, what: str) -> tuple[Group, ...]:
    groups = tuple(groups)
    pos = 0
    for k, g in enumerate(groups):
        if not isinstance(g, Group):
            raise _fail(where, f"{name}[{k}]", "must be a Group", type(g).__name__)
        if g.start != pos or g.size < 0:
            raise _fail(where, f"{name}[{k}] ({g.name!r})",
                        f"groups must tile the {what} in order: expected start {pos} and size >= 0",
                        f"start {g.start}, size {g.size}")
        if g.model not in MODELS:
            raise _fail(where, f"{name}[{k}] ({g.name!r}).model", f"must be one of {', '.join(MODELS)}",
                        repr(g.model))
        pos = g.stop
    if pos != n:
        raise _fail(where, name, f"group sizes must add up to the {n} {what}", pos)
    return groups


@dataclass(frozen=True, eq=False)
class Network:
    """A spiking network as validated, read-only numpy arrays (see the module docstring).

    Per neuron [N]: ``decay``, ``i_decay``, ``threshold`` (``inf``: never fires), ``v_reset``,
    ``bias``, ``i_bias`` (float64) and ``reset_subtract`` (bool). Per edge [E]: ``src``, ``dst``
    (int64), ``weight`` (float64), ``delay`` (int64 ticks >= 1), ``src_input`` (bool: ``src``
    is an input id). Inputs: ``n_inputs`` ids, spike trains ``input_times``/``input_ids``
    (int64, sparse). ``outputs``: the neuron ids a user reads (int64). ``edge_class``: optional
    int64 [E] axon class of each edge (TrueNorth: the axon type it must arrive on); edges of one
    source in different classes need different axons on a core. Optional (default when None):
    per neuron ``refractory`` (int64 ticks), ``v_init``, ``u_init``, ``v_min`` (float64) and
    ``core`` (int64, -1: not given); per edge ``syn_type`` (int64); per synapse type
    ``syn_i_decay`` (float64 [T], or None: one type with the per-neuron ``i_decay``). ``groups`` /
    ``input_groups`` tile the neuron / input ids. Every broken rule raises
    :class:`~neuroemu.errors.ConfigError` naming ``where`` (a file name, else ``name``), the
    array and the rule.
    """

    groups: tuple[Group, ...]
    decay: np.ndarray
    i_decay: np.ndarray
    threshold: np.ndarray
    v_reset: np.ndarray
    bias: np.ndarray
    i_bias: np.ndarray
    reset_subtract: np.ndarray
    src: np.ndarray
    dst: np.ndarray
    weight: np.ndarray
    delay: np.ndarray
    src_input: np.ndarray
    refractory: np.ndarray | None = None
    v_init: np.ndarray | None = None
    u_init: np.ndarray | None = None
    v_min: np.ndarray | None = None
    core: np.ndarray | None = None
    syn_type: np.ndarray | None = None
    syn_i_decay: np.ndarray | None = None
    input_groups: tuple[Group, ...] = ()
    input_times: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    input_ids: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    outputs: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    edge_class: np.ndarray | None = None
    name: str = "network"
    where: str = field(default="", compare=False, repr=False)

    def __post_init__(self):
        w = self.where or self.name
        n = None
        for f in NEURON_FIELDS + NEURON_STATE_FIELDS:
            value = getattr(self, f)
            if value is None:
                value = np.full(n or 0, FIELD_DEFAULTS[f])
            a = _array(w, f, value, FIELD_KINDS.get(f, "float"))
            if n is None:
                n = len(a)
            elif len(a) != n:
                raise _fail(w, f, f"needs one value per neuron ({n}, the length of decay)", len(a))
            object.__setattr__(self, f, a)
        e = None
        for f in EDGE_FIELDS + EDGE_TYPE_FIELDS:
            value = getattr(self, f)
            if value is None:
                value = np.full(e or 0, FIELD_DEFAULTS[f])
            a = _array(w, f, value, FIELD_KINDS[f])
            if e is None:
                e = len(a)
            elif len(a) != e:
                raise _fail(w, f, f"needs one value per edge ({e}, the length of src)", len(a))
            object.__setattr__(self, f, a)
        if self.syn_i_decay is not None:
            object.__setattr__(self, "syn_i_decay", _array(w, "syn_i_decay", self.syn_i_decay, "float"))
        for f in ("input_times", "input_ids", "outputs"):
            object.__setattr__(self, f, _array(w, f, getattr(self, f), "int"))
        if self.edge_class is not None:
            cls = _array(w, "edge_class", self.edge_class, "int")
            if len(cls) != e:
                raise _fail(w, "edge_class", f"needs one value per edge ({e}, the length of src)", len(cls))
            if cls.size and (cls.min() < 0 or cls.max() > 255):
                raise _fail(w, "edge_class", "classes must be 0..255", int(cls.min() if cls.min() < 0 else cls.max()))
            object.__setattr__(self, "edge_class", cls)
        object.__setattr__(self, "groups", _check_groups(w, "groups", self.groups, n, "neurons"))
        object.__setattr__(self, "input_groups",
                           _check_groups(w, "input_groups", self.input_groups,
                                         sum(g.size for g in self.input_groups), "inputs"))
        names = [g.name for g in self.groups + self.input_groups]
        dup = sorted({x for x in names if names.count(x) > 1})
        if dup:
            raise _fail(w, "groups", "group names must be unique across neurons and inputs", repr(dup[0]))
        self._check_values(w)

    def _check_values(self, w: str) -> None:
        bad = lambda a: int(np.flatnonzero(a)[0])  # first offending index, for the message
        if not np.all((self.decay >= 0) & (self.decay <= 1)):
            k = bad(~((self.decay >= 0) & (self.decay <= 1)))
            raise _fail(w, "decay", f"must be in [0, 1] (neuron {k})", self.decay[k])
        if not np.all((self.i_decay >= 0) & (self.i_decay < 1)):
            k = bad(~((self.i_decay >= 0) & (self.i_decay < 1)))
            raise _fail(w, "i_decay", f"must be in [0, 1) (neuron {k})", self.i_decay[k])
        if np.isnan(self.threshold).any() or (self.threshold == -np.inf).any():
            k = bad(np.isnan(self.threshold) | (self.threshold == -np.inf))
            raise _fail(w, "threshold", f"must be a number or +inf (neuron {k})", self.threshold[k])
        for f in ("v_reset", "bias", "i_bias"):
            a = getattr(self, f)
            if not np.isfinite(a).all():
                raise _fail(w, f, f"must be finite (neuron {bad(~np.isfinite(a))})", a[bad(~np.isfinite(a))])
        check_state(self, w)
        n = self.n_neurons
        _check_ids(w, "dst", self.dst, n, "neurons")
        _check_ids(w, "src", self.src[~self.src_input], n, "neurons")
        _check_ids(w, "src", self.src[self.src_input], self.n_inputs,
                   "inputs (for edges with src_input set)")
        if not np.isfinite(self.weight).all():
            k = bad(~np.isfinite(self.weight))
            raise _fail(w, "weight", f"must be finite (edge {k})", self.weight[k])
        if self.delay.size and (self.delay.min() < 1 or self.delay.max() > MAX_DELAY):
            k = bad((self.delay < 1) | (self.delay > MAX_DELAY))
            raise _fail(w, "delay", f"must be whole ticks in 1..{MAX_DELAY} (edge {k})", self.delay[k])
        if len(self.input_times) != len(self.input_ids):
            raise _fail(w, "input_ids", f"needs one id per spike time ({len(self.input_times)})",
                        len(self.input_ids))
        _check_ids(w, "input_ids", self.input_ids, self.n_inputs, "inputs")
        if self.input_times.size and self.input_times.min() < 0:
            raise _fail(w, "input_times", "ticks must be >= 0", int(self.input_times.min()))
        _check_ids(w, "outputs", self.outputs, n, "neurons")

    @property
    def n_syn_types(self) -> int:
        """Synaptic current types T (1 without ``syn_i_decay``)."""
        return 1 if self.syn_i_decay is None else len(self.syn_i_decay)

    def current_decays(self) -> np.ndarray:
        """float64 [T, N]: the decay of every neuron's current of each type."""
        if self.syn_i_decay is None:
            return self.i_decay[None, :]
        return np.repeat(self.syn_i_decay[:, None], self.n_neurons, axis=1)

    # --- sizes and look-ups --------------------------------------------------------------------

    @property
    def n_neurons(self) -> int:
        """Neurons N."""
        return len(self.decay)

    @property
    def n_inputs(self) -> int:
        """Input ids I."""
        return sum(g.size for g in self.input_groups)

    @property
    def n_edges(self) -> int:
        """Synapses E."""
        return len(self.src)

    def group(self, name: str) -> Group:
        """The neuron or input group called ``name``; an unknown name lists the valid ones."""
        for g in self.groups + self.input_groups:
            if g.name == name:
                return g
        valid = ", ".join(g.name for g in self.groups + self.input_groups)
        raise ConfigError(f"{self.where or self.name}: no group {name!r}; valid: {valid}")

    def group_index(self) -> np.ndarray:
        """int64 [N]: the index in ``groups`` of every neuron."""
        return np.repeat(np.arange(len(self.groups), dtype=np.int64), [g.size for g in self.groups])

    def with_inputs(self, times, ids) -> "Network":
        """The same network with other input spike trains (validated)."""
        return replace(self, input_times=np.asarray(times), input_ids=np.asarray(ids))

    def weight_matrix(self, src_group: str, dst_group: str) -> np.ndarray:
        """Dense float64 [src size, dst size] summed weights of the edges between two groups."""
        s, d = self.group(src_group), self.group(dst_group)
        from_inputs = s in self.input_groups
        m = ((self.src_input == from_inputs) & (self.src >= s.start) & (self.src < s.stop)
             & (self.dst >= d.start) & (self.dst < d.stop))
        out = np.zeros((s.size, d.size))
        np.add.at(out, (self.src[m] - s.start, self.dst[m] - d.start), self.weight[m])
        return out


class NetworkBuilder:
    """Assemble a :class:`Network` group by group (inputs, neurons, dense or sparse connections).

    >>> b = NetworkBuilder("tiny")
    >>> b.add_inputs("in", 2)
    >>> b.add_neurons("out", 1, model="IF", threshold=1.0)
    >>> b.connect("in", "out", [[0.6], [0.6]])
    >>> net = b.build(outputs="out")
    """

    def __init__(self, name: str = "network"):
        self.name = name
        self._groups: list[Group] = []
        self._inputs: list[Group] = []
        self._params: dict[str, list[np.ndarray]] = {f: [] for f in NEURON_FIELDS + NEURON_STATE_FIELDS}
        self._edges: dict[str, list[np.ndarray]] = {f: [] for f in EDGE_FIELDS + EDGE_TYPE_FIELDS}
        self._spikes = (np.empty(0, np.int64), np.empty(0, np.int64))
        self._syn_i_decay = None

    def _find(self, name: str) -> tuple[Group, bool]:
        for g in self._inputs:
            if g.name == name:
                return g, True
        for g in self._groups:
            if g.name == name:
                return g, False
        raise ConfigError(f"{self.name}: no group {name!r}; valid: "
                          f"{', '.join(g.name for g in self._inputs + self._groups)}")

    def add_inputs(self, name: str, size: int) -> Group:
        """Add ``size`` input ids as group ``name``."""
        g = Group(name, sum(x.size for x in self._inputs), int(size), "input")
        self._inputs.append(g)
        return g

    def add_neurons(self, name: str, size: int, *, model: str = "LIF", decay=None, tau=None,
                    i_decay=0.0, threshold=None, v_reset=0.0, bias=0.0, i_bias=0.0,
                    reset: str = "zero", refractory=0, v_init=0.0, u_init=0.0, v_min=-math.inf,
                    core=-1) -> Group:
        """Add ``size`` neurons as group ``name``; parameters are scalars or [size] arrays.

        ``refractory`` (ticks), ``v_init``, ``u_init``, ``v_min`` and ``core``: the optional
        per-neuron state and limits of the module docstring.

        ``decay`` defaults by model (IF, I, Threshold: 1; LIF, LI: from ``tau`` in ticks by
        forward Euler, ``1 - 1/tau``); ``threshold`` defaults to 1 for spiking models and
        ``inf`` for I, LI and CubaLI, which never fire.
        """
        if model not in MODELS or model == "input":
            raise ConfigError(f"{self.name}: group {name!r}: model must be one of "
                              f"{', '.join(m for m in MODELS if m != 'input')} (got {model!r})")
        if reset not in RESETS:
            raise ConfigError(f"{self.name}: group {name!r}: reset must be one of {', '.join(RESETS)} "
                              f"(got {reset!r})")
        if decay is None:
            if tau is not None:
                decay = decay_from_tau(tau, 1.0, "euler")
            elif model in ("IF", "I", "Threshold"):
                decay = 1.0 if model != "Threshold" else 0.0
            else:
                raise ConfigError(f"{self.name}: group {name!r}: model {model} needs decay or tau")
        if threshold is None:
            threshold = math.inf if model in ("I", "LI", "CubaLI") else 1.0
        g = Group(name, sum(x.size for x in self._groups), int(size), model)
        values = dict(decay=decay, i_decay=i_decay, threshold=threshold, v_reset=v_reset, bias=bias,
                      i_bias=i_bias, reset_subtract=reset == "subtract", refractory=refractory, v_init=v_init,
                      u_init=u_init, v_min=v_min, core=core)
        for f, v in values.items():
            self._params[f].append(np.broadcast_to(np.asarray(v), (g.size,)))
        self._groups.append(g)
        return g

    def set_syn_decays(self, syn_i_decay) -> None:
        """One current decay per synapse type (module docstring); ``None``: one type, per-neuron i_decay."""
        self._syn_i_decay = None if syn_i_decay is None else np.asarray(syn_i_decay, np.float64)

    def connect(self, src: str, dst: str, weight, *, delay=1, sparse=None, syn_type: int = 0) -> int:
        """Connect group ``src`` to neuron group ``dst``; return the number of edges added.

        ``weight``: a dense [src size, dst size] matrix (rows: sources, as crossbar rows; zeros
        are no synapse), or with ``sparse=(i, j)`` local index arrays, one weight per pair.
        ``delay``: ticks, a scalar or one per edge (dense: a [src, dst] matrix). ``syn_type``:
        the synaptic current these edges feed (see :meth:`set_syn_decays`).
        """
        s, from_inputs = self._find(src)
        d, dst_is_input = self._find(dst)
        if dst_is_input:
            raise ConfigError(f"{self.name}: connect: {dst!r} is an input group; synapses end on neurons")
        if sparse is None:
            w = np.asarray(weight, np.float64)
            if w.shape != (s.size, d.size):
                raise ConfigError(f"{self.name}: connect {src!r} -> {dst!r}: weight must have shape "
                                  f"({s.size}, {d.size}) (got {w.shape})")
            i, j = np.nonzero(w)
            w = w[i, j]
            dl = np.broadcast_to(np.asarray(delay), (s.size, d.size))[i, j]
        else:
            i, j = (np.asarray(x, np.int64) for x in sparse)
            w = np.broadcast_to(np.asarray(weight, np.float64), i.shape)
            dl = np.broadcast_to(np.asarray(delay), i.shape)
        self._edges["src"].append(i + s.start)
        self._edges["dst"].append(j + d.start)
        self._edges["weight"].append(w)
        self._edges["delay"].append(dl)
        self._edges["src_input"].append(np.full(len(i), from_inputs))
        self._edges["syn_type"].append(np.full(len(i), int(syn_type), np.int64))
        return len(i)

    def set_input_spikes(self, times, ids, group: str | None = None) -> None:
        """Input spike trains: ticks and ids (local to ``group`` when given, else global input ids)."""
        ids = np.asarray(ids, np.int64)
        if group is not None:
            ids = ids + self._find(group)[0].start
        self._spikes = (np.asarray(times, np.int64), ids)

    def build(self, outputs=None) -> Network:
        """The validated :class:`Network`; ``outputs`` is a group name, a list of them, or neuron ids."""
        if isinstance(outputs, str):
            outputs = [outputs]
        if outputs is None:
            out = np.empty(0, np.int64)
        elif len(outputs) and isinstance(outputs[0], str):
            out = np.concatenate([self._find(o)[0].ids for o in outputs])
        else:
            out = np.asarray(outputs, np.int64)
        cat = lambda parts, dt: np.concatenate(parts).astype(dt) if parts else np.empty(0, dt)
        dtype = {"bool": bool, "int": np.int64, "float": np.float64}
        params = {f: cat(v, dtype[FIELD_KINDS.get(f, "float")]) for f, v in self._params.items()}
        edges = {f: cat(v, dtype[FIELD_KINDS[f]]) for f, v in self._edges.items()}
        return Network(groups=tuple(self._groups), input_groups=tuple(self._inputs), **params, **edges,
                       syn_i_decay=self._syn_i_decay,
                       input_times=self._spikes[0], input_ids=self._spikes[1], outputs=out, name=self.name)


# --- the reference simulator ---------------------------------------------------------------

@dataclass(frozen=True)
class ReferenceRun:
    """What :func:`simulate_reference` returns: sparse spikes plus the final state.

    ``times``, ``ids``: int64 spike ticks and neuron ids, sorted by (time, id). ``v``, ``i``:
    float64 [N] state after the last tick. ``v_trace``: float64 [ticks, N] membrane after each
    tick, only when asked for (dense: for tests and small networks). With several synapse types
    ``i`` is float64 [T, N], one current per type.
    """

    times: np.ndarray
    ids: np.ndarray
    v: np.ndarray
    i: np.ndarray
    ticks: int
    v_trace: np.ndarray | None = None

    def counts(self, n: int | None = None) -> np.ndarray:
        """Spikes per neuron, int64 [n] (default: up to the largest id)."""
        return np.bincount(self.ids, minlength=n or 0)


def _by_delay(network: Network) -> list[tuple[int, np.ndarray, np.ndarray, np.ndarray]]:
    """Per distinct delay: CSR over the combined source index (neurons, then inputs); the targets
    are ``type * N + dst``, the current each edge feeds."""
    n_src = network.n_neurons + network.n_inputs
    key = np.where(network.src_input, network.src + network.n_neurons, network.src)
    target = network.syn_type * network.n_neurons + network.dst
    out = []
    for d in np.unique(network.delay):
        m = network.delay == d
        order = np.argsort(key[m], kind="stable")
        ptr = np.zeros(n_src + 1, np.int64)
        np.cumsum(np.bincount(key[m], minlength=n_src), out=ptr[1:])
        out.append((int(d), ptr, target[m][order], network.weight[m][order]))
    return out


def simulate_reference(network: Network, ticks: int, *, inputs=None, record_v: bool = False) -> ReferenceRun:
    """Step the module docstring's equations for ``ticks`` ticks in float64 (numpy, vectorised).

    ``inputs``: optional ``(times, ids)`` replacing the network's input spike trains (spikes at
    ticks >= ``ticks`` are ignored). One step per tick: take this tick's arriving input, update
    current and membrane, fire, reset, then scatter the spikes of this tick (neurons that fired
    and inputs spiking now) into the ring slots ``t + delay``.
    """
    if int(ticks) < 0:
        raise ConfigError(f"ticks: must be >= 0 (got {ticks})")
    n, n_in = network.n_neurons, network.n_inputs
    times, ids = (network.input_times, network.input_ids) if inputs is None else (
        np.asarray(inputs[0], np.int64), np.asarray(inputs[1], np.int64))
    _check_ids(network.where or network.name, "inputs", ids, n_in, "inputs")
    order = np.argsort(times, kind="stable")
    times, ids = times[order], ids[order]
    bounds = np.searchsorted(times, np.arange(ticks + 1))
    tables = _by_delay(network)
    ring_len = (max(d for d, *_ in tables) if tables else 0) + 1
    n_types = network.n_syn_types
    ring = np.zeros((ring_len, n_types * n))
    v = network.v_init.copy()
    cur = np.zeros((n_types, n))
    cur[0] = network.u_init
    decay, thr, i_decays = network.decay, network.threshold, network.current_decays()
    bias, i_bias, v_reset, subtract = network.bias, network.i_bias, network.v_reset, network.reset_subtract
    v_min, refractory = network.v_min, network.refractory
    floors, holds = bool(np.isfinite(v_min).any()), bool(refractory.any())
    left = np.zeros(n, np.int64)  # refractory ticks still to wait
    spike_t, spike_id = [], []
    trace = np.empty((ticks, n)) if record_v else None
    for t in range(ticks):
        slot = t % ring_len
        cur = i_decays * cur + ring[slot].reshape(n_types, n)
        cur[0] += i_bias
        ring[slot] = 0.0
        new = decay * v + (cur[0] if n_types == 1 else cur.sum(axis=0)) + bias
        if floors:
            new = np.maximum(new, v_min)
        fired = new >= thr
        if holds:
            free = left <= 0
            fired &= free
        if fired.any():
            new = np.where(fired, np.where(subtract, new - thr, v_reset), new)
            if floors:
                new = np.maximum(new, v_min)
        if holds:  # a held membrane keeps its value; the countdown restarts at a spike
            v = np.where(free, new, v)
            left = np.where(free, np.where(fired, refractory, 0), left - 1)
        else:
            v = new
        if fired.any():
            idx = np.flatnonzero(fired)
            spike_t.append(np.full(len(idx), t, np.int64))
            spike_id.append(idx)
        else:
            idx = np.empty(0, np.int64)
        if record_v:
            trace[t] = v
        active = np.concatenate([idx, ids[bounds[t]:bounds[t + 1]] + n])
        if not active.size:
            continue
        for d, ptr, dst, w in tables:
            starts, stops = ptr[active], ptr[active + 1]
            lengths = stops - starts
            total = int(lengths.sum())
            if total == 0:
                continue
            # positions of every edge of every active source, without a Python loop over sources
            pos = row_positions(starts, lengths)
            ring[(t + d) % ring_len] += np.bincount(dst[pos], weights=w[pos], minlength=n_types * n)
    cat = lambda parts: np.concatenate(parts) if parts else np.empty(0, np.int64)
    return ReferenceRun(times=cat(spike_t), ids=cat(spike_id), v=v, i=cur[0] if n_types == 1 else cur,
                        ticks=int(ticks), v_trace=trace)
