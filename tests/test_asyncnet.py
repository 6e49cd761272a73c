"""Neurogrid's diffuser network for the async engine (neuroemu.engine.asyncnet), function by function.

Each expected value is worked out here from the definitions (the module's docstrings): parameter
rules at their boundaries, neighbourhoods counted cell by cell, the LIF rate's closed form, the
mean-field fixed point checked on both sides, routes walked through the topology, and the start
state rebuilt from its own random streams and formulas -- never by calling the code twice.
"""
from __future__ import annotations

import copy
import dataclasses
import math

import numpy as np
import pytest

from neuroemu.config.loader import chip_from_data, workload_from_data
from neuroemu.engine.asyncnet import (ASYNC_NETWORKS, ASYNC_NEURON_MODELS, PURPOSE_BIAS, PURPOSE_PHASE,
                                      PURPOSE_TARGETS, NeurogridParams, _mean_reach, _pick_targets,
                                      build_diffuser_network, diffuser_rows, lif_rate_hz, mean_field_rate,
                                      neurogrid_params, plan_diffuser)
from neuroemu.engine.options import STREAM_NEURON_RNG
from neuroemu.errors import CapacityError, ConfigError
from neuroemu.models.rng import generator
from conftest import changed
from test_asyncsim import ASYNC_CHIP

#: test_asyncsim's tiny Neurogrid chip with 64 neurons per core
CHIP = changed(copy.deepcopy(ASYNC_CHIP), name="net_tiny", core__neurons=64)


def chip(**changes):
    data = copy.deepcopy(CHIP)
    changed(data, **changes)
    return chip_from_data(data, "net_tiny.yaml")


def workload(network=None, **neuron):
    net = {"kind": "neurogrid_diffuser", "neuron": dict(neuron), **(network or {})}
    return workload_from_data({"name": "net_wl", "ticks": 5, "seed": 3, "network": net}, "net_wl.yaml")


def params(**neuron):
    return neurogrid_params(workload(**neuron))


def refused(**neuron):
    with pytest.raises(ConfigError) as info:
        params(**neuron)
    text = str(info.value)
    assert "\n" not in text and text.startswith("net_wl.yaml: network.neuron")
    return text


# --- the parameters ---------------------------------------------------------------------------------

def test_defaults_and_whole_numbers_are_kept_as_floats():
    p = params()
    assert p == NeurogridParams() and p.tau_ms == 20.0 and p.targets == 1.0
    q = params(tau_ms=7, targets=2, threshold=1.5)
    assert (q.tau_ms, q.targets, q.threshold) == (7.0, 2.0, 1.5) and isinstance(q.tau_ms, float)
    assert ASYNC_NEURON_MODELS == {"neurogrid_lif": NeurogridParams}
    assert set(ASYNC_NETWORKS) == {"neurogrid_diffuser"}


@pytest.mark.parametrize("value", [True, "1.0", float("inf"), float("nan"), None])
def test_a_value_that_is_not_a_finite_number_is_refused(value):
    """The loader refuses these first; a spec built in code (the network's neuron dict replaced) reaches
    this check itself, which names the key and the file."""
    w = workload()
    w = dataclasses.replace(w, network=dataclasses.replace(w.network, neuron={"tau_ms": value}))
    with pytest.raises(ConfigError, match=r"^net_wl: network.neuron.tau_ms: must be a finite number") as info:
        neurogrid_params(w)  # a spec without its file is named by the workload's name
    assert "\n" not in str(info.value)
    with pytest.raises(ConfigError, match=r"^given.yaml: network.neuron.tau_ms: must be a finite number"):
        neurogrid_params(w, "given.yaml")
    assert neurogrid_params(dataclasses.replace(w, network=dataclasses.replace(w.network, neuron={"tau_ms": 3}))
                            ).tau_ms == 3.0


def test_an_unknown_key_lists_the_valid_ones():
    text = refused(tau=3.0)
    assert "network.neuron.tau" in text and "unknown neuron parameter" in text and "tau_ms" in text


