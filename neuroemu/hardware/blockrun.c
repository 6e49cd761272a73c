/* Many ticks per call; see blockrun.h. Each tick (sync, gals without late spikes, barrier) is the per-tick loop's (neuroemu.engine.run.TickLoop)
 * five steps with the same kernels (tick.c), in the same order, so the record is the same bit for
 * bit: deliver (staged inputs + the ring slot of this tick), integrate and step the neurons, count,
 * route the fired neurons' spikes into the ring at their delay, and start the next tick (sync: one
 * tick later; barrier: the busiest core, the last arrival, the barrier, as engine/timing.py). */
#include <stdint.h>
#include <stddef.h>
#include <string.h>
#include <math.h>
#include "tick.h"
#include "blockrun.h"

/* The due axons in core order (counting sort by core, then each core's few by axon), when there
 * are rows enough to be worth it; its O(cores) counts cost less than the O(neurons) update that
 * follows every tick */
static void sort_due_by_core(ne_block_t *b, int64_t n_due) {
    const int64_t n_cores = b->n_cores, apc = b->axons_per_core;
    if (!b->sort_due || n_cores < 2 || n_due < 64) return;
    int64_t *count = b->core_count, *tmp = b->due_tmp, *due = b->due;
    memset(count, 0, (size_t)(n_cores + 1) * sizeof(int64_t));
    for (int64_t k = 0; k < n_due; k++) count[due[k] / apc + 1] += 1;
    for (int64_t c = 0; c < n_cores; c++) count[c + 1] += count[c];
    for (int64_t k = 0; k < n_due; k++) tmp[count[due[k] / apc]++] = due[k];
    {   /* each core's axons in order too (its rows then in address order: ~7-10 % less on a board),
         * by insertion sort where a core has few (a larger bucket keeps its order: the same sums) */
        int64_t lo = 0;
        for (int64_t c = 0; c < n_cores; c++) {
            int64_t hi = count[c];
            if (hi - lo <= 128)
                for (int64_t i = lo + 1; i < hi; i++) {
                    int64_t x = tmp[i], j = i;
                    while (j > lo && tmp[j - 1] > x) { tmp[j] = tmp[j - 1]; j--; }
                    tmp[j] = x;
                }
            lo = hi;
        }
    }
    memcpy(due, tmp, (size_t)n_due * sizeof(int64_t));
    b->ticks_sorted += 1;
}

/* the integrate kernel TickStepper._integrate_c picks for the same arrays */
static int64_t block_integrate(ne_block_t *b, int64_t n_due, int64_t *core_sops) {
    sort_due_by_core(b, n_due);
    if (b->use_dense && b->row_weights != NULL)
        return ne_integrate_dense_w(b->due, n_due, b->dense, b->dense_weights, b->row_length, b->axons_per_core,
                                    b->neurons_per_core, b->acc, b->touched, b->seen, core_sops);
    if (b->use_dense)
        return ne_integrate_dense(b->due, n_due, b->dense, b->row_length, b->axon_type, b->weights_ctn, b->n_types,
                                  b->axons_per_core, b->neurons_per_core, b->acc, b->touched, b->seen, core_sops);
    if (b->row_weights != NULL)
        return ne_integrate_w(b->due, n_due, b->row_ptr, b->row_neurons, b->neuron_bytes, b->row_weights,
                              b->axons_per_core, b->neurons_per_core, b->acc, b->touched, b->seen, core_sops);
    return ne_integrate(b->due, n_due, b->row_ptr, b->row_neurons, b->neuron_bytes, b->axon_type, b->weights_ctn,
                        b->n_types, b->axons_per_core, b->neurons_per_core, b->acc, b->touched, b->seen, core_sops);
}

/* decay(x, d) of tick.c's cuba_decay in int32: |x| = hi * 4096 + lo, so (|x| * m) >> 12 =
 * hi * m + ((lo * m) >> 12) exactly, and both products fit in int32 for |x| < 2^30, m <= 4096 */
static inline int32_t decay32(int32_t x, int32_t m) {
    int32_t a = x < 0 ? -x : x;
    int32_t q = (a >> 12) * m + (((a & 4095) * m) >> 12);
    return x < 0 ? -q : q;
}

/* ne_cuba_step's update of neurons [lo, hi), all of one profile, without branches; spike flags
 * into flags[g]. Returns the active updates (enabled and touched or fired). */
