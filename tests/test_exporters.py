"""Exporter conformance: networks trained and exported by snnTorch 1.0, Norse 1.1 and Sinabs 3.1 themselves.

The committed fixtures (``tests/fixtures/exporters``, made by ``make_fixtures.py`` in a venv of its
own; torch is never installed here) hold each framework's NIR export and its own output spikes on
scikit-learn's 8x8 digits, binarised (an input spikes on every tick while its pixel is on), 32
ticks per sample. neuroemu takes one tick per synapse where the frameworks propagate within a
step, so a 2-layer network's output spikes come 2 ticks later: the framework's tick t is
neuroemu's tick t + 2, and a sample shown for 32 ticks settles for 2 (``LAG``).

Tolerances (stated per network in ``NETS``):
- ``exact``: every output spike of every test sample at the same (lagged) tick, the float
  reference; chips (quantised weights) agree on the winning class for >= 95 % of samples.
- otherwise: the framework's semantics differ where NIR cannot say (a bias acts from tick 0 on
  every layer, snnTorch's subtract and recurrent resets, item 11): the spike count per output
  neuron may differ by at most ``mean_diff`` on average, the winning class must agree on
  ``agree`` of the samples, and the accuracy must stay within ``acc_points`` of the framework's.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pytest

from neuroemu.errors import ConfigError
from neuroemu.networks.graph import Group, Network, simulate_reference

nir = pytest.importorskip("nir", reason="the optional nir package reads NIR graphs (neuroemu[nir])")

FIX = Path(__file__).parent / "fixtures" / "exporters"
LAG = 2  # neuron layers in every fixture network: ticks from an input spike to an output spike

#: per network: how it is read, and how close neuroemu must come (module docstring)
NETS = {
    "snntorch_ff": dict(reset="zero", exact=True),
    "norse_ff": dict(exporter="norse", exact=True),
    "sinabs_ff": dict(exporter="sinabs", reset="zero", exact=True),
    "snntorch_rec": dict(reset="zero", exact=False, mean_diff=1.5, agree=0.85, acc_points=3.0),
    # snnTorch's Synaptic with a zero reset loses the step after each spike (item 11): 3.3 points measured
    "snntorch_cuba": dict(reset="zero", exact=False, mean_diff=4.5, agree=0.9, acc_points=4.0),
    "snntorch_if": dict(reset="zero", exact=False, mean_diff=1.0, agree=0.9, acc_points=3.0),
    "snntorch_subtract": dict(exact=False, mean_diff=2.0, agree=0.85, acc_points=3.0),
    "snntorch_conv": dict(reset="zero", exact=False, mean_diff=1.0, agree=0.9, acc_points=3.0),
    "norse_cuba": dict(exporter="norse", exact=False, mean_diff=1.0, agree=0.9, acc_points=3.0),
    # trained to 52 % only (2.5 output spikes per digit, many ties): agreement measured 0.98
    "norse_conv": dict(exporter="norse", exact=False, mean_diff=1.0, agree=0.85, acc_points=3.0,
                       rram_acc_points=9.0),  # RRAM measured 44.4 % against 52.2 %: coarse weights, few spikes
}


@dataclass
class Fixture:
    """One network's committed files."""

    name: str
    path: Path
    options: dict
    counts: np.ndarray     # framework output spikes per sample and output neuron
    raster: np.ndarray     # bool [samples, ticks, outputs] of the first samples
    probe_in: np.ndarray   # bool [probes, ticks, inputs]
    probe_out: np.ndarray  # bool [probes, ticks, outputs]
    accuracy: float
    ticks: int
    rates: np.ndarray
    labels: np.ndarray


def _bits(packed, shape):
    shape = tuple(int(v) for v in shape)
    return np.unpackbits(packed)[:int(np.prod(shape))].reshape(shape).astype(bool)


def fixture(name: str) -> Fixture:
    """The committed files of network ``name`` (skips when they are not there)."""
    path = FIX / f"{name}.nir"
    if not (path.exists() and (FIX / f"{name}.npz").exists()):
        pytest.skip(f"fixture {name} not made (run tests/fixtures/exporters/make_fixtures.py)")
    d = np.load(FIX / f"{name}.npz")
    data = np.load(FIX / "digits.npz")
    return Fixture(name, path, {k: v for k, v in NETS[name].items() if k in ("reset", "exporter")},
                   d["counts"], _bits(d["raster"], d["raster_shape"]), _bits(d["probe_in"], d["probe_shape"]),
                   _bits(d["probe_out"], d["probe_out_shape"]), float(d["accuracy"]), int(d["ticks"]),
                   data["rates"], data["labels"])


