"""Setup time: balanced crossbar generation and route binding, against the code they replaced.

Two parts of a run's setup that grew with the chip, each timed in this process against a
baseline that is the previous implementation, kept here verbatim as the reference:

- **crossbars**: :func:`neuroemu.networks.crossbars.balanced_crossbar` (now a bitmap per row in
  C, ``ne_balanced_rows``) against the put_along_axis / take_along_axis generator, on the
  default workload's crossbars for chips/loihi.yaml (128 cores x 4,096 axons x 128 synapses)
  and chips/truenorth.yaml (4,096 cores x 256 x 128). Same seed: the rows and the dense copy
  must be identical (``"identical"``).
- **routes**: :meth:`neuroemu.hardware.chip.Router.bind` (per route, closed forms on meshes)
  against gathering from the topology's [n, n] tables (class hops, latency, wire), on
  TrueNorth's 64 x 64 mesh with one route per neuron (1,048,576). Same values (``"identical"``).

- **link loads**: the per-link packet counts a run reports at its end
  (:meth:`Topology.link_loads`, closed form on meshes and tori) against walking every route hop
  by hop (``routing.walk_loads``), for 1,048,576 random routes with counts on TrueNorth's mesh.

Then the whole setup of a TrueNorth run (``TickLoop`` construction) once, for scale. One JSON line
per part; ``"speedup"`` = baseline seconds / new seconds.

    .venv/bin/python benchmarks/bench_setup.py
    .venv/bin/python benchmarks/bench_setup.py --chips loihi     # crossbars only, one chip
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchutil import machine, today  # noqa: E402


def reference_crossbar(n_cores, cores_used, A, n_per, N, k, axon_type, n_types, rng, dense_ok):
    """The generator as it was (put_along_axis), the baseline and the definition of the rows."""
    lengths = np.zeros(n_cores * A, np.int64)
    lengths[:cores_used * A] = k
    row_ptr = np.zeros(n_cores * A + 1, np.int64)
    np.cumsum(lengths, out=row_ptr[1:])
    row_neurons = np.empty(cores_used * A * k, np.uint8 if N <= 256 else np.uint16)
    dense = np.zeros((n_cores * A, N), np.uint8) if dense_ok else None
    types, offsets = axon_type.reshape(n_cores, A), np.arange(k)
    chunk = max(1, (1 << 22) // (A * k))
    for lo in range(0, cores_used, chunk):
        hi = min(cores_used, lo + chunk)
        t_chunk = types[lo:hi]
        cols_of_row = np.empty((hi - lo, A, k), np.int64)
        for t in range(n_types):
            R = int((t_chunk[0] == t).sum())
            if R == 0:
                continue
            band = (((np.arange(R) * n_per) // R)[:, None] + offsets[None, :]) % n_per
            col_perm = np.argsort(rng.random((hi - lo, n_per)), axis=1)
            row_perm = np.argsort(rng.random((hi - lo, R)), axis=1)
            cols = np.take_along_axis(col_perm[:, band], row_perm[:, :, None], axis=1)
            axon_idx = np.argsort(t_chunk != t, axis=1, kind="stable")[:, :R]
            np.put_along_axis(cols_of_row, axon_idx[:, :, None], cols, axis=1)
        cols_of_row.sort(axis=2)
        row_neurons[lo * A * k:hi * A * k] = cols_of_row.reshape(-1)
        if dense is not None:
            np.put_along_axis(dense[lo * A:hi * A], cols_of_row.reshape(-1, k), 1, axis=1)
    return row_ptr, row_neurons, dense


def crossbar_args(chip_name: str):
    """The arguments the default workload passes for ``chip_name`` (workloads._recurrent)."""
    from neuroemu.config import load_chip
    from neuroemu.hardware.cores import CoreArrays
    from neuroemu.networks.workloads import STREAM_CROSSBAR, STREAM_TYPES, generator
    chip = load_chip(chip_name)
    n_cores, A, N, T = chip.cores, chip.core.axons, chip.core.neurons, chip.core.axon_types
    types = np.tile(np.arange(T, dtype=np.int8), -(-A // T))[:A]
    axon_type = np.tile(types, n_cores)
    view = axon_type.reshape(n_cores, A)
    view[:] = generator(1, STREAM_TYPES).permuted(view, axis=1)
    k = 128
    # the default workload is random_recurrent: per-type weights, one byte per dense cell
    dense_ok = k >= N * CoreArrays.DENSE_MIN_DENSITY and n_cores * A * N <= CoreArrays.DENSE_MAX_BYTES
    return (n_cores, n_cores, A, N, N, k, axon_type, T), (lambda: generator(1, STREAM_CROSSBAR)), dense_ok


def bench_crossbars(chip_name: str) -> dict:
    from neuroemu.networks.crossbars import balanced_crossbar
    args, rng, dense_ok = crossbar_args(chip_name)
    start = time.perf_counter()
    new = balanced_crossbar(*args, rng(), dense_ok)
    t_new = time.perf_counter() - start
    start = time.perf_counter()
    ref = reference_crossbar(*args, rng(), dense_ok)
    t_ref = time.perf_counter() - start
    same = all((a is None and b is None) or np.array_equal(a, b) for a, b in zip(new, ref))
    return {"bench": "setup_crossbars", "chip": chip_name, "synapses": int(len(new[1])),
            "dense": new[2] is not None, "new_s": round(t_new, 3), "baseline_s": round(t_ref, 3),
            "baseline": "put_along_axis generator", "identical": bool(same),
            "speedup": round(t_ref / t_new, 2)}


def bench_routes() -> dict:
    from neuroemu.config import load_chip
    from neuroemu.hardware.chip import Router, build_chip_topology
    chip = load_chip("truenorth")
    n = chip.cores * chip.core.neurons
    rng = np.random.default_rng(0)
    src_cores = np.arange(n, dtype=np.int64) // chip.core.neurons
    dst_cores = rng.integers(0, chip.cores, n)
    dst_cores[rng.random(n) < 0.01] = -1  # a few neurons send nowhere
    router = Router(build_chip_topology(chip))
    start = time.perf_counter()
    router.bind(src_cores, dst_cores)
    t_new = time.perf_counter() - start
    topo = build_chip_topology(chip)  # fresh: no cached tables
    start = time.perf_counter()
    sends = dst_cores >= 0
    cr = topo.core_router.astype(np.int64)
    flat = cr[src_cores[sends]] * topo.n_routers + cr[dst_cores[sends]]
    class_hops = np.stack([t.ravel()[flat] for t in topo.class_hops])
    latency = topo.path_latency_ps.ravel()[flat]
    wire = np.rint(topo.wire_mm.ravel()[flat] * 1e6).astype(np.int64)
    t_ref = time.perf_counter() - start
    same = (np.array_equal(router._neuron_class_hops[:, sends], class_hops)
            and np.array_equal(router._neuron_latency[sends], latency)
            and np.array_equal(router._neuron_wire_nm[sends], wire))
    return {"bench": "setup_routes", "chip": "truenorth", "routes": n, "routers": topo.n_routers,
            "new_s": round(t_new, 3), "baseline_s": round(t_ref, 3), "baseline": "[n, n] table gathers",
            "identical": bool(same), "speedup": round(t_ref / t_new, 2)}


def bench_link_loads() -> dict:
    """The per-link loads a run reports at its end: closed form on the mesh against the walk."""
    from neuroemu.config import load_chip
    from neuroemu.hardware import routing as rt
    from neuroemu.hardware.chip import build_chip_topology
    topo = build_chip_topology(load_chip("truenorth"))
    rng = np.random.default_rng(0)
    n = 1 << 20
    src, dst, counts = rng.integers(0, 4096, n), rng.integers(0, 4096, n), rng.integers(0, 30, n)
    start = time.perf_counter()
    new = topo.link_loads(src, dst, counts)
    t_new = time.perf_counter() - start
    start = time.perf_counter()
    ref = rt.walk_loads(topo.next_link, topo.link_dst, topo.n_links, src, dst, counts)
    t_ref = time.perf_counter() - start
    return {"bench": "link_loads", "chip": "truenorth", "routes": n, "new_s": round(t_new, 3),
            "baseline_s": round(t_ref, 3), "baseline": "walk every route hop by hop (routing.walk_loads)",
            "identical": bool(np.array_equal(new, ref)), "speedup": round(t_ref / t_new, 2)}


def bench_truenorth_setup() -> dict:
    from neuroemu.engine.options import RunOptions, resolve
    from neuroemu.engine.run import TickLoop
    chip, wl = resolve("truenorth", "workloads/truenorth_typical.yaml")
    start = time.perf_counter()
    TickLoop(chip, wl, RunOptions(ticks=1, seed=wl.seed))
    return {"bench": "setup_truenorth_run", "setup_s": round(time.perf_counter() - start, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chips", default="loihi,truenorth")
    args = parser.parse_args()
    extra = {"machine": machine(), "date": today()}
    for chip in args.chips.split(","):
        print(json.dumps({**bench_crossbars(chip), **extra}), flush=True)
    if "truenorth" in args.chips.split(","):
        print(json.dumps({**bench_routes(), **extra}), flush=True)
        print(json.dumps({**bench_link_loads(), **extra}), flush=True)
        print(json.dumps({**bench_truenorth_setup(), **extra}), flush=True)


if __name__ == "__main__":
    main()
