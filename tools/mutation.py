"""Mutation testing for the modules that decide results (``make mutation``; not in CI).

Seeds one realistic bug at a time into a module -- an off-by-one comparison (< vs <=), a dropped
term, a wrong constant, another rounding mode, a removed branch, a swapped operator -- and runs a
fast test selection for that module. A mutant the tests fail on is *killed*; one they pass is a
*survivor*: either equivalent (no input can tell it from the original; the reason is recorded in
``EQUIVALENT`` below) or a gap in the tests.

Safety: the tree is copied to a temporary directory (sources, compiled extensions, tests, chips,
workloads) and every mutant is written into the copy only, its file restored after each run; the
copy is removed on exit, Ctrl-C included. The working tree is never written to. The copy is first
on ``PYTHONPATH``, ahead of the editable install, and the baseline run checks it is the one imported.

Mutants are found by walking the module's AST; each is applied by splicing the unparsed mutated
node over the original node's source span, so the rest of the file is byte for byte the same.
Docstrings, error messages (``raise`` statements, f-strings) and annotations are not mutated.

Usage::

    python tools/mutation.py                      # every module, at most --max-per-module mutants each
    python tools/mutation.py --modules energy,timing --max-per-module 40 --jobs 2
    python tools/mutation.py --list --modules energy   # show the mutants without running them
    python tools/mutation.py --only-survivors docs/mutation-results.jsonl   # rerun last survivors

Results: one JSON line per mutant in ``--out`` (default ``build/mutation-results.jsonl``) and a
summary table on stdout (kill rate over the non-equivalent mutants).
"""
from __future__ import annotations

import argparse
import ast
import concurrent.futures as cf
import copy
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COPY_DIRS = ("neuroemu", "tests", "chips", "workloads", "benchmarks")
COPY_FILES = ("pyproject.toml", "setup.py")

#: module -> (path, test selection, functions to mutate (None: all))
MODULES: dict[str, tuple[str, list[str], tuple[str, ...] | None]] = {
    "run": ("neuroemu/engine/run.py",
            ["tests/test_conservation.py", "tests/test_timing.py", "tests/test_reference.py",
             "tests/test_run.py", "tests/test_limits.py"], None),
    "timing": ("neuroemu/engine/timing.py", ["tests/test_timing.py", "tests/test_conservation.py",
                                             "tests/test_limits.py"], None),
    "energy": ("neuroemu/engine/energy.py", ["tests/test_energy.py", "tests/test_conservation.py"], None),
    "routing": ("neuroemu/hardware/routing.py", ["tests/test_topology.py", "tests/test_packet.py",
                                                 "tests/test_conservation.py"], None),
    "topology": ("neuroemu/hardware/topology.py", ["tests/test_topology.py"], None),
    "packet": ("neuroemu/hardware/packet.py", ["tests/test_packet.py", "tests/test_network_fidelity.py"], None),
    # systems of chips: the closed-form routing of the joined mesh (SystemRouting), placement costs, size checks
    "system": ("neuroemu/hardware/system.py", ["tests/test_systems.py"], None),
    "asyncsim": ("neuroemu/engine/asyncsim.py", ["tests/test_asyncsim.py"], None),
    # the module's own exact tests first: -x stops at their first failure, seconds in
    "asynccore": ("neuroemu/engine/asynccore.py", ["tests/test_asynccore.py", "tests/test_async_cores.py",
                                                   "tests/test_conservation.py"], None),
    "asyncmodels": ("neuroemu/engine/asyncmodels.py", ["tests/test_asyncmodels.py", "tests/test_async_cores.py",
                                                       "tests/test_conservation.py"], None),
    # the clockless loop's routes (bound at the sender), lookahead and prices, out of asynccore
    "asyncroutes": ("neuroemu/engine/asyncroutes.py", ["tests/test_asyncroutes.py", "tests/test_asynccore.py",
                                                       "tests/test_async_cores.py", "tests/test_asyncranks.py"], None),
    # many windows per C call: the path's choice, the driver's returns, the spikes and the runaway guards
    "asyncblock": ("neuroemu/engine/asyncblock.py", ["tests/test_asyncblock.py", "tests/test_asyncloop.py",
                                                     "tests/test_asynccore.py"], None),
    # several synaptic currents and the voltage floor v_min under async (CubaMultiCT)
    "asynccuba": ("neuroemu/engine/asynccuba.py", ["tests/test_asynccuba.py"], None),
    # the diffuser network's parameters, checks, routes and mean-field start state
    "asyncnet": ("neuroemu/engine/asyncnet.py", ["tests/test_asyncnet.py", "tests/test_asyncsim.py"], None),
    "devices": ("neuroemu/hardware/devices.py", ["tests/test_devices_endurance.py", "tests/test_devices.py"], None),
    "quantise": ("neuroemu/networks/quantise.py", ["tests/test_quantise.py"], None),
    "place": ("neuroemu/networks/place.py", ["tests/test_place.py", "tests/test_axons.py"], None),
    "axons": ("neuroemu/networks/axons.py", ["tests/test_axons.py", "tests/test_place.py", "tests/test_partition.py"],
              None),
    "partition": ("neuroemu/networks/partition.py", ["tests/test_partition.py", "tests/test_place.py"], None),
    "learning": ("neuroemu/hardware/learning.py", ["tests/test_learning.py", "tests/test_devices_endurance.py",
                                                 "tests/test_conservation.py"], None),
    "sweep": ("neuroemu/studies/sweep.py", ["tests/test_sweep.py"],
              ("sweep", "run_plan", "_execute", "_table_rows", "run_point")),
}

#: the bugs issue 20 found passing every test, seeded by text (path, old, new, test selection); they run
#: with every full run (``--named`` alone: only these). C kernels are not rebuilt in the copy, so the C
#: twins' guards are covered by the same tests through their Python twins (NEUROEMU_TICK / backends).
NAMED: list[tuple[str, str, str, list[str]]] = [
    ("neuroemu/engine/run.py", "late = due_tick < t", "late = due_tick < t - 1", ["tests/test_conservation.py"]),
    ("neuroemu/engine/timing.py", "+ active * self.active_ps + spikes * self.spike_ps)", "+ active * self.active_ps)",
     ["tests/test_timing.py"]),
    ("neuroemu/engine/timing.py", "active = core_active if self.active_ps != self.update_ps else self._no_active",
     "active = self._no_active", ["tests/test_timing.py"]),
    ("neuroemu/engine/energy.py", 'self.get("wire_nm") * 1e-6', 'self.get("wire_nm") * 1e-3',
     ["tests/test_energy.py", "tests/test_conservation.py"]),
    ("neuroemu/hardware/topology.py", "(leaf % r ** ((L + 1) // 2), leaf // r ** ((L + 1) // 2))",
     "(leaf % r ** (L // 2), leaf // r ** (L // 2))", ["tests/test_topology.py"]),
    ("neuroemu/hardware/packet.py", "np.floor(1000.0 / bw + 0.5)", "np.rint(1000.0 / bw)", ["tests/test_packet.py"]),
    ("neuroemu/hardware/learning.py", "np.floor(self.w[idx] + 0.5)", "np.rint(self.w[idx])", ["tests/test_learning.py"]),
    ("neuroemu/hardware/step.py", "synaptic_input(a, np.unique(spiking_axons))", "synaptic_input(a, spiking_axons)",
     ["tests/test_step.py"]),
    ("neuroemu/hardware/asynckernel.py", "if t < int(a.r[target]):", "if t <= int(a.r[target]):",
     ["tests/test_asyncsim.py"]),
    ("neuroemu/hardware/asynckernel.py", "live = t >= a.r[sl]", "live = t > a.r[sl]", ["tests/test_asyncsim.py"]),
    ("neuroemu/engine/asyncsim.py", "w_end = min(t0 + W, end_ps, kernel.epoch + P)", "w_end = min(t0 + W, end_ps)",
     ["tests/test_asyncsim.py"]),
]

