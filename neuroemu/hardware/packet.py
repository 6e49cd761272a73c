"""The packet network: spike packets move hop by hop through links with latency, bandwidth and
finite buffers, so queueing, congestion, back-pressure and saturation appear.

The model
---------
A packet enters its source router at its injection time and waits in that router's injection
queue (unbounded). At router r, bound for router d, it asks for link ``o = next_link[r, d]`` and
joins o's FIFO of waiting packets (order: the time it asked, then the event order below). Link
o sends the head of its FIFO when both

- o is idle: sending a packet keeps o busy for its **serialisation time**
  ``ser_ps(o) = max(1, floor(1000 / bandwidth_pkts_per_ns + 1/2))`` picoseconds, and
- o's **input buffer** at the downstream router has a free slot (``buffer_packets`` per link,
  credit based): a packet holds a slot from the moment it starts over o until it leaves that
  router (starts over its next link, or reaches its destination). While the slot is missing the
  packet stays where it is, keeps its own slot upstream, and blocks o's FIFO behind it: this is
  back-pressure, and it spreads upstream hop by hop (a *stall* is counted each time a link with
  a waiting packet goes idle for want of a slot).

A packet that starts over o at time t is received whole (store and forward) at
``t + ser_ps(o) + latency_ps(o)`` and is delivered when it reaches its destination router
(ejection is immediate and never blocks). A packet whose source router is its destination is
delivered at its injection time with 0 hops. A buffer keeps one FIFO per *output* link, so a
blocked packet does not hold up packets behind it that go elsewhere: without head-of-line
blocking the network reaches its link-load bound (the closed forms' lambda_sat).

**Zero-load latency.** On an uncongested network a packet from router s to router d is
delivered exactly

    latency(s, d) = path_latency_ps[s, d] + (ser_ps summed over the route's links)
                  = path_latency_ps[s, d] + hops[s, d] * ser_ps   (one bandwidth everywhere)

after its injection (:func:`zero_load_latency_ps`; tests check it).

**Deadlock.** With XY routing on a mesh and up/down routing on trees the links' dependency graph
has no cycle, so finite buffers cannot deadlock. Rings (a torus) can: there the network uses
*bubble flow control* -- a packet entering a ring (injected, or turning into another link class)
needs two free slots, one continuing along it needs one, and when a single slot is left the
first continuing packet in the link's FIFO passes the entering ones ahead of it -- which keeps
every ring moving (buffers of at least 2). Should a custom graph still deadlock, :meth:`PacketNetwork.advance`
raises :class:`~neuroemu.errors.NeuroEmuError` (``buffer_packets=None`` means unbounded).

Events and windows
------------------
Every event sits in the kernel's event queue (:func:`neuroemu.kernel.make_queue`) with kind
:data:`PACKET_EVENT` and a priority that makes the queue's order canonical. At equal time,
priority ``l`` is "a packet (target = its slot) arrives over link l" (two packets never arrive
over one link at one time), ``n_links + l`` is "link l has finished serialising" (target l), and
``2 n_links`` is "a packet is injected" (ties keep injection order, the queue's seq).
:meth:`PacketNetwork.advance` pops the queue in windows of the **lookahead**, ``min over links
of (latency + serialisation)`` -- no packet can be received sooner after it starts -- and hands
each window to one call of a C loop (hardware/packet.c). It handles the window's events in
(time, priority) order, applies zero-delay effects (a freed slot, a link that may now send) at
once, keeps the events they cause inside the window (links finishing early) in a small heap,
and returns the later ones, pushed back in one batch. No Python runs per hop.

As (time, priority) is a total order fixed by the model, results depend neither on the window
length, nor on how :meth:`~PacketNetwork.advance` calls cut time, nor on the queue backend:
same inputs, same outputs, bit for bit. ``NEUROEMU_PACKET=python`` (or ``kernel="python"``)
runs the pure-Python twin of the C loop, step for step the same (tests check they agree).
"""
from __future__ import annotations

import heapq
from typing import NamedTuple

import numpy as np

from neuroemu.errors import NeuroEmuError
from neuroemu.backends import choose_backend
from neuroemu.kernel import make_queue
from neuroemu.hardware import routing as rt

try:  # built by `pip install -e .`
    from neuroemu.hardware import _packet
