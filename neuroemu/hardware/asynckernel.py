"""The window kernel of the async engine: C (hardware/async_kernel.c) and its Python twin.

A kernel owns nothing but counters and output buffers: the neuron state and the tables are
numpy arrays in a :class:`KernelArrays`, shared with :mod:`neuroemu.engine.asyncsim`. One call,
:meth:`process`, takes a whole window of queue events (numpy arrays in (time, priority, seq)
order) and returns the events to queue and the spikes fired, as numpy arrays -- one crossing
into C per window, never per event (DESIGN: "One kernel").

Inside a window the kernel works through the events one by one in time order, so a neuron
sees its own events (inputs, its threshold checks, its spikes) in exactly the order they
happen; checks that come due before the window's end are kept in a small heap and merged in.
The Python twin, :class:`PyKernel`, does the same IEEE float64 operations in the same order
(libm ``exp``/``log`` through :mod:`math`), so the two give bit-identical records (a test).

Backends are picked like the tick kernels: ``"c"`` or ``"numpy"`` (the Python twin), from the
``tick_backend`` run option, else ``$NEUROEMU_TICK``, else ``"c"``.
"""
from __future__ import annotations

import heapq
import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from neuroemu.errors import NeuroEmuError
from neuroemu.backends import choose_backend

try:
    from neuroemu.hardware._async_kernel import ffi as _ffi
    from neuroemu.hardware._async_kernel import lib as _lib
except ImportError:  # pragma: no cover - reported when asked for
    _ffi = _lib = None

#: event kinds: an input to one neuron, a spike reaching a diffuser, a threshold check
KIND_INPUT, KIND_ARRIVAL, KIND_CHECK = 1, 2, 3
#: queue priorities at equal times: inputs, then arrivals (by source neuron), then checks
INPUT_PRIO = -1
CHECK_PRIO = 2**31 - 1
#: "no time": a neuron that will never reach threshold without input
NEVER = 2**63 - 1

ASYNC_BACKENDS = ("c", "numpy")


def choose_async_backend(name: str | None = None) -> str:
    """The kernel to use: ``name``, else $NEUROEMU_TICK, else "c"."""
    return choose_backend(name, "NEUROEMU_TICK", ASYNC_BACKENDS, _lib is not None, "async kernel", "numpy")



def weight_bits(w: float) -> int:
    """A float64 weight as the int64 payload of a queue event (its raw bits)."""
    return int(np.array(w, np.float64).view(np.int64))


@dataclass
class KernelArrays:
    """Neuron state, parameters and tables of one network (see neuroemu.engine.asyncsim for the model).

    ``u[i] = (V_i - binf[i]) * exp((t - epoch) / tau_ps)`` is constant between inputs; inputs
    before ``r[i]`` (the end of the refractory period) are ignored; ``ver``/``pend`` are the
    version and time of the neuron's live threshold check. ``tgt`` holds ``k_targets`` diffuser
    centres (global neuron ids) per neuron, ``route`` its route id, ``lat`` the chip-to-chip
    latency table and ``row_dy/lo/hi`` the diffuser's rows.
    """

    nc: int
    side: int
    n_chips: int
    k_targets: int
    wrap: bool
    tau_ps: float
    theta: float
    v_reset: float
    ref_ps: int
    spike_weight: float
    u: np.ndarray
    r: np.ndarray
    binf: np.ndarray
    tgt: np.ndarray
    route: np.ndarray
    route_spikes: np.ndarray
    lat: np.ndarray
    row_dy: np.ndarray
    row_lo: np.ndarray
    row_hi: np.ndarray
    epoch: int = 0

    def __post_init__(self):
        n = len(self.u)
        self.ver = np.zeros(n, np.int64)
        self.pend = np.full(n, NEVER, np.int64)

    @property
    def n(self) -> int:
        """Neurons."""
        return len(self.u)

    def potential(self, t: int) -> np.ndarray:
        """Every neuron's V at time ``t`` ps (>= the last processed event), with no input after it."""
        v = self.binf + self.u * np.exp((self.epoch - t) / self.tau_ps)
        return np.where(t < self.r, self.v_reset, v)


class Output(NamedTuple):
    """What one kernel call produced (views valid until the next call)."""

    time: np.ndarray
    kind: np.ndarray
    target: np.ndarray
    payload: np.ndarray
    prio: np.ndarray
    spike_time: np.ndarray
    spike_neuron: np.ndarray