#: mutants shown equivalent, by their exact place -- (module, function, the mutated line's text stripped,
#: column of the mutated node, before, after) -- so a look-alike on the same line or in another
#: function is not matched: the reason
EQUIVALENT: dict[tuple[str, str, str, int, str, str], str] = {
    ('run', '_sort_arrivals',
     'if len(due_tick) and (due_tick == t).all():  # the usual case (always so under sync)',
     7, 'len(due_tick) and (due_tick == t).all()', 'False'):
        'a fast path: the general branch below files the same arrivals the same way',
    ('run', '_check_runaway',
     'busiest = int(np.bincount(due_axons // self.arrays.axons_per_core).argmax()) if len(due_axons) else 0',
     108, '0', '1'):
        "the error message's busiest core for a tick with no deliveries, where no core is busiest",
    ('timing', '__init__',
     'self.enabled_per_core = enabled.reshape(arrays.n_cores, -1).sum(axis=1).astype(np.int64)',
     65, '1', '2'):
        'reshape(n, -2) is reshape(n, -1): numpy takes any negative size as the unknown one',
    ('routing', '<module>',
     '_BLOCK = 512  # rows per block where a tree table is built blockwise',
     9, '512', '513'):
        'the block size of a table build: memory only, the table is the same',
    ('routing', '__init__',
     'below = in_level // r ** np.maximum(lv - self.level, 0)',
     20, 'in_level // r ** np.maximum(lv - self.level, 0)', 'in_level / r ** np.maximum(lv - self.level, 0)'):
        'the quotient is non-negative and stored into an int32 table, which truncates it to the same floor',
    ('routing', '__init__',
     'self.next_link = np.full((n, n), -1, dtype=np.int32)',
     42, '1', '2'):
        'the fill value is overwritten: every column is assigned from the Dijkstra tree',
    ('topology', '__init__',
     'lat = np.where(links.latency_ps >= 0, links.latency_ps, lat)',
     47, '0', '1'):
        'the custom-graph readers refuse a 0 ps link (latency_ps >= 1) and mark a missing one -1',
    ('topology', '_build_custom',
     'radius = req.pitch_mm / (2 * math.sin(math.pi / n)) if n > 1 else 0.0',
     74, '0.0', '1.0'):
        'the drawing position of a one-router graph (a graph without coordinates takes its link lengths from '
        'the pitch, not from the drawing)',
    ('packet', 'summary',
     'elapsed = max(int(elapsed_ps), 1)',
     39, '1', '2'):
        'links take >= 1 ps and serialise in >= 1 ps, so a network that carried anything has lived >= 2 ps, '
        'and one that carried nothing has no busy time to divide',
    ('routing', 'accumulate',
     'if max_h == 0:',
     7, 'max_h == 0', 'False'):
        'a shortcut: with no hops the loop below runs zero times and returns the same zeros',
    ('asyncsim', '__init__',
     'self.epoch_ps = max(1, int(min(EPOCH_TAUS * network.arrays.tau_ps, 2**61)))',
     75, '2', '3'):
        'an overflow cap reached only by a membrane time constant over 3 hours (2^61 ps / 200)',
    ('asyncsim', 'run',
     'total = end_ps // tick_ps if tick_ps else 0',
     50, '0', '1'):
        'without tick_ps progress is never called, so its total is never read',
    ('packet', '<module>',
     'PACKET_EVENT = 1',
     15, '1', '2'):
        "the only event kind in the network's private queue",
    ('packet', 'advance',
     'q.push_batch(a["o_time"][:k], PACKET_EVENT, a["o_target"][:k], 0, a["o_prio"][:k])',
     79, '0', '1'):
        'the payload of a packet event is never read (time, priority and target are)',
    ('packet', 'request',
     'a["p_next"][p] = -1',
     26, '1', '2'):
        'list ends are tested as < 0 / >= 0 everywhere',
    ('asyncsim', 'run',
     'total = end_ps // tick_ps if tick_ps else 0',
     16, 'end_ps // tick_ps', 'end_ps / tick_ps'):
        'the progress total is only passed through int(), and end_ps is a whole number of ticks',
    ('asyncsim', '__init__',
     'self.queue = make_queue(queue, bucket_width=1 << min(40, w.bit_length() - 1), buckets=1 << 16,',
     52, '1', '2'):
        "the timing wheel's bucket width: speed only (the queue's order does not depend on it)",
    ('axons', 'unique_rows',
     'if min(int(c.min()) for c in cols) < 0 or np.prod(np.array(radix, dtype=np.float64)) >= 2.0 ** 62:',
     99, '62', '63'):
        'a packed key below 2^63 still fits an int64, so packing up to 2^63 is as exact',
    ('place', 'evaluate',
     'n_cores = n_cores or int(core_of.max(initial=0)) + 1',
     29, 'core_of.max(initial=0)', 'core_of.min(initial=0)'):
        "only a bincount's minlength: it grows to the largest core anyway",
    ('sweep', '_execute',
     'if scheduler is None and (workers == 1 or len(tasks) == 1):',
     60, '1', '2'):
        '(len(tasks) == 2) a single task with several workers runs in a pool of one process instead of in '
        'this one: the same row (the in-process path is a shortcut)',
    ('sweep', '_execute',
     'executor = cf.ProcessPoolExecutor(max_workers=min(workers, len(tasks)))',
     54, 'min(workers, len(tasks))', 'max(workers, len(tasks))'):
        'a pool with idle processes: the same rows, only more processes',
    ('learning', '__call__',
     'size = max(need, 2 * len(self.values), 64)',
     29, '2', '3'):
        "the factor table's growth policy: its values are the scalar rule's whatever its size",
    ('learning', '__call__',
     'size = max(need, 2 * len(self.values), 64)',
     51, '64', '65'):
        "the factor table's first size: its values are the scalar rule's whatever its size",
    ('timing', '_busy',
     'if not len(fired) and not core_sops.any() and not core_active.any():',
     30, 'not core_sops.any()', 'core_sops.any()'):
        'a fast path: SOPs imply an active neuron (every synapse targets an enabled neuron), so with SOPs '
        'both take the formula; without them the formula gives the idle busy time the fast path returns',
    ('topology', 'pair_class_hops',
     'if self._routing.pairwise:',
     11, 'self._routing.pairwise', 'False'):
        'the closed form on meshes and tori against the cached table: the same class hops',
    ('packet', '__init__',
     'self.lookahead_ps = int((t.link_latency_ps + self.link_ser_ps).min()) if nl else 1',
     33, 't.link_latency_ps + self.link_ser_ps', 't.link_latency_ps'):
        "the packet network's default window: latency alone is still within the lookahead, so the same "
        'packets in the same order, in more windows',
    ('packet', 'inject',
     'if s.n_free < n:',
     11, 's.n_free < n', 's.n_free <= n'):
        'growing the slot pool when exactly enough slots are free: capacity only',
    ('packet', 'try_send',
     'p, prev = int(a["wait_head"][o]), -1',
     47, '1', '2'):
        'list ends are tested as < 0 / >= 0 everywhere',
    ('quantise', '_axon_types',
     't = (rank * k) // max(n_rows, 1)',
     34, '1', '2'):
        'with one source its rank is 0, so rank x k // 1 and // 2 are both 0; with two or more the max is '
        'n_rows',
    ('axons', 'unique_rows',
     'if min(int(c.min()) for c in cols) < 0 or np.prod(np.array(radix, dtype=np.float64)) >= 2.0 ** 62:',
     41, '0', '1'):
        'a column starting at 0 then goes through np.unique(axis=1), which gives the same rows in the same '
        'lexicographic order as the packed keys',
    ('asynccore', '__init__',
     'self._wdtype = np.int64 if self._wscale > 1 else np.float64',
     50, '1', '2'):
        'the weight scale is 1 or the tick in ps (never 2); at 2 the float64 weights would be exact integers',
    ('devices', 'conductances',
     'if on > 0 or off > 0:',
     7, 'on > 0', 'on >= 0'):
        'with both stuck fractions 0 the draw marks no cell (u < 0 and 0 <= u < 0 are never true)',
    ('axons', '_axon_keys', 'd_radix = int(network.delay.max(initial=0)) + 1', 50, '1', '2'):
        'delays are >= 1, so source x (max delay + 2) + delay is still one-to-one, and the key count grows with it',
    ('axons', '_axon_keys', 'd_radix = int(network.delay.max(initial=0)) + 1', 44, '0', '1'):
        "delays are >= 1, so max(initial=1) is the same largest delay (a network without synapses only gets "
        'a radix of 2: more possible keys, none used)',
    ('routing', '__init__',
     'self._down = np.append(2 * child + 1, -1).astype(np.int32)',
     47, '1', '2'):
        "the root's entry of the down-link table: no link goes down to the root, so it is never read",
    # the seed-31 sample
    ('timing', '_busy',
     'if not len(fired) and not core_sops.any() and not core_active.any():',
     11, 'not len(fired)', 'len(fired)'):
        'a fast path: a neuron that fires is an active update (counted in core_active), so a tick with '
        'spikes never takes it; without spikes the formula gives the idle busy time the fast path returns',
    ('topology', '_build_custom',
     'if not is_int(a.get("level", 0)) or a.get("level", 0) < 0:',
     37, '0', '1'):
        "a missing level's default only goes through is_int here, and 0 and 1 are both integers",
    ('packet', 'inject', 'n = arrays[0].size', 19, '0', '1'):
        'the arrays come out of np.broadcast_arrays, so all four have the same size',
    ('packet', 'run', 'if i < n and (not heap or (time[i], prio[i]) < heap[0][:2]):', 68, '2', '3'):
        "the Python twin's merge: a popped event never ties a heap event on (time, priority) -- the heap "
        'holds only arrivals and link finishes, one per link at a time -- so the third key is never reached',
    ('asyncsim', '__init__',
     'self.queue = make_queue(queue, bucket_width=1 << min(40, w.bit_length() - 1), buckets=1 << 16,',
     61, '40', '41'):
        "the timing wheel's largest bucket width: speed only (the queue's order does not depend on it)",
    ('asyncsim', '__init__', 'self.epoch_ps = max(1, int(min(EPOCH_TAUS * network.arrays.tau_ps, 2**61)))',
     28, '1', '2'):
        'the floor of the epoch length, reached only by a membrane time constant under 0.01 ps (200 tau < 2 ps; '
        'tau_ms is any value > 0, but no such chip is meaningful): epochs only re-base the state',
    ('asynccore', '_count_updates', 'keys = np.empty(0, np.int64)', 24, '0', '1'):
        'the initial keys are never read: they are reassigned before their only use',
    ('asyncmodels', 'bulk', 'v, d, span = self.v[idx], self.drift[idx], np.int64(w1 - w0)', 60, 'w1 - w0', 'w1'):
        "a longer span only makes the bulk path's safety test stricter; the neurons it refuses take the exact "
        'one-by-one path, which gives the same bits (speed only)',
    ('asyncmodels', 'predict',
     'v_inf = np.where(kv > 0, b / (self.T * np.where(kv > 0, kv, 1.0)), np.where(b > 0, np.inf, -np.inf))',
     72, '1.0', '2.0'):
        'a placeholder divisor where kv <= 0, whose quotient the outer np.where discards',
    ('asyncmodels', 'predict',
     'hi_i = np.where(ok, np.ceil(np.minimum(np.where(ok, p, 0.0), 2.0**61)), 0).astype(np.int64)', 80, '0', '1'):
        'the bracket end of a neuron with no crossing (not ok) is never read: the bisection and the result mask '
        'it with ok',
    ('devices', 'adc_for',
     'shift = max(0, math.ceil(math.log2(full / top))) if top > 0 else max(0, math.ceil(math.log2(full)))',
     19, 'math.ceil(math.log2(full / top))', 'math.floor(math.log2(full / top))'):
        'the integer guard loop below raises a shift one short to the least whose codes reach the full scale, '
        "which is ceil's",
    # the seed-32 sample
    ('run', 'deliver', 'keep = (batch.seq > self.drop_seq) & (batch.kind == AXON_SPIKE)', 20,
     'batch.seq > self.drop_seq', 'batch.seq >= self.drop_seq'):
        'the one event whose sequence number is drop_seq is the reset mark itself, which the kind test drops',
    ('run', '_drain', 'due = got.tag // n_axons', 18, 'got.tag // n_axons', 'got.tag / n_axons'):
        "float due ticks split a tick's deliveries into one array per axon, filed under the same int(tick); "
        'the tick delivers the same axons (integration goes through np.unique, so order does not matter)',
    ('timing', '_busy', 'if not len(fired) and not core_sops.any() and not core_active.any():', 11,
     'not len(fired) and not core_sops.any() and not core_active.any()', 'False'):
        'a fast path: with every count 0 the formula gives the same idle busy time',
    ('timing', 'input_ps', 'return np.maximum(in_ticks * self.nominal_tick_ps, now)', 15,
     'np.maximum(in_ticks * self.nominal_tick_ps, now)', 'np.minimum(in_ticks * self.nominal_tick_ps, now)'):
        'inputs carry their due tick as payload: popped early, they are filed under it and delivered in '
        'the same tick (never late, never counted twice)',
    ('devices', 'adc_for',
     'while top > 0 and (top << shift) < full:  # float log2 guard: the codes must reach the full scale',
     16, '0', '1'):
        'the guard skipped only for top = 1 (a 2-bit ADC), where full / top is exact and ceil(log2(full)) of '
        'an integer up to 2^40 (the validated limit) already reaches full: the loop would not run',
    ('learning', 'apply_window', 'keys = np.unique(a_ax.astype(np.int64) * span + rank.reshape(-1) + 1)', 70, '1', '2'):
        'reshape(-2) is reshape(-1): numpy takes any negative size as the unknown one',
    ('learning', 'apply_window',
     'last = np.where(hit, pre_t[np.maximum(pos, 0)] if len(keys) else -1, self.pre_last[axon])', 78, '1', '2'):
        'the placeholder is taken only where hit, and with no keys no post spike hits an arrival',
    ('routing', 'path_sum', 'up, down = np.zeros((n, L + 1), dtype), np.zeros((n, L + 1), dtype)', 65, '1', '2'):
        'one more prefix column of the down table, never written or read (levels run 0..L)',
    ('asyncsim', 'run', 'done = -1', 16, '1', '2'):
        'the last tick reported starts below any real tick (-1 or -2): the first window reports progress either way',
    ('asyncmodels', 'predict',
     'hi_i = np.where(ok, np.ceil(np.minimum(np.where(ok, p, 0.0), 2.0**61)), 0).astype(np.int64)', 63, '0.0', '1.0'):
        'the inner placeholder of a neuron with no crossing (not ok), which the outer np.where discards',
    # the fifth round (clockless modules, seeds 41 and 500)
    ('asynccore', '_emit', 'self.spikes_sent += len(routed[0])', 43, '0', '1'):
        "the C kernel's routed spikes come as (times, axons), two arrays of one length",
    ('asyncmodels', 'leak_steps', 'for k in range(w0 // self.T, (w_end - 1) // self.T + 1):', 61, '1', '2'):
        'one tick more: its steps lie at or after its start, which is >= w_end, so the window filter drops them all',
    ('asyncmodels', '_v_at', 'eu = np.exp(-np.where(np.isfinite(ku), ku, 0.0) * dt)', 55, '0.0', '1.0'):
        "the placeholder rate of an instant current (du = 4096), whose kernel is set to 0 below whatever eu is",
    ('asyncmodels', 'predict', 'cand = ~now & (bound > th) & self.enabled[idx]', 23, 'bound > th', 'bound >= th'):
        'v never exceeds its bound, so a bound equal to the threshold is never crossed (v > th): the search '
        'finds nothing and the neuron stays at NEVER, only after more work',
    ('asyncmodels', 'predict',
     's_real = np.where(kvs > 0, np.log((v_inf[si] - vs) / (v_inf[si] - ths)) / np.where(kvs > 0, kvs, 1.0),',
     113, '1.0', '2.0'):
        'the placeholder divisor of a neuron without leak (kv = 0), whose root the outer np.where takes from the ramp',
    ('asyncmodels', '_inside', 'hump = (s_e > 0) & (self._v_at(idx, s_e, v0, u0) > th)', 16, 's_e > 0', 's_e >= 0'):
        'at s_e = 0, v(s_e) is the start value, which is not above threshold (a neuron above it already is "now")',
    ('asyncmodels', 'group_events', 'if len(nid) and int(nid.max()) < (1 << 62) // max(span, 1):', 38,
     '1 << 62', '1 >> 62'):
        'always the lexsort fallback: the same groups in the same order, sorted another way',
    ('asyncmodels', 'group_events', 'if len(nid) and int(nid.max()) < (1 << 62) // max(span, 1):', 38, '1', '2'):
        'packing up to 2^63 // span: neuron x span + an offset below span still stays below 2^63, so the keys fit',
    ('asyncroutes', '_bind_routes',
     'dst = np.where(self.sends, whole.chip_cores(np.maximum(self.route_axon, 0) // A), -1)', 91, '1', '2'):
        "the target core of a route that sends nowhere: the router's bind takes any negative core as none",
    ('asynccore', '__init__', 'self._w0 = 0', 19, '0', '1'):
        "every window sets the window's start before anything reads it",
    ('asynccore', '__init__',
     'self.drop_seq = -1     # spikes queued with a sequence number up to this are from a sample already over',
     25, '1', '2'):
        'no reset yet: it is only ever tested as >= 0',
    ('asynccore', '_contributions',
     'return (np.empty(0, np.int64),) * 2 + (np.empty(0, self._wdtype), np.empty(0, bool))', 87, '0', '1'):
        'the synaptic flags of no contribution: with no neuron (length 0) nothing reads them',
    ('asyncmodels', 'predict', 'for _ in range(2):', 27, '2', '3'):
        'a third step down from the real root: the four steps up that follow still stop at the first ps above',
    ('asyncmodels', 'group_events', 'span = w1 - w0', 11, 'w1 - w0', 'w1 + w0'):
        'a wider span keeps neuron x span + offset one-to-one and in order, and the guard keeps it in an int64',
    # sixth round, mutg: asyncroutes, from the seed-404 first contact and the seed-405 sample
    ('asyncroutes', '_kernel_routes',
     'return self.route_axon[self.n0:self.n0 + n], self.route_ps[self.n0:self.n0 + n]', 39, 'self.n0 + n', 'n'):
        'n0 is 0 wherever this runs: only the one-process AsyncCoreLoop calls it (AsyncRankLoop overrides '
        '_kernel_routes), and its network is built whole (build_network: no part, so c0 = 0)',
    ('asyncroutes', '_kernel_routes',
     'return self.route_axon[self.n0:self.n0 + n], self.route_ps[self.n0:self.n0 + n]', 75, 'self.n0 + n', 'n'):
        'n0 is 0 wherever this runs: only the one-process AsyncCoreLoop calls it (AsyncRankLoop overrides '
        '_kernel_routes), and its network is built whole (build_network: no part, so c0 = 0)',
    ('asyncroutes', '_route_prices', 'n = len(self._route_ptr) - 1 if self.fanout else len(self.route_src)', 12,
     'len(self._route_ptr) - 1', 'len(self._route_ptr)'):
        "a bincount one longer: the extra count, past the last neuron, is always 0 and never read "
        "(spikes[self.route_src] reads only the bound neurons', all < len(_route_ptr) - 1)",
    ('asyncroutes', '_lookahead', 'if L <= 0:', 11, 'L <= 0', 'False'):
        'a guard no network reaches (as its L < 0 sibling below): tick_s >= 1 ns is checked at load, so '
        'T >= 1000 ps; every delay is checked to be >= 1 tick and latencies >= 0, so L >= 1000 ps',
    # the seed-42 sample
    ('asyncroutes', '_lookahead', 'if L <= 0:', 11, 'L <= 0', 'L < 0'):
        'a guard no network reaches: every delay is >= 1 tick and latencies are >= 0, so L >= one tick',
    ('asynccore', 'run', 'self._repredict(np.flatnonzero(self.enabled), 0)', 54, '0', '1'):
        '_repredict does not read its time argument (the prediction starts at each neuron\'s own last update)',
    ('asynccore', '_contributions', 'w = np.zeros((len(w), K)) + (np.arange(K) == kind[:, None]) * w[:, None]', 24,
     'np.zeros((len(w), K)) + (np.arange(K) == kind[:, None]) * w[:, None]',
     '(np.arange(K) == kind[:, None]) * w[:, None]'):
        'the broadcast product is already [synapses, K] float64; adding zeros changes at most -0.0 to 0.0',
    ('asyncmodels', '_v_at', 'phi = np.where(np.isfinite(ku), phi, 0.0)', 45, '0.0', '1.0'):
        "an instant current's kernel: its u is held at 0 (construction, integrate, advance), so u0 x phi is 0",
    # the seed-43 sample
    ('asyncmodels', 'scan',
     'after = np.concatenate([np.zeros(len(seg), bool), fires[owner] & (np.arange(G) >= np.where(at >= 0, at, -1)[owner])])',
     99, 'at >= 0', 'at > 0'):
        'only a spike at global group 0 changes, to -1; both select every group index >= 0',
    ('asyncmodels', '_rate', 'return np.where(keep > 0, -np.log(np.where(keep > 0, keep, 1.0)) / T, np.inf)', 67,
     '1.0', '2.0'):
        'the placeholder of a decay of 4096 (keep 0), whose rate the outer np.where sets to inf',
    # the seed-71 sample (fifth round, a check between the tests)
    ('devices', 'conductances', 'stuck[(u >= on) & (u < on + off)] = 2', 15, 'u >= on', 'u > on'):
        'differs only for a cell whose uniform equals the stuck-on fraction exactly: u is an odd multiple of '
        '2^-54, so it takes a fraction that is one and a cell drawing that one value (1 in 2^53)',
    # the seed-53 sample (fifth round, a second fresh measurement)
    ('devices', 'conductances',
     'if t is not None and t > t0 and (dev.drift_nu.value > 0 or dev.drift_nu_std.value > 0):', 63,
     'dev.drift_nu_std.value > 0', 'dev.drift_nu_std.value >= 0'):
        'with no spread the exponent is nu itself: nu 0 drifts by (t / t0)^-0 = 1 exactly, nu > 0 drifts anyway',
    ('axons', 'unique_rows', 'radix = [int(c.max()) + 1 for c in cols]', 28, '1', '2'):
        'larger radices still pack the rows one-to-one and unpack them alike (or fall back to np.unique): '
        'the same rows in the same order',
    ('axons', 'per_core', 'if n_cores * float(self.radix) >= 2.0 ** 62:', 11, 'n_cores * float(self.radix)',
     'n_cores'):
        'unreachable in practice: classes are 0..255 and delays 1..2^16, so a source takes at most 2^24 keys and '
        'core x radix reaches 2^62 only at cores x sources >= 2^38 (about 3 x 10^11)',
    ('axons', '_pack_numpy', 'cum = np.concatenate(([0], np.cumsum(new)))', 31, '0', '1'):
        "only neurons without synapses at a core's start read cum[0]: 1 instead of 0 axons is still within "
        'any limit (>= 1), and every later count is unchanged, so the same run of neurons fits',
    # the seed-52 sample (fifth round, the fresh measurement)
    ('place', 'cost', 'if space <= max(axon_table.DENSE_KEYS_PER_EDGE * len(s), axon_table.DENSE_KEYS_MIN):', 11,
     'space <= max(axon_table.DENSE_KEYS_PER_EDGE * len(s), axon_table.DENSE_KEYS_MIN)', 'True'):
        'always the marked table: the same (source, core) pairs in the same order, only more memory for a '
        'sparse key space',
    ('axons', '_axon_keys', 'c_radix = int(network.edge_class.max()) + 1', 50, '1', '2'):
        'a class radix one larger keeps (source, delay, class) one-to-one: only the key count grows',
    # the seed-72 sample (fifth round, a second check between the tests)
    ('devices', 'conductances',
     'if t is not None and t > t0 and (dev.drift_nu.value > 0 or dev.drift_nu_std.value > 0):', 37,
     'dev.drift_nu.value > 0', 'dev.drift_nu.value >= 0'):
        'with nu 0 and no spread every exponent is 0, and G (t / t0)^-0 is G exactly: drifting by nothing',
    ('place', 'cost', 'elif space < 2 ** 62:', 21, '2 ** 62', '2 * 62'):
        'only which exact way counts the distinct (source, core) pairs: the sorted packed keys or unique_rows '
        '(the same pairs in the same order)',
    ('axons', '__init__', 'first[:1] = True', 19, '1', '2'):
        'np.not_equal(..., out=first[1:]) overwrites every entry after the first, so only first[0] is kept',
    ('axons', 'per_core', 'first[:1] = True', 15, '1', '2'):
        'np.not_equal(..., out=first[1:]) overwrites every entry after the first, so only first[0] is kept',
    ('place', 'cost', 'first[:1] = True', 19, '1', '2'):
        'np.not_equal(..., out=first[1:]) overwrites every entry after the first, so only first[0] is kept',
    ('axons', 'per_core', 'if n_cores * float(self.radix) >= 2.0 ** 62:', 11, 'n_cores * float(self.radix)',
     'n_cores / float(self.radix)'):
        'only which exact way counts the distinct (core, key) pairs: unique_rows or sorted packed keys',
    ('axons', 'dense_keys', 'if self.radix <= max(DENSE_KEYS_PER_EDGE * len(self.key), DENSE_KEYS_MIN):', 25,
     'max(DENSE_KEYS_PER_EDGE * len(self.key), DENSE_KEYS_MIN)',
     'min(DENSE_KEYS_PER_EDGE * len(self.key), DENSE_KEYS_MIN)'):
        "keys renumbered densely more often: the greedy fill's table is smaller, the placement the same "
        '(test_sparse_key_spaces_place_alike)',
    # the seed-51 sample (fifth round)
    ('learning', '_column_synapses', 'if total == 0:', 11, 'total == 0', 'False'):
        'a shortcut: row_positions of rows that are all empty is an empty int64 array, so col_syn[...] is the '
        'same empty result',
    ('place', 'cost',
     'if space <= max(axon_table.DENSE_KEYS_PER_EDGE * len(s), axon_table.DENSE_KEYS_MIN):', 24,
     'axon_table.DENSE_KEYS_PER_EDGE * len(s)', 'axon_table.DENSE_KEYS_PER_EDGE'):
        'only which of two exact ways counts the distinct (source, core) pairs: a marked table or a sorted list '
        'give the same pairs in the same order (speed and memory only)',
    # the fifth round, the other modules (branch mutc): the seed-61 sample
    ('energy', 'start',
     'moving = (a.u.reshape(-1, n) != 0).any(axis=0) | (a.refractory_left > 0) | ((a.v != 0) & (a.params.dv > 0))',
     31, '1', '2'):
        'reshape(-2, n) is reshape(-1, n): numpy takes any negative size as the unknown one',
    # the seed-62 sample
    ('topology', 'build_topology', 'if n_cores // concentration > MAX_ROUTERS:', 7, 'n_cores // concentration',
     'n_cores / concentration'):
        'concentration divides n_cores (checked just above), so the quotient is exact either way',
    ('packet', '__init__', 'self._next_link = (np.zeros(0, np.int32) if ports is not None', 36, '0', '1'):
        "the placeholder next-link table of a mesh, which both kernels never read (grid_width > 0: XY from the ports)",
    # sixth round, mutd (engine and network modules; exploratory seeds 300-349 and the fresh seed 401)
    ('system', 'pair_path_sum', 'if all(v.size == 0 or np.all(v == v[0]) for v in per_class):', 41, 'v == v[0]',
     'v != v[0]'):
        'integer values then always take the grid\'s running sums instead of class hops x value: both are exact '
        'integer sums of the same links (speed only)',
    ('routing', '_pair_leg', "sums = np.zeros((2, b, k, k), vals.dtype)  # the + way's running sums, then the - way's",
     29, '2', '3'):
        'a third slab of running sums that nothing writes or reads: the flat index (minus_way 0 or 1) reaches only '
        'the first two (memory only)',
    ('topology', 'diameter', 'return self._routing.diameter() if self.n_routers else 0', 63, '0', '1'):
        'unreachable: every builder refuses a graph without routers (n_cores >= 1; a custom file: "the graph has '
        'no routers")',
    ('system', 'chip_of_router',
     'return ((y // p["chip_height"]) * p["grid"][0] + x // p["chip_width"]).astype(np.int32)', 53,
     'x // p["chip_width"]', "x / p['chip_width']"):
        'the rest of the sum is a whole number and x / chip_width >= 0, so astype(int32) truncates the float sum '
        'to the same chip',
    # the seed-401 sample (the fresh measurement)
    ('system', '__init__', 'dx, dy = self.link_dst % width, self.link_dst // width', 40, 'self.link_dst // width',
     'self.link_dst / width'):
        'dy is only floor-divided by chip_height next: floor((d / w) / h) = floor(d / (w h)) = (d // w) // h, and a '
        'one-ulp float error cannot cross a whole number (d / (w h) is at least 1 / (w h) from the next one)',
    ('system', 'build_system_topology', 'routing = SystemRouting(w, h, w // gx, h // gy)', 34, 'w // gx', 'w / gx'):
        'the joined width is gx x the chip width exactly, so w / gx is that whole number as a float: the floor '
        'divisions by it give the same whole numbers, stored into the int16 class tables',
    # sixth round, mute (devices, learning, place, quantise, axons, partition): the private samples (seeds
    # 350-352); the fresh seed-402 sample's one equivalent survivor was recorded before (axons unique_rows)
    ('learning', '__call__', 'need = int(dt.max(initial=-1)) + 1', 35, '1', '2'):
        "the factor table one entry longer: its values are the scalar rule's whatever its size",
    ('learning', '__init__', 'self.post_last = np.full(rule.arrays.n_neurons, -1, np.int64)', 57, '1', '2'):
        'no spike yet: a last time is only ever tested as >= 0, so -1 and -2 both mean never',
    ('place', 'sum', 'cols, rows = np.arange(self._n), max(1, (1 << 22) // max(self._n, 1))', 49, '1', '2'):
        'the rows per block of a row sum (at least 2 instead of 1): memory only, the same sums',
    ('place', 'cost', 'if space <= max(axon_table.DENSE_KEYS_PER_EDGE * len(s), axon_table.DENSE_KEYS_MIN):', 11,
     'space <= max(axon_table.DENSE_KEYS_PER_EDGE * len(s), axon_table.DENSE_KEYS_MIN)',
     'space < max(axon_table.DENSE_KEYS_PER_EDGE * len(s), axon_table.DENSE_KEYS_MIN)'):
        'only which of two exact ways counts the distinct (source, core) pairs, at one space size: the same pairs '
        'in the same order',
    ('axons', '<module>', 'DENSE_KEYS_MIN = 1 << 20', 22, '20', '21'):
        "keys renumbered densely less often: the greedy fill's table is larger, the placement the same",
    ('axons', '_combined_src', 'if not network.src_input.any():', 7, 'not network.src_input.any()', 'False'):
        'a shortcut: with no input source np.where(src_input, src + N, src) is src itself',
    ('learning', '__call__', 'need = int(dt.max(initial=-1)) + 1', 41, '1', '2'):
        'only an empty dt reads the initial value: need -1 or 0, no growth either way, and an empty lookup',
    ('learning', 'bind', 'self.pre_last = np.full(arrays.n_axons, -1, np.int64)', 49, '1', '2'):
        'no arrival yet: a last tick is only ever tested as >= 0 (_paired), so -1 and -2 both mean never',
    ('learning', 'bind', 'self.post_last = np.full(arrays.n_neurons, -1, np.int64)', 52, '1', '2'):
        'no spike yet: a last tick is only ever tested as >= 0 (_paired), so -1 and -2 both mean never',
    ('learning', '__init__', 'self.pre_last = np.full(rule.arrays.n_axons, -1, np.int64)   # ps; -1: never', 54,
     '1', '2'):
        'no arrival yet: a last time is only ever tested as >= 0, so -1 and -2 both mean never',
    ('learning', 'apply_window', 'wpost = np.full(a.n_neurons, -1, np.int64)', 42, '1', '2'):
        "no spike of the neuron in this window: read only where wp >= 0",
    ('axons', 'dense_keys', 'if self.radix <= max(DENSE_KEYS_PER_EDGE * len(self.key), DENSE_KEYS_MIN):', 11,
     'self.radix <= max(DENSE_KEYS_PER_EDGE * len(self.key), DENSE_KEYS_MIN)',
     'self.radix < max(DENSE_KEYS_PER_EDGE * len(self.key), DENSE_KEYS_MIN)'):
        "keys renumbered densely at the bound itself: the greedy fill's table is smaller, the placement the same",
    ('devices', 'adc_for',
     'shift = max(0, math.ceil(math.log2(full / top))) if top > 0 else max(0, math.ceil(math.log2(full)))',
     62, '0', '1'):
        'top = 1 (a 2-bit ADC) then takes the other branch, where log2(full) is log2(full / 1)',
    ('quantise', '_axon_types', 'for _inner in range(len(w) + 1):', 28, 'len(w) + 1', 'len(w)'):
        "len(w) rounds always reach the fixed point: every round but the last drops a synapse, zeros all go in "
        "the first, a cell's last nonzero synapse is its own level's mean and stays; the one case short of a "
        'confirming round (a single zero weight) computes the same zero level',
    ('axons', 'per_core', 'if n_cores * float(self.radix) >= 2.0 ** 62:', 42, '2.0', '4.0'):
        'unreachable in practice: classes are 0..255 and delays 1..2^16, so core x radix reaches 2^62 only at '
        'cores x sources >= 2^38',
    ('partition', '_refine', 'if not better:', 11, 'not better', 'False'):
        'a pass that changed nothing leaves x and y as they were, so every later pass repeats it and fails '
        'too: the same side and cut after the remaining passes (speed only)',
    ('devices', 'normal_table', '@functools.lru_cache(maxsize=1)', 29, '1', '2'):
        'the cache of a function without arguments: one entry is all it ever holds',
    ('partition', '_refine', 'a, b = nodes[x > 0], nodes[x < 0]', 21, 'x > 0', 'x >= 0'):
        'x is +1 or -1 per node, never 0',
    ('partition', '_refine', 'a, b = nodes[x > 0], nodes[x < 0]', 35, 'x < 0', 'x <= 0'):
        'x is +1 or -1 per node, never 0',
    # sixth round, mutf (the clockless engine; private samples 450-499 and the seed-403 measurement)
    ('asyncnet', 'build_diffuser_network', 'if n_chips ** (k + 1) < 2**62:', 31, '62', '63'):
        'packed route keys below 2^63 still fit an int64 (the largest is n_chips^(k+1) - 1), and the packed '
        'order is the lexicographic order np.unique(axis=0) gives: the same routes in the same order',
    ('asynccuba', '_walk', 'np.minimum(g_u, 0.0) / float(self.T) * np.exp(-ku * g_left.astype(np.float64))).sum(axis=0)',
     32, '0.0', '1.0'):
        "only raises the floor leg's no-search bound (positive currents below 1 counted twice, larger ones once "
        "more): more neurons go to the exact search, which finds the same first ps, or none (then v stays on "
        "the floor, as without the search)",
    ('asynccore', '_crossings', 'if not m.any():', 11, 'not m.any()', 'False'):
        'a shortcut: with no neuron due, fire, the active-update count and the spike lists take empty arrays',
    ('asyncmodels', 'leak_steps', 'for k in range(w0 // self.T, (w_end - 1) // self.T + 1):', 38, 'w_end - 1',
     'w_end + 1'):
        "one tick more at most, whose steps all lie at or past its start k T >= w_end: the window's keep mask "
        'drops them (speed only)',
    ('asynccuba', '_low', 'g = np.where(kv > 0, -np.expm1(-kv * span) / np.where(kv > 0, kv, 1.0), span)', 82, '1.0',
     '2.0'):
        'a placeholder divisor where kv <= 0, whose quotient the outer np.where discards',
    ('asyncmodels', '_v_at', 'same = np.abs(diff) <= 1e-12 * np.maximum(kv, 1e-300)', 58, '1e-300', '2e-300'):
        'the floor only acts for kv = 0, where both tolerances (1e-312, 2e-312) take exactly ku = 0: no 12-bit '
        'decay over a tick below 2^62 ps gives a rate that small',
    ('asyncmodels', 'advance', 'v = np.where(t <= hold, 0.0, v)', 21, 't <= hold', 't < hold'):
        "at t = hold the free evolution starts at the hold's end from 0 (or from v = 0 left by the spike) and "
        'runs 0 ps: exactly 0, as the hold gives',
    ('asyncmodels', '_inside', 'd0 = -kv * v0 + (u0 * finite + b) / T', 25, 'u0 * finite', 'u0 / finite'):
        'where finite is true u0 / 1 is u0; where it is false (u0 = 0 or an instant current) d0 becomes nan, but '
        's_e is then forced to 0 (finite & ...), and nothing else reads d0',
    ('asynccore', 'run', 'if self.hooks is not None and boundary == end:', 11,
     'self.hooks is not None and boundary == end', 'False'):
        "unreachable: the loop reads a sample boundary at the run's end (boundary <= min(t0, end)) before it "
        'can leave on t0 >= end',
    # the seed-403 measurement (judged after it ran)
    ('asyncmodels', 'predict', 'u_gain = np.where(self.instant[idx] | (u0 <= 0), 0.0, u0 / (self.T * np.maximum(np.where(',
     77, 'np.maximum(np.where( np.isfinite(self.ku[idx]), self.ku[idx], 1.0), 1e-300)',
     '(np.minimum(np.where(np.isfinite(self.ku[idx]), self.ku[idx], 1.0), 1e-300))'):
        "only loosens the bound (a positive current's gain becomes about 1e291): more neurons go to _inside's "
        'exact search, which answers never where the bound did',
    ('asynccore', '_queue_checks', 'new = (p != self.queued[idx]) & (p < NEVER) & (p < self.end_ps)', 55,
     'p < self.end_ps', 'p <= self.end_ps'):
        'a check at exactly the end is never popped (the loop stops at t0 >= end) and is counted nowhere (the '
        'spike flow counts arrivals and inputs left in the queue, not checks)',
    ('asyncmodels', 'predict', 'over = self._v_at(sub, s_int.astype(np.float64), vs, zero) > ths', 23,
     'self._v_at(sub, s_int.astype(np.float64), vs, zero) > ths',
     'self._v_at(sub, s_int.astype(np.float64), vs, zero) >= ths'):
        'the closed-form branch is monotone rising, so v equals th on at most one whole ps; stepping back past '
        'it costs the forward loop one more of its 4 steps, which still end on the first ps above',
    ('asyncsim', '__init__',
     'self.queue = make_queue(queue, bucket_width=1 << min(40, w.bit_length() - 1), buckets=1 << 16,', 65,
     'w.bit_length() - 1', 'w.bit_length()'):
        "the timing wheel's bucket width: speed only (the queue's order does not depend on it)",
    # end of sixth round, mutf
}


