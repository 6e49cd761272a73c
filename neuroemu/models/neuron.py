"""Neuron models as struct-of-arrays parameters plus a vectorised tick update.

The TrueNorth-style LIF (Merolla et al. 2014; Akopyan et al. 2015) as modelled here,
per neuron j in one tick:

1. integrate: V += sum over active axons i of w_ij * S_j[G_i]  (the SOPs)
2. leak: V += lambda (deterministic) or V += sign(lambda) * [rho < |lambda|] (stochastic,
   rho a random byte), so a stochastic leak adds |lambda|/256 on average
3. saturate V to the signed ``membrane_bits`` range
4. fire when V >= alpha + (eta & M) (eta random, M the stochastic threshold mask);
   reset: ``linear`` V -= that threshold, ``zero`` V = R, ``none`` V unchanged
5. floor: V = max(V, -beta) (the saturating negative threshold)

Not modelled: stochastic synapses, the 4 leak-reversal modes and the non-saturating
negative-threshold reset. The random bytes come from :mod:`neuroemu.models.rng`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import rng

RESET_MODES = {"linear": 0, "zero": 1, "none": 2}


@dataclass
class NeuronArrays:
    """Per-neuron parameters of the TrueNorth-style LIF, one entry per neuron of the chip."""

    leak: np.ndarray             # int16, lambda
    leak_stochastic: np.ndarray  # bool
    threshold: np.ndarray        # int32, alpha >= 1
    threshold_mask: np.ndarray   # int32, M (0: deterministic threshold)
    reset_mode: np.ndarray       # int8, RESET_MODES values
    reset_value: np.ndarray      # int32, R
    floor: np.ndarray            # int32, beta >= 0: V never goes below -beta

    @classmethod
    def uniform(cls, n: int, *, leak: int = 0, leak_stochastic: bool = False, threshold: int = 1,
                threshold_mask: int = 0, reset: str = "linear", reset_value: int = 0,
                floor: int = 0) -> "NeuronArrays":
        """n neurons sharing one parameter set."""
        return cls(
            leak=np.full(n, leak, np.int16), leak_stochastic=np.full(n, leak_stochastic, bool),
            threshold=np.full(n, threshold, np.int32), threshold_mask=np.full(n, threshold_mask, np.int32),
            reset_mode=np.full(n, RESET_MODES[reset], np.int8), reset_value=np.full(n, reset_value, np.int32),
            floor=np.full(n, floor, np.int32))

    def __len__(self) -> int:
        return len(self.threshold)


def membrane_range(bits: int) -> tuple[int, int]:
    """The saturation limits of a signed membrane of ``bits`` bits."""
    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


def truenorth_step(v: np.ndarray, syn_in: np.ndarray, p: NeuronArrays, *, tick: int, key: int,
                   membrane_bits: int) -> np.ndarray:
    """Advance every neuron one tick in place; return the indices of the neurons that fired.

    ``v`` int32 membrane potentials, ``syn_in`` int64 summed synaptic input this tick.
    """
    lo, hi = membrane_range(membrane_bits)
    x = v.astype(np.int64) + syn_in
    leak = p.leak.astype(np.int64)
    if p.leak_stochastic.any():
        rho = rng.leak_bytes(key, tick, len(v)).astype(np.int64)
        stochastic_leak = np.sign(leak) * (rho < np.abs(leak))
        leak = np.where(p.leak_stochastic, stochastic_leak, leak)
    x += leak
    np.clip(x, lo, hi, out=x)
    theta = p.threshold.astype(np.int64)
    if p.threshold_mask.any():
        theta = theta + (rng.threshold_bits(key, tick, len(v)) & p.threshold_mask)
    fired = x >= theta
    mode = p.reset_mode
    x = np.where(fired & (mode == 0), x - theta, x)
    x = np.where(fired & (mode == 1), p.reset_value, x)
    x = np.maximum(x, -p.floor.astype(np.int64))
    v[:] = x
    return np.flatnonzero(fired)


def truenorth_step_one(v: int, syn_in: int, p: NeuronArrays, j: int, *, tick: int, key: int,
                       membrane_bits: int) -> tuple[int, bool]:
    """The same update for neuron ``j`` alone, in plain Python (the reference's twin)."""
    lo, hi = membrane_range(membrane_bits)
    x = v + syn_in
    leak = int(p.leak[j])
    if p.leak_stochastic[j]:
        leak = (1 if leak > 0 else -1) * int(rng.leak_byte_int(key, tick, j) < abs(leak)) if leak else 0
    x = min(max(x + leak, lo), hi)
    mask = int(p.threshold_mask[j])
    theta = int(p.threshold[j]) + (rng.threshold_bits_int(key, tick, j) & mask if mask else 0)
    fired = x >= theta
    if fired:
        mode = int(p.reset_mode[j])
        if mode == 0:
            x -= theta
        elif mode == 1:
            x = int(p.reset_value[j])
    x = max(x, -int(p.floor[j]))
    return x, fired


NEURON_MODELS = {"truenorth_lif": truenorth_step}


def neuron_model(name: str):
    """Look up a neuron model by name; an unknown name lists the valid ones."""
    from ..errors import ConfigError
    try:
        return NEURON_MODELS[name]
    except KeyError:
        raise ConfigError(f"core.neuron_model: unknown model {name!r}; valid: {', '.join(sorted(NEURON_MODELS))}") from None
