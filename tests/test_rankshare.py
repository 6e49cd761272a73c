"""neuroemu.engine.rankshare: a rank's own routes and the one memory estimate of both split loops.

The estimate is checked against what a rank actually allocates: tracemalloc counts every numpy
buffer, and a rank (of 1, 2 or 4, on a fake communicator: setup runs no collective) is built
under it. The sums of the ranks' priced routes are checked end to end by the split runs
(tests/test_ranks.py, tests/test_asyncranks.py: records equal to one process's).
"""
from __future__ import annotations

import dataclasses
import gc
import tracemalloc

import numpy as np
import pytest

from neuroemu.config.loader import load_chip, load_workload
from neuroemu.engine import rankshare
from neuroemu.engine.asyncranks import AsyncRankLoop
from neuroemu.engine.options import RunOptions, with_timing
from neuroemu.engine.ranks import RankLoop
from neuroemu.errors import CapacityError
from neuroemu.hardware.chip import build_chip_topology
from neuroemu.hardware.system import routing_bytes
from neuroemu.networks.workloads import build_network, build_network_part

#: the estimate bounds a rank's measured peak from above and is at most 1 / 0.7 of it (TrueNorth
#: neurons measure 0.87-0.98 of theirs, CUBA's 0.74-0.90: the clockless state is TrueNorth's,
#: whose C window kernel keeps more than CUBA's numpy paths)
TOLERANCE = 0.7


@pytest.fixture
def system(write_yaml):
    """(chip path, {name: workload path}): a 2 x 2 system of 4 x 4-core chips of 256 x 256, 16,384
    neurons: large enough that per-neuron arrays outweigh the fixed Python objects by far."""
    core = {"axons": 256, "neurons": 256, "axon_types": 4, "membrane_bits": 20, "weight_bits": 9,
            "max_delay_ticks": 15}
    chip = {"name": "mid", "description": "4 x 4 cores of 256 x 256", "cores": 16, "core": core,
            "topology": {"kind": "mesh", "width": 4, "height": 4, "pitch_mm": 0.24},
            "timing": {"mode": "sync", "tick_s": 1.0e-3},
            "energy": {"synaptic_op_pj": 1.5, "neuron_update_pj": 0.25, "spike_pj": 3.0, "hop_pj": 2.3,
                       "static_mw": 1.0},
            "latency": {"hop_ns": 2.0}}
    write_yaml("mid.yaml", chip)
    write_yaml("mid_cuba.yaml", dict(chip, name="mid_cuba", core=dict(core, neuron_model="cuba_lif", membrane_bits=24)))
    link = {"hop_pj": 40.0, "hop_ns": 25.0, "bandwidth_pkts_per_ns": 0.5}
    systems = {name: write_yaml(f"sys_{name}.yaml", {"name": f"sys_{name}", "system": {
        "chip": f"{name}.yaml", "grid": [2, 2], "link": link}}) for name in ("mid", "mid_cuba")}
    truenorth = {"name": "tn", "chip": systems["mid"], "ticks": 20, "seed": 3,
                 "network": {"kind": "random_recurrent", "synapses_per_axon": 64, "rate_hz": 50.0, "stochastic": True,
                             "weights": [2, 1, -1, -2], "delay_ticks": [1, 4]},
                 "inputs": [{"kind": "poisson", "rate_hz": 100.0, "axons_per_core": 16}]}
    cuba = {"name": "cuba", "chip": systems["mid_cuba"], "ticks": 20, "seed": 3,
            "network": {"kind": "random_recurrent_weighted", "synapses_per_axon": 64, "rate_hz": 0.0, "threshold": 100,
                        "weights": [64, 48, 32, -32, -48], "delay_ticks": [1, 4],
                        "neuron": {"du": 1024, "dv": 128, "refractory": 2}},
            "inputs": [{"kind": "poisson", "rate_hz": 200.0, "axons_per_core": 8}]}
    return {"truenorth": (systems["mid"], write_yaml("tn.yaml", truenorth)),
            "cuba": (systems["mid_cuba"], write_yaml("cuba.yaml", cuba))}


def _rank(loop_class, size: int, rank: int):
    world = type("World", (), {"Get_rank": lambda self: rank, "Get_size": lambda self: size})()
    return type("Rank", (loop_class,), {"comm": world})


@pytest.mark.parametrize("network", ["truenorth", "cuba"])
@pytest.mark.parametrize("clockless", [True, False])
def test_the_estimate_per_rank_bounds_what_the_rank_allocates(system, network, clockless):
    """A rank's peak while it sets up (network, routes, routing, the clockless state and kernel),
    less the router graph, against the estimate less its fixed routing part (the graph and a bound
    of the running sums' block, kilobytes on a mesh this small): within :data:`TOLERANCE`, for
    rank 0 of 1, rank 1 of 2 and rank 2 of 4, so the estimate follows total / N."""
    chip_path, workload_path = system[network]
    chip, wl = load_chip(chip_path), load_workload(workload_path)
    chip = with_timing(chip, "async" if clockless else "sync")
    opt = RunOptions(ticks=wl.ticks, seed=wl.seed, tick_backend="c")
    loop_class = AsyncRankLoop if clockless else RankLoop
    _rank(loop_class, 1, 0)(chip, wl, opt)  # every module imported and cached before measuring
    gc.collect()
    tracemalloc.start()
    build_chip_topology(chip)
    graph = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    ratios = []
    for size, rank in ((1, 0), (2, 1), (4, 2)):
        gc.collect()
        tracemalloc.start()
        try:
            loop = _rank(loop_class, size, rank)(chip, wl, opt)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert loop.setup_error is None and loop.memory == rankshare.rank_bytes(chip, wl, size, clockless)
        assert loop.memory["by_block"] == 1 and loop.memory["cores"] == 64 // size
        estimate = rankshare.rank_peak(loop.memory) - routing_bytes(chip, routes=0)
        ratios.append((peak - graph) / estimate)
        del loop
    assert all(TOLERANCE <= r <= 1.0 for r in ratios), ratios


