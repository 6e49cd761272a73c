"""Installs like a library: shipped data as package data, the version from the metadata, public names.

The wheel itself is built, installed into a fresh venv and used from a temporary directory by
``.ci/wheel-check`` (``make wheel-check``, run by ``.ci/run`` after ``make test``); these tests
check the pieces it relies on without building one.
"""
from __future__ import annotations

import importlib.util
import json
import runpy
from importlib.metadata import version
from pathlib import Path

import pytest
import setuptools
from click.testing import CliRunner

import neuroemu
from neuroemu.cli import main
from neuroemu.config.loader import REPO_ROOT, chip_from_data, load_workload, read_yaml, shipped_dir

#: what ships, by the repository's top-level folders (setup.py's SHIPPED must copy exactly these)
EXPECTED = sorted([f"chips/{p.name}" for p in (REPO_ROOT / "chips").glob("*.yaml")]
                  + [f"chips/{p.name}" for p in (REPO_ROOT / "chips").glob("*.graphml")]
                  + [f"workloads/{p.name}" for p in (REPO_ROOT / "workloads").glob("*.yaml")]
                  + [f"workloads/{p.name}" for p in (REPO_ROOT / "workloads").glob("*.npz")]
                  + [f"workloads/sweeps/{p.name}" for p in (REPO_ROOT / "workloads" / "sweeps").glob("*.yaml")])


def test_the_expected_files_exist():
    # the digits network, its test set and weights, the graph file and the sweeps are all there
    assert {"chips/spinnaker_hex_torus.graphml", "workloads/digits.npz", "workloads/digits_test.npz",
            "workloads/digits_weights.npz", "workloads/sweeps/truenorth_rate.yaml", "chips/truenorth.yaml"} <= set(EXPECTED)


# --- the one lookup: packaged data first, the checkout's folders in a source tree ----------------

def test_shipped_dir_prefers_the_package_data(tmp_path):
    (tmp_path / "pkg" / "chips").mkdir(parents=True)
    (tmp_path / "checkout" / "chips").mkdir(parents=True)
    assert shipped_dir("chips", tmp_path / "pkg", tmp_path / "checkout") == tmp_path / "pkg" / "chips"


def test_shipped_dir_falls_back_to_the_checkout(tmp_path):
    (tmp_path / "checkout" / "workloads").mkdir(parents=True)
    assert shipped_dir("workloads", tmp_path / "pkg", tmp_path / "checkout") == tmp_path / "checkout" / "workloads"
    # neither: the package's (missing) folder, so shipped_chips() is empty and says where it looked
    assert shipped_dir("chips", tmp_path / "pkg", tmp_path / "checkout") == tmp_path / "pkg" / "chips"


def test_this_source_tree_uses_its_top_level_folders():
    # an editable install copies nothing into the package: git holds one copy of the shipped files
    assert not (Path(neuroemu.__file__).parent / "chips").exists()
    assert shipped_dir("chips") == REPO_ROOT / "chips" and shipped_dir("workloads") == REPO_ROOT / "workloads"


# --- the build: setup.py's build_py copies the top-level folders into the package ------------------

@pytest.fixture
def build_py_cls(monkeypatch):
    """setup.py's build_py command class (setup() itself is not run)."""
    monkeypatch.setattr(setuptools, "setup", lambda **kwargs: kwargs)
    return runpy.run_path(str(REPO_ROOT / "setup.py"))["BuildPyWithShippedData"]


def _build(cls, build_lib: Path, editable: bool) -> None:
    dist = setuptools.Distribution({"name": "neuroemu", "packages": []})
    cmd = cls(dist)
    cmd.initialize_options()
    cmd.editable_mode = editable
    cmd.finalize_options()
    cmd.build_lib = str(build_lib)
    cmd.run()


def test_build_py_puts_the_shipped_files_in_the_package(build_py_cls, tmp_path):
    _build(build_py_cls, tmp_path, editable=False)
    package = tmp_path / "neuroemu"
    built = sorted(str(p.relative_to(package)) for p in package.rglob("*") if p.is_file())
    assert built == EXPECTED
    for rel in EXPECTED:
        assert (package / rel).read_bytes() == (REPO_ROOT / rel).read_bytes()
    # found there by the lookup, and usable from there: every chip, the graph file beside its chip
    chips = shipped_dir("chips", package, tmp_path / "no-checkout")
    assert chips == package / "chips"
    for path in chips.glob("*.yaml"):
        spec = chip_from_data(read_yaml(path), str(path))
        if spec.topology.custom_path:
            assert Path(spec.topology.custom_path).parent == chips.resolve()
            assert Path(spec.topology.custom_path).is_file()
    digits = load_workload(str(shipped_dir("workloads", package, tmp_path / "no-checkout") / "digits.yaml"))
    assert Path(digits.network.file).is_file() and Path(digits.network.file).parent == (package / "workloads").resolve()


