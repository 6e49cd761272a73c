"""Networks from files run on chips: NIR and edge lists mapped, quantised, placed and simulated.

The chip runs are checked against the test's own numpy equations (spike for spike) and against the
SimPy reference engine; placement by its hops and routing energy. The digit classifier workload is
in test_fileworkloads.py.
"""
from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import nir
import numpy as np
import pytest
from click.testing import CliRunner

from neuroemu import simulate
from neuroemu.cli.app import main
from neuroemu.config.loader import load_chip, workload_for_network_file
from neuroemu.networks.edgelist import load_spikes, save_npz
from neuroemu.errors import CapacityError, ConfigError
from neuroemu.networks.graph import NetworkBuilder, simulate_reference
from neuroemu.networks.compile import map_network
from neuroemu.networks.nir import load_nir, quantise
from neuroemu.engine.reference import simulate_reference as simpy_reference
from neuroemu.networks.workloads import build_network

WORKLOADS = Path(__file__).resolve().parent.parent / "workloads"


def spikes_of(record, mapped, ticks: int) -> np.ndarray:
    """bool [ticks, network neurons]: the run's spikes in the file's numbering."""
    out = np.zeros((ticks, int(mapped.network_id.max()) + 1), bool)
    trains = record.spike_trains
    out[trains.ticks, mapped.network_id[trains.neurons]] = True
    return out


def run_file(chip: str, path: Path, ticks: int, tick_backend: str | None = None, **network):
    wl = workload_for_network_file(path, ticks=ticks, **network)
    chip_spec = load_chip(chip)
    record = simulate(chip_spec, wl, record_spikes=True, tick_backend=tick_backend)
    return record, build_network(chip_spec, wl, wl.seed, wl.where)


# --- NIR round trip on a chip ----------------------------------------------------------------------

def lif_graph(rng, n_in=8, n_hidden=24, n_out=6, kind="LIF"):
    """Affine + LIF layers whose weights are exact on Loihi: integers with |w| <= 255, 255 present.

    dt / tau = 1/4 (decay 3/4, Loihi dv = 1024) and r = 4, so a weight reaches v unscaled.
    """
    def weights(shape):
        w = rng.integers(-120, 200, shape).astype(float)
        w.flat[0] = 255.0
        return w

    def neurons(n, threshold):
        if kind == "IF":
            return nir.IF(r=np.ones(n), v_threshold=np.full(n, threshold), v_reset=np.zeros(n))
        return nir.LIF(tau=np.full(n, 4.0), r=np.full(n, 4.0), v_leak=np.zeros(n), v_threshold=np.full(n, threshold),
                       v_reset=np.zeros(n))

    nodes = {"input": nir.Input(input_type={"input": np.array([n_in])}),
             "fc1": nir.Affine(weight=weights((n_hidden, n_in)), bias=rng.integers(-3, 6, n_hidden).astype(float)),
             "lif1": neurons(n_hidden, 300.0),
             "fc2": nir.Linear(weight=weights((n_out, n_hidden))),
             "lif2": neurons(n_out, 400.0),
             "output": nir.Output(output_type={"output": np.array([n_out])})}
    edges = [("input", "fc1"), ("fc1", "lif1"), ("lif1", "fc2"), ("fc2", "lif2"), ("lif2", "output")]
    return nir.NIRGraph(nodes=nodes, edges=edges)


def fixed_point_reference(graph, x: np.ndarray, decay_units: int) -> list[np.ndarray]:
    """The discretised LIF written out layer by layer, with Loihi's 12-bit decay of the membrane.

    v = trunc(v (4096 - dv) / 4096) + W s[t - 1] + b; spike when v > v_threshold; then v = 0.
    """
    layers = [(graph.nodes["fc1"], graph.nodes["lif1"]), (graph.nodes["fc2"], graph.nodes["lif2"])]
    ticks = x.shape[0]
    v = [np.zeros(fc.weight.shape[0], np.int64) for fc, _ in layers]
    spikes = [np.zeros((ticks, fc.weight.shape[0]), bool) for fc, _ in layers]
    for t in range(ticks):
        for k, (fc, lif) in enumerate(layers):
            arriving = (x if k == 0 else spikes[0])[t - 1] if t > 0 else np.zeros(fc.weight.shape[1], bool)
            bias = getattr(fc, "bias", np.zeros(fc.weight.shape[0])).astype(np.int64)
            kept = v[k] * (4096 - decay_units)
            v[k] = np.where(kept >= 0, kept >> 12, -((-kept) >> 12)) + fc.weight.astype(np.int64) @ arriving + bias
            fired = v[k] > lif.v_threshold
            v[k] = np.where(fired, 0, v[k])
            spikes[k][t] = fired
    return spikes


