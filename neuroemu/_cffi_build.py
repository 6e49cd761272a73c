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


def make_builder(module: str, name: str, flags: tuple[str, ...] = ("-O2",), libraries: tuple[str, ...] = (),
                 extra: tuple[str, ...] = (), private: tuple[str, ...] = ()) -> FFI:
    """The builder of ``neuroemu.<module>`` from ``<module's folder>/<name>.c`` and ``<name>.h``, plus
    each ``extra`` name's .c and .h beside them (compiled into the same extension, so their functions
    call the first file's directly), plus each ``private`` C file (a path under the package, without
    ``.c``) compiled in for those files' own use: its header is on the include path, not in the cdef."""
    here = PACKAGE.joinpath(*module.split(".")[:-1])
    header = "\n".join((here / f"{n}.h").read_text() for n in (name, *extra))
    constants = "".join(f"#define {c} ...\n" for c in re.findall(r"^#define ([A-Z]\w*)\s+-?\d+", header, flags=re.M))
    builder = FFI()
    builder.cdef(constants + re.sub(r"^\s*#.*$", "", header, flags=re.M))
    builder.set_source(
        f"neuroemu.{module}",
        "#include <stdint.h>\n" + "".join(f'#include "{n}.h"\n' for n in (name, *extra)),
        sources=[_rel(here / f"{n}.c") for n in (name, *extra)] + [_rel(PACKAGE / f"{p}.c") for p in private],
        include_dirs=[_rel(here)] + sorted({_rel((PACKAGE / p).parent) for p in private}),
        extra_compile_args=["/O2"] if sys.platform == "win32" else [*flags, "-std=c99"],
        libraries=[] if sys.platform == "win32" else list(libraries),
    )
    return builder


#: the C event queue (a timing wheel popped in windows)
eventq = make_builder("kernel._eventq", "eventq")
#: the fused per-tick kernels: synaptic integration and neuron updates (POSIX threads split the
#: fused TrueNorth tick's cores by range; on Windows that kernel runs its ranges in one thread),
#: and the block runner (blockrun.c: many ticks per call, calling tick.c's kernels)
tick = make_builder("hardware._tick", "tick", ("-O3", "-pthread"), ("pthread", "m"), extra=("blockrun",))
#: the packet network's hop-by-hop loop
packet = make_builder("hardware._packet", "packet")
#: the async engine's window kernel; no FMA contraction: its Python twin must see the same IEEE operations.
#: With it the window loop (async_loop.c: many windows per call), which pops and pushes the engine's
#: C event queue itself: a copy of eventq.c is compiled in (the same source, so the same layout)
async_kernel = make_builder("hardware._async_kernel", "async_kernel", ("-O3", "-ffp-contract=off", "-fno-fast-math"),
                            ("m",), extra=("async_loop",), private=("kernel/eventq",))
