"""Plan and run a sweep: check every point of a :mod:`neuroemu.studies.sweepspec` spec, then run them,
locally or on a Dask cluster.

:func:`plan` resolves the base chip and workload, expands the axes, derives every run's seed and
builds each point's chip and workload spec (and, once per distinct router graph, the graph), so
an axis whose key path does not exist or whose value has the wrong type fails before any point
runs, and the error names the axis.

Execution is embarrassingly parallel and goes through one interface, a
``concurrent.futures`` executor: a local :class:`~concurrent.futures.ProcessPoolExecutor`
(``workers`` > 1), Dask distributed's ``Client.get_executor()`` when a scheduler address is
given (``pip install neuroemu[distributed]``; every worker needs neuroemu installed), or a
plain loop in this process (``workers=1``). Workers get plain data (the point's chip and
workload as dicts, its seed) and return one flat row; only this process writes the results, one
row as soon as its point finishes (see :mod:`neuroemu.studies.results`), so a crash of a worker or of
the whole sweep loses no finished point, and running the same sweep again runs only what is
missing. Seeds come from the plan, never from the order of completion, so the results are the
same whatever the number of workers.
"""
from __future__ import annotations

import concurrent.futures as cf
import copy
import json
import pickle
import re
import tempfile
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from neuroemu.config.fields import Where, build
from neuroemu.config.loader import chip_from_data, workload_from_data
from neuroemu.errors import ConfigError, NeuroEmuError
from neuroemu.studies.results import (CSV_NAME, KEY_COLUMNS, PARQUET_NAME, ResultsStore, as_table, check_spec, column_order,
                      flatten_record, write_parquet, write_run_output)
from neuroemu.studies.sweepspec import (AxisSpec, Point, RunSpec, SweepSpec, expand, key_parts, load_sweep_spec, point_seed,
                        resolve_base, resolved_spec, set_path)

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Task:
    """One run of a sweep: a point, a repetition and its seed, with the point's chip and workload as plain data."""

    point: int
    point_id: str
    repetition: int
    seed: int
    cells: dict[str, Any]
    chip: dict
    workload: dict
    ticks: int | None
    timing: str | None
    record_spikes: bool


@dataclass(frozen=True)
class SweepPlan:
    """A checked sweep: the spec, its resolved form (for DIR/spec.yaml), points and tasks."""

    spec: SweepSpec
    resolved: dict
    points: tuple[Point, ...]
    tasks: tuple[Task, ...]

    @property
    def axis_keys(self) -> list[str]:
        """The swept key paths, in spec order (the results' parameter columns)."""
        return [a.key for a in self.spec.axes]


# --- the plan: every point built and checked before anything runs ---------------------------------

def plan(spec: SweepSpec | dict | str | Path) -> SweepPlan:
    """Load, resolve, expand and check a sweep: an invalid axis fails here, naming the axis."""
    spec = load_sweep_spec(spec)
    chip, workload = resolve_base(spec)
    resolved = resolved_spec(spec, chip, workload)
    base_chip, base_workload = resolved["base"]["chip"], resolved["base"]["workload"]
    points = expand(spec)
    tasks = []
    topologies: set[str] = set()
    for p in points:
        chip_data, workload_data = copy.deepcopy(base_chip), copy.deepcopy(base_workload)
        run = {"ticks": spec.run.ticks, "timing": spec.run.timing}
        for j, (key, value) in enumerate(p.params.items()):
            root = key_parts(key)[0]
            try:
                if root == "run":
                    run[key[4:]] = value
                else:
                    set_path(chip_data if root == "chip" else workload_data, key, value)
            except ConfigError as exc:
                raise ConfigError(f"{spec.where}: axes[{j}].key: {exc} (got {key!r})") from None
        _check_point(spec, p, chip_data, workload_data, run, topologies)
        for rep in range(spec.repetitions):
            tasks.append(Task(p.index, p.point_id, rep, point_seed(spec.seed, p.point_id, rep, spec.common_seeds),
                              p.cells, chip_data, workload_data, run["ticks"], run["timing"],
                              spec.run.record_spikes))
    return SweepPlan(spec, resolved, tuple(points), tuple(tasks))


def _check_point(spec: SweepSpec, p: Point, chip_data: dict, workload_data: dict, run: dict,
                 topologies: set[str]) -> None:
    """Build the point's specs (and, once per distinct router graph, the graph)."""
    from neuroemu.hardware.chip import build_chip_topology
    from neuroemu.networks.workloads import plan_network
    try:
        build(RunSpec, {k: v for k, v in run.items() if v is not None}, Where("run"))
        chip = chip_from_data(chip_data, "chip")
        workload = workload_from_data(workload_data, "workload")
        plan_network(chip, workload, "workload")
        topo_key = json.dumps([chip_data["cores"], chip_data.get("topology")], sort_keys=True, default=str)
        if topo_key not in topologies:
            build_chip_topology(chip)
            topologies.add(topo_key)
    except NeuroEmuError as exc:
        raise ConfigError(_point_error(spec, p, str(exc))) from None


