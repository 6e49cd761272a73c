"""cffi (API mode) builders of neuroemu's C extensions; imports only cffi and the standard library.

setup.py names this file's builders in ``cffi_modules`` (it runs inside the build, before
neuroemu is importable). Each extension is one C file and its header, side by side; the cdef is
the header with its preprocessor lines removed, so the header stays the one source of truth, and
its integer ``#define`` constants are re-declared for cffi (``#define NAME ...``).
"""
import os
import pathlib
import re
import sys

from cffi import FFI

PACKAGE = pathlib.Path(__file__).resolve().parent


def _rel(path: pathlib.Path) -> str:
    # setuptools refuses absolute source paths in a build from the project root
    try:
        return os.path.relpath(path)
    except ValueError:  # another drive on Windows
        return str(path)


def make_builder(module: str, name: str, flags: tuple[str, ...] = ("-O2",), libraries: tuple[str, ...] = ()) -> FFI:
    """The builder of ``neuroemu.<module>`` from ``<module's folder>/<name>.c`` and ``<name>.h``."""
    here = PACKAGE.joinpath(*module.split(".")[:-1])
    header = (here / f"{name}.h").read_text()
    constants = "".join(f"#define {c} ...\n" for c in re.findall(r"^#define ([A-Z]\w*)\s+-?\d+", header, flags=re.M))
    builder = FFI()
    builder.cdef(constants + re.sub(r"^\s*#.*$", "", header, flags=re.M))
    builder.set_source(
        f"neuroemu.{module}",
        f'#include <stdint.h>\n#include "{name}.h"',
        sources=[_rel(here / f"{name}.c")],
        include_dirs=[_rel(here)],
        extra_compile_args=["/O2"] if sys.platform == "win32" else [*flags, "-std=c99"],
        libraries=[] if sys.platform == "win32" else list(libraries),
    )
    return builder


#: the C event queue (a timing wheel popped in windows)
eventq = make_builder("kernel._eventq", "eventq")
#: the fused per-tick kernels: synaptic integration and neuron updates (POSIX threads split the
#: fused TrueNorth tick's cores by range; on Windows that kernel runs its ranges in one thread)
tick = make_builder("hardware._tick", "tick", ("-O3", "-pthread"), ("pthread",))
#: the packet network's hop-by-hop loop
packet = make_builder("hardware._packet", "packet")
#: the async engine's window kernel; no FMA contraction: its Python twin must see the same IEEE operations
async_kernel = make_builder("hardware._async_kernel", "async_kernel", ("-O3", "-ffp-contract=off", "-fno-fast-math"),
                            ("m",))
