"""Build hooks: the C extensions (cffi API mode) and the shipped chips and workloads as package data.

All metadata lives in pyproject.toml. The repository's top-level ``chips/`` and ``workloads/`` are
the one source of the shipped files (git holds no second copy); ``build_py`` copies them into the
built package as ``neuroemu/chips`` and ``neuroemu/workloads``, so a wheel carries them and
``neuroemu.config.loader.shipped_dir`` finds them through importlib.resources. An editable install
copies nothing: it runs from the checkout, where ``shipped_dir`` finds the top-level folders.
"""
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent

#: top-level folder -> the files of it that ship (the training script and notes stay in the repository)
SHIPPED = {
    "chips": ("*.yaml", "*.graphml"),
    "workloads": ("*.yaml", "*.npz", "sweeps/*.yaml"),
}


def shipped_files() -> list[tuple[Path, Path]]:
    """(source file, its path inside the built tree) for every shipped chip and workload file."""
    out = []
    for folder, patterns in SHIPPED.items():
        for pattern in patterns:
            for path in sorted((ROOT / folder).glob(pattern)):
                out.append((path, Path("neuroemu") / folder / path.relative_to(ROOT / folder)))
    return out


class BuildPyWithShippedData(build_py):
    """build_py that also copies the top-level chips/ and workloads/ into the package (not when editable)."""

    def run(self):
        super().run()
        if self.editable_mode:  # the checkout's own folders are used (shipped_dir's fallback)
            return
        for src, rel in shipped_files():
            dest = Path(self.build_lib) / rel
            self.mkpath(str(dest.parent))
            self.copy_file(str(src), str(dest))

    def get_outputs(self, include_bytecode=True):
        outputs = super().get_outputs(include_bytecode)
        if self.editable_mode:
            return outputs
        return outputs + [str(Path(self.build_lib) / rel) for _, rel in shipped_files()]


setup(
    cmdclass={"build_py": BuildPyWithShippedData},
    cffi_modules=[
        "neuroemu/_cffi_build.py:eventq",
        "neuroemu/_cffi_build.py:tick",
        "neuroemu/_cffi_build.py:packet",
        "neuroemu/_cffi_build.py:async_kernel",
    ],
)