@dataclass
class Mutant:
    """One seeded bug: where, what, and the source it turns the file into."""

    module: str
    line: int
    col: int
    kind: str
    before: str
    after: str
    function: str
    text: str = ""

    @property
    def key(self) -> str:
        return f"{self.module}:{self.line}:{self.col}:{self.kind}:{self.after}"


# --- finding mutants --------------------------------------------------------------------------------

_CMP_SWAP = {ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt, ast.Eq: ast.NotEq,
             ast.NotEq: ast.Eq, ast.Is: ast.IsNot, ast.IsNot: ast.Is, ast.In: ast.NotIn, ast.NotIn: ast.In}
_BIN_SWAP = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult, ast.FloorDiv: ast.Div,
             ast.Mod: ast.FloorDiv, ast.Pow: ast.Mult, ast.LShift: ast.RShift, ast.RShift: ast.LShift,
             ast.BitAnd: ast.BitOr, ast.BitOr: ast.BitAnd}
_ROUNDING = {"rint": "floor", "floor": "ceil", "ceil": "floor", "round": "int", "trunc": "round"}
_MINMAX = {"max": "min", "min": "max", "maximum": "minimum", "minimum": "maximum"}


def _skip_nodes(tree: ast.AST) -> set[int]:
    """Ids of nodes not to mutate: docstrings, raise statements, f-strings, annotations, __all__."""
    skip: set[int] = set()

    def all_of(node):
        for sub in ast.walk(node):
            skip.add(id(sub))

    for node in ast.walk(tree):
        if isinstance(node, (ast.Raise, ast.JoinedStr, ast.Assert)):
            all_of(node)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for a in node.args.args + node.args.kwonlyargs + node.args.posonlyargs:
                if a.annotation is not None:
                    all_of(a.annotation)
            if node.returns is not None:
                all_of(node.returns)
            for d in node.args.defaults + node.args.kw_defaults:
                if d is not None:
                    all_of(d)  # default arguments: an API choice, not a computation
        elif isinstance(node, ast.AnnAssign):
            all_of(node.annotation)
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            all_of(node)
        elif isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):
            all_of(node)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in ("warn",):
            all_of(node)
    return skip


