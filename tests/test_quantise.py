"""Weight quantisation to Loihi- and TrueNorth-style chips: exactness, error bounds, axon types and
copies, errors, and the shipped digits network's accuracy with 8-bit weights."""
from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest

from neuroemu.errors import ConfigError
from neuroemu.networks.graph import NetworkBuilder, simulate_reference
from neuroemu.networks.quantise import quantise


def dyadic_net(rng, scale=2.0 ** -7):
    b = NetworkBuilder("q")
    b.add_inputs("in", 8)
    b.add_neurons("h", 6, model="IF", threshold=1.0, bias=3 * scale)
    b.add_neurons("o", 3, model="IF", threshold=1.0)
    w1 = rng.integers(-127, 128, (8, 6)) * scale
    w1[0, 0] = 127 * scale  # the largest weight sets the scale
    w2 = rng.integers(-127, 128, (6, 3)) * scale
    w2[0, 0] = -127 * scale
    b.connect("in", "h", w1)
    b.connect("h", "o", w2)
    t, i = np.nonzero(rng.random((50, 8)) < 0.4)
    b.set_input_spikes(t, i)
    return b.build(outputs="o")


def test_loihi_quantisation_is_exact_for_representable_weights():
    net = dyadic_net(np.random.default_rng(1))
    q, rep = quantise(net, bits=8, scheme="loihi")
    assert rep.max_rel_error == 0 and rep.mean_rel_error == 0
    assert np.array_equal(q.weight, np.rint(q.weight)) and np.abs(q.weight).max() == 127
    assert q.threshold.tolist() == [128.0] * 9 and q.bias[:6].tolist() == [3.0] * 6
    a, b = simulate_reference(net, 50), simulate_reference(q, 50)
    assert a.times.size > 10 and np.array_equal(a.times, b.times) and np.array_equal(a.ids, b.ids)


def test_loihi_quantisation_error_bound():
    rng = np.random.default_rng(2)
    net = dyadic_net(rng)
    net = net.__class__(**{**{f: getattr(net, f) for f in net.__dataclass_fields__},
                           "weight": rng.normal(size=net.n_edges)})
    for bits in (4, 8):
        q, rep = quantise(net, bits=bits)
        # rounding moves a weight by at most half a step, a step being max |w| / (2^(bits-1) - 1)
        assert 0 < rep.max_rel_error <= 0.5 / ((1 << (bits - 1)) - 1) + 1e-12
        assert np.abs(q.weight).max() <= (1 << (bits - 1)) - 1
    assert "8-bit weights" in rep.summary()


def test_truenorth_types_are_per_source_and_four_levels_per_neuron():
    rng = np.random.default_rng(5)
    b = NetworkBuilder("tn")
    b.add_inputs("in", 12)
    b.add_neurons("h", 5, model="IF")
    levels = rng.normal(size=(4, 5))
    cluster = np.arange(12) % 4
    b.connect("in", "h", levels[cluster])  # sources in 4 clusters of identical rows
    net = b.build()
    q, rep = quantise(net, bits=9, scheme="truenorth")
    assert rep.max_rel_error < 1 / 255
    assert rep.type_weights.shape == (5, 4) and np.abs(rep.type_weights).max() <= 255
    assert np.array_equal(q.weight, rep.type_weights[q.dst, rep.edge_type])
    for s in range(12):
        assert len(set(rep.edge_type[q.src == s].tolist())) == 1  # one type per axon
    # random weights: still one type per source and at most 4 nonzero values per neuron
    net2 = net.__class__(**{**{f: getattr(net, f) for f in net.__dataclass_fields__},
                            "weight": rng.normal(size=net.n_edges)})
    q2, rep2 = quantise(net2, scheme="truenorth", bits=9)
    for j in range(5):
        assert len(set(q2.weight[q2.dst == j].tolist())) <= 4
    assert rep2.max_rel_error > rep.max_rel_error


def test_truenorth_axon_copies_give_a_signed_code():
    net = dyadic_net(np.random.default_rng(6))
    q, rep = quantise(net, bits=9, scheme="truenorth", copies=4)
    assert q.weight.min() >= -8 and q.weight.max() <= 7
    assert rep.type_weights[0].tolist() == [1, 2, 4, -8] and rep.edge_type is None
    assert rep.max_rel_error <= 0.5 / 7 + 1e-12


def test_quantise_errors():
    net = dyadic_net(np.random.default_rng(0))
    with pytest.raises(ConfigError, match="unknown quantisation scheme 'spinnaker'; valid: loihi"):
        quantise(net, scheme="spinnaker")
    with pytest.raises(ConfigError, match="bits: must be 1..16"):
        quantise(net, bits=0)
    with pytest.raises(ConfigError, match="copies: must be 1..types"):
        quantise(net, scheme="truenorth", copies=5)


DIGITS = Path(__file__).resolve().parents[1] / "workloads" / "train_digits.py"


def test_shipped_digits_network_is_accurate_with_8_bit_weights():
    spec = importlib.util.spec_from_file_location("train_digits", DIGITS)
    td = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(td)
    net, data = td.load_network()
    q, rep = quantise(net, bits=8, scheme="loihi")
    n = 120  # a slice of the held-out set keeps the test fast; the script measures all 539
    acc = td.accuracy(q, data["test_rates"][:n], data["test_labels"][:n], int(data["ticks"]))
    assert acc >= 0.9
    assert float(data["snn_accuracy_8bit"]) >= 0.9 and len(data["test_idx"]) == 539
    assert not set(data["test_idx"].tolist()) & set(data["train_idx"].tolist())


def test_mean_error_never_exceeds_max_error():
    """Issue 14, item 10: the mean and max relative errors are one definition (per-synapse error over
    its group's largest |w|), so the mean cannot come out above the max."""
    rng = np.random.default_rng(3)
    b = NetworkBuilder("m")
    b.add_inputs("x", 20)
    b.add_neurons("a", 8, model="IF", threshold=1.0)
    b.add_neurons("b", 4, model="IF", threshold=1.0)
    # rows of very different sizes: small weights carry large errors relative to themselves
    b.connect("x", "a", rng.normal(size=(20, 8)) * np.r_[np.ones(4), 100 * np.ones(4)][None, :])
    b.connect("a", "b", rng.normal(size=(8, 4)) * 1e-3)
    _, rep = quantise(b.build(), bits=4)
    assert 0 < rep.mean_rel_error <= rep.max_rel_error
    for g in rep.groups:
        assert g["mean_rel_error"] <= g["max_rel_error"]


