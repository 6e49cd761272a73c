/* eventq.c -- a calendar queue (timing wheel) over integer picosecond time.
 *
 * Layout. The wheel is a ring of nb slots; slot s holds the bucket of absolute index ab, where
 * ab = time >> shift and s = ab & (nb - 1), for ab in [base, base + nb). A bucket is a growable
 * array of events appended in push order, with an occupancy bitmap to skip empty slots quickly.
 * Events further ahead go to the overflow: an "open run" (an array in push order) that is sealed
 * (sorted) into a run when the wheel reaches it; sealed runs sit in a min-heap by first time and
 * are poured into the wheel prefix by prefix as the base advances.
 *
 * Order. Every bucket holds its events in seq order for equal (time, priority): direct pushes
 * come in seq order, and a bucket only receives migrated events when it enters the wheel, before
 * any direct push can reach it, poured run by run in run-id order (every event of a run was
 * pushed before every event of a later run). So a stable sort by (time, priority) gives the
 * exact (time, priority, seq) order, and a bucket whose appends never went backwards in
 * (time, priority) needs no sort at all -- the common case of many events at one time.
 *
 * Adaptation. With adaptive on, the bucket width follows the popped windows (about one window
 * per bucket) and the slot count grows when too many pushes land beyond the wheel. A retune
 * (rebuild) drains everything in order and re-buckets it; it never changes the pop order.
 *
 * Errors are return codes; out of memory marks the queue broken (every later call fails)
 * because a half-done operation cannot always be undone.
 */
#include <stdlib.h>
#include <string.h>
#include "eventq.h"

#define EQ_MAX_BUCKETS ((int64_t)1 << 20)
#define EQ_AUTO_MAX_BUCKETS ((uint64_t)1 << 16)
#define EQ_POOL_MAX 32
#define EQ_MIN_CAP 16
#define EQ_SMALL_SORT 24
#define EQ_ADAPT_PUSHES 65536

#if defined(_MSC_VER)
#include <intrin.h>
static int ctz64(uint64_t x) { unsigned long i; _BitScanForward64(&i, x); return (int)i; }
#else
#define ctz64(x) __builtin_ctzll(x)
#endif

typedef struct {
    int64_t time;
    int64_t seq;
    int64_t target;
    int64_t payload;
    int32_t priority;
    int32_t kind;
} ev_t;

typedef struct {
    ev_t *ev;
    int64_t head, len, cap; /* live events are ev[head:len] */
    int sorted;             /* ev[head:len] is in (time, priority, seq) order */
    int needseq;            /* equal (time, priority) may be out of seq order (after a rebuild) */
} bucket_t;

typedef struct {
    ev_t *ev;
    int64_t head, len, id;  /* ev[head:len], sorted; id orders runs by push time */
} run_t;

typedef struct {
    ev_t *ev;
    int64_t cap;
} pooled_t;

struct eq_queue {
    int shift;
    uint64_t nb, mask, nwords;
    int64_t base;
    bucket_t *buckets;
    uint64_t *bits;
    int64_t wheel_count;

    ev_t *open;
    int64_t open_len, open_cap, open_min;
    int open_sorted, open_needseq;
    run_t *runs;
    int64_t nruns, runs_cap, next_run_id;
    run_t *mig;
    int64_t mig_cap;

    int64_t count, next_seq, horizon;

    int adaptive, votes, vote_dir;
    int64_t last_end, npops, pushes, ovf_pushes, nb_init, rebuilds;

    ev_t *scratch;
    int64_t scratch_cap;
    unsigned char *out;
    int64_t out_cap;
    pooled_t pool[EQ_POOL_MAX];
    int npool;
    int broken;
};

static int fail(eq_queue *q, int rc)
{
    if (rc == EQ_ERR_NOMEM)
        q->broken = 1;
    return rc;
}

static inline int key_less(const ev_t *a, const ev_t *b)
{
    return a->time < b->time || (a->time == b->time && a->priority < b->priority);
}

static inline int full_less(const ev_t *a, const ev_t *b)
{
    if (a->time != b->time)
        return a->time < b->time;
    if (a->priority != b->priority)
        return a->priority < b->priority;
    return a->seq < b->seq;
}

static void *alloc_events(int64_t n)
{
    if (n < 0 || (uint64_t)n > SIZE_MAX / sizeof(ev_t))
        return NULL;
    return malloc((size_t)n * sizeof(ev_t));
}

static void *realloc_events(void *p, int64_t n)
{
    if (n < 0 || (uint64_t)n > SIZE_MAX / sizeof(ev_t))
        return NULL;
    return realloc(p, (size_t)n * sizeof(ev_t));
}

