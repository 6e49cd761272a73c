"""cffi (API mode) build script for the async engine's window kernel; imports only cffi and the stdlib."""
import os
import pathlib
import re

from cffi import FFI

HERE = pathlib.Path(__file__).resolve().parent
HEADER = (HERE / "async_kernel.h").read_text()
CONSTANTS = "".join(f"#define {name} ...\n" for name in re.findall(r"^#define (AK_\w+)", HEADER, flags=re.M))

ffibuilder = FFI()
# the cdef is the header without preprocessor lines; its AK_ constants are re-declared
ffibuilder.cdef(CONSTANTS + re.sub(r"^#.*$", "", HEADER, flags=re.M))
ffibuilder.set_source(
    "neuroemu.hardware._async_kernel",
    '#include <stdint.h>\n#include "async_kernel.h"',
    # relative paths: setuptools refuses absolute ones in a build from the project root
    sources=[os.path.relpath(HERE / "async_kernel.c")],
    include_dirs=[os.path.relpath(HERE)],
    # no FMA contraction: the Python twin must see the same IEEE operations
    extra_compile_args=["-O3", "-std=c99", "-ffp-contract=off", "-fno-fast-math"],
    libraries=["m"],
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=False)