def test_halves_round_to_even_and_thresholds_round_up():
    """Values landing exactly on .5 (a scale of exactly 1): weights, biases and resets round half to even
    (numpy's rint, as Python's round), thresholds round up (v >= ceil(T) is v >= T for an integer membrane)."""
    b = NetworkBuilder("unit")
    b.add_inputs("in", 7)
    b.add_neurons("o", 2, model="IF", threshold=[2.5, 3.0], bias=[2.5, -1.5], v_reset=[-0.5, 1.5])
    b.connect("in", "o", np.array([[3.0, 3.0], [2.5, 0.0], [1.5, 0.0], [0.5, 0.0], [-0.5, 0.0], [-2.5, 0.0],
                                   [-3.0, -1.5]]))
    b.set_input_spikes(np.array([0]), np.array([0]))
    q, rep = quantise(b.build(outputs="o"), bits=3, scheme="loihi")  # wmax 3, largest |w| 3: scale 1
    order = np.lexsort((q.dst, q.src))
    assert q.weight[order].tolist() == [3.0, 3.0, 2.0, 2.0, -2.0, -3.0, -2.0]
    assert q.bias.tolist() == [2.0, -2.0] and q.v_reset.tolist() == [-0.0, 2.0] and q.threshold.tolist() == [3.0, 3.0]
    assert int((~rep.kept).sum()) == 2  # 0.5 and -0.5 round to 0: those synapses are gone


def test_errors_of_a_group_whose_weights_are_all_below_one():
    """Weights 1.0 and 0.3 at 3 bits: scale 1/3, 0.3 -> 0.9 -> 1 level -> 1/3: errors by hand, whatever
    the size of the weights (a group's largest |w| below 1 still has errors)."""
    b = NetworkBuilder("small")
    b.add_inputs("in", 2)
    b.add_neurons("o", 1, model="IF", threshold=1.0)
    b.connect("in", "o", np.array([[0.75], [0.25 * 0.9]]))
    b.set_input_spikes(np.array([0]), np.array([0]))
    q, rep = quantise(b.build(outputs="o"), bits=3, scheme="loihi")  # scale 0.25: 0.225 -> 0.9 -> 1
    err = 0.25 - 0.225
    assert rep.max_rel_error == pytest.approx(err / 0.75, rel=1e-12)
    # the mean of the per-synapse errors relative to the group's largest weight (as the max is)
    assert rep.mean_rel_error == pytest.approx((0 + err / 0.75) / 2, rel=1e-12)
    (group,) = rep.groups
    assert group["max_rel_error"] == rep.max_rel_error
    assert group["mean_rel_error"] == pytest.approx((0 + err / 0.75) / 2, rel=1e-12)
    assert group["scale_min"] == group["scale_max"] == 0.25 and group["dropped"] == 0


def test_truenorth_types_keep_an_input_and_a_neuron_apart():
    """A group fed by input 4 (+1, +2) and neuron 0 (-1, -2) -- ids that collide if inputs are numbered
    below the 4 neurons instead of after them -- gets them as two sources of two types, so every weight
    is exact; per-neuron scales are reported as their range over the group."""
    b = NetworkBuilder("mixed")
    b.add_inputs("in", 5)
    b.add_neurons("h", 2, model="IF", threshold=1.0)
    b.add_neurons("o", 2, model="IF", threshold=1.0)
    to_h = np.zeros((5, 2))
    to_h[0] = [1.0, 0.5]
    to_o = np.zeros((5, 2))
    to_o[4] = [1.0, 2.0]
    b.connect("in", "h", to_h)
    b.connect("in", "o", to_o)
    b.connect("h", "o", np.array([[-1.0, -2.0], [0.0, 0.0]]))
    b.set_input_spikes(np.array([0]), np.array([0]))
    q, rep = quantise(b.build(outputs="o"), bits=9, scheme="truenorth", types=4)
    assert rep.max_rel_error == 0 and rep.mean_rel_error == 0
    o = next(g for g in rep.groups if g["group"] == "o")
    h = next(g for g in rep.groups if g["group"] == "h")
    assert o["scale_min"] == 1.0 / 255 and o["scale_max"] == 2.0 / 255  # 1 and 2 over wmax 255
    assert h["scale_min"] == 0.5 / 255 and h["scale_max"] == 1.0 / 255


def test_decays_round_to_multiples_of_two_to_the_minus_bits():
    """decay_bits 12: 1 - decay in steps of 1/4096 (0.1 -> 410/4096, half-way 0.5/4096 -> 0 steps, to even);
    the current's decay at most 4095/4096 (1 - 1e-6 rounds to 1, kept below 1)."""
    b = NetworkBuilder("decays")
    b.add_inputs("in", 1)
    b.add_neurons("o", 3, model="LIF", decay=[0.9, 1 - 0.5 / 4096, 1 - 1.5 / 4096], i_decay=[0.5, 1 - 1e-6, 0.0],
                  threshold=1.0)
    b.connect("in", "o", np.array([[1.0, 1.0, 1.0]]))
    b.set_input_spikes(np.array([0]), np.array([0]))
    q, rep = quantise(b.build(outputs="o"), bits=8, scheme="loihi", decay_bits=12)
    assert q.decay.tolist() == [1 - 410 / 4096, 1.0, 1 - 2 / 4096]
    assert q.i_decay.tolist() == [0.5, 4095 / 4096, 0.0]
    decay_notes = [n for n in rep.notes if "decay rounded" in n]
    assert decay_notes == [
        "decay rounded to 12 bits in 3 neurons: 0.9 -> 3686/4096 (0.899902), 0.999634 -> 4094/4096 (0.999512), "
        "0.999878 -> 4096/4096 (1)",
        "i_decay rounded to 12 bits in 1 neurons: 0.999999 -> 4095/4096 (0.999756)"]


def test_one_axon_type_keeps_the_level_nearer_its_synapses():
    """One type for two sources into one neuron, weights 1.0 and -0.2: the level settles on 1.0 (the
    -0.2 synapse is nearer 0 than the first mean 0.4 and switches off), so the error is 0.2, not 1.0."""
    b = NetworkBuilder("one_type")
    b.add_inputs("in", 2)
    b.add_neurons("o", 1, model="IF", threshold=1.0)
    b.connect("in", "o", np.array([[1.0], [-0.2]]))
    b.set_input_spikes(np.array([0]), np.array([0]))
    q, rep = quantise(b.build(outputs="o"), bits=9, scheme="truenorth", types=1)
    assert rep.max_rel_error == pytest.approx(0.2, rel=1e-12)
    assert rep.mean_rel_error == pytest.approx((0 + 0.2) / 2, rel=1e-12)
    assert rep.type_weights.tolist() == [[255]] and int((~rep.kept).sum()) == 1


