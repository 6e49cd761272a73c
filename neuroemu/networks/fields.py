"""The arrays a :class:`~neuroemu.networks.graph.Network` holds, their kinds and defaults, and
the checks of the optional per-neuron state (refractory, v_init, u_init, v_min, core) and of the
synapse types (syn_type, syn_i_decay); documented in graph's module docstring and
docs/network-fields.md. Kept apart from graph.py so that module stays one job (and < 600 lines).
"""
from __future__ import annotations

import math

import numpy as np

from neuroemu.errors import ConfigError

__all__ = ["NEURON_FIELDS", "NEURON_STATE_FIELDS", "EDGE_FIELDS", "EDGE_TYPE_FIELDS", "FIELD_KINDS", "FIELD_DEFAULTS",
           "MAX_SYN_TYPES", "check_state"]

#: per-neuron parameter arrays, in file order
NEURON_FIELDS = ("decay", "i_decay", "threshold", "v_reset", "bias", "i_bias", "reset_subtract")
#: optional per-neuron state and limits (a network without them takes FIELD_DEFAULTS)
NEURON_STATE_FIELDS = ("refractory", "v_init", "u_init", "v_min", "core")
#: per-edge arrays
EDGE_FIELDS = ("src", "dst", "weight", "delay", "src_input")
#: optional per-edge arrays
EDGE_TYPE_FIELDS = ("syn_type",)
#: the kind of each per-neuron and per-edge array (int, float or bool)
FIELD_KINDS = {"reset_subtract": "bool", "refractory": "int", "core": "int", "src": "int", "dst": "int",
               "weight": "float", "delay": "int", "src_input": "bool", "syn_type": "int"}
#: the value a per-neuron or per-edge array takes when a network does not give it
FIELD_DEFAULTS = {"refractory": 0, "v_init": 0.0, "u_init": 0.0, "v_min": -math.inf, "core": -1,
                  "syn_type": 0}
#: the most synaptic current types a network may use (one current per type per neuron)
MAX_SYN_TYPES = 8


def _fail(where: str, name: str, rule: str, got=None) -> ConfigError:
    tail = "" if got is None else f" (got {got})"
    return ConfigError(f"{where}: {name}: {rule}{tail}")


def _array(where: str, name: str, value, kind: str) -> np.ndarray:
    """A read-only 1-d copy of ``value`` as int64, float64 or bool; wrong types name the array."""
    a = np.asarray(value)
    if a.ndim != 1:
        raise _fail(where, name, "must be a 1-d array", f"shape {a.shape}")
    if kind == "int":
        if a.size and a.dtype.kind == "f" and np.all(np.isfinite(a)) and np.all(a == np.round(a)):
            a = a.astype(np.int64)  # CSV readers give whole floats
        if a.size and a.dtype.kind not in "iu":
            raise _fail(where, name, "must be integers", f"dtype {a.dtype}")
        a = a.astype(np.int64)
    elif kind == "float":
        if a.size and a.dtype.kind not in "iuf":
            raise _fail(where, name, "must be real numbers", f"dtype {a.dtype}")
        a = a.astype(np.float64)
    else:
        if a.size and a.dtype.kind not in "biu":
            raise _fail(where, name, "must be booleans (0/1)", f"dtype {a.dtype}")
        if a.size and a.dtype.kind != "b" and not np.isin(a, (0, 1)).all():
            raise _fail(where, name, "must be booleans (0/1)", f"values {np.unique(a)[:5].tolist()}")
        a = a.astype(bool)
    a = a.copy()
    a.setflags(write=False)
    return a


def _check_ids(where: str, name: str, ids: np.ndarray, n: int, what: str) -> None:
    if ids.size == 0:
        return
    lo, hi = int(ids.min()), int(ids.max())
    if lo < 0:
        raise _fail(where, name, "ids must be >= 0", lo)
    if hi >= n:
        raise _fail(where, name, f"ids must be < {n} {what}", hi)


def check_state(self, w: str) -> None:
    """Check a network's optional per-neuron state and limits and its synapse types (graph's docstring).

    ``self``: the :class:`~neuroemu.networks.graph.Network` being validated; ``w``: where (file name).
    """
    bad = lambda a: int(np.flatnonzero(a)[0])  # first offending index, for the message
    if self.refractory.size and self.refractory.min() < 0:
        k = bad(self.refractory < 0)
        raise _fail(w, "refractory", f"must be whole ticks >= 0 (neuron {k})", self.refractory[k])
    for f in ("v_init", "u_init"):
        a = getattr(self, f)
        if not np.isfinite(a).all():
            raise _fail(w, f, f"must be finite (neuron {bad(~np.isfinite(a))})", a[bad(~np.isfinite(a))])
    vm = self.v_min
    wrong = np.isnan(vm) | (vm == np.inf) | (vm > 0) | (vm > self.v_reset)
    if wrong.any():
        k = bad(wrong)
        raise _fail(w, "v_min", f"a floor must be -inf or a number <= 0 and <= v_reset (neuron {k})", vm[k])
    if (self.v_init < vm).any():
        k = bad(self.v_init < vm)
        raise _fail(w, "v_init", f"must not start below v_min (neuron {k})", self.v_init[k])
    if self.core.size and self.core.min() < -1:
        k = bad(self.core < -1)
        raise _fail(w, "core", f"must be a core index >= 0, or -1 for not given (neuron {k})", self.core[k])
    st = self.syn_type
    if st.size and (st.min() < 0 or st.max() >= MAX_SYN_TYPES):
        k = bad((st < 0) | (st >= MAX_SYN_TYPES))
        raise _fail(w, "syn_type", f"must be a type 0..{MAX_SYN_TYPES - 1} (edge {k})", st[k])
    sd = self.syn_i_decay
    if sd is None:
        if st.size and st.max() > 0:
            raise _fail(w, "syn_i_decay", f"needs one current decay per synapse type: syn_type uses types "
                                          f"0..{int(st.max())}", "none")
        return
    used = int(st.max()) + 1 if st.size else 1
    if len(sd) < used:
        raise _fail(w, "syn_i_decay", f"needs one current decay per synapse type: syn_type uses types 0..{used - 1}",
                    f"{len(sd)} values")
    if len(sd) > MAX_SYN_TYPES:
        raise _fail(w, "syn_i_decay", f"at most {MAX_SYN_TYPES} synapse types", f"{len(sd)} values")
    if not np.all((sd >= 0) & (sd < 1)):
        k = bad(~((sd >= 0) & (sd < 1)))
        raise _fail(w, "syn_i_decay", f"must be in [0, 1) (type {k})", sd[k])
    if (self.i_decay != 0).any():
        k = bad(self.i_decay != 0)
        raise _fail(w, "i_decay", "must be 0 when syn_i_decay gives the current decay per synapse type "
                                  f"(neuron {k})", self.i_decay[k])

