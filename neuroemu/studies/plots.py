"""Plots of runs and sweeps (matplotlib, the optional extra ``neuroemu[plots]``).

Every plotting function returns a :class:`matplotlib.figure.Figure` drawn on the Agg canvas
(no pyplot, no global state, no display needed); :func:`save_png` writes it. matplotlib is
imported on first use, and its absence is a :class:`NeuroEmuError` that says what to install.

Kinds (:data:`KINDS`):

- ``raster``: spikes by core and tick, from a run output directory (``spikes.npz``).
- ``energy``: the energy breakdown by term, from ``record.json``.
- ``links``: per-link utilisation (busy time / chip time) drawn on the router layout, mesh or
  tree. From ``record["link_stats"]`` (or the timing report's) when the run kept them, else
  computed by rebuilding the run's router graph and network from the record's config and
  routing every spike (from ``spikes.npz``; a run without one is replayed with spike recording).
- ``hops``: histogram of hops per spike, from ``record["hop_histogram"]`` if present, else
  from the spikes and the rebuilt routes as for ``links``.
- ``sweep``: any results column against a swept key, one line per value of another key
  (repetitions averaged, their standard deviation as error bars).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from neuroemu.config.schema import FILE_KINDS
from neuroemu.errors import NeuroEmuError

#: axis labels of well-known columns (any other column is labelled by its name)
LABELS = {
    "gsops_per_w": "GSOPS/W",
    "power_w": "power (W, energy / chip time)",
    "energy_j": "energy (J)",
    "pj_per_sop": "all-in pJ/SOP",
    "pj_per_sop_synaptic": "synaptic pJ/SOP",
    "mean_rate_hz": "mean firing rate (Hz, per model second)",
    "sim_time_s": "chip time (s)",
    "model_time_s": "model time (s)",
    "hops_per_spike": "hops per spike",
    "latency_mean_s": "mean latency (s)",
    "wall_s": "wall time (s)",
}
#: at most this many spikes are drawn in a raster (a deterministic subsample beyond)
MAX_RASTER_SPIKES = 200_000


def column_label(name: str) -> str:
    """The axis label of a results column."""
    return LABELS.get(name, name)


def _mpl():
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise NeuroEmuError("plots need matplotlib: pip install neuroemu[plots]") from None
    return Figure, FigureCanvasAgg


def new_figure(size: tuple[float, float] = (7.0, 4.5)):
    """An empty Figure on an Agg canvas."""
    Figure, Canvas = _mpl()
    fig = Figure(figsize=size, layout="constrained")
    Canvas(fig)
    return fig


def save_png(fig, path: str | Path, dpi: int = 120) -> Path:
    """Write the figure as PNG (creating the parent directory)."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=dpi, format="png")
    except OSError as exc:
        raise NeuroEmuError(f"{path}: cannot write the plot ({exc.strerror})") from None
    return path


# --- run outputs -------------------------------------------------------------------------------

@dataclass
class RunOutput:
    """A run's record (plain dict) and, when recorded, its spikes (ticks, neurons)."""

    record: dict
    spikes: tuple[np.ndarray, np.ndarray] | None
    source: str

    def timing_item(self, name: str) -> Any:
        """An entry of the record, or of its timing report, or None."""
        if self.record.get(name) is not None:
            return self.record[name]
        return (self.record.get("timing_report") or {}).get(name)


def load_run(path: str | Path) -> RunOutput:
    """A run output directory (``record.json`` [+ ``spikes.npz``]) or a record JSON file."""
    path = Path(path)
    record_path = path / "record.json" if path.is_dir() else path
    if not record_path.is_file():
        raise NeuroEmuError(f"{path}: no run record here (expected a directory written by "
                            "`neuroemu run --out DIR`, or a record JSON file)")
    try:
        record = json.loads(record_path.read_text())
    except (OSError, ValueError) as exc:
        raise NeuroEmuError(f"{record_path}: not a readable JSON record ({exc})") from None
    if not isinstance(record, dict) or "energy_breakdown_j" not in record:
        raise NeuroEmuError(f"{record_path}: not a neuroemu run record (no energy_breakdown_j)")
    spikes = None
    npz = record_path.parent / "spikes.npz"
    if npz.is_file():
        with np.load(npz) as data:
            spikes = (np.asarray(data["ticks"], np.int64), np.asarray(data["neurons"], np.int64))
    elif isinstance(record.get("spike_trains"), dict):
        st = record["spike_trains"]
        spikes = (np.asarray(st["ticks"], np.int64), np.asarray(st["neurons"], np.int64))
    return RunOutput(record, spikes, str(record_path))


