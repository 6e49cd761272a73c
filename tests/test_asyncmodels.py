"""The continuous-time neuron models (neuroemu.engine.asyncmodels), function by function.

Every expected value is computed here from the model's definition (docs/async.md): hand-worked
numbers, closed forms written out in plain Python, and a picosecond-by-picosecond brute force of
TrueNorth's exact integer arithmetic -- never by calling the code under test a second time.
"""
from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest

from neuroemu.engine.asyncmodels import (NEVER, CubaCT, TrueNorthCT, _carry, _cdiv, _rate, continuous_model,
                                         first_above, group_events, neuron_keys)
from neuroemu.errors import ConfigError
from neuroemu.models import rng
from neuroemu.models.loihi import CubaArrays
from neuroemu.models.neuron import NeuronArrays

M64 = (1 << 64) - 1
HI20 = (1 << 19) - 1   # a 20-bit membrane's top, in units of V
LO20 = -(1 << 19)


def tn(n=1, T=1000, bits=20, key=1, v=None, enabled=None, **params):
    """TrueNorthCT over n neurons; ``params`` are NeuronArrays fields, scalars or one value per neuron."""
    p = NeuronArrays.uniform(n)
    for name, value in params.items():
        if name == "reset":
            value = [{"linear": 0, "zero": 1, "none": 2}[r] for r in np.broadcast_to(value, n)]
            name = "reset_mode"
        arr = getattr(p, name)
        arr[:] = np.broadcast_to(np.asarray(value), n).astype(arr.dtype)
    arrays = SimpleNamespace(params=p, n_neurons=n, v=np.zeros(n, np.int32) if v is None else np.array(v, np.int32),
                             neuron_model="truenorth_lif")
    en = np.ones(n, bool) if enabled is None else np.asarray(enabled, bool)
    return TrueNorthCT(arrays, en, bits, T, key)


def ix(*i):
    return np.array(i, np.int64)


# --- TrueNorth: construction ------------------------------------------------------------------------

def test_truenorth_parameters_are_kept_in_units_of_one_over_the_tick():
    T = 1000
    m = tn(6, T=T, v=[1, -2, 0, 0, 0, 3], leak=[3, -2, 5, -7, 0, 0], leak_stochastic=[0, 0, 1, 1, 1, 0],
           threshold=[10, 11, 12, 13, 14, 15], reset_value=[0, 2, -3, 0, 0, 0], floor=[0, 5, 1 << 20, 0, 0, 0])
    assert m.drift.tolist() == [3, -2, 0, 0, 0, 0]        # a stochastic leak has no drift
    assert m.step_mag.tolist() == [0, 0, 5, 7, 0, 0]      # |leak| of the stochastic ones (leak 0: none)
    assert m.step_sign.tolist() == [1, -1, 1, -1, 0, 0]
    assert m.has_steps and m.stochastic.tolist() == [2, 3]
    assert m.alpha.tolist() == [10 * T, 11 * T, 12 * T, 13 * T, 14 * T, 15 * T]
    assert m.theta.tolist() == m.alpha.tolist() and not m.mask_any and m.threshold_keys is None
    assert m.reset_value.tolist() == [0, 2 * T, -3 * T, 0, 0, 0]
    assert (int(m.lo), int(m.hi)) == (LO20 * T, HI20 * T)
    assert m.floor.tolist() == [0, -5 * T, -(1 << 20) * T, 0, 0, 0]
    assert m.low.tolist() == [0, -5 * T, LO20 * T, 0, 0, 0]  # the floor, or the membrane's bottom below it
    assert m.v.tolist() == [T, -2 * T, 0, 0, 0, 3 * T]
    assert m.t_last.tolist() == m.ref.tolist() == m.n_upd.tolist() == [0] * 6
    assert m.input_scale == T
    assert not tn(2, leak=[0, 4], leak_stochastic=[1, 0]).has_steps  # a stochastic flag on leak 0 steps nothing


def test_truenorth_refuses_a_tick_whose_scaled_membrane_overflows_in_one_line():
    """V x T must stay below 2^62 / 2^(bits + 8): 20 bits allow a tick up to 2^34 - 1 ps."""
    tn(T=(1 << 34) - 1)
    with pytest.raises(ConfigError, match=r"^x: timing.tick_s: under async a 20-bit membrane .*2\^62 / 2\^28") as exc:
        p = NeuronArrays.uniform(1)
        TrueNorthCT(SimpleNamespace(params=p, n_neurons=1, v=np.zeros(1, np.int32)), np.ones(1, bool), 20,
                    1 << 34, 1, "x: ")
    assert "\n" not in str(exc.value)


# --- TrueNorth: advance, integrate, fire, predict -----------------------------------------------------

def test_truenorth_advance_is_the_drift_times_the_elapsed_ps_clamped():
    T = 1000
    m = tn(4, T=T, v=[0, 5, 5, HI20 - 1], leak=[3, -2, -2, 5], floor=[0, 0, 10, 0])
    m.advance(ix(0, 1, 2, 3), ix(500, 1000, 1000, 1000))
    assert m.v.tolist() == [1500, 3000, 3000, HI20 * T]   # + 3 x 500; 5T - 2 x 1000; saturated at the top
    assert m.t_last.tolist() == [500, 1000, 1000, 1000]
    m.advance(ix(1, 2), ix(3000, 3000))
    assert m.v[1:3].tolist() == [0, -1000]                # floor 0 stops it at 0; floor 10 lets it to -1 (x T)
    big = tn(1, T=T, leak=16)
    big.advance(ix(0), ix(1 << 61))                        # elapsed time capped: no int64 wrap
    assert big.v[0] == HI20 * T


def test_truenorth_potentials_read_without_changing_state():
    T = 1000
    m = tn(3, T=T, v=[0, 2, 0], leak=[3, -1, 16], floor=[0, 0, 0])
    got = m.potentials(500)
    assert got.tolist() == [1.5, 1.5, 8.0]
    assert m.v.tolist() == [0, 2000, 0] and m.t_last.tolist() == [0, 0, 0]
    assert m.potentials(1 << 61).tolist() == [HI20, 0.0, HI20]   # capped elapsed time, clamped both ways


@pytest.mark.parametrize("reset, expected", [("linear", 3), ("zero", 2), ("none", 13)])
def test_truenorth_integrate_fires_at_threshold_and_resets_by_mode(reset, expected):
    T = 1000
    m = tn(1, T=T, threshold=10, reset=reset, reset_value=2)
    fired = m.integrate(ix(0), ix(100), ix(13 * T))
    assert fired.tolist() == [True]
    assert m.v[0] == expected * T and m.ref[0] == 100 + T and m.n_upd[0] == 1 and m.t_last[0] == 100


