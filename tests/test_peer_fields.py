"""What other simulators' networks need (issue 15): per-neuron state and limits, given placement,
weights kept as given, zero weights, packet energy, several synaptic currents, and the checks.

Every chip run is compared spike for spike with the float reference (networks.graph) extended to
the same semantics, run on the quantised network (weights, thresholds and decays as the chip holds
them, which for the integer networks here is the network itself), or with an exact integer
reference written out below.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from neuroemu import simulate
from neuroemu.cli.app import main
from neuroemu.config.loader import load_chip, workload_for_network_file
from neuroemu.engine.options import with_timing
from neuroemu.errors import CapacityError, ConfigError
from neuroemu.networks.compile import map_network
from neuroemu.networks.edgelist import load_network, save_csv, save_npz
from neuroemu.networks.graph import NetworkBuilder, simulate_reference
from neuroemu.networks.quantise import quantise
from neuroemu.networks.workloads import build_network
from conftest import changed

CHIPS = Path(__file__).resolve().parent.parent / "chips"
SCHEMES = {"loihi": dict(bits=9, scheme="per_synapse", decay_bits=12),
           "truenorth": dict(bits=9, scheme="truenorth", copies=4)}


def run_file(chip, path: Path, ticks: int, tick_backend: str | None = None, **network):
    """Run a network file on a chip; return the record and the mapped network."""
    wl = workload_for_network_file(path, ticks=ticks, **network)
    chip_spec = load_chip(chip) if isinstance(chip, (str, Path)) else chip
    record = simulate(chip_spec, wl, record_spikes=True, tick_backend=tick_backend)
    return record, build_network(chip_spec, wl, wl.seed, wl.where)


def chip_spikes(record, mapped, ticks: int, n: int) -> np.ndarray:
    """bool [ticks, n]: the run's spikes in the file's numbering."""
    out = np.zeros((ticks, n), bool)
    trains = record.spike_trains
    out[trains.ticks, mapped.network_id[trains.neurons]] = True
    return out


def ref_spikes(net, ticks: int, chip: str | None = None, **scheme) -> np.ndarray:
    """bool [ticks, N]: the float reference on the network as the chip holds it."""
    if chip is not None:
        net = quantise(net, **{**SCHEMES[chip], **scheme})[0]
    ref = simulate_reference(net, ticks)
    out = np.zeros((ticks, net.n_neurons), bool)
    out[ref.times, ref.ids] = True
    return out


def if_network(rng, *, n_in=10, sizes=(24, 12), ticks=60, p=0.4, **neurons):
    """Integer IF layers (weights -8..7, the largest 7 in every group: exact on both chips)."""
    b = NetworkBuilder("peer")
    b.add_inputs("in", n_in)
    names = [f"g{k}" for k in range(len(sizes))]
    for name, size in zip(names, sizes):
        kw = {k: (v(size) if callable(v) else v) for k, v in neurons.items()}
        b.add_neurons(name, size, model="IF", threshold=9.0, **kw)
    for src, dst, n_src, n_dst in [("in", names[0], n_in, sizes[0])] + [
            (a, c, sa, sc) for a, c, sa, sc in zip(names, names[1:], sizes, sizes[1:])]:
        w = rng.integers(-8, 8, (n_src, n_dst)).astype(float)
        w[0] = 7.0
        b.connect(src, dst, w)
    b.set_input_spikes(*np.nonzero(rng.random((ticks, n_in)) < p))
    return b.build()


def chip_file(tmp_path: Path, name: str, **changes) -> Path:
    """A copy of a shipped chip with some keys changed (dotted paths, e.g. core.axons)."""
    data = yaml.safe_load((CHIPS / f"{name}.yaml").read_text())
    changed(data, **changes)
    path = tmp_path / f"{name}_changed.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


# --- 1. run and validate apply the same checks --------------------------------------------------

def test_run_applies_the_models_per_core_limits_to_file_networks_as_validate_does(tmp_path):
    chip = chip_file(tmp_path, "loihi", core__axons=11264)
    net = if_network(np.random.default_rng(0))
    save_npz(net, tmp_path / "net.npz")
    wl = tmp_path / "wl.yaml"
    wl.write_text(yaml.safe_dump({"name": "wl", "chip": str(chip), "ticks": 5,
                                  "network": {"kind": "edgelist", "file": "net.npz"}}))
    runner = CliRunner()
    checked = runner.invoke(main, ["validate", str(chip)])
    ran = runner.invoke(main, ["run", str(chip), str(tmp_path / "net.npz"), "--ticks", "5"])
    validated_wl = runner.invoke(main, ["validate", str(wl)])
    rule = "core.axons: 11264 axons per core, more than the loihi_cuba model allows (4096"
    for res in (checked, ran, validated_wl):
        assert res.exit_code == 1 and rule in res.output, res.output
    with pytest.raises(CapacityError, match="4096"):
        map_network(net, load_chip(chip))


# --- 2. per-neuron state and limits ---------------------------------------------------------------

@pytest.mark.parametrize("tick_backend", ["c", "numpy"])
def test_refractory_holds_the_membrane_on_loihi_as_the_reference_does(tmp_path, tick_backend):
    rng = np.random.default_rng(1)
    net = if_network(rng, refractory=lambda n: rng.integers(0, 5, n), bias=1.0)
    save_npz(net, tmp_path / "r.npz")
    ticks = 60
    record, mapped = run_file("loihi", tmp_path / "r.npz", ticks, tick_backend)
    expected = ref_spikes(net, ticks, "loihi")
    assert expected.sum() > 100
    assert np.array_equal(chip_spikes(record, mapped, ticks, net.n_neurons), expected)
    without = ref_spikes(dataclasses.replace(net, refractory=np.zeros(net.n_neurons, np.int64)), ticks, "loihi")
    assert without.sum() > expected.sum()  # the field matters


@pytest.mark.parametrize("chip", ["loihi", "truenorth"])
def test_initial_voltages_start_the_chip_where_the_reference_starts(tmp_path, chip):
    rng = np.random.default_rng(2)
    net = if_network(rng, v_init=lambda n: rng.integers(-4, 9, n).astype(float), p=0.2)
    save_npz(net, tmp_path / "v.npz")
    ticks = 40
    record, mapped = run_file(chip, tmp_path / "v.npz", ticks, neuron_reset="zero")
    expected = ref_spikes(net, ticks, chip)
    assert np.array_equal(chip_spikes(record, mapped, ticks, net.n_neurons), expected)
    at_rest = ref_spikes(dataclasses.replace(net, v_init=np.zeros(net.n_neurons)), ticks, chip)
    assert not np.array_equal(at_rest, expected)


def test_an_initial_current_decays_on_loihi_as_in_the_reference(tmp_path):
    """Currents of 4096 x k halve exactly for 12 ticks (i_decay 1/2), so float and integer agree."""
    b = NetworkBuilder("u0")
    b.add_inputs("in", 1)
    b.add_neurons("n", 16, model="CubaLIF", decay=1.0, i_decay=0.5, threshold=6000.0,
                  u_init=4096.0 * np.arange(16))
    b.connect("in", "n", np.full((1, 16), 255.0))
    net = b.build()
    save_npz(net, tmp_path / "u.npz")
    ticks = 12
    record, mapped = run_file("loihi", tmp_path / "u.npz", ticks, weight_scale="keep")
    expected = ref_spikes(net, ticks)
    assert expected.sum() > 10
    assert np.array_equal(chip_spikes(record, mapped, ticks, net.n_neurons), expected)
    assert not ref_spikes(dataclasses.replace(net, u_init=np.zeros(16)), ticks).any()


@pytest.mark.parametrize("chip", ["loihi", "truenorth"])
@pytest.mark.parametrize("tick_backend", ["c", "numpy"])
def test_a_membrane_floor_clamps_on_the_chip_as_in_the_reference(tmp_path, chip, tick_backend):
    rng = np.random.default_rng(3)
    net = if_network(rng, v_min=lambda n: -rng.integers(0, 6, n).astype(float), p=0.5)
    save_npz(net, tmp_path / "f.npz")
    ticks = 60
    record, mapped = run_file(chip, tmp_path / "f.npz", ticks, tick_backend, neuron_reset="zero")
    expected = ref_spikes(net, ticks, chip)
    assert expected.sum() > 50
    assert np.array_equal(chip_spikes(record, mapped, ticks, net.n_neurons), expected)
    no_floor = ref_spikes(dataclasses.replace(net, v_min=np.full(net.n_neurons, -np.inf)), ticks, chip)
    assert not np.array_equal(no_floor, expected)


@pytest.mark.parametrize("chip", ["loihi", "truenorth"])
def test_mapping_given_puts_every_neuron_on_the_core_the_file_names(tmp_path, chip):
    rng = np.random.default_rng(4)
    cores = np.concatenate([np.full(24, 5), np.full(12, 2)])
    cores[::7] = 9
    net = if_network(rng, core=0)
    net = dataclasses.replace(net, core=cores)
    save_npz(net, tmp_path / "g.npz")
    ticks = 40
    record, mapped = run_file(chip, tmp_path / "g.npz", ticks, mapping="given", neuron_reset="zero")
    N = mapped.neurons_per_core
    on = mapped.arrays.chip_cores(mapped.global_id // N)
    assert np.array_equal(on, cores)
    assert mapped.report()["mapping"]["strategy"] == "given"
    assert np.array_equal(chip_spikes(record, mapped, ticks, net.n_neurons), ref_spikes(net, ticks, chip))
    packed = map_network(net, load_chip(chip), strategy="pack").report()["notes"]
    assert "the file's core array is read by mapping given only; mapping pack placed the neurons" in packed


# --- 3. weights -------------------------------------------------------------------------------------

def test_weight_scale_keep_stores_integer_weights_as_given(tmp_path):
    rng = np.random.default_rng(5)
    net = if_network(rng)  # weights -8..7: auto scales them by 255 / 8
    q_auto, rep_auto = quantise(net, bits=9, scheme="per_synapse")
    q_keep, rep_keep = quantise(net, bits=9, scheme="per_synapse", weight_scale="keep")
    assert np.array_equal(q_keep.weight, net.weight[net.weight != 0]) and (rep_keep.scale == 1).all()
    assert rep_keep.errors["weight"] == {"max_rel_error": 0.0, "mean_rel_error": 0.0}
    assert rep_auto.scale.max() == pytest.approx(8 / 255) and rep_auto.errors["weight"]["mean_rel_error"] > 0
    save_npz(net, tmp_path / "k.npz")
    record, mapped = run_file("loihi", tmp_path / "k.npz", 40, weight_scale="keep")
    assert mapped.report()["quantisation"]["weight_scale"] == "keep"
    written = mapped.arrays.row_weights
    assert set(np.unique(written).tolist()) <= set(range(-8, 8))
    assert np.array_equal(chip_spikes(record, mapped, 40, net.n_neurons), ref_spikes(net, 40))
    big = dataclasses.replace(net, weight=np.where(np.arange(net.n_edges) == 3, 300.0, net.weight))
    with pytest.raises(ConfigError, match=r"weight: weight_scale keep .* within -255\.\.255 .*edge 3: got 300"):
        quantise(big, bits=9, scheme="per_synapse", weight_scale="keep")
    frac = dataclasses.replace(net, weight=net.weight + 0.5)
    with pytest.raises(ConfigError, match="must be integers"):
        map_network(frac, load_chip("loihi"), weight_scale="keep")


def test_stored_zero_weights_cost_their_synaptic_operations_when_kept(tmp_path):
    rng = np.random.default_rng(6)
    net = if_network(rng)
    zero = rng.random(net.n_edges) < 0.2
    net = dataclasses.replace(net, weight=np.where(zero, 0.0, net.weight))
    save_npz(net, tmp_path / "z.npz")
    ticks = 50
    ref = simulate_reference(quantise(net, bits=9, scheme="per_synapse")[0], ticks)
    # SOPs from counted events: every spike of a source (neuron or input) times its stored synapses
    spikes = np.bincount(ref.ids, minlength=net.n_neurons)
    in_spikes = np.bincount(net.input_ids[net.input_times < ticks - 1], minlength=net.n_inputs)
    # a spike at the last tick is delivered after the run
    spikes = spikes - np.bincount(ref.ids[ref.times == ticks - 1], minlength=net.n_neurons)
    per_edge = np.where(net.src_input, in_spikes[np.minimum(net.src, net.n_inputs - 1)],
                        spikes[np.minimum(net.src, net.n_neurons - 1)])
    for keep in (False, True):
        record, mapped = run_file("loihi", tmp_path / "z.npz", ticks, keep_zero_weights=keep or None)
        stored = np.ones(net.n_edges, bool) if keep else net.weight != 0
        assert record.synaptic_events == int(per_edge[stored].sum())
        q = mapped.report()["quantisation"]
        assert q["keep_zero_weights"] is keep and q["zero_weights_kept"] == (int(zero.sum()) if keep else 0)
        assert np.array_equal(chip_spikes(record, mapped, ticks, net.n_neurons), ref_spikes(net, ticks, "loihi"))
    assert zero.sum() > 0 and per_edge[zero].sum() > 0


def test_the_quantisation_report_covers_decays_and_thresholds_and_says_what_was_rounded():
    b = NetworkBuilder("rounded")
    b.add_inputs("in", 2)
    b.add_neurons("a", 3, model="CubaLIF", decay=0.9, i_decay=0.5, threshold=np.array([10.0, 10.2, 10.0]))
    b.connect("in", "a", [[100.0, 200.0, 255.0], [50.0, 0.0, 10.0]])
    net = b.build()
    q, rep = quantise(net, bits=9, scheme="per_synapse", decay_bits=12)
    notes = " | ".join(rep.notes)
    assert "decay rounded to 12 bits in 3 neurons: 0.9 -> 3686/4096 (0.899902)" in notes
    assert "i_decay" not in notes  # 0.5 is exact
    assert "threshold rounded up to whole chip units in 1 of 3 neurons (e.g. 10.2 -> 11" in notes
    # errors defined as for the weights: worst group's max |x_q - x| / max |x|, sum |x_q - x| / sum |x|
    assert rep.errors["decay"]["max_rel_error"] == pytest.approx(abs(3686 / 4096 - 0.9) / 0.9)
    assert rep.errors["decay"]["mean_rel_error"] == pytest.approx(abs(3686 / 4096 - 0.9) / 0.9)
    assert rep.errors["threshold"]["max_rel_error"] == pytest.approx(0.8 / 10.2)
    assert rep.errors["threshold"]["mean_rel_error"] == pytest.approx(0.8 / 30.2)
    assert rep.errors["i_decay"] == {"max_rel_error": 0.0, "mean_rel_error": 0.0}
    assert rep.errors["weight"]["max_rel_error"] == rep.max_rel_error
    mapped = map_network(net, load_chip("loihi"))
    report = mapped.report()
    assert "0.9 -> 3686/4096" in " ".join(report["notes"])
    assert int(mapped.arrays.params.dv[mapped.global_id[0]]) == 4096 - 3686
    assert set(report["quantisation"]["errors"]) == {"weight", "threshold", "decay", "i_decay"}


# --- 4. packet energy -------------------------------------------------------------------------------

def test_packet_energy_is_one_message_per_routed_spike_per_destination(tmp_path):
    chip = chip_file(tmp_path, "loihi", energy__packet_pj={"value": 111.0, "source": "a peer simulator's figure"})
    rng = np.random.default_rng(7)
    net = if_network(rng, sizes=(40, 30), bias=1.0)
    save_npz(net, tmp_path / "p.npz")
    ticks = 40
    record, mapped = run_file(chip, tmp_path / "p.npz", ticks, mapping="spread")
    a = mapped.arrays
    src, axon, _ = a.routes()
    fired = np.bincount(record.spike_trains.neurons, minlength=a.n_neurons)
    packets = int(fired[src][axon >= 0].sum())
    assert packets > 100 and len(np.unique(src)) < len(src)  # neurons with several destination cores
    assert record.counts["packet"] == packets
    assert record.energy_breakdown_j["packet"] == pytest.approx(packets * 111.0e-12, rel=1e-12)
    assert sum(record.energy_breakdown_j.values()) == pytest.approx(record.energy_j, rel=1e-12)
    plain, _ = run_file("loihi", tmp_path / "p.npz", ticks, mapping="spread")
    assert "packet" not in plain.energy_breakdown_j and plain.counts["packet"] == packets
    assert record.energy_j - plain.energy_j == pytest.approx(packets * 111e-12, rel=1e-9)


def test_validate_reads_packet_energy_and_wants_its_source(tmp_path):
    ok = chip_file(tmp_path, "truenorth", energy__packet_pj={"value": 5.0, "source": "test"})
    res = CliRunner().invoke(main, ["validate", "--require-sources", str(ok)])
    assert res.exit_code == 0, res.output
    bad = chip_file(tmp_path, "loihi", energy__packet_pj=-1.0)
    res = CliRunner().invoke(main, ["validate", str(bad)])
    assert res.exit_code == 1 and "energy.packet_pj" in res.output
    assert load_chip("loihi").energy.packet_pj.source  # shipped chips say where it went


# --- 5. several synaptic currents -------------------------------------------------------------------

def two_current_network(rng, n_in=12, n=30, ticks=80, decay=0.95, threshold=700.0, refractory=2,
                        syn_decays=(0.75, 0.9), name="cuba2"):
    """Excitatory (fast, i_decay 0.75) and inhibitory (slow, i_decay 0.9) currents, as Brian2's CUBA
    (the neuron and current constants can be changed)."""
    b = NetworkBuilder(name)
    b.add_inputs("exc", n_in)
    b.add_inputs("inh", n_in)
    b.add_neurons("n", n, model="CubaLIF", decay=decay, threshold=threshold, refractory=refractory)
    b.connect("exc", "n", rng.integers(20, 200, (n_in, n)) * (rng.random((n_in, n)) < 0.5), syn_type=0)
    b.connect("inh", "n", -rng.integers(20, 120, (n_in, n)) * (rng.random((n_in, n)) < 0.5), syn_type=1)
    b.connect("n", "n", rng.integers(-40, 60, (n, n)) * (rng.random((n, n)) < 0.1), syn_type=0)
    b.set_syn_decays(list(syn_decays))
    b.set_input_spikes(*np.nonzero(rng.random((ticks, 2 * n_in)) < 0.3))
    return b.build()


def exact_two_current_reference(net, ticks: int):
    """Loihi's integer arithmetic written out per tick for T currents (weights kept as given)."""
    def decay(x, d):  # sign(x) * (|x| * (4096 - d) >> 12)
        return np.sign(x) * ((np.abs(x) * (4096 - d)) >> 12)
    n, T = net.n_neurons, net.n_syn_types
    du = np.rint(4096 * (1 - net.syn_i_decay)).astype(np.int64)
    dv = np.rint(4096 * (1 - net.decay)).astype(np.int64)
    thr = np.ceil(net.threshold).astype(np.int64)
    u, v, left = np.zeros((T, n), np.int64), np.zeros(n, np.int64), np.zeros(n, np.int64)
    inbox = np.zeros((ticks + 2, T, n), np.int64)
    out = np.zeros((ticks, n), bool)
    w = net.weight.astype(np.int64)
    for t in range(ticks):
        u = decay(u, du[:, None]) + inbox[t]
        free = left <= 0
        x = decay(v, dv) + u.sum(axis=0)
        fired = free & (x >= thr)
        v = np.where(free, np.where(fired, 0, x), v)
        left = np.where(free, np.where(fired, net.refractory, 0), left - 1)
        out[t] = fired
        active = np.where(net.src_input, np.isin(net.src, net.input_ids[net.input_times == t]), fired[net.src])
        np.add.at(inbox[t + 1], (net.syn_type[active], net.dst[active]), w[active])
    return out


