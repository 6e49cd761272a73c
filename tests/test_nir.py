"""NIR import (round trip against the test's own numpy equations), expansion of convolutions and
pools into edges, errors. Quantisation is in test_quantise.py."""
from __future__ import annotations

import re
import sys
from dataclasses import dataclass

import numpy as np
import pytest

from neuroemu.errors import ConfigError
from neuroemu.networks.graph import simulate_reference
from neuroemu.networks.nir import load_nir

try:
    import nir
except ImportError:
    nir = None
needs_nir = pytest.mark.skipif(nir is None, reason="the optional nir package is not installed (neuroemu[nir])")

DT = 1 / 1024   # dyadic dt and tau: dt / tau = 1/4 exactly, so both sides compute the same floats
TAU = 4 / 1024


def affine_lif_graph(rng, n_in=6, n_hidden=10, n_out=4):
    dyadic = lambda shape, k=32: rng.integers(-k, 2 * k, shape) / k * 0.5
    nodes = {
        "input": nir.Input(input_type={"input": np.array([n_in])}),
        "fc1": nir.Affine(weight=dyadic((n_hidden, n_in)), bias=dyadic(n_hidden) / 8),
        "lif1": nir.LIF(tau=np.full(n_hidden, TAU), r=np.full(n_hidden, 2.0), v_leak=np.full(n_hidden, 0.125),
                        v_threshold=np.ones(n_hidden)),
        "fc2": nir.Affine(weight=dyadic((n_out, n_hidden)), bias=np.zeros(n_out)),
        "lif2": nir.LIF(tau=np.full(n_out, TAU), r=np.full(n_out, 2.0), v_leak=np.zeros(n_out),
                        v_threshold=np.full(n_out, 0.75), v_reset=np.full(n_out, -0.25)),
        "output": nir.Output(output_type={"output": np.array([n_out])}),
    }
    edges = [("input", "fc1"), ("fc1", "lif1"), ("lif1", "fc2"), ("fc2", "lif2"), ("lif2", "output")]
    return nir.NIRGraph(nodes=nodes, edges=edges)


def numpy_reference(graph, x, reset="zero"):
    """NIR's LIF by forward Euler, one tick per synapse, written out layer by layer."""
    fc1, lif1, fc2, lif2 = (graph.nodes[k] for k in ("fc1", "lif1", "fc2", "lif2"))
    ticks = x.shape[0]
    layers = [(fc1, lif1), (fc2, lif2)]
    v = [np.zeros(fc.weight.shape[0]) for fc, _ in layers]
    spikes = [np.zeros((ticks, fc.weight.shape[0]), bool) for fc, _ in layers]
    for t in range(ticks):
        for k, (fc, lif) in enumerate(layers):
            a = DT / lif.tau
            arriving = (x if k == 0 else spikes[0])[t - 1] if t > 0 else np.zeros(fc.weight.shape[1], bool)
            syn = (fc.weight * (a * lif.r)[:, None]) @ arriving
            v[k] = (1 - a) * v[k] + syn + (a * lif.v_leak + fc.bias * (a * lif.r))
            fired = v[k] > lif.v_threshold
            if reset == "zero":
                v[k] = np.where(fired, lif.v_reset, v[k])
            else:
                v[k] = np.where(fired, v[k] - lif.v_threshold, v[k])
            spikes[k][t] = fired
    return spikes


@needs_nir
@pytest.mark.parametrize("reset", ["zero", "subtract"])
def test_nir_round_trip_matches_numpy_equations(tmp_path, reset):
    rng = np.random.default_rng(11)
    graph = affine_lif_graph(rng)
    path = tmp_path / "model.nir"
    nir.write(path, graph)
    net = load_nir(path, dt=DT, reset=reset)
    assert [(g.name, g.size, g.model) for g in net.groups] == [("lif1", 10, "LIF"), ("lif2", 4, "LIF")]
    assert [(g.name, g.size) for g in net.input_groups] == [("input", 6)]
    assert net.outputs.tolist() == [10, 11, 12, 13] and net.name == "model"
    ticks = 60
    x = rng.random((ticks, 6)) < 0.35
    t, i = np.nonzero(x)
    run = simulate_reference(net.with_inputs(t, i), ticks)
    expected = numpy_reference(nir.read(path), x, reset)
    got = np.zeros((ticks, net.n_neurons), bool)
    got[run.times, run.ids] = True
    assert got[:, :10].sum() > 30 and got[:, 10:].sum() > 5  # both layers are active
    assert np.array_equal(got[:, :10], expected[0])
    assert np.array_equal(got[:, 10:], expected[1])


