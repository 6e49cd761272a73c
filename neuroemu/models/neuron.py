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

The registry :data:`NEURON_MODELS` (``core.neuron_model``) holds every model the tick kernels
run: ``truenorth_lif`` (this one), ``loihi_cuba`` and ``cuba_lif`` (the current-based LIF of
:mod:`neuroemu.models.loihi`, with and without Loihi's per-core limits). Each entry states the
per-core limits of the hardware it models (:class:`ModelLimits`); a chip or workload beyond
them is refused with the limit and its source in the message.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neuroemu.models import rng

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
                   membrane_bits: int, offset: int = 0) -> np.ndarray:
    """Advance every neuron one tick in place; return the indices of the neurons that fired.

    ``v`` int32 membrane potentials, ``syn_in`` int64 summed synaptic input this tick;
    ``offset``: the global id of ``v[0]`` (an MPI rank's block), which keys the random bits.
    """
    lo, hi = membrane_range(membrane_bits)
    x = v.astype(np.int64) + syn_in
    leak = p.leak.astype(np.int64)
    if p.leak_stochastic.any():
        rho = rng.leak_bytes(key, tick, len(v), offset).astype(np.int64)
        stochastic_leak = np.sign(leak) * (rho < np.abs(leak))
        leak = np.where(p.leak_stochastic, stochastic_leak, leak)
    x += leak
    np.clip(x, lo, hi, out=x)
    theta = p.threshold.astype(np.int64)
    if p.threshold_mask.any():
        theta = theta + (rng.threshold_bits(key, tick, len(v), offset) & p.threshold_mask)
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


# --- the registry ---------------------------------------------------------------------------

@dataclass(frozen=True)
class ModelLimits:
    """What one core of a neuron model can hold; a chip or workload beyond it is refused.

    ``None`` means no limit of that kind beyond the schema's. ``max_synapse_bits_per_core``
    counts each stored synapse at its weight width (1 bit for a binary crossbar whose weights
    live per neuron and axon type): a lower bound on the memory a core needs.
    """

    max_neurons_per_core: int | None = None
    max_axons_per_core: int | None = None
    max_synapse_bits_per_core: int | None = None
    max_membrane_bits: int | None = None
    max_weight_bits: int | None = None
    source: str = ""


@dataclass(frozen=True)
class NeuronModel:
    """A neuron model of the registry: its kernel family, parameters and per-core limits.

    ``kernel`` names the tick kernels that run it ("truenorth": :func:`truenorth_step` and
    ``ne_truenorth_step``; "cuba": :func:`neuroemu.models.loihi.cuba_step` and ``ne_cuba_step``).
    ``parameters`` are the keys ``network.neuron`` may set, with their inclusive ranges.
    """

    name: str
    kernel: str
    description: str
    limits: ModelLimits
    parameters: tuple[tuple[str, int, int], ...] = ()
    #: why the model has no tick kernel ("" when it has one): such a model runs only under async,
    #: and sync, gals and barrier refuse it with this reason (:func:`require_clocked`)
    no_clock: str = ""
    #: synapses shared by type and input spread by an analog diffuser (Neurogrid): a network's
    #: stored weights are mapped onto them (:mod:`neuroemu.networks.diffuser`)
    diffuser: bool = False

    def check_chip(self, chip, where: str) -> None:
        """Raise CapacityError naming the limit when the chip's cores exceed what the model allows."""
        from neuroemu.errors import CapacityError
        lim, core = self.limits, chip.core
        for key, value, limit, what in (
                ("neurons", core.neurons, lim.max_neurons_per_core, "neurons per core"),
                ("axons", core.axons, lim.max_axons_per_core, "axons per core"),
                ("membrane_bits", core.membrane_bits, lim.max_membrane_bits, "membrane bits"),
                ("weight_bits", core.weight_bits, lim.max_weight_bits, "weight bits")):
            if limit is not None and value > limit:
                raise CapacityError(f"{where}: core.{key}: {value} {what}, more than the {self.name} model "
                                    f"allows ({limit}; {lim.source})")

    def check_synapses(self, synapses_per_core: int, bits_per_synapse: int, where: str) -> None:
        """Raise CapacityError naming the limit when a core's synapses exceed the model's memory."""
        from neuroemu.errors import CapacityError
        limit = self.limits.max_synapse_bits_per_core
        need = synapses_per_core * bits_per_synapse
        if limit is not None and need > limit:
            raise CapacityError(
                f"{where}.synapses_per_axon: {synapses_per_core:,} synapses per core at {bits_per_synapse} "
                f"bits need {need:,} bits, more than the {self.name} model allows per core "
                f"({limit:,} bits; {self.limits.source})")

    def resolve_parameters(self, given: dict | None, where: str) -> dict[str, int]:
        """The model's ``network.neuron`` parameters as integers; unknown keys and bad values are errors."""
        from neuroemu.errors import ConfigError
        ranges = {name: (lo, hi) for name, lo, hi in self.parameters}
        out: dict[str, int] = {}
        for key, value in (given or {}).items():
            if key not in ranges:
                valid = ", ".join(sorted(ranges)) or "none"
                raise ConfigError(f"{where}.neuron.{key}: unknown parameter of neuron model {self.name!r}; "
                                  f"valid: {valid}")
            lo, hi = ranges[key]
            if isinstance(value, bool) or not float(value).is_integer() or not lo <= value <= hi:
                raise ConfigError(f"{where}.neuron.{key}: must be an integer in {lo}..{hi} (got {value:g})")
            out[key] = int(value)
        return out