@pytest.mark.parametrize("tick_backend", ["c", "numpy"])
def test_a_two_current_cuba_network_on_loihi_matches_the_exact_reference(tmp_path, tick_backend):
    net = two_current_network(np.random.default_rng(8))
    save_npz(net, tmp_path / "c2.npz")
    ticks = 80
    record, mapped = run_file("loihi", tmp_path / "c2.npz", ticks, tick_backend, weight_scale="keep")
    got = chip_spikes(record, mapped, ticks, net.n_neurons)
    expected = exact_two_current_reference(net, ticks)
    assert expected.sum() > 100
    assert np.array_equal(got, expected)
    one = dataclasses.replace(net, syn_type=np.zeros(net.n_edges, np.int64), syn_i_decay=np.array([0.75]))
    assert not np.array_equal(exact_two_current_reference(one, ticks), expected)  # the second current matters
    assert mapped.arrays.u.shape == (2 * mapped.arrays.n_neurons,)


def test_two_currents_agree_with_the_float_reference_where_the_arithmetic_is_exact(tmp_path):
    """i_decay 0 and 1/2 with weights of 1024 x k: halving stays exact for the run."""
    rng = np.random.default_rng(9)
    b = NetworkBuilder("exact")
    b.add_inputs("in", 6)
    b.add_neurons("n", 10, model="CubaLIF", decay=1.0, threshold=3000.0)
    b.connect("in", "n", 1024.0 * rng.integers(1, 4, (6, 10)), syn_type=0)
    b.connect("in", "n", -1024.0 * rng.integers(0, 3, (6, 10)), syn_type=1)
    b.set_syn_decays([0.0, 0.5])
    b.set_input_spikes(*np.nonzero(rng.random((8, 6)) < 0.3))
    net = b.build()
    save_npz(net, tmp_path / "e.npz")
    chip = chip_file(tmp_path, "loihi", core__weight_bits=13, core__membrane_bits=24)
    chip_spec = dataclasses.replace(load_chip(chip), core=dataclasses.replace(load_chip(chip).core,
                                                                              neuron_model="cuba_lif"))
    record, mapped = run_file(chip_spec, tmp_path / "e.npz", 10, weight_scale="keep")
    expected = ref_spikes(net, 10)
    assert expected.sum() > 5
    assert np.array_equal(chip_spikes(record, mapped, 10, net.n_neurons), expected)


