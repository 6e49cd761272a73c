"""``loihi_cuba`` / ``cuba_lif`` with several synaptic currents, read in continuous time.

The one-current reading (:class:`neuroemu.engine.asyncmodels.CubaCT`, docs/async.md) extended to
K currents (``params.du_syn`` [K, n], an input's current chosen by its synapse type): current k
decays at its own rate ku_k = -ln(1 - du_k / 4096) / T, and

    dv/dt = -k_v v + (bias + sum_k u_k) / T

so v(s) = A + B e^{-k_v s} + sum_k C_k e^{-ku_k s}. An input w of type k is a jump of v by w plus
w x carry_k into u_k (the rest of the tick's charge, as for one current); du_k = 4096 makes it a
jump of v alone. With K currents v has up to K extrema, so the first threshold crossing is found
by splitting time at the zeros of v' (a sum of K + 1 exponentials, whose zeros are found
recursively: a sum of N exponentials times e^{r_min s} has a derivative of N - 1 exponentials,
whose zeros split it into pieces with at most one zero each) and bisecting, on integer ps, the
first piece whose right end lies above threshold. Everything is vectorised over the neurons.

A voltage floor ``v_min`` (the tick clamps v to it after each update) is read as a wall: v is held
at the floor while the drift there, D(s) = -k_v v_min + (bias + sum_k u_k(s)) / T, points down, and
leaves it, on the free trajectory from (v_min, u), at the first whole ps where D >= 0. Between
events v is followed leg by leg: a free leg up to the first ps below the floor (found as a
threshold crossing of -v), then a floor leg up to the first ps where D >= 0 (D is a constant plus
K decaying exponentials; bisected the same way). One current with a floor runs here too (K = 1):
the one-current model (CubaCT) takes no floor, so a run without one keeps its path. Inputs land
on the floor too: v = max(v + w, v_min), as the tick clamps.
"""
from __future__ import annotations

import numpy as np

from neuroemu.engine.asyncmodels import NEVER, CubaCT, _carry, _rate, first_above, continuous_model as _one_current

#: the prediction looks this far ahead (ps); the clock's limit is 2^62
_HORIZON_PS = np.int64(2**61)


def _eval(a: np.ndarray, r: np.ndarray, s: np.ndarray) -> np.ndarray:
    """sum_j a_j e^{-r_j s} per row (a, r: [m, N], r >= 0; s: [m])."""
    return (a * np.exp(-r * s[:, None])).sum(axis=1)


