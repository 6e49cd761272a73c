"""cffi (API mode) build script for the fused tick kernels; imports only cffi and the stdlib."""
import os
import pathlib
import re

from cffi import FFI

HERE = pathlib.Path(__file__).resolve().parent
HEADER = (HERE / "tick.h").read_text()

ffibuilder = FFI()
# the cdef is the header without preprocessor lines; NE_TICK_EBADARG is re-declared as a constant
ffibuilder.cdef("#define NE_TICK_EBADARG -1\n" + re.sub(r"^#.*$", "", HEADER, flags=re.M))
ffibuilder.set_source(
    "neuroemu.hardware._tick",
    '#include <stdint.h>\n#include "tick.h"',
    # relative paths: setuptools refuses absolute ones in a build from the project root
    sources=[os.path.relpath(HERE / "tick.c")],
    include_dirs=[os.path.relpath(HERE)],
    extra_compile_args=["-O3", "-std=c99"],
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=False)
