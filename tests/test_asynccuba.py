"""Several synaptic currents and a voltage floor read in continuous time (neuroemu/engine/asynccuba.py,
docs/async.md)."""
from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import numpy as np
import pytest

from neuroemu import simulate
from neuroemu.config.loader import workload_for_network_file
from neuroemu.engine.asynccuba import CubaMultiCT, _zeros
from neuroemu.engine.asyncmodels import NEVER
from neuroemu.models.loihi import CubaArrays
from neuroemu.networks.edgelist import save_npz
from neuroemu.networks.graph import NetworkBuilder
from test_async_cores import _same, assert_same_spikes_and_counts, make_chip, zero_latency_chip
from test_peer_fields import two_current_network

T = 1000  # a 1 ns tick in ps: brute-force scans stay short


def _model(du_syn, dv, bias, threshold, v, u, tick=T, v_min=None):
    """CubaMultiCT over n neurons: du_syn [K, n], the rest per neuron; u [K, n]. With ``v_min`` a
    floor (K = 1 then has one current, ``du``, as a compiled one-current network with a floor)."""
    du_syn = np.asarray(du_syn, np.int32)
    K, n = du_syn.shape
    p = dataclasses.replace(CubaArrays.uniform(n), du=du_syn[0].copy(), dv=np.asarray(dv, np.int32),
                            bias=np.asarray(bias, np.int32), threshold=np.asarray(threshold, np.int32),
                            du_syn=du_syn if K > 1 or v_min is None else None,
                            v_min=None if v_min is None else np.asarray(v_min, np.int32))
    arrays = SimpleNamespace(params=p, n_neurons=n, v=np.asarray(v, np.int32), u=np.asarray(u, np.int32).ravel())
    return CubaMultiCT(arrays, np.ones(n, bool), 24, tick, 1)


def _random_states(rng, n, K):
    """Currents of both signs, fast and slow, and a bias: v may rise, fall and rise again."""
    du = rng.integers(64, 3000, (K, n))
    dv = rng.choice([0, 16, 200, 1500], n)
    bias = rng.integers(-20, 60, n)
    u = rng.integers(-4000, 4000, (K, n))
    v = rng.integers(-500, 500, n)
    return du, dv, bias, v, u


def _extrema(vs):
    d = np.sign(np.diff(vs))
    d = d[d != 0]
    return int(np.count_nonzero(d[1:] != d[:-1]))


@pytest.mark.parametrize("K", [2, 3])
def test_predicted_crossing_is_the_first_ps_above_threshold_of_a_fine_scan(K):
    """predict against v evaluated at every ps of 300 ticks, for random states: equal wherever the
    scan sees a crossing, and no crossing in the scan where predict says later or never; states
    where v turns twice before crossing are among them."""
    rng = np.random.default_rng(11 + K)
    n = 160
    du, dv, bias, v, u = _random_states(rng, n, K)
    probe = _model(du, dv, bias, np.full(n, 10**6), v, u)
    grid = np.arange(300 * T + 1, dtype=np.float64)
    scans = [probe._v_at(np.full(len(grid), j), grid, np.full(len(grid), float(v[j])),
                         np.repeat(u[:, j:j + 1].astype(np.float64), len(grid), axis=1)) for j in range(n)]
    # a threshold between v(0) and the scan's highest value (or above it: no crossing)
    top = np.array([s.max() for s in scans])
    frac = rng.random(n)
    theta = np.where(frac < 0.85, v + frac * (top - v), top + 5).astype(np.int64)
    theta = np.maximum(theta, v)  # v(0) is not above threshold
    m = _model(du, dv, bias, theta, v, u)
    got = m.predict(np.arange(n))
    crossed = twice = 0
    for j in range(n):
        over = np.flatnonzero(scans[j] > theta[j])
        if len(over):
            assert got[j] == over[0], (j, got[j], over[0])
            crossed += 1
            twice += _extrema(scans[j][:over[0] + 1]) >= 2
        else:
            assert got[j] > grid[-1] or got[j] == NEVER, (j, got[j])
    assert crossed > 60 and twice >= 3, (crossed, twice)


def test_zeros_of_a_sum_of_exponentials_are_all_found():
    """e^{-s} - 3 e^{-2s} + 2.5 e^{-3s} ... built from known roots: (x - x1)(x - x2) with x = e^{-s}."""
    x1, x2 = np.exp(-0.7), np.exp(-2.1)  # f = e^{-s} (e^{-s} - x1)(e^{-s} - x2): zeros at 0.7 and 2.1
    a = np.array([[x1 * x2, -(x1 + x2), 1.0]])
    r = np.array([[1.0, 2.0, 3.0]])
    z = _zeros(a, r, np.array([50.0]))
    assert z[0] == pytest.approx([0.7, 2.1], abs=0.3)  # bracketed to a quarter of the unit
    assert np.all(np.isinf(_zeros(np.array([[1.0, 2.0]]), np.array([[0.0, 1.0]]), np.array([50.0]))))