/* ---- sorting ---------------------------------------------------------------------------- */

static int ensure_scratch(eq_queue *q, int64_t n)
{
    if (n <= q->scratch_cap)
        return EQ_OK;
    int64_t cap = q->scratch_cap * 2 > n ? q->scratch_cap * 2 : n;
    ev_t *p = alloc_events(cap);
    if (!p)
        return EQ_ERR_NOMEM;
    free(q->scratch);
    q->scratch = p;
    q->scratch_cap = cap;
    return EQ_OK;
}

/* One stable LSD counting pass on the byte DIGIT(e) of every event, src -> dst, then swap. */
#define RADIX_PASS(DIGIT)                                                   \
    do {                                                                    \
        int64_t cnt_[256];                                                  \
        memset(cnt_, 0, sizeof cnt_);                                       \
        for (int64_t i_ = 0; i_ < n; i_++) {                                \
            const ev_t *e = &src[i_];                                       \
            cnt_[(DIGIT) & 0xFF]++;                                         \
        }                                                                   \
        int64_t sum_ = 0;                                                   \
        for (int d_ = 0; d_ < 256; d_++) {                                  \
            int64_t c_ = cnt_[d_];                                          \
            cnt_[d_] = sum_;                                                \
            sum_ += c_;                                                     \
        }                                                                   \
        for (int64_t i_ = 0; i_ < n; i_++) {                                \
            const ev_t *e = &src[i_];                                       \
            dst[cnt_[(DIGIT) & 0xFF]++] = *e;                               \
        }                                                                   \
        ev_t *t_ = src;                                                     \
        src = dst;                                                          \
        dst = t_;                                                           \
    } while (0)

/* Stable sort of a[0:n] by (time, priority), or by (time, priority, seq) when with_seq.
 * Radix passes only run on the bytes that actually differ between keys, so a bucket of a few
 * nanoseconds with one priority costs one or two passes. */
static int sort_events(eq_queue *q, ev_t *a, int64_t n, int with_seq)
{
    if (n < 2)
        return EQ_OK;
    if (n <= EQ_SMALL_SORT) {
        for (int64_t i = 1; i < n; i++) {
            ev_t x = a[i];
            int64_t j = i;
            while (j > 0 && (with_seq ? full_less(&x, &a[j - 1]) : key_less(&x, &a[j - 1]))) {
                a[j] = a[j - 1];
                j--;
            }
            a[j] = x;
        }
        return EQ_OK;
    }
    uint64_t tor = 0, tand = ~(uint64_t)0, sor = 0, sand = ~(uint64_t)0;
    uint32_t por = 0, pand = ~(uint32_t)0;
    for (int64_t i = 0; i < n; i++) {
        uint64_t t = (uint64_t)a[i].time, s = (uint64_t)a[i].seq;
        uint32_t p = (uint32_t)a[i].priority ^ 0x80000000u;
        tor |= t; tand &= t; sor |= s; sand &= s; por |= p; pand &= p;
    }
    uint64_t tdiff = tor ^ tand, sdiff = with_seq ? (sor ^ sand) : 0;
    uint32_t pdiff = por ^ pand;
    if (!tdiff && !sdiff && !pdiff)
        return EQ_OK;
    if (ensure_scratch(q, n))
        return EQ_ERR_NOMEM;
    ev_t *src = a, *dst = q->scratch;
    for (int b = 0; b < 64; b += 8)
        if ((sdiff >> b) & 0xFF)
            RADIX_PASS((uint64_t)e->seq >> b);
    for (int b = 0; b < 32; b += 8)
        if ((pdiff >> b) & 0xFF)
            RADIX_PASS(((uint32_t)e->priority ^ 0x80000000u) >> b);
    for (int b = 0; b < 64; b += 8)
        if ((tdiff >> b) & 0xFF)
            RADIX_PASS((uint64_t)e->time >> b);
    if (src != a)
        memcpy(a, src, (size_t)n * sizeof(ev_t));
    return EQ_OK;
}

/* ---- buckets ------------------------------------------------------------------------------ */

/* Emptied bucket arrays are kept for reuse: in a synchronous run one bucket empties and one
 * fills per tick, so the same few large arrays cycle instead of being regrown every tick. */
static void pool_put(eq_queue *q, ev_t *ev, int64_t cap)
{
    if (!ev)
        return;
    if (q->npool < EQ_POOL_MAX) {
        q->pool[q->npool].ev = ev;
        q->pool[q->npool].cap = cap;
        q->npool++;
        return;
    }
    int small = 0;
    for (int i = 1; i < EQ_POOL_MAX; i++)
        if (q->pool[i].cap < q->pool[small].cap)
            small = i;
    if (q->pool[small].cap < cap) {
        free(q->pool[small].ev);
        q->pool[small].ev = ev;
        q->pool[small].cap = cap;
    } else {
        free(ev);
    }
}