def run_nir(tmp_path: Path, graph, rng, ticks: int, n_in: int, p: float, tick_backend: str | None = None):
    """Write ``graph``, drive its inputs with Bernoulli(p) spikes, run it on Loihi (dt 1, reset to zero)."""
    nir.write(tmp_path / "model.nir", graph)
    x = rng.random((ticks, n_in)) < p
    t, i = np.nonzero(x)
    np.savez(tmp_path / "in.npz", times=t, ids=i)
    record, mapped = run_file("loihi", tmp_path / "model.nir", ticks, tick_backend, dt=1.0, neuron_reset="zero",
                              input_spikes=str(tmp_path / "in.npz"))
    return record, mapped, x


@pytest.mark.parametrize("tick_backend", ["c", "numpy"])
def test_nir_affine_lif_on_loihi_gives_the_spikes_of_the_numpy_equations(tmp_path, tick_backend):
    rng = np.random.default_rng(5)
    graph = lif_graph(rng)
    ticks = 80
    record, mapped, x = run_nir(tmp_path, graph, rng, ticks, 8, 0.4, tick_backend)
    got = spikes_of(record, mapped, ticks)
    expected = fixed_point_reference(graph, x, decay_units=1024)
    assert expected[0].sum() > 80 and expected[1].sum() > 10  # both layers are busy
    assert np.array_equal(got[:, :24], expected[0])
    assert np.array_equal(got[:, 24:30], expected[1])
    q = record.workload_report["quantisation"]
    assert q["max_rel_error"] == 0.0 and q["dropped_synapses"] == 0  # the weights were representable


def test_nir_if_network_on_loihi_matches_the_float_reference(tmp_path):
    rng = np.random.default_rng(8)
    ticks = 60
    record, mapped, x = run_nir(tmp_path, lif_graph(rng, kind="IF"), rng, ticks, 8, 0.4)
    ref = simulate_reference(load_nir(tmp_path / "model.nir", dt=1.0, reset="zero").with_inputs(*np.nonzero(x)), ticks)
    expected = np.zeros((ticks, 30), bool)
    expected[ref.times, ref.ids] = True
    assert expected.sum() > 100
    assert np.array_equal(spikes_of(record, mapped, ticks), expected)


# --- TrueNorth: axon copies and neuron copies ------------------------------------------------------

def four_bit_if_network(rng, n_in=16, n_hidden=40, n_out=8, ticks=60, reset="zero"):
    """IF layers with weights in -8..7, each neuron's largest 7: exact with 4 TrueNorth axon copies."""
    b = NetworkBuilder("tn")
    b.add_inputs("in", n_in)
    b.add_neurons("hidden", n_hidden, model="IF", threshold=9.0, bias=rng.integers(-1, 2, n_hidden).astype(float),
                  reset=reset)
    b.add_neurons("out", n_out, model="IF", threshold=12.0, reset=reset)
    for src, dst, n_src, n_dst in (("in", "hidden", n_in, n_hidden), ("hidden", "out", n_hidden, n_out)):
        w = rng.integers(-8, 8, (n_src, n_dst)).astype(float)
        w[0] = 7.0
        b.connect(src, dst, w)
    x = rng.random((ticks, n_in)) < 0.3
    t, i = np.nonzero(x)
    b.set_input_spikes(t, i)
    return b.build(outputs="out")


