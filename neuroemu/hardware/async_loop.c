/* The clockless window loop of a TrueNorth core-array network, many windows per call (see
 * async_loop.h). It mirrors neuroemu/engine/asynccore.py's AsyncCoreLoop.run and _window step by
 * step (C kernel branch, one route per neuron, analytic network), so both give the same record
 * bit for bit (tests/test_asyncblock.py). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "async_kernel.h"
#include "async_loop.h"
#include "eventq.h"

#define NEVER INT64_MAX

/* room for need entries in each of the window's scratch arrays */
static int grow_scratch(al_loop *L, int64_t need) {
    if (need <= L->buf_cap) return 0;
    int64_t nc = L->buf_cap ? L->buf_cap : 1024;
    while (nc < need) nc *= 2;
    int64_t **arr[4] = {&L->a_t, &L->a_ax, &L->chk, &L->chk_t};
    for (int k = 0; k < 4; k++) {
        int64_t *q = realloc(*arr[k], (size_t)nc * sizeof(int64_t));
        if (!q) return AK_ENOMEM;
        *arr[k] = q;
    }
    L->buf_cap = nc;
    return 0;
}

static int record_spikes(al_loop *L, int64_t ns) {
    if (L->rec_n + ns > L->rec_cap) {
        int64_t nc = L->rec_cap ? L->rec_cap : 4096;
        while (nc < L->rec_n + ns) nc *= 2;
        int64_t *a = realloc(L->rec_id, (size_t)nc * sizeof(int64_t));
        if (!a) return AK_ENOMEM;
        L->rec_id = a;
        int64_t *b = realloc(L->rec_t, (size_t)nc * sizeof(int64_t));
        if (!b) return AK_ENOMEM;
        L->rec_t = b;
        L->rec_cap = nc;
    }
    memcpy(L->rec_id + L->rec_n, L->spk_n, (size_t)ns * sizeof(int64_t));
    memcpy(L->rec_t + L->rec_n, L->spk_t, (size_t)ns * sizeof(int64_t));
    L->rec_n += ns;
    return 0;
}

/* n events of one kind at times t, targets g (priority 0, payload 0), as the engine's push_batch */
static int push(al_loop *L, int64_t n, const int64_t *t, int32_t kind, const int64_t *g) {
    if (n == 0) return 0;
    const int32_t zero32 = 0;
    const int64_t zero64 = 0;
    int64_t bad = 0;
    int rc = eq_push_batch((eq_queue *)L->queue, n, t, 1, &zero32, 0, &kind, 0, g, 1, &zero64, 0, &bad);
    if (rc) {
        L->qerr = rc;
        return AL_EQUEUE;
    }
    return 0;
}

/* The window [w0, w1): pop it, hand its arrivals and checks to ak_tn_run, queue what it sends.
 * Returns 0, AL_RUNAWAY (nothing processed, as the Python loop's guard) or an error. */
