"""Synaptic learning rules any chip can enable; every synaptic update is counted.

Pair-based STDP (the survey's eq. 9; Loihi's "pairwise STDP" of Davies 2018 Table 2), with
nearest-spike pairing through a last-spike time per axon (the pre trace) and per neuron (the post
trace), in ticks:

- **potentiation**: when neuron j fires at tick t, every synapse (i -> j) whose axon i has spiked
  at some tick t_pre <= t gains ``a_plus * exp(-(t - t_pre) / tau_plus)``. A spike that arrives
  in the same tick counts as preceding: it is integrated before the neuron fires.
- **depression**: when axon i spikes at tick t, every synapse (i -> j) whose neuron j last fired
  at t_post < t loses ``a_minus * exp(-(t - t_post) / tau_minus)``.

One update = one synapse changed by one pairing (the read-modify-write a learning engine does),
counted as ``potentiation`` or ``depression`` whatever the size of the change, and charged by
the ledger at ``potentiation_pj`` / ``depression_pj`` (default ``learning_update_pj``). With
``window_ticks`` set, pairs further apart than that are not updated (nor counted), as when a
hardware trace has decayed to zero; by default every earlier partner spike pairs.

Weights are kept in float64 beside the chip's int16 per-synapse weights (``row_weights``), so
small changes accumulate exactly; after each update the integer weight is the float one rounded
half up, ``floor(w + 0.5)``, and both are clipped to [w_min, w_max] (a weight starting outside
that range stays there until its first update). In one tick the depressions are applied first,
then the potentiations: a synapse can get both (pre at t after a post before t, and a post at t).

:class:`STDP` is the vectorised rule; :class:`STDPReference` the same rule synapse by synapse in
plain Python (used by the SimPy reference); tests check they agree bit for bit. The exponential
factors come from one function, :func:`pair_factor`, in both.

On a chip with NVM synapses whose device has non-linear steps (``ltp_nonlinearity`` /
``ltd_nonlinearity``, :class:`neuroemu.hardware.devices.ConductanceSteps`), a pairing's change
d = a_plus x factor (or a_minus x factor) moves the weight along the device's potentiation or
depression curve instead of adding d: the step shrinks near the bound it moves towards. The
curve's factor per pairing distance is tabulated from the scalar function, as the pair factors
are, so the twins still agree bit for bit.

With a device's ``endurance_writes`` every update is a write pulse to one cell of the synapse's
differential pair, G+ for a potentiation and G- for a depression
(:class:`neuroemu.hardware.devices.Endurance`); a pulse to a cell that has taken its limit is
counted but leaves the weight as it was, so a synapse with a stuck G+ can still be depressed and
one with a stuck G- still potentiated. Each rule asks for the writes in the order they happen
(depressions before potentiations in a tick; time order in :class:`STDPContinuous`).
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from neuroemu.hardware.csr import row_positions
from neuroemu.errors import ConfigError
from neuroemu.hardware.cores import CoreArrays, gather_synapse_index
from neuroemu.hardware.devices import ConductanceSteps, Endurance, conductance_steps

INT16_MIN, INT16_MAX = -(1 << 15), (1 << 15) - 1


def pair_factor(dt: int, tau: float) -> float:
    """``exp(-dt / tau)`` for one pairing ``dt`` ticks apart (the one definition both twins use)."""
    return math.exp(-dt / tau)


class _FactorTable:
    """:func:`pair_factor` (or ``scalar(dt)``) for arrays of dt, from a table filled with the scalar
    function itself."""

    def __init__(self, tau: float, scalar=None):
        self.tau = tau
        self.scalar = scalar if scalar is not None else (lambda d: pair_factor(d, tau))
        self.values = np.empty(0, np.float64)

    def __call__(self, dt: np.ndarray) -> np.ndarray:
        need = int(dt.max(initial=-1)) + 1
        if need > len(self.values):
            size = max(need, 2 * len(self.values), 64)
            extra = [self.scalar(d) for d in range(len(self.values), size)]
            self.values = np.concatenate([self.values, np.asarray(extra, np.float64)])
        return self.values[dt]


def round_weight(w: float) -> int:
    """The integer weight of a float one: rounded half up (``floor(w + 0.5)``)."""
    return math.floor(w + 0.5)


class STDP:
    """Pair-based STDP over per-synapse weights, vectorised (see the module docstring).

    ``a_plus``, ``a_minus``: the largest potentiation and depression (weight units, >= 0);
    ``tau_plus_ticks``, ``tau_minus_ticks``: their time constants (> 0); ``w_min``, ``w_max``: the
    weight bounds (within int16). Call :meth:`bind` with the chip's arrays, then :meth:`apply`
    once per tick after the neuron update.
    """

    def __init__(self, a_plus: float, a_minus: float, tau_plus_ticks: float, tau_minus_ticks: float,
                 w_min: int, w_max: int, *, window_ticks: int | None = None):
        check_parameters(a_plus=a_plus, a_minus=a_minus, tau_plus_ticks=tau_plus_ticks,
                         tau_minus_ticks=tau_minus_ticks, w_min=w_min, w_max=w_max, window_ticks=window_ticks)
        self.a_plus, self.a_minus = float(a_plus), float(a_minus)
        self.tau_plus, self.tau_minus = float(tau_plus_ticks), float(tau_minus_ticks)
        self.w_min, self.w_max = int(w_min), int(w_max)
        self.window = window_ticks
        self._plus = _FactorTable(self.tau_plus)
        self._minus = _FactorTable(self.tau_minus)
        self.arrays: CoreArrays | None = None
        self.steps: ConductanceSteps | None = None
        self.endurance: Endurance | None = None

    def bind(self, arrays: CoreArrays, weight_bits: int | None = None, device=None) -> "STDP":
        """Attach to a chip's arrays (switching them to per-synapse weights); returns self.

        With ``weight_bits`` (the chip's ``core.weight_bits``) the bounds must fit that signed width.
        ``device``: the chip's ``synapse_device``; its non-linear steps (if any) shape every update,
        and its ``endurance_writes`` (if set) wear the cells (:attr:`endurance`).
        """
        self.steps = conductance_steps(device, self.w_min, self.w_max)
        if self.steps is not None:
            st = self.steps  # k of each pairing distance, from the scalar function (as the reference)
            self._plus_keep = _FactorTable(self.tau_plus,
                                           lambda d: st.keep_ltp(self.a_plus * pair_factor(d, self.tau_plus)))
            self._minus_keep = _FactorTable(self.tau_minus,
                                            lambda d: st.keep_ltd(self.a_minus * pair_factor(d, self.tau_minus)))
        if weight_bits is not None:
            lo, hi = -(1 << (weight_bits - 1)), (1 << (weight_bits - 1)) - 1
            for name, value in (("w_min", self.w_min), ("w_max", self.w_max)):
                if not lo <= value <= hi:
                    raise ConfigError(f"learning.{name}: must fit the chip's signed {weight_bits}-bit weights "
                                      f"({lo}..{hi}) (got {value})")
        self.arrays = arrays
        arrays.materialize_row_weights()
        self.w = arrays.row_weights.astype(np.float64)
        self.endurance = None if device is None or device.endurance_writes is None \
            else Endurance(arrays, device.endurance_writes.value)
        self.syn_axon = arrays.synapse_axons()
        neurons = arrays.synapse_neurons()
        # a column index (synapses by neuron) for the potentiation of the neurons that fired
        self.col_syn = np.argsort(neurons, kind="stable")
        self.col_ptr = np.zeros(arrays.n_neurons + 1, np.int64)
        np.cumsum(np.bincount(neurons, minlength=arrays.n_neurons), out=self.col_ptr[1:])
        self.pre_last = np.full(arrays.n_axons, -1, np.int64)
        self.post_last = np.full(arrays.n_neurons, -1, np.int64)
        return self

    def _paired(self, last: np.ndarray, tick: int, strict: bool) -> np.ndarray:
        ok = (last >= 0) & (last < tick if strict else last <= tick)
        if self.window is not None:
            ok &= tick - last <= self.window
        return ok

    def _column_synapses(self, neurons: np.ndarray) -> np.ndarray:
        starts = self.col_ptr[neurons]
        lengths = self.col_ptr[neurons + 1] - starts
        total = int(lengths.sum())
        if total == 0:
            return np.empty(0, np.int64)
        return self.col_syn[row_positions(starts, lengths)]

    def _write(self, idx: np.ndarray, w: np.ndarray, half: int) -> None:
        """Pulse cell ``half`` (0: G+, 1: G-) of the synapses ``idx`` (distinct) towards weights ``w``:
        with endurance, a write to a stuck cell is counted and does not take."""
        if self.endurance is not None:
            took = self.endurance.take(idx, half)
            idx, w = idx[took], w[took]
        self.w[idx] = w

    def apply(self, tick: int, pre_axons_active: np.ndarray, post_fired: np.ndarray) -> tuple[int, int]:
        """Update the synapses paired this tick; returns (potentiations, depressions) counted.

        ``pre_axons_active``: global axons that received a spike this tick (repeats allowed);
        ``post_fired``: global neurons that fired this tick.
        """
        if self.arrays is None:
            raise ConfigError("learning: the STDP rule is not bound to a chip (call bind(arrays) first)")
        pre = np.unique(np.asarray(pre_axons_active, np.int64))
        post = np.unique(np.asarray(post_fired, np.int64))
        n_dep = n_pot = 0
        changed = []
        if len(pre):
            idx, neuron = gather_synapse_index(self.arrays, pre)
            last = self.post_last[neuron]
            ok = self._paired(last, tick, strict=True)
            idx = idx[ok]
            if len(idx):
                dt = tick - last[ok]
                if self.steps is None:
                    w = self.w[idx] - self.a_minus * self._minus(dt)
                else:
                    w = self.steps.depress(self.w[idx], self.a_minus * self._minus(dt), self._minus_keep(dt))
                self._write(idx, np.clip(w, self.w_min, self.w_max), 1)
                n_dep = len(idx)
                changed.append(idx)
            self.pre_last[pre] = tick
        if len(post):
            idx = self._column_synapses(post)
            last = self.pre_last[self.syn_axon[idx]]
            ok = self._paired(last, tick, strict=False)
            idx = idx[ok]
            if len(idx):
                dt = tick - last[ok]
                if self.steps is None:
                    w = self.w[idx] + self.a_plus * self._plus(dt)
                else:
                    w = self.steps.potentiate(self.w[idx], self.a_plus * self._plus(dt), self._plus_keep(dt))
                self._write(idx, np.clip(w, self.w_min, self.w_max), 0)
                n_pot = len(idx)
                changed.append(idx)
            self.post_last[post] = tick
        self.last_written = np.concatenate(changed) if changed else np.empty(0, np.int64)  # synapses pulsed
        if changed:
            idx = np.concatenate(changed)
            ints = np.floor(self.w[idx] + 0.5).astype(np.int16)
            a = self.arrays
            a.row_weights[idx] = ints
            if a.dense_weights is not None:
                a.dense_weights[self.syn_axon[idx], a.row_neurons[idx]] = ints
        return n_pot, n_dep


class STDPContinuous:
    """The rule of :class:`STDP` read in continuous time, for the clockless engine.

    Spike times are integers in ps and ``tick_ps`` is the tick T: a trace decays as
    ``exp(-(dt / T) / tau)`` over the elapsed dt (tau in ticks, as the tick rule's); ``window_ticks``
    becomes ``dt <= window_ticks x T``. Pairing is the tick rule's, by instant: at a postsynaptic
    spike at t every synapse of the neuron whose axon last received a spike at t_pre <= t is
    potentiated; at an arrival at t every synapse of the axon whose neuron last fired at
    t_post < t is depressed; at one instant depressions come before potentiations. Each change is
    clipped to [w_min, w_max] and the integer weight is the float one rounded half up, as in the
    tick rule. When dt is a whole number of ticks the factor is the tick rule's own
    (:func:`pair_factor`), so whole-tick runs give the tick rule's weights bit for bit; otherwise
    it is ``numpy.exp``.

    :meth:`apply_window` takes every arrival and spike of one window (at most one spike per
    neuron, as a window is at most a tick) and applies the updates of each synapse in time order.
    """

    def __init__(self, rule: STDP, tick_ps: int):
        if rule.arrays is None:
            raise ConfigError("learning: the STDP rule is not bound to a chip (call bind(arrays) first)")
        self.rule, self.T = rule, int(tick_ps)
        self.pre_last = np.full(rule.arrays.n_axons, -1, np.int64)   # ps; -1: never
        self.post_last = np.full(rule.arrays.n_neurons, -1, np.int64)
        self.last_written = np.empty(0, np.int64)

    def _factor(self, dt: np.ndarray, table: _FactorTable, tau: float) -> np.ndarray:
        whole = dt % self.T == 0
        out = np.empty(len(dt), np.float64)
        out[whole] = table(dt[whole] // self.T)
        out[~whole] = np.exp(-(dt[~whole] / self.T) / tau)
        return out

    def _ok(self, dt: np.ndarray, last: np.ndarray) -> np.ndarray:
        ok = last >= 0
        if self.rule.window is not None:
            ok &= dt <= self.rule.window * self.T
        return ok

    def apply_window(self, a_t: np.ndarray, a_ax: np.ndarray, post_n: np.ndarray,
                     post_t: np.ndarray) -> tuple[int, int, np.ndarray]:
        """One window's updates: arrivals (time ps, axon; repeats allowed) and spikes (neuron, time
        ps; one per neuron). Returns (potentiations, depressions, synapses written)."""
        r = self.rule
        a = r.arrays
        # arrivals, one per (axon, instant), sorted by axon then instant (ranked 1..k)
        inst, rank = np.unique(a_t, return_inverse=True)
        span = len(inst) + 1
        keys = np.unique(a_ax.astype(np.int64) * span + rank.reshape(-1) + 1)
        pre_ax, pre_t = keys // span, inst[keys % span - 1] if len(keys) else np.empty(0, np.int64)
        post_n = np.asarray(post_n, np.int64)
        post_t = np.asarray(post_t, np.int64)
        ev_s, ev_t, ev_kind, ev_d, ev_keep = [], [], [], [], []
        n_dep = n_pot = 0
        if len(pre_ax):
            syn, neuron = gather_synapse_index(a, pre_ax)
            ta = np.repeat(pre_t, np.diff(a.row_ptr)[pre_ax])
            wpost = np.full(a.n_neurons, -1, np.int64)
            wpost[post_n] = post_t
            wp = wpost[neuron]
            last = np.where((wp >= 0) & (wp < ta), wp, self.post_last[neuron])
            dt = ta - last
            ok = self._ok(dt, last) & (dt > 0)  # t_post < t: a post at the pre's own instant (handed over
            if ok.any():                        # in an earlier call) is not its partner
                n_dep = int(np.count_nonzero(ok))
                ev_s.append(syn[ok]); ev_t.append(ta[ok]); ev_kind.append(np.zeros(n_dep, np.int64))
                ev_d.append(-r.a_minus * self._factor(dt[ok], r._minus, r.tau_minus))
                if r.steps is not None:
                    ev_keep.append(self._keep(dt[ok], ev_d[-1], r._minus_keep, r.steps.a_ltd))
        if len(post_n):
            syn = r._column_synapses(post_n)
            tp = np.repeat(post_t, r.col_ptr[post_n + 1] - r.col_ptr[post_n])
            axon = r.syn_axon[syn]
            # the axon's last arrival at or before tp in this window, else its last before it
            q = np.searchsorted(inst, tp, side="right")  # the rank of the last instant <= tp
            pos = np.searchsorted(keys, axon * span + q, side="right") - 1
            hit = pos >= 0
            hit[hit] = keys[pos[hit]] // span == axon[hit]
            last = np.where(hit, pre_t[np.maximum(pos, 0)] if len(keys) else -1, self.pre_last[axon])
            dt = tp - last
            ok = self._ok(dt, last)
            if ok.any():
                n_pot = int(np.count_nonzero(ok))
                ev_s.append(syn[ok]); ev_t.append(tp[ok]); ev_kind.append(np.ones(n_pot, np.int64))
                ev_d.append(r.a_plus * self._factor(dt[ok], r._plus, r.tau_plus))
                if r.steps is not None:
                    ev_keep.append(self._keep(dt[ok], ev_d[-1], r._plus_keep, r.steps.a_ltp))
        if len(pre_ax):
            np.maximum.at(self.pre_last, pre_ax, pre_t)
        self.post_last[post_n] = post_t
        if not ev_s:
            self.last_written = np.empty(0, np.int64)
            return 0, 0, self.last_written
        s, t, k, d = (np.concatenate(x) for x in (ev_s, ev_t, ev_kind, ev_d))
        self._update(s, t, k, d, np.concatenate(ev_keep) if ev_keep else None)
        return n_pot, n_dep, self.last_written

    def _keep(self, dt: np.ndarray, d: np.ndarray, table: _FactorTable, a: float | None) -> np.ndarray:
        """The device curve's factor exp(-|d| / (R a)) of each change: the tick rule's own table at
        whole ticks (so whole-tick runs give its weights bit for bit), ``numpy.exp`` otherwise."""
        whole = dt % self.T == 0
        out = np.ones(len(dt), np.float64)
        out[whole] = table(dt[whole] // self.T)
        if a is not None and self.rule.steps.range > 0:
            out[~whole] = np.exp(-np.abs(d[~whole]) / (self.rule.steps.range * a))
        return out

    def _step(self, w: np.ndarray, d: np.ndarray, kind: np.ndarray, keep: np.ndarray | None) -> np.ndarray:
        """The weights after signed changes d (kind 1: potentiation), along the device's curves if any."""
        st = self.rule.steps
        if st is None:
            return w + d
        return np.where(kind == 1, st.potentiate(w, d, keep), st.depress(w, -d, keep))

    def _update(self, s, t, k, d, keep) -> None:
        """Add each synapse's changes in (time, depression first) order, clipping after each; with
        endurance, each change is a write pulse counted in that order, and one to a stuck cell does not take."""
        r = self.rule
        order = np.lexsort((k, t, s))
        s, d, k = s[order], d[order], k[order]
        keep = keep[order] if keep is not None else None
        first = np.ones(len(s), bool)
        first[1:] = s[1:] != s[:-1]
        seg = np.flatnonzero(first)
        rank = np.arange(len(s)) - np.repeat(seg, np.diff(np.append(seg, len(s))))
        for j in range(int(rank.max()) + 1):  # each synapse's j-th write: distinct synapses
            m = rank == j
            idx = s[m]
            w = np.clip(self._step(r.w[idx], d[m], k[m], keep[m] if keep is not None else None), r.w_min, r.w_max)
            if r.endurance is not None:  # a potentiation pulses G+ (half 0), a depression G- (half 1)
                took = r.endurance.take(idx, 1 - k[m])
                idx, w = idx[took], w[took]
            r.w[idx] = w
        self.last_written = s
        idx = s[first]
        ints = np.floor(r.w[idx] + 0.5).astype(np.int16)
        a = r.arrays
        a.row_weights[idx] = ints
        if a.dense_weights is not None:
            a.dense_weights[r.syn_axon[idx], a.row_neurons[idx]] = ints


class STDPReference:
    """The rule of :class:`STDP` written synapse by synapse in plain Python (the reference's twin).

    Works on its own copies: per-synapse float weights ``w`` (list) and integer weights
    ``weights`` (list), built from the arrays' weights when bound. ``device``: the chip's
    ``synapse_device`` (its non-linear steps, as :meth:`STDP.bind` takes them, and its endurance:
    ``writes`` [synapse][half] counts each cell's pulses as :class:`~neuroemu.hardware.devices.Endurance` does).
    """

    def __init__(self, rule: STDP, arrays: CoreArrays, device=None):
        self.rule = rule
        self.steps = conductance_steps(device, rule.w_min, rule.w_max)
        a = arrays
        self.row_ptr = [int(x) for x in a.row_ptr]
        ints = a.row_weights if a.row_weights is not None else a.type_weights()
        self.weights = [int(x) for x in ints]
        self.w = [float(x) for x in ints]
        self.syn_axon = [int(x) for x in a.synapse_axons()]
        self.syn_neuron = [int(x) for x in a.synapse_neurons()]
        self.columns: dict[int, list[int]] = {}
        for s, g in enumerate(self.syn_neuron):
            self.columns.setdefault(g, []).append(s)
        self.pre_last: dict[int, int] = {}
        self.post_last: dict[int, int] = {}
        self.limit = None if device is None or device.endurance_writes is None else int(device.endurance_writes.value)
        self.writes = None if self.limit is None else [[0, 0] for _ in ints]

    def _ok(self, last: int | None, tick: int, strict: bool) -> bool:
        if last is None or (last >= tick if strict else last > tick):
            return False
        return self.rule.window is None or tick - last <= self.rule.window

    def _depress(self, w: float, d: float) -> float:
        return w - d if self.steps is None else self.steps.depress(w, d, self.steps.keep_ltd(d))

    def _potentiate(self, w: float, d: float) -> float:
        return w + d if self.steps is None else self.steps.potentiate(w, d, self.steps.keep_ltp(d))

    def _set(self, s: int, w: float, half: int) -> None:
        """Pulse cell ``half`` (0: G+, 1: G-) of synapse s towards w; past the cell's endurance it does not take."""
        if self.writes is not None:
            self.writes[s][half] += 1
            if self.writes[s][half] > self.limit:
                return
        r = self.rule
        self.w[s] = min(max(w, r.w_min), r.w_max)

    def apply(self, tick: int, pre_axons_active, post_fired) -> tuple[int, int]:
        """The same update as :meth:`STDP.apply`, one synapse at a time."""
        r = self.rule
        n_pot = n_dep = 0
        changed = []
        pre, post = sorted(set(pre_axons_active)), sorted(set(post_fired))
        for axon in pre:
            for s in range(self.row_ptr[axon], self.row_ptr[axon + 1]):
                last = self.post_last.get(self.syn_neuron[s])
                if self._ok(last, tick, strict=True):
                    d = r.a_minus * pair_factor(tick - last, r.tau_minus)
                    self._set(s, self._depress(self.w[s], d), 1)
                    n_dep += 1
                    changed.append(s)
        for axon in pre:
            self.pre_last[axon] = tick
        for g in post:
            for s in self.columns.get(g, ()):
                last = self.pre_last.get(self.syn_axon[s])
                if self._ok(last, tick, strict=False):
                    d = r.a_plus * pair_factor(tick - last, r.tau_plus)
                    self._set(s, self._potentiate(self.w[s], d), 0)
                    n_pot += 1
                    changed.append(s)
            self.post_last[g] = tick
        for s in changed:
            self.weights[s] = round_weight(self.w[s])
        self.last_written = changed  # synapses pulsed
        return n_pot, n_dep


def check_parameters(**params: Any) -> None:
    """Check STDP parameters; a bad one raises ConfigError naming ``learning.<key>``."""
    def bad(key: str, rule: str) -> ConfigError:
        return ConfigError(f"learning.{key}: {rule} (got {params[key]!r})")

    for key in ("a_plus", "a_minus"):
        v = params[key]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
            raise bad(key, "must be a finite number >= 0")
    for key in ("tau_plus_ticks", "tau_minus_ticks"):
        v = params[key]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
            raise bad(key, "must be a finite number > 0 (ticks)")
    for key in ("w_min", "w_max"):
        v = params[key]
        if isinstance(v, bool) or not float(v).is_integer() or not INT16_MIN <= v <= INT16_MAX:
            raise bad(key, f"must be an integer weight in {INT16_MIN}..{INT16_MAX}")
    if params["w_min"] > params["w_max"]:
        raise bad("w_min", f"must be <= w_max ({params['w_max']})")
    w = params.get("window_ticks")
    if w is not None and (isinstance(w, bool) or not float(w).is_integer() or w < 0):
        raise bad("window_ticks", "must be an integer >= 0 or absent")


LEARNING_RULES = {"stdp": STDP}
"""Registry: learning rule name -> class; used to look up and list."""


def learning_rule(name: str, params: dict[str, Any] | None = None, where: str = "learning") -> STDP:
    """Build a learning rule from its name and parameters; unknown names and keys are ConfigErrors.

    For ``stdp`` the keys are the constructor's: a_plus, a_minus, tau_plus_ticks,
    tau_minus_ticks, w_min, w_max (required) and window_ticks (optional).
    """
    if name not in LEARNING_RULES:
        raise ConfigError(f"{where}.rule: unknown learning rule {name!r}; valid: {', '.join(sorted(LEARNING_RULES))}")
    params = dict(params or {})
    required = ("a_plus", "a_minus", "tau_plus_ticks", "tau_minus_ticks", "w_min", "w_max")
    valid = required + ("window_ticks",)
    for key in params:
        if key not in valid:
            raise ConfigError(f"{where}.{key}: unknown parameter of {name}; valid: {', '.join(valid)}")
    for key in required:
        if key not in params:
            raise ConfigError(f"{where}.{key}: is required for {name}")
    try:
        return STDP(**params)
    except ConfigError as exc:
        raise ConfigError(str(exc).replace("learning.", f"{where}.", 1)) from None
