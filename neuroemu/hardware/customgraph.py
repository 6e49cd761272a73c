"""User router graphs read from a CSV edge list or a GraphML file (``topology.kind: custom``).

:func:`load_custom_graph` reads and checks the file (every error names the file, the line or node
and the rule) and returns the directed router graph with per-link attributes;
:mod:`neuroemu.hardware.topology` compiles its routes into tables.
"""
from __future__ import annotations

import csv
import math
import numbers
from typing import Mapping

import networkx as nx

from neuroemu.errors import ConfigError

__all__ = ["CSV_COLUMNS", "is_int", "is_real", "load_custom_graph"]


def is_int(v) -> bool:
    """An integer that is not a bool."""
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def is_real(v) -> bool:
    """A finite real number that is not a bool."""
    return isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v)


#: the columns of a CSV router graph (src, dst, then per-link attributes)
CSV_COLUMNS = ("src", "dst", "length_mm", "latency_ps", "energy_pj", "bandwidth", "cls")
_NODE_ATTRS = ("cores", "x", "y", "level", "label")


def _edge_attrs(raw: Mapping, where: str) -> dict:
    """Check and convert one link's attributes (strings from CSV, typed values from GraphML)."""
    out = {}
    for key, v in raw.items():
        if key in ("src", "dst", "id"):
            continue
        if key not in CSV_COLUMNS:
            raise ConfigError(f"{where}: unknown link attribute {key!r}; valid: {', '.join(CSV_COLUMNS[2:])}")
        if key == "cls":
            if str(v).strip() == "":
                raise ConfigError(f"{where}: cls must be a non-empty name; got {v!r}")
            out[key] = str(v).strip()
            continue
        try:
            num = float(v)
        except (TypeError, ValueError):
            num = math.nan
        if key == "latency_ps":
            if not (math.isfinite(num) and num == int(num) and num >= 1):
                raise ConfigError(f"{where}: latency_ps must be an integer >= 1 (picoseconds); got {v!r}")
            out[key] = int(num)
        elif key == "bandwidth":
            if not (math.isfinite(num) and num > 0):
                raise ConfigError(f"{where}: bandwidth must be a finite number > 0 (packets/ns); got {v!r}")
            out[key] = num
        else:
            if not (math.isfinite(num) and num >= 0):
                raise ConfigError(f"{where}: {key} must be a finite number >= 0; got {v!r}")
            out[key] = num
    return out


def _read_csv(path: str):
    with open(path, newline="") as f:
        rows = [(i, [c.strip() for c in row]) for i, row in enumerate(csv.reader(f), 1)]
    rows = [(i, cells) for i, cells in rows if any(cells) and not cells[0].startswith("#")]
    columns = CSV_COLUMNS
    if rows and [c.lower() for c in rows[0][1][:2]] == ["src", "dst"]:
        columns = tuple(c.lower() for c in rows[0][1])
        bad = [c for c in columns if c not in CSV_COLUMNS] or [c for c in columns if columns.count(c) > 1]
        if bad:
            raise ConfigError(f"{path} line {rows[0][0]}: header column {bad[0]!r} unknown or repeated; "
                              f"valid: {', '.join(CSV_COLUMNS)}")
        rows = rows[1:]
    edges = []
    for lineno, cells in rows:
        where = f"{path} line {lineno}"
        if len(cells) > len(columns) or len(cells) < 2 or not cells[0] or not cells[1]:
            raise ConfigError(f"{where}: expected src,dst and at most {len(columns)} fields "
                              f"({', '.join(columns)}); got {','.join(cells)!r}")
        rec = {name: cell for name, cell in zip(columns, cells) if cell != ""}
        edges.append((rec["src"], rec["dst"], _edge_attrs(rec, where), True))
    labels = list(dict.fromkeys(lab for s, d, _, _ in edges for lab in (s, d)))
    return labels, {}, edges


def _read_graphml(path: str):
    try:
        g = nx.read_graphml(path)
    except Exception as exc:  # networkx raises several types for malformed XML
        raise ConfigError(f"{path}: not a readable GraphML file ({exc})") from None
    if g.is_multigraph():
        raise ConfigError(f"{path}: parallel links between the same two routers are not allowed")
    edges = list(g.edges(data=True))
    ids = [a.get("id") for _, _, a in edges]
    if g.is_directed() and all(is_int(i) for i in ids) and sorted(ids) == list(range(len(ids))):
        edges.sort(key=lambda e: e[2]["id"])  # keep the link ids of a file we wrote
    out = []
    for s, d, a in edges:
        out.append((str(s), str(d), _edge_attrs(a, f"{path} link {s}->{d}"), not g.is_directed()))
    nodes = {}
    for v, a in g.nodes(data=True):
        bad = [k for k in a if k not in _NODE_ATTRS]
        if bad:
            raise ConfigError(f"{path} node {v}: unknown attribute {bad[0]!r}; valid: {', '.join(_NODE_ATTRS)}")
        nodes[str(v)] = a
    return [str(v) for v in g.nodes], nodes, out


def load_custom_graph(path: str) -> nx.DiGraph:
    """Read a custom router graph (CSV edge list or GraphML) into a checked networkx.DiGraph.

    CSV: rows ``src,dst[,length_mm,latency_ps,energy_pj,bandwidth,cls]``, an optional header row
    naming those columns (any order, src and dst required), ``#`` comments; each row is one
    *bidirectional* physical link (two directed links with the same attributes). CSV has no node
    attributes. GraphML: a directed graph's edges are directed links, an undirected graph's edges
    bidirectional; edge attributes as for CSV; node attributes ``cores`` (int, default 0), ``x``,
    ``y`` (mm) and ``level``. Edge ``energy_pj`` is the link's whole per-packet energy.
    Routers are numbered by label when every label is an integer, else in order of appearance;
    the result has nodes 0..n-1 (attribute ``label``) and edges with ``id`` in link order.
    """
    path = str(path)
    suffix = path.lower().rsplit(".", 1)[-1]
    if suffix not in ("csv", "graphml", "xml"):
        raise ConfigError(f"topology.custom_path: must end in .csv or .graphml; got {path!r}")
    try:
        labels, nodes, edges = (_read_csv if suffix == "csv" else _read_graphml)(path)
    except OSError as exc:
        raise ConfigError(f"topology.custom_path: cannot read {path!r} ({exc.strerror})") from None
    if not labels:
        raise ConfigError(f"{path}: the graph has no routers")
    try:
        labels.sort(key=lambda lab: int(lab))
    except ValueError:
        pass
    number = {lab: i for i, lab in enumerate(labels)}
    g = nx.DiGraph()
    for i, lab in enumerate(labels):
        g.add_node(i, label=lab, **{k: v for k, v in nodes.get(lab, {}).items() if k != "label"})
    for s, d, attrs, both in edges:
        for a, b in ((s, d), (d, s)) if both else ((s, d),):
            if a == b:
                raise ConfigError(f"{path}: link {a}->{b} is a self-loop; links join two different routers")
            if g.has_edge(number[a], number[b]):
                raise ConfigError(f"{path}: duplicate link {a}->{b}; each directed link may appear once")
            g.add_edge(number[a], number[b], id=g.number_of_edges(), **attrs)
    return g
