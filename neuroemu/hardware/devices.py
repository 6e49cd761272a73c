"""Non-volatile synapses as devices: what the crossbar reads, given what was programmed.

A chip's ``synapse_device`` section (:class:`neuroemu.config.schema.SynapseDeviceSpec`) turns
the integer weights a network was compiled to into the weights its RRAM or PCM cells hold when
they are read (docs/devices.md):

1. a signed weight w in [-wmax, wmax] (wmax = 2**(weight_bits-1) - 1) is a differential pair of
   cells, G+ and G-, in units of G_max: the cell of w's sign is programmed to
   G_min + (1 - G_min) |w| / wmax (rounded to the cell's 2**level_bits - 1 steps), the other to
   G_min = 1 / on_off_ratio;
2. programming noise (device to device, fixed once programmed): G += sigma_prog N(0, 1), G >= 0;
3. drift (PCM): G(t) = G (t / t0)**-nu for t > t0, nu = drift_nu + drift_nu_std N(0, 1) per cell,
   clipped to [0, 1], t the workload's ``time_after_programming_s``;
4. stuck cells (yield): a fraction stuck at G_max (on), a fraction at G_min (off);
5. the read weight (G+ - G-) / (1 - G_min) x wmax, rounded to the weight LSB (the column
   integrator's unit) and clipped to +-wmax.

Every random number is drawn from the counter-based generator (:mod:`neuroemu.models.rng`) keyed
by (seed, purpose, cell): a cell's address is its chip core, axon row, neuron column and pair
half, so a weight's noise does not depend on the order cells are visited, the event queue or the
tick kernel, and the same seed programs the same array. An ideal device (no noise, no drift, no
stuck cells, enough levels) leaves the weights untouched: :func:`program_weights` returns them as
they are, and the run is bit for bit the digital crossbar's.

Read noise (cycle to cycle, :class:`ReadNoise`): each read of a cell adds a fresh normal draw keyed
by (seed, cell, that row's read count); the noisy column sums are rounded to the weight LSB. The
draw is a table lookup (:func:`normal_table`: 4096 unit-variance normal quantiles picked by the top
12 bits of splitmix64), so its C twin (``ne_integrate_noisy`` in hardware/tick.c) gives the same
bits as numpy: no libm or SIMD log/cos whose last bits differ between the two.

Endurance (:class:`Endurance`): a learning run counts the write pulses to each cell (a
potentiation pulses G+, a depression G-); past ``endurance_writes`` a cell sticks at its
conductance after its last accepted write, and its pair's other cell still responds.

Non-linear, asymmetric learning steps (:class:`ConductanceSteps`): a potentiation or depression
moves the weight along NeuroSim's exponential conductance-versus-pulse curves, so a step shrinks
as the weight nears the bound it moves towards.

The column periphery: :func:`adc_quantise` quantises a column sum with a ``bits``-bit ADC whose
step is a power of two of the weight LSB (so an ADC with enough bits changes nothing); its C twin
is ``ne_adc_quantise`` in hardware/tick.c.
"""
from __future__ import annotations

import functools
import math
import statistics
from dataclasses import dataclass

import numpy as np

from neuroemu.config.schema import ChipSpec, SynapseDeviceSpec
from neuroemu.errors import ConfigError
from neuroemu.models.neuron import neuron_model
from neuroemu.hardware.cores import CoreArrays, gather_synapse_index
from neuroemu.models.rng import MASK64, mix64, stream_key

#: seed purposes of the device streams (each cell draws one number per purpose)
STREAM_PROGRAM = 0xD501
STREAM_PROGRAM_2 = 0xD502
STREAM_DRIFT = 0xD503
STREAM_DRIFT_2 = 0xD504
STREAM_STUCK = 0xD505
STREAM_READ = 0xD506
STREAM_READ_CELL = 0xD508
#: read noise: the normal draw is a table of 2**NORMAL_TABLE_BITS quantiles
NORMAL_TABLE_BITS = 12


