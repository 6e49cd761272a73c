"""The chip-independent network description and its numpy reference simulator."""
from __future__ import annotations

import re

import numpy as np
import pytest

from neuroemu.errors import ConfigError
from neuroemu.networks.graph import Group, Network, NetworkBuilder, decay_from_tau, simulate_reference


def tiny(reset="zero", delay=1) -> Network:
    b = NetworkBuilder("tiny")
    b.add_inputs("in", 2)
    b.add_neurons("out", 1, model="IF", threshold=1.0, reset=reset)
    b.connect("in", "out", [[0.75], [0.75]], delay=delay)
    b.set_input_spikes([0, 0, 1, 3], [0, 1, 0, 1])
    return b.build(outputs="out")


def test_hand_computed_spikes_and_trace():
    run = simulate_reference(tiny(), 6, record_v=True)
    # tick 1: 1.5 >= 1 fires, reset to 0; tick 2: 0.75; tick 4: 1.5 fires
    assert run.times.tolist() == [1, 4] and run.ids.tolist() == [0, 0]
    assert run.v_trace.ravel().tolist() == [0, 0, 0.75, 0.75, 0, 0]


def test_subtract_reset_keeps_the_excess():
    run = simulate_reference(tiny("subtract"), 6, record_v=True)
    # tick 1: 1.5 -> 0.5; tick 2: 0.5 + 0.75 fires again -> 0.25; tick 4: 0.25 + 0.75 = 1 fires -> 0
    assert run.v_trace.ravel().tolist() == [0, 0.5, 0.25, 0.25, 0, 0]
    assert run.times.tolist() == [1, 2, 4]


def test_delay_shifts_arrivals():
    assert simulate_reference(tiny(delay=3), 8).times.tolist() == [3, 6]


def _loop_reference(net: Network, ticks: int):
    """The module docstring's equations neuron by neuron, edge by edge, in plain Python."""
    n = net.n_neurons
    v, cur = [0.0] * n, [0.0] * n
    arrive = {}
    fired_at = {t: [] for t in range(ticks)}
    inputs = {}
    for t, i in zip(net.input_times.tolist(), net.input_ids.tolist()):
        inputs.setdefault(t, []).append(i)
    out = []
    for t in range(ticks):
        for j in range(n):
            cur[j] = net.i_decay[j] * cur[j] + arrive.get((t, j), 0.0) + net.i_bias[j]
            v[j] = net.decay[j] * v[j] + cur[j] + net.bias[j]
            if v[j] >= net.threshold[j]:
                v[j] = v[j] - net.threshold[j] if net.reset_subtract[j] else net.v_reset[j]
                out.append((t, j))
                fired_at[t].append(j)
        for k in range(net.n_edges):
            s = int(net.src[k])
            active = s in inputs.get(t, []) if net.src_input[k] else s in fired_at[t]
            if active:
                key = (t + int(net.delay[k]), int(net.dst[k]))
                arrive[key] = arrive.get(key, 0.0) + float(net.weight[k])
    return out


def test_matches_a_plain_loop_with_delays_leak_current_and_recurrence():
    rng = np.random.default_rng(5)
    b = NetworkBuilder("mix")
    b.add_inputs("in", 6)
    b.add_neurons("lif", 8, model="LIF", decay=0.75, bias=1 / 16, threshold=1.0, reset="subtract")
    b.add_neurons("cuba", 5, model="CubaLIF", decay=0.5, i_decay=0.5, threshold=0.75, v_reset=-0.25)
    b.add_neurons("li", 3, model="LI", decay=0.875)
    dyadic = lambda shape: rng.integers(-8, 17, shape) / 16 * (rng.random(shape) < 0.6)
    b.connect("in", "lif", dyadic((6, 8)), delay=rng.integers(1, 4, (6, 8)))
    b.connect("lif", "cuba", dyadic((8, 5)), delay=2)
    b.connect("lif", "lif", dyadic((8, 8)))  # recurrent
    b.connect("cuba", "li", dyadic((5, 3)), delay=rng.integers(1, 5, (5, 3)))
    t, i = np.nonzero(rng.random((40, 6)) < 0.3)
    b.set_input_spikes(t, i)
    net = b.build(outputs="li")
    run = simulate_reference(net, 40)
    assert len(run.times) > 20
    assert list(zip(run.times.tolist(), run.ids.tolist())) == _loop_reference(net, 40)
    assert not np.isin(run.ids, net.group("li").ids).any()  # leaky integrators never fire


def test_inputs_override_and_counts():
    net = tiny()
    run = simulate_reference(net, 5, inputs=([0], [0]))
    assert run.times.size == 0 and run.v[0] == 0.75
    assert simulate_reference(net, 6).counts(1).tolist() == [2]


def test_weight_matrix_and_groups():
    net = tiny()
    assert net.weight_matrix("in", "out").tolist() == [[0.75], [0.75]]
    assert net.group("out") == Group("out", 0, 1, "IF")
    with pytest.raises(ConfigError, match="no group 'x'; valid: out, in"):
        net.group("x")


def test_decay_from_tau():
    assert decay_from_tau(4.0, 1.0) == 0.75
    assert decay_from_tau(2.0, 1.0, "exact") == pytest.approx(np.exp(-0.5))
    with pytest.raises(ConfigError, match="unknown discretisation"):
        decay_from_tau(2.0, 1.0, "rk4")


def _arrays(n=3, **over):
    base = dict(groups=(Group("g", 0, n),), decay=np.ones(n), i_decay=np.zeros(n), threshold=np.ones(n),
                v_reset=np.zeros(n), bias=np.zeros(n), i_bias=np.zeros(n), reset_subtract=np.zeros(n, bool),
                src=[0, 1], dst=[1, 2], weight=[0.5, 0.5], delay=[1, 1], src_input=[False, False], name="net")
    base.update(over)
    return base