def test_truenorth_integrate_threshold_is_inclusive_to_one_unit():
    T = 1000
    m = tn(2, T=T, threshold=10, reset="zero")
    fired = m.integrate(ix(0, 1), ix(7, 7), ix(10 * T, 10 * T - 1))
    assert fired.tolist() == [True, False]
    assert m.v.tolist() == [0, 10 * T - 1]


def test_truenorth_refractory_ends_on_its_exact_picosecond():
    """After a spike at t no spike before t + T: V above threshold at t + T - 1 waits, at t + T fires."""
    T = 1000
    m = tn(1, T=T, threshold=10, reset="none")
    assert m.integrate(ix(0), ix(100), ix(13 * T)).tolist() == [True]
    assert m.integrate(ix(0), ix(100 + T - 1), ix(0)).tolist() == [False]
    assert m.v[0] == 13 * T and m.ref[0] == 100 + T
    assert m.integrate(ix(0), ix(100 + T), ix(0)).tolist() == [True]
    assert m.ref[0] == 100 + 2 * T and m.n_upd[0] == 3


def test_truenorth_integrate_floors_resets_saturates_and_skips_disabled_neurons():
    T = 1000
    m = tn(5, T=T, threshold=[10, 10, 1 << 20, 1 << 20, 10], reset=["zero", "linear", "none", "none", "zero"],
           reset_value=[-5, 0, 0, 0, 0], floor=[3, 3, 0, 1 << 20, 0], enabled=[1, 1, 1, 1, 0])
    fired = m.integrate(ix(0, 1, 2, 3, 4), ix(9, 9, 9, 9, 9), ix(12 * T, -20 * T, 1 << 40, -(1 << 40), 50 * T))
    assert fired.tolist() == [True, False, False, False, False]
    # reset to -5 floored at -3; -20 floored at -3; the top; the bottom (floor below it); no spike when disabled
    assert m.v.tolist() == [-3 * T, -3 * T, HI20 * T, LO20 * T, 50 * T]
    assert m.ref.tolist() == [9 + T, 0, 0, 0, 0]


def test_truenorth_integrate_advances_first_then_adds():
    T = 1000
    m = tn(1, T=T, leak=3, threshold=10, reset="linear")
    assert m.integrate(ix(0), ix(2000), ix(3 * T)).tolist() == [False]   # 6 from the leak + 3
    assert m.v[0] == 9 * T
    assert m.integrate(ix(0), ix(2400), ix(0)).tolist() == [True]         # 9 + 1.2 = 10.2 >= 10
    assert m.v[0] == 200                                                  # linear: 10.2 - 10


def test_truenorth_fire_resets_from_at_least_the_threshold():
    T = 1000
    m = tn(3, T=T, leak=3, threshold=10, reset=["linear", "linear", "zero"], reset_value=[0, 0, 4])
    m.fire(ix(0, 1, 2), ix(3334, 3000, 3334))    # 10.002 and (early) 9.0 and 10.002
    assert m.v.tolist() == [2, 0, 4 * T]           # linear: 10.002 - 10; from below: theta - theta; zero: 4
    assert m.ref.tolist() == [3334 + T, 3000 + T, 3334 + T] and m.t_last.tolist() == [3334, 3000, 3334]