@pytest.mark.parametrize("key, good, bad, words", [
    ("tau_ms", [1e-9, 1e6], [0.0, -1.0, 1e6 * (1 + 1e-12)], "must be > 0 and <= 1e6 ms"),
    ("refractory_ms", [0.0, 1e6], [-1e-12, 1e6 * (1 + 1e-12)], "must be >= 0 and <= 1e6 ms"),
    ("reset", [0.999999], [1.0, 1.5], "must be below the threshold (1.0)"),
    ("bias_spread", [0.0, 0.1], [-1e-9], "must be >= 0"),
    ("diffuser_radius", [0.0, 2.5], [-0.5], "must be >= 0"),
    ("targets", [1.0, 3.0], [0.0, -1.0], "must be >= 1"),
    ("targets", [], [1.5], "must be a whole number"),
    ("diffuser_wrap", [0.0, 1.0], [0.5, 2.0, -1.0], "must be 0 (clip at the edge) or 1 (wrap)"),
    ("init_mean_field", [0.0, 1.0], [0.5, 2.0], "must be 0 or 1"),
])
def test_each_rule_at_its_boundary(key, good, bad, words):
    for v in good:
        assert getattr(params(**{key: v}), key) == v
    for v in bad:
        text = refused(**{key: v})
        assert f"network.neuron.{key}:" in text and words in text


def test_rectangle_rules():
    """A rectangle needs both sides >= 1 and whole, and excludes a radius; negative sides are refused."""
    assert params(diffuser_width=1.0, diffuser_height=1.0).diffuser_width == 1.0
    for w, h in ((3.0, 0.0), (0.0, 2.0), (1.0, 0.0), (0.0, 1.0)):
        text = refused(diffuser_width=w, diffuser_height=h)
        assert "network.neuron.diffuser_width" in text and "needs both diffuser_width and diffuser_height >= 1" in text
    for key in ("diffuser_width", "diffuser_height"):
        assert "must be >= 0" in refused(**{key: -2.0})
        assert "must be a whole number" in refused(**{"diffuser_width": 2.0, "diffuser_height": 2.0, key: 2.5})
    text = refused(diffuser_width=3.0, diffuser_height=3.0, diffuser_radius=1.0)
    assert "network.neuron.diffuser_radius" in text and "not both" in text
    # the whole-number rule holds for a radius-shaped network too (0.5 is not whole, radius 0.5 is fine)
    assert params(diffuser_radius=0.5).diffuser_radius == 0.5


# --- the neighbourhood -----------------------------------------------------------------------------

def _rows(**shape):
    dy, lo, hi = diffuser_rows(NeurogridParams(**shape))
    assert dy.dtype == lo.dtype == hi.dtype == np.int32
    return dy.tolist(), lo.tolist(), hi.tolist()


def test_rectangles_reach_one_further_on_the_plus_side_when_even():
    assert _rows(diffuser_width=4.0, diffuser_height=3.0) == ([-1, 0, 1], [-1] * 3, [2] * 3)
    assert _rows(diffuser_width=5.0, diffuser_height=2.0) == ([0, 1], [-2, -2], [2, 2])
    assert _rows(diffuser_width=1.0, diffuser_height=1.0) == ([0], [0], [0])
    assert _rows(diffuser_width=2.0, diffuser_height=6.0) == ([-2, -1, 0, 1, 2, 3], [0] * 6, [1] * 6)


@pytest.mark.parametrize("radius", [0.0, 0.9, 1.0, 1.5, math.sqrt(2), 2.0, math.sqrt(5), 3.7])
def test_a_disc_holds_exactly_the_lattice_points_within_its_radius(radius):
    """Cell by cell: (dx, dy) with dx^2 + dy^2 <= r^2 (sqrt 2 and sqrt 5 put lattice points on the circle)."""
    dy, lo, hi = _rows(diffuser_radius=radius)
    got = {(x, y) for y, a, b in zip(dy, lo, hi) for x in range(a, b + 1)}
    R = int(radius) + 1
    want = {(x, y) for x in range(-R, R + 1) for y in range(-R, R + 1)
            if x * x + y * y <= radius * radius * (1 + 1e-12)}
    assert got == want and dy == sorted(dy)


@pytest.mark.parametrize("shape", [{"diffuser_radius": 1.0}, {"diffuser_radius": 2.3},
                                   {"diffuser_width": 4.0, "diffuser_height": 3.0}, {"diffuser_radius": 0.0}])
