"""NVM synapses as devices (neuroemu.hardware.devices): programming, drift, stuck cells, the column ADC."""
from __future__ import annotations

import copy
import dataclasses
import math

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from neuroemu import simulate
from neuroemu.cli.app import main
from neuroemu.config import chip_from_data, load_workload
from neuroemu.config.loader import CHIPS_DIR, REPO_ROOT, load_chip, read_yaml
from neuroemu.config.schema import Sourced, SynapseDeviceSpec
from neuroemu.errors import ConfigError, NeuroEmuError
from neuroemu.hardware import devices as dv
from neuroemu.hardware.step import _tick

#: the device streams' seed purposes, as literals: a seed must program, drift, stick and read the same
#: cells in every version, so a changed purpose is a changed record (each draw below is keyed by these)
S_PROGRAM, S_PROGRAM_2, S_DRIFT, S_DRIFT_2, S_STUCK, S_READ, S_READ_CELL = \
    0xD501, 0xD502, 0xD503, 0xD504, 0xD505, 0xD506, 0xD508

RRAM_SMALL = REPO_ROOT / "workloads" / "rram_small.yaml"
PCM_SMALL = REPO_ROOT / "workloads" / "pcm_small.yaml"
TICKS = 40


def rram(device: SynapseDeviceSpec | None):
    """rram_htree with the given device section (None: none at all)."""
    return dataclasses.replace(load_chip("rram_htree"), synapse_device=device)


def fingerprint(r) -> tuple:
    """Everything a run reports about the chip's behaviour (not wall time, not the config echo)."""
    trains = r.spike_trains
    return (r.spikes, r.synaptic_events, r.axon_events, dict(r.counts), r.energy_j, dict(r.energy_breakdown_j),
            trains.ticks.tolist(), trains.neurons.tolist())


def cells(n: int) -> np.ndarray:
    """n distinct cell-pair addresses (even numbers, as cell_addresses makes them)."""
    return np.arange(n, dtype=np.uint64) * np.uint64(2)


# --- an ideal device is the digital crossbar, bit for bit ---------------------------------------

@pytest.mark.parametrize("tick", ["c", "numpy"])
def test_an_ideal_device_reproduces_todays_record_bit_for_bit(tick):
    base = simulate(rram(None), RRAM_SMALL, ticks=TICKS, record_spikes=True, tick_backend=tick)
    assert base.spikes > 0
    zeros = simulate(rram(SynapseDeviceSpec()), RRAM_SMALL, ticks=TICKS, record_spikes=True, tick_backend=tick)
    shipped = simulate("rram_htree", RRAM_SMALL, ticks=TICKS, record_spikes=True, tick_backend=tick)
    assert fingerprint(zeros) == fingerprint(base)
    assert fingerprint(shipped) == fingerprint(base)  # the shipped RRAM is ideal by value (digital crossbar)
    assert "synapse_device" not in base.workload_report and "synapse_device" not in zeros.workload_report


def test_the_device_transform_itself_is_exact_without_noise():
    """Forced through the pair model (finite on/off, no noise), every weight reads back as programmed."""
    w = np.arange(-127, 128, dtype=np.int16)
    dev = SynapseDeviceSpec(on_off_ratio=Sourced(7.0))
    g, stuck = dv.conductances(dev, w, 127, cells(len(w)), 5, None)
    assert not stuck.any()
    assert np.array_equal(np.rint(dv.read_weights(g, 127, 7.0)).astype(np.int16), w)


# --- programming noise, drift, stuck cells --------------------------------------------------------

def test_programming_noise_statistics_match_the_configured_spread():
    n = 200_000
    w = np.full(n, 64, np.int16)  # target 0.75 on the G+ cell, 0.5 (G_min) on the G- cell: no clipping at 0
    dev = SynapseDeviceSpec(on_off_ratio=Sourced(2.0), programming_noise=Sourced(0.03))
    g, _ = dv.conductances(dev, w, 128, cells(n), 11, None)
    target = np.array([0.5 + 0.5 * 64 / 128, 0.5])
    err = (g - target).ravel()
    se_mean, se_std = 0.03 / math.sqrt(err.size), 0.03 / math.sqrt(2 * err.size)
    assert abs(err.mean()) < 5 * se_mean
    assert abs(err.std() - 0.03) < 5 * se_std


def test_programming_noise_polynomial_follows_the_target_conductance():
    n = 100_000
    coeffs = (0.0105392, 0.0786, -0.046924)  # pcm_htree's (aihwkit's fit in units of G_max)
    dev = SynapseDeviceSpec(programming_noise_poly=coeffs, on_off_ratio=Sourced(4.0))
    w = np.full(n, 100, np.int16)
    g, _ = dv.conductances(dev, w, 100, cells(n), 3, None)  # G+ at 1.0, G- at G_min 0.25
    for half, g0 in ((0, 1.0), (1, 0.25)):
        want = coeffs[0] + coeffs[1] * g0 + coeffs[2] * g0 ** 2
        assert abs((g[:, half] - g0).std() - want) < 5 * want / math.sqrt(2 * n)


def test_drift_follows_the_power_law():
    n = 50_000
    w = np.full(n, 50, np.int16)
    dev = SynapseDeviceSpec(drift_nu=Sourced(0.05), drift_t0_s=Sourced(20.0))
    g0, _ = dv.conductances(dev, w, 100, cells(n), 1, None)
    for t in (20.0, 2e4, 3.15e7):
        g, _ = dv.conductances(dev, w, 100, cells(n), 1, t)
        np.testing.assert_allclose(g[:, 0], g0[:, 0] * max(t / 20.0, 1.0) ** -0.05, rtol=1e-12)
    # a spread of nu: log(G / G0) / log(t / t0) is -nu, cell by cell: mean and std as configured
    spread = dataclasses.replace(dev, drift_nu_std=Sourced(0.01))
    g, _ = dv.conductances(spread, w, 100, cells(n), 1, 2e5)
    nu = -np.log(g[:, 0] / g0[:, 0]) / math.log(2e5 / 20.0)
    assert abs(nu.mean() - 0.05) < 5 * 0.01 / math.sqrt(n)
    assert abs(nu.std() - 0.01) < 5 * 0.01 / math.sqrt(2 * n)


def test_stuck_fractions_match_the_cell_count():
    n = 100_000
    w = np.full(n, 3, np.int16)
    dev = SynapseDeviceSpec(stuck_on_fraction=Sourced(0.02), stuck_off_fraction=Sourced(0.05))
    g, stuck = dv.conductances(dev, w, 7, cells(n), 9, None)
    target = np.stack([np.full(n, 3 / 7), np.zeros(n)], axis=1)
    # every cell the code calls stuck holds its stuck conductance; every other holds its target
    assert np.array_equal(g[stuck == 1], np.ones((stuck == 1).sum()))
    assert np.array_equal(g[stuck == 2], np.zeros((stuck == 2).sum()))
    assert np.array_equal(g[stuck == 0], target[stuck == 0])
    for code, p in ((1, 0.02), (2, 0.05)):
        count = int((stuck == code).sum())
        assert abs(count - p * 2 * n) < 5 * math.sqrt(2 * n * p * (1 - p))
    everything = dataclasses.replace(dev, stuck_on_fraction=Sourced(1.0), stuck_off_fraction=Sourced(0.0))
    assert (dv.conductances(everything, w, 7, cells(n), 9, None)[1] == 1).sum() == 2 * n


def test_noise_is_keyed_by_cell_not_by_visiting_order():
    n = 1000
    w = np.random.default_rng(0).integers(-7, 8, n).astype(np.int16)
    ids = cells(n)
    dev = SynapseDeviceSpec(programming_noise=Sourced(0.05), drift_nu=Sourced(0.05), drift_nu_std=Sourced(0.01),
                            stuck_on_fraction=Sourced(0.01))
    g, _ = dv.conductances(dev, w, 7, ids, 4, 1e4)
    order = np.random.default_rng(1).permutation(n)
    g2, _ = dv.conductances(dev, w[order], 7, ids[order], 4, 1e4)
    assert np.array_equal(g2, g[order])
    assert not np.array_equal(dv.conductances(dev, w, 7, ids, 5, 1e4)[0], g)  # another seed, other devices


