"""Synthetic traffic: patterns, link bounds against the closed forms, measured saturation, the CLI."""
from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from neuroemu.cli.app import main
from neuroemu.errors import ConfigError
from neuroemu.studies.traffic import (PATTERNS, closed_form_saturation, link_bound, node_grid, parse_rates, run_load,
                              sweep, traffic_topology, zero_load_latency)


def _dst(pattern, topology, src, seed=0, hotspot_fraction=0.1):
    return PATTERNS[pattern](np.asarray(src), node_grid(topology), np.random.default_rng(seed), hotspot_fraction)


def test_permutations_on_a_mesh():
    k = 4
    t = traffic_topology("mesh", k)
    i = np.arange(k * k)
    x, y = i % k, i // k
    assert np.array_equal(_dst("transpose", t, i), x * k + y)
    assert np.array_equal(_dst("bit-complement", t, i), k * k - 1 - i)
    assert np.array_equal(_dst("neighbour", t, i), ((y + 1) % k) * k + (x + 1) % k)


def test_permutation_mean_hops_match_closed_forms():
    k = 8
    t = traffic_topology("mesh", k)
    i = np.arange(k * k)
    assert t.hops[i, _dst("transpose", t, i)].mean() == pytest.approx(2 * (k * k - 1) / (3 * k))
    assert t.hops[i, _dst("bit-complement", t, i)].mean() == k
    assert t.hops[i, _dst("neighbour", t, i)].mean() == pytest.approx(4 * (k - 1) / k)


def test_uniform_never_sends_to_itself_and_hotspot_concentrates():
    t = traffic_topology("mesh", 4)
    src = np.repeat(np.arange(16), 2000)
    dst = _dst("uniform", t, src)
    assert (dst != src).all() and np.bincount(dst, minlength=16).min() > 1500
    hot = node_grid(t).centre()
    dst = _dst("hotspot", t, src, hotspot_fraction=0.5)
    share = (dst[src != hot] == hot).mean()
    assert share == pytest.approx(0.5 + 0.5 / 15, abs=0.02)
    assert (dst != src).all()


def test_grid_patterns_on_trees():
    t = traffic_topology("htree", 16)  # Morton layout on 4 x 4
    g = node_grid(t)
    i = np.arange(16)
    assert np.array_equal(g.at[g.y, g.x], i) and (g.width, g.height) == (4, 4)
    assert np.array_equal(_dst("transpose", t, i), g.at[g.x, g.y])
    with pytest.raises(ConfigError, match="square grid"):
        _dst("transpose", traffic_topology("tree", 8, radix=2), i[:8])


@pytest.mark.parametrize("kind, size, radix", [("mesh", 8, 4), ("mesh", 6, 4), ("tree", 64, 4), ("tree", 32, 2),
                                               ("htree", 16, 4)])
def test_link_bound_is_the_closed_form(kind, size, radix):
    t = traffic_topology(kind, size, radix=radix)
    n = t.n_cores
    # the closed forms let a node send to itself; uniform traffic here does not: factor (N-1)/N
    assert link_bound(t, "uniform") == pytest.approx(closed_form_saturation(kind, size, radix) * (n - 1) / n, rel=1e-12)


def test_zero_load_latency_of_uniform_mesh():
    k = 6
    t = traffic_topology("mesh", k)
    # 2k/3 hops of (1000 ps latency + 1000 ps serialisation)
    assert zero_load_latency(t, "uniform") == pytest.approx(2 * k / 3 * 2000)


def test_light_load_is_accepted_at_zero_load_latency():
    t = traffic_topology("mesh", 4)
    p = run_load(t, "uniform", 0.02, cycles=2000, seed=1)
    assert p.accepted == pytest.approx(0.02, rel=0.15)
    assert p.latency_mean_s == pytest.approx(zero_load_latency(t, "uniform") * 1e-12, rel=0.05)
    assert p == run_load(t, "uniform", 0.02, cycles=2000, seed=1)  # same seed, same numbers


@pytest.mark.parametrize("kind, size, radix, rates", [
    ("mesh", 8, 4, "0.35:0.55:5"),
    ("tree", 64, 4, "0.06:0.1:5"),
])
def test_measured_saturation_small(kind, size, radix, rates):
    res = sweep(kind, size, "uniform", parse_rates(rates), radix=radix, cycles=1500)
    assert res.saturation == pytest.approx(closed_form_saturation(kind, size, radix), rel=0.15)
    assert res.points[0].accepted == pytest.approx(res.points[0].offered, rel=0.05)
    assert res.points[0].offered <= res.stable_offered < res.saturation * 1.15


@pytest.mark.slow
@pytest.mark.parametrize("kind, size, radix, rates", [
    ("mesh", 16, 4, "0.15:0.35:9"),
    ("tree", 256, 4, "0.012:0.03:10"),
    ("tree", 64, 2, "0.04:0.08:9"),
])
def test_measured_saturation(kind, size, radix, rates):
    res = sweep(kind, size, "uniform", parse_rates(rates), radix=radix, cycles=3000)
    assert res.saturation == pytest.approx(closed_form_saturation(kind, size, radix), rel=0.15)


def test_parse_rates():
    assert parse_rates("0.1:0.3:3") == pytest.approx([0.1, 0.2, 0.3])
    assert parse_rates("0.25") == [0.25]
    for bad in ("0.1:0.3", "a:b:c", "0:0.3:3", "0.3:0.1:3", "0.1:1.5:3", "0.1:0.2:0", "0.1:0.2:1"):
        with pytest.raises(ConfigError, match="--rates"):
            parse_rates(bad)


def test_cli_json():
    r = CliRunner().invoke(main, ["traffic", "--topology", "mesh", "--size", "4", "--pattern", "transpose",
                                  "--rates", "0.1:0.2:2", "--cycles", "400", "--json", "-"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    assert data["pattern"] == "transpose" and data["n_nodes"] == 16 and len(data["points"]) == 2
    assert set(data["points"][0]) >= {"offered", "accepted", "latency_mean_s", "latency_p99_s"}
    assert "saturation" in data and data["closed_form"] is None


def test_cli_table():
    r = CliRunner().invoke(main, ["traffic", "--topology", "tree", "--size", "16", "--rates", "0.05:0.4:3",
                                  "--cycles", "400"])
    assert r.exit_code == 0, r.output
    assert "saturation throughput" in r.output and "closed form 0.3333" in r.output


@pytest.mark.parametrize("args, message", [
    (["--topology", "ring", "--size", "4", "--rates", "0.1"], "valid: custom, htree, mesh, torus, tree"),
    (["--topology", "htree", "--size", "8", "--rates", "0.1"], "4^j"),
    (["--topology", "mesh", "--size", "4", "--rates", "0.1:2:3"], "--rates"),
    (["--topology", "tree", "--size", "8", "--radix", "2", "--pattern", "transpose", "--rates", "0.1"],
     "square grid"),
])
def test_cli_errors(args, message):
    r = CliRunner().invoke(main, ["traffic", *args])
    assert r.exit_code == 1 and message in r.output and "Traceback" not in r.output
