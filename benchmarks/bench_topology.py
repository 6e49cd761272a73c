"""Router graph setup: the topology without the networkx graph, against building it as runs did.

Runs on meshes, tori and systems of meshes route in closed form from arrays, so the networkx
graph (:attr:`neuroemu.hardware.topology.Topology.graph`) is built only on first access, by
exports and drawings. Before, every run, sweep point and MPI rank built it in ``Topology.__init__``
(one ``add_node`` per router, one ``add_edge`` per link), and the mesh's links and ports came
from a per-router Python loop. The baseline here is that code, in this process: the same
topology, then its graph forced (the removed eager build), the links made by the old loop
(kept below verbatim as :func:`reference_grid_init`) and the per-pair path sums' running sums
built for every row and column rather than once per distinct line (:func:`reference_pair_leg`),
all patched in for the baseline's builds.

Two parts, each one JSON line; ``"speedup"`` = baseline seconds / new seconds and
``"memory_ratio"`` = baseline / new peak bytes traced (tracemalloc, in a separate pass from the
timing so its overhead does not enter the seconds):

- **topology**: ``build_chip_topology`` of chips/truenorth.yaml (64 x 64 mesh), pohoiki_beach
  (64 Loihi chips, 2,048 routers) and ns16e (16 TrueNorth chips, 256 x 256 routers), best of 3
  interleaved; also the bytes held afterwards and whether the two give the same link and port
  arrays (``"identical"``).
- **run setup**: the setup (``TickLoop`` construction) of ``neuroemu run ns16e
  workloads/digits.yaml``, the matrix's digits cell: a small mapped network on a large system,
  where the router graph was most of the work (placement and the run each built the topology).
  The default generated workload is not used: it builds NS16e's 16 M neurons whatever its
  ``cores``, ~100 s of setup of which the graph was ~10-20 s (benchmarks/README.md).

    .venv/bin/python benchmarks/bench_topology.py
    .venv/bin/python benchmarks/bench_topology.py --chips truenorth    # one chip, topology only
"""
from __future__ import annotations

import argparse
import contextlib
import gc
import json
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchutil import machine, today  # noqa: E402