def test_tick_start_voltage_is_the_exact_sum_of_every_current():
    """No v leak, no firing: inputs of three types at tick starts; v at each tick start equals the
    per-tick model's sum in real arithmetic (u_k <- u_k (1 - d_k) + w_k, v <- v + sum_k u_k; the
    next tick's decayed currents u_k (1 - d_k) have arrived by its start)."""
    rng = np.random.default_rng(3)
    K, n, ticks = 3, 8, 25
    du = np.array([[4096] * n, [1024] * n, [200] * n])
    m = _model(du, np.zeros(n), np.zeros(n), np.full(n, 2**22), np.zeros(n), np.zeros((K, n)))
    d = du[:, :1] / 4096
    u, v = np.zeros((K, n)), np.zeros(n)
    idx = np.arange(n)
    for k in range(ticks):
        t = np.full(n, k * T, np.int64)
        w = rng.integers(-50, 80, (n, K)) * (rng.random((n, K)) < 0.5)
        u = u * (1 - d) + w.T           # the tick adds w to u, then u to v
        v = v + u.sum(axis=0)
        m.integrate(idx, t, w.astype(np.float64))
        m.advance(idx, t + T)           # just before the next tick's inputs: its decayed currents are in
        np.testing.assert_allclose(m.v, v + (u * (1 - d)).sum(axis=0), rtol=1e-9, atol=1e-6)


def _instant_currents_network(rng):
    """Two currents that each last one step (i_decay 0: a jump of v alone) and no v leak: every
    change of v is at a tick start, in integers, so async must give the clocked spikes exactly. (A
    current that lasts longer moves v between tick starts and the clocked model rounds each step's
    decay: the two then differ by design; the closed form is pinned by the tests above.)"""
    return two_current_network(rng, decay=1.0, threshold=300.0, refractory=1, syn_decays=(0.0, 0.0), name="cuba2ct")


def test_two_currents_async_equals_sync_where_they_must_agree(tmp_path):
    from conservation import assert_conserved
    save_npz(_instant_currents_network(np.random.default_rng(8)), tmp_path / "two.npz")
    wl = workload_for_network_file(tmp_path / "two.npz", ticks=80, weight_scale="keep")
    c = zero_latency_chip(core__neuron_model="cuba_lif", core__membrane_bits=24)
    sync = simulate(c, wl, timing="sync", record_spikes=True)
    asy = simulate(c, wl, timing="async", record_spikes=True)
    assert sync.spikes > 50
    assert_same_spikes_and_counts(sync, asy)
    assert_conserved(asy)


def test_two_currents_bit_identical_across_runs_and_queues(tmp_path):
    """Brian2's CUBA shape (fast excitation, slow inhibition, a v leak) on a chip with hop latency:
    spikes between tick starts, the same on every run and both queues; the flow conserved."""
    from conservation import assert_conserved
    save_npz(two_current_network(np.random.default_rng(5)), tmp_path / "two.npz")
    wl = workload_for_network_file(tmp_path / "two.npz", ticks=60, weight_scale="keep")
    c = make_chip(core__neuron_model="cuba_lif", core__membrane_bits=24, latency__hop_ns={"value": 3.0, "source": "t"})
    runs = [simulate(c, wl, timing="async", record_spikes=True, queue=q) for q in ("c", "python", "c")]
    assert runs[0].spikes > 20
    assert np.any(runs[0].spike_trains.ticks % 10**9 != 0)  # currents carry v across threshold mid-tick
    _same(runs[0], runs[1])
    _same(runs[0], runs[2])
    assert_conserved(runs[0])


# --- the voltage floor (v_min) ---

TF = 200  # the floor tests' tick (ps): a per-ps scan of 25 ticks stays short


def _scan_with_floor(m, steps):
    """v at every ps 0..steps by the floor's rule, one ps at a time (no input, no firing): on the
    floor with the drift there, -k_v v_min + (bias + sum_k u_k) / T, below zero v stays; otherwise
    one ps of free evolution, clamped at the floor."""
    n = len(m.v)
    idx, one, fl = np.arange(n), np.ones(n), m.floor
    ku = np.where(m.instant, 0.0, m.ku)
    u0, v = m.u.copy(), m.v.copy()
    out = np.empty((steps + 1, n))
    for k in range(steps + 1):
        out[k] = v
        u = u0 * np.exp(-ku * k)
        drift = -m.kv * fl + (m.bias + u.sum(axis=0)) / m.T
        v = np.where((v <= fl) & (drift < 0), fl, np.maximum(m._v_at(idx, one, v, u), fl))
    return out


