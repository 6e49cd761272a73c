"""Results on disk: sweep tables that survive crashes, and one run's output directory.

``DIR/results.csv`` is written by one process (the sweep's driver) and only ever grows by whole
rows: each finished point is one ``write`` of one line, flushed and fsync'ed before the next
point is taken. When a point brings columns the file does not have yet (a topology with other
link classes adds ``hops_<class>`` and ``energy_hop_<class>_j``), the file is rewritten with the
wider header into a temporary file that replaces the old one atomically (``os.replace``), so at
every moment the file on disk is either the old or the new complete table. A crash in the middle
of an append can leave a last line without its newline; :class:`ResultsStore` drops it when it
opens the file again, and the point it held runs again.

Cells: an empty cell is null; floats are written with ``repr`` so they read back exactly.
``DIR/results.parquet`` (when pyarrow is importable) is a copy of the table sorted by point and
repetition, rewritten whole from the CSV at the end of a sweep (and after an interrupted one).
"""
from __future__ import annotations

import csv
import io
import json
import math
import os
import re
from dataclasses import fields
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import yaml

from neuroemu.errors import ConfigError, NeuroEmuError
from neuroemu.engine.record import RunResult

CSV_NAME = "results.csv"
PARQUET_NAME = "results.parquet"
SPEC_NAME = "spec.yaml"
#: the first columns of every results table, then the swept keys, then the record
KEY_COLUMNS = ("point", "point_id", "repetition", "seed")
#: record fields that are not columns: the config is spec.yaml plus the parameters
SKIPPED_FIELDS = ("config", "spike_trains", "seeds")
#: per-link / per-hop arrays of the timing report: plot material, too big for a table cell
BULKY_TIMING_KEYS = ("link_stats",)
#: columns that legitimately differ between identical runs (compare tables without them)
NONDETERMINISTIC_COLUMNS = ("wall_s", "queue_backend", "tick_backend", "peak_rss_mb", "loop_stats")

_FIELD_RANK = {f.name: i for i, f in enumerate(fields(RunResult))}


# --- one record as one row -------------------------------------------------------------------

def _safe(name: str) -> str:
    return re.sub(r"[^0-9A-Za-z_]+", "_", str(name))


def flatten_record(record: dict[str, Any]) -> dict[str, Any]:
    """The record's scalars as columns: nested mappings flattened, the energy breakdown as
    ``energy_<term>_j``, hops by class as ``hops_<class>``, counters as ``count_<event>``, the
    timing report's entries under their own names (``timing_<name>`` if that name is taken) and
    the workload report's as ``<section>_<name>`` (e.g. ``classification_accuracy``)."""
    row: dict[str, Any] = {}
    for name, value in record.items():
        if name in SKIPPED_FIELDS:
            continue
        if name == "energy_breakdown_j":
            row.update({f"energy_{_safe(k)}_j": v for k, v in value.items()})
        elif name == "hops_by_class":
            row.update({f"hops_{_safe(k)}": v for k, v in value.items()})
        elif name == "counts":
            row.update({f"count_{_safe(k)}": v for k, v in value.items()})
        elif name == "timing_report":
            for k, v in value.items():
                if k in BULKY_TIMING_KEYS:
                    continue
                col = _safe(k)
                row[col if col not in record and col not in row else f"timing_{col}"] = v
        elif name == "workload_report":
            # a mapped network's sections: classification_accuracy, mapping_cores_used, ...
            for section, entries in value.items():
                if isinstance(entries, dict):
                    row.update({f"{_safe(section)}_{_safe(k)}": v for k, v in entries.items()})
                else:
                    row[f"workload_{_safe(section)}"] = entries
        else:
            row[name] = value
    return {k: (v if v is None or isinstance(v, (bool, int, float, str)) else _json(v)) for k, v in row.items()}