/* clones for wider vectors, picked at load time by the CPU (integer lanes: the same result in
 * each); x86-64-v4 (AVX-512) is 1.6x AVX2 here, AVX2 about 2.5x the SSE2 default. Clones need
 * glibc's ifunc: elsewhere the one default build runs */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__GLIBC__) && __GNUC__ >= 12
__attribute__((target_clones("arch=x86-64-v4", "avx2", "default")))
#elif defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__GLIBC__)
__attribute__((target_clones("avx2", "default")))
#endif
static int64_t cuba_segment(int64_t lo, int64_t hi, int32_t m_u, int32_t m_v, int32_t bias, int32_t theta,
                            int32_t refractory, int32_t enabled, int32_t lim, int32_t *restrict v,
                            int32_t *restrict u, int32_t *restrict rl, int32_t *restrict acc,
                            uint8_t *restrict touched, uint8_t *restrict flags) {
    int32_t active = 0;
    for (int64_t g = lo; g < hi; g++) {
        int32_t cur = decay32(u[g], m_u) + acc[g];
        cur = cur < -lim ? -lim : (cur > lim ? lim : cur);
        u[g] = cur;
        int32_t y = v[g], r = rl[g];
        int32_t x = decay32(y, m_v) + cur + bias;
        x = x < -lim ? -lim : (x > lim ? lim : x);
        int32_t free = r <= 0;
        int32_t sp = free & (x > theta);
        v[g] = free ? (sp ? 0 : x) : y;   /* refractory: v is held; the current goes on */
        rl[g] = free ? (sp ? refractory : 0) : (int32_t)((uint32_t)r - 1u);  /* (no signed overflow when unused) */
        active += enabled & ((int32_t)touched[g] | sp);
        flags[g] = (uint8_t)sp;
        touched[g] = 0;
        acc[g] = 0;
    }
    return active;
}

static int64_t cuba_fast(ne_block_t *b, int64_t *n_active, int64_t *core_active) {
    int64_t active = 0, npc = b->neurons_per_core;
    if (core_active != NULL)
        for (int64_t c = 0; c < b->n_live / npc; c++) core_active[c] = 0;
    for (int64_t i = 0; i < b->n_seg; i++) {
        if (b->skip_quiet && b->seg_skip[i]) continue;   /* at rest, and nothing can move it */
        int32_t q = b->seg_profile[i];
        int64_t lo = b->seg_start[i], hi = b->seg_start[i + 1];
        int64_t got = cuba_segment(lo, hi, 4096 - b->p_du[q], 4096 - b->p_dv[q], b->p_bias[q], b->p_threshold[q],
                                   b->p_refractory[q], b->p_enabled[q], b->lim, b->v, b->u, b->refractory_left,
                                   b->acc, b->touched, b->flags);
        active += got;
        if (core_active != NULL) core_active[lo / npc] += got;
    }
    /* the fired ids in order: spikes are rare, so eight flags are tested at once */
    int64_t fired = 0, n = b->n_live, g = 0;
    for (; g + 8 <= n; g += 8) {
        uint64_t word;
        memcpy(&word, b->flags + g, 8);
        if (word)
            for (int64_t k = g; k < g + 8; k++) { b->fired[fired] = k; fired += b->flags[k]; }
    }
    for (; g < n; g++) { b->fired[fired] = g; fired += b->flags[g]; }
    *n_active = active;
    return fired;
}

static int64_t block_step_neurons(ne_block_t *b, int64_t t, int64_t *n_active, int64_t *core_active) {
    if (b->kernel == 0 && b->fast_cuba) return cuba_fast(b, n_active, core_active);
    if (b->kernel == 0)
        return ne_cuba_step(b->n_live, b->v, b->u, b->refractory_left, b->acc, b->touched, b->profile,
                            b->n_profiles, b->p_du, b->p_dv, b->p_bias, b->p_threshold, b->p_refractory,
                            b->p_enabled, b->lim, b->fired, n_active, b->neurons_per_core, core_active);
    return ne_truenorth_step(b->n_live, b->v, b->tn_acc, b->touched, b->profile, b->n_profiles, b->p_leak,
                             b->p_leak_st, b->p_threshold, b->p_mask, b->p_reset, b->p_reset_v, b->p_floor,
                             b->p_enabled, b->leak_key, b->threshold_key, t, b->vmin, b->vmax, b->fired,
                             n_active, b->neurons_per_core, core_active);
}

/* A presentation's reset at the start of tick t: every neuron at rest, and the spikes in flight
 * dropped. The per-tick loop drops a spike when it pops it: under sync at its due tick (one due
 * at or past the run's end is never popped and stays in flight), under barrier all at tick t. */