def _point_error(spec: SweepSpec, p: Point, message: str) -> str:
    """Reword an error from building a point's specs so that it names the axis responsible."""
    m = re.match(r"(chip|workload|run): ([A-Za-z_][\w.\[\]]*): ", message)
    if m:
        path = f"{m[1]}.{m[2]}"
    elif re.match(r"topology\.\w+: ", message):  # the router graph builder's errors
        path = "chip." + message.split(":", 1)[0]
    else:
        path = None
    culprit = _culprit(spec, path)
    shown = ", ".join(f"{k}={_short(v)}" for k, v in p.cells.items()) or "no axes"
    if culprit is not None:
        j, axis = culprit
        return (f"{spec.where}: axes[{j}] ({axis.key}): value {_short(p.params[axis.key])} at point {p.index} "
                f"({shown}) is invalid: {message}")
    return f"{spec.where}: point {p.index} ({shown}) is invalid: {message}"


def _culprit(spec: SweepSpec, path: str | None) -> tuple[int, AxisSpec] | None:
    """The axis whose key path is the error's path, contains it or is contained in it, else the
    one sharing the longest prefix of two or more parts with it."""
    if path is None:
        return None
    path_parts = [str(p) for p in key_parts(path)]
    if len(path_parts) < 2:
        return None
    best, best_len = None, 1
    for j, axis in enumerate(spec.axes):
        ap = [str(p) for p in key_parts(axis.key)]
        n = min(len(ap), len(path_parts))
        if ap[:n] == path_parts[:n]:
            return j, axis
        common = next((i for i in range(n) if ap[i] != path_parts[i]), n)
        if common > best_len:
            best, best_len = (j, axis), common
    return best


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."

#: where run outputs of ``run.record_spikes`` sweeps go, one directory per run
RUNS_DIR = "runs"


def run_point(task: Task, runs_dir: str | None = None) -> dict[str, Any]:
    """Run one task (in a worker) and return its results row: keys, parameters, record columns."""
    from neuroemu.engine.run import simulate
    chip = chip_from_data(task.chip, f"point {task.point} chip")
    workload = workload_from_data(task.workload, f"point {task.point} workload")
    result = simulate(chip, workload, ticks=task.ticks, seed=task.seed, timing=task.timing,
                      record_spikes=task.record_spikes)
    if runs_dir is not None:
        write_run_output(result, Path(runs_dir) / run_name(task))
    row = {"point": task.point, "point_id": task.point_id, "repetition": task.repetition, "seed": task.seed}
    row.update(task.cells)
    row.update(flatten_record(result.to_dict(include_spikes=False)))
    return row


def run_name(task: Task) -> str:
    """The directory name of one run's output: ``<point_id>-r<repetition>``."""
    return f"{task.point_id}-r{task.repetition}"


def sweep(spec: SweepSpec | dict | str | Path, out: str | Path | None = None, workers: int = 1,
          scheduler: str | Any | None = None, progress: Progress | None = None):
    """Run a sweep and return its results table, one row per point and repetition.

    ``spec``: a sweep file path, a plain mapping or a :class:`SweepSpec`. ``out``: the results
    directory (``results.csv``, ``results.parquet`` with pyarrow, ``spec.yaml``); points already
    finished there are not run again. None: a temporary directory, removed afterwards.
    ``workers``: local processes (1 runs in this process). ``scheduler``: a Dask scheduler
    address (or a ``dask.distributed.Client``) to run the points on instead.
    ``progress(done, total)`` is called as runs finish.

    The table is a pandas DataFrame when pandas is importable, else a list of dicts; rows are
    sorted by point and repetition, columns are ``point, point_id, repetition, seed``, the swept
    keys, then the record's scalars (energy terms as ``energy_<term>_j``). Runs that fail raise
    one :class:`NeuroEmuError` after the others have finished and been written.
    """
    if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
        raise NeuroEmuError(f"sweep: workers must be an integer >= 1 (got {workers!r})")
    checked = plan(spec)
    if out is None:
        with tempfile.TemporaryDirectory(prefix="neuroemu-sweep-") as tmp:
            return run_plan(checked, tmp, workers, scheduler, progress)
    return run_plan(checked, out, workers, scheduler, progress)