@pytest.mark.parametrize("weights, level, taken", [
    # mean 4.5 -> {12, 4} take it (nearer than 0) -> mean 8: 4 is exactly as near 8 as 0, so it does
    # not take it -> mean 12, taken by 12 alone: fixed
    ([12.0, 4.0, 1.0, 1.0], 12.0, [True, False, False, False]),
    # mean 5.6 -> {16, 7, 3} -> mean 26 / 3 drops 3 -> mean 11.5, taken by 16 and 7: fixed
    ([16.0, 7.0, 3.0, 1.0, 1.0], 11.5, [True, True, False, False, False]),
    # negative: mean -5 -> {-12, -4} -> mean -8, which -4 drops (as near as 0) -> -12
    ([-12.0, -4.0, 1.0], -12.0, [True, False, False]),
])
def test_an_axon_types_level_is_the_mean_of_the_synapses_that_take_it(weights, level, taken):
    """The rule's fixed point: a level is the mean of exactly the synapses nearer to it than to 0. One
    type and one neuron: the neuron's scale is |level| / 255 and the synapses taking it weigh +-255
    (stopping after two rounds would leave the first case at 8, the second at 26 / 3, the third at -8)."""
    b = NetworkBuilder("fixed_point")
    b.add_inputs("in", len(weights))
    b.add_neurons("o", 1, model="IF", threshold=1.0)
    b.connect("in", "o", np.array(weights)[:, None])
    b.set_input_spikes(np.array([0]), np.array([0]))
    net = b.build(outputs="o")
    q, rep = quantise(net, bits=9, scheme="truenorth", types=1)
    assert rep.groups[0]["scale_min"] == rep.groups[0]["scale_max"] == abs(level) / 255
    assert rep.type_weights.tolist() == [[255 if level > 0 else -255]]
    order = np.argsort(net.src)
    assert rep.kept[order].tolist() == taken
    assert q.weight.tolist() == [255.0 if level > 0 else -255.0] * sum(taken)  # only the kept synapses


def test_a_group_without_synapses_keeps_scale_one():
    """A group driven only by its bias has no weights to scale: its thresholds and biases stay as they
    are (scale 1), whatever the other groups' scales."""
    b = NetworkBuilder("bias_only")
    b.add_inputs("in", 1)
    b.add_neurons("driven", 1, model="IF", threshold=1.0)
    b.add_neurons("free", 2, model="IF", threshold=[3.0, 4.5], bias=[1.0, 2.0])
    b.connect("in", "driven", np.array([[0.5]]))
    b.set_input_spikes(np.array([0]), np.array([0]))
    q, rep = quantise(b.build(outputs="free"), bits=8, scheme="loihi")
    free = next(g for g in rep.groups if g["group"] == "free")
    assert free["scale_min"] == free["scale_max"] == 1.0 and free["synapses"] == 0
    assert q.threshold[1:].tolist() == [3.0, 5.0] and q.bias[1:].tolist() == [1.0, 2.0]


def test_axon_types_start_from_sources_sorted_by_their_mean_weight():
    """The k-means start: sources sorted by their mean outgoing weight, cut into k equal runs. Input 0
    has one synapse of 3 (mean 3), input 1 two of 2 (mean 2), input 2 two of 1 (mean 1): sorted 2, 1, 0,
    ranks 0, 1, 2 -> types rank * 2 // 3 = 0, 0, 1. (Dividing a one-synapse source's sum by 2 would put
    input 0 at 1.5, between the others, and give types 0 / 1 to inputs 0 / 1.) iterations=0 keeps the start."""
    from neuroemu.networks.quantise import _axon_types

    b = NetworkBuilder("start")
    b.add_inputs("in", 3)
    b.add_neurons("o", 2, model="IF", threshold=1.0)
    b.connect("in", "o", np.array([[3.0, 0.0], [2.0, 2.0], [1.0, 1.0]]))
    b.set_input_spikes(np.array([0]), np.array([0]))
    net = b.build(outputs="o")
    g = net.groups[net.group_index()[0]]
    m = np.arange(net.n_edges)
    _, etype, _, _ = _axon_types(net, m, g, 2, 255, 0)
    expected = {0: 1, 1: 0, 2: 0}
    assert net.src_input.all() and etype.tolist() == [expected[int(s)] for s in net.src]


def test_resets_floors_notes_and_synapse_decays_in_chip_units():
    """Weights 127 and 10.25 units of 2^-6: scale 2^-6, so v_reset 3 units -> 3, v_min -2.25 units -> -2
    (rounded to nearest, not down), the 10.25 weight rounds to 10 and a note says so; a synapse type's
    decay 1 - 1e-6 with decay_bits 12 stays below 1 at 4095/4096, like the per-neuron current's."""
    import dataclasses

    u = 2.0 ** -6
    b = NetworkBuilder("units")
    b.add_inputs("in", 2)
    b.add_neurons("o", 1, model="IF", threshold=1.0, v_reset=3 * u, v_min=-2.25 * u, i_bias=5.5 * u,
                  u_init=-3.5 * u, v_init=1.5 * u)
    b.connect("in", "o", np.array([[127 * u], [10.25 * u]]))
    b.set_input_spikes(np.array([0]), np.array([0]))
    net = b.build(outputs="o")
    q, rep = quantise(net, bits=8, scheme="loihi")
    assert q.weight.tolist() == [127.0, 10.0]
    # the current's bias and start, and v's start, in chip units too (halves to even)
    assert q.i_bias.tolist() == [6.0] and q.u_init.tolist() == [-4.0] and q.v_init.tolist() == [2.0]
    assert q.v_reset.tolist() == [3.0] and q.v_min.tolist() == [-2.0]
    assert any(n.startswith("weights rounded to 8-bit integers") for n in rep.notes)
    exact, rep_exact = quantise(dataclasses.replace(net, weight=np.array([127 * u, 10 * u])), bits=8, scheme="loihi")
    assert not any(n.startswith("weights rounded") for n in rep_exact.notes)
    typed = dataclasses.replace(net, syn_i_decay=np.array([1 - 1e-6]))
    typed_q, typed_rep = quantise(typed, bits=8, scheme="loihi", decay_bits=12)
    assert typed_q.syn_i_decay.tolist() == [4095 / 4096]
    moved = abs(4095 / 4096 - (1 - 1e-6)) / (1 - 1e-6)
    assert typed_rep.errors["syn_i_decay"] == {"max_rel_error": pytest.approx(moved, rel=1e-12),
                                               "mean_rel_error": pytest.approx(moved, rel=1e-12)}
    assert "syn_i_decay" not in rep.errors  # a network without synapse types reports none


def test_weight_scale_keep_refuses_a_fraction_within_range():
    """keep stores weights as given: 0.5 is within -127..127 but not an integer, so it is refused."""
    b = NetworkBuilder("keep")
    b.add_inputs("in", 1)
    b.add_neurons("o", 1, model="IF", threshold=1.0)
    b.connect("in", "o", np.array([[0.5]]))
    b.set_input_spikes(np.array([0]), np.array([0]))
    with pytest.raises(ConfigError, match=r"must be integers within -127\.\.127.*edge 0"):
        quantise(b.build(outputs="o"), bits=8, scheme="loihi", weight_scale="keep")


