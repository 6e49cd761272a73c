"""neuroemu.networks.blocks: a system's generated network drawn block by block is the same network
whether built whole or a few blocks at a time (an MPI rank's share), with no MPI involved."""
from __future__ import annotations

import copy
import dataclasses

import numpy as np
import pytest

from neuroemu.config.loader import load_chip, load_workload
from neuroemu.errors import ConfigError
from neuroemu.networks import blocks as bl
from neuroemu.networks.workloads import build_inputs, build_network, build_network_part, builds_by_block

LINK = {"hop_pj": 40.0, "hop_ns": 25.0, "bandwidth_pkts_per_ns": 0.5}


@pytest.fixture
def system(write_yaml, small_chip):
    """A 2 x 2 system of the tiny 2 x 2-core chip: 16 cores in 4 blocks of 4."""
    write_yaml("tiny.yaml", small_chip)
    return write_yaml("sys.yaml", {"name": "sys", "system": {"chip": "tiny.yaml", "grid": [2, 2], "link": LINK}})


def _workload(write_yaml, small_workload, name: str, **network):
    w = copy.deepcopy(small_workload)
    w["chip"] = "sys.yaml"
    w["network"].update(network)
    w["inputs"] = [{"kind": "poisson", "rate_hz": 200.0, "axons_per_core": 5, "cores": 10}]
    return load_workload(write_yaml(f"{name}.yaml", w))


@pytest.mark.parametrize("n", [1, 2, 3, 7, 16, 100, 1000, 4097])
def test_keyed_permutation_is_a_bijection_computed_id_by_id(n):
    x = np.arange(n)
    p = bl.keyed_permutation(x, n, key=12345)
    assert sorted(p.tolist()) == list(range(n))
    # counter-based: any subset of ids alone gives the same images
    some = x[::3]
    assert bl.keyed_permutation(some, n, 12345).tolist() == p[::3].tolist()
    if n >= 16:  # another key, another permutation
        assert bl.keyed_permutation(x, n, 54321).tolist() != p.tolist()


