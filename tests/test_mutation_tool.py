"""The mutation tool's own bookkeeping (tools/mutation.py): exact equivalence keys, stale entries
reported without stopping the run, and the module -> test selection map. No mutant is run here."""
from __future__ import annotations

import importlib.util
import io
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def tool():
    spec = importlib.util.spec_from_file_location("mutation_tool", ROOT / "tools" / "mutation.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["mutation_tool"] = module  # its dataclass looks its module up by name
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        del sys.modules["mutation_tool"]


SOURCE = "def f(a):\n    return a + 1, a - 1\n\n\ndef g(a):\n    return a + 1, a - 1\n"


def _constants(tool, source=SOURCE):
    return [m for m, _ in tool.find_mutants("demo", source) if m.kind == "constant"]


def test_an_equivalent_entry_matches_its_own_column_and_function_only(tool, monkeypatch):
    """Four '1' -> '2' mutants share one line text (two per function, at columns 15 and 22): the entry
    names one of them, and exactly that one is equivalent."""
    ms = _constants(tool)
    assert sorted((m.function, m.col) for m in ms) == [("f", 15), ("f", 22), ("g", 15), ("g", 22)]
    assert {m.text for m in ms} == {"return a + 1, a - 1"}
    monkeypatch.setattr(tool, "EQUIVALENT", {("demo", "g", "return a + 1, a - 1", 22, "1", "2"): "why"})
    hits = [(m.function, m.col) for m in ms if tool.equivalent_reason(m)]
    assert hits == [("g", 22)]


def test_equivalent_entries_whose_code_changed_are_listed_as_stale(tool, monkeypatch):
    ms = _constants(tool)
    live = ("demo", "f", "return a + 1, a - 1", 15, "1", "2")
    moved = ("demo", "f", "return a + 1, a - 1", 16, "1", "2")
    other = ("elsewhere", "f", "x = 1", 4, "1", "2")
    monkeypatch.setattr(tool, "EQUIVALENT", {live: "a", moved: "b", other: "c"})
    assert tool.stale_equivalents({"demo": ms}) == [moved]  # modules not in the run are not judged


def test_every_recorded_equivalent_key_has_six_parts_with_an_integer_column(tool):
    for key, reason in tool.EQUIVALENT.items():
        module, function, text, col, before, after = key
        assert module in tool.MODULES and isinstance(col, int) and col >= 0 and reason.strip(), key


def test_a_named_mutant_is_seeded_only_where_its_text_occurs_exactly_once(tool):
    assert tool.seed_named("a < b\n", "a < b", "a <= b") == "a <= b\n"
    assert tool.seed_named("a < c\n", "a < b", "a <= b") is None
    assert tool.seed_named("a < b; a < b\n", "a < b", "a <= b") is None


def test_a_stale_named_mutant_is_reported_and_the_run_goes_on(tool, monkeypatch, tmp_path):
    """The first entry's text is gone from its file: it is recorded 'stale' without running, the second is
    still seeded and run, and the summary counts only the one that ran and lists the stale one."""
    (tmp_path / "m.py").write_text("x = a < b\n")
    monkeypatch.setattr(tool, "make_copy", lambda: tmp_path)
    monkeypatch.setattr(tool, "check_copy_is_imported", lambda tree: None)
    monkeypatch.setattr(tool.shutil, "rmtree", lambda *a, **k: None)
    seen = []

    def fake_run(tree, selection, timeout):
        seen.append((tree / "m.py").read_text())
        return "failed", 1.0

    monkeypatch.setattr(tool, "run_tests", fake_run)
    monkeypatch.setattr(tool, "NAMED", [("m.py", "a > b", "a >= b", ["t.py"]), ("m.py", "a < b", "a <= b", ["t.py"])])
    results, out = [], io.StringIO()
    tool.run_named(results, out)
    assert seen == ["x = a <= b\n"]
    assert (tmp_path / "m.py").read_text() == "x = a < b\n"  # restored
    assert [r["status"] for r in results] == ["stale", "killed"]
    assert [json.loads(line)["status"] for line in out.getvalue().splitlines()] == ["stale", "killed"]
    table = tool.summarise(results)
    assert "| named | 1 | 1 | 0 (0) | 100% |" in table
    assert "stale m.py: 'a > b' (stale: found 0 times, not once); update NAMED" in table


def test_every_module_maps_to_its_source_and_existing_test_files(tool):
    for name, (path, selection, _functions) in tool.MODULES.items():
        assert (ROOT / path).is_file(), name
        assert selection and all((ROOT / t).is_file() for t in selection), name
