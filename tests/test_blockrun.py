"""The block path (engine/blockrun.py, hardware/block.py + blockrun.c): whole records equal to the
per-tick loop's, bit for bit, on both queues and both tick kernels; the rule that chooses it."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from conservation import assert_conserved
from neuroemu import simulate
from neuroemu.config import chip_from_data, load_chip, load_workload, workload_from_data
from neuroemu.engine.blockrun import block_runner, ineligible
from neuroemu.engine.options import RunOptions
from neuroemu.engine.run import TickLoop
from neuroemu.errors import NeuroEmuError
from neuroemu.networks.edgelist import save_npz
from neuroemu.networks.graph import NetworkBuilder

WORKLOADS = Path(__file__).resolve().parent.parent / "workloads"


def _runs(monkeypatch, chip, workload, **kw):
    """The same run through the block path and through the per-tick loop (C and numpy kernels,
    C and Python queues): the records, block first."""
    out = []
    for block, tick, queue in (("on", "c", "c"), ("off", "c", "c"), ("off", "numpy", "python"), ("on", "c", "python")):
        monkeypatch.setenv("NEUROEMU_BLOCK", block)
        out.append(simulate(chip, workload, tick_backend=tick, queue=queue, record_spikes=True, **kw))
    return out


def _assert_same(records):
    assert records[0].tick_backend == "c+block" and records[1].tick_backend == "c"
    assert records[2].tick_backend == "numpy" and records[3].tick_backend == "c+block"
    base = records[1].comparable()
    for r in records:
        assert r.comparable() == base
        assert_conserved(r)
    assert records[0].spikes > 0 and records[0].axon_events > 0


@pytest.mark.parametrize("seed", [3, 4, 5])
def test_truenorth_recurrent_multi_tick_delays_sync(monkeypatch, small_chip, small_workload, seed):
    """Stochastic leaks, recurrence, delays 1-4, Poisson inputs over several input chunks."""
    chip = chip_from_data(small_chip, "tiny.yaml")
    wl = workload_from_data(small_workload, "w.yaml")
    records = _runs(monkeypatch, chip, wl, ticks=150, seed=seed)
    _assert_same(records)
    assert records[0].timing_report["spike_flow"]["in_flight_end"] > 0  # spikes due past the end


@pytest.mark.parametrize("timing,seed", [("barrier", 11), ("sync", 12)])
def test_loihi_small_cuba_recurrent_delays_1_to_8(monkeypatch, timing, seed):
    """Loihi's CUBA on 64 cores, per-synapse weights, delays 1-8; barrier prices every timestep."""
    records = _runs(monkeypatch, "loihi", WORKLOADS / "loihi_small.yaml", ticks=80, seed=seed, timing=timing)
    _assert_same(records)
    if timing == "barrier":
        starts = records[0].timing_report
        assert starts["timestep_min_s"] != starts["timestep_max_s"]  # durations emerge from activity


@pytest.mark.parametrize("chip,workload", [("rram_htree", "rram_small.yaml"), ("spinnaker", "spinnaker_small.yaml")])
def test_dense_crossbars_and_other_chips(monkeypatch, chip, workload):
    """rram_small integrates from the dense copy with per-synapse weights (the block path calls the
    same dense kernel the stepper picks); spinnaker_small from CSR rows."""
    records = _runs(monkeypatch, chip, WORKLOADS / workload, ticks=60)
    _assert_same(records)