static void block_reset(ne_block_t *b, int64_t t) {
    memset(b->v, 0, (size_t)b->n_neurons * sizeof(int32_t));
    if (b->u != NULL) memset(b->u, 0, (size_t)b->n_neurons * sizeof(int32_t));
    if (b->refractory_left != NULL) memset(b->refractory_left, 0, (size_t)b->n_neurons * sizeof(int32_t));
    const int64_t R = b->ring_slots;
    for (int64_t s = 0; s < R; s++) {
        int64_t due = t + ((s - t % R) + R) % R;   /* the one due tick slot s holds now */
        if (!b->barrier && due >= b->run_ticks) b->past_end += b->ring_n[s];
        else b->dropped_at_reset += b->ring_n[s];
        b->ring_n[s] = 0;
    }
}

/* barrier: core c's work this tick in ps, as GalsPolicy._busy computes it: the same double
 * operations in the same order, rounded half to even (rint in the default rounding mode; for
 * 0 <= w < 2^52 adding and taking away 2^52 rounds the same way, without a call) */
static inline int64_t core_work(const ne_block_t *b, int64_t sops, int64_t enabled, int64_t act, int64_t spikes) {
    double w = (double)sops * b->sop_ps + (double)(enabled - act) * b->update_ps + (double)act * b->active_ps
               + (double)spikes * b->spike_ps;
    if (w >= 0.0 && w < 4503599627370496.0) {
        volatile double big = 4503599627370496.0;   /* volatile: the sum must be rounded, not folded */
        return (int64_t)((w + big) - big);
    }
    return (int64_t)rint(w);
}

/* The busiest core's work. Only the live cores (those below n_live) can have SOPs, active updates
 * or spikes; every other core does its idle updates, whose most is worked out once per call. */
static int64_t block_busy(ne_block_t *b, int64_t n_fired, int64_t idle_most) {
    if (b->no_latency) return 0;   /* the policy never prices a core: its busy times stay 0 */
    const int64_t live = b->n_live / b->neurons_per_core;
    memset(b->core_spikes, 0, (size_t)live * sizeof(int64_t));
    for (int64_t k = 0; k < n_fired; k++) b->core_spikes[b->fired[k] / b->neurons_per_core] += 1;
    int64_t most = idle_most;
    for (int64_t c = 0; c < live; c++) {
        int64_t act = b->split_active ? b->core_active[c] : 0;
        int64_t busy = core_work(b, b->core_sops[c], b->enabled_per_core[c], act, b->core_spikes[c]);
        b->core_busy[c] = busy;
        most = busy > most ? busy : most;
    }
    return most;
}

/* gals: the enabled neurons of the cores with work this tick (GalsWork.finish), their count of
 * cores added to clock_core_tick */
static int64_t gals_updated(ne_block_t *b, int64_t n_due, int64_t n_fired) {
    uint8_t *busy = b->gals_busy;
    memcpy(busy, b->gals_always, (size_t)b->n_cores);
    for (int64_t k = 0; k < n_due; k++) busy[b->due[k] / b->axons_per_core] = 1;
    for (int64_t k = 0; k < n_fired; k++) busy[b->fired[k] / b->neurons_per_core] = 1;
    int64_t cores = 0, updated = 0;
    for (int64_t c = 0; c < b->n_cores; c++) {
        cores += busy[c];
        updated += busy[c] ? b->enabled_per_core[c] : 0;
    }
    b->clock_core_tick += cores;
    return updated;
}

