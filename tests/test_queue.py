"""Tests of neuroemu.kernel.queue: both backends, one contract, bit-identical batches."""
from __future__ import annotations


import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from neuroemu.errors import NeuroEmuError, QueueError
from neuroemu.kernel import queue as queue_mod
from neuroemu.kernel.events import BATCH_DTYPES, EventBatch
from neuroemu.kernel.queue import available_backends, make_queue

BACKENDS = available_backends()
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1

#: C wheels that force every path: one slot, tiny fixed wheels (overflow, wrap-around, runs),
#: and an adaptive wheel that starts tiny (rebuilds)
C_TUNINGS = [
    {},
    {"bucket_width": 1, "buckets": 1},
    {"bucket_width": 4, "buckets": 4},
    {"bucket_width": 2**10, "buckets": 64, "adaptive": False},
    {"bucket_width": 2, "buckets": 2, "adaptive": True},
]


def test_c_backend_is_built():
    """The C queue must be importable once the package is installed (pip install -e .)."""
    assert "c" in BACKENDS, "neuroemu.kernel._eventq is not built; run `pip install -e .`"


@pytest.fixture(params=BACKENDS)
def backend(request):
    return request.param


def as_tuples(batch: EventBatch) -> list[tuple]:
    return list(zip(*(col.tolist() for col in batch)))


def assert_batch_equal(a: EventBatch, b: EventBatch):
    for name, x, y, dtype in zip(EventBatch._fields, a, b, BATCH_DTYPES):
        assert x.dtype == dtype and y.dtype == dtype, name
        assert x.shape == y.shape and x.ndim == 1, name
        assert np.array_equal(x, y), name


# ---- basic behaviour ---------------------------------------------------------------------------

def test_ties_pop_by_priority_then_insertion(backend):
    q = make_queue(backend)
    assert q.backend == backend
    q.push(10, kind=1, target=100)                                  # seq 0
    q.push_batch([10, 5, 10, 10], kind=2, target=[1, 2, 3, 4],
                 priority=[1, 0, 0, 1])                              # seq 1..4
    q.push(10, kind=3, target=200, priority=-1)                     # seq 5
    q.push(5, kind=3, target=300, payload=7)                        # seq 6
    assert len(q) == 7 and q.next_time() == 5
    b = q.pop_before(11)
    assert b.time.tolist() == [5, 5, 10, 10, 10, 10, 10]
    assert b.priority.tolist() == [0, 0, -1, 0, 0, 1, 1]
    assert b.seq.tolist() == [2, 6, 5, 0, 3, 1, 4]
    assert b.target.tolist() == [2, 300, 200, 100, 3, 1, 4]
    assert b.payload.tolist() == [0, 7, 0, 0, 0, 0, 0]
    assert len(q) == 0 and q.next_time() is None


def test_push_returns_global_seq(backend):
    q = make_queue(backend)
    assert q.push(1, 0, 0) == 0
    q.push_batch([1, 2, 3], 0, 0)
    assert q.push(4, 0, 0) == 4
    assert q.pop_before(100).seq.tolist() == [0, 1, 2, 3, 4]


def test_broadcast_scalars(backend):
    q = make_queue(backend)
    q.push_batch(7, kind=np.int32(3), target=np.arange(4, dtype=np.int16), payload=[9, 8, 7, 6])
    q.push_batch(np.array([8, 8], np.uint32), 1, 5)                 # time array, scalars
    q.push_batch(9, 2, 6)                                            # all scalars: one event
    b = q.pop_before(10)
    assert b.time.tolist() == [7, 7, 7, 7, 8, 8, 9]
    assert b.kind.tolist() == [3, 3, 3, 3, 1, 1, 2]
    assert b.target.tolist() == [0, 1, 2, 3, 5, 5, 6]
    assert b.payload.tolist() == [9, 8, 7, 6, 0, 0, 0]
    assert b.seq.tolist() == list(range(7))


def test_empty_pops_have_the_right_dtypes(backend):
    q = make_queue(backend)
    for batch in (q.pop_before(0), q.pop_before(INT64_MIN), q.pop_before(10**9)):
        assert_batch_equal(batch, EventBatch(*(np.empty(0, d) for d in BATCH_DTYPES)))
    q.push(2 * 10**9, 0, 0)
    assert len(q.pop_before(2 * 10**9).time) == 0
    assert len(q.pop_before(2 * 10**9, max_events=0).time) == 0
    q.push_batch([], [], [])
    assert len(q) == 1


