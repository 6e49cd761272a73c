"""Load chip and workload YAML files into frozen specs, with precise errors.

YAML is read with the safe loader (no Python object construction), from files
of at most :data:`MAX_FILE_BYTES`, and with a cap on alias expansion so that
"billion laughs" documents fail fast instead of eating memory. Numbers are read as
people write them: ``1e-3``, ``1E-3`` and ``-2.5e+4`` are floats (YAML 1.2), not the
strings YAML 1.1 makes of them; every reader of chip, workload and sweep files goes
through :func:`parse_yaml`, so this holds for all of them.

The shipped chips and workloads are package data (``neuroemu/chips``,
``neuroemu/workloads`` in a wheel, copied there from the repository's top-level
``chips/`` and ``workloads/`` by setup.py's build_py); :func:`shipped_dir` finds them,
falling back to the checkout's folders in a source tree (an editable install).
"""
from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from neuroemu.errors import ConfigError
from neuroemu.config.fields import Where, build
from neuroemu.config.schema import ChipSpec, WorkloadSpec

MAX_FILE_BYTES = 4 * 1024 * 1024
MAX_ALIASES = 1000
MAX_EXPANDED_NODES = 1_000_000

#: The source tree's root when the package runs from a checkout (an editable install).
REPO_ROOT = Path(__file__).resolve().parents[2]


def shipped_dir(kind: str, package: Path | None = None, checkout: Path = REPO_ROOT) -> Path:
    """The folder of the shipped ``kind`` ("chips" or "workloads"): the one lookup for both.

    The package's own data (``neuroemu/<kind>`` in an installed wheel, found through
    importlib.resources) comes first; in a source tree that folder does not exist (setup.py's
    build_py copies the top-level folder into wheels only, so git holds one copy) and the
    checkout's top-level ``<kind>/`` is used. ``package`` and ``checkout`` are for tests.
    """
    if package is None:
        root = resources.files("neuroemu")  # a Path for a package installed as folders (wheels are)
        package = root if isinstance(root, Path) else Path(str(root))
    packaged = package / kind
    if packaged.is_dir() or not (checkout / kind).is_dir():
        return packaged
    return checkout / kind


#: Where the shipped chip and workload files live (see :func:`shipped_dir`).
CHIPS_DIR = shipped_dir("chips")
WORKLOADS_DIR = shipped_dir("workloads")

DEFAULT_CHIP = "default"
DEFAULT_WORKLOAD = "default"