@pytest.mark.parametrize("queue,tick", [("c", "c"), ("python", "numpy")])
def test_a_noisy_device_gives_the_same_record_on_every_queue_and_kernel(queue, tick):
    dev = SynapseDeviceSpec(programming_noise=Sourced(0.05), stuck_off_fraction=Sourced(0.01), adc_bits=8,
                            adc_fom_pj=Sourced(0.01), dac_pj_per_row=Sourced(0.002))
    ref = simulate(rram(dev), RRAM_SMALL, ticks=TICKS, record_spikes=True, queue="c", tick_backend="numpy")
    r = simulate(rram(dev), RRAM_SMALL, ticks=TICKS, record_spikes=True, queue=queue, tick_backend=tick)
    assert fingerprint(r) == fingerprint(ref)
    rep = r.workload_report["synapse_device"]
    assert rep["cells"] > 0 and rep["cells"] % 2 == 0 and rep["weights_changed"] > 0 and rep["stuck_off"] > 0


# --- the column periphery ---------------------------------------------------------------------------

@pytest.mark.parametrize("tick", ["c", "numpy"])
def test_an_adc_with_enough_bits_changes_nothing_a_coarse_one_does(tick):
    base = simulate(rram(None), RRAM_SMALL, ticks=TICKS, record_spikes=True, tick_backend=tick)
    fine = simulate(rram(SynapseDeviceSpec(adc_bits=12)), RRAM_SMALL, ticks=TICKS, record_spikes=True,
                    tick_backend=tick)  # 256 axons x 7 = 1792 < 2047: a step of one LSB
    assert dv.adc_for(rram(SynapseDeviceSpec(adc_bits=12))).shift == 0
    assert (fine.spikes, fine.spike_trains.neurons.tolist()) == (base.spikes, base.spike_trains.neurons.tolist())
    coarse = simulate(rram(SynapseDeviceSpec(adc_bits=5)), RRAM_SMALL, ticks=TICKS, record_spikes=True,
                      tick_backend=tick)
    assert coarse.spike_trains.neurons.tolist() != base.spike_trains.neurons.tolist()


def test_adc_quantise_rounds_clips_and_matches_its_c_twin():
    adc = dv.AdcSpec(bits=4, shift=3, lo=-8, hi=7)
    x = np.array([0, 3, 4, 5, -4, -5, -12, 55, 56, 1000, -1000], np.int32)
    want = np.array([0, 0, 8, 8, 0, -8, -8, 56, 56, 56, -64], np.int32)  # halves round up; codes -8..7
    assert dv.adc_quantise(x, adc).tolist() == want.tolist()
    if _tick is None:
        pytest.skip("C tick kernels not built")
    rng = np.random.default_rng(2)
    for shift, bits in ((0, 16), (2, 6), (5, 3), (9, 1)):
        spec = dv.AdcSpec(bits=bits, shift=shift, lo=-(1 << (bits - 1)), hi=(1 << (bits - 1)) - 1)
        acc = rng.integers(-5000, 5000, 4096).astype(np.int32)
        c = acc.copy()
        assert _tick.lib.ne_adc_quantise(_tick.ffi.cast("int32_t *", _tick.ffi.from_buffer(c)), len(c), shift,
                                         spec.lo, spec.hi) == 0
        assert np.array_equal(c, dv.adc_quantise(acc, spec))


def test_the_periphery_is_counted_and_priced_and_the_breakdown_sums_to_the_total():
    dev = SynapseDeviceSpec(adc_bits=6, adc_fom_pj=Sourced(0.01), dac_pj_per_row=Sourced(0.002))
    r = simulate(rram(dev), RRAM_SMALL, ticks=TICKS)
    conv, drives = r.counts["adc_conversion"], r.counts["dac_drive"]
    assert conv > 0 and conv % 256 == 0  # every used column of a read crossbar: rram_small fills its 256 columns
    assert 0 < drives <= r.axon_events
    assert r.energy_breakdown_j["adc"] == conv * 0.01 * 2 ** 6 * 1e-12
    assert r.energy_breakdown_j["dac"] == drives * 0.002 * 1e-12
    assert math.fsum(r.energy_breakdown_j.values()) == r.energy_j


# --- PCM and the time after programming --------------------------------------------------------------

def test_time_after_programming_drifts_pcm_from_the_cli_and_the_workload(tmp_path):
    early = simulate("pcm_htree", PCM_SMALL, ticks=TICKS)
    wl = dataclasses.replace(load_workload(PCM_SMALL), time_after_programming_s=3.15e7)
    late = simulate("pcm_htree", wl, ticks=TICKS)
    assert late.workload_report["synapse_device"]["mean_abs_error_lsb"] > \
        early.workload_report["synapse_device"]["mean_abs_error_lsb"]
    out = tmp_path / "r.json"
    res = CliRunner().invoke(main, ["run", "pcm_htree", str(PCM_SMALL), "--ticks", str(TICKS),
                                    "--time-after-programming", "3.15e7", "--json", str(out)])
    assert res.exit_code == 0, res.output
    import json
    rec = json.loads(out.read_text())
    assert rec["config"]["workload"]["time_after_programming_s"] == 3.15e7
    assert rec["workload_report"]["synapse_device"] == late.workload_report["synapse_device"]


# --- bad input: one line naming file, key and rule -----------------------------------------------------

def chip_with(tmp_path, name: str, **device) -> str:
    data = copy.deepcopy(read_yaml(CHIPS_DIR / f"{name}.yaml"))
    data["synapse_device"] = {**data.get("synapse_device", {}), **device}
    path = tmp_path / f"{name}_bad.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


@pytest.mark.parametrize("device,key,rule", [
    (dict(programming_noise=-0.1), "synapse_device.programming_noise", ">= 0"),
    (dict(drift_nu=1.5), "synapse_device.drift_nu", "between 0 and 1"),
    (dict(drift_nu_std={"value": 2.0, "source": "x"}), "synapse_device.drift_nu_std", "between 0 and 1"),
    (dict(adc_bits=0), "synapse_device.adc_bits", "between 1 and 32"),
    (dict(adc_bits=64), "synapse_device.adc_bits", "between 1 and 32"),
    (dict(on_off_ratio=1.0), "synapse_device.on_off_ratio", "> 1"),
    (dict(stuck_on_fraction=0.6, stuck_off_fraction=0.6), "synapse_device.stuck_off_fraction", "<= 1"),
    (dict(ltp_nonlinearity=0.0), "synapse_device.ltp_nonlinearity", "between 0.001 and 1e6"),
    (dict(ltd_nonlinearity=-1.0), "synapse_device.ltd_nonlinearity", ">= 0"),
])
def test_bad_device_constants_fail_in_one_line(tmp_path, device, key, rule):
    path = chip_with(tmp_path, "rram_htree", **device)
    res = CliRunner().invoke(main, ["run", path, str(RRAM_SMALL), "--ticks", "5"])
    assert res.exit_code == 1
    line = res.output.strip()
    assert "\n" not in line and line.startswith("Error:") and path in line and key in line and rule in line, line


def test_a_device_on_a_chip_whose_neuron_model_cannot_use_it(tmp_path):
    path = chip_with(tmp_path, "truenorth", programming_noise=0.05)
    res = CliRunner().invoke(main, ["run", path, str(REPO_ROOT / "workloads" / "truenorth_typical.yaml"),
                                    "--ticks", "2"])
    assert res.exit_code == 1
    line = res.output.strip()
    assert "\n" not in line and path in line and "synapse_device" in line and "truenorth_lif" in line, line
    with pytest.raises(ConfigError):
        dv.check_device(chip_from_data(read_yaml(path), path), path)
    assert issubclass(ConfigError, NeuroEmuError)


# --- read noise: cycle to cycle, per read -----------------------------------------------------------------