@pytest.mark.parametrize("over, message", [
    (dict(dst=[1, 3]), "net: dst: ids must be < 3 neurons (got 3)"),
    (dict(src=[-1, 0]), "net: src: ids must be >= 0 (got -1)"),
    (dict(src_input=[True, False]), "net: src: ids must be < 0 inputs"),
    (dict(delay=[1, 0]), "net: delay: must be whole ticks in 1..65536 (edge 1) (got 0)"),
    (dict(delay=[1.5, 1]), "net: delay: must be integers"),
    (dict(weight=[np.nan, 1]), "net: weight: must be finite (edge 0)"),
    (dict(weight=[1.0]), "net: weight: needs one value per edge (2, the length of src) (got 1)"),
    (dict(decay=[1, 1.5, 1]), "net: decay: must be in [0, 1] (neuron 1) (got 1.5)"),
    (dict(i_decay=[0, 1, 0]), "net: i_decay: must be in [0, 1)"),
    (dict(threshold=[1, np.nan, 1]), "net: threshold: must be a number or"),
    (dict(bias=[0, 0]), "net: bias: needs one value per neuron"),
    (dict(groups=(Group("g", 0, 2),)), "net: groups: group sizes must add up to the 3 neurons (got 2)"),
    (dict(groups=(Group("g", 0, 1), Group("h", 2, 2))), "expected start 1"),
    (dict(groups=(Group("g", 0, 3, "Izhikevich"),)), "model: must be one of"),
    (dict(input_ids=[0], input_times=[0]), "net: input_ids: ids must be < 0 inputs"),
    (dict(outputs=[7]), "net: outputs: ids must be < 3 neurons (got 7)"),
    (dict(where="my.npz"), None),
])
def test_validation_names_the_array_and_rule(over, message):
    if message is None:
        Network(**_arrays(**over))
        return
    with pytest.raises(ConfigError, match=re.escape(message)):
        Network(**_arrays(**over))


def test_arrays_are_read_only_copies():
    src = np.array([0, 1])
    net = Network(**_arrays(src=src))
    src[0] = 2
    assert net.src[0] == 0
    with pytest.raises(ValueError):
        net.weight[0] = 3.0


def test_builder_errors():
    b = NetworkBuilder("b")
    b.add_inputs("in", 2)
    with pytest.raises(ConfigError, match="model LIF needs decay or tau"):
        b.add_neurons("x", 2)
    with pytest.raises(ConfigError, match="reset must be one of zero, subtract"):
        b.add_neurons("x", 2, model="IF", reset="linear")
    b.add_neurons("x", 2, model="LIF", tau=4.0)
    with pytest.raises(ConfigError, match=r"weight must have shape \(2, 2\)"):
        b.connect("in", "x", np.ones((3, 2)))
    with pytest.raises(ConfigError, match="synapses end on neurons"):
        b.connect("x", "in", np.ones((2, 2)))
    assert b.connect("in", "x", [0.5, 0.25], sparse=([0, 1], [1, 1])) == 2
    net = b.build(outputs=["x"])
    assert net.decay.tolist() == [0.75, 0.75] and net.outputs.tolist() == [0, 1]


# --- optional per-neuron state and several currents (issue 15), checked by hand ---------------------

def _one_neuron(**kw):
    b = NetworkBuilder("one")
    b.add_inputs("in", 2)
    b.add_neurons("n", 1, model="IF", threshold=1.0, **kw)
    b.connect("in", "n", [[0.6], [-3.0]])
    return b


def test_reference_refractory_holds_the_membrane_while_it_counts_down():
    b = _one_neuron(refractory=2)
    b.set_input_spikes(np.arange(10), np.zeros(10, np.int64))  # +0.6 arrives every tick from tick 1
    ref = simulate_reference(b.build(), 11, record_v=True)
    # v: 0, .6, 1.2 -> spike at 2, held at 0 for ticks 3 and 4, then .6, 1.2 -> spike at 6, held 7, 8, ...
    assert ref.times.tolist() == [2, 6, 10]
    assert np.allclose(ref.v_trace[:, 0], [0, .6, 0, 0, 0, .6, 0, 0, 0, .6, 0])


def test_reference_floor_initial_state_and_types_by_hand():
    b = _one_neuron(v_min=-1.5, v_init=0.5)
    b.set_input_spikes([0, 2, 3], [1, 0, 0])  # -3 at tick 1, then +0.6 at ticks 3 and 4
    ref = simulate_reference(b.build(), 5, record_v=True)
    assert np.allclose(ref.v_trace[:, 0], [0.5, -1.5, -1.5, -0.9, -0.3])  # floored at -1.5, not -2.5
    b = NetworkBuilder("two")
    b.add_inputs("in", 2)
    b.add_neurons("n", 1, model="CubaLI", decay=1.0, u_init=8.0)
    b.connect("in", "n", 4.0, sparse=([0], [0]), syn_type=0)
    b.connect("in", "n", 1.0, sparse=([1], [0]), syn_type=1)
    b.set_syn_decays([0.5, 0.0])
    b.set_input_spikes([0, 0], [0, 1])
    ref = simulate_reference(b.build(), 3, record_v=True)
    # i0: 4 (8 halved), 2 + 4 = 6, 3; i1: 0, 1, 0; v sums them: 4, 11, 14
    assert np.allclose(ref.v_trace[:, 0], [4.0, 11.0, 14.0])
    assert np.allclose(ref.i[:, 0], [3.0, 0.0])