@pytest.mark.parametrize("reset", ["zero", "subtract"])
def test_truenorth_runs_multibit_weights_on_axon_copies_and_splits_fan_out(tmp_path, reset):
    rng = np.random.default_rng(3)
    net = four_bit_if_network(rng, reset=reset)
    save_npz(net, tmp_path / "tn.npz")
    ticks = 60
    record, mapped = run_file("truenorth", tmp_path / "tn.npz", ticks)
    ref = simulate_reference(net, ticks)
    expected = np.zeros((ticks, net.n_neurons), bool)
    expected[ref.times, ref.ids] = True
    assert expected[:, :40].sum() > 100 and expected[:, 40:].sum() > 10
    assert np.array_equal(spikes_of(record, mapped, ticks), expected)
    # every chip neuron has one target, as on TrueNorth: 4 axon types carry the 4-bit weights, and a
    # hidden neuron that feeds all 4 bits is 4 neurons
    arrays = mapped.arrays
    assert arrays.fanout_ptr is None
    assert mapped.copies == 4 and set(np.unique(arrays.axon_type).tolist()) == {0, 1, 2, 3}
    assert record.workload_report["mapping"]["neuron_copies"] == mapped.n_enabled - net.n_neurons > 40
    assert record.workload_report["quantisation"]["max_rel_error"] == 0.0


@pytest.mark.parametrize("chip,group,message", [
    ("truenorth", dict(model="LIF", decay=0.9), r"group 'g' \(LIF\): decays.*truenorth_lif's leak is linear"),
    ("truenorth", dict(model="CubaLIF", decay=1.0, i_decay=0.5), r"group 'g' \(CubaLIF\): has a synaptic current"),
    ("loihi", dict(model="IF", reset="subtract"), r"group 'g' \(IF\): resets by subtraction.*neuron_reset: zero"),
    ("loihi", dict(model="IF", v_reset=-2.0), r"group 'g' \(IF\): v_reset must be 0 on loihi_cuba"),
    ("loihi", dict(model="IF", bias=1e9), r"group 'g' \(IF\): bias .* outside the chip's"),
])
def test_a_group_the_chip_model_cannot_run_is_refused_with_the_rule(chip, group, message):
    b = NetworkBuilder("net")
    b.add_inputs("in", 4)
    b.add_neurons("g", 4, threshold=1.0, **group)
    b.connect("in", "g", np.ones((4, 4)))
    with pytest.raises(ConfigError, match=message):
        map_network(b.build(), load_chip(chip))


def test_a_group_too_big_for_the_chip_is_named_with_the_limit():
    b = NetworkBuilder("big")
    b.add_inputs("in", 4)
    b.add_neurons("small", 10, model="IF")
    b.add_neurons("huge", 64 * 256, model="IF")
    b.connect("in", "small", np.ones((4, 10)))
    with pytest.raises(CapacityError, match=r"group 'huge' does not fit.*64 cores x 256 neurons"):
        map_network(b.build(), load_chip("rram_htree"), strategy="pack")


# --- fan-out routes against the SimPy reference ----------------------------------------------------

def test_fan_out_routes_agree_with_the_simpy_reference(tmp_path):
    rng = np.random.default_rng(4)
    net = four_bit_if_network(rng, n_hidden=60)
    save_npz(net, tmp_path / "fan.npz")
    wl = workload_for_network_file(tmp_path / "fan.npz", ticks=50, mapping="spread")
    chip = load_chip("rram_htree")
    fast = simulate(chip, wl, record_spikes=True)
    ref = simpy_reference(chip, wl)
    mapped = build_network(chip, wl, wl.seed, wl.where)
    assert np.diff(mapped.arrays.fanout_ptr).max() > 4  # spread: a hidden neuron feeds many cores
    assert fast.hops > 1000
    assert fast.comparable() == ref.comparable()


def test_fan_out_packets_hop_by_hop_deliver_the_same_spikes(tmp_path):
    rng = np.random.default_rng(9)
    save_npz(layered_network(rng), tmp_path / "layered.npz")
    wl = workload_for_network_file(tmp_path / "layered.npz", ticks=40, mapping="spread")
    analytic = simulate("loihi", wl, record_spikes=True)
    packet = simulate("loihi", wl, record_spikes=True, network="packet")
    assert packet.timing_report["timing_violations"] == 0
    assert np.array_equal(analytic.spike_trains.neurons, packet.spike_trains.neurons)
    assert analytic.hops == packet.hops > 100000
    moved = packet.timing_report["packet"]["packets"]
    # one packet per route of every spike: what the analytic fidelity counted as routed
    assert moved["injected"] == moved["delivered"] == round(analytic.hops / analytic.hops_per_spike) == 193685


