"""Networks as edge lists (``.npz`` or CSV) and spike trains as ``.npz``, for import and export.

``.npz`` (lossless; what :func:`save_network` writes): the arrays of
:class:`neuroemu.networks.graph.Network` under their own names --

- edges: ``src``, ``dst``, ``weight`` (required); ``delay`` (ticks, default 1); ``src_input``
  (0/1: ``src`` is an input id, default 0); ``syn_type`` (the synaptic current it feeds, default 0);
- ``syn_i_decay``: one current decay per synapse type (needed when ``syn_type`` uses types > 0);
- neurons, one value per neuron: ``decay`` (default 1), ``i_decay`` (0), ``threshold`` (1;
  ``inf`` never fires), ``v_reset`` (0), ``bias`` (0), ``i_bias`` (0), ``reset_subtract`` (0),
  ``refractory`` (ticks, 0), ``v_init`` (0), ``u_init`` (0), ``v_min`` (-inf: no floor), ``core``
  (-1: not given; read by mapping ``given``);
  the neuron count N is their length, else the scalar ``n_neurons``, else the largest neuron
  id in ``src``/``dst`` plus one;
- inputs: ``input_times``, ``input_ids`` (the spike trains), scalar ``n_inputs`` (default: the
  largest input id used plus one);
- ``outputs`` (neuron ids), ``name`` (a string); groups: ``group_names``, ``group_sizes``,
  ``group_models`` and ``input_group_names``, ``input_group_sizes`` (default: one group
  ``neurons`` and one ``inputs``).

An array of another name is an error (a typo must not be ignored). Every error is a
:class:`~neuroemu.errors.ConfigError` naming the file, the array (or CSV line and column) and
the rule, e.g. ``net.npz: dst: ids must be < 300 neurons (got 412)``.

CSV (lossy, for hand-written or spreadsheet networks): ``NAME.csv`` holds the edges with a
header naming the columns ``src,dst,weight`` and optionally ``delay``, ``src_input``, ``syn_type``; beside
it, optional ``NAME.neurons.csv`` (one row per neuron in id order; columns among the neuron
arrays above plus ``group`` and ``model``, neurons of a group in consecutive rows) and
``NAME.inputs.csv`` (columns ``time,id``: the input spike trains) and ``NAME.syntypes.csv``
(column ``i_decay``, one row per synapse type: ``syn_i_decay``). CSV does not keep input group
names or ``outputs``. docs/network-fields.md describes every field.

Spike trains out: ``.npz`` with int64 ``times`` and ``ids`` (sparse, never a dense matrix)
plus any extra arrays given (e.g. ``ticks``).
"""
from __future__ import annotations

import csv
import os
import zipfile
from pathlib import Path

import numpy as np

from neuroemu.errors import ConfigError
from neuroemu.networks.graph import MODELS, Group, Network
from neuroemu.networks.sizes import check_edge_arrays, check_npz_headers
from neuroemu.networks.fields import (EDGE_TYPE_FIELDS, FIELD_DEFAULTS, FIELD_KINDS, NEURON_STATE_FIELDS)
from neuroemu.networks.fields import EDGE_FIELDS as _EDGE_PARAMS, NEURON_FIELDS as _NEURON_PARAMS

#: every per-edge and per-neuron array of the format, in file order
EDGE_FIELDS = _EDGE_PARAMS + EDGE_TYPE_FIELDS
NEURON_FIELDS = _NEURON_PARAMS + NEURON_STATE_FIELDS

__all__ = ["load_network", "save_network", "load_npz", "save_npz", "load_csv", "save_csv",
           "save_spikes", "load_spikes"]

NEURON_DEFAULTS = {"decay": 1.0, "i_decay": 0.0, "threshold": 1.0, "v_reset": 0.0, "bias": 0.0,
                   "i_bias": 0.0, "reset_subtract": False,
                   **{k: v for k, v in FIELD_DEFAULTS.items() if k in NEURON_STATE_FIELDS}}
_SCALARS = ("n_neurons", "n_inputs", "name", "format")
_OTHER = ("input_times", "input_ids", "outputs", "group_names", "group_sizes", "group_models",
          "input_group_names", "input_group_sizes", "syn_i_decay")