def test_an_editable_build_copies_nothing(build_py_cls, tmp_path):
    _build(build_py_cls, tmp_path, editable=True)
    assert not (tmp_path / "neuroemu").exists()


def test_the_sdist_manifest_carries_the_shipped_files():
    manifest = (REPO_ROOT / "MANIFEST.in").read_text()
    assert "recursive-include chips *.yaml *.graphml" in manifest
    assert "recursive-include workloads *.yaml *.npz" in manifest  # sweeps/*.yaml included (recursive)


# --- version from the installed package's metadata -------------------------------------------------

def test_version_comes_from_the_metadata():
    assert neuroemu.__version__ == version("neuroemu")
    r = CliRunner().invoke(main, ["--version"], prog_name="anything")  # the name is neuroemu's, not the caller's
    assert r.exit_code == 0 and r.output == f"neuroemu, version {version('neuroemu')}\n"


def test_the_records_version_is_the_metadatas():
    r = CliRunner().invoke(main, ["run", "--ticks", "2", "--json", "-"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["neuroemu_version"] == version("neuroemu")


# --- public names: the functions, no modules of the same name -------------------------------------

@pytest.mark.parametrize("name", ["simulate", "sweep"])
def test_public_functions_are_not_shadowing_modules(name):
    assert callable(getattr(neuroemu, name)) and not isinstance(getattr(neuroemu, name), type(neuroemu))
    assert importlib.util.find_spec(f"neuroemu.{name}") is None
    assert not (Path(neuroemu.__file__).parent / f"{name}.py").exists()
    assert not (Path(neuroemu.__file__).parent / name).exists()


def test_the_wheel_check_is_wired_into_ci():
    ci = (REPO_ROOT / ".ci" / "run").read_text().splitlines()
    assert ci.index("make test") < ci.index("make wheel-check")
    makefile = (REPO_ROOT / "Makefile").read_text()
    assert "wheel-check:\n\tPYTHON=$(PYTHON) .ci/wheel-check" in makefile
    assert (REPO_ROOT / ".ci" / "wheel-check").stat().st_mode & 0o111


def test_a_source_tree_without_an_install_says_unknown(monkeypatch):
    import importlib
    import importlib.metadata as metadata

    import neuroemu.version as version_module

    def not_installed(name):
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(metadata, "version", not_installed)
    try:
        assert importlib.reload(version_module).__version__ == "0+unknown"
    finally:
        monkeypatch.undo()
        importlib.reload(version_module)
    assert version_module.__version__ == version("neuroemu")


def test_no_shipped_chips_says_where_it_looked(monkeypatch, tmp_path):
    import neuroemu.cli.app as cli_app
    import neuroemu.config.loader as loader
    monkeypatch.setattr(loader, "CHIPS_DIR", tmp_path / "chips")
    monkeypatch.setattr(cli_app, "CHIPS_DIR", tmp_path / "chips")
    r = CliRunner().invoke(main, ["chips"])
    assert r.exit_code == 1 and r.output.startswith(f"Error: no shipped chips found (expected *.yaml in {tmp_path / 'chips'}")


def test_a_shipped_sweep_runs_by_name_from_any_directory(monkeypatch, tmp_path):
    from neuroemu.config.loader import shipped_sweeps
    from neuroemu.studies.sweepspec import load_sweep_spec
    assert set(shipped_sweeps()) == {p.stem for p in (REPO_ROOT / "workloads" / "sweeps").glob("*.yaml")}
    monkeypatch.chdir(tmp_path)
    spec = load_sweep_spec("digits_mapping")
    assert spec.name == "digits_mapping" and spec.source == str(shipped_sweeps()["digits_mapping"])
    r = CliRunner().invoke(main, ["sweep", "no_such_sweep", "--out", str(tmp_path / "o")])
    assert r.exit_code == 1 and r.output.startswith("Error: no_such_sweep: no such file")
