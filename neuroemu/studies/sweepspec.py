"""Sweep specs: a base chip and workload, axes over config key paths, and the points they make.

A sweep file (YAML) is loaded into the frozen :class:`SweepSpec`; every broken rule is a
:class:`ConfigError` naming the file, the key path, the rule and the value, as for chips and
workloads. This module also resolves the base chip and workload, expands the axes into
:class:`Point` s, derives seeds and sets key paths in plain config data;
:func:`neuroemu.studies.sweep.plan` uses these to check every point before any runs.

Key paths start with ``chip.``, ``workload.`` or ``run.`` and follow the YAML keys:
``chip.energy.hop_pj``, ``chip.topology.kind``, ``workload.network.rate_hz``,
``workload.inputs[0].rate_hz``, ``run.ticks``, ``run.timing``. An axis may also replace a whole
mapping (``key: chip.topology`` with mappings as values, named by ``labels``), which is how
topologies with different parameters (a mesh needs width and height, an H-tree must not have
them) are compared.

Point identity and seeds. A point is identified by its parameters (``point_id``, a hash of the
canonical JSON of key -> value; random samples also by their sample number), not by its place
in the list, so extending an axis later keeps the finished points, and a point's seed,
``SeedSequence([master, point_id, repetition])``, does not depend on the number of workers, the
order of completion or the other points. With ``common_seeds: true`` every point of a repetition
gets the same seed (``SeedSequence([master, repetition])``): common random numbers, so that
e.g. two topologies see the same network and inputs and differ by the topology alone.
"""
from __future__ import annotations

import copy
import hashlib
import itertools
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import yaml

from neuroemu.config.fields import Where, between, build, non_negative, spec_field, to_plain
from neuroemu.config.loader import (chip_from_data, is_file, load_chip, load_workload, read_yaml, shipped_sweeps,
                                    workload_chip, workload_from_data)
from neuroemu.config.schema import ChipSpec, WorkloadSpec
from neuroemu.errors import ConfigError

MODES = ("grid", "zip", "random")
KEY_ROOTS = ("chip", "workload", "run")
#: run options an axis may set (the rest of a run is the chip and the workload)
RUN_AXIS_KEYS = ("ticks", "timing")
#: seed stream of random-mode sampling (apart from every point's own seed)
STREAM_SAMPLES = 0x5EED
#: the largest number of points a sweep may expand to (a typo such as range [0, 1, 1e9] fails fast)
MAX_POINTS = 1_000_000


def _number(v: Any) -> bool:
    """A finite int or float that a float can hold (a YAML integer may be arbitrarily large)."""
    if not isinstance(v, (int, float)) or isinstance(v, bool):
        return False
    try:
        return math.isfinite(float(v))
    except OverflowError:
        return False


def _ref(v: Any) -> str | None:
    return None if isinstance(v, (str, dict)) else "must be a name, a path or an inline mapping"


@dataclass(frozen=True)
class BaseSpec:
    """The chip and workload every point starts from: shipped names, paths or inline mappings."""

    chip: Any = spec_field(None, check=_ref, doc="chip name or path (relative to the sweep file), or a mapping; "
                                                  "default: the workload's chip")
    workload: Any = spec_field(None, check=_ref, doc="workload name or path, or a mapping; default: embedded")


@dataclass(frozen=True)
class RunSpec:
    """Options of every run of the sweep that are neither chip nor workload."""

    ticks: int | None = spec_field(None, check=between(1, 10 ** 9), doc="run length (default: the workload's)")
    timing: Literal["sync", "gals", "barrier", "async"] | None = spec_field(
        None, doc="override the chip's tick semantics")
    record_spikes: bool = spec_field(False, doc="keep each point's spike trains in DIR/runs/<point>-r<rep>/")


