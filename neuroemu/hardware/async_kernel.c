/* Window kernel of the async engine; the model is documented in neuroemu/asyncsim.py and the
 * Python twin (neuroemu/asynckernel.py, class PyKernel) follows this file step by step, so both
 * give bit-identical results (same IEEE operations in the same order, libm exp/log). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "async_kernel.h"

#define NEVER INT64_MAX
#define CHECK_PRIO INT32_MAX

/* Grow n_arrays parallel arrays (item sizes in items) to hold at least need entries. */
static int grow(int64_t *cap, int64_t need, int n_arrays, void ***arrays, const size_t *items) {
    if (need <= *cap) return 0;
    int64_t nc = *cap ? *cap : 256;
    while (nc < need) nc *= 2;
    for (int k = 0; k < n_arrays; k++) {
        void *q = realloc(*arrays[k], (size_t)nc * items[k]);
        if (!q) return AK_ENOMEM;
        *arrays[k] = q;
    }
    *cap = nc;
    return 0;
}

static int out_push(ak_state *s, int64_t t, int32_t kind, int64_t target, int64_t payload, int32_t prio) {
    if (s->out_n == s->out_cap) {
        void **arr[5] = {(void **)&s->out_time, (void **)&s->out_kind, (void **)&s->out_target,
                         (void **)&s->out_payload, (void **)&s->out_prio};
        size_t items[5] = {8, 4, 8, 8, 4};
        if (grow(&s->out_cap, s->out_n + 1, 5, arr, items)) return AK_ENOMEM;
    }
    int64_t j = s->out_n++;
    s->out_time[j] = t;
    s->out_kind[j] = kind;
    s->out_target[j] = target;
    s->out_payload[j] = payload;
    s->out_prio[j] = prio;
    return 0;
}

static int spk_push(ak_state *s, int64_t t, int64_t i) {
    if (s->spk_n == s->spk_cap) {
        void **arr[2] = {(void **)&s->spk_time, (void **)&s->spk_neuron};
        size_t items[2] = {8, 8};
        if (grow(&s->spk_cap, s->spk_n + 1, 2, arr, items)) return AK_ENOMEM;
    }
    s->spk_time[s->spk_n] = t;
    s->spk_neuron[s->spk_n] = i;
    s->spk_n++;
    return 0;
}

/* --- the in-window heap of checks, ordered by (time, seq) --- */

static int heap_less(const int64_t *a, const int64_t *b) {
    return a[0] < b[0] || (a[0] == b[0] && a[1] < b[1]);
}

static int heap_push(ak_state *s, int64_t t, int64_t i, int64_t ver) {
    if (s->heap_n == s->heap_cap) {
        int64_t nc = s->heap_cap ? 2 * s->heap_cap : 256;
        int64_t *q = realloc(s->heap, (size_t)nc * 4 * sizeof(int64_t));
        if (!q) return AK_ENOMEM;
        s->heap = q;
        s->heap_cap = nc;
    }
    int64_t *h = s->heap;
    int64_t k = s->heap_n++;
    int64_t e[4] = {t, s->heap_seq++, i, ver};
    while (k > 0) {
        int64_t p = (k - 1) / 2;
        if (!heap_less(e, h + 4 * p)) break;
        memcpy(h + 4 * k, h + 4 * p, 4 * sizeof(int64_t));
        k = p;
    }
    memcpy(h + 4 * k, e, 4 * sizeof(int64_t));
    return 0;
}

static void heap_pop(ak_state *s, int64_t *out) {
    int64_t *h = s->heap;
    memcpy(out, h, 4 * sizeof(int64_t));
    int64_t n = --s->heap_n;
    if (n == 0) return;
    int64_t last[4];
    memcpy(last, h + 4 * n, 4 * sizeof(int64_t));
    int64_t k = 0;
    for (;;) {
        int64_t c = 2 * k + 1;
        if (c >= n) break;
        if (c + 1 < n && heap_less(h + 4 * (c + 1), h + 4 * c)) c++;
        if (!heap_less(h + 4 * c, last)) break;
        memcpy(h + 4 * k, h + 4 * c, 4 * sizeof(int64_t));
        k = c;
    }
    memcpy(h + 4 * k, last, 4 * sizeof(int64_t));
}

/* --- the neuron --- */

/* The first time (ps, rounded up) at which V reaches threshold with no further input. */
static int64_t predict(const ak_state *s, int64_t i) {
    double d = s->binf[i] - s->theta;
    if (!(d > 0.0)) return NEVER;
    double x = -s->u[i] / d;
    if (!(x > 0.0)) return s->r[i];
    double dt = s->tau_ps * log(x);
    if (dt > 4.0e18) return NEVER;
    if (dt < -4.0e18) return s->r[i];
    int64_t tp = s->epoch + (int64_t)ceil(dt);
    return tp < s->r[i] ? s->r[i] : tp;
}

static int schedule(ak_state *s, int64_t i, int64_t tp, int64_t window_end) {
    if (tp == NEVER) return 0;
    s->ver[i]++;
    s->pend[i] = tp;
    if (tp < window_end) return heap_push(s, tp, i, s->ver[i]);
    return out_push(s, tp, AK_KIND_CHECK, i, s->ver[i], CHECK_PRIO);
}

static int spike(ak_state *s, int64_t i, int64_t t, int64_t window_end) {
    s->spikes++;
    if (spk_push(s, t, i)) return AK_ENOMEM;
    s->ver[i]++;
    s->pend[i] = NEVER;
    int64_t rr = t + s->ref_ps;
    s->r[i] = rr;
    s->u[i] = (s->v_reset - s->binf[i]) * exp((double)(rr - s->epoch) / s->tau_ps);
    s->route_spikes[s->route[i]]++;
    int64_t src = i / s->nc;
    for (int32_t k = 0; k < s->k_targets; k++) {
        int64_t c = s->tgt[i * s->k_targets + k];
        int64_t when = t + s->lat[src * s->n_chips + c / s->nc];
        if (out_push(s, when, AK_KIND_ARRIVAL, c, s->spike_weight, (int32_t)i)) return AK_ENOMEM;
    }
    return schedule(s, i, predict(s, i), window_end);
}

/* An input of weight w at time t (g = exp((t - E) / tau)) to a neuron out of its refractory period. */
static int excite(ak_state *s, int64_t i, int64_t t, double g, int64_t window_end) {
    if (s->u[i] >= (s->theta - s->binf[i]) * g) return spike(s, i, t, window_end);
    int64_t tp = predict(s, i);
    if (tp < s->pend[i]) return schedule(s, i, tp, window_end);
    return 0;
}

static int diffuse(ak_state *s, int64_t t, int64_t centre, double w, int64_t window_end) {
    int64_t chip = centre / s->nc, pos = centre % s->nc;
    int32_t side = s->side;
    int32_t r0 = (int32_t)(pos / side), c0 = (int32_t)(pos % side);
    double g = exp((double)(t - s->epoch) / s->tau_ps);
    double c = w * g;
    int excitatory = w > 0.0;
    for (int32_t j = 0; j < s->n_rows; j++) {
        int32_t rr = r0 + s->row_dy[j];
        int32_t lo = c0 + s->row_lo[j], hi = c0 + s->row_hi[j];
        int32_t seg_lo[2], seg_hi[2], nseg = 0;
        if (s->wrap) {
            rr = ((rr % side) + side) % side;
            if (lo < 0) {
                seg_lo[0] = lo + side; seg_hi[0] = side - 1;
                seg_lo[1] = 0; seg_hi[1] = hi; nseg = 2;
            } else if (hi >= side) {
                seg_lo[0] = lo; seg_hi[0] = side - 1;
                seg_lo[1] = 0; seg_hi[1] = hi - side; nseg = 2;
            } else {
                seg_lo[0] = lo; seg_hi[0] = hi; nseg = 1;
            }
        } else {
            if (rr < 0 || rr >= side) continue;
            if (lo < 0) lo = 0;
            if (hi > side - 1) hi = side - 1;
            if (lo > hi) continue;
            seg_lo[0] = lo; seg_hi[0] = hi; nseg = 1;
        }
        int64_t base = chip * s->nc + (int64_t)rr * side;
        for (int32_t k = 0; k < nseg; k++) {
            double *u = s->u + base;
            const int64_t *r = s->r + base;
            s->sops += seg_hi[k] - seg_lo[k] + 1;
            if (!excitatory) {
                for (int32_t x = seg_lo[k]; x <= seg_hi[k]; x++)
                    if (t >= r[x]) u[x] += c;
            } else {
                for (int32_t x = seg_lo[k]; x <= seg_hi[k]; x++) {
                    if (t >= r[x]) {
                        u[x] += c;
                        if (excite(s, base + x, t, g, window_end)) return AK_ENOMEM;
                    }
                }
            }
        }
    }
    return 0;
}

static int handle(ak_state *s, int64_t t, int32_t kind, int64_t target, int64_t payload, int64_t window_end) {
    if (kind == AK_KIND_CHECK) {
        if (target < 0 || target >= s->n) return AK_EBADARG;
        s->checks++;
        if (payload != s->ver[target]) {
            s->stale++;
            return 0;
        }
        s->pend[target] = NEVER;
        int64_t tp = predict(s, target);
        if (tp <= t) return spike(s, target, t, window_end);
        s->failed++;
        return schedule(s, target, tp, window_end);
    }
    double w;
    memcpy(&w, &payload, sizeof w);
    if (kind == AK_KIND_ARRIVAL) {
        if (target < 0 || target >= s->n) return AK_EBADARG;
        s->arrivals++;
        return diffuse(s, t, target, w, window_end);
    }
    if (kind == AK_KIND_INPUT) {
        if (target < 0 || target >= s->n) return AK_EBADARG;
        s->inputs++;
        s->sops++;
        if (t < s->r[target]) return 0;
        double g = exp((double)(t - s->epoch) / s->tau_ps);
        s->u[target] += w * g;
        if (w > 0.0) return excite(s, target, t, g, window_end);
        return 0;
    }
    return AK_EBADARG;
}

int ak_process(ak_state *s, int64_t n, const int64_t *time, const int32_t *prio, const int32_t *kind,
               const int64_t *target, const int64_t *payload, int64_t window_end) {
    (void)prio;  /* the batch is already in (time, priority, seq) order */
    s->out_n = 0;
    s->spk_n = 0;
    s->heap_n = 0;
    s->heap_seq = 0;
    int64_t j = 0;
    int64_t e[4];
    for (;;) {
        /* batch first on equal times: in-window checks have the largest priority */
        int take_batch = j < n && (s->heap_n == 0 || time[j] <= s->heap[0]);
        int rc;
        if (take_batch) {
            rc = handle(s, time[j], kind[j], target[j], payload[j], window_end);
            j++;
        } else if (s->heap_n) {
            heap_pop(s, e);
            rc = handle(s, e[0], AK_KIND_CHECK, e[2], e[3], window_end);
        } else {
            break;
        }
        if (rc) return rc;
    }
    return 0;
}