VALID_ARRAYS = tuple(EDGE_FIELDS) + tuple(NEURON_FIELDS) + _OTHER + _SCALARS
FORMAT = "neuroemu-netgraph-1"


def _where(path) -> str:
    return os.fspath(path)


def _scalar(where: str, data: dict, key: str, kind: type):
    a = data[key]
    if a.ndim != 0:
        raise ConfigError(f"{where}: {key}: must be a single value (got shape {a.shape})")
    try:
        return kind(a.item())
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: {key}: must be {kind.__name__} (got {a.item()!r})") from None


def _groups(where: str, names, sizes, models, n: int, default: str, what: str) -> tuple[Group, ...]:
    if names is None:
        if sizes is not None:
            raise ConfigError(f"{where}: {what}group_sizes: given without {what}group_names")
        return (Group(default, 0, n, "input" if what else "LIF"),) if n or what == "" else ()
    names = [str(x) for x in np.asarray(names).ravel()]
    if sizes is None:
        raise ConfigError(f"{where}: {what}group_names: needs {what}group_sizes beside it")
    sizes = np.asarray(sizes).ravel()
    if len(sizes) != len(names) or (sizes.size and sizes.dtype.kind not in "iu"):
        raise ConfigError(f"{where}: {what}group_sizes: needs one integer size per name ({len(names)}) "
                          f"(got {len(sizes)} of dtype {sizes.dtype})")
    models = ["input" if what else "LIF"] * len(names) if models is None else [str(x) for x in
                                                                               np.asarray(models).ravel()]
    if len(models) != len(names):
        raise ConfigError(f"{where}: group_models: needs one model per group ({len(names)}) (got {len(models)})")
    out, start = [], 0
    for name, size, model in zip(names, sizes, models):
        out.append(Group(name, start, int(size), model))
        start += int(size)
    return tuple(out)


def network_from_arrays(data: dict, where: str, name: str | None = None) -> Network:
    """Build and validate a :class:`Network` from named arrays (the ``.npz`` layout)."""
    unknown = sorted(set(data) - set(VALID_ARRAYS))
    if unknown:
        raise ConfigError(f"{where}: {unknown[0]}: unknown array; valid: {', '.join(VALID_ARRAYS)}")
    for key in ("src", "dst", "weight"):
        if key not in data:
            raise ConfigError(f"{where}: {key}: missing (required arrays: src, dst, weight)")
    arrays = {k: np.asarray(v) for k, v in data.items()}
    for key in tuple(EDGE_FIELDS) + tuple(NEURON_FIELDS) + _OTHER:
        if key in arrays and arrays[key].ndim != 1:
            raise ConfigError(f"{where}: {key}: must be a 1-d array (got shape {arrays[key].shape})")
    e = len(arrays["src"])
    edges = {"src": arrays["src"], "dst": arrays["dst"], "weight": arrays["weight"],
             "delay": arrays.get("delay", np.ones(e, np.int64)),
             "src_input": arrays.get("src_input", np.zeros(e, bool)), "syn_type": arrays.get("syn_type")}
    src_input = np.asarray(edges["src_input"])
    if src_input.shape != (e,):
        raise ConfigError(f"{where}: src_input: needs one value per edge ({e}) (got {src_input.shape[0]})")
    src_input = src_input.astype(bool) if src_input.dtype.kind in "biu" else src_input
    check_edge_arrays(where, arrays, src_input)  # ids beyond any chip or the memory: refused before allocating
    present = [k for k in NEURON_FIELDS if k in arrays]
    if present:
        n = len(arrays[present[0]])
    elif "n_neurons" in arrays:
        n = _scalar(where, arrays, "n_neurons", int)
    else:  # only edges: the neurons are the ones the edges name
        ids = [np.asarray(edges["dst"]).astype(np.int64, copy=False)]
        if src_input.dtype == bool:
            ids.append(np.asarray(edges["src"])[~src_input].astype(np.int64, copy=False))
        n = int(max((int(x.max()) for x in ids if x.size), default=-1)) + 1
    neurons = {k: arrays.get(k, np.full(n, NEURON_DEFAULTS[k])) for k in NEURON_FIELDS}
    if "n_inputs" in arrays:
        n_in = _scalar(where, arrays, "n_inputs", int)
    else:
        used = []
        if src_input.dtype == bool and src_input.any():
            used.append(int(np.asarray(edges["src"])[src_input].max()))
        if arrays.get("input_ids") is not None and arrays["input_ids"].size:
            used.append(int(arrays["input_ids"].max()))
        n_in = max(used, default=-1) + 1
    groups = _groups(where, arrays.get("group_names"), arrays.get("group_sizes"), arrays.get("group_models"),
                     n, "neurons", "")
    in_groups = _groups(where, arrays.get("input_group_names"), arrays.get("input_group_sizes"), None,
                        n_in, "inputs", "input_")
    if "name" in arrays:
        name = _scalar(where, arrays, "name", str)
    return Network(groups=groups, input_groups=in_groups, **neurons, **edges,
                   syn_i_decay=arrays.get("syn_i_decay"), input_times=arrays.get("input_times", np.empty(0, np.int64)),
                   input_ids=arrays.get("input_ids", np.empty(0, np.int64)),
                   outputs=arrays.get("outputs", np.empty(0, np.int64)),
                   name=name or Path(where).stem, where=where)


