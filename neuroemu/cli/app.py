"""The command line: a thin click group over the library (DESIGN style rule 9).

Library errors (NeuroEmuError) become a one-line message and exit code 1, never a traceback.
"""
from __future__ import annotations

import dataclasses

from pathlib import Path

import click

from neuroemu.config.loader import (CHIPS_DIR, chip_from_data, is_file, detect_kind, read_yaml, shipped_chips, workload_chip,
                            workload_from_data)
from neuroemu.errors import NeuroEmuError, RunawayError
from neuroemu.cli.output import write_or_echo
from neuroemu.cli.progress import TerminalProgress
from neuroemu.engine.record import summary_table
from neuroemu.version import __version__


def _fail(exc: NeuroEmuError) -> click.ClickException:
    return click.ClickException(str(exc))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="neuroemu")  # neuroemu.version: the installed metadata
def main() -> None:
    """neuroemu: emulate neuromorphic chips event by event and count the energy of every event."""


@main.command()
@click.argument("chip", required=False)
@click.argument("workload", required=False)
@click.option("--ticks", type=click.IntRange(min=1), help="Run length in ticks (default: the workload's).")
@click.option("--seed", type=click.IntRange(min=0), help="Master seed (default: the workload's).")
@click.option("--json", "json_out", metavar="PATH|-", help="Write the full record as JSON to PATH, or stdout with '-'.")
@click.option("--queue", type=click.Choice(["c", "python"]), help="Event queue backend (default: $NEUROEMU_QUEUE or c).")
@click.option("--spikes/--no-spikes", default=None, help="Keep the spike trains (times and ids) in the record.")
@click.option("--timing", type=click.Choice(["sync", "gals", "barrier", "async"]),
              help="Override the chip's tick semantics.")
@click.option("--max-events", type=click.IntRange(min=1),
              help="Stop a runaway run after this many delivered spikes (the partial record is still written).")
@click.option("--max-window-events", type=click.IntRange(min=1),
              help="Stop an event storm: more than this many spikes delivered in one window (tick).")
@click.option("--network", type=click.Choice(["analytic", "packet"]), default="analytic", show_default=True,
              help="Network fidelity: routes in bulk from tables, or every packet hop by hop with congestion.")
@click.option("--buffer", "buffer_packets", type=click.IntRange(min=1), default=4, show_default=True,
              help="Packet fidelity: input buffer per link, in packets.")
@click.option("--out", "out_dir", metavar="DIR", type=click.Path(file_okay=False),
              help="Write record.json (and spikes.npz with --spikes) to DIR, for `neuroemu plot`.")
@click.option("--dt", type=float, help="NIR graphs: the tick in the graph's time unit (default: the exporter's).")
@click.option("--from", "exporter", type=click.Choice(["auto", "nir", "snntorch", "norse", "sinabs"]),
              help="NIR graphs: the framework that exported it, whose conventions (dt, reset, current input) apply "
                   "(default auto: as the file shows, else plain NIR; docs/nir-exporters.md).")
@click.option("--method", type=click.Choice(["euler", "exact"]),
              help="NIR graphs: how time constants become per-tick decays (default: the exporter's, euler).")
@click.option("--classify", "dataset", metavar="DATASET.npz",
              help="Network files: present a data set (rates [samples, inputs], labels) sample by sample and report "
                   "the accuracy.")
@click.option("--present-ticks", type=click.IntRange(min=1), help="With --classify: ticks each sample is shown (32).")
@click.option("--settle-ticks", type=click.IntRange(min=0),
              help="With --classify: ticks without input before the reset (2; the network's depth).")
@click.option("--samples", type=click.IntRange(min=1), help="With --classify: the first N samples (default all).")
@click.option("--reset", "neuron_reset", type=click.Choice(["zero", "subtract"]),
              help="Network files: reset after a spike (default: NIR zero, edge lists as the file says).")