def test_chips_with_one_current_per_neuron_refuse_several_in_one_line(tmp_path):
    net = two_current_network(np.random.default_rng(10))
    with pytest.raises(ConfigError, match=r"^cuba2: syn_i_decay: 2 synaptic current types, but truenorth_lif holds "
                                          r"one current per neuron"):
        map_network(net, load_chip("truenorth"))


# --- 6. bad input -----------------------------------------------------------------------------------

def test_bad_fields_in_files_get_one_line_naming_file_array_and_rule(tmp_path):
    net = if_network(np.random.default_rng(11))
    base = {k: v for k, v in np.load(_saved(net, tmp_path)).items()}

    def error(**arrays):
        path = tmp_path / "bad.npz"
        np.savez(path, **{**base, **arrays})
        with pytest.raises(ConfigError) as exc:
            load_network(path)
        assert "\n" not in str(exc.value) and str(exc.value).startswith(f"{path}: ")
        return str(exc.value)

    n = net.n_neurons
    assert "refractory: needs one value per neuron (36, the length of decay) (got 3)" in error(refractory=np.ones(3))
    assert "v_init: must be real numbers" in error(v_init=np.array(["a"] * n))
    assert "refractory: must be integers" in error(refractory=np.full(n, 1.5))
    assert "syn_type: needs one value per edge" in error(syn_type=np.zeros(2, np.int64))
    assert "v_min: a floor must be -inf or a number <= 0" in error(v_min=np.full(n, 2.0))
    assert "v_min: a floor must be -inf or a number <= 0" in error(v_min=np.full(n, np.nan))  # async reads it too
    assert ("syn_i_decay: needs one current decay per synapse type: syn_type uses types 0..2 (got 2 values)"
            in error(syn_type=np.arange(net.n_edges) % 3, syn_i_decay=np.array([0.5, 0.5])))
    assert "syn_i_decay: needs one current decay per synapse type" in error(syn_type=np.arange(net.n_edges) % 2)