# --- placement, visible in a run ---------------------------------------------------------------------

def layered_network(rng, widths=(64, 128, 128, 128, 64), ticks=40):
    b = NetworkBuilder("layered")
    b.add_inputs("in", widths[0])
    prev = "in"
    for k, w in enumerate(widths[1:]):
        b.add_neurons(f"l{k}", w, model="IF", threshold=4.0)
        mask = rng.random((widths[k], w)) < 0.15
        b.connect(prev, f"l{k}", rng.integers(1, 4, (widths[k], w)) * mask)
        prev = f"l{k}"
    x = rng.random((ticks, widths[0])) < 0.2
    t, i = np.nonzero(x)
    b.set_input_spikes(t, i)
    return b.build()


def test_locality_placement_cuts_hops_and_routing_energy_of_the_run(tmp_path):
    rng = np.random.default_rng(9)
    save_npz(layered_network(rng), tmp_path / "layered.npz")
    runs = {(chip, m): run_file(chip, tmp_path / "layered.npz", 40, mapping=m)[0]
            for chip in ("loihi", "rram_htree") for m in ("spread", "locality")}
    routing = {k: sum(j for term, j in r.energy_breakdown_j.items() if term.startswith("hop_") or term == "wire")
               for k, r in runs.items()}
    # the same 448-neuron network and input spikes placed two ways; measured:
    #   Loihi (8 x 4 mesh of 4-core tiles): spread on 128 cores, 747,115 hops (3.86 per packet),
    #     2.48 uJ of routing; locality on 1 core, no packet leaves it
    #   RRAM H-tree (64 cores of 256): spread on 64 cores, 951,836 hops (5.37 per packet);
    #     locality on 2 cores, 9,552 hops (0.80 per packet)
    for chip in ("loihi", "rram_htree"):
        spread, local = runs[(chip, "spread")], runs[(chip, "locality")]
        assert spread.spikes == local.spikes > 10000  # placement moves spikes, it does not change them
        assert spread.hops_per_spike > 3.5
        assert local.hops < 0.02 * spread.hops
        assert local.hops_per_spike < 0.25 * spread.hops_per_spike
    assert runs[("loihi", "spread")].workload_report["mapping"]["cores_used"] == 128
    assert runs[("rram_htree", "locality")].workload_report["mapping"]["cores_used"] == 2
    assert routing[("loihi", "spread")] > 2e-6 and routing[("loihi", "locality")] < 0.02 * routing[("loihi", "spread")]


# --- the command line --------------------------------------------------------------------------------

def test_cli_runs_an_edge_list_and_writes_spike_trains(tmp_path):
    rng = np.random.default_rng(3)
    net = four_bit_if_network(rng)
    save_npz(net, tmp_path / "net.npz")
    out = tmp_path / "spikes.npz"
    # pcm_htree without its PCM device model (programming noise would move the weights off the quantised ones)
    import yaml
    from neuroemu.config.loader import CHIPS_DIR, read_yaml
    data = read_yaml(CHIPS_DIR / "pcm_htree.yaml")
    del data["synapse_device"]
    (tmp_path / "pcm_digital.yaml").write_text(yaml.safe_dump(data))
    res = CliRunner().invoke(main, ["run", str(tmp_path / "pcm_digital.yaml"), str(tmp_path / "net.npz"), "--ticks", "60",
                                    "--mapping", "pack", "--spikes-out", str(out)])
    assert res.exit_code == 0, res.output
    assert re.search(r"mapping\s+pack: 1 cores, 48 neurons", res.output)
    assert re.search(r"quantisation\s+per_synapse 8-bit weights", res.output)
    times, ids = load_spikes(out)
    # the chip runs the network with its weights quantised to 8 bits (scale max |w| / 127 per group)
    ref = simulate_reference(quantise(net, bits=8, scheme="per_synapse")[0], 60)
    assert len(times) > 100
    assert np.array_equal(times, ref.times) and np.array_equal(ids, ref.ids)