@click.option("--mapping", type=click.Choice(["pack", "spread", "locality", "given"]),
              help="Network files: how neurons are placed on cores (default locality; given: the file's core array).")
@click.option("--weight-scale", type=click.Choice(["auto", "keep"]),
              help="Network files: scale weights to the chip's range (auto) or store integer weights as given (keep).")
@click.option("--keep-zero-weights", is_flag=True, default=None,
              help="Network files: keep synapses of weight 0 (each costs its synaptic operation).")
@click.option("--axon-copies", type=click.IntRange(1, 16),
              help="Network files on TrueNorth: axons per source for multi-bit weights (default: most that fit).")
@click.option("--input-spikes", metavar="PATH.npz",
              help="Network files: input spike trains (times, ids), replacing the file's own.")
@click.option("--spikes-out", metavar="PATH.npz",
              help="Network files: write the network's spike trains (times, ids in the file's numbering).")
@click.option("--time-after-programming", "time_after_programming", type=click.FloatRange(0.0, 1e10),
              metavar="SECONDS", help="NVM synapses: time since the weights were programmed (PCM drift; default: "
                                      "the workload's time_after_programming_s, else none).")
@click.option("--ranks", type=click.IntRange(min=1), metavar="N",
              help="Split the run over N MPI ranks on this machine (mpiexec of the mpi extra); the record is the "
                   "same for any N (docs/systems.md).")
@click.option("--threads", type=int, default=1, show_default=True,
              help="Threads the TrueNorth tick kernel splits the cores over (1-256; the record is the same).")
