"""Every command README.md and docs/*.md show runs, so none goes stale (the convention: docs/README.md).

- Fenced ```console blocks: each line starting with ``$ `` is a command (a trailing backslash
  continues it on the next line); the lines below it are output and not checked.
- A command's trailing comment may begin with markers, comma-separated and ended by a colon or the
  line's end: ``slow`` (run only under ``-m slow``) and ``exit N`` (the command must end with exit
  code N through a one-line error, never a traceback; otherwise it must end with 0).
- Commands that set the environment up (``make``, ``pip``, ``git``, ``apt-get``, ``python -m pip``,
  ``python -m venv``) are shown, not run.
- Fenced ```python blocks are executed, one namespace per document.
- A fenced block right below a ``<!-- file: NAME -->`` line is written to NAME (an example file the
  commands after it use).

Each document's steps run in their order in a fresh temporary directory holding copies of the
repository's ``chips/`` and ``workloads/``, so commands that write files write there, never into the
repository. ``neuroemu ...`` commands without shell syntax run in this process through click's
CliRunner (globs expanded); any other command runs under bash with the venv's ``bin`` first on PATH.
"""
from __future__ import annotations

import glob
import os
import re
import shlex
import shutil
import subprocess
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from neuroemu.cli.app import main

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
COPIED = ("chips", "workloads", "tests/fixtures")              # what each document's temporary directory holds
NOT_RUN = ("make", "pip", "pip3", "git", "apt-get")   # set-up commands: shown, not run
NOT_RUN_MODULES = ("pip", "venv")                      # ... and `python -m pip`, `python -m venv`
SHELL = re.compile(r"[|<>;&`]|\$\(")         # what needs a real shell
FENCE = re.compile(r"^(\s*)```\s*([\w+-]*)\s*$")
FILE = re.compile(r"^<!--\s*file:\s*(\S+)\s*-->$")  # the next fenced block is written to this file
MARKER = re.compile(r"^(?:slow|exit \d+)$")


@dataclass(frozen=True)
class Step:
    """One command or Python block of a document."""
    doc: str
    line: int
    kind: str        # "console" or "python"
    text: str        # the command without its comment, or the block's code
    exit: int = 0
    slow: bool = False

    def where(self) -> str:
        return f"{self.doc}:{self.line}"


def split_comment(command: str) -> tuple[str, str]:
    """The command and its trailing shell comment (a ``#`` after whitespace, outside quotes)."""
    quote = None
    for i, ch in enumerate(command):
        if quote:
            if ch == quote:
                quote = None
            elif ch == "\\" and quote == '"':
                continue
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or command[i - 1].isspace()):
            return command[:i].rstrip(), command[i + 1:].strip()
    return command.rstrip(), ""


def markers(comment: str) -> tuple[bool, int]:
    """(slow, expected exit code) from a comment's leading markers; free text has none."""
    head = comment.split(":", 1)[0]
    parts = [p.strip() for p in head.split(",")]
    if not comment or not all(MARKER.match(p) for p in parts):
        return False, 0
    slow = "slow" in parts
    codes = [int(p.split()[1]) for p in parts if p.startswith("exit")]
    return slow, codes[-1] if codes else 0


def fenced_blocks(text: str):
    """(info string, first line number, lines, file name or None) of every fenced block of a Markdown
    text; the file name comes from a ``<!-- file: NAME -->`` line right above the block."""
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if m:
            named = FILE.match(lines[i - 1].strip()) if i else None
            info, start, body = m.group(2), i + 2, []
            i += 1
            while i < len(lines) and lines[i].strip() != "```":
                body.append(lines[i])
                i += 1
            yield info, start, body, named.group(1) if named else None
        i += 1


def steps(path: Path) -> list[Step]:
    """The commands and Python blocks of one document, in order."""
    doc = str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else path.name
    out = []
    for info, start, body, name in fenced_blocks(path.read_text()):
        if name is not None:
            out.append(Step(doc, start, "file", name + "\n" + "\n".join(body) + "\n"))
        elif info == "python":
            out.append(Step(doc, start, "python", "\n".join(body)))
        elif info == "console":
            j = 0
            while j < len(body):
                line = body[j].strip()
                if not line.startswith("$ "):
                    j += 1
                    continue
                first, command = start + j, line[2:]
                while command.endswith("\\") and j + 1 < len(body):
                    j += 1
                    command = command[:-1].rstrip() + " " + body[j].strip()
                command, comment = split_comment(command)
                slow, code = markers(comment)
                out.append(Step(doc, first, "console", command, code, slow))
                j += 1
    return out