def test_read_noise_statistics_of_many_reads_match_the_configured_spread():
    from neuroemu.networks.workloads import build_network
    dev = SynapseDeviceSpec(read_noise=Sourced(0.1), on_off_ratio=Sourced(10.0))
    chip = rram(dev)
    net = build_network(chip, load_workload(RRAM_SMALL), 3, "rram_small")
    rn = dv.read_noise_for(net.arrays, chip, 3)
    a = net.arrays
    row = np.array([int(np.argmax(np.diff(a.row_ptr)))])
    lo, hi = a.row_ptr[row[0]], a.row_ptr[row[0] + 1]
    cols = (row[0] // a.axons_per_core) * a.neurons_per_core + a.row_neurons[lo:hi].astype(np.int64)
    assert len(np.unique(cols)) == hi - lo  # one cell per column in a row
    reads = 2000
    err = np.array([rn.input(a, row)[0][cols] - a.row_weights[lo:hi] for _ in range(reads)], float).ravel()
    sigma = math.sqrt(2) * 0.1 * 7 / 0.9
    want = math.sqrt(sigma ** 2 + 1 / 12)  # the column sum is rounded to the LSB
    assert abs(err.mean()) < 5 * want / math.sqrt(err.size)
    assert abs(err.std() - want) < 5 * want / math.sqrt(2 * err.size)
    assert rn.reads[row[0]] == reads


@pytest.mark.skipif(_tick is None, reason="the C tick kernels are not built")
def test_read_noise_is_the_same_record_on_both_queues_and_both_kernels():
    """The C kernel draws read noise itself (ne_integrate_noisy), bit for bit numpy's draws."""
    dev = SynapseDeviceSpec(read_noise=Sourced(0.05), adc_bits=9, adc_fom_pj=Sourced(0.01))
    runs = [simulate(rram(dev), RRAM_SMALL, ticks=TICKS, record_spikes=True, queue=q, tick_backend=k)
            for q in ("c", "python") for k in ("c", "numpy")]
    assert [r.tick_backend for r in runs] == ["c", "numpy", "c", "numpy"]
    assert all(fingerprint(r) == fingerprint(runs[0]) for r in runs[1:])
    # barrier timing prices each core's work: the noisy C kernel counts each core's SOPs as numpy does
    barrier = [simulate(rram(dev), RRAM_SMALL, ticks=TICKS, timing="barrier", tick_backend=k) for k in ("c", "numpy")]
    assert barrier[0].comparable() == barrier[1].comparable()
    base = simulate(rram(dataclasses.replace(dev, read_noise=Sourced(0.0))), RRAM_SMALL, ticks=TICKS,
                    record_spikes=True)
    assert fingerprint(runs[0]) != fingerprint(base)


def test_the_read_noise_table_is_a_unit_normal():
    t = dv.normal_table()
    assert len(t) == 1 << dv.NORMAL_TABLE_BITS and np.all(np.diff(t) > 0)
    assert np.array_equal(t, -t[::-1]) and abs(float(np.mean(t * t)) - 1.0) < 1e-12
    # the midpoint quantiles up to one scale factor (found at the median, where Phi^-1 is linear)
    scale = t[2048] / (0.5 / 4096 * math.sqrt(2 * math.pi))
    assert 1.0 < scale < 1.001  # midpoint quantiles have a variance a little under 1
    for i in (0, 7, 100, 1000, 3000, 4095):
        p = (i + 0.5) / 4096
        assert abs(0.5 * math.erfc(-t[i] / scale / math.sqrt(2)) - p) < 1e-6 * min(p, 1 - p)
    words = np.arange(1 << 16, dtype=np.uint64)
    z = dv.table_normal(12345, words)  # uniform indices: mean 0, variance 1
    assert abs(z.mean()) < 5 / math.sqrt(len(z)) and abs(z.var() - 1) < 5 * math.sqrt(2 / len(z))


@pytest.mark.skipif(_tick is None, reason="the C tick kernels are not built")
@pytest.mark.parametrize("types", [1, 2])
def test_the_c_read_noise_kernel_equals_numpy_step_by_step(types):
    """Stepper against stepper, one or two current types (the multi-current kernel), random rows
    with repeats: the same v, u, fired, SOPs and read counts every tick."""
    from neuroemu.hardware.step import TickStepper
    from neuroemu.networks.workloads import build_network
    chip = rram(SynapseDeviceSpec(read_noise=Sourced(0.2), on_off_ratio=Sourced(10.0)))
    net = build_network(chip, load_workload(RRAM_SMALL), 3, "rram_small")
    steppers = []
    for k in ("c", "numpy"):
        a = copy.deepcopy(net.arrays)
        a.materialize_row_weights()
        if types == 2:
            a.params.du_syn = np.stack([a.params.du, np.full_like(a.params.du, 1024)])
            a.u = np.zeros(2 * a.n_neurons, np.int32)
            a.axon_type = (np.arange(a.n_axons) % 2).astype(np.int8)
        s = TickStepper(a, net.enabled, chip.core.membrane_bits, 7, k)
        s.read_noise = dv.read_noise_for(a, chip, 11)
        steppers.append(s)
    rng = np.random.default_rng(0)
    for t in range(30):
        rows = rng.integers(0, net.arrays.n_axons, 40)
        out = [s.step(t, rows) for s in steppers]
        assert np.array_equal(out[0][0], out[1][0]) and out[0][1:] == out[1][1:]
        c, n = (s.arrays for s in steppers)
        assert np.array_equal(c.v, n.v) and np.array_equal(c.u, n.u)
    assert np.array_equal(steppers[0].read_noise.reads, steppers[1].read_noise.reads)
    assert steppers[0].read_noise.reads.sum() > 0


@pytest.mark.parametrize("name", ["nvm_rram", "nvm_pcm", "nvm_stuck"])
def test_the_shipped_nvm_sweeps_plan(name):
    from neuroemu.studies.sweep import plan
    p = plan(REPO_ROOT / "workloads" / "sweeps" / f"{name}.yaml")
    assert len(p.points) >= 6


# --- endurance: learning wears the array -------------------------------------------------------------------

def test_endurance_sticks_a_cell_exactly_after_its_limit():
    """Write limit of a cell takes, write limit + 1 does not; the pair's other cell is its own."""
    from neuroemu.networks.workloads import build_network
    net = build_network(rram(None), load_workload(RRAM_SMALL), 3, "rram_small")
    a = net.arrays
    wear = dv.Endurance(a, 3)
    s = np.array([5])
    for write in range(1, 7):
        assert wear.take(s, 0).tolist() == [write <= 3]  # G+ pulses 1..3 take, 4.. do not
        assert wear.writes[5].tolist() == [write, 0]
        assert wear.stuck[5].tolist() == [write >= 3, False]
    assert wear.take(s, 1).tolist() == [True]  # G- of the same synapse still responds
    rep = wear.report()
    assert (rep["most_writes"], rep["cells_written"], rep["synapses_written"], rep["cells_past_endurance"],
            rep["writes"]) == (6, 2, 1, 1, 7)
    assert rep["fraction_past_endurance"] == 1 / (2 * a.n_synapses)
    assert rep["most_written_cell"][3] == 0  # the G+ half


def test_a_learning_run_reports_its_wear():
    dev = dataclasses.replace(load_chip("pcm_htree").synapse_device, endurance_writes=Sourced(2.0))
    chip = dataclasses.replace(load_chip("pcm_htree"), synapse_device=dev)
    r = simulate(chip, PCM_SMALL, ticks=60)
    rep = r.workload_report["synapse_device"]
    assert rep["writes"] == r.counts["potentiation"] + r.counts["depression"] > 0
    assert rep["most_writes"] > 2 and 0 < rep["fraction_past_endurance"] < 1
    shipped = simulate("pcm_htree", PCM_SMALL, ticks=60)  # 1e8 writes: nothing sticks in 60 ticks
    assert shipped.workload_report["synapse_device"]["fraction_past_endurance"] == 0.0
    free = simulate(dataclasses.replace(chip, synapse_device=dataclasses.replace(dev, endurance_writes=None)),
                    PCM_SMALL, ticks=60)
    assert "most_writes" not in free.workload_report["synapse_device"]
    assert (free.spikes, free.counts) == (shipped.spikes, shipped.counts)


def test_periphery_counters_equal_a_recount_from_the_delivered_rows(monkeypatch):
    from neuroemu.engine import run as run_module
    seen = []
    original = run_module.TickLoop.step_cores

    def spy(self, t, due_axons):
        seen.append((self.arrays.axons_per_core, self.network.enabled.reshape(self.arrays.n_cores, -1).sum(axis=1),
                     np.array(due_axons, copy=True)))
        return original(self, t, due_axons)

    monkeypatch.setattr(run_module.TickLoop, "step_cores", spy)
    dev = SynapseDeviceSpec(adc_bits=10, dac_pj_per_row=Sourced(0.001))
    r = simulate(rram(dev), RRAM_SMALL, ticks=TICKS)
    drives = sum(len(set(d.tolist())) for _, _, d in seen)
    conversions = sum(int(cols[sorted({int(x) // A for x in d})].sum()) for A, cols, d in seen)
    assert (r.counts["dac_drive"], r.counts["adc_conversion"]) == (drives, conversions) and drives > 0


def test_adc_step_spans_every_axon_at_the_largest_weight_by_default():
    """rram_htree: 256 axons x weight 7 (4-bit) = 1792 full scale; 5 bits give codes up to 15, so the
    step is 2^7 (15 << 6 = 960 < 1792 <= 15 << 7 = 1920); 12 bits (top 2047) need no step."""
    chip = rram(SynapseDeviceSpec(adc_bits=5))
    assert chip.core.axons == 256 and chip.core.weight_bits == 4
    adc = dv.adc_for(chip)
    assert (adc.shift, adc.lo, adc.hi) == (7, -16, 15)
    assert dv.adc_for(rram(SynapseDeviceSpec(adc_bits=12))).shift == 0
    # 3 bits (top 3): 3 << 9 = 1536 < 1792 <= 3 << 10, so 10; a largest weight of 6 (256 x 6 = 1536) would stop at 9
    assert dv.adc_for(rram(SynapseDeviceSpec(adc_bits=3))).shift == 10


def test_an_undrifting_device_read_late_is_still_ideal():
    """Read long after programming, a device with no drift (nu 0, spread 0) draws nothing: ideal; any
    drift makes it non-ideal only once read after t0."""
    plain = SynapseDeviceSpec()
    assert plain.drift_nu.value == 0 and plain.drift_nu_std.value == 0
    assert dv.is_ideal(plain, 8, 1e6)
    spread = dataclasses.replace(plain, drift_nu_std=Sourced(0.01, "test"))
    assert dv.is_ideal(spread, 8, None) and not dv.is_ideal(spread, 8, 1e6)


def test_a_mapped_network_programs_its_cells_on_the_chip_cores_it_uses():
    """The digits classifier is compiled onto the cores it uses (a chip-core map): its synapses' cells
    are addressed by those chip cores (array core -> chip core), one cell pair per stored synapse, at most
    the file's 4736 synapses (those quantised to 0 are not stored)."""
    dev = SynapseDeviceSpec(programming_noise=Sourced(0.05))
    r = simulate(rram(dev), REPO_ROOT / "workloads" / "digits.yaml", ticks=20)
    rep = r.workload_report["synapse_device"]
    assert 0 < rep["cells"] <= 2 * 4736 and rep["cells"] % 2 == 0 and rep["weights_changed"] > 0


def test_read_noise_sums_each_current_type_into_its_own_slot():
    """With two current types, a row of axon type 1 adds its noisy reads to slots n..2n-1 (type x n +
    neuron), exactly what one type gives in slots 0..n-1 for the same draws (same seed, first read)."""
    from neuroemu.networks.workloads import build_network
    dev = SynapseDeviceSpec(read_noise=Sourced(0.1), on_off_ratio=Sourced(10.0))
    chip = rram(dev)
    a = build_network(chip, load_workload(RRAM_SMALL), 3, "rram_small").arrays
    row = np.array([int(np.argmax(np.diff(a.row_ptr)))])
    one, touched, sops = dv.read_noise_for(a, chip, 3).input(a, row)
    saved = a.axon_type
    a.axon_type = np.ones(a.n_axons, np.int8)
    try:
        two, touched2, sops2 = dv.read_noise_for(a, chip, 3).input(a, row, n_types=2)
    finally:
        a.axon_type = saved
    n = a.n_neurons
    assert len(two) == 2 * n and not two[:n].any() and np.array_equal(two[n:], one)
    assert np.array_equal(touched, touched2) and sops == sops2 == a.row_ptr[row[0] + 1] - a.row_ptr[row[0]]


# --- non-linear, asymmetric learning steps (NeuroSim's exponential model) ---------------------------------

def neurosim_step(w: float, d: float, lo: float, hi: float, a: float, ltp: bool, p_max: float = 100.0) -> float:
    """The NeuroSim curves in pulses: find the pulse count P of w on the curve, add d / R x P_max
    pulses, read the curve again (the same model as ConductanceSteps, written the long way)."""
    big_a = a * p_max
    b = (hi - lo) / (1 - math.exp(-p_max / big_a))
    p = d / (hi - lo) * p_max
    if ltp:  # G(P) = B (1 - exp(-P / A)) + G_min
        pulses = -big_a * math.log(1 - (w - lo) / b)
        return b * (1 - math.exp(-(pulses + p) / big_a)) + lo
    pulses = -big_a * math.log(1 - (hi - w) / b)  # G(P) = G_max - B (1 - exp(-P / A))
    return hi - b * (1 - math.exp(-(pulses + p) / big_a))


def test_nonlinear_steps_equal_the_closed_form_and_are_asymmetric():
    st = dv.ConductanceSteps(-8, 8, 0.3, 0.1)
    for w in (-8.0, -3.0, 0.0, 5.0, 7.5):
        for d in (0.4, 1.3):
            up = st.potentiate(w, d, st.keep_ltp(d))
            down = st.depress(w, d, st.keep_ltd(d))
            assert up == pytest.approx(neurosim_step(w, d, -8, 8, 0.3, True), abs=1e-12)
            assert down == pytest.approx(neurosim_step(w, d, -8, 8, 0.1, False), abs=1e-12)
            assert up > w and down < w and abs(up - w - d) > 1e-3  # not the linear d: ...
    # ... larger far from the bound they move to, smaller near it; LTP and LTD differ at one weight
    ups = [st.potentiate(w, 1.0, st.keep_ltp(1.0)) - w for w in (-8.0, 0.0, 7.0)]
    downs = [w - st.depress(w, 1.0, st.keep_ltd(1.0)) for w in (8.0, 0.0, -7.0)]
    assert ups[0] > ups[1] > ups[2] > 0 and downs[0] > downs[1] > downs[2] > 0
    assert ups[1] != downs[1]
    # one full range of pulses crosses the whole range exactly; a huge A is linear
    assert st.potentiate(-8.0, 16.0, st.keep_ltp(16.0)) == pytest.approx(8.0, abs=1e-12)
    assert st.depress(8.0, 16.0, st.keep_ltd(16.0)) == pytest.approx(-8.0, abs=1e-12)
    lin = dv.ConductanceSteps(-8, 8, 1e6, 1e6)
    assert lin.potentiate(0.0, 1.0, lin.keep_ltp(1.0)) == pytest.approx(1.0, rel=1e-5)
    assert dv.conductance_steps(SynapseDeviceSpec(), -8, 8) is None


def test_learning_on_a_nonlinear_device_saturates_geometrically():
    """One synapse potentiated again and again (a_minus 0): with the device its distance to the
    curve's far end shrinks by k_p per update, so its steps shrink; linearly they stay a_plus."""
    from neuroemu.hardware.learning import STDP
    from neuroemu.networks.workloads import build_network
    dev = SynapseDeviceSpec(ltp_nonlinearity=Sourced(0.25), ltd_nonlinearity=Sourced(0.5))
    chip = rram(dev)
    net = build_network(chip, load_workload(RRAM_SMALL), 3, "rram_small")
    a = net.arrays
    axon = int(np.argmax(np.diff(a.row_ptr)))
    s = int(a.row_ptr[axon])
    g = (axon // a.axons_per_core) * a.neurons_per_core + int(a.row_neurons[s])
    params = dict(a_plus=1.0, a_minus=0.0, tau_plus_ticks=10.0, tau_minus_ticks=10.0, w_min=-8, w_max=8)
    rule = STDP(**params).bind(a, weight_bits=8, device=dev)
    st = rule.steps
    w0, k = rule.w[s], st.keep_ltp(1.0)
    track = []
    for t in range(40):
        rule.apply(t, [axon], [g])  # pre and post in one tick: a potentiation of a_plus x 1
        track.append(rule.w[s])
    want = [min(st.top - (st.top - w0) * k ** (n + 1), 8.0) for n in range(40)]
    assert np.allclose(track, want, rtol=0, atol=1e-9)
    steps = np.diff([w0] + track)
    free = steps[np.array(track) < 8.0]  # before the clip: each step is k times the one before
    assert len(free) > 5 and np.allclose(free[1:] / free[:-1], k, rtol=1e-9) and k < 1
    assert track[-1] == 8.0 and steps[-1] == 0.0  # saturated at w_max
    assert a.row_weights[s] == math.floor(track[-1] + 0.5)


@pytest.mark.skipif(_tick is None, reason="the C tick kernels are not built")
def test_a_learning_run_on_a_nonlinear_device_reports_its_writes_and_their_energy():
    shipped = load_chip("pcm_htree")
    dev = dataclasses.replace(shipped.synapse_device, endurance_writes=Sourced(3.0))
    chip = dataclasses.replace(shipped, synapse_device=dev)
    lin = dataclasses.replace(chip, synapse_device=dataclasses.replace(dev, ltp_nonlinearity=None,
                                                                       ltd_nonlinearity=None))
    r, r_lin = (simulate(c, PCM_SMALL, ticks=60) for c in (chip, lin))
    rep = r.workload_report["synapse_device"]
    assert rep["writes"] == r.counts["potentiation"] + r.counts["depression"] > 0
    assert 0 < rep["fraction_past_endurance"] < 1 and rep["most_writes"] > 3
    e = shipped.energy
    assert rep["write_energy_j"] == pytest.approx(r.counts["potentiation"] * e.potentiation_pj.value * 1e-12
                                                  + r.counts["depression"] * e.depression_pj.value * 1e-12, rel=1e-12)
    assert rep["write_energy_j"] == r.energy_breakdown_j["potentiation"] + r.energy_breakdown_j["depression"]
    assert sum(r.energy_breakdown_j.values()) == pytest.approx(r.energy_j, rel=1e-12)
    assert (r.spikes, r.counts) != (r_lin.spikes, r_lin.counts)  # the steps changed what the chip learned
    core, row, col, half = rep["most_written_cell"]
    assert 0 <= core < 16 and 0 <= row < chip.core.axons and 0 <= col < chip.core.neurons and half in (0, 1)


def test_clockless_reads_draw_per_activation_with_the_rows_read_count():
    """Two activations of one row in a window read it with counts r and r + 1: the same draws as two
    tick reads (each column of a row has one synapse, so its column sum is that synapse's read)."""
    from neuroemu.hardware.cores import gather_synapse_index
    from neuroemu.networks.workloads import build_network
    chip = rram(SynapseDeviceSpec(read_noise=Sourced(0.1), on_off_ratio=Sourced(10.0)))
    a = build_network(chip, load_workload(RRAM_SMALL), 3, "rram_small").arrays
    row = np.array([int(np.argmax(np.diff(a.row_ptr)))])
    lo, hi = a.row_ptr[row[0]], a.row_ptr[row[0] + 1]
    cols = (row[0] // a.axons_per_core) * a.neurons_per_core + a.row_neurons[lo:hi].astype(np.int64)
    tick = dv.read_noise_for(a, chip, 3)
    want = np.concatenate([tick.input(a, row)[0][cols] for _ in range(2)])
    clockless, dac = dv.clockless_reads(a, chip, 3, "here")
    twice = np.array([row[0], row[0]])
    got = clockless.per_read(a, twice, gather_synapse_index(a, twice)[0])
    assert np.array_equal(got, want) and clockless.reads[row[0]] == 2 and not dac
    assert not np.array_equal(got[: hi - lo], got[hi - lo:])  # a fresh draw per read
# --- exact values from the device definitions (no noise drawn, or the draw's outcome forced) ---------

def _spec(**kw) -> SynapseDeviceSpec:
    return SynapseDeviceSpec(**{k: (Sourced(v) if isinstance(v, float) else v) for k, v in kw.items()})


@pytest.mark.parametrize("kw, t, ideal", [
    ({}, None, True),
    ({"on_off_ratio": 10.0}, None, True),                        # a finite G_min alone reads back exactly
    ({"programming_noise": 0.01}, None, False),
    ({"programming_noise_poly": (0.0, 0.0)}, None, True),         # a polynomial of zeros is no noise
    ({"programming_noise_poly": (0.0, 0.02)}, None, False),
    ({"drift_nu": 0.05}, None, True),                             # never read late
    ({"drift_nu": 0.05, "drift_t0_s": 2.0}, 2.0, True),            # read exactly at t0: no drift yet
    ({"drift_nu": 0.05, "drift_t0_s": 2.0}, 2.5, False),
    ({"drift_nu_std": 0.01, "drift_t0_s": 2.0}, 2.5, False),
    ({"level_bits": 7}, None, True),                              # weight_bits 8: 2^7 levels per cell suffice
    ({"level_bits": 6}, None, False),
    ({"stuck_on_fraction": 0.001}, None, False),
    ({"stuck_off_fraction": 0.001}, None, False),
])
def test_is_ideal_exactly_when_nothing_alters_a_weight(kw, t, ideal):
    assert dv.is_ideal(_spec(**kw), 8, t) is ideal
    assert dv.is_ideal(None, 8, 5.0) is True


def test_cell_addresses_are_core_row_column_pairs():
    """(chip core x axons + axon) x neurons + neuron, doubled: the G+ cell; the G- cell is +1."""
    got = dv.cell_addresses(np.array([0, 2, 3]), np.array([5, 0, 7]), np.array([1, 4, 0]), 8, 16)
    assert got.tolist() == [(5 * 16 + 1) * 2, ((2 * 8) * 16 + 4) * 2, ((3 * 8 + 7) * 16) * 2]


def test_conductances_are_the_pair_model_exactly_without_noise():
    """G_min = 1 / on_off; a weight w > 0 sets G+ = G_min + (1 - G_min) |w| / wmax and G- = G_min
    (mirrored for w < 0); level_bits rounds |w| / wmax to the nearest of 2^bits - 1 steps."""
    w = np.array([127, -64, 0, 32], np.int16)
    g, stuck = dv.conductances(_spec(on_off_ratio=4.0), w, 127, cells(4), 1, None)
    f = np.array([127, 64, 0, 32]) / 127
    assert np.allclose(g[:, 0], [0.25 + 0.75 * f[0], 0.25, 0.25, 0.25 + 0.75 * f[3]], rtol=0, atol=1e-15)
    assert np.allclose(g[:, 1], [0.25, 0.25 + 0.75 * f[1], 0.25, 0.25], rtol=0, atol=1e-15)
    assert not stuck.any()
    assert np.allclose(dv.read_weights(g, 127, 4.0), w, rtol=0, atol=1e-12)
    g2, _ = dv.conductances(_spec(level_bits=2), w, 127, cells(4), 1, None)  # 3 steps: 0, 1/3, 2/3, 1
    assert np.allclose(g2[:, 0], [1.0, 0.0, 0.0, 1 / 3], rtol=0, atol=1e-15)  # 32/127 = 0.252 -> 1/3
    assert np.allclose(g2[:, 1], [0.0, 2 / 3, 0.0, 0.0], rtol=0, atol=1e-15)  # 64/127 = 0.504 -> 2/3 (1.51 steps)


def test_drift_is_the_power_law_with_its_exponent_clipped_to_one():
    """G(t) = G(t0) (t / t0)^-nu, nu within [0, 1]: nu 0.5 at 4 t0 halves every conductance."""
    w = np.array([127, -127, 50], np.int16)
    g, _ = dv.conductances(_spec(drift_nu=0.5, drift_t0_s=2.0), w, 127, cells(3), 1, 8.0)
    assert np.allclose(g[:, 0], [0.5, 0.0, 0.5 * 50 / 127], rtol=1e-14, atol=0)
    assert np.allclose(g[:, 1], [0.0, 0.5, 0.0], rtol=1e-14, atol=0)
    at_t0, _ = dv.conductances(_spec(drift_nu=0.5, drift_t0_s=2.0), w, 127, cells(3), 1, 2.0)
    assert np.allclose(at_t0[:, 0], [1.0, 0.0, 50 / 127], rtol=1e-15, atol=0)  # not after t0: no drift


def test_stuck_cells_sit_at_g_max_or_g_min_whatever_was_programmed():
    w = np.array([127, -30, 0], np.int16)
    g, stuck = dv.conductances(_spec(on_off_ratio=5.0, stuck_on_fraction=1.0), w, 127, cells(3), 1, None)
    assert stuck.tolist() == [[1, 1]] * 3 and g.tolist() == [[1.0, 1.0]] * 3
    g, stuck = dv.conductances(_spec(on_off_ratio=5.0, stuck_off_fraction=1.0), w, 127, cells(3), 1, None)
    assert stuck.tolist() == [[2, 2]] * 3 and np.allclose(g, 0.2, rtol=0, atol=1e-15)
    g, stuck = dv.conductances(_spec(stuck_on_fraction=0.3, stuck_off_fraction=0.7), w, 127, cells(3), 1, None)
    assert set(stuck.ravel().tolist()) <= {1, 2}  # the two fractions fill the whole array: no free cell


def test_programming_sigma_is_the_polynomial_by_horner_floored_at_zero():
    g = np.array([0.0, 0.25, 1.0])
    sigma = dv.programming_sigma(_spec(programming_noise_poly=(0.01, -0.04, 0.02)), g)
    assert np.allclose(sigma, [0.01, 0.01 - 0.01 + 0.00125, 0.0], rtol=0, atol=1e-15)  # -0.01 at g = 1 -> 0
    assert dv.programming_sigma(_spec(programming_noise_poly=(-0.01,)), g) is None
    assert dv.programming_sigma(_spec(programming_noise=0.03), g) == 0.03
    assert dv.programming_sigma(_spec(), g) is None


def test_read_weights_scale_the_pair_difference_to_lsbs():
    g = np.array([[0.6, 0.2], [0.2, 1.0], [0.2, 0.2]])
    assert np.allclose(dv.read_weights(g, 100, 5.0), [50.0, -100.0, 0.0], rtol=0, atol=1e-12)
    assert np.allclose(dv.read_weights(g, 100, None), [40.0, -80.0, 0.0], rtol=0, atol=1e-12)


@pytest.mark.parametrize("kw", [{"stuck_on_fraction": 1.0}, {"stuck_off_fraction": 1.0, "on_off_ratio": 8.0}])
def test_an_array_stuck_whole_reads_every_weight_as_zero_and_reports_it(kw):
    """Both cells of every pair stuck alike: G+ - G- = 0, so every synapse reads 0; the report counts
    every cell stuck, every nonzero weight changed, and a mean error of the mean |w| in LSBs."""
    from neuroemu.networks.workloads import build_network
    chip = rram(_spec(**kw))
    net = build_network(rram(None), load_workload(RRAM_SMALL), 3, "rram_small")  # weights as stored
    a = net.arrays
    w = a.materialize_row_weights().astype(np.int64)
    rep = dv.program_weights(a, chip, 3, None, "test")
    n = len(w)
    stuck_on, stuck_off = (2 * n, 0) if "stuck_on_fraction" in kw else (0, 2 * n)
    assert (rep.cells, rep.stuck_on, rep.stuck_off) == (2 * n, stuck_on, stuck_off)
    assert rep.weights_changed == int(np.count_nonzero(w)) > 0
    assert rep.mean_abs_error_lsb == pytest.approx(np.abs(w).mean(), rel=1e-12)
    assert not a.row_weights.any()
    assert rep.to_plain() == {"cells": 2 * n, "stuck_on": stuck_on, "stuck_off": stuck_off,
                              "weights_changed": rep.weights_changed, "mean_abs_error_lsb": rep.mean_abs_error_lsb}


def test_each_cells_drift_exponent_is_its_own_draw_around_the_mean():
    """nu of a cell = drift_nu + drift_nu_std x its standard normal (keyed by seed and cell address,
    dv.normal on the drift streams), clipped to [0, 1]; G(t) = G(t0) (t / t0)^-nu."""
    w = np.array([127, -127, 64, 100], np.int16)
    ids = np.stack([cells(4), cells(4) + np.uint64(1)], axis=1)
    z = dv.normal(9, (S_DRIFT, S_DRIFT_2), ids)
    nu = np.clip(0.05 + 0.04 * z, 0.0, 1.0)
    g0, _ = dv.conductances(_spec(), w, 127, cells(4), 9, None)
    g, _ = dv.conductances(_spec(drift_nu=0.05, drift_nu_std=0.04, drift_t0_s=2.0), w, 127, cells(4), 9, 16.0)
    assert np.allclose(g, g0 * 8.0 ** -nu, rtol=1e-14, atol=0)
    assert len(np.unique(np.round(nu[g0 > 0], 12))) == int((g0 > 0).sum())  # one exponent per cell


def test_a_write_to_a_stuck_cell_changes_neither_the_rules_float_copy_nor_the_dense_copy():
    """Past the limit a potentiation leaves the rule's float weight, the arrays' weight and the dense
    crossbar copy the C kernel reads as they were after the last accepted write."""
    from neuroemu.hardware.learning import STDP
    from neuroemu.networks.workloads import build_network
    a = build_network(rram(None), load_workload(RRAM_SMALL), 3, "rram_small").arrays
    rule = STDP(a_plus=1.25, a_minus=1, tau_plus_ticks=1e9, tau_minus_ticks=4, w_min=-100, w_max=100)
    rule.bind(a, device=_spec(endurance_writes=Sourced(2.0)))
    s = 7
    axon = int(a.synapse_axons()[s])
    g = (axon // a.axons_per_core) * a.neurons_per_core + int(a.row_neurons[s])
    w0 = rule.w[s]
    rule.apply(0, [axon], [])
    for t in range(1, 5):  # the post fires every tick: one potentiation of e^(-t / 1e9) x 1.25 a tick
        rule.apply(t, [], [g])
        taken = min(t, 2)
        want = w0
        for k in range(1, taken + 1):
            want = want + 1.25 * math.exp(-k / 1e9)
        assert rule.w[s] == want and rule.endurance.writes[s].tolist() == [t, 0]
        assert a.row_weights[s] == math.floor(want + 0.5)
        assert a.dense_weights[axon, a.row_neurons[s]] == math.floor(want + 0.5)


@pytest.mark.parametrize("bits, full, shift", [(8, 50, 0), (8, 100, 0), (8, 127, 0), (8, 128, 1), (8, 254, 1), (8, 255, 2),
                                               (2, 5, 3), (2, 1, 0), (12, 2**20, 10), (1, 1, 0), (1, 5, 3), (1, 8, 3),
                                               (1, 9, 4)])
def test_adc_step_is_the_least_power_of_two_whose_codes_reach_the_full_scale(bits, full, shift):
    """shift = the least s >= 0 with (2^(bits-1) - 1) x 2^s >= full scale: one LSB when the codes already
    reach it (never a negative shift), else doubled until they do. A 1-bit ADC (codes -1, 0) has no
    positive code: its step is the least power of two reaching the full scale, 2^ceil(log2 full)."""
    chip = rram(_spec(adc_bits=bits, adc_full_scale=full))
    adc = dv.adc_for(chip)
    assert (adc.shift, adc.hi, adc.lo) == (shift, (1 << (bits - 1)) - 1, -(1 << (bits - 1)))


# --- exact values per public function (counter-based draws recomputed from splitmix64 itself) ----------

def _splitmix(x: int) -> int:
    """splitmix64's finaliser written out here (the constants of Steele et al.), independent of the code."""
    m = (1 << 64) - 1
    z = (x + 0x9E3779B97F4A7C15) & m
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & m
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & m
    return z ^ (z >> 31)


def _u(key: int, c: int) -> float:
    """The uniform of counter c: the top 53 bits of splitmix64(key + c), centred in its 2^-53 bin."""
    return ((_splitmix((key + c) & ((1 << 64) - 1)) >> 11) + 0.5) / 2.0 ** 53


def _key(seed: int, purpose: int) -> int:
    return _splitmix((_splitmix(seed) + purpose * 0x9E3779B97F4A7C15) & ((1 << 64) - 1))


def test_uniform_normal_and_table_draws_are_splitmix64_exactly():
    counters = [0, 1, 7, 123456789, (1 << 63) + 5]
    key = _key(17, S_STUCK)
    got = dv.uniform(key, np.array(counters, np.uint64))
    assert got.tolist() == [_u(key, c) for c in counters]
    assert all(0.0 < x < 1.0 for x in got)
    z = dv.normal(17, (S_PROGRAM, S_PROGRAM_2), np.array(counters, np.uint64))
    k1, k2 = _key(17, S_PROGRAM), _key(17, S_PROGRAM_2)
    want = [math.sqrt(-2.0 * math.log(_u(k1, c))) * math.cos(2.0 * math.pi * _u(k2, c)) for c in counters]
    assert np.allclose(z, want, rtol=1e-14, atol=1e-15)
    t = dv.normal_table()
    key = _key(5, S_READ)
    got = dv.table_normal(key, np.array(counters, np.uint64))
    assert got.tolist() == [t[_splitmix((key + c) & ((1 << 64) - 1)) >> 52] for c in counters]


def _device_reference(w, wmax, cell, seed, t, g_min, levels, sigma, nu, nu_std, t0, on, off):
    """The device model of the module docstring, step by step, for int arrays w and cell addresses."""
    frac = np.abs(w.astype(np.float64)) / wmax
    if levels is not None:
        steps = (1 << levels) - 1
        frac = np.rint(frac * steps) / steps
    target = g_min + (1.0 - g_min) * frac
    g = np.stack([np.where(w > 0, target, g_min), np.where(w < 0, target, g_min)], axis=1)
    ids = [[int(c), int(c) + 1] for c in cell]

    def normal(p1, p2):
        k1, k2 = _key(seed, p1), _key(seed, p2)
        return np.array([[math.sqrt(-2.0 * math.log(_u(k1, c))) * math.cos(2.0 * math.pi * _u(k2, c)) for c in row]
                         for row in ids])
    if sigma:
        g = np.maximum(g + sigma * normal(S_PROGRAM, S_PROGRAM_2), 0.0)
    if t is not None and t > t0:
        exponent = np.clip(nu + nu_std * normal(S_DRIFT, S_DRIFT_2), 0.0, 1.0)
        g = g * (t / t0) ** -exponent
    ks = _key(seed, S_STUCK)
    u = np.array([[_u(ks, c) for c in row] for row in ids])
    code = np.where(u < on, 1, np.where(u < on + off, 2, 0))
    g = np.where(code == 1, 1.0, np.where(code == 2, g_min, g))
    return g, code


def test_conductances_equal_the_model_step_by_step_with_every_effect_on():
    """Levels, programming noise floored at 0, a drift exponent per cell clipped to [0, 1], stuck cells
    by their uniform against the two fractions: each cell as the docstring's five steps give it."""
    w = np.array([7, -7, 3, -1, 0, 5, -4, 6] * 25, np.int16)
    ids = cells(len(w)) + np.uint64(1000)
    dev = _spec(on_off_ratio=5.0, level_bits=2, programming_noise=0.08, drift_nu=0.3, drift_nu_std=0.4,
                drift_t0_s=2.0, stuck_on_fraction=0.1, stuck_off_fraction=0.15)
    g, stuck = dv.conductances(dev, w, 7, ids, 21, 50.0)
    want_g, want_code = _device_reference(w, 7, ids, 21, 50.0, 0.2, 2, 0.08, 0.3, 0.4, 2.0, 0.1, 0.15)
    assert stuck.tolist() == want_code.tolist()
    assert np.allclose(g, want_g, rtol=1e-12, atol=1e-15)
    assert {0, 1, 2} == set(stuck.ravel().tolist())  # free, on and off cells all present
    assert (g[stuck == 0] == 0.0).any()  # some noisy cell floored at 0 ...
    z = dv.normal(21, (S_DRIFT, S_DRIFT_2), np.stack([ids, ids + np.uint64(1)], axis=1))
    assert ((0.3 + 0.4 * z) < 0).any() and ((0.3 + 0.4 * z) > 1).any()  # ... and exponents clipped both sides


def test_stuck_codes_split_the_uniform_at_on_and_on_plus_off():
    """u < on: stuck on (G_max); on <= u < on + off: stuck off (G_min); else free, cell by cell."""
    n = 400
    ids = cells(n)
    g, stuck = dv.conductances(_spec(on_off_ratio=4.0, stuck_on_fraction=0.25, stuck_off_fraction=0.5),
                               np.full(n, 3, np.int16), 7, ids, 8, None)
    key = _key(8, S_STUCK)
    for i in range(n):
        for half in (0, 1):
            u = _u(key, int(ids[i]) + half)
            want = 1 if u < 0.25 else 2 if u < 0.75 else 0
            assert stuck[i, half] == want
            free = 0.25 + 0.75 * 3 / 7 if half == 0 else 0.25
            assert g[i, half] == (1.0 if want == 1 else 0.25 if want == 2 else free)
    only_off = dv.conductances(_spec(stuck_off_fraction=0.5), np.full(n, 3, np.int16), 7, ids, 8, None)[1]
    assert set(only_off.ravel().tolist()) == {0, 2}  # with no stuck-on fraction, off alone is drawn


def test_programming_weights_stores_the_rounded_clipped_read_and_reports_it():
    """program_weights = the model per cell, read as (G+ - G-) / (1 - G_min) x wmax, rounded half to
    even, clipped to +-wmax; its report counts cells, stuck cells, changed weights and the mean error."""
    from neuroemu.networks.workloads import build_network
    dev = _spec(on_off_ratio=5.0, programming_noise=0.05, stuck_on_fraction=0.01, stuck_off_fraction=0.02)
    chip = rram(dev)
    a = build_network(rram(None), load_workload(RRAM_SMALL), 3, "rram_small").arrays
    w = a.materialize_row_weights().astype(np.int64).copy()
    rep = dv.program_weights(a, chip, 4, None, "test")
    axon = np.repeat(np.arange(a.n_axons), np.diff(a.row_ptr))
    cell = (((axon // 256) * 256 + axon % 256) * 256 + a.row_neurons.astype(np.int64)) * 2
    sample = np.arange(0, len(w), 997)  # every 997th synapse through the scalar model
    g, code = _device_reference(w[sample], 7, cell[sample], 4, None, 0.2, None, 0.05, 0.0, 0.0, 1.0, 0.01, 0.02)
    read = (g[:, 0] - g[:, 1]) / 0.8 * 7
    assert a.row_weights[sample].tolist() == np.clip(np.rint(read), -7, 7).astype(int).tolist()
    assert rep.cells == 2 * len(w) and rep.stuck_on > 0 and rep.stuck_off > rep.stuck_on
    assert abs(rep.stuck_on - 0.01 * rep.cells) < 5 * math.sqrt(0.01 * rep.cells)
    assert rep.weights_changed == int((a.row_weights != w).sum()) > 0
    assert (a.row_weights >= -7).all() and (a.row_weights <= 7).all() and (w == -8).any()  # -8 reads as -7 at most


@pytest.mark.parametrize("w, want", [(7, 4), (5, 2), (-5, -2), (3, 2), (-7, -4), (1, 0), (-1, 0)])
def test_read_weights_on_a_half_round_to_even(w, want):
    """nu = 1 read at 2 t0 halves every conductance (G_min 0): w reads w / 2, so odd weights land on
    a half, which the stored weight rounds to even (3.5 -> 4, 2.5 -> 2, -2.5 -> -2, 0.5 -> 0)."""
    from neuroemu.networks.workloads import build_network
    a = build_network(rram(None), load_workload(RRAM_SMALL), 3, "rram_small").arrays
    a.set_row_weights(np.full(a.n_synapses, w, np.int16))
    rep = dv.program_weights(a, rram(_spec(drift_nu=1.0, drift_t0_s=3.0)), 1, 6.0, "test")
    assert set(a.row_weights.tolist()) == {want}
    assert rep.weights_changed == a.n_synapses and rep.stuck_on == rep.stuck_off == 0
    assert rep.mean_abs_error_lsb == abs(w) / 2


def test_an_ideal_device_programs_nothing():
    from neuroemu.networks.workloads import build_network
    a = build_network(rram(None), load_workload(RRAM_SMALL), 3, "rram_small").arrays
    before = a.materialize_row_weights().copy()
    assert dv.program_weights(a, rram(_spec(on_off_ratio=4.0)), 1, 1e6, "test") is None
    assert np.array_equal(a.row_weights, before)  # untouched


def test_read_noise_input_is_each_synapses_keyed_draw_summed_per_column():
    """One tick's noisy input: each synapse of the active rows reads its weight + sigma x table[top 12
    bits of splitmix64(key + base + reads of its row)], base = splitmix64(cell + cell key); the column
    sums are rounded to the LSB (half to even). Touched: the columns of those rows; SOPs: their synapses."""
    from neuroemu.networks.workloads import build_network
    dev = _spec(read_noise=0.2, on_off_ratio=10.0)
    chip = rram(dev)
    a = build_network(chip, load_workload(RRAM_SMALL), 3, "rram_small").arrays
    a.materialize_row_weights()
    rn = dv.read_noise_for(a, chip, 9)
    assert rn.sigma_lsb == math.sqrt(2.0) * 0.2 * 7 / (1.0 - 0.1)
    table, mask = dv.normal_table(), (1 << 64) - 1
    key, cell_key = _key(9, S_READ), _key(9, S_READ_CELL)
    rows = np.array([3, 300, 301])
    rn.reads[300] = 5  # a row read before: its draws move on by 5
    for read in range(2):
        syn, touched, sops = rn.input(a, rows)
        want = np.zeros(a.n_neurons)
        for r in rows.tolist():
            core = r // 256
            for s in range(int(a.row_ptr[r]), int(a.row_ptr[r + 1])):
                col = core * 256 + int(a.row_neurons[s])
                base = _splitmix(((((core * 256 + r % 256) * 256 + int(a.row_neurons[s])) * 2) + cell_key) & mask)
                count = read + (5 if r == 300 else 0)
                want[col] += a.row_weights[s] + rn.sigma_lsb * table[_splitmix((key + base + count) & mask) >> 52]
        assert syn.tolist() == np.rint(want).astype(int).tolist()
        cols = {(r // 256) * 256 + int(c) for r in rows.tolist() for c in a.row_neurons[a.row_ptr[r]:a.row_ptr[r + 1]]}
        assert set(np.flatnonzero(touched).tolist()) == cols
        assert sops == int(a.row_ptr[rows + 1].sum() - a.row_ptr[rows].sum())
    assert rn.reads[[3, 300, 301, 4]].tolist() == [2, 7, 2, 0]
    empty, touched, sops = rn.input(a, np.empty(0, np.int64), n_types=2)
    assert empty.tolist() == [0] * (2 * a.n_neurons) and not touched.any() and sops == 0


def test_clockless_reads_round_each_activation_alone_and_count_reads_per_activation():
    """per_read: the k-th activation of a row in the window reads with count reads + k; each synapse's
    noisy weight is rounded on its own."""
    from neuroemu.hardware.cores import gather_synapse_index
    from neuroemu.networks.workloads import build_network
    chip = rram(_spec(read_noise=0.1))
    a = build_network(chip, load_workload(RRAM_SMALL), 3, "rram_small").arrays
    a.row_weights, a.dense_weights = None, None  # per-type weights: noisy reads need them per synapse
    rn, dac = dv.clockless_reads(a, chip, 2, "here")
    assert dac is False and np.array_equal(a.row_weights, a.type_weights())
    acts = np.array([40, 7, 40, 7, 40])  # the lowest row repeats too: its second read is its own rank 1
    rn.reads[40] = 3
    idx = gather_synapse_index(a, acts)[0]
    got = rn.per_read(a, acts, idx)
    table, mask = dv.normal_table(), (1 << 64) - 1
    key, cell_key = _key(2, S_READ), _key(2, S_READ_CELL)
    want = []
    for act, count in zip(acts.tolist(), [3, 0, 4, 1, 5]):
        for s in range(int(a.row_ptr[act]), int(a.row_ptr[act + 1])):
            base = _splitmix(((act * 256 + int(a.row_neurons[s])) * 2 + cell_key) & mask)  # core 0
            want.append(a.row_weights[s] + rn.sigma_lsb * table[_splitmix((key + base + count) & mask) >> 52])
    assert got.tolist() == np.rint(want).astype(int).tolist()
    assert rn.reads[[40, 7]].tolist() == [6, 2]


def test_clockless_reads_refuse_an_adc_and_report_a_priced_word_line_driver():
    from neuroemu.networks.workloads import build_network
    a = build_network(rram(None), load_workload(RRAM_SMALL), 3, "rram_small").arrays
    with pytest.raises(ConfigError, match=r"here: synapse_device.adc_bits: timing async has no column sum"):
        dv.clockless_reads(a, rram(_spec(adc_bits=8)), 1, "here")
    noise, dac = dv.clockless_reads(a, rram(_spec(dac_pj_per_row=0.002)), 1, "here")
    assert noise is None and dac is True
    assert dv.clockless_reads(a, rram(None), 1, "here") == (None, False)
    assert dv.read_noise_for(a, rram(None), 1) is None and dv.read_noise_for(a, rram(_spec()), 1) is None


@pytest.mark.parametrize("shift, x, want", [
    (0, [0, 1, -1, 5, 7, 8, -8, -9], [0, 1, -1, 5, 7, 7, -8, -8]),        # a step of one LSB: clip only
    (1, [1, -1, 3, -3, 2, 13, 14, 15, -16, -17], [2, 0, 4, -2, 2, 14, 14, 14, -16, -16]),  # halves up, codes -8..7
])
def test_adc_quantise_halves_round_up_and_full_scale_clips(shift, x, want):
    adc = dv.AdcSpec(bits=4, shift=shift, lo=-8, hi=7)
    assert dv.adc_quantise(np.array(x, np.int32), adc).tolist() == want


def test_conductance_steps_at_hand_values():
    """w_min -8, w_max 8 (R 16), a 0.5 both ways: b = 1 / (1 - e^-2); top = -8 + 16 b, bottom = 8 - 16 b;
    a step d = 2 keeps k = e^(-2 / 8) of the distance to the curve's far end."""
    st = dv.ConductanceSteps(-8, 8, 0.5, 0.25)
    b_p, b_d = 1 / (1 - math.exp(-2.0)), 1 / (1 - math.exp(-4.0))
    assert st.top == pytest.approx(-8 + 16 * b_p, abs=1e-12) and st.bottom == pytest.approx(8 - 16 * b_d, abs=1e-12)
    assert st.keep_ltp(2.0) == pytest.approx(math.exp(-0.25), rel=1e-15)
    assert st.keep_ltd(2.0) == pytest.approx(math.exp(-0.5), rel=1e-15)
    top, bottom = -8 + 16 * b_p, 8 - 16 * b_d
    assert st.potentiate(1.0, 2.0, math.exp(-0.25)) == pytest.approx(top - (top - 1.0) * math.exp(-0.25), abs=1e-12)
    assert st.depress(1.0, 2.0, math.exp(-0.5)) == pytest.approx(bottom + (1.0 - bottom) * math.exp(-0.5), abs=1e-12)
    half = dv.ConductanceSteps(-8, 8, None, 0.25)  # linear potentiation, curved depression
    assert half.top is None and half.keep_ltp(2.0) == 1.0 and half.potentiate(1.0, 2.0, 0.3) == 3.0
    other = dv.ConductanceSteps(-8, 8, 0.5, None)
    assert other.bottom is None and other.keep_ltd(2.0) == 1.0 and other.depress(1.0, 2.0, 0.3) == -1.0
    flat = dv.ConductanceSteps(3, 3, 0.5, 0.25)  # no range: nothing to divide by, every factor 1
    assert flat.keep_ltp(1.0) == 1.0 and flat.keep_ltd(1.0) == 1.0
    one = dv.conductance_steps(_spec(ltd_nonlinearity=0.25), -8, 8)
    assert one.a_ltp is None and one.a_ltd == 0.25 and one.top is None
    assert dv.conductance_steps(_spec(ltp_nonlinearity=0.5), -8, 8).a_ltd is None
    assert dv.conductance_steps(None, -8, 8) is None


def test_a_drift_spread_alone_drifts_each_cell_by_its_own_exponent():
    """nu 0 with a spread 0.3: each cell's exponent is clip(0.3 z, 0, 1), z its keyed normal, so read
    after t0 the cells with z > 0 decay and the others keep their conductance exactly."""
    w = np.array([127, -127, 64, 100, 90, -50], np.int16)
    ids = np.stack([cells(6), cells(6) + np.uint64(1)], axis=1)
    z = dv.normal(4, (S_DRIFT, S_DRIFT_2), ids)
    g0, _ = dv.conductances(_spec(), w, 127, cells(6), 4, None)
    g, _ = dv.conductances(_spec(drift_nu_std=0.3, drift_t0_s=2.0), w, 127, cells(6), 4, 32.0)
    assert np.allclose(g, g0 * 16.0 ** -np.clip(0.3 * z, 0.0, 1.0), rtol=1e-14, atol=0)
    assert (g < g0).any() and ((g == g0) & (g0 > 0)).any()  # some cells drift, some (z <= 0) do not


def test_an_array_without_synapses_programs_no_cell():
    """No synapse: no cell, no stuck cell, nothing changed, a mean error of 0 (not 0 / 0)."""
    from neuroemu.networks.workloads import build_network
    a = build_network(rram(None), load_workload(RRAM_SMALL), 3, "rram_small").arrays
    a.row_ptr = np.zeros(a.n_axons + 1, np.int64)
    a.row_neurons = np.empty(0, a.row_neurons.dtype)
    a.row_weights, a.dense, a.dense_weights = np.empty(0, np.int16), None, None
    rep = dv.program_weights(a, rram(_spec(programming_noise=0.05, stuck_on_fraction=0.5)), 1, None, "test")
    assert rep.to_plain() == {"cells": 0, "stuck_on": 0, "stuck_off": 0, "weights_changed": 0,
                              "mean_abs_error_lsb": 0.0}
