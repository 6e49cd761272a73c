"""The ``neuroemu matrix`` command: every shipped chip x tick semantics x workload x network fidelity.

A thin layer over :func:`neuroemu.studies.matrix.run_matrix`; each cell runs or is refused in one
line. ``--markdown`` writes the table that docs/timing-and-networks-matrix.md holds.
"""
from __future__ import annotations

import json

import click

from neuroemu.cli.output import write_or_echo
from neuroemu.errors import NeuroEmuError


def _names(text: str | None, valid: tuple[str, ...]) -> tuple[str, ...]:
    return valid if text is None else tuple(k.strip() for k in text.split(",") if k.strip())


@click.command("matrix")
@click.option("--chips", metavar="A,B", help="Comma-separated chips (default: every shipped chip).")
@click.option("--timings", metavar="A,B", help="Tick semantics (default: sync,gals,barrier,async).")
@click.option("--workloads", metavar="A,B", help="Workloads among default, nir, digits (default: all three).")
@click.option("--networks", metavar="A,B", help="Network fidelities (default: analytic,packet).")
@click.option("--json", "json_out", metavar="PATH|-", help="Write the cells as JSON to PATH, or stdout with '-'.")
@click.option("--markdown", "md_out", metavar="PATH|-", help="Write the Markdown page (docs/timing-and-networks-matrix.md) to PATH, or stdout with '-'.")
def matrix(chips, timings, workloads, networks, json_out, md_out):
    """Run each chip under each tick semantics, workload and network fidelity (small sizes): one
    cell each, a short figure where it runs, the one-line reason where it is refused."""
    from neuroemu.studies import matrix as mx
    try:
        cells = mx.run_matrix(None if chips is None else list(_names(chips, ())), _names(timings, mx.TIMINGS),
                              _names(workloads, mx.WORKLOADS), _names(networks, mx.NETWORKS))
    except NeuroEmuError as exc:
        raise click.ClickException(str(exc)) from None
    if json_out is not None:
        write_or_echo(json.dumps({"cells": [c.to_dict() for c in cells]}, indent=2), json_out)
    if md_out is not None:
        write_or_echo(mx.document(cells), md_out)
    if json_out != "-" and md_out != "-":
        click.echo(mx.text(cells))
    crashed = [c for c in cells if c.status == "crashed"]
    if crashed:
        raise click.ClickException(f"{len(crashed)} cells crashed (a bug, not a refusal): "
                                   f"{crashed[0].chip} {crashed[0].timing} {crashed[0].workload}: {crashed[0].figure}")