def _recurrent_classifier(tmp_path: Path, samples: int = 7) -> Path:
    """Inputs -> a recurrent hidden layer with delays 1-3 -> outputs, shown sample by sample
    (period 8), so spikes are in flight at every reset."""
    rng = np.random.default_rng(5)
    b = NetworkBuilder("rec")
    b.add_inputs("in", 12)
    b.add_neurons("hid", 24, model="IF", threshold=1.0)
    b.add_neurons("out", 4, model="IF", threshold=1.0)
    b.connect("in", "hid", rng.uniform(0.2, 0.9, (12, 24)) * (rng.random((12, 24)) < 0.4))
    b.connect("hid", "hid", rng.uniform(-0.5, 0.7, (24, 24)) * (rng.random((24, 24)) < 0.3),
              delay=rng.integers(1, 4, (24, 24)))
    b.connect("hid", "out", rng.uniform(0.1, 0.8, (24, 4)), delay=rng.integers(1, 3, (24, 4)))
    save_npz(b.build(outputs="out"), tmp_path / "rec.npz")
    np.savez(tmp_path / "data.npz", rates=rng.uniform(0.1, 0.8, (samples, 12)),
             labels=rng.integers(0, 4, samples))
    path = tmp_path / "w.yaml"
    path.write_text("name: rec\nnetwork: {kind: edgelist, file: rec.npz, neuron_reset: zero, mapping: pack}\n"
                    f"classify: {{dataset: data.npz, present_ticks: 6, settle_ticks: 2, samples: {samples}}}\n")
    return path


@pytest.mark.parametrize("timing", ["sync", "barrier"])
def test_presentations_reset_and_drop_spikes_in_flight(monkeypatch, tmp_path, timing):
    """(A recurrent network with signed weights does not map onto TrueNorth's one-target neurons:
    TrueNorth's presentations are the digits test below.)"""
    wl = load_workload(_recurrent_classifier(tmp_path))
    for ticks in (None, 7 * 8 - 1):  # every sample; cut one tick short (spikes due past the end)
        records = _runs(monkeypatch, "loihi", wl, ticks=ticks, timing=timing)
        _assert_same(records)
        flow = records[0].timing_report["spike_flow"]
        assert flow["dropped_at_reset"] > 0
        assert records[0].workload_report["classification"] == records[1].workload_report["classification"]


@pytest.mark.parametrize("chip,timing,samples", [("loihi", None, 70), ("truenorth", "sync", 20)])
def test_digits_in_blocks(monkeypatch, tmp_path, chip, timing, samples):
    text = (WORKLOADS / "digits.yaml").read_text()
    text = text.replace("file: digits.npz", f"file: {WORKLOADS / 'digits.npz'}")
    text = text.replace("dataset: digits_test.npz", f"dataset: {WORKLOADS / 'digits_test.npz'}\n  samples: {samples}")
    (tmp_path / "d.yaml").write_text(text)
    wl = load_workload(tmp_path / "d.yaml")
    monkeypatch.setenv("NEUROEMU_BLOCK", "on")
    fast = simulate(chip, wl, record_spikes=True, timing=timing)
    monkeypatch.setenv("NEUROEMU_BLOCK", "off")
    slow = simulate(chip, wl, record_spikes=True, timing=timing)
    assert fast.tick_backend == "c+block" and fast.comparable() == slow.comparable()
    assert_conserved(fast)
    # Loihi: 2,380 ticks, two blocks of whole samples
    assert fast.workload_report["classification"]["samples"] == samples


@pytest.mark.parametrize("written", ["out_of_range", "unused_off_rest"])
def test_written_states_take_the_general_forms(monkeypatch, written):
    """The int32 cuba form holds only while v and u are within the limit, and skipping the unused
    compartments only while they are at rest: states written by a caller are checked per block.
    The records and the final states equal the per-tick loop's."""
    chip, wl = load_chip("loihi"), load_workload(WORKLOADS / "loihi_small.yaml")
    records, states = [], []
    for block in ("on", "off"):
        monkeypatch.setenv("NEUROEMU_BLOCK", block)
        loop = TickLoop(chip, wl, RunOptions(ticks=40, seed=2, record_spikes=True))
        if written == "out_of_range":
            loop.arrays.v[:64] = (1 << 30)          # past the 24-bit limit: the kernels saturate it
            loop.arrays.v[64:128] = -(1 << 28)
        else:
            assert not loop.network.enabled[100]    # core 0 uses 64 of its 1,024 compartments
            loop.arrays.v[100] = 5000               # decays towards 0 tick by tick (dv = 128)
        records.append(loop.run(None))
        states.append((loop.arrays.v.copy(), loop.arrays.u.copy()))
    assert records[0].tick_backend == "c+block"
    assert records[0].comparable() == records[1].comparable()
    assert all(np.array_equal(a, b) for a, b in zip(*states))
    if written == "unused_off_rest":
        assert 0 < states[0][0][100] < 5000