@click.pass_context
def run(ctx, chip, workload, ticks, seed, json_out, queue, spikes, timing, max_events, max_window_events, network,
        buffer_packets, out_dir, dt, exporter, method, dataset, present_ticks, settle_ticks, samples, neuron_reset,
        mapping, weight_scale, keep_zero_weights, axon_copies, input_spikes, spikes_out, time_after_programming,
        ranks, threads):
    """Run WORKLOAD on CHIP and print a summary.

    CHIP is a chip file or a shipped chip's name (see `neuroemu chips`); WORKLOAD a workload
    file, or a network file -- a NIR graph (.nir, needs --dt) or an edge list (.npz, .csv) -- that
    is quantised, placed on the chip and run on its own input spike trains. With no arguments the
    embedded default chip and workload run. With one file, a workload runs on the chip it names
    and a chip runs the default workload.

    Under ``mpiexec -n N`` (or with ``--ranks N``) the cores are split over N ranks and rank 0
    alone prints and writes.
    """
    from neuroemu.config.loader import is_network_file, load_chip, load_workload, workload_for_network_file
    from neuroemu.cli.ranks import launch, quiet_rank
    from neuroemu.engine.mpi import launched_size
    from neuroemu.engine.run import simulate
    if ranks is not None:
        ctx.exit(launch(ctx, ranks))
    if launched_size() > 1:
        from neuroemu.engine.ranks import simulate_ranks as simulate
    file_options = dict(dt=dt, exporter=exporter, method=method, neuron_reset=neuron_reset, mapping=mapping,
                        axon_copies=axon_copies, weight_scale=weight_scale, keep_zero_weights=keep_zero_weights or None,
                        input_spikes=None if input_spikes is None else str(Path(input_spikes).resolve()))
    classify = None
    if dataset is not None:
        classify = dict(dataset=dataset, present_ticks=present_ticks, settle_ticks=settle_ticks, samples=samples)
    elif any(v is not None for v in (present_ticks, settle_ticks, samples)):
        raise click.ClickException("--present-ticks, --settle-ticks and --samples go with --classify DATASET.npz")
    try:
        if chip is not None and workload is None and is_network_file(chip):
            raise click.ClickException(f"{chip}: a network file runs on a chip: neuroemu run CHIP {chip}")
        if workload is not None and is_network_file(workload):
            if not is_file(Path(workload)):
                raise click.ClickException(f"{workload}: no such network file")
            if Path(workload).suffix.lower() != ".nir" and any(v is not None for v in (dt, exporter, method)):
                raise click.ClickException(f"{workload}: --dt, --from and --method apply to NIR graphs (.nir)")
            if classify is not None and input_spikes is not None:
                raise click.ClickException("--classify presents a data set: it does not take --input-spikes")
            wl = workload_for_network_file(workload, classify=classify, **file_options)
            chip_spec = load_chip(chip)
            spikes = True if spikes_out else spikes
            if ticks is None and input_spikes is not None:
                ticks, why = _ticks_for_input(wl)
                click.echo(f"note: --ticks not given: running {ticks} ticks ({why})", err=True)
        elif any(v is not None for v in (*file_options.values(), spikes_out, classify)):
            raise click.ClickException("--dt, --from, --method, --reset, --mapping, --weight-scale, --keep-zero-weights, "
                                       "--axon-copies, --input-spikes, --classify and --spikes-out apply to a network "
                                       "file (.nir, .npz, .csv) given as WORKLOAD")
        elif chip is not None and workload is None:
            path = Path(chip)
            if is_file(path) and detect_kind(read_yaml(path)) == "workload":
                wl = load_workload(path)
                chip_spec = workload_chip(wl, str(path))
            else:
                chip_spec, wl = load_chip(chip), load_workload(None)
        elif workload is not None:
            wl = load_workload(workload)
            chip_spec = load_chip(chip)
        else:
            wl = load_workload(None)
            chip_spec = workload_chip(wl, None)
        if time_after_programming is not None:
            wl = dataclasses.replace(wl, time_after_programming_s=time_after_programming)
        progress = TerminalProgress(f"{chip_spec.name} / {wl.name}", delay_s=2.0)
        try:
            result = simulate(chip_spec, wl, ticks=ticks, seed=seed, queue=queue, record_spikes=spikes,
                              timing=timing, max_events=max_events, max_window_events=max_window_events,
                              network=network,
                              buffer_packets=buffer_packets, progress=progress, threads=threads)
        finally:
            progress.close()
    except RunawayError as exc:
        if json_out is not None and exc.partial_record is not None and json_out != "-":
            write_or_echo(exc.partial_record.to_json(), json_out)
            raise click.ClickException(f"{exc} (partial record written to {json_out})") from None
        raise _fail(exc) from None
    except (NeuroEmuError, click.ClickException) as exc:
        if quiet_rank():  # every rank meets the same error: rank 0 alone says it
            ctx.exit(1)
        raise _fail(exc) if isinstance(exc, NeuroEmuError) else exc from None
    if result is None:  # a rank other than 0 of a split run: rank 0 holds the record
        return
    if spikes_out is not None:
        _write_network_spikes(result, chip_spec, wl, spikes_out)
    if out_dir is not None:
        from neuroemu.studies.results import write_run_output
        try:
            write_run_output(result, out_dir)
        except OSError as exc:
            raise click.ClickException(f"{out_dir}: cannot write ({exc.strerror})") from None
    if json_out is not None:
        write_or_echo(result.to_json(), json_out)
        if json_out == "-":
            return
    click.echo(summary_table(result))
    mpi = result.timing_report.get("mpi")
    if mpi is not None:  # a split run: how it was split (the rest of the record is the one-process one)
        every = (f"{mpi['window_ticks']} tick(s)" if "window_ticks" in mpi  # async: spans of the lookahead
                 else f"span of the {mpi['lookahead_s'] or 0:.6g} s lookahead between ranks")
        click.echo(f"{'MPI ranks (exchanges, spikes sent)':<37}{mpi['ranks']} ({mpi['exchanges']:,} exchanges, one per "
                   f"{every}; {sum(mpi['exchanged_spikes_per_rank']):,} spikes between ranks)")