def _floor_states(rng, n, K):
    """Half: fast inhibition, slower excitation (a third current: slow, either sign) and a bias
    pulling down (one current: lifting up) -- v is pushed onto the floor, leaves as the inhibition
    decays, and may come back.
    Half: random states as above. Each neuron starts at most 300 above its floor."""
    du, dv, bias, v, u = _random_states(rng, n, K)
    h = n // 2
    du[0, :h], u[0, :h] = rng.integers(3000, 4000, h), -rng.integers(2000, 4000, h)
    if K > 1:
        du[1, :h], u[1, :h] = rng.integers(600, 1500, h), rng.integers(100, 400, h)
    dv[:h] = rng.choice([0, 0, 16], h)
    bias[:h] = rng.integers(-60, -20, h) if K > 1 else rng.integers(0, 30, h)  # K = 1: the bias lifts v off
    v_min = -rng.integers(0, 400, n)
    return du, dv, bias, v_min + rng.integers(0, 300, n), u, v_min


@pytest.mark.parametrize("K", [1, 2, 3])
def test_floor_follows_a_per_ps_scan_of_its_rule(K):
    """advance (from the start state, and event by event) and predict against the per-ps scan of
    the floor's rule over 25 ticks: v to 1e-6, and the first ps above threshold exactly; neurons
    reach the floor, leave it, and (two or three currents) come back to it."""
    rng = np.random.default_rng(40 + K)
    n, steps = 60, 25 * TF
    du, dv, bias, v, u, v_min = _floor_states(rng, n, K)
    m = _model(du, dv, bias, np.full(n, 10**6), v, u, tick=TF, v_min=v_min)
    scan = _scan_with_floor(m, steps)
    times = np.unique(np.concatenate([rng.integers(1, steps + 1, 40), [1, 2, steps]]))
    for t in times:  # each from the start state in one step
        np.testing.assert_allclose(m.potentials(int(t)), scan[t], rtol=1e-9, atol=1e-6)
    idx = np.arange(n)
    for t in times:  # event by event, as inputs of zero weight would
        m.integrate(idx, np.full(n, t, np.int64), np.zeros((n, K)))
        np.testing.assert_allclose(m.v, scan[t], rtol=1e-9, atol=1e-6)
    on = scan == m.floor
    visits = (~on[:-1] & on[1:]).sum(axis=0) + on[0]
    left = (on[:-1] & ~on[1:]).sum(axis=0)
    assert (visits > 0).sum() > n // 2 and (left > 0).sum() > n // 4, (visits, left)
    if K > 1:
        assert (visits > 1).sum() >= 3, visits
    # the first ps above threshold: a threshold between v(0) and the scan's highest value
    top = scan.max(axis=0)
    frac = rng.random(n)
    theta = np.maximum(np.where(frac < 0.85, v + frac * (top - v), top + 5).astype(np.int64), v)
    got = _model(du, dv, bias, theta, v, u, tick=TF, v_min=v_min).predict(idx)
    crossed = after_floor = 0
    for j in range(n):
        over = np.flatnonzero(scan[:, j] > theta[j])
        if len(over):
            assert got[j] == over[0], (j, got[j], over[0])
            crossed += 1
            after_floor += bool(on[:over[0], j].any())
        else:
            assert got[j] > steps, (j, got[j])
    assert crossed > n // 3 and after_floor >= 5, (crossed, after_floor)