def _json(value: Any) -> str:
    if isinstance(value, np.generic):
        value = value.item()
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def _column_rank(name: str) -> tuple[int, str]:
    """Where a record column goes: the order of RunResult's fields, flattened groups in place."""
    if name in _FIELD_RANK:
        return _FIELD_RANK[name], ""
    if name.startswith("energy_") and name.endswith("_j"):
        return _FIELD_RANK["energy_breakdown_j"], name
    if name.startswith("hops_"):
        return _FIELD_RANK["hops_by_class"], name
    if name.startswith("count_"):
        return _FIELD_RANK["counts"], name
    return _FIELD_RANK["timing_report"], name


def column_order(columns: Iterable[str], params: Iterable[str]) -> list[str]:
    """Key columns, then the parameters in axis order, then record columns in a fixed order."""
    columns = list(dict.fromkeys(columns))
    params = [p for p in params if p in columns]
    head = [c for c in KEY_COLUMNS if c in columns] + params
    rest = sorted((c for c in columns if c not in head), key=_column_rank)
    return head + rest


# --- cells -----------------------------------------------------------------------------------

def format_cell(value: Any) -> str:
    """A value as CSV text that :func:`parse_cell` reads back to the same value."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else ""
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, np.floating):
        return format_cell(float(value))
    if isinstance(value, str):
        # one line per row: strings with line breaks are stored as JSON
        return json.dumps(value) if ("\n" in value or "\r" in value or value.startswith('"')) else value
    return _json(value)


_INT = re.compile(r"[+-]?\d+")


def parse_cell(text: str) -> Any:
    """CSV text back to None, bool, int, float or str."""
    if text == "":
        return None
    if text.startswith('"'):  # a string stored as JSON (see format_cell)
        try:
            return json.loads(text)
        except ValueError:
            return text
    if text in ("True", "False"):
        return text == "True"
    if _INT.fullmatch(text):
        return int(text)
    try:
        value = float(text)
    except ValueError:
        return text
    return value if math.isfinite(value) else text


# --- the store ---------------------------------------------------------------------------------

def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path: Path, text: str) -> None:
    """Replace ``path`` by ``text`` so that a crash leaves either the old or the new file."""
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", newline="") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _csv_text(rows: Iterable[list[str]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerows(rows)
    return buf.getvalue()


class ResultsStore:
    """``DIR/results.csv``, appended one finished run at a time (see the module docstring)."""

    def __init__(self, out_dir: str | Path):
        self.dir = Path(out_dir)
        self.csv_path = self.dir / CSV_NAME
        self.columns: list[str] = []
        self.raw: list[list[str]] = []           # the rows on disk, as text
        self.done: set[tuple[str, int]] = set()  # (point_id, repetition)
        self.dropped = 0                          # broken lines removed on open

    def open(self) -> "ResultsStore":
        """Create DIR, or read what an earlier run left (dropping a half-written last line)."""
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise NeuroEmuError(f"{self.dir}: cannot create the output directory ({exc.strerror})") from None
        if not self.dir.is_dir():
            raise NeuroEmuError(f"{self.dir}: not a directory")
        if not self.csv_path.exists():
            return self
        data = self.csv_path.read_bytes()
        if data and not data.endswith(b"\n"):
            # killed mid-append: the last line is incomplete; cut it off so the next append starts clean
            keep = data.rfind(b"\n") + 1
            with open(self.csv_path, "r+b") as f:
                f.truncate(keep)
                f.flush()
                os.fsync(f.fileno())
            data = data[:keep]
            self.dropped += 1
        lines = list(csv.reader(io.StringIO(data.decode("utf-8", errors="replace"), newline="")))
        if not lines:
            return self
        self.columns = lines[0]
        missing = [c for c in ("point_id", "repetition") if c not in self.columns]
        if missing:
            raise NeuroEmuError(f"{self.csv_path}: not a neuroemu results file (no column {missing[0]})")
        ip, ir = self.columns.index("point_id"), self.columns.index("repetition")
        for cells in lines[1:]:
            if len(cells) != len(self.columns):
                self.dropped += 1
                continue
            key = (cells[ip], int(cells[ir]))
            if key in self.done:
                continue
            self.done.add(key)
            self.raw.append(cells)
        if self.dropped or len(self.raw) != len(lines) - 1:
            self._rewrite()  # drop broken or repeated lines for good
        return self

    def append(self, row: dict[str, Any]) -> None:
        """Write one finished run to disk now (flushed and fsync'ed)."""
        new = [c for c in row if c not in self.columns]
        cells_of = lambda r: [format_cell(r.get(c)) for c in self.columns]  # noqa: E731
        if new or not self.csv_path.exists():
            width = len(self.columns)
            self.columns = self.columns + new
            self.raw = [cells + [""] * (len(self.columns) - width) for cells in self.raw]
            self.raw.append(cells_of(row))
            self._rewrite()
        else:
            cells = cells_of(row)
            size = self.csv_path.stat().st_size
            try:
                with open(self.csv_path, "a", newline="") as f:
                    f.write(_csv_text([cells]))
                    f.flush()
                    os.fsync(f.fileno())
            except OSError as exc:
                # a full disk (or any write error): cut the half-written line so the file stays a
                # readable table of the runs finished so far, then stop with one line
                try:
                    os.truncate(self.csv_path, size)
                except OSError:
                    pass  # a rerun drops a broken last line anyway
                raise NeuroEmuError(f"{self.csv_path}: cannot append a finished run ({exc.strerror or exc}); "
                                    f"the {len(self.raw)} runs before it are saved, rerun the same command "
                                    "to finish the rest") from None
            self.raw.append(cells)
        self.done.add((str(row["point_id"]), int(row["repetition"])))

    def _rewrite(self) -> None:
        atomic_write(self.csv_path, _csv_text([self.columns] + self.raw))

    def rows(self) -> list[dict[str, Any]]:
        """The rows on disk as typed values."""
        return [{c: parse_cell(v) for c, v in zip(self.columns, cells)} for cells in self.raw]


def check_spec(out_dir: Path, resolved: dict, axis_keys: list[str]) -> None:
    """Refuse to mix two different sweeps in one DIR; otherwise (re)write DIR/spec.yaml.

    Points are identified by their parameters, so axes may gain or lose values between runs
    (finished points are kept); the base chip and workload, the run options, the master seed,
    the seed policy and the swept keys must stay the same.
    """
    path = out_dir / SPEC_NAME
    if path.exists():
        try:
            old = yaml.safe_load(path.read_text())
        except (yaml.YAMLError, OSError) as exc:
            raise NeuroEmuError(f"{path}: unreadable ({exc}); remove it or use another --out") from None
        if not isinstance(old, dict):
            raise NeuroEmuError(f"{path}: not a sweep spec; remove it or use another --out")
        old_keys = [a.get("key") for a in old.get("axes") or [] if isinstance(a, dict)]
        mine = {k: resolved.get(k) for k in ("base", "run", "seed", "common_seeds")}
        theirs = {k: old.get(k) for k in ("base", "run", "seed", "common_seeds")}
        where = _first_difference(theirs, mine) if theirs != mine else None
        if where is None and old_keys != axis_keys:
            where = f"axes keys ({', '.join(map(str, old_keys))} there, {', '.join(axis_keys)} here)"
        if where is not None:
            raise ConfigError(f"{out_dir}: holds the results of a different sweep ({where} differs from "
                              f"{path}); use another --out, or remove the directory to start again")
    atomic_write(path, "# the resolved sweep: base chip and workload inlined, ranges expanded\n"
                 + yaml.safe_dump(resolved, sort_keys=False))


def _first_difference(a: Any, b: Any, path: str = "") -> str | None:
    if isinstance(a, dict) and isinstance(b, dict):
        for k in list(dict.fromkeys(list(a) + list(b))):
            d = _first_difference(a.get(k), b.get(k), f"{path}.{k}" if path else str(k))
            if d is not None:
                return d
        return None
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            d = _first_difference(x, y, f"{path}[{i}]")
            if d is not None:
                return d
        return None
    return None if a == b else (path or "the spec")


# --- reading tables back -----------------------------------------------------------------------

def read_results(path: str | Path) -> tuple[list[dict[str, Any]], dict | None]:
    """Rows of a results table (a sweep DIR, results.csv or results.parquet) and the sweep's
    resolved spec when DIR/spec.yaml is beside it."""
    path = Path(path)
    if path.is_dir():
        parquet, csv_path = path / PARQUET_NAME, path / CSV_NAME
        path = csv_path if csv_path.exists() else parquet
    spec_path = path.parent / SPEC_NAME
    spec = yaml.safe_load(spec_path.read_text()) if spec_path.is_file() else None
    if not path.exists():
        raise NeuroEmuError(f"{path}: no such results file (expected a sweep directory, results.csv or "
                            "results.parquet)")
    if path.suffix == ".parquet":
        try:
            import pyarrow.parquet as pq
        except ImportError:
            raise NeuroEmuError(f"{path}: reading Parquet needs pyarrow: pip install neuroemu[columnar]") from None
        return pq.read_table(path).to_pylist(), spec
    lines = list(csv.reader(io.StringIO(path.read_text(errors="replace"), newline="")))
    if not lines:
        return [], spec
    header = lines[0]
    return [{c: parse_cell(v) for c, v in zip(header, cells)} for cells in lines[1:] if len(cells) == len(header)], spec


def as_table(rows: list[dict[str, Any]], columns: list[str]):
    """A pandas DataFrame when pandas is importable, else the list of row dicts (all columns)."""
    try:
        import pandas as pd
    except ImportError:
        return [{c: r.get(c) for c in columns} for r in rows]
    return pd.DataFrame([[r.get(c) for c in columns] for r in rows], columns=columns)


def write_parquet(rows: list[dict[str, Any]], columns: list[str], path: Path) -> bool:
    """Write the table as Parquet when pyarrow is importable (atomically); False otherwise.

    Column types: integers (with nulls) as int64, any mix of numbers as float64, booleans as
    bool, anything else as strings.
    """
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        return False
    arrays = {}
    for c in columns:
        values = [r.get(c) for r in rows]
        present = [v for v in values if v is not None]
        if present and all(isinstance(v, bool) for v in present):
            arrays[c] = pa.array(values, pa.bool_())
        elif present and all(isinstance(v, int) and not isinstance(v, bool) for v in present):
            arrays[c] = pa.array(values, pa.int64())
        elif present and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present):
            arrays[c] = pa.array([None if v is None else float(v) for v in values], pa.float64())
        else:
            arrays[c] = pa.array([None if v is None else str(v) for v in values], pa.string())
    tmp = path.with_name(f".{path.name}.tmp")
    pq.write_table(pa.table(arrays) if arrays else pa.table({}), tmp)
    os.replace(tmp, path)
    return True


# --- one run's output directory ------------------------------------------------------------------

def write_run_output(result: RunResult, out_dir: str | Path) -> Path:
    """Write ``record.json`` (the record without spike trains) and, when spike trains were
    recorded, ``spikes.npz`` (int64 arrays ``ticks`` and ``neurons``: sparse, one entry per
    spike) into ``out_dir``; return the directory. Plots read these later (``neuroemu plot``)."""
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
        if result.spike_trains is not None:
            tmp = out / ".spikes.tmp.npz"
            np.savez_compressed(tmp, ticks=np.asarray(result.spike_trains.ticks, np.int64),
                                neurons=np.asarray(result.spike_trains.neurons, np.int64))
            os.replace(tmp, out / "spikes.npz")
        elif (out / "spikes.npz").exists():
            (out / "spikes.npz").unlink()  # an earlier run's spikes would not belong to this record
        # the record last: its presence means the directory is complete
        atomic_write(out / "record.json", result.to_json(include_spikes=False) + "\n")
    except OSError as exc:
        raise NeuroEmuError(f"{out}: cannot write the run output ({exc.strerror})") from None
    return out
