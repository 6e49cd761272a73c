"""What runs where: every shipped chip x tick semantics x workload x network fidelity (``neuroemu matrix``).

Each cell is one small run: the embedded default generated workload (``random_recurrent`` plus
Poisson input) on a few cores, a small NIR graph (Affine + LIF, 8 -> 16 -> 4, written on the fly
with the optional ``nir`` package, driven by Bernoulli input spikes), and the digits classifier
(``workloads/digits.yaml``, its first samples). A cell either runs -- and reports a short figure:
all-in pJ/SOP, and accuracy for digits -- or is refused with the one-line reason the library gives
(a :class:`NeuroEmuError`). Anything else is a bug and is shown as ``crashed``, never hidden.

The table in docs/timing-and-networks-matrix.md is this module's Markdown output; nothing in it is
typed by hand.
"""
from __future__ import annotations

import dataclasses
import re
import tempfile
from pathlib import Path
from typing import Callable

import numpy as np

from neuroemu.config.loader import WORKLOADS_DIR, load_chip, load_workload, shipped_chips, workload_for_network_file
from neuroemu.config.schema import WorkloadSpec
from neuroemu.engine.record import RunResult
from neuroemu.errors import ConfigError, NeuroEmuError

TIMINGS = ("sync", "gals", "barrier", "async")
WORKLOADS = ("default", "nir", "digits")
NETWORKS = ("analytic", "packet")

#: small sizes: a matrix of ~150 cells runs in seconds
DEFAULT_CORES = 2
#: a core holding more neurons (Neurogrid's 65,536) uses this many of them in the default workload
DEFAULT_NEURONS_PER_CORE = 4096
DEFAULT_TICKS = 10
NIR_TICKS = 20
DIGITS_SAMPLES = 2


@dataclasses.dataclass(frozen=True)
class Cell:
    """One (chip, timing, workload, network) combination and what happened."""

    chip: str
    timing: str
    workload: str
    network: str
    status: str                  # "ok", "refused" or "crashed"
    figure: str                  # a short figure (ok) or the one-line reason
    pj_per_sop: float | None = None
    accuracy: float | None = None

    def to_dict(self) -> dict:
        """Plain data for JSON."""
        return dataclasses.asdict(self)


def _nir_workload(folder: Path) -> WorkloadSpec:
    """A small NIR graph and its input spikes, written into ``folder``."""
    try:
        import nir
    except ImportError:
        raise ConfigError("nir: the optional nir package is not installed (pip install neuroemu[nir])") from None
    rng = np.random.default_rng(12)

    def lif(n, threshold):
        return nir.LIF(tau=np.full(n, 4.0), r=np.full(n, 4.0), v_leak=np.zeros(n),
                       v_threshold=np.full(n, threshold), v_reset=np.zeros(n))
    nodes = {"input": nir.Input(input_type={"input": np.array([8])}),
             "fc1": nir.Affine(weight=rng.integers(-60, 200, (16, 8)).astype(float), bias=np.zeros(16)),
             "lif1": lif(16, 300.0),
             "fc2": nir.Linear(weight=rng.integers(-60, 200, (4, 16)).astype(float)),
             "lif2": lif(4, 400.0),
             "output": nir.Output(output_type={"output": np.array([4])})}
    edges = [("input", "fc1"), ("fc1", "lif1"), ("lif1", "fc2"), ("fc2", "lif2"), ("lif2", "output")]
    nir.write(folder / "small.nir", nir.NIRGraph(nodes=nodes, edges=edges))
    t, i = np.nonzero(rng.random((NIR_TICKS, 8)) < 0.3)
    np.savez(folder / "small_in.npz", times=t, ids=i)
    return workload_for_network_file(folder / "small.nir", ticks=NIR_TICKS, dt=1.0, neuron_reset="zero",
                                     input_spikes=str(folder / "small_in.npz"))


def _workload(name: str, folder: Path) -> tuple[WorkloadSpec, int]:
    """The workload of a column and its run length in ticks."""
    if name == "default":
        wl = load_workload(None)
        return dataclasses.replace(wl, network=dataclasses.replace(wl.network, cores=DEFAULT_CORES)), DEFAULT_TICKS
    if name == "nir":
        return _nir_workload(folder), NIR_TICKS
    wl = load_workload(WORKLOADS_DIR / "digits.yaml")
    return wl, DIGITS_SAMPLES * (wl.classify.present_ticks + wl.classify.settle_ticks)


def _figure(r: RunResult) -> tuple[str, float | None]:
    c = r.workload_report.get("classification")
    text = "n/a pJ/SOP" if r.pj_per_sop is None else f"{r.pj_per_sop:.3g} pJ/SOP"
    if c and c.get("accuracy") is not None:
        text += f", {c['correct']}/{c['samples']} right"
        return text, c["accuracy"]
    return text, None