def test_cli_nir_needs_dt_and_names_the_node_it_cannot_map(tmp_path):
    rng = np.random.default_rng(1)
    nir.write(tmp_path / "m.nir", lif_graph(rng))
    res = CliRunner().invoke(main, ["run", "loihi", str(tmp_path / "m.nir")])
    assert res.exit_code == 1 and "needs --dt" in res.output and "Traceback" not in res.output
    graph = nir.NIRGraph(nodes={"input": nir.Input(input_type={"input": np.array([2])}),
                                "d": nir.Delay(delay=np.ones(2)),
                                "output": nir.Output(output_type={"output": np.array([2])})},
                         edges=[("input", "d"), ("d", "output")])
    nir.write(tmp_path / "bad.nir", graph)
    res = CliRunner().invoke(main, ["run", "loihi", str(tmp_path / "bad.nir"), "--dt", "1"])
    assert res.exit_code == 1 and "Traceback" not in res.output
    assert "node 'output' (Output)" in res.output  # the node and its type


def test_cli_file_options_need_a_network_file():
    res = CliRunner().invoke(main, ["run", "loihi", "--mapping", "pack"])
    assert res.exit_code == 1 and "apply to a network file" in res.output


def test_a_conv_pool_nir_graph_runs_on_loihi_as_its_quantised_equations(tmp_path):
    """Conv2d, SumPool2d, Flatten and Affine expand to synapses; IF layers then run exactly."""
    rng = np.random.default_rng(2)
    nodes = {"input": nir.Input(input_type={"input": np.array([1, 6, 6])}),
             "conv": nir.Conv2d(input_shape=(6, 6), weight=rng.normal(size=(3, 1, 3, 3)), stride=1, padding=1,
                                dilation=1, groups=1, bias=np.zeros(3)),
             "if1": nir.IF(r=np.ones((3, 6, 6)), v_threshold=np.full((3, 6, 6), 1.0), v_reset=np.zeros((3, 6, 6))),
             "pool": nir.SumPool2d(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0])),
             "if2": nir.IF(r=np.ones((3, 3, 3)), v_threshold=np.full((3, 3, 3), 1.5), v_reset=np.zeros((3, 3, 3))),
             "flat": nir.Flatten(input_type={"input": np.array([3, 3, 3])}, start_dim=0, end_dim=-1),
             "fc": nir.Affine(weight=rng.normal(size=(5, 27)), bias=np.full(5, 0.05)),
             "if3": nir.IF(r=np.ones(5), v_threshold=np.full(5, 1.0), v_reset=np.zeros(5)),
             "output": nir.Output(output_type={"output": np.array([5])})}
    order = ["input", "conv", "if1", "pool", "if2", "flat", "fc", "if3", "output"]
    ticks = 40
    graph = nir.NIRGraph(nodes=nodes, edges=list(zip(order, order[1:])))
    record, mapped, x = run_nir(tmp_path, graph, rng, ticks, 36, 0.3)
    net = load_nir(tmp_path / "model.nir", dt=1.0, reset="zero")
    ref = simulate_reference(quantise(net, bits=9, scheme="per_synapse")[0].with_inputs(*np.nonzero(x)), ticks)
    expected = np.zeros((ticks, net.n_neurons), bool)
    expected[ref.times, ref.ids] = True
    assert [g.size for g in net.groups] == [108, 27, 5]
    assert expected[:, :108].sum() > 100 and expected[:, 108:135].sum() > 10 and expected[:, 135:].sum() > 3
    assert np.array_equal(spikes_of(record, mapped, ticks), expected)
    assert record.workload_report["quantisation"]["max_rel_error"] < 0.01