def load(fx: Fixture):
    from neuroemu.networks.nir import read_nir
    return read_nir(fx.path, **fx.options)


def replicate(net: Network, k: int) -> Network:
    """k independent copies of ``net`` in one network (copy j's neurons and inputs offset by j N, j I)."""
    N, I = net.n_neurons, net.n_inputs
    j = np.repeat(np.arange(k), net.n_edges)
    src = np.tile(net.src, k) + j * np.where(np.tile(net.src_input, k), I, N)
    groups = tuple(Group(f"{g.name}#{c}", c * N + g.start, g.size, g.model) for c in range(k) for g in net.groups)
    inputs = tuple(Group(f"in#{c}", c * I, I, "input") for c in range(k))
    per_neuron = {f: np.tile(getattr(net, f), k) for f in ("decay", "i_decay", "threshold", "v_reset", "bias",
                                                           "i_bias", "reset_subtract")}
    return Network(groups=groups, input_groups=inputs, src=src, dst=np.tile(net.dst, k) + j * N,
                   weight=np.tile(net.weight, k), delay=np.tile(net.delay, k), src_input=np.tile(net.src_input, k),
                   name=net.name, **per_neuron)


def reference_counts(fx: Fixture, samples: int | None = None, net: Network | None = None) -> np.ndarray:
    """neuroemu's float reference: output spikes per sample and output neuron over the lagged window."""
    net = net if net is not None else load(fx)[0]
    rates = fx.rates[:samples]
    k, T = len(rates), fx.ticks
    big = replicate(net, k)
    s, i = np.nonzero(rates > 0)
    times = np.repeat(np.arange(T), len(s))
    ids = np.tile(s * net.n_inputs + i, T)
    run = simulate_reference(big.with_inputs(times, ids), T + LAG)
    sample, local = np.divmod(run.ids, net.n_neurons)
    out_index = np.full(net.n_neurons, -1)
    out_index[net.outputs] = np.arange(len(net.outputs))
    keep = (out_index[local] >= 0) & (run.times >= LAG)
    counts = np.zeros((k, len(net.outputs)), np.int64)
    np.add.at(counts, (sample[keep], out_index[local[keep]]), 1)
    return counts