def reference_grid_init(self, width: int, height: int, wrap: bool):
    """GridRouting.__init__ as it was (a per-router loop with a dict of links), the baseline."""
    from neuroemu.hardware.routing import _ring
    self.width, self.height = width, height
    n = width * height
    ids = np.arange(n)
    coords = (ids % width, ids // width)
    ports = {k: np.full(n, -1, np.int32) for k in ("xp", "xm", "yp", "ym")}
    index: dict[tuple[int, int], int] = {}
    src, dst, cls = [], [], []
    for c, (k, stride, plus, minus) in enumerate(((width, 1, "xp", "xm"), (height, width, "yp", "ym"))):
        coord = coords[c].tolist()
        for r in range(n):
            for step, port in ((1, plus), (-1, minus)):
                nc = coord[r] + step
                if (not wrap and not 0 <= nc < k) or nc % k == coord[r]:
                    continue
                key = (r, r + (nc % k - coord[r]) * stride)
                if key not in index:
                    index[key] = len(src)
                    src.append(key[0]), dst.append(key[1]), cls.append(c)
                ports[port][r] = index[key]
    self.link_src, self.link_dst = np.array(src, np.int64), np.array(dst, np.int64)
    self.link_class = np.array(cls, np.int16)
    self._hx, self._dir_x = _ring(width, wrap)
    self._hy, self._dir_y = _ring(height, wrap)
    px, mx, py, my = (ports[k].reshape(height, width) for k in ("xp", "xm", "yp", "ym"))
    self._ports = (px, mx, py, my)


def reference_pair_leg(vals, s, d, line, k, hops, direction, plus, minus) -> np.ndarray:
    """GridRouting._pair_leg as it was (running sums built for every line), the baseline."""
    from neuroemu.hardware.routing import _LEG_BLOCK, PAIR_CHUNK, GridRouting
    uniform = GridRouting._uniform_leg(vals, k, hops, s, d, plus, minus)
    if uniform is not None:
        return uniform
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
        sums = np.zeros((2, b, k, k), vals.dtype)
        fwd, bwd = sums[0], sums[1]
        vp, vm = vals[plus[l0:l1]], vals[minus[l0:l1]]
        for t in range(1, k):
            fwd[:, :, t] = fwd[:, :, t - 1] + vp[:, (at + t - 1) % k]
            bwd[:, :, t] = bwd[:, :, t - 1] + vm[:, (at - t + 1) % k]
        flat_sums, flat_dir, flat_hops = sums.ravel(), direction.ravel(), hops.ravel()
        for c in range(0, len(sel), PAIR_CHUNK):
            at_ = sel[c:c + PAIR_CHUNK]
            ss = s[at_]
            pair = ss * k + d[at_]
            minus_way = (flat_dir[pair] <= 0).astype(np.int64)
            flat = ((minus_way * b + (line[at_] - l0)) * k + ss) * k + flat_hops[pair]
            out[at_] = flat_sums[flat]
    return out


@contextlib.contextmanager
def baseline():
    """Build as before: the old link loop, the graph built with the topology, and the per-pair
    path sums' running sums built for every line."""
    from neuroemu.hardware import routing as rt
    from neuroemu.hardware.topology import Topology
    init, grid_init, leg = Topology.__init__, rt.GridRouting.__init__, rt.GridRouting.__dict__["_pair_leg"]

    def eager(self, *args, **kwargs):
        init(self, *args, **kwargs)
        self.graph  # noqa: B018 -- the eager build the lazy property replaced

    Topology.__init__, rt.GridRouting.__init__ = eager, reference_grid_init
    rt.GridRouting._pair_leg = staticmethod(reference_pair_leg)
    try:
        yield
    finally:
        Topology.__init__, rt.GridRouting.__init__, rt.GridRouting._pair_leg = init, grid_init, leg


def _timed(fn):
    gc.collect()
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def _traced(fn) -> tuple[int, int]:
    """(peak, held afterwards) bytes that ``fn`` allocates, by tracemalloc."""
    gc.collect()
    tracemalloc.start()
    out = fn()
    held, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del out
    return peak, held


def _pair(fn, repeat: int = 1) -> dict:
    """Time (best of ``repeat``, interleaved) and trace ``fn`` as it is now and under
    :func:`baseline` (new first, then old)."""
    new_s = old_s = float("inf")
    for _ in range(repeat):
        new_s = min(new_s, _timed(fn)[0])
        with baseline():
            old_s = min(old_s, _timed(fn)[0])
    new_peak, new_held = _traced(fn)
    with baseline():
        old_peak, old_held = _traced(fn)
    return {"new_s": round(new_s, 3), "baseline_s": round(old_s, 3), "speedup": round(old_s / new_s, 1),
            "new_peak_mib": round(new_peak / 2**20, 1), "baseline_peak_mib": round(old_peak / 2**20, 1),
            "memory_ratio": round(old_peak / new_peak, 1),
            "new_held_mib": round(new_held / 2**20, 1), "baseline_held_mib": round(old_held / 2**20, 1)}


def bench_topology(chip_name: str) -> dict:
    from neuroemu.config import load_chip
    from neuroemu.hardware.chip import build_chip_topology
    chip = load_chip(chip_name)
    build = lambda: build_chip_topology(chip)  # noqa: E731
    new = build()
    with baseline():
        old = build()
    r, o = new._routing, old._routing
    same = all(np.array_equal(getattr(new, k), getattr(old, k)) for k in
               ("link_src", "link_dst", "link_class", "link_length_mm", "link_latency_ps", "link_energy_pj"))
    same = same and all(np.array_equal(a, b) for a, b in zip(r._ports, o._ports))
    del new, old
    return {"bench": "topology", "chip": chip_name, "routers": int(r.width * r.height), "links": int(r.link_src.size),
            **_pair(build, repeat=3), "identical": bool(same)}


def bench_run_setup(chip_name: str = "ns16e") -> dict:
    from neuroemu.config.loader import WORKLOADS_DIR
    from neuroemu.engine.options import RunOptions, resolve
    from neuroemu.engine.run import TickLoop
    chip, wl = resolve(chip_name, WORKLOADS_DIR / "digits.yaml")
    setup = lambda: TickLoop(chip, wl, RunOptions(ticks=2, seed=wl.seed))  # noqa: E731
    return {"bench": "run_setup", "chip": chip_name, "workload": "workloads/digits.yaml", **_pair(setup)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--chips", nargs="+", default=["truenorth", "pohoiki_beach", "ns16e"])
    args = ap.parse_args()
    info = {"date": today(), **machine()}
    for name in args.chips:
        print(json.dumps({**bench_topology(name), **info}), flush=True)
    if "ns16e" in args.chips:
        print(json.dumps({**bench_run_setup("ns16e"), **info}), flush=True)


if __name__ == "__main__":
    main()