def test_truenorth_copies_that_cannot_fit_fail_with_the_count():
    chip = load_chip("truenorth")
    small = dataclasses.replace(chip, cores=4, topology=dataclasses.replace(chip.topology, width=2, height=2))
    b = NetworkBuilder("wide")
    b.add_inputs("in", 1)
    b.add_neurons("hidden", 200, model="IF")
    b.add_neurons("out", 600, model="IF")
    b.connect("in", "hidden", np.ones((1, 200)))
    b.connect("hidden", "out", np.ones((200, 600)))  # pack: out spans 4 cores, so 4 copies of each hidden neuron
    with pytest.raises(CapacityError, match=r"needs 1,400 neurons with its copies \(1.8 per neuron\), more than "
                                            r"chip 'truenorth' holds \(4 cores x 256 = 1,024\)"):
        map_network(b.build(), small, strategy="pack")


def test_raster_of_a_mapped_network_draws_spikes_on_their_chip_cores(tmp_path):
    from neuroemu.studies.plots import plot_raster
    from neuroemu.studies.results import write_run_output
    rng = np.random.default_rng(9)
    save_npz(layered_network(rng), tmp_path / "layered.npz")
    record, mapped = run_file("truenorth", tmp_path / "layered.npz", 40, mapping="locality")
    write_run_output(record, tmp_path / "out")
    fig = plot_raster(tmp_path / "out")
    ax = fig.axes[0]
    ys = np.concatenate([c.get_offsets()[:, 1] for c in ax.collections])
    cores = mapped.arrays.chip_cores(np.arange(mapped.arrays.n_cores))
    assert cores.min() > 1000  # locality placed the network around the mesh's centre
    assert np.array_equal(np.unique(np.floor(ys)).astype(int), np.unique(cores[(record.spike_trains.neurons // 256)]))
    assert ax.get_ylim() == (cores.min(), cores.max() + 1)


def test_cli_validates_network_files_and_wants_a_chip_to_run_one(tmp_path):
    rng = np.random.default_rng(1)
    nir.write(tmp_path / "m.nir", lif_graph(rng))
    runner = CliRunner()
    res = runner.invoke(main, ["validate", str(WORKLOADS / "digits.npz"), str(tmp_path / "m.nir"), "--dt", "1"])
    assert res.exit_code == 0, res.output
    assert "(network digits: 74 neurons, 64 inputs, 4,736 synapses)" in res.output
    assert "(network m: 30 neurons, 8 inputs, 334 synapses)" in res.output
    res = runner.invoke(main, ["validate", str(tmp_path / "m.nir")])
    assert res.exit_code == 1 and "a NIR graph is read with its tick: give --dt" in res.output
    res = runner.invoke(main, ["run", str(tmp_path / "m.nir")])
    assert res.exit_code == 1 and "a network file runs on a chip: neuroemu run CHIP" in res.output


def recurrent_network(rng, n_in=12, sizes=(30, 20), ticks=60, max_delay=4):
    """IF groups with feed-forward, lateral and recurrent synapses and delays of 1-max_delay ticks."""
    b = NetworkBuilder("recurrent")
    b.add_inputs("in", n_in)
    names = [f"g{k}" for k in range(len(sizes))]
    for name, size in zip(names, sizes):
        b.add_neurons(name, size, model="IF", threshold=float(rng.integers(20, 60)),
                      bias=rng.integers(-1, 3, size).astype(float))
    pairs = [("in", names[0], n_in, sizes[0])] + [
        (a, c, sa, sc) for a, sa in zip(names, sizes) for c, sc in zip(names, sizes)]
    for src, dst, n_src, n_dst in pairs:
        mask = rng.random((n_src, n_dst)) < 0.3
        w = rng.normal(8.0 if src == "in" else 0.0, 6.0, (n_src, n_dst)) * mask
        b.connect(src, dst, w, delay=rng.integers(1, max_delay + 1, (n_src, n_dst)))
    x = rng.random((ticks, n_in)) < 0.3
    b.set_input_spikes(*np.nonzero(x))
    return b.build()


@pytest.mark.parametrize("chip,mapping,max_delay,scheme", [
    ("loihi", "spread", 4, dict(bits=9, scheme="per_synapse")),          # fan-out over many cores
    ("rram_htree", "spread", 4, dict(bits=4, scheme="per_synapse")),
    # TrueNorth: a source needs an axon per (core, delay, axon type), and each is a neuron copy; with
    # one delay the 4 copies of the recurrent groups' neurons still fit one core
    ("truenorth", "pack", 1, dict(bits=9, scheme="truenorth", copies=4)),
    ("truenorth", "locality", 1, dict(bits=9, scheme="truenorth", copies=4))])
@pytest.mark.parametrize("seed", [1, 2])
def test_recurrent_networks_with_delays_run_as_their_quantised_equations(tmp_path, chip, mapping, max_delay, scheme,
                                                                          seed):
    """Whatever the routes (fan-out, copies, delays per axon), the chip runs the quantised network."""
    net = recurrent_network(np.random.default_rng(seed), max_delay=max_delay)
    save_npz(net, tmp_path / "rec.npz")
    ticks = 60
    record, mapped = run_file(chip, tmp_path / "rec.npz", ticks, mapping=mapping, neuron_reset="zero",
                              axon_copies=scheme.get("copies"))
    ref = simulate_reference(quantise(net.with_inputs(net.input_times, net.input_ids), **scheme)[0], ticks)
    expected = np.zeros((ticks, net.n_neurons), bool)
    expected[ref.times, ref.ids] = True
    assert expected.sum() > 100
    assert np.array_equal(spikes_of(record, mapped, ticks), expected)


def test_truenorth_copies_that_never_settle_are_refused_with_the_reason(tmp_path):
    """Recurrent groups with 4 delays need 16 copies per neuron, which spill onto more cores, whose
    sources then need more copies again: the splitting does not converge."""
    net = recurrent_network(np.random.default_rng(1), max_delay=4)
    with pytest.raises(CapacityError, match=r"could not give every TrueNorth neuron a single target in 4 placement "
                                            r"passes|network needs [\d,]+ neurons with its copies"):
        map_network(net, load_chip("truenorth"), strategy="pack")


# --- built by ranks: some cores' arrays alone -------------------------------------------------------

def _cut(arrays, c0: int, c1: int) -> dict:
    """Every array of cores c0 .. c1 - 1 of whole-network arrays, cut as a rank holds them (local ids)."""
    from neuroemu.engine.ranks import slice_arrays
    part = slice_arrays(arrays, c0, c1)
    out = {f.name: getattr(part, f.name) for f in dataclasses.fields(part) if f.name != "params"}
    out.update({f"params.{f.name}": getattr(part.params, f.name) for f in dataclasses.fields(part.params)})
    if arrays.fanout_ptr is not None:  # (slice_arrays leaves routes to the rank's binding)
        N = arrays.neurons_per_core
        lo, hi = int(arrays.fanout_ptr[c0 * N]), int(arrays.fanout_ptr[c1 * N])
        out.update(fanout_ptr=arrays.fanout_ptr[c0 * N:c1 * N + 1] - lo, fanout_axon=arrays.fanout_axon[lo:hi],
                   fanout_delay=arrays.fanout_delay[lo:hi])
    return out


def _held(arrays) -> dict:
    out = {f.name: getattr(arrays, f.name) for f in dataclasses.fields(arrays) if f.name != "params"}
    out.update({f"params.{f.name}": getattr(arrays.params, f.name) for f in dataclasses.fields(arrays.params)})
    return out


@pytest.mark.parametrize("chip,mapping,copies,make", [
    ("truenorth", "spread", 4, lambda rng: four_bit_if_network(rng)),    # axon copies, neuron copies on 644 cores
    ("truenorth", "spread", 1, lambda rng: four_bit_if_network(rng)),    # axon types by clusters
    ("loihi", "spread", None, lambda rng: recurrent_network(rng, max_delay=4)),  # fan-out over many cores
    ("rram_htree", "spread", None, lambda rng: recurrent_network(rng, max_delay=2))])
def test_a_share_of_the_cores_is_written_alone_as_the_whole_build_writes_it(chip, mapping, copies, make):
    """An MPI rank's build (map_network cores_of): its cores' arrays bit for bit the whole build's
    cut, nothing of the other cores' state, and the same inputs, report and (on request) routes."""
    net = make(np.random.default_rng(4))
    spec = load_chip(chip)
    whole = map_network(net, spec, strategy=mapping, axon_copies=copies)
    k, N, A = whole.cores_used, spec.core.neurons, spec.core.axons
    assert k >= 3
    for c0, c1 in ((0, 1), (1, k - 1), (k - 1, k), (0, k // 2)):
        seen = []
        part = map_network(net, spec, strategy=mapping, axon_copies=copies,
                           cores_of=lambda used: seen.append(used) or (c0, c1))
        assert seen == [k] and part.part_cores == (c0, c1) and part.source is None
        held, want = _held(part.part), _cut(whole.arrays, c0, c1)
        for name, value in want.items():
            got = held[name]
            assert (got is None) == (value is None), name
            if isinstance(value, np.ndarray):
                assert got.dtype == value.dtype and np.array_equal(got, value), name
            else:
                assert got == value, name
        assert held["n_cores"] == c1 - c0 and part.part.nbytes() == sum(
            v.nbytes for v in want.values() if isinstance(v, np.ndarray))  # its cores alone
        assert part.arrays.v is None and part.arrays.row_ptr is None and part.arrays.target_axon is None  # a shell
        assert np.array_equal(part.arrays.chip_core, whole.arrays.chip_core)
        assert np.array_equal(part.enabled, whole.enabled)
        assert np.array_equal(part.network_id, whole.network_id[c0 * N:c1 * N])
        assert np.array_equal(part.axon_delay, whole.axon_delay[c0 * A:c1 * A])
        assert part.report() == whole.report()  # synapses and routes of every core
        inputs = (part.input_stream(*whole_inputs) for whole_inputs in [(net.input_times, net.input_ids)])
        got, expect = next(inputs), whole.input_stream(net.input_times, net.input_ids)
        assert np.array_equal(got.ticks, expect.ticks) and np.array_equal(got.axons, expect.axons)
        assert [np.array_equal(a, b) for a, b in zip(part.input_routes(), whole.input_routes())] == [True] * 3
    routed = map_network(net, spec, strategy=mapping, axon_copies=copies,
                         cores_of=lambda used: (1, 2), whole_routes=True)
    assert [np.array_equal(a, b) for a, b in zip(routed.arrays.routes(), whole.arrays.routes())] == [True] * 3


def test_a_share_fails_with_the_whole_builds_line_for_another_cores_synapses(monkeypatch):
    """The per-core synapse limit and the clipped-point count are of every core: a rank whose own
    cores are fine refuses the network with the one-process line, and notes the same clipping."""
    from neuroemu.networks import compile as compile_module
    b = NetworkBuilder("parallel")
    b.add_inputs("in", 8)
    b.add_neurons("a", 8, model="IF", threshold=100.0)
    w = np.zeros((8, 8))
    w[:4], w[4:, 0] = 20.0, 30.0  # a[0] has 8 inputs, the others 4
    b.connect("in", "a", w)
    b.connect("in", "a", np.where(np.arange(8) == 0, 200.0, 0.0)[None, :].repeat(8, axis=0))  # in parallel, on a[0]
    b.set_input_spikes(np.arange(8), np.arange(8))
    net = b.build()
    spec = load_chip("loihi")
    whole = map_network(net, spec, strategy="spread")
    k = whole.cores_used
    last = map_network(net, spec, strategy="spread", cores_of=lambda used: (used - 1, used))  # not a[0]'s core
    assert k == 8 and any("clipped" in n for n in whole.report()["notes"])
    assert last.report()["notes"] == whole.report()["notes"]
    model = compile_module.neuron_model(spec.core.neuron_model)
    limited = dataclasses.replace(model, limits=dataclasses.replace(model.limits, max_synapse_bits_per_core=5 * 9))
    monkeypatch.setattr(compile_module, "neuron_model", lambda name: limited)  # a[0]'s core holds 8 points
    with pytest.raises(CapacityError) as one:
        map_network(net, spec, strategy="spread")
    with pytest.raises(CapacityError) as share:
        map_network(net, spec, strategy="spread", cores_of=lambda used: (used - 1, used))
    assert str(share.value) == str(one.value) and "holds 8 synapses at 9 bits" in str(one.value)
