"""Benchmark of the event queue: heapq loop vs the C timing wheel (vs the Python backend).

One process runs the same workload through every variant and prints ONE JSON line. The
workload is the kernel's window loop with the queue alone: in window w (length T) it pops every
event before (w + 1) * T, then pushes the events "produced" in that window, 1-16 windows ahead
(half of them 1 window ahead, so window sizes follow the pushes), between 512 and 20,000 per
window (log-uniform), until N events have been pushed; then it drains. Two modes:

- ``sync``: T = 1 ms, every event at exactly a tick start, priority 0 (a synchronous chip);
- ``spread``: T = 1 us, events on 1000 slots 1 ns apart per window, priorities 0-2
  (packet mode: spread times, many ties).

Variants: ``heapq`` (heappush of (time, priority, seq, kind, target, payload) tuples, heappop
one at a time into a per-window list), ``c`` (push_batch / pop_before on the C queue), and
``python`` (the same calls on the pure-Python backend). Before timing, the first windows of
each mode are checked to pop identical events in every variant.

    .venv/bin/python benchmarks/bench_queue.py            # N = 2,000,000 per mode
    .venv/bin/python benchmarks/bench_queue.py --quick    # N = 200,000 per mode
"""
from __future__ import annotations

import argparse
import heapq
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from neuroemu.kernel.queue import available_backends, make_queue  # noqa: E402
from benchutil import machine  # noqa: E402

MODES = {"sync": 10**9, "spread": 10**6}
VERIFY_WINDOWS = 40


def make_workload(n_events: int, mode: str, seed: int) -> list[tuple[np.ndarray, ...]]:
    """Per window: (time, priority, kind, target, payload) arrays of the events it pushes."""
    rng = np.random.default_rng(seed)
    period = MODES[mode]
    windows, total, w = [], 0, 0
    while total < n_events:
        c = min(int(np.exp(rng.uniform(np.log(512), np.log(20_000)))), n_events - total)
        ahead = np.where(rng.random(c) < 0.5, 1, rng.integers(2, 17, c))
        t = (w + ahead) * period
        if mode == "spread":
            t += rng.integers(0, 1000, c) * (period // 1000)
            prio = rng.integers(0, 3, c).astype(np.int32)
        else:
            prio = np.zeros(c, np.int32)
        windows.append((t.astype(np.int64), prio, rng.integers(0, 4, c).astype(np.int32),
                        rng.integers(0, 2**20, c).astype(np.int64), np.full(c, w, np.int64)))
        total += c
        w += 1
    return windows


def run_heapq(windows, period, n_windows, collect=None):
    """The baseline: one heappush per event, one heappop per event."""
    lists = [tuple(col.tolist() for col in win) for win in windows]
    h: list[tuple] = []
    push, pop = heapq.heappush, heapq.heappop
    seq = popped = 0
    start = time.perf_counter()
    for w in range(n_windows):
        end = (w + 1) * period
        batch = []
        while h and h[0][0] < end:
            batch.append(pop(h))
        popped += len(batch)
        if collect is not None:
            collect.append(batch)
        if w < len(lists):
            for t, p, k, g, y in zip(*lists[w]):
                push(h, (t, p, seq, k, g, y))
                seq += 1
    return time.perf_counter() - start, popped


def run_queue(backend, windows, period, n_windows, collect=None):
    """The window loop on one of our queues: one pop_before and one push_batch per window."""
    q = make_queue(backend)
    popped = 0
    start = time.perf_counter()
    for w in range(n_windows):
        batch = q.pop_before((w + 1) * period)
        popped += len(batch.time)
        if collect is not None:
            collect.append(batch)
        if w < len(windows):
            t, p, k, g, y = windows[w]
            q.push_batch(t, k, g, y, p)
    return time.perf_counter() - start, popped


def verify(windows, period, backends) -> bool:
    """The first VERIFY_WINDOWS windows pop the same events, in the same order, everywhere."""
    n = min(VERIFY_WINDOWS, len(windows))
    ref: list = []
    run_heapq(windows[:n], period, n, ref)
    for backend in backends:
        got: list = []
        run_queue(backend, windows[:n], period, n, got)
        for hb, qb in zip(ref, got):
            if list(zip(*(c.tolist() for c in qb))) != hb:
                return False
    return True


def main(argv=None) -> dict:
    """Run the benchmark and print one JSON line; returns the same dict."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="N = 200,000 events per mode")
    ap.add_argument("--events", type=int, default=None, help="events per mode (default 2,000,000)")
    ap.add_argument("--modes", default="sync,spread", help="comma-separated: sync, spread")
    ap.add_argument("--no-python", action="store_true", help="skip the pure-Python backend")
    ap.add_argument("--repeat", type=int, default=1, help="runs per variant; the best is kept")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    n_events = args.events or (200_000 if args.quick else 2_000_000)
    backends = [b for b in ("c", "python") if b in available_backends()
                and not (b == "python" and args.no_python)]
    if "c" not in backends:
        raise SystemExit("the C event queue is not built: run `pip install -e .` first")
    result: dict = {"benchmark": "event_queue", "events": n_events, "modes": {}}
    speedups = []
    verified = True
    for mode in args.modes.split(","):
        period = MODES[mode]
        windows = make_workload(n_events, mode, args.seed)
        n_windows = len(windows) + 17
        verified &= verify(windows, period, backends)
        res: dict = {"windows": n_windows, "window_ps": period}
        sizes = []
        run_queue("c", windows, period, n_windows, sizes)
        steady = sizes[17:len(windows)] or sizes  # past the first 16 windows' ramp-up
        counts = np.array([len(b.time) for b in steady])
        res["events_per_window"] = {"min": int(counts.min()), "median": int(np.median(counts)),
                                    "max": int(counts.max())}
        del sizes
        runners = [("heapq", lambda: run_heapq(windows, period, n_windows))]
        runners += [(b, lambda b=b: run_queue(b, windows, period, n_windows)) for b in backends]
        for name, fn in runners:
            best = None
            for _ in range(max(1, args.repeat)):
                secs, popped = fn()
                if popped != n_events:
                    raise SystemExit(f"{name}/{mode}: popped {popped} of {n_events} events")
                best = secs if best is None else min(best, secs)
            res[name] = {"events": n_events, "seconds": round(best, 4),
                         "events_per_s": round(n_events / best)}
        res["speedup_c_vs_heapq"] = round(res["heapq"]["seconds"] / res["c"]["seconds"], 1)
        speedups.append(res["speedup_c_vs_heapq"])
        result["modes"][mode] = res
    result["speedup_c_vs_heapq"] = min(speedups)
    result["verified"] = bool(verified)
    result["machine"] = machine()
    result["date"] = time.strftime("%Y-%m-%d")
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
