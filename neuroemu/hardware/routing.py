"""Routing compiled to numpy tables (the engine behind :mod:`neuroemu.hardware.topology`).

Every routing scheme here is *destination based*: the link a packet takes next depends only on
the router it is at and the router it is bound for. So one table, ``next_link[r, d]`` (int32,
-1 when ``r == d``), describes every route, and any per-pair quantity that is a sum over the
links of a route (hops, links of each class, latency, energy, wire length) obeys

    table[r, d] = value[next_link[r, d]] + table[next_router, d]

:func:`accumulate` evaluates that recurrence for every pair at once, one hop count at a time,
so its cost is O(n_routers^2) vectorised work whatever the graph. The structured schemes
compute next_link, hops, links per class and path sums in closed form by broadcasting (tree
tables in row blocks of 512 to bound temporaries), never per pair in Python:

- :class:`GridRouting` -- mesh and torus, XY dimension order (x first, then y); on a torus each
  dimension goes the shortest way round its ring, ties towards +.
- :class:`TreeRouting` -- r-ary trees (and the H-tree), up to the nearest common ancestor (NCA)
  and down again.
- :class:`ShortestPathRouting` -- any strongly connected graph: networkx Dijkstra, run once per
  destination at build time, with weight ``latency_ps * n_routers + 1`` so that among routes of
  equal latency the one with fewest hops wins (a route has fewer than n_routers hops, so the
  ``+1`` terms can never outweigh one picosecond); remaining ties take the lowest link id.

networkx is used only at build time; nothing here walks a graph per packet.
"""

from __future__ import annotations

from functools import cached_property

import networkx as nx
import numpy as np

_BLOCK = 512  # rows per block where a tree table is built blockwise
_LEG_BLOCK = 1 << 22  # elements of one block of running sums in GridRouting.pair_path_sum
PAIR_CHUNK = 1 << 18  # pairs per chunk of the per-pair closed forms

__all__ = [
    "Routing",
    "GridRouting",
    "TreeRouting",
    "ShortestPathRouting",
    "accumulate",
    "class_sum",
    "walk_loads",
    "walk_union",
]