int ak_predict_all(ak_state *s) {
    s->out_n = 0;
    s->spk_n = 0;
    for (int64_t i = 0; i < s->n; i++) {
        int64_t tp = predict(s, i);
        s->pend[i] = NEVER;
        if (tp != NEVER && schedule(s, i, tp, INT64_MIN)) return AK_ENOMEM;
    }
    return 0;
}

void ak_rebase(ak_state *s, int64_t new_epoch) {
    double f = exp((double)(s->epoch - new_epoch) / s->tau_ps);
    for (int64_t i = 0; i < s->n; i++) s->u[i] *= f;
    s->epoch = new_epoch;
}

void ak_release(ak_state *s) {
    free(s->out_time); free(s->out_kind); free(s->out_target); free(s->out_payload); free(s->out_prio);
    free(s->spk_time); free(s->spk_neuron); free(s->heap);
    s->out_time = s->out_target = s->out_payload = NULL;
    s->out_kind = s->out_prio = NULL;
    s->spk_time = s->spk_neuron = NULL;
    s->heap = NULL;
    s->out_cap = s->spk_cap = s->heap_cap = 0;
    s->out_n = s->spk_n = s->heap_n = 0;
}

/* ---------------- TrueNorth neurons in continuous time (see async_kernel.h) ---------------- */

#define TN_NEVER ((int64_t)1 << 62)
#define TN_DT_CAP ((int64_t)1 << 52)

static uint64_t tn_mix64(uint64_t x) {
    uint64_t z = x + 0x9E3779B97F4A7C15ULL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static inline int64_t tn_clip(int64_t x, int64_t a, int64_t b) { return x < a ? a : (x > b ? b : x); }

static inline __attribute__((always_inline)) void tn_advance(ak_tn *s, int64_t i, int64_t t) {
    int64_t dt = t - s->t_last[i];
    if (dt > TN_DT_CAP) dt = TN_DT_CAP;
    s->v[i] = tn_clip(s->v[i] + s->drift[i] * dt, s->low[i], s->hi);
    s->t_last[i] = t;
}

static inline __attribute__((always_inline)) int64_t tn_reset(ak_tn *s, int64_t i, int64_t v, int64_t theta) {
    int64_t mode = s->reset_mode[i];
    int64_t r = mode == 0 ? v - theta : (mode == 1 ? s->reset_value[i] : v);
    return r < s->floor_v[i] ? s->floor_v[i] : r;
}

static inline __attribute__((always_inline)) int64_t tn_predict(ak_tn *s, int64_t i) {
    if (!s->enabled[i]) return TN_NEVER;
    int64_t v = s->v[i], th = s->theta[i], ref = s->ref[i], t0 = s->t_last[i], d = s->drift[i];
    if (v >= th) {
        if (ref <= t0) return t0;
        /* above threshold in its refractory period: a down drift may take V below it by the end */
        int64_t dt = ref - t0;
        if (dt > TN_DT_CAP) dt = TN_DT_CAP;
        return d < 0 && v + d * dt < th ? TN_NEVER : ref;
    }
    if (d > 0 && th <= s->hi) {
        int64_t num = th - v;
        int64_t c = t0 + (num + d - 1) / d;  /* num > 0, d > 0: the ceiling */
        return c > ref ? c : ref;
    }
    return TN_NEVER;
}

/* a crossing fires at t: spike, reset, refractory */
static inline __attribute__((always_inline)) void tn_fire(ak_tn *s, int64_t i, int64_t t) {
    tn_advance(s, i, t);
    int64_t v = s->v[i], th = s->theta[i];
    s->v[i] = tn_reset(s, i, v > th ? v : th, th);
    s->ref[i] = t + s->T;
}

/* one update at t with summed input S; returns 1 if it fires */
static inline __attribute__((always_inline)) int tn_integrate(ak_tn *s, int64_t i, int64_t t, int64_t S) {
    tn_advance(s, i, t);
    int64_t v = tn_clip(s->v[i] + S, s->lo, s->hi);
    s->n_upd[i] += 1;
    int64_t th = s->alpha[i];
    if (s->mask_any) {
        uint64_t z = tn_mix64(s->threshold_keys[i] + (uint64_t)s->n_upd[i]);
        th += ((int64_t)(z & 0xFFFFFFULL) & s->mask[i]) * s->T;
    }
    s->theta[i] = th;
    int fired = v >= th && t >= s->ref[i] && s->enabled[i];
    if (fired) {
        s->v[i] = tn_reset(s, i, v, th);
        s->ref[i] = t + s->T;
    } else {
        s->v[i] = v < s->floor_v[i] ? s->floor_v[i] : v;
    }
    return fired;
}

/* ---------------- the whole TrueNorth window (see async_kernel.h) ---------------- */

typedef struct {
    int64_t ns, active, plain, nt, cap;
    int64_t *spk_n, *spk_t, *touched;
} tn_out;

/* one update of neuron i at t with summed input S (crossing first if it comes before) */
static inline __attribute__((always_inline)) void tn_group(ak_tn *s, tn_out *o, int64_t i, int64_t t, int64_t S, int anysyn) {
    if (s->pend[i] < t) {
        int64_t c = s->pend[i];
        tn_fire(s, i, c);
        o->active++;
        o->spk_n[o->ns] = i;
        o->spk_t[o->ns++] = c;
        s->pend[i] = tn_predict(s, i);
    }
    int fired = tn_integrate(s, i, t, S);
    if (s->enabled[i]) {
        if (anysyn || fired) o->active++;
        else o->plain++;
    }
    if (fired) {
        o->spk_n[o->ns] = i;
        o->spk_t[o->ns++] = t;
    }
    s->pend[i] = tn_predict(s, i);
}

/* the pending group of neuron i, after its earlier steps; steps at the same instant join it */
static inline __attribute__((always_inline)) void tn_flush(ak_tn *s, const int64_t *step_w, tn_out *o, int64_t i,
                                                           ak_tn_nx *e) {
    int64_t t = e->gt, S = e->gs;
    while (e->st0 < t) {
        tn_group(s, o, i, e->st0, step_w[i], 0);
        e->st0 = e->st1;
        e->st1 = INT64_MAX;
    }
    if (e->st0 == t) {
        S += step_w[i];
        e->st0 = e->st1;
        e->st1 = INT64_MAX;
    }
    tn_group(s, o, i, t, S, e->gsyn);
    e->gt = -1;
}

/* Pass 1 over one arrival's row (inlined with the row format fixed, so the inner loop has no
 * format branch): each neuron's positive and negative input, its distinct instants, and which of
 * its steps share an instant with an input. */
static inline __attribute__((always_inline)) void tn_row_sums(ak_tn_nx *restrict nx, uint8_t *restrict flag,
        int64_t *restrict touched, int64_t *restrict nt, const uint8_t *restrict rn8,
        const uint16_t *restrict rn16, const int64_t *restrict type_w, const int64_t *restrict row_w,
        int64_t n_types, int64_t type, int64_t base, int64_t lo, int64_t hi, int64_t t,
        const int narrow, const int per_synapse) {
    int64_t m = *nt;
    for (int64_t p = lo; p < hi; p++) {
        int64_t i = base + (narrow ? (int64_t)rn8[p] : (int64_t)rn16[p]);
        int64_t w = per_synapse ? row_w[p] : type_w[i * n_types + type];
        ak_tn_nx *e = nx + i;
        if (!e->head) {
            e->head = 1;
            touched[m++] = i;
        }
        /* branch-free: the signs of the weights and the instants of the inputs are random */
        int64_t wp = w > 0 ? w : 0;
        e->pos += wp;
        e->neg += w - wp;
        int64_t fresh = e->last_t != t;
        e->last_t = t;
        e->ninst += (int32_t)fresh;
        flag[i] |= (uint8_t)(((t == e->st0) | ((t == e->st1) << 1)) & -fresh);
    }
    *nt = m;
}

/* Pass 1 over the row of an arrival whose instant no other arrival to its core shares, in a
 * window where no leak step falls on an arrival's instant: every input is its neuron's only one
 * at that instant (ninst counts it, no step shares it), so the instant bookkeeping is skipped.
 * touched has room for n + 1 entries: the append is branch-free. Without track (the walk of pass
 * 2 then visits every neuron and knows the touched ones by their instants) nothing is listed. */
static inline __attribute__((always_inline)) void tn_row_sums_solo(ak_tn_nx *restrict nx, int64_t *restrict touched,
        int64_t *restrict nt, const uint8_t *restrict rn8, const uint16_t *restrict rn16,
        const int64_t *restrict type_w, const int64_t *restrict row_w, int64_t n_types, int64_t type,
        int64_t base, int64_t lo, int64_t hi, const int narrow, const int per_synapse, const int track) {
    int64_t m = *nt;
    for (int64_t p = lo; p < hi; p++) {
        int64_t i = base + (narrow ? (int64_t)rn8[p] : (int64_t)rn16[p]);
        int64_t w = per_synapse ? row_w[p] : type_w[i * n_types + type];
        ak_tn_nx *e = nx + i;
        if (track) {
            touched[m] = i;
            m += !e->head;
            e->head = 1;
        }
        int64_t wp = w > 0 ? w : 0;
        e->pos += wp;
        e->neg += w - wp;
        e->ninst++;
    }
    *nt = m;
}

/* Pass 3 over one arrival's row: the listed neurons' inputs grouped per instant, in time order. */
static inline __attribute__((always_inline)) void tn_row_ordered(ak_tn *s, ak_tn_nx *restrict nx,
        const uint8_t *restrict flag, const int64_t *step_w, tn_out *o, const uint8_t *restrict rn8,
        const uint16_t *restrict rn16, const int64_t *restrict type_w, const int64_t *restrict row_w,
        int64_t n_types, int64_t type, int64_t base, int64_t lo, int64_t hi, int64_t t,
        const int narrow, const int per_synapse) {
    for (int64_t p = lo; p < hi; p++) {
        int64_t i = base + (narrow ? (int64_t)rn8[p] : (int64_t)rn16[p]);
        if (!(flag[i] & 4)) continue;
        int64_t w = per_synapse ? row_w[p] : type_w[i * n_types + type];
        ak_tn_nx *e = nx + i;
        int64_t g = e->gt;
        if (g == t) {
            e->gs += w;
            continue;
        }
        if (g >= 0) tn_flush(s, step_w, o, i, e);
        e->gt = t;
        e->gs = w;
        e->gsyn = 1;
    }
}

/* Wider vector units where the CPU has them (integer arithmetic: every clone gives the same bits).
 * Not 512-bit lanes: their multiplies lower the core's clock for the window's other passes (about
 * 8% slower pass 1 and 2 when the draws used them); AVX2 emulates the 64-bit multiply. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define TN_VECTOR_CLONES __attribute__((target_clones("avx2", "default")))
#define TN_SCALAR_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))  /* BMI2: shifts by a register */
#define TN_AVX512 1
#include <immintrin.h>
#else
#define TN_VECTOR_CLONES
#define TN_SCALAR_CLONES
#define TN_AVX512 0
#endif

/* The leak steps of tick k are drawn into a list: step_j[q] (an index into sto, < 2^31) and step_t[q]
 * (its instant), q < the count returned, in sto's order. Two ways give the same list: */

/* (1) any network: the draws as loops the compiler vectorises. The leak words of blocks
 * b0 .. b0 + nw - 1 (eight neurons a word: neuroemu.models.rng.leak_bytes); every stochastic
 * neuron's instant (inst: k T + the top 30 bits of its draw scaled to [0, T), or the draw modulo
 * T when T >= 2^34 ps) whether it steps or not; whether it steps (hit[j] = 1 when neuron sto[j]'s
 * leak byte, byte sto[j] + offset - g0 of the words read as little-endian bytes, is <= lim[j] =
 * abs(leak) - 1: below abs(leak)). run: sto[j] = sto[0] + j, its bytes read in sequence. */
static TN_VECTOR_CLONES __attribute__((noinline)) void tn_step_draws(uint64_t *restrict words, int64_t nw,
        uint64_t wkey, const uint64_t *restrict keys, int64_t *restrict inst, int64_t n_sto, int64_t k, int64_t T) {
    for (int64_t b = 0; b < nw; b++) words[b] = tn_mix64(wkey + (uint64_t)b);
    const uint64_t uk = (uint64_t)k, uT = (uint64_t)T;
    const int64_t kT = k * T;
    if (T < ((int64_t)1 << 32)) {  /* a 32 x 32-bit product */
        for (int64_t j = 0; j < n_sto; j++)
            inst[j] = kT + (int64_t)(((uint64_t)(uint32_t)(tn_mix64(keys[j] + uk) >> 34) * (uint32_t)uT) >> 30);
    } else if (T < ((int64_t)1 << 34)) {
        for (int64_t j = 0; j < n_sto; j++)
            inst[j] = kT + (int64_t)(((tn_mix64(keys[j] + uk) >> 34) * uT) >> 30);
    } else {
        for (int64_t j = 0; j < n_sto; j++) inst[j] = kT + (int64_t)(tn_mix64(keys[j] + uk) % uT);
    }
}

static TN_VECTOR_CLONES __attribute__((noinline)) void tn_step_hits(uint8_t *restrict hit, const uint64_t *restrict words,
        const uint8_t *restrict lim, const int64_t *restrict sto, int64_t n_sto, int64_t g0, int64_t offset, int run) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    const uint8_t *restrict bytes = (const uint8_t *)words;
    if (run) {
        const uint8_t *restrict b = bytes + (sto[0] + offset - g0);
        for (int64_t j = 0; j < n_sto; j++) hit[j] = b[j] <= lim[j];
        return;
    }
    for (int64_t j = 0; j < n_sto; j++) hit[j] = bytes[sto[j] + offset - g0] <= lim[j];
#else
    (void)run;
    for (int64_t j = 0; j < n_sto; j++) {
        int64_t d = sto[j] + offset - g0;
        hit[j] = ((words[d >> 3] >> (8 * (d & 7))) & 0xFF) <= lim[j];
    }
#endif
}