def chip_counts(fx: Fixture, chip: str, samples: int):
    """The ``classify`` workload on a chip: output spikes per sample and output neuron, and its report."""
    import neuroemu
    from neuroemu.config.loader import load_chip
    from neuroemu.networks.workloads import build_network
    wl = neuroemu.workload_for_network_file(
        fx.path, classify=dict(dataset=str(FIX / "digits.npz"), present_ticks=fx.ticks, settle_ticks=LAG,
                               samples=samples),
        neuron_reset=fx.options.get("reset"), exporter=fx.options.get("exporter"))
    record = neuroemu.simulate(chip, wl, record_spikes=True)
    mapped = build_network(load_chip(chip), wl, record.seed, wl.where)  # the run's mapping (deterministic)
    net = mapped.source
    outputs = mapped.global_id[load(fx)[0].outputs]
    out_index = np.full(mapped.arrays.n_neurons, -1)
    out_index[outputs] = np.arange(len(outputs))
    trains = record.spike_trains
    idx = out_index[trains.neurons]
    keep = idx >= 0
    counts = np.zeros((samples, len(outputs)), np.int64)
    np.add.at(counts, (trains.ticks[keep] // (fx.ticks + LAG), idx[keep]), 1)
    del net
    return counts, record.workload_report["classification"]


# --- the float reference ----------------------------------------------------------------------------

@pytest.mark.parametrize("name", list(NETS))
def test_reference_reproduces_the_framework(name):
    fx = fixture(name)
    spec = NETS[name]
    counts = reference_counts(fx)
    fw = fx.counts
    agree = float((counts.argmax(1) == fw.argmax(1)).mean())
    acc = float((counts.argmax(1) == fx.labels).mean())
    if spec["exact"]:
        assert np.array_equal(counts, fw), f"{name}: {int((counts != fw).any(1).sum())} samples differ"
    else:
        assert np.abs(counts - fw).mean() <= spec["mean_diff"]
        assert agree >= spec["agree"]
        assert abs(acc - fx.accuracy) * 100 <= spec["acc_points"]


@pytest.mark.parametrize("name", [n for n, s in NETS.items() if s["exact"]])
def test_exact_nets_spike_on_the_same_ticks(name):
    """Tick by tick: the digits (an input on every tick) and random input spikes (a new draw each tick)."""
    fx = fixture(name)
    net = load(fx)[0]
    T = fx.ticks
    for s in range(len(fx.raster)):
        on = np.flatnonzero(fx.rates[s] > 0)
        run = simulate_reference(net.with_inputs(np.repeat(np.arange(T), len(on)), np.tile(on, T)), T + LAG)
        mine = np.zeros((T + LAG, net.n_neurons), bool)
        mine[run.times, run.ids] = True
        assert np.array_equal(mine[LAG:, net.outputs], fx.raster[s]), f"{name}: sample {s}"
    for p in range(len(fx.probe_in)):
        t, i = np.nonzero(fx.probe_in[p])
        run = simulate_reference(net.with_inputs(t, i), T + LAG)
        mine = np.zeros((T + LAG, net.n_neurons), bool)
        mine[run.times, run.ids] = True
        assert np.array_equal(mine[LAG:, net.outputs], fx.probe_out[p]), f"{name}: probe {p}"


# --- the chips --------------------------------------------------------------------------------------

#: (network, chip, samples) run by the default suite; the rest run with -m slow on every sample
CHIP_RUNS = [("snntorch_ff", "loihi", 60), ("snntorch_ff", "rram_htree", 60), ("snntorch_rec", "loihi", 60),
             ("norse_cuba", "loihi", 60), ("sinabs_ff", "loihi", 60)]
SLOW_RUNS = [(n, c, 540) for n in NETS for c in ("loihi", "rram_htree") if (n, c, 60) not in CHIP_RUNS
             and n != "snntorch_subtract"]  # Loihi's and the RRAM's neurons reset to zero only


def _check_chip(name, chip, samples):
    fx = fixture(name)
    spec = NETS[name]
    counts, report = chip_counts(fx, chip, samples)
    fw = fx.counts[:samples]
    agree = float((counts.argmax(1) == fw.argmax(1)).mean())
    fw_acc = float((fw.argmax(1) == fx.labels[:samples]).mean())
    # quantised weights (Loihi 8-bit per synapse group, RRAM coarser) move a few spikes: half a spike per output
    # neuron (RRAM: 2) more than the float reference may, 10 points less class agreement, 2 accuracy points more
    rram = chip.startswith("rram")
    assert np.abs(counts - fw).mean() <= (2.0 if rram else 0.5) + (0 if spec["exact"] else spec["mean_diff"])
    assert agree >= (0.9 if spec["exact"] else spec["agree"] - 0.1)
    # accuracy read as the framework reads it (most spikes, the first of equals): the report's readout breaks
    # ties by the final potential, which the framework does not have
    acc = float((counts.argmax(1) == fx.labels[:samples]).mean())
    points = spec.get("rram_acc_points") if rram and "rram_acc_points" in spec else spec.get("acc_points", 3.0) + 2.0
    assert abs(acc - fw_acc) * 100 <= (6.0 if samples < 100 else points)
    assert report["samples"] == samples


@pytest.mark.parametrize("name,chip,samples", CHIP_RUNS)
def test_chips_reproduce_the_framework(name, chip, samples):
    _check_chip(name, chip, samples)


@pytest.mark.slow
@pytest.mark.parametrize("name,chip,samples", SLOW_RUNS)
def test_chips_reproduce_the_framework_on_every_sample(name, chip, samples):
    _check_chip(name, chip, samples)


# --- conventions ------------------------------------------------------------------------------------

def test_snntorch_is_recognised_and_norse_is_chosen():
    net, rep = load(fixture("snntorch_ff"))
    assert rep.exporter == "snntorch" and rep.dt == 1e-4 and "r = tau / 1e-4" in rep.recognised
    assert net.decay.tolist() == pytest.approx([0.9] * net.n_neurons)
    from neuroemu.networks.nir import read_nir
    plain = fixture("norse_ff")
    with pytest.raises(ConfigError, match="dt: the graph does not say its time step: it needs --dt .*--from nir\\|snntorch\\|norse\\|sinabs"):
        read_nir(plain.path)
    net, rep = read_nir(plain.path, exporter="norse")
    assert rep.exporter == "norse" and rep.dt == 1e-6 and rep.reset == "zero"
    assert net.decay.tolist() == pytest.approx([0.9] * net.n_neurons)  # Norse: 1 - 1e-3 tau_mem_inv, 100 / s
    # the same graph read with the wrong dt: decays far from the time constants are a warning line
    _, rep = read_nir(plain.path, exporter="norse", dt=1e-3, method="exact")
    import re
    assert any(re.search(r"decay [0-9.e-]+ per tick at dt 0.001 \(outside 0.01..0.9999\)", w)
               and "norse's own dt is 1e-06" in w for w in rep.warnings)


def test_norse_current_input_is_unscaled():
    """Norse adds a CubaLIF's input to its current as it is; NIR's equation would scale it by dt/tau_syn."""
    from neuroemu.networks.nir import read_nir
    fx = fixture("norse_cuba")
    net, rep = read_nir(fx.path, exporter="norse")
    scaled, _ = read_nir(fx.path, exporter="nir", dt=1e-6)
    # tau_syn_inv 200 / s: dt / tau_syn = 0.2, the factor the plain reading loses (issue item 3)
    assert rep.current_input == "unscaled"
    assert scaled.weight == pytest.approx(net.weight * 0.2)
    assert net.i_decay == pytest.approx(0.8)


def test_cuba_bias_folds_into_the_membrane_on_loihi():
    fx = fixture("norse_cuba")
    net, _ = load(fx)
    assert (net.i_bias != 0).any()  # nn.Linear's bias drives the current
    _, report = chip_counts(fx, "loihi", 2)  # refused before (item 4); now a note
    from neuroemu.networks.nir_conventions import fold_current_bias
    folded, note = fold_current_bias(net, "loihi_cuba", "x")
    assert "folded into the membrane bias as i_bias / (1 - i_decay)" in note
    assert folded.bias == pytest.approx(net.bias + net.i_bias / (1 - net.i_decay))
    assert not folded.i_bias.any()


def test_snntorch_beta_one_is_integrate_and_fire():
    net, rep = load(fixture("snntorch_if"))  # snnTorch writes tau = inf, r = inf for beta = 1 (item 5)
    assert (net.decay == 1).all()
    assert rep.groups[0]["input_gain"] == [1.0, 1.0]
    with nir_graph_file(tau=np.inf, r=2.0) as path:
        from neuroemu.networks.nir import read_nir
        with pytest.raises(ConfigError, match="tau: inf with a finite r makes the input gain dt r / tau 0"):
            read_nir(path, dt=1e-3)


class nir_graph_file:
    """A one-LIF NIR file with the given tau and r, as a context manager yielding its path."""

    def __init__(self, tau, r):
        import tempfile
        self.dir = tempfile.TemporaryDirectory()
        self.path = Path(self.dir.name) / "one.nir"
        nodes = {"input": nir.Input(input_type={"input": np.array([1])}), "fc": nir.Linear(weight=np.ones((1, 1))),
                 "lif": nir.LIF(tau=np.array([tau]), r=np.array([r]), v_leak=np.zeros(1), v_threshold=np.ones(1))}
        nir.write(str(self.path), nir.NIRGraph(nodes=nodes, edges=[("input", "fc"), ("fc", "lif")]))

    def __enter__(self):
        return self.path

    def __exit__(self, *exc):
        self.dir.cleanup()


def test_recurrent_notes_say_what_nir_cannot():
    _, rep = load(fixture("snntorch_rec"))
    assert any("cannot fire on two ticks in a row" in n for n in rep.notes)  # item 11
    _, rep = load(fixture("snntorch_cuba"))
    assert any("current-based (Synaptic)" in n for n in rep.notes)
    _, rep = load(fixture("snntorch_ff"))
    assert not rep.notes


# --- classify and the reset between samples ---------------------------------------------------------

def test_reset_drops_spikes_in_flight_so_each_sample_runs_alone():
    """A recurrent net classified sample after sample gives each sample's counts as if run alone,
    whatever the settle time (item 1: spikes in flight at a reset used to restart the activity)."""
    fx = fixture("snntorch_rec")
    counts, report = chip_counts(fx, "loihi", 12)
    alone = np.stack([chip_counts_alone(fx, s) for s in range(12)])
    assert np.array_equal(counts, alone)
    assert report["in_flight_dropped_at_reset"] > 0


def chip_counts_alone(fx: Fixture, s: int) -> np.ndarray:
    """Sample s on loihi in a run of its own (a one-sample data set)."""
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "one.npz"
        np.savez(path, rates=fx.rates[s:s + 1], labels=fx.labels[s:s + 1])
        one = replace(fx, rates=fx.rates[s:s + 1], labels=fx.labels[s:s + 1])
        import neuroemu
        wl = neuroemu.workload_for_network_file(
            fx.path, classify=dict(dataset=str(path), present_ticks=fx.ticks, settle_ticks=LAG),
            neuron_reset=fx.options.get("reset"))
        record = neuroemu.simulate("loihi", wl, record_spikes=True)
        from neuroemu.config.loader import load_chip
        from neuroemu.networks.workloads import build_network
        mapped = build_network(load_chip("loihi"), wl, record.seed, wl.where)
        outputs = mapped.global_id[load(one)[0].outputs]
        idx = np.full(mapped.arrays.n_neurons, -1)
        idx[outputs] = np.arange(len(outputs))
        got = idx[record.spike_trains.neurons]
        return np.bincount(got[got >= 0], minlength=len(outputs))


# --- the command line -------------------------------------------------------------------------------

def invoke(*args):
    from click.testing import CliRunner
    from neuroemu.cli.app import main
    return CliRunner().invoke(main, [str(a) for a in args])


def test_cli_classifies_a_network_file_and_shows_the_import():
    fx = fixture("snntorch_rec")
    r = invoke("run", "loihi", fx.path, "--classify", FIX / "digits.npz", "--samples", 4, "--settle-ticks", LAG,
               "--reset", "zero")
    assert r.exit_code == 0, r.output
    assert "accuracy" in r.output and "(of 4 samples)" not in r.output and "of 4 samples" in r.output
    assert "import: snntorch convention" in r.output
    assert "import: group '1.lif' (LIF, 32): decay 0.9/tick, input gain 1, threshold 1 = " in r.output
    assert "chip units, weight scale" in r.output
    r = invoke("run", "loihi", fx.path, "--samples", 4)
    assert r.exit_code == 1 and "--samples go with --classify DATASET.npz" in r.output


def test_cli_input_spikes_set_the_run_length_and_spikes_out_names_the_outputs(tmp_path):
    fx = fixture("snntorch_ff")
    spikes = tmp_path / "in.npz"
    np.savez(spikes, times=np.array([0, 5, 287]), ids=np.array([3, 4, 5]))
    out = tmp_path / "out.npz"
    r = invoke("run", "loihi", fx.path, "--input-spikes", spikes, "--reset", "zero", "--spikes-out", out)
    assert r.exit_code == 0, r.output
    # item 7: the run covers the input (tick 287) and 2 layers x 1 tick after it
    assert "running 290 ticks (the input's last spike at tick 287, then 2 ticks to cross the network)" in r.output
    assert "ticks / model time / chip time" in r.output and "290 /" in r.output
    assert "output layer ids 32-41 (group '3')" in r.output  # item 10
    saved = np.load(out)
    assert saved["outputs"].tolist() == list(range(32, 42)) and saved["group_starts"].tolist() == [0, 32, 42]
    bad = tmp_path / "bad.npz"
    np.savez(bad, times=np.array([0]), ids=np.array([64]))
    r = invoke("run", "loihi", fx.path, "--input-spikes", bad, "--ticks", 5, "--reset", "zero")
    assert r.exit_code == 1 and len(r.output.strip().splitlines()) == 1 and "ids" in r.output and "64" in r.output


def test_cli_method_and_from_options():
    fx = fixture("snntorch_ff")
    r = invoke("run", "loihi", fx.path, "--from", "snntorch", "--method", "exact", "--reset", "zero", "--ticks", 3)
    assert r.exit_code == 0, r.output
    assert "import: snntorch convention (chosen): dt 0.0001, exact" in r.output
    r = invoke("run", "loihi", fx.path, "--from", "nir", "--ticks", 3)
    assert r.exit_code == 1 and "network.dt: a NIR graph needs the tick length dt" in r.output and "--from" in r.output
    r = invoke("run", "loihi", fx.path, "--dt", 9e-4, "--reset", "zero", "--ticks", 3)
    assert r.exit_code == 0 and "warning:" not in r.output  # euler at 9e-4: decay 0.1, inside the range
    r = invoke("run", "loihi", fx.path, "--dt", 9.95e-4, "--reset", "zero", "--ticks", 3)  # item 2
    assert r.exit_code == 0 and "warning: " in r.output and "decay 0.0049997 per tick at dt 0.000995" in r.output
    assert "snntorch's own dt is 0.0001" in r.output


def test_fan_in_past_a_core_names_the_node_and_the_layer_to_shrink(tmp_path):
    """Issue 14, item 6: a conv + pool whose fan-in exceeds a core's axons fails in one line naming
    the file, the node and the layers feeding it."""
    w = np.random.default_rng(0).normal(size=(2, 4, 5, 5))
    nodes = {"input": nir.Input(input_type={"input": np.array([4, 12, 12])}),
             "conv": nir.Conv2d(input_shape=(12, 12), weight=w, stride=1, padding=0, dilation=1, groups=1,
                                bias=np.zeros(2)),
             "pool": nir.SumPool2d(kernel_size=np.array([4, 4]), stride=np.array([4, 4]), padding=np.array([0, 0])),
             "lif": nir.LIF(tau=np.full((2, 2, 2), 1e-3), r=np.ones((2, 2, 2)), v_leak=np.zeros((2, 2, 2)),
                            v_threshold=np.ones((2, 2, 2)))}
    path = tmp_path / "conv.nir"
    nir.write(str(path), nir.NIRGraph(nodes=nodes, edges=[("input", "conv"), ("conv", "pool"), ("pool", "lif")],
                                      type_check=False))
    # each output sees an 8 x 8 window of 4 channels: 256 inputs; the RRAM core has 256 axons -- fits
    r = invoke("run", "rram_htree", path, "--dt", 1e-4, "--ticks", 2)
    assert r.exit_code == 0, r.output
    w2 = np.random.default_rng(0).normal(size=(2, 5, 5, 5))
    nodes["input"] = nir.Input(input_type={"input": np.array([5, 12, 12])})
    nodes["conv"] = nir.Conv2d(input_shape=(12, 12), weight=w2, stride=1, padding=0, dilation=1, groups=1,
                               bias=np.zeros(2))
    nir.write(str(path), nir.NIRGraph(nodes=nodes, edges=[("input", "conv"), ("conv", "pool"), ("pool", "lif")],
                                      type_check=False))
    r = invoke("run", "rram_htree", path, "--dt", 1e-4, "--ticks", 2)
    assert r.exit_code == 1 and len(r.output.strip().splitlines()) == 1, r.output
    assert "conv.nir: node 'lif' (LIF): its neurons need up to 320 distinct (source, delay) inputs" in r.output
    assert "256" in r.output and "shrink the layer feeding it ('pool', 'conv'" in r.output


def test_dropping_spikes_in_flight_is_the_same_on_every_queue_and_tick_backend():
    import neuroemu
    fx = fixture("snntorch_rec")
    wl = neuroemu.workload_for_network_file(fx.path, classify=dict(dataset=str(FIX / "digits.npz"), samples=6,
                                                                    settle_ticks=LAG), neuron_reset="zero")
    runs = [neuroemu.simulate("loihi", wl, queue=q, tick_backend=b, record_spikes=True)
            for q in ("c", "python") for b in ("c", "numpy")]
    first = runs[0]
    assert first.counts["in_flight_dropped_at_reset"] > 0
    for r in runs[1:]:
        assert r.counts == first.counts
        assert np.array_equal(r.spike_trains.ticks, first.spike_trains.ticks)
        assert np.array_equal(r.spike_trains.neurons, first.spike_trains.neurons)