def _saved(net, tmp_path: Path) -> Path:
    path = tmp_path / "good.npz"
    save_npz(net, path)
    return path


def test_bad_fields_against_the_chip_are_one_line_naming_the_rule(tmp_path):
    net = if_network(np.random.default_rng(12))
    loihi, truenorth = load_chip("loihi"), load_chip("truenorth")
    far = dataclasses.replace(net, core=np.full(net.n_neurons, 128), where="far.npz")
    with pytest.raises(ConfigError, match=r"^far.npz: core: must be a core of the chip, 0\.\.127 \(neuron 0: got 128\)$"):
        map_network(far, loihi, strategy="given")
    unset = dataclasses.replace(net, where="unset.npz")
    with pytest.raises(ConfigError, match=r"^unset.npz: core: mapping given needs a core for every neuron"):
        map_network(unset, loihi, strategy="given")
    long = dataclasses.replace(net, refractory=np.full(net.n_neurons, 40000), where="long.npz")
    with pytest.raises(ConfigError, match=r"^long.npz: group 'g0' \(IF\): refractory: 40000 ticks, more than "
                                          r"loihi_cuba's refractory counter holds \(0\.\.32767\)$"):
        map_network(long, loihi)
    with pytest.raises(ConfigError, match="truenorth_lif has no refractory period"):
        map_network(dataclasses.replace(net, refractory=np.ones(net.n_neurons, np.int64)), truenorth)
    cramped = dataclasses.replace(net, core=np.zeros(net.n_neurons, np.int64))
    with pytest.raises(CapacityError, match="given: .* core 0 gets 36 neurons, more than 32"):
        map_network(cramped, dataclasses.replace(loihi, core=dataclasses.replace(loihi.core, neurons=32)),
                    strategy="given")