int64_t ne_block_run(ne_block_t *b, int64_t t0, int64_t t1) {
    if (b == NULL || t0 < b->block_t0 || t1 < t0 || t1 > b->run_ticks || b->ring_slots < 2)
        return NE_BLOCK_EBADARG;
    const int64_t R = b->ring_slots, cap = b->ring_cap, npc = b->neurons_per_core;
    int64_t *core_sops = b->barrier ? b->core_sops : NULL;
    int64_t *core_active = b->barrier ? b->core_active : NULL;
    int64_t idle_most = 0;   /* barrier: the most work of a core past the live ones (idle updates only) */
    if (b->barrier && !b->no_latency)
        for (int64_t c = b->n_live / npc; c < b->n_cores; c++) {
            int64_t w = core_work(b, 0, b->enabled_per_core[c], 0, 0);
            idle_most = w > idle_most ? w : idle_most;
        }
    for (int64_t t = t0; t < t1; t++) {
        if (b->record && b->rec_n + b->n_live > b->rec_cap) return t;   /* the caller makes room */
        const int64_t now = b->tick_starts[t];
        if (b->reset_period && t && t % b->reset_period == 0) block_reset(b, t);
        /* deliver: the staged inputs of tick t, then the spikes due now */
        const int64_t i = t - b->block_t0, slot = t % R;
        int64_t n_due = 0;
        const int64_t in_lo = b->in_ptr[i], in_hi = b->in_ptr[i + 1];
        if (in_hi - in_lo + b->ring_n[slot] > b->due_cap) return NE_BLOCK_EBADARG;
        for (int64_t k = in_lo; k < in_hi; k++) b->due[n_due++] = b->in_axons[k];
        const int64_t *ring = b->ring + slot * cap;
        for (int64_t k = 0; k < b->ring_n[slot]; k++) b->due[n_due++] = ring[k];
        b->ring_n[slot] = 0;
        b->axon_event += n_due;
        /* integrate and step every core */
        if (core_sops != NULL) memset(core_sops, 0, (size_t)(b->n_live / npc) * sizeof(int64_t));
        int64_t sops, n_active = 0, n_fired;
        if (b->fused != NULL) {
            n_fired = ne_truenorth_fused(b->fused, b->due, n_due, t, b->fired, &sops, &n_active, core_sops,
                                         core_active);
        } else {
            sops = block_integrate(b, n_due, core_sops);
            n_fired = block_step_neurons(b, t, &n_active, core_active);
        }
        if (sops < 0 || n_fired < 0) return NE_BLOCK_EBADARG;
        b->synaptic_op += sops;
        b->neuron_update_active += n_active;
        b->neuron_update += (b->gals ? gals_updated(b, n_due, n_fired) : b->n_enabled) - n_active;
        b->spike += n_fired;
        int64_t end = now;
        if (b->barrier) end += block_busy(b, n_fired, idle_most);
        /* count, record, and route every spike into the ring at its delay */
        int64_t last_arrival = -1;
        for (int64_t k = 0; k < n_fired; k++) {
            const int64_t g = b->fired[k];
            if (k + 8 < n_fired) {   /* the fired neurons are far apart: fetch their counts and routes ahead */
                const int64_t h = b->fired[k + 8];
                __builtin_prefetch(b->spikes_per_neuron + h, 1);
                if (b->fanout_ptr == NULL) {
                    __builtin_prefetch(b->routes + 2 * h);
                    if (b->barrier) __builtin_prefetch(b->route_latency + h);
                } else {
                    __builtin_prefetch(b->fanout_ptr + h);
                }
            }
            b->spikes_per_neuron[g] += 1;
            if (b->record) {
                b->rec_ticks[b->rec_n] = t;
                b->rec_ids[b->rec_n] = g;
                b->rec_n += 1;
            }
            const int64_t r_lo = b->fanout_ptr != NULL ? b->fanout_ptr[g] : g;
            const int64_t r_hi = b->fanout_ptr != NULL ? b->fanout_ptr[g + 1] : g + 1;
            for (int64_t r = r_lo; r < r_hi; r++) {
                const int64_t target = b->routes[2 * r];
                if (target < 0) continue;
                const int64_t d = (t + b->routes[2 * r + 1]) % R;
                if (b->ring_n[d] >= cap) return NE_BLOCK_EBADARG;
                b->ring[d * cap + b->ring_n[d]++] = target;
                b->sent += 1;
                if (b->barrier) {
                    int64_t emit = now + (b->no_latency ? 0 : b->core_busy[g / npc]);
                    int64_t arrival = emit + b->route_latency[r];
                    arrival = arrival > now + 1 ? arrival : now + 1;
                    last_arrival = arrival > last_arrival ? arrival : last_arrival;
                }
            }
        }
        if (b->probe_ids != NULL && b->reset_period && t % b->reset_period == b->reset_period - 1) {
            int64_t *out = b->probe_out + (t / b->reset_period - b->block_t0 / b->reset_period) * b->n_probe;
            for (int64_t k = 0; k < b->n_probe; k++) out[k] = b->v[b->probe_ids[k]];
        }
        /* the next tick's start */
        if (b->barrier) {
            if (last_arrival > end) end = last_arrival;
            end += b->barrier_ps;
            b->tick_starts[t + 1] = end > now + 1 ? end : now + 1;
        } else {
            b->tick_starts[t + 1] = now + b->tick_ps;
        }
        b->ticks_done += 1;
    }
    return t1;
}
