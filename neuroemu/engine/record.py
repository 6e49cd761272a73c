"""The frozen record of one run, and its JSON / text forms."""
from __future__ import annotations

import json
import math
import resource
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from neuroemu.config.fields import to_plain
from neuroemu.config.schema import ChipSpec, WorkloadSpec
from neuroemu.engine.energy import Ledger, add_clocking, figures, total_j
from neuroemu.engine.options import RunOptions
from neuroemu.version import __version__

SCHEMA_VERSION = 1

#: fields that legitimately differ between two runs of the same config and seed
#: fields that may differ between runs that are the same by issue 17's rule (same seed and config, any
#: backend, any MPI rank count): the engine's own figures, never the chip's
NONDETERMINISTIC_FIELDS = ("wall_s", "queue_backend", "tick_backend", "peak_rss_mb", "loop_stats")


@dataclass(frozen=True)
class SpikeTrains:
    """Sparse spike trains: parallel arrays of tick (or time) and global neuron id."""

    ticks: np.ndarray
    neurons: np.ndarray

    def __len__(self) -> int:
        return len(self.ticks)

    def to_plain(self) -> dict[str, list[int]]:
        """Lists for JSON."""
        return {"ticks": self.ticks.tolist(), "neurons": self.neurons.tolist()}


@dataclass(frozen=True)
class RunResult:
    """Everything a run reports. Same seed and config: the same record but for wall_s and queue_backend.

    Two times, never mixed: ``sim_time_s`` is the chip's own time (how long the hardware takes:
    ticks x tick under sync and gals, the sum of the emergent timesteps under barrier, continuous
    time under async); ``model_time_s`` is the network's time (ticks x tick: the biological time
    the run stands for). Rates are per model second (``mean_rate_hz``: spikes per neuron per model
    second, what a framework reports); power is per chip second (``power_w`` = energy /
    ``sim_time_s``: what a supply would see).
    """

    schema_version: int
    neuroemu_version: str
    chip: str
    workload: str
    seed: int
    queue_backend: str
    tick_backend: str
    timing: str
    network: str
    ticks: int
    sim_time_s: float
    model_time_s: float
    wall_s: float
    cores: int
    neurons: int
    spikes: int
    mean_rate_hz: float
    axon_events: int
    synaptic_events: int
    hops: int
    hops_per_spike: float
    hops_by_class: dict[str, int]
    counts: dict[str, int]
    energy_j: float
    energy_breakdown_j: dict[str, float]
    pj_per_sop: float | None
    pj_per_sop_synaptic: float | None
    power_w: float | None
    gsops_per_w: float | None
    latency_mean_s: float | None
    timing_report: dict[str, Any] = field(default_factory=dict)
    workload_report: dict[str, Any] = field(default_factory=dict)  # mapping, quantisation, classification
    config: dict[str, Any] = field(default_factory=dict)
    seeds: dict[str, int] = field(default_factory=dict)
    peak_rss_mb: float | None = None
    #: how the engine's loop cut time (the clockless loop's ``windows`` and ``threshold_checks``): like
    #: the wall time a figure of the run, not of the chip, and different for another MPI rank count
    loop_stats: dict[str, Any] = field(default_factory=dict)
    spike_trains: SpikeTrains | None = None

    def to_dict(self, *, include_spikes: bool = True) -> dict[str, Any]:
        """Plain data for JSON (spike trains as lists when present and asked for)."""
        d = {k: v for k, v in asdict(self).items() if k != "spike_trains"}
        d["spike_trains"] = self.spike_trains.to_plain() if (include_spikes and self.spike_trains) else None
        return _finite(d)

    def to_json(self, *, include_spikes: bool = True, indent: int | None = 2) -> str:
        """The record as JSON text."""
        return json.dumps(self.to_dict(include_spikes=include_spikes), indent=indent, sort_keys=False)

    def comparable(self) -> dict[str, Any]:
        """The record without the fields that may differ between identical runs."""
        d = self.to_dict()
        for k in NONDETERMINISTIC_FIELDS:
            d.pop(k, None)
        return d


