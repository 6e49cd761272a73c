"""NIR graphs in, :class:`~neuroemu.networks.graph.Network` out.

NIR (the Neuromorphic Intermediate Representation, package ``nir``; ``pip install
neuroemu[nir]``) is what snnTorch, Norse, Sinabs, Lava-DL, Rockpool and Spyx export. The package
is imported only when a NIR graph is read.

How a graph becomes a network. Neuron nodes become neuron groups; ``Input`` nodes become input
groups; the linear nodes between populations (Affine, Linear, Scale, Conv, Flatten, pools,
Delay) are multiplied out into explicit synapses, so a convolution becomes one edge per kernel
tap and output position. Every synapse takes one tick (the chip's minimum delay), plus what
``Delay`` nodes add: a feed-forward net's k-th neuron layer therefore lags its input by k ticks,
where a framework that propagates within a timestep shows no lag. Recurrent edges are fine
(they close through a neuron node); a loop of linear nodes alone is an error.

Discretisation with an explicit ``dt`` (seconds, as the graph's time constants) and ``x[t]``
the summed weighted input of a tick (see :mod:`neuroemu.networks.graph` for the one update equation).
``method="euler"`` (forward Euler, default; what snnTorch, Norse and Spyx exports mean):

    ==========  ==========================================================================
    IF          decay 1; weight x dt r; the Affine bias b adds dt r b per tick
    I           as IF, never fires
    LIF         decay 1 - dt/tau; weight x dt r / tau; bias dt (v_leak + r b) / tau
    LI          as LIF, never fires
    CubaLIF     i_decay 1 - dt/tau_syn; decay 1 - dt/tau_mem; weight x (dt/tau_syn) w_in
                (dt r / tau_mem); i_bias b (dt/tau_syn) w_in (dt r/tau_mem); bias dt v_leak/tau_mem
    CubaLI      as CubaLIF, never fires
    Threshold   decay 0 (no memory): fires when this tick's input exceeds the threshold
    ==========  ==========================================================================

Which ``dt``, ``method`` and reset a graph means, and whether a current's input is scaled as
above or added as it is (Norse), depend on the exporter that wrote it:
:mod:`neuroemu.networks.nir_conventions` (``exporter=``; docs/nir-exporters.md). ``tau = inf``
with ``r = inf`` (snnTorch's beta = 1) is integrate-and-fire: decay 1, gain 1.

``method="exact"`` (exponential integration, the input held over the tick): decay
exp(-dt/tau), weight x r (1 - decay) (LIF, LI), v_leak (1 - decay); CubaLIF: i_decay
exp(-dt/tau_syn), current weight (1 - i_decay) w_in, the current entering v through r (1 -
decay). IF and I are the same in both. Euler needs dt <= tau (a decay >= 0).

NIR fires when v > v_threshold (strictly); the network fires when v >= threshold, so the
threshold becomes the next float above v_threshold (``numpy.nextafter``), which is the same
test exactly. Reset ``"zero"`` sets v to the node's v_reset (0 unless the node says
otherwise); ``"subtract"`` subtracts the threshold (v_reset is then unused).

Quantisation (:func:`neuroemu.networks.quantise.quantise`, also importable from here) turns real weights
into what a chip stores, by a documented rule, and returns the quantisation error.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np

from neuroemu.errors import ConfigError
from neuroemu.networks.graph import NEURON_FIELDS, Group, Network
from neuroemu.networks.sizes import INPUT_BYTES, NEURON_BYTES, check_groups
from neuroemu.networks.nir_conventions import (EXPORTERS, NirImport, convention, dt_warnings, group_row, import_notes,
                                               recognise)

__all__ = ["load_nir", "read_nir", "NirImport", "SUPPORTED_NODES", "quantise", "QuantReport"]

NEURON_NODES = ("IF", "LIF", "CubaLIF", "LI", "I", "CubaLI", "Threshold")
LINEAR_NODES = ("Affine", "Linear", "Scale", "Conv1d", "Conv2d", "Flatten", "SumPool2d", "AvgPool2d", "Delay")
#: NIR node types :func:`load_nir` accepts (nested NIRGraph nodes are inlined)
SUPPORTED_NODES = ("Input", "Output") + LINEAR_NODES + NEURON_NODES + ("NIRGraph",)


def _import_nir():
    try:
        import nir
    except ImportError:
        raise ConfigError("reading NIR graphs needs the nir package: pip install neuroemu[nir]") from None
    return nir


# --- linear maps as sparse triplets -----------------------------------------------------------

@dataclass
class _Signal:
    """What flows out of a node: sum over triplets of weight x (spikes of source, delayed).

    ``src``: combined source index (neurons, then inputs offset by the neuron count);
    ``out``: flat index into ``shape``; ``extra``: ticks added by Delay nodes; ``bias``:
    constant per output element.
    """

    src: np.ndarray
    out: np.ndarray
    w: np.ndarray
    extra: np.ndarray
    bias: np.ndarray
    shape: tuple

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @classmethod
    def identity(cls, start: int, shape: tuple) -> "_Signal":
        n = int(np.prod(shape, dtype=np.int64))
        idx = np.arange(n, dtype=np.int64)
        return cls(idx + start, idx, np.ones(n), np.zeros(n, np.int64), np.zeros(n), tuple(shape))

    def apply(self, rows, cols, vals, out_shape, bias=None) -> "_Signal":
        """This signal through the sparse map out[rows] += vals * in[cols], plus ``bias``."""
        rows, cols, vals = (np.asarray(x) for x in (rows, cols, vals))
        order = np.argsort(cols, kind="stable")
        rows, cols, vals = rows[order], cols[order], vals[order]
        ptr = np.zeros(self.size + 1, np.int64)
        np.cumsum(np.bincount(cols, minlength=self.size), out=ptr[1:])
        lengths = ptr[self.out + 1] - ptr[self.out]
        total = int(lengths.sum())
        offsets = np.cumsum(lengths) - lengths
        pos = np.arange(total, dtype=np.int64) + np.repeat(ptr[self.out] - offsets, lengths)
        n_out = int(np.prod(out_shape, dtype=np.int64))
        new_bias = np.bincount(rows, weights=vals * self.bias[cols], minlength=n_out)
        if bias is not None:
            new_bias = new_bias + bias
        return _Signal(np.repeat(self.src, lengths), rows[pos], np.repeat(self.w, lengths) * vals[pos],
                       np.repeat(self.extra, lengths), new_bias, tuple(out_shape)).merged()

    def merged(self) -> "_Signal":
        """Sum triplets with the same (source, output, delay); drop exact zeros."""
        if not self.src.size:
            return self
        key = np.stack([self.src, self.out, self.extra])
        uniq, inv = np.unique(key, axis=1, return_inverse=True)
        w = np.bincount(inv.ravel(), weights=self.w, minlength=uniq.shape[1])
        keep = w != 0
        return _Signal(uniq[0][keep], uniq[1][keep], w[keep], uniq[2][keep], self.bias, self.shape)

    def __add__(self, other: "_Signal") -> "_Signal":
        return _Signal(np.concatenate([self.src, other.src]), np.concatenate([self.out, other.out]),
                       np.concatenate([self.w, other.w]), np.concatenate([self.extra, other.extra]),
                       self.bias + other.bias, self.shape).merged()


def _pair(x, name: str, where: str) -> tuple[int, int]:
    a = np.asarray(x).ravel()
    if a.size == 1:
        a = np.repeat(a, 2)
    if a.size != 2:
        raise ConfigError(f"{where}: {name}: needs one or two values (got {a.tolist()})")
    return int(a[0]), int(a[1])


def _conv_map(weight, in_shape, stride, padding, dilation, groups, where):
    """Triplets (rows, cols, vals) and output shape of a 2-d convolution (PyTorch semantics)."""
    c_out, c_in_g, kh, kw = weight.shape
    c_in, h, w = in_shape
    if c_in != c_in_g * groups:
        raise ConfigError(f"{where}: weight: {c_in_g} input channels x {groups} groups does not match the "
                          f"{c_in} channels arriving")
    sy, sx = _pair(stride, "stride", where)
    dy, dx = _pair(dilation, "dilation", where)
    if isinstance(padding, str):
        if padding == "valid":
            py = px = 0
        elif padding == "same":
            if (sy, sx) != (1, 1):
                raise ConfigError(f"{where}: padding: 'same' needs stride 1 (got {(sy, sx)})")
            py, px = dy * (kh - 1) // 2, dx * (kw - 1) // 2
        else:
            raise ConfigError(f"{where}: padding: must be 'same', 'valid' or integers (got {padding!r})")
    else:
        py, px = _pair(padding, "padding", where)
    if isinstance(padding, str) and padding == "same":
        ho, wo = h, w
    else:
        ho = (h + 2 * py - dy * (kh - 1) - 1) // sy + 1
        wo = (w + 2 * px - dx * (kw - 1) - 1) // sx + 1
    if ho < 1 or wo < 1:
        raise ConfigError(f"{where}: the kernel does not fit the {h} x {w} input (output {ho} x {wo})")
    co, ci, ky, kx = np.nonzero(weight)
    vals = weight[co, ci, ky, kx]
    ci_full = (co // (c_out // groups)) * c_in_g + ci
    oy, ox = np.divmod(np.arange(ho * wo), wo)
    iy = oy[None, :] * sy - py + ky[:, None] * dy
    ix = ox[None, :] * sx - px + kx[:, None] * dx
    ok = (iy >= 0) & (iy < h) & (ix >= 0) & (ix < w)
    tap, pos = np.nonzero(ok)
    rows = co[tap] * ho * wo + pos
    cols = ci_full[tap] * h * w + iy[tap, pos] * w + ix[tap, pos]
    return rows, cols, vals[tap], (c_out, ho, wo)


def _pool_map(in_shape, kernel, stride, padding, average, where):
    c, h, w = in_shape
    kh, kw = _pair(kernel, "kernel_size", where)
    sy, sx = _pair(stride, "stride", where)
    py, px = _pair(padding, "padding", where)
    weight = np.zeros((c, 1, kh, kw))
    # divide by the full window, padding included (PyTorch's count_include_pad=True default)
    weight[np.arange(c), 0] = 1.0 / (kh * kw) if average else 1.0
    return _conv_map(weight, in_shape, (sy, sx), (py, px), 1, c, where)


# --- graph traversal ------------------------------------------------------------------------------

def _inline(graph, nir, prefix: str = "") -> tuple[dict, list, set]:
    """Flatten nested NIRGraph nodes: names become ``outer.inner``; inner Input/Output pass through."""
    nodes, edges, inner_io = {}, [], set()
    entry, exit_ = {}, {}
    for name, node in graph.nodes.items():
        full = prefix + name
        if isinstance(node, nir.NIRGraph):
            sub_nodes, sub_edges, sub_io = _inline(node, nir, full + ".")
            nodes.update(sub_nodes)
            edges.extend(sub_edges)
            inner_io |= sub_io
            ins = [full + "." + k for k, v in node.nodes.items() if isinstance(v, nir.Input)]
            outs = [full + "." + k for k, v in node.nodes.items() if isinstance(v, nir.Output)]
            inner_io |= set(ins) | set(outs)
            entry[full], exit_[full] = ins, outs
        else:
            nodes[full] = node
    for a, b in graph.edges:
        a, b = prefix + a, prefix + b
        for s in exit_.get(a, [a]):
            for d in entry.get(b, [b]):
                edges.append((s, d))
    return nodes, edges, inner_io


def _params(node, names, where) -> dict[str, np.ndarray]:
    raw = {n: np.asarray(getattr(node, n), np.float64) for n in names}
    try:
        arrays = np.broadcast_arrays(*raw.values())
    except ValueError:
        raise ConfigError(f"{where}: parameters of shapes {[a.shape for a in raw.values()]} do not broadcast") from None
    out = dict(zip(raw, arrays))
    for n, a in out.items():
        if np.isnan(a).any():
            raise ConfigError(f"{where}: {n}: must be a number (got NaN)")
        # +inf is meaningful for thresholds (never fires) and time constants / r (integrate and fire)
        if np.isinf(a).any() and not (n in _MAY_BE_INF and not (a == -np.inf).any()):
            raise ConfigError(f"{where}: {n}: must be finite")
    return out


#: parameters that may be +inf: a time constant (no leak), r and w_in with it (their ratio is 1/dt)
_MAY_BE_INF = ("v_threshold", "tau", "tau_mem", "tau_syn", "r", "w_in")


def _ratio(dt, x, tau):
    """dt x / tau per element, where x = tau = inf stands for the ratio 1/dt (snnTorch's r = tau/dt)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        out = dt * x / tau
    both = np.isinf(x) & np.isinf(tau)
    return np.where(both, 1.0, out)


def _neuron(node, kind: str, dt: float, method: str, where: str, current: str = "scaled") -> dict[str, np.ndarray]:
    """Discretised parameters of one neuron node: the netgraph arrays plus input 'gain' and 'i_gain'.

    ``current``: ``"scaled"`` (NIR: a CubaLIF's input enters the current times dt/tau_syn w_in) or
    ``"unscaled"`` (times w_in, as Norse adds it).
    """
    spiking = kind in ("IF", "LIF", "CubaLIF", "Threshold")
    names = {"IF": ("r", "v_threshold", "v_reset"), "I": ("r",), "LIF": ("tau", "r", "v_leak", "v_threshold", "v_reset"),
             "LI": ("tau", "r", "v_leak"), "CubaLIF": ("tau_syn", "tau_mem", "r", "v_leak", "v_threshold", "v_reset", "w_in"),
             "CubaLI": ("tau_syn", "tau_mem", "r", "v_leak", "w_in"), "Threshold": ("threshold",)}[kind]
    p = _params(node, names, where)
    shape = next(iter(p.values())).shape
    zeros, ones = np.zeros(shape), np.ones(shape)

    def decay(tau_name):
        tau = p[tau_name]
        if (tau <= 0).any():
            raise ConfigError(f"{where}: {tau_name}: time constants must be > 0 (got {tau.min():g})")
        if method == "euler":
            if (dt > tau).any():
                raise ConfigError(f"{where}: {tau_name}: forward Euler needs dt <= tau (dt {dt:g}, smallest "
                                  f"{tau_name} {tau.min():g}); use a smaller --dt, the exporter's own (--from), "
                                  "or --method exact")
            return 1.0 - dt / tau
        return np.exp(-dt / tau)

    def lose(tau_name, x):
        """The share of the input a tick adds: dt x / tau (Euler) or (1 - exp(-dt/tau)) x (exact);
        x = tau = inf (no leak, r = tau / dt as snnTorch writes beta = 1) gives the limit, 1."""
        tau = p[tau_name]
        if method == "euler":
            got = _ratio(dt, x, tau)
        else:
            with np.errstate(invalid="ignore"):
                got = np.where(np.isinf(x) & np.isinf(tau), 1.0, -np.expm1(-dt / tau) * x)
        if x is p.get("r") and (np.isinf(tau) & np.isfinite(x)).any():
            raise ConfigError(f"{where}: {tau_name}: inf with a finite r makes the input gain dt r / tau 0 (no input "
                              "ever arrives); write r = inf too (r / tau = 1 / dt, as snnTorch does for beta = 1) "
                              "or use an IF node")
        return got

    out = dict(decay=ones, i_decay=zeros, v_reset=zeros, bias=zeros, i_bias=zeros, gain=ones, i_gain=zeros)
    if kind in ("IF", "I"):
        out["gain"] = dt * p["r"] if current == "scaled" else p["r"]  # Norse's IAF adds its input as it is
    elif kind in ("LIF", "LI"):
        d = decay("tau")
        out.update(decay=d, gain=lose("tau", p["r"]), bias=lose("tau", ones) * p["v_leak"])
    elif kind in ("CubaLIF", "CubaLI"):
        di, dv = decay("tau_syn"), decay("tau_mem")
        w_in = lose("tau_syn", p["w_in"]) if current == "scaled" else p["w_in"]
        # the current is kept in units of its effect on v (scaled by lose_v r), so it adds to v directly
        out.update(decay=dv, i_decay=di, gain=w_in * lose("tau_mem", p["r"]),
                   bias=lose("tau_mem", ones) * p["v_leak"])
        out["i_gain"] = out["gain"]
    elif kind == "Threshold":
        out.update(decay=zeros)
    if not np.isfinite(out["gain"]).all():
        raise ConfigError(f"{where}: r or w_in is inf with a finite time constant: the input gain is infinite")
    thr = p["threshold"] if kind == "Threshold" else p.get("v_threshold")
    # NIR fires on v > v_threshold; the next float up makes ">=" the same test exactly
    out["threshold"] = np.nextafter(thr, np.inf) if spiking else np.full(shape, np.inf)
    if "v_reset" in p:
        out["v_reset"] = p["v_reset"]
    out["shape"] = shape
    return out


def load_nir(source, *, dt: float | None = None, reset: str | None = None, method: str | None = None,
             exporter: str | None = None, name: str | None = None) -> Network:
    """Read a NIR graph (a file path or a ``nir.NIRGraph``) into a :class:`Network`.

    :func:`read_nir` without its import report; the arguments are the same.
    """
    return read_nir(source, dt=dt, reset=reset, method=method, exporter=exporter, name=name)[0]


def read_nir(source, *, dt: float | None = None, reset: str | None = None, method: str | None = None,
             exporter: str | None = None, name: str | None = None) -> tuple[Network, NirImport]:
    """Read a NIR graph (a file path or a ``nir.NIRGraph``): the :class:`Network` and what the import made.

    ``exporter``: the framework that wrote the graph (``nir``, ``snntorch``, ``norse``; see
    :mod:`neuroemu.networks.nir_conventions`), or None / ``"auto"``: the one the graph names or
    shows, else plain NIR. ``dt`` (the tick in the graph's time unit, > 0), ``reset`` (``"zero"``:
    to the node's v_reset, or ``"subtract"``) and ``method`` (``"euler"`` or ``"exact"``) default
    to the exporter's. Unsupported nodes raise ConfigError naming the node and its type; so do
    shapes that do not match and parameters the chip equations cannot take.
    """
    nir = _import_nir()
    if reset not in (None, "zero", "subtract"):
        raise ConfigError(f"reset: must be 'zero' or 'subtract' (got {reset!r})")
    if method not in (None, "euler", "exact"):
        raise ConfigError(f"method: must be 'euler' or 'exact' (got {method!r})")
    if dt is not None and not (isinstance(dt, (int, float)) and not isinstance(dt, bool)
                               and math.isfinite(dt) and dt > 0):
        raise ConfigError(f"dt: must be a number > 0 (the tick, in the graph's time unit) (got {dt!r})")
    if exporter is not None and exporter != "auto":
        convention(exporter, "nir import")  # an unknown name fails before the file is read
    if isinstance(source, (str, os.PathLike)):
        where = os.fspath(source)
        try:
            # nir's own type check refuses what exporters write (Norse 1.1 puts a batch dimension in its Input
            # node: [1, 64] into a 64-input Affine); the reader checks every size itself, naming the node
            graph = nir.read(source, type_check=False)
        except FileNotFoundError:
            raise ConfigError(f"{where}: no such file") from None
        except Exception as exc:  # h5py and nir raise many kinds; the user needs the file and the cause
            cause = str(exc).splitlines()[0] if str(exc) else ""
            raise ConfigError(f"{where}: not a readable NIR file ({type(exc).__name__}: {cause}); re-export it "
                              "with the framework's NIR export") from None
        default_name = os.path.splitext(os.path.basename(where))[0]
    else:
        graph, where, default_name = source, name or "nir graph", name or "nir"
    if not hasattr(graph, "nodes") or not hasattr(graph, "edges"):
        raise ConfigError(f"{where}: not a NIR graph (its top node is {type(graph).__name__}); export the whole network")
    nodes, edges, inner_io = _inline(graph, nir)
    for key, node in nodes.items():
        kind = type(node).__name__
        if kind not in SUPPORTED_NODES:
            raise ConfigError(f"{where}: node {key!r}: type {kind} is not supported; supported: "
                              f"{', '.join(SUPPORTED_NODES)}")
    preds: dict[str, list[str]] = {k: [] for k in nodes}
    for a, b in edges:
        if a not in nodes or b not in nodes:
            raise ConfigError(f"{where}: edge ({a!r}, {b!r}) names a node that does not exist")
        preds[b].append(a)
    if exporter is None or exporter == "auto":
        exporter, why = recognise(graph, nodes)
        exporter = exporter or "nir"
    else:
        why = "chosen"
    conv = convention(exporter, where)
    if dt is None:
        if conv.dt is None:
            raise ConfigError(f"{where}: dt: the graph does not say its time step: it needs --dt (the tick in the "
                              f"graph's time unit) or the exporter that wrote it (--from {'|'.join(EXPORTERS)})")
        dt = conv.dt
    dt = float(dt)
    reset = reset or conv.reset
    method = method or conv.method

    # ids: inputs and neuron groups in the graph's node order
    groups, in_groups, pops, params = [], [], {}, {}
    for key, node in nodes.items():
        kind = type(node).__name__
        if kind == "Input" and key not in inner_io:
            shape = tuple(int(x) for x in np.asarray(node.input_type["input"]).ravel())
            in_groups.append(Group(key, sum(g.size for g in in_groups), int(np.prod(shape, dtype=np.int64)), "input"))
            pops[key] = ("input", shape)
        elif kind in NEURON_NODES:
            q = _neuron(node, kind, dt, method, f"{where}: node {key!r} ({kind})", conv.current_input)
            size = int(np.prod(q["shape"], dtype=np.int64))
            groups.append(Group(key, sum(g.size for g in groups), size, kind))
            pops[key] = ("neuron", q["shape"])
            params[key] = q
    # declared shapes (an Input node's above all) refused before any array is built for them
    check_groups(where, groups, "neurons", NEURON_BYTES)
    check_groups(where, in_groups, "inputs", 5 * INPUT_BYTES)  # an input's signal: src, out, w, extra, bias
    n = sum(g.size for g in groups)
    start = {g.name: g.start for g in groups} | {g.name: n + g.start for g in in_groups}

    memo: dict[str, _Signal] = {}
    visiting: set[str] = set()

    def signal(key: str) -> _Signal:
        if key in pops:
            return _Signal.identity(start[key], pops[key][1])
        if key in memo:
            return memo[key]
        if key in visiting:
            raise ConfigError(f"{where}: node {key!r}: a loop through linear nodes only (no neuron on it)")
        visiting.add(key)
        node, kind, here = nodes[key], type(nodes[key]).__name__, f"{where}: node {key!r} ({type(nodes[key]).__name__})"
        if not preds[key]:
            raise ConfigError(f"{here}: has no input edge")
        ins = [signal(p) for p in preds[key]]
        for p, s in zip(preds[key][1:], ins[1:]):
            if s.size != ins[0].size:
                raise ConfigError(f"{here}: inputs of sizes {ins[0].size} ({preds[key][0]!r}) and {s.size} ({p!r}) "
                                  "cannot be summed")
        x = ins[0]
        for s in ins[1:]:
            x = x + _Signal(s.src, s.out, s.w, s.extra, s.bias, x.shape)
        memo[key] = _linear(node, kind, x, float(dt), here)
        visiting.discard(key)
        return memo[key]

    arrays = {f: [] for f in NEURON_FIELDS}
    src, dst, weight, delay = [], [], [], []
    for g in groups:
        q = params[g.name]
        incoming = [signal(p) for p in preds[g.name]]
        total = None
        for p, s in zip(preds[g.name], incoming):
            if s.size != g.size:
                raise ConfigError(f"{where}: node {g.name!r} ({g.model}): {g.size} neurons but {s.size} values "
                                  f"arrive from {p!r}")
            total = s if total is None else total + _Signal(s.src, s.out, s.w, s.extra, s.bias, total.shape)
        gain = q["gain"].ravel()
        bias = q["bias"].ravel().copy()
        i_bias = np.zeros(g.size)
        if total is not None:
            src.append(total.src)
            dst.append(total.out + g.start)
            weight.append(total.w * gain[total.out])
            delay.append(total.extra + 1)
            if g.model in ("CubaLIF", "CubaLI"):
                i_bias = total.bias * gain  # a constant input drives the current, like any input
            else:
                bias = bias + total.bias * gain
        values = dict(decay=q["decay"], i_decay=q["i_decay"], threshold=q["threshold"], v_reset=q["v_reset"],
                      bias=bias, i_bias=i_bias, reset_subtract=np.full(g.size, reset == "subtract"))
        for f in NEURON_FIELDS:
            arrays[f].append(np.asarray(values[f]).ravel())

    outputs = []
    for key, node in nodes.items():
        if type(node).__name__ != "Output" or key in inner_io:
            continue
        for p in preds[key]:
            s = signal(p)
            if s.src.size and s.src.max() >= n:
                raise ConfigError(f"{where}: node {key!r} (Output): reads input {p!r} directly; an output must "
                                  "come from neurons")
            exact = (s.src.size == s.size and np.all(s.w == 1) and not s.bias.any() and not s.extra.any()
                     and np.array_equal(np.sort(s.out), np.arange(s.size)))
            if not exact:
                raise ConfigError(f"{where}: node {key!r} (Output): fed through a weighted node from {p!r}; a chip "
                                  "reads neurons, so end the graph on a neuron node (e.g. LI or IF)")
            outputs.append(s.src[np.argsort(s.out)])
    cat = lambda parts, dt_: np.concatenate(parts).astype(dt_) if parts else np.empty(0, dt_)
    src_all = cat(src, np.int64)
    is_input = src_all >= n
    net = Network(groups=tuple(groups), input_groups=tuple(in_groups),
                  **{f: cat(v, bool if f == "reset_subtract" else np.float64) for f, v in arrays.items()},
                  src=np.where(is_input, src_all - n, src_all), dst=cat(dst, np.int64), weight=cat(weight, np.float64),
                  delay=cat(delay, np.int64), src_input=is_input, outputs=cat(outputs, np.int64),
                  name=name or default_name, where=where)
    def fed_by(key: str) -> list[str]:
        """The linear nodes between a population and the populations before it, nearest first."""
        seen, todo = [], list(preds[key])
        while todo:
            k = todo.pop(0)
            if k not in pops and k not in seen:
                seen.append(k)
                todo += preds[k]
        return seen

    rows = [dict(group_row(g.name, g.model, g.size, params[g.name], net.threshold[g.start:g.stop]),
                 fed_by=fed_by(g.name)) for g in groups]
    report = NirImport(where, conv.name, why, dt, method, reset, conv.current_input, tuple(rows),
                       import_notes(conv, net, reset), tuple(dt_warnings(rows, dt, where, conv)))
    return net, report


def _linear(node, kind: str, x: _Signal, dt: float, here: str) -> _Signal:
    """One linear node applied to the signal ``x`` arriving at it."""
    if kind in ("Input", "Output", "Flatten"):  # inner Input/Output pass through; Flatten is C order
        if kind == "Flatten" and node.output_type.get("output") is not None:
            return _Signal(x.src, x.out, x.w, x.extra, x.bias, tuple(int(v) for v in node.output_type["output"]))
        return _Signal(x.src, x.out, x.w, x.extra, x.bias, (x.size,))
    if kind in ("Affine", "Linear"):
        w = np.asarray(node.weight, np.float64)
        if w.ndim != 2:
            raise ConfigError(f"{here}: weight: must be a 2-d (out, in) matrix (got shape {w.shape})")
        if w.shape[1] != x.size:
            raise ConfigError(f"{here}: weight: {w.shape[1]} inputs but {x.size} values arrive")
        rows, cols = np.nonzero(w)
        b = np.asarray(node.bias, np.float64).ravel() if kind == "Affine" and node.bias is not None else None
        if b is not None and b.size != w.shape[0]:
            raise ConfigError(f"{here}: bias: needs {w.shape[0]} values (got {b.size})")
        return x.apply(rows, cols, w[rows, cols], (w.shape[0],), b)
    if kind == "Scale":
        s = np.broadcast_to(np.asarray(node.scale, np.float64).ravel(), (x.size,))
        idx = np.flatnonzero(s)
        return x.apply(idx, idx, s[idx], x.shape)
    if kind == "Delay":
        d = np.broadcast_to(np.asarray(node.delay, np.float64).ravel(), (x.size,)) / dt
        ticks = np.rint(d)
        if (ticks < 0).any() or not np.allclose(d, ticks, rtol=0, atol=1e-6):
            raise ConfigError(f"{here}: delay: must be whole multiples of dt {dt:g} and >= 0 "
                              f"(got {np.asarray(node.delay).ravel()[:4].tolist()})")
        return _Signal(x.src, x.out, x.w, x.extra + ticks.astype(np.int64)[x.out], x.bias, x.shape).merged()
    w_bias = None
    if kind in ("Conv1d", "Conv2d"):
        w = np.asarray(node.weight, np.float64)
        if kind == "Conv1d":
            w = w[:, :, None, :]
            shape = (w.shape[1] * node.groups, 1, x.size // (w.shape[1] * node.groups))
            stride, dil = (1, int(np.ravel(node.stride)[0])), (1, int(np.ravel(node.dilation)[0]))
            pad = node.padding if isinstance(node.padding, str) else (0, int(np.ravel(node.padding)[0]))
        else:
            shape = _shape3(x, node, w.shape[1] * node.groups, here)
            stride, dil, pad = node.stride, node.dilation, node.padding
        rows, cols, vals, out_shape = _conv_map(w, shape, stride, pad, dil, node.groups, here)
        if node.bias is not None and np.size(node.bias):
            w_bias = np.repeat(np.broadcast_to(np.asarray(node.bias, np.float64).ravel(), (out_shape[0],)),
                               out_shape[1] * out_shape[2])
        if kind == "Conv1d":
            out_shape = (out_shape[0], out_shape[2])
    else:  # SumPool2d, AvgPool2d
        shape = _shape3(x, node, None, here)
        rows, cols, vals, out_shape = _pool_map(shape, node.kernel_size, node.stride, node.padding,
                                                kind == "AvgPool2d", here)
    if int(np.prod(shape)) != x.size:
        raise ConfigError(f"{here}: expects an input of shape {shape} but {x.size} values arrive")
    return x.apply(rows, cols, vals, out_shape, w_bias)


def _shape3(x: _Signal, node, channels, here) -> tuple[int, int, int]:
    """The (C, H, W) shape arriving at a conv or pool node (a leading batch dimension of 1, as
    Norse writes into its Input node, is dropped)."""
    if len(x.shape) == 4 and x.shape[0] == 1:
        return tuple(int(v) for v in x.shape[1:])
    if len(x.shape) == 3:
        return tuple(int(v) for v in x.shape)
    t = getattr(node, "input_type", None) or {}
    given = t.get("input")
    if given is not None and len(np.ravel(given)) == 3:
        return tuple(int(v) for v in np.ravel(given))
    if channels and getattr(node, "input_shape", None) is not None:
        h, w = (int(v) for v in np.ravel(node.input_shape))
        return channels, h, w
    raise ConfigError(f"{here}: cannot tell the (channels, height, width) of its input (arriving shape "
                      f"{x.shape}); give the node an input_type or input_shape")


# quantisation lives in its own module; imported here for the callers that know it from here
from neuroemu.networks.quantise import QuantReport, quantise  # noqa: E402,F401
