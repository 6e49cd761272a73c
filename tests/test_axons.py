"""Axons as placement counts them (neuroemu.networks.axons) and the placement figures built on them
(pack's fill, the mapping report, the chip layout), each against its definition written out in plain
Python with sets and loops over random networks: inputs and neurons as sources, several delays and
axon classes, repeated synapses, self loops, neurons without synapses."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from neuroemu.errors import CapacityError, ConfigError
from neuroemu.networks import axons as ax
from neuroemu.networks.graph import NetworkBuilder
from neuroemu.networks.place import evaluate, fan_in, layout, place


def random_network(seed: int, n_in: int = 7, sizes=(5, 9, 4), edges: int = 90, delays: int = 3,
                   classes: int | None = 3):
    """Groups of IF neurons fed by ``n_in`` inputs; ``edges`` random synapses (sources inputs or
    neurons, any destination, repeats allowed), delays 1..delays, classes 0..classes-1 (None: none)."""
    rng = np.random.default_rng(seed)
    b = NetworkBuilder(f"rand{seed}")
    b.add_inputs("in", n_in)
    for k, size in enumerate(sizes):
        b.add_neurons(f"g{k}", size, model="IF", threshold=1.0)
    b.connect("in", "g0", np.ones((n_in, sizes[0])))
    base = b.build()
    n = base.n_neurons
    src_input = rng.random(edges) < 0.3
    src = np.where(src_input, rng.integers(0, n_in, edges), rng.integers(0, n, edges))
    dst = rng.integers(0, n, edges)
    dst[:3] = n - 1  # the last neuron always has inputs (a run of neurons without synapses ends early)
    return dataclasses.replace(
        base, src=src.astype(np.int64), dst=dst.astype(np.int64), weight=rng.integers(-4, 5, edges).astype(float),
        delay=rng.integers(1, delays + 1, edges).astype(np.int64), src_input=src_input,
        syn_type=np.zeros(edges, np.int64),
        edge_class=None if classes is None else rng.integers(0, classes, edges).astype(np.int64))


def triples(net):
    """Per edge (combined source, delay, class): inputs numbered after the neurons."""
    cls = net.edge_class if net.edge_class is not None else np.zeros(net.n_edges, np.int64)
    return [(int(s) + (net.n_neurons if i else 0), int(d), int(c))
            for s, i, d, c in zip(net.src, net.src_input, net.delay, cls)]


def axons_of(net, neurons) -> set:
    keep = set(int(j) for j in neurons)
    return {t for t, d in zip(triples(net), net.dst.tolist()) if d in keep}


NETS = [random_network(1), random_network(2, classes=None), random_network(3, delays=1, classes=1),
        random_network(4, n_in=1, sizes=(1, 2), edges=12, delays=5, classes=2), random_network(5, edges=400)]


@pytest.mark.parametrize("net", NETS, ids=lambda n: n.name)
def test_the_axon_table_counts_distinct_triples_per_neuron_core_and_part(net):
    table = ax._AxonTable(net)
    n = net.n_neurons
    assert table.fan_in().tolist() == [len(axons_of(net, [j])) for j in range(n)]
    assert fan_in(net).tolist() == table.fan_in().tolist()
    rng = np.random.default_rng(n)
    for n_cores in (1, 3, n):
        core_of = rng.integers(0, n_cores, n)
        want = [len(axons_of(net, np.flatnonzero(core_of == c))) for c in range(n_cores)]
        assert table.per_core(core_of, n_cores).tolist() == want
    for nodes in ([0], [n - 1], list(range(n)), [n - 1, 0, n // 2], []):
        assert table.count(np.array(nodes, np.int64)) == len(axons_of(net, nodes))
    keys, count = ax._axon_keys(net)
    # one key per triple, distinct triples never share one, and every key is below the key count
    pairs = set(zip(triples(net), keys.tolist()))
    assert len(pairs) == len({t for t, _ in pairs}) == len({k for _, k in pairs})
    assert keys.min() >= 0 and keys.max() < count
    # (the radices' exact size is not pinned: larger ones are as one-to-one, see EQUIVALENT in the tool)


def test_dense_keys_keep_the_keys_or_renumber_them_in_order(monkeypatch):
    """Either branch of dense_keys (forced by the bounds; where the bound lies is a memory choice, the
    placement is the same): the keys as they are, or renumbered 0..k-1 in key order."""
    net = NETS[0]
    table = ax._AxonTable(net)
    monkeypatch.setattr(ax, "DENSE_KEYS_MIN", 1 << 40)
    monkeypatch.setattr(ax, "DENSE_KEYS_PER_EDGE", 1 << 40)
    keys, k = table.dense_keys()
    assert keys.tolist() == table.key.tolist() and k == table.radix
    monkeypatch.setattr(ax, "DENSE_KEYS_MIN", 1)
    monkeypatch.setattr(ax, "DENSE_KEYS_PER_EDGE", 0)
    dense, k = table.dense_keys()
    distinct = sorted(set(table.key.tolist()))
    assert k == len(distinct) < table.radix
    assert dense.tolist() == [distinct.index(x) for x in table.key.tolist()]


def pack_by_hand(net, npc, apc, n_cores):
    """Greedy in id order: a neuron joins the open core if the core keeps <= npc neurons and the axons
    of all its neurons together stay <= apc, else it opens the next core."""
    core_of, core, members = [], 0, []
    for j in range(net.n_neurons):
        if members and (len(members) + 1 > npc or len(axons_of(net, members + [j])) > apc):
            core, members = core + 1, []
        if core >= n_cores:
            return None, j
        members.append(j)
        core_of.append(core)
    return core_of, -1


@pytest.mark.parametrize("net", NETS, ids=lambda n: n.name)
@pytest.mark.parametrize("numpy_fill", [False, True])
def test_pack_is_the_greedy_fill_by_hand(net, numpy_fill, monkeypatch):
    from neuroemu.networks import place as place_mod
    if numpy_fill:
        monkeypatch.setattr(place_mod, "pack_greedy_c", lambda *a: (None, -1))
    most = int(fan_in(net).max())
    for npc, apc in ((4, most), (3, most + 2), (net.n_neurons, most), (1, most), (5, 10 ** 6)):
        want, _ = pack_by_hand(net, npc, apc, net.n_neurons)
        m = place(net, strategy="pack", n_cores=net.n_neurons, neurons_per_core=npc, axons_per_core=apc)
        assert m.core_of_neuron.tolist() == want, (npc, apc)
        cores = max(want) + 1
        short, j = pack_by_hand(net, npc, apc, cores - 1)
        if cores > 1 and cores - 1 >= -(-net.n_neurons // npc):
            assert short is None
            with pytest.raises(CapacityError, match=f"all {cores - 1} cores are full at neuron {j} of "
                                                    f"{net.n_neurons}"):
                place(net, strategy="pack", n_cores=cores - 1, neurons_per_core=npc, axons_per_core=apc)


def report_by_hand(net, core_of, hops, act):
    s = [int(x) for x, i in zip(net.src, net.src_input) if not i]
    d = [int(x) for x, i in zip(net.dst, net.src_input) if not i]
    total = sum(act[x] for x in s)
    mean_hops = sum(act[x] * hops[core_of[x]][core_of[y]] for x, y in zip(s, d)) / total if total else 0.0
    pairs = sorted({(x, core_of[y]) for x, y in zip(s, d)})
    packets = sum(act[x] for x, _ in pairs)
    packet_hops = sum(act[x] * hops[core_of[x]][c] for x, c in pairs)
    per_core = [core_of.count(c) for c in range(max(core_of) + 1)]
    return dict(cores_used=sum(1 for k in per_core if k), max_neurons_per_core=max(per_core),
                max_axons_per_core=max(len(axons_of(net, [j for j in range(len(core_of)) if core_of[j] == c]))
                                       for c in range(max(core_of) + 1)),
                synapses=net.n_edges, mean_hops=mean_hops, packets=packets, packet_hops=packet_hops,
                mean_packet_hops=packet_hops / packets if packets else 0.0)


@pytest.mark.parametrize("net", NETS, ids=lambda n: n.name)
def test_the_mapping_report_is_the_hand_sum(net, monkeypatch):
    """Every figure of evaluate's report from sets and loops; activities of whole numbers (and 0) so the
    sums are exact; the same on both of cost's pair-counting paths."""
    from neuroemu.networks import place as place_mod
    rng = np.random.default_rng(net.n_edges)
    n, n_cores = net.n_neurons, 5
    xy = rng.integers(0, 4, (n_cores, 2))
    hops = np.abs(xy[:, None, :] - xy[None, :, :]).sum(axis=2)
    act = rng.integers(0, 4, n).astype(float)
    core_of = rng.integers(0, n_cores, n)
    core_of[0] = n_cores - 1
    want = report_by_hand(net, core_of.tolist(), hops.tolist(), act.tolist())
    for dense in (True, False):
        if not dense:
            monkeypatch.setattr(place_mod.axon_table, "DENSE_KEYS_MIN", 0)
            monkeypatch.setattr(place_mod.axon_table, "DENSE_KEYS_PER_EDGE", 0)
        r = evaluate(net, core_of, hops, strategy="x", activity=act)
        got = {k: getattr(r, k) for k in want}
        assert got == pytest.approx(want, rel=1e-12, abs=0) and got["synapses"] == want["synapses"]
        assert (r.cores_used, r.max_neurons_per_core, r.max_axons_per_core) == \
            (want["cores_used"], want["max_neurons_per_core"], want["max_axons_per_core"])