def _unit_net():
    """Scale exactly 1 with bits=3 (wmax 3, largest |w| 3): every figure below is exact."""
    b = NetworkBuilder("unit_report")
    b.add_inputs("in", 4)
    b.add_neurons("o", 2, model="IF", threshold=[2.2, 4.0], bias=[0.4, 0.6], v_reset=[0.0, -1.2],
                  v_min=[-2.6, -10.0], v_init=[-2.4, 0.5])
    b.connect("in", "o", np.array([[3.0, 1.0], [-2.5, 2.0], [1.5, -0.4], [0.4, 0.0]]))
    b.set_input_spikes(np.array([0]), np.array([0]))
    return b.build(outputs="o")


def test_per_synapse_report_figures_are_exact():
    """Weights 3, -2.5, 1.5, 0.4 into o0 and 1, 2, -0.4 into o1 (one group, scale 1): they become 3, -2,
    2, 0 and 1, 2, 0. Errors 0, .5, .5, .4, 0, 0, .4 over the largest |w| 3: max 1/6, mean 1.8 / 7 / 3;
    two synapses dropped. Thresholds round up (2.2 -> 3: error 0.8 over the group's largest threshold
    4 at worst, 0.8 / 6.2 on the mean), biases, resets and
    floors (-2.6 -> -3) and initial potentials (-2.4 -> -2, 0.5 -> 0, to even) to nearest."""
    q, rep = quantise(_unit_net(), bits=3, scheme="loihi")
    order = np.lexsort((q.dst, q.src))
    assert q.weight[order].tolist() == [3.0, 1.0, -2.0, 2.0, 2.0]
    (g,) = rep.groups
    assert g == {"group": "o", "synapses": 7, "scale_min": 1.0, "scale_max": 1.0, "max_rel_error": 0.5 / 3,
                 "mean_rel_error": pytest.approx(1.8 / 7 / 3, rel=1e-12), "dropped": 2}
    assert rep.max_rel_error == 0.5 / 3 and rep.mean_rel_error == pytest.approx(1.8 / 7 / 3, rel=1e-12)
    kept = {(int(a), int(b)) for a, b, k in zip(_unit_net().src, _unit_net().dst, rep.kept) if not k}
    assert kept == {(3, 0), (2, 1)}  # 0.4 -> 0 and -0.4 -> 0: gone
    assert q.threshold.tolist() == [3.0, 4.0] and q.bias.tolist() == [0.0, 1.0]
    assert q.v_reset.tolist() == [0.0, -1.0] and q.v_min.tolist() == [-3.0, -10.0]
    assert q.v_init.tolist() == [-2.0, 0.0]
    assert rep.errors["threshold"] == {"max_rel_error": pytest.approx(0.8 / 4.0, rel=1e-12),
                                       "mean_rel_error": pytest.approx(0.8 / 6.2, rel=1e-12)}
    assert any(n.startswith("threshold rounded up to whole chip units in 1 of 2 neurons (e.g. 2.2 -> 3 x scale 1 = 3)")
               for n in rep.notes)
    assert "weights rounded to 3-bit integers: max relative error 16.667%, mean 8.571%" in rep.notes


@pytest.mark.parametrize("kw, ok", [({"bits": 16}, True), ({"bits": 17}, False), ({"bits": 1}, True),
                                    ({"scheme": "truenorth", "types": 16}, True),
                                    ({"scheme": "truenorth", "types": 17}, False),
                                    ({"scheme": "truenorth", "types": 0}, False),
                                    ({"scheme": "truenorth", "types": 3, "copies": 3}, True),
                                    ({"scheme": "truenorth", "types": 3, "copies": 4}, False),
                                    ({"scheme": "loihi", "copies": 2}, False),
                                    ({"scheme": "loihi", "copies": 0}, False)])
def test_quantise_limits_at_their_boundaries(kw, ok):
    if ok:
        quantise(_unit_net(), **kw)
    else:
        with pytest.raises(ConfigError, match=r"bits: must be 1\.\.16|types: must be 1\.\.16|copies: must be 1\.\.types"):
            quantise(_unit_net(), **kw)


def test_one_bit_weights_are_signs_and_two_copies_a_two_bit_code():
    """bits=1: wmax is 1 (not 0), so each weight is round(w / max|w|) in -1..1. copies=2: each neuron's
    scale is max(max w / 1, -min w / 2) and its weights round(w / s) clipped to -2..1, types (1, -2)."""
    q, rep = quantise(_unit_net(), bits=1, scheme="loihi")
    order = np.lexsort((q.dst, q.src))
    # 3, -2.5, 1.5, .4 and 1, 2, -.4 over 3: 1, -1, 0 (.5 to even), 0 and 0, 1 (.67), 0
    assert q.weight[order].tolist() == [1.0, -1.0, 1.0] and rep.groups[0]["scale_max"] == 3.0
    q2, rep2 = quantise(_unit_net(), bits=9, scheme="truenorth", copies=2)
    assert rep2.scale.tolist() == [3.0, 2.0] and rep2.type_weights[:, :2].tolist() == [[1, -2], [1, -2]]
    order = np.lexsort((q2.dst, q2.src))
    # o0: 3 / 3 = 1, -2.5 / 3 = -0.83 -> -1, 1.5 / 3 = .5 -> 0 (to even), .4 / 3 -> 0; o1: .5 -> 0, 1, -.2 -> 0
    assert q2.weight[order].tolist() == [1.0, -1.0, 1.0]
    assert q2.dst[order].tolist() == [0, 0, 1]


# --- exact values per branch: copies, two groups, zero weights kept, keep, notes, the summary line ----------

def _net(groups, weights, **kw):
    """Inputs feeding each group by its own [inputs, size] weight matrix (rows: sources); groups: (name, size,
    params)."""
    b = NetworkBuilder("hand")
    b.add_inputs("in", len(weights[0]))
    for (name, size, params), w in zip(groups, weights):
        b.add_neurons(name, size, model="IF", **params)
        b.connect("in", name, np.asarray(w, float))
    b.set_input_spikes(np.array([0]), np.array([0]))
    return b.build(outputs=groups[-1][0])


def test_three_copies_give_a_three_bit_twos_complement_code_per_neuron():
    """copies 3: types weigh (1, 2, -4); neuron j's scale = max(max w / 3, -min w / 4), its weights
    round(w / s) in -4..3. o0: 3, -4, 1.5, 0.5 -> s 1 -> 3, -4, 2, 0 (0.5 to even, dropped); o1: 6, -2,
    0, 0 -> s 2 -> 3, -1; o2 has no synapse: scale 1."""
    net = _net([("o", 3, dict(threshold=[2.5, 5.0, 1.0]))],
               [[[3.0, 6.0, 0.0], [-4.0, -2.0, 0.0], [1.5, 0.0, 0.0], [0.5, 0.0, 0.0]]])
    q, rep = quantise(net, bits=9, scheme="truenorth", copies=3)
    assert rep.scale.tolist() == [1.0, 2.0, 1.0]
    order = np.lexsort((q.dst, q.src))
    assert list(zip(q.src[order].tolist(), q.dst[order].tolist(), q.weight[order].tolist())) == [
        (0, 0, 3.0), (0, 1, 3.0), (1, 0, -4.0), (1, 1, -1.0), (2, 0, 2.0)]
    assert rep.type_weights.tolist() == [[1, 2, -4, 0]] * 3 and rep.edge_type is None
    assert q.threshold.tolist() == [3.0, 3.0, 1.0]  # 2.5 -> 3 (up), 5 / 2 = 2.5 -> 3, 1
    # errors over the group's largest |w| (6): 1.5 -> 2 (0.5), 0.5 -> 0 (0.5), 6 -> 6, -2 -> -2
    assert rep.max_rel_error == 0.5 / 6 and rep.groups[0]["dropped"] == 1
    assert rep.mean_rel_error == pytest.approx(1.0 / 6 / 6, rel=1e-12)
    clipped = _net([("o", 1, dict(threshold=1.0))], [[[3.0], [-4.0], [3.4]]])
    assert quantise(clipped, bits=9, scheme="truenorth", copies=3)[0].weight.tolist() == [3.0, -4.0, 3.0]