def conv_dense(w, in_shape, stride, pad, groups=1):
    """The convolution as a dense [out, in] matrix, by explicit loops over every tap."""
    c_out, c_in_g, kh, kw = w.shape
    c_in, h, wd = in_shape
    ho, wo = (h + 2 * pad - kh) // stride + 1, (wd + 2 * pad - kw) // stride + 1
    m = np.zeros((c_out, ho, wo, c_in, h, wd))
    for co in range(c_out):
        for cl in range(c_in_g):
            ci = co // (c_out // groups) * c_in_g + cl
            for oy in range(ho):
                for ox in range(wo):
                    for ky in range(kh):
                        for kx in range(kw):
                            iy, ix = oy * stride - pad + ky, ox * stride - pad + kx
                            if 0 <= iy < h and 0 <= ix < wd:
                                m[co, oy, ox, ci, iy, ix] += w[co, cl, ky, kx]
    return m.reshape(c_out * ho * wo, c_in * h * wd), (c_out, ho, wo)


@needs_nir
@pytest.mark.parametrize("pool", ["SumPool2d", "AvgPool2d"])
def test_conv_pool_flatten_expand_to_the_right_edges(tmp_path, pool):
    rng = np.random.default_rng(3)
    w = rng.normal(size=(3, 2, 3, 3))
    b = rng.normal(size=3)
    pool_node = getattr(nir, pool)(kernel_size=np.array([2, 2]), stride=np.array([2, 2]), padding=np.array([0, 0]))
    w_fc = rng.normal(size=(4, 12))
    nodes = {
        "input": nir.Input(input_type={"input": np.array([2, 5, 5])}),
        "conv": nir.Conv2d(input_shape=(5, 5), weight=w, stride=1, padding=1, dilation=1, groups=1, bias=b),
        "if1": nir.IF(r=np.ones((3, 5, 5)), v_threshold=np.ones((3, 5, 5))),
        "pool": pool_node,
        "flat": nir.Flatten(input_type={"input": np.array([3, 2, 2])}, start_dim=0),
        "fc": nir.Linear(weight=w_fc),
        "if2": nir.IF(r=np.ones(4), v_threshold=np.ones(4)),
        "output": nir.Output(output_type={"output": np.array([4])}),
    }
    edges = [("input", "conv"), ("conv", "if1"), ("if1", "pool"), ("pool", "flat"), ("flat", "fc"), ("fc", "if2"),
             ("if2", "output")]
    graph = nir.NIRGraph(nodes=nodes, edges=edges, type_check=False)
    path = tmp_path / "conv.nir"
    nir.write(path, graph)
    net = load_nir(path, dt=1.0)
    m_conv, out_shape = conv_dense(w, (2, 5, 5), 1, 1)
    assert out_shape == (3, 5, 5)
    assert np.allclose(net.weight_matrix("input", "if1"), m_conv.T)
    assert np.allclose(net.bias[:75], np.repeat(b, 25))
    # pooling 5 x 5 -> 2 x 2 (the last row and column drop out), then flatten in C order
    m_pool = np.zeros((3, 2, 2, 3, 5, 5))
    for c in range(3):
        for oy in range(2):
            for ox in range(2):
                m_pool[c, oy, ox, c, 2 * oy:2 * oy + 2, 2 * ox:2 * ox + 2] = 0.25 if pool == "AvgPool2d" else 1.0
    expected = w_fc @ m_pool.reshape(12, 75)
    assert np.allclose(net.weight_matrix("if1", "if2"), expected.T)
    assert net.delay.max() == 1


@needs_nir
def test_strided_grouped_conv_and_delay_node():
    rng = np.random.default_rng(4)
    w = rng.normal(size=(4, 1, 2, 2))
    nodes = {
        "input": nir.Input(input_type={"input": np.array([2, 4, 4])}),
        "conv": nir.Conv2d(input_shape=(4, 4), weight=w, stride=2, padding=0, dilation=1, groups=2,
                           bias=np.zeros(4)),
        "delay": nir.Delay(delay=np.full((4, 2, 2), 3 * 0.5)),
        "i": nir.I(r=np.ones((4, 2, 2))),
    }
    graph = nir.NIRGraph(nodes=nodes, edges=[("input", "conv"), ("conv", "delay"), ("delay", "i")], type_check=False)
    net = load_nir(graph, dt=0.5)
    m, _ = conv_dense(w, (2, 4, 4), 2, 0, groups=2)
    assert np.allclose(net.weight_matrix("input", "i"), 0.5 * m.T)  # I's gain: dt r
    assert set(net.delay.tolist()) == {4}  # 1 tick per synapse + 3 from the Delay node
    assert np.isinf(net.threshold).all()