/* ... then the stepping ones listed, 64 neurons at a time (hit as bits: the loop exits once per 64) */
static TN_SCALAR_CLONES __attribute__((noinline)) int64_t tn_step_compact(const uint8_t *restrict hit,
        const int64_t *restrict inst, int64_t n_sto, int32_t *restrict step_j, int64_t *restrict step_t) {
    int64_t n = 0;
    for (int64_t j64 = 0; j64 < n_sto; j64 += 64) {
        uint64_t bits = 0;  /* bit i: neuron j64 + i steps */
        for (int i = 0; i < 8; i++) {
            uint64_t h8;
            memcpy(&h8, hit + j64 + 8 * i, 8);
            bits |= ((h8 * 0x0102040810204080ULL) >> 56) << (8 * i);  /* byte b (0 or 1) -> bit b */
        }
        while (bits) {
            int64_t j = j64 + __builtin_ctzll(bits);
            bits &= bits - 1;
            step_j[n] = (int32_t)j;
            step_t[n++] = inst[j];
        }
    }
    return n;
}

#if TN_AVX512
/* (2) sto one run, T < 2^32 ps, a CPU with AVX-512 (F, BW, DQ, VL), in 256-bit lanes (512-bit
 * multiplies lower the core's clock for the passes after them): 32 leak bytes compared at once,
 * the stepping neurons' keys compressed into place, and only theirs drawn (four a vector).
 * step_j and step_t need 8 entries of room past the count, words 4 words past nw. */
__attribute__((target("avx512f,avx512bw,avx512dq,avx512vl,popcnt"))) __attribute__((noinline))
static int64_t tn_step_list_avx512(uint64_t *restrict words, int64_t nw, uint64_t wkey, const uint64_t *restrict keys,
        const uint8_t *restrict lim, int64_t n_sto, int64_t d, int64_t k, int64_t T, int32_t *restrict step_j,
        int64_t *restrict step_t) {
    const __m256i lane = _mm256_set_epi64x(3, 2, 1, 0), lane32 = _mm256_set_epi32(7, 6, 5, 4, 3, 2, 1, 0);
    const __m256i c1 = _mm256_set1_epi64x((long long)0x9E3779B97F4A7C15ULL);
    const __m256i m1 = _mm256_set1_epi64x((long long)0xBF58476D1CE4E5B9ULL);
    const __m256i m2 = _mm256_set1_epi64x((long long)0x94D049BB133111EBULL);
#define TN_MIX256(x) ({                                                                   \
        __m256i z_ = _mm256_add_epi64((x), c1);                                            \
        z_ = _mm256_mullo_epi64(_mm256_xor_si256(z_, _mm256_srli_epi64(z_, 30)), m1);      \
        z_ = _mm256_mullo_epi64(_mm256_xor_si256(z_, _mm256_srli_epi64(z_, 27)), m2);      \
        _mm256_xor_si256(z_, _mm256_srli_epi64(z_, 31)); })
    for (int64_t b = 0; b < nw; b += 4) {
        __m256i w = _mm256_add_epi64(_mm256_set1_epi64x((long long)(wkey + (uint64_t)b)), lane);
        _mm256_storeu_si256((__m256i *)(words + b), TN_MIX256(w));  /* up to 3 words past nw: room for them */
    }
    const uint8_t *bytes = (const uint8_t *)words + d;
    int64_t n = 0;
    for (int64_t j32 = 0; j32 < n_sto; j32 += 32) {
        int64_t left = n_sto - j32;
        __mmask32 tail = left >= 32 ? ~(__mmask32)0 : (((__mmask32)1 << left) - 1);
        __m256i bv = _mm256_maskz_loadu_epi8(tail, bytes + j32), lv = _mm256_maskz_loadu_epi8(tail, lim + j32);
        __mmask32 hits = _mm256_mask_cmple_epu8_mask(tail, bv, lv);
        for (int i = 0; i < 4 && 8 * i < left; i++) {
            __mmask8 h = (__mmask8)(hits >> (8 * i)), lo = h & 0xF, hi = h >> 4;
            int64_t j = j32 + 8 * i, nlo = __builtin_popcount((unsigned)lo);
            __m256i jv = _mm256_add_epi32(lane32, _mm256_set1_epi32((int)j));
            _mm256_storeu_si256((__m256i *)(step_j + n), _mm256_maskz_compress_epi32(h, jv));
            __m256i k0 = _mm256_maskz_loadu_epi64(lo, keys + j), k1 = _mm256_maskz_loadu_epi64(hi, keys + j + 4);
            _mm256_storeu_si256((__m256i *)(step_t + n), _mm256_maskz_compress_epi64(lo, k0));  /* the keys, drawn below */
            _mm256_storeu_si256((__m256i *)(step_t + n + nlo), _mm256_maskz_compress_epi64(hi, k1));
            n += nlo + __builtin_popcount((unsigned)hi);
        }
    }
    const __m256i kk = _mm256_set1_epi64x(k), kT = _mm256_set1_epi64x(k * T), uT = _mm256_set1_epi64x(T);
    for (int64_t q = 0; q < n; q += 4) {  /* up to 3 lanes past n: room for them */
        __m256i z = TN_MIX256(_mm256_add_epi64(_mm256_loadu_si256((const __m256i *)(step_t + q)), kk));
        __m256i off = _mm256_srli_epi64(_mm256_mul_epu32(_mm256_srli_epi64(z, 34), uT), 30);  /* 30 x 32 bits */
        _mm256_storeu_si256((__m256i *)(step_t + q), _mm256_add_epi64(kT, off));
    }
#undef TN_MIX256
    return n;
}

static int tn_has_avx512(void) {
    static int has = -1;
    if (has < 0)
        has = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw")
              && __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
    return has;
}
#endif

/* The listed steps (q < n_step) put into the compact step arrays (step_n's bits 0-1: the count,
 * step_s0: the first instant; a second step, in a window across a tick's end, into the record's
 * st1, at rest before), not the 64-byte records' head/st0, which ak_tn_run fills from them only
 * where a record path needs them: each stepping neuron listed as touched; returns coincide. fast
 * (a constant): the window's first tick, wholly inside it, and sto one run: every instant is in
 * the window, and every count is zero (ak_tn_run's passes leave them so after each window), so
 * no count is read (step_n's bit 7, a mark of the window before, is dropped). */