def test_batches_and_inputs_are_independent_of_the_queue(backend):
    q = make_queue(backend)
    times = np.array([1, 2, 3, 4], np.int64)
    targets = np.arange(4, dtype=np.int64)
    q.push_batch(times, 0, targets)
    times[:] = 0                         # the queue copied its inputs
    targets += 10
    first = q.pop_before(3)
    for col in first:
        col[...] += 100                  # popped arrays are writable and owned by the caller
    empty = q.pop_before(0)
    empty.time[...] += 1                 # empty batches too
    rest = q.pop_before(10)
    assert rest.time.tolist() == [3, 4] and rest.target.tolist() == [2, 3]


def test_horizon_and_causality(backend):
    q = make_queue(backend)
    assert q.horizon == INT64_MIN
    q.push(100, 0, 0)
    q.pop_before(50)
    assert q.horizon == 50
    q.pop_before(20)                     # an earlier time_end never lowers the horizon
    assert q.horizon == 50
    q.push(50, 0, 1)                     # at the horizon is allowed
    with pytest.raises(QueueError, match=r"causality: event at t=49 ps is before the popped horizon 50 ps"):
        q.push(49, 0, 2)
    with pytest.raises(QueueError, match=r"t=10 ps .*horizon 50 ps.*element 1 of the batch"):
        q.push_batch([60, 10, 5], 0, 0)
    assert len(q) == 2                   # a rejected batch queues nothing and uses no seq
    assert q.push(70, 0, 3) == 2
    assert q.pop_before(1000).time.tolist() == [50, 70, 100]


def test_negative_times_are_rejected(backend):
    q = make_queue(backend)
    with pytest.raises(QueueError, match=r"event time must be >= 0 ps, got t=-1 ps"):
        q.push(-1, 0, 0)
    with pytest.raises(QueueError, match=r"t=-5 ps \(element 2 of the batch\)"):
        q.push_batch([0, 1, -5], 0, 0)
    with pytest.raises(QueueError, match=r"t=-5 ps \(element 0 of the batch\)"):
        q.push_batch(-5, 0, [1, 2])
    assert len(q) == 0


@pytest.mark.parametrize("call, match", [
    (lambda q: q.push(1.5, 0, 0), r"time must be an integer"),
    (lambda q: q.push(2**63, 0, 0), r"time must fit in int64"),
    (lambda q: q.push(1, 0, 0, priority=2**31), r"priority must fit in int32"),
    (lambda q: q.push(1, -2**31 - 1, 0), r"kind must fit in int32"),
    (lambda q: q.push_batch(np.array([1.0, 2.0]), 0, 0), r"time must be integers .*float64"),
    (lambda q: q.push_batch([1, 2], 0, [1, 2, 3]), r"one length .*target: 3, time: 2"),
    (lambda q: q.push_batch([1, 2], 0, 0, priority=np.array([0, 2**40])), r"priority must fit in int32"),
    (lambda q: q.push_batch(np.array([2**63], np.uint64), 0, 0), r"time must fit in int64"),
    (lambda q: q.push_batch(np.zeros((2, 2), np.int64), 0, 0), r"scalar or a 1-D array"),
    (lambda q: q.pop_before(1.0), r"time_end must be an integer"),
    (lambda q: q.pop_before(10, max_events=-1), r"max_events must fit"),
])
def test_bad_arguments_raise_queue_error(backend, call, match):
    q = make_queue(backend)
    with pytest.raises(QueueError, match=match):
        call(q)
    assert len(q) == 0