def uniform(key: int, counters: np.ndarray) -> np.ndarray:
    """One uniform float in (0, 1) per uint64 counter: 53 bits of splitmix64(key + counter)."""
    words = mix64(np.asarray(counters, np.uint64) + np.uint64(key & MASK64))
    return ((words >> np.uint64(11)).astype(np.float64) + 0.5) * (1.0 / (1 << 53))


def normal(seed: int, purposes: tuple[int, int], counters: np.ndarray) -> np.ndarray:
    """One standard normal per counter (Box-Muller over two independent uniform streams)."""
    u1 = uniform(stream_key(seed, purposes[0]), counters)
    u2 = uniform(stream_key(seed, purposes[1]), counters)
    return np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)


@functools.lru_cache(maxsize=1)
def normal_table() -> np.ndarray:
    """The read-noise normal draw as a table: the 2**12 midpoint quantiles of N(0, 1),
    Phi^-1((k + 1/2) / 4096), scaled so the table's own variance is exactly 1 (mean 0 by symmetry).

    A uniform 12-bit index picks one: a standard normal truncated at +-3.67 sigma (the last
    quantile after scaling), in steps of at most 0.002 sigma within +-2 sigma. Both tick kernels read this one
    table, so a draw is the same bits in C and numpy; Box-Muller would need log and cos, whose
    last bits differ between libm and numpy's SIMD code.
    """
    k = 1 << NORMAL_TABLE_BITS
    std = statistics.NormalDist()
    q = np.array([std.inv_cdf((i + 0.5) / k) for i in range(k)])
    q = (q - q[::-1]) / 2.0  # exactly antisymmetric
    return np.ascontiguousarray(q / math.sqrt(float(np.mean(q * q))))


def table_normal(key: int, counters: np.ndarray) -> np.ndarray:
    """One draw of :func:`normal_table` per uint64 counter: the top 12 bits of splitmix64(key + counter)."""
    words = mix64(np.asarray(counters, np.uint64) + np.uint64(key & MASK64))
    return normal_table()[(words >> np.uint64(64 - NORMAL_TABLE_BITS)).astype(np.intp)]


def is_ideal(dev: SynapseDeviceSpec | None, weight_bits: int, time_after_programming_s: float | None) -> bool:
    """True when the device reads back exactly the programmed weights (so nothing is drawn)."""
    if dev is None:
        return True
    drifts = dev.drift_nu.value > 0 or dev.drift_nu_std.value > 0
    late = time_after_programming_s is not None and time_after_programming_s > dev.drift_t0_s.value
    coarse = dev.level_bits is not None and dev.level_bits < weight_bits - 1
    noisy = dev.programming_noise.value > 0 or (dev.programming_noise_poly is not None
                                                and any(c != 0 for c in dev.programming_noise_poly))
    return not (noisy or (drifts and late) or coarse
                or dev.stuck_on_fraction.value > 0 or dev.stuck_off_fraction.value > 0)


def check_device(chip: ChipSpec, where: str) -> None:
    """A device needs per-synapse weights: a chip whose neuron model shares weights by axon type
    (TrueNorth's kernel) cannot use one. One line naming the chip file, the key and the rule."""
    if chip.synapse_device is None:
        return
    model = neuron_model(chip.core.neuron_model)
    if model.kernel != "cuba":
        raise ConfigError(f"{chip.source or where}: synapse_device: needs a neuron model with a weight per synapse "
                          f"(a crossbar cell per synapse, e.g. cuba_lif); core.neuron_model {chip.core.neuron_model!r} "
                          "shares one weight per axon type")


@dataclass(frozen=True)
class ProgramReport:
    """What programming did to the array (for the record's workload report)."""

    cells: int
    stuck_on: int
    stuck_off: int
    weights_changed: int
    mean_abs_error_lsb: float

    def to_plain(self) -> dict:
        """Plain form for the record."""
        return {"cells": self.cells, "stuck_on": self.stuck_on, "stuck_off": self.stuck_off,
                "weights_changed": self.weights_changed, "mean_abs_error_lsb": self.mean_abs_error_lsb}