static inline __attribute__((always_inline)) int tn_step_put(ak_tn_nx *restrict nx, uint8_t *restrict sn,
        int64_t *restrict s0, int64_t *restrict touched,
        int64_t *nt, const int32_t *restrict step_j, const int64_t *restrict step_t, int64_t n_step,
        const int64_t *restrict sto, int64_t w0, int64_t w1, const int64_t *restrict hset, int hshift, uint64_t hmask,
        const uint64_t *restrict hbit, int coincide, const int fast) {
    int64_t m = *nt;
    const int64_t sto0 = sto[0];
    for (int64_t q = 0; q < n_step; q++) {
        int64_t t = step_t[q], g = fast ? sto0 + step_j[q] : sto[step_j[q]];
        if (!fast && (t < w0 || t >= w1)) continue;
        uint64_t hp = (uint64_t)t * 0x9E3779B97F4A7C15ULL, fh = hp >> (hshift - 3);
        if (((hbit[fh >> 6] >> (fh & 63)) & 1) && !coincide) {  /* the bit set: probe the set of arrival instants */
            for (uint64_t h = hp >> hshift; hset[h] != -1; h = (h + 1) & hmask)
                if (hset[h] == t) {
                    coincide = 1;
                    break;
                }
        }
        if (fast) {
            sn[g] = 1;
            s0[g] = t;
            touched[m++] = g;
            continue;
        }
        int c = sn[g] & 3;  /* 0 or 1: a window (at most a tick) has at most two steps, in time order */
        if (!c) {
            touched[m++] = g;
            s0[g] = t;
        } else {
            nx[g].st1 = t;
        }
        sn[g] = (uint8_t)(c + 1);
    }
    *nt = m;
    return coincide;
}

#define TN_STEP_PUT_ARGS ak_tn_nx *restrict nx, uint8_t *restrict sn, int64_t *restrict s0, int64_t *restrict touched, int64_t *nt, const int32_t *restrict step_j, \
        const int64_t *restrict step_t, int64_t n_step, const int64_t *restrict sto, int64_t w0, int64_t w1, \
        const int64_t *restrict hset, int hshift, uint64_t hmask, const uint64_t *restrict hbit, int coincide
static TN_SCALAR_CLONES __attribute__((noinline)) int tn_step_put_fast(TN_STEP_PUT_ARGS) {
    return tn_step_put(nx, sn, s0, touched, nt, step_j, step_t, n_step, sto, w0, w1, hset, hshift, hmask, hbit, coincide, 1);
}
static __attribute__((noinline)) int tn_step_put_any(TN_STEP_PUT_ARGS) {
    return tn_step_put(nx, sn, s0, touched, nt, step_j, step_t, n_step, sto, w0, w1, hset, hshift, hmask, hbit, coincide, 0);
}
#undef TN_STEP_PUT_ARGS

/* The window's leak steps (see ak_tn_run), in a function of its own (its state in registers):
 * each stepping neuron listed as touched, its steps' count and first instant in step_n/step_s0
 * (a second one in its record's st1; tn_steps_to_records copies them into the records where a
 * record path needs them); returns whether a step
 * falls on an arrival's instant (hset: the arrival instants, an open-addressing set; hbit: a
 * bit per 8 slots' worth of hash values, set for each arrival instant, so a probe mostly stops
 * at a clear bit, rarely mispredicted). Per tick: the steps drawn into a list (above), then put
 * into the step arrays one at a time. */
static __attribute__((noinline)) int tn_steps(const ak_tn_run_scratch *x, ak_tn_nx *restrict nx, int64_t *restrict touched, int64_t *nt, int64_t w0, int64_t w1, int64_t T,
        const int64_t *restrict hset, int hshift, uint64_t hmask, const uint64_t *restrict hbit) {
    int coincide = 0;
    const int64_t n_sto = x->n_sto, offset = x->neuron_offset;
    const int64_t *restrict sto = x->sto;
    if (n_sto <= 0) return 0;
    /* step_buf: step_t [n_sto + 8], step_j [n_sto + 8 (int32)], inst [n_sto], words [nw + 8], hit [n_sto + 64 bytes] */
    const int64_t b0 = (sto[0] + offset) >> 3, nw = ((sto[n_sto - 1] + offset) >> 3) - b0 + 1;
    int64_t *restrict step_t = (int64_t *)x->step_buf;
    int32_t *restrict step_j = (int32_t *)(step_t + n_sto + 8);
    int64_t *restrict inst = step_t + 2 * (n_sto + 8);
    uint64_t *restrict words = (uint64_t *)(inst + n_sto);
    uint8_t *restrict hit = (uint8_t *)(words + nw + 8);
    const int run = (int)x->sto_run;
    for (int64_t k = w0 / T; k <= (w1 - 1) / T; k++) {
        uint64_t wkey = x->leak_key + ((uint64_t)k << 32) + (uint64_t)b0;
        int64_t n_step;
#if TN_AVX512
        if (run && T < ((int64_t)1 << 32) && !x->scalar_only && tn_has_avx512())
            n_step = tn_step_list_avx512(words, nw, wkey, x->sto_off_keys, x->sto_lim, n_sto, sto[0] + offset - 8 * b0,
                                         k, T, step_j, step_t);
        else
#endif
        {
            tn_step_draws(words, nw, wkey, x->sto_off_keys, inst, n_sto, k, T);
            tn_step_hits(hit, words, x->sto_lim, sto, n_sto, 8 * b0, offset, run);
            memset(hit + n_sto, 0, (size_t)(-n_sto & 63));
            n_step = tn_step_compact(hit, inst, n_sto, step_j, step_t);
        }
        if (run && k == w0 / T && k * T >= w0 && (k + 1) * T <= w1)
            coincide = tn_step_put_fast(nx, x->step_n, x->step_s0, touched, nt, step_j, step_t, n_step, sto, w0, w1, hset, hshift, hmask, hbit,
                                        coincide);
        else
            coincide = tn_step_put_any(nx, x->step_n, x->step_s0, touched, nt, step_j, step_t, n_step, sto, w0, w1, hset, hshift, hmask, hbit,
                                       coincide);
    }
    return coincide;
}

/* A window on the record paths (not counted): the steps tn_steps put (its touched list, list[0 ..
 * m)) copied into the records (head, st0; st1 is there already), and the counts zeroed. */
static __attribute__((noinline)) void tn_steps_to_records(ak_tn_nx *restrict nx, uint8_t *restrict sn,
        const int64_t *restrict s0, const int64_t *restrict list, int64_t m) {
    for (int64_t k = 0; k < m; k++) {
        int64_t i = list[k];
        nx[i].head = 1;
        nx[i].st0 = s0[i];
        sn[i] = 0;
    }
}

#define TN_ROWS(CALL) do {                                               \
        if (narrow && !per_synapse) CALL(1, 0);                          \
        else if (narrow) CALL(1, 1);                                     \
        else if (!per_synapse) CALL(0, 0);                               \
        else CALL(0, 1);                                                 \
    } while (0)

/* Pass 1 (see ak_tn_run) in a function of its own (its pointers in registers): every arrival's
 * row, in ord's order (core by core, time order within a core); q_t and q_ax filled in that
 * order (q_ax -1: a repeat of an (instant, axon)); returns the synaptic events. */
static __attribute__((noinline)) int64_t tn_rows(const ak_tn_run_scratch *x, ak_tn_nx *restrict nx,
        int64_t *restrict touched, int64_t *nt, const int64_t *restrict ord, const int64_t *restrict a_t,
        const int64_t *restrict a_ax, int64_t n_arr, int64_t *restrict q_t, int64_t *restrict q_ax,
        int coincide, int dense) {
    const int64_t *restrict row_ptr = x->row_ptr;
    const uint8_t *restrict rn8 = (const uint8_t *)x->row_neurons;
    const uint16_t *restrict rn16 = (const uint16_t *)x->row_neurons;
    const int64_t *restrict type_w = x->type_w, *restrict row_w = x->row_w;
    const int8_t *restrict axon_type = x->axon_type;
    uint8_t *restrict flag = x->flag;
    const int64_t n_types = x->n_types, apc = x->axons_per_core, npc = x->neurons_per_core;
    const int narrow = x->neuron_bytes == 1, per_synapse = row_w != NULL;
    int64_t *restrict seen = x->seen, sops = 0, m = *nt;
    for (int64_t q = 0; q < n_arr; q++) {
        int64_t a = ord[q], ax = a_ax[a], t = a_t[a];
        q_t[q] = t;
        q_ax[q] = seen[ax] == t ? -1 : ax;
        if (q_ax[q] < 0) continue;  /* one activation per (instant, axon) */
        seen[ax] = t;
        int64_t base = (ax / apc) * npc;
        int64_t lo = row_ptr[ax], hi = row_ptr[ax + 1];
        int64_t type = axon_type[ax];
        sops += hi - lo;
        int64_t core = ax / apc;
        int solo = !coincide
            && !(q > 0 && a_ax[ord[q - 1]] / apc == core && a_t[ord[q - 1]] == t)
            && !(q + 1 < n_arr && a_ax[ord[q + 1]] / apc == core && a_t[ord[q + 1]] == t);
        if (solo) {
#define TN_SOLO(N, P) tn_row_sums_solo(nx, touched, &m, rn8, rn16, type_w, row_w, n_types, type, base, lo, hi, N, P, 1)
#define TN_SOLO_DENSE(N, P) tn_row_sums_solo(nx, touched, &m, rn8, rn16, type_w, row_w, n_types, type, base, lo, hi, N, P, 0)
            if (dense) TN_ROWS(TN_SOLO_DENSE);
            else TN_ROWS(TN_SOLO);
#undef TN_SOLO
#undef TN_SOLO_DENSE
            continue;
        }
#define TN_SUMS(N, P) tn_row_sums(nx, flag, touched, &m, rn8, rn16, type_w, row_w, n_types, type, base, lo, hi, t, N, P)
        TN_ROWS(TN_SUMS);
#undef TN_SUMS
    }
    *nt = m;
    return sops;
}

/* Wider vector units where the CPU has them (integer loops: the same numbers either way), as tick.c */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define NE_VECTOR_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define NE_VECTOR_CLONES
#endif

/* (tn_fold's loops: restrict on parameters, which GCC honours for vectorising, not on locals) */
static inline __attribute__((always_inline)) void tn_fold_type(int32_t *restrict P, int32_t *restrict N,
        const uint8_t *restrict cb, const int32_t *restrict wp, const int32_t *restrict wn, int64_t m) {
    for (int64_t j = 0; j < m; j++) {
        int32_t k = cb[j];
        P[j] += k * wp[j];
        N[j] += k * wn[j];
    }
}

static inline __attribute__((always_inline)) void tn_fold_inst(int32_t *restrict C, const uint8_t *restrict cb,
                                                               int64_t m) {
    for (int64_t j = 0; j < m; j++) C[j] += cb[j];
}

