"""Side-by-side runs of one workload (``neuroemu compare``): router topologies x tick semantics.

The chip, the workload, the mapping and the seed stay fixed; only ``topology.kind`` changes (mesh
and torus keep the chip's width x height, trees use its radix) and/or ``timing.mode`` (sync,
gals, barrier, async: docs/clocking.md says what each one charges). One row per
(topology, timing): hops and wire per spike, latency mean / p50 / p99, energy by term, all-in
pJ/SOP, the busiest link's utilisation, the timing violations, the chip's speed against real time
and, for a ``classify`` workload, accuracy, latency and energy per classification. A combination
the chip or its neuron model cannot run becomes a row carrying the one-line reason (``error``),
not a failed comparison.
"""
from __future__ import annotations

import dataclasses
from typing import Callable

from neuroemu.config.schema import ChipSpec, WorkloadSpec
from neuroemu.engine.options import with_timing
from neuroemu.engine.record import RunResult
from neuroemu.errors import ConfigError, NeuroEmuError

TOPOLOGY_KINDS = ("mesh", "torus", "htree", "tree")
TIMINGS = ("sync", "gals", "barrier", "async")


def chip_on(chip: ChipSpec, kind: str) -> ChipSpec:
    """The same chip with its routers arranged as ``kind``."""
    if kind not in TOPOLOGY_KINDS:
        raise ConfigError(f"--topologies: unknown topology {kind!r}; valid: {', '.join(TOPOLOGY_KINDS)}")
    topo = chip.topology
    if kind in ("mesh", "torus") and (topo.width is None or topo.height is None):
        raise ConfigError(f"--topologies: {kind} needs the chip's topology.width and height "
                          f"(chip {chip.name!r} is a {topo.kind})")
    return dataclasses.replace(chip, topology=dataclasses.replace(topo, kind=kind))


def row(kind: str, r: RunResult, timing: str | None = None) -> dict:
    """One comparison row from a record (``timing`` defaults to the record's own)."""
    rep = r.timing_report
    out = {
        "topology": kind,
        "timing": timing or r.timing,
        "error": None,
        "hops_mean": r.hops_per_spike,
        "wire_mm_mean": rep.get("wire_mm_per_spike"),
        "latency_mean_s": rep.get("latency_mean_s", r.latency_mean_s),
        "latency_p50_s": rep.get("latency_p50_s"),
        "latency_p99_s": rep.get("latency_p99_s"),
        "energy_j": r.energy_j,
        "energy_breakdown_j": dict(r.energy_breakdown_j),
        "pj_per_sop": r.pj_per_sop,
        "max_link_utilization": rep.get("max_link_utilization"),
        "timing_violations": rep.get("timing_violations", 0),
        "spikes": r.spikes,
        "synaptic_events": r.synaptic_events,
        "model_time_s": r.model_time_s,
        "sim_time_s": r.sim_time_s,
        # model seconds per chip second: > 1 is faster than real time
        "realtime_factor": r.model_time_s / r.sim_time_s if r.sim_time_s > 0 else None,
        "wall_s": r.wall_s,
    }
    c = r.workload_report.get("classification")
    if c:
        out.update({"accuracy": c["accuracy"], "latency_per_classification_s": c["latency_per_classification_s"],
                    "energy_per_classification_j": c["energy_per_classification_j"]})
    return out


def refused(kind: str, timing: str, reason: str) -> dict:
    """The row of a combination that cannot run, with its one-line reason."""
    return {"topology": kind, "timing": timing, "error": reason.splitlines()[0] if reason else "refused"}


def compare(chip: ChipSpec, workload: WorkloadSpec, kinds: list[str] | None = None, *,
            timings: list[str] | None = None, simulate: Callable[..., RunResult] | None = None,
            **run_options) -> list[dict]:
    """Run ``workload`` on ``chip`` laid out as each of ``kinds`` (None: the chip's own router graph)
    under each of ``timings`` (None: the chip's own semantics); one row per pair, topologies outer.

    Unknown names are bad input and raise before any run; a pair whose run is refused (a
    :class:`NeuroEmuError`, e.g. a neuron model the async engine does not run) becomes a row with
    ``error`` set to the one-line reason.
    """
    if simulate is None:
        from neuroemu.engine.run import simulate as simulate_fn
        simulate = simulate_fn
    layouts = [(chip.topology.kind, chip)] if kinds is None else [(kind, chip_on(chip, kind)) for kind in kinds]
    modes = [chip.timing.mode] if timings is None else list(timings)
    if timings is not None and not modes:
        raise ConfigError(f"--timings: give at least one of {', '.join(TIMINGS)}")
    for mode in modes:
        with_timing(chip, mode)  # every name checked before any run
    rows = []
    for kind, spec in layouts:
        for mode in modes:
            try:
                record = simulate(with_timing(spec, mode), workload, **run_options)
            except NeuroEmuError as exc:
                rows.append(refused(kind, mode, str(exc)))
                continue
            rows.append(row(kind, record, mode))
    return rows


def _fmt(v, scale: float = 1.0, spec: str = ".2f") -> str:
    return "n/a" if v is None else format(v * scale, spec)


def table(rows: list[dict]) -> str:
    """The rows as an aligned text table, then the energy by term and any refusals."""
    classify = any("accuracy" in r for r in rows)
    heads = ["topology", "timing", "hops", "wire mm", "lat mean ns", "lat p50 ns", "lat p99 ns", "energy J",
             "pJ/SOP", "max util", "violations", "x real time"]
    if classify:
        heads += ["accuracy", "s/class.", "J/class."]
    ok = [r for r in rows if r.get("error") is None]
    lines = []
    for r in ok:
        line = [r["topology"], r["timing"], _fmt(r["hops_mean"]), _fmt(r["wire_mm_mean"]),
                _fmt(r["latency_mean_s"], 1e9, ".1f"), _fmt(r["latency_p50_s"], 1e9, ".1f"),
                _fmt(r["latency_p99_s"], 1e9, ".1f"), f"{r['energy_j']:.4g}", _fmt(r["pj_per_sop"]),
                _fmt(r["max_link_utilization"], 1.0, ".2e"), str(r["timing_violations"]),
                _fmt(r["realtime_factor"], 1.0, ".3g")]
        if classify:
            line += [_fmt(r.get("accuracy"), 100.0, ".1f") + ("" if r.get("accuracy") is None else " %"),
                     _fmt(r.get("latency_per_classification_s"), 1.0, ".3g"),
                     _fmt(r.get("energy_per_classification_j"), 1.0, ".3g")]
        lines.append(line)
    out = []
    if lines:
        widths = [max(len(h), *(len(l[i]) for l in lines)) for i, h in enumerate(heads)]
        fmt = "  ".join(f"{{:<{w}}}" for w in widths)
        out = [fmt.format(*heads)] + [fmt.format(*l) for l in lines]
        terms = sorted(dict.fromkeys(t for r in ok for t in r["energy_breakdown_j"]), key=lambda t: t == "static")
        out += ["", "energy by term (J): " + ", ".join(terms)]
        for r in ok:
            out.append(f"  {r['topology']:<8} {r['timing']:<8} "
                       + "  ".join(f"{r['energy_breakdown_j'].get(t, 0.0):.3e}" for t in terms))
    for r in rows:
        if r.get("error") is not None:
            out.append(f"  {r['topology']:<8} {r['timing']:<8} refused: {r['error']}")
    return "\n".join(out)