def _finite(obj: Any) -> Any:
    """Replace non-finite floats by None so the JSON is standard."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_finite(v) for v in obj]
    return obj


def _workload_rows(rep: dict[str, Any], fmt) -> list[tuple[str, str]]:
    """Rows for what a mapped network reports: classification, placement, quantisation."""
    rows = []
    c = rep.get("classification")
    if c:
        acc = "n/a" if c["accuracy"] is None else f"{c['accuracy']:.2%}"
        rows += [("accuracy", f"{acc} ({c['correct']} of {c['samples']} samples)"),
                 ("latency per classification", fmt(c["latency_per_classification_s"], " s")),
                 ("  first output spike after", fmt(c["first_output_spike_s"], " s")),
                 ("energy per classification", fmt(c["energy_per_classification_j"], " J")),
                 ("  without static power", fmt(c["dynamic_energy_per_classification_j"], " J"))]
    m = rep.get("mapping")
    if m:
        rows.append(("mapping", f"{m['strategy']}: {m['cores_used']} cores, {m['neurons']:,} neurons "
                                f"({m['neuron_copies']:,} copies), {m['routes']:,} routes"))
    q = rep.get("quantisation")
    if q:
        rows.append(("quantisation", q["summary"]))
    for note in rep.get("notes", ()):
        rows.append(("note", note))
    return rows


def summary_table(r: RunResult) -> str:
    """A readable multi-line summary of a record."""
    def fmt(v: Any, unit: str = "") -> str:
        if v is None:
            return "n/a"
        if isinstance(v, float):
            return f"{v:.4g}{unit}"
        return f"{v:,}{unit}"

    rows = [
        ("chip", r.chip), ("workload", r.workload), ("seed", r.seed),
        ("timing / network", f"{r.timing} / {r.network}"),
        ("queue / tick backend", f"{r.queue_backend} / {r.tick_backend}"),
        ("cores / neurons", f"{r.cores:,} / {r.neurons:,}"),
        ("ticks / model time / chip time", f"{r.ticks:,} / {fmt(r.model_time_s, ' s')} / {fmt(r.sim_time_s, ' s')}"),
        ("wall time", fmt(r.wall_s, " s")),
        ("spikes (mean rate per model s)", f"{r.spikes:,} ({fmt(r.mean_rate_hz, ' Hz')})"),
        ("synaptic events (SOPs)", fmt(r.synaptic_events)),
        ("hops (per spike)", f"{r.hops:,} ({fmt(r.hops_per_spike)})"),
        ("energy", fmt(r.energy_j, " J")),
    ]
    rep = r.timing_report
    if rep.get("latency_p50_s") is not None:
        rows.insert(-1, ("spike route latency p50 / p99 / max", " / ".join(fmt(rep.get(k), " s") for k in
                                                             ("latency_p50_s", "latency_p99_s", "latency_max_s"))))
    if r.timing != "sync":
        rows.insert(-1, ("timing violations", fmt(rep.get("timing_violations", 0))))
    if rep.get("timestep_mean_s") is not None:
        rows.insert(-1, ("timestep mean / max", f"{fmt(rep['timestep_mean_s'], ' s')} / {fmt(rep['timestep_max_s'], ' s')}"))
        rows.insert(-1, ("speed vs real time", fmt(rep.get("realtime_factor"), "x")))
    for term, joules in r.energy_breakdown_j.items():
        share = joules / r.energy_j * 100 if r.energy_j else 0.0
        rows.append((f"  {term}", f"{joules:.4g} J ({share:.1f} %)"))
    rows += [
        ("all-in pJ/SOP (total/SOPs)", fmt(r.pj_per_sop)),
        ("synaptic pJ/SOP (synaptic/SOPs)", fmt(r.pj_per_sop_synaptic)),
        ("power (energy / chip time)", fmt(None if r.power_w is None else r.power_w * 1e3, " mW")),
        ("GSOPS/W", fmt(r.gsops_per_w)),
    ]
    rows += _workload_rows(r.workload_report, fmt)
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


def build_record(chip: ChipSpec, workload: WorkloadSpec, opt: RunOptions, ledger: Ledger,
                 class_names: tuple[str, ...], hops: np.ndarray, routed: int, latency_ps_sum: int,
                 n_enabled: int, wall: float, backend: str, spike_ticks: list[np.ndarray],
                 spike_ids: list[np.ndarray], tick_backend: str, sim_time_s: float | None = None,
                 extra: dict | None = None, workload_report: dict | None = None,
                 loop_stats: dict | None = None) -> RunResult:
    """The frozen record of a finished run, from its counters (shared with the SimPy reference).

    ``sim_time_s`` is the chip time (default: ticks x tick); ``extra`` the timing report
    (violations, latency percentiles, timestep durations); ``workload_report`` what the workload
    itself reports (a mapped network's placement and quantisation error); ``loop_stats`` the
    engine's own statistics (how its loop cut time: not the chip's, so kept apart from the timing report).
    """
    for cls, n in zip(class_names, hops):
        ledger.add(f"hop:{cls}", int(n))
    ledger.add("packet", routed)  # every routed spike is one message to its destination core
    add_clocking(ledger, chip.timing.mode, chip.cores, opt.ticks)
    model_time = opt.ticks * chip.timing.tick_s
    sim_time = model_time if sim_time_s is None else sim_time_s
    breakdown = ledger.breakdown_j(chip.energy, sim_time, chip.synapse_device)
    total = total_j(breakdown)
    sops = ledger.get("synaptic_op")
    spikes = ledger.get("spike")
    trains = None
    if opt.record_spikes:
        trains = SpikeTrains(np.concatenate(spike_ticks) if spike_ticks else np.empty(0, np.int64),
                             np.concatenate(spike_ids) if spike_ids else np.empty(0, np.int64))
    n_hops = ledger.hops()
    return RunResult(
        schema_version=SCHEMA_VERSION, neuroemu_version=__version__, chip=chip.name, workload=workload.name,
        seed=opt.seed, queue_backend=backend, tick_backend=tick_backend, timing=chip.timing.mode,
        network=opt.network,
        ticks=opt.ticks, sim_time_s=sim_time, model_time_s=model_time, wall_s=wall, cores=chip.cores,
        neurons=n_enabled, spikes=spikes,
        mean_rate_hz=spikes / n_enabled / model_time if n_enabled and model_time > 0 else 0.0,
        axon_events=ledger.get("axon_event"), synaptic_events=sops, hops=n_hops,
        hops_per_spike=n_hops / routed if routed else 0.0,
        hops_by_class={cls: int(n) for cls, n in zip(class_names, hops)},
        counts=dict(sorted((k, int(v)) for k, v in ledger.counts.items())),
        energy_j=total, energy_breakdown_j=breakdown, **figures(breakdown, sops, sim_time),
        latency_mean_s=latency_ps_sum / routed * 1e-12 if routed else None,
        timing_report=dict(extra or {}), workload_report=dict(workload_report or {}),
        config={"chip": to_plain(chip), "workload": to_plain(workload),
                "run": {"ticks": opt.ticks, "seed": opt.seed}},
        seeds={"master": opt.seed}, peak_rss_mb=_peak_rss_mb(),
        loop_stats=dict(loop_stats or {}), spike_trains=trains)


def _peak_rss_mb() -> float:
    """Peak resident memory of this process so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def with_network_reports(record: RunResult, network, hooks, tick_starts: np.ndarray, endurance) -> RunResult:
    """The record with what the network itself reports after the run, the same for every engine: a
    presentation's readout (``hooks``, e.g. classification accuracy, given each tick's start in ps)
    and the NVM synapses' programming and wear (``network.device_report``, ``endurance``, and the
    energy of the learning writes, ``write_energy_j``), and a Neurogrid mapping's report
    (``network.diffuser_report``: networks/diffuser.py)."""
    if hooks is not None:
        record = replace(record, workload_report={**record.workload_report, **hooks.report(record, tick_starts)})
    device = {} if getattr(network, "device_report", None) is None else network.device_report.to_plain()
    if endurance is not None:
        device.update(endurance.report())
    if device and ("potentiation" in record.energy_breakdown_j or "depression" in record.energy_breakdown_j):
        # the learning writes' pulses (after non-linear steps, if the device has them): their energy
        b = record.energy_breakdown_j
        device["write_energy_j"] = b.get("potentiation", 0.0) + b.get("depression", 0.0)
    if device:
        record = replace(record, workload_report={**record.workload_report, "synapse_device": device})
    if getattr(network, "diffuser_report", None):  # Neurogrid: what the shared synapses and diffuser made of it
        record = replace(record, workload_report={**record.workload_report, "diffuser": network.diffuser_report})
    return record