def read_npz(path, where: str) -> dict[str, np.ndarray]:
    """Every array of an ``.npz`` file (no pickles); a missing or unreadable file is a ConfigError."""
    check_npz_headers(path, where)
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except FileNotFoundError:
        raise ConfigError(f"{where}: no such file") from None
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as exc:
        raise ConfigError(f"{where}: not a readable .npz file ({exc})") from None


def load_npz(path) -> Network:
    """Read a network from ``.npz`` (module docstring); errors name the file and the array."""
    where = _where(path)
    data = read_npz(path, where)
    fmt = data.pop("format", None)
    if fmt is not None and str(fmt) != FORMAT:
        raise ConfigError(f"{where}: format: this reader knows {FORMAT!r} (got {str(fmt)!r})")
    return network_from_arrays(data, where)


def network_arrays(network: Network) -> dict[str, np.ndarray]:
    """The network as the named arrays of the ``.npz`` layout."""
    out = {f: getattr(network, f) for f in EDGE_FIELDS + NEURON_FIELDS}
    out.update(input_times=network.input_times, input_ids=network.input_ids, outputs=network.outputs,
               n_neurons=np.array(network.n_neurons), n_inputs=np.array(network.n_inputs),
               name=np.array(network.name), format=np.array(FORMAT),
               group_names=np.array([g.name for g in network.groups], dtype=str),
               group_sizes=np.array([g.size for g in network.groups], np.int64),
               group_models=np.array([g.model for g in network.groups], dtype=str),
               input_group_names=np.array([g.name for g in network.input_groups], dtype=str),
               input_group_sizes=np.array([g.size for g in network.input_groups], np.int64))
    if network.syn_i_decay is not None:
        out["syn_i_decay"] = network.syn_i_decay
    return out


def save_npz(network: Network, path) -> None:
    """Write the network losslessly as ``.npz`` (compressed)."""
    np.savez_compressed(path, **network_arrays(network))


# --- CSV -----------------------------------------------------------------------------------

def _sidecar(path, kind: str) -> Path:
    p = Path(path)
    return p.with_name(p.name[:-len(".csv")] + f".{kind}.csv" if p.name.endswith(".csv") else p.name + f".{kind}.csv")


def _parse(where: str, line: int, col: str, text: str, kind: str):
    text = text.strip()
    try:
        if kind == "int":
            return int(text)
        if kind == "float":
            return float(text)
        if kind == "bool":
            low = text.lower()
            if low in ("1", "true", "yes"):
                return True
            if low in ("0", "false", "no", ""):
                return False
            raise ValueError
        return text
    except ValueError:
        rule = {"int": "an integer", "float": "a number", "bool": "0/1 or true/false"}[kind]
        raise ConfigError(f"{where}: line {line}: {col}: must be {rule} (got {text!r})") from None


