"""The tick-defined neuron models read in continuous time, as arrays (the async engine's neurons).

Each model here holds its neurons' state in float64 arrays with the time ``t_last`` (int ps) it
refers to, and offers vectorised operations over any index set: :meth:`advance` (closed form over
the elapsed time), :meth:`integrate` (one update: add the summed input of one instant, fire,
reset), :meth:`fire` (a spike at a predicted crossing) and :meth:`predict` (the time the neuron
reaches threshold on its own, or NEVER). The reading of each per-tick model in continuous time
is documented in docs/async.md; in short, with T the tick:

- ``truenorth_lif``: a deterministic leak lambda per tick is a drift of lambda / T per ps; a
  stochastic leak is a Poisson process of unit steps (sign of lambda) at |lambda| / 256 per tick,
  each step an event of the neuron drawn from the counter-based generator keyed (seed, neuron,
  step index); the stochastic threshold is redrawn at each update, keyed (seed, neuron, update
  index); saturation and the floor clamp; reset linear / zero / none as per tick. A neuron fires
  at most once per T (the tick becomes its shortest inter-spike interval).
- ``loihi_cuba`` / ``cuba_lif``: u and v decay exponentially at rates -ln(1 - d / 4096) / T, and
  dv/dt = -k_v v + (u + bias) / T; an input w is a jump of v by w (the tick adds it in its own
  step) plus w (1 - d) k_u T / d into u (the rest of the tick's charge, w (1 - d) / d); du = 4096
  (the current lasts one timestep) makes an input a jump of v alone. After a spike v is held at 0 for ``refractory`` x T, and the next spike comes no
  sooner than (refractory + 1) x T. Several synaptic currents and a voltage floor (``v_min``):
  :mod:`neuroemu.engine.asynccuba`.
"""
from __future__ import annotations

import numpy as np

from neuroemu.errors import ConfigError
from neuroemu.models import rng
from neuroemu.models.loihi import DECAY_UNITY, cuba_range
from neuroemu.models.neuron import membrane_range

NEVER = np.int64(2**62)
_U53 = 1.0 / (1 << 53)


def neuron_keys(key: int, n: int) -> np.ndarray:
    """One 64-bit key per neuron: splitmix64(neuron + key)."""
    return rng.mix64(np.arange(n, dtype=np.uint64) + np.uint64(key))


def _counter_uniform(keys: np.ndarray, counter: np.ndarray) -> np.ndarray:
    """Uniform (0, 1) per (neuron key, counter), from splitmix64 (same bits on every platform)."""
    z = rng.mix64(keys + counter.astype(np.uint64))
    return ((z >> np.uint64(11)).astype(np.float64) + 0.5) * _U53


def _counter_bits(key: int, neurons: np.ndarray, counter: np.ndarray) -> np.ndarray:
    z = rng.mix64(rng.mix64(neurons.astype(np.uint64) + np.uint64(key)) + counter.astype(np.uint64))
    return (z & np.uint64(0xFFFFFF)).astype(np.int64)


