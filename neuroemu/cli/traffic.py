"""The ``neuroemu traffic`` command: synthetic traffic sweeps on the packet network.

A thin layer over :func:`neuroemu.studies.traffic.sweep`; library errors become one-line messages.
"""
from __future__ import annotations

import json

import click

from neuroemu.cli.output import write_or_echo
from neuroemu.errors import NeuroEmuError
from neuroemu.studies.traffic import list_patterns, parse_rates, sweep


def _ns(seconds) -> str:
    return "-" if seconds is None else f"{seconds * 1e9:.1f}"


def _table(res) -> str:
    lines = [f"{res.pattern} traffic on {res.topology} (size {res.size}, {res.n_nodes} nodes), "
             f"{res.cycles} cycles of 1 ns ({res.warmup} warm-up), buffers "
             f"{res.buffer_packets if res.buffer_packets else 'unbounded'}; zero-load latency "
             f"{_ns(res.zero_load_latency_s)} ns",
             f"{'offered':>9} {'accepted':>9} {'lat mean ns':>12} {'lat p99 ns':>11} {'max link util':>14}"]
    for p in res.points:
        lines.append(f"{p.offered:9.4f} {p.accepted:9.4f} {_ns(p.latency_mean_s):>12} {_ns(p.latency_p99_s):>11} "
                     f"{p.max_link_utilization:14.3f}")
    sat = "-" if res.saturation is None else f"{res.saturation:.4f}"
    extra = []
    if res.closed_form is not None:
        extra.append(f"closed form {res.closed_form:.4f}")
    if res.link_bound is not None:
        extra.append(f"link bound {res.link_bound:.4f}")
    lines.append(f"saturation throughput: {sat} packets/node/cycle"
                 + (f" ({', '.join(extra)})" if extra else "") + f"; {res.saturation_note}")
    if res.stable_offered is not None:
        lines.append(f"highest offered load below the knee: {res.stable_offered:.4f}")
    return "\n".join(lines)


@click.command("traffic")
@click.option("--topology", "kind", required=True, metavar="KIND",
              help="Router topology: mesh, torus, tree, htree, or custom (with --graph).")
@click.option("--size", type=click.IntRange(min=1), required=True,
              help="k for a k x k mesh or torus; the number of leaves for tree and htree; cores for custom.")
@click.option("--pattern", type=click.Choice(list_patterns()), default="uniform", show_default=True,
              help="Destination pattern (uniform never sends to the source itself).")
@click.option("--rates", required=True, metavar="A:B:N",
              help="N offered loads from A to B, in packets per node per cycle (0 < A <= B <= 1).")
@click.option("--cycles", type=click.IntRange(min=2), default=2000, show_default=True,
              help="Injection cycles (1 ns each) per rate.")
@click.option("--warmup", type=click.IntRange(min=0), help="Cycles before measuring (default: cycles / 4).")
@click.option("--buffer", "buffer_packets", type=click.IntRange(min=0), default=8, show_default=True,
              help="Input buffer per link, in packets (0: unbounded).")
@click.option("--radix", type=click.IntRange(min=2), default=4, show_default=True, help="Tree arity.")
@click.option("--hotspot-fraction", type=click.FloatRange(0, 1), default=0.1, show_default=True,
              help="Share of packets sent to the hotspot node (pattern hotspot).")
@click.option("--graph", "custom_path", type=click.Path(dir_okay=False),
              help="CSV edge list or GraphML file for --topology custom.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Master seed.")
@click.option("--queue", type=click.Choice(["c", "python"]), help="Event queue backend (default: $NEUROEMU_QUEUE or c).")
@click.option("--json", "json_out", metavar="PATH|-", help="Write the sweep as JSON to PATH, or stdout with '-'.")
def traffic(kind, size, pattern, rates, cycles, warmup, buffer_packets, radix, hotspot_fraction, custom_path,
            seed, queue, json_out):
    """Latency against offered load, and the saturation throughput, under synthetic traffic on
    the packet network (Bernoulli injection; a cycle is one packet on a 1 packet/ns link)."""
    try:
        res = sweep(kind, size, pattern, parse_rates(rates), radix=radix, cycles=cycles, warmup=warmup,
                    seed=seed, buffer_packets=buffer_packets or None, hotspot_fraction=hotspot_fraction,
                    queue_backend=queue, custom_path=custom_path)
    except NeuroEmuError as exc:
        raise click.ClickException(str(exc)) from None
    if json_out is None:
        click.echo(_table(res))
        return
    write_or_echo(json.dumps(res.to_dict(), indent=2), json_out)
    if json_out != "-":
        click.echo(_table(res))