def test_truenorth_predict_is_the_ceiling_crossing_or_the_refractory_end():
    T = 1000
    m = tn(6, T=T, v=[0, 0, 0, 12, 0, 12], leak=[3, 0, -1, 0, 3, 0], threshold=[10, 10, 10, 10, 1 << 20, 10],
           enabled=[1, 1, 1, 1, 1, 0])
    got = m.predict(ix(0, 1, 2, 3, 4, 5)).tolist()
    assert got == [-(-10 * T // 3), NEVER, NEVER, 0, NEVER, NEVER]  # ceil(10T / 3); flat; falling; above now;
    m.ref[:] = 5000                                                # threshold past saturation; disabled
    m.t_last[3] = 200
    got = m.predict(ix(0, 3)).tolist()
    assert got == [5000, 5000]                                     # no spike before the refractory end
    m.v[0], m.t_last[0] = 9 * T + 1, 4000
    assert m.predict(ix(0)).tolist() == [5000]                     # crossing at 4000 + ceil(999 / 3) = 4333
    m.ref[0] = 0
    assert m.predict(ix(0)).tolist() == [4000 + 333]


def test_truenorth_predict_above_threshold_in_the_refractory_period_reads_v_at_its_end():
    """Above threshold before its refractory end (an input in it does not fire): the spike comes at
    the end only if V is still at threshold then -- a down drift of 1/T per ps takes 12 T to 11.2 T
    (still above 10 T), 10.5 T to 9.7 T (below: no crossing ever), 10 T + 800 to exactly 10 T."""
    T = 1000
    m = tn(4, T=T, v=[12, 0, 0, 12], leak=[-1, -1, -1, 3], threshold=10)
    m.v[1], m.v[2] = 10 * T + T // 2, 10 * T + 800
    m.t_last[:] = 200
    m.ref[:] = 1000
    assert m.predict(ix(0, 1, 2, 3)).tolist() == [1000, NEVER, 1000, 1000]


def test_truenorth_reset_all_puts_every_neuron_at_rest_at_t():
    m = tn(2, v=[3, 4], leak=1)
    m.reset_all(777)
    assert m.v.tolist() == [0, 0] and m.t_last.tolist() == [777, 777] and m.ref.tolist() == [777, 777]


# --- TrueNorth: random draws keyed by neuron and count ------------------------------------------------

def _threshold_bits(key: int, g: int, count: int) -> int:
    """24 bits of the stochastic threshold of neuron g at its count-th update, by the rule written out:
    splitmix64(splitmix64(g + splitmix64(key ^ 0x5DEECE66D)) + count)."""
    k = rng.mix64_int(key ^ 0x5DEECE66D)
    return rng.mix64_int((rng.mix64_int((g + k) & M64) + count) & M64) & 0xFFFFFF


def test_stochastic_threshold_is_drawn_per_neuron_and_per_update():
    T, key, mask = 1000, 11, 0xFF
    m = tn(3, T=T, key=key, threshold=[5, 6, 7], threshold_mask=[mask, mask, 0])
    assert m.mask_any
    assert m.theta.tolist() == [(5 + (_threshold_bits(key, 0, 0) & mask)) * T,
                                (6 + (_threshold_bits(key, 1, 0) & mask)) * T, 7 * T]
    m.integrate(ix(0, 1, 2), ix(10, 10, 10), ix(0, 0, 0))
    m.integrate(ix(0), ix(20), ix(0))
    assert m.n_upd.tolist() == [2, 1, 1]
    assert m.theta.tolist() == [(5 + (_threshold_bits(key, 0, 2) & mask)) * T,
                                (6 + (_threshold_bits(key, 1, 1) & mask)) * T, 7 * T]
    assert len({_threshold_bits(key, 0, c) & mask for c in range(3)}) > 1  # the draws do move
    # a stochastic threshold needs each update in order: the all-at-once paths decline every neuron
    assert m.bulk(ix(0, 1), 0, 100, ix(1, 1), ix(0, 0)).tolist() == [False, False]
    ok, sn, st, at = m.scan(ix(0), ix(50), ix(1), ix(0), 0, 100)
    assert ok.tolist() == [False] and sn is None and st is None and at is None


def test_stochastic_threshold_fires_on_the_drawn_value():
    T, key, mask = 1000, 11, 0xFF
    m = tn(1, T=T, key=key, threshold=5, threshold_mask=mask, reset="zero")
    th = 5 + (_threshold_bits(key, 0, 1) & mask)          # the first update draws with count 1
    assert m.integrate(ix(0), ix(1), ix(th * T - 1)).tolist() == [False]
    th2 = 5 + (_threshold_bits(key, 0, 2) & mask)
    need = th2 * T - (th * T - 1)
    assert m.integrate(ix(0), ix(2), ix(need)).tolist() == [True]


def test_neuron_keys_are_splitmix_of_neuron_plus_key():
    assert neuron_keys(9, 4).tolist() == [rng.mix64_int(g + 9) for g in range(4)]


def test_counter_draws_are_the_keyed_splitmix_bits():
    """uniform: the top 53 bits of splitmix64(key + counter), centred in their 2^-53 cell; bits: the low 24 of
    splitmix64(splitmix64(neuron + key) + counter)."""
    from neuroemu.engine.asyncmodels import _counter_bits, _counter_uniform
    keys = np.array([5, 1 << 63, 77], np.uint64)
    got = _counter_uniform(keys, ix(0, 3, 9))
    want = [((rng.mix64_int((k + c) & M64) >> 11) + 0.5) / 2.0**53 for k, c in zip([5, 1 << 63, 77], [0, 3, 9])]
    assert got.tolist() == want and all(0 < x < 1 for x in want)
    bits = _counter_bits(42, ix(0, 7, 7), ix(1, 1, 2))
    assert bits.tolist() == [rng.mix64_int((rng.mix64_int(g + 42) + c) & M64) & 0xFFFFFF
                             for g, c in ((0, 1), (7, 1), (7, 2))]


def _step_offset(key: int, g: int, k: int, T: int) -> int:
    """The instant of neuron g's leak step in tick k, written out: splitmix64(offset key of g + k), its top
    30 bits scaled to [0, T) (T < 2^34), else taken mod T."""
    okey = rng.mix64_int((g + rng.mix64_int(key ^ 0x2545F491)) & M64)
    z = rng.mix64_int((okey + k) & M64)
    return ((z >> 34) * T) >> 30 if T < 1 << 34 else z % T


@pytest.mark.parametrize("T, bits", [(1000, 20), (1 << 35, 8)])
def test_stochastic_leak_steps_fall_at_their_keyed_instants(T, bits):
    """Neuron g steps in tick k when its leak byte is below |leak|, at k T + its keyed offset, by +-1 (x T)."""
    key, n = 7, 12
    leak = [0, 90, -90, 0, 200, -200, 0, 90, -90, 0, 200, -200]
    m = tn(n, T=T, bits=bits, key=key, leak=leak, leak_stochastic=1)
    w0, w1 = 2 * T + T // 3, 6 * T + T // 2
    expected = []
    for k in range(2, 7):
        for g in range(n):
            if leak[g] and rng.leak_byte_int(key, k, g) < abs(leak[g]):
                t = k * T + _step_offset(key, g, k, T)
                if w0 <= t < w1:
                    expected.append((t, g, int(np.sign(leak[g])) * T))
    ids, times, signs = m.leak_steps(w0, w1)
    got = sorted(zip(times.tolist(), ids.tolist(), signs.tolist()))
    assert len(expected) > 10 and got == sorted(expected)
    e = m.leak_steps(w1, w1)
    assert [len(x) for x in e] == [0, 0, 0]
    assert [len(x) for x in tn(2, leak=[3, 4]).leak_steps(0, 10 * T)] == [0, 0, 0]  # no stochastic leak


# --- TrueNorth: the all-at-once paths against a picosecond brute force --------------------------------

def _brute(v0, d, theta, ref, mode, rv, floor, enabled, events, w0, w1):
    """One neuron's window, ps by ps, from the definition: V grows by the drift each ps, an input adds at its
    instant, the neuron fires the first ps V >= theta at or after ``ref`` (at most once: W <= T), then
    resets (linear: - theta, zero: to rv, none: kept; never below the floor). Returns (spike time or
    None, V at w1, V's extreme values) -- no saturation is modelled, so only windows that stay inside the
    bounds are compared."""
    V, spike, seen = v0, None, [v0]
    for t in range(w0, w1):
        if t > w0:
            V += d
            seen.append(V)  # before this ps's input: the drift alone may leave the bounds (clamped there)
        V += events.get(t, 0)
        seen.append(V)
        if spike is None and enabled and t >= ref and V >= theta:
            spike = t
            V = V - theta if mode == 0 else rv if mode == 1 else V
            V = max(V, floor)
            seen.append(V)
    V += d
    seen.append(V)
    return spike, V, min(seen), max(seen)


def _random_window(seed, n=240, T=64):
    r = np.random.default_rng(seed)
    floor = np.where(r.random(n) < 0.8, 1 << 19, r.integers(0, 30, n))
    m = tn(n, T=T, leak=r.integers(-3, 4, n), threshold=r.integers(1, 60, n), reset=r.choice(["linear", "zero", "none"], n),
           reset_value=r.integers(-5, 6, n), floor=floor, v=r.integers(-40, 40, n), enabled=r.random(n) < 0.9)
    w0 = 5 * T
    m.t_last[:] = r.integers(0, w0 + 1, n)
    m.v[:] = m.v + r.integers(-T, T, n)                 # not whole units: V is kept in 1/T
    m.ref[:] = r.integers(w0 - T, w0 + T, n)            # some refractory periods end inside the window
    events = []
    for g in range(n):
        k = int(r.integers(0, 5))
        ts = np.sort(r.choice(np.arange(w0, w0 + T), k, replace=False))
        events.append({int(t): int(s) for t, s in zip(ts, r.integers(-20 * T, 20 * T, k))})
    return m, events, w0, w0 + T


@pytest.mark.parametrize("seed", [1, 2, 3, 27, 28])
def test_scan_gives_every_window_the_picosecond_brute_force(seed):
    m, events, w0, w1 = _random_window(seed)
    n = len(events)
    # the state at w0 by the drift rule, clamped (advance is tested above); the brute force starts there
    v0 = [min(max(int(m.v[g]) + int(m.drift[g]) * (w0 - int(m.t_last[g])), int(m.low[g])), int(m.hi)) for g in range(n)]
    have = [g for g in range(n) if events[g]]
    g_n = np.array([g for g in have for _ in events[g]], np.int64)
    g_t = np.array([t for g in have for t in sorted(events[g])], np.int64)
    g_s = np.array([events[g][t] for g in have for t in sorted(events[g])], np.int64)
    seg = np.flatnonzero(np.r_[True, g_n[1:] != g_n[:-1]])
    before = (m.v.copy(), m.theta.copy(), m.ref.copy())
    ok, sn, st, at = m.scan(g_n, g_t, g_s, seg, w0, w1)
    spikes = dict(zip(sn.tolist(), st.tolist()))
    assert len(sn) == len(spikes)
    at_of = dict(zip(sn.tolist(), at.tolist()))
    handled = 0
    fired = 0
    for j, g in enumerate(have):
        spike, v_end, vmin, vmax = _brute(v0[g], int(m.drift[g]), int(before[1][g]), int(before[2][g]), int(m.reset_mode[g]), int(m.reset_value[g]),
                                          int(m.floor[g]), bool(m.enabled[g]), events[g], w0, w1)
        inside = vmin >= int(m.low[g]) and vmax <= int(m.hi)
        # handled exactly when V stays inside the bounds at every ps (the one-by-one path clamps at
        # each update: a window leaving them, e.g. an input in the refractory period taking V under
        # its floor while the drift is up, must be left to it)
        assert ok[j] == inside, g
        if not ok[j]:
            assert m.v[g] == v0[g] and m.t_last[g] == w0 and g not in spikes  # left at w0 for one by one
            continue
        handled += 1
        assert spikes.get(g) == spike, g
        if spike is not None:
            fired += 1
            assert m.ref[g] == spike + m.T
            grp = [k for k in range(seg[j], seg[j + 1] if j + 1 < len(seg) else len(g_n)) if g_t[k] == spike]
            assert at_of[g] == (grp[0] if grp else -1), g
        m.advance(ix(g), ix(w1))
        assert m.v[g] == v_end, g
    assert handled > 150 and fired > 30


@pytest.mark.parametrize("seed", [4, 5])
def test_bulk_takes_only_windows_that_cannot_fire_or_saturate(seed):
    m, events, w0, w1 = _random_window(seed)
    n = len(events)
    v0 = [min(max(int(m.v[g]) + int(m.drift[g]) * (w0 - int(m.t_last[g])), int(m.low[g])), int(m.hi)) for g in range(n)]
    idx = np.array([g for g in range(n) if events[g]], np.int64)
    pos = np.array([sum(s for s in events[g].values() if s > 0) for g in idx], np.int64)
    neg = np.array([sum(s for s in events[g].values() if s < 0) for g in idx], np.int64)
    m.ref[:] = 0                                  # a spike could come anywhere
    safe = m.bulk(idx, w0, w1, pos, neg)
    assert 20 < safe.sum() < len(idx)
    for j, g in enumerate(idx.tolist()):
        spike, v_end, vmin, vmax = _brute(v0[g], int(m.drift[g]), int(m.alpha[g]), 0, int(m.reset_mode[g]),
                                          int(m.reset_value[g]), int(m.floor[g]), bool(m.enabled[g]), events[g], w0, w1)
        assert m.t_last[g] == w0
        if safe[j]:
            assert spike is None and vmin >= m.low[g] and vmax <= m.hi, g   # in whatever order the inputs come
            assert m.v[g] == v0[g] + pos[j] + neg[j]
            m.advance(ix(g), ix(w1))
            assert m.v[g] == v_end
        else:
            assert m.v[g] == v0[g]


def test_bulk_bounds_are_strict_below_threshold_and_inclusive_at_saturation_and_floor():
    """top = V + positive inputs + rising drift x span must stay < threshold and <= the top; bottom = V +
    negative inputs + falling drift x span >= the floor."""
    T = 1000
    m = tn(7, T=T, v=[1, 0, 1, 1, 0, 0, 5], leak=[2, 2, 0, 0, 0, 0, -1],
           threshold=[10, 10, 10, 10, 1 << 20, 1 << 20, 10], floor=0)
    m.v[4] = m.v[5] = HI20 * T - 500
    pos = ix(3 * T, 8 * T, 0, 0, 499, 500, 0)
    neg = ix(-T, 0, -2 * T, -T, 0, 0, -4 * T)
    safe = m.bulk(ix(0, 1, 2, 3, 4, 5, 6), 0, 1000, pos, neg)
    # 1T + 3T + 2 x 1000 < 10T (bottom 1T - 1T = 0); 8T + 2000 = 10T is not; 1T - 2T < 0; 1T - 1T = 0 ok; top - 1 and top + 0 ok;
    # 5T - 4T - 1 x 1000 = 0 ok
    assert safe.tolist() == [True, False, False, True, True, True, True]
    assert m.v.tolist() == [3 * T, 0, T, 0, HI20 * T - 1, HI20 * T, T]   # V as of w0 plus every input
    m2 = tn(1, T=T, v=[5], leak=-1, floor=0)
    assert m2.bulk(ix(0), 0, 1001, ix(0), ix(-4 * T)).tolist() == [False]   # one ps more of falling drift
    # a rising drift does not lift the bottom: an inhibitory input at w0 comes before any drift
    m3 = tn(1, T=T, v=[1], leak=2, threshold=10, floor=0)
    assert m3.bulk(ix(0), 0, 1000, ix(0), ix(-T - 1)).tolist() == [False]
    assert m3.bulk(ix(0), 0, 1000, ix(0), ix(-T)).tolist() == [True] and m3.v[0] == 0


# --- Cuba: rates, carries, closed forms --------------------------------------------------------------

T = 10**9


def cuba(n=1, du=4096, dv=0, bias=0, threshold=10**6, refractory=0, v=0, u=0, enabled=None, bits=24):
    p = CubaArrays.uniform(n, du=du, dv=dv, bias=bias, threshold=threshold, refractory=refractory)
    for name, value in (("du", du), ("dv", dv), ("bias", bias), ("threshold", threshold), ("refractory", refractory)):
        getattr(p, name)[:] = np.broadcast_to(np.asarray(value), n)
    arrays = SimpleNamespace(params=p, n_neurons=n, v=np.broadcast_to(np.asarray(v, np.int32), n).copy(),
                             u=np.broadcast_to(np.asarray(u, np.int32), n).copy(), neuron_model="cuba_lif")
    en = np.ones(n, bool) if enabled is None else np.asarray(enabled, bool)
    return CubaCT(arrays, en, bits, T, 1)


def rate(d):
    return math.inf if d == 4096 else -math.log(1 - d / 4096) / T


def v_free(s, v0, u0, du, dv, b):
    """v after s ps with no input, written out from dv/dt = -kv v + (u + b) / T, du/dt = -ku u."""
    kv, ku = rate(dv), rate(du)
    ev = math.exp(-kv * s)
    g = (1 - ev) / kv if kv > 0 else s
    if math.isinf(ku):
        phi = 0.0
    elif abs(kv - ku) <= 1e-12 * max(kv, ku):
        phi = s * ev
    else:
        phi = (math.exp(-ku * s) - ev) / (kv - ku)
    return v0 * ev + b / T * g + u0 / T * phi


def test_rates_and_carries_are_the_per_tick_decays_read_in_continuous_time():
    d = np.array([0, 2048, 1024, 4096])
    r = _rate(d, T)
    assert r[0] == 0.0 and r[1] == pytest.approx(math.log(2) / T, rel=1e-15, abs=0)
    assert r[2] == pytest.approx(math.log(4 / 3) / T, rel=1e-15, abs=0) and math.isinf(r[3])
    c = _carry(d, r, T)
    # w (1 - d) k_u T / d: d -> 0 carries w, 1/2 carries ln 2, 1/4 carries 3 ln(4/3), d = 1 nothing
    assert c[0] == 1.0 and c[1] == pytest.approx(math.log(2), rel=1e-15, abs=0)
    assert c[2] == pytest.approx(3 * math.log(4 / 3), rel=1e-15, abs=0) and c[3] == 0.0


def test_cuba_construction_and_refusals_in_one_line():
    m = cuba(3, du=[4096, 2048, 0], dv=[0, 128, 4095], bias=[1, 2, 3], threshold=[7, 8, 9], refractory=[0, 1, 2],
             v=[4, 5, 6], u=[10, 20, 30])
    assert m.instant.tolist() == [True, False, False]
    assert m.u.tolist() == [0.0, 20.0, 30.0]           # an instant current holds nothing
    assert m.v.tolist() == [4.0, 5.0, 6.0] and m.theta.tolist() == [7.0, 8.0, 9.0] and m.bias.tolist() == [1, 2, 3]
    assert m.refr.tolist() == [0, 1, 2] and m.lim == float((1 << 23) - 1)
    assert m.hold.tolist() == [-1, -1, -1] and m.ref.tolist() == [0, 0, 0] and m.T == T and m.input_scale == 1
    assert [len(x) for x in m.leak_steps(0, 10 * T)] == [0, 0, 0] and not m.has_steps
    cuba(2, dv=[4096, 0], enabled=[False, True])         # a disabled neuron's dv 4096 is never run
    with pytest.raises(ConfigError, match=r"network.neuron.dv: 4096 makes v forget") as exc:
        cuba(2, dv=[4096, 0])
    assert "\n" not in str(exc.value)
    p = CubaArrays.uniform(1)
    p.du_syn = np.full((2, 1), 100, np.int32)
    arrays = SimpleNamespace(params=p, n_neurons=1, v=np.zeros(1, np.int32), u=np.zeros(1, np.int32))
    with pytest.raises(ConfigError, match=r"^w: network.neuron: several synaptic currents .*CubaMultiCT"):
        CubaCT(arrays, np.ones(1, bool), 24, T, 1, "w: ")


def test_continuous_model_picks_the_reading_of_the_kernel():
    assert isinstance(continuous_model(tn(1).arrays, np.ones(1, bool), 20, 1000, 1), TrueNorthCT)
    assert isinstance(continuous_model(cuba(1).arrays if False else _cuba_arrays(), np.ones(1, bool), 24, T, 1), CubaCT)


def _cuba_arrays():
    p = CubaArrays.uniform(1)
    return SimpleNamespace(params=p, n_neurons=1, v=np.zeros(1, np.int32), u=np.zeros(1, np.int32),
                           neuron_model="cuba_lif")


@pytest.mark.parametrize("du, dv, bias", [(1024, 128, 7), (300, 300, 0), (64, 0, 3), (4096, 500, 40), (2048, 0, 0)])
def test_cuba_advance_is_the_closed_form(du, dv, bias):
    m = cuba(1, du=du, dv=dv, bias=bias, v=500, u=2000)
    u0 = 0.0 if du == 4096 else 2000.0
    for t in (T // 3, 2 * T, 9 * T + 17):
        m.v[0], m.u[0], m.t_last[0] = 500.0, u0, 0
        m.advance(ix(0), ix(t))
        assert m.v[0] == pytest.approx(v_free(t, 500.0, u0, du, dv, bias), rel=1e-11, abs=0)
        assert m.u[0] == pytest.approx(u0 * math.exp(-rate(du) * t) if du < 4096 else 0.0, rel=1e-12, abs=0)
        assert m.t_last[0] == t


def test_cuba_advance_holds_v_at_zero_while_refractory_and_the_current_still_decays():
    """A spike at 0 with refractory 2: v is 0 through 2T, then integrates from 0 with the current as it is
    at 2T; u decays over the whole time."""
    du, dv, bias = 1024, 128, 30
    m = cuba(1, du=du, dv=dv, bias=bias, threshold=10**6, refractory=2)
    m.u[0] = 5000.0
    m.fire(ix(0), ix(0))
    assert m.hold[0] == 2 * T and m.ref[0] == 3 * T and m.v[0] == 0.0
    m.advance(ix(0), ix(2 * T))
    assert m.v[0] == 0.0
    m.advance(ix(0), ix(3 * T + 5))
    u_at_hold = 5000.0 * math.exp(-rate(du) * 2 * T)
    assert m.v[0] == pytest.approx(v_free(T + 5, 0.0, u_at_hold, du, dv, bias), rel=1e-11, abs=0)
    assert m.u[0] == pytest.approx(5000.0 * math.exp(-rate(du) * (3 * T + 5)), rel=1e-12, abs=0)
    m2 = cuba(1, du=4096, bias=bias, refractory=2)
    m2.fire(ix(0), ix(0))
    m2.advance(ix(0), ix(2 * T + 1))                  # one ps past the hold
    assert m2.v[0] == pytest.approx(bias / T, rel=1e-12, abs=0)


def test_cuba_integrate_jumps_v_carries_the_rest_and_fires_strictly_above():
    m = cuba(3, du=[2048, 4096, 2048], threshold=100)
    fired = m.integrate(ix(0, 1, 2), ix(10, 10, 10), np.array([100.0, 101.0, -40.0]))
    assert fired.tolist() == [False, True, False]      # v > threshold, not >=
    assert m.v.tolist() == [100.0, 0.0, -40.0]
    assert m.u[0] == pytest.approx(100 * math.log(2), rel=1e-15, abs=0) and m.u[1] == 0.0
    assert m.u[2] == pytest.approx(-40 * math.log(2), rel=1e-15, abs=0)
    assert m.hold[1] == 10 and m.ref[1] == 10 + T
    big = cuba(1, threshold=2**30)
    big.integrate(ix(0), ix(0), np.array([1e12]))
    assert big.v[0] == (1 << 23) - 1                   # saturated at the 24-bit limit
    big.integrate(ix(0), ix(1), np.array([-4e12]))
    assert big.v[0] == -((1 << 23) - 1)


def test_cuba_refractory_boundaries_on_the_picosecond():
    """Refractory 2, spike at 0: inputs through 2T are lost to v (held), from 2T + 1 they count, and the
    next spike may come at 3T, not 1 ps before."""
    m = cuba(1, du=4096, threshold=100, refractory=2)
    m.fire(ix(0), ix(0))
    assert m.integrate(ix(0), ix(2 * T), np.array([500.0])).tolist() == [False]
    assert m.v[0] == 0.0
    assert m.integrate(ix(0), ix(2 * T + 1), np.array([500.0])).tolist() == [False]   # counted, too early
    assert m.v[0] == 500.0
    assert m.integrate(ix(0), ix(3 * T - 1), np.array([0.0])).tolist() == [False]
    assert m.integrate(ix(0), ix(3 * T), np.array([0.0])).tolist() == [True]
    assert m.hold[0] == 5 * T and m.ref[0] == 6 * T
    d = cuba(1, du=4096, threshold=100, enabled=[False])
    assert d.integrate(ix(0), ix(0), np.array([500.0])).tolist() == [False]


def _assert_first_ps_above(t, start, v0, u0, du, dv, b, th):
    """t is the first whole ps at which v > th: v(t) above it, v(t - 1) not (unless t is the start)."""
    assert v_free(t - start, v0, u0, du, dv, b) > th
    if t > start:
        assert v_free(t - 1 - start, v0, u0, du, dv, b) <= th


@pytest.mark.parametrize("du, dv, bias, u0, v0, th", [
    (1024, 128, 0, 3000.0, 0.0, 2000.0),     # a decaying current's hump, crossed on its way up
    (1024, 128, 40, 3000.0, 0.0, 2000.0),    # the same with a bias
    (300, 300, 0, 3000.0, 0.0, 1000.0),      # equal rates: the t e^{-ks} kernel
    (1024, 0, 0, 3000.0, 0.0, 5000.0),       # no leak: v rises to v0 + u0 / (T ku) = 10428
    (1024, 128, 200, -6000.0, 0.0, 4000.0),  # a dip, then the bias carries it over
    (4096, 128, 200, 0.0, 0.0, 4000.0),      # no current: relaxes towards b / (T kv) = 6301
    (4096, 0, 3, 0.0, 10.0, 100.0),          # no current, no leak: a ramp of 3 per tick
    (2048, 0, 7, 0.0, 0.0, 50.0),            # a current of 0: the ramp again
    (2048, 0, 7, 1.0, 0.0, 50.0),            # a current of 1 is a current: it adds 1 / ln 2 to the ramp
    (4096, 0, 1, 0.0, 0.0, 3.0),             # the slowest ramp, 1 a tick
])
@pytest.mark.parametrize("t0", [0, 5 * T + 17])
def test_cuba_predicted_crossing_is_the_first_ps_above_threshold(du, dv, bias, u0, v0, th, t0):
    """From the state (v0, u0) at t0 (the neuron's last update), the first whole ps after which v > th."""
    m = cuba(1, du=du, dv=dv, bias=bias, threshold=int(th), v=int(v0))
    m.u[0], m.t_last[0] = u0, t0
    t = int(m.predict(ix(0))[0])
    assert t0 < t < NEVER
    _assert_first_ps_above(t, t0, v0, u0, du, dv, bias, th)
    assert m.v[0] == v0 and m.u[0] == u0 and m.t_last[0] == t0   # predict changes nothing


def test_cuba_ramp_crossing_is_the_closed_form():
    """No leak, no current: v = v0 + b s / T crosses 100 from 10 at s = 30 T exactly, so the first ps above
    is 30 T + 1; with b = 7 the real root 50 T / 7 is not whole, so the first ps above is its ceiling."""
    m = cuba(2, du=4096, dv=0, bias=[3, 7], threshold=[100, 50], v=[10, 0])
    assert m.predict(ix(0, 1)).tolist() == [30 * T + 1, -(-50 * T // 7)]


def test_cuba_relaxation_crossing_is_the_closed_form():
    du, dv, b, th = 4096, 128, 200, 4000.0
    kv = rate(dv)
    v_inf = b / (T * kv)
    s = math.log(v_inf / (v_inf - th)) / kv
    t = int(cuba(1, du=du, dv=dv, bias=b, threshold=int(th)).predict(ix(0))[0])
    assert t in (math.floor(s) + 1, math.ceil(s)) and abs(t - s) <= 1


@pytest.mark.parametrize("du, dv, bias, u0, th", [
    (1024, 128, 0, 3000.0, 10**6),    # the hump stays below
    (1024, 0, 0, 3000.0, 11000.0),    # no leak: v's limit 10428 is below
    (4096, 128, 200, 0.0, 7000.0),    # relaxes towards 6301, below
    (4096, 0, 0, 0.0, 5.0),           # nothing drives it
    (4096, 0, -3, 0.0, 5.0),          # driven down
    (1024, 128, 0, -3000.0, 5.0),     # a negative current
])
def test_cuba_never_crosses_when_bounded_below_threshold(du, dv, bias, u0, th):
    m = cuba(1, du=du, dv=dv, bias=bias, threshold=int(th))
    m.u[0] = u0
    assert m.predict(ix(0)).tolist() == [NEVER]


def test_cuba_predict_waits_for_the_refractory_end_and_skips_disabled():
    """Above threshold already: the crossing is the first time a spike may come (max of now, the hold's end
    + 1 and the refractory end); a disabled neuron never."""
    m = cuba(3, du=4096, threshold=100, refractory=[0, 2, 0], bias=[0, 0, 500], enabled=[True, True, False])
    m.fire(ix(0, 1), ix(0, 0))
    m.integrate(ix(0), ix(T // 2), np.array([300.0]))
    m.v[1] = 300.0
    assert m.predict(ix(0, 1, 2)).tolist() == [T, NEVER, NEVER]   # 1: held at 0 until 2T, nothing drives it
    b = cuba(1, du=4096, bias=50, threshold=100, refractory=2)
    b.fire(ix(0), ix(0))
    # from 0 at the hold's end (2T) a ramp of 50 per tick: above 100 first at 4T + 1, after the refractory end
    assert b.predict(ix(0)).tolist() == [4 * T + 1]
    c = cuba(1, du=4096, bias=500, threshold=100, refractory=2)
    c.fire(ix(0), ix(0))
    # the ramp passes 100 at 2.2 T, but no spike before 3T: then it is already above
    assert c.predict(ix(0)).tolist() == [3 * T]


def test_cuba_predict_starts_at_the_last_update_once_the_refractory_period_is_over():
    """A spike at 0 (refractory 0: spikes again from T), a falling ramp of -3 a tick, an input at 5T leaving v
    at 90 under a threshold of 100: v only falls from there, so never. (Its past, traced back, lay above
    100 before 5T: a search starting at the refractory end would report that past.)"""
    m = cuba(1, du=4096, dv=0, bias=-3, threshold=100)
    m.fire(ix(0), ix(0))
    assert m.integrate(ix(0), ix(5 * T), np.array([105.0])).tolist() == [False]
    assert m.v[0] == 90.0 and m.ref[0] == T
    assert m.predict(ix(0)).tolist() == [NEVER]
    m.bias[0] = 3.0                                   # rising instead: 10 to go at 3 a tick
    assert m.predict(ix(0)).tolist() == [5 * T + -(-10 * T // 3) + (1 if 10 * T % 3 == 0 else 0)]


def test_cuba_potentials_read_without_changing_state_and_reset_all():
    m = cuba(2, du=1024, dv=128, bias=[0, 5], v=[100, 200])
    m.u[:] = [50.0, 0.0]
    got = m.potentials(3 * T)
    assert got[0] == pytest.approx(v_free(3 * T, 100.0, 50.0, 1024, 128, 0), rel=1e-11, abs=0)
    assert got[1] == pytest.approx(v_free(3 * T, 200.0, 0.0, 1024, 128, 5), rel=1e-11, abs=0)
    assert m.v.tolist() == [100.0, 200.0] and m.u.tolist() == [50.0, 0.0] and m.t_last.tolist() == [0, 0]
    m.fire(ix(0), ix(T))
    m.reset_all(7 * T)
    assert m.v.tolist() == [0.0, 0.0] and m.u.tolist() == [0.0, 0.0]
    assert m.t_last.tolist() == [7 * T] * 2 and m.hold.tolist() == [-1, -1] and m.ref.tolist() == [7 * T] * 2


# --- the window's grouping and the integer bisection ----------------------------------------------

@pytest.mark.parametrize("base, w0, w1", [(0, 0, 10), (10**4, -3, 1 << 50)])  # packed keys; the lexsort fallback
def test_group_events_sums_per_neuron_and_instant_in_order(base, w0, w1):
    """(The fallback: neuron ids from 10^4 in a 2^50 ps span pass the 2^62 packing limit.)"""
    nid = ix(2, 0, 2, 0, 1, 0) + base
    tt = ix(5, 7, 5, 3, 7, 3)
    ww = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 0.5])
    syn = np.array([True, False, False, False, False, False])
    g_n, g_t, g_s, g_syn, rank = group_events(nid, tt, ww, syn, w0, w1)
    assert (g_n - base).tolist() == [0, 0, 1, 2] and g_t.tolist() == [3, 7, 7, 5]
    assert g_s.tolist() == [4.5, 2.0, 5.0, 4.0]
    assert g_syn.tolist() == [False, False, False, True]   # any synaptic input makes the group synaptic
    assert rank.tolist() == [0, 1, 0, 0]


def test_first_above_is_the_first_integer_where_the_predicate_holds():
    lo, hi = ix(0, 0, 5, 10), ix(100, 100, 6, 1 << 40)
    ok = np.array([True, False, True, True])
    got = first_above(lo, hi, ok, lambda s: s >= np.array([37, 37, 37, (1 << 39) + 3]))
    assert got.tolist() == [37, 100, 6, (1 << 39) + 3]


def test_ceiling_division():
    assert _cdiv(ix(7, -7, 6, 0), ix(2, 2, 3, 5)).tolist() == [4, -3, 2, 0]


def test_nearly_equal_current_and_voltage_rates_take_the_equal_rate_limit():
    """Float decays (cuba_lif) can give k_u within 1e-12 of k_v: the kernel (e^{-k_u s} - e^{-k_v s}) / (k_v -
    k_u) is then s e^{-k_v s} to 1e-12, and the difference quotient would lose most of its digits."""
    m = cuba(1, du=300, dv=300, v=0)
    kv = float(m.kv[0])
    m.ku[0] = kv * (1 + 1e-13)
    m.u[0] = 3000.0
    s = 7 * T + 3
    m.advance(ix(0), ix(s))
    assert m.v[0] == pytest.approx(3000.0 / T * s * math.exp(-kv * s), rel=1e-10, abs=0)
    # a threshold just under the hump's top (u0 / (T k e) at s = 1 / k): the extremum must be placed exactly
    th = 3000.0 / (T * kv * math.e) * (1 - 1e-7)
    p = cuba(1, du=300, dv=300)
    p.ku[0], p.u[0], p.theta[0] = kv * (1 + 1e-13), 3000.0, th
    t = int(p.predict(ix(0))[0])
    assert 3000.0 / T * t * math.exp(-kv * t) > th >= 3000.0 / T * (t - 1) * math.exp(-kv * (t - 1))


def test_scan_declines_exactly_the_windows_that_leave_the_membrane_range():
    """Input 20 at t = 0 fires a neuron (threshold 10, reset zero) that then drifts +3 units a ps for the
    window's 1000 ps: reset to top - 3 it ends exactly at the top (handled); reset to top - 2 it would pass
    it after the spike (declined, left at w0 for the one-by-one path, which clamps)."""
    T = 1000
    m = tn(2, T=T, leak=3, threshold=10, reset="zero", reset_value=[HI20 - 3, HI20 - 2])
    g_n, g_t, g_s, seg = ix(0, 1), ix(0, 0), ix(20 * T, 20 * T), ix(0, 1)
    ok, sn, st, at = m.scan(g_n, g_t, g_s, seg, 0, T)
    assert ok.tolist() == [True, False]
    assert sn.tolist() == [0] and st.tolist() == [0] and at.tolist() == [0]
    m.advance(ix(0), ix(T))
    assert m.v[0] == HI20 * T and m.v[1] == 0 and m.t_last[1] == 0


@pytest.mark.parametrize("du, dv", [(1024, 128), (2048, 64), (300, 1000), (300, 300)])
def test_a_threshold_just_under_the_humps_top_is_crossed_near_the_top(du, dv):
    """No bias, v0 = 0, a decaying current: v = u0 / T (e^{-ku s} - e^{-kv s}) / (kv - ku) peaks at
    s* = ln(ku / kv) / (ku - kv) (equal rates: v = u0 / T s e^{-ks}, peaking at 1 / k). A threshold 1e-7
    under that peak is above it only within a few thousandths of s*: the crossing must be found there
    (the first ps above), not missed."""
    ku, kv, u0 = rate(du), rate(dv), 3000.0
    s_star = 1 / kv if du == dv else math.log(ku / kv) / (ku - kv)
    top = v_free(s_star, 0.0, u0, du, dv, 0)
    th = top * (1 - 1e-7)
    m = cuba(1, du=du, dv=dv)
    m.u[0], m.theta[0] = u0, th
    t = int(m.predict(ix(0))[0])
    assert abs(t - s_star) < 0.01 * s_star
    _assert_first_ps_above(t, 0, 0.0, u0, du, dv, 0, th)
    m.theta[0] = top * (1 + 1e-9)
    assert m.predict(ix(0)).tolist() == [NEVER]


def test_group_events_keeps_neuron_order_at_the_top_of_the_clock():
    """Packed keys (neuron x span + offset) are used only while they fit an int64: neuron 2^59 - 1 in a window
    of 8 ps starting past 2^61 ps sorts after neuron 0."""
    w0 = (1 << 61) + 4
    g_n, g_t, g_s, _, rank = group_events(ix((1 << 59) - 1, 0), ix(w0 + 5, w0 + 1), np.array([1.0, 2.0]),
                                          np.array([True, True]), w0, w0 + 8)
    assert g_n.tolist() == [0, (1 << 59) - 1] and g_t.tolist() == [w0 + 1, w0 + 5] and g_s.tolist() == [2.0, 1.0]
    assert rank.tolist() == [0, 0]


def test_a_hump_inside_the_first_ps_of_a_tiny_tick_is_crossed_at_1_ps():
    """A 1 ps tick (rates of about 1/ps: du 4095, dv 4000), v0 = 0, no bias, u0 = 1000: v = u0 / T (e^{-ku s} -
    e^{-kv s}) / (kv - ku) peaks at s* = ln(ku / kv) / (ku - kv) = 0.174 ps (62.49) and is 5.08 at 1 ps, 2.66
    at s* + 1: over a threshold of 4 the first whole ps above is 1 (a search that skips the hump because it
    lies inside the first ps, probing from s* + T on, finds v falling and says never)."""
    p = CubaArrays.uniform(1, du=4095, dv=4000, bias=0, threshold=4, refractory=0)
    for name, value in (("du", 4095), ("dv", 4000), ("bias", 0), ("threshold", 4), ("refractory", 0)):
        getattr(p, name)[:] = value
    arrays = SimpleNamespace(params=p, n_neurons=1, v=np.zeros(1, np.int32), u=np.zeros(1, np.int32),
                             neuron_model="cuba_lif")
    m = CubaCT(arrays, np.ones(1, bool), 24, 1, 1)
    m.u[0] = 1000.0
    ku, kv = math.log(4096), -math.log(96 / 4096)

    def v(s):
        return 1000.0 * (math.exp(-ku * s) - math.exp(-kv * s)) / (kv - ku)
    s_star = math.log(ku / kv) / (ku - kv)
    assert 0 < s_star < 1 and v(s_star) > 62 and 4 < v(1) < 5.1 and v(s_star + 1) < 4
    assert m.predict(ix(0)).tolist() == [1]
    # over 60 the hump is above threshold only between 0 and 1 ps: no whole ps is above, so never (a
    # crossing at 1 ps would fire the neuron with v = 5.08)
    m.theta[0] = 60.0
    assert m.predict(ix(0)).tolist() == [NEVER]


def _one_by_one(m, g, events, w1):
    """Neuron ``g``'s window as the loop's one-by-one path runs it (a crossing before an update
    fires first; one left before the window's end fires there): its spike times."""
    spikes, pend = [], int(m.predict(ix(g))[0])
    for t in sorted(events) + [w1]:
        if pend < t:
            m.fire(ix(g), ix(pend))
            spikes.append(pend)
            pend = int(m.predict(ix(g))[0])
        if t < w1:
            if m.integrate(ix(g), ix(t), ix(events[t]))[0]:
                spikes.append(t)
            pend = int(m.predict(ix(g))[0])
    return spikes


@pytest.mark.parametrize("seed", [6, 7, 8])
def test_scan_leaves_the_state_and_crossing_of_the_one_by_one_path(seed):
    """After a window (one that starts before a neuron's inputs, as any cut of at most min(L, tick)
    may), the all-at-once scan leaves each neuron as the one-by-one path does: V and its time as of
    the last event, so the next predicted crossing is the same. (Kept as of w0 with the later inputs
    already in, V read as above threshold at w0 while a down drift keeps it below: a spike at w0
    the one-by-one path never fires -- the numpy split run's extra spikes.)"""
    import copy
    m, events, w0, w1 = _random_window(seed)
    m.v[:] = np.clip(m.v, m.low, m.hi)  # the loop's states are inside the bounds (clamped on each update)
    n = len(events)
    # the loop never holds a crossing overdue at a window's start: only neurons whose crossing is ahead
    have = [g for g in range(n) if events[g] and int(m.predict(ix(g))[0]) >= w0]
    slow = copy.deepcopy(m)
    g_n = np.array([g for g in have for _ in events[g]], np.int64)
    g_t = np.array([t for g in have for t in sorted(events[g])], np.int64)
    g_s = np.array([events[g][t] for g in have for t in sorted(events[g])], np.int64)
    seg = np.flatnonzero(np.r_[True, g_n[1:] != g_n[:-1]])
    ok, sn, st, _ = m.scan(g_n, g_t, g_s, seg, w0, w1)
    spikes = dict(zip(sn.tolist(), st.tolist()))
    down = 0
    for j, g in enumerate(have):
        if not ok[j]:
            continue
        mine = [spikes[g]] if g in spikes else []
        pend = int(m.predict(ix(g))[0])
        if pend < w1:  # the loop's window end: a crossing left inside the window fires there
            m.fire(ix(g), ix(pend))
            mine.append(pend)
        assert mine == _one_by_one(slow, g, events[g], w1), g
        assert (m.v[g], m.t_last[g], m.ref[g]) == (slow.v[g], slow.t_last[g], slow.ref[g]), g
        assert m.predict(ix(g))[0] == slow.predict(ix(g))[0], g
        down += int(m.drift[g] < 0 and min(events[g]) > w0)
    assert down > 20