def _cdiv(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Ceiling of a / b for int64 arrays, b > 0."""
    return -((-a) // b)


#: elapsed times are capped before they multiply a drift (saturation is reached long before)
_DT_CAP = np.int64(1 << 52)


class TrueNorthCT:
    """``truenorth_lif`` in continuous time (see the module docstring and docs/async.md).

    Arithmetic is exact: potentials are int64 in units of 1/T (V x T), so a leak of lambda per
    tick is a drift of exactly lambda units per ps, and every crossing time is an integer
    ceiling division. Any order of evaluation gives the same bits, so the one-by-one path, the
    all-at-once paths and the C kernel agree exactly.
    """

    name = "truenorth_lif"

    def __init__(self, arrays, enabled: np.ndarray, membrane_bits: int, tick_ps: int, key: int, where: str = "",
                 offset: int = 0):
        # ``offset``: the global id of the arrays' first neuron (an MPI rank's block: every draw is
        # keyed by the global id, so a neuron draws what it draws in one process)
        p = arrays.params
        n = arrays.n_neurons
        self.neuron_offset = int(offset)
        self.T = T = int(tick_ps)
        if (1 << (membrane_bits + 8)) * T >= 1 << 62:
            raise ConfigError(f"{where}timing.tick_s: under async a {membrane_bits}-bit membrane is kept in units "
                              f"of 1/tick ({T} ps), which must stay within 2^62 / 2^{membrane_bits + 8}")
        self.arrays = arrays
        stoch = p.leak_stochastic.astype(bool) & (p.leak != 0)
        leak = p.leak.astype(np.int64)
        self.drift = np.where(stoch, 0, leak).astype(np.int64)          # units (1/T) per ps
        self.step_mag = np.where(stoch, np.abs(leak), 0).astype(np.int64)  # steps with probability mag / 256 per tick
        self.step_sign = np.sign(leak).astype(np.int64)
        self.has_steps = bool(stoch.any())
        self.alpha = p.threshold.astype(np.int64) * T
        self.mask = p.threshold_mask.astype(np.int64)
        self.mask_any = bool(self.mask.any())
        self.reset_mode = p.reset_mode.astype(np.int64)
        self.reset_value = p.reset_value.astype(np.int64) * T
        lo, hi = membrane_range(membrane_bits)
        self.lo, self.hi = np.int64(lo * T), np.int64(hi * T)
        self.floor = -p.floor.astype(np.int64) * T
        self.low = np.maximum(self.lo, self.floor)
        self.key_threshold = rng.mix64_int(key ^ 0x5DEECE66D)
        self.threshold_keys = neuron_keys((self.key_threshold + offset) & rng.MASK64, n) if self.mask_any else None
        self.key = key  # the tick loop's leak stream: the same random bytes per (tick, neuron)
        self.stochastic = np.flatnonzero(stoch)
        self.offset_keys = (neuron_keys((rng.mix64_int(key ^ 0x2545F491) + offset) & rng.MASK64, n)[self.stochastic]
                            if stoch.any() else None)
        self.enabled = enabled
        self.v = arrays.v.astype(np.int64) * T
        self.t_last = np.zeros(n, np.int64)
        self.ref = np.zeros(n, np.int64)        # no spike before this time
        self.n_upd = np.zeros(n, np.int64)      # updates so far (the stochastic threshold's counter)
        self.theta = self._draw_theta(np.arange(n, dtype=np.int64))

    @property
    def input_scale(self) -> int:
        """Synaptic weights are added in units of 1/T."""
        return self.T

    # --- random draws ---
    def _draw_theta(self, idx: np.ndarray) -> np.ndarray:
        th = self.alpha[idx]
        if self.mask_any:
            z = rng.mix64(self.threshold_keys[idx] + self.n_upd[idx].astype(np.uint64))
            th = th + ((z & np.uint64(0xFFFFFF)).astype(np.int64) & self.mask[idx]) * self.T
        return th

    def leak_steps(self, w0: int, w_end: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every stochastic leak step in [w0, w_end): (neuron, time, +-1 in units of 1/T).

        Neuron g steps in tick k when the tick loop's leak byte of (k, g) is below abs(lambda) --
        the same bytes sync draws -- at its own instant k T + (splitmix64(key_g + k) mod T) inside
        the tick. Integer draws only: every backend places the same steps."""
        e = np.empty(0, np.int64)
        if not self.has_steps or w_end <= w0:
            return e, e, e
        ids, times = [], []
        sto = self.stochastic
        gs = sto + self.neuron_offset  # the bytes are the tick loop's: keyed by the global neuron
        first = int(gs[0]) // 8 * 8  # the bytes from the first stochastic neuron's word on (an MPI rank's block)
        for k in range(w0 // self.T, (w_end - 1) // self.T + 1):
            byte = rng.leak_bytes(self.key, k, int(gs[-1]) + 1 - first, offset=first)[gs - first].astype(np.int64)
            hit = byte < self.step_mag[sto]
            z = rng.mix64(self.offset_keys[hit] + np.uint64(k))
            if self.T < 1 << 34:  # the top 30 bits scaled to [0, T), as the C kernel does
                off = ((z >> np.uint64(34)) * np.uint64(self.T)) >> np.uint64(30)
            else:
                off = z % np.uint64(self.T)
            t = k * self.T + off.astype(np.int64)
            keep = (t >= w0) & (t < w_end)
            ids.append(sto[hit][keep])
            times.append(t[keep])
        ids = np.concatenate(ids)
        return ids, np.concatenate(times), self.step_sign[ids] * self.T

    # --- dynamics ---
    def advance(self, idx: np.ndarray, t: np.ndarray) -> None:
        """State of neurons ``idx`` carried to times ``t`` (>= their t_last) in closed form."""
        dt = np.minimum(t - self.t_last[idx], _DT_CAP)
        self.v[idx] = np.clip(self.v[idx] + self.drift[idx] * dt, self.low[idx], self.hi)
        self.t_last[idx] = t

    def _reset(self, idx: np.ndarray, v: np.ndarray, theta: np.ndarray) -> np.ndarray:
        mode = self.reset_mode[idx]
        v = np.where(mode == 0, v - theta, np.where(mode == 1, self.reset_value[idx], v))
        return np.maximum(v, self.floor[idx])

    def integrate(self, idx: np.ndarray, t: np.ndarray, s: np.ndarray) -> np.ndarray:
        """One update of neurons ``idx`` (unique) at ``t`` with summed input ``s``; the mask of those that fire."""
        self.advance(idx, t)
        v = np.clip(self.v[idx] + s, self.lo, self.hi)
        self.n_upd[idx] += 1
        theta = self._draw_theta(idx)
        self.theta[idx] = theta
        fired = (v >= theta) & (t >= self.ref[idx]) & self.enabled[idx]
        v = np.where(fired, self._reset(idx, v, theta), np.maximum(v, self.floor[idx]))
        self.v[idx] = v
        self.ref[idx[fired]] = t[fired] + self.T
        return fired

    def bulk(self, idx: np.ndarray, w0: int, w1: int, pos: np.ndarray, neg: np.ndarray) -> np.ndarray:
        """Give neurons ``idx`` (unique, with input in [w0, w1) summing to ``pos`` + ``neg``) their whole
        input at once where it cannot matter in what order it comes: no partial sum can reach the
        threshold or a saturation bound. Returns the mask of the neurons so handled; the others
        need their events one by one. (V(t) = V(w0) + drift (t - w0) + the inputs before t is then
        exact, so V is kept as of w0 plus every input.)"""
        if self.mask_any:
            return np.zeros(len(idx), bool)
        self.advance(idx, np.full(len(idx), w0, np.int64))
        v, d, span = self.v[idx], self.drift[idx], np.int64(w1 - w0)
        top = v + pos + np.maximum(d, 0) * span
        bottom = v + neg + np.minimum(d, 0) * span
        safe = (top < self.alpha[idx]) & (top <= self.hi) & (bottom >= self.low[idx])
        self.v[idx[safe]] = v[safe] + pos[safe] + neg[safe]
        return safe

    def scan(self, g_n, g_t, g_s, seg, w0: int, w1: int):
        """Every window of the neurons ``g_n[seg]`` at once, from their events grouped per instant
        (``g_n``/``g_t``/``g_s``: neuron, time, summed input, sorted by neuron then time; ``seg``:
        each neuron's first group). Between updates V is linear in time and the threshold fixed,
        so with no saturation V after group k is V(w0) + S_k + drift (t - w0) (S_k the inputs so
        far) and the first spike is the earliest t >= the refractory end, on the interval after
        some group, where that line reaches threshold -- found for every interval at once. A
        neuron fires at most once in a window (W <= T). Neurons whose values could saturate are
        left for the one-by-one path. Returns (handled mask over ``seg``, spiking neuron ids,
        their times, the group index each spike came at or -1 between groups)."""
        if self.mask_any:
            return np.zeros(len(seg), bool), None, None, None
        ids = g_n[seg]
        G = len(g_n)
        lens = np.diff(np.append(seg, G))
        self.advance(ids, np.full(len(ids), w0, np.int64))
        owner = np.repeat(np.arange(len(seg)), lens)
        v0, d, ref, th = self.v[ids], self.drift[ids], self.ref[ids], self.theta[ids]
        low, floor = self.low[ids], self.floor[ids]
        cs = np.cumsum(g_s)
        S = cs - np.repeat(cs[seg] - g_s[seg], lens)                  # inputs up to and including group k
        nxt = np.append(g_t[1:], w1)
        last = np.append(seg[1:] - 1, G - 1)
        nxt[last] = w1                                                 # each interval ends at the next group
        first_t = g_t[seg]
        # interval 0 (w0 .. first group, S = 0) and interval k (group k .. next), as one table
        lo_t = np.concatenate([np.maximum(w0, ref), np.maximum(g_t, ref[owner])])
        hi_t = np.concatenate([first_t, nxt])
        base = np.concatenate([v0, v0[owner] + S])                     # V - drift (t - w0) on the interval
        dd = np.concatenate([d, d[owner]])
        thh = np.concatenate([th, th[owner]])
        at_lo = base + dd * (lo_t - w0)
        star = np.full(len(lo_t), NEVER, np.int64)
        now = (at_lo >= thh) & (lo_t < hi_t)
        star[now] = lo_t[now]
        up = ~now & (dd > 0) & (lo_t < hi_t)
        if up.any():
            c = w0 + _cdiv(thh[up] - base[up], dd[up])
            star[up] = np.where(c < hi_t[up], np.maximum(c, lo_t[up]), NEVER)
        star[:len(seg)][~self.enabled[ids]] = NEVER
        star[len(seg):][~self.enabled[ids][owner]] = NEVER
        spike_t = np.minimum(star[:len(seg)], np.minimum.reduceat(star[len(seg):], seg))
        fires = spike_t < NEVER
        # the interval each spike is on (-1: before the first group) and V there
        k_grp = np.flatnonzero((star[len(seg):] == spike_t[owner]) & fires[owner])
        at = np.full(len(seg), -1, np.int64)
        at[owner[k_grp]] = k_grp
        S_at = np.where(at >= 0, S[np.maximum(at, 0)], 0)
        q = v0 + S_at + d * (np.where(fires, spike_t, w0) - w0)
        mode = self.reset_mode[ids]
        vr = np.where(mode == 0, q - th, np.where(mode == 1, self.reset_value[ids], q))
        vr = np.maximum(vr, floor)
        shift = np.where(fires, q - vr, 0)
        # saturation check, exact: V at both ends of every interval (after the group's input; before
        # the next one's), less the reset's shift on and after the spike, and V just before the reset
        # (linear between: inside [low, hi] there, never clamped). Interval 0 sits at seg - 1, group k's at k.
        own2 = np.concatenate([np.arange(len(seg)), owner])
        f2, pos = fires[own2], np.concatenate([seg - 1, np.arange(G)])
        spike_pos = np.where(at >= 0, at, seg - 1)[own2]
        on, after, sh2, low2 = f2 & (pos == spike_pos), f2 & (pos > spike_pos), shift[own2], low[own2]
        starts = np.concatenate([np.full(len(seg), w0, np.int64), g_t])
        v_start = base + dd * (starts - w0) - np.where(after | (on & (starts >= spike_t[own2])), sh2, 0)
        v_end = base + dd * (hi_t - w0) - np.where(after | on, sh2, 0)
        out = (v_start < low2) | (v_start > self.hi) | (v_end < low2) | (v_end > self.hi)
        ok = (np.bincount(own2, weights=out, minlength=len(seg)) == 0) & ~(fires & ((q > self.hi) | (q < low)))
        total = S[last]
        # the state as of the neuron's last event (its last group, or its spike if later), as the
        # one-by-one path and the C kernel leave it: never as of w0 with later inputs already in,
        # which predict() would read as a crossing at w0 when the drift is down (a window
        # starting before the inputs, as a split run's or any cut of at most min(L, tick))
        t_ref = np.where(fires, spike_t, w0)  # the time V below is as of, every input included
        t_new = np.maximum(t_ref, g_t[last])
        v_new = np.where(fires, vr + (total - S_at), v0 + total) + d * (t_new - t_ref)
        h = ids[ok]
        self.v[h] = v_new[ok]
        self.t_last[h] = t_new[ok]
        sp = ok & fires
        self.ref[ids[sp]] = spike_t[sp] + self.T
        at_group = np.where(at >= 0, g_t[np.maximum(at, 0)] == spike_t, False)
        return ok, ids[sp], spike_t[sp], np.where(at_group[sp], at[sp], -1)

    def fire(self, idx: np.ndarray, t: np.ndarray) -> None:
        """Neurons ``idx`` reach threshold on their own at ``t`` (their predicted crossing): spike, reset."""
        self.advance(idx, t)
        self.v[idx] = self._reset(idx, np.maximum(self.v[idx], self.theta[idx]), self.theta[idx])
        self.ref[idx] = t + self.T

    def predict(self, idx: np.ndarray) -> np.ndarray:
        """When each neuron reaches threshold with no further input (NEVER if it does not)."""
        v, th, ref, t0 = self.v[idx], self.theta[idx], self.ref[idx], self.t_last[idx]
        r = self.drift[idx]
        out = np.full(len(idx), NEVER, np.int64)
        above = v >= th
        out[above] = np.maximum(ref[above], t0[above])
        # above threshold in its refractory period: a down drift may take V below it by the end
        late = above & (ref > t0) & (r < 0)
        if late.any():
            dt = np.minimum(ref[late] - t0[late], _DT_CAP)
            out[np.flatnonzero(late)[v[late] + r[late] * dt < th[late]]] = NEVER
        rising = ~above & (r > 0) & (th <= self.hi)
        if rising.any():
            c = t0[rising] + _cdiv(th[rising] - v[rising], r[rising])
            out[rising] = np.maximum(c, ref[rising])
        out[~self.enabled[idx]] = NEVER
        return out

    def potentials(self, t: int) -> np.ndarray:
        """Every neuron's V at ``t`` with no input after its last update (for readouts)."""
        dt = np.minimum(t - self.t_last, _DT_CAP)
        return np.clip(self.v + self.drift * dt, self.low, self.hi) / self.T

    def reset_all(self, t: int) -> None:
        """Every neuron back to rest at ``t`` (a classify workload's new sample)."""
        self.v[:] = 0
        self.t_last[:] = t
        self.ref[:] = t


def _rate(d: np.ndarray, T: int) -> np.ndarray:
    """Per-ps decay rate of a 12-bit per-tick decay constant (4096 -> inf: gone in one tick)."""
    keep = (DECAY_UNITY - d.astype(np.float64)) / DECAY_UNITY
    with np.errstate(divide="ignore"):
        return np.where(keep > 0, -np.log(np.where(keep > 0, keep, 1.0)) / T, np.inf)


def _carry(du: np.ndarray, ku: np.ndarray, T: int) -> np.ndarray:
    """Current left in u per unit of input, after the input's own step has been added to v.

    Per tick an input w adds w to v in its own step and w (1 - d)^k in the k-th step after
    (d = du / 4096): w (1 - d) / d in all after the first. A continuous current u decaying at k_u
    delivers u / (k_u T) to v, so carrying w (1 - d) k_u T / d keeps that charge (the limits: d
    -> 0 carries w, d = 1 carries nothing). With no v leak, v at every tick start then equals the
    tick's exact sum.
    """
    d = du.astype(np.float64) / DECAY_UNITY
    with np.errstate(divide="ignore", invalid="ignore"):
        c = np.where(d > 0, (1.0 - d) * ku * T / np.where(d > 0, d, 1.0), 1.0)
    return np.where(np.isfinite(ku), c, 0.0)


class CubaCT:
    """``loihi_cuba`` / ``cuba_lif`` in continuous time (see the module docstring and docs/async.md)."""

    name = "cuba"
    has_steps = False
    input_scale = 1

    def __init__(self, arrays, enabled: np.ndarray, membrane_bits: int, tick_ps: int, key: int, where: str = "",
                 multi: bool = False):
        p = arrays.params
        n = arrays.n_neurons
        # one current, no floor here; several currents or a floor (v_min): engine/asynccuba.CubaMultiCT
        # (multi=True); never run them as this model
        if (p.du_syn is not None or p.v_min is not None) and not multi:
            raise ConfigError(f"{where}network.neuron: several synaptic currents (per-synapse syn_type) and a "
                              "voltage floor (v_min) are read by engine.asynccuba.CubaMultiCT, not this model")
        if np.any(p.dv[enabled] >= DECAY_UNITY):
            raise ConfigError(f"{where}network.neuron.dv: 4096 makes v forget everything each timestep, which "
                              "has no continuous-time reading (async); use dv < 4096")
        self.T = tick_ps
        self.ku = _rate(p.du, tick_ps)
        self.kv = _rate(p.dv, tick_ps)
        self.instant = ~np.isfinite(self.ku)  # du = 4096: an input is a jump of v and nothing else
        self.carry = _carry(p.du, self.ku, tick_ps)
        self.bias = p.bias.astype(np.float64)
        self.theta = p.threshold.astype(np.float64)
        self.refr = p.refractory.astype(np.int64)
        self.lim = float(cuba_range(membrane_bits)[1])
        self.enabled = enabled
        self.v = arrays.v.astype(np.float64)
        self.u = None if multi else np.where(self.instant, 0.0, arrays.u.astype(np.float64))
        self.t_last = np.zeros(n, np.int64)
        self.hold = np.full(n, -1, np.int64)    # v held at 0 while t <= hold
        self.ref = np.zeros(n, np.int64)

    def _v_at(self, idx: np.ndarray, dt: np.ndarray, v0: np.ndarray, u0: np.ndarray) -> np.ndarray:
        """v after dt ps of free evolution from (v0, u0) (no hold, no input)."""
        kv, ku, b, T = self.kv[idx], self.ku[idx], self.bias[idx], self.T
        ev = np.exp(-kv * dt)
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            g = np.where(kv > 0, -np.expm1(-kv * dt) / np.where(kv > 0, kv, 1.0), dt)
            eu = np.exp(-np.where(np.isfinite(ku), ku, 0.0) * dt)
            diff = kv - ku
            same = np.abs(diff) <= 1e-12 * np.maximum(kv, 1e-300)
            phi = np.where(same, dt * ev, (eu - ev) / np.where(same, 1.0, diff))
        phi = np.where(np.isfinite(ku), phi, 0.0)
        return v0 * ev + b / T * g + u0 / T * phi

    def advance(self, idx: np.ndarray, t: np.ndarray) -> None:
        """State of neurons ``idx`` carried to times ``t`` in closed form (v frozen while held)."""
        t0 = self.t_last[idx]
        u0 = self.u[idx]
        hold = self.hold[idx]
        start = np.minimum(np.maximum(t0, hold), t)          # v integrates from here
        ku = np.where(self.instant[idx], 0.0, self.ku[idx])
        u_start = u0 * np.exp(-ku * (start - t0))
        v0 = np.where(t0 < hold, 0.0, self.v[idx])
        v = self._v_at(idx, (t - start).astype(np.float64), v0, u_start)
        v = np.where(t <= hold, 0.0, v)
        self.v[idx] = np.clip(v, -self.lim, self.lim)
        self.u[idx] = u0 * np.exp(-ku * (t - t0))
        self.t_last[idx] = t

    def _spike(self, idx: np.ndarray, t: np.ndarray) -> None:
        self.v[idx] = 0.0
        self.hold[idx] = t + self.refr[idx] * self.T
        self.ref[idx] = t + (self.refr[idx] + 1) * self.T

    def integrate(self, idx: np.ndarray, t: np.ndarray, s: np.ndarray) -> np.ndarray:
        """One update of neurons ``idx`` (unique) at ``t`` with summed input ``s``; the mask of those that fire."""
        self.advance(idx, t)
        inst = self.instant[idx]
        held = t <= self.hold[idx]
        # the tick adds an input to v in its own step (w) and leaves w (1 - d) in u, which the
        # later steps hand on; the carried current is scaled so that it delivers the same charge
        self.u[idx] = np.clip(np.where(inst, 0.0, self.u[idx] + s * self.carry[idx]), -self.lim, self.lim)
        v = np.where(~held, np.clip(self.v[idx] + s, -self.lim, self.lim), self.v[idx])
        self.v[idx] = v
        fired = (v > self.theta[idx]) & (t >= self.ref[idx]) & self.enabled[idx]
        self._spike(idx[fired], t[fired])
        return fired

    def fire(self, idx: np.ndarray, t: np.ndarray) -> None:
        """Neurons ``idx`` reach threshold on their own at ``t``: spike, v to 0, held."""
        self.advance(idx, t)
        self._spike(idx, t)

    def predict(self, idx: np.ndarray) -> np.ndarray:
        """When each neuron's v first exceeds threshold with no further input (NEVER if never).

        v(s) = A + B e^{-k_v s} + C e^{-k_u s} has at most one extremum, so the first crossing is
        bracketed in closed form and found by bisection on integer ps (60 halvings of a bracket
        of at most 2^60 ps), vectorised over the neurons that will cross.
        """
        n = len(idx)
        out = np.full(n, NEVER, np.int64)
        if n == 0:
            return out
        t0 = self.t_last[idx]
        start = np.maximum(np.maximum(t0, self.hold[idx] + 1), self.ref[idx])  # first time a spike may come
        # state at `start`
        save = self.v[idx].copy(), self.u[idx].copy(), t0.copy()
        self.advance(idx, start)
        v0, u0 = self.v[idx].copy(), self.u[idx].copy()
        self.v[idx], self.u[idx], self.t_last[idx] = save
        th = self.theta[idx]
        now = v0 > th
        out[now] = start[now]
        # an upper bound of v over the future: crossing is possible only if it exceeds threshold
        kv, b = self.kv[idx], self.bias[idx]
        with np.errstate(divide="ignore", invalid="ignore"):
            v_inf = np.where(kv > 0, b / (self.T * np.where(kv > 0, kv, 1.0)), np.where(b > 0, np.inf, -np.inf))
        u_gain = np.where(self.instant[idx] | (u0 <= 0), 0.0, u0 / (self.T * np.maximum(np.where(
            np.isfinite(self.ku[idx]), self.ku[idx], 1.0), 1e-300)))
        bound = np.maximum(v0, v_inf) + u_gain  # v stays below this forever
        cand = ~now & (bound > th) & self.enabled[idx]
        if not cand.any():
            return out
        # no current left (du = 4096, or u = 0): v relaxes to v_inf (or ramps by bias / T): closed form
        simple = cand & (self.instant[idx] | (u0 == 0))
        if simple.any():
            si = np.flatnonzero(simple)
            kvs, bs, vs, ths = kv[si], b[si], v0[si], th[si]
            with np.errstate(divide="ignore", invalid="ignore"):
                s_real = np.where(kvs > 0, np.log((v_inf[si] - vs) / (v_inf[si] - ths)) / np.where(kvs > 0, kvs, 1.0),
                                  (ths - vs) * self.T / bs)
            s_int = np.floor(np.minimum(np.maximum(s_real, 0.0), 2.0**61)).astype(np.int64)
            sub, zero = idx[si], np.zeros(len(si))
            # the first whole ps above threshold: the real root's floor + 1, checked both ways
            for _ in range(2):
                over = self._v_at(sub, s_int.astype(np.float64), vs, zero) > ths
                s_int = np.where(over, np.maximum(s_int - 1, 0), s_int)
            for _ in range(4):
                below = ~(self._v_at(sub, s_int.astype(np.float64), vs, zero) > ths)
                s_int = s_int + below
            out[si] = start[si] + s_int
            cand &= ~simple
            if not cand.any():
                return out
        ci = np.flatnonzero(cand)
        sub = idx[ci]
        vv0, uu0, thc = v0[ci], u0[ci], th[ci]
        p = self._inside(sub, vv0, uu0, thc)
        ok = np.isfinite(p)
        lo_i = np.zeros(len(ci), np.int64)
        hi_i = np.where(ok, np.ceil(np.minimum(np.where(ok, p, 0.0), 2.0**61)), 0).astype(np.int64)
        hi_i = first_above(lo_i, hi_i, ok, lambda s: self._v_at(sub, s.astype(np.float64), vv0, uu0) > thc)
        # the bracket's right end, ceil(p), is above threshold when p was probed on v's rise; a hump
        # above threshold only between two whole ps (its top within a ps) has no whole ps above: never
        ok &= self._v_at(sub, hi_i.astype(np.float64), vv0, uu0) > thc
        out[ci] = np.where(ok, start[ci] + hi_i, NEVER)
        return out

    def _inside(self, idx: np.ndarray, v0: np.ndarray, u0: np.ndarray, th: np.ndarray) -> np.ndarray:
        """A time (ps from the start state) at which v > th, or inf: v has at most one extremum.

        v'(s) = a e^{-k_v s} + c e^{-k_u s} with c = -k_u u0 / (T (k_v - k_u)) (the current's term)
        and a = v'(0) - c, so the extremum is at s_e = ln(-c / a) / (k_u - k_v) (k_u = k_v:
        s_e = v'(0) T / (k u0)). A hump above threshold is entered before s_e; otherwise v is
        monotone after s_e and crosses only if its limit lies above threshold (found by doubling).
        """
        T = float(self.T)
        kv, b = self.kv[idx], self.bias[idx]
        ku = np.where(self.instant[idx], 0.0, self.ku[idx])
        finite = ~self.instant[idx] & (u0 != 0)
        d0 = -kv * v0 + (u0 * finite + b) / T
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            same = np.abs(kv - ku) <= 1e-12 * np.maximum(kv, 1e-300)
            c = np.where(same, 0.0, -ku * u0 / (T * (kv - ku)))
            a = d0 - c
            ratio = -c / a
            s_gen = np.log(ratio) / (ku - kv)
            s_same = d0 * T / (kv * u0)
            s_e = np.where(same, s_same, np.where(ratio > 0, s_gen, np.nan))
        s_e = np.where(finite & np.isfinite(s_e) & (s_e > 0), s_e, 0.0)
        p = np.full(len(idx), np.inf)
        hump = (s_e > 0) & (self._v_at(idx, s_e, v0, u0) > th)
        p[hump] = s_e[hump]
        rest = ~hump
        step = np.full(len(idx), T)
        for _ in range(70):
            probe = s_e + step
            hit = rest & (self._v_at(idx, probe, v0, u0) > th)
            p[hit] = probe[hit]
            rest &= ~hit
            step *= 2.0
            if not rest.any() or step[0] > 2.0**61:
                break
        return p

    def potentials(self, t: int) -> np.ndarray:
        """Every neuron's v at ``t`` with no input after its last update (for readouts)."""
        idx = np.arange(len(self.v))
        save = self.v.copy(), self.u.copy(), self.t_last.copy()
        self.advance(idx, np.full(len(idx), t, np.int64))
        out = self.v.copy()
        self.v, self.u, self.t_last = save
        return out

    def reset_all(self, t: int) -> None:
        """Every neuron back to rest at ``t`` (a classify workload's new sample)."""
        self.v[:] = 0.0
        self.u[:] = 0.0
        self.t_last[:] = t
        self.hold[:] = -1
        self.ref[:] = t

    def leak_steps(self, w0: int, w_end: int):
        """No stochastic elements: no steps."""
        e = np.empty(0, np.int64)
        return e, e, np.empty(0)


def continuous_model(arrays, enabled: np.ndarray, membrane_bits: int, tick_ps: int, key: int, where: str = "",
                     offset: int = 0):
    """The continuous-time reading of the arrays' neuron model (``offset``: the first neuron's global
    id, which keys the random draws; CUBA draws none)."""
    from neuroemu.models.neuron import neuron_model
    kernel = neuron_model(arrays.neuron_model).kernel
    if kernel == "truenorth":
        return TrueNorthCT(arrays, enabled, membrane_bits, tick_ps, key, where, offset)
    return CubaCT(arrays, enabled, membrane_bits, tick_ps, key, where)


def group_events(nid, tt, ww, syn, w0: int, w1: int):
    """A window's events summed per (neuron, instant), sorted by neuron then instant: the groups'
    neurons, instants, summed weights, whether any was synaptic, and each group's rank among its
    neuron's (round r of the window loop applies every neuron's r-th instant)."""
    span = w1 - w0
    if len(nid) and int(nid.max()) < (1 << 62) // max(span, 1):
        key = nid * span + (tt - w0)
        order = np.argsort(key, kind="stable")
        k = key[order]
    else:
        order = np.lexsort((tt, nid))
        k = None
    n_s, t_s = nid[order], tt[order]
    new = np.ones(len(order), bool)
    if k is not None:
        new[1:] = k[1:] != k[:-1]
    else:
        new[1:] = (n_s[1:] != n_s[:-1]) | (t_s[1:] != t_s[:-1])
    starts = np.flatnonzero(new)
    g_n, g_t = n_s[starts], t_s[starts]
    g_s = np.add.reduceat(ww[order], starts)
    g_syn = np.add.reduceat(syn[order].astype(np.int64), starts) > 0
    first = np.ones(len(starts), bool)
    first[1:] = g_n[1:] != g_n[:-1]
    seg = np.flatnonzero(first)
    rank = np.arange(len(starts)) - np.repeat(seg, np.diff(np.append(seg, len(starts))))
    return g_n, g_t, g_s, g_syn, rank


def first_above(lo: np.ndarray, hi: np.ndarray, ok: np.ndarray, above) -> np.ndarray:
    """Bisection on integer ps, vectorised: for each row with ``ok``, ``above(lo)`` False and
    ``above(hi)`` True, the first s in (lo, hi] where ``above`` holds (at most 64 halvings);
    ``above(s)`` is called on the whole vector and must be monotone inside each bracket."""
    for _ in range(64):
        open_ = ok & (hi - lo > 1)
        if not open_.any():
            break
        mid = (lo + hi) // 2
        up = above(mid)
        hi = np.where(open_ & up, mid, hi)
        lo = np.where(open_ & ~up, mid, lo)
    return hi