@pytest.mark.parametrize("net", NETS, ids=lambda n: n.name)
def test_the_layout_by_hand(net):
    """Per core, one axon per distinct (source, delay, class) of its neurons' synapses, numbered in
    that sorted order from the core's first axon; each axon's row lists its local columns in order
    with the weights of repeated synapses summed; each source's fan-out lists its axons in (core,
    delay, class) order; slots are the neurons' id order within their core."""
    n_cores, npc, apc = 4, -(-net.n_neurons // 3), 160
    m = place(net, strategy="spread", n_cores=n_cores, neurons_per_core=npc)
    core_of = m.core_of_neuron.tolist()
    for c in range(n_cores):
        assert [m.slot_of_neuron[j] for j in range(net.n_neurons) if core_of[j] == c] == \
            list(range(core_of.count(c)))
    lay = layout(net, m, n_cores=n_cores, axons_per_core=apc)
    n = net.n_neurons
    source = np.full(n_cores * apc, -1)
    is_input = np.zeros(n_cores * apc, bool)
    delay = np.zeros(n_cores * apc, int)
    cls = np.zeros(n_cores * apc, int)
    rows: dict[int, dict[int, float]] = {}
    gaxon = {}
    for c in range(n_cores):
        for i, t in enumerate(sorted(axons_of(net, [j for j in range(n) if core_of[j] == c]))):
            a = c * apc + i
            gaxon[(c,) + t] = a
            source[a], is_input[a], delay[a], cls[a] = (t[0] - n if t[0] >= n else t[0]), t[0] >= n, t[1], t[2]
    for t, dst, w in zip(triples(net), net.dst.tolist(), net.weight.tolist()):
        a = gaxon[(core_of[dst],) + t]
        col = int(m.slot_of_neuron[dst])
        rows.setdefault(a, {})
        rows[a][col] = rows[a].get(col, 0.0) + w
    assert lay.axon_source.tolist() == source.tolist() and lay.axon_input.tolist() == is_input.tolist()
    assert lay.axon_delay.tolist() == delay.tolist() and lay.axon_class.tolist() == cls.tolist()
    assert lay.row_ptr.tolist() == np.concatenate(([0], np.cumsum([len(rows.get(a, {}))
                                                                   for a in range(n_cores * apc)]))).tolist()
    assert lay.row_neurons.tolist() == [col for a in range(n_cores * apc) for col in sorted(rows.get(a, {}))]
    assert lay.row_weight.tolist() == [rows[a][col] for a in range(n_cores * apc) for col in sorted(rows.get(a, {}))]
    fan = {s: sorted((k[0], k[2], k[3]) for k in gaxon if k[1] == s) for s in range(n + net.n_inputs)}
    want = {s: [gaxon[(c, s, d, k)] for c, d, k in fan[s]] for s in fan}
    assert [lay.target_axons[lay.target_ptr[j]:lay.target_ptr[j + 1]].tolist() for j in range(n)] == \
        [want[j] for j in range(n)]
    assert [lay.input_axons[lay.input_ptr[i]:lay.input_ptr[i + 1]].tolist() for i in range(net.n_inputs)] == \
        [want[n + i] for i in range(net.n_inputs)]
    need = max(len(axons_of(net, [j for j in range(n) if core_of[j] == c])) for c in range(n_cores))
    layout(net, m, n_cores=n_cores, axons_per_core=need)  # exactly enough axons
    with pytest.raises(CapacityError, match=f"needs {need} axons, more than {need - 1}"):
        layout(net, m, n_cores=n_cores, axons_per_core=need - 1)


def test_unique_rows_by_hand_with_negative_and_wide_columns():
    """Sorted distinct rows and the inverse, from Python's own sort: small columns (packed), a column
    with negative values and columns whose radices multiply past 2^62 (numpy's row unique)."""
    rng = np.random.default_rng(9)
    for cols in ([rng.integers(0, 3, 50), rng.integers(0, 5, 50)],
                 [rng.integers(-3, 3, 50), rng.integers(0, 2, 50)],
                 [rng.integers(0, 2, 50) << 40, rng.integers(0, 3, 50) << 30],
                 [np.array([7]), np.array([0])],
                 [rng.integers(0, 5, 20)],  # one column
                 # packed keys between 2^53 and 2^62: exact only in integers (a float step would round)
                 [rng.integers(0, 1 << 22, 50), rng.integers(0, 1 << 32, 50), rng.integers(0, 8, 50)]):
        rows = list(zip(*(c.tolist() for c in cols)))
        want = sorted(set(rows))
        got, inv = ax.unique_rows(*cols, return_inverse=True)
        assert [tuple(r) for r in got.T.tolist()] == want
        assert inv.tolist() == [want.index(r) for r in rows]
        assert ax.unique_rows(*cols).tolist() == got.tolist()


def test_limits_of_one_are_accepted():
    """A chain 0 -> 1 -> 2 -> 3: every neuron needs at most one axon, so 4 cores of 1 neuron and 1 axon
    hold it (each limit's smallest accepted value); 0 axons is refused."""
    b = NetworkBuilder("chain")
    b.add_neurons("n", 4, model="IF", threshold=1.0)
    b.connect("n", "n", np.eye(4, k=1))
    net = b.build()
    for strategy in ("pack", "spread"):
        m = place(net, strategy=strategy, n_cores=4, neurons_per_core=1, axons_per_core=1)
        assert m.core_of_neuron.tolist() == [0, 1, 2, 3] and m.report.max_axons_per_core == 1
    assert place(net, strategy="pack", n_cores=1, neurons_per_core=4, axons_per_core=3).report.cores_used == 1
    with pytest.raises(ConfigError, match=r"^pack: axons_per_core: must be an integer >= 1 or None \(got 0\)$"):
        place(net, strategy="pack", n_cores=4, neurons_per_core=1, axons_per_core=0)


class _TwoChips:
    """A system's per-pair costs on a line of 4 cores, chip 0 = core 0, chip 1 = cores 1-3: plain hops
    |a - b|; the placement cost adds 10 for leaving a chip (as SystemTopology.core_cost does)."""

    n_cores = 4

    def core_cost(self, a, b, placement):
        a, b = np.asarray(a), np.asarray(b)
        return np.abs(a - b) + 10 * placement * ((a == 0) != (b == 0))

    def core_cost_sums(self, placement):
        c = np.arange(4)
        return self.core_cost(c[:, None], c[None, :], placement).sum(axis=1)


def test_locality_on_a_system_lays_parts_out_by_the_placement_cost_and_reports_plain_hops():
    """Pairs 0 <-> 1 and 2 <-> 3 joined by 1 -> 2, two neurons per core. By the placement cost the
    centre is core 1 and its nearest core is 2 (core 0 is 11 away), so the two parts sit on cores 2 and
    1, one chip; by plain hops core 0 would tie core 2 and win on id. The report counts plain hops: the
    one synapse between the parts crosses 1 hop, of 5 synapses."""
    b = NetworkBuilder("pairs")
    b.add_neurons("n", 4, model="IF", threshold=1.0)
    w = np.zeros((4, 4))
    w[0, 1] = w[1, 0] = w[2, 3] = w[3, 2] = w[1, 2] = 1.0
    b.connect("n", "n", w)
    net = b.build()
    m = place(net, strategy="locality", n_cores=4, neurons_per_core=2, topology=_TwoChips())
    assert m.core_of_neuron.tolist() == [2, 2, 1, 1]
    r = m.report
    assert (r.cores_used, r.mean_hops, r.packets, r.packet_hops) == (2, 1 / 5, 5.0, 1.0)


# --- locality, written out: the split tree, its layout and the choice among the three candidates -----

def _locality_by_hand(net, n_cores, npc, apc, hops, act):
    from neuroemu.networks.partition import bisect, synapse_part
    n = net.n_neurons
    neu = ~net.src_input
    src, dst = net.src[neu], net.dst[neu]

    def split(nodes):
        k = -(-len(nodes) // npc)
        if k == 1 and (apc is None or len(axons_of(net, nodes)) <= apc) or len(nodes) == 1:
            return nodes
        n_a = len(nodes) // 2 if k == 1 else min((k // 2) * npc, round(len(nodes) * (k // 2) / k))
        inside = np.isin(src, nodes) & np.isin(dst, nodes)
        local = {v: i for i, v in enumerate(nodes)}
        sub = synapse_part(np.array([local[v] for v in src[inside]], np.int64),
                           np.array([local[v] for v in dst[inside]], np.int64), act[nodes], len(nodes))
        side = bisect(sub, n_a)
        return split([v for v, s in zip(nodes, side) if s]), split([v for v, s in zip(nodes, side) if not s])

    def leaves(tree):
        return 1 if isinstance(tree, list) else leaves(tree[0]) + leaves(tree[1])

    def assign(tree, cores, core_of):
        if isinstance(tree, list):
            for v in tree:
                core_of[v] = cores[0]
            return
        a = max(range(len(cores)), key=lambda i: (hops[cores[0]][cores[i]], -i))
        b = max(range(len(cores)), key=lambda i: (hops[cores[a]][cores[i]], -i))
        order = sorted(range(len(cores)), key=lambda i: (hops[cores[a]][cores[i]] - hops[cores[b]][cores[i]], cores[i]))
        k = leaves(tree[0])
        assign(tree[0], [cores[i] for i in order[:k]], core_of)
        assign(tree[1], [cores[i] for i in order[k:]], core_of)

    def sequence(parts):
        if len(parts) == 1:
            return parts[0]
        return sequence(parts[:len(parts) // 2]), sequence(parts[len(parts) // 2:])

    centre = min(range(n_cores), key=lambda c: (sum(hops[c][:n_cores]), c))
    near = sorted(range(n_cores), key=lambda c: (hops[centre][c], c))
    packed, _ = pack_by_hand(net, npc, apc if apc is not None else 10 ** 9, n_cores)
    runs = [[v for v in range(n) if packed[v] == c] for c in range(max(packed) + 1)]
    placements = [packed]
    for tree in (sequence(runs), split(list(range(n)))):
        if leaves(tree) <= n_cores:
            core_of = [0] * n
            assign(tree, near[:leaves(tree)], core_of)
            placements.append(core_of)
    best = None
    for core_of in placements:
        r = report_by_hand(net, core_of, hops, act.tolist())
        if best is None or (r["packet_hops"], r["mean_hops"]) < best[0]:
            best = ((r["packet_hops"], r["mean_hops"]), core_of)
    return best[1]


@pytest.mark.parametrize("net", NETS[:4] + [random_network(6, sizes=(11, 13, 8), edges=150, classes=None)],
                         ids=lambda n: n.name)
@pytest.mark.parametrize("cores, npc, slack", [((4, 4), 3, 8), ((4, 2), 4, 12), ((5, 1), 5, None), ((3, 3), 9, 16),
                                               ((4, 4), 2, None), ((3, 3), 3, 0)])
def test_locality_is_the_documented_search_written_out(net, cores, npc, slack):
    """Grid cores (hops by Manhattan distance), activities of whole spikes: locality's placement is the
    plain-Python split tree laid onto the cores nearest the centre, the better of the three candidates."""
    w, h = cores
    xy = [(c % w, c // w) for c in range(w * h)]
    hops = np.array([[abs(a[0] - b[0]) + abs(a[1] - b[1]) for b in xy] for a in xy])
    if net.n_neurons > w * h * npc:
        pytest.skip("does not fit")
    act = np.random.default_rng(net.n_edges).integers(0, 3, net.n_neurons).astype(float)
    apc = None if slack is None else int(fan_in(net).max()) + slack
    try:
        want = _locality_by_hand(net, w * h, npc, apc, hops.tolist(), act)
    except TypeError:  # pack ran out of cores
        with pytest.raises(CapacityError):
            place(net, strategy="locality", n_cores=w * h, neurons_per_core=npc, axons_per_core=apc, hops=hops,
                  activity=act)
        return
    m = place(net, strategy="locality", n_cores=w * h, neurons_per_core=npc, axons_per_core=apc, hops=hops,
              activity=act)
    assert m.core_of_neuron.tolist() == want