def cell_addresses(chip_core: np.ndarray, local_axon: np.ndarray, neuron: np.ndarray, axons: int,
                   neurons: int) -> np.ndarray:
    """The address of every synapse's cell pair (uint64): (chip core, axon row, column); x2 + half."""
    cell = (chip_core.astype(np.uint64) * np.uint64(axons) + local_axon.astype(np.uint64)) * np.uint64(neurons)
    return (cell + neuron.astype(np.uint64)) * np.uint64(2)


def conductances(dev: SynapseDeviceSpec, weights: np.ndarray, wmax: int, cells: np.ndarray, seed: int,
                 time_after_programming_s: float | None) -> tuple[np.ndarray, np.ndarray]:
    """The read conductances [synapses, 2] (G+, G-; units of G_max) and the stuck code per cell
    (0 free, 1 on, 2 off). ``cells`` are :func:`cell_addresses`."""
    g_min = 0.0 if dev.on_off_ratio is None else 1.0 / dev.on_off_ratio.value
    frac = np.abs(weights.astype(np.float64)) / wmax if wmax else np.zeros(len(weights))
    if dev.level_bits is not None:
        steps = (1 << dev.level_bits) - 1
        frac = np.rint(frac * steps) / steps
    g = np.full((len(weights), 2), g_min)
    g[:, 0] = np.where(weights > 0, g_min + (1.0 - g_min) * frac, g_min)
    g[:, 1] = np.where(weights < 0, g_min + (1.0 - g_min) * frac, g_min)
    ids = np.stack([cells, cells + np.uint64(1)], axis=1)
    sigma = programming_sigma(dev, g)
    if sigma is not None:
        g += sigma * normal(seed, (STREAM_PROGRAM, STREAM_PROGRAM_2), ids)
        np.maximum(g, 0.0, out=g)  # a conductance is never negative
    t, t0 = time_after_programming_s, dev.drift_t0_s.value
    if t is not None and t > t0 and (dev.drift_nu.value > 0 or dev.drift_nu_std.value > 0):
        nu = dev.drift_nu.value + dev.drift_nu_std.value * normal(seed, (STREAM_DRIFT, STREAM_DRIFT_2), ids)
        g *= np.power(t / t0, -np.clip(nu, 0.0, 1.0))
    stuck = np.zeros(g.shape, np.int8)
    on, off = dev.stuck_on_fraction.value, dev.stuck_off_fraction.value
    if on > 0 or off > 0:
        u = uniform(stream_key(seed, STREAM_STUCK), ids)
        stuck[u < on] = 1
        stuck[(u >= on) & (u < on + off)] = 2
        g[stuck == 1] = 1.0
        g[stuck == 2] = g_min
    return g, stuck


def programming_sigma(dev: SynapseDeviceSpec, g_target: np.ndarray) -> np.ndarray | float | None:
    """The std of each cell's programmed conductance (units of G_max), or None for no noise.

    ``programming_noise_poly`` (c0 + c1 g + ...; negative values count as 0) wins over the
    constant ``programming_noise``."""
    if dev.programming_noise_poly is not None:
        sigma = np.zeros_like(g_target)
        for c in reversed(dev.programming_noise_poly):  # Horner
            sigma = sigma * g_target + c
        np.maximum(sigma, 0.0, out=sigma)
        return sigma if sigma.any() else None
    return dev.programming_noise.value if dev.programming_noise.value > 0 else None


def read_weights(g: np.ndarray, wmax: int, on_off_ratio: float | None) -> np.ndarray:
    """The signed weight a differential pair reads, in weight LSBs (float)."""
    g_min = 0.0 if on_off_ratio is None else 1.0 / on_off_ratio
    return (g[:, 0] - g[:, 1]) / (1.0 - g_min) * wmax