/* One core's counts (see tn_rows_counted) into its neurons' sums: for each axon type with rows,
 * count x weight (kept apart by sign), and the instants; loops over the core's m neurons that the
 * compiler vectorises. The counts are zeroed for what follows. Sums in int32: ak_tn_run takes this
 * path only while no sum can pass 2^31 (cnt_max_arr). */
NE_VECTOR_CLONES static __attribute__((noinline)) void tn_fold(const ak_tn_run_scratch *x, int64_t core, int64_t m,
                                                               int32_t *rows_of) {
    const int64_t npc = x->neurons_per_core, n_types = x->n_types, bpr = (npc + 7) / 8;
    for (int64_t t = 0; t < n_types; t++) {
        if (!rows_of[t]) continue;
        rows_of[t] = 0;
        tn_fold_type(x->acc_p + core * npc, x->acc_n + core * npc, (const uint8_t *)(x->cnt + t * bpr),
                     x->cnt_wpos + (core * n_types + t) * npc, x->cnt_wneg + (core * n_types + t) * npc, m);
        memset(x->cnt + t * bpr, 0, (size_t)bpr * sizeof(uint64_t));
    }
    uint64_t *inst = x->cnt + n_types * bpr;
    tn_fold_inst(x->acc_c + core * npc, (const uint8_t *)inst, m);
    memset(inst, 0, (size_t)bpr * sizeof(uint64_t));
}

/* Pass 1 of a window reaching most neurons (dense) in which no leak step falls on an arrival's
 * instant (so no input shares an instant with a step), with the crossbar's bitmap and per-type
 * weights: every row adds its bitmap row to its type's byte counts (eight neurons per 64-bit add,
 * as the sync kernel's tn_range) instead of three read-modify-writes of a 64-byte record per
 * synapse, and the rows of one instant on one core (adjacent in ord) add the OR of their bitmap
 * rows to the instant counts (a neuron's distinct input instants, ninst). A count stays below 256:
 * every byte gains at most one per add, folded at 255 adds. Core by core (seg_end: the counting
 * sort's segments of ord), the counts are folded into acc_p/acc_n/acc_c (tn_fold), which pass 2
 * (tn_bulk_counted) reads in place of the records' pos/neg/ninst: those, and the flags, are not
 * touched. Returns the synaptic events; q_t/q_ax as tn_rows. */
static __attribute__((noinline)) int64_t tn_rows_counted(const ak_tn_run_scratch *x, const int64_t *restrict ord,
        const int64_t *restrict seg_end, int64_t n_cores, const int64_t *restrict a_t,
        const int64_t *restrict a_ax, int64_t *restrict q_t, int64_t *restrict q_ax, int64_t n) {
    const int64_t *restrict row_ptr = x->row_ptr;
    const int8_t *restrict axon_type = x->axon_type;
    const uint8_t *restrict bits = x->row_bits;
    const uint64_t *restrict spread = x->cnt_spread;
    uint64_t *restrict cnt = x->cnt;
    const int64_t npc = x->neurons_per_core, bpr = (npc + 7) / 8;
    uint64_t *restrict inst = cnt + x->n_types * bpr, *restrict grp = inst + bpr;  /* grp: the OR of a group's rows */
    int64_t *restrict seen = x->seen, sops = 0, adds = 0;
    int32_t rows_of[64] = {0};  /* rows counted per type since the last fold (bind_network: n_types <= 64) */
    for (int64_t core = 0; core < n_cores; core++) {  /* core's arrivals: ord[seg_end[core - 1] .. seg_end[core]) */
        const int64_t q0 = core ? seg_end[core - 1] : 0, q1 = seg_end[core];
        if (q0 == q1) continue;
#define TN_FOLD() do {                                                              \
        tn_fold(x, core, npc < n - core * npc ? npc : n - core * npc, rows_of);    \
        adds = 0;                                                                   \
    } while (0)
        int64_t t_prev = -1, t = a_t[ord[q0]];  /* times are >= 0 */
        for (int64_t q = q0; q < q1; q++) {
            int64_t a = ord[q], ax = a_ax[a];
            int64_t t_next = q + 1 < q1 ? a_t[ord[q + 1]] : -1;
            int same_prev = t_prev == t, same_next = t_next == t;
            q_t[q] = t;
            q_ax[q] = seen[ax] == t ? -1 : ax;
            if (q_ax[q] >= 0) {  /* one activation per (instant, axon) */
                seen[ax] = t;
                int64_t type = axon_type[ax];
                sops += row_ptr[ax + 1] - row_ptr[ax];
                const uint8_t *restrict row = bits + ax * bpr;
                uint64_t *restrict ct = cnt + type * bpr;
                rows_of[type]++;
                if (!same_prev && !same_next) {  /* alone at its instant: its row is its neurons' instant */
                    for (int64_t b = 0; b < bpr; b++) {
                        uint64_t v = spread[row[b]];
                        ct[b] += v;
                        inst[b] += v;
                    }
                } else {
                    for (int64_t b = 0; b < bpr; b++) {
                        ct[b] += spread[row[b]];
                        ((uint8_t *)grp)[b] |= row[b];
                    }
                }
                if (++adds == 255) TN_FOLD();  /* (each byte of either gained at most one) */
            }
            if (same_prev && !same_next) {  /* the end of a group of one instant */
                for (int64_t b = 0; b < bpr; b++) inst[b] += spread[((uint8_t *)grp)[b]];
                memset(grp, 0, (size_t)bpr * sizeof(uint64_t));
                if (++adds == 255) TN_FOLD();
            }
            t_prev = t;
            t = t_next;
        }
        if (adds) TN_FOLD();
#undef TN_FOLD
    }
    return sops;
}

/* Pass 2 (see ak_tn_run) in a function of its own, its arrays and counters in registers (in
 * ak_tn_run they are spilled). dense: walk every neuron (list unread), else the n_walk listed;
 * from the k0-th on, the counters (and the lists' lengths) going on from out's. */
typedef struct {
    int64_t nu, nc, n_touched, active, plain;
} tn_bulk_out;

static inline __attribute__((always_inline)) void tn_bulk(const ak_tn *s, ak_tn_nx *restrict nx,
        uint8_t *restrict flag, const int64_t *restrict step_w, const int64_t *list, int64_t n_walk,
        int64_t *restrict ulist, int64_t *restrict queued, int64_t *moved, int64_t w0, int64_t w1,
        int64_t end, tn_bulk_out *out, const int dense, const ak_tn_run_scratch *x, const int counted, int64_t k0) {
    int64_t *restrict v_ = s->v, *restrict t_last = s->t_last, *restrict pend = s->pend;
    const int64_t *restrict drift = s->drift, *restrict low = s->low, *restrict alpha = s->alpha;
    const int64_t *restrict ref_ = s->ref;
    const uint8_t *restrict enabled = s->enabled;
    const int64_t hi = s->hi, span = w1 - w0;
    const int mask_any = s->mask_any;
    int64_t nu = out->nu, nc = out->nc, n_touched = out->n_touched, active = out->active, plain = out->plain;
    /* counted: every row's input is in acc_* (pass 1 by byte counts), read and cleared here; the
     * records' pos/neg/ninst and the flags (no step shares an input's instant) are then all zero */
    int32_t *restrict acc_p = counted ? x->acc_p : NULL, *restrict acc_n = counted ? x->acc_n : NULL;
    int32_t *restrict acc_c = counted ? x->acc_c : NULL;
    const int64_t scale = counted ? x->cnt_scale : 0;
    /* counted: the steps are in step_n/step_s0 (tn_steps; a second one in the record's st1), not
     * in the records, which this pass then touches only for the neurons it lists (their first
     * step copied in) and the few with two steps; step_n's bit 7 marks the neurons taken whole,
     * for the checks below (every neuron's byte written) */
    uint8_t *restrict sn = counted ? x->step_n : NULL;
    const int64_t *restrict s0 = counted ? x->step_s0 : NULL;
    for (int64_t k = k0; k < n_walk; k++) {
        int64_t i = dense ? k : list[k];
        ak_tn_nx *e = nx + i;
        int64_t cc = counted ? acc_c[i] : 0, cs = counted ? sn[i] & 3 : 0;
        if (dense) {  /* (one branch: head is random, set for the neurons that step) */
            if (counted ? !(cs | cc) : !e->head && !e->ninst) {
                if (counted) sn[i] = 0;
                continue;
            }
            n_touched++;
        }
        int64_t nsteps = counted ? cs : (e->st0 != INT64_MAX) + (e->st1 != INT64_MAX);
        int64_t sw = step_w[i] * nsteps;
        int64_t P = (sw > 0 ? sw : 0), N = (sw < 0 ? sw : 0);
        if (counted) {
            P += (int64_t)acc_p[i] * scale;
            N += (int64_t)acc_n[i] * scale;
            acc_p[i] = acc_n[i] = acc_c[i] = 0;
        } else {
            P += e->pos;
            N += e->neg;
        }
        /* tn_advance to w0 */
        int64_t dt = w0 - t_last[i];
        if (dt > TN_DT_CAP) dt = TN_DT_CAP;
        int64_t d = drift[i];
        int64_t v = tn_clip(v_[i] + d * dt, low[i], hi);
        t_last[i] = w0;
        int64_t top = v + P + (d > 0 ? d : 0) * span, bottom = v + N + (d < 0 ? d : 0) * span;
        if (mask_any || !(top < alpha[i] && top <= hi && bottom >= low[i]) || pend[i] < w1) {
            v_[i] = v;
            flag[i] |= 4;
            e->head = 1;  /* listed: a check of it below adds nothing */
            if (counted) {  /* the record is at rest (st1 aside): the first step copied in for the ordered pass */
                if (cs) e->st0 = s0[i];
                sn[i] = 0;
            }
            ulist[nu++] = i;
            continue;
        }
        v_[i] = v + P + N;
        if (enabled[i]) {
            int64_t shared = counted ? 0 : (flag[i] & 1) + ((flag[i] >> 1) & 1);
            active += counted ? cc : e->ninst;
            plain += nsteps - shared;
        }
        /* tn_predict, knowing what the bulk test proved: no drawn threshold (theta is alpha),
         * v < alpha and t_last = w0; so theta, ref and t_last are read only for a drift up */
        int64_t pd = TN_NEVER;
        if (enabled[i] && d > 0 && alpha[i] <= hi) {
            int64_t c = w0 + (alpha[i] - (v + P + N) + d - 1) / d, r = ref_[i];
            pd = c > r ? c : r;
        }
        pend[i] = pd;
        /* taken whole this window: a (stale) check of it below is no event */
        if (counted) {
            sn[i] = 0x80;
            if (cs > 1) e->st1 = INT64_MAX;  /* (a window across a tick's end) */
        } else {
            e->st0 = e->st1 = INT64_MAX;
            e->head = 0;
            e->pos = e->neg = 0;
            e->ninst = 0;
            flag[i] = 0;
            e->last_t = -2 - w0;
        }
        if (pd < end && pd < TN_NEVER && pd != queued[i]) {  /* most have none: queued is not read */
            queued[i] = pd;
            moved[nc++] = i;
        }
    }
    out->nu = nu;
    out->nc = nc;
    out->n_touched = n_touched;
    out->active = active;
    out->plain = plain;
}