COUNTERS = ("sops", "spikes", "arrivals", "inputs", "checks", "stale", "failed")


class CKernel:
    """The C window kernel (one call per window)."""

    backend = "c"

    def __init__(self, a: KernelArrays):
        choose_async_backend("c")
        self.a = a
        s = _ffi.new("ak_state *")
        self._keep = []

        def ptr(ctype, arr):
            buf = _ffi.from_buffer(ctype, arr)
            self._keep.append(buf)
            return buf

        s.n, s.nc, s.side, s.n_chips = a.n, a.nc, a.side, a.n_chips
        s.k_targets, s.wrap, s.n_rows = a.k_targets, int(a.wrap), len(a.row_dy)
        s.tau_ps, s.theta, s.v_reset, s.ref_ps = a.tau_ps, a.theta, a.v_reset, a.ref_ps
        s.epoch, s.spike_weight = a.epoch, weight_bits(a.spike_weight)
        s.u, s.r, s.binf = ptr("double[]", a.u), ptr("int64_t[]", a.r), ptr("double[]", a.binf)
        s.ver, s.pend = ptr("int64_t[]", a.ver), ptr("int64_t[]", a.pend)
        s.tgt, s.route = ptr("int32_t[]", a.tgt), ptr("int32_t[]", a.route)
        s.route_spikes, s.lat = ptr("int64_t[]", a.route_spikes), ptr("int64_t[]", a.lat)
        s.row_dy, s.row_lo, s.row_hi = (ptr("int32_t[]", a.row_dy), ptr("int32_t[]", a.row_lo),
                                        ptr("int32_t[]", a.row_hi))
        self._s = _ffi.gc(s, _lib.ak_release)
        self._caps = (-1, -1)
        self._views = ()

    def _check(self, rc: int) -> None:
        if rc == _lib.AK_ENOMEM:
            raise MemoryError("out of memory in the async kernel")
        if rc:
            raise NeuroEmuError("async kernel: an event's target is out of range or its kind unknown")

    def _output(self) -> Output:
        s = self._s
        caps = (s.out_cap, s.spk_cap)
        if caps != self._caps:  # the C buffers moved (grew): view them afresh
            self._caps = caps

            def view(p, dtype, cap):
                if cap == 0:
                    return np.empty(0, dtype)
                return np.frombuffer(_ffi.buffer(p, cap * np.dtype(dtype).itemsize), dtype)

            self._views = (view(s.out_time, np.int64, caps[0]), view(s.out_kind, np.int32, caps[0]),
                           view(s.out_target, np.int64, caps[0]), view(s.out_payload, np.int64, caps[0]),
                           view(s.out_prio, np.int32, caps[0]), view(s.spk_time, np.int64, caps[1]),
                           view(s.spk_neuron, np.int64, caps[1]))
        n, m = s.out_n, s.spk_n
        v = self._views
        return Output(v[0][:n], v[1][:n], v[2][:n], v[3][:n], v[4][:n], v[5][:m], v[6][:m])

    def process(self, batch, window_end: int) -> Output:
        """Handle one window's events; return the events for later and the spikes fired."""
        n = len(batch.time)
        fb = _ffi.from_buffer
        self._check(_lib.ak_process(self._s, n, fb("int64_t[]", batch.time), fb("int32_t[]", batch.priority),
                                    fb("int32_t[]", batch.kind), fb("int64_t[]", batch.target),
                                    fb("int64_t[]", batch.payload), window_end))
        return self._output()

    def predict_all(self) -> Output:
        """The first threshold check of every neuron."""
        self._check(_lib.ak_predict_all(self._s))
        return self._output()

    def rebase(self, new_epoch: int) -> None:
        """Move the epoch (every u rescaled)."""
        _lib.ak_rebase(self._s, new_epoch)
        self.a.epoch = new_epoch

    @property
    def epoch(self) -> int:
        """The current epoch (ps)."""
        return self._s.epoch

    def counters(self) -> dict[str, int]:
        """Counts so far: SOPs, spikes, arrivals, inputs, checks (stale, failed among them)."""
        return {k: int(getattr(self._s, k)) for k in COUNTERS}


