"""The C window kernel of TrueNorth neurons read in continuous time (``ak_tn_run`` in
hardware/async_kernel.c): its binding to a network's crossbar, leak steps and routes, and the
crossbar packed as bits for it.

:class:`TrueNorthWindowC` hands a whole window to C per call (or its parts to the many-window loop,
hardware/asyncloop.py); the numpy paths of :class:`neuroemu.engine.asyncmodels.TrueNorthCT` are its
twin, bit for bit (integer arithmetic).
"""
from __future__ import annotations

import os

import numpy as np

from neuroemu.errors import NeuroEmuError
from neuroemu.hardware.asynckernel import choose_async_backend

try:
    from neuroemu.hardware._async_kernel import ffi as _ffi
    from neuroemu.hardware._async_kernel import lib as _lib
except ImportError:  # pragma: no cover - reported when asked for
    _ffi = _lib = None


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


def vector_lanes() -> bool:
    """$NEUROEMU_ASYNC_LANES: "on" (default) lets the window kernel pick AVX-512 lanes at run time
    (the leak-step draws, the counted pass 2) where the CPU has them; "off" keeps its portable
    code (the same record; for tests and measuring the difference)."""
    value = os.environ.get("NEUROEMU_ASYNC_LANES", "on")
    if value not in ("on", "off"):
        raise NeuroEmuError(f"NEUROEMU_ASYNC_LANES: unknown value {value!r}; valid: on, off")
    return value == "on"


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
            return self._pin(ctype, arr, written=True)

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

    def _pin(self, ctype: str, arr: np.ndarray, written: bool = False):
        """A C pointer of ``ctype`` into ``arr``, kept alive with the kernel. ``written``: an array the
        kernel writes that its owner reads back (the model's state), so it must be used in place
        (refused if not contiguous); the others are copied when they are not contiguous."""
        if written and not arr.flags.c_contiguous:
            raise NeuroEmuError("internal: async kernel arrays must be contiguous")
        arr = np.ascontiguousarray(arr)
        buf = _ffi.from_buffer(ctype, arr)
        self._keep.append((arr, buf))
        return buf

    def bind_network(self, arrays, model, type_w: np.ndarray | None, row_w: np.ndarray | None,
                     queued: np.ndarray, end_ps: int) -> None:
        """Give the kernel the crossbar, the stochastic leak and the engine's queued-check times, for
        :meth:`run` (the whole window in C)."""
        x = _ffi.new("ak_tn_run_scratch *")
        n = len(model.v)

        ptr = self._pin
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
        # the window's steps apart from the records (a count per neuron, zero between windows, with
        # counted pass 2's mark of a neuron taken whole; the first step's instant)
        x.step_n, x.step_s0 = ptr("uint8_t[]", np.zeros(n, np.uint8)), ptr("int64_t[]", np.zeros(n, np.int64))
        x.scalar_only = int(not vector_lanes())
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
        # the window's own scratch (win_buf) is the kernel's, grown by it: freed with the struct
        self._x = _ffi.gc(x, _lib.ak_tn_run_release)
        self._counts = np.zeros(6, np.int64)
        self._out_t = self._out_ax = None
        self._touched = np.empty(n + 1, np.int64)  # + 1: the kernel's branch-free append writes one past
        self._spk_n, self._spk_t = np.empty(n, np.int64), np.empty(n, np.int64)
        fb = _ffi.from_buffer  # the output buffers live as long as the kernel: point at them once
        self._out = (fb("int64_t[]", self._touched), len(self._touched), fb("int64_t[]", self._spk_n),
                     fb("int64_t[]", self._spk_t), fb("int64_t[]", self._counts))
        self._bind_counts(x, arrays, type_w, int(model.input_scale), n)

    def _bind_counts(self, x, arrays, type_w, scale: int, n: int) -> None:
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
        x.cnt_wpos = self._pin("int32_t[]", np.maximum(w, 0).astype(np.int32))
        x.cnt_wneg = self._pin("int32_t[]", np.minimum(w, 0).astype(np.int32))
        x.cnt_scale, x.cnt_max_arr = scale, (2**31 - 1) // max(wmax, 1)
        bits = np.unpackbits(np.arange(256, dtype=np.uint8)[:, None], axis=1, bitorder="little")
        x.cnt_spread = self._pin("uint64_t[]", bits.view("<u8").ravel())
        x.cnt = self._pin("uint64_t[]", np.zeros((nt + 2) * ((npc + 7) // 8), np.uint64))  # types, instants, a group's OR
        x.acc_p, x.acc_n, x.acc_c = (self._pin("int32_t[]", np.zeros(n, np.int32)) for _ in range(3))

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