def test_two_groups_each_get_their_own_scale_and_the_worst_group_sets_the_max():
    """bits 3 (wmax 3). Group a: weights 1, 0.3 -> scale 1/3 -> 3, 1 (errors 0, 0.0333 over 1); group b:
    6, -4, 1 -> scale 2 -> 3, -2, 0 (0.5 to even: error 1 over 6). Max 1/6 (b), mean over all five."""
    net = _net([("a", 1, dict(threshold=0.5)), ("b", 1, dict(threshold=5.0, bias=3.0))],
               [[[1.0], [0.3], [0.0]], [[6.0], [-4.0], [1.0]]])
    q, rep = quantise(net, bits=3, scheme="loihi")
    assert rep.scale.tolist() == [1 / 3, 2.0]
    order = np.lexsort((q.src, q.dst))
    assert q.weight[order].tolist() == [3.0, 1.0, 3.0, -2.0]
    a, b = rep.groups
    assert (a["group"], a["synapses"], a["dropped"], b["group"], b["synapses"], b["dropped"]) == ("a", 2, 0, "b", 3, 1)
    assert a["max_rel_error"] == pytest.approx(abs(1 / 3 - 0.3), rel=1e-12) and b["max_rel_error"] == 1 / 6
    assert (a["scale_min"], a["scale_max"], b["scale_min"], b["scale_max"]) == (1 / 3, 1 / 3, 2.0, 2.0)
    assert rep.max_rel_error == 1 / 6
    assert rep.mean_rel_error == pytest.approx((abs(1 / 3 - 0.3) + 1 / 6) / 5, rel=1e-12)
    # thresholds up: a 0.5 / (1/3) = 1.5 -> 2 (0.667, error 1/3 of 0.5); b 5 / 2 = 2.5 -> 3 (6, error 1/5)
    assert q.threshold.tolist() == [2.0, 3.0] and q.bias.tolist() == [0.0, 2.0]  # b's bias 3 / 2 = 1.5 -> 2
    assert rep.errors["threshold"]["max_rel_error"] == pytest.approx(1 / 3, rel=1e-12)
    assert rep.errors["threshold"]["mean_rel_error"] == pytest.approx((1 / 6 + 1) / 5.5, rel=1e-12)
    assert rep.summary() == ("per_synapse 3-bit weights (auto scale): max relative error 16.667%, mean "
                             f"{rep.mean_rel_error:.3%}, 1 of 5 synapses dropped; threshold max 33.333%")


def test_keep_zero_weights_keeps_every_synapse_and_counts_those_at_zero():
    net = _net([("o", 2, dict(threshold=1.0))], [[[3.0, 0.0], [0.4, 2.0], [-0.4, 1.0]]])
    q, rep = quantise(net, bits=3, scheme="loihi", keep_zero_weights=True)
    # a dense matrix's zero is no synapse: 5 synapses, of which 0.4 and -0.4 round to 0 (scale 1)
    assert rep.kept.all() and q.n_edges == net.n_edges == 5 and sorted(q.weight.tolist()) == [0, 0, 1, 2, 3]
    assert rep.zero_weights_kept == 2 and rep.groups[0]["dropped"] == 0
    assert "keep_zero_weights: 2 synapses kept at weight 0 (each still costs its synaptic operation)" in rep.notes
    plain = quantise(net, bits=3, scheme="loihi")[1]
    assert plain.zero_weights_kept == 0 and plain.groups[0]["dropped"] == 2 and int(plain.kept.sum()) == 3
    assert not any(n.startswith("keep_zero_weights") for n in plain.notes)


def test_weight_scale_keep_stores_integers_as_given_and_names_the_first_bad_edge():
    net = _net([("o", 2, dict(threshold=2.5))], [[[3.0, -3.0], [1.0, 0.0]]])
    q, rep = quantise(net, bits=3, scheme="loihi", weight_scale="keep")
    assert rep.scale.tolist() == [1.0, 1.0] and sorted(q.weight.tolist()) == [-3.0, 1.0, 3.0]
    assert rep.max_rel_error == 0.0 and rep.weight_scale == "keep" and q.threshold.tolist() == [3.0, 3.0]
    big = _net([("o", 2, dict(threshold=1.0))], [[[3.0, 2.0], [-4.0, 1.0]]])
    k = int(np.flatnonzero(big.weight == -4.0)[0])
    with pytest.raises(ConfigError, match=rf"^hand: weight: weight_scale keep stores weights as given, so they must be "
                                          rf"integers within -3\.\.3 \(the chip's 3-bit weights\) \(edge {k}: got -4\)$"):
        quantise(big, bits=3, scheme="loihi", weight_scale="keep")
    with pytest.raises(ConfigError, match=r"^hand: weight_scale: must be one of auto, keep \(got 'fixed'\)$"):
        quantise(net, weight_scale="fixed")
    with pytest.raises(ConfigError, match=r"^hand: weight_scale keep: needs per-synapse weights"):
        quantise(net, scheme="truenorth", weight_scale="keep")
    with pytest.raises(ConfigError, match=r"^hand: keep_zero_weights: needs per-synapse weights"):
        quantise(net, scheme="axon_types", keep_zero_weights=True)


def test_infinite_thresholds_and_floors_stay_infinite_and_leaks_are_noted_for_truenorth():
    b = NetworkBuilder("inf")
    b.add_inputs("in", 1)
    b.add_neurons("o", 2, model="LIF", decay=[0.5, 1.0], threshold=[np.inf, 3.0])
    b.connect("in", "o", np.array([[2.0, 4.0]]))
    b.set_input_spikes(np.array([0]), np.array([0]))
    net = b.build(outputs="o")
    q, rep = quantise(net, bits=3, scheme="loihi")  # scale 4 / 3
    assert q.threshold[0] == np.inf and q.threshold[1] == 3.0 and (q.v_min == -np.inf).all()
    assert rep.errors["threshold"]["max_rel_error"] == pytest.approx(abs(3 * 4 / 3 - 3.0) / 3.0, rel=1e-12)
    assert not any("leak is linear" in n for n in rep.notes)
    tn = quantise(net, bits=9, scheme="truenorth")[1]
    assert ("TrueNorth's leak is linear, not multiplicative: neurons with decay < 1 need a leak approximation on "
            "that chip") in tn.notes


