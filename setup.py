"""Build hook for the C extensions (cffi API mode); all metadata lives in pyproject.toml."""
from setuptools import setup

setup(
    cffi_modules=[
        "neuroemu/_cffi_build.py:eventq",
        "neuroemu/_cffi_build.py:tick",
        "neuroemu/_cffi_build.py:packet",
        "neuroemu/_cffi_build.py:async_kernel",
    ],
)