def _variants(node: ast.AST) -> list[tuple[str, ast.AST]]:
    """(kind, mutated copy of node) for every mutation this node admits."""
    out: list[tuple[str, ast.AST]] = []
    if isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in _CMP_SWAP:
        m = copy.deepcopy(node)
        m.ops = [_CMP_SWAP[type(node.ops[0])]()]
        out.append(("comparison", m))
    elif isinstance(node, ast.BinOp) and type(node.op) in _BIN_SWAP:
        m = copy.deepcopy(node)
        m.op = _BIN_SWAP[type(node.op)]()
        out.append(("operator", m))
        if isinstance(node.op, (ast.Add, ast.Sub)):
            out.append(("drop term", copy.deepcopy(node.left)))
            if isinstance(node.op, ast.Add):
                out.append(("drop term", copy.deepcopy(node.right)))
        if isinstance(node.op, (ast.Mult, ast.Div)):
            out.append(("drop factor", copy.deepcopy(node.left)))
    elif isinstance(node, ast.BoolOp):
        m = copy.deepcopy(node)
        m.op = ast.Or() if isinstance(node.op, ast.And) else ast.And()
        out.append(("boolean", m))
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        out.append(("negation", copy.deepcopy(node.operand)))
    elif isinstance(node, ast.Constant) and type(node.value) in (int, float) and not isinstance(node.value, bool):
        v = node.value
        new = v + 1 if isinstance(v, int) else (1.0 if v == 0 else v * 2)
        out.append(("constant", ast.Constant(new)))
    elif isinstance(node, ast.Call):
        f = node.func
        name = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else None
        for table, kind in ((_ROUNDING, "rounding"), (_MINMAX, "min/max")):
            if name in table:
                m = copy.deepcopy(node)
                if isinstance(f, ast.Attribute):
                    m.func.attr = table[name]
                else:
                    m.func.id = table[name]
                out.append((kind, m))
    elif isinstance(node, ast.If):
        out.append(("remove branch", ast.Constant(False)))
        if node.orelse:
            out.append(("force branch", ast.Constant(True)))
    return out


