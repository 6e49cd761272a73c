"""What each NIR exporter means by its graph: time step, discretisation, current input, reset.

A NIR file holds continuous-time parameters (tau, r, w_in, v_threshold) but not the time step
the framework trained with, nor how it discretised them, nor its reset. Each exporter writes
them by its own convention (read from its export code, checked against its own simulation by
``tests/test_exporters.py`` on the committed fixtures in ``tests/fixtures/exporters``):

=========  ===========  ======  ==================  ========  ==================================
exporter   dt (graph)   method  current input       reset     time constants written as
=========  ===========  ======  ==================  ========  ==================================
nir        required     euler   scaled (dt/tau_syn) zero      NIR's ODEs as they stand
snntorch   1e-4         euler   scaled (w_in makes  subtract  tau = 1e-4 / (1 - beta), r = tau/1e-4,
                                 it 1)                         w_in = tau_syn / 1e-4
norse      1e-6         euler   unscaled            zero      tau = 1e-3 / tau_inv (Norse 1.1's
                                                              export dt), stepped every 1e-3 s
sinabs     1            exact   scaled              subtract  tau in time steps (r = 1)
=========  ===========  ======  ==================  ========  ==================================

``current input`` is how a CubaLIF's input enters its synaptic current: NIR's equation
``tau_syn di/dt = -i + w_in x`` adds ``dt/tau_syn w_in x`` per step (snnTorch's ``w_in =
tau_syn/dt`` makes that ``x``); Norse adds ``w_in x`` unscaled. ``tau = inf`` (snnTorch's
``beta = 1``, written with ``r = inf`` too) is read as integrate-and-fire: decay 1 and the input
gain the finite ratio ``r/tau`` stands for, ``1/dt`` (snnTorch writes r = tau / dt).

What no NIR graph can say is listed per exporter in :data:`EXPORTERS` (``unexpressed``) and
repeated in the import's notes when the graph holds what it concerns.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from neuroemu.errors import ConfigError

__all__ = ["Convention", "EXPORTERS", "NirImport", "convention", "dt_warnings", "fold_current_bias", "group_row",
           "import_notes", "recognise"]


@dataclass(frozen=True)
class Convention:
    """How one exporter's NIR graph is to be read (module docstring)."""

    name: str
    dt: float | None           # the tick the exporter's time constants assume, in the graph's unit
    method: str                # euler or exact
    current_input: str         # "scaled" (NIR: dt/tau_syn w_in) or "unscaled" (w_in, added as it is)
    reset: str                 # zero or subtract
    layer_lag: int             # ticks the framework takes from a layer's input to its spikes
    unexpressed: tuple[str, ...] = ()   # (condition, note): semantics the graph cannot carry
    doc: str = ""


EXPORTERS: dict[str, Convention] = {
    "nir": Convention("nir", None, "euler", "scaled", "zero", 0,
                      doc="NIR's own equations; give dt"),
    "snntorch": Convention(
        "snntorch", 1e-4, "euler", "scaled", "subtract", 0,
        unexpressed=(
            "zero-step: snnTorch's recurrent (RLeaky, RSynaptic) and current-based (Synaptic) layers with "
            "reset_mechanism='zero' zero the whole step after a spike (mem = (1 - s[t-1]) (beta mem + input)), so a "
            "neuron cannot fire on two ticks in a row and that step's input is lost: a one-tick refractory period "
            "NIR cannot express; the chip integrates that step's input (more output spikes than snnTorch's)",
            "subtract: snnTorch subtracts the threshold after the decay (beta mem + x - thr), NIR and the chip "
            "before it (beta (mem - thr) + x): spike counts differ by up to (1 - beta) thr per spike; train with "
            "reset_mechanism='zero' for an exact match (and for chips that reset to zero), then import with reset zero",
        ),
        doc="snnTorch export_to_nir: dt 1e-4 hard-coded in the export"),
    "norse": Convention(
        "norse", 1e-6, "euler", "unscaled", "zero", 0,
        doc="Norse 1.1 to_nir: tau = dt_export / tau_inv with dt_export = 1e-3, and Norse steps 1e-3 s, so its "
            "decay 1 - 1e-3 tau_inv is 1 - 1e-6 / tau: dt 1e-6 in the graph's unit"),
    "sinabs": Convention(
        "sinabs", 1.0, "exact", "scaled", "subtract", 0,
        unexpressed=(
            "spikes: Sinabs fires on v >= threshold where NIR fires on v > threshold, and its default MultiSpike "
            "emits floor(v / threshold) spikes in one step where a chip neuron fires once a tick: train with "
            "spike_fn=SingleSpike",
        ),
        doc="Sinabs to_nir: tau in time steps (dt 1), exact decay exp(-1/tau) with the input scaled by 1 - decay "
            "(norm_input), IAF adds its input as it is (NIR's IF with dt 1), MembraneSubtract reset"),
}