@dataclass(frozen=True)
class AxisSpec:
    """One swept key path and its values: a list, a range, or (random mode) a distribution."""

    key: str = spec_field(doc="key path: chip.*, workload.* or run.*")
    values: tuple[Any, ...] | None = spec_field(None, doc="the values (random mode: choices)")
    range: tuple[Any, Any, int] | None = spec_field(None, doc="[lo, hi, n]: n evenly spaced values")
    low: Any = spec_field(None, doc="random mode: lower bound (integers if low and high are)")
    high: Any = spec_field(None, doc="random mode: upper bound (inclusive for integers)")
    choices: tuple[Any, ...] | None = spec_field(None, doc="random mode: values to draw from")
    log: bool = spec_field(False, doc="range and low/high: geometric spacing / log-uniform draws")
    labels: tuple[str, ...] | None = spec_field(None, doc="names of the values in the results (default: the values)")

    def validate(self, where: Where) -> None:
        """Exactly one source of values; ranges and bounds are numbers; labels match the values."""
        given = [name for name in ("values", "range", "choices") if getattr(self, name) is not None]
        if self.low is not None or self.high is not None:
            given.append("low/high")
        if len(given) != 1:
            raise where.error("needs exactly one of values, range, choices or low/high"
                              + (f" (got {', '.join(given)})" if given else ""))
        if not _key_parts_ok(self.key):
            raise where.child("key").error("must be a dotted key path such as chip.energy.hop_pj", self.key)
        root = self.key.split(".")[0].split("[")[0]
        if root not in KEY_ROOTS:
            raise where.child("key").error(f"must start with {', '.join(r + '.' for r in KEY_ROOTS)}", self.key)
        if root == "run" and self.key[4:] not in RUN_AXIS_KEYS:
            raise where.child("key").error(f"run options that can be swept: {', '.join(RUN_AXIS_KEYS)}", self.key)
        for name in ("values", "choices"):
            items = getattr(self, name)
            if items is not None and not items:
                raise where.child(name).error("must not be empty")
        if self.range is not None:
            lo, hi, n = self.range
            if not (_number(lo) and _number(hi)):
                raise where.child("range").error("must be [lo, hi, n] with numbers lo and hi", list(self.range))
            if not 1 <= n <= MAX_POINTS:
                raise where.child("range").error(f"n must be between 1 and {MAX_POINTS}", list(self.range))
            if self.log and (lo <= 0 or hi <= 0):
                raise where.child("range").error("log spacing needs lo > 0 and hi > 0", list(self.range))
        if self.low is not None or self.high is not None:
            for name in ("low", "high"):
                if not _number(getattr(self, name)):
                    raise where.child(name).error("must be a finite number", getattr(self, name))
            if self.low > self.high:
                raise where.error("low must be <= high", [self.low, self.high])
            if isinstance(self.low, int) and isinstance(self.high, int) and not -2**63 <= self.low <= self.high < 2**63 - 1:
                raise where.error("integer low and high are drawn as 64-bit integers: keep them within +-2^63",
                                  [self.low, self.high])
            if self.log and self.low <= 0:
                raise where.child("low").error("log-uniform draws need low > 0", self.low)
        if self.labels is not None:
            if self.values is None:
                raise where.child("labels").error("apply to values only")
            if len(self.labels) != len(self.values):
                raise where.child("labels").error(f"needs one label per value ({len(self.values)})", list(self.labels))
            if len(set(self.labels)) != len(self.labels):
                raise where.child("labels").error("must be distinct", list(self.labels))

    def grid_values(self) -> list[Any]:
        """The axis's values for grid and zip modes (a range expanded)."""
        if self.values is not None:
            return list(self.values)
        lo, hi, n = self.range
        if self.log:
            return np.geomspace(float(lo), float(hi), n).tolist()
        if isinstance(lo, int) and isinstance(hi, int) and (n == 1 or (hi - lo) % (n - 1) == 0):
            step = (hi - lo) // (n - 1) if n > 1 else 0
            return [lo + i * step for i in range(n)]
        # as floats: numpy takes an int past int64 as an object, which linspace cannot divide
        return np.linspace(float(lo), float(hi), n).tolist()

    def draw(self, rng: np.random.Generator) -> Any:
        """One random-mode value."""
        items = self.choices if self.choices is not None else self.values
        if items is not None:
            return items[int(rng.integers(len(items)))]
        lo, hi = self.low, self.high
        if self.log:
            return float(math.exp(rng.uniform(math.log(lo), math.log(hi))))
        if isinstance(lo, int) and isinstance(hi, int):
            return int(rng.integers(lo, hi + 1))
        return float(rng.uniform(lo, hi))

    def label(self, value: Any) -> Any:
        """What the results table shows for ``value``: its label, the scalar, or compact JSON."""
        if self.labels is not None:
            for v, lab in zip(self.values, self.labels):
                if v == value:
                    return lab
        if isinstance(value, (dict, list)):
            return json.dumps(value, sort_keys=True, separators=(",", ":"))
        return value