def _target_span(node: ast.AST) -> ast.AST:
    """The node whose source span a mutant replaces (an If's test, not the whole statement)."""
    return node.test if isinstance(node, ast.If) else node


def find_mutants(module: str, source: str, functions: tuple[str, ...] | None = None) -> list[tuple[Mutant, str]]:
    """Every mutant of ``source`` as (Mutant, mutated source)."""
    tree = ast.parse(source)
    skip = _skip_nodes(tree)
    lines = source.splitlines(keepends=True)
    offsets = [0]
    for ln in lines:
        offsets.append(offsets[-1] + len(ln.encode()))
    raw = source.encode()
    owner: dict[int, str] = {}
    for fn in ast.walk(tree):  # breadth first: outer functions first, so the innermost name wins
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for sub in ast.walk(fn):
                owner[id(sub)] = fn.name
    out = []
    for node in ast.walk(tree):
        if id(node) in skip or not hasattr(node, "lineno"):
            continue
        fn = owner.get(id(node), "<module>")
        if functions is not None and fn not in functions:
            continue
        span = _target_span(node)
        for kind, mutated in _variants(node):
            start = offsets[span.lineno - 1] + span.col_offset
            end = offsets[span.end_lineno - 1] + span.end_col_offset
            before = raw[start:end].decode()
            after = ast.unparse(mutated)
            if "\n" in before:
                after = f"({after})"
            new = raw[:start] + after.encode() + raw[end:]
            try:
                ast.parse(new)
            except SyntaxError:
                continue
            out.append((Mutant(module, span.lineno, span.col_offset, kind, " ".join(before.split()),
                               after, fn, lines[span.lineno - 1].strip()), new.decode()))
    return out