def test_decay_notes_show_three_values_and_count_the_rest():
    b = NetworkBuilder("many")
    b.add_inputs("in", 1)
    b.add_neurons("o", 5, model="LIF", decay=[0.9, 0.8, 0.7, 0.6, 0.5], threshold=1.0)
    b.connect("in", "o", np.ones((1, 5)))
    b.set_input_spikes(np.array([0]), np.array([0]))
    q, rep = quantise(b.build(outputs="o"), bits=8, scheme="loihi", decay_bits=4)
    # 1 - d in 16ths: 0.1 -> 2 (0.875), 0.2 -> 3 (0.8125), 0.3 -> 5 (0.6875), 0.4 -> 6 (0.625); 0.5 exact
    assert q.decay.tolist() == [0.875, 0.8125, 0.6875, 0.625, 0.5]
    assert [n for n in rep.notes if "decay rounded" in n] == [
        "decay rounded to 4 bits in 4 neurons: 0.6 -> 10/16 (0.625), 0.7 -> 11/16 (0.6875), 0.8 -> 13/16 (0.8125) "
        "and 1 more values"]
    d = np.array([0.9, 0.8, 0.7, 0.6, 0.5])
    err = np.abs(q.decay - d)
    assert rep.errors["decay"] == {"max_rel_error": pytest.approx((err / 0.9).max(), rel=1e-12),
                                   "mean_rel_error": pytest.approx(err.sum() / d.sum(), rel=1e-12)}


def test_an_axon_type_level_exactly_twice_a_weight_leaves_its_point_off():
    """Sources 4/3, 3.9, 3.9 (type 0) and 8, 8, 8 (type 1) into one neuron, 2 types, 3 bits: the levels
    settle at 3.9 (4/3 takes neither: it is nearer 0) and 8; the scale is 8/3, so type 0 stores
    round(3.9 / (8/3)) = 1, i.e. 8/3 = exactly twice 4/3. A tie with 0 leaves the point off (only a
    strictly nearer level turns it on). A second neuron without synapses keeps scale 1 and levels 0."""
    b = NetworkBuilder("tie")
    b.add_inputs("in", 6)
    b.add_neurons("o", 2, model="IF", threshold=[1.0, 5.0])
    b.connect("in", "o", np.array([[4 / 3, 0.0], [3.9, 0.0], [3.9, 0.0], [8.0, 0.0], [8.0, 0.0], [8.0, 0.0]]))
    b.set_input_spikes(np.array([0]), np.array([0]))
    q, rep = quantise(b.build(outputs="o"), bits=3, scheme="truenorth", types=2)
    assert rep.scale.tolist() == [8 / 3, 1.0]
    assert rep.type_weights.tolist() == [[1, 3], [0, 0]]
    assert rep.kept.tolist() == [False, True, True, True, True, True]
    assert sorted(q.weight.tolist()) == [1.0, 1.0, 3.0, 3.0, 3.0] and q.threshold.tolist() == [1.0, 5.0]


def test_explicit_zero_weights_set_no_scale_and_a_group_of_zeros_keeps_scale_one():
    """Synapses given at weight 0 (sparse): group a's 0, 6, -3 take the scale of the largest |w|, 6 / 3 = 2
    (a zero among them changes nothing): 3, -2 (-1.5 to even) and the zero dropped; group b has only
    zeros: scale 1, every synapse dropped. With keep_zero_weights and no weight at 0, no note."""
    b = NetworkBuilder("zeros")
    b.add_inputs("in", 3)
    b.add_neurons("a", 1, model="IF", threshold=4.0)
    b.add_neurons("b", 1, model="IF", threshold=4.0)
    b.connect("in", "a", np.array([0.0, 6.0, -3.0]), sparse=(np.array([0, 1, 2]), np.array([0, 0, 0])))
    b.connect("in", "b", np.array([0.0, 0.0]), sparse=(np.array([0, 1]), np.array([0, 0])))
    b.set_input_spikes(np.array([0]), np.array([0]))
    net = b.build(outputs="b")
    assert net.n_edges == 5
    q, rep = quantise(net, bits=3, scheme="loihi")
    assert rep.scale.tolist() == [2.0, 1.0] and q.threshold.tolist() == [2.0, 4.0]
    assert sorted(q.weight.tolist()) == [-2.0, 3.0] and rep.kept.tolist() == [False, True, True, False, False]
    assert [g["dropped"] for g in rep.groups] == [1, 2] and rep.max_rel_error == 1 / 6  # -1.5 -> -2: -4, off by 1
    full = _net([("o", 1, dict(threshold=1.0))], [[[3.0], [1.0]]])
    kept = quantise(full, bits=3, scheme="loihi", keep_zero_weights=True)[1]
    assert kept.zero_weights_kept == 0 and not any(n.startswith("keep_zero_weights") for n in kept.notes)


def test_axon_type_levels_round_to_nearest_and_leaky_neurons_alone_get_the_note():
    """Sources 5, 5 (type 0) and 8, 8 (type 1), 3 bits: scale 8/3, levels 5 -> round(1.875) = 2 and 8 -> 3.
    Every decay 1: no TrueNorth leak note."""
    b = NetworkBuilder("levels")
    b.add_inputs("in", 4)
    b.add_neurons("o", 1, model="IF", threshold=1.0)
    b.connect("in", "o", np.array([[5.0], [5.0], [8.0], [8.0]]))
    b.set_input_spikes(np.array([0]), np.array([0]))
    q, rep = quantise(b.build(outputs="o"), bits=3, scheme="truenorth", types=2)
    assert rep.type_weights.tolist() == [[2, 3]] and rep.scale.tolist() == [8 / 3]
    assert sorted(q.weight.tolist()) == [2.0, 2.0, 3.0, 3.0]
    assert not any("leak is linear" in n for n in rep.notes)
    neg = NetworkBuilder("negative")
    neg.add_inputs("in", 4)
    neg.add_neurons("o", 1, model="IF", threshold=1.0)
    neg.connect("in", "o", np.array([[-5.0], [-5.0], [8.0], [8.0]]))
    neg.set_input_spikes(np.array([0]), np.array([0]))
    assert quantise(neg.build(outputs="o"), bits=3, scheme="truenorth", types=2)[1].type_weights.tolist() == [[-2, 3]]


def test_current_and_potential_starts_round_to_nearest():
    """Scale 1 (bits 3, largest |w| 3): u_init 1.7 -> 2 and -1.7 -> -2, v_init 1.7 -> 2 (nearest, not down)."""
    b = NetworkBuilder("starts")
    b.add_inputs("in", 1)
    b.add_neurons("o", 2, model="IF", threshold=5.0, u_init=[1.7, -1.7], v_init=[1.7, -1.2])
    b.connect("in", "o", np.array([[3.0, 1.0]]))
    b.set_input_spikes(np.array([0]), np.array([0]))
    q, rep = quantise(b.build(outputs="o"), bits=3, scheme="loihi")
    assert rep.scale.tolist() == [1.0, 1.0]
    assert q.u_init.tolist() == [2.0, -2.0] and q.v_init.tolist() == [2.0, -1.0]