@needs_nir
def test_cuba_lif_matches_its_equations():
    n = 3
    w = np.array([[1.0, 0.5], [-0.5, 1.0], [0.75, 0.25]])
    nodes = {
        "input": nir.Input(input_type={"input": np.array([2])}),
        "fc": nir.Linear(weight=w),
        "cuba": nir.CubaLIF(tau_syn=np.full(n, 2.0), tau_mem=np.full(n, 2.0), r=np.full(n, 2.0),
                            v_leak=np.zeros(n), v_threshold=np.full(n, 0.5), w_in=np.ones(n)),
    }
    net = load_nir(nir.NIRGraph(nodes=nodes, edges=[("input", "fc"), ("fc", "cuba")]), dt=1.0)
    assert net.i_decay.tolist() == [0.5] * 3 and net.decay.tolist() == [0.5] * 3
    x = np.zeros((20, 2), bool)
    x[[0, 1, 2, 7, 8, 12], [0, 1, 0, 0, 1, 1]] = True
    t, i = np.nonzero(x)
    run = simulate_reference(net.with_inputs(t, i), 20)
    cur, v, expected = np.zeros(n), np.zeros(n), []
    for tick in range(20):
        arriving = x[tick - 1] if tick else np.zeros(2, bool)
        cur = 0.5 * cur + 0.5 * (w @ arriving)       # tau_syn I' = -I + w_in S, Euler
        v = 0.5 * v + 0.5 * 2.0 * cur                # tau_mem v' = v_leak - v + R I, Euler
        fired = v > 0.5
        v = np.where(fired, 0.0, v)
        expected += [(tick, j) for j in np.flatnonzero(fired)]
    assert expected and list(zip(run.times.tolist(), run.ids.tolist())) == expected


@needs_nir
def test_nested_graph_is_inlined():
    inner = nir.NIRGraph(nodes={"in": nir.Input(input_type={"input": np.array([2])}),
                                "fc": nir.Linear(weight=np.eye(2)),
                                "out": nir.Output(output_type={"output": np.array([2])})},
                         edges=[("in", "fc"), ("fc", "out")])
    outer = nir.NIRGraph(nodes={"x": nir.Input(input_type={"input": np.array([2])}), "block": inner,
                                "if": nir.IF(r=np.ones(2), v_threshold=np.ones(2))},
                         edges=[("x", "block"), ("block", "if")], type_check=False)
    net = load_nir(outer, dt=1.0)
    assert net.weight_matrix("x", "if").tolist() == [[1, 0], [0, 1]]


@needs_nir
def test_errors_name_the_node_and_type(tmp_path):
    @dataclass(eq=False)
    class Mystery(nir.NIRNode):
        value: np.ndarray

        def __post_init__(self):
            self.input_type = {"input": np.array(self.value.shape)}
            self.output_type = {"output": np.array(self.value.shape)}

    graph = nir.NIRGraph(nodes={"input": nir.Input(input_type={"input": np.array([2])}), "weird": Mystery(np.ones(2))},
                         edges=[("input", "weird")], type_check=False)
    with pytest.raises(ConfigError, match="node 'weird': type Mystery is not supported; supported: Input, Output"):
        load_nir(graph, dt=1.0)
    g = affine_lif_graph(np.random.default_rng(0))
    with pytest.raises(ConfigError, match=re.escape("node 'lif1' (LIF): tau: forward Euler needs dt <= tau")):
        load_nir(g, dt=1.0)
    assert load_nir(g, dt=1.0, method="exact").decay[0] == pytest.approx(np.exp(-256))
    for kwargs, message in ((dict(dt=0), "dt: must be a number > 0"), (dict(dt=DT, reset="linear"), "reset: must be"),
                            (dict(dt=DT, method="rk4"), "method: must be")):
        with pytest.raises(ConfigError, match=message):
            load_nir(g, **kwargs)
    readout = nir.NIRGraph(nodes={"input": nir.Input(input_type={"input": np.array([2])}),
                                  "lif": nir.IF(r=np.ones(3), v_threshold=np.ones(3)),
                                  "fc": nir.Linear(weight=np.ones((2, 3))), "input_fc": nir.Linear(weight=np.ones((3, 2))),
                                  "output": nir.Output(output_type={"output": np.array([2])})},
                           edges=[("input", "input_fc"), ("input_fc", "lif"), ("lif", "fc"), ("fc", "output")])
    with pytest.raises(ConfigError, match="node 'output' \\(Output\\): fed through a weighted node from 'fc'"):
        load_nir(readout, dt=1.0)
    bad = tmp_path / "bad.nir"
    bad.write_text("not hdf5")
    with pytest.raises(ConfigError, match="bad.nir: not a readable NIR file"):
        load_nir(bad, dt=1.0)
    with pytest.raises(ConfigError, match="no such file"):
        load_nir(tmp_path / "missing.nir", dt=1.0)


def test_missing_nir_package_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "nir", None)  # import nir now raises ImportError
    with pytest.raises(ConfigError, match=re.escape("reading NIR graphs needs the nir package: "
                                                    "pip install neuroemu[nir]")):
        load_nir(tmp_path / "model.nir", dt=1e-3)


