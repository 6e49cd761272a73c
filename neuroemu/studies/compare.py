"""Side-by-side runs of one workload on several router topologies (``neuroemu compare``).

The chip, the workload, the mapping and the seed stay fixed; only ``topology.kind`` changes
(mesh and torus keep the chip's width x height, trees use its radix). One row per topology:
hops and wire per spike, latency percentiles, energy by term, all-in pJ/SOP, the busiest link's
utilisation and the timing violations.
"""
from __future__ import annotations

import dataclasses
from typing import Callable

from neuroemu.config.schema import ChipSpec, WorkloadSpec
from neuroemu.errors import ConfigError
from neuroemu.engine.record import RunResult

TOPOLOGY_KINDS = ("mesh", "torus", "htree", "tree")


def chip_on(chip: ChipSpec, kind: str) -> ChipSpec:
    """The same chip with its routers arranged as ``kind``."""
    if kind not in TOPOLOGY_KINDS:
        raise ConfigError(f"--topologies: unknown topology {kind!r}; valid: {', '.join(TOPOLOGY_KINDS)}")
    topo = chip.topology
    if kind in ("mesh", "torus") and (topo.width is None or topo.height is None):
        raise ConfigError(f"--topologies: {kind} needs the chip's topology.width and height "
                          f"(chip {chip.name!r} is a {topo.kind})")
    return dataclasses.replace(chip, topology=dataclasses.replace(topo, kind=kind))


def row(kind: str, r: RunResult) -> dict:
    """One comparison row from a record."""
    rep = r.timing_report
    return {
        "topology": kind,
        "hops_mean": r.hops_per_spike,
        "wire_mm_mean": rep.get("wire_mm_per_spike"),
        "latency_p50_s": rep.get("latency_p50_s"),
        "latency_p99_s": rep.get("latency_p99_s"),
        "energy_j": r.energy_j,
        "energy_breakdown_j": dict(r.energy_breakdown_j),
        "pj_per_sop": r.pj_per_sop,
        "max_link_utilization": rep.get("max_link_utilization"),
        "timing_violations": rep.get("timing_violations", 0),
        "spikes": r.spikes,
        "synaptic_events": r.synaptic_events,
    }


def compare(chip: ChipSpec, workload: WorkloadSpec, kinds: list[str], *,
            simulate: Callable[..., RunResult] | None = None, **run_options) -> list[dict]:
    """Run ``workload`` on ``chip`` laid out as each of ``kinds``; one row per topology."""
    if simulate is None:
        from neuroemu.engine.run import simulate as simulate_fn
        simulate = simulate_fn
    specs = [(kind, chip_on(chip, kind)) for kind in kinds]  # every name checked before any run
    return [row(kind, simulate(spec, workload, **run_options)) for kind, spec in specs]


def table(rows: list[dict]) -> str:
    """The rows as an aligned text table."""
    heads = ["topology", "hops", "wire mm", "lat p50 ns", "lat p99 ns", "energy J", "pJ/SOP", "max util",
             "violations"]

    def ns(v):
        return "n/a" if v is None else f"{v * 1e9:.1f}"

    lines = [[r["topology"], f"{r['hops_mean']:.2f}", f"{r['wire_mm_mean']:.2f}", ns(r["latency_p50_s"]),
              ns(r["latency_p99_s"]), f"{r['energy_j']:.4g}",
              "n/a" if r["pj_per_sop"] is None else f"{r['pj_per_sop']:.2f}",
              f"{r['max_link_utilization']:.2e}", str(r["timing_violations"])] for r in rows]
    widths = [max(len(h), *(len(l[i]) for l in lines)) for i, h in enumerate(heads)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    out = [fmt.format(*heads)] + [fmt.format(*l) for l in lines]
    terms = sorted({t for r in rows for t in r["energy_breakdown_j"]})
    out.append("")
    out.append("energy by term (J): " + ", ".join(terms))
    for r in rows:
        out.append(f"  {r['topology']:<8} " + "  ".join(f"{r['energy_breakdown_j'].get(t, 0.0):.3e}" for t in terms))
    return "\n".join(out)