# --- running them -----------------------------------------------------------------------------------

def make_copy() -> Path:
    """A private copy of the tree to mutate (compiled extensions included)."""
    tmp = Path(tempfile.mkdtemp(prefix="neuroemu-mutation-"))
    for d in COPY_DIRS:
        if (ROOT / d).exists():
            shutil.copytree(ROOT / d, tmp / d, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache"))
    for f in COPY_FILES:
        if (ROOT / f).exists():
            shutil.copy2(ROOT / f, tmp / f)
    return tmp


def run_tests(tree: Path, selection: list[str], timeout: float) -> tuple[str, float]:
    """'passed', 'failed' or 'timeout', and the seconds taken."""
    env = dict(os.environ, PYTHONPATH=str(tree), PYTHONDONTWRITEBYTECODE="1")
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "-m", "not slow", *selection]
    start = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=tree, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              timeout=timeout, start_new_session=True)
    except subprocess.TimeoutExpired:
        return "timeout", time.perf_counter() - start
    return ("passed" if proc.returncode == 0 else "failed"), time.perf_counter() - start


def check_copy_is_imported(tree: Path) -> None:
    """The copy, not the editable install, must be what the tests import."""
    env = dict(os.environ, PYTHONPATH=str(tree))
    got = subprocess.run([sys.executable, "-c", "import neuroemu; print(neuroemu.__file__)"], cwd=tree, env=env,
                         capture_output=True, text=True, check=True).stdout.strip()
    if not got.startswith(str(tree)):
        raise SystemExit(f"mutation: the copy at {tree} is not the neuroemu imported ({got}); refusing to run")