static int bucket_grow(eq_queue *q, bucket_t *b)
{
    if (b->cap == 0) {
        if (q->npool) {
            q->npool--;
            b->ev = q->pool[q->npool].ev;
            b->cap = q->pool[q->npool].cap;
            return EQ_OK;
        }
        b->ev = alloc_events(EQ_MIN_CAP);
        if (!b->ev)
            return EQ_ERR_NOMEM;
        b->cap = EQ_MIN_CAP;
        return EQ_OK;
    }
    if (b->head >= b->cap / 2) { /* a partly popped bucket: reuse its front */
        memmove(b->ev, b->ev + b->head, (size_t)(b->len - b->head) * sizeof(ev_t));
        b->len -= b->head;
        b->head = 0;
        return EQ_OK;
    }
    ev_t *p = realloc_events(b->ev, b->cap * 2);
    if (!p)
        return EQ_ERR_NOMEM;
    b->ev = p;
    b->cap *= 2;
    return EQ_OK;
}

static void bucket_release(eq_queue *q, uint64_t slot)
{
    bucket_t *b = &q->buckets[slot];
    pool_put(q, b->ev, b->cap);
    b->ev = NULL;
    b->cap = b->len = b->head = 0;
    b->sorted = 1;
    b->needseq = 0;
    q->bits[slot >> 6] &= ~((uint64_t)1 << (slot & 63));
}

/* Appends e to bucket ab. Pushes and migrations arrive in seq order for equal keys, so a
 * (time, priority) comparison with the last event keeps the sorted flag; a rebuild may not
 * (full != 0), so there a break in full order also asks for a sort that includes seq. */
static inline int bucket_append(eq_queue *q, int64_t ab, const ev_t *e, int full)
{
    uint64_t slot = (uint64_t)ab & q->mask;
    bucket_t *b = &q->buckets[slot];
    if (b->len == b->cap) {
        int rc = bucket_grow(q, b);
        if (rc)
            return rc;
    }
    if (b->len > b->head) {
        if (full ? full_less(e, &b->ev[b->len - 1]) : key_less(e, &b->ev[b->len - 1])) {
            b->sorted = 0;
            b->needseq |= full;
        }
    } else {
        q->bits[slot >> 6] |= (uint64_t)1 << (slot & 63);
    }
    b->ev[b->len++] = *e;
    q->wheel_count++;
    return EQ_OK;
}

#define wheel_append(q, ab, e) bucket_append((q), (ab), (e), 0)

/* Absolute index of the earliest nonempty bucket, or -1 when the wheel is empty. */
static int64_t find_first(const eq_queue *q)
{
    if (!q->wheel_count)
        return -1;
    uint64_t s0 = (uint64_t)q->base & q->mask, w0 = s0 >> 6, w = w0;
    uint64_t word = q->bits[w0] & (~(uint64_t)0 << (s0 & 63));
    for (;;) {
        if (word)
            return q->base + (int64_t)((((w << 6) + (uint64_t)ctz64(word)) - s0) & q->mask);
        if (++w >= q->nwords)
            break;
        word = q->bits[w];
    }
    for (w = 0; w <= w0; w++) { /* wrapped around: slots before s0 */
        word = q->bits[w];
        if (w == w0)
            word &= (s0 & 63) ? (((uint64_t)1 << (s0 & 63)) - 1) : 0;
        if (word)
            return q->base + (int64_t)((((w << 6) + (uint64_t)ctz64(word)) - s0) & q->mask);
    }
    return -1;
}

static int sort_bucket(eq_queue *q, bucket_t *b)
{
    if (b->sorted)
        return EQ_OK;
    int rc = sort_events(q, b->ev + b->head, b->len - b->head, b->needseq);
    if (rc)
        return rc;
    b->sorted = 1;
    b->needseq = 0;
    return EQ_OK;
}

/* ---- overflow: the open run and the heap of sealed runs ---------------------------------- */

static int open_append(eq_queue *q, const ev_t *e)
{
    if (q->open_len == q->open_cap) {
        int64_t cap = q->open_cap ? q->open_cap * 2 : 64;
        ev_t *p = realloc_events(q->open, cap);
        if (!p)
            return EQ_ERR_NOMEM;
        q->open = p;
        q->open_cap = cap;
    }
    if (q->open_len) {
        if (key_less(e, &q->open[q->open_len - 1]))
            q->open_sorted = 0;
        if (e->time < q->open_min)
            q->open_min = e->time;
    } else {
        q->open_min = e->time;
        q->open_sorted = 1;
    }
    q->open[q->open_len++] = *e;
    return EQ_OK;
}