def test_what_runs_tick_by_tick(monkeypatch, small_chip, small_workload):
    chip = chip_from_data(small_chip, "tiny.yaml")
    wl = workload_from_data(small_workload, "w.yaml")
    opt = RunOptions(ticks=10, seed=1)
    assert ineligible(TickLoop(chip, wl, opt)) is None
    assert ineligible(TickLoop(chip, wl, dataclasses.replace(opt, tick_backend="numpy"))) == "tick backend numpy"
    assert ineligible(TickLoop(chip, wl, dataclasses.replace(opt, max_events=10))) == "a runaway guard"
    assert ineligible(TickLoop(chip, wl, dataclasses.replace(opt, network="packet"))) == "the packet network"
    gals = dataclasses.replace(chip, timing=dataclasses.replace(chip.timing, mode="gals"))
    assert ineligible(TickLoop(gals, wl, opt)) is None   # no op latency, hops of 2 ns in a 1 ms tick
    loihi = load_chip("loihi")
    loihi = dataclasses.replace(loihi, timing=dataclasses.replace(loihi.timing, mode="gals"))
    assert ineligible(TickLoop(loihi, load_workload(WORKLOADS / "loihi_small.yaml"), opt)) == \
        "gals clocking of a current-based kernel"
    monkeypatch.setenv("NEUROEMU_BLOCK", "off")
    assert block_runner(TickLoop(chip, wl, opt)) is None
    monkeypatch.setenv("NEUROEMU_BLOCK", "sometimes")
    with pytest.raises(NeuroEmuError, match="NEUROEMU_BLOCK: unknown value 'sometimes'; valid: on, off"):
        ineligible(TickLoop(chip, wl, opt))


def test_a_spy_on_a_per_tick_step_keeps_the_per_tick_loop(small_chip, small_workload):
    """A test that wraps one step of a loop instance (as tests/test_timing.py does) sees every tick."""
    loop = TickLoop(chip_from_data(small_chip, "tiny.yaml"), workload_from_data(small_workload, "w.yaml"),
                    RunOptions(ticks=12, seed=1))
    seen = []
    deliver = loop.deliver
    loop.deliver = lambda t, now, start: seen.append(t) or deliver(t, now, start)
    assert loop.run(None).tick_backend == "c" and seen == list(range(12))


def test_a_runaway_guard_keeps_the_per_tick_loop(monkeypatch, small_chip, small_workload):
    """max_events needs a partial record between ticks: the run steps tick by tick and still stops."""
    from neuroemu.errors import RunawayError
    chip = chip_from_data(small_chip, "tiny.yaml")
    wl = workload_from_data(small_workload, "w.yaml")
    with pytest.raises(RunawayError):
        simulate(chip, wl, ticks=100, max_events=50)


def test_unused_compartments_are_skipped_while_at_rest():
    """loihi_small uses 64 of each core's 1,024 compartments: each core's other 960 form one segment
    the cuba form skips while they are at rest, and no longer once one of them is not."""
    loop = TickLoop(load_chip("loihi"), load_workload(WORKLOADS / "loihi_small.yaml"), RunOptions(ticks=5, seed=1))
    kernel = block_runner(loop).kernel
    sizes = np.diff(kernel.seg_start)
    assert kernel.fast and kernel.seg_skip.sum() == 64 and (sizes[kernel.seg_skip == 1] == 960).all()
    assert kernel._quiet_at_rest()
    loop.arrays.u[2000] = 3
    assert not kernel._quiet_at_rest()


def test_short_blocks_and_a_full_spike_record_resume_exactly(monkeypatch, tmp_path):
    """Blocks of one presentation, and a spike record with room for one tick's spikes (the kernel
    stops, the wrapper empties the record and calls again from that tick): the same record."""
    import neuroemu.engine.blockrun as blockrun
    wl = load_workload(_recurrent_classifier(tmp_path))
    monkeypatch.setenv("NEUROEMU_BLOCK", "off")
    slow = simulate("loihi", wl, record_spikes=True)
    monkeypatch.setenv("NEUROEMU_BLOCK", "on")
    monkeypatch.setattr(blockrun, "BLOCK_TICKS", 1)   # rounded up to one presentation (8 ticks)
    loop = TickLoop(load_chip("loihi"), wl, RunOptions(ticks=slow.ticks, seed=wl.seed, record_spikes=True))
    runner = block_runner(loop)
    runner.kernel.b.rec_cap = runner.kernel.stepper._hi   # one tick's worth: a stop before nearly every tick
    runner.run(None)
    fast = loop.finish()
    assert fast.comparable() == slow.comparable() and fast.spikes > 0