static __attribute__((noinline)) void tn_bulk_dense(const ak_tn *s, ak_tn_nx *restrict nx, uint8_t *restrict flag,
        const int64_t *restrict step_w, const int64_t *list, int64_t n_walk, int64_t *restrict ulist,
        int64_t *restrict queued, int64_t *moved, int64_t w0, int64_t w1, int64_t end, tn_bulk_out *out) {
    tn_bulk(s, nx, flag, step_w, list, n_walk, ulist, queued, moved, w0, w1, end, out, 1, NULL, 0, 0);
}

/* a counted pass 2 over neurons k0 .. n_walk - 1 */
static __attribute__((noinline)) void tn_bulk_counted_from(const ak_tn *s, ak_tn_nx *restrict nx, uint8_t *restrict flag,
        const int64_t *restrict step_w, const int64_t *list, int64_t n_walk, int64_t *restrict ulist,
        int64_t *restrict queued, int64_t *moved, int64_t w0, int64_t w1, int64_t end, tn_bulk_out *out,
        const ak_tn_run_scratch *x, int64_t k0) {
    tn_bulk(s, nx, flag, step_w, list, n_walk, ulist, queued, moved, w0, w1, end, out, 1, x, 1, k0);
}

#if TN_AVX512
/* A counted pass 2 in 256-bit lanes (AVX-512 F/BW/DQ/VL, no drawn thresholds): four neurons at a
 * time through the bulk test, from the SoA arrays alone. A lane the lanes finish (taken whole with
 * at most one step and no crossing to predict: drift not up, or disabled, or alpha above hi; then
 * pend is TN_NEVER and nothing is queued) is written by masked stores; any other touched lane
 * (listed for the ordered pass, a crossing to predict, two steps) goes through the scalar code
 * (tn_bulk) before the block's stores, in index order, so the lists and every counter are the
 * scalar pass's. The same integer operations as tn_bulk, so the same bits. */
__attribute__((target("avx512f,avx512bw,avx512dq,avx512vl"))) __attribute__((noinline))
static void tn_bulk_counted_avx512(const ak_tn *s, ak_tn_nx *restrict nx, uint8_t *restrict flag,
        const int64_t *restrict step_w, int64_t n, int64_t *restrict ulist, int64_t *restrict queued, int64_t *moved,
        int64_t w0, int64_t w1, int64_t end, tn_bulk_out *out, const ak_tn_run_scratch *x) {
    int64_t *restrict v_ = s->v, *restrict t_last = s->t_last, *restrict pend = s->pend;
    const int64_t *restrict drift = s->drift, *restrict low = s->low, *restrict alpha = s->alpha;
    const uint8_t *restrict enabled = s->enabled;
    int32_t *restrict acc_p = x->acc_p, *restrict acc_n = x->acc_n, *restrict acc_c = x->acc_c;
    uint8_t *restrict sn = x->step_n;
    const __m256i W0 = _mm256_set1_epi64x(w0), W1 = _mm256_set1_epi64x(w1), CAP = _mm256_set1_epi64x(TN_DT_CAP);
    const __m256i HI = _mm256_set1_epi64x(s->hi), SPAN = _mm256_set1_epi64x(w1 - w0);
    const __m256i SCALE = _mm256_set1_epi64x(x->cnt_scale), NEV = _mm256_set1_epi64x(TN_NEVER);
    const __m256i Z = _mm256_setzero_si256(), THREE = _mm256_set1_epi64x(3), ONE = _mm256_set1_epi64x(1);
    const __m256i LANE = _mm256_set_epi64x(3, 2, 1, 0);
    __m256i act = Z, pla = Z;
    const int64_t nu0 = out->nu;
    int64_t k = 0;
    for (; k + 4 <= n; k += 4) {
        uint32_t sn4, en4;
        memcpy(&sn4, sn + k, 4);
        __m256i cs = _mm256_and_si256(_mm256_cvtepu8_epi64(_mm_cvtsi32_si128((int)sn4)), THREE);
        __m256i cc = _mm256_cvtepi32_epi64(_mm_loadu_si128((const __m128i *)(acc_c + k)));
        /* touched: a step or an input instant (no instant: no input, acc_p/acc_n are zero too) */
        __mmask8 touched = _mm256_test_epi64_mask(_mm256_or_si256(cs, cc), _mm256_or_si256(cs, cc));
        if (!touched) {
            memset(sn + k, 0, 4);  /* (drops the marks of the window before) */
            continue;
        }
        __m256i sw = _mm256_mullo_epi64(_mm256_loadu_si256((const __m256i *)(step_w + k)), cs);
        __m256i P = _mm256_add_epi64(_mm256_max_epi64(sw, Z), _mm256_mullo_epi64(
            _mm256_cvtepi32_epi64(_mm_loadu_si128((const __m128i *)(acc_p + k))), SCALE));
        __m256i N = _mm256_add_epi64(_mm256_min_epi64(sw, Z), _mm256_mullo_epi64(
            _mm256_cvtepi32_epi64(_mm_loadu_si128((const __m128i *)(acc_n + k))), SCALE));
        __m256i dt = _mm256_min_epi64(_mm256_sub_epi64(W0, _mm256_loadu_si256((const __m256i *)(t_last + k))), CAP);
        __m256i d = _mm256_loadu_si256((const __m256i *)(drift + k)), lo = _mm256_loadu_si256((const __m256i *)(low + k));
        __m256i v = _mm256_add_epi64(_mm256_loadu_si256((const __m256i *)(v_ + k)), _mm256_mullo_epi64(d, dt));
        v = _mm256_mask_blend_epi64(_mm256_cmplt_epi64_mask(v, lo), _mm256_min_epi64(v, HI), lo);  /* tn_clip */
        __m256i al = _mm256_loadu_si256((const __m256i *)(alpha + k));
        __m256i top = _mm256_add_epi64(_mm256_add_epi64(v, P), _mm256_mullo_epi64(_mm256_max_epi64(d, Z), SPAN));
        __m256i bottom = _mm256_add_epi64(_mm256_add_epi64(v, N), _mm256_mullo_epi64(_mm256_min_epi64(d, Z), SPAN));
        __mmask8 ok = _mm256_cmplt_epi64_mask(top, al) & _mm256_cmple_epi64_mask(top, HI)
                      & _mm256_cmpge_epi64_mask(bottom, lo)
                      & _mm256_cmpge_epi64_mask(_mm256_loadu_si256((const __m256i *)(pend + k)), W1);
        memcpy(&en4, enabled + k, 4);
        __m256i env = _mm256_cvtepu8_epi64(_mm_cvtsi32_si128((int)en4));
        __mmask8 en = _mm256_test_epi64_mask(env, env);
        __mmask8 up = en & _mm256_cmpgt_epi64_mask(d, Z) & _mm256_cmple_epi64_mask(al, HI);
        __mmask8 two = _mm256_cmpgt_epi64_mask(cs, ONE);
        __mmask8 whole = touched & ok & (__mmask8)~up & (__mmask8)~two;  /* finished here */
        __mmask8 listed = touched & (__mmask8)~ok;                       /* listed here, unless ... */
        __mmask8 fb = touched & ok & (up | two);                         /* ... a lane needs the scalar code */
        uint32_t snw = 0;  /* step_n's four bytes as one word (a plain store: a masked byte store
                            * stalls the next block's load, no store forwarding) */
        for (int j = 0; j < 4; j++) snw |= (uint32_t)((whole >> j) & 1) << (8 * j + 7);
        if (fb) {  /* the scalar code for every touched lane not taken whole here, in index order, first */
            fb |= listed;
            for (__mmask8 f = fb; f; f &= (__mmask8)(f - 1)) {
                int64_t i = k + __builtin_ctz((unsigned)f);
                tn_bulk_counted_from(s, nx, flag, step_w, NULL, i + 1, ulist, queued, moved, w0, w1, end, out, x, i);
            }
            memcpy(&sn4, sn + k, 4);
            for (int j = 0; j < 4; j++) snw |= ((fb >> j) & 1) ? sn4 & ((uint32_t)0xFF << (8 * j)) : 0;
        } else if (listed) {  /* listed: its index appended; the record, flag and step count after the loop */
            _mm256_mask_storeu_epi64(v_ + k, listed, v);
            _mm256_mask_storeu_epi64(t_last + k, listed, W0);
            _mm256_mask_compressstoreu_epi64(ulist + out->nu, listed, _mm256_add_epi64(_mm256_set1_epi64x(k), LANE));
            out->nu += __builtin_popcount((unsigned)listed);
            out->n_touched += __builtin_popcount((unsigned)listed);
            for (int j = 0; j < 4; j++) snw |= ((listed >> j) & 1) ? sn4 & ((uint32_t)0x03 << (8 * j)) : 0;
        }
        memcpy(sn + k, &snw, 4);
        _mm256_mask_storeu_epi64(v_ + k, whole, _mm256_add_epi64(v, _mm256_add_epi64(P, N)));
        _mm256_mask_storeu_epi64(t_last + k, whole, W0);
        _mm256_mask_storeu_epi64(pend + k, whole, NEV);
        _mm_storeu_si128((__m128i *)(acc_p + k), _mm_setzero_si128());
        _mm_storeu_si128((__m128i *)(acc_n + k), _mm_setzero_si128());
        _mm_storeu_si128((__m128i *)(acc_c + k), _mm_setzero_si128());
        act = _mm256_mask_add_epi64(act, whole & en, act, cc);
        pla = _mm256_mask_add_epi64(pla, whole & en, pla, cs);
        out->n_touched += __builtin_popcount((unsigned)whole);
    }
    int64_t a4[4], p4[4];
    _mm256_storeu_si256((__m256i *)a4, act);
    _mm256_storeu_si256((__m256i *)p4, pla);
    out->active += a4[0] + a4[1] + a4[2] + a4[3];
    out->plain += p4[0] + p4[1] + p4[2] + p4[3];
    /* the listed neurons' records (as tn_bulk lists them): ordered, their first step copied in (a
     * second is there already), the count zeroed; those the scalar code listed have it done, and
     * doing it again changes nothing */
    for (int64_t q = nu0; q < out->nu; q++) {
        int64_t i = ulist[q];
        flag[i] |= 4;
        nx[i].head = 1;
        if (sn[i] & 3) nx[i].st0 = x->step_s0[i];
        sn[i] = 0;
    }
    if (k < n) tn_bulk_counted_from(s, nx, flag, step_w, NULL, n, ulist, queued, moved, w0, w1, end, out, x, k);
}
#endif