static inline int run_less(const run_t *a, const run_t *b)
{
    int64_t ta = a->ev[a->head].time, tb = b->ev[b->head].time;
    return ta < tb || (ta == tb && a->id < b->id);
}

static int runs_push(eq_queue *q, run_t r)
{
    if (q->nruns == q->runs_cap) {
        int64_t cap = q->runs_cap ? q->runs_cap * 2 : 16;
        run_t *p = realloc(q->runs, (size_t)cap * sizeof(run_t));
        if (!p)
            return EQ_ERR_NOMEM;
        q->runs = p;
        q->runs_cap = cap;
    }
    int64_t i = q->nruns++;
    while (i > 0) {
        int64_t parent = (i - 1) / 2;
        if (!run_less(&r, &q->runs[parent]))
            break;
        q->runs[i] = q->runs[parent];
        i = parent;
    }
    q->runs[i] = r;
    return EQ_OK;
}

static run_t runs_pop(eq_queue *q)
{
    run_t top = q->runs[0], last = q->runs[--q->nruns];
    int64_t i = 0, n = q->nruns;
    for (;;) {
        int64_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && run_less(&q->runs[c + 1], &q->runs[c]))
            c++;
        if (!run_less(&q->runs[c], &last))
            break;
        q->runs[i] = q->runs[c];
        i = c;
    }
    if (n)
        q->runs[i] = last;
    return top;
}

static int seal_open(eq_queue *q)
{
    if (!q->open_len)
        return EQ_OK;
    if (!q->open_sorted) {
        int rc = sort_events(q, q->open, q->open_len, q->open_needseq);
        if (rc)
            return rc;
        q->open_sorted = 1;
        q->open_needseq = 0;
    }
    run_t r = {q->open, 0, q->open_len, q->next_run_id};
    int rc = runs_push(q, r);
    if (rc)
        return rc;
    q->next_run_id++;
    q->open = NULL;
    q->open_len = q->open_cap = 0;
    q->open_min = INT64_MAX;
    return EQ_OK;
}

/* Earliest overflow time; only meaningful when the overflow is not empty. */
static int64_t overflow_min(const eq_queue *q)
{
    int64_t m = INT64_MAX;
    if (q->open_len)
        m = q->open_min;
    if (q->nruns) {
        int64_t t = q->runs[0].ev[q->runs[0].head].time;
        if (t < m)
            m = t;
    }
    return m;
}

/* Moves the wheel's first slot to absolute bucket nbase (every bucket before it must be empty)
 * and pours into the wheel the overflow events that now fall inside it. */
static int advance_base(eq_queue *q, int64_t nbase)
{
    q->base = nbase;
    uint64_t lim = (uint64_t)nbase + q->nb;
    if (q->open_len && (uint64_t)(q->open_min >> q->shift) < lim) {
        int rc = seal_open(q);
        if (rc)
            return rc;
    }
    int64_t k = 0;
    while (q->nruns && (uint64_t)(q->runs[0].ev[q->runs[0].head].time >> q->shift) < lim) {
        if (k == q->mig_cap) {
            int64_t cap = q->mig_cap ? q->mig_cap * 2 : 16;
            run_t *p = realloc(q->mig, (size_t)cap * sizeof(run_t));
            if (!p)
                return EQ_ERR_NOMEM;
            q->mig = p;
            q->mig_cap = cap;
        }
        q->mig[k++] = runs_pop(q);
    }
    for (int64_t i = 1; i < k; i++) { /* run-id order keeps equal keys in seq order */
        run_t x = q->mig[i];
        int64_t j = i;
        while (j > 0 && q->mig[j - 1].id > x.id) {
            q->mig[j] = q->mig[j - 1];
            j--;
        }
        q->mig[j] = x;
    }
    for (int64_t i = 0; i < k; i++) {
        run_t r = q->mig[i];
        int64_t lo = r.head, hi = r.len;
        while (lo < hi) {
            int64_t mid = lo + (hi - lo) / 2;
            if ((uint64_t)(r.ev[mid].time >> q->shift) < lim)
                lo = mid + 1;
            else
                hi = mid;
        }
        for (int64_t j = r.head; j < lo; j++) {
            int rc = wheel_append(q, r.ev[j].time >> q->shift, &r.ev[j]);
            if (rc) {
                free(r.ev);
                for (int64_t m = i + 1; m < k; m++)
                    free(q->mig[m].ev);
                return rc;
            }
        }
        r.head = lo;
        if (r.head == r.len)
            free(r.ev);
        else
            runs_push(q, r); /* cannot fail: the heap had room for it a moment ago */
    }
    return EQ_OK;
}