class Routing:
    """Compiled routes: ``next_link`` and ``hops`` tables, links per class on demand.

    Subclasses fill ``next_link`` (int32 [n, n]) and ``hops`` (int16 [n, n]) in ``__init__``
    and may override :meth:`class_hops` and :meth:`path_sum` with closed forms.
    """

    next_link: np.ndarray
    hops: np.ndarray

    def class_hops(self, link_class: np.ndarray, n_classes: int, link_dst: np.ndarray) -> np.ndarray:
        """int16 [n_classes, n, n]: how many links of each class each route uses."""
        n = self.hops.shape[0]
        out = np.zeros((n_classes, n, n), dtype=np.int16)
        for c in range(n_classes):
            onehot = (link_class == c).astype(np.int16)
            out[c] = accumulate(onehot, self.next_link, self.hops, link_dst, np.int16)
        return out

    def path_sum(self, values, dtype, link_dst) -> np.ndarray:
        """[n, n] sums of per-link ``values`` over every route (generic: :func:`accumulate`)."""
        return accumulate(values, self.next_link, self.hops, link_dst, dtype)

    #: whether :meth:`pair_class_hops` and :meth:`pair_path_sum` have closed forms that need no
    #: [n, n] table (else the topology gathers from its cached tables)
    pairwise = False

    def next_links(self, at: np.ndarray, dst: np.ndarray) -> np.ndarray:
        """int32: the link a packet at router ``at[i]`` bound for ``dst[i]`` takes next (-1 there)."""
        return self.next_link[at, dst]

    def pair_hops(self, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
        """int16 hops of each route ``src[i] -> dst[i]``."""
        return self.hops[src, dst]

    def diameter(self) -> int:
        """The largest hop count of any route."""
        return int(self.hops.max()) if self.hops.size else 0


def pair_coords(ids: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """int64 (y, x) of grid router ids, computed in chunks of :data:`PAIR_CHUNK` (one divmod of
    16 M ids at once spends more time faulting in its temporaries than dividing)."""
    ids = np.asarray(ids)
    y, x = np.empty(ids.shape, np.int64), np.empty(ids.shape, np.int64)
    for c in range(0, ids.size, PAIR_CHUNK):
        np.divmod(ids[c:c + PAIR_CHUNK], width, out=(y[c:c + PAIR_CHUNK], x[c:c + PAIR_CHUNK]))
    return y, x


def accumulate(values, next_link, hops, link_dst, dtype) -> np.ndarray:
    """Sum ``values[link]`` over the links of every route: [n, n] array of ``dtype``.

    Pairs are processed in order of hop count, so a route's tail (from the next router on) is
    always finished before the route itself; each pair is touched once.
    """
    n = hops.shape[0]
    out = np.zeros(n * n, dtype=dtype)
    flat_h = hops.ravel()
    max_h = int(flat_h.max()) if flat_h.size else 0
    if max_h == 0:
        return out.reshape(n, n)
    order = np.argsort(flat_h, kind="stable")  # radix sort for int16: linear time
    bounds = np.concatenate(([0], np.cumsum(np.bincount(flat_h, minlength=max_h + 1))))
    flat_next = next_link.ravel()
    vals = np.asarray(values).astype(dtype, copy=False)
    dst64 = link_dst.astype(np.int64)
    for h in range(1, max_h + 1):
        idx = order[bounds[h] : bounds[h + 1]]
        links = flat_next[idx]
        out[idx] = vals[links] + out[dst64[links] * n + idx % n]
    return out.reshape(n, n)


def class_sum(values, link_class, n_classes, class_hops_fn, dtype):
    """``sum_c class_hops[c] * v_c`` when every link of each class has the same value, else None.

    Kept for callers that already hold ``class_hops``; :meth:`Routing.path_sum` is the general
    entry point (closed forms that need no [n_classes, n, n] table).
    """
    values = np.asarray(values)
    per_class = []
    for c in range(n_classes):
        vals = values[link_class == c]
        if vals.size and not np.all(vals == vals[0]):
            return None
        per_class.append(vals[0] if vals.size else 0)
    class_hops = class_hops_fn()
    n = class_hops.shape[1]
    out = np.zeros((n, n), dtype=dtype)
    for c, v in enumerate(per_class):
        if v != 0:
            out += class_hops[c] * np.asarray(v, dtype=dtype)
    return out


def walk_loads(next_link, link_dst, n_links, src, dst, counts) -> np.ndarray:
    """int64 [n_links] packets per link for unicast traffic ``src[i] -> dst[i]`` (x ``counts[i]``).

    Identical (src, dst) pairs are merged first; then all routes advance together one hop per
    iteration, so the Python loop runs at most diameter times whatever the number of packets.
    """
    n = next_link.shape[0]
    loads = np.zeros(n_links, dtype=np.int64)
    key = src.astype(np.int64) * n + dst.astype(np.int64)
    if counts is None:
        pairs, weight = np.unique(key, return_counts=True)
        weight = weight.astype(np.int64)
    else:
        order = np.argsort(key, kind="stable")
        key_sorted = key[order]
        if key_sorted.size == 0:
            return loads
        starts = np.flatnonzero(np.concatenate(([True], key_sorted[1:] != key_sorted[:-1])))
        pairs = key_sorted[starts]
        weight = np.add.reduceat(counts[order].astype(np.int64), starts)
    cur, d = pairs // n, pairs % n
    while cur.size:
        links = next_link[cur, d]
        keep = links >= 0
        links, d, weight = links[keep], d[keep], weight[keep]
        np.add.at(loads, links, weight)
        cur = link_dst[links].astype(np.int64)
    return loads


def walk_union(next_link, link_dst, src: int, dsts: np.ndarray) -> np.ndarray:
    """Sorted unique link ids on the routes from ``src`` to every router in ``dsts``.

    ``next_link``: the [n, n] table, or a function ``(at, dst) -> next links`` (a closed form)."""
    step = next_link if callable(next_link) else lambda at, d: next_link[at, d]
    d = np.unique(dsts.astype(np.int64))
    cur = np.full(d.size, src, dtype=np.int64)
    seen = []
    while cur.size:
        links = step(cur, d)
        keep = links >= 0
        links, d = links[keep], d[keep]
        seen.append(links)
        cur = link_dst[links].astype(np.int64)
    return np.unique(np.concatenate(seen)).astype(np.int32) if seen else np.zeros(0, np.int32)


def _ring(k: int, wrap: bool):
    """Steps and direction (+1, -1, 0) along one dimension of size k, as [k, k] tables."""
    s = np.arange(k)[:, None]
    d = np.arange(k)[None, :]
    if wrap:
        fwd = (d - s) % k
        bwd = (s - d) % k
        steps = np.minimum(fwd, bwd)
        direction = np.where(fwd == 0, 0, np.where(fwd <= bwd, 1, -1))  # tie -> +
    else:
        steps = np.abs(d - s)
        direction = np.sign(d - s)
    return steps.astype(np.int16), direction.astype(np.int8)


class GridRouting(Routing):
    """XY dimension-order routing on a width x height mesh or torus (router id = y*width + x).

    Also defines the links: ``link_src``, ``link_dst``, ``link_class`` (0 = "x", 1 = "y"; x links
    first, each router's + link then its - link), both directions of every neighbour pair, with
    wrap links on a torus (for a ring of 2 the wrap link is the neighbour link). Tables are built
    by broadcasting [H, W, H, W] views of small per-dimension tables.
    """

    def __init__(self, width: int, height: int, wrap: bool):
        self.width, self.height = width, height
        n = width * height
        ids = np.arange(n, dtype=np.int64)
        ports, src, dst, cls, first = [], [], [], [], 0
        for c, (coord, k, stride) in enumerate(((ids % width, width, 1), (ids // width, height, width))):
            # per router, in router order: its + link, then its - link (none past a mesh edge,
            # none on a ring of 1; on a ring of 2 the - neighbour is the + one: one link, both ports)
            has_p = np.full(n, k > 1) if wrap else coord < k - 1
            has_m = np.full(n, k > 2) if wrap else coord > 0
            per = np.stack([has_p, has_m], axis=1)
            lid = (first + np.cumsum(per.ravel()) - 1).reshape(n, 2)
            plus = np.where(has_p, lid[:, 0], -1)
            minus = np.where(has_m, lid[:, 1], plus if wrap and k == 2 else -1)
            ports += [plus.astype(np.int32), minus.astype(np.int32)]
            step = np.stack([(coord + 1) % k - coord, (coord - 1) % k - coord], axis=1) * stride
            src.append(np.repeat(ids, 2)[per.ravel()])
            dst.append((ids[:, None] + step).ravel()[per.ravel()])
            cls.append(np.full(int(per.sum()), c, np.int16))
            first += int(per.sum())
        self.link_src, self.link_dst = np.concatenate(src), np.concatenate(dst)
        self.link_class = np.concatenate(cls)
        self._hx, self._dir_x = _ring(width, wrap)
        self._hy, self._dir_y = _ring(height, wrap)
        px, mx, py, my = (p.reshape(height, width) for p in ports)
        self._ports = (px, mx, py, my)

    # the [n, n] tables are built on first use only: every per-pair question has a closed form
    # below (pair_*, next_links), so a run on a mesh too large for its tables never builds them

    @cached_property
    def hops(self) -> np.ndarray:
        """int16 [n, n]: hops of every route (the x distance plus the y distance)."""
        n = self.width * self.height
        hops = self._hy[:, None, :, None] + self._hx[None, :, None, :]
        return np.ascontiguousarray(hops.reshape(n, n), dtype=np.int16)

    @cached_property
    def next_link(self) -> np.ndarray:
        """int32 [n, n]: the link taken next from router r towards router d (-1 when r == d)."""
        n = self.width * self.height
        px, mx, py, my = self._ports
        # while sx != dx take the x link of (sx, sy) towards dx, then the y link of (dx, sy)
        # towards dy: [sy, sx, dx] and [sy, sx, dy] tables, broadcast to [sy, sx, dy, dx]
        dx, dy = self._dir_x[None], self._dir_y[:, None, :]
        x_link = np.where(dx > 0, px[:, :, None], np.where(dx < 0, mx[:, :, None], -1))
        y_link = np.where(dy > 0, py[:, :, None], np.where(dy < 0, my[:, :, None], -1))
        nl = np.where((self._dir_x != 0)[None, :, None, :], x_link[:, :, None, :], y_link[:, :, :, None])
        return np.ascontiguousarray(nl, dtype=np.int32).reshape(n, n)

    def next_links(self, at: np.ndarray, dst: np.ndarray) -> np.ndarray:
        """Closed form of ``next_link[at, dst]``: the x link towards the destination column while
        the columns differ, then the y link towards its row (-1 at the destination)."""
        w = self.width
        ax, ay, dx, dy = at % w, at // w, dst % w, dst // w
        px, mx, py, my = self._ports
        way_x, way_y = self._dir_x[ax, dx], self._dir_y[ay, dy]
        x_link = np.where(way_x > 0, px[ay, ax], mx[ay, ax])
        y_link = np.where(way_y > 0, py[ay, ax], np.where(way_y < 0, my[ay, ax], -1))
        return np.where(way_x != 0, x_link, y_link).astype(np.int32)

    def pair_hops(self, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
        """Closed form of ``hops[src, dst]``: x distance plus y distance."""
        w = self.width
        return (self._hx[src % w, dst % w] + self._hy[src // w, dst // w]).astype(np.int16)

    def diameter(self) -> int:
        """The largest x distance plus the largest y distance."""
        return int(self._hx.max()) + int(self._hy.max())

    def class_hops(self, link_class, n_classes, link_dst):
        """Closed form: class 0 ("x") is the x distance, class 1 ("y") the y distance."""
        h, w = self.height, self.width
        out = np.empty((2, h * w, h * w), dtype=np.int16)
        out[0].reshape(h, w, h, w)[...] = self._hx[None, :, None, :]
        out[1].reshape(h, w, h, w)[...] = self._hy[:, None, :, None]
        return out

    pairwise = True

    def _legs(self, values, dtype) -> tuple[np.ndarray, np.ndarray]:
        """The x legs rx[sy, sx, dx] and the y legs ry[dx, sy, dy] of ``values`` summed per route.

        Each leg comes from running sums ``F[line, s, t]`` (t steps the + way from s) and
        ``B[line, s, t]`` (the - way), built one step at a time in link order, then gathered at
        the route's step count and direction.
        """
        h, w = self.height, self.width
        vals = np.append(np.asarray(values, dtype=dtype), np.zeros(1, dtype))  # link -1 adds 0
        px, mx, py, my = self._ports
        legs = []
        for k, hops, direction, plus, minus in ((w, self._hx, self._dir_x, px, mx), (h, self._hy, self._dir_y, py.T, my.T)):
            m = plus.shape[0]
            fwd, bwd = np.zeros((m, k, k), dtype), np.zeros((m, k, k), dtype)
            vp, vm, at = vals[plus], vals[minus], np.arange(k)
            for t in range(1, k):
                fwd[:, :, t] = fwd[:, :, t - 1] + vp[:, (at + t - 1) % k]
                bwd[:, :, t] = bwd[:, :, t - 1] + vm[:, (at - t + 1) % k]
            steps = np.broadcast_to(hops.astype(np.intp)[None], (m, k, k))
            legs.append(np.where(direction[None] > 0, np.take_along_axis(fwd, steps, axis=2),
                                 np.take_along_axis(bwd, steps, axis=2)))
        return legs[0], legs[1]

    def path_sum(self, values, dtype, link_dst):
        """Separable: the x leg along the source row plus the y leg along the destination column,
        broadcast-added to [n, n]."""
        h, w = self.height, self.width
        rx, ry = self._legs(values, dtype)
        out = np.empty((h, w, h, w), dtype)
        np.add(rx[:, :, None, :], np.ascontiguousarray(ry.transpose(1, 2, 0))[:, None, :, :], out=out)
        return out.reshape(h * w, h * w)

    def pair_path_sum(self, values, dtype, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
        """``path_sum(values)[src, dst]`` without the [n, n] table: the two legs gathered per pair
        (the same two numbers added, so the same result bit for bit)."""
        w, h = self.width, self.height
        vals = np.append(np.asarray(values, dtype=dtype), np.zeros(1, dtype))
        (sy, sx), (dy, dx) = pair_coords(src, w), pair_coords(dst, w)
        px, mx, py, my = self._ports
        x_leg = self._pair_leg(vals, sx, dx, sy, w, self._hx, self._dir_x, px, mx)
        y_leg = self._pair_leg(vals, sy, dy, dx, h, self._hy, self._dir_y, py.T, my.T)
        return x_leg + y_leg

    @staticmethod
    def _uniform_leg(vals, k, hops, s, d, plus, minus):
        """When every link of the dimension has one value v, a leg of t steps is the running sum
        ``((0 + v) + v) + ...`` t times: a table of k sums, the same additions in the same order
        as :meth:`_legs`, so the same bits (float sums included). None when the values differ."""
        links = np.concatenate([plus[plus >= 0], minus[minus >= 0]])
        if not links.size:
            return np.zeros(len(s), vals.dtype)
        v = vals[links]
        if not np.all(v == v[0]):
            return None
        sums = np.zeros(k, vals.dtype)
        for t in range(1, k):
            sums[t] = sums[t - 1] + v[0]
        return sums[hops[s, d]]

    @staticmethod
    def _pair_leg(vals, s, d, line, k, hops, direction, plus, minus) -> np.ndarray:
        """Each pair's leg s -> d along ``line``, as :meth:`_legs` sums it (the same running sums,
        step by step in link order), built for a block of lines at a time so the temporaries stay
        within ``_LEG_BLOCK`` elements however large the mesh (a 256 x 256 mesh's [lines, k, k]
        sums would take 134 MB per dimension and table)."""
        uniform = GridRouting._uniform_leg(vals, k, hops, s, d, plus, minus)
        if uniform is not None:
            return uniform
        # lines whose links carry the same values, bit for bit, have the same running sums: build
        # them once per distinct line (a mesh's wire lengths repeat on every row and column, so
        # a 256 x 256 mesh builds one line's sums per dimension, not 256)
        both = np.ascontiguousarray(np.concatenate([vals[plus], vals[minus]], axis=1))
        rows = both.view(np.dtype((np.void, both.dtype.itemsize * both.shape[1]))).ravel()
        _, first, of_line = np.unique(rows, return_index=True, return_inverse=True)
        line = of_line.ravel()[line]
        plus, minus = plus[first], minus[first]
        m = plus.shape[0]
        out = np.zeros(len(s), vals.dtype)
        per_block = max(1, _LEG_BLOCK // (k * k))
        at = np.arange(k)
        for l0 in range(0, m, per_block):
            l1 = min(m, l0 + per_block)
            sel = np.flatnonzero((line >= l0) & (line < l1)) if per_block < m else np.arange(len(s))
            if not sel.size:
                continue
            b = l1 - l0
            sums = np.zeros((2, b, k, k), vals.dtype)  # the + way's running sums, then the - way's
            fwd, bwd = sums[0], sums[1]
            vp, vm = vals[plus[l0:l1]], vals[minus[l0:l1]]
            for t in range(1, k):
                fwd[:, :, t] = fwd[:, :, t - 1] + vp[:, (at + t - 1) % k]
                bwd[:, :, t] = bwd[:, :, t - 1] + vm[:, (at - t + 1) % k]
            flat_sums, flat_dir, flat_hops = sums.ravel(), direction.ravel(), hops.ravel()
            for c in range(0, len(sel), PAIR_CHUNK):  # chunks: temporaries stay small and warm
                at_ = sel[c:c + PAIR_CHUNK]
                ss = s[at_]
                pair = ss * k + d[at_]
                minus_way = (flat_dir[pair] <= 0).astype(np.int64)
                flat = ((minus_way * b + (line[at_] - l0)) * k + ss) * k + flat_hops[pair]
                out[at_] = flat_sums[flat]  # one gather: the sum of the route's own direction
        return out

    def pair_loads(self, src: np.ndarray, dst: np.ndarray, counts: np.ndarray | None, n_links: int) -> np.ndarray:
        """int64 [n_links] packets per link for unicast ``src[i] -> dst[i]`` (x ``counts[i]``),
        without walking the routes: each x leg covers a run of + or - links of its source row,
        each y leg a run of its destination column, so the loads are running sums of run
        starts and ends per line (on a torus the run may wrap: lines are doubled, then folded)."""
        w = self.width
        loads = np.zeros(n_links, np.int64)
        weight = np.ones(len(src), np.float64) if counts is None else counts.astype(np.float64)
        sx, sy, dx, dy = src % w, src // w, dst % w, dst // w
        px, mx, py, my = self._ports
        self._leg_loads(loads, sx, dx, sy, weight, self._hx, self._dir_x, px, mx)
        self._leg_loads(loads, sy, dy, dx, weight, self._hy, self._dir_y, py.T, my.T)
        return loads

    @staticmethod
    def _leg_loads(loads, s, d, line, weight, hops, direction, plus, minus) -> None:
        """Add the loads of the legs s -> d along ``line`` (ports [lines, k]: link ids, -1 none)."""
        m, k = plus.shape
        steps = hops[s, d].astype(np.int64)
        way = direction[s, d]
        width = 2 * k + 1
        for sign, ports in ((1, plus), (-1, minus)):
            sel = way == sign
            if not sel.any():
                continue
            # the links crossed: positions s, s+1, ... (+) or s, s-1, ... (-), steps of them,
            # as the run [start, start + steps) on the doubled line (start + k keeps it >= 0)
            start = s[sel] if sign > 0 else s[sel] - steps[sel] + 1 + k
            key = line[sel] * width + start
            diff = (np.bincount(key, weights=weight[sel], minlength=m * width)
                    - np.bincount(key + steps[sel], weights=weight[sel], minlength=m * width))
            run = np.cumsum(diff.reshape(m, width), axis=1)
            per_link = np.rint(run[:, :k] + run[:, k:2 * k]).astype(np.int64)  # fold the doubled line
            ok = ports >= 0
            loads[ports[ok]] += per_link[ok]  # link ids are distinct within one port table

    def pair_class_hops(self, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
        """``class_hops()[:, src, dst]`` without the table: x and y distances per pair."""
        w = self.width
        return np.stack([self._hx[src % w, dst % w], self._hy[src // w, dst // w]])


class TreeRouting(Routing):
    """Up/down routing through the nearest common ancestor (NCA) of an r-ary tree of r^L leaves.

    Also defines the structure: router ids run leaves first, then level 1, ..., root last
    (``first[l]`` is the first id of level l, ``level[r]`` each router's level); the parent of
    router j of level l is router j // r of level l + 1. ``anc[l, r]`` is r's ancestor at level l
    (itself at its own level, -1 below). Every non-root router has an up link (id 2c) and a down
    link (id 2c + 1) to its parent, in router order; class l - 1 joins levels l - 1 and l.
    """

    def __init__(self, radix: int, levels: int):
        r, L = radix, levels
        sizes = [r ** (L - lv) for lv in range(L + 1)]
        self.first = np.concatenate(([0], np.cumsum(sizes))).astype(np.int64)
        n = int(self.first[-1])
        self.n_levels = L
        self.level = np.repeat(np.arange(L + 1), sizes).astype(np.int16)
        in_level = np.arange(n) - self.first[self.level]
        self._anc = np.empty((L + 1, n), dtype=np.int32)
        for lv in range(L + 1):
            below = in_level // r ** np.maximum(lv - self.level, 0)
            self._anc[lv] = np.where(self.level <= lv, self.first[lv] + below, -1)
        child = np.arange(n - 1)
        parent = self._anc[self.level[child] + 1, child]
        self.link_src = np.stack([child, parent], axis=1).ravel().astype(np.int64)
        self.link_dst = np.stack([parent, child], axis=1).ravel().astype(np.int64)
        self.link_class = np.repeat(self.level[child], 2).astype(np.int16)
        self._up = np.append(2 * child, -1).astype(np.int32)
        self._down = np.append(2 * child + 1, -1).astype(np.int32)
        self.hops = np.empty((n, n), dtype=np.int16)
        self.next_link = np.empty((n, n), dtype=np.int32)
        for start in range(0, n, _BLOCK):  # row blocks keep the temporaries small
            rows = slice(start, min(start + _BLOCK, n))
            # ancestors agree from the NCA level upwards, so NCA level = L + 1 - #levels that agree
            agree = np.zeros((rows.stop - start, n), dtype=np.int16)
            for anc in self._anc:
                agree += (anc[rows, None] == anc[None, :]) & (anc[rows] >= 0)[:, None]
            nca = (L + 1) - agree
            la = self.level[rows, None]
            self.hops[rows] = 2 * nca - la - self.level[None, :]
            # going down from a: the child of a that is an ancestor of b, i.e. anc[level(a) - 1, b]
            below = self._anc[np.maximum(la - 1, 0), np.arange(n)[None, :]]
            nl = np.where(nca > la, self._up[rows, None], self._down[np.maximum(below, 0)])
            nl[np.arange(rows.stop - start), np.arange(start, rows.stop)] = -1
            self.next_link[rows] = nl

    def _nca(self, rows: slice) -> np.ndarray:
        return (self.hops[rows] + self.level[rows, None] + self.level[None, :]) // 2

    def class_hops(self, link_class, n_classes, link_dst):
        """Closed form: a route uses one class-i link on each side of the NCA it lies under."""
        la, lb = self.level[:, None], self.level[None, :]
        nca = self._nca(slice(None))
        out = np.empty((n_classes, *self.hops.shape), dtype=np.int16)
        for c in range(n_classes):
            under = c + 1 <= nca
            out[c] = (under & (la <= c)).astype(np.int16) + (under & (lb <= c))
        return out

    def path_sum(self, values, dtype, link_dst):
        """Closed form: (up-link values from a to level l) + (down-link values from level l to b)
        at l = NCA level, from two small [n, L + 1] prefix tables, gathered in row blocks."""
        n, L = self.level.size, self.n_levels
        vals = np.append(np.asarray(values, dtype=dtype), np.zeros(1, dtype))
        up, down = np.zeros((n, L + 1), dtype), np.zeros((n, L + 1), dtype)
        for lv in range(L):
            a = self._anc[lv]
            up[:, lv + 1] = up[:, lv] + np.where(a >= 0, vals[self._up[a]], 0)
            down[:, lv + 1] = down[:, lv] + np.where(a >= 0, vals[self._down[a]], 0)
        out = np.empty((n, n), dtype)
        for start in range(0, n, _BLOCK):
            rows = slice(start, min(start + _BLOCK, n))
            nca = self._nca(rows).astype(np.intp)
            out[rows] = np.take_along_axis(up[rows], nca, axis=1) + np.take_along_axis(down.T, nca, axis=0)
        return out


class ShortestPathRouting(Routing):
    """Least-latency routes (then fewest hops, then lowest link id) on any strongly connected graph.

    One networkx Dijkstra per destination on the reversed graph gives every router's distance to
    it and its candidate next links; the table is filled once and networkx is not used again.
    """

    def __init__(self, n: int, link_src, link_dst, link_latency):
        self.link_src, self.link_dst = link_src, link_dst
        rev = nx.DiGraph()
        rev.add_nodes_from(range(n))
        for lid, (s, d, lat) in enumerate(zip(link_src.tolist(), link_dst.tolist(), link_latency.tolist())):
            rev.add_edge(d, s, w=lat * n + 1, id=lid)
        self.next_link = np.full((n, n), -1, dtype=np.int32)
        self.hops = np.zeros((n, n), dtype=np.int16)
        col_next = np.empty(n, dtype=np.int32)
        col_hops = np.empty(n, dtype=np.int64)
        for d in range(n):
            pred, dist = nx.dijkstra_predecessor_and_distance(rev, d, weight="w")
            col_next.fill(-1)
            for r, preds in pred.items():
                if preds:
                    col_next[r] = min(rev[p][r]["id"] for p in preds)
                col_hops[r] = dist[r] % n
            self.next_link[:, d] = col_next
            self.hops[:, d] = col_hops