def _random_groups_net(seed: int):
    """Four groups: g0 fed by inputs and neurons, g1 with no synapse into it, g2 whose every weight is 0,
    g3 with one synapse; thresholds (one infinite), biases, resets, floors (one -inf), starts and decays
    drawn at random."""
    rng = np.random.default_rng(seed)
    b = NetworkBuilder(f"groups{seed}")
    b.add_inputs("in", 5)
    sizes = (6, 3, 4, 2)
    for k, n in enumerate(sizes):
        thr = rng.uniform(0.5, 9.0, n)
        if k == 0:
            thr[2] = np.inf
        vmin = rng.uniform(-20.0, -5.0, n)
        if k == 1:
            vmin[0] = -np.inf
        b.add_neurons(f"g{k}", n, model="LIF", decay=rng.uniform(0.5, 1.0, n), i_decay=rng.uniform(0.0, 1.0, n),
                      threshold=thr, bias=rng.uniform(-2, 2, n), i_bias=rng.uniform(-2, 2, n),
                      v_reset=rng.uniform(-3, 1, n), v_min=vmin, v_init=rng.uniform(-4, 4, n),
                      u_init=rng.uniform(-4, 4, n))
    b.connect("in", "g0", rng.normal(size=(5, 6)) * (rng.random((5, 6)) < 0.7))
    b.connect("g0", "g0", rng.normal(size=(6, 6)) * 3 * (rng.random((6, 6)) < 0.5))
    net = b.build()
    # g2: synapses of weight exactly 0 from g0; g3: one synapse from an input
    src = np.concatenate([net.src, [0, 1, 2], [4]])
    dst = np.concatenate([net.dst, [9, 10, 12], [13]])
    import dataclasses
    extra = 4
    return dataclasses.replace(
        net, src=src, dst=dst, weight=np.concatenate([net.weight, [0.0, 0.0, 0.0], [-2.75]]),
        delay=np.concatenate([net.delay, np.ones(extra, np.int64)]),
        src_input=np.concatenate([net.src_input, [False, False, False, True]]),
        syn_type=np.concatenate([net.syn_type, np.zeros(extra, np.int64)]))


@pytest.mark.parametrize("seed, bits, decay_bits", [(1, 8, None), (2, 4, 6), (3, 1, 12), (4, 16, 3)])
def test_per_synapse_quantisation_written_out_group_by_group(seed, bits, decay_bits):
    """Every output of the per-synapse scheme from the docstring's rule, group by group in plain Python:
    s_g = max |w| / wmax (1 without a nonzero weight), w_q = round half even (w / s_g) clipped, errors over
    the group's largest |w|, thresholds up, the rest to nearest, v_init floored at v_min, decays to
    multiples of 2^-decay_bits (currents below 1)."""
    net = _random_groups_net(seed)
    q, rep = quantise(net, bits=bits, scheme="loihi", decay_bits=decay_bits)
    wmax = max((1 << (bits - 1)) - 1, 1)
    gidx = net.group_index()
    scale = np.ones(net.n_neurons)
    wq = np.zeros(net.n_edges)
    groups, rel_all = [], []
    for gi, g in enumerate(net.groups):
        m = [e for e in range(net.n_edges) if gidx[net.dst[e]] == gi]
        big = max((abs(net.weight[e]) for e in m), default=0.0)
        s = big / wmax if big > 0 else 1.0
        scale[g.start:g.stop] = s
        for e in m:
            wq[e] = min(max(round(net.weight[e] / s), -wmax), wmax)  # Python's round: half to even
        rel = [abs(wq[e] * s - net.weight[e]) / big if big > 0 else 0.0 for e in m]
        rel_all += rel
        groups.append(dict(group=g.name, synapses=len(m), scale_min=s, scale_max=s,
                           max_rel_error=max(rel, default=0.0), mean_rel_error=sum(rel) / len(rel) if rel else 0.0,
                           dropped=sum(1 for e in m if wq[e] == 0)))
    assert [dict(x, mean_rel_error=pytest.approx(x["mean_rel_error"], rel=1e-12, abs=0)) for x in groups] == \
        list(rep.groups)
    assert rep.scale.tolist() == scale.tolist()
    kept = wq != 0
    assert rep.kept.tolist() == kept.tolist() and q.weight.tolist() == wq[kept].tolist()
    assert q.src.tolist() == net.src[kept].tolist() and q.dst.tolist() == net.dst[kept].tolist()
    assert rep.max_rel_error == max(rel_all)
    assert rep.mean_rel_error == pytest.approx(sum(rel_all) / len(rel_all), rel=1e-12, abs=0)
    thr = [math.inf if math.isinf(t) else math.ceil(t / s) for t, s in zip(net.threshold, scale)]
    vmin = [-math.inf if math.isinf(v) else round(v / s) for v, s in zip(net.v_min, scale)]
    assert q.threshold.tolist() == thr and q.v_min.tolist() == vmin
    for name in ("bias", "i_bias", "v_reset", "u_init"):
        assert getattr(q, name).tolist() == [round(v / s) for v, s in zip(getattr(net, name), scale)], name
    assert q.v_init.tolist() == [max(round(v / s), f) for v, s, f in zip(net.v_init, scale, vmin)]
    if decay_bits is None:
        assert q.decay.tolist() == net.decay.tolist() and q.i_decay.tolist() == net.i_decay.tolist()
    else:
        u = 2 ** decay_bits
        assert q.decay.tolist() == [min(max(1 - round((1 - x) * u) / u, 0.0), 1.0) for x in net.decay]
        assert q.i_decay.tolist() == [min(max(1 - round((1 - x) * u) / u, 0.0), 1 - 1 / u) for x in net.i_decay]
    # threshold errors: the worst group's max |T_q s - T| / max |T| over finite thresholds; the mean over all
    fin = [i for i in range(net.n_neurons) if math.isfinite(net.threshold[i])]
    err = {i: abs(thr[i] * scale[i] - net.threshold[i]) for i in fin}
    worst = max(max(err[i] for i in fin if gidx[i] == gi) / max(abs(net.threshold[i]) for i in fin if gidx[i] == gi)
                for gi in set(gidx[fin].tolist()))
    assert rep.errors["threshold"] == {"max_rel_error": pytest.approx(worst, rel=1e-12, abs=0),
                                       "mean_rel_error": pytest.approx(sum(err.values()) /
                                                                       sum(abs(net.threshold[i]) for i in fin),
                                                                       rel=1e-12, abs=0)}
    assert rep.errors["weight"] == {"max_rel_error": rep.max_rel_error, "mean_rel_error": rep.mean_rel_error}
    for name in ("decay", "i_decay"):
        x, xq = getattr(net, name).tolist(), getattr(q, name).tolist()
        worst = max((max(abs(xq[i] - x[i]) for i in range(len(x)) if gidx[i] == gi) /
                     max(abs(x[i]) for i in range(len(x)) if gidx[i] == gi)
                     for gi in set(gidx.tolist()) if max(abs(x[i]) for i in range(len(x)) if gidx[i] == gi) > 0),
                    default=0.0)
        mean = sum(abs(a - b) for a, b in zip(x, xq)) / sum(abs(a) for a in x)
        assert rep.errors[name] == {"max_rel_error": pytest.approx(worst, rel=1e-12, abs=0),
                                    "mean_rel_error": pytest.approx(mean, rel=1e-12, abs=0)}, name
    assert rep.summary().startswith(f"per_synapse {bits}-bit weights (auto scale): max relative error "
                                    f"{max(rel_all):.3%}, mean {rep.mean_rel_error:.3%}, {int((~kept).sum())} of "
                                    f"{net.n_edges} synapses dropped")