def test_the_clockless_estimate_adds_its_state_and_follows_total_over_n(system):
    chip, wl = load_chip(system["truenorth"][0]), load_workload(system["truenorth"][1])
    tick, one, four = (rankshare.rank_bytes(chip, wl, n, clockless) for n, clockless in ((1, False), (1, True),
                                                                                          (4, True)))
    G, A = 64 * 256, 64 * 256
    assert tick["state"] == 0 and one["held"] == tick["held"] and one["routing"] == tick["routing"]
    flags = rankshare.WHOLE_BYTES_PER_NEURON * G
    assert one["routes"] == rankshare.CLOCKLESS_ROUTE_BYTES_PER_NEURON * G + flags
    per_neuron = rankshare.CLOCKLESS_BYTES_PER_NEURON + rankshare.CLOCKLESS_BYTES_PER_NEURON_TYPE * 4
    assert one["state"] == per_neuron * G + rankshare.CLOCKLESS_BYTES_PER_AXON * A + A * 256 // 8  # + crossbar bits
    assert "scratch" not in one  # the bits are packed in place (ak_pack_row_bits): no scratch
    for key in ("state", "held"):
        assert four[key] == one[key] // 4
    assert four["routes"] - flags == (one["routes"] - flags) // 4


def test_on_ns16e_a_clockless_rank_keeps_no_crossbar_bits_and_its_share_is_one_sixteenth():
    """16 M neurons: a rank's crossbar (as bits) is past the kernel's limit on 1 rank and on 16
    (4096 cores x 256 axons x 256 neurons > 2^25), so the kernel keeps none."""
    chip, wl = load_chip("ns16e"), load_workload(None)
    one, sixteen = (rankshare.rank_bytes(chip, wl, n, clockless=True) for n in (1, 16))
    G, A = chip.cores * chip.core.neurons, chip.cores * chip.core.axons
    per_neuron = rankshare.CLOCKLESS_BYTES_PER_NEURON + rankshare.CLOCKLESS_BYTES_PER_NEURON_TYPE * chip.core.axon_types
    assert one["state"] == per_neuron * G + rankshare.CLOCKLESS_BYTES_PER_AXON * A
    assert sixteen["state"] == one["state"] // 16 and sixteen["cores"] == chip.cores // 16


def test_the_refusal_names_the_clockless_state_in_one_line(system, monkeypatch):
    chip, wl = with_timing(load_chip(system["truenorth"][0]), "async"), load_workload(system["truenorth"][1])
    need = rankshare.rank_bytes(chip, wl, 2, clockless=True)
    monkeypatch.setattr(rankshare, "available_memory_bytes", lambda: int(2 * rankshare.rank_peak(need) / 0.8))
    assert rankshare.check_rank_memory(chip, wl, 2, 2, clockless=True) == need
    with pytest.raises(CapacityError) as err:
        rankshare.check_rank_memory(chip, wl, 2, 3, clockless=True)
    text = str(err.value)
    assert "\n" not in text and text.startswith(f"{wl.where}: 3 async ranks on this machine need about")
    assert "GiB of clockless state" in text and "for its share of the network" in text


def test_own_routes_are_the_whole_networks_for_those_neurons(system):
    """Single-target routes out of the whole arrays or out of a part built alone, and fan-out routes
    (route pointer renumbered from the first neuron): the whole network's, sources from 0."""
    chip, wl = load_chip(system["truenorth"][0]), load_workload(system["truenorth"][1])
    whole = build_network(chip, wl, wl.seed, "w").arrays
    g0, n = 16 * 256, 16 * 256  # cores 16 .. 31: the second of four blocks
    want = [x[g0:g0 + n] for x in whole.routes()[1:]]
    for part in (None, build_network_part(chip, wl, wl.seed, "w", 16, 32).part):
        src, target, delay, ptr = rankshare.own_routes(whole, part, g0, n)
        assert ptr is None and src.tolist() == list(range(n))
        np.testing.assert_array_equal(target, want[0])
        np.testing.assert_array_equal(delay, want[1])
    # fan-out: neuron i sends i % 3 routes
    counts = np.arange(whole.n_neurons) % 3
    fan = dataclasses.replace(whole, fanout_ptr=np.concatenate([[0], np.cumsum(counts)]),
                              fanout_axon=np.arange(counts.sum(), dtype=np.int64),
                              fanout_delay=(np.arange(counts.sum()) % 5 + 1).astype(np.int8))
    src, target, delay, ptr = rankshare.own_routes(fan, None, g0, n)
    all_src, all_target, all_delay = fan.routes()
    mine = (all_src >= g0) & (all_src < g0 + n)
    np.testing.assert_array_equal(src + g0, all_src[mine])
    np.testing.assert_array_equal(target, all_target[mine])
    np.testing.assert_array_equal(delay, all_delay[mine])
    np.testing.assert_array_equal(np.diff(ptr), counts[g0:g0 + n])
    assert ptr[0] == 0