STOP = threading.Event()  # set on Ctrl-C: workers finish their current run, restore and clean up


def worker(tasks: list[tuple[Mutant, str, list[str], float]], results: list, out) -> None:
    """Run a list of mutants in one private copy, restoring each file after its run."""
    tree = make_copy()
    try:
        check_copy_is_imported(tree)
        for mutant, source, selection, timeout in tasks:
            if STOP.is_set():
                break
            path = tree / MODULES[mutant.module][0]
            original = path.read_bytes()
            try:
                path.write_text(source)
                status, secs = run_tests(tree, selection, timeout)
            finally:
                path.write_bytes(original)
            rec = {**asdict(mutant), "status": "survived" if status == "passed" else "killed",
                   "how": status, "seconds": round(secs, 1)}
            eq = equivalent_reason(mutant)
            if rec["status"] == "survived" and eq:
                rec["equivalent"] = eq
            results.append(rec)
            out.write(json.dumps(rec) + "\n")
            out.flush()
            print(f"  {rec['status']:8s} {mutant.module}:{mutant.line} [{mutant.kind}] {mutant.before!r} -> "
                  f"{mutant.after!r} ({secs:.0f} s)", flush=True)
    finally:
        shutil.rmtree(tree, ignore_errors=True)


def equivalent_reason(mutant: Mutant) -> str | None:
    """The recorded reason ``mutant`` is equivalent, matched on its exact place, or None."""
    return EQUIVALENT.get((mutant.module, mutant.function, mutant.text, mutant.col, mutant.before, mutant.after))


