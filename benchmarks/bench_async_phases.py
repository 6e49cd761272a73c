"""Where an async run of the default workload spends its time outside the C loop, against sync's.

``bench_async.py`` times whole ``simulate()`` calls; this one splits them into phases, timed as
CPU time of the calling thread (``time.thread_time``: waiting for a shared core does not count)
by wrapping the engine's methods: the YAML read (``resolve``), the network build (shared), the
rest of the set-up (route binding, the C kernel's tables), the C loop itself (async: the window
loop, ``al_run``; sync: the block kernel), the input spikes (async: drawn 2,048 ticks ahead and
handed to the C loop, which queues them chunk by chunk; sync: drawn per block), the spikes taken back from the C loop (async only), and the record
(``finish``: routes priced, spike flow). Sync and async runs alternate; each phase is the best of
``--repeat``. ``python_outside_c_ms`` is a run's CPU time less its C loop's; the figure to watch
is ``async_minus_sync_outside_c_ms``: what async spends in Python that sync does not. Prints ONE
JSON line.

    .venv/bin/python benchmarks/bench_async_phases.py             # 1000 ticks, best of 7
    .venv/bin/python benchmarks/bench_async_phases.py --ticks 300 --repeat 3
"""
from __future__ import annotations

import argparse
import functools
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchutil import machine, today  # noqa: E402
from neuroemu.engine import asyncblock, asynccore, blockrun, run  # noqa: E402
from neuroemu.hardware import asyncloop, block  # noqa: E402

#: phase -> ((owner, attribute) wrapped under sync, the same under async); None: not in that run
PHASES = {
    "resolve": ((run, "resolve"), (run, "resolve")),
    "build_network": ((run.TickLoop, "_build_network"), (asynccore.AsyncCoreLoop, "_build_network")),
    "setup": ((run.TickLoop, "__init__"), (asynccore.AsyncCoreLoop, "__init__")),
    "c_loop": ((block.BlockKernel, "run"), (asyncloop.WindowLoopC, "run")),
    "inputs": ((blockrun.BlockRun, "_inputs"), (asyncblock.WindowRun, "_draw_ahead")),
    "spikes_back": (None, (asyncblock.WindowRun, "_emit")),
    "finish": ((run.TickLoop, "finish"), (asynccore.AsyncCoreLoop, "finish")),
    "route_prices": ((run.TickLoop, "_route_prices"), (asynccore.AsyncCoreLoop, "_route_prices")),
}
_spent: dict[str, float] = {}


def _wrap(owner, name: str, key: str) -> None:
    fn = getattr(owner, name)

    @functools.wraps(fn)
    def timed(*args, **kwargs):
        start = time.thread_time()
        try:
            return fn(*args, **kwargs)
        finally:
            _spent[key] = _spent.get(key, 0.0) + time.thread_time() - start
    setattr(owner, name, timed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ticks", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    done = set()
    for phase, pair in PHASES.items():
        for where in pair:
            if where is not None and where not in done:
                done.add(where)
                _wrap(*where, phase)
    best: dict[str, dict[str, float]] = {"sync": {}, "async": {}}
    sops = {}
    for timing in best:  # warm up: imports and first calls
        run.simulate(ticks=10, timing=timing)
    for _ in range(args.repeat):
        for timing in best:
            _spent.clear()
            start = time.thread_time()
            record = run.simulate(ticks=args.ticks, timing=timing)
            _spent["total"] = time.thread_time() - start
            _spent["setup"] -= _spent["build_network"]  # the set-up past the (shared) network build
            _spent["python_outside_c"] = _spent["total"] - _spent["c_loop"]
            sops[timing] = record.synaptic_events
            for key, value in _spent.items():
                best[timing][key] = min(best[timing].get(key, value), value)
    ms = {t: {k: round(v * 1e3, 2) for k, v in phases.items()} for t, phases in best.items()}
    print(json.dumps({
        "bench": "async_phases", "workload": "default", "ticks": args.ticks, "repeat": args.repeat,
        "clock": "thread CPU time, best per phase", "sync_ms": ms["sync"], "async_ms": ms["async"],
        "async_minus_sync_outside_c_ms": round(ms["async"]["python_outside_c"] - ms["sync"]["python_outside_c"], 2),
        "async_vs_sync_cpu": round((sops["async"] / best["async"]["total"]) / (sops["sync"] / best["sync"]["total"]), 3),
        "baseline": "sync, same process", **machine(), "date": today()}))


if __name__ == "__main__":
    main()