@dataclass(frozen=True, kw_only=True)
class SweepSpec:
    """A whole sweep: base chip and workload, axes, how they combine, repetitions and seed."""

    name: str = spec_field("sweep", doc="short name (plot titles)")
    description: str = spec_field("")
    base: BaseSpec = spec_field(default_factory=BaseSpec)
    axes: tuple[AxisSpec, ...] = spec_field((), doc="the swept key paths")
    mode: Literal["grid", "zip", "random"] = spec_field("grid", doc="grid: every combination; zip: "
                                                        "the i-th values together; random: seeded samples")
    samples: int | None = spec_field(None, check=between(1, MAX_POINTS), doc="random mode: number of points")
    repetitions: int = spec_field(1, check=between(1, 100_000), doc="runs of each point, each with its own seed")
    seed: int = spec_field(0, check=non_negative, doc="master seed: every point's seed derives from it")
    common_seeds: bool = spec_field(False, doc="one seed per repetition shared by all points")
    run: RunSpec = spec_field(default_factory=RunSpec)
    #: the file it was read from (errors name it); not part of the description
    source: str = field(default="", init=False, compare=False, repr=False)

    def validate(self, where: Where) -> None:
        """Cross-field rules: distinct keys, what each mode needs, the number of points."""
        object.__setattr__(self, "source", where.file)
        seen: dict[str, int] = {}
        for i, axis in enumerate(self.axes):
            aw = where.child("axes").child(i)
            if axis.key in seen:
                raise aw.child("key").error(f"same key as axes[{seen[axis.key]}]", axis.key)
            seen[axis.key] = i
            if self.mode == "random":
                if axis.range is not None:
                    raise aw.child("range").error("random mode draws from low/high, choices or values, not a range")
            elif axis.choices is not None or axis.low is not None:
                what = "choices" if axis.choices is not None else "low"
                raise aw.child(what).error(f"applies to mode random only (this sweep is {self.mode}); "
                                           "use values or range")
        if self.mode == "random":
            if self.samples is None:
                raise where.child("samples").error("random mode needs samples: N")
        elif self.samples is not None:
            raise where.child("samples").error(f"applies to mode random only (this sweep is {self.mode})")
        if self.mode == "zip" and self.axes:
            lengths = [len(a.grid_values()) for a in self.axes]
            if len(set(lengths)) > 1:
                raise where.child("axes").error("zip mode needs axes of equal length", lengths)
        n = self.n_points()
        if n * self.repetitions > MAX_POINTS:
            raise where.error(f"expands to {n:,} points x {self.repetitions} repetitions; at most {MAX_POINTS:,} runs")

    def n_points(self) -> int:
        """Points the axes expand to (before repetitions)."""
        if self.mode == "random":
            return self.samples or 0
        if not self.axes:
            return 1
        if self.mode == "zip":
            return len(self.axes[0].grid_values())
        return math.prod(len(a.grid_values()) for a in self.axes)

    @property
    def where(self) -> str:
        """The name errors use: the file, else the sweep's name."""
        return self.source or self.name


@dataclass(frozen=True)
class Point:
    """One combination of axis values."""

    index: int
    point_id: str
    params: dict[str, Any]   # key path -> value as applied
    cells: dict[str, Any]    # key path -> value as shown in results (label, scalar or JSON)


# --- loading -----------------------------------------------------------------------------------