#: YAML 1.1's float pattern with YAML 1.2's forms added: the dot optional when an exponent follows
#: (1e-3, 1E3), the exponent's sign optional (1.5e3), a signed leading dot (-.5)
_FLOAT = re.compile(r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
                    |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
                    |[-+]?\.[0-9][0-9_]*(?:[eE][-+]?[0-9]+)?
                    |[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*
                    |[-+]?\.(?:inf|Inf|INF)
                    |\.(?:nan|NaN|NAN))$""", re.X)
_FLOAT_TAG = "tag:yaml.org,2002:float"


class _SafeLoader(yaml.SafeLoader):
    """SafeLoader that reads 1e-3 as a float and counts alias uses (refusing exponential expansion)."""

    # SafeLoader's resolvers without YAML 1.1's float pattern; ours is added below
    yaml_implicit_resolvers = {first: [(tag, rx) for tag, rx in resolvers if tag != _FLOAT_TAG]
                               for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}

    def __init__(self, stream):
        super().__init__(stream)
        self._aliases = 0

    def compose_node(self, parent, index):  # noqa: D102 - PyYAML hook
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                raise yaml.YAMLError(f"more than {MAX_ALIASES} aliases (anchors and aliases expanding exponentially?)")
        return super().compose_node(parent, index)


_SafeLoader.add_implicit_resolver(_FLOAT_TAG, _FLOAT, list("-+0123456789."))


def _expanded_size(obj: Any, memo: dict[int, int]) -> int:
    """Values in ``obj`` once every alias is expanded (shared lists and dicts counted each time)."""
    if not isinstance(obj, (list, dict)):
        return 1
    key = id(obj)
    if memo.get(key) == 0:
        raise ConfigError("a value contains itself (a recursive alias)")
    if key not in memo:
        memo[key] = 0  # marks "being counted": meeting it again below means a cycle
        items = obj.values() if isinstance(obj, dict) else obj
        memo[key] = 1 + sum(_expanded_size(v, memo) for v in items) + (len(obj) if isinstance(obj, dict) else 0)
    return memo[key]


def parse_yaml(text: str | bytes, name: str) -> Any:
    """Parse YAML text safely; any problem becomes a ConfigError naming ``name``."""
    if len(text) > MAX_FILE_BYTES:
        raise ConfigError(f"{name}: file is {len(text)} bytes, larger than the {MAX_FILE_BYTES} byte limit")
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{name}: not UTF-8 text (byte {exc.start})") from None
    try:
        data = yaml.load(text, Loader=_SafeLoader)  # noqa: S506 - _SafeLoader is a SafeLoader
        try:
            size = _expanded_size(data, {})
        except ConfigError as exc:
            raise ConfigError(f"{name}: {exc}") from None
        if size > MAX_EXPANDED_NODES:
            raise ConfigError(f"{name}: the document expands to more than {MAX_EXPANDED_NODES:,} values "
                              "(anchors and aliases expanding exponentially?)")
        return data
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1} column {mark.column + 1}:" if mark is not None else ""
        problem = getattr(exc, "problem", None) or getattr(exc, "reason", None) or str(exc)
        if getattr(exc, "position", None) is not None:
            problem = f"{problem} at character {exc.position}"
        problem = " ".join(str(problem).split())  # one line, whatever the parser said
        raise ConfigError(f"{name}:{where} malformed YAML: {problem}") from None
    except RecursionError:
        raise ConfigError(f"{name}: YAML nested too deeply") from None


def read_yaml(path: str | Path) -> Any:
    """Read and parse one YAML file (size-limited, safe)."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise ConfigError(f"{path}: file is {size} bytes, larger than the {MAX_FILE_BYTES} byte limit")
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory, not a YAML file") from None
    except OSError as exc:
        raise ConfigError(f"{str(path)[:200]}: cannot read ({exc.strerror})") from None
    except ValueError:
        raise ConfigError(f"{str(path)[:200]!r}: not a usable file name") from None
    return parse_yaml(data, str(path))


def _embedded(name: str) -> tuple[Any, str]:
    ref = resources.files("neuroemu.data").joinpath(name)
    return parse_yaml(ref.read_bytes(), f"<embedded {name}>"), f"<embedded {name}>"


def is_file(path: str | Path) -> bool:
    """Path.is_file that says False, not raises, for names no file can have (too long, NUL bytes)."""
    try:
        return Path(path).is_file()
    except (OSError, ValueError):
        return False


def exists(path: str | Path) -> bool:
    """Path.exists that says False, not raises, for names no file can have (too long, NUL bytes)."""
    try:
        return Path(path).exists()
    except (OSError, ValueError):
        return False


def shipped_chips() -> dict[str, Path]:
    """Shipped chip files by name (the stem of chips/*.yaml)."""
    if not CHIPS_DIR.is_dir():
        return {}
    return {p.stem: p for p in sorted(CHIPS_DIR.glob("*.yaml"))}


def shipped_workloads() -> dict[str, Path]:
    """Shipped workload files by name (the stem of workloads/*.yaml; the sweeps are not workloads)."""
    if not WORKLOADS_DIR.is_dir():
        return {}
    return {p.stem: p for p in sorted(WORKLOADS_DIR.glob("*.yaml"))}


def shipped_sweeps() -> dict[str, Path]:
    """Shipped sweep examples by name (the stem of workloads/sweeps/*.yaml)."""
    folder = WORKLOADS_DIR / "sweeps"
    return {p.stem: p for p in sorted(folder.glob("*.yaml"))} if folder.is_dir() else {}


def resolve_chip_path(name_or_path: str, relative_to: Path | None = None) -> Path | None:
    """The file a chip reference points to: an existing path, or a shipped chip's name.

    Returns None for the embedded default chip.
    """
    if name_or_path == DEFAULT_CHIP:
        return None
    candidates = [Path(name_or_path)]
    if relative_to is not None:
        candidates.append(relative_to / name_or_path)
    for path in candidates:
        if is_file(path):
            return path
    shipped = shipped_chips()
    if name_or_path in shipped:
        return shipped[name_or_path]
    return Path(name_or_path)  # reading it will report "no such file"


def chip_from_data(data: Any, name: str) -> ChipSpec:
    """Build a ChipSpec from already-parsed data (for sweeps and tests); a system file (a
    ``system`` section and no ``cores``) is expanded by :func:`expand_system` first."""
    if isinstance(data, dict) and "system" in data and "cores" not in data:
        data = expand_system(data, name)
    return build(ChipSpec, data, Where(name))


#: the keys of a system file (everything else comes from the chip it repeats)
SYSTEM_FILE_KEYS = ("description", "name", "notes", "system")


def expand_system(data: dict, name: str) -> dict:
    """A system file's data as the plain data of the one chip it stands for.

    The chip named by ``system.chip`` (a shipped name or a file beside the system file) is
    repeated ``grid`` times: its cores multiply, its mesh widens to ``width x gx`` by ``height x
    gy`` (chip (i, j)'s routers are the mesh's columns i*width.. and rows j*height..), and its
    static power becomes the chips' sum plus the board's, and ``link``'s energy and latency
    become those of link class ``chip`` (``energy.hop_class_pj.chip``, ``latency.hop_class_ns.chip``).
    The ``system`` section stays, with the chip's name and the link bandwidth, so :mod:`neuroemu.hardware.system` marks the links across chip edges as
    class ``chip``; the result loads again as an ordinary chip file (records and sweeps).
    """
    from neuroemu.config.fields import to_plain
    from neuroemu.config.schema import SystemSpec
    where = Where(name)
    for key in data:
        if key not in SYSTEM_FILE_KEYS:
            raise where.child(key).error(f"unknown key in a system file; valid keys here: {', '.join(SYSTEM_FILE_KEYS)}")
    if "name" not in data:
        raise where.child("name").error("is required")
    spec = build(SystemSpec, data["system"], where.child("system"))
    base_dir = Path(name).parent if name and not name.startswith("<") else None
    path = resolve_chip_path(spec.chip, base_dir)
    if path is None or not is_file(path):
        valid = ", ".join(sorted(shipped_chips())) or "none"
        raise where.child("system").child("chip").error(f"no chip of that name (not a file; shipped chips: {valid})",
                                                          spec.chip)
    raw = read_yaml(path)
    if isinstance(raw, dict) and "system" in raw:
        raise where.child("system").child("chip").error("must be one chip, not a system", spec.chip)
    base = chip_from_data(raw, str(path))
    if base.topology.kind != "mesh":
        raise where.child("system").child("chip").error(
            f"a system joins mesh chips across their edges; {base.name} is a {base.topology.kind}", spec.chip)
    gx, gy = spec.grid
    n = gx * gy
    plain = to_plain(base)
    for group in ("energy", "latency"):  # constants the chip file left at their defaults stay unset
        spec_group = getattr(base, group)
        for key, f in spec_group.__dataclass_fields__.items():
            if getattr(spec_group, key) is f.default:
                plain[group].pop(key, None)
    plain.update(name=data["name"], description=data.get("description", f"{n} x {base.name}"),
                 notes=data.get("notes", ""), cores=base.cores * n)
    plain["topology"].update(width=base.topology.width * gx, height=base.topology.height * gy)
    static, board = base.energy.static_mw, spec.board_static_mw
    unsourced = static.source is None or (board.source is None and board is not spec.__dataclass_fields__[
        "board_static_mw"].default)
    # the sum has a source only when both parts have one (validate --require-sources sees the gap)
    plain["energy"]["static_mw"] = static.value * n + board.value if unsourced else {
        "value": static.value * n + board.value,
        "source": f"{n} chips x {static.value!r} mW ({base.name}: {static.source}) "
                  f"+ board {board.value!r} mW ({board.source or 'not given'})"}
    if spec.link is None:
        raise where.child("system").child("link").error("is required (hop_pj, hop_ns, bandwidth_pkts_per_ns)")
    plain["energy"]["hop_class_pj"] = dict(plain["energy"].get("hop_class_pj") or {}, chip=to_plain(spec.link.hop_pj))
    plain["latency"]["hop_class_ns"] = dict(plain["latency"].get("hop_class_ns") or {}, chip=to_plain(spec.link.hop_ns))
    plain["system"] = {"chip": base.name, "grid": list(spec.grid),
                       "bandwidth_pkts_per_ns": spec.link.bandwidth_pkts_per_ns,
                       "board_static_mw": to_plain(spec.board_static_mw)}
    return plain


def workload_from_data(data: Any, name: str) -> WorkloadSpec:
    """Build a WorkloadSpec from already-parsed data."""
    return build(WorkloadSpec, data, Where(name))


#: network files a run takes in place of a workload file, and the network kind each is read as
NETWORK_FILE_KINDS = {".nir": "nir", ".npz": "edgelist", ".csv": "edgelist"}


def is_network_file(ref: str | Path) -> bool:
    """True for a path whose suffix names a network file (NIR graph or edge list)."""
    return Path(str(ref)).suffix.lower() in NETWORK_FILE_KINDS


def workload_for_network_file(path: str | Path, *, ticks: int | None = None, seed: int | None = None,
                              classify: str | Path | dict | None = None, **network: Any) -> WorkloadSpec:
    """A workload that runs the network in ``path`` on its own input spike trains, or classifies a data set.

    ``network`` holds the ``network`` keys (dt, exporter, neuron_reset, mapping, axon_copies,
    method, input_spikes); None values are left at their defaults (``from_`` is taken for
    ``exporter``). ``classify``: a data set (npz of rates and labels) to present sample by sample,
    or a dict of the ``classify`` keys (dataset, present_ticks, settle_ticks, samples,
    output_group). Errors name the network file.
    """
    path = Path(path)
    if not is_file(path):  # said now, not in each run a compare or sweep makes of it
        raise ConfigError(f"{path}: no such network file")
    if "from_" in network:
        network["exporter"] = network.pop("from_")
    data: dict[str, Any] = {"name": path.stem, "network": {"kind": NETWORK_FILE_KINDS[path.suffix.lower()],
                                                          "file": path.name}}
    data["network"].update({k: v for k, v in network.items() if v is not None})
    if classify is not None:
        spec = dict(classify) if isinstance(classify, dict) else {"dataset": classify}
        if isinstance(spec.get("dataset"), (str, Path)):
            # a data set named in code or on the command line is relative to the working directory
            spec["dataset"] = str(Path(spec["dataset"]).resolve())
        data["classify"] = {k: v for k, v in spec.items() if v is not None}
    if ticks is not None:
        data["ticks"] = ticks
    if seed is not None:
        data["seed"] = seed
    return workload_from_data(data, str(path))


def load_chip(ref: str | Path | None = None) -> ChipSpec:
    """Load a chip: a path, a shipped chip's name, or None / "default" for the embedded default."""
    if ref is None or str(ref) == DEFAULT_CHIP:
        data, name = _embedded("default_chip.yaml")
        return chip_from_data(data, name)
    path = resolve_chip_path(str(ref))
    if not exists(path):
        valid = ", ".join(sorted(shipped_chips())) or "none"
        raise ConfigError(f"{ref}: no such file, and no shipped chip of that name (shipped chips: {valid})")
    return chip_from_data(read_yaml(path), str(path))


def load_workload(ref: str | Path | None = None) -> WorkloadSpec:
    """Load a workload file, or the embedded default for None / "default"."""
    if ref is None or str(ref) == DEFAULT_WORKLOAD:
        data, name = _embedded("default_workload.yaml")
        return workload_from_data(data, name)
    path = Path(ref)
    if not is_file(path):
        path = shipped_workloads().get(str(ref), path)
    if not exists(path):
        valid = ", ".join(sorted(shipped_workloads())) or "none"
        raise ConfigError(f"{ref}: no such file, and no shipped workload of that name (shipped workloads: {valid})")
    return workload_from_data(read_yaml(path), str(path))


def workload_chip(workload: WorkloadSpec, workload_file: str | None) -> ChipSpec:
    """The chip a workload names; a missing one is an error naming the workload file and key."""
    if workload.chip is None:
        return load_chip(None)
    base = Path(workload_file).parent if workload_file and not workload_file.startswith("<") else None
    path = resolve_chip_path(workload.chip, base)
    if path is None:
        return load_chip(None)
    if not is_file(path):
        valid = ", ".join(sorted(shipped_chips())) or "none"
        raise ConfigError(f"{workload_file}: chip: no chip named {workload.chip!r} "
                          f"(not a file; shipped chips: {valid})")
    return chip_from_data(read_yaml(path), str(path))


def detect_kind(data: Any) -> str:
    """Guess whether parsed YAML is a chip ('chip') or a workload ('workload')."""
    if isinstance(data, dict) and ("cores" in data or "core" in data or "topology" in data or "system" in data):
        return "chip"
    return "workload"