def _as_run(run: RunOutput | dict | str | Path) -> RunOutput:
    if isinstance(run, RunOutput):
        return run
    if isinstance(run, dict):
        return RunOutput(run, None, "<record>")
    return load_run(run)


def _specs(run: RunOutput):
    from neuroemu.config.loader import chip_from_data, workload_from_data
    config = run.record.get("config") or {}
    if "chip" not in config or "workload" not in config:
        raise NeuroEmuError(f"{run.source}: the record has no config.chip / config.workload to rebuild the run from")
    return (chip_from_data(config["chip"], f"{run.source}: config.chip"),
            workload_from_data(config["workload"], f"{run.source}: config.workload"))


def run_spikes(run: RunOutput) -> tuple[np.ndarray, np.ndarray]:
    """The run's spikes; a run saved without them is replayed (same config and seed) to get them."""
    if run.spikes is None:
        from neuroemu.engine.run import simulate
        chip, workload = _specs(run)
        config = run.record.get("config") or {}
        ticks = (config.get("run") or {}).get("ticks", run.record.get("ticks"))
        result = simulate(chip, workload, ticks=ticks, seed=run.record.get("seed"), record_spikes=True)
        run.spikes = (result.spike_trains.ticks, result.spike_trains.neurons)
    return run.spikes


@dataclass
class Routes:
    """The rebuilt router graph and every route's source neuron, source and target core (-1: none)."""

    topology: Any
    src_core: np.ndarray
    dst_core: np.ndarray
    neurons_per_core: int
    src_neuron: np.ndarray


def _rebuild_network(run: RunOutput):
    """The run's network, built again (deterministic from the config and seed), and its chip spec."""
    from neuroemu.networks.workloads import build_network
    chip, workload = _specs(run)
    return build_network(chip, workload, int(run.record.get("seed", workload.seed)), run.source), chip