def load_sweep_spec(spec: SweepSpec | dict | str | Path) -> SweepSpec:
    """A SweepSpec from a spec, a plain mapping, a YAML file path or a shipped sweep's name."""
    if isinstance(spec, SweepSpec):
        return spec
    if isinstance(spec, dict):
        return build(SweepSpec, spec, Where("<sweep>"))
    if isinstance(spec, (str, Path)):
        path = spec if is_file(spec) else shipped_sweeps().get(str(spec), spec)  # a file, or a shipped sweep's name
        return build(SweepSpec, read_yaml(path), Where(str(path)))
    raise ConfigError(f"sweep: expected a sweep file path, a mapping or a SweepSpec (got {type(spec).__name__})")


def _spec_dir(spec: SweepSpec) -> Path | None:
    return Path(spec.source).parent if spec.source and not spec.source.startswith("<") else None


def _local(ref: str, base_dir: Path | None) -> str:
    """A relative path next to the sweep file wins over the working directory and shipped names."""
    if base_dir is not None and not Path(ref).is_absolute() and is_file(base_dir / ref):
        return str(base_dir / ref)
    return ref


def resolve_base(spec: SweepSpec) -> tuple[ChipSpec, WorkloadSpec]:
    """The base chip and workload specs (names and paths read, inline mappings built)."""
    base_dir = _spec_dir(spec)
    where = spec.where
    ref = spec.base.workload
    if isinstance(ref, dict):
        workload = workload_from_data(ref, f"{where}: base.workload")
        workload_file = spec.source or None
    else:
        workload_file = None if ref is None else _local(ref, base_dir)
        workload = load_workload(workload_file)
    ref = spec.base.chip
    if isinstance(ref, dict):
        chip = chip_from_data(ref, f"{where}: base.chip")
    elif ref is None:
        chip = workload_chip(workload, workload_file)
    else:
        chip = load_chip(_local(ref, base_dir))
    return chip, workload


def resolved_spec(spec: SweepSpec, chip: ChipSpec, workload: WorkloadSpec) -> dict:
    """The spec with the base chip and workload inlined and ranges expanded (DIR/spec.yaml).

    Loading it again gives the same sweep, whatever happens to the files it named.
    """
    axes = []
    for a in spec.axes:
        plain = {"key": a.key}
        if spec.mode == "random":
            plain.update({k: to_plain(getattr(a, k)) for k in ("values", "low", "high", "choices")
                          if getattr(a, k) is not None})
            if a.log:
                plain["log"] = True
        else:
            plain["values"] = a.grid_values()
        if a.labels is not None:
            plain["labels"] = list(a.labels)
        axes.append(plain)
    out = {"name": spec.name, "description": spec.description,
           "base": {"chip": to_plain(chip), "workload": to_plain(workload)}, "axes": axes, "mode": spec.mode}
    if spec.samples is not None:
        out["samples"] = spec.samples
    out.update({"repetitions": spec.repetitions, "seed": spec.seed, "common_seeds": spec.common_seeds,
                "run": {k: v for k, v in to_plain(spec.run).items() if v is not None}})
    # through YAML once, so that it compares equal to what DIR/spec.yaml reads back
    return yaml.safe_load(yaml.safe_dump(out, sort_keys=False))


# --- points, seeds and key paths -----------------------------------------------------------------