def test_max_events_leaves_the_rest_queued(backend):
    q = make_queue(backend)
    q.push_batch(np.arange(10, dtype=np.int64) // 3, 0, np.arange(10))
    first = q.pop_before(3, max_events=4)
    assert first.target.tolist() == [0, 1, 2, 3]
    assert q.horizon == 3 and len(q) == 6 and q.next_time() == 1
    assert q.pop_before(3, max_events=100).target.tolist() == [4, 5, 6, 7, 8]
    assert q.pop_before(100).target.tolist() == [9]


def test_huge_times_and_gaps(backend):
    q = make_queue(backend)
    q.push_batch([2**62, 0, INT64_MAX, 2**40, 1], 0, [0, 1, 2, 3, 4])
    assert q.next_time() == 0
    assert q.pop_before(2).target.tolist() == [1, 4]
    assert q.next_time() == 2**40
    assert q.pop_before(2**62 + 1).target.tolist() == [3, 0]
    assert q.next_time() == INT64_MAX
    q.push(2**62 + 1, 0, 5)
    assert q.pop_before(INT64_MAX).target.tolist() == [5]
    assert len(q) == 1 and q.next_time() == INT64_MAX
    with pytest.raises(QueueError, match="causality"):
        q.push(INT64_MAX - 1, 0, 6)
    q.push(INT64_MAX, 0, 7)
    assert q.pop_before(INT64_MAX).target.tolist() == []
    assert len(q) == 2


def test_synchronous_ticks_match_across_backends():
    """~20k events per tick at exactly the tick time, pushed 1-15 ticks ahead."""
    tick = 10**9
    rng = np.random.default_rng(1)
    queues = [make_queue(b) for b in BACKENDS]
    out = [[] for _ in queues]
    for t in range(46):
        n = int(rng.integers(15_000, 25_000))
        delay = rng.integers(1, 16, n)
        targets = rng.integers(0, 2**20, n)
        for q, o in zip(queues, out):
            batch = q.pop_before((t + 1) * tick)
            o.append(batch)
            if t < 30:
                q.push_batch((t + delay) * tick, 1, targets, payload=t)
    for batches in zip(*out):
        for b in batches[1:]:
            assert_batch_equal(batches[0], b)
    assert all(len(q) == 0 for q in queues)
    assert sum(len(b.time) for b in out[0]) > 400_000


# ---- backend selection -----------------------------------------------------------------------

def test_env_var_selects_the_backend(monkeypatch):
    monkeypatch.setenv("NEUROEMU_QUEUE", "python")
    assert make_queue().backend == "python"
    if "c" in BACKENDS:
        monkeypatch.setenv("NEUROEMU_QUEUE", "c")
        assert make_queue().backend == "c"
        monkeypatch.delenv("NEUROEMU_QUEUE")
        assert make_queue().backend == "c"
        assert make_queue("python").backend == "python"


def test_bad_backend_names_the_variable_and_the_choices(monkeypatch):
    monkeypatch.setenv("NEUROEMU_QUEUE", "rust")
    with pytest.raises(QueueError) as err:
        make_queue()
    msg = str(err.value)
    assert "'rust'" in msg and "NEUROEMU_QUEUE" in msg and "valid backends: c, python" in msg
    assert isinstance(err.value, NeuroEmuError)
    with pytest.raises(QueueError, match=r"'heap'.*NEUROEMU_QUEUE.*valid backends: c, python"):
        make_queue("heap")


def test_missing_extension_says_how_to_build(monkeypatch):
    monkeypatch.setattr(queue_mod, "_lib", None)
    monkeypatch.setattr(queue_mod, "_IMPORT_ERROR", ImportError("no module named _eventq"))
    assert available_backends() == ["python"]
    with pytest.raises(QueueError, match=r"not built.*pip install -e \..*NEUROEMU_QUEUE=python"):
        make_queue("c")


def test_tuning_is_checked_on_both_backends(backend):
    make_queue(backend, bucket_width=2**30, buckets=64, adaptive=False)
    with pytest.raises(QueueError, match=r"unknown event-queue tuning option\(s\) width; valid: bucket_width"):
        make_queue(backend, width=4)
    with pytest.raises(QueueError, match="bucket_width must be a power of two"):
        make_queue(backend, bucket_width=1000)
    with pytest.raises(QueueError, match="buckets must be a power of two"):
        make_queue(backend, buckets=100)


def test_c_wheel_adapts_to_the_window():
    q = make_queue("c")
    q.push_batch(np.arange(1, 16, dtype=np.int64) * 10**9, 0, 0)
    q.pop_before(10**9)
    s = q.stats()
    assert s["bucket_shift"] == 29 and s["rebuilds"] == 1 and s["overflow_events"] == 0
    fixed = make_queue("c", bucket_width=2**10)
    fixed.push(10**9, 0, 0)
    fixed.pop_before(10**3)
    assert fixed.stats()["bucket_shift"] == 10 and fixed.stats()["adaptive"] == 0


# ---- the property test: every backend and wheel agrees with sorted() ---------------------------

OFFSETS = [0, 0, 0, 1, 1, 2, 3, 7, 64, 1000, 2**20, 2**30, 3 * 10**9, 2**40, 2**62]
times = st.tuples(st.sampled_from(["zero", "horizon"]), st.sampled_from(OFFSETS))
prios = st.sampled_from([0, 1, 2])
small = st.integers(-3, 3)
events = st.tuples(times, prios, small, small, small)

ops = st.one_of(
    st.tuples(st.just("push"), events),
    st.tuples(st.just("batch"), st.lists(events, max_size=25), st.booleans(), st.booleans()),
    st.tuples(st.just("pop"), times, st.one_of(st.none(), st.sampled_from([0, 1, 2, 5, 20]))),
    st.tuples(st.just("next")),
    st.tuples(st.just("retune"), st.sampled_from([0, 1, 3, 12, 31, 62]), st.sampled_from([1, 2, 8, 256])),
)


class Model:
    """The contract, written the obvious way."""

    def __init__(self):
        self.pending: list[tuple] = []
        self.seq = 0
        self.horizon = INT64_MIN

    def push(self, rows):
        lo = max(self.horizon, 0)
        if any(r[0] < lo for r in rows):
            return False
        for t, p, k, g, y in rows:
            self.pending.append((t, p, self.seq, k, g, y))
            self.seq += 1
        return True

    def pop(self, te, limit):
        self.pending.sort()
        due = [e for e in self.pending if e[0] < te]
        if limit is not None:
            due = due[:limit]
        self.pending = self.pending[len(due):]
        self.horizon = max(self.horizon, te)
        return due


def resolve(spec, horizon):
    anchor, offset = spec
    t = (max(horizon, 0) if anchor == "horizon" else 0) + offset
    return min(t, INT64_MAX)


def make_all():
    qs = [make_queue("python")]
    if "c" in BACKENDS:
        qs += [make_queue("c", **tuning) for tuning in C_TUNINGS]
    return qs


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(ops, max_size=40))
def test_backends_agree_with_sorted_model(program):
    model, queues = Model(), make_all()
    for op in program:
        if op[0] in ("push", "batch"):
            evs = [op[1]] if op[0] == "push" else op[1]
            rows = [(resolve(ts, model.horizon), p, k, g, y) for ts, p, k, g, y in evs]
            one_prio = op[0] == "batch" and op[2] and rows
            one_payload = op[0] == "batch" and op[3] and rows
            if one_prio:
                rows = [(t, rows[0][1], k, g, y) for t, _, k, g, y in rows]
            if one_payload:
                rows = [(t, p, k, g, rows[0][4]) for t, p, k, g, _ in rows]
            ok = model.push(rows)
            errors = set()
            for q in queues:
                try:
                    if op[0] == "push":
                        t, p, k, g, y = rows[0]
                        assert q.push(t, k, g, y, priority=p) == model.seq - 1
                    else:
                        t, p, k, g, y = ([np.array(c, np.int64) for c in zip(*rows)] if rows
                                         else [[]] * 5)
                        q.push_batch(t, k, g, payload=rows[0][4] if one_payload else y,
                                     priority=rows[0][1] if one_prio else p)
                except QueueError as exc:
                    assert not ok
                    errors.add(str(exc))
                else:
                    assert ok
            assert len(errors) <= 1, errors      # the same message from every backend
        elif op[0] == "pop":
            te, limit = resolve(op[1], model.horizon), op[2]
            want = model.pop(te, limit)
            batches = [q.pop_before(te, limit) for q in queues]
            assert as_tuples(batches[0]) == want
            for b in batches[1:]:
                assert_batch_equal(batches[0], b)
        elif op[0] == "next":
            want = min(model.pending)[0] if model.pending else None
            assert all(q.next_time() == want for q in queues)
        else:
            for q in queues[1:]:
                q.retune(2 ** op[1], op[2])
        assert all(len(q) == len(model.pending) for q in queues)
        assert all(q.horizon == model.horizon for q in queues)
    final = [q.pop_before(INT64_MAX) for q in queues]
    assert as_tuples(final[0]) == model.pop(INT64_MAX, None)
    for b in final[1:]:
        assert_batch_equal(final[0], b)