def stale_equivalents(plan: dict[str, list[Mutant]]) -> list[tuple]:
    """``EQUIVALENT`` keys of the modules in ``plan`` (all their mutants) that match no mutant: their
    code has changed, so the entry must be checked again and updated or removed."""
    found = {(m.module, m.function, m.text, m.col, m.before, m.after) for ms in plan.values() for m in ms}
    return [k for k in EQUIVALENT if k[0] in plan and k not in found]


def seed_named(text: str, old: str, new: str) -> str | None:
    """``text`` with the named mutant seeded, or None when ``old`` is not found exactly once (a stale
    entry: its code has changed, so ``NAMED`` must follow it)."""
    if text.count(old) != 1:
        return None
    return text.replace(old, new)


def run_named(results: list, out) -> None:
    """Seed each of the issue's named bugs by text into a private copy and run its tests.

    A named mutant whose text is no longer in its file is recorded as ``stale`` (not run, not
    counted) and the run goes on; the summary lists it."""
    tree = make_copy()
    try:
        check_copy_is_imported(tree)
        for rel, old, new, selection in NAMED:
            if STOP.is_set():
                break
            path = tree / rel
            original = path.read_bytes()
            text = original.decode()
            seeded = seed_named(text, old, new)
            rec = {"module": "named", "line": text[:text.index(old)].count("\n") + 1 if seeded else 0, "col": 0,
                   "kind": "named", "before": old, "after": new, "function": rel}
            if seeded is None:
                rec.update(how=f"stale: found {text.count(old)} times, not once", seconds=0.0, status="stale")
                secs = 0.0
            else:
                try:
                    path.write_text(seeded)
                    status, secs = run_tests(tree, selection, 600)
                finally:
                    path.write_bytes(original)
                rec.update(how=status, seconds=round(secs, 1), status="survived" if status == "passed" else "killed")
            results.append(rec)
            out.write(json.dumps(rec) + "\n")
            out.flush()
            print(f"  {rec['status']:8s} {rel}:{rec['line']} [named] {old!r} -> {new!r} ({secs:.0f} s)", flush=True)
    finally:
        shutil.rmtree(tree, ignore_errors=True)


def summarise(results: list[dict]) -> str:
    """Per-module table and the kill rate over non-equivalent mutants (stale named entries, which did
    not run, are listed below the table and not counted)."""
    rows = ["| module | mutants | killed | survived (equivalent) | kill rate (non-equivalent) |",
            "|---|---:|---:|---:|---:|"]
    tot = [0, 0, 0, 0]
    stale = [r for r in results if r["status"] == "stale"]
    for module in [*MODULES, "named"]:
        rs = [r for r in results if r["module"] == module and r["status"] != "stale"]
        if not rs:
            continue
        killed = sum(r["status"] == "killed" for r in rs)
        surv = [r for r in rs if r["status"] == "survived"]
        eq = sum(1 for r in surv if r.get("equivalent"))
        denom = len(rs) - eq
        rows.append(f"| {module} | {len(rs)} | {killed} | {len(surv)} ({eq}) | "
                    f"{killed / denom:.0%} |" if denom else f"| {module} | {len(rs)} | {killed} | {len(surv)} ({eq}) | - |")
        for i, v in enumerate((len(rs), killed, len(surv), eq)):
            tot[i] += v
    denom = tot[0] - tot[3]
    rows.append(f"| **all** | {tot[0]} | {tot[1]} | {tot[2]} ({tot[3]}) | "
                f"{(tot[1] / denom if denom else 0):.1%} |")
    rows += [f"stale {r['function']}: {r['before']!r} ({r['how']}); update NAMED" for r in stale]
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--modules", default=",".join(MODULES), help="comma-separated: " + ", ".join(MODULES))
    ap.add_argument("--max-per-module", type=int, default=30, help="sample at most this many mutants per module")
    ap.add_argument("--seed", type=int, default=20, help="seed of the sample")
    ap.add_argument("--jobs", type=int, default=1, help="parallel workers (each has its own copy)")
    ap.add_argument("--timeout-factor", type=float, default=4.0, help="a run slower than this x baseline is killed")
    ap.add_argument("--out", default="build/mutation-results.jsonl")
    ap.add_argument("--list", action="store_true", help="list the mutants and exit")
    ap.add_argument("--named", action="store_true", help="run only the issue's named mutants (NAMED)")
    ap.add_argument("--no-named", action="store_true", help="skip the named mutants (a run of one module at a time)")
    ap.add_argument("--only-survivors", metavar="JSONL", help="rerun only the survivors recorded in this file")
    args = ap.parse_args(argv)
    names = [m.strip() for m in args.modules.split(",") if m.strip()]
    unknown = [m for m in names if m not in MODULES]
    if unknown:
        ap.error(f"unknown module(s) {', '.join(unknown)}; valid: {', '.join(MODULES)}")
    keep = None
    if args.only_survivors:  # matched by module, function, kind, text and column: edits elsewhere do not matter
        rows = [json.loads(line) for line in Path(args.only_survivors).read_text().splitlines() if line.strip()]
        keep = {(r["module"], r["function"], r["kind"], r["before"], r["after"], r["col"]) for r in rows
                if r["status"] == "survived" and r["module"] != "named"}
    plan: dict[str, list[tuple[Mutant, str]]] = {}
    every: dict[str, list[Mutant]] = {}
    for name in names:
        path, _, functions = MODULES[name]
        found = find_mutants(name, (ROOT / path).read_text(), functions)
        every[name] = [m for m, _ in found]
        if keep is not None:
            found = [m for m in found if (m[0].module, m[0].function, m[0].kind, m[0].before, m[0].after, m[0].col) in keep]
        elif len(found) > args.max_per_module:
            found = random.Random(f"{args.seed}:{name}").sample(found, args.max_per_module)
            found.sort(key=lambda m: (m[0].line, m[0].col))
        plan[name] = found
    for key in stale_equivalents(every):  # reported, never fatal: the run goes on
        print(f"stale EQUIVALENT entry (its code changed; check it again): {key!r}", flush=True)
    if args.list:
        for name, found in plan.items():
            for m, _ in found:
                eq = " (equivalent)" if equivalent_reason(m) else ""
                print(f"{name}:{m.line}:{m.col} {m.function} [{m.kind}] {m.before!r} -> {m.after!r}{eq}")
        return 0
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    results: list[dict] = []
    if args.named:
        with open(args.out, "w") as out:
            try:
                run_named(results, out)
            except KeyboardInterrupt:
                print("interrupted (the working tree is never touched)", flush=True)
        print(summarise(results))
        return 0
    tree = make_copy()
    try:
        check_copy_is_imported(tree)
        tasks = []
        for name, found in plan.items():
            selection = MODULES[name][1]
            status, secs = run_tests(tree, selection, 1800)
            if status != "passed":
                raise SystemExit(f"mutation: the unmutated tests for {name} do not pass ({status}); fix them first")
            print(f"{name}: {len(found)} mutants, baseline {secs:.0f} s", flush=True)
            tasks += [(m, src, selection, max(60.0, args.timeout_factor * secs)) for m, src in found]
    finally:
        shutil.rmtree(tree, ignore_errors=True)
    chunks = [tasks[i::args.jobs] for i in range(args.jobs)]
    with open(args.out, "w") as out:
        pool = cf.ThreadPoolExecutor(args.jobs)
        futures = [pool.submit(worker, c, results, out) for c in chunks if c]
        try:
            for f in futures:
                while True:
                    try:
                        f.result(timeout=1.0)
                        break
                    except cf.TimeoutError:
                        continue
        except KeyboardInterrupt:
            STOP.set()
            print("interrupted: finishing the runs under way (the working tree is never touched)", flush=True)
        pool.shutdown(wait=True)
        if not STOP.is_set() and keep is None and not args.no_named:
            run_named(results, out)
    print(summarise(results))
    for r in results:
        if r["status"] == "survived":
            note = f" -- equivalent: {r['equivalent']}" if r.get("equivalent") else ""
            print(f"survived {r['module']}:{r['line']} ({r['function']}) [{r['kind']}] {r['before']!r} -> "
                  f"{r['after']!r}{note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