_TRUENORTH_LIMITS = ModelLimits(
    max_neurons_per_core=256, max_axons_per_core=256, max_synapse_bits_per_core=256 * 256,
    max_membrane_bits=20, max_weight_bits=9,
    source="TrueNorth core: 256 axons x 256 neurons binary crossbar, 20-bit membrane, 9-bit weights "
           "(Merolla 2014; Akopyan 2015)")

_LOIHI_LIMITS = ModelLimits(
    max_neurons_per_core=1024, max_axons_per_core=4096, max_synapse_bits_per_core=16 * 2 ** 20 * 8 // 128,
    max_membrane_bits=24, max_weight_bits=9,
    source="Loihi core: 1,024 compartments, 16 MB synaptic memory over 128 cores = 1,048,576 bits "
           "(Davies 2018); 4,096 fan-in axons and the 1,048,576-bit limit as in nengo-loihi; 24-bit u and v "
           "(Lava); weights of 1-9 bits (Davies 2018)")

_CUBA_PARAMETERS = (("du", 0, 4096), ("dv", 0, 4096), ("bias", -(1 << 30), (1 << 30) - 1),
                    ("refractory", 0, (1 << 15) - 1))

#: the diffuser's neighbourhood (networks/diffuser.py): a disc of radius r, or a width x height rectangle;
#: wrap 1: the array wraps at its edges, 0: clipped
_DIFFUSER_PARAMETERS = (("diffuser_radius", 0, 255), ("diffuser_width", 0, 256), ("diffuser_height", 0, 256),
                        ("diffuser_wrap", 0, 1))

NEURON_MODELS: dict[str, NeuronModel] = {
    "truenorth_lif": NeuronModel(
        "truenorth_lif", "truenorth", "TrueNorth LIF: leak, stochastic modes, linear/zero/no reset",
        _TRUENORTH_LIMITS),
    "loihi_cuba": NeuronModel(
        "loihi_cuba", "cuba", "Loihi current-based LIF (u and v decay, bias, refractory), Loihi core limits",
        _LOIHI_LIMITS, _CUBA_PARAMETERS),
    "cuba_lif": NeuronModel(
        "cuba_lif", "cuba", "the current-based LIF of loihi_cuba without Loihi's per-core limits",
        ModelLimits(max_membrane_bits=31, source="the kernel's int32 state"), _CUBA_PARAMETERS),
    # Neurogrid's analog neuron on a generated or mapped network: the current-based LIF read in
    # continuous time (docs/async.md), its inputs delivered through shared synapses and the diffuser
    "neurogrid_lif": NeuronModel(
        "neurogrid_lif", "cuba", "Neurogrid's analog LIF (continuous time, async only): shared synapse types, "
        "input spread by the diffuser",
        ModelLimits(max_neurons_per_core=65536, max_membrane_bits=31,
                    source="Neurogrid Neurocore: 256 x 256 analog neurons (Benjamin 2014)"),
        _CUBA_PARAMETERS + _DIFFUSER_PARAMETERS,
        no_clock="Neurogrid's neurons are analog circuits integrating in continuous time, with no clock and no "
                 "tick kernel; run it with --timing async",
        diffuser=True),
}
"""Registry: neuron model name (``core.neuron_model``) -> :class:`NeuronModel`; used to look up and list."""


def neuron_model(name: str) -> NeuronModel:
    """Look up a neuron model by name; an unknown name lists the valid ones."""
    from neuroemu.errors import ConfigError
    try:
        return NEURON_MODELS[name]
    except KeyError:
        raise ConfigError(f"core.neuron_model: unknown model {name!r}; valid: {', '.join(sorted(NEURON_MODELS))}") from None


def require_clocked(chip, mode: str) -> None:
    """Refuse, in one line, a chip whose neuron model has no tick kernel under a clocked semantics
    (sync, gals, barrier): the model says why (``NeuronModel.no_clock``)."""
    from neuroemu.errors import ConfigError
    model = neuron_model(chip.core.neuron_model)
    if model.no_clock:
        raise ConfigError(f"{chip.source or chip.name}: core.neuron_model: {model.name} cannot run under {mode} "
                          f"timing: {model.no_clock}")


def check_chip_model(chip, where: str) -> None:
    """Check a chip against its neuron model's per-core limits (unknown model: ConfigError)."""
    neuron_model(chip.core.neuron_model).check_chip(chip, where)