def point_id(params: dict[str, Any], sample: int | None = None) -> str:
    """A point's identity: 12 hex digits of the hash of its canonical parameters."""
    ident = params if sample is None else {"params": params, "sample": sample}
    text = json.dumps(ident, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def point_seed(master: int, pid: str, repetition: int, common: bool = False) -> int:
    """The seed of one run, from the master seed and the point (see the module docstring)."""
    entropy = [master, repetition] if common else [master, int(pid[:6], 16), int(pid[6:12], 16), repetition]
    return int(np.random.SeedSequence(entropy).generate_state(1, np.uint32)[0])


def expand(spec: SweepSpec) -> list[Point]:
    """The points of the sweep, in order (grid: the first axis varies slowest)."""
    axes = spec.axes
    if spec.mode == "random":
        rows = []
        for s in range(spec.samples):
            rng = np.random.default_rng(np.random.SeedSequence([spec.seed, STREAM_SAMPLES, s]))
            rows.append((s, [a.draw(rng) for a in axes]))
    elif spec.mode == "zip":
        columns = [a.grid_values() for a in axes]
        rows = [(None, list(vals)) for vals in zip(*columns)] if axes else [(None, [])]
    else:
        rows = [(None, list(vals)) for vals in itertools.product(*(a.grid_values() for a in axes))]
    points = []
    for i, (sample, vals) in enumerate(rows):
        params = {a.key: v for a, v in zip(axes, vals)}
        cells = {a.key: a.label(v) for a, v in zip(axes, vals)}
        points.append(Point(i, point_id(params, sample), params, cells))
    return points


_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


_KEY = re.compile(r"[A-Za-z_]\w*(\.\w+|\[\d+\])*")


def _key_parts_ok(key: str) -> bool:
    return bool(_KEY.fullmatch(key))


def key_parts(key: str) -> list[str | int]:
    """``workload.inputs[0].rate_hz`` -> ["workload", "inputs", 0, "rate_hz"] (``inputs.0`` too)."""
    parts: list[str | int] = []
    for m in _PART.finditer(key):
        if m.group(2) is not None:
            parts.append(int(m.group(2)))
        else:
            parts.append(int(m.group(1)) if m.group(1).isdigit() else m.group(1))
    return parts


def _dotted(parts: list[str | int]) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else (f".{p}" if i else p) for i, p in enumerate(parts))


def set_path(root: dict, key: str, value: Any) -> None:
    """Set ``key`` in ``root``, the plain data of the key's first part (the chip or the workload).

    Raises ConfigError naming the key path. An optional mapping that is null (e.g.
    ``energy.hop_class_pj``) becomes one; a bare energy constant becomes ``{value: ...}`` when
    ``.value`` is set. A key missing in the last mapping is added, so that building the spec
    reports it as unknown, with the valid keys.
    """
    parts = key_parts(key)
    if len(parts) < 2:
        raise ConfigError(f"names the whole {key}; name a key below it, such as {key}.name")
    node: Any = root
    for depth in range(1, len(parts) - 1):
        node = _child(node, parts[depth], _dotted(parts[:depth]), parts[depth + 1])
    last, prefix = parts[-1], _dotted(parts[:-1])
    if isinstance(node, dict) and isinstance(last, str):
        node[last] = copy.deepcopy(value)
    elif isinstance(node, list) and isinstance(last, int):
        if not 0 <= last < len(node):
            raise ConfigError(f"{prefix} has {len(node)} items; no item [{last}]")
        node[last] = copy.deepcopy(value)
    else:
        raise ConfigError(f"{prefix} is {_kind(node)}, not a mapping with key {last!r}")


def _child(node: Any, part: str | int, prefix: str, next_part: str | int) -> Any:
    if isinstance(node, list):
        if not isinstance(part, int) or not 0 <= part < len(node):
            raise ConfigError(f"{prefix} is a list of {len(node)} items; no item {part!r}")
        child = node[part]
        slot = (node, part)
    elif isinstance(node, dict):
        if part not in node:
            valid = ", ".join(sorted(map(str, node))) or "none"
            raise ConfigError(f"{prefix}: no key {part!r}; valid keys here: {valid}")
        child = node[part]
        slot = (node, part)
    else:
        raise ConfigError(f"{prefix} is {_kind(node)}, not a mapping with key {part!r}")
    if child is None:
        child = {}
    elif _number(child) and next_part in ("value", "source"):
        child = {"value": child}
    slot[0][slot[1]] = child
    return child


def _kind(node: Any) -> str:
    if node is None:
        return "null"
    if isinstance(node, bool):
        return "true/false"
    if isinstance(node, (int, float)):
        return "a number"
    if isinstance(node, str):
        return "a string"
    return f"a {type(node).__name__}"
