"""Systems of chips (neuroemu.hardware.system, system files in neuroemu.config.loader): joined
meshes with chip-to-chip links as their own class, counted and priced apart."""
from __future__ import annotations

import csv
import dataclasses
import json

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from neuroemu.cli.app import main

from neuroemu.config.fields import to_plain
from neuroemu.config.loader import chip_from_data, load_chip, shipped_chips
from neuroemu.engine.run import TickLoop, simulate
from neuroemu.errors import ConfigError
from neuroemu.hardware.chip import build_chip_topology
from neuroemu.hardware import routing as rt
from neuroemu.hardware import system as system_mod
from neuroemu.hardware.system import SystemRouting, chip_of_core, chip_of_router, routing_bytes, system_table_bytes
from neuroemu.hardware.topology import Topology
from neuroemu.networks.workloads import build_inputs, build_network
from neuroemu.config.loader import load_workload

LINK = {"hop_pj": {"value": 40.0, "source": "test"}, "hop_ns": {"value": 25.0, "source": "test"},
        "bandwidth_pkts_per_ns": 0.5}


@pytest.fixture
def system_files(write_yaml, small_chip, small_workload):
    """A 2 x 2 system of the tiny 2 x 2-core chip (a 4 x 4 joined mesh), its plain 4 x 4 twin, and a workload."""
    chip = write_yaml("tiny.yaml", small_chip)
    system = write_yaml("tiny_system.yaml", {"name": "tiny_system", "description": "2 x 2 tiny chips",
                                             "system": {"chip": "tiny.yaml", "grid": [2, 2], "link": LINK}})
    flat = dict(small_chip, name="tiny_flat", cores=16)
    flat["topology"] = dict(small_chip["topology"], width=4, height=4)
    flat_path = write_yaml("tiny_flat.yaml", flat)
    small_workload["chip"] = "tiny_system.yaml"
    workload = write_yaml("tiny_system_workload.yaml", small_workload)
    return chip, system, flat_path, workload