static int64_t window(al_loop *L, int64_t w0, int64_t w1) {
    eq_queue *q = (eq_queue *)L->queue;
    int64_t n = 0;
    const void *block = NULL;
    int rc = eq_pop_before(q, w1, -1, &n, &block);
    if (rc) {
        L->qerr = rc;
        return AL_EQUEUE;
    }
    /* the block's columns: time seq target payload (int64), priority kind (int32) */
    const int64_t *time = (const int64_t *)block, *seq = time + n, *target = time + 2 * n;
    const int32_t *kind = (const int32_t *)(time + 4 * n) + n;
    const int32_t ka = L->kind_arrival, ki = L->kind_input, kc = L->kind_check;
    const int64_t *a_t = time, *a_ax = target;
    int64_t na = n, nc = 0;
    int plain = L->drop_seq < 0;  /* most windows: arrivals and inputs only, none dropped: the block's own columns */
    for (int64_t i = 0; i < n && plain; i++)
        plain = kind[i] == ka || kind[i] == ki;
    if (!plain) {
        if (grow_scratch(L, n)) return AK_ENOMEM;
        na = 0;
        for (int64_t i = 0; i < n; i++) {
            int32_t k = kind[i];
            if (k == ka && L->drop_seq >= 0 && seq[i] <= L->drop_seq) {
                L->dropped_at_reset++;  /* a finished sample's spike: dropped when it pops */
            } else if (k == ka || k == ki) {
                L->a_t[na] = time[i];
                L->a_ax[na++] = target[i];
            } else if (k == kc) {
                L->chk[nc++] = target[i];
            }
        }
        a_t = L->a_t;
        a_ax = L->a_ax;
    }
    L->checks += nc;
    L->axon_event += na;
    if ((L->max_window_events >= 0 && na > L->max_window_events)
        || (L->max_events >= 0 && L->axon_event > L->max_events)) {
        L->w0 = w0;
        L->n_window = na;
        return AL_RUNAWAY;
    }
    L->tn->w1 = w1;
    int64_t nt = ak_tn_run(L->tn, L->x, w0, na, a_t, a_ax, nc, nc ? L->chk : NULL, L->touched, L->cap,
                           L->spk_n, L->spk_t, L->counts);
    if (nt < 0) return nt;
    const int64_t *c = L->counts;
    int64_t ns = c[0], moved = c[3], n_out = c[5];
    L->neuron_update_active += c[1];
    L->neuron_update += c[2];
    L->synaptic_op += c[4];
    if (moved) {  /* a check at each moved crossing (the old one goes stale) */
        if (grow_scratch(L, moved)) return AK_ENOMEM;
        const int64_t *pend = L->tn->pend;
        for (int64_t k = 0; k < moved; k++) L->chk_t[k] = pend[L->touched[k]];
        if ((rc = (int)push(L, moved, L->chk_t, kc, L->touched))) return rc;
    }
    if (ns) {
        L->spike += ns;
        if (L->spk_count) {  /* counts only: no record to grow (a run's spikes: MBs of fresh pages) */
            for (int64_t k = 0; k < ns; k++) L->spk_count[L->spk_n[k]]++;
        } else if (record_spikes(L, ns)) {
            return AK_ENOMEM;
        }
        L->sent += n_out;
        if ((rc = (int)push(L, n_out, L->x->out_t, ka, L->x->out_ax))) return rc;
    }
    return 0;
}

int64_t al_run(al_loop *L, int64_t boundary, int64_t feed, int64_t stop) {
    eq_queue *q = (eq_queue *)L->queue;
    const int64_t end = L->end, W = L->window_ps;
    for (;;) {
        int64_t t0 = 0;
        int rc = eq_next_time(q, &t0);
        if (rc) {
            L->qerr = rc;
            return AL_EQUEUE;
        }
        if (t0 < 0) t0 = NEVER;
        if (L->has_steps && L->last_w1 < t0) t0 = L->last_w1;  /* leak steps come every tick somewhere */
        L->t0 = t0;
        /* the next chunk not yet queued: a drawn-ahead one, else the caller's */
        const int64_t next_feed = L->feed_i < L->feed_n ? L->feed_ps[L->feed_i] : feed;
        if (next_feed != NEVER && next_feed <= t0) {
            if (L->feed_i >= L->feed_n) return AL_FEED;
            /* queue it as the Python loop's _feed_chunk (one batch: its streams' events in order,
             * so the same seq numbers), then look again for the next event */
            const int64_t i = L->feed_i, lo = L->feed_off[i], n = L->feed_off[i + 1] - lo;
            if ((rc = push(L, n, L->feed_at + lo, L->kind_input, L->feed_ax + lo))) return rc;
            L->inputs += n;
            L->feed_i = i + 1;
            continue;
        }
        if (boundary <= (t0 < end ? t0 : end)) return AL_BOUNDARY;
        if (t0 >= end) return AL_DONE;
        if (t0 >= stop) return AL_STOP;
        int64_t w1 = t0 + W;  /* t0 < end < 2^62 and W <= one tick: no overflow */
        if (end < w1) w1 = end;
        if (boundary < w1) w1 = boundary;
        if (next_feed < w1) w1 = next_feed;
        int64_t got = window(L, t0, w1);
        if (got) return got;
        L->last_w1 = w1;
        L->windows++;
    }
}

void al_release(al_loop *L) {
    free(L->a_t);
    free(L->a_ax);
    free(L->chk);
    free(L->chk_t);
    free(L->rec_id);
    free(L->rec_t);
    L->a_t = L->a_ax = L->chk = L->chk_t = L->rec_id = L->rec_t = NULL;
    L->buf_cap = L->rec_cap = L->rec_n = 0;
}