def rebuild_routes(run: RunOutput) -> Routes:
    """Rebuild the run's topology and network (deterministic from the config and seed)."""
    from neuroemu.hardware.chip import build_chip_topology
    net, chip = _rebuild_network(run)
    arrays = net.arrays
    neuron, axon, _ = arrays.routes()
    src = arrays.chip_cores(neuron // arrays.neurons_per_core)
    dst = np.where(axon >= 0, arrays.chip_cores(np.maximum(axon, 0) // arrays.axons_per_core), -1)
    return Routes(build_chip_topology(chip), src, dst, arrays.neurons_per_core, neuron)


def _spikes_per_route(run: RunOutput, routes: Routes) -> np.ndarray:
    """Spikes carried by each route: every spike of its source neuron."""
    _, neurons = run_spikes(run)
    n = int(routes.src_neuron.max(initial=-1)) + 1
    return np.bincount(neurons, minlength=n)[:n][routes.src_neuron]


# --- the kinds ----------------------------------------------------------------------------------

def plot_raster(run: RunOutput | dict | str | Path):
    """Spikes by core (y; a core's neurons spread over one unit) and tick (x)."""
    run = _as_run(run)
    ticks, neurons = run_spikes(run)
    chip = (run.record.get("config") or {}).get("chip") or {}
    per_core = int((chip.get("core") or {}).get("neurons") or 1)
    fig = new_figure()
    ax = fig.add_subplot()
    note = ""
    if len(ticks) > MAX_RASTER_SPIKES:
        keep = np.sort(np.random.default_rng(0).choice(len(ticks), MAX_RASTER_SPIKES, replace=False))
        ticks, neurons = ticks[keep], neurons[keep]
        note = f" ({MAX_RASTER_SPIKES:,} drawn)"
    position = neurons / per_core
    network = (run.record.get("config") or {}).get("workload", {}).get("network") or {}
    shown = None  # the range of cores drawn (default: the whole chip)
    if network.get("kind") in FILE_KINDS:
        # a mapped network's arrays hold only the cores it uses: draw each on its chip core
        arrays = _rebuild_network(run)[0].arrays
        position = arrays.chip_cores(neurons // per_core) + (neurons % per_core) / per_core
        used = arrays.chip_cores(np.arange(arrays.n_cores))
        shown = (int(used.min()), int(used.max()) + 1)
    ax.scatter(ticks, position, s=2, marker="|", linewidths=0.6, color="black")
    cores = int(run.record.get("cores") or 0)
    if 1 < cores <= 64:
        for c in range(1, cores):
            ax.axhline(c, color="0.85", linewidth=0.5, zorder=0)
    ax.set_xlabel("tick")
    ax.set_ylabel("core")
    ax.set_title(f"{run.record.get('chip')} / {run.record.get('workload')}: "
                 f"{int(run.record.get('spikes') or len(ticks)):,} spikes{note}")
    if shown is not None:
        ax.set_ylim(*shown)
    elif cores:
        ax.set_ylim(0, cores)
    return fig


def plot_energy(run: RunOutput | dict | str | Path):
    """The energy breakdown by term (horizontal bars in joules, with each term's share)."""
    run = _as_run(run)
    terms = run.record["energy_breakdown_j"]
    total = float(run.record.get("energy_j") or math.fsum(terms.values()))
    names = list(terms)
    values = [float(terms[k]) for k in names]
    fig = new_figure((7.0, 0.45 * len(names) + 1.6))
    ax = fig.add_subplot()
    bars = ax.barh(names, values, color="tab:blue")
    ax.invert_yaxis()
    for bar, v in zip(bars, values):
        share = v / total * 100 if total else 0.0
        ax.annotate(f" {share:.1f} %", (bar.get_width(), bar.get_y() + bar.get_height() / 2), va="center", fontsize=8)
    ax.set_xlabel("energy (J)")
    ax.set_ylabel("term")
    pj = run.record.get("pj_per_sop")
    ax.set_title(f"{run.record.get('chip')} / {run.record.get('workload')}: {total:.4g} J"
                 + (f", {pj:.3g} pJ/SOP all-in" if pj is not None else ""))
    ax.margins(x=0.15)
    return fig


def link_utilization(run: RunOutput) -> dict[str, np.ndarray]:
    """Per-link ``src``, ``dst`` (routers), ``utilization`` and the routers' ``pos`` (mm)."""
    stats = run.timing_item("link_stats")
    pos = run.timing_item("router_pos_mm")
    if isinstance(stats, dict) and pos is None:
        pos = stats.get("router_pos_mm")
    if isinstance(stats, dict) and pos is not None and {"src", "dst", "utilization"} <= set(stats):
        return {"src": np.asarray(stats["src"], np.int64), "dst": np.asarray(stats["dst"], np.int64),
                "utilization": np.asarray(stats["utilization"], float), "pos": np.asarray(pos, float)}
    routes = rebuild_routes(run)
    topo = routes.topology
    counts = _spikes_per_route(run, routes)
    send = (counts > 0) & (routes.dst_core >= 0)
    loads = topo.link_loads(topo.core_router[routes.src_core[send]], topo.core_router[routes.dst_core[send]],
                            counts[send].astype(np.int64))
    sim_time = float(run.record.get("sim_time_s") or 0.0)
    busy = loads * (1e-9 / np.asarray(topo.link_bandwidth, float))  # one packet holds a link 1/bandwidth ns
    util = busy / sim_time if sim_time > 0 else np.zeros(len(loads))
    return {"src": np.asarray(topo.link_src, np.int64), "dst": np.asarray(topo.link_dst, np.int64),
            "utilization": util, "pos": np.asarray(topo.router_pos_mm, float)}


def plot_links(run: RunOutput | dict | str | Path):
    """Per-link utilisation drawn on the router layout (the two directions side by side)."""
    from matplotlib.collections import LineCollection
    run = _as_run(run)
    links = link_utilization(run)
    pos, src, dst, util = links["pos"], links["src"], links["dst"], links["utilization"]
    fig = new_figure((6.5, 5.5))
    ax = fig.add_subplot()
    a, b = pos[src], pos[dst]
    d = b - a
    length = np.hypot(d[:, 0], d[:, 1])
    span = float(np.ptp(pos, axis=0).max()) if len(pos) > 1 else 1.0
    nonzero = length[length > 0]
    offset = 0.06 * (nonzero.min() if len(nonzero) else max(span, 1.0))
    normal = np.stack([-d[:, 1], d[:, 0]], axis=1) / np.where(length > 0, length, 1.0)[:, None]
    shift = normal * offset  # each direction on its own side of the wire
    segments = np.stack([a + shift, b + shift], axis=1)
    lc = LineCollection(segments, array=util, cmap="viridis", linewidths=2.5)
    ax.add_collection(lc)
    ax.scatter(pos[:, 0], pos[:, 1], s=14, color="0.3", zorder=3)
    fig.colorbar(lc, ax=ax, label="link utilisation (busy time / chip time)")
    ax.set_xlabel("x (mm)")
    ax.set_ylabel("y (mm)")
    ax.set_aspect("equal")
    ax.autoscale_view()
    ax.margins(0.08)
    peak = float(util.max()) if len(util) else 0.0
    kind = ((run.record.get("config") or {}).get("chip") or {}).get("topology", {}).get("kind", "")
    ax.set_title(f"{run.record.get('chip')} ({kind}): {len(util)} links, peak utilisation {peak:.3g}")
    return fig


def hop_histogram(run: RunOutput) -> np.ndarray:
    """Spikes by hop count (index = hops), from the record if it has one, else rebuilt."""
    given = run.timing_item("hop_histogram")
    if isinstance(given, dict):
        out = np.zeros(max(int(k) for k in given) + 1 if given else 1, np.int64)
        for k, v in given.items():
            out[int(k)] = int(v)
        return out
    if isinstance(given, list):
        return np.asarray(given, np.int64)
    routes = rebuild_routes(run)
    counts = _spikes_per_route(run, routes)
    send = (counts > 0) & (routes.dst_core >= 0)
    hops = routes.topology.core_hops(routes.src_core[send], routes.dst_core[send]).astype(np.int64)
    return np.bincount(hops, weights=counts[send], minlength=1).astype(np.int64)


def plot_hops(run: RunOutput | dict | str | Path):
    """Histogram of hops per spike."""
    run = _as_run(run)
    hist = hop_histogram(run)
    fig = new_figure()
    ax = fig.add_subplot()
    h = np.arange(len(hist))
    ax.bar(h, hist, color="tab:green", width=0.8)
    ax.set_xlabel("hops per spike")
    ax.set_ylabel("spikes")
    total = int(hist.sum())
    mean = float((h * hist).sum() / total) if total else 0.0
    ax.set_title(f"{run.record.get('chip')} / {run.record.get('workload')}: mean {mean:.3g} hops over {total:,} spikes")
    return fig


def plot_sweep(results, y: str = "gsops_per_w", x: str | None = None, group: str | None = None,
               where: dict[str, Any] | None = None, logx: bool = False, logy: bool = False):
    """Column ``y`` against swept key ``x``, one line per value of ``group``.

    ``results``: a sweep directory, results.csv / .parquet, a DataFrame or a list of rows.
    ``x`` defaults to the first swept key; ``group``, for a grid sweep plotted against one of its
    keys, to the first other key;
    ``where`` keeps only rows whose columns equal the given values. Repetitions and any other
    axis are averaged; error bars show the standard deviation when there is more than one row.
    """
    rows, spec, source = _results_rows(results)
    axes = [a.get("key") for a in (spec or {}).get("axes") or [] if isinstance(a, dict)]
    x = x or (axes[0] if axes else None)
    if group is None and (spec or {}).get("mode", "grid") == "grid" and x in axes and len(axes) > 1:
        group = next(k for k in axes if k != x)  # grid only: zipped or sampled axes move together
    if x is None:
        raise NeuroEmuError(f"{source}: say which column goes on the x axis (--x); the sweep has no axes")
    columns = list(dict.fromkeys(c for r in rows for c in r))
    for name, col in (("x", x), ("y", y), ("group", group), *(("where", k) for k in (where or {}))):
        if col is not None and col not in columns:
            raise NeuroEmuError(f"{source}: no column {col!r} for {name}; columns: {', '.join(columns)}")
    if where:
        rows = [r for r in rows if all(_same(r.get(k), v) for k, v in where.items())]
        if not rows:
            raise NeuroEmuError(f"{source}: no row matches {where}")
    fig = new_figure()
    ax = fig.add_subplot()
    xs_all = [r.get(x) for r in rows]
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in xs_all if v is not None)
    categories = sorted({str(v) for v in xs_all}) if not numeric else None
    groups = list(dict.fromkeys(r.get(group) for r in rows)) if group else [None]
    for g in groups:
        sel = [r for r in rows if group is None or r.get(group) == g]
        by_x: dict[Any, list[float]] = {}
        for r in sel:
            v = r.get(y)
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
                by_x.setdefault(r.get(x) if numeric else str(r.get(x)), []).append(float(v))
        keys = sorted(by_x) if numeric else [c for c in categories if c in by_x]
        if not keys:
            continue
        px = keys if numeric else [categories.index(k) for k in keys]
        mean = [float(np.mean(by_x[k])) for k in keys]
        std = [float(np.std(by_x[k])) if len(by_x[k]) > 1 else 0.0 for k in keys]
        label = None if group is None else f"{group} = {g}"
        if any(std):
            ax.errorbar(px, mean, yerr=std, marker="o", capsize=3, label=label)
        else:
            ax.plot(px, mean, marker="o", label=label)
    if not numeric:
        ax.set_xticks(range(len(categories)), categories)
    if logx and numeric:
        ax.set_xscale("log")
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(column_label(x))
    ax.set_ylabel(column_label(y))
    if group is not None:
        ax.legend(title=None, fontsize=8)
    name = (spec or {}).get("name")
    if name:
        ax.set_title(name)
    ax.grid(True, alpha=0.3)
    return fig


def _same(a: Any, b: Any) -> bool:
    if a == b:
        return True
    return str(a) == str(b)


def _results_rows(results) -> tuple[list[dict], dict | None, str]:
    if isinstance(results, (str, Path)):
        from neuroemu.studies.results import read_results
        rows, spec = read_results(results)
        return rows, spec, str(results)
    if isinstance(results, list):
        return results, None, "<rows>"
    to_dict = getattr(results, "to_dict", None)
    if to_dict is not None:  # a pandas DataFrame
        rows = [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()}
                for r in to_dict(orient="records")]
        return rows, None, "<table>"
    raise NeuroEmuError("plot sweep: expected a results path, a DataFrame or a list of rows "
                        f"(got {type(results).__name__})")


def plot_compare(rows: list[dict], out: str | Path | None = None):
    """`neuroemu compare` rows: energy by term (stacked), all-in pJ/SOP, mean hops and mean spike
    latency per (topology, timing). Refused rows are left out (the table names them)."""
    _mpl()
    ok = [r for r in rows if r.get("error") is None]
    several = len({r.get("timing") for r in ok}) > 1
    multi_topo = len({r["topology"] for r in ok}) > 1
    names = [("/".join(x for x, keep in ((r["topology"], multi_topo or not several), (r.get("timing", ""), several))
                       if keep)) for r in ok]
    fig = new_figure((12.0, 3.6))
    ax = fig.add_subplot(1, 4, 1)
    terms = list(dict.fromkeys(t for r in ok for t in r["energy_breakdown_j"]))
    bottom = np.zeros(len(ok))
    for term in terms:
        values = np.array([r["energy_breakdown_j"].get(term, 0.0) for r in ok])
        ax.bar(names, values, bottom=bottom, label=term)
        bottom += values
    ax.set_ylabel("energy (J)")
    ax.legend(fontsize=6)
    panels = (("pj_per_sop", "all-in pJ/SOP", 1.0), ("hops_mean", "mean hops per spike", 1.0),
              ("latency_mean_s", "mean spike latency (ns)", 1e9))
    for i, (key, label, scale) in enumerate(panels, start=2):
        ax = fig.add_subplot(1, 4, i)
        ax.bar(names, [float(r.get(key) or 0.0) * scale for r in ok], color="tab:blue")
        ax.set_ylabel(label)
    for ax in fig.axes:
        ax.tick_params(axis="x", labelrotation=45, labelsize=7)
    if out is not None:
        save_png(fig, out)
    return fig


KINDS: dict[str, Callable[..., Any]] = {
    "raster": plot_raster, "energy": plot_energy, "links": plot_links, "hops": plot_hops, "sweep": plot_sweep,
}


def plot(result, kind: str, out: str | Path | None = None, **options):
    """Draw ``kind`` (one of :data:`KINDS`) from ``result`` (a run output or a sweep's results),
    save it as PNG when ``out`` is given, and return the Figure."""
    if kind not in KINDS:
        raise NeuroEmuError(f"plot: unknown kind {kind!r}; valid: {', '.join(KINDS)}")
    _mpl()
    fig = KINDS[kind](result, **options)
    if out is not None:
        save_png(fig, out)
    return fig
