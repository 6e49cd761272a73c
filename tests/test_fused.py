"""The fused TrueNorth tick (hardware/fused.py, ne_truenorth_fused) agrees bit for bit with the
two-pass C kernels and the numpy twins, for any number of threads, and --threads is validated."""
from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from neuroemu import simulate
from neuroemu.cli.app import main
from neuroemu.config import chip_from_data, workload_from_data
from neuroemu.errors import ConfigError
from neuroemu.hardware.fused import check_threads, pack_rows, weight_blocks
from neuroemu.hardware.step import TickStepper
from neuroemu.networks.workloads import build_network


def _steps(chip, wl, path: str, threads: int = 1, bits: int = 20, modes: bool = True, ticks: int = 80,
           axons_per_tick: int = 40) -> list:
    """Every tick's (fired, SOPs, active, per-core SOPs, per-core active, membranes) on one path:
    "fused", "two-pass" (the C kernels the fused one replaces) or "numpy"."""
    net = build_network(chip, wl, 5, "w")
    a = net.arrays
    if modes:  # every neuron mode: threshold noise, all resets, floors, saturating weights
        p = a.params
        p.threshold_mask[::3] = 7
        p.reset_mode[1::3] = 1
        p.reset_value[1::3] = -3
        p.reset_mode[2::5] = 2
        p.floor[::2] = 5
        a.weights[::7] = 255
    stepper = TickStepper(a, net.enabled, bits, 99, "numpy" if path == "numpy" else "c", core_counts=True,
                          threads=threads)
    if path == "two-pass":
        stepper._fused = None
    elif path == "fused":
        assert stepper._fused is not None and stepper._fused.threads == threads
    draws = np.random.default_rng(1)
    out = []
    for t in range(ticks):
        fired, sops, n_active = stepper.step(t, draws.integers(0, a.n_axons, axons_per_tick))
        out.append((fired.tolist(), sops, n_active, stepper.core_sops.tolist(), stepper.core_active.tolist(),
                    a.v.tolist()))
    return out


@pytest.mark.parametrize("modes", [False, True], ids=["hot-path", "every-mode"])
@pytest.mark.parametrize("neurons", [32, 36], ids=["whole-blocks", "ragged-cores"])
def test_fused_agrees_with_the_two_pass_kernels_and_numpy_for_any_threads(small_chip, small_workload, modes,
                                                                         neurons):
    small_chip["core"]["neurons"] = neurons
    small_workload["network"]["reset"] = "linear"
    chip = chip_from_data(small_chip, "tiny.yaml")
    wl = workload_from_data(small_workload, "w.yaml")
    reference = _steps(chip, wl, "numpy", modes=modes)
    assert _steps(chip, wl, "two-pass", modes=modes) == reference
    for threads in (1, 2, 3, 5):  # 5 threads on 4 cores: one range per core
        assert _steps(chip, wl, "fused", threads=threads, modes=modes) == reference
    assert sum(len(r[0]) for r in reference) > 50  # neurons fired
    assert len({tuple(r[4]) for r in reference}) > 5  # per-core counts vary


def test_wide_membranes_take_the_64_bit_lanes(small_chip, small_workload):
    """32-bit membranes leave no room in int32: the kernel's 64-bit lanes, same numbers."""
    small_workload["network"]["reset"] = "linear"
    chip = chip_from_data(small_chip, "tiny.yaml")
    wl = workload_from_data(small_workload, "w.yaml")
    net = build_network(chip, wl, 5, "w")
    wide = TickStepper(net.arrays, net.enabled, 32, 99, "c")
    narrow = TickStepper(net.arrays, net.enabled, 20, 99, "c")
    assert wide._fused.cfg.narrow == 0 and narrow._fused.cfg.narrow == 1
    assert _steps(chip, wl, "fused", bits=32, modes=False) == _steps(chip, wl, "numpy", bits=32, modes=False)


def test_more_than_255_rows_of_a_type_in_one_core_flush_the_byte_counters(small_chip, small_workload):
    """The per-type counters are bytes: a core of 256 axons of one type, all active in a tick, has
    more rows of the type than a byte counts, and still sums exactly."""
    small_chip["core"].update({"axons": 256, "axon_types": 1})
    small_workload["network"].update({"weights": [-1], "synapses_per_axon": 32})  # every column in 256 rows
    chip = chip_from_data(small_chip, "tiny.yaml")
    wl = workload_from_data(small_workload, "w.yaml")
    kwargs = dict(modes=False, ticks=12, axons_per_tick=20000)
    reference = _steps(chip, wl, "numpy", **kwargs)
    assert max(max(r[3]) for r in reference) == 256 * 32  # every row of a core active in a tick
    assert _steps(chip, wl, "fused", threads=2, **kwargs) == reference


