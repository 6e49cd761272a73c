"""The ``sweep`` and ``plot`` commands (registered on the click group in :mod:`neuroemu.cli.app`)."""
from __future__ import annotations

import os
import time

import click

from neuroemu.errors import NeuroEmuError
from neuroemu.cli.progress import TerminalProgress


@click.command()
@click.argument("spec", type=click.Path(dir_okay=False))
@click.option("--out", "-o", "out", required=True, type=click.Path(file_okay=False),
              help="Results directory: results.csv (one row per finished run, appended at once), results.parquet "
                   "(with pyarrow) and spec.yaml. Running the same sweep into it again resumes.")
@click.option("--workers", "-j", type=click.IntRange(min=1), default=None,
              help="Local worker processes (default: the number of CPUs; 1 runs in this process).")
@click.option("--scheduler", metavar="ADDRESS",
              help="Run the points on a Dask distributed cluster at ADDRESS (e.g. tcp://host:8786); "
                   "needs neuroemu[distributed], and neuroemu on every worker.")
def sweep(spec, out, workers, scheduler):
    """Run the sweep described by SPEC (a YAML file) and write its results to --out.

    Every axis is checked against the chip and workload before any point runs. Killing the
    sweep loses no finished point: running the same command again runs only the missing ones.
    """
    from neuroemu.studies.sweep import plan, run_plan
    try:
        checked = plan(spec)
        n = len(checked.tasks)
        workers = workers or os.cpu_count() or 1
        where = f"Dask scheduler {scheduler}" if scheduler else (
            "this process" if workers == 1 else f"{min(workers, n)} local processes")
        click.echo(f"{checked.spec.name}: {len(checked.points)} points x {checked.spec.repetitions} repetitions "
                   f"= {n} runs on {where}", err=True)
        progress = TerminalProgress(checked.spec.name, show_pos=True)
        start = time.monotonic()
        try:
            table = run_plan(checked, out, workers=workers, scheduler=scheduler, progress=progress)
        finally:
            progress.close()
    except NeuroEmuError as exc:
        raise click.ClickException(str(exc)) from None
    rows = len(table)
    click.echo(f"{rows} runs in {out}/results.csv ({time.monotonic() - start:.1f} s)")


@click.command()
@click.argument("result", type=click.Path(exists=True))
@click.option("--kind", "-k", required=True, type=click.Choice(["raster", "energy", "links", "hops", "sweep"]),
              help="raster: spikes by core and tick; energy: breakdown by term; links: per-link utilisation on the "
                   "router layout; hops: hops per spike; sweep: a results column against a swept key.")
@click.option("--out", "-o", "out", required=True, type=click.Path(dir_okay=False), help="The PNG file to write.")
@click.option("--y", "y", default="gsops_per_w", show_default=True, help="sweep: the results column on the y axis.")
@click.option("--x", "x", help="sweep: the column on the x axis (default: the first swept key).")
@click.option("--group", help="sweep: one line per value of this column (default: the second swept key).")
@click.option("--where", "where", multiple=True, metavar="COLUMN=VALUE",
              help="sweep: keep only rows where COLUMN equals VALUE (repeatable).")
@click.option("--logx", is_flag=True, help="sweep: logarithmic x axis.")
@click.option("--logy", is_flag=True, help="sweep: logarithmic y axis.")
def plot(result, kind, out, y, x, group, where, logx, logy):
    """Draw a plot of RESULT into a PNG file.

    RESULT is a run output directory (`neuroemu run --out DIR`: record.json, spikes.npz) or a
    record JSON file for raster, energy, links and hops; a sweep directory (or its results.csv /
    results.parquet) for sweep.
    """
    from neuroemu.studies import plots
    options = {}
    if kind == "sweep":
        filters = {}
        for item in where:
            if "=" not in item:
                raise click.BadParameter(f"expected COLUMN=VALUE (got {item!r})", param_hint="--where")
            k, v = item.split("=", 1)
            from neuroemu.studies.results import parse_cell
            filters[k] = parse_cell(v)
        options = {"y": y, "x": x, "group": group, "where": filters or None, "logx": logx, "logy": logy}
    elif x or group or where or logx or logy:
        raise click.BadParameter("--x, --group, --where, --logx and --logy apply to --kind sweep only",
                                 param_hint="--kind")
    try:
        plots.plot(result, kind, out, **options)
    except NeuroEmuError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"wrote {out}")