def xy_class_hops(w: int, cw: int, ch: int, s: int, d: int) -> tuple[int, int, int]:
    """By hand: the XY route from router s to d on a w-wide mesh of cw x ch chips, hops per class
    (x, y, chip): x first along the source row, then y along the destination column; a step
    between two chips is a chip hop."""
    sx, sy, dx, dy = s % w, s // w, d % w, d // w
    counts = [0, 0, 0]
    x, y = sx, sy
    while x != dx:
        nx_ = x + (1 if dx > x else -1)
        counts[2 if nx_ // cw != x // cw else 0] += 1
        x = nx_
    while y != dy:
        ny_ = y + (1 if dy > y else -1)
        counts[2 if ny_ // ch != y // ch else 1] += 1
        y = ny_
    return tuple(counts)


def test_system_file_expands_to_the_joined_chip(system_files):
    _, system, _, _ = system_files
    spec = load_chip(system)
    assert spec.cores == 16 and (spec.topology.width, spec.topology.height) == (4, 4)
    assert spec.system.grid == (2, 2) and spec.system.chip == "tiny"
    assert spec.energy.static_mw.value == 4 * 1.0  # four chips' static power, board 0
    # the record's config loads again as the same chip (records, sweeps)
    assert chip_from_data(to_plain(spec), "again") == spec


def test_joined_mesh_hops_per_class_match_hand_computed_xy_routes(system_files):
    topo = build_chip_topology(load_chip(system_files[1]))
    assert topo.class_names == ("x", "y", "chip")
    # 4 x 4 mesh: 48 directed links; chip edges at x = 1|2 and y = 1|2: 2 x 4 rows + 2 x 4 columns
    assert topo.n_links == 48 and int((topo.link_class == 2).sum()) == 16
    for s in range(16):
        for d in range(16):
            assert tuple(int(topo.class_hops[c, s, d]) for c in range(3)) == xy_class_hops(4, 2, 2, s, d), (s, d)
    # corner to corner: x, chip, x then y, chip, y
    assert tuple(topo.class_hops[:, 0, 15]) == (2, 2, 2)
    assert int(topo.hops[0, 15]) == 6
    # zero-load latency: 4 on-chip hops of 2 ns and 2 chip hops of 25 ns
    assert int(topo.path_latency_ps[0, 15]) == 4 * 2000 + 2 * 25000
    assert list(chip_of_router(topo)) == [0, 0, 1, 1, 0, 0, 1, 1, 2, 2, 3, 3, 2, 2, 3, 3]
    assert list(chip_of_core(topo)) == list(chip_of_router(topo))


def test_chip_hops_counted_and_priced_apart(system_files):
    _, system, flat, workload = system_files
    r = simulate(system, workload, record_spikes=True)
    spec, wl = load_chip(system), load_workload(workload)

    class SystemsNetwork(TickLoop):
        """The flat twin runs the system's network and inputs (a system draws them by blocks)."""

        def _build_network(self):
            net = build_network(spec, wl, self.opt.seed, self.name)
            net.inputs = build_inputs(spec, wl, net, self.opt.seed, self.name)
            return net

    plain = simulate(flat, workload, loop=SystemsNetwork)
    # the same network and spikes: the joined mesh moves them over the same routes
    assert r.cores == 16 and r.neurons == 16 * 32  # generated over every core of the system
    assert r.spikes == plain.spikes and r.synaptic_events == plain.synaptic_events
    assert r.hops == plain.hops
    assert r.hops_by_class["x"] + r.hops_by_class["y"] + r.hops_by_class["chip"] == plain.hops
    assert r.hops_by_class["chip"] > 0
    # every spike's chip hops by hand: the chip edges between its neuron's core and its target core
    arrays = build_network(spec, wl, wl.seed, "w").arrays
    src, axon, _ = arrays.routes()
    fired = np.bincount(r.spike_trains.neurons, minlength=len(src))
    want = np.zeros(3, np.int64)
    slowest_ps = 0
    for route in np.flatnonzero((axon >= 0) & (fired > 0)):
        s = arrays.chip_cores(np.array([src[route] // arrays.neurons_per_core]))[0]
        d = arrays.chip_cores(np.array([axon[route] // arrays.axons_per_core]))[0]
        x, y, chip = xy_class_hops(4, 2, 2, int(s), int(d))
        want += np.array([x, y, chip]) * fired[src[route]]
        slowest_ps = max(slowest_ps, (x + y) * 2000 + chip * 25000)  # hop_ns 2 on chip, 25 across
    assert [r.hops_by_class[c] for c in ("x", "y", "chip")] == want.tolist()
    assert r.timing_report["latency_max_s"] == pytest.approx(slowest_ps * 1e-12, rel=1e-12, abs=0)
    # priced with the chip link's own energy
    assert r.energy_breakdown_j["hop_chip"] == pytest.approx(r.hops_by_class["chip"] * 40.0e-12, rel=1e-12, abs=0)
    assert r.energy_breakdown_j["hop_x"] == pytest.approx(r.hops_by_class["x"] * 2.3e-12, rel=1e-12, abs=0)


def test_shipped_systems_load_with_sources():
    assert {"ns16e", "pohoiki_beach"} <= set(shipped_chips())
    ns = load_chip("ns16e")
    assert ns.cores == 16 * 4096 and ns.neurons == 16 * 2 ** 20 and ns.system.grid == (4, 4)
    assert ns.energy.static_mw.value == pytest.approx(16 * load_chip("truenorth").energy.static_mw.value)
    pb = load_chip("pohoiki_beach")
    assert pb.cores == 64 * 128 and (pb.topology.width, pb.topology.height) == (64, 32)
    for spec in (ns, pb):
        assert "assumed" in spec.energy.hop_class_pj["chip"].source
        assert "assumed" in spec.latency.hop_class_ns["chip"].source
        assert spec.energy.hop_class_pj["chip"].value == 32.0 and spec.system.bandwidth_pkts_per_ns == 0.1


def test_pohoiki_beach_mesh_builds_with_its_chip_links():
    topo = build_chip_topology(load_chip("pohoiki_beach"))
    assert topo.n_routers == 2048 and topo.class_names == ("x", "y", "chip")
    # 7 chip edges across each of 32 rows and 7 across each of 64 columns, both directions
    assert int((topo.link_class == 2).sum()) == 2 * (7 * 32 + 7 * 64)
    # Loihi's own E-W / N-S hop energies stay on the chip's links
    assert set(topo.link_energy_pj[topo.link_class == 0]) == {3.0}
    assert set(topo.link_energy_pj[topo.link_class == 1]) == {4.0}
    assert set(topo.link_energy_pj[topo.link_class == 2]) == {32.0}


def _system(write_yaml, small_chip, cw, ch, gx, gy, conc=1):
    """A gx x gy system of a cw x ch-router chip (``conc`` cores per router), as a ChipSpec."""
    chip = dict(small_chip, cores=cw * ch * conc)
    chip["topology"] = dict(small_chip["topology"], width=cw, height=ch, concentration=conc)
    write_yaml("tiny.yaml", chip)
    return load_chip(write_yaml("sys.yaml", {"name": "sys", "description": "t",
                                             "system": {"chip": "tiny.yaml", "grid": [gx, gy], "link": LINK}}))


SHAPES = [(3, 2, 2, 2, 1), (2, 2, 3, 1, 1), (3, 2, 1, 3, 1), (3, 1, 2, 3, 2), (1, 1, 2, 2, 1), (4, 3, 3, 2, 1)]


@pytest.mark.parametrize("cw, ch, gx, gy, conc", SHAPES)
def test_closed_forms_equal_the_tables_for_every_pair(write_yaml, small_chip, cw, ch, gx, gy, conc, monkeypatch):
    """Per pair, the closed forms a run uses give the [n, n] tables' values bit for bit: hops, hops
    per class (the tables also checked against the route recurrence, hop by hop), path latency,
    wire, next links, per-link loads; the placement cost per pair and summed per core equal the
    matrix it was (hops + (chip diameter) x chip hops)."""
    monkeypatch.setattr(rt, "_LEG_BLOCK", 5)  # the running sums in several blocks of lines
    monkeypatch.setattr(rt, "PAIR_CHUNK", 7)  # and the pairs in several chunks
    topo = build_chip_topology(_system(write_yaml, small_chip, cw, ch, gx, gy, conc))
    r, n = topo._routing, topo.n_routers
    assert r.pairwise and "next_link" not in vars(topo) and "hops" not in vars(r)
    s, d = (a.astype(np.int64) for a in np.divmod(np.arange(n * n), n))
    recurrence = np.stack([rt.accumulate((topo.link_class == c).astype(np.int16), topo.next_link, topo.hops,
                                         topo.link_dst, np.int16) for c in range(3)])
    assert np.array_equal(topo.class_hops, recurrence)
    assert np.array_equal(topo.pair_class_hops(s, d), topo.class_hops[:, s, d])
    assert [tuple(topo.pair_class_hops(s[i:i + 1], d[i:i + 1])[:, 0]) for i in range(n * n)] == \
        [xy_class_hops(cw * gx, cw, ch, int(a), int(b)) for a, b in zip(s, d)]
    assert np.array_equal(r.pair_hops(s, d), topo.hops[s, d]) and topo.diameter == topo.hops.max()
    for values, dtype, table in ((topo.link_latency_ps, np.int64, "path_latency_ps"), (topo.link_length_mm, np.float64, "wire_mm")):
        assert np.array_equal(topo.pair_path_sum(values, dtype, s, d), getattr(topo, table)[s, d])
    # values that differ link by link: the running sums along both legs, in blocks of lines
    for values in (np.random.default_rng(4).random(topo.n_links), np.arange(topo.n_links) * 7):
        assert np.array_equal(topo.pair_path_sum(values, values.dtype, s, d), topo.path_sum(values, values.dtype)[s, d])
    assert np.array_equal(r.next_links(s, d), topo.next_link[s, d])
    counts = np.random.default_rng(5).integers(0, 4, n * n)
    assert np.array_equal(topo.link_loads(s, d, counts), rt.walk_loads(topo.next_link, topo.link_dst, topo.n_links,
                                                                       s, d, counts))
    for a in range(n):
        assert np.array_equal(topo.multicast_links(a, np.arange(n)), rt.walk_union(topo.next_link, topo.link_dst, a,
                                                                                  np.arange(n)))
    cores = np.arange(topo.n_cores)
    cs, cd = (x.ravel() for x in np.meshgrid(cores, cores, indexing="ij"))
    ra, rb = topo.core_router[cs], topo.core_router[cd]
    hops = topo.hops[ra, rb].astype(np.int64)
    matrix = hops + (cw + ch - 2) * topo.class_hops[2][ra, rb]
    assert np.array_equal(topo.core_cost(cs, cd, False), hops) and np.array_equal(topo.core_hops(cs, cd), hops)
    assert np.array_equal(topo.core_cost(cs, cd, True), matrix)
    assert np.array_equal(topo.core_cost_sums(True), matrix.reshape(len(cores), -1).sum(axis=1))
    assert np.array_equal(topo.core_cost_sums(False), hops.reshape(len(cores), -1).sum(axis=1))


@pytest.mark.parametrize("n_cores", [24, 17])
def test_placement_reads_the_system_costs_per_pair_as_the_matrix_they_were(write_yaml, small_chip, n_cores):
    """locality asks the cost matrix for row sums, a row, a block and pairs: per pair they are the
    matrix's integers, over all the cores or the first n_cores."""
    from neuroemu.networks.place import _core_hops
    topo = build_chip_topology(_system(write_yaml, small_chip, 3, 2, 2, 2))
    r = topo.core_router[:n_cores]
    for placement in (False, True):
        dense = topo.hops[np.ix_(r, r)].astype(np.int64) + placement * 3 * topo.class_hops[2][np.ix_(r, r)]
        cost = _core_hops(n_cores, None, None, topo, placement)
        cores = np.array([3, 0, 16, 9])
        assert np.array_equal(cost.sum(axis=1), dense.sum(axis=1)) and np.array_equal(cost[5], dense[5])
        assert np.array_equal(cost[np.ix_(cores, cores)], dense[np.ix_(cores, cores)])
        assert np.array_equal(cost[cores, cores[::-1]], dense[cores, cores[::-1]])


@pytest.mark.parametrize("queue", ["c", "python"])
@pytest.mark.parametrize("timing, network", [("sync", "analytic"), ("gals", "packet")])
def test_a_run_in_closed_form_equals_the_run_on_tables(write_yaml, small_chip, small_workload, monkeypatch, queue,
                                                         timing, network):
    """The record of a small system, link statistics included, is the one the [n, n] tables gave."""
    spec = _system(write_yaml, small_chip, 3, 2, 2, 2)
    small_workload["chip"] = "sys.yaml"
    wl = write_yaml("wl.yaml", small_workload)
    run = lambda: simulate(spec, wl, ticks=25, timing=timing, network=network, queue=queue, link_stats=True)
    closed = run()
    monkeypatch.setattr(SystemRouting, "pairwise", False)  # gather from the tables, walk them hop by hop
    monkeypatch.setattr(Topology, "mesh_ports", lambda self: None)  # the packet network reads next_link
    tables = run()
    assert closed.comparable() == tables.comparable() and closed.hops_by_class["chip"] > 0


def test_a_large_system_holds_no_router_pair_array():
    """A 128 x 128 joined mesh (8 x 8 chips of 16 x 16): building it, binding routes, loads, walks and
    the diameter allocate nothing of n_routers^2 (the routing, topology and router arrays are checked)."""
    from neuroemu.hardware.chip import Router
    spec = load_chip("ns16e")
    small = dataclasses.replace(spec.topology, width=128, height=128)
    chip = dataclasses.replace(spec, topology=small, cores=128 * 128, system=dataclasses.replace(spec.system, grid=(8, 8)))
    topo = build_chip_topology(chip)
    n = topo.n_routers
    rng = np.random.default_rng(0)
    src, dst = rng.integers(0, n, 100_000), rng.integers(-1, n, 100_000)
    router = Router(topo)
    router.bind(src, dst)
    loads = router.link_loads(np.ones(len(src), np.int64))
    assert loads.sum() == router.class_hops_of(np.ones(len(src), np.int64)).sum() > 0
    assert topo.diameter == 2 * 127 and len(topo.route_links(0, n - 1)) == 254
    assert len(topo.multicast_links(0, np.array([n - 1, 127]))) == 254
    # the packet network routes XY from four ports per router (C kernel and its Python twin)
    from neuroemu.hardware.packet import PacketNetwork
    for kernel in ("c", "python"):
        net = PacketNetwork(topo, buffer_packets=None, kernel=kernel)
        net.inject(np.arange(50), src[:50], np.abs(dst[:50]), np.arange(50))
        out = net.advance(10 ** 9)
        assert np.array_equal(out.hops, topo.core_hops(out.src_router, out.dst_router)) and len(out.hops) == 50
    assert "next_link" not in vars(topo) and "hops" not in vars(topo) and "next_link" not in vars(topo._routing)
    for obj in (topo, topo._routing, router, net):
        for name, value in vars(obj).items():
            if isinstance(value, np.ndarray):
                assert value.size <= 8 * (n + len(src)) < n * n // 100, (obj, name)  # per router, link or route


def test_a_system_too_large_for_memory_is_refused_in_one_line(monkeypatch):
    """The refusal weighs what a run allocates now -- the network and its routing in closed form --
    against the free memory; NS16e's routing is a few GiB (no 112 GiB of tables)."""
    spec = load_chip("ns16e")
    need = routing_bytes(spec)
    assert need < 4 * 2 ** 30 and need < system_table_bytes(65536) / 25
    monkeypatch.setattr(system_mod, "_available_bytes", lambda: need)  # 80 % of it is not enough
    with pytest.raises(ConfigError) as exc:
        build_chip_topology(spec)
    msg = str(exc.value)
    assert "\n" not in msg and "ns16e.yaml" in msg and "65536 routers" in msg
    assert f"{need / 2**30:.1f} GiB of routing" in msg
    monkeypatch.setattr(system_mod, "_available_bytes", lambda: int(need / 0.8) + 1)
    system_mod.check_system_size(spec)  # fits: no error
    # the routing fits, but not with the network's 1 GiB besides it
    with pytest.raises(ConfigError, match=r"\(1\.0 GiB of network"):
        system_mod.check_system_size(spec, network_bytes=2**30)


@pytest.mark.parametrize("change, key", [
    ({"grid": [0, 2]}, "system.grid[0]"),
    ({"grid": [2]}, "system.grid"),
    ({"chip": "no_such_chip"}, "system.chip"),
    ({"colour": "red"}, "system.colour"),
    ({"link": None}, "system.link"),
    ({"link": dict(LINK, hop_pj=-1.0)}, "system.link.hop_pj"),
])
def test_bad_system_files_fail_in_one_line(write_yaml, small_chip, change, key):
    write_yaml("tiny.yaml", small_chip)
    system = {"chip": "tiny.yaml", "grid": [2, 2], "link": LINK}
    system.update(change)
    path = write_yaml("bad_system.yaml", {"name": "bad", "system": system})
    with pytest.raises(ConfigError) as exc:
        load_chip(path)
    assert "\n" not in str(exc.value) and "bad_system.yaml" in str(exc.value) and key in str(exc.value)


def test_non_square_grids_join(write_yaml, small_chip):
    write_yaml("tiny.yaml", small_chip)
    path = write_yaml("s.yaml", {"name": "s", "system": {"chip": "tiny.yaml", "grid": [3, 1], "link": LINK}})
    topo = build_chip_topology(load_chip(path))
    assert (topo.params["width"], topo.params["height"], topo.n_routers) == (6, 2, 12)
    # chip edges at x = 1|2 and 3|4 on both rows, both directions
    assert int((topo.link_class == 2).sum()) == 2 * 2 * 2


def test_a_joined_chip_must_be_consistent(small_chip):
    data = dict(small_chip, cores=16, topology=dict(small_chip["topology"], width=4, height=4),
                system={"chip": "tiny", "grid": [3, 2]})
    with pytest.raises(ConfigError, match="system.grid.*must divide"):
        chip_from_data(data, "joined.yaml")
    data["system"] = {"chip": "tiny", "grid": [2, 2], "link": LINK}
    with pytest.raises(ConfigError, match="system.link.*hop_class_pj.chip"):
        chip_from_data(data, "joined.yaml")


def test_a_system_of_a_non_mesh_chip_or_of_a_system_is_refused(write_yaml, small_chip):
    tree = dict(small_chip, topology={"kind": "htree"})
    write_yaml("tree.yaml", tree)
    path = write_yaml("s.yaml", {"name": "s", "system": {"chip": "tree.yaml", "grid": [2, 1], "link": LINK}})
    with pytest.raises(ConfigError, match="system.chip.*mesh"):
        load_chip(path)
    write_yaml("tiny.yaml", small_chip)
    write_yaml("inner.yaml", {"name": "inner", "system": {"chip": "tiny.yaml", "grid": [2, 1], "link": LINK}})
    outer = write_yaml("outer.yaml", {"name": "outer", "system": {"chip": "inner.yaml", "grid": [2, 1], "link": LINK}})
    with pytest.raises(ConfigError, match="not a system"):
        load_chip(outer)


def _dense_layers(path, k: int = 8) -> None:
    """Inputs -> layer 0 one to one, then layer 0 -> 1 -> 2 all to all: traffic no placement avoids."""
    a = np.arange(k)
    src = np.concatenate([a, np.repeat(a, k), np.repeat(a + k, k)])
    dst = np.concatenate([a, np.tile(a + k, k), np.tile(a + 2 * k, k)])
    np.savez(path, src=src, dst=dst, weight=np.ones(len(src)), src_input=np.r_[np.ones(k, int), np.zeros(2 * k * k, int)],
             threshold=np.full(3 * k, 4.0), input_times=np.repeat(np.arange(0, 20, 2), k), input_ids=np.tile(a, 10),
             n_inputs=k)


def test_locality_keeps_a_network_that_fits_one_chip_on_one_chip(system_files, tmp_path):
    from neuroemu.config.loader import workload_for_network_file
    _dense_layers(tmp_path / "dense.npz")
    spec = load_chip(system_files[1])
    runs = {m: simulate(spec, workload_for_network_file(tmp_path / "dense.npz", ticks=30, mapping=m))
            for m in ("locality", "pack")}
    loc, pack = runs["locality"], runs["pack"]
    assert loc.spikes == pack.spikes > 0
    # pack fills cores 0, 1, 2 in a row: core 2 sits on the next chip, so its traffic crosses a chip edge
    assert pack.hops_by_class["chip"] > 0
    # locality lays its three parts on one chip: more on-chip hops, no chip hop at all
    assert loc.workload_report["mapping"]["cores_used"] == 3
    assert loc.hops_by_class["chip"] == 0 and loc.hops_by_class["x"] + loc.hops_by_class["y"] > 0
    assert loc.energy_breakdown_j.get("hop_chip", 0.0) == 0.0 < pack.energy_breakdown_j["hop_chip"]


def test_cli_lists_the_shipped_systems():
    out = CliRunner().invoke(main, ["chips"])
    assert out.exit_code == 0
    lines = {line.split()[0]: line for line in out.output.splitlines() if line.strip()}
    assert "16 TrueNorth chips" in lines["ns16e"] and "64 Loihi chips" in lines["pohoiki_beach"]


def test_cli_run_of_ns16e_without_the_memory_is_one_error_line(system_files, monkeypatch):
    monkeypatch.setattr(system_mod, "_available_bytes", lambda: 2 ** 30)
    out = CliRunner().invoke(main, ["run", "ns16e", system_files[3], "--ticks", "2"])
    assert out.exit_code == 1
    assert out.output.count("\n") == 1 and out.output.startswith("Error: ")
    assert "ns16e" in out.output and ("GiB" in out.output)


def test_compare_takes_a_system_and_refuses_other_layouts_in_a_row(system_files):
    _, system, _, workload = system_files
    out = CliRunner().invoke(main, ["compare", system, workload, "--ticks", "10", "--topologies", "mesh,htree",
                                    "--json", "-"])
    assert out.exit_code == 0, out.output
    doc = json.loads(out.output[out.output.index("{"):])
    rows = doc["rows"] if isinstance(doc, dict) else doc
    assert rows[0]["topology"] == "mesh" and rows[0]["error"] is None and rows[0]["hops_mean"] > 0
    assert "joined mesh" in rows[1]["error"]


def test_sweep_over_the_chip_link_energy(system_files, tmp_path):
    _, system, _, workload = system_files
    spec = {"name": "chip_link", "base": {"chip": system, "workload": workload},
            "axes": [{"key": "chip.energy.hop_class_pj.chip", "values": [10.0, 80.0]},
                     {"key": "workload.ticks", "values": [10]}],
            "mode": "grid", "repetitions": 1, "seed": 7, "common_seeds": True}
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(spec))
    out = CliRunner().invoke(main, ["sweep", str(path), "--out", str(tmp_path / "out"), "--workers", "1"])
    assert out.exit_code == 0, out.output
    rows = list(csv.DictReader(open(tmp_path / "out" / "results.csv")))
    assert len(rows) == 2 and rows[0]["hops_chip"] == rows[1]["hops_chip"] != "0"
    for row in rows:
        assert float(row["energy_hop_chip_j"]) == pytest.approx(
            int(row["count_hop_chip"]) * float(row["chip.energy.hop_class_pj.chip"]) * 1e-12, rel=1e-12, abs=0)


def test_packet_network_moves_system_spikes_over_the_same_links(system_files):
    _, system, _, workload = system_files
    analytic = simulate(system, workload, ticks=30)
    packet = simulate(system, workload, ticks=30, network="packet")
    # uncongested: the same spikes, hops per class and energy of every counted term
    assert packet.spikes == analytic.spikes and packet.hops_by_class == analytic.hops_by_class
    for term in ("hop_chip", "hop_x", "hop_y", "synaptic"):
        assert packet.energy_breakdown_j[term] == pytest.approx(analytic.energy_breakdown_j[term], rel=1e-12, abs=0)


def _xy_walk(w: int, s: int, d: int) -> list[int]:
    """By hand: the routers an XY route visits from s to d on a w-wide mesh (x first, then y)."""
    x, y, dx, dy = s % w, s // w, d % w, d // w
    path = [s]
    while x != dx:
        x += 1 if dx > x else -1
        path.append(y * w + x)
    while y != dy:
        y += 1 if dy > y else -1
        path.append(y * w + x)
    return path


def test_system_routes_links_loads_and_sums_against_a_hand_walk(write_yaml, small_chip):
    """A 2 x 2 system of 3 x 2-router chips (a 6 x 4 joined mesh): every route walked by hand, router
    by router. Next links, route links, per-link loads with counts, hops per class, zero-load latency
    (2 ns on chip, 25 ns across) and wire (0.24 mm per hop) per pair are the walk's."""
    topo = build_chip_topology(_system(write_yaml, small_chip, 3, 2, 2, 2))
    w, n = 6, 24
    link = {(int(a), int(b)): i for i, (a, b) in enumerate(zip(topo.link_src, topo.link_dst))}
    # 6 x 4 mesh: 2 x 5 x 4 x links + 2 x 6 x 3 y links; the chip edges x = 2|3 (4 rows) and
    # y = 1|2 (6 columns), both ways
    assert topo.n_links == 76 and len(link) == 76
    chip_links = sorted([(6 * y + 2, 6 * y + 3) for y in range(4)] + [(6 * y + 3, 6 * y + 2) for y in range(4)]
                        + [(6 + x, 12 + x) for x in range(6)] + [(12 + x, 6 + x) for x in range(6)])
    assert sorted(k for k, i in link.items() if topo.link_class[i] == 2) == chip_links
    assert all(topo.link_class[link[(a, a + 1)]] == 0 for a in range(24) if a % 6 not in (2, 5))
    assert all(topo.link_class[link[(a, a + 6)]] == 1 for a in range(18) if a // 6 != 1)
    rng = np.random.default_rng(3)
    counts = rng.integers(0, 5, n * n)
    want_loads = np.zeros(topo.n_links, np.int64)
    s_all, d_all = (a.astype(np.int64) for a in np.divmod(np.arange(n * n), n))
    lat, wire, cls = [], [], []
    for i, (s, d) in enumerate(zip(s_all.tolist(), d_all.tolist())):
        path = _xy_walk(w, s, d)
        links = [link[(a, b)] for a, b in zip(path, path[1:])]
        assert topo.route_links(s, d).tolist() == links, (s, d)
        nxt = topo.next_links(np.array([s]), np.array([d]))[0]
        assert nxt == (links[0] if links else -1), (s, d)
        for lid in links:
            want_loads[lid] += counts[i]
        c = [sum(topo.link_class[x] == k for x in links) for k in range(3)]
        cls.append(c)
        lat.append((c[0] + c[1]) * 2000 + c[2] * 25000)
        wire.append(len(links) * 0.24)
    assert np.array_equal(topo.link_loads(s_all, d_all, counts), want_loads)
    assert np.array_equal(topo.link_loads(s_all, d_all), np.bincount(
        [link[(a, b)] for s, d in zip(s_all.tolist(), d_all.tolist()) for a, b in
         zip(_xy_walk(w, s, d), _xy_walk(w, s, d)[1:])], minlength=topo.n_links))
    assert topo.pair_class_hops(s_all, d_all).T.tolist() == cls
    assert topo.pair_path_sum(topo.link_latency_ps, np.int64, s_all, d_all, "path_latency_ps").tolist() == lat
    assert topo.pair_path_sum(topo.link_length_mm, np.float64, s_all, d_all, "wire_mm") == pytest.approx(wire, rel=1e-12, abs=0)
    assert topo.diameter == 8


def test_table_bytes_are_what_the_tables_take(write_yaml, small_chip):
    """system_table_bytes(n) is the bytes per router pair of the [n, n] tables a run would build
    (next_link, hops, class_hops, path_latency_ps, wire_mm), read off the built tables of a small
    system: 28 per pair, so NS16e's 65,536 routers would need 112 GiB."""
    topo = build_chip_topology(_system(write_yaml, small_chip, 2, 2, 2, 1))
    n = topo.n_routers
    built = sum(a.nbytes for a in (topo.next_link, topo.hops, topo.class_hops, topo.path_latency_ps, topo.wire_mm))
    assert system_table_bytes(n) == built == 28 * n * n
    assert system_table_bytes(65536) == 112 * 2**30


def test_chip_of_router_and_core_on_a_non_square_grid(write_yaml, small_chip):
    """A 2 x 3 grid of 3 x 2-router chips (6 x 6 routers), 2 cores per router: router (x, y) is on chip
    (y // 2) x 2 + x // 3, and each core on its router's chip."""
    topo = build_chip_topology(_system(write_yaml, small_chip, 3, 2, 2, 3, conc=2))
    want = [(y // 2) * 2 + x // 3 for y in range(6) for x in range(6)]
    assert chip_of_router(topo).tolist() == want and chip_of_router(topo).dtype == np.int32
    assert chip_of_core(topo).tolist() == [c for c in want for _ in range(2)]


def _shape(kind, width=0, height=0, concentration=1, cores=0, neurons=0, system=None):
    from types import SimpleNamespace
    return SimpleNamespace(topology=SimpleNamespace(kind=kind, width=width, height=height, concentration=concentration),
                           cores=cores, core=SimpleNamespace(neurons=neurons), system=system, source="s.yaml",
                           name="s")


def test_routing_bytes_by_hand():
    """Per router 42 B, per core 12 B, per link (4 per router) 217 B, per route 6 + 8 + 8 + 8 + 8 + 1 + 64 = 103 B,
    plus one block of running sums (2 x 8 B x the block's lines); trees and custom graphs add their
    [n, n] tables (28 B per pair) over cores / concentration routers."""
    assert system_mod.ROUTE_BYTES == 103 and system_mod.TABLE_BYTES_PER_PAIR == 28
    block = 16 * rt._LEG_BLOCK
    # a 5 x 3 mesh of 15 cores x 7 neurons: one route per neuron
    assert routing_bytes(_shape("mesh", 5, 3, 1, 15, 7)) == 15 * 42 + 15 * 12 + 60 * 217 + 105 * 103 + block
    assert routing_bytes(_shape("torus", 5, 3, 1, 15, 7), routes=11) == 15 * 42 + 15 * 12 + 60 * 217 + 11 * 103 + block
    # a tree of 12 cores, 3 per router: 4 routers and their tables
    assert routing_bytes(_shape("tree", 0, 0, 3, 12, 2)) == 4 * 42 + 12 * 12 + 16 * 217 + 24 * 103 + block + 28 * 16
    assert routing_bytes(_shape("custom", 0, 0, 1, 5, 1), routes=0) == 5 * 42 + 5 * 12 + 20 * 217 + block + 28 * 25


def test_available_bytes_is_free_pages_or_no_limit(monkeypatch):
    """Free memory is free pages x page size; where the platform cannot tell, only the router limit applies."""
    monkeypatch.setattr(system_mod.os, "sysconf", lambda name: {"SC_AVPHYS_PAGES": 7, "SC_PAGE_SIZE": 4096}[name])
    assert system_mod._available_bytes() == 7 * 4096

    def unknown(name):
        raise ValueError(name)
    monkeypatch.setattr(system_mod.os, "sysconf", unknown)
    assert system_mod._available_bytes() == 1 << 62


def test_system_size_check_at_its_boundary(monkeypatch):
    """A system whose routing plus network is exactly 80 % of the free memory fits; one byte more is
    refused; chips that are not systems, and systems not laid out as a mesh, are never refused."""
    spec = load_chip("ns16e")
    need = routing_bytes(spec)
    have = 5 * 2**40
    assert 0.8 * have == 4 * 2**40  # exact in floats
    monkeypatch.setattr(system_mod, "_available_bytes", lambda: have)
    system_mod.check_system_size(spec, network_bytes=4 * 2**40 - need)
    with pytest.raises(ConfigError, match="GiB of memory is free"):
        system_mod.check_system_size(spec, network_bytes=4 * 2**40 - need + 1)
    monkeypatch.setattr(system_mod, "_available_bytes", lambda: 0)
    system_mod.check_system_size(_shape("mesh", 4, 4, 1, 16, 8))            # no system
    system_mod.check_system_size(_shape("torus", 4, 4, 1, 16, 8, system=spec.system))  # not a mesh
    with pytest.raises(ConfigError):
        system_mod.check_system_size(_shape("mesh", 4, 4, 1, 16, 8, system=spec.system))


def test_a_joined_meshs_links_and_routers_by_hand(write_yaml, small_chip):
    """A 3 x 1 grid of 2 x 2-router chips, 2 cores per router (a 6 x 2 mesh): routers at (x, y) x
    0.24 mm, cores in pairs per router; on-chip links keep the chip's 2 ns, 2.3 pJ and bandwidth
    1/ns, chip links take the system link's 25 ns, 40 pJ and 0.5/ns; every link is one pitch long."""
    small_chip["topology"]["bandwidth_pkts_per_ns"] = 1.0
    topo = build_chip_topology(_system(write_yaml, small_chip, 2, 2, 3, 1, conc=2))
    assert topo.params == {"width": 6, "height": 2, "concentration": 2, "grid": (3, 1), "chip_width": 2,
                           "chip_height": 2}
    assert topo.n_routers == 12 and topo.core_router.tolist() == [r for r in range(12) for _ in range(2)]
    assert topo.router_pos_mm.tolist() == [[x * 0.24, y * 0.24] for y in range(2) for x in range(6)]
    across = np.array([(int(s) % 6) // 2 != (int(d) % 6) // 2 for s, d in zip(topo.link_src, topo.link_dst)])
    assert across.sum() == 8 and np.array_equal(topo.link_class == 2, across)
    assert set(topo.link_latency_ps[across].tolist()) == {25000} and set(topo.link_latency_ps[~across].tolist()) == {2000}
    assert set(topo.link_energy_pj[across].tolist()) == {40.0} and set(topo.link_energy_pj[~across].tolist()) == {2.3}
    assert set(topo.link_bandwidth[across].tolist()) == {0.5} and set(topo.link_bandwidth[~across].tolist()) == {1.0}
    assert topo.link_length_mm.tolist() == pytest.approx([0.24] * topo.n_links, rel=1e-12, abs=0)
    assert topo.class_names == ("x", "y", "chip")


def test_per_class_on_chip_latencies_stay_on_the_chips_links(write_yaml, small_chip):
    """A chip whose x hops take 3 ns and y hops 4 ns (``latency.hop_class_ns``) keeps them on the
    joined mesh's on-chip links; its chip links take the system link's 25 ns."""
    small_chip["latency"]["hop_class_ns"] = {"x": {"value": 3.0, "source": "test"},
                                             "y": {"value": 4.0, "source": "test"}}
    topo = build_chip_topology(_system(write_yaml, small_chip, 2, 2, 2, 2))
    assert set(topo.link_latency_ps[topo.link_class == 0].tolist()) == {3000}
    assert set(topo.link_latency_ps[topo.link_class == 1].tolist()) == {4000}
    assert set(topo.link_latency_ps[topo.link_class == 2].tolist()) == {25000}
    # router 0 -> 15 on the 4 x 4 mesh: 3 x hops (one across chips), then 3 y hops (one across)
    assert topo.pair_path_sum(topo.link_latency_ps, np.int64, np.array([0]), np.array([15])).tolist() == \
        [2 * 3000 + 2 * 4000 + 2 * 25000]


@pytest.fixture
def no_graph(monkeypatch):
    """Building the networkx router graph raises: whatever passes under it never built one."""
    def refuse(self):
        raise AssertionError(f"the networkx graph of {self!r} was built")

    monkeypatch.setattr(Topology, "_make_graph", refuse)


@pytest.mark.parametrize("timing, network", [("sync", "analytic"), ("gals", "packet"), ("barrier", "analytic"),
                                              ("async", "analytic")])
def test_mesh_and_system_runs_never_build_the_networkx_graph(system_files, monkeypatch, timing, network):
    """Runs on a mesh and on a system route from arrays and closed forms: no networkx graph is
    built (the builder raises), and their records are those of runs that built it with the
    topology, as every run did before (bit for bit, link statistics included)."""
    chip, system, _, workload = system_files
    run = lambda c: simulate(c, workload, ticks=12, timing=timing, network=network, record_spikes=True,
                             link_stats=True).comparable()
    init, make = Topology.__init__, Topology._make_graph
    built = []

    def eager(self, *args, **kwargs):  # the graph built with the topology, as before
        init(self, *args, **kwargs)
        built.append(self.graph)

    monkeypatch.setattr(Topology, "__init__", eager)
    with_graph = [run(c) for c in (chip, system)]
    assert len(built) >= 2 and make is Topology._make_graph
    monkeypatch.setattr(Topology, "__init__", init)
    monkeypatch.setattr(Topology, "_make_graph", lambda self: pytest.fail(f"the graph of {self!r} was built"))
    assert [run(c) for c in (chip, system)] == with_graph and with_graph[1]["spikes"] > 0


def test_a_sweep_and_an_mpi_ranks_setup_never_build_the_networkx_graph(system_files, no_graph, tmp_path):
    from fake_comm import OneRankOfTwo
    from neuroemu.engine import ranks as rk
    from neuroemu.engine.options import RunOptions
    from neuroemu.studies.sweep import sweep
    _, system, _, workload = system_files
    spec = {"name": "lazy", "base": {"chip": system, "workload": workload},
            "axes": [{"key": "chip.energy.hop_class_pj.chip", "values": [10.0, 80.0]},
                     {"key": "workload.ticks", "values": [5]}], "mode": "grid", "repetitions": 1, "seed": 7,
            "common_seeds": True}
    sweep(spec, tmp_path / "out", workers=1)
    rows = list(csv.DictReader(open(tmp_path / "out" / "results.csv")))
    assert len(rows) == 2 and rows[0]["hops_chip"] == rows[1]["hops_chip"] != "0"
    chip, wl = load_chip(system), load_workload(workload)
    loop = type("Half", (rk.RankLoop,), {"comm": OneRankOfTwo()})(chip, wl, RunOptions(ticks=5, seed=wl.seed))
    assert loop.setup_error is None and 0 < loop.c1 - loop.c0 < 16  # its own share of the 16 cores


def test_the_routing_estimate_counts_the_arrays_held_not_a_networkx_graph():
    """routing_bytes (what check_system_size and each MPI rank's estimate weigh) counts the router,
    core and link arrays a run holds -- the topology's, the packet network's, the link loads -- and
    no networkx graph: the bytes traced while building them are within it (and within 25 % of it),
    while the graph, built on demand, would take more than twice the whole estimate."""
    import tracemalloc
    from neuroemu.hardware.packet import PacketNetwork
    spec = load_chip("ns16e")
    chip = dataclasses.replace(spec, topology=dataclasses.replace(spec.topology, width=64, height=64),
                               cores=64 * 64, system=dataclasses.replace(spec.system, grid=(4, 4)))
    estimate = routing_bytes(chip, routes=0) - 2 * 8 * rt._LEG_BLOCK  # less the running sums' block
    tracemalloc.start()
    try:
        topo = build_chip_topology(chip)
        net = PacketNetwork(topo, buffer_packets=4)
        loads = np.zeros(topo.n_links, np.int64)
        held = tracemalloc.get_traced_memory()[0]
        assert "graph" not in vars(topo) and topo.graph.number_of_edges() == len(loads) == 4 * 64 * 63
        graph = tracemalloc.get_traced_memory()[0] - held
    finally:
        tracemalloc.stop()
    assert held <= estimate < 1.25 * held and net.n_links == topo.n_links
    assert graph > 2 * estimate