static __attribute__((noinline)) void tn_bulk_counted(const ak_tn *s, ak_tn_nx *restrict nx, uint8_t *restrict flag,
        const int64_t *restrict step_w, const int64_t *list, int64_t n_walk, int64_t *restrict ulist,
        int64_t *restrict queued, int64_t *moved, int64_t w0, int64_t w1, int64_t end, tn_bulk_out *out,
        const ak_tn_run_scratch *x) {
#if TN_AVX512
    if (!s->mask_any && !x->scalar_only && tn_has_avx512()) {
        tn_bulk_counted_avx512(s, nx, flag, step_w, n_walk, ulist, queued, moved, w0, w1, end, out, x);
        return;
    }
#endif
    tn_bulk(s, nx, flag, step_w, list, n_walk, ulist, queued, moved, w0, w1, end, out, 1, x, 1, 0);
}

static __attribute__((noinline)) void tn_bulk_list(const ak_tn *s, ak_tn_nx *restrict nx, uint8_t *restrict flag,
        const int64_t *restrict step_w, const int64_t *list, int64_t n_walk, int64_t *restrict ulist,
        int64_t *restrict queued, int64_t *moved, int64_t w0, int64_t w1, int64_t end, tn_bulk_out *out) {
    tn_bulk(s, nx, flag, step_w, list, n_walk, ulist, queued, moved, w0, w1, end, out, 0, NULL, 0, 0);
}

/* Sort the window's spikes by (time, neuron) (each pair is unique: a neuron fires at most once
 * per instant) as one 128-bit key each (the time, its sign bit flipped so that unsigned order is
 * signed order, above the neuron): insertion sort on short runs, then bottom-up merges whose
 * step picks without a branch (the keys' order is random: a branch would miss half the time).
 * buf: 4 ns int64 (the keys and the merge's other half). */
typedef unsigned __int128 tn_key;
static __attribute__((noinline)) void tn_sort_spikes(int64_t *restrict n_, int64_t *restrict t_, int64_t ns,
                                                     int64_t *restrict buf) {
    const int64_t run = 16;
    tn_key *restrict key = (tn_key *)buf, *restrict other = key + ns;
    for (int64_t k = 0; k < ns; k++)
        key[k] = ((tn_key)((uint64_t)t_[k] ^ ((uint64_t)1 << 63)) << 64) | (uint64_t)n_[k];
    for (int64_t lo = 0; lo < ns; lo += run) {
        int64_t hi = lo + run < ns ? lo + run : ns;
        for (int64_t a = lo + 1; a < hi; a++) {
            tn_key v = key[a];
            int64_t b = a;
            while (b > lo && key[b - 1] > v) {
                key[b] = key[b - 1];
                b--;
            }
            key[b] = v;
        }
    }
    tn_key *src = key, *dst = other;
    for (int64_t width = run; width < ns; width *= 2) {
        for (int64_t lo = 0; lo < ns; lo += 2 * width) {
            int64_t mid = lo + width < ns ? lo + width : ns, hi = lo + 2 * width < ns ? lo + 2 * width : ns;
            int64_t a = lo, b = mid, k = lo;
            while (a < mid && b < hi) {
                tn_key x = src[a], y = src[b];
                int take_b = y < x;
                dst[k++] = take_b ? y : x;
                b += take_b;
                a += !take_b;
            }
            while (a < mid) dst[k++] = src[a++];
            while (b < hi) dst[k++] = src[b++];
        }
        tn_key *q = src; src = dst; dst = q;
    }
    for (int64_t k = 0; k < ns; k++) {
        n_[k] = (int64_t)(uint64_t)src[k];
        t_[k] = (int64_t)((uint64_t)(src[k] >> 64) ^ ((uint64_t)1 << 63));
    }
}

/* x->win_buf with room for need int64 (grown by half again, so a run reallocates a few times) */
static int64_t *tn_win_buf(ak_tn_run_scratch *x, int64_t need) {
    if (need > x->win_cap) {
        int64_t cap = need + need / 2 + 64;
        int64_t *p = realloc(x->win_buf, (size_t)cap * sizeof(int64_t));
        if (!p) return NULL;
        x->win_buf = p;
        x->win_cap = cap;
    }
    return x->win_buf;
}

void ak_tn_run_release(ak_tn_run_scratch *x) {
    free(x->win_buf);
    x->win_buf = NULL;
    x->win_cap = 0;
}