def convention(name: str | None, where: str) -> Convention:
    """The named convention; an unknown name lists the valid ones."""
    if name is None:
        return EXPORTERS["nir"]
    key = str(name).lower()
    if key not in EXPORTERS:
        raise ConfigError(f"{where}: exporter: unknown exporter {name!r}; valid: {', '.join(EXPORTERS)}")
    return EXPORTERS[key]


def _meta_name(graph) -> str | None:
    """An exporter named in the graph's metadata (``exporter``, ``framework``, ``source``)."""
    meta = getattr(graph, "metadata", None) or {}
    for key in ("exporter", "framework", "source", "library"):
        value = meta.get(key) if isinstance(meta, dict) else None
        if isinstance(value, bytes):
            value = value.decode(errors="replace")
        if isinstance(value, str):
            low = value.lower()
            for name in EXPORTERS:
                if name in low:
                    return name
    return None


def recognise(graph, nodes: dict) -> tuple[str | None, str]:
    """The exporter a graph names or shows, and why: metadata first, then snnTorch's signature.

    snnTorch writes every LIF and CubaLIF with ``r = tau_mem / 1e-4`` (and ``w_in = tau_syn /
    1e-4``), a pattern no hand-written graph has by chance; Norse writes ``r = 1`` like any
    plain graph, so Norse is recognised only from metadata (else give ``exporter='norse'``).
    """
    named = _meta_name(graph)
    if named is not None:
        return named, "named in the graph's metadata"
    hits = 0
    for node in nodes.values():
        kind = type(node).__name__
        if kind not in ("LIF", "CubaLIF"):
            continue
        tau = np.asarray(getattr(node, "tau" if kind == "LIF" else "tau_mem"), np.float64)
        r = np.asarray(node.r, np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = np.broadcast_to(tau / r, np.broadcast_shapes(tau.shape, r.shape))
        finite = np.isfinite(tau) & np.isfinite(r)
        ok = np.where(np.broadcast_to(finite, ratio.shape), np.isclose(ratio, 1e-4, rtol=1e-5, atol=0),
                      np.broadcast_to(np.isinf(tau) & np.isinf(r), ratio.shape))
        if not ok.all():
            return None, "no exporter named or recognised"
        hits += 1
    if hits:
        return "snntorch", "every LIF/CubaLIF has r = tau / 1e-4 (snnTorch's export)"
    return None, "no exporter named or recognised"


#: per-tick decays outside this range mean dt is far from the time constants
DECAY_LOW, DECAY_HIGH = 0.01, 0.9999


def dt_warnings(rows: list[dict], dt: float, where: str, conv: Convention) -> list[str]:
    """Warnings for groups whose per-tick decay says dt is far from their time constants."""
    out = []
    for row in rows:
        for key, label in (("decay", "decay"), ("i_decay", "current decay")):
            lo, hi = row[key]
            if row["model"] in ("IF", "I", "Threshold") or (key == "i_decay" and hi == 0) or (lo == hi == 1):
                continue
            if lo < DECAY_LOW or hi > DECAY_HIGH:
                bad = lo if lo < DECAY_LOW else hi
                hint = (f"; {conv.name}'s own dt is {conv.dt:g}" if conv.dt is not None and not
                        math.isclose(conv.dt, dt, rel_tol=1e-9) else "")
                out.append(f"{where}: node {row['group']!r}: {label} {bad:.6g} per tick at dt {dt:g} (outside "
                           f"{DECAY_LOW}..{DECAY_HIGH}): dt is far from the node's time constants{hint}")
    return out


def _span(a) -> list[float]:
    a = np.asarray(a, np.float64).ravel()
    return [float(a.min()), float(a.max())] if a.size else [0.0, 0.0]


def _fmt(span, unit="") -> str:
    lo, hi = span
    return f"{lo:.6g}{unit}" if lo == hi else f"{lo:.6g}..{hi:.6g}{unit}"


@dataclass(frozen=True)
class NirImport:
    """What a NIR import made: the convention it read the graph by and, per group, the per-tick
    figures (decay, current decay, input gain per unit weight, threshold, bias), with the notes
    and warnings a run report shows."""

    file: str
    exporter: str
    recognised: str
    dt: float
    method: str
    reset: str
    current_input: str
    groups: tuple[dict, ...]
    notes: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()

    def as_dict(self, scale: np.ndarray | None = None, starts: dict | None = None) -> dict:
        """The report as plain data; with the quantisation ``scale`` [N] (model units per chip
        unit), each group also gets its threshold in chip units and its weight scale."""
        groups = []
        for row in self.groups:
            row = dict(row)
            if scale is not None and starts is not None:
                s = scale[starts[row["group"]]: starts[row["group"]] + row["size"]]
                row["weight_scale"] = _span(s)
                with np.errstate(invalid="ignore", divide="ignore"):
                    thr = np.ceil(np.asarray(row.pop("_threshold")) / s)  # as quantise rounds it
                finite = thr[np.isfinite(thr)]
                row["threshold_chip"] = _span(finite) if finite.size else None
            row.pop("_threshold", None)
            groups.append(row)
        return {"file": self.file, "exporter": self.exporter, "recognised": self.recognised, "dt": self.dt,
                "method": self.method, "reset": self.reset, "current_input": self.current_input,
                "groups": groups, "notes": list(self.notes), "warnings": list(self.warnings)}

    def lines(self, scale: np.ndarray | None = None, starts: dict | None = None) -> list[str]:
        """One line for the convention and one per group, for a run's notes."""
        head = (f"import: {self.exporter} convention ({self.recognised}): dt {self.dt:g}, {self.method}, reset "
                f"{self.reset}, current input {self.current_input}")
        out = [head]
        for row in self.as_dict(scale, starts)["groups"]:
            parts = [f"decay {_fmt(row['decay'])}/tick"]
            if row["i_decay"] != [0.0, 0.0]:
                parts.append(f"current decay {_fmt(row['i_decay'])}/tick")
            parts.append(f"input gain {_fmt(row['input_gain'])}")
            if row["threshold"] is not None:
                parts.append(f"threshold {_fmt(row['threshold'])}")
            if row.get("threshold_chip") is not None:
                parts[-1] += f" = {_fmt(row['threshold_chip'])} chip units"
            if "weight_scale" in row:
                parts.append(f"weight scale {_fmt(row['weight_scale'])} per chip unit")
            out.append(f"import: group {row['group']!r} ({row['model']}, {row['size']}): " + ", ".join(parts))
        return out + list(self.notes) + [f"warning: {w}" for w in self.warnings]


def group_row(name: str, model: str, size: int, q: dict, threshold: np.ndarray) -> dict:
    """One group's import figures (``q``: the discretised node from the NIR reader)."""
    finite = threshold[np.isfinite(threshold)]
    return {"group": name, "model": model, "size": size, "decay": _span(q["decay"]), "i_decay": _span(q["i_decay"]),
            "input_gain": _span(q["gain"]), "threshold": _span(finite) if finite.size else None,
            "bias": _span(q["bias"]), "_threshold": np.asarray(threshold, np.float64).ravel()}


def import_notes(conv: Convention, network, reset: str) -> tuple[str, ...]:
    """The exporter's semantics with no NIR expression that this graph touches (item: say so)."""
    notes = []
    src_group = network.group_index()[network.src[~network.src_input]] if network.src.size else np.empty(0)
    dst_group = network.group_index()[network.dst[~network.src_input]] if network.dst.size else np.empty(0)
    recurrent = bool((src_group >= dst_group).any()) if src_group.size else False
    cuba = any(g.model in ("CubaLIF", "CubaLI") for g in network.groups)
    for text in conv.unexpressed:
        key = text.split(":", 1)[0]
        if ((key == "zero-step" and reset == "zero" and (recurrent or cuba)) or (key == "subtract" and reset == "subtract")
                or key == "spikes"):
            notes.append(f"{conv.name} {text}")
    return tuple(notes)


def fold_current_bias(network, model: str, where: str):
    """A current bias moved onto the membrane, for chips whose current has none (Loihi's CUBA).

    A constant ``i_bias`` settles the current at ``i_bias / (1 - i_decay)``, which then adds to v
    every tick: the membrane bias ``bias + i_bias / (1 - i_decay)`` is the same drive exactly in
    the steady state and reaches it from the first tick (the current's own approach takes about
    1 / (1 - i_decay) ticks). Returns the network and the run-report note.
    """
    import dataclasses
    has = network.i_bias != 0
    stuck = has & (network.i_decay >= 1)
    if stuck.any():
        j = int(np.flatnonzero(stuck)[0])
        g = network.groups[int(network.group_index()[j])]
        raise ConfigError(f"{where}: group {g.name!r} ({g.model}): a current bias with no current decay grows "
                          f"without bound, and {model} has no current bias: remove the bias of the layer before it")
    folded = network.bias + np.where(has, network.i_bias / np.where(has, 1 - network.i_decay, 1.0), 0.0)
    names = sorted({network.groups[int(k)].name for k in np.unique(network.group_index()[has])})
    note = (f"{model} has no current bias: the current bias of group(s) {', '.join(map(repr, names))} is folded into "
            "the membrane bias as i_bias / (1 - i_decay) (exact in the steady state; the reference keeps the current bias)")
    return dataclasses.replace(network, bias=folded, i_bias=np.zeros_like(network.i_bias)), note