except ImportError:  # pragma: no cover - reported when asked for
    _packet = None

__all__ = ["Delivered", "PacketNetwork", "PACKET_EVENT", "PACKET_KERNELS", "choose_packet_kernel",
           "serialisation_ps", "zero_load_latency_ps"]

#: the event kind of every packet-network event in the queue (the priority tells them apart)
PACKET_EVENT = 1
#: implementations of the window loop, in order of preference
PACKET_KERNELS = ("c", "python")
_INITIAL_SLOTS = 1024


def choose_packet_kernel(name: str | None = None) -> str:
    """The window-loop implementation to use: ``name``, else $NEUROEMU_PACKET, else "c"."""
    return choose_backend(name, "NEUROEMU_PACKET", PACKET_KERNELS, _packet is not None, "packet kernel", "python")


def serialisation_ps(bandwidth_pkts_per_ns) -> np.ndarray:
    """int64 picoseconds to serialise one packet at ``bandwidth_pkts_per_ns``: 1000 / bandwidth,
    rounded half up, at least 1 (time is integer picoseconds)."""
    bw = np.asarray(bandwidth_pkts_per_ns, dtype=np.float64)
    return np.maximum(1, np.floor(1000.0 / bw + 0.5)).astype(np.int64)


def zero_load_latency_ps(topology) -> np.ndarray:
    """int64 [n_routers, n_routers]: the packet network's latency with no contention,
    ``path_latency_ps`` plus the serialisation times summed over the route (module docstring)."""
    ser = serialisation_ps(topology.link_bandwidth)
    extra = rt.class_sum(ser, topology.link_class, topology.n_classes, lambda: topology.class_hops, np.int64)
    if extra is None:
        extra = rt.accumulate(ser, topology.next_link, topology.hops, topology.link_dst, np.int64)
    return topology.path_latency_ps + extra


class Delivered(NamedTuple):
    """Packets delivered in one :meth:`PacketNetwork.advance` interval, in delivery order.

    ``time_ps`` (int64, arrival at the destination router), ``tag`` (int64, as injected),
    ``src_router``, ``dst_router`` (int32), ``hops`` (int32, links crossed).
    """

    time_ps: np.ndarray
    tag: np.ndarray
    src_router: np.ndarray
    dst_router: np.ndarray
    hops: np.ndarray


# the arrays pn_state points at, by size: links, routers, packet slots, slots + links (events)
_LINK_FIELDS = [("busy_until", np.int64), ("occ", np.int32), ("occ_peak", np.int32),
                ("wait_head", np.int32), ("wait_tail", np.int32), ("wait_len", np.int32),
                ("wait_peak", np.int32), ("pending", np.uint8), ("stalled", np.uint8),
                ("stall_since", np.int64), ("stall_ps", np.int64), ("stalls", np.int64),
                ("busy_ps", np.int64), ("sends", np.int64), ("work", np.int32), ("in_work", np.uint8)]
_ROUTER_FIELDS = [("inj_len", np.int32), ("inj_peak", np.int32)]
_SLOT_FIELDS = [("p_dst", np.int32), ("p_buf", np.int32), ("p_next", np.int32), ("p_hops", np.int32),
                ("free_slots", np.int32), ("d_slot", np.int64), ("d_time", np.int64)]
_EVENT_FIELDS = [("h_time", np.int64), ("h_prio", np.int32), ("h_target", np.int64),
                 ("o_time", np.int64), ("o_prio", np.int32), ("o_target", np.int64)]
_PY_ONLY = [("p_src", np.int32), ("p_tag", np.int64), ("p_t0", np.int64)]  # not read by the kernel
_SCALARS = ("n_free", "slot_cap", "h_len", "o_len", "d_len", "in_flight", "arrivals", "frees",
            "injections", "last_time")
_CTYPES = {np.int64: "int64_t *", np.int32: "int32_t *", np.uint8: "uint8_t *", np.int16: "int16_t *"}


class _Scalars:
    """The scalar fields of pn_state, for the Python kernel (the C kernel uses the struct)."""

    def __init__(self):
        for name in _SCALARS:
            setattr(self, name, 0)