CASES = {
    "balanced": {},
    "random_crossbar_fraction": {"crossbar": "random", "recurrent_fraction": 0.6, "cores": 10, "neurons_per_core": 24},
    "weighted": {"kind": "random_recurrent_weighted", "weights": [3, -2, 1], "delay_ticks": [2, 9]},
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("ranges", [[(0, 8), (8, 16)], [(0, 4), (4, 12), (12, 16)], [(c, c + 4) for c in (0, 4, 8, 12)]])
def test_parts_built_alone_are_the_whole_network(system, write_yaml, small_workload, case, ranges):
    chip, wl = load_chip(system), _workload(write_yaml, small_workload, case, **CASES[case])
    assert bl.block_cores(chip) == 4 and builds_by_block(chip, wl)
    whole = build_network(chip, wl, wl.seed, "w")
    a = whole.arrays
    assert a.n_synapses > 0 and (a.target_axon >= 0).any() and a.v.any()
    for c0, c1 in ranges:
        _same_part(whole, build_network_part(chip, wl, wl.seed, "w", c0, c1), c0, c1)


def _same_part(whole, part, c0: int, c1: int) -> None:
    """The part's arrays are the whole network's cores c0 .. c1 - 1, and it holds nothing else."""
    a = whole.arrays
    N, A = a.neurons_per_core, a.axons_per_core
    if True:
        p = part.part
        assert part.part_cores == (c0, c1) and p.n_cores == c1 - c0
        for name in ("v", "weights", "target_axon", "delay", "u", "refractory_left"):
            mine, want = getattr(p, name), getattr(a, name)
            assert (mine is None) == (want is None), name
            if mine is not None:
                assert np.array_equal(mine, want[c0 * N:c1 * N]), name
        for f in a.params.__dataclass_fields__:
            assert np.array_equal(getattr(p.params, f), getattr(a.params, f)[c0 * N:c1 * N]), f
        assert np.array_equal(p.axon_type, a.axon_type[c0 * A:c1 * A])
        s0, s1 = a.row_ptr[c0 * A], a.row_ptr[c1 * A]
        assert np.array_equal(p.row_ptr, a.row_ptr[c0 * A:c1 * A + 1] - s0)
        assert np.array_equal(p.row_neurons, a.row_neurons[s0:s1])
        if a.row_weights is not None:
            assert np.array_equal(p.row_weights, a.row_weights[s0:s1])
        assert (p.dense is None) == (a.dense is None)
        if a.dense is not None:
            assert np.array_equal(p.dense, a.dense[c0 * A:c1 * A])
        # the part's network carries the whole system's shape and enabled flags, not its state, and
        # no other cores' routes (its own are the part's target_axon and delay, compared above)
        assert part.arrays.target_axon is None and part.arrays.delay is None and part.arrays.n_cores == a.n_cores
        assert np.array_equal(part.enabled, whole.enabled) and part.arrays.v is None
        assert part.n_enabled == whole.n_enabled


def test_targets_give_each_used_axon_one_source_at_most(system, write_yaml, small_workload):
    chip = load_chip(system)
    for case in ("balanced", "random_crossbar_fraction"):
        wl = _workload(write_yaml, small_workload, case, **CASES[case])
        net = build_network(chip, wl, wl.seed, "w")
        a, spec = net.arrays, wl.network
        cores_used, n_per = spec.cores or chip.cores, spec.neurons_per_core or chip.core.neurons
        sources = a.target_axon[a.target_axon >= 0]
        assert len(sources) == round(cores_used * n_per * spec.recurrent_fraction)
        assert len(np.unique(sources)) == len(sources) and sources.max() < cores_used * chip.core.axons
        assert not (a.target_axon[~net.enabled] >= 0).any()  # disabled neurons send nowhere
        lo, hi = spec.delay_ticks
        assert a.delay.min() >= lo and a.delay.max() <= hi


def test_more_sources_than_axons_merge_on_hashed_axons():
    target, delay = bl.route_arrays(4, 8, 16, 4, 16, 1.0, (1, 1), seed=5)
    assert (target >= 0).all() and target.max() < 32 and len(np.unique(target)) < 64
    assert (delay == 1).all()
    again, _ = bl.route_arrays(4, 8, 16, 4, 16, 1.0, (1, 1), seed=5)
    assert np.array_equal(target, again)


def test_route_arrays_of_a_neuron_range_are_the_whole_systems(monkeypatch):
    """A rank computes its own neurons' routes alone: the same values, chunk edges crossed too."""
    target, delay = bl.route_arrays(8, 16, 16, 6, 12, 0.7, (1, 9), seed=3)
    assert (target >= 0).sum() == round(6 * 12 * 0.7) and len(np.unique(delay)) > 3
    monkeypatch.setattr(bl, "ROUTE_CHUNK", 5)
    for g0, g1 in [(0, 128), (16, 48), (37, 101), (96, 128)]:
        t, d = bl.route_arrays(8, 16, 16, 6, 12, 0.7, (1, 9), seed=3, neurons=(g0, g1))
        assert np.array_equal(t, target[g0:g1]) and np.array_equal(d, delay[g0:g1])


def test_inputs_drawn_by_block_are_the_whole_streams_axons(system, write_yaml, small_workload):
    chip, wl = load_chip(system), _workload(write_yaml, small_workload, "in")
    net = build_network(chip, wl, wl.seed, "w")
    (stream,) = build_inputs(chip, wl, net, wl.seed, "w")
    ticks, axons = stream.events(0, 192)
    assert len(axons) > 0 and axons.max() < 10 * 32  # inputs on the first 10 cores only
    A = chip.core.axons
    for c0, c1 in [(0, 4), (4, 8), (8, 16), (12, 16)]:
        mine = stream.only(c0, c1)
        t, a = mine.events(0, 192)
        keep = (axons >= c0 * A) & (axons < c1 * A)
        assert np.array_equal(t, ticks[keep]) and np.array_equal(a, axons[keep])
    with pytest.raises(ValueError, match="does not start a block"):
        stream.only(2, 8)


def test_a_single_chip_keeps_its_whole_chip_streams(tiny_files):
    chip, wl = load_chip(tiny_files[0]), load_workload(tiny_files[1])
    assert bl.block_cores(chip) is None and not builds_by_block(chip, wl)
    net = build_network(chip, wl, wl.seed, "w")
    assert build_inputs(chip, wl, net, wl.seed, "w")[0].only(0, 2) is None
    mapped = load_workload(tiny_files[1]).__class__  # a mapped network is not generated: never by parts
    with pytest.raises(ConfigError, match="built whole, not by parts"):
        build_network_part(chip, dataclasses.replace(wl, network=dataclasses.replace(wl.network, kind="edgelist")),
                           wl.seed, "w", 0, 2)
    assert mapped is type(wl)


SINGLE = dict(CASES, dense={"kind": "random_recurrent_weighted", "weights": [3, -2, 1], "synapses_per_axon": 12},
              silent={"rate_hz": 0.0, "synapses_per_axon": 0})


@pytest.mark.parametrize("case", sorted(SINGLE))
def test_a_single_chips_part_is_drawn_from_its_whole_chip_streams(write_yaml, small_chip, small_workload, monkeypatch,
                                                                   case):
    """A single chip keeps its whole-chip streams (every single-chip record stays), and a part of
    it (an MPI rank's cores) draws them in order and keeps its own cores' share: bit for bit the
    whole network's, across the crossbar fills' chunk edges and the kept draws' chunks."""
    from neuroemu.networks import chippart, crossbars
    w = copy.deepcopy(small_workload)
    w["chip"] = "tiny16.yaml"
    w["network"].update(SINGLE[case])
    chip, wl = load_chip(write_yaml("tiny16.yaml", dict(small_chip, name="tiny16", cores=16, topology=dict(
        small_chip["topology"], width=4, height=4)))), load_workload(write_yaml("single.yaml", w))
    assert bl.block_cores(chip) is None and not builds_by_block(chip, wl)
    monkeypatch.setattr(crossbars, "CHUNK_DRAWS", 3 * 32 * 8)  # 3 cores a balanced chunk, 24-32 rows a random one
    monkeypatch.setattr(chippart, "DRAW_CHUNK", 7)
    whole = build_network(chip, wl, wl.seed, "w")
    a = whole.arrays
    assert (a.target_axon >= 0).any() and (a.n_synapses > 0) == (case != "silent")
    assert (a.dense is not None) == (case != "balanced" and case != "silent") and a.v.any() == (case != "silent")
    for c0, c1 in [(0, 1), (1, 7), (5, 16), (0, 16), (15, 16), (8, 12)]:
        part = build_network_part(chip, wl, wl.seed, "w", c0, c1)
        _same_part(whole, part, c0, c1)


def test_ranks_own_whole_blocks():
    assert bl.block_owner(16, 4, 1, "sys").tolist() == [0] * 16
    assert bl.block_owner(16, 4, 2, "sys").tolist() == [0] * 8 + [1] * 8
    assert bl.block_owner(16, 4, 3, "sys").tolist() == [0] * 8 + [1] * 4 + [2] * 4
    with pytest.raises(ConfigError) as err:
        bl.block_owner(16, 4, 5, "sys.yaml")
    assert str(err.value) == ("ranks: 5 ranks for 4 blocks of 4 cores (sys.yaml: a generated network on a system is "
                              "built a chip's share of cores at a time): at most one rank a block")