def run_matrix(chips: list[str] | None = None, timings: tuple[str, ...] = TIMINGS,
               workloads: tuple[str, ...] = WORKLOADS, networks: tuple[str, ...] = NETWORKS, *,
               simulate: Callable[..., RunResult] | None = None) -> list[Cell]:
    """Every cell of chips x timings x workloads x networks (chips: every shipped one by default)."""
    if simulate is None:
        from neuroemu.engine.run import simulate as simulate_fn
        simulate = simulate_fn
    chips = list(shipped_chips()) if chips is None else list(chips)
    for kind, names, valid in (("workload", workloads, WORKLOADS), ("network", networks, NETWORKS),
                               ("timing", timings, TIMINGS)):
        for n in names:
            if n not in valid:
                raise ConfigError(f"matrix: unknown {kind} {n!r}; valid: {', '.join(valid)}")
    cells = []
    with tempfile.TemporaryDirectory(prefix="neuroemu-matrix-") as tmp:
        specs = {}
        for name in workloads:
            try:
                specs[name] = _workload(name, Path(tmp))
            except NeuroEmuError as exc:
                specs[name] = exc
        for chip_name in chips:
            chip = load_chip(chip_name)
            for name in workloads:
                for network in networks:
                    for timing in timings:
                        cells.append(_cell(simulate, chip, chip_name, timing, name, network, specs[name]))
    return cells


def _cell(simulate, chip, chip_name, timing, name, network, spec) -> Cell:
    where = dict(chip=chip_name, timing=timing, workload=name, network=network)
    if isinstance(spec, NeuroEmuError):
        return Cell(**where, status="refused", figure=_relative(str(spec)))
    wl, ticks = spec
    if name == "default" and chip.core.neurons > DEFAULT_NEURONS_PER_CORE:
        wl = dataclasses.replace(wl, network=dataclasses.replace(wl.network, neurons_per_core=DEFAULT_NEURONS_PER_CORE))
    try:
        r = simulate(chip, wl, ticks=ticks, timing=timing, network=network)
    except NeuroEmuError as exc:
        return Cell(**where, status="refused", figure=_relative(str(exc)))
    except Exception as exc:  # a bug: shown as such (the test fails on it), never passed off as a refusal
        return Cell(**where, status="crashed", figure=f"{type(exc).__name__}: {exc}".splitlines()[0])
    text, accuracy = _figure(r)
    return Cell(**where, status="ok", figure=text, pj_per_sop=r.pj_per_sop, accuracy=accuracy)


def _relative(reason: str) -> str:
    """A reason without this machine's folders (the temporary one, the repository's), so the
    generated table is the same wherever it is made."""
    reason = re.sub(r"\S*neuroemu-matrix-[^/\s]*/", "", reason)
    return reason.replace(str(WORKLOADS_DIR.parent) + "/", "")


def markdown(cells: list[Cell]) -> str:
    """The matrix as Markdown: one row per (chip, workload, network), one column per timing; a
    refusal is a numbered note (identical reasons share one), listed under the table."""
    timings = list(dict.fromkeys(c.timing for c in cells))
    rows: dict[tuple, dict[str, Cell]] = {}
    for c in cells:
        rows.setdefault((c.chip, c.workload, c.network), {})[c.timing] = c
    notes: dict[str, int] = {}
    lines = ["| chip | workload | network | " + " | ".join(timings) + " |",
             "|---|---|---|" + "---|" * len(timings)]
    for (chip, workload, network), by in rows.items():
        out = []
        for t in timings:
            c = by.get(t)
            if c is None:
                out.append("")
            elif c.status == "ok":
                out.append(c.figure)
            else:
                n = notes.setdefault(c.figure, len(notes) + 1)
                out.append(f"{c.status} [{n}]")
        lines.append(f"| {chip} | {workload} | {network} | " + " | ".join(out) + " |")
    if notes:
        lines.append("")
        lines += [f"[{n}] {reason.replace('|', '/')}  " for reason, n in notes.items()]
    n_ok = sum(c.status == "ok" for c in cells)
    lines += ["", f"{n_ok} of {len(cells)} cells run; {len(cells) - n_ok} refused or crashed."]
    return "\n".join(lines)


def document(cells: list[Cell]) -> str:
    """The whole of docs/timing-and-networks-matrix.md: what the cells are, then :func:`markdown`."""
    return "\n".join([
        "# Timing semantics x workloads x chips: what runs", "",
        "Generated by `neuroemu matrix --markdown docs/timing-and-networks-matrix.md`",
        "(neuroemu/studies/matrix.py); do not edit by hand. Each cell is one small run on that chip:",
        f"`default` is the embedded generated workload (random_recurrent + Poisson input) on {DEFAULT_CORES}",
        f"cores (at most {DEFAULT_NEURONS_PER_CORE:,} neurons of each) for {DEFAULT_TICKS} ticks, `nir` a small "
        f"Affine + LIF graph (8 -> 16 -> 4) for {NIR_TICKS} ticks,",
        f"`digits` the classifier's first {DIGITS_SAMPLES} test digits. A cell that runs shows the all-in pJ/SOP",
        "(whole-chip static power and clock included, so a small network on a big chip looks dear) and, for",
        "digits, how many answers were right; a refused one points to the library's one-line reason.",
        "docs/clocking.md says what each timing charges.", "",
        markdown(cells)])


def text(cells: list[Cell]) -> str:
    """One line per cell."""
    return "\n".join(f"{c.chip:<11} {c.timing:<8} {c.workload:<8} {c.network:<9} {c.status:<8} {c.figure}"
                     for c in cells)