def _not_run(command: str) -> bool:
    """A command that sets the environment up (installs, builds, clones): shown, not run."""
    words = [w for w in shlex.split(command) if not re.match(r"^[A-Za-z_]\w*=", w)] or [""]
    first = Path(words[0]).name
    if first.startswith("python") and words[1:2] == ["-m"] and len(words) > 2:
        return words[2] in NOT_RUN_MODULES
    return first in NOT_RUN


def _workdir(tmp: Path) -> Path:
    for name in COPIED:
        shutil.copytree(ROOT / name, tmp / name, ignore=shutil.ignore_patterns("__pycache__"))
    return tmp


def _run_console(step: Step, cwd: Path) -> tuple[int, str]:
    words = shlex.split(step.text)
    env = {}
    while words and re.match(r"^[A-Za-z_]\w*=", words[0]):
        key, value = words.pop(0).split("=", 1)
        env[key] = value
    if words and words[0] == "neuroemu" and not SHELL.search(step.text):
        args = []
        for w in words[1:]:
            found = sorted(glob.glob(w)) if glob.has_magic(w) else []
            args.extend(found or [w])
        result = CliRunner().invoke(main, args, env=env, catch_exceptions=True)
        output = result.output
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            output += "".join(traceback.format_exception(result.exception))
            return -1, output  # a traceback is never the documented outcome
        return result.exit_code, output
    run_env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    proc = subprocess.run(["bash", "-c", step.text], cwd=cwd, env=run_env, capture_output=True, text=True,
                          timeout=600)
    return proc.returncode, proc.stdout + proc.stderr


def _run(doc: Path, tmp: Path, monkeypatch, include_slow: bool) -> int:
    cwd = _workdir(tmp)
    monkeypatch.chdir(cwd)
    namespace: dict = {"__name__": "__docs__"}
    ran = 0
    for step in steps(doc):
        if step.slow and not include_slow:
            continue
        if step.kind == "file":
            name, text = step.text.split("\n", 1)
            assert not Path(name).is_absolute() and ".." not in Path(name).parts, f"{step.where()}: {name}"
            (cwd / name).parent.mkdir(parents=True, exist_ok=True)
            (cwd / name).write_text(text)
            continue
        if step.kind == "python":
            try:
                exec(compile(step.text, step.where(), "exec"), namespace)
            except Exception:
                pytest.fail(f"{step.where()}: the Python block fails:\n{traceback.format_exc()}")
        elif _not_run(step.text):
            continue
        else:
            code, output = _run_console(step, cwd)
            assert code == step.exit, (f"{step.where()}: `{step.text}` exited {code}, the doc says {step.exit}"
                                       f"\n{output[-3000:]}")
        ran += 1
    return ran


def _docs_with(pred) -> list[Path]:
    return [d for d in DOCS if any(pred(s) for s in steps(d))]


@pytest.mark.parametrize("doc", _docs_with(lambda s: not s.slow), ids=lambda p: p.name)
def test_documented_commands_run(doc, tmp_path, monkeypatch):
    assert _run(doc, tmp_path, monkeypatch, include_slow=False) > 0


@pytest.mark.slow
@pytest.mark.parametrize("doc", _docs_with(lambda s: s.slow), ids=lambda p: p.name)
def test_documented_slow_commands_run(doc, tmp_path, monkeypatch):
    assert _run(doc, tmp_path, monkeypatch, include_slow=True) > 0
    if doc.name == "README.md":
        # the README's figures are the table `neuroemu reproduce --markdown table.md` just wrote
        assert _tables(tmp_path / "table.md") == _tables(doc, "| chip | figure |", "| rate (Hz) |")