def _read_csv(path, columns: dict[str, str], required: tuple[str, ...]) -> dict[str, list]:
    where = _where(path)
    try:
        f = open(path, newline="")
    except FileNotFoundError:
        raise ConfigError(f"{where}: no such file") from None
    with f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None:
            raise ConfigError(f"{where}: empty file; needs a header line naming the columns "
                              f"({', '.join(required)} ...)")
        header = [h.strip() for h in header]
        for h in header:
            if h not in columns:
                raise ConfigError(f"{where}: line 1: {h!r}: unknown column; valid: {', '.join(columns)}")
        for r in required:
            if r not in header:
                raise ConfigError(f"{where}: line 1: {r}: missing column (required: {', '.join(required)})")
        out = {h: [] for h in header}
        for line, row in enumerate(reader, start=2):
            if not row or all(not c.strip() for c in row):
                continue
            if len(row) != len(header):
                raise ConfigError(f"{where}: line {line}: needs {len(header)} values (the header's columns) "
                                  f"(got {len(row)})")
            for h, text in zip(header, row):
                out[h].append(_parse(where, line, h, text, columns[h]))
    return out


def load_csv(path, *, neurons=None, inputs=None) -> Network:
    """Read edges from CSV, with neuron parameters and input spikes from the sidecar files.

    ``neurons`` / ``inputs``: paths of the sidecars (default ``NAME.neurons.csv`` /
    ``NAME.inputs.csv`` beside ``path``, used when they exist). Missing neuron parameters take
    the defaults of the module docstring.
    """
    where = _where(path)
    edge_cols = {f: FIELD_KINDS[f] for f in EDGE_FIELDS}
    data = {k: np.asarray(v) for k, v in _read_csv(path, edge_cols, ("src", "dst", "weight")).items()}
    neurons = _sidecar(path, "neurons") if neurons is None and _sidecar(path, "neurons").exists() else neurons
    inputs = _sidecar(path, "inputs") if inputs is None and _sidecar(path, "inputs").exists() else inputs
    if neurons is not None:
        cols = {k: FIELD_KINDS.get(k, "float") for k in NEURON_FIELDS}
        cols.update(group="str", model="str")
        rows = _read_csv(neurons, cols, ())
        groups, models = rows.pop("group", None), rows.pop("model", None)
        n = len(next(iter(rows.values()))) if rows else len(groups or models or [])
        for k, v in rows.items():
            data[k] = np.asarray(v, {"bool": bool, "int": np.int64}.get(cols[k], np.float64))
        data["n_neurons"] = np.array(n)
        if groups is not None:
            names, sizes, gmodels = _runs(_where(neurons), groups, models)
            data.update(group_names=np.array(names), group_sizes=np.array(sizes, np.int64),
                        group_models=np.array(gmodels))
        elif models is not None:
            raise ConfigError(f"{_where(neurons)}: model: needs a group column beside it")
    if inputs is not None:
        rows = _read_csv(inputs, {"time": "int", "id": "int"}, ("time", "id"))
        data["input_times"] = np.asarray(rows["time"], np.int64)
        data["input_ids"] = np.asarray(rows["id"], np.int64)
    types = _sidecar(path, "syntypes")
    if types.exists():
        data["syn_i_decay"] = np.asarray(_read_csv(types, {"i_decay": "float"}, ("i_decay",))["i_decay"], np.float64)
    return network_from_arrays(data, where)


def _runs(where: str, groups: list[str], models: list[str] | None):
    names, sizes, gmodels = [], [], []
    for k, g in enumerate(groups):
        if names and names[-1] == g:
            sizes[-1] += 1
            if models is not None and models[k] != gmodels[-1]:
                raise ConfigError(f"{where}: line {k + 2}: model: one model per group ({g!r} is "
                                  f"{gmodels[-1]!r}) (got {models[k]!r})")
            continue
        if g in names:
            raise ConfigError(f"{where}: line {k + 2}: group: the neurons of group {g!r} must be in "
                              "consecutive rows")
        model = models[k] if models is not None else "LIF"
        if model not in MODELS:
            raise ConfigError(f"{where}: line {k + 2}: model: must be one of {', '.join(MODELS)} (got {model!r})")
        names.append(g)
        sizes.append(1)
        gmodels.append(model)
    return names, sizes, gmodels