# --- the fused TrueNorth kernel and gals in blocks ----------------------------------------------------

def test_fused_truenorth_kernel_in_blocks(monkeypatch, small_chip, small_workload):
    """Per-type weights and a bit-packable crossbar: the block path calls ne_truenorth_fused (as the
    stepper does), on one thread and on two; records equal the two-pass C and the numpy kernels'."""
    chip = chip_from_data(small_chip, "tiny.yaml")
    wl = workload_from_data(small_workload, "w.yaml")
    loop = TickLoop(chip, wl, RunOptions(ticks=10, seed=1))
    assert loop.stepper._fused is not None and block_runner(loop).kernel.b.fused == loop.stepper._fused.cfg
    for threads in (1, 2):
        records = _runs(monkeypatch, chip, wl, ticks=120, seed=7, threads=threads)
        _assert_same(records)


def _gals_chip(small_chip, synaptic_op_ns=0.0):
    small_chip["timing"]["mode"] = "gals"
    small_chip["energy"]["clock_pj_per_core_tick"] = {"value": 7.0, "source": "test"}
    small_chip["latency"]["synaptic_op_ns"] = {"value": synaptic_op_ns, "source": "test"}
    return chip_from_data(small_chip, "tiny.yaml")


def _idling_workload(small_workload):
    """No leak, inputs on cores 0-1 only, recurrence with delays 1-4: cores have work in some ticks only."""
    small_workload["network"].update(rate_hz=0.0, stochastic=False, threshold=2)
    small_workload["inputs"][0].update(cores=2, rate_hz=60.0)
    return workload_from_data(small_workload, "w.yaml")


@pytest.mark.parametrize("synaptic_op_ns", [0.0, 3.0])
def test_gals_in_blocks_counts_only_busy_cores(monkeypatch, small_chip, small_workload, synaptic_op_ns):
    """gals with no spike that can arrive late is sync plus per-core clocking: the block path counts the
    busy cores in C; counts, energy breakdown and timing report equal the per-tick loop's (both queues,
    and the numpy kernels). 3 ns per SOP: each core's work is priced, and bounded well within a tick."""
    chip, wl = _gals_chip(small_chip, synaptic_op_ns), _idling_workload(small_workload)
    ticks = 90
    records = _runs(monkeypatch, chip, wl, ticks=ticks, seed=5)
    _assert_same(records)
    fast, slow = records[0], records[1]
    assert fast.energy_breakdown_j == slow.energy_breakdown_j and fast.timing_report == slow.timing_report
    assert fast.timing_report["timing_violations"] == 0
    clocked = fast.counts["clock_core_tick"]
    assert 0 < clocked < 4 * ticks   # some cores idle in some ticks
    n_per = small_chip["core"]["neurons"]
    assert fast.counts["neuron_update"] + fast.counts["neuron_update_active"] < 4 * n_per * ticks


def test_gals_that_could_be_late_steps_tick_by_tick(monkeypatch, small_chip, small_workload):
    """A SOP of 0.1 ms: a busy core could emit past its routes' delays, so the run keeps the per-tick
    loop, which counts the late spikes."""
    chip, wl = _gals_chip(small_chip, 1e5), _idling_workload(small_workload)
    loop = TickLoop(chip, wl, RunOptions(ticks=60, seed=5))
    assert ineligible(loop) == "a route on which a gals spike could arrive late"
    record = simulate(chip, wl, ticks=60, seed=5)
    assert record.tick_backend == "c" and record.timing_report["timing_violations"] > 0