def test_inhibition_pushes_v_onto_the_floor_and_it_leaves_as_the_current_decays():
    """One slow current, a v leak to rest 0, floor -50: an inhibitory input of -400 lands v on the
    floor (v = max(v + w, v_min), as the tick clamps) and v stays there, exactly, up to the first
    ps at which the drift there, -k_v v_min + u(s) / T, is >= 0 -- in closed form
    s* = ln(u / (T k_v v_min)) / k_u -- and then rises towards rest. Without the floor v goes far below."""
    du, dv, fl = 200, 100, -50
    runs = [_model([[du]], [dv], [0], [10**6], [0], [0], tick=TF, v_min=v) for v in ([fl], None)]
    for m in runs:
        m.integrate(np.array([0]), np.array([0]), np.array([[-400.0]]))
    m, free = runs
    assert m.v[0] == fl and free.v[0] == -400.0
    u = m.u[0, 0]
    leave = int(np.ceil(np.log(u / (TF * m.kv[0] * fl)) / m.ku[0, 0]))
    assert 10 * TF < leave < 200 * TF  # the inhibition holds v down for many ticks
    for t in (1, TF, leave // 2, leave - 1, leave):
        assert m.potentials(t)[0] == fl, t
    assert m.potentials(leave + 1)[0] > fl and m.potentials(leave + 1)[0] - fl < 1e-3
    later = m.potentials(leave + 50 * TF)[0]
    assert fl < later < 0 and free.potentials(leave)[0] < fl - 100


def _floor_network(rng, K, v_min, n_in=12, n=30, ticks=60):
    """A leaky current-based network with excitatory and inhibitory inputs on K currents (K = 1:
    one current, i_decay 0.8; K = 2: excitation 0.75, inhibition 0.9) and a floor ``v_min``."""
    b = NetworkBuilder(f"floor{K}")
    b.add_inputs("exc", n_in)
    b.add_inputs("inh", n_in)
    b.add_neurons("n", n, model="CubaLIF", decay=0.95, i_decay=0.8 if K == 1 else 0.0, threshold=500.0,
                  refractory=1, v_min=v_min, bias=3.0)
    b.connect("exc", "n", rng.integers(20, 200, (n_in, n)) * (rng.random((n_in, n)) < 0.5), syn_type=0)
    b.connect("inh", "n", -rng.integers(40, 200, (n_in, n)) * (rng.random((n_in, n)) < 0.5), syn_type=K - 1)
    b.connect("n", "n", rng.integers(-40, 60, (n, n)) * (rng.random((n, n)) < 0.1), syn_type=0)
    if K > 1:
        b.set_syn_decays([0.75, 0.9])
    b.set_input_spikes(*np.nonzero(rng.random((ticks, 2 * n_in)) < 0.3))
    return b.build()


def _async_runs(tmp_path, net, queues=("c",), ticks=60):
    save_npz(net, tmp_path / f"{net.name}.npz")
    wl = workload_for_network_file(tmp_path / f"{net.name}.npz", ticks=ticks, weight_scale="keep")
    c = make_chip(core__neuron_model="cuba_lif", core__membrane_bits=24, latency__hop_ns={"value": 3.0, "source": "t"})
    return [simulate(c, wl, timing="async", record_spikes=True, queue=q) for q in queues]


@pytest.mark.parametrize("K", [1, 2])
def test_a_floor_never_reached_changes_no_bit(tmp_path, K):
    """A floor far below anything v reaches (-10^6) gives the record of no floor, bit for bit (one
    current: the floor's model against the one-current model)."""
    none = _async_runs(tmp_path, _floor_network(np.random.default_rng(7), K, -np.inf))[0]
    deep = _async_runs(tmp_path, _floor_network(np.random.default_rng(7), K, -1e6))[0]
    assert none.spikes > 10
    _same(none, deep)


@pytest.mark.parametrize("K", [1, 2])
def test_a_floor_bit_identical_across_runs_and_queues(tmp_path, K):
    """A floor that is reached (-60; the spikes differ from no floor's), on a chip with hop latency:
    the same record on every run and both queues; the flow conserved."""
    from conservation import assert_conserved
    runs = _async_runs(tmp_path, _floor_network(np.random.default_rng(7), K, -60.0), ("c", "python", "c"), ticks=40)
    none = _async_runs(tmp_path, _floor_network(np.random.default_rng(7), K, -np.inf), ticks=40)[0]
    assert runs[0].spikes > 15 and runs[0].spikes != none.spikes
    _same(runs[0], runs[1])
    _same(runs[0], runs[2])
    assert_conserved(runs[0])


def test_two_currents_with_a_floor_async_equals_sync_where_they_must_agree(tmp_path):
    """Two one-step currents, no v leak, no bias, whole-tick delays, zero route latency and a floor
    that is reached (sync's spikes differ from no floor's): async gives sync's spikes and counts
    (each input lands on the floor, v = max(v + w, v_min), as the tick clamps)."""
    from conservation import assert_conserved
    net = _instant_currents_network(np.random.default_rng(8))
    c = zero_latency_chip(core__neuron_model="cuba_lif", core__membrane_bits=24)
    rec = {}
    for name, v_min in (("none", -np.inf), ("floor", -40.0)):
        save_npz(dataclasses.replace(net, v_min=np.full(net.n_neurons, v_min)), tmp_path / f"{name}.npz")
        wl = workload_for_network_file(tmp_path / f"{name}.npz", ticks=80, weight_scale="keep")
        rec[name] = [simulate(c, wl, timing=t, record_spikes=True) for t in ("sync", "async")]
    sync, asy = rec["floor"]
    assert sync.spikes > 50 and sync.spikes != rec["none"][0].spikes
    assert_same_spikes_and_counts(sync, asy)
    assert_conserved(asy)