def save_csv(network: Network, path) -> list[Path]:
    """Write ``NAME.csv`` (edges), ``NAME.neurons.csv`` and, with input spikes, ``NAME.inputs.csv``.

    Weights and parameters are written with ``repr`` precision, so they read back exactly.
    Returns the paths written.
    """
    path = Path(path)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(EDGE_FIELDS)
        for row in zip(network.src.tolist(), network.dst.tolist(), map(repr, network.weight.tolist()),
                       network.delay.tolist(), network.src_input.astype(int).tolist(), network.syn_type.tolist()):
            w.writerow(row)
    written = [path]
    npath = _sidecar(path, "neurons")
    with open(npath, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(("group", "model") + NEURON_FIELDS)
        cols = [getattr(network, k) for k in NEURON_FIELDS]
        gi = network.group_index()
        for j in range(network.n_neurons):
            g = network.groups[gi[j]]
            w.writerow([g.name, g.model] + [repr(float(c[j])) if c.dtype.kind == "f" else int(c[j]) for c in cols])
    written.append(npath)
    if network.syn_i_decay is not None:
        tpath = _sidecar(path, "syntypes")
        with open(tpath, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(("i_decay",))
            w.writerows((repr(float(x)),) for x in network.syn_i_decay)
        written.append(tpath)
    if network.input_times.size:
        ipath = _sidecar(path, "inputs")
        with open(ipath, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(("time", "id"))
            w.writerows(zip(network.input_times.tolist(), network.input_ids.tolist()))
        written.append(ipath)
    return written


# --- dispatch and spike trains ---------------------------------------------------------------

def load_network(path) -> Network:
    """Read a network from ``.npz`` or ``.csv`` (by the file's suffix)."""
    suffix = Path(path).suffix.lower()
    if suffix == ".npz":
        return load_npz(path)
    if suffix == ".csv":
        return load_csv(path)
    raise ConfigError(f"{_where(path)}: unknown network file type {suffix!r}; valid: .npz, .csv")


def save_network(network: Network, path) -> None:
    """Write a network as ``.npz`` or ``.csv`` (by the file's suffix)."""
    suffix = Path(path).suffix.lower()
    if suffix == ".npz":
        save_npz(network, path)
    elif suffix == ".csv":
        save_csv(network, path)
    else:
        raise ConfigError(f"{_where(path)}: unknown network file type {suffix!r}; valid: .npz, .csv")


def save_spikes(path, times, ids=None, **extra) -> None:
    """Write spike trains as ``.npz`` with int64 ``times`` and ``ids`` plus ``extra`` arrays.

    ``times`` may also be anything with ``times`` and ``ids`` attributes (a
    :class:`~neuroemu.networks.graph.ReferenceRun`).
    """
    if ids is None:
        times, ids = times.times, times.ids
    times, ids = np.asarray(times, np.int64), np.asarray(ids, np.int64)
    if times.shape != ids.shape or times.ndim != 1:
        raise ConfigError(f"{_where(path)}: times, ids: need equal 1-d lengths (got {times.shape}, {ids.shape})")
    np.savez_compressed(path, times=times, ids=ids, **{k: np.asarray(v) for k, v in extra.items()})


def load_spikes(path) -> tuple[np.ndarray, np.ndarray]:
    """Read ``(times, ids)`` from a spike-train ``.npz``; errors name the file and the array."""
    where = _where(path)
    data = read_npz(path, where)
    for key in ("times", "ids"):
        if key not in data:
            raise ConfigError(f"{where}: {key}: missing (a spike file holds times and ids)")
        if data[key].ndim != 1 or (data[key].size and data[key].dtype.kind not in "iu"):
            raise ConfigError(f"{where}: {key}: must be a 1-d integer array "
                              f"(got shape {data[key].shape}, dtype {data[key].dtype})")
    if len(data["times"]) != len(data["ids"]):
        raise ConfigError(f"{where}: ids: needs one id per time ({len(data['times'])}) (got {len(data['ids'])})")
    return data["times"].astype(np.int64), data["ids"].astype(np.int64)