@pytest.mark.parametrize("side", [1, 3, 5])
def test_mean_reach_is_the_neighbours_in_bounds_averaged_over_centres(shape, side):
    """Clipped: count, for every centre of a side x side array, the cells inside it, and average; wrapped:
    the whole neighbourhood every time (radius 1 on 3 x 3, clipped: corners 3, edges 4, centre 5 -> 11/3)."""
    dy, lo, hi = diffuser_rows(NeurogridParams(**shape))
    cells = [(x, y) for y, a, b in zip(dy.tolist(), lo.tolist(), hi.tolist()) for x in range(a, b + 1)]
    inside = [sum(0 <= r + y < side and 0 <= c + x < side for x, y in cells) for r in range(side) for c in range(side)]
    assert _mean_reach(dy, lo, hi, side, False) == pytest.approx(sum(inside) / side**2, rel=1e-12, abs=0)
    assert _mean_reach(dy, lo, hi, side, True) == len(cells)
    if shape == {"diffuser_radius": 1.0} and side == 3:
        assert sum(inside) / 9 == 11 / 3


# --- rates ---------------------------------------------------------------------------------------------

def test_lif_rate_is_the_closed_form_and_zero_at_or_below_threshold():
    p = NeurogridParams(tau_ms=10.0, threshold=1.0, reset=0.25, refractory_ms=2.0)
    drive = np.array([0.5, 1.0, 1.5, 3.0, 1.0 + 1e-9])
    got = lif_rate_hz(drive, p)
    want = [0.0, 0.0] + [1e3 / (2.0 + 10.0 * math.log((d - 0.25) / (d - 1.0))) for d in (1.5, 3.0, 1.0 + 1e-9)]
    assert got.tolist() == pytest.approx(want, rel=1e-12, abs=0)
    assert got[2] == pytest.approx(1e3 / (2.0 + 10.0 * math.log(2.5)), rel=1e-12, abs=0)


def test_mean_field_without_inhibition_is_the_free_rate():
    """w >= 0 (w = 0 included): the unshifted mean rate; nothing fires: (0, 0)."""
    bias = 1.0 + np.random.default_rng(3).random(5)  # a set where that bisection ends 2 ulps low
    for w in (0.0, 0.01):
        p = NeurogridParams(tau_ms=10.0, refractory_ms=1.0, weight=w)
        r, shift = mean_field_rate(bias, p, 5.0)
        # exactly the free rate (a bisection of r = f(b + 0 r) would end an ulp or two below it)
        assert shift == 0.0 and r == float(lif_rate_hz(np.sort(bias), p).mean())
    assert mean_field_rate(np.array([0.2, 0.9]), NeurogridParams(weight=-0.1), 5.0) == (0.0, 0.0)


def test_mean_field_rate_is_the_fixed_point_over_every_other_sorted_bias():
    """8192 biases: the sample is every 2nd of them sorted (8192 // 4096); r = mean f(b + w tau K r) holds to
    1e-12 and r is the unique root (the right side minus r changes sign across it); the shift is w tau K r."""
    rng = np.random.default_rng(4)
    bias = 1.0 + rng.random(8192)
    p = NeurogridParams(tau_ms=10.0, refractory_ms=1.0, weight=-0.01)
    K = 7.0
    r, shift = mean_field_rate(bias, p, K)
    sample = np.sort(bias)[::2]
    gain = -0.01 * 10.0 * 1e-3 * K
    assert shift == gain * r
    f = lambda x: float(lif_rate_hz(sample + gain * x, p).mean())
    assert 0 < r < f(0.0)
    assert f(r) == pytest.approx(r, rel=1e-12, abs=0)
    assert f(r * (1 - 1e-9)) > r * (1 - 1e-9) and f(r * (1 + 1e-9)) < r * (1 + 1e-9)
    # the whole set gives a (slightly) different root: the stride matters
    full = lambda x: float(lif_rate_hz(bias + gain * x, p).mean())
    assert abs(full(r) - r) > 1e-9 * r


# --- the plan and the build -------------------------------------------------------------------------

