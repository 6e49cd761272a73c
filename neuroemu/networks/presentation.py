"""Workloads whose network comes from a file: read it, map it, drive its inputs, read its answers.

``network.kind`` ``nir`` or ``edgelist`` names a network file (relative to the workload file);
:func:`build_mapped` reads it (:func:`load_file_network`), maps it onto the chip
(:func:`neuroemu.networks.compile.map_network`) and attaches its inputs: the network's own spike trains
(or ``network.input_spikes``), or a data set presented sample by sample (``workload.classify``,
:class:`Presentation`: state reset between samples, output spikes counted, accuracy, latency and
energy per classification in the run's workload report).
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from neuroemu.config.schema import ChipSpec, ClassifySpec, WorkloadSpec, beside_config_file
from neuroemu.errors import ConfigError
from neuroemu.hardware.cores import CoreArrays
from neuroemu.models.rng import generator
from neuroemu.networks.graph import Network
from neuroemu.networks.compile import MappedNetwork, map_network

__all__ = ["Presentation", "build_mapped", "classify_ticks", "load_dataset", "load_file_network", "resolve_path"]

#: seed stream of the presented samples' input spikes (simulate's streams are below 100)
STREAM_SAMPLES = 300


class Presentation:
    """A data set shown sample by sample; state reset between samples; the outputs read out.

    Sample s occupies ticks [s P, (s + 1) P) with P = present + settle ticks; input i spikes in
    each of the first ``present_ticks`` ticks with probability ``rates[s, i]`` (a stream of its
    own per sample, so a sample's spikes do not depend on which samples run before it). At each
    sample's start every neuron's state is reset and the spikes still in flight from the sample
    before are dropped (the tick loop does both), so each sample runs as if alone -- recurrent
    networks included.
    """

    def __init__(self, spec: ClassifySpec, rates: np.ndarray, labels: np.ndarray, outputs: np.ndarray,
                 arrays: CoreArrays):
        self.spec = spec
        self.reset_period = spec.period
        self.rates, self.labels = rates, labels
        self.outputs = outputs
        self.out_index = np.full(arrays.n_neurons, -1, np.int64)
        self.out_index[outputs] = np.arange(len(outputs))
        self.arrays = arrays
        n = len(rates)
        self.counts = np.zeros((n, len(outputs)), np.int64)
        self.v_end = np.zeros((n, len(outputs)), np.int64)
        self.first_tick = np.full(n, -1, np.int64)
        self._own = self._own_local = None  # an MPI rank's own outputs (restrict)

    def restrict(self, arrays: CoreArrays, g0: int, g1: int, first: int) -> None:
        """Read only the neurons ``g0 .. g1 - 1`` (an MPI rank's own: engine/ranks.py,
        engine/asyncranks.py) from ``arrays``, whose neuron 0 is global neuron ``first``. Outputs
        on other ranks' cores count no spike here (none fire here) and read 0 at each sample's
        end; :meth:`merge` puts the ranks' readouts together."""
        self.arrays = arrays
        self._own = np.flatnonzero((self.outputs >= g0) & (self.outputs < g1))
        self._own_local = self.outputs[self._own] - first

    def readout(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(spike counts, end potentials, first output tick) per sample: what :meth:`merge` takes."""
        return self.counts, self.v_end, self.first_tick

    def merge(self, parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> None:
        """The whole readout from the ranks' (:meth:`readout`): each output's spikes and potential
        are its own rank's (the others hold 0), a sample's first output spike the earliest of any."""
        self.counts = np.sum([p[0] for p in parts], axis=0)
        self.v_end = np.sum([p[1] for p in parts], axis=0)
        first = np.stack([p[2] for p in parts])
        earliest = np.where(first >= 0, first, np.iinfo(np.int64).max).min(axis=0)
        self.first_tick = np.where((first >= 0).any(axis=0), earliest, -1)

    def _output_v(self) -> np.ndarray:
        """The outputs' potentials now (restricted: this rank's, 0 for the others')."""
        if self._own is None:
            return self.arrays.v[self.outputs]
        v = np.zeros(len(self.outputs), np.int64)
        v[self._own] = self.arrays.v[self._own_local]
        return v

    @property
    def samples(self) -> int:
        """Samples presented."""
        return len(self.rates)

    def spikes(self, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """Every sample's input spikes as (tick, input id), Bernoulli per tick at the sample's rates."""
        times, ids = [], []
        T, P = self.spec.present_ticks, self.reset_period
        for s, rate in enumerate(self.rates):
            hit = generator(seed, STREAM_SAMPLES, s).random((T, len(rate))) < rate
            t, i = np.nonzero(hit)
            times.append(t + s * P)
            ids.append(i)
        cat = (lambda parts: np.concatenate(parts).astype(np.int64)) if times else (lambda _: np.empty(0, np.int64))
        return cat(times), cat(ids)

    @staticmethod
    def reset_state(arrays: CoreArrays) -> None:
        """Every neuron back to rest: membrane, current and refractory count zero."""
        arrays.v[:] = 0
        for state in (arrays.u, arrays.refractory_left):
            if state is not None:
                state[:] = 0

    def observe(self, t: int, fired: np.ndarray) -> None:
        """Count the output spikes of tick t; keep the outputs' potentials at each sample's end."""
        s, phase = divmod(t, self.reset_period)
        if s >= self.samples:
            return
        idx = self.out_index[fired]
        idx = idx[idx >= 0]
        if len(idx):
            np.add.at(self.counts[s], idx, 1)
            if self.first_tick[s] < 0:
                self.first_tick[s] = phase
        if phase == self.reset_period - 1:
            self.v_end[s] = self._output_v()

    def observe_block(self, t0: int, t1: int, ticks: np.ndarray, fired: np.ndarray, v_end: np.ndarray) -> None:
        """:meth:`observe` for ticks [t0, t1) at once (the block path, engine/blockrun.py): ``ticks``,
        ``fired`` every spike of the range in tick order; ``v_end`` the outputs' potentials at the end
        of each period the range touches, row k for period ``t0 // P + k``."""
        P = self.reset_period
        s = ticks // P
        idx = self.out_index[fired]
        keep = (idx >= 0) & (s < self.samples)
        s, idx, phase = s[keep], idx[keep], ticks[keep] - s[keep] * P
        if len(s):
            np.add.at(self.counts, (s, idx), 1)
            # ticks ascend: a sample's first entry is its first output spike
            first, pos = np.unique(s, return_index=True)
            unset = self.first_tick[first] < 0
            self.first_tick[first[unset]] = phase[pos[unset]]
        periods = np.arange(t0 // P, (t1 - 1) // P + 1)
        ends = periods * P + P - 1
        done = (ends >= t0) & (ends < t1) & (periods < self.samples)
        self.v_end[periods[done]] = v_end[(periods - t0 // P)[done]]

    def predictions(self, n: int | None = None) -> np.ndarray:
        """The winning output of the first n samples: most spikes, ties to the higher final potential."""
        n = self.samples if n is None else n
        counts, v_end = self.counts[:n], self.v_end[:n].astype(np.float64)
        # among the outputs with the most spikes the highest potential wins (argmax: the first of equals)
        most = counts == counts.max(axis=1, keepdims=True)
        return np.argmax(np.where(most, v_end, -np.inf), axis=1).astype(np.int64)

    def report(self, record, tick_starts: np.ndarray) -> dict:
        """Accuracy, chip time and energy per classification, time to the first output spike.

        Only samples the run showed in full count (a run cut short with ``ticks`` ends early).
        """
        n = min(self.samples, (len(tick_starts) - 1) // self.reset_period)
        pred = self.predictions(n)
        labels = self.labels[:n]
        starts = tick_starts[np.arange(n + 1) * self.reset_period] * 1e-12
        per_sample = np.diff(starts)
        answered = self.first_tick[:n] >= 0
        first = None
        if answered.any():
            s = np.flatnonzero(answered)
            first = float((tick_starts[s * self.reset_period + self.first_tick[s] + 1] * 1e-12 - starts[s]).mean())
        return {"classification": {
            "samples": n, "correct": int((pred == labels).sum()),
            "accuracy": float((pred == labels).mean()) if n else None,
            "present_ticks": self.spec.present_ticks, "settle_ticks": self.spec.settle_ticks,
            "latency_per_classification_s": float(per_sample.mean()) if n else None,
            "first_output_spike_s": first,
            "unanswered": int((~answered).sum()),
            "energy_per_classification_j": record.energy_j / n if n else None,
            # without the whole chip's static power: what the events of one answer cost
            "dynamic_energy_per_classification_j": (record.energy_j - record.energy_breakdown_j.get("static", 0.0)) / n
            if n else None,
            "output_spikes_per_classification": float(self.counts[:n].sum() / n) if n else None,
            # the previous sample's spikes still in flight at each reset, dropped (TickLoop.deliver)
            "in_flight_dropped_at_reset": int(record.counts.get("in_flight_dropped_at_reset", 0)),
        }}


def resolve_path(path: str, workload: WorkloadSpec) -> Path:
    """A path in a workload file: relative to that file first, then to the working directory.

    (A workload read from a file has its paths resolved already; this serves specs built in code.)
    """
    return Path(beside_config_file(path, workload.source))


def load_file_network(workload: WorkloadSpec, name: str) -> Network:
    """The network a ``nir`` or ``edgelist`` workload names, with its reset rule applied."""
    return read_file_network(workload, name)[0]


def read_file_network(workload: WorkloadSpec, name: str):
    """The network a file workload names and, for a NIR graph, what the import made
    (:class:`~neuroemu.networks.nir_conventions.NirImport`; None for edge lists)."""
    spec = workload.network
    path = resolve_path(spec.file, workload)
    if spec.kind == "nir":
        from neuroemu.networks.nir import read_nir
        # a NIR graph does not say how neurons reset: "file" means the exporter's convention
        return read_nir(str(path), dt=spec.dt, reset=None if spec.neuron_reset == "file" else spec.neuron_reset,
                        method=spec.method, exporter=spec.exporter)
    from neuroemu.networks.edgelist import load_network
    net = load_network(path)
    if spec.neuron_reset != "file":
        net = dataclasses.replace(net, reset_subtract=np.full(net.n_neurons, spec.neuron_reset == "subtract"))
    return net, None


def load_dataset(workload: WorkloadSpec, n_inputs: int, name: str) -> tuple[np.ndarray, np.ndarray]:
    """A classification data set: rates [samples, inputs] in 0..1 and integer labels."""
    spec = workload.classify
    path = resolve_path(spec.dataset, workload)
    where = f"{name}: classify.dataset: {path}"
    from neuroemu.networks.edgelist import read_npz
    data = read_npz(path, where)
    for key in ("rates", "labels"):
        if key not in data:
            raise ConfigError(f"{where}: {key}: missing (a data set holds rates [samples, inputs] and labels)")
    rates, labels = data["rates"].astype(np.float64), data["labels"]
    if rates.ndim != 2 or rates.shape[1] != n_inputs:
        raise ConfigError(f"{where}: rates: must be [samples, {n_inputs} inputs of the network] (got {rates.shape})")
    if not np.isfinite(rates).all() or rates.min(initial=0) < 0 or rates.max(initial=0) > 1:
        raise ConfigError(f"{where}: rates: spikes per tick must be in 0..1")
    if labels.shape != (len(rates),) or labels.dtype.kind not in "iu":
        raise ConfigError(f"{where}: labels: needs one integer label per sample ({len(rates)}) (got {labels.shape})")
    if spec.samples is not None:
        rates, labels = rates[:spec.samples], labels[:spec.samples]
    return rates, labels.astype(np.int64)


def classify_ticks(workload: WorkloadSpec, name: str) -> int:
    """The run length of a classification workload: samples x (present + settle) ticks."""
    spec = workload.classify
    path = resolve_path(spec.dataset, workload)
    from neuroemu.networks.edgelist import read_npz
    labels = read_npz(path, f"{name}: classify.dataset: {path}").get("labels")
    n = 0 if labels is None else len(labels)  # (a data set without labels is refused when loaded)
    if spec.samples is not None:
        n = min(n, spec.samples)
    return max(1, n * spec.period)


def _check_fan_in(net: Network, chip: ChipSpec, imported, name: str) -> None:
    """A neuron that needs more axons than a core has fails here, naming the file, the node and
    the layer to shrink (placement would only name the neuron)."""
    A = chip.core.axons
    if not net.dst.size:
        return
    key = np.stack([net.dst, net.src + np.where(net.src_input, net.n_neurons, 0), net.delay])
    pairs = np.unique(key, axis=1)
    fan_in = np.bincount(pairs[0], minlength=net.n_neurons)
    if fan_in.max() <= A:
        return
    j = int(fan_in.argmax())
    g = net.groups[int(net.group_index()[j])]
    fed = []
    if imported is not None:
        fed = next((r.get("fed_by", []) for r in imported.groups if r["group"] == g.name), [])
    where = net.where or name
    layer = (f"shrink the layer feeding it ({', '.join(repr(f) for f in fed)}: fewer input channels or a smaller "
             "kernel), or pool before that layer" if fed else "give it fewer inputs")
    raise ConfigError(f"{where}: node {g.name!r} ({g.model}): its neurons need up to {int(fan_in.max())} distinct "
                      f"(source, delay) inputs, more than a core of chip {chip.name!r} has axons ({A}): {layer}")


def build_mapped(chip: ChipSpec, workload: WorkloadSpec, seed: int, name: str, cores_of=None,
                 whole_routes: bool = False) -> MappedNetwork:
    """The workload's file network mapped onto the chip, with its inputs and readout attached;
    ``cores_of``, ``whole_routes``: the arrays of some cores alone (an MPI rank's:
    :func:`neuroemu.networks.compile.map_network`; a presentation's readout then takes the rank's
    own outputs, :meth:`Presentation.restrict`)."""
    spec = workload.network
    if workload.inputs:
        raise ConfigError(f"{name}: inputs: a {spec.kind} network takes its input from its own spike trains or "
                          "from classify.dataset, not from generated inputs")
    net, imported = read_file_network(workload, name)
    _check_fan_in(net, chip, imported, name)
    inputs_on_cores = spec.inputs == "on_cores"
    mapped = map_network(net, chip, strategy=spec.mapping, seed=seed, axon_copies=spec.axon_copies, where=name,
                         weight_scale=spec.weight_scale, keep_zero_weights=spec.keep_zero_weights,
                         cores_of=cores_of, whole_routes=whole_routes)
    mapped.inputs_on_cores = inputs_on_cores
    if imported is not None:
        starts = {g.name: g.start for g in net.groups}
        mapped.notes += tuple(imported.lines(mapped.quant.scale, starts))
        mapped.extra_report = {"import": imported.as_dict(mapped.quant.scale, starts)}
    if workload.classify is not None:
        cls = workload.classify
        rates, labels = load_dataset(workload, net.n_inputs, name)
        if cls.output_group is not None:
            g = net.group(cls.output_group)
            outputs = np.arange(g.start, g.stop)
        elif net.outputs.size:
            outputs = net.outputs
        else:
            outputs = np.arange(net.groups[-1].start, net.groups[-1].stop)
        mapped.hooks = Presentation(cls, rates, labels, mapped.global_id[outputs], mapped.arrays)
        mapped.input_spikes = mapped.hooks.spikes(seed)
        mapped.inputs = [mapped.input_stream(*mapped.input_spikes)]
    else:
        if spec.input_spikes is not None:
            from neuroemu.networks.edgelist import load_spikes
            from neuroemu.networks.graph import _check_ids
            times, ids = load_spikes(resolve_path(spec.input_spikes, workload))
            _check_ids(f"{name}: network.input_spikes", "ids", ids, net.n_inputs, "inputs of the network")
            if times.size and times.min() < 0:
                raise ConfigError(f"{name}: network.input_spikes: times: ticks must be >= 0 (got {int(times.min())})")
            net = net.with_inputs(times, ids)
        mapped.input_spikes = (net.input_times, net.input_ids)
        mapped.inputs = [mapped.input_stream(net.input_times, net.input_ids)] if net.input_times.size else []
        if not mapped.inputs and net.n_inputs:
            mapped.notes += (f"no input spikes drive the network's {net.n_inputs} inputs (give network.input_spikes "
                             "or --input-spikes)",)
    return mapped
