"""The simulation kernel: integer picosecond time and one event queue, nothing about neurons.

:func:`make_queue` returns the event queue (C timing wheel, or the pure-Python fallback chosen
with ``NEUROEMU_QUEUE=python``); see :mod:`neuroemu.kernel.queue` for the design. This package
imports nothing else from neuroemu but :mod:`neuroemu.errors`.
"""
from neuroemu.kernel.queue import EventBatch, EventQueue, available_backends, make_queue

__all__ = ["EventBatch", "EventQueue", "available_backends", "make_queue"]