def _ticks_for_input(workload) -> tuple[int, str]:
    """Run length for a network file's input spikes: the last input tick, then one tick per layer
    (neuron group) times the longest delay, for the last spikes to reach the outputs."""
    from neuroemu.networks.edgelist import load_spikes
    from neuroemu.networks.presentation import load_file_network, resolve_path
    times, _ = load_spikes(resolve_path(workload.network.input_spikes, workload))
    net = load_file_network(workload, workload.where)
    depth = len(net.groups) * int(net.delay.max(initial=1))
    last = int(times.max(initial=-1))
    return last + 1 + depth, f"the input's last spike at tick {last}, then {depth} ticks to cross the network"


def _write_network_spikes(result, chip_spec, workload, dest: str) -> None:
    """Spike trains of a network file's run, in the file's neuron numbering (copies merged), with
    the output layer's ids and every group's id range (``outputs``, ``group_names``, ``group_starts``)."""
    from neuroemu.networks.edgelist import save_spikes
    from neuroemu.networks.place import unique_rows
    from neuroemu.networks.workloads import build_network
    mapped = build_network(chip_spec, workload, result.seed, workload.where)  # deterministic: the run's mapping
    trains = result.spike_trains
    ids = mapped.network_id[trains.neurons]
    # TrueNorth copies of one neuron fire together: keep each (tick, neuron) once
    pairs = unique_rows(trains.ticks, ids)
    import numpy as np
    from neuroemu.networks.presentation import load_file_network
    net = load_file_network(workload, workload.where)
    outputs = net.outputs if net.outputs.size else net.groups[-1].ids
    try:
        save_spikes(dest, pairs[0], pairs[1], outputs=outputs, group_names=np.array([g.name for g in net.groups]),
                    group_starts=np.array([g.start for g in net.groups] + [net.n_neurons], np.int64))
    except OSError as exc:
        raise click.ClickException(f"{dest}: cannot write ({exc.strerror})") from None
    out_groups = sorted({g.name for g in net.groups for o in outputs[:1] if g.start <= o < g.stop})
    click.echo(f"wrote {dest}: {len(pairs[0]):,} spikes (times, ids); output layer ids {_ranges(outputs)}"
               f"{' (group ' + repr(out_groups[0]) + ')' if out_groups else ''}; every group's first id in "
               "group_starts", err=True)


def _ranges(ids) -> str:
    """Ids as compact ranges: 0-9, 12."""
    import numpy as np
    ids = np.unique(np.asarray(ids))
    if not ids.size:
        return "none"
    breaks = np.flatnonzero(np.diff(ids) != 1)
    starts, stops = np.r_[ids[0], ids[breaks + 1]], np.r_[ids[breaks], ids[-1]]
    return ", ".join(f"{a}" if a == b else f"{a}-{b}" for a, b in zip(starts.tolist(), stops.tolist()))


@main.command()
def chips():
    """List the shipped chips with a one-line description."""
    found = shipped_chips()
    if not found:
        raise click.ClickException(f"no shipped chips found (expected *.yaml in {CHIPS_DIR}: a wheel built "
                                   "without them, or a checkout without chips/?)")
    width = max(len(n) for n in found)
    for name, path in found.items():
        try:
            spec = chip_from_data(read_yaml(path), str(path))
            line = spec.description
        except NeuroEmuError as exc:
            line = f"INVALID: {exc}"
        click.echo(f"{name:<{width}}  {line}")


def missing_sources(chip) -> list[str]:
    """Key paths of the energy, latency and synapse-device constants a chip file gives without a source."""
    from neuroemu.config.schema import Sourced
    missing = []
    for group in ("energy", "latency", "synapse_device"):
        spec = getattr(chip, group)
        if spec is None:
            continue
        for name, f in spec.__dataclass_fields__.items():
            value = getattr(spec, name)
            if value is f.default:  # not in the file: the schema's default, not a claimed constant
                continue
            items = value.items() if isinstance(value, dict) or hasattr(value, "items") else [(None, value)]
            for key, item in items:
                if isinstance(item, Sourced) and item.source is None:
                    missing.append(f"{group}.{name}" + (f".{key}" if key else ""))
    return missing


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--require-sources", is_flag=True,
              help="Fail when an energy or latency constant has no source (always so for chips/*.yaml).")