def test_fan_in_counted_in_chunks_equals_one_bincount(monkeypatch):
    """The block path counts each neuron's synapses in C, or with numpy a block of cores at a time (a
    board of billions of synapses has no room for a per-synapse int64 copy): any chunk size, and C,
    give one bincount's answer."""
    import neuroemu.hardware.block as block
    from neuroemu.config import load_chip, load_workload
    from neuroemu.networks.workloads import build_network
    a = build_network(load_chip("default"), load_workload(None), 1, "fan-in").arrays
    core = np.repeat(np.arange(a.n_axons, dtype=np.int64) // a.axons_per_core, np.diff(a.row_ptr))
    want = np.bincount(core * a.neurons_per_core + a.row_neurons.astype(np.int64), minlength=a.n_neurons)
    assert want.max() > 0
    for chunk in (1 << 25, 1000, 1):  # one chunk, a few cores a chunk, one core a chunk
        monkeypatch.setattr(block, "FAN_IN_CHUNK", chunk)
        assert np.array_equal(block.synapses_into_each_neuron(a, use_c=False), want)
    # in C (ne_fan_in): the same counts, uint16 ids here and uint8 ids on a 256-neuron core
    assert np.array_equal(block.synapses_into_each_neuron(a), want)
    small = build_network(load_chip("spinnaker"), load_workload(WORKLOADS / "spinnaker_small.yaml"), 1, "s").arrays
    assert small.row_neurons.dtype == np.uint8
    assert np.array_equal(block.synapses_into_each_neuron(small), block.synapses_into_each_neuron(small, use_c=False))


def _block_loop(chip, workload, ticks, seed=1):
    """A TickLoop on the block path (its BlockRun), built as simulate builds it."""
    from neuroemu.engine.blockrun import BlockRun
    from neuroemu.engine.options import resolve
    chip, wl = resolve(chip, workload)
    loop = TickLoop(chip, wl, RunOptions(ticks=ticks, seed=seed, record_spikes=True))
    assert ineligible(loop) is None
    return loop, BlockRun(loop)


def _per_type_csr_workload():
    """The default workload on 24 Loihi cores with 64 synapses a row: per-type weights read from
    CSR rows (too sparse for the dense copy), as pohoiki_beach's board integrates them."""
    return workload_from_data({"name": "csr", "ticks": 60, "seed": 3,
                               "network": {"kind": "random_recurrent", "cores": 24, "synapses_per_axon": 64,
                                           "rate_hz": 40.0, "weights": [3, 3, -3, -3], "delay_ticks": [1, 3]},
                               "inputs": [{"kind": "poisson", "rate_hz": 10.0, "axons_per_core": 16}]}, "csr.yaml")


@pytest.mark.parametrize("chip,workload,timing", [("loihi", "loihi_small.yaml", "barrier"),
                                                  ("spinnaker", "spinnaker_small.yaml", "sync"),
                                                  ("loihi", None, "barrier")])
def test_due_axons_sorted_by_core_give_the_same_record(monkeypatch, chip, workload, timing):
    """Each tick's due axons put in core order before integrating (blockrun.c's sort_due_by_core:
    per-synapse weights on loihi_small and spinnaker_small, per-type CSR rows on 24 Loihi cores):
    the same record as integrating them in arrival order, and the sort did run."""
    from neuroemu.engine.options import with_timing
    records, sorted_ticks = [], []
    wl = WORKLOADS / workload if workload else _per_type_csr_workload()
    for mode in ("on", "off"):
        monkeypatch.setenv("NEUROEMU_SORT_DUE", mode)
        loop, blocks = _block_loop(with_timing(load_chip(chip), timing), wl, 60)
        if workload is None:
            assert not loop.stepper._dense and not loop.stepper._per_synapse
        blocks.run(None)
        records.append(loop.finish().comparable())
        sorted_ticks.append(int(blocks.kernel.b.ticks_sorted))
    assert records[0] == records[1]
    assert sorted_ticks[0] > 0 and sorted_ticks[1] == 0
    monkeypatch.setenv("NEUROEMU_SORT_DUE", "maybe")
    with pytest.raises(NeuroEmuError, match="NEUROEMU_SORT_DUE: unknown value 'maybe'; valid: on, off"):
        _block_loop(load_chip(chip), wl, 5)