int64_t ak_tn_run(ak_tn *s, ak_tn_run_scratch *x, int64_t w0, int64_t n_arr, const int64_t *a_t,
                  const int64_t *a_ax, int64_t n_chk, const int64_t *chk, int64_t *touched, int64_t cap,
                  int64_t *spk_n, int64_t *spk_t, int64_t *counts) {
    /* a local copy of the parameters: stores into the state arrays cannot alias a local */
    ak_tn local = *s;
    s = &local;
    tn_out o = {0, 0, 0, 0, cap, spk_n, spk_t, touched};
    int64_t T = s->T, w1 = s->w1;
    ak_tn_nx *restrict nx = x->nx;
    const int64_t *step_w = x->step_w;
    if (cap <= s->n) return AK_EBADARG;  /* each neuron is listed once: n entries, + 1 for the branch-free append */
    const int64_t apc = x->axons_per_core, npc = x->neurons_per_core, n_cores = (s->n + npc - 1) / npc;
    /* The arrivals in core order, time order kept within a core (a stable counting sort): the
     * passes below then work on one core's neurons at a time, whose scratch and weights stay in
     * the L1 cache, and each neuron still sees its inputs in time order. */
    int hbits = 6;  /* the arrival instants as an open-addressing set, at most 1/8 full: a probe mostly meets an empty slot */
    while (((int64_t)1 << hbits) < 8 * n_arr + 8) hbits++;
    const int hshift = 64 - hbits;
    const uint64_t hmask = ((uint64_t)1 << hbits) - 1;
    int64_t *ord = tn_win_buf(x, 6 * n_arr + n_cores + 1 + ((int64_t)1 << hbits) + ((int64_t)1 << (hbits - 3)));
    if (!ord) return AK_ENOMEM;
    /* each arrival checked, its core kept (a shift when apc is a power of two, else a division)
     * for the counting sort, and its row's synapses summed (reach, below) */
    int64_t *restrict a_core = ord + 5 * n_arr + n_cores + 1 + ((int64_t)1 << hbits) + ((int64_t)1 << (hbits - 3));
    int64_t reach = 0;
    {
        const int64_t *restrict rp = x->row_ptr;
        const int apc_pow2 = (apc & (apc - 1)) == 0;
        const int apc_shift = apc_pow2 ? __builtin_ctzll((uint64_t)apc) : 0;
        for (int64_t a = 0; a < n_arr; a++) {
            int64_t ax = a_ax[a];
            if (ax < 0) return AK_EBADARG;
            int64_t c = apc_pow2 ? ax >> apc_shift : ax / apc;
            if (c >= n_cores || rp[ax] < 0) return AK_EBADARG;
            a_core[a] = c;
            reach += rp[ax + 1] - rp[ax];
        }
    }
    int64_t *hset = ord + n_arr + n_cores + 1;
    int64_t *q_ax = hset + ((int64_t)1 << hbits);  /* [n_arr] in ord's order: the axon, or -1 for a repeat of an (instant, axon) */
    int64_t *q_t = q_ax + n_arr;                   /* [n_arr] in ord's order: the instant */
    int64_t *mq = q_t + n_arr;               /* [2 n_arr] pass 3: the arrivals that reach a listed neuron, their axon types */
    uint64_t *hbit = (uint64_t *)(mq + 2 * n_arr);  /* [2^hbits / 8] the arrival instants' filter (see tn_steps) */
    const int64_t *seg_end = ord + n_arr;  /* after the sort: core c's arrivals are ord[seg_end[c - 1] .. seg_end[c]) */
    memset(hset, 0xFF, ((size_t)1 << hbits) * sizeof(int64_t));  /* -1: empty (times are >= 0) */
    memset(hbit, 0, ((size_t)1 << (hbits - 3)) * sizeof(uint64_t));
    for (int64_t a = 0; a < n_arr; a++) {
        uint64_t hp = (uint64_t)a_t[a] * 0x9E3779B97F4A7C15ULL, fh = hp >> (hshift - 3);
        hbit[fh >> 6] |= (uint64_t)1 << (fh & 63);
        uint64_t h = hp >> hshift;
        while (hset[h] != -1 && hset[h] != a_t[a]) h = (h + 1) & hmask;
        hset[h] = a_t[a];
    }
    {
        int64_t *start = ord + n_arr;
        memset(start, 0, (size_t)(n_cores + 1) * sizeof(int64_t));
        for (int64_t a = 0; a < n_arr; a++) start[a_core[a] + 1]++;
        for (int64_t c = 0; c < n_cores; c++) start[c + 1] += start[c];
        for (int64_t a = 0; a < n_arr; a++) ord[start[a_core[a]]++] = a;
    }
    /* the window's leak steps: the tick loop's byte per (tick, neuron), at its own instant;
     * coincide: one falls on an arrival's instant (then pass 1 keeps the instant bookkeeping) */
    int coincide = tn_steps(x, nx, o.touched, &o.nt, w0, w1, T, hset, hshift, hmask, hbit);
    /* Pass 1, order-free: each neuron's positive and negative input, its distinct instants, and
     * which of its steps share an instant with an input. Arrivals come in time order, so a
     * neuron's inputs do too. */
    const int64_t *restrict row_ptr = x->row_ptr;
    const uint8_t *restrict rn8 = (const uint8_t *)x->row_neurons;
    const uint16_t *restrict rn16 = (const uint16_t *)x->row_neurons;
    const int64_t *restrict type_w = x->type_w, *restrict row_w = x->row_w;
    const int8_t *restrict axon_type = x->axon_type;
    uint8_t *restrict flag = x->flag;
    const int64_t n_types = x->n_types;
    const int narrow = x->neuron_bytes == 1, per_synapse = row_w != NULL;
    int64_t *restrict seen = x->seen, sops = 0;
    /* most neurons touched (the rows' synapses and the steps, an upper bound, reach a quarter of
     * them): pass 2 walks every neuron in index order (every array read in sequence; the order
     * only permutes the lists below, whose entries are independent neurons) and knows a touched
     * one by its head (steps, shared instants) or its instants, so the solo rows list nothing */
    reach += o.nt;
    const int dense = 4 * reach > s->n;
    /* rows by byte counts (tn_rows_counted): no step on an arrival's instant, sums within int32 */
    const int counted = dense && !coincide && x->cnt_wpos && n_arr <= x->cnt_max_arr;
    x->cnt_windows += counted;
    if (!counted) tn_steps_to_records(nx, x->step_n, x->step_s0, o.touched, o.nt);  /* the record paths read them there */
    if (counted) sops = tn_rows_counted(x, ord, seg_end, n_cores, a_t, a_ax, q_t, q_ax, s->n);
    else sops = tn_rows(x, nx, o.touched, &o.nt, ord, a_t, a_ax, n_arr, q_t, q_ax, coincide, dense);
    /* Pass 2: a neuron no partial sum of which can reach threshold or a bound takes its input at
     * once (as TrueNorthCT.bulk) and is done; the others are listed for the ordered pass. The
     * neurons whose crossing moved are written over the front of the touched list (never ahead
     * of the reading position): they get a check queued (the old one goes stale). */
    int64_t nu = 0, nc = 0;
    int64_t *restrict ulist = x->ulist, *restrict queued = x->queued;
    const int64_t end = x->end;
    const int64_t n_walk = dense ? s->n : o.nt;
    int64_t n_touched = dense ? 0 : o.nt;
    tn_bulk_out bo = {0, 0, 0, 0, 0};
    if (counted) tn_bulk_counted(s, nx, flag, step_w, o.touched, n_walk, ulist, queued, o.touched, w0, w1, end, &bo, x);
    else if (dense) tn_bulk_dense(s, nx, flag, step_w, o.touched, n_walk, ulist, queued, o.touched, w0, w1, end, &bo);
    else tn_bulk_list(s, nx, flag, step_w, o.touched, n_walk, ulist, queued, o.touched, w0, w1, end, &bo);
    nu = bo.nu;
    nc = bo.nc;
    n_touched += bo.n_touched;
    o.active += bo.active;
    o.plain += bo.plain;
    for (int64_t k = 0; k < n_chk; k++) {  /* a check alone: the crossing is looked at below */
        if (chk[k] < 0 || chk[k] >= s->n) return AK_EBADARG;
        int64_t i = chk[k];
        if (!nx[i].head && !(counted ? x->step_n[i] >> 7 : nx[i].last_t == -2 - w0)) {
            nx[i].head = 1;
            flag[i] |= 4;
            ulist[nu++] = i;
        }
    }
    /* Pass 3: the listed neurons' inputs again, in time order, one instant at a time. With the
     * crossbar's bitmap, neuron by neuron: each listed neuron looks only at the arrivals to its
     * core (one bit each) instead of every synapse of every row; the same inputs in the same order. */
    if (nu && x->row_bits && !row_w) {
        const uint8_t *restrict bits = x->row_bits;
        const int64_t bpr = (npc + 7) / 8;
        /* each arrival's axon type read once, not once per neuron it reaches (a load that
         * waited on q_ax's); repeats (q_ax < 0) reach no neuron and get none */
        int64_t *restrict q_ty = mq + n_arr;
        for (int64_t q = 0; q < n_arr; q++) q_ty[q] = q_ax[q] >= 0 ? axon_type[q_ax[q]] : 0;
        /* a neuron's core and place in it: a shift and a mask when npc is a power of two (the
         * shipped chips: 256), a division otherwise */
        const int npc_pow2 = (npc & (npc - 1)) == 0;
        const int npc_shift = npc_pow2 ? __builtin_ctzll((uint64_t)npc) : 0;
        for (int64_t k = 0; k < nu; k++) {
            int64_t i = ulist[k], c, local;
            if (npc_pow2) {
                c = i >> npc_shift;
                local = i & (npc - 1);
            } else {
                c = i / npc;
                local = i - c * npc;
            }
            int64_t q0 = c ? seg_end[c - 1] : 0, q1 = seg_end[c];
            ak_tn_nx *e = nx + i;
            const int64_t *restrict wi = type_w + i * n_types;
            /* the arrivals that reach i, listed without a branch (their bits are random) */
            int64_t nm = 0;
            for (int64_t q = q0; q < q1; q++) {
                int64_t ax = q_ax[q], as = ax < 0 ? 0 : ax;
                mq[nm] = q;
                nm += (ax >= 0) & ((bits[as * bpr + (local >> 3)] >> (local & 7)) & 1);
            }
            for (int64_t m = 0; m < nm; m++) {
                int64_t q = mq[m];
                int64_t t = q_t[q], w = wi[q_ty[q]];
                int64_t g = e->gt;
                if (g == t) {
                    e->gs += w;
                    continue;
                }
                if (g >= 0) tn_flush(s, step_w, &o, i, e);
                e->gt = t;
                e->gs = w;
                e->gsyn = 1;
            }
        }
    } else if (nu) {
        for (int64_t q = 0; q < n_arr; q++) {
            int64_t a = ord[q], ax = a_ax[a], t = a_t[a];
            if (seen[ax] == -2 - t) continue;  /* the same repeats as pass 1 */
            seen[ax] = -2 - t;
            int64_t base = (ax / apc) * npc;
            int64_t lo = row_ptr[ax], hi = row_ptr[ax + 1];
            int64_t type = axon_type[ax];
#define TN_ORDERED(N, P) tn_row_ordered(s, nx, flag, step_w, &o, rn8, rn16, type_w, row_w, n_types, type, base, lo, hi, t, N, P)
            TN_ROWS(TN_ORDERED);
#undef TN_ORDERED
        }
    }
    for (int64_t k = 0; k < nu; k++) {
        int64_t i = ulist[k];
        ak_tn_nx *e = nx + i;
        if (e->gt >= 0) tn_flush(s, step_w, &o, i, e);
        while (e->st0 != INT64_MAX) {
            tn_group(s, &o, i, e->st0, step_w[i], 0);
            e->st0 = e->st1;
            e->st1 = INT64_MAX;
        }
        if (s->pend[i] < w1) {
            int64_t c = s->pend[i];
            tn_fire(s, i, c);
            o.active++;
            o.spk_n[o.ns] = i;
            o.spk_t[o.ns++] = c;
            s->pend[i] = tn_predict(s, i);
        }
        e->head = 0;
        e->pos = e->neg = 0;
        e->ninst = 0;
        e->last_t = -1;
        flag[i] = 0;
        int64_t pd = s->pend[i];
        if (pd < end && pd < TN_NEVER && pd != queued[i]) {  /* most have none: queued is not read */
            queued[i] = pd;
            o.touched[nc++] = i;
        }
    }
    counts[0] = o.ns;
    counts[1] = o.active;
    counts[2] = o.plain;
    counts[3] = nc;
    counts[4] = sops;
    for (int64_t a = 0; a < n_arr; a++) seen[a_ax[a]] = -1;
    if (o.ns > 1) {  /* the keys and the merge's buffer: the window's scratch, done with */
        int64_t *buf = tn_win_buf(x, 4 * o.ns);
        if (!buf) return AK_ENOMEM;
        tn_sort_spikes(o.spk_n, o.spk_t, o.ns, buf);
    }
    int64_t n_out = 0;
    if (x->route_axon) {
        for (int64_t k = 0; k < o.ns; k++) {
            int64_t i = o.spk_n[k], ax = x->route_axon[i];
            x->out_t[n_out] = o.spk_t[k] + x->route_ps[i];
            x->out_ax[n_out] = ax;
            n_out += ax >= 0;
        }
    }
    counts[5] = n_out;
    return n_touched;
}

/* A crossbar's rows as bits (ak_tn_run_scratch.row_bits; declared in async_kernel.h): a bit set per
 * synapse, and a synapse whose bit was set already found at the end, as the synapses less the bits
 * set (bits <= synapses, equal only when no row repeats a neuron): no test per synapse. */
static uint64_t pk_popcount(uint64_t v) {
#if defined(__GNUC__) || defined(__clang__)
    return (uint64_t)__builtin_popcountll(v);
#else
    v = v - ((v >> 1) & 0x5555555555555555ULL);
    v = (v & 0x3333333333333333ULL) + ((v >> 2) & 0x3333333333333333ULL);
    v = (v + (v >> 4)) & 0x0F0F0F0F0F0F0F0FULL;
    return (v * 0x0101010101010101ULL) >> 56;
#endif
}

#define PK_ROWS(T)                                                                      \
    for (int64_t a = 0; a < n_axons; a++) {                                             \
        const T *ids = (const T *)row_neurons;                                          \
        uint8_t *row = bits + a * stride;                                               \
        int64_t k0 = row_ptr[a], k1 = row_ptr[a + 1];                                   \
        for (int64_t k = k0; k < k1; k++) { /* an inverted range: no synapse */         \
            int64_t j = (int64_t)ids[k];                                                \
            if (j >= npc) return AK_EBADARG;                                            \
            row[j >> 3] |= (uint8_t)(1u << (j & 7));                                    \
        }                                                                               \
        synapses += k1 > k0 ? k1 - k0 : 0;                                              \
    }

int64_t ak_pack_row_bits(int64_t n_axons, const int64_t *row_ptr, const void *row_neurons, int32_t neuron_bytes,
                         int64_t npc, uint8_t *bits) {
    if ((neuron_bytes != 1 && neuron_bytes != 2) || n_axons < 0 || npc < 0) return AK_EBADARG;
    const int64_t stride = (npc + 7) / 8, n_bytes = n_axons * stride;
    int64_t synapses = 0, set = 0;
    if (neuron_bytes == 1) {
        PK_ROWS(uint8_t)
    } else {
        PK_ROWS(uint16_t)
    }
    int64_t b = 0;
    for (; b + 8 <= n_bytes; b += 8) {
        uint64_t v;
        memcpy(&v, bits + b, 8);
        set += (int64_t)pk_popcount(v);
    }
    for (; b < n_bytes; b++) set += (int64_t)pk_popcount(bits[b]);
    return synapses - set;
}
#undef PK_ROWS
