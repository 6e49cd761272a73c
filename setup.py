"""Build hook for the C extensions (cffi API mode); all metadata lives in pyproject.toml."""
from setuptools import setup

setup(
    cffi_modules=[
        "neuroemu/kernel/_build_eventq.py:ffibuilder",
        "neuroemu/hardware/_build_tick.py:ffibuilder",
        "neuroemu/hardware/_build_packet.py:ffibuilder",
        "neuroemu/hardware/_build_async.py:ffibuilder",
    ],
)