def run_plan(checked: SweepPlan, out: str | Path, workers: int = 1, scheduler: str | Any | None = None,
             progress: Progress | None = None):
    """Run the missing tasks of a checked plan into ``out`` and return the table (see :func:`sweep`)."""
    out = Path(out)
    store = ResultsStore(out).open()
    check_spec(out, checked.resolved, checked.axis_keys)
    todo = [t for t in checked.tasks if (t.point_id, t.repetition) not in store.done]
    runs_dir = str(out / RUNS_DIR) if checked.spec.run.record_spikes else None
    total = len(checked.tasks)
    done = total - len(todo)
    if progress is not None:
        progress(done, total)
    failures: list[tuple[Task, NeuroEmuError]] = []
    try:
        for task, row, error in _execute(todo, workers, scheduler, runs_dir):
            if error is not None:
                failures.append((task, error))
            else:
                store.append(row)
            done += 1
            if progress is not None:
                progress(done, total)
    finally:
        rows, columns = _table_rows(checked, store)
        write_parquet(rows, columns, out / PARQUET_NAME)
    if failures:
        task, error = failures[0]
        shown = ", ".join(f"{k}={v!r}" for k, v in task.cells.items()) or "no axes"
        raise NeuroEmuError(f"{len(failures)} of {len(todo)} runs failed; the others are saved in "
                            f"{out / CSV_NAME} and a rerun retries only the failed ones. First: point "
                            f"{task.point} ({shown}) repetition {task.repetition}: {error}")
    return as_table(rows, columns)


def _table_rows(checked: SweepPlan, store: ResultsStore) -> tuple[list[dict], list[str]]:
    """This sweep's rows from the store, numbered by the current plan, in (point, repetition) order."""
    index = {p.point_id: p.index for p in checked.points}
    rows = []
    for r in store.rows():
        pid = str(r.get("point_id"))
        if pid in index and r.get("repetition") is not None and r["repetition"] < checked.spec.repetitions:
            r["point"] = index[pid]
            r["point_id"] = pid
            rows.append(r)
    rows.sort(key=lambda r: (r["point"], r["repetition"]))
    return rows, column_order(store.columns or KEY_COLUMNS, checked.axis_keys)


def _execute(tasks: list[Task], workers: int, scheduler: str | Any | None, runs_dir: str | None):
    """Yield (task, row, error) as runs finish, whichever executor runs them."""
    if not tasks:
        return
    if scheduler is None and (workers == 1 or len(tasks) == 1):
        for task in tasks:
            try:
                yield task, run_point(task, runs_dir), None
            except NeuroEmuError as exc:
                yield task, None, exc
        return
    client = None
    if scheduler is not None:
        client, executor = _dask_executor(scheduler)
    else:
        try:  # a task that cannot be pickled would stall the pool's feeder thread (Python 3.11)
            pickle.dumps((run_point, tasks[0]))
        except (pickle.PicklingError, AttributeError, TypeError) as exc:
            raise NeuroEmuError(f"sweep: the points cannot be sent to worker processes ({exc}); "
                                "use workers=1") from None
        executor = cf.ProcessPoolExecutor(max_workers=min(workers, len(tasks)))
    futures: dict[cf.Future, Task] = {}
    try:
        for task in tasks:
            futures[executor.submit(run_point, task, runs_dir)] = task
        broken = None
        for fut in cf.as_completed(futures):
            task = futures[fut]
            try:
                yield task, fut.result(), None
            except BrokenProcessPool as exc:
                broken = exc
            except NeuroEmuError as exc:
                yield task, None, exc
        if broken is not None:
            raise NeuroEmuError("a worker process died (killed, or out of memory); every run that finished is "
                                "saved and running the same sweep again runs only the missing ones") from None
    finally:
        if client is None:
            executor.shutdown(wait=True, cancel_futures=True)
        else:
            for fut in futures:
                fut.cancel()
            executor.shutdown(wait=False)
        if client is not None and not isinstance(scheduler, _client_type()):
            client.close()


def _client_type() -> type:
    try:
        from dask.distributed import Client
    except ImportError:  # pragma: no cover - only reached with dask present
        return type(None)
    return Client


def _dask_executor(scheduler: str | Any):
    """A concurrent.futures executor on a Dask cluster: (client, executor)."""
    try:
        from dask.distributed import Client
    except ImportError:
        raise NeuroEmuError("--scheduler runs points on a Dask cluster, which needs dask.distributed: "
                            "pip install neuroemu[distributed]") from None
    if isinstance(scheduler, Client):
        client = scheduler
    else:
        try:
            client = Client(scheduler, timeout="10s")
        except (OSError, TimeoutError, ValueError) as exc:
            raise NeuroEmuError(f"--scheduler {scheduler}: cannot connect to the Dask scheduler ({exc})") from None
    # pure=False: two repetitions of a point are distinct tasks even if their inputs were equal
    return client, client.get_executor(pure=False)