@pytest.mark.parametrize("queue", ["c", "python"])
def test_records_are_identical_for_1_2_and_3_threads(small_chip, small_workload, queue):
    chip = chip_from_data(small_chip, "tiny.yaml")
    wl = workload_from_data(small_workload, "w.yaml")
    records = [simulate(chip, wl, queue=queue, record_spikes=True, threads=n).comparable() for n in (1, 2, 3)]
    assert records[0] == records[1] == records[2]
    numpy = simulate(chip, wl, queue=queue, record_spikes=True, tick_backend="numpy").comparable()
    assert numpy == records[0] and records[0]["spikes"] > 0


def test_a_row_that_repeats_a_column_keeps_the_csr_kernels(small_chip, small_workload):
    chip = chip_from_data(small_chip, "tiny.yaml")
    net = build_network(chip, workload_from_data(small_workload, "w.yaml"), 5, "w")
    a = net.arrays
    bits = pack_rows(a)
    assert bits is not None and int(np.bitwise_count(bits).sum()) == a.n_synapses
    a.row_neurons[1] = a.row_neurons[0]  # row 0's second synapse repeats its first column
    a.dense = None
    assert pack_rows(a) is None
    assert TickStepper(a, net.enabled, 20, 99, "c")._fused is None


def test_weight_blocks_are_shared_between_cores_with_equal_weights():
    w = np.zeros((5, 2, 4), np.int16)
    w[2] = 7
    w[4] = 7
    blocks, core_block = weight_blocks(w)
    assert core_block.tolist() == [0, 0, 1, 0, 1] and np.array_equal(blocks[core_block], w)
    blocks, core_block = weight_blocks(np.ones((3, 2, 4), np.int16))
    assert len(blocks) == 1 and core_block.tolist() == [0, 0, 0]


@pytest.mark.parametrize("bad", [0, -1, 257, 1.5, "2", True])
def test_threads_must_be_an_integer_from_1_to_256(bad):
    with pytest.raises(ConfigError, match="--threads: the number of threads must be an integer from 1 to 256"):
        check_threads(bad)
    assert check_threads(4) == 4


def test_cli_threads_zero_is_a_one_line_error():
    result = CliRunner().invoke(main, ["run", "--threads", "0", "--ticks", "2"])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "Error: --threads: the number of threads must be an integer from 1 to 256, got 0"]


@pytest.mark.parametrize("timing", ["sync", "gals", "barrier"])
def test_routing_fired_neurons_in_c_gives_the_numpy_routes_record(small_chip, small_workload, timing):
    """The one-pass C routing (RoutePass, taken with the C kernels) and the numpy routing (taken with
    the numpy kernels) give the same record under each arrival rule."""
    from neuroemu.engine.options import RunOptions, with_timing
    from neuroemu.engine.run import TickLoop
    small_chip["latency"].update({"synaptic_op_ns": {"value": 1.0, "source": "test"}})
    chip = chip_from_data(small_chip, "tiny.yaml")
    wl = workload_from_data(small_workload, "w.yaml")
    loop = TickLoop(with_timing(chip, timing), wl, RunOptions(ticks=5, seed=3))
    assert loop.fast_routes is not None and (loop.fast_routes.tick_ps > 0) == (timing == "sync")
    records = [simulate(chip, wl, timing=timing, tick_backend=b, record_spikes=True).comparable() for b in ("c", "numpy")]
    assert records[0] == records[1] and records[0]["spikes"] > 0


def test_route_pass_matches_the_numpy_arithmetic():
    from neuroemu.hardware.fused import RoutePass
    draws = np.random.default_rng(5)
    n = 1000
    route_axon = draws.integers(-1, 5000, n)
    route_delay = draws.integers(1, 16, n)
    latency = draws.integers(0, 10 ** 6, n)
    fired = np.sort(draws.choice(n, 300, replace=False))
    emit = draws.integers(10 ** 9, 2 * 10 ** 9, len(fired))
    now, t = 1_500_000_000, 7
    sent = route_axon[fired] >= 0
    due = t + route_delay[fired[sent]]
    for tick_ps, lat, arrival in ((10 ** 6, None, due * 10 ** 6), (0, latency, emit[sent] + latency[fired[sent]])):
        spikes = np.ones(n, np.int64)
        got = RoutePass.build(route_axon, route_delay, lat, tick_ps)(fired, emit, t, now, spikes)
        want = (np.maximum(arrival, now + 1), route_axon[fired[sent]], due)
        assert all(np.array_equal(g, w) for g, w in zip(got, want))
        assert np.array_equal(spikes, 1 + np.isin(np.arange(n), fired))  # every fired route, sending or not
        assert (got[0] == now + 1).any()  # some arrivals were raised to the floor
    assert RoutePass.build(route_axon, route_delay, latency + 2 ** 31, 0) is None  # past int32: numpy routes