class PyKernel:
    """The Python twin of the C kernel: the same steps, for reading and for checking the C one."""

    backend = "numpy"

    def __init__(self, a: KernelArrays):
        self.a = a
        self._c = dict.fromkeys(COUNTERS, 0)
        self._w = a.spike_weight
        self._wbits = weight_bits(a.spike_weight)

    # --- outputs ---
    def _reset(self) -> None:
        self._out: list[tuple[int, int, int, int, int]] = []
        self._spk: list[tuple[int, int]] = []
        self._heap: list[tuple[int, int, int, int]] = []
        self._seq = 0

    def _output(self) -> Output:
        o = np.array(self._out, np.int64).reshape(-1, 5)
        sp = np.array(self._spk, np.int64).reshape(-1, 2)
        return Output(o[:, 0].copy(), o[:, 1].astype(np.int32), o[:, 2].copy(), o[:, 3].copy(),
                      o[:, 4].astype(np.int32), sp[:, 0].copy(), sp[:, 1].copy())

    # --- the neuron, as in async_kernel.c ---
    def _predict(self, i: int) -> int:
        a = self.a
        d = float(a.binf[i]) - a.theta
        if not d > 0.0:
            return NEVER
        x = -float(a.u[i]) / d
        r = int(a.r[i])
        if not x > 0.0:
            return r
        dt = a.tau_ps * math.log(x)
        if dt > 4.0e18:
            return NEVER
        if dt < -4.0e18:
            return r
        tp = a.epoch + math.ceil(dt)
        return r if tp < r else tp

    def _schedule(self, i: int, tp: int, window_end: int) -> None:
        if tp == NEVER:
            return
        a = self.a
        a.ver[i] += 1
        a.pend[i] = tp
        if tp < window_end:
            heapq.heappush(self._heap, (tp, self._seq, i, int(a.ver[i])))
            self._seq += 1
        else:
            self._out.append((tp, KIND_CHECK, i, int(a.ver[i]), CHECK_PRIO))

    def _spike(self, i: int, t: int, window_end: int) -> None:
        a = self.a
        self._c["spikes"] += 1
        self._spk.append((t, i))
        a.ver[i] += 1
        a.pend[i] = NEVER
        rr = t + a.ref_ps
        a.r[i] = rr
        a.u[i] = (a.v_reset - float(a.binf[i])) * math.exp((rr - a.epoch) / a.tau_ps)
        a.route_spikes[a.route[i]] += 1
        src = i // a.nc
        for k in range(a.k_targets):
            c = int(a.tgt[i * a.k_targets + k])
            when = t + int(a.lat[src * a.n_chips + c // a.nc])
            self._out.append((when, KIND_ARRIVAL, c, self._wbits, i))
        self._schedule(i, self._predict(i), window_end)

    def _excite(self, i: int, t: int, g: float, window_end: int) -> None:
        a = self.a
        if float(a.u[i]) >= (a.theta - float(a.binf[i])) * g:
            self._spike(i, t, window_end)
            return
        tp = self._predict(i)
        if tp < int(a.pend[i]):
            self._schedule(i, tp, window_end)

    def _diffuse(self, t: int, centre: int, w: float, window_end: int) -> None:
        a = self.a
        side, nc = a.side, a.nc
        chip, pos = divmod(centre, nc)
        r0, c0 = divmod(pos, side)
        g = math.exp((t - a.epoch) / a.tau_ps)
        c = w * g
        for dy, dlo, dhi in zip(a.row_dy.tolist(), a.row_lo.tolist(), a.row_hi.tolist()):
            rr, lo, hi = r0 + dy, c0 + dlo, c0 + dhi
            if a.wrap:
                rr %= side
                if lo < 0:
                    segs = [(lo + side, side - 1), (0, hi)]
                elif hi >= side:
                    segs = [(lo, side - 1), (0, hi - side)]
                else:
                    segs = [(lo, hi)]
            else:
                if rr < 0 or rr >= side:
                    continue
                lo, hi = max(lo, 0), min(hi, side - 1)
                if lo > hi:
                    continue
                segs = [(lo, hi)]
            base = chip * nc + rr * side
            for lo, hi in segs:
                self._c["sops"] += hi - lo + 1
                sl = slice(base + lo, base + hi + 1)
                live = t >= a.r[sl]
                if w > 0.0:
                    for x in np.flatnonzero(live).tolist():
                        a.u[base + lo + x] += c
                        self._excite(base + lo + x, t, g, window_end)
                else:
                    a.u[sl][live] += c

    def _handle(self, t: int, kind: int, target: int, payload: int, window_end: int) -> None:
        a = self.a
        if not 0 <= target < a.n:
            raise NeuroEmuError("async kernel: an event's target is out of range or its kind unknown")
        if kind == KIND_CHECK:
            self._c["checks"] += 1
            if payload != int(a.ver[target]):
                self._c["stale"] += 1
                return
            a.pend[target] = NEVER
            tp = self._predict(target)
            if tp <= t:
                self._spike(target, t, window_end)
            else:
                self._c["failed"] += 1
                self._schedule(target, tp, window_end)
            return
        w = float(np.array(payload, np.int64).view(np.float64))
        if kind == KIND_ARRIVAL:
            self._c["arrivals"] += 1
            self._diffuse(t, target, w, window_end)
        elif kind == KIND_INPUT:
            self._c["inputs"] += 1
            self._c["sops"] += 1
            if t < int(a.r[target]):
                return
            g = math.exp((t - a.epoch) / a.tau_ps)
            a.u[target] += w * g
            if w > 0.0:
                self._excite(target, t, g, window_end)
        else:
            raise NeuroEmuError("async kernel: an event's target is out of range or its kind unknown")

    # --- the interface ---
    def process(self, batch, window_end: int) -> Output:
        """Handle one window's events; return the events for later and the spikes fired."""
        self._reset()
        times, kinds = batch.time.tolist(), batch.kind.tolist()
        targets, payloads = batch.target.tolist(), batch.payload.tolist()
        j, n = 0, len(times)
        while True:
            if j < n and (not self._heap or times[j] <= self._heap[0][0]):
                self._handle(times[j], kinds[j], targets[j], payloads[j], window_end)
                j += 1
            elif self._heap:
                t, _, i, ver = heapq.heappop(self._heap)
                self._handle(t, KIND_CHECK, i, ver, window_end)
            else:
                break
        return self._output()

    def predict_all(self) -> Output:
        """The first threshold check of every neuron."""
        self._reset()
        for i in range(self.a.n):
            tp = self._predict(i)
            self.a.pend[i] = NEVER
            self._schedule(i, tp, -(2**63))
        return self._output()

    def rebase(self, new_epoch: int) -> None:
        """Move the epoch (every u rescaled)."""
        a = self.a
        a.u *= math.exp((a.epoch - new_epoch) / a.tau_ps)
        a.epoch = new_epoch

    @property
    def epoch(self) -> int:
        """The current epoch (ps)."""
        return self.a.epoch

    def counters(self) -> dict[str, int]:
        """Counts so far: SOPs, spikes, arrivals, inputs, checks (stale, failed among them)."""
        return dict(self._c)


def make_kernel(arrays: KernelArrays, backend: str | None = None):
    """The window kernel over ``arrays``: C, or the Python twin (see :func:`choose_async_backend`)."""
    return CKernel(arrays) if choose_async_backend(backend) == "c" else PyKernel(arrays)


#: the largest crossbar (axons x neurons per core) the C kernel gets as a bitmap (a bit per pair);
#: larger ones are scanned row by row in the ordered pass
_ROW_BITS_MAX = 1 << 25


def pack_row_bits(row_ptr: np.ndarray, row_neurons: np.ndarray, n_axons: int, npc: int) -> np.ndarray | None:
    """The crossbar as bits [n_axons, ceil(npc / 8)], bit j (little-endian) of row a set when row a
    reaches its core's neuron j (``ak_pack_row_bits``: one pass in C); None when a row reaches one
    neuron twice (the row scan counts it twice, a bit once: the scan is kept) or an id is >= npc."""
    if row_neurons.dtype.itemsize not in (1, 2) or len(row_ptr) != n_axons + 1 or row_ptr.dtype != np.int64:
        raise NeuroEmuError("internal: pack_row_bits takes int64 row_ptr and 8- or 16-bit row_neurons")
    bits, rn, fb = np.zeros((n_axons, (npc + 7) // 8), np.uint8), np.ascontiguousarray(row_neurons), _ffi.from_buffer
    twice = _lib.ak_pack_row_bits(n_axons, fb("int64_t[]", np.ascontiguousarray(row_ptr)),
                                  fb("uint8_t[]", rn.view(np.uint8)), rn.dtype.itemsize, npc, fb("uint8_t[]", bits))
    return bits if twice == 0 else None


def _line_aligned(arr: np.ndarray) -> np.ndarray:
    """A contiguous copy of ``arr`` starting on a 64-byte cache line (numpy aligns to 16 bytes)."""
    arr = np.ascontiguousarray(arr)
    raw = np.empty(arr.nbytes + 64, np.uint8)
    lead = -raw.ctypes.data % 64
    out = raw[lead:lead + arr.nbytes].view(arr.dtype).reshape(arr.shape)
    out[...] = arr
    return out

#: the C kernel's per-neuron scratch record (ak_tn_nx in async_kernel.h), 64 bytes
_NX_DTYPE = np.dtype([("pos", "<i8"), ("neg", "<i8"), ("last_t", "<i8"), ("st0", "<i8"), ("st1", "<i8"),
                      ("gt", "<i8"), ("gs", "<i8"), ("ninst", "<i4"), ("gsyn", "u1"), ("head", "u1"),
                      ("pad", "u1", (2,))])


class TrueNorthWindowC:
    """The C window kernel of TrueNorth neurons read in continuous time (``ak_tn_run``: a whole window per call).

    It works on the state arrays of a :class:`neuroemu.engine.asyncmodels.TrueNorthCT`-like
    ``model`` (int64, in units of 1/T) and the engine's ``pend`` (each neuron's next crossing); the
    numpy paths of the model are its twin, bit for bit (integer arithmetic).
    """

    backend = "c"

    def __init__(self, model, pend: np.ndarray):
        choose_async_backend("c")
        self._keep = []
        s = _ffi.new("ak_tn *")

        def ptr(ctype, arr):
            if not arr.flags.c_contiguous:
                raise NeuroEmuError("internal: async kernel arrays must be contiguous")
            buf = _ffi.from_buffer(ctype, arr)
            self._keep.append((arr, buf))
            return buf

        n = len(model.v)
        s.n, s.T, s.lo, s.hi = n, model.T, int(model.lo), int(model.hi)
        s.mask_any = int(model.mask_any)
        s.drift, s.low, s.floor_v = ptr("int64_t[]", model.drift), ptr("int64_t[]", model.low), ptr("int64_t[]", model.floor)
        s.alpha, s.mask = ptr("int64_t[]", model.alpha), ptr("int64_t[]", model.mask)
        s.reset_mode, s.reset_value = ptr("int64_t[]", model.reset_mode), ptr("int64_t[]", model.reset_value)
        self._enabled = np.ascontiguousarray(model.enabled, np.uint8)
        s.enabled = ptr("uint8_t[]", self._enabled)
        s.threshold_keys = ptr("uint64_t[]", model.threshold_keys) if model.mask_any else _ffi.NULL
        s.v, s.t_last, s.ref = ptr("int64_t[]", model.v), ptr("int64_t[]", model.t_last), ptr("int64_t[]", model.ref)
        s.n_upd, s.theta = ptr("int64_t[]", model.n_upd), ptr("int64_t[]", model.theta)
        s.pend = ptr("int64_t[]", pend)
        self._s = s
        self._counts = np.zeros(3, np.int64)

    def bind_network(self, arrays, model, type_w: np.ndarray | None, row_w: np.ndarray | None,
                     queued: np.ndarray, end_ps: int) -> None:
        """Give the kernel the crossbar, the stochastic leak and the engine's queued-check times, for
        :meth:`run` (the whole window in C)."""
        x = _ffi.new("ak_tn_run_scratch *")
        n = len(model.v)

        def ptr(ctype, arr):
            arr = np.ascontiguousarray(arr)
            buf = _ffi.from_buffer(ctype, arr)
            self._keep.append((arr, buf))
            return buf

        if _NX_DTYPE.itemsize != _ffi.sizeof("ak_tn_nx"):
            raise NeuroEmuError("internal: ak_tn_nx layout differs from its numpy twin")
        # one 64-byte record per neuron (ak_tn_nx), aligned to the cache line so that an input
        # touches one line, not two (numpy aligns to 16 bytes only)
        nx = _line_aligned(np.zeros(n, _NX_DTYPE))
        nx["last_t"] = nx["gt"] = -1
        nx["st0"] = nx["st1"] = np.iinfo(np.int64).max
        x.nx = _ffi.cast("ak_tn_nx *", ptr("uint8_t[]", nx.view(np.uint8)))
        x.flag = ptr("uint8_t[]", np.zeros(n, np.uint8))
        x.row_ptr = ptr("int64_t[]", arrays.row_ptr.astype(np.int64))
        rn = arrays.row_neurons
        if rn.dtype.itemsize not in (1, 2):
            raise NeuroEmuError("internal: row_neurons must be 8- or 16-bit")
        x.row_neurons = ptr("uint8_t[]", rn.view(np.uint8))
        x.neuron_bytes = rn.dtype.itemsize
        x.axon_type = ptr("int8_t[]", arrays.axon_type.astype(np.int8))
        x.n_types = arrays.weights.shape[1]
        # aligned: a neuron's row of type weights (4 x 8 bytes) then never straddles two lines
        x.type_w = ptr("int64_t[]", _line_aligned(type_w)) if type_w is not None else _ffi.NULL
        x.row_w = ptr("int64_t[]", row_w) if row_w is not None else _ffi.NULL
        x.axons_per_core, x.neurons_per_core = arrays.axons_per_core, arrays.neurons_per_core
        sto = model.stochastic.astype(np.int64)
        x.n_sto = len(sto)
        x.sto = ptr("int64_t[]", sto if len(sto) else np.zeros(1, np.int64))
        x.sto_mag = ptr("int64_t[]", model.step_mag[sto] if len(sto) else np.zeros(1, np.int64))
        x.step_w = ptr("int64_t[]", model.step_sign * model.T)
        x.sto_off_keys = ptr("uint64_t[]", model.offset_keys if len(sto) else np.zeros(1, np.uint64))
        # the leak steps' draws in vector lanes (tn_steps): a neuron steps when its byte is <= lim;
        # a run of neurons (every neuron, the usual case) reads its bytes in sequence
        lim = np.zeros(len(sto) + 64, np.uint8)  # + 64: read 64 at a time
        lim[:len(sto)] = np.minimum(model.step_mag[sto], 256) - 1
        x.sto_lim = ptr("uint8_t[]", lim)
        x.sto_run = int(len(sto) > 0 and int(sto[-1]) - int(sto[0]) == len(sto) - 1)
        span = int(sto[-1] - sto[0]) if len(sto) else 0
        x.step_buf = ptr("uint64_t[]", np.empty(4 * len(sto) + span // 8 + 64, np.uint64))
        x.leak_key = int(model.key) & ((1 << 64) - 1)
        x.neuron_offset = int(getattr(model, "neuron_offset", 0))
        if not queued.flags.c_contiguous or queued.dtype != np.int64:
            raise NeuroEmuError("internal: queued must be contiguous int64")
        x.queued = _ffi.from_buffer("int64_t[]", queued)
        self._keep.append((queued, x.queued))
        x.end = int(end_ps)
        x.seen = ptr("int64_t[]", np.full(arrays.n_axons, -1, np.int64))
        x.ulist = ptr("int64_t[]", np.zeros(n, np.int64))
        x.route_axon = x.route_ps = x.out_t = x.out_ax = _ffi.NULL
        x.row_bits = _ffi.NULL
        npc, n_axons = arrays.neurons_per_core, arrays.n_axons
        if row_w is None and n_axons * npc <= _ROW_BITS_MAX:  # the crossbar as bits, for the ordered pass
            bits = pack_row_bits(np.asarray(arrays.row_ptr, np.int64), rn, n_axons, npc)
            if bits is not None:
                x.row_bits = ptr("uint8_t[]", bits)
        self._x = x
        self._counts = np.zeros(6, np.int64)
        self._out_t = self._out_ax = None
        self._touched = np.empty(n + 1, np.int64)  # + 1: the kernel's branch-free append writes one past
        self._spk_n, self._spk_t = np.empty(n, np.int64), np.empty(n, np.int64)
        fb = _ffi.from_buffer  # the output buffers live as long as the kernel: point at them once
        self._out = (fb("int64_t[]", self._touched), len(self._touched), fb("int64_t[]", self._spk_n),
                     fb("int64_t[]", self._spk_t), fb("int64_t[]", self._counts))
        self._bind_counts(x, arrays, type_w, int(model.input_scale), n, ptr)

    def _bind_counts(self, x, arrays, type_w, scale: int, n: int, ptr) -> None:
        """Pass 1 by byte counts (ak_tn_run, tn_rows_counted) where the bitmap and per-type weights
        are bound and every weight is a whole multiple of the scale (units of 1/T) within int16:
        the type weights / scale split by sign, type-major per core; else the path stays off."""
        x.cnt_wpos = x.cnt_wneg = x.cnt_spread = x.cnt = x.acc_p = x.acc_n = x.acc_c = _ffi.NULL
        tw = None if type_w is None else np.asarray(type_w).reshape(n, -1)
        if (x.row_bits == _ffi.NULL or tw is None or tw.dtype.kind != "i" or scale < 1 or tw.shape[1] > 64
                or np.any(tw % scale)):
            return
        w = tw // scale
        wmax = int(np.abs(w).max(initial=0))
        if wmax >= 1 << 15:
            return
        npc, nt = x.neurons_per_core, tw.shape[1]
        w = np.concatenate([w, np.zeros((-n % npc, nt), w.dtype)]).reshape(-1, npc, nt).transpose(0, 2, 1)
        x.cnt_wpos = ptr("int32_t[]", np.maximum(w, 0).astype(np.int32))
        x.cnt_wneg = ptr("int32_t[]", np.minimum(w, 0).astype(np.int32))
        x.cnt_scale, x.cnt_max_arr = scale, (2**31 - 1) // max(wmax, 1)
        bits = np.unpackbits(np.arange(256, dtype=np.uint8)[:, None], axis=1, bitorder="little")
        x.cnt_spread = ptr("uint64_t[]", bits.view("<u8").ravel())
        x.cnt = ptr("uint64_t[]", np.zeros((nt + 2) * ((npc + 7) // 8), np.uint64))  # types, instants, a group's OR
        x.acc_p, x.acc_n, x.acc_c = (ptr("int32_t[]", np.zeros(n, np.int32)) for _ in range(3))

    def bind_routes(self, route_axon: np.ndarray, route_ps: np.ndarray) -> None:
        """Each neuron's one route (target axon, < 0 for none; delay in ps): :meth:`run` then also
        returns the arrivals the window's spikes send (no fan-out, analytic network)."""
        n = len(route_axon)
        self._routes = (np.ascontiguousarray(route_axon, np.int64), np.ascontiguousarray(route_ps, np.int64))
        self._out_t, self._out_ax = np.empty(n, np.int64), np.empty(n, np.int64)
        x, fb = self._x, _ffi.from_buffer
        x.route_axon, x.route_ps = fb("int64_t[]", self._routes[0]), fb("int64_t[]", self._routes[1])
        x.out_t, x.out_ax = fb("int64_t[]", self._out_t), fb("int64_t[]", self._out_ax)

    def c_parts(self):
        """(``ak_tn *``, ``ak_tn_run_scratch *``, (touched, its capacity, spiking neurons, their times,
        counts)): what ``ak_tn_run`` takes, for the window loop in C (hardware/asyncloop.py)."""
        return self._s, self._x, self._out

    def run(self, a_t, a_ax, checked, w0: int, w1: int):
        """The whole window (arrivals in time order; repeats of an (instant, axon) activate once):
        returns (spiking neurons, their times, sorted by (time, neuron); neurons needing a new
        check at their crossing; active updates, plain updates, SOPs; and, after
        :meth:`bind_routes`, the arrivals the spikes send as (times, axons), else None). The
        queued-check times are updated. The spikes are the caller's; the check list and the sent
        arrivals are views of the kernel's buffers, valid until the next call (the engine queues
        them at once: no copy per window)."""
        s, fb = self._s, _ffi.from_buffer
        s.w1 = int(w1)
        if a_t.dtype != np.int64 or not a_t.flags.c_contiguous:
            a_t = np.ascontiguousarray(a_t, np.int64)
        if a_ax.dtype != np.int64 or not a_ax.flags.c_contiguous:
            a_ax = np.ascontiguousarray(a_ax, np.int64)
        if len(checked):
            chk = np.ascontiguousarray(checked, np.int64)
            n_chk, p_chk = len(chk), fb("int64_t[]", chk)
        else:
            n_chk, p_chk = 0, _ffi.NULL
        nt = _lib.ak_tn_run(s, self._x, int(w0), len(a_t), fb("int64_t[]", a_t), fb("int64_t[]", a_ax), n_chk,
                            p_chk, *self._out)
        if nt < 0:
            raise NeuroEmuError("async kernel: an event's target is out of range" if nt == _lib.AK_EBADARG
                                else "async kernel: out of memory")
        ns, active, plain, nc, sops, n_out = self._counts.tolist()
        sent = None if self._out_t is None else (self._out_t[:n_out], self._out_ax[:n_out])
        return self._spk_n[:ns].copy(), self._spk_t[:ns].copy(), self._touched[:nc], active, plain, sops, sent