def _axon_types_by_hand(net, gi, k, wmax, iterations):
    """The axon-types rule of quantise's docstring for group ``gi``, in plain Python: sources (inputs
    after the neurons) start sorted by mean outgoing weight and cut into k runs; then, until no source
    changes type: levels are the means of the synapses that take them (nearer the level than 0), found
    to their fixed point from all synapses on, and each source takes the type of least cost (each
    synapse at its level or 0, whichever is nearer; the first type on a tie). Returns per synapse of
    the group (in edge order) its integer weight and type, the per-neuron scales and integer levels."""
    g = net.groups[gi]
    edges = [e for e in range(net.n_edges) if g.start <= net.dst[e] < g.stop]
    w = [float(net.weight[e]) for e in edges]
    col = [int(net.dst[e]) - g.start for e in edges]
    key = [int(net.src[e]) + (net.n_neurons if net.src_input[e] else 0) for e in edges]
    sources = sorted(set(key))
    row = [sources.index(x) for x in key]
    mean = [sum(w[i] for i in range(len(w)) if row[i] == r) / sum(1 for i in range(len(w)) if row[i] == r)
            for r in range(len(sources))]
    by_mean = sorted(range(len(sources)), key=lambda r: mean[r])  # stable: ties in source order
    t = [0] * len(sources)
    for rank, r in enumerate(by_mean):
        t[r] = rank * k // len(sources)
    levels = [[0.0] * g.size for _ in range(k)]
    for _ in range(iterations):
        on = [True] * len(w)
        while True:
            num = [[0.0] * g.size for _ in range(k)]
            cnt = [[0] * g.size for _ in range(k)]
            for i in range(len(w)):
                if on[i]:
                    num[t[row[i]]][col[i]] += w[i]
                    cnt[t[row[i]]][col[i]] += 1
            levels = [[num[c][j] / cnt[c][j] if cnt[c][j] else 0.0 for j in range(g.size)] for c in range(k)]
            taken = [(w[i] - levels[t[row[i]]][col[i]]) ** 2 < w[i] ** 2 for i in range(len(w))]
            if taken == on:
                break
            on = taken
        cost = [[sum(min((w[i] - levels[c][col[i]]) ** 2, w[i] ** 2) for i in range(len(w)) if row[i] == r)
                 for c in range(k)] for r in range(len(sources))]
        new_t = [min(range(k), key=lambda c: (cost[r][c], c)) for r in range(len(sources))]
        if new_t == t:
            break
        t = new_t
    s = [max(abs(levels[c][j]) for c in range(k)) / wmax or 1.0 for j in range(g.size)]
    ints = [[min(max(round(levels[c][j] / s[j]), -wmax), wmax) for j in range(g.size)] for c in range(k)]
    wq, et = [], []
    for i in range(len(w)):
        eff = ints[t[row[i]]][col[i]]
        wq.append(eff if (w[i] - eff * s[col[i]]) ** 2 < w[i] ** 2 else 0)
        et.append(t[row[i]])
    return edges, wq, et, s, [[ints[c][j] for c in range(k)] for j in range(g.size)]


@pytest.mark.parametrize("seed, k, bits, iterations", [(1, 4, 9, 25), (2, 2, 5, 25), (3, 3, 9, 1), (4, 4, 3, 0),
                                                       (5, 1, 9, 25)])
def test_axon_types_written_out_source_by_source(seed, k, bits, iterations):
    """Random weights of both signs from inputs and neurons into two groups (sources with one synapse
    and many, several sources per type): every integer weight, type, scale and level is the rule's."""
    rng = np.random.default_rng(seed)
    b = NetworkBuilder(f"tn{seed}")
    b.add_inputs("in", 7)
    b.add_neurons("h", 5, model="IF", threshold=1.0)
    b.add_neurons("o", 4, model="IF", threshold=1.0)
    b.connect("in", "h", rng.normal(size=(7, 5)) * (rng.random((7, 5)) < 0.6))
    b.connect("h", "o", rng.normal(size=(5, 4)) * 2 * (rng.random((5, 4)) < 0.7))
    b.connect("in", "o", rng.normal(size=(7, 4)) * (rng.random((7, 4)) < 0.3))
    net = b.build()
    q, rep = quantise(net, bits=bits, scheme="truenorth", types=k, iterations=iterations)
    wmax = (1 << (bits - 1)) - 1
    wq = np.zeros(net.n_edges)
    et = np.full(net.n_edges, -1)
    for gi, g in enumerate(net.groups):
        edges, w_g, t_g, s_g, levels = _axon_types_by_hand(net, gi, k, wmax, iterations)
        wq[edges], et[edges] = w_g, t_g
        assert rep.scale[g.start:g.stop].tolist() == s_g, g.name
        assert rep.type_weights[g.start:g.stop].tolist() == levels, g.name
    kept = wq != 0
    assert rep.kept.tolist() == kept.tolist() and q.weight.tolist() == wq[kept].tolist()
    assert rep.edge_type.tolist() == et[kept].tolist()
    assert (0 < kept.sum() < net.n_edges) == (iterations > 0)  # iterations 0: every level stays 0, all dropped


def test_a_quantity_that_is_zero_everywhere_has_no_relative_error():
    """IF neurons have i_decay 0 everywhere (and here decay 1, exact): no magnitude to divide by, so both
    of i_decay's errors are 0, not 0 / 0; decay's too, as nothing moved."""
    q, rep = quantise(_unit_net(), bits=3, scheme="loihi", decay_bits=4)
    assert _unit_net().i_decay.tolist() == [0.0, 0.0] and q.i_decay.tolist() == [0.0, 0.0]
    assert rep.errors["i_decay"] == {"max_rel_error": 0.0, "mean_rel_error": 0.0}
    assert rep.errors["decay"] == {"max_rel_error": 0.0, "mean_rel_error": 0.0}