class PacketNetwork:
    """A packet-level network over a :class:`~neuroemu.hardware.topology.Topology` (the model,
    the event order and the latency formula are in the module docstring).

    ``buffer_packets``: input buffer of each link in packets (>= 1), or None for unbounded.
    ``queue_backend``: event queue backend ("c", "python"; default $NEUROEMU_QUEUE).
    ``packet_bits``: bits per packet, used only to report link bandwidth in bits/s.
    ``kernel``: window loop ("c", "python"; default $NEUROEMU_PACKET, else "c").
    ``window_ps``: window length (default :attr:`lookahead_ps`); changes speed, never results.
    """

    def __init__(self, topology, *, buffer_packets: int | None = 4, queue_backend: str | None = None,
                 packet_bits: int = 32, kernel: str | None = None, window_ps: int | None = None):
        if buffer_packets is not None and (not isinstance(buffer_packets, (int, np.integer))
                                           or isinstance(buffer_packets, bool) or buffer_packets < 1):
            raise NeuroEmuError(f"buffer_packets: must be an integer >= 1 (packets per link input buffer) "
                                f"or None (unbounded); got {buffer_packets!r}")
        if not isinstance(packet_bits, (int, np.integer)) or isinstance(packet_bits, bool) or packet_bits < 1:
            raise NeuroEmuError(f"packet_bits: must be an integer >= 1; got {packet_bits!r}")
        if window_ps is not None and (not isinstance(window_ps, (int, np.integer)) or window_ps < 1):
            raise NeuroEmuError(f"window_ps: must be an integer >= 1 (picoseconds); got {window_ps!r}")
        t = topology
        self.topology = t
        self.buffer_packets = None if buffer_packets is None else int(buffer_packets)
        self.packet_bits = int(packet_bits)
        # rings deadlock with finite buffers unless entering one leaves a bubble (module docstring)
        self.bubble = t.kind == "torus" and self.buffer_packets is not None
        if self.bubble and self.buffer_packets < 2:
            raise NeuroEmuError(f"buffer_packets: a torus needs at least 2 (bubble flow control keeps its "
                                f"rings deadlock-free); got {buffer_packets}")
        self.kernel = choose_packet_kernel(kernel)
        self._queue = make_queue(queue_backend)
        nl, nr = t.n_links, t.n_routers
        self.n_links, self.n_routers = nl, nr
        #: int64 [n_links] serialisation time of one packet, ps
        self.link_ser_ps = serialisation_ps(t.link_bandwidth)
        #: the shortest time from a packet starting over a link to its reception
        self.lookahead_ps = int((t.link_latency_ps + self.link_ser_ps).min()) if nl else 1
        self.window_ps = int(window_ps) if window_ps is not None else self.lookahead_ps
        self._inject_prio = 2 * nl
        self.now = 0
        self._injected = 0
        self._delivered = 0
        self._latencies: list[np.ndarray] = []
        # the tables the kernel reads (kept referenced: the C struct points into them)
        # on a mesh the next link is XY in closed form from four ports per router (no [n, n]
        # table: a system's joined mesh has 65,536 routers); other graphs read the table
        ports = t.mesh_ports()
        self._grid_width = int(t.params["width"]) if ports is not None else 0
        self._ports = np.ascontiguousarray(ports if ports is not None else np.zeros((4, 0)), np.int32).ravel()
        self._next_link = (np.zeros(0, np.int32) if ports is not None
                           else np.ascontiguousarray(t.next_link, np.int32))
        self._link_dst = np.ascontiguousarray(t.link_dst, np.int32)
        self._link_class = np.ascontiguousarray(t.link_class, np.int16)
        self._link_lat = np.ascontiguousarray(t.link_latency_ps, np.int64)
        self._link_ser = np.ascontiguousarray(self.link_ser_ps, np.int64)
        self.a: dict[str, np.ndarray] = {name: np.zeros(nl, dt) for name, dt in _LINK_FIELDS}
        self.a["wait_head"][:] = -1
        self.a["wait_tail"][:] = -1
        self.a.update({name: np.zeros(nr, dt) for name, dt in _ROUTER_FIELDS})
        self._s = _packet.ffi.new("pn_state *") if self.kernel == "c" else _Scalars()
        self._cap = 0
        self._grow(_INITIAL_SLOTS)

    # --- state ----------------------------------------------------------------------------------

    def _grow(self, cap: int) -> None:
        """Make room for ``cap`` packet slots (every per-slot and per-event array)."""
        old, s, a = self._cap, self._s, self.a
        for fields, size in ((_SLOT_FIELDS + _PY_ONLY, cap), (_EVENT_FIELDS, cap + self.n_links)):
            for name, dt in fields:
                arr = np.zeros(size, dt)
                if name in a:
                    arr[: a[name].size] = a[name]
                a[name] = arr
        # the new slots go on the free stack, lowest id on top
        a["free_slots"][s.n_free : s.n_free + cap - old] = np.arange(cap - 1, old - 1, -1, dtype=np.int32)
        s.n_free += cap - old
        s.slot_cap = cap
        self._cap = cap
        if self.kernel == "c":
            self._bind()

    def _bind(self) -> None:
        """Point the C struct at the current arrays (after every reallocation)."""
        ffi, s = _packet.ffi, self._s
        s.n_routers, s.n_links = self.n_routers, self.n_links
        s.buffer_cap = self.buffer_packets or 0
        s.bubble = int(self.bubble)
        s.grid_width = self._grid_width
        py_only = {name for name, _ in _PY_ONLY}
        for field, arr in (("next_link", self._next_link), ("ports", self._ports), ("link_dst", self._link_dst),
                           ("link_class", self._link_class), ("link_lat", self._link_lat),
                           ("link_ser", self._link_ser), *self.a.items()):
            if field not in py_only:
                setattr(s, field, ffi.cast(_CTYPES[arr.dtype.type], arr.ctypes.data))

    def _next_of(self, r: int, d: int) -> int:
        """The link from router r towards router d (r != d), as the C kernel's next_link_of."""
        w = self._grid_width
        if w <= 0:
            return int(self._next_link[r, d])
        if r % w != d % w:
            return int(self._ports[(0 if r % w < d % w else 1) * self.n_routers + r])
        return int(self._ports[(2 if r // w < d // w else 3) * self.n_routers + r])

    @property
    def busy_ps(self) -> np.ndarray:
        """int64 [n_links]: time each link has spent serialising so far (a copy)."""
        return self.a["busy_ps"].copy()

    @property
    def in_flight(self) -> int:
        """Packets injected and not yet delivered."""
        return int(self._s.in_flight)

    # --- the interface ----------------------------------------------------------------------

    def inject(self, time_ps, src_router, dst_router, tag) -> None:
        """Queue packets: packet i enters router ``src_router[i]`` at ``time_ps[i]`` (integer ps,
        not before the time already advanced to), bound for ``dst_router[i]``; ``tag[i]`` (int64)
        comes back with it on delivery. Arrays of one length (scalars broadcast)."""
        try:
            arrays = np.broadcast_arrays(*(np.asarray(x) for x in (time_ps, src_router, dst_router, tag)))
        except ValueError:
            raise NeuroEmuError("inject: time_ps, src_router, dst_router and tag must have one length "
                                "(or be scalars)") from None
        n = arrays[0].size
        if n == 0:
            return
        for name, arr in zip(("time_ps", "src_router", "dst_router", "tag"), arrays):
            if arr.dtype.kind not in "iu":
                raise NeuroEmuError(f"inject: {name} must be integers; got dtype {arr.dtype}")
        t, src, dst, tag = (x.ravel().astype(np.int64) for x in arrays)
        if t.min() < self.now:
            raise NeuroEmuError(f"inject: time_ps must be >= {self.now} ps (the network has been advanced "
                                f"that far); got {int(t.min())}")
        for name, ids in (("src_router", src), ("dst_router", dst)):
            if ids.min() < 0 or ids.max() >= self.n_routers:
                raise NeuroEmuError(f"inject: {name} must be router ids in [0, {self.n_routers}); got values "
                                    f"in [{int(ids.min())}, {int(ids.max())}]")
        s, a = self._s, self.a
        if s.n_free < n:
            self._grow(max(2 * self._cap, self._cap - int(s.n_free) + n + n // 2))
        top = int(s.n_free)
        slots = a["free_slots"][top - n : top][::-1].astype(np.int64)
        s.n_free = top - n
        a["p_dst"][slots] = dst
        a["p_src"][slots] = src
        a["p_buf"][slots] = self.n_links + src
        a["p_hops"][slots] = 0
        a["p_tag"][slots] = tag
        a["p_t0"][slots] = t
        s.in_flight += n
        self._injected += n
        # one priority for every injection: ties keep push order, i.e. injection order
        self._queue.push_batch(t, PACKET_EVENT, slots, 0, self._inject_prio)

    def advance(self, until_ps: int) -> Delivered:
        """Process every event before ``until_ps``; return the packets delivered meanwhile.

        Raises NeuroEmuError when the network has deadlocked (packets left, nothing pending)."""
        until = int(until_ps)
        if until < self.now:
            raise NeuroEmuError(f"advance: until_ps must be >= {self.now} ps (already advanced); got {until}")
        q, s, a = self._queue, self._s, self.a
        run = self._run_c if self.kernel == "c" else self._run_py
        while True:
            t0 = q.next_time()
            if t0 is None or t0 >= until:
                break
            end = min(t0 + self.window_ps, until)
            batch = q.pop_before(end)
            run(batch.time, batch.priority, batch.target, end)
            k = int(s.o_len)
            if k:
                q.push_batch(a["o_time"][:k], PACKET_EVENT, a["o_target"][:k], 0, a["o_prio"][:k])
                s.o_len = 0
        self.now = until
        # slots delivered in this call are not reused before the next inject(): gather them now
        k = int(s.d_len)
        slots = a["d_slot"][:k].copy()
        s.d_len = 0
        out = Delivered(a["d_time"][:k].copy(), a["p_tag"][slots], a["p_src"][slots], a["p_dst"][slots],
                        a["p_hops"][slots])
        if k:
            self._latencies.append(out.time_ps - a["p_t0"][slots])
            self._delivered += k
        if s.in_flight and len(q) == 0:
            raise NeuroEmuError(f"packet network deadlocked at {int(s.last_time)} ps: {int(s.in_flight)} packets "
                                f"wait on full buffers in a cycle; use larger or unbounded buffers "
                                f"(buffer_packets=None) or a deadlock-free routing")
        return out

    def idle(self) -> bool:
        """True when no packet is in the network and no event is pending."""
        return len(self._queue) == 0 and self._s.in_flight == 0

    def next_event_time(self) -> int | None:
        """Time (ps) of the earliest pending event, or None when there is none."""
        return self._queue.next_time()

    # --- the window loops ---------------------------------------------------------------------

    def _run_c(self, time, prio, target, end) -> None:
        ffi = _packet.ffi
        rc = _packet.lib.pn_run(self._s, time.size, ffi.from_buffer("int64_t[]", time),
                                ffi.from_buffer("int32_t[]", prio), ffi.from_buffer("int64_t[]", target), end)
        if rc != _packet.lib.PN_OK:
            raise NeuroEmuError(f"internal: the C packet kernel failed with code {rc}")

    def _run_py(self, time, prio, target, end) -> None:
        _PyWindow(self, end).run(time.tolist(), prio.tolist(), target.tolist())

    # --- statistics -----------------------------------------------------------------------------

    @property
    def stats(self) -> dict:
        """:meth:`summary` with the default elapsed time."""
        return self.summary()

    def record_report(self, end_ps: int) -> dict:
        """The run record's packet figures at the run's end ``end_ps``: latency mean and
        percentiles over delivered packets, their count, link utilisation, the busiest links and
        the packet counters. Packets still in flight finish their routes first (their hops were
        counted at emission, as in the analytic fidelity); they arrive after the run and are not
        delivered."""
        if not self.idle():
            self.advance(np.iinfo(np.int64).max // 2)
        summary = self.summary(end_ps)
        lat = summary["latency_s"]
        return {"latency_mean_s": lat["mean"], "latency_p50_s": lat["p50"], "latency_p99_s": lat["p99"],
                "latency_max_s": lat["max"], "latency_samples": summary["latency_samples"],
                "max_link_utilization": summary["max_link_utilization"],
                "busiest_links": summary["busiest_links"],
                "packet": {k: v for k, v in summary.items() if not k.startswith("link_")
                           and k not in ("latency_s", "latency_samples", "busiest_links", "max_link_utilization")}}

    def summary(self, elapsed_ps: int | None = None) -> dict:
        """Statistics so far as a dict; per-link values are numpy arrays indexed by link id.

        Utilisation is busy (serialising) time / ``elapsed_ps``; by default elapsed is the time
        advanced to, or the last event's time when the network is idle (so that draining with a
        far ``advance`` does not dilute it). Latencies are in seconds, over delivered packets.
        """
        t, a, s = self.topology, self.a, self._s
        if elapsed_ps is None:
            elapsed_ps = int(s.last_time) if self.idle() else self.now
        elapsed = max(int(elapsed_ps), 1)
        lat = np.concatenate(self._latencies) if self._latencies else np.zeros(0, np.int64)
        latency = dict.fromkeys(("mean", "p50", "p99", "max"))
        if lat.size:
            p50, p99 = np.percentile(lat, [50, 99])
            latency = {"mean": float(lat.mean()) * 1e-12, "p50": float(p50) * 1e-12,
                       "p99": float(p99) * 1e-12, "max": float(lat.max()) * 1e-12}
        sends = a["sends"]
        util = a["busy_ps"] / elapsed
        by_class = np.bincount(t.link_class, weights=sends, minlength=t.n_classes).astype(np.int64)
        order = np.lexsort((np.arange(self.n_links), -a["busy_ps"]))[:5]
        busiest = [{"link": int(l), "src": int(t.link_src[l]), "dst": int(t.link_dst[l]),
                    "class": t.class_names[t.link_class[l]], "utilization": float(util[l]),
                    "packets": int(sends[l]), "peak_queue": int(a["wait_peak"][l]),
                    "peak_buffer": int(a["occ_peak"][l])} for l in order if sends[l] > 0]
        return {
            "kernel": self.kernel,
            "queue": self._queue.backend,
            "elapsed_s": elapsed * 1e-12,
            "packets": {"injected": self._injected, "delivered": self._delivered, "in_flight": int(s.in_flight)},
            "hops": {"total": int(sends.sum()),
                     "by_class": {name: int(v) for name, v in zip(t.class_names, by_class)}},
            "events": {"arrive": int(s.arrivals), "link_free": int(s.frees), "inject": int(s.injections)},
            "latency_s": latency,
            "latency_samples": int(lat.size),
            "link_utilization": util,
            "link_packets": sends.copy(),
            "link_peak_queue": a["wait_peak"].copy(),
            "link_peak_buffer": a["occ_peak"].copy(),
            "link_stalls": a["stalls"].copy(),
            "link_stall_s": a["stall_ps"] * 1e-12,
            "max_link_utilization": float(util.max()) if util.size else 0.0,
            "busiest_links": busiest,
            "stalls": int(a["stalls"].sum()),
            "stall_s": float(a["stall_ps"].sum()) * 1e-12,
            "injection_peak_queue": int(a["inj_peak"].max()) if a["inj_peak"].size else 0,
            "link_bits_per_s": 1e12 / self.link_ser_ps * self.packet_bits,
        }


class _PyWindow:
    """The pure-Python twin of pn_run (packet.c): same steps in the same order, on the same
    arrays. Each method mirrors the C function of the same name; keep the two in step."""

    def __init__(self, net: PacketNetwork, window_end: int):
        self.net, self.s, self.a = net, net._s, net.a
        self.end = window_end
        self.heap: list[tuple[int, int, int]] = []  # keys are unique, so heapq's order is C's
        self.work: list[int] = []
        self.nl, self.nr = net.n_links, net.n_routers
        self.cap = net.buffer_packets or 0

    def run(self, time, prio, target) -> None:
        """Handle the popped events merged with the window's own, in (time, prio) order."""
        i, n, heap = 0, len(time), self.heap
        while True:
            if i < n and (not heap or (time[i], prio[i]) < heap[0][:2]):
                self.handle(time[i], prio[i], target[i])
                i += 1
            elif heap:
                self.handle(*heapq.heappop(heap))
            else:
                break

    def schedule(self, t, prio, target) -> None:
        if t < self.end:
            heapq.heappush(self.heap, (t, prio, target))
        else:
            s, a = self.s, self.a
            k = s.o_len
            a["o_time"][k], a["o_prio"][k], a["o_target"][k] = t, prio, target
            s.o_len = k + 1

    def want(self, link) -> None:
        if not self.a["in_work"][link]:
            self.a["in_work"][link] = 1
            self.work.append(link)

    def deliver(self, p, t) -> None:
        s, a = self.s, self.a
        a["d_slot"][s.d_len], a["d_time"][s.d_len] = p, t
        s.d_len += 1
        a["free_slots"][s.n_free] = p
        s.n_free += 1
        s.in_flight -= 1

    def request(self, p, r) -> None:
        a = self.a
        o = self.net._next_of(r, int(a["p_dst"][p]))
        a["p_next"][p] = -1
        if a["wait_tail"][o] < 0:
            a["wait_head"][o] = p
        else:
            a["p_next"][a["wait_tail"][o]] = p
        a["wait_tail"][o] = p
        a["wait_len"][o] += 1
        a["wait_peak"][o] = max(a["wait_peak"][o], a["wait_len"][o])
        self.want(o)

    def need(self, p, o) -> int:
        b = int(self.a["p_buf"][p])
        net = self.net
        return 2 if net.bubble and (b >= self.nl or net._link_class[b] != net._link_class[o]) else 1

    def try_send(self, o, t) -> None:
        a, nl = self.a, self.nl
        while True:
            p, prev = int(a["wait_head"][o]), -1
            if p < 0:
                return
            if t < a["busy_until"][o]:
                if not a["pending"][o]:
                    a["pending"][o] = 1
                    self.schedule(int(a["busy_until"][o]), nl + o, o)
                return
            if self.cap > 0:
                room = self.cap - int(a["occ"][o])
                if room < self.need(p, o):
                    p = -1
                    if self.net.bubble and room >= 1:  # continuing packets pass entering ones
                        q, before = int(a["wait_head"][o]), -1
                        while q >= 0 and self.need(q, o) > 1:
                            before, q = q, int(a["p_next"][q])
                        p, prev = q, before
                    if p < 0:
                        if not a["stalled"][o]:
                            a["stalled"][o] = 1
                            a["stalls"][o] += 1
                            a["stall_since"][o] = t
                        return
            if a["stalled"][o]:
                a["stalled"][o] = 0
                a["stall_ps"][o] += t - a["stall_since"][o]
            b = int(a["p_buf"][p])
            if prev < 0:
                a["wait_head"][o] = a["p_next"][p]
            else:
                a["p_next"][prev] = a["p_next"][p]
            if a["wait_tail"][o] == p:
                a["wait_tail"][o] = prev
            a["wait_len"][o] -= 1
            if b < nl:
                a["occ"][b] -= 1
                self.want(b)
            else:
                a["inj_len"][b - nl] -= 1
            a["occ"][o] += 1
            a["occ_peak"][o] = max(a["occ_peak"][o], a["occ"][o])
            a["p_buf"][p] = o
            a["p_hops"][p] += 1
            ser = int(self.net._link_ser[o])
            a["busy_until"][o] = t + ser
            a["busy_ps"][o] += ser
            a["sends"][o] += 1
            self.schedule(t + ser + int(self.net._link_lat[o]), o, p)

    def drain_work(self, t) -> None:
        while self.work:
            o = self.work.pop()
            self.a["in_work"][o] = 0
            self.try_send(o, t)

    def handle(self, t, prio, target) -> None:
        s, a, nl = self.s, self.a, self.nl
        s.last_time = t
        if prio < nl:  # packet `target` arrives over link `prio`
            r = int(self.net._link_dst[prio])
            s.arrivals += 1
            if r == a["p_dst"][target]:
                a["occ"][prio] -= 1
                self.deliver(target, t)
                self.want(prio)
            else:
                self.request(target, r)
        elif prio < 2 * nl:  # link prio - nl has finished serialising
            s.frees += 1
            a["pending"][prio - nl] = 0
            self.want(prio - nl)
        else:  # packet `target` is injected
            r = int(a["p_buf"][target]) - nl
            s.injections += 1
            if r == a["p_dst"][target]:
                self.deliver(target, t)
            else:
                a["inj_len"][r] += 1
                a["inj_peak"][r] = max(a["inj_peak"][r], a["inj_len"][r])
                self.request(target, r)
        self.drain_work(t)