def _zeros(a: np.ndarray, r: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """The zeros in (0, hi) of f(s) = sum_j a_j e^{-r_j s} (r >= 0), ascending, padded with inf: [m, N - 1].

    f e^{r_0 s} (r_0 the smallest rate) has the same zeros and a derivative of N - 1 exponentials
    with rates r_j - r_0 >= 0; between that derivative's zeros f e^{r_0 s} is monotone, so it has
    at most one zero there, found by bisection (a sum of N exponentials has at most N - 1 zeros).
    Past the time where the slowest term outweighs all the others together f keeps its sign, so
    no zero is looked for beyond it.
    """
    m, N = a.shape
    out = np.full((m, max(N - 1, 0)), np.inf)
    if N < 2 or m == 0:
        return out
    order = np.argsort(r, axis=1, kind="stable")
    a, r = np.take_along_axis(a, order, 1), np.take_along_axis(r, order, 1)
    g_a, g_r = a, r - r[:, :1]                      # g = f e^{r_0 s}, same zeros
    flat = g_r == 0
    c0 = np.abs(np.where(flat, g_a, 0.0).sum(axis=1))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        past = np.log((N - 1) * np.abs(g_a) / c0[:, None]) / g_r
    past = np.where(flat | (g_a == 0), 0.0, np.where(np.isnan(past), np.inf, past))
    hi = np.minimum(hi, np.maximum(past.max(axis=1), 0.0) + 1.0)
    inner = _zeros(-g_a[:, 1:] * g_r[:, 1:], g_r[:, 1:], hi)  # zeros of g' (the r_0 term is constant)
    pts = np.concatenate([np.zeros((m, 1)), np.minimum(inner, hi[:, None]), hi[:, None]], axis=1)
    found = np.zeros(m, np.int64)
    for j in range(pts.shape[1] - 1):
        lo, up = pts[:, j], pts[:, j + 1]
        f_lo, f_up = _eval(g_a, g_r, lo), _eval(g_a, g_r, up)
        rows = np.flatnonzero((up > lo) & (np.sign(f_lo) * np.sign(f_up) < 0))
        if not len(rows):
            continue
        ra, rr, lo, up, f_lo = g_a[rows], g_r[rows], lo[rows], up[rows], f_lo[rows]
        for _ in range(100):  # halving a bracket of at most 2^61 ps below a quarter ps
            if not (up - lo > 0.25).any():
                break
            mid = 0.5 * (lo + up)
            f_mid = _eval(ra, rr, mid)
            same = np.sign(f_mid) == np.sign(f_lo)
            lo, f_lo = np.where(same, mid, lo), np.where(same, f_mid, f_lo)
            up = np.where(same, up, mid)
        out[rows, np.minimum(found[rows], N - 2)] = 0.5 * (lo + up)
        found[rows] += 1
    return np.sort(out, axis=1)


def _first_ps(a: np.ndarray, r: np.ndarray, hi: np.ndarray, test) -> tuple[np.ndarray, np.ndarray]:
    """The first whole ps s in [0, hi] at which ``test(s)`` holds, per row: (found mask, s).

    ``test`` compares some f with a level (int64 s [m] -> bool [m]), f' = sum_j a_j e^{-r_j s}
    (``a``, ``r``: [m, N]). f is monotone between the zeros of f', so the integer points 0, each
    zero's floor and floor + 1, and ``hi`` cut [0, hi] into pieces on whose whole ps f is
    monotone: the first point where ``test`` holds ends a bracket whose left end fails it, and
    bisection on integer ps finds the first ps inside.
    """
    m = len(hi)
    if m == 0:
        return np.zeros(0, bool), np.zeros(0, np.int64)
    hf = hi.astype(np.float64)[:, None]
    z = _zeros(a, r, hf[:, 0])
    fz = np.floor(np.minimum(z, hf))
    pts = np.concatenate([np.zeros((m, 1)), np.stack([fz, fz + 1], axis=2).reshape(m, -1), hf], axis=1)
    pts = np.minimum(np.sort(pts, axis=1), hf).astype(np.int64)
    above = np.stack([test(pts[:, j]) for j in range(pts.shape[1])], axis=1)
    ok = above.any(axis=1)
    j = np.argmax(above, axis=1)
    up = pts[np.arange(m), j]
    lo = np.where(j > 0, pts[np.arange(m), np.maximum(j - 1, 0)], 0)
    return ok, first_above(lo, up, ok, test)


class CubaMultiCT(CubaCT):
    """``loihi_cuba`` / ``cuba_lif`` with K synaptic currents and an optional voltage floor in
    continuous time (module docstring).

    ``u`` is [K, n]; :meth:`integrate` takes the summed input per current, [m, K].
    """

    def __init__(self, arrays, enabled: np.ndarray, membrane_bits: int, tick_ps: int, key: int, where: str = ""):
        p = arrays.params
        super().__init__(arrays, enabled, membrane_bits, tick_ps, key, where, multi=True)
        n = arrays.n_neurons
        du = (p.du[None, :] if p.du_syn is None else p.du_syn).astype(np.int64)
        # the floor as the tick applies it (v_min below the saturation limit is the limit); None:
        # no floor, and none of its paths run
        self.floor = None if p.v_min is None else np.maximum(p.v_min.astype(np.float64), -self.lim)
        self.n_currents = K = len(du)
        self.ku = _rate(du, tick_ps)                        # [K, n]
        self.instant = ~np.isfinite(self.ku)
        self.carry = _carry(du, self.ku, tick_ps)
        u = arrays.u.astype(np.float64).reshape(K, n)
        self.u = np.where(self.instant, 0.0, u)

    def _phi(self, idx: np.ndarray, dt: np.ndarray) -> np.ndarray:
        """[K, m]: v's response at dt to a unit current u_k(0) = T (the current's kernel)."""
        kv, ku = self.kv[idx], self.ku[:, idx]
        ev = np.exp(-kv * dt)
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            eu = np.exp(-np.where(np.isfinite(ku), ku, 0.0) * dt)
            diff = kv - ku
            same = np.abs(diff) <= 1e-12 * np.maximum(kv, 1e-300)
            phi = np.where(same, dt * ev, (eu - ev) / np.where(same, 1.0, diff))
        return np.where(np.isfinite(ku), phi, 0.0)

    def _v_at(self, idx: np.ndarray, dt: np.ndarray, v0: np.ndarray, u0: np.ndarray) -> np.ndarray:
        """v after dt ps of free evolution from (v0, u0 [K, m]) (no hold, no input)."""
        kv, b, T = self.kv[idx], self.bias[idx], self.T
        ev = np.exp(-kv * dt)
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            g = np.where(kv > 0, -np.expm1(-kv * dt) / np.where(kv > 0, kv, 1.0), dt)
        # (u0 / T) phi, summed: for K = 1 the very operations of CubaCT._v_at, so a floor that is
        # never reached changes no bit of a one-current run
        return v0 * ev + b / T * g + (u0 / T * self._phi(idx, dt)).sum(axis=0)

    def _u_at(self, idx: np.ndarray, dt, u0: np.ndarray) -> np.ndarray:
        ku = np.where(self.instant[:, idx], 0.0, self.ku[:, idx])
        return u0 * np.exp(-ku * dt)

    def advance(self, idx: np.ndarray, t: np.ndarray) -> None:
        """State of neurons ``idx`` carried to times ``t`` in closed form (v frozen while held)."""
        t0, u0, hold = self.t_last[idx], self.u[:, idx], self.hold[idx]
        start = np.minimum(np.maximum(t0, hold), t)
        u_start = self._u_at(idx, start - t0, u0)
        v0 = np.where(t0 < hold, 0.0, self.v[idx])
        if self.floor is None:
            v = self._v_at(idx, (t - start).astype(np.float64), v0, u_start)
        else:
            v = self._floored(idx, t - start, v0, u_start)
        v = np.where(t <= hold, 0.0, v)
        self.v[idx] = np.clip(v, -self.lim, self.lim)
        self.u[:, idx] = self._u_at(idx, t - t0, u0)
        self.t_last[idx] = t

    def integrate(self, idx: np.ndarray, t: np.ndarray, s: np.ndarray) -> np.ndarray:
        """One update at ``t`` with summed input ``s`` [m, K] (one column per current); the mask of
        those that fire. Each current takes its input's carry; v jumps by the inputs' sum."""
        self.advance(idx, t)
        s = np.asarray(s, np.float64).reshape(len(idx), self.n_currents).T
        held = t <= self.hold[idx]
        self.u[:, idx] = np.clip(np.where(self.instant[:, idx], 0.0, self.u[:, idx] + s * self.carry[:, idx]),
                                 -self.lim, self.lim)
        low = -self.lim if self.floor is None else self.floor[idx]  # an input lands on the floor, as the tick clamps
        v = np.where(~held, np.clip(self.v[idx] + s.sum(axis=0), low, self.lim), self.v[idx])
        self.v[idx] = v
        fired = (v > self.theta[idx]) & (t >= self.ref[idx]) & self.enabled[idx]
        self._spike(idx[fired], t[fired])
        return fired

    def _slope_terms(self, idx: np.ndarray, v0: np.ndarray, u0: np.ndarray):
        """v'(s) = sum_j a_j e^{-r_j s}: coefficients and rates [m, K + 1] (term 0: the voltage's)."""
        T, kv, b = float(self.T), self.kv[idx], self.bias[idx]
        ku = np.where(self.instant[:, idx], 0.0, self.ku[:, idx])
        u0 = np.where(self.instant[:, idx], 0.0, u0)
        with np.errstate(divide="ignore", invalid="ignore"):
            diff = kv - ku
            # rates equal to k_v (t e^{-ks} terms) are nudged apart: the split points only need to be near.
            # The rate itself moves with the difference (ku = kv - diff), or the two terms, at one rate
            # with opposite coefficients, would cancel and v' would lose the current
            near = np.abs(diff) <= 1e-9 * np.maximum(kv, 1e-300)
            diff = np.where(near, 1e-9 * np.maximum(kv, 1e-300), diff)
            ku = np.where(near & (kv > 0), kv - diff, ku)
            c = u0 / (T * diff)                                     # v's e^{-ku_k s} coefficients
        leak = kv > 0
        a_v = np.where(leak, -kv * (v0 - b / (T * np.where(leak, kv, 1.0)) - c.sum(axis=0)), b / T)
        a_k = np.where(leak, -ku * c, u0 / T)
        a = np.concatenate([a_v[None, :], a_k], axis=0).T
        r = np.concatenate([kv[None, :], ku], axis=0).T
        return np.where(np.isfinite(a), a, 0.0), r

    def predict(self, idx: np.ndarray) -> np.ndarray:
        """When each neuron's v first exceeds threshold with no further input (NEVER if never): the
        first whole ps above threshold, found piece by piece between the extrema of v."""
        n = len(idx)
        out = np.full(n, NEVER, np.int64)
        if n == 0:
            return out
        t0 = self.t_last[idx]
        start = np.maximum(np.maximum(t0, self.hold[idx] + 1), self.ref[idx])
        save = self.v[idx].copy(), self.u[:, idx].copy(), t0.copy()
        self.advance(idx, start)
        v0, u0 = self.v[idx].copy(), self.u[:, idx].copy()
        self.v[idx], self.u[:, idx], self.t_last[idx] = save
        th = self.theta[idx]
        now = v0 > th
        out[now] = start[now]
        kv, b, T = self.kv[idx], self.bias[idx], self.T
        with np.errstate(divide="ignore", invalid="ignore"):
            v_inf = np.where(kv > 0, b / (T * np.where(kv > 0, kv, 1.0)), np.where(b > 0, np.inf, -np.inf))
            gain = np.where(self.instant[:, idx] | (u0 <= 0), 0.0,
                            u0 / (T * np.where(np.isfinite(self.ku[:, idx]), self.ku[:, idx], 1.0))).sum(axis=0)
        cand = ~now & (np.maximum(v0, v_inf) + gain > th) & self.enabled[idx]  # v stays below the bound
        if not cand.any():
            return out
        ci = np.flatnonzero(cand)
        if self.floor is not None:
            # neurons whose v may reach the floor before threshold are followed leg by leg; the
            # bound above holds with the floor too (the floor only restarts v lower, with less current)
            walk = self._low(idx[ci], v0[ci], u0[:, ci]) < self.floor[idx[ci]]
            if walk.any():
                w = ci[walk]
                got = self._walk(idx[w], np.full(len(w), _HORIZON_PS), v0[w], u0[:, w], th[w])
                out[w] = np.where(got >= 0, start[w] + got, NEVER)
                ci = ci[~walk]
        sub, vv, uu, thc = idx[ci], v0[ci], u0[:, ci], th[ci]
        a, r = self._slope_terms(sub, vv, uu)
        # v's extrema split time; the first whole ps above threshold (module docstring)
        ok, hi = _first_ps(a, r, np.full(len(ci), _HORIZON_PS),
                           lambda s: self._v_at(sub, s.astype(np.float64), vv, uu) > thc)
        out[ci] = np.where(ok, start[ci] + hi, NEVER)
        return out

    # --- the voltage floor (module docstring) ---
    def _low(self, idx: np.ndarray, v0: np.ndarray, u0: np.ndarray, dt: np.ndarray | None = None) -> np.ndarray:
        """A lower bound of the free v from (v0, u0 [K, m]) over [0, dt] (None: all future time).

        v = (v0 relaxing towards v_inf, monotone) + sum_k u_k phi_k / T with 0 <= phi_k(s) <=
        min(s, 1 / k_u): a current u_k < 0 takes at most u_k min(dt, 1 / k_u) / T from v.
        """
        kv, b, T = self.kv[idx], self.bias[idx], float(self.T)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            if dt is None:
                v_lo = np.where(kv > 0, b / (T * np.where(kv > 0, kv, 1.0)), np.where(b < 0, -np.inf, v0))
                span = np.inf
            else:
                span = dt.astype(np.float64)
                g = np.where(kv > 0, -np.expm1(-kv * span) / np.where(kv > 0, kv, 1.0), span)
                v_lo = v0 * np.exp(-kv * span) + b / T * g
            reach = np.minimum(span, 1.0 / np.where(self.instant[:, idx], np.inf, self.ku[:, idx]))
            drop = np.where(self.instant[:, idx] | (u0 >= 0), 0.0, u0 * reach / T)
        return np.minimum(v0, v_lo) + drop.sum(axis=0)

    def _drift(self, idx: np.ndarray, q: np.ndarray, u0: np.ndarray) -> np.ndarray:
        """D at the floor, q ps after a state with currents ``u0`` [K, m]: v's slope there."""
        kv, b, T = self.kv[idx], self.bias[idx], float(self.T)
        return -kv * self.floor[idx] + b / T + (u0 / T * self._u_at(idx, q, np.ones_like(u0))).sum(axis=0)

    def _floored(self, idx: np.ndarray, dt: np.ndarray, v0: np.ndarray, u0: np.ndarray) -> np.ndarray:
        """v after ``dt`` (int64 ps) from (v0, u0 [K, m]) with the floor. Neurons whose free v cannot
        reach the floor keep the free value, bit for bit."""
        v = self._v_at(idx, dt.astype(np.float64), v0, u0)
        fl = self.floor[idx]
        rows = np.flatnonzero((dt > 0) & ((v < fl) | (self._low(idx, v0, u0, dt) < fl)))
        if len(rows):
            v[rows] = self._walk(idx[rows], dt[rows], v0[rows], u0[:, rows])
        return np.maximum(v, fl)

    def _walk(self, idx: np.ndarray, hi: np.ndarray, v0: np.ndarray, u0: np.ndarray, th: np.ndarray | None = None):
        """Follow v from (v0, u0 [K, m]) over [0, hi] whole ps with the floor, leg by leg.

        ``th`` None: v at ``hi``. Otherwise the first ps at which v > th (-1: none up to ``hi``).
        A leg: on the floor with D < 0 -> hold there until the first ps with D >= 0 (none: v stays
        on the floor); otherwise the free trajectory up to its first ps below the floor (or above
        th), where the next floor leg begins.
        """
        m = len(idx)
        fl = self.floor[idx]
        s = np.zeros(m, np.int64)               # where the current leg starts (ps from the state)
        vs = v0.astype(np.float64).copy()
        out = np.full(m, -1, np.int64) if th is not None else np.empty(m)
        live = np.ones(m, bool)
        # D is a constant plus K decaying exponentials: it changes sign at most K times, and each
        # return to the floor after leaving it takes two changes, so K + 2 legs cover every path
        # (the spare ones absorb ps-rounding touches where D is ~0); a neuron still live after
        # them continues on the free trajectory: clamped at the floor (advance), or searched for
        # threshold alone (predict; the floor only lifts v, so no crossing is invented)
        for _ in range(self.n_currents + 2):
            r = np.flatnonzero(live)
            if not len(r):
                break
            sub, us, vr, flr, left = idx[r], self._u_at(idx[r], s[r], u0[:, r]), vs[r], fl[r], hi[r] - s[r]
            # a free leg, unless v sits on the floor with the drift pointing down
            p = np.zeros(len(r), np.int64)
            down = (vr <= flr) & (self._drift(sub, np.zeros(len(r)), us) < 0)
            free = np.flatnonzero(~down)
            if len(free):
                f_sub, f_v, f_u, f_fl = sub[free], vr[free], us[:, free], flr[free]
                a, rr = self._slope_terms(f_sub, f_v, f_u)
                if th is None:
                    test = lambda q: self._v_at(f_sub, q.astype(np.float64), f_v, f_u) < f_fl
                else:
                    f_th = th[r[free]]

                    def test(q):
                        x = self._v_at(f_sub, q.astype(np.float64), f_v, f_u)
                        return (x > f_th) | (x < f_fl)
                ok, at = _first_ps(a, rr, left[free], test)
                end = r[free[~ok]]              # no floor and no crossing before hi
                if th is None:
                    out[end] = self._v_at(f_sub[~ok], left[free[~ok]].astype(np.float64), f_v[~ok], f_u[:, ~ok])
                live[end] = False
                if th is not None:
                    crossed = ok.copy()
                    crossed[ok] = self._v_at(f_sub[ok], at[ok].astype(np.float64), f_v[ok], f_u[:, ok]) > f_th[ok]
                    out[r[free[crossed]]] = s[r[free[crossed]]] + at[crossed]
                    live[r[free[crossed]]] = False
                    ok &= ~crossed
                p[free] = np.where(ok, at, -1)
            # floor legs: from s + p until the first ps with D >= 0
            g = np.flatnonzero(live[r] & (p >= 0))
            if not len(g):
                continue
            rg, s_in = r[g], s[r[g]] + p[g]
            g_sub, g_u, g_left = idx[rg], self._u_at(idx[rg], s_in, u0[:, rg]), hi[rg] - s_in
            # D stays below zero up to hi when even its positive currents at full strength and its
            # negative ones decayed to hi cannot lift it: no search
            ku = np.where(self.instant[:, g_sub], 0.0, self.ku[:, g_sub])
            top = self._drift(g_sub, np.zeros(len(g)), np.maximum(g_u, 0.0)) + (
                np.minimum(g_u, 0.0) / float(self.T) * np.exp(-ku * g_left.astype(np.float64))).sum(axis=0)
            ok, q = np.zeros(len(g), bool), np.zeros(len(g), np.int64)
            look = np.flatnonzero(top >= 0)
            if len(look):
                l_sub, l_u = g_sub[look], g_u[:, look]
                ok[look], q[look] = _first_ps((-ku[:, look] * l_u / float(self.T)).T, ku[:, look].T, g_left[look],
                                              lambda x: self._drift(l_sub, x.astype(np.float64), l_u) >= 0)
            stay = rg[~ok]                       # on the floor up to hi
            if th is None:
                out[stay] = fl[stay]
            live[stay] = False
            s[rg[ok]] = s_in[ok] + q[ok]
            vs[rg[ok]] = fl[rg[ok]]
        r = np.flatnonzero(live)
        if len(r):
            sub, us, vr, left = idx[r], self._u_at(idx[r], s[r], u0[:, r]), vs[r], hi[r] - s[r]
            if th is None:
                out[r] = np.maximum(self._v_at(sub, left.astype(np.float64), vr, us), fl[r])
            else:
                a, rr = self._slope_terms(sub, vr, us)
                ok, at = _first_ps(a, rr, left, lambda q: self._v_at(sub, q.astype(np.float64), vr, us) > th[r])
                out[r] = np.where(ok, s[r] + at, -1)
        return out


def continuous_model(arrays, enabled: np.ndarray, membrane_bits: int, tick_ps: int, key: int, where: str = "",
                     offset: int = 0):
    """The continuous-time reading of the arrays' neuron model (several currents or a voltage floor:
    :class:`CubaMultiCT`; ``offset``: the first neuron's global id, which keys random draws)."""
    p = arrays.params
    if getattr(p, "du_syn", None) is not None or getattr(p, "v_min", None) is not None:
        return CubaMultiCT(arrays, enabled, membrane_bits, tick_ps, key, where)
    return _one_current(arrays, enabled, membrane_bits, tick_ps, key, where, offset)
