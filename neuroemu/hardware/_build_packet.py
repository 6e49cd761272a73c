"""cffi (API mode) build script for the packet network's hot loop ``neuroemu.hardware._packet``.

Imports only cffi and the standard library (it runs inside the build, before neuroemu exists).
The cdef is packet.h with its preprocessor lines removed, so the header stays the one source of
truth. setup.py names this file in ``cffi_modules``; running it directly
(``python neuroemu/hardware/_build_packet.py``) builds the extension in place for development.
"""
import os
import pathlib
import re
import shutil
import sys
import tempfile

from cffi import FFI

HERE = pathlib.Path(__file__).resolve().parent
HEADER = (HERE / "packet.h").read_text()


def _rel(path: pathlib.Path) -> str:
    # setuptools refuses absolute source paths in a build from the project root
    try:
        return os.path.relpath(path)
    except ValueError:  # another drive on Windows
        return str(path)


def make_builder(absolute: bool = False) -> FFI:
    """The FFI builder; relative paths for setuptools, absolute ones for :func:`build_in_place`."""
    where = str if absolute else _rel
    builder = FFI()
    # cffi's cdef takes "#define NAME value" but no comments on those lines, and no #include
    defines = [re.sub(r"\s*/\*.*$", "", line) for line in HEADER.splitlines()
               if re.match(r"#define PN_\w+ -?\d+", line)]
    builder.cdef("\n".join(defines) + "\n" + re.sub(r"^\s*#.*$", "", HEADER, flags=re.M))
    builder.set_source(
        "neuroemu.hardware._packet",
        '#include "packet.h"',
        sources=[where(HERE / "packet.c")],
        include_dirs=[where(HERE)],
        extra_compile_args=["/O2"] if sys.platform == "win32" else ["-O2", "-std=c99"],
    )
    return builder


ffibuilder = make_builder()


def build_in_place() -> pathlib.Path:
    """Compile in a temporary directory and copy the extension next to this file."""
    with tempfile.TemporaryDirectory() as tmp:
        built = pathlib.Path(make_builder(absolute=True).compile(tmpdir=tmp, verbose=False))
        target = HERE / built.name
        shutil.copy2(built, target)
    return target


if __name__ == "__main__":
    print(build_in_place())