def test_plan_sizes_and_refusals_at_their_boundaries():
    c = chip()
    plan = plan_diffuser(c, workload({"cores": 3, "neurons_per_core": 49}, targets=3.0, diffuser_radius=3.0))
    assert (plan.n_chips, plan.nc, plan.side, plan.k, plan.n, plan.wrap) == (3, 49, 7, 3, 147, True)
    full = plan_diffuser(c, workload(diffuser_wrap=0.0))
    assert (full.n_chips, full.nc, full.side, full.wrap) == (4, 64, 8, False)
    with pytest.raises(CapacityError, match=r"^net_wl.yaml: network.cores: the workload uses 5 cores but chip "
                                            r"'net_tiny' has 4$"):
        plan_diffuser(c, workload({"cores": 5}))
    with pytest.raises(CapacityError, match=r"network.neurons_per_core: 81 neurons per core, more than .* \(64\)"):
        plan_diffuser(c, workload({"neurons_per_core": 81}))
    with pytest.raises(ConfigError, match=r"network.neurons_per_core: the diffuser needs a square .*\(got 48\)"):
        plan_diffuser(c, workload({"neurons_per_core": 48}))
    with pytest.raises(ConfigError, match=r"network.neuron.targets: a spike can reach at most the 2 chips used "
                                          r"\(got 3\)"):
        plan_diffuser(c, workload({"cores": 2}, targets=3.0))
    assert plan_diffuser(c, workload({"cores": 2}, targets=2.0)).k == 2
    # wrapping: a neighbourhood as wide or as tall as the array fits, one more does not (either way)
    assert plan_diffuser(c, workload(diffuser_width=8.0, diffuser_height=8.0)).side == 8
    for w, h in ((9.0, 1.0), (1.0, 9.0)):
        with pytest.raises(ConfigError, match=r"must fit in the 8 x 8 array when it wraps"):
            plan_diffuser(c, workload(diffuser_width=w, diffuser_height=h))
        assert not plan_diffuser(c, workload(diffuser_width=w, diffuser_height=h, diffuser_wrap=0.0)).wrap


def test_the_neuron_limit_is_2_to_the_31_minus_1():
    """32768 chips of 65536 neurons is 2^31 neurons: refused; checked before anything is allocated."""
    big = chip(cores=32768, core__neurons=65536, topology={"kind": "mesh", "width": 256, "height": 128})
    with pytest.raises(CapacityError, match=r"^net_wl.yaml: network: 2147483648 neurons, more than the async "
                                            r"engine's 2\^31 - 1$"):
        plan_diffuser(big, workload())
    assert plan_diffuser(big, workload({"neurons_per_core": 65025})).n == 32768 * 65025


def test_pick_targets_are_the_k_smallest_of_uniform_keys_per_neuron():
    """k distinct chips uniformly at random: the k smallest of n_chips uniform keys per neuron, drawn from the
    stream row after row (in chunks of 2^16 neurons: 65541 neurons cross a chunk's end), sorted; k = 1: one
    integer draw per neuron."""
    n = 65541
    got = _pick_targets(np.random.default_rng(9), n, 5, 2)
    keys = np.random.default_rng(9).random((n, 5))
    np.testing.assert_array_equal(got, np.sort(np.argsort(keys, axis=1)[:, :2], axis=1))
    got = _pick_targets(np.random.default_rng(9), 40, 7, 4)
    keys = np.random.default_rng(9).random((40, 7))
    np.testing.assert_array_equal(got, np.sort(np.argsort(keys, axis=1)[:, :4], axis=1))
    # many chips (numpy's selection is exact for the k-th key here only when asked for it: 1 of 64 rows differs
    # when asked for the (k-1)-th)
    got = _pick_targets(np.random.default_rng(9), 64, 293, 212)
    keys = np.random.default_rng(9).random((64, 293))
    np.testing.assert_array_equal(got, np.sort(np.argsort(keys, axis=1)[:, :212], axis=1))
    np.testing.assert_array_equal(_pick_targets(np.random.default_rng(9), 40, 7, 1),
                                  np.random.default_rng(9).integers(0, 7, size=(40, 1)))


