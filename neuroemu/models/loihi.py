"""Loihi's current-based LIF (CUBA) as struct-of-arrays parameters plus a vectorised tick update.

Per compartment j in one timestep (Davies et al., IEEE Micro 2018; the integer arithmetic of
Lava's bit-accurate ``PyLifModelBitAcc``, lava-nc/lava ``src/lava/proc/lif/models.py``):

1. current:  u = decay(u, du) + sum of the weights of the synapses that received a spike
2. voltage:  v = decay(v, dv) + u + bias          (skipped while refractory, see 4)
3. fire when v > threshold (strictly), then v = 0
4. refractory: after a spike, v is held at 0 for ``refractory`` timesteps; u keeps integrating

with ``decay(x, d) = sign(x) * ((|x| * (4096 - d)) >> 12)``: a 12-bit decay constant, rounding
towards zero exactly as Lava does. u and v saturate at the signed ``membrane_bits`` range made
symmetric, [-(2^(b-1) - 1), 2^(b-1) - 1] (Loihi: b = 24).

Deviations from Lava, on purpose and documented:
- ``du`` and ``dv`` are the *effective* constants 0..4096 (Lava adds a 1-bit ``ds_offset`` = 1 to
  its 12-bit ``du`` so that 4096 can be reached; give Lava's du + 1 here).
- Lava MSB-aligns the input and the threshold by shifting both left by 6 bits (``act_shift``,
  ``vth_shift``); here weights, bias and threshold are taken as already aligned (multiply Lava's
  weights and vth by 64 to get the same numbers). The bias is one integer (Lava: mant << exp).
- u saturates instead of wrapping modulo 2^24 (a wrapped current is an overflow bug in a
  network, not a behaviour worth reproducing); in range the two agree bit for bit.

Several synaptic currents (``du_syn`` set, T types): each compartment holds T currents, one per
synapse type, each decaying with its own ``du``; the voltage takes their sum,
``v = decay(v, dv) + sum_c u_c + bias``. A floor ``v_min`` (per compartment) replaces the lower
saturation limit: v is clamped to [max(v_min, -lim), lim]. These run in separate kernels
(:func:`cuba_step_multi`, ``ne_cuba_step_multi``) so the one-current path stays as it is. On
Loihi silicon T currents are T compartments of a dendritic tree whose currents join the soma
(the per-current arithmetic here is exact; the extra compartments' updates are not counted), and
the floor is Loihi's ``vMin``; see docs/network-fields.md.

The same arithmetic is written three times and tests check they agree bit for bit: C
(``ne_cuba_step`` in hardware/tick.c), numpy (:func:`cuba_step`) and plain Python
(:func:`cuba_step_one`, used by the SimPy reference).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: decay constants are 12-bit fractions of this unity
DECAY_UNITY = 4096
DECAY_SHIFT = 12


def cuba_range(bits: int) -> tuple[int, int]:
    """The symmetric saturation limits of a signed ``bits``-bit current or voltage."""
    hi = (1 << (bits - 1)) - 1
    return -hi, hi


@dataclass
class CubaArrays:
    """Per-compartment parameters of the current-based LIF, one entry per neuron of the chip."""

    du: np.ndarray          # int32, current decay 0..4096 (4096: the current lasts one timestep)
    dv: np.ndarray          # int32, voltage decay 0..4096 (0: no leak)
    bias: np.ndarray        # int32, added to v every timestep
    threshold: np.ndarray   # int32, spike when v > threshold
    refractory: np.ndarray  # int32, timesteps v is held at 0 after a spike
    v_min: np.ndarray | None = None   # int32, the voltage floor (None: -lim); multi-current kernel only
    du_syn: np.ndarray | None = None  # int32 [T, n], per synapse type current decay (None: one current, du)

    @classmethod
    def uniform(cls, n: int, *, du: int = DECAY_UNITY, dv: int = 0, bias: int = 0, threshold: int = 1,
                refractory: int = 0) -> "CubaArrays":
        """n compartments sharing one parameter set."""
        return cls(du=np.full(n, du, np.int32), dv=np.full(n, dv, np.int32), bias=np.full(n, bias, np.int32),
                   threshold=np.full(n, threshold, np.int32), refractory=np.full(n, refractory, np.int32))

    def __len__(self) -> int:
        return len(self.threshold)


def decay(x: np.ndarray, d: np.ndarray) -> np.ndarray:
    """``sign(x) * ((|x| * (4096 - d)) >> 12)`` in int64, rounding towards zero (vectorised)."""
    p = x.astype(np.int64) * (DECAY_UNITY - d.astype(np.int64))
    # numpy's >> on a negative number floors; shifting the magnitude truncates as Lava does
    return np.where(p >= 0, p >> DECAY_SHIFT, -((-p) >> DECAY_SHIFT))


def decay_int(x: int, d: int) -> int:
    """:func:`decay` for one Python int."""
    p = x * (DECAY_UNITY - d)
    return p >> DECAY_SHIFT if p >= 0 else -((-p) >> DECAY_SHIFT)


def cuba_step(v: np.ndarray, u: np.ndarray, refractory_left: np.ndarray, syn_in: np.ndarray, p: CubaArrays, *,
              membrane_bits: int) -> np.ndarray:
    """Advance every compartment one timestep in place; return the indices of those that fired.

    ``v``, ``u``: int32 voltage and current; ``refractory_left``: int32 timesteps each compartment
    is still held; ``syn_in``: int64 summed synaptic input this timestep.
    """
    lo, hi = cuba_range(membrane_bits)
    cur = np.clip(decay(u, p.du) + syn_in, lo, hi)
    u[:] = cur
    free = refractory_left <= 0
    volt = np.clip(decay(v, p.dv) + cur + p.bias, lo, hi)
    fired = free & (volt > p.threshold)
    v[:] = np.where(free, np.where(fired, 0, volt), v)
    refractory_left[:] = np.where(free, np.where(fired, p.refractory, 0), refractory_left - 1)
    return np.flatnonzero(fired)


def cuba_step_one(v: int, u: int, refractory_left: int, syn_in: int, p: CubaArrays, j: int, *,
                  membrane_bits: int) -> tuple[int, int, int, bool]:
    """The same update for compartment ``j`` alone, in plain Python: (v, u, refractory_left, fired)."""
    if p.du_syn is not None:
        from neuroemu.errors import NeuroEmuError
        raise NeuroEmuError("cuba_step_one steps one synaptic current per compartment; this network has "
                            f"{len(p.du_syn)} synapse types (the SimPy reference does not run several currents)")
    lo, hi = cuba_range(membrane_bits)
    u = min(max(decay_int(u, int(p.du[j])) + syn_in, lo), hi)
    if refractory_left > 0:
        return v, u, refractory_left - 1, False
    floor = lo if p.v_min is None else max(lo, int(p.v_min[j]))
    v = min(max(decay_int(v, int(p.dv[j])) + u + int(p.bias[j]), floor), hi)
    if v > int(p.threshold[j]):
        return 0, u, int(p.refractory[j]), True
    return v, u, 0, False


def n_currents(p: CubaArrays) -> int:
    """Synaptic currents per compartment T (1 unless ``du_syn`` is set)."""
    return 1 if p.du_syn is None else len(p.du_syn)


def cuba_step_multi(v: np.ndarray, u: np.ndarray, refractory_left: np.ndarray, syn_in: np.ndarray, p: CubaArrays, *,
                    membrane_bits: int) -> np.ndarray:
    """:func:`cuba_step` with T currents per compartment and a voltage floor (module docstring).

    ``u`` and ``syn_in``: [T * n], type-major (current c of compartment g at ``c * n + g``).
    Returns the indices of the compartments that fired.
    """
    lo, hi = cuba_range(membrane_bits)
    n = len(v)
    du = p.du[None, :] if p.du_syn is None else p.du_syn
    cur = np.clip(decay(u.reshape(-1, n), du) + syn_in.reshape(-1, n), lo, hi)
    u[:] = cur.ravel()
    floor = lo if p.v_min is None else np.maximum(p.v_min.astype(np.int64), lo)
    free = refractory_left <= 0
    volt = np.clip(decay(v, p.dv) + cur.sum(axis=0) + p.bias, floor, hi)
    fired = free & (volt > p.threshold)
    v[:] = np.where(free, np.where(fired, 0, volt), v)
    refractory_left[:] = np.where(free, np.where(fired, p.refractory, 0), refractory_left - 1)
    return np.flatnonzero(fired)


def bias_for_rate(p: float, threshold: int | None, refractory: int, where: str) -> tuple[int, int]:
    """Integers (bias, threshold) whose regular firing period is nearest 1 / ``p`` timesteps.

    With no voltage decay and no input, v grows by ``bias`` per timestep from 0 and the
    compartment fires when v > threshold: after K = threshold // bias + 1 timesteps, plus the
    refractory period. So the rate is quantised to 1 / integer timesteps. Without a given
    threshold one is chosen (bias 64) so that any period can be met exactly.
    """
    from neuroemu.errors import ConfigError
    if p >= 1.0:
        raise ConfigError(f"{where}.rate_hz: the rate times the tick is {p:g} spikes per tick; "
                          "a neuron fires at most once per tick (must be < 1)")
    period = max(1, round(1 / p))
    k = period - refractory  # timesteps spent integrating
    if k < 1:
        raise ConfigError(f"{where}.rate_hz: a period of {period} timesteps is shorter than the refractory "
                          f"period ({refractory}) plus one")
    if threshold is None:
        return 64, 64 * (k - 1) + 32
    if k == 1:
        return threshold + 1, threshold
    bias = threshold // (k - 1)
    if bias < 1 or threshold // bias != k - 1:
        raise ConfigError(f"{where}.threshold: with threshold {threshold} no integer bias gives a period of "
                          f"{k} timesteps (needs a threshold >= {k * (k - 1)}, or leave it out)")
    return bias, threshold