def test_new_fields_round_trip_through_npz_and_csv(tmp_path):
    rng = np.random.default_rng(13)
    net = two_current_network(rng)
    net = dataclasses.replace(net, v_init=rng.integers(-5, 5, net.n_neurons).astype(float),
                              v_min=np.full(net.n_neurons, -7.0), core=np.arange(net.n_neurons) % 3,
                              u_init=np.arange(net.n_neurons, dtype=float))
    save_npz(net, tmp_path / "rt.npz")
    save_csv(net, tmp_path / "rt.csv")
    for back in (load_network(tmp_path / "rt.npz"), load_network(tmp_path / "rt.csv")):
        for f in ("refractory", "v_init", "u_init", "v_min", "core", "syn_type", "syn_i_decay", "weight"):
            assert np.array_equal(getattr(back, f), getattr(net, f)), f
    assert np.array_equal(ref_spikes(net, 30), ref_spikes(load_network(tmp_path / "rt.csv"), 30))


def test_inputs_on_cores_send_packets_and_hops_like_neurons(tmp_path):
    from neuroemu.hardware.chip import build_chip_topology
    rng = np.random.default_rng(14)
    net = if_network(rng, sizes=(40, 30))
    save_npz(net, tmp_path / "in.npz")
    ticks = 30
    chip = load_chip("loihi")
    axons, _ = run_file(chip, tmp_path / "in.npz", ticks, mapping="spread")
    cores, mapped = run_file(chip, tmp_path / "in.npz", ticks, mapping="spread", inputs="on_cores")
    assert np.array_equal(cores.spike_trains.neurons, axons.spike_trains.neurons)  # the same spikes
    # expected from counted input spikes: one packet per destination axon, from the first one's core
    topo = build_chip_topology(chip)
    A = mapped.arrays.axons_per_core
    sent = np.bincount(net.input_ids[net.input_times < ticks], minlength=net.n_inputs)
    packets = hops = 0
    for i in range(net.n_inputs):
        dst = mapped.arrays.chip_cores(mapped.input_axons[mapped.input_ptr[i]:mapped.input_ptr[i + 1]] // A)
        r = topo.core_router
        packets += sent[i] * len(dst)
        hops += sent[i] * int(topo.hops[r[dst[0]], r[dst]].sum())
    assert packets > 100 and hops > 100
    assert cores.counts["packet"] - axons.counts["packet"] == packets
    assert cores.hops - axons.hops == hops
    with pytest.raises(ConfigError, match="network.inputs: on_cores is counted with the analytic network"):
        simulate(chip, workload_for_network_file(tmp_path / "in.npz", ticks=5, inputs="on_cores"), network="packet")


@pytest.mark.parametrize("chip", ["loihi", "truenorth"])
def test_the_simpy_reference_runs_floors_initial_voltages_and_refractory_as_the_fast_engine(tmp_path, chip):
    from neuroemu.engine.reference import simulate_reference as simpy_reference
    rng = np.random.default_rng(15)
    extra = dict(refractory=lambda n: rng.integers(0, 3, n)) if chip == "loihi" else {}
    net = if_network(rng, sizes=(16, 8), v_min=lambda n: -rng.integers(0, 6, n).astype(float),
                     v_init=lambda n: rng.integers(0, 5, n).astype(float), **extra)
    save_npz(net, tmp_path / "s.npz")
    wl = workload_for_network_file(tmp_path / "s.npz", ticks=30, mapping="spread", neuron_reset="zero")
    spec = with_timing(load_chip(chip), "sync")  # the SimPy reference runs sync timing
    fast, ref = simulate(spec, wl, record_spikes=True), simpy_reference(spec, wl)
    assert fast.spikes > 20 and fast.comparable() == ref.comparable()


def test_the_simpy_reference_refuses_several_currents_in_one_line(tmp_path):
    from neuroemu.engine.reference import simulate_reference as simpy_reference
    from neuroemu.errors import NeuroEmuError
    save_npz(two_current_network(np.random.default_rng(16)), tmp_path / "c2.npz")
    wl = workload_for_network_file(tmp_path / "c2.npz", ticks=5, weight_scale="keep")
    with pytest.raises(NeuroEmuError, match="the SimPy reference does not run several currents"):
        simpy_reference(with_timing(load_chip("loihi"), "sync"), wl)


def test_csv_side_files_carry_the_types_and_name_their_line(tmp_path):
    net = two_current_network(np.random.default_rng(17))
    save_csv(net, tmp_path / "t.csv")
    (tmp_path / "t.syntypes.csv").write_text("i_decay\n0.75\n")
    with pytest.raises(ConfigError, match=r"t.csv: syn_i_decay: needs one current decay per synapse type: syn_type "
                                          r"uses types 0..1 \(got 1 values\)$"):
        load_network(tmp_path / "t.csv")
    (tmp_path / "t.syntypes.csv").write_text("i_decay\n0.75\nslow\n")
    with pytest.raises(ConfigError, match=r"t.syntypes.csv: line 3: i_decay: must be a number \(got 'slow'\)$"):
        load_network(tmp_path / "t.csv")


def test_the_multi_current_kernels_in_c_and_numpy_agree_bit_for_bit_near_saturation():
    import copy
    from neuroemu.hardware.step import TickStepper
    from neuroemu.models.loihi import cuba_range
    rng = np.random.default_rng(18)
    net = two_current_network(rng)
    net = dataclasses.replace(net, v_min=-rng.integers(0, 3000, net.n_neurons).astype(float))
    chip = load_chip("loihi")
    mapped = map_network(net, chip, weight_scale="keep", strategy="spread")
    lim = cuba_range(chip.core.membrane_bits)[1]
    base = mapped.arrays
    base.u[:] = rng.integers(-lim, lim + 1, base.u.shape)  # currents near the limits saturate
    base.v[:] = rng.integers(-lim, lim + 1, base.v.shape)
    runs = {}
    for backend in ("c", "numpy"):
        a = copy.deepcopy(base)
        stepper = TickStepper(a, mapped.enabled, chip.core.membrane_bits, key=1, backend=backend)
        assert stepper.multi and stepper.n_types == 2
        axon_rng = np.random.default_rng(19)
        out = []
        for t in range(30):
            axons = axon_rng.choice(np.flatnonzero(np.diff(a.row_ptr) > 0), 40)  # repeats activate once
            fired, sops, active = stepper.step(t, axons)
            out.append((np.sort(fired).tolist(), sops, active, a.v.copy(), a.u.copy(), a.refractory_left.copy()))
        runs[backend] = out
    for c, n in zip(runs["c"], runs["numpy"]):
        assert c[:3] == n[:3] and all(np.array_equal(x, y) for x, y in zip(c[3:], n[3:]))
    assert sum(len(r[0]) for r in runs["c"]) > 10 and sum(r[1] for r in runs["c"]) > 100


def test_async_runs_several_currents_and_a_floor(tmp_path):
    """Several currents and a voltage floor are read in continuous time (engine/asynccuba,
    tests/test_asynccuba.py). The integer IF network with per-neuron floors (one current lasting one
    step, no leak, whole-tick delays) on one core: async gives sync's spikes and counts, and the
    floor is reached (without it sync's spikes differ)."""
    from test_async_cores import assert_same_spikes_and_counts, zero_latency_chip
    rng = np.random.default_rng(5)
    save_npz(two_current_network(rng), tmp_path / "two.npz")
    net = if_network(rng, v_min=lambda n: -rng.integers(0, 6, n).astype(float), p=0.5)
    save_npz(net, tmp_path / "floor.npz")
    save_npz(dataclasses.replace(net, v_min=np.full(net.n_neurons, -np.inf)), tmp_path / "none.npz")
    two = workload_for_network_file(tmp_path / "two.npz", ticks=40, weight_scale="keep")
    r = simulate("loihi", two, timing="async")
    assert r.spikes > 0 and r.counts["synaptic_op"] > 0
    c = zero_latency_chip(core__neuron_model="cuba_lif", core__membrane_bits=24)
    runs = {}
    for name in ("floor", "none"):
        wl = workload_for_network_file(tmp_path / f"{name}.npz", ticks=60, weight_scale="keep")
        runs[name] = [simulate(c, wl, timing=t, record_spikes=True) for t in ("sync", "async")]
    sync, asy = runs["floor"]
    assert sync.spikes > 100 and sync.spikes != runs["none"][0].spikes
    assert_same_spikes_and_counts(sync, asy)