def test_pick_targets_draws_distinct_sorted_chips():
    rng = np.random.default_rng(1)
    one = _pick_targets(rng, 1000, 4, 1)
    assert one.dtype == np.int32 and one.shape == (1000, 1) and set(one.ravel().tolist()) == {0, 1, 2, 3}
    many = _pick_targets(np.random.default_rng(2), 500, 6, 3)
    assert many.dtype == np.int32 and many.shape == (500, 3)
    assert (np.diff(many, axis=1) > 0).all() and many.min() >= 0 and many.max() <= 5
    assert len({tuple(r) for r in many.tolist()}) == 20  # every 3-subset of 6 is drawn
    assert (_pick_targets(np.random.default_rng(2), 7, 3, 3) == [0, 1, 2]).all()


def _build(c=None, seed=5, network=None, **neuron):
    return build_diffuser_network(c or chip(), workload(network, **neuron), seed)


def test_routes_are_the_source_and_target_chips_walked_through_the_tree():
    """Each neuron's route is its (source chip, sorted target chips); per route: the multicast tree's links
    (counted per class), their length in nm, the latest arrival (spike_ns + the route's hops x hop_ns);
    the lookahead is the earliest arrival of any route."""
    net = _build(targets=2.0, diffuser_radius=1.0)
    a, topo = net.arrays, net.topology
    n, nc, k = 256, 64, 2
    assert (a.nc, a.side, a.n_chips, a.k_targets) == (nc, 8, 4, k) and net.n == n
    targets = _pick_targets(generator(5, STREAM_NEURON_RNG, PURPOSE_TARGETS), n, 4, k)
    assert (a.tgt.reshape(n, k) == targets * nc + (np.arange(n) % nc)[:, None]).all()
    keys = sorted({(i // nc, *targets[i].tolist()) for i in range(n)})
    assert len(net.route_links) == len(keys) == len(net.route_wire_nm) == len(net.route_latency_ps)
    route = a.route.tolist()
    assert all(keys[route[i]] == (i // nc, *targets[i].tolist()) for i in range(n))
    hops = {"level1": 40_000, "level2": 40_000}
    names = net.class_names
    lookahead = None
    for j, (src, *dst) in enumerate(keys):
        links = topo.multicast_links(int(topo.core_router[src]), topo.core_router[dst])
        assert net.route_links[j].tolist() == links.tolist()
        counts = [int((topo.link_class[links] == c).sum()) for c in range(len(names))]
        assert net.route_class_hops[j].tolist() == counts
        assert net.route_wire_nm[j] == round(float(topo.link_length_mm[links].sum()) * 1e6)
        arrive = [1_000_000 + int(topo.path_latency_ps[topo.core_router[src], topo.core_router[d]]) for d in dst]
        assert net.route_latency_ps[j] == max(arrive)
        lookahead = min(arrive) if lookahead is None else min(lookahead, *arrive)
        assert all(h in (0, 2 * hops["level1"], 2 * hops["level1"] + 2 * hops["level2"]) for h in
                   (x - 1_000_000 for x in arrive))
    assert net.lookahead_ps == lookahead and a.lat.reshape(4, 4)[0, 0] == 1_000_000
    assert a.route_spikes.tolist() == [0] * len(keys)


def test_a_lookahead_of_0_ps_is_refused():
    """spike_ns 0 on one chip (no hops): the smallest latency is 0, so windows would never end."""
    c = chip(cores=1, latency__spike_ns=0.0, topology={"kind": "mesh", "width": 1, "height": 1})
    with pytest.raises(ConfigError, match=r"^net_tiny.yaml: latency.spike_ns: under async the lookahead .* must be "
                                          r"> 0 ps, or time would never advance \(got 0 ps\)$"):
        _build(c)
    one = _build(chip(cores=1, latency__spike_ns=1e-3, topology={"kind": "mesh", "width": 1, "height": 1}))
    assert one.lookahead_ps == 1 and one.route_latency_ps.tolist() == [1]


def test_neuron_arrays_and_figures_from_the_parameters():
    """Bias uniform in bias +- spread from its own stream; sops per spike = reach x targets; tau and the
    refractory period in ps (the latter rounded to whole ps); the kernel's constants."""
    net = _build(targets=2.0, diffuser_radius=1.0, diffuser_wrap=0.0, bias=1.2, bias_spread=0.3,
                 tau_ms=7.5, refractory_ms=0.0123456, threshold=0.9, reset=-0.2, weight=-0.05, init_mean_field=0.0)
    a = net.arrays
    u = generator(5, STREAM_NEURON_RNG, PURPOSE_BIAS).random(256)
    np.testing.assert_array_equal(a.binf, 1.2 + 0.3 * (2.0 * u - 1.0))
    assert net.sops_per_spike == 2 * (8 * 8 * 5 - 4 * 8) / 64  # clipped plus-shape on 8 x 8, two chips
    assert a.tau_ps == 7.5e9 and a.ref_ps == 12345600 and a.theta == 0.9 and a.v_reset == -0.2
    assert a.spike_weight == -0.05 and a.wrap is False
    flat = _build(bias=1.2, init_mean_field=0.0)
    assert (flat.arrays.binf == 1.2).all() and flat.sops_per_spike == 1.0


def test_a_start_at_reset():
    """init_mean_field 0: every neuron at reset (u = reset - bias: V = bias + u e^{-t/tau}), no refractory
    period, and no mean-field rate."""
    net = _build(bias=1.2, bias_spread=0.3, reset=-0.25, init_mean_field=0.0)
    a = net.arrays
    np.testing.assert_array_equal(a.u, -0.25 - a.binf)
    assert a.r.dtype == np.int64 and not a.r.any()
    assert (net.mean_field_hz, net.mean_field_shift) == (0.0, 0.0)


def test_the_mean_field_start_is_each_neurons_phase_of_its_period():
    """Weight 0 (no shift): a neuron whose bias is at or below threshold rests at its bias; one above it is
    at phase x period of its cycle (refractory first, then the rise from reset), with phase from its own
    stream: V = reset and r = the refractory time left, or V = d - (d - reset) e^{-(elapsed - ref) / tau};
    the kernel holds u = (V - bias) e^{r / tau}."""
    tau, ref, reset, th = 10.0, 2.0, 0.1, 1.0
    net = _build(bias=1.0, bias_spread=0.6, tau_ms=tau, refractory_ms=ref, reset=reset, threshold=th, weight=0.0)
    a, n = net.arrays, 256
    b = a.binf
    phase = generator(5, STREAM_NEURON_RNG, PURPOSE_PHASE).random(n)
    firing = b > th
    assert 60 < firing.sum() < 200
    period = ref + tau * np.log((b[firing] - reset) / (b[firing] - th))
    elapsed = phase[firing] * period
    in_ref = elapsed < ref
    assert 10 < in_ref.sum() < firing.sum() - 10
    v = b.copy()
    v[firing] = np.where(in_ref, reset, b[firing] - (b[firing] - reset) * np.exp(-(elapsed - ref) / tau))
    r = np.zeros(n, np.int64)
    r[firing] = np.where(in_ref, np.rint((ref - elapsed) * 1e9), 0)
    np.testing.assert_array_equal(a.r, r)
    np.testing.assert_allclose(a.u, (v - b) * np.exp(r / (tau * 1e9)), rtol=1e-12, atol=0)
    assert a.u[~firing].tolist() == [0.0] * int((~firing).sum())
    assert net.mean_field_shift == 0.0
    assert net.mean_field_hz == pytest.approx(float(lif_rate_hz(np.sort(b), net.params).mean()), rel=1e-12, abs=0)


def test_the_mean_field_start_under_inhibition_is_shifted():
    """Inhibition: the drive is bias + shift (shift = w tau K r < 0); a neuron above threshold without the
    shift but not with it rests at its shifted drive."""
    net = _build(bias=1.2, bias_spread=0.3, weight=-0.005, diffuser_radius=2.0, targets=2.0)
    a = net.arrays
    K = 13 * 2
    assert net.sops_per_spike == K
    gain = -0.005 * 20.0 * 1e-3 * K
    assert net.mean_field_shift == pytest.approx(gain * net.mean_field_hz, rel=1e-15, abs=0) and net.mean_field_shift < 0
    drive = a.binf + net.mean_field_shift
    rest = (drive <= 1.0) & (a.binf > 1.0)
    assert rest.sum() > 5
    np.testing.assert_allclose(a.u[rest], net.mean_field_shift, rtol=1e-12, atol=0)
    assert not a.r[rest].any()