def program_weights(arrays, chip: ChipSpec, seed: int, time_after_programming_s: float | None,
                    where: str) -> ProgramReport | None:
    """Program the arrays' per-synapse weights into the chip's devices and store what they read.

    Returns None (and touches nothing) for an ideal device; else the arrays' ``row_weights`` are
    the devices' read weights (per-type weights are first made per synapse).
    """
    dev = chip.synapse_device
    check_device(chip, where)
    bits = chip.core.weight_bits
    if is_ideal(dev, bits, time_after_programming_s):
        return None
    wmax = (1 << (bits - 1)) - 1
    w = arrays.materialize_row_weights()
    axon = arrays.synapse_axons()
    A, N = arrays.axons_per_core, arrays.neurons_per_core
    cells = cell_addresses(arrays.chip_cores(axon // A), axon % A, arrays.row_neurons.astype(np.int64), A, N)
    g, stuck = conductances(dev, w, wmax, cells, seed, time_after_programming_s)
    ratio = None if dev.on_off_ratio is None else dev.on_off_ratio.value
    read = read_weights(g, wmax, ratio)
    new = np.clip(np.rint(read), -wmax, wmax).astype(np.int16)
    report = ProgramReport(cells=2 * len(w), stuck_on=int((stuck == 1).sum()), stuck_off=int((stuck == 2).sum()),
                           weights_changed=int((new != w).sum()),
                           mean_abs_error_lsb=float(np.abs(read - w).mean()) if len(w) else 0.0)
    arrays.set_row_weights(new)
    return report


@dataclass(frozen=True)
class AdcSpec:
    """A column ADC as integer arithmetic: step 2**shift weight LSBs, codes lo..hi."""

    bits: int
    shift: int
    lo: int
    hi: int


def adc_for(chip: ChipSpec) -> AdcSpec | None:
    """The chip's column ADC, or None (no ADC: the column sum is digital).

    The step is the smallest power of two of the weight LSB that lets ``bits`` signed codes span
    the full scale (default: every axon at the largest weight), so with enough bits the step is
    one LSB and the ADC changes nothing a column can sum.
    """
    dev = chip.synapse_device
    if dev is None or dev.adc_bits is None:
        return None
    wmax = (1 << (chip.core.weight_bits - 1)) - 1
    full = dev.adc_full_scale if dev.adc_full_scale is not None else chip.core.axons * wmax
    top = (1 << (dev.adc_bits - 1)) - 1  # largest positive code
    shift = max(0, math.ceil(math.log2(full / top))) if top > 0 else max(0, math.ceil(math.log2(full)))
    while top > 0 and (top << shift) < full:  # float log2 guard: the codes must reach the full scale
        shift += 1
    return AdcSpec(bits=dev.adc_bits, shift=shift, lo=-(1 << (dev.adc_bits - 1)), hi=top)


def adc_quantise(syn: np.ndarray, adc: AdcSpec) -> np.ndarray:
    """Column sums (int) through the ADC: round to the nearest step (halves up), clip to the codes."""
    x = np.asarray(syn, np.int64)
    half = (1 << adc.shift) >> 1
    q = np.floor_divide(x + half, 1 << adc.shift)
    return (np.clip(q, adc.lo, adc.hi) << adc.shift).astype(syn.dtype, copy=False)


class ReadNoise:
    """Cycle-to-cycle read noise of the crossbar cells, drawn per read (both tick kernels).

    A weight's pair of cells each adds ``read_noise`` x N(0, 1) of G_max per read, so the weight
    read gets sqrt(2) x read_noise x wmax / (1 - G_min) LSBs of noise. The draw of a synapse is keyed
    by its cell address and the number of times its row has been read, so it is the same whatever
    the queue, the order of the active rows, or how the run is cut into windows. The C kernel
    (``ne_integrate_noisy``) reads ``base``, ``reads``, ``key`` and :func:`normal_table` and sums in
    the same order (rows ascending, each row's synapses in CSR order, in float64), so it gives the
    same bits as :meth:`input`.
    """

    def __init__(self, arrays: CoreArrays, chip: ChipSpec, seed: int):
        dev = chip.synapse_device
        wmax = (1 << (chip.core.weight_bits - 1)) - 1
        g_min = 0.0 if dev.on_off_ratio is None else 1.0 / dev.on_off_ratio.value
        self.sigma_lsb = math.sqrt(2.0) * dev.read_noise.value * wmax / (1.0 - g_min)
        self.seed = seed
        self.key = stream_key(seed, STREAM_READ)
        self.reads = np.zeros(arrays.n_axons, np.int64)  # reads of each row so far
        axon = arrays.synapse_axons()
        A, N = arrays.axons_per_core, arrays.neurons_per_core
        cells = cell_addresses(arrays.chip_cores(axon // A), axon % A, arrays.row_neurons.astype(np.int64), A, N)
        # one 64-bit base per cell; a read adds its count, so (cell, read count) picks the draw
        self.base = np.ascontiguousarray(mix64(cells + np.uint64(stream_key(seed, STREAM_READ_CELL))))

    def input(self, arrays: CoreArrays, axons: np.ndarray, n_types: int = 1) -> tuple[np.ndarray, np.ndarray, int]:
        """The noisy summed input of every current type [n_types * n] (rounded to the LSB), touched, SOPs.

        ``axons``: this tick's distinct active rows (sorted). Each is read once: its count goes up.
        """
        a, n = arrays, arrays.n_neurons
        idx, neuron = gather_synapse_index(a, axons)
        lengths = a.row_ptr[axons + 1] - a.row_ptr[axons]
        counters = self.base[idx] + np.repeat(self.reads[axons], lengths).astype(np.uint64)
        self.reads[axons] += 1  # every distinct active row is read, with synapses or not (as in C)
        if not len(idx):
            return np.zeros(n_types * n, np.int64), np.zeros(n, bool), 0
        w = a.materialize_row_weights()[idx] + self.sigma_lsb * table_normal(self.key, counters)
        slot = neuron
        if n_types > 1:
            slot = np.repeat(a.axon_type[axons].astype(np.int64), lengths) * n + neuron
        syn = np.rint(np.bincount(slot, weights=w, minlength=n_types * n)).astype(np.int64)
        return syn, np.bincount(neuron, minlength=n) > 0, len(idx)

    def per_read(self, arrays: CoreArrays, axons: np.ndarray, idx: np.ndarray) -> np.ndarray:
        """Clockless reads: the integer weight each synapse of each activation reads (int64).

        ``axons``: one window's (instant, axon) activations in time order; ``idx``: their synapses
        (:func:`gather_synapse_index`). Each activation reads its row once, so the k-th activation
        of a row in the window has read count reads + k; with no tick column sum, each synapse's
        noisy read is rounded to the LSB on its own (half to even).
        """
        order = np.argsort(axons, kind="stable")  # per row, its activations in time order
        ranked = axons[order]
        first = np.ones(len(axons), bool)
        first[1:] = ranked[1:] != ranked[:-1]
        start = np.maximum.accumulate(np.where(first, np.arange(len(axons)), 0))
        rank = np.empty(len(axons), np.int64)
        rank[order] = np.arange(len(axons)) - start
        count = self.reads[axons] + rank
        np.add.at(self.reads, axons, 1)
        lengths = arrays.row_ptr[axons + 1] - arrays.row_ptr[axons]
        counters = self.base[idx] + np.repeat(count, lengths).astype(np.uint64)
        w = arrays.row_weights[idx] + self.sigma_lsb * table_normal(self.key, counters)
        return np.rint(w).astype(np.int64)


def clockless_reads(arrays: CoreArrays, chip: ChipSpec, seed: int, where: str) -> tuple[ReadNoise | None, bool]:
    """The device reads of the clockless (async) engine: (its read noise or None, whether a word-line
    drive is priced: then each activation counts one ``dac_drive``); refuses an ADC.

    An ADC converts a crossbar column's sum once per read of the array (a tick); the clockless
    engine integrates each arrival at its own instant into the neuron, so there is no column sum
    to convert: one line names the key and the way out. Read noise is defined per read: each
    (instant, axon) activation reads its row once (:meth:`ReadNoise.per_read`).
    """
    if adc_for(chip) is not None:
        raise ConfigError(f"{chip.source or where}: synapse_device.adc_bits: timing async has no column sum to "
                          "convert (an ADC quantises a column's sum once per tick; the clockless engine integrates "
                          "each arrival at its own instant): run a synchronous timing or drop adc_bits")
    noise = read_noise_for(arrays, chip, seed)
    if noise is not None:
        arrays.materialize_row_weights()
    dev = chip.synapse_device
    return noise, dev is not None and bool(dev.dac_pj_per_row.value)


def read_noise_for(arrays: CoreArrays, chip: ChipSpec, seed: int) -> ReadNoise | None:
    """The chip's read noise on these arrays, or None when its devices read without noise."""
    dev = chip.synapse_device
    if dev is None or dev.read_noise.value == 0:
        return None
    return ReadNoise(arrays, chip, seed)


class Endurance:
    """Learning wears the array, cell by cell: the write pulses each cell of each synapse's
    differential pair has taken, and which cells are stuck.

    A learning update is one write pulse to one cell: a potentiation pulses G+ (half 0), a
    depression pulses G- (half 1), as in a differential pair learned as in Burr 2015 (the weight
    is G+ - G-, so each pulse moves it through its own cell alone). A cell's writes 1..limit take
    effect; from then on the cell is stuck at its conductance after that last accepted write, and
    later pulses to it are counted (and charged: the device was pulsed) but change nothing, while
    the pair's other cell still responds. The learning rule asks :meth:`take` before it applies an
    update (hardware/learning.py), so a synapse with a stuck G+ can still be depressed but no longer
    potentiated, and one with a stuck G- the other way round.

    ``writes`` [synapses, 2]: the pulses per cell (column 0 G+, column 1 G-); the synapses are the
    arrays' (CSR order), so a cell is the address (chip core, axon row, neuron column, half) of
    :func:`cell_addresses`. Initial programming is not counted: it happens before the run.
    """

    def __init__(self, arrays: CoreArrays, limit: float):
        self.arrays = arrays
        self.limit = int(limit)
        self.writes = np.zeros((arrays.n_synapses, 2), np.int64)

    def take(self, synapses: np.ndarray, half) -> np.ndarray:
        """Count one write pulse to cell ``half`` (0: G+, 1: G-; scalar or per synapse) of each of
        ``synapses`` (distinct); returns which writes take effect (the cell had taken fewer than
        ``limit`` before)."""
        before = self.writes[synapses, half]
        self.writes[synapses, half] = before + 1
        return before < self.limit

    @property
    def stuck(self) -> np.ndarray:
        """[synapses, 2] bool: the cells that have taken their ``limit`` writes (the next will not take)."""
        return self.writes >= self.limit

    def report(self) -> dict:
        """The wear for the record: the most-written cell (its count, and its address as [chip core,
        axon row, neuron column, half (0 G+, 1 G-)]; the first in synapse then half order on a tie),
        the cells written, and the cells past their endurance (stuck) and their fraction of all the
        cells of the network's synapses (two per synapse, the programming report's ``cells``)."""
        a, w = self.arrays, self.writes
        cells = w.size
        top = int(np.argmax(w)) if cells else 0  # flat index: synapse * 2 + half
        syn, half = divmod(top, 2)
        axon = int(a.synapse_axons()[syn]) if cells else 0
        cell = [int(a.chip_cores(np.array([axon // a.axons_per_core]))[0]), axon % a.axons_per_core,
                int(a.row_neurons[syn]) if cells else 0, half]
        past = int(np.count_nonzero(self.stuck))
        return {"endurance_writes": self.limit, "most_writes": int(w.max(initial=0)),
                "most_written_cell": cell,
                "cells_written": int(np.count_nonzero(w)),
                "synapses_written": int(np.count_nonzero(w.any(axis=1))),
                "cells_past_endurance": past,
                "fraction_past_endurance": past / max(cells, 1),
                "writes": int(w.sum())}


class ConductanceSteps:
    """Non-linear, asymmetric potentiation and depression: NeuroSim's exponential device model.

    NeuroSim (P.-Y. Chen, X. Peng, S. Yu, "NeuroSim: a circuit-level macro model for benchmarking
    neuro-inspired architectures in online learning", IEEE TCAD 37(12), 2018, section on the
    non-linear weight update) writes a cell's conductance after P identical pulses as

        potentiation  G(P) = B_p (1 - exp(-P / A_p)) + G_min,
        depression    G(P) = G_max - B_d (1 - exp(-P / A_d)),   B = (G_max - G_min) / (1 - exp(-P_max / A)),

    so one curve spans G_min..G_max in P_max pulses and A sets how non-linear it is (large A: linear).
    Here the weight w maps linearly onto G between the learning rule's bounds [w_min, w_max]
    (range R), a = A / P_max is the configured ``ltp_nonlinearity`` / ``ltd_nonlinearity``, and an
    update the rule asks for, of size d (weight units, what a linear device would move), is
    p = (d / R) P_max pulses along the curve from the weight's own point. Eliminating P gives
    the closed form used here (no P_max left in it):

        potentiation  w' = top - (top - w) k_p,       top = w_min + R b_p,   k_p = exp(-d / (R a_p))
        depression    w' = bottom + (w - bottom) k_d, bottom = w_max - R b_d, k_d = exp(-d / (R a_d))

    with b = 1 / (1 - exp(-1 / a)). From w_min, d = R of potentiation reaches w_max exactly (and
    from w_max, d = R of depression reaches w_min); as a grows the step tends to d (linear). The
    rule still clips to [w_min, w_max]. ``keep_ltp`` / ``keep_ltd`` give k for a d (scalar, with
    math.exp, so the vectorised rule can tabulate it per pairing and agree bit for bit with the
    reference); ``potentiate`` / ``depress`` are the same +, -, x on floats or arrays.
    """

    def __init__(self, w_min: float, w_max: float, a_ltp: float | None, a_ltd: float | None):
        self.w_min, self.w_max = float(w_min), float(w_max)
        self.range = self.w_max - self.w_min
        self.a_ltp, self.a_ltd = a_ltp, a_ltd
        # a curve's far end: where the exponential would level off (beyond the bound it must reach)
        self.top = self.w_min + self.range * self._b(a_ltp) if a_ltp is not None else None
        self.bottom = self.w_max - self.range * self._b(a_ltd) if a_ltd is not None else None

    @staticmethod
    def _b(a: float) -> float:
        return 1.0 / -math.expm1(-1.0 / a)

    def keep_ltp(self, d: float) -> float:
        """The factor k_p = exp(-d / (R a_p)) of a potentiation of size d (1 for a linear curve)."""
        return math.exp(-d / (self.range * self.a_ltp)) if self.a_ltp is not None and self.range > 0 else 1.0

    def keep_ltd(self, d: float) -> float:
        """The factor k_d = exp(-d / (R a_d)) of a depression of size d."""
        return math.exp(-d / (self.range * self.a_ltd)) if self.a_ltd is not None and self.range > 0 else 1.0

    def potentiate(self, w, d, k):
        """The weight after a potentiation of size d (factor k = keep_ltp(d)); floats or arrays."""
        return w + d if self.top is None else self.top - (self.top - w) * k

    def depress(self, w, d, k):
        """The weight after a depression of size d (factor k = keep_ltd(d)); floats or arrays."""
        return w - d if self.bottom is None else self.bottom + (w - self.bottom) * k


def conductance_steps(dev: SynapseDeviceSpec | None, w_min: float, w_max: float) -> ConductanceSteps | None:
    """The device's learning steps between the rule's bounds, or None when both curves are linear."""
    if dev is None or (dev.ltp_nonlinearity is None and dev.ltd_nonlinearity is None):
        return None
    return ConductanceSteps(w_min, w_max, None if dev.ltp_nonlinearity is None else dev.ltp_nonlinearity.value,
                            None if dev.ltd_nonlinearity is None else dev.ltd_nonlinearity.value)