@needs_nir
def test_nir_threshold_is_strict():
    nodes = {"input": nir.Input(input_type={"input": np.array([1])}), "fc": nir.Linear(weight=np.array([[0.5]])),
             "if": nir.IF(r=np.ones(1), v_threshold=np.ones(1))}
    net = load_nir(nir.NIRGraph(nodes=nodes, edges=[("input", "fc"), ("fc", "if")]), dt=1.0)
    run = simulate_reference(net.with_inputs([0, 1, 2], [0, 0, 0]), 5, record_v=True)
    # v reaches exactly 1.0 at tick 2 and does not fire (NIR: v > threshold); 1.5 at tick 3 does
    assert run.v_trace[:, 0].tolist() == [0, 0.5, 1.0, 0, 0] and run.times.tolist() == [3]


# --- bad input: one line each ----------------------------------------------------------------------

FIXTURES = __import__("pathlib").Path(__file__).parent / "fixtures" / "exporters"


@needs_nir
def test_truncated_or_corrupt_files_are_one_line(tmp_path):
    good = (FIXTURES / "snntorch_ff.nir").read_bytes()
    cut = tmp_path / "cut.nir"
    cut.write_bytes(good[:len(good) // 2])
    with pytest.raises(ConfigError, match=r"^.*cut.nir: not a readable NIR file \(\w+: [^\n]*\); re-export it"):
        load_nir(cut)
    empty = tmp_path / "empty.nir"
    empty.write_bytes(b"")
    with pytest.raises(ConfigError, match="empty.nir: not a readable NIR file"):
        load_nir(empty)
    header = tmp_path / "header.nir"  # an HDF5 signature and nothing after it
    header.write_bytes(good[:8] + b"\0" * 64)
    with pytest.raises(ConfigError, match="header.nir: not a readable NIR file"):
        load_nir(header)


@needs_nir
@pytest.mark.parametrize("dt", [0, -1e-3, float("nan"), float("inf"), "1e-3", True])
def test_dt_must_be_a_positive_number(dt):
    g = affine_lif_graph(np.random.default_rng(0))
    with pytest.raises(ConfigError, match="dt: must be a number > 0"):
        load_nir(g, dt=dt)


@needs_nir
def test_shape_mismatch_names_the_node():
    nodes = {"input": nir.Input(input_type={"input": np.array([4])}), "fc": nir.Linear(weight=np.ones((2, 3))),
             "lif": nir.IF(r=np.ones(2), v_threshold=np.ones(2))}
    g = nir.NIRGraph(nodes=nodes, edges=[("input", "fc"), ("fc", "lif")], type_check=False)
    with pytest.raises(ConfigError, match=r"node 'fc' \(Linear\): weight: 3 inputs but 4 values arrive"):
        load_nir(g, dt=1.0)
    nodes["fc"] = nir.Linear(weight=np.ones((3, 4)))
    g = nir.NIRGraph(nodes=nodes, edges=[("input", "fc"), ("fc", "lif")], type_check=False)
    with pytest.raises(ConfigError, match=r"node 'lif' \(IF\): 2 neurons but 3 values arrive from 'fc'"):
        load_nir(g, dt=1.0)


@needs_nir
def test_nan_parameters_and_unknown_exporter():
    nodes = {"input": nir.Input(input_type={"input": np.array([1])}), "fc": nir.Linear(weight=np.ones((1, 1))),
             "lif": nir.LIF(tau=np.array([np.nan]), r=np.ones(1), v_leak=np.zeros(1), v_threshold=np.ones(1))}
    g = nir.NIRGraph(nodes=nodes, edges=[("input", "fc"), ("fc", "lif")])
    with pytest.raises(ConfigError, match=r"node 'lif' \(LIF\): tau: must be a number \(got NaN\)"):
        load_nir(g, dt=1e-3)
    with pytest.raises(ConfigError, match="exporter: unknown exporter 'keras'; valid: nir, snntorch, norse, sinabs"):
        load_nir(g, dt=1e-3, exporter="keras")


@needs_nir
def test_tau_inf_with_r_inf_is_integrate_and_fire():
    nodes = {"input": nir.Input(input_type={"input": np.array([1])}), "fc": nir.Linear(weight=np.full((1, 1), 0.5)),
             "lif": nir.LIF(tau=np.array([np.inf]), r=np.array([np.inf]), v_leak=np.zeros(1), v_threshold=np.ones(1))}
    g = nir.NIRGraph(nodes=nodes, edges=[("input", "fc"), ("fc", "lif")])
    for method in ("euler", "exact"):
        net = load_nir(g, dt=1e-4, method=method)
        assert net.decay.tolist() == [1.0] and net.weight.tolist() == [0.5]