@click.option("--dt", type=float, help="NIR graphs: the tick to check them with (in the graph's time unit).")
def validate(files, require_sources, dt):
    """Check chip and workload FILES; print one line per file, exit 1 if any is invalid.

    Edge lists (.npz, .csv) and NIR graphs (with --dt) are read and checked as networks.
    """
    from neuroemu.config.loader import is_network_file
    from neuroemu.networks.workloads import plan_network
    bad = 0
    for f in files:
        try:
            if is_network_file(f):
                if Path(f).suffix.lower() == ".nir":
                    from neuroemu.errors import ConfigError
                    from neuroemu.networks.nir import load_nir
                    try:
                        net = load_nir(f, dt=dt)  # without --dt: the exporter's, if the file shows one
                    except ConfigError as exc:
                        if dt is None and "does not say its time step" in str(exc):
                            raise NeuroEmuError(f"{f}: a NIR graph is read with its tick: give --dt (an snnTorch "
                                                "export is recognised and says its own)") from None
                        raise
                else:
                    from neuroemu.networks.edgelist import load_network
                    net = load_network(f)
                click.echo(f"ok    {f}  (network {net.name}: {net.n_neurons:,} neurons, {net.n_inputs:,} inputs, "
                           f"{net.n_edges:,} synapses)")
                continue
            data = read_yaml(f)
            if detect_kind(data) == "chip":
                spec = chip_from_data(data, f)
                from neuroemu.models.neuron import NEURON_MODELS, check_chip_model
                if spec.core.neuron_model in NEURON_MODELS:
                    check_chip_model(spec, f)
                shipped = Path(f).resolve().parent == CHIPS_DIR.resolve()
                if require_sources or shipped:  # a shipped chip must cite every constant
                    missing = missing_sources(spec)
                    if missing:
                        rule = ("a shipped chip's constant needs a source" if shipped
                                else "--require-sources: every constant needs a source")
                        raise NeuroEmuError(f"{f}: {missing[0]}: {rule} "
                                            f"({len(missing)} without: {', '.join(missing)})")
                click.echo(f"ok    {f}  (chip {spec.name}: {spec.cores} cores)")
            else:
                wl = workload_from_data(data, f)
                chip_spec = workload_chip(wl, f)
                if chip_spec.timing.mode == "async":
                    from neuroemu.engine.asyncsim import check_async
                    check_async(chip_spec, wl, f)
                else:
                    plan_network(chip_spec, wl, f)
                click.echo(f"ok    {f}  (workload {wl.name} on chip {chip_spec.name})")
        except NeuroEmuError as exc:
            bad += 1
            click.echo(f"error {exc}", err=True)
    if bad:
        raise click.ClickException(f"{bad} of {len(files)} files invalid")


@main.command()
@click.option("--json", "json_out", metavar="PATH|-", help="Write the rows as JSON to PATH, or stdout with '-'.")
@click.option("--markdown", "markdown_out", metavar="PATH", help="Write the table as Markdown to PATH.")
@click.option("--ticks", type=click.IntRange(min=10), help="Shorten every run to this many ticks (default: the workloads').")
@click.option("--no-curve", is_flag=True, help="Skip the TrueNorth GSOPS/W-against-rate table.")
def reproduce(json_out, markdown_out, ticks, no_curve):
    """Reproduce each chip's published figures from counted events and print the table."""
    from neuroemu.studies import reproduce as rp
    from neuroemu.engine.run import simulate
    rows = []
    try:
        runs = rp.Runs(ticks, simulate)
        for figure in rp.FIGURES:
            for row in figure(runs):
                rows.append(row)
                if json_out != "-":
                    click.echo(f"{'ok  ' if row.ok else 'FAIL'} {row.chip}: {row.figure}", err=True)
        curve = None if no_curve else rp.truenorth_curve(runs)
    except NeuroEmuError as exc:
        raise _fail(exc) from None
    table = rp.markdown(rows, curve)
    if markdown_out:
        Path(markdown_out).write_text(table + "\n")
    if json_out is not None:
        import json
        write_or_echo(json.dumps({"rows": [r.to_dict() for r in rows], "curve": curve}, indent=2), json_out)
    if json_out != "-":
        click.echo(table)
    if not all(r.ok for r in rows):
        raise click.ClickException("some figures are not reproduced within their tolerance")