def _tables(path: Path, *headers: str) -> list[list[str]]:
    """The Markdown tables of a file (those starting with one of ``headers``, if given), row by row."""
    tables, current = [], None
    for line in path.read_text().splitlines():
        if line.startswith("|"):
            if current is None:
                current = [] if not headers or line.startswith(headers) else None
                if current is None:
                    continue
                tables.append(current)
            current.append(line.strip())
        else:
            current = None
    return tables


def test_no_command_hides_outside_the_convention():
    # a command in a ```sh block, an unlabelled block or an indented block would never be run
    bad = []
    for doc in DOCS:
        text = doc.read_text()
        for info, start, body, _ in fenced_blocks(text):
            if info in ("sh", "bash", "shell", "zsh", "console-session"):
                bad.append(f"{doc.name}:{start - 1}: a ```{info} block (use ```console and `$ `)")
            elif info not in ("console", "python") and any(
                    ln.lstrip().startswith(("neuroemu ", "$ ")) for ln in body):
                bad.append(f"{doc.name}:{start - 1}: commands in a ```{info or '(unlabelled)'} block")
        fenced = set()
        for info, start, body, _ in fenced_blocks(text):
            fenced.update(range(start, start + len(body)))
        for n, line in enumerate(text.splitlines(), 1):
            if n not in fenced and re.match(r"^ {4,}(\$ )?neuroemu ", line):
                bad.append(f"{doc.name}:{n}: an indented command (use ```console and `$ `)")
    assert not bad, "\n".join(bad)


def test_every_document_is_linked_from_the_readme():
    readme = (ROOT / "README.md").read_text()
    missing = [d.name for d in DOCS[1:] if f"docs/{d.name}" not in readme]
    assert not missing, f"docs not linked from README.md: {missing}"


def _anchors(path: Path) -> set[str]:
    """GitHub's anchors of a Markdown file's headings."""
    out = set()
    for line in path.read_text().splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            out.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
    return out


def test_links_between_the_docs_resolve():
    # a moved section must not leave a link pointing at nothing
    bad = []
    for doc in DOCS:
        for target in re.findall(r"\]\(([^)\s]+)\)", doc.read_text()):
            if re.match(r"^[a-z]+:", target):
                continue
            file, _, anchor = target.partition("#")
            path = (doc.parent / file).resolve() if file else doc
            if not path.exists():
                bad.append(f"{doc.name}: {target}: no such file")
            elif anchor and path.suffix == ".md" and anchor not in _anchors(path):
                bad.append(f"{doc.name}: {target}: no such heading")
    assert not bad, "\n".join(bad)


def test_the_readme_stays_short():
    assert len((ROOT / "README.md").read_text().splitlines()) <= 320


def test_the_reader_of_the_convention(tmp_path):
    # the parser itself: markers, continuation lines, '#' inside quotes, output lines, python blocks
    md = tmp_path / "x.md"
    md.write_text("\n".join([
        "text", "```console", "$ neuroemu run --ticks 5   # the default: 16 cores",
        "chip   default", "$ neuroemu run nochip   # exit 1: no such chip",
        "$ neuroemu reproduce \\", "    --markdown t.md   # slow, exit 2", "$ echo '# not a comment'",
        "$ make test", "```", "```python", "x = 1", "```", "```text", "neuroemu shown, not run", "```",
        "<!-- file: sub/c.yaml -->", "```yaml", "name: c", "```", ""]))
    got = [(s.kind, s.text, s.exit, s.slow) for s in steps(md)]
    assert got == [("console", "neuroemu run --ticks 5", 0, False),
                   ("console", "neuroemu run nochip", 1, False),
                   ("console", "neuroemu reproduce --markdown t.md", 2, True),
                   ("console", "echo '# not a comment'", 0, False),
                   ("console", "make test", 0, False),
                   ("python", "x = 1", 0, False),
                   ("file", "sub/c.yaml\nname: c\n", 0, False)]
    assert _not_run("make test") and not _not_run("neuroemu run")
    assert _not_run(".venv/bin/pip install -e .") and _not_run("CI=true make test")
    assert _not_run("python3 -m venv .venv") and not _not_run("python -m neuroemu.cli run")