/* After a pop: move the base up to the earliest pending bucket, but never past the horizon's
 * bucket (a later push may land anywhere at or after the horizon). */
static int settle_base(eq_queue *q)
{
    int64_t hz = q->horizon > 0 ? q->horizon : 0;
    int64_t target = hz >> q->shift;
    int64_t first = find_first(q);
    if (first >= 0) {
        if (first < target)
            target = first;
    } else if (q->count > q->wheel_count) {
        int64_t m = overflow_min(q) >> q->shift;
        if (m < target)
            target = m;
    }
    return target > q->base ? advance_base(q, target) : EQ_OK;
}

static inline int insert(eq_queue *q, const ev_t *e)
{
    int64_t ab = e->time >> q->shift;
    if ((uint64_t)(ab - q->base) < q->nb)
        return wheel_append(q, ab, e);
    q->ovf_pushes++;
    return open_append(q, e);
}

/* ---- geometry ------------------------------------------------------------------------------ */

static int set_geometry(eq_queue *q, int shift, uint64_t nb)
{
    if (nb != q->nb || !q->buckets) {
        uint64_t nw = (nb + 63) >> 6;
        bucket_t *bk = calloc((size_t)nb, sizeof(bucket_t));
        uint64_t *bits = calloc((size_t)nw, sizeof(uint64_t));
        if (!bk || !bits) {
            free(bk);
            free(bits);
            return EQ_ERR_NOMEM;
        }
        for (uint64_t i = 0; i < nb; i++)
            bk[i].sorted = 1;
        free(q->buckets); /* every bucket was released by the caller */
        free(q->bits);
        q->buckets = bk;
        q->bits = bits;
        q->nb = nb;
        q->mask = nb - 1;
        q->nwords = nw;
    }
    q->shift = shift;
    return EQ_OK;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Gives every bucket that a rebuild will fill its final capacity at once (counting first), so
 * a large re-bucketing touches each byte of bucket memory once instead of regrowing. */
static int reserve_buckets(eq_queue *q, const ev_t *all, int64_t total, uint64_t lim)
{
    if (total < 4096)
        return EQ_OK;
    int64_t *cnt = calloc((size_t)q->nb, sizeof(int64_t));
    if (!cnt)
        return EQ_ERR_NOMEM;
    for (int64_t i = 0; i < total; i++) {
        uint64_t ab = (uint64_t)(all[i].time >> q->shift);
        if (ab < lim)
            cnt[ab & q->mask]++;
    }
    int rc = EQ_OK;
    for (uint64_t s = 0; s < q->nb && !rc; s++) {
        bucket_t *b = &q->buckets[s];
        if (cnt[s] <= EQ_MIN_CAP || b->cap >= cnt[s])
            continue;
        if (q->npool && q->pool[q->npool - 1].cap >= cnt[s]) {
            q->npool--;
            b->ev = q->pool[q->npool].ev;
            b->cap = q->pool[q->npool].cap;
            continue;
        }
        b->ev = alloc_events(cnt[s]);
        if (!b->ev)
            rc = EQ_ERR_NOMEM;
        else
            b->cap = cnt[s];
    }
    free(cnt);
    return rc;
}

/* Re-buckets every pending event with the new geometry, in O(n) and without sorting: events
 * are gathered roughly in order (wheel, runs, open run) and appended with a full-order check,
 * so only the buckets that really came out of order are sorted later (including seq).
 * With auto_nb the slot count may grow so the wheel covers about 90% of the pending events. */
static int rebuild(eq_queue *q, int shift, uint64_t nb, int auto_nb)
{
    int64_t total = q->count, w = 0;
    ev_t *all = NULL;
    if (total && total == q->open_len) { /* only the open run: re-bucket it where it is */
        all = q->open;
        w = total;
        q->open = NULL;
    } else if (total) {
        all = alloc_events(total);
        if (!all)
            return EQ_ERR_NOMEM;
    }
    for (uint64_t i = 0; i < q->nb && q->wheel_count; i++) {
        uint64_t slot = ((uint64_t)q->base + i) & q->mask;
        bucket_t *b = &q->buckets[slot];
        if (b->len == b->head)
            continue;
        int64_t m = b->len - b->head;
        memcpy(all + w, b->ev + b->head, (size_t)m * sizeof(ev_t));
        w += m;
        q->wheel_count -= m;
        bucket_release(q, slot);
    }
    while (q->nruns) {
        run_t r = q->runs[--q->nruns];
        memcpy(all + w, r.ev + r.head, (size_t)(r.len - r.head) * sizeof(ev_t));
        w += r.len - r.head;
        free(r.ev);
    }
    if (q->open_len && q->open)
        memcpy(all + w, q->open, (size_t)q->open_len * sizeof(ev_t));
    free(q->open);
    q->open = NULL;
    q->open_len = q->open_cap = 0;
    q->open_min = INT64_MAX;
    q->open_sorted = 1;
    q->open_needseq = 0;

    int64_t hz = q->horizon > 0 ? q->horizon : 0;
    int64_t base = hz >> shift, tmin = INT64_MAX;
    for (int64_t i = 0; i < total; i++)
        if (all[i].time < tmin)
            tmin = all[i].time;
    if (total && (tmin >> shift) < base)
        base = tmin >> shift;
    if (auto_nb && total) { /* the 90th percentile of a sample of the pending times */
        int64_t sample[1024], m = total < 1024 ? total : 1024;
        for (int64_t i = 0; i < m; i++)
            sample[i] = all[(int64_t)((double)i * (double)total / (double)m)].time;
        qsort(sample, (size_t)m, sizeof(int64_t), cmp_i64);
        int64_t t90 = sample[(m - 1) - (m - 1) / 10];
        uint64_t span = (uint64_t)((t90 >> shift) - base) + 1, want = 1;
        while (want < EQ_AUTO_MAX_BUCKETS && want / 2 < span)
            want <<= 1;
        if (want > nb)
            nb = want;
    }
    if (set_geometry(q, shift, nb)) {
        free(all);
        return EQ_ERR_NOMEM;
    }
    q->base = base;
    uint64_t lim = (uint64_t)base + q->nb;
    if (reserve_buckets(q, all, total, lim)) {
        free(all);
        return EQ_ERR_NOMEM;
    }
    int64_t k = 0; /* events beyond the wheel are packed at the front of all: the new open run */
    for (int64_t i = 0; i < total; i++) {
        int64_t ab = all[i].time >> shift;
        if ((uint64_t)ab < lim) {
            if (bucket_append(q, ab, &all[i], 1)) {
                free(all);
                return EQ_ERR_NOMEM;
            }
            continue;
        }
        if (k) {
            if (full_less(&all[i], &all[k - 1]))
                q->open_sorted = 0;
            if (all[i].time < q->open_min)
                q->open_min = all[i].time;
        } else {
            q->open_min = all[i].time;
        }
        all[k++] = all[i];
    }
    if (k) {
        q->open = all;
        q->open_len = k;
        q->open_cap = total;
        q->open_needseq = !q->open_sorted;
    } else {
        free(all);
    }
    q->rebuilds++;
    q->votes = 0;
    q->pushes = q->ovf_pushes = 0;
    return EQ_OK;
}

static int floor_log2(uint64_t x)
{
    int r = 0;
    while (x >>= 1)
        r++;
    return r;
}

/* Retunes from the window about to be popped: a bucket of about one window keeps pops to one
 * or two buckets. Hysteresis (a factor 4 off, several pops in a row) avoids thrashing on
 * irregular windows; while little is pending a rebuild is cheap and happens at once. */
static int maybe_adapt(eq_queue *q, int64_t time_end)
{
    if (!q->adaptive)
        return EQ_OK;
    if (time_end > q->last_end) {
        uint64_t span = (uint64_t)time_end - (uint64_t)q->last_end;
        q->last_end = time_end;
        int want = floor_log2(span);
        int diff = want - q->shift;
        if (diff >= 2 || diff <= -2) {
            int dir = diff > 0 ? 1 : -1;
            q->votes = (q->votes > 0 && q->vote_dir == dir) ? q->votes + 1 : 1;
            q->vote_dir = dir;
            int need = (q->npops < 2 || q->count <= 4096) ? 1 : 3;
            if (q->votes >= need)
                return rebuild(q, want, (uint64_t)q->nb_init, 1);
        } else {
            q->votes = 0;
        }
    }
    if (q->pushes >= EQ_ADAPT_PUSHES) {
        int grow = q->ovf_pushes * 4 > q->pushes && q->nb < EQ_AUTO_MAX_BUCKETS;
        q->pushes = q->ovf_pushes = 0;
        if (grow)
            return rebuild(q, q->shift, q->nb * 4, 1);
    }
    return EQ_OK;
}

/* ---- output block -------------------------------------------------------------------------- */

/* Columns live at cap-based offsets while popping (time, seq, target, payload: int64;
 * priority, kind: int32) and are packed to n-based offsets at the end. */
static int out_reserve(eq_queue *q, int64_t used, int64_t need)
{
    if (need <= q->out_cap)
        return EQ_OK;
    int64_t cap = q->out_cap * 2 > need ? q->out_cap * 2 : need;
    if (cap < 1024)
        cap = 1024;
    if ((uint64_t)cap > SIZE_MAX / 40)
        return EQ_ERR_NOMEM;
    unsigned char *p = malloc((size_t)cap * 40);
    if (!p)
        return EQ_ERR_NOMEM;
    if (used) {
        size_t oc = (size_t)q->out_cap, nc = (size_t)cap, u = (size_t)used;
        for (int c = 0; c < 4; c++)
            memcpy(p + 8 * c * nc, q->out + 8 * c * oc, 8 * u);
        memcpy(p + 32 * nc, q->out + 32 * oc, 4 * u);
        memcpy(p + 36 * nc, q->out + 36 * oc, 4 * u);
    }
    free(q->out);
    q->out = p;
    q->out_cap = cap;
    return EQ_OK;
}

static void out_write(eq_queue *q, int64_t at, const ev_t *src, int64_t k)
{
    size_t cap = (size_t)q->out_cap;
    int64_t *ct = (int64_t *)q->out + at, *cs = ct + cap, *cg = cs + cap, *cp = cg + cap;
    int32_t *cr = (int32_t *)(q->out + 32 * cap) + at, *ck = (int32_t *)(q->out + 36 * cap) + at;
    for (int64_t j = 0; j < k; j++) {
        ct[j] = src[j].time;
        cs[j] = src[j].seq;
        cg[j] = src[j].target;
        cp[j] = src[j].payload;
        cr[j] = src[j].priority;
        ck[j] = src[j].kind;
    }
}

static void out_pack(eq_queue *q, int64_t n)
{
    size_t c = (size_t)q->out_cap, m = (size_t)n;
    unsigned char *o = q->out;
    if (!n || m == c)
        return;
    for (int k = 1; k < 4; k++) /* destinations never overlap a later column's source */
        memmove(o + 8 * k * m, o + 8 * k * c, 8 * m);
    memmove(o + 32 * m, o + 32 * c, 4 * m);
    memmove(o + 36 * m, o + 36 * c, 4 * m);
}

/* ---- public API ---------------------------------------------------------------------------- */

eq_queue *eq_new(int bucket_shift, int64_t nbuckets, int adaptive)
{
    if (bucket_shift < 0 || bucket_shift > 62 || nbuckets < 1 || nbuckets > EQ_MAX_BUCKETS ||
        (nbuckets & (nbuckets - 1)))
        return NULL;
    eq_queue *q = calloc(1, sizeof *q);
    if (!q)
        return NULL;
    if (set_geometry(q, bucket_shift, (uint64_t)nbuckets)) {
        free(q);
        return NULL;
    }
    q->horizon = INT64_MIN;
    q->open_min = INT64_MAX;
    q->open_sorted = 1;
    q->open_needseq = 0;
    q->adaptive = adaptive != 0;
    q->nb_init = nbuckets;
    return q;
}

void eq_free(eq_queue *q)
{
    if (!q)
        return;
    for (uint64_t i = 0; i < q->nb; i++)
        free(q->buckets[i].ev);
    for (int i = 0; i < q->npool; i++)
        free(q->pool[i].ev);
    for (int64_t i = 0; i < q->nruns; i++)
        free(q->runs[i].ev);
    free(q->buckets);
    free(q->bits);
    free(q->open);
    free(q->runs);
    free(q->mig);
    free(q->scratch);
    free(q->out);
    free(q);
}

int eq_push(eq_queue *q, int64_t time, int32_t priority, int32_t kind, int64_t target,
            int64_t payload, int64_t *seq_out)
{
    if (q->broken)
        return EQ_ERR_BROKEN;
    if (time < (q->horizon > 0 ? q->horizon : 0))
        return EQ_ERR_TIME;
    ev_t e = {time, q->next_seq, target, payload, priority, kind};
    int rc = insert(q, &e);
    if (rc)
        return fail(q, rc);
    *seq_out = q->next_seq++;
    q->count++;
    q->pushes++;
    return EQ_OK;
}

int eq_push_batch(eq_queue *q, int64_t n,
                  const int64_t *time, int64_t time_step,
                  const int32_t *priority, int64_t priority_step,
                  const int32_t *kind, int64_t kind_step,
                  const int64_t *target, int64_t target_step,
                  const int64_t *payload, int64_t payload_step,
                  int64_t *bad_index)
{
    if (q->broken)
        return EQ_ERR_BROKEN;
    if (n < 0)
        return EQ_ERR_ARG;
    int64_t lo = q->horizon > 0 ? q->horizon : 0;
    for (int64_t i = 0; i < n; i++) {
        if (time[i * time_step] < lo) {
            *bad_index = i;
            return EQ_ERR_TIME;
        }
    }
    for (int64_t i = 0; i < n; i++) {
        ev_t e = {time[i * time_step], q->next_seq + i, target[i * target_step],
                  payload[i * payload_step], priority[i * priority_step], kind[i * kind_step]};
        int rc = insert(q, &e);
        if (rc) {
            q->next_seq += i;
            q->count += i;
            return fail(q, rc);
        }
    }
    q->next_seq += n;
    q->count += n;
    q->pushes += n;
    return EQ_OK;
}

int eq_pop_before(eq_queue *q, int64_t time_end, int64_t max_events, int64_t *n_out,
                  const void **block_out)
{
    *n_out = 0;
    *block_out = NULL;
    if (q->broken)
        return EQ_ERR_BROKEN;
    if (max_events < -1)
        return EQ_ERR_ARG;
    int rc = maybe_adapt(q, time_end);
    if (rc)
        return fail(q, rc);
    int64_t limit = max_events < 0 ? INT64_MAX : max_events, n = 0;
    if (time_end > 0) {
        int64_t last_ab = (time_end - 1) >> q->shift;
        while (n < limit) {
            int64_t ab = find_first(q);
            if (ab < 0) { /* the wheel is empty: jump to the overflow, however far */
                if (q->count == q->wheel_count)
                    break;
                int64_t m = overflow_min(q);
                if (m >= time_end)
                    break;
                if ((rc = advance_base(q, m >> q->shift)))
                    return fail(q, rc);
                continue;
            }
            if (ab > last_ab)
                break;
            uint64_t slot = (uint64_t)ab & q->mask;
            bucket_t *b = &q->buckets[slot];
            if ((rc = sort_bucket(q, b)))
                return fail(q, rc);
            int64_t k;
            if (b->ev[b->len - 1].time < time_end) {
                k = b->len - b->head;
            } else {
                int64_t lo = b->head, hi = b->len - 1;
                while (lo < hi) {
                    int64_t mid = lo + (hi - lo) / 2;
                    if (b->ev[mid].time < time_end)
                        lo = mid + 1;
                    else
                        hi = mid;
                }
                k = lo - b->head;
            }
            if (k > limit - n)
                k = limit - n;
            if (k == 0)
                break;
            if ((rc = out_reserve(q, n, n + k)))
                return fail(q, rc);
            out_write(q, n, b->ev + b->head, k);
            b->head += k;
            n += k;
            q->wheel_count -= k;
            q->count -= k;
            if (b->head < b->len)
                break;
            bucket_release(q, slot);
        }
    }
    if (time_end > q->horizon)
        q->horizon = time_end;
    if ((rc = settle_base(q)))
        return fail(q, rc);
    q->npops++;
    out_pack(q, n);
    *n_out = n;
    *block_out = n ? q->out : NULL;
    return EQ_OK;
}

int eq_next_time(eq_queue *q, int64_t *time_out)
{
    *time_out = -1;
    if (q->broken)
        return EQ_ERR_BROKEN;
    int64_t ab = find_first(q);
    if (ab >= 0) {
        bucket_t *b = &q->buckets[(uint64_t)ab & q->mask];
        int rc = sort_bucket(q, b);
        if (rc)
            return fail(q, rc);
        *time_out = b->ev[b->head].time;
    } else if (q->count > q->wheel_count) {
        *time_out = overflow_min(q);
    }
    return EQ_OK;
}

int64_t eq_len(const eq_queue *q) { return q->count; }

int64_t eq_horizon(const eq_queue *q) { return q->horizon; }

void eq_get_stats(const eq_queue *q, eq_stats *out)
{
    out->bucket_shift = q->shift;
    out->nbuckets = (int64_t)q->nb;
    out->base = q->base;
    out->wheel_events = q->wheel_count;
    out->overflow_events = q->count - q->wheel_count;
    out->runs = q->nruns;
    out->rebuilds = q->rebuilds;
    out->adaptive = q->adaptive;
}

int eq_retune(eq_queue *q, int bucket_shift, int64_t nbuckets)
{
    if (q->broken)
        return EQ_ERR_BROKEN;
    if (bucket_shift < 0 || bucket_shift > 62 || nbuckets < 1 || nbuckets > EQ_MAX_BUCKETS ||
        (nbuckets & (nbuckets - 1)))
        return EQ_ERR_ARG;
    return fail(q, rebuild(q, bucket_shift, (uint64_t)nbuckets, 0));
}