@main.command()
@click.argument("chip", required=False)
@click.argument("workload", required=False)
@click.option("--topologies", default=None,
              help="Comma-separated topology kinds (mesh, torus, htree, tree) to run the same workload on "
                   "[default: mesh,htree,tree,torus; with --timings: the chip's own].")
@click.option("--timings", default=None,
              help="Comma-separated tick semantics (sync, gals, barrier, async) to run it under "
                   "[default: the chip's own]; with --topologies, the grid of both.")
@click.option("--network", type=click.Choice(["analytic", "packet"]), default="analytic", show_default=True,
              help="Network fidelity of every run.")
@click.option("--ticks", type=click.IntRange(min=1), help="Run length in ticks (default: the workload's).")
@click.option("--seed", type=click.IntRange(min=0), help="Master seed (default: the workload's).")
@click.option("--dt", type=float, help="A NIR graph given as WORKLOAD: the tick in the graph's time unit.")
@click.option("--json", "json_out", metavar="PATH|-", help="Write the rows as JSON to PATH, or stdout with '-'.")
@click.option("--plot", "plot_out", metavar="PNG", help="Also draw the comparison (needs neuroemu[plots]).")
def compare(chip, workload, topologies, timings, network, ticks, seed, dt, json_out, plot_out):
    """Run the same WORKLOAD, mapping and seed on CHIP under each topology and/or tick semantics, one row each.

    WORKLOAD is a workload file or a network file (an edge list .npz / .csv, or a NIR graph with --dt)."""
    import json

    from neuroemu.studies import compare as cmp
    from neuroemu.config.loader import is_network_file, load_chip, load_workload, workload_for_network_file

    def names(text):
        return None if text is None else [k.strip() for k in text.split(",") if k.strip()]
    try:
        if workload is not None and is_network_file(workload):
            if chip is None:
                raise click.ClickException(f"{workload}: a network file runs on a chip: neuroemu compare CHIP {workload}")
            wl = workload_for_network_file(workload, dt=dt)
        else:
            wl = load_workload(workload)
        chip_spec = workload_chip(wl, workload) if chip is None else load_chip(chip)
        kinds = names(topologies)
        if kinds is None and timings is None:
            kinds = ["mesh", "htree", "tree", "torus"]
        rows = cmp.compare(chip_spec, wl, kinds, timings=names(timings), ticks=ticks, seed=seed, network=network)
        if plot_out:
            from neuroemu.studies.plots import plot_compare
            plot_compare(rows, plot_out)
    except NeuroEmuError as exc:
        raise _fail(exc) from None
    if json_out is not None:
        write_or_echo(json.dumps({"chip": chip_spec.name, "workload": wl.name, "rows": rows}, indent=2), json_out)
        if json_out == "-":
            return
    click.echo(f"{wl.name} on {chip_spec.name} ({chip_spec.cores} cores, {network} network)")
    click.echo(cmp.table(rows))


# --- commands defined in their own modules (one line each; keep this block last) ---------------
from neuroemu.cli.sweep import plot, sweep  # noqa: E402
main.add_command(sweep)
main.add_command(plot)
from neuroemu.cli.traffic import traffic  # noqa: E402
main.add_command(traffic)
from neuroemu.cli.matrix import matrix  # noqa: E402
main.add_command(matrix)


if __name__ == "__main__":  # pragma: no cover
    main()
