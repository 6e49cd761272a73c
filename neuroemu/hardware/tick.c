/* Fused per-tick kernels; see tick.h. The Python twins are neuroemu.hardware.cores.synaptic_input
 * and neuroemu.models.neuron.truenorth_step; tests check the three agree bit for bit. */
#include <stdint.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include "tick.h"

uint64_t ne_mix64(uint64_t x) {
    uint64_t z = x + 0x9E3779B97F4A7C15ULL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* One CSR row: add each synapse's weight (WEIGHT: an expression of the column j or the synapse
 * index p) to its neuron and mark the neuron touched; neuron ids are 8- or 16-bit. */
#define NE_CSR_ROW(WEIGHT)                                                                          \
    if (neuron_bytes == 1) {                                                                        \
        const uint8_t *restrict cols = (const uint8_t *)row_neurons;                                \
        for (int64_t p = lo; p < hi; p++) {                                                         \
            uint32_t j = cols[p];                                                                   \
            acc_core[j] += (WEIGHT);                                                                \
            touched_core[j] = 1;                                                                    \
        }                                                                                           \
    } else {                                                                                        \
        const uint16_t *restrict cols = (const uint16_t *)row_neurons;                              \
        for (int64_t p = lo; p < hi; p++) {                                                         \
            uint32_t j = cols[p];                                                                   \
            acc_core[j] += (WEIGHT);                                                                \
            touched_core[j] = 1;                                                                    \
        }                                                                                           \
    }

/* Prefetch for a CSR integration at step k of the due axons: the row pointers (and seen flags,
 * axon types) of the axon 2 x AHEAD on, whose loads would otherwise stall (a board's row_ptr is
 * hundreds of MB, read at random), and every cache line (up to 8) of the row AHEAD on, whose
 * pointers were fetched AHEAD steps before. Prefetches change no result. Always inlined: GCC finds
 * a function of prefetches alone free of side effects and drops the call (and every prefetch). */
#define NE_CSR_AHEAD 8
__attribute__((always_inline)) static inline void ne_csr_prefetch(const int64_t *active, int64_t k, int64_t n_active, const int64_t *row_ptr,
                                   const void *row_neurons, int32_t neuron_bytes, const int16_t *row_weights,
                                   const uint8_t *seen, const int8_t *axon_type) {
    if (k + 2 * NE_CSR_AHEAD < n_active) {
        int64_t f = active[k + 2 * NE_CSR_AHEAD];
        __builtin_prefetch(row_ptr + f);
        __builtin_prefetch(seen + f);
        if (axon_type != NULL) __builtin_prefetch(axon_type + f);
    }
    if (k + NE_CSR_AHEAD < n_active) {
        int64_t b = active[k + NE_CSR_AHEAD];
        int64_t lo = row_ptr[b], hi = row_ptr[b + 1];
        int64_t bytes = (hi - lo) * neuron_bytes;
        const char *row = (const char *)row_neurons + lo * neuron_bytes;
        bytes = bytes > 512 ? 512 : bytes;
        for (int64_t off = 0; off < bytes; off += 64) __builtin_prefetch(row + off);
        if (row_weights != NULL) {
            const char *w = (const char *)(row_weights + lo);
            int64_t wbytes = (hi - lo) * 2 > 512 ? 512 : (hi - lo) * 2;
            for (int64_t off = 0; off < wbytes; off += 64) __builtin_prefetch(w + off);
        }
    }
}

int64_t ne_integrate(const int64_t *active, int64_t n_active, const int64_t *row_ptr,
                     const void *row_neurons, int32_t neuron_bytes, const int8_t *axon_type,
                     const int16_t *weights_ctn, int32_t n_types, int32_t axons_per_core,
                     int32_t neurons_per_core, int32_t *acc, uint8_t *touched, uint8_t *seen,
                     int64_t *core_sops) {
    if (n_active < 0 || axons_per_core <= 0 || neurons_per_core <= 0 || n_types <= 0)
        return NE_TICK_EBADARG;
    if (neuron_bytes != 1 && neuron_bytes != 2) return NE_TICK_EBADARG;
    int64_t sops = 0;
    for (int64_t k = 0; k < n_active; k++) {
        /* rows fetched ahead: the row reads are random and latency-bound */
        ne_csr_prefetch(active, k, n_active, row_ptr, row_neurons, neuron_bytes, NULL, seen, axon_type);
        int64_t a = active[k];
        if (seen[a]) continue;   /* two spikes on one axon in one tick activate it once */
        seen[a] = 1;
        int64_t core = a / axons_per_core;
        int64_t base = core * (int64_t)neurons_per_core;
        int64_t lo = row_ptr[a], hi = row_ptr[a + 1];
        /* the weights of this core for this axon's type, one per neuron, contiguous */
        const int16_t *restrict w = weights_ctn + (core * n_types + axon_type[a]) * (int64_t)neurons_per_core;
        int32_t *restrict acc_core = acc + base;
        uint8_t *restrict touched_core = touched + base;
        NE_CSR_ROW(w[j])
        sops += hi - lo;
        if (core_sops) core_sops[core] += hi - lo;
    }
    for (int64_t k = 0; k < n_active; k++) seen[active[k]] = 0;
    return sops;
}

int64_t ne_integrate_dense(const int64_t *active, int64_t n_active, const uint8_t *dense,
                           const int64_t *row_length, const int8_t *axon_type,
                           const int16_t *weights_ctn, int32_t n_types, int32_t axons_per_core,
                           int32_t neurons_per_core, int32_t *acc, uint8_t *touched, uint8_t *seen,
                           int64_t *core_sops) {
    if (n_active < 0 || axons_per_core <= 0 || neurons_per_core <= 0 || n_types <= 0)
        return NE_TICK_EBADARG;
    const int64_t ahead = 4;
    const int64_t width = neurons_per_core;
    int64_t sops = 0;
    for (int64_t k = 0; k < n_active; k++) {
        if (k + ahead < n_active) {
            const uint8_t *next = dense + active[k + ahead] * width;
            for (int64_t off = 0; off < width; off += 64) __builtin_prefetch(next + off);
        }
        int64_t a = active[k];
        if (seen[a]) continue;
        seen[a] = 1;
        int64_t core = a / axons_per_core;
        const uint8_t *restrict row = dense + a * width;
        const int16_t *restrict w = weights_ctn + (core * n_types + axon_type[a]) * width;
        int32_t *restrict acc_core = acc + core * width;
        uint8_t *restrict touched_core = touched + core * width;
        /* a whole row at a time: multiply by 0/1 instead of branching, so the loop vectorises */
        for (int64_t j = 0; j < width; j++) {
            acc_core[j] += (int32_t)row[j] * (int32_t)w[j];
            touched_core[j] |= row[j];
        }
        sops += row_length[a];
        if (core_sops) core_sops[core] += row_length[a];
    }
    for (int64_t k = 0; k < n_active; k++) seen[active[k]] = 0;
    return sops;
}

/* One profile's parameters, loaded once into registers. */
typedef struct {
    int32_t leak, mag, sign, threshold, mask, reset_value;
    int64_t floor_v;
    int8_t stochastic, reset_mode, enabled;
} profile_t;

static inline profile_t load_profile(int32_t q, const int32_t *p_leak, const uint8_t *p_leak_stochastic,
                                     const int32_t *p_threshold, const int32_t *p_threshold_mask,
                                     const int8_t *p_reset_mode, const int32_t *p_reset_value,
                                     const int32_t *p_floor, const uint8_t *p_enabled) {
    profile_t P;
    P.leak = p_leak[q];
    P.mag = P.leak < 0 ? -P.leak : P.leak;
    P.sign = (P.leak > 0) - (P.leak < 0);
    P.stochastic = (int8_t)p_leak_stochastic[q];
    P.threshold = p_threshold[q];
    P.mask = p_threshold_mask[q];
    P.reset_mode = p_reset_mode[q];
    P.reset_value = p_reset_value[q];
    P.floor_v = -(int64_t)p_floor[q];
    P.enabled = (int8_t)p_enabled[q];
    return P;
}

/* One neuron's update (steps 2-5 of neuroemu.models.neuron); rho is its random leak byte.
 * Written without data-dependent branches: the comparisons are coin flips. */
static inline int64_t step_one(int64_t x, const profile_t *P, int32_t rho, int64_t g,
                               uint64_t threshold_base, int32_t vmin, int32_t vmax, int *spiked) {
    x += P->stochastic ? (int64_t)(rho < P->mag) * P->sign : P->leak;
    x = x < vmin ? vmin : (x > vmax ? vmax : x);
    int64_t theta = P->threshold;
    if (P->mask) theta += (int64_t)(ne_mix64(threshold_base + (uint64_t)g) & 0xFFFFFF & (uint64_t)(uint32_t)P->mask);
    int sp = x >= theta;
    int64_t reset = P->reset_mode == 0 ? x - theta : (P->reset_mode == 1 ? P->reset_value : x);
    x = sp ? reset : x;
    *spiked = sp;
    return x < P->floor_v ? P->floor_v : x;
}

int64_t ne_truenorth_step(int64_t n, int32_t *restrict v, int32_t *restrict acc, uint8_t *restrict touched,
                          const int32_t *restrict profile, int32_t n_profiles,
                          const int32_t *p_leak, const uint8_t *p_leak_stochastic,
                          const int32_t *p_threshold, const int32_t *p_threshold_mask,
                          const int8_t *p_reset_mode, const int32_t *p_reset_value,
                          const int32_t *p_floor, const uint8_t *p_enabled,
                          uint64_t leak_key, uint64_t threshold_key, int64_t tick,
                          int32_t vmin, int32_t vmax, int64_t *restrict fired_out, int64_t *n_active,
                          int32_t neurons_per_core, int64_t *restrict core_active) {
    if (n < 0 || n_profiles <= 0 || neurons_per_core <= 0) return NE_TICK_EBADARG;
    int any_stochastic = 0;
    for (int32_t q = 0; q < n_profiles; q++) any_stochastic |= p_leak_stochastic[q];
    int64_t fired = 0, active = 0;
    uint64_t leak_base = leak_key + ((uint64_t)tick << 32);
    uint64_t threshold_base = threshold_key + ((uint64_t)tick << 32);
    profile_t uniform = load_profile(0, p_leak, p_leak_stochastic, p_threshold, p_threshold_mask,
                                     p_reset_mode, p_reset_value, p_floor, p_enabled);
    /* Per-core active counts: the loops run core by core (chunks of whole cores, so each core's
     * count is the difference of the running total), which needs cores of whole blocks of eight;
     * otherwise each neuron's count goes to its core one by one (slower, rare sizes only). */
    const int64_t npc = neurons_per_core;
    int64_t chunk = n > 0 ? n : 1;
    int per_neuron = 0;
    if (core_active != NULL) {
        for (int64_t c = 0; c < n / npc; c++) core_active[c] = 0;
        if (npc % 8 == 0) chunk = npc; else per_neuron = 1;
    }
    /* Blocks of eight neurons share one 64-bit draw: neuron g's leak byte is byte g mod 8 of
     * word g / 8 (the same layout as neuroemu.models.rng.leak_bytes). One shared profile is the
     * common case (cores of one neuron type): then its parameters stay in registers. Fired ids
     * are appended without a branch (write always, advance by the 0/1 outcome). */
#define NE_STEP_LOOP(PROFILE_EXPR, INPUT_OF_G)                                                        \
    for (int64_t lo = 0; lo < n; lo += chunk) {                                                      \
        int64_t hi = lo + chunk < n ? lo + chunk : n, before = active;                               \
        for (int64_t block = lo; block < hi; block += 8) {                                           \
            uint64_t word = any_stochastic ? ne_mix64(leak_base + (uint64_t)(block >> 3)) : 0;       \
            int64_t end = block + 8 < hi ? block + 8 : hi;                                           \
            for (int64_t g = block; g < end; g++) {                                                  \
                const profile_t *P = (PROFILE_EXPR);                                                 \
                int32_t rho = (int32_t)((word >> (8 * (g & 7))) & 0xFF);                             \
                int spiked;                                                                          \
                int64_t x = step_one((int64_t)v[g] + (INPUT_OF_G), P, rho, g, threshold_base,        \
                                     vmin, vmax, &spiked);                                           \
                int64_t inc = P->enabled & (touched[g] | spiked);                                    \
                active += inc;                                                                       \
                if (per_neuron) core_active[g / npc] += inc;                                         \
                fired_out[fired] = g;                                                                \
                fired += spiked;                                                                     \
                v[g] = (int32_t)x;                                                                   \
                touched[g] = 0;                                                                      \
            }                                                                                        \
        }                                                                                            \
        if (core_active != NULL && !per_neuron) core_active[lo / npc] = active - before;            \
    }
    if (n_profiles == 1 && acc == NULL && uniform.mask == 0 && uniform.reset_mode == 0 && !per_neuron) {
        /* the hot case (one profile, linear reset, no threshold noise) spelled out with every
         * parameter in a local, whole blocks of eight, and the leak mode hoisted out of the loop:
         * about 20 instructions per neuron instead of 50 */
        const int32_t leak = uniform.leak, mag = uniform.mag, sign = uniform.sign, theta = uniform.threshold;
        const int32_t enabled = uniform.enabled;
        const int64_t floor_v = uniform.floor_v;
        const int64_t whole = n & ~(int64_t)7;
#define NE_UNIFORM_BLOCKS(LEAK_OF_I)                                                                  \
        for (int64_t lo = 0; lo < whole; lo += chunk) {                                              \
            int64_t hi = lo + chunk < whole ? lo + chunk : whole, before = active;                   \
            for (int64_t block = lo; block < hi; block += 8) {                                       \
                uint64_t word = any_stochastic ? ne_mix64(leak_base + (uint64_t)(block >> 3)) : 0;   \
                for (int i = 0; i < 8; i++) {                                                        \
                    int64_t g = block + i;                                                           \
                    int64_t x = (int64_t)v[g] + (LEAK_OF_I);                                         \
                    x = x < vmin ? vmin : (x > vmax ? vmax : x);                                     \
                    int sp = x >= theta;                                                             \
                    x -= sp ? theta : 0;                                                             \
                    x = x < floor_v ? floor_v : x;                                                   \
                    active += enabled & (touched[g] | sp);                                           \
                    fired_out[fired] = g;                                                            \
                    fired += sp;                                                                     \
                    v[g] = (int32_t)x;                                                               \
                    touched[g] = 0;                                                                  \
                }                                                                                    \
            }                                                                                        \
            if (core_active != NULL) core_active[lo / npc] = active - before;                        \
        }
        if (uniform.stochastic) {
            NE_UNIFORM_BLOCKS((int64_t)((int32_t)((word >> (8 * i)) & 0xFF) < mag) * sign)
        } else {
            NE_UNIFORM_BLOCKS(leak)
        }
#undef NE_UNIFORM_BLOCKS
        /* the last n mod 8 neurons through the general path (only when cores are not whole
         * blocks of eight, so no per-core count is being kept here) */
        uint64_t word = any_stochastic ? ne_mix64(leak_base + (uint64_t)(whole >> 3)) : 0;
        for (int64_t g = whole; g < n; g++) {
            int32_t rho = (int32_t)((word >> (8 * (g & 7))) & 0xFF);
            int spiked;
            int64_t x = step_one((int64_t)v[g], &uniform, rho, g, threshold_base, vmin, vmax, &spiked);
            active += uniform.enabled & (touched[g] | spiked);
            fired_out[fired] = g;
            fired += spiked;
            v[g] = (int32_t)x;
            touched[g] = 0;
        }
    } else if (n_profiles == 1) {
        /* acc == NULL: the input was integrated straight into v (see tick.h) */
        if (acc == NULL) { NE_STEP_LOOP(&uniform, 0) } else { NE_STEP_LOOP(&uniform, acc[g]) }
    } else {
        profile_t tmp;
#define NE_PROFILE_OF_G (tmp = load_profile(profile[g], p_leak, p_leak_stochastic, p_threshold, \
                         p_threshold_mask, p_reset_mode, p_reset_value, p_floor, p_enabled), &tmp)
        if (acc == NULL) { NE_STEP_LOOP(NE_PROFILE_OF_G, 0) } else { NE_STEP_LOOP(NE_PROFILE_OF_G, acc[g]) }
#undef NE_PROFILE_OF_G
    }
#undef NE_STEP_LOOP
    if (acc != NULL)
        for (int64_t g = 0; g < n; g++) acc[g] = 0;
    *n_active = active;
    return fired;
}

/* --- per-synapse weights ------------------------------------------------------------------- */

int64_t ne_integrate_w(const int64_t *active, int64_t n_active, const int64_t *row_ptr,
                       const void *row_neurons, int32_t neuron_bytes, const int16_t *row_weights,
                       int32_t axons_per_core, int32_t neurons_per_core, int32_t *acc, uint8_t *touched,
                       uint8_t *seen, int64_t *core_sops) {
    if (n_active < 0 || axons_per_core <= 0 || neurons_per_core <= 0) return NE_TICK_EBADARG;
    if (neuron_bytes != 1 && neuron_bytes != 2) return NE_TICK_EBADARG;
    int64_t sops = 0;
    for (int64_t k = 0; k < n_active; k++) {
        ne_csr_prefetch(active, k, n_active, row_ptr, row_neurons, neuron_bytes, row_weights, seen, NULL);
        int64_t a = active[k];
        if (seen[a]) continue;
        seen[a] = 1;
        int64_t core = a / axons_per_core;
        int64_t base = core * (int64_t)neurons_per_core;
        int64_t lo = row_ptr[a], hi = row_ptr[a + 1];
        int32_t *restrict acc_core = acc + base;
        uint8_t *restrict touched_core = touched + base;
        NE_CSR_ROW(row_weights[p])
        sops += hi - lo;
        if (core_sops) core_sops[core] += hi - lo;
    }
    for (int64_t k = 0; k < n_active; k++) seen[active[k]] = 0;
    return sops;
}

int64_t ne_integrate_dense_w(const int64_t *active, int64_t n_active, const uint8_t *dense,
                             const int16_t *dense_weights, const int64_t *row_length, int32_t axons_per_core,
                             int32_t neurons_per_core, int32_t *acc, uint8_t *touched, uint8_t *seen,
                             int64_t *core_sops) {
    if (n_active < 0 || axons_per_core <= 0 || neurons_per_core <= 0) return NE_TICK_EBADARG;
    const int64_t ahead = 4;
    const int64_t width = neurons_per_core;
    int64_t sops = 0;
    for (int64_t k = 0; k < n_active; k++) {
        if (k + ahead < n_active) {
            int64_t b = active[k + ahead];
            for (int64_t off = 0; off < width; off += 64) __builtin_prefetch(dense + b * width + off);
            for (int64_t off = 0; off < width; off += 32) __builtin_prefetch(dense_weights + b * width + off);
        }
        int64_t a = active[k];
        if (seen[a]) continue;
        seen[a] = 1;
        int64_t core = a / axons_per_core;
        const uint8_t *restrict row = dense + a * width;
        const int16_t *restrict w = dense_weights + a * width;
        int32_t *restrict acc_core = acc + core * width;
        uint8_t *restrict touched_core = touched + core * width;
        /* the weight copy is 0 off the synapses, so a plain add vectorises */
        for (int64_t j = 0; j < width; j++) {
            acc_core[j] += (int32_t)w[j];
            touched_core[j] |= row[j];
        }
        sops += row_length[a];
        if (core_sops) core_sops[core] += row_length[a];
    }
    for (int64_t k = 0; k < n_active; k++) seen[active[k]] = 0;
    return sops;
}

/* --- current-based LIF (Loihi CUBA) -------------------------------------------------------- */

/* sign(x) * ((|x| * (4096 - d)) >> 12): rounds towards zero, as Lava's bit-accurate model */
static inline int64_t cuba_decay(int64_t x, int32_t d) {
    int64_t p = x * (int64_t)(4096 - d);
    return p >= 0 ? (p >> 12) : -((-p) >> 12);
}

static inline int64_t clamp64(int64_t x, int64_t lim) {
    return x < -lim ? -lim : (x > lim ? lim : x);
}

int64_t ne_cuba_step(int64_t n, int32_t *restrict v, int32_t *restrict u, int32_t *restrict refractory_left,
                     int32_t *restrict acc, uint8_t *restrict touched, const int32_t *restrict profile,
                     int32_t n_profiles, const int32_t *p_du, const int32_t *p_dv, const int32_t *p_bias,
                     const int32_t *p_threshold, const int32_t *p_refractory, const uint8_t *p_enabled,
                     int32_t lim, int64_t *restrict fired_out, int64_t *n_active,
                     int32_t neurons_per_core, int64_t *restrict core_active) {
    if (n < 0 || n_profiles <= 0 || lim <= 0 || neurons_per_core <= 0) return NE_TICK_EBADARG;
    int64_t fired = 0, active = 0;
    /* core by core when per-core active counts are asked for (the difference of the running total) */
    const int64_t chunk = core_active != NULL ? neurons_per_core : (n > 0 ? n : 1);
    for (int64_t lo = 0; lo < n; lo += chunk) {
        int64_t hi = lo + chunk < n ? lo + chunk : n, before = active;
        for (int64_t g = lo; g < hi; g++) {
            int32_t q = n_profiles == 1 ? 0 : profile[g];
            int64_t cur = clamp64(cuba_decay(u[g], p_du[q]) + acc[g], lim);
            u[g] = (int32_t)cur;
            int sp = 0;
            if (refractory_left[g] > 0) {
                refractory_left[g] -= 1;   /* v is held at its reset value; the current goes on */
            } else {
                int64_t x = clamp64(cuba_decay(v[g], p_dv[q]) + cur + p_bias[q], lim);
                sp = x > p_threshold[q];
                v[g] = sp ? 0 : (int32_t)x;
                refractory_left[g] = sp ? p_refractory[q] : 0;
            }
            active += p_enabled[q] & (touched[g] | sp);
            fired_out[fired] = g;
            fired += sp;
            touched[g] = 0;
            acc[g] = 0;
        }
        if (core_active != NULL) core_active[lo / neurons_per_core] = active - before;
    }
    *n_active = active;
    return fired;
}

/* --- several synaptic currents and a voltage floor (kept apart: the paths above stay as they are) --- */

int64_t ne_integrate_w_typed(const int64_t *active, int64_t n_active, const int64_t *row_ptr,
                             const void *row_neurons, int32_t neuron_bytes, const int16_t *row_weights,
                             const int8_t *axon_type, int32_t n_types, int64_t n_neurons,
                             int32_t axons_per_core, int32_t neurons_per_core, int32_t *acc,
                             uint8_t *touched, uint8_t *seen) {
    if (n_active < 0 || axons_per_core <= 0 || neurons_per_core <= 0 || n_types <= 0 || n_neurons < 0)
        return NE_TICK_EBADARG;
    if (neuron_bytes != 1 && neuron_bytes != 2) return NE_TICK_EBADARG;
    int64_t sops = 0;
    for (int64_t k = 0; k < n_active; k++) {
        int64_t a = active[k];
        if (seen[a]) continue;
        seen[a] = 1;
        int32_t type = axon_type[a];
        if (type < 0 || type >= n_types) return NE_TICK_EBADARG;
        int64_t base = (a / axons_per_core) * (int64_t)neurons_per_core;
        int64_t lo = row_ptr[a], hi = row_ptr[a + 1];
        /* the axon's type picks the current its synapses feed: plane `type` of acc */
        int32_t *restrict acc_core = acc + (int64_t)type * n_neurons + base;
        uint8_t *restrict touched_core = touched + base;
        NE_CSR_ROW(row_weights[p])
        sops += hi - lo;
    }
    for (int64_t k = 0; k < n_active; k++) seen[active[k]] = 0;
    return sops;
}

int64_t ne_cuba_step_multi(int64_t n, int32_t n_types, int32_t *restrict v, int32_t *restrict u,
                           int32_t *restrict refractory_left, int32_t *restrict acc, uint8_t *restrict touched,
                           const int32_t *restrict profile, int32_t n_profiles, const int32_t *p_du,
                           const int32_t *p_dv, const int32_t *p_bias, const int32_t *p_threshold,
                           const int32_t *p_refractory, const int32_t *p_vmin, const uint8_t *p_enabled,
                           int32_t lim, int64_t *restrict fired_out, int64_t *n_active) {
    if (n < 0 || n_types <= 0 || n_profiles <= 0 || lim <= 0) return NE_TICK_EBADARG;
    int64_t fired = 0, active = 0;
    for (int64_t g = 0; g < n; g++) {
        int32_t q = n_profiles == 1 ? 0 : profile[g];
        int64_t total = 0;
        for (int32_t c = 0; c < n_types; c++) {
            int64_t i = (int64_t)c * n + g;
            int64_t cur = clamp64(cuba_decay(u[i], p_du[(int64_t)q * n_types + c]) + acc[i], lim);
            u[i] = (int32_t)cur;
            total += cur;
            acc[i] = 0;
        }
        int sp = 0;
        if (refractory_left[g] > 0) {
            refractory_left[g] -= 1;
        } else {
            int64_t floor_v = p_vmin[q] > -lim ? p_vmin[q] : -lim;
            int64_t x = cuba_decay(v[g], p_dv[q]) + total + p_bias[q];
            x = x < floor_v ? floor_v : (x > lim ? lim : x);
            sp = x > p_threshold[q];
            v[g] = sp ? 0 : (int32_t)x;
            refractory_left[g] = sp ? p_refractory[q] : 0;
        }
        active += p_enabled[q] & (touched[g] | sp);
        fired_out[fired] = g;
        fired += sp;
        touched[g] = 0;
    }
    *n_active = active;
    return fired;
}

/* --- setup: balanced crossbar rows (neuroemu.networks.crossbars) --------------------------- */

/* the set bits of bits[0 .. words) in order into out (a row's columns sorted, without a sort) */
static int64_t bits_to_cols(const uint64_t *bits, int64_t words, uint16_t *out) {
    int64_t n = 0;
    for (int64_t w = 0; w < words; w++) {
        uint64_t b = bits[w];
        while (b) {
            out[n++] = (uint16_t)((w << 6) + __builtin_ctzll(b));
            b &= b - 1;
        }
    }
    return n;
}

/* the sorted window w[0 .. k) with x (present) replaced by y (absent): one shift of the values
 * between them */
static inline void window_replace(uint16_t *w, int32_t k, uint16_t x, uint16_t y) {
    if (x == y) return;
    int32_t lo = 0, hi = k;           /* p: x's place */
    while (lo < hi) { int32_t m = (lo + hi) >> 1; if (w[m] < x) lo = m + 1; else hi = m; }
    int32_t p = lo;
    lo = 0; hi = k;                   /* q: y's place among the values as they are */
    while (lo < hi) { int32_t m = (lo + hi) >> 1; if (w[m] < y) lo = m + 1; else hi = m; }
    int32_t q = lo;
    if (q > p) {
        memmove(w + p, w + p + 1, (size_t)(q - 1 - p) * sizeof(uint16_t));
        w[q - 1] = y;
    } else {
        memmove(w + q + 1, w + q, (size_t)(p - q) * sizeof(uint16_t));
        w[q] = y;
    }
}

/* Band row i's columns are the window col_perm[band_start[i] .. + k) (cyclic), and band_start
 * grows with i by a step or two: so the band rows are made in order, each from the one before by
 * replacing the columns that leave the window with those that enter it, in a sorted array of k
 * (a shift of at most k values each), and copied out to the axon's row (the inverse of row_perm
 * says which). A window that moves back or by k or more is rebuilt from a bitmap. The same sorted
 * columns as building every row from its bitmap, ~6x fewer operations a row. */
int64_t ne_balanced_rows(int64_t cores, int64_t R, int32_t k, int32_t n_per, int32_t axons_per_core,
                         int32_t width, const int64_t *band_start, const int64_t *col_perm,
                         const int64_t *row_perm, const int64_t *axon_idx, uint16_t *cols_out,
                         uint8_t *dense) {
    if (cores < 0 || R < 0 || k <= 0 || n_per <= 0 || k > n_per || n_per > 65536 || width < n_per)
        return NE_TICK_EBADARG;
    for (int64_t i = 0; i < R; i++)
        if (band_start[i] < 0 || band_start[i] >= n_per) return NE_TICK_EBADARG;
    uint64_t bits[1024];                  /* one bit per column of the core: n_per <= 65,536 */
    const int64_t words = (n_per + 63) / 64;
    int64_t *inv = malloc((size_t)(R > 0 ? R : 1) * sizeof(int64_t));
    uint16_t *win = malloc((size_t)k * sizeof(uint16_t));
    if (inv == NULL || win == NULL) { free(inv); free(win); return NE_TICK_EBADARG; }
    int64_t rc = cores * R * k;
    for (int64_t c = 0; c < cores && rc >= 0; c++) {
        const int64_t *perm = col_perm + c * n_per;
        for (int64_t i = 0; i < R; i++) inv[i] = -1;
        for (int64_t r = 0; r < R; r++) {
            int64_t i = row_perm[c * R + r];
            if (i < 0 || i >= R || inv[i] >= 0) { rc = NE_TICK_EBADARG; break; }   /* not a permutation */
            inv[i] = r;
        }
        if (rc < 0) break;
        int64_t cur = -1;                 /* the window's start (-1: none yet) */
        for (int64_t i = 0; i < R; i++) {
            const int64_t s = band_start[i];
            if (cur < 0 || s < cur || s - cur >= k) {
                for (int64_t w = 0; w < words; w++) bits[w] = 0;
                for (int32_t j = 0; j < k; j++) {
                    int64_t p = s + j;
                    p -= p >= n_per ? n_per : 0;   /* the band is cyclic */
                    int64_t col = perm[p];
                    bits[col >> 6] |= 1ULL << (col & 63);
                }
                bits_to_cols(bits, words, win);
            } else {
                for (int64_t q = cur; q < s; q++) {
                    int64_t enter = q + k;
                    enter -= enter >= n_per ? n_per : 0;
                    window_replace(win, k, (uint16_t)perm[q], (uint16_t)perm[enter]);
                }
            }
            cur = s;
            const int64_t row = c * axons_per_core + axon_idx[c * R + inv[i]];
            memcpy(cols_out + row * k, win, (size_t)k * sizeof(uint16_t));
            if (dense) {
                uint8_t *restrict drow = dense + row * width;
                memset(drow, 0, (size_t)n_per);
                for (int32_t j = 0; j < k; j++) drow[win[j]] = 1;
            }
        }
    }
    free(inv);
    free(win);
    return rc;
}

/* --- setup: each neuron's fan-in (neuroemu.hardware.block) --------------------------------- */

int64_t ne_fan_in(int64_t n_cores, int32_t axons_per_core, int32_t neurons_per_core, const int64_t *row_ptr,
                  const void *row_neurons, int32_t neuron_bytes, int64_t *inputs) {
    if (n_cores < 0 || axons_per_core <= 0 || neurons_per_core <= 0) return NE_TICK_EBADARG;
    if (neuron_bytes != 1 && neuron_bytes != 2) return NE_TICK_EBADARG;
    int64_t most = 0;
    for (int64_t c = 0; c < n_cores; c++) {
        int64_t *in = inputs + c * (int64_t)neurons_per_core;
        const int64_t lo = row_ptr[c * (int64_t)axons_per_core], hi = row_ptr[(c + 1) * (int64_t)axons_per_core];
        if (neuron_bytes == 1) {
            const uint8_t *cols = (const uint8_t *)row_neurons;
            for (int64_t p = lo; p < hi; p++) {
                if (cols[p] >= neurons_per_core) return NE_TICK_EBADARG;
                in[cols[p]] += 1;
            }
        } else {
            const uint16_t *cols = (const uint16_t *)row_neurons;
            for (int64_t p = lo; p < hi; p++) {
                if (cols[p] >= neurons_per_core) return NE_TICK_EBADARG;
                in[cols[p]] += 1;
            }
        }
        for (int64_t j = 0; j < neurons_per_core; j++) most = in[j] > most ? in[j] : most;
    }
    return most;
}

/* --- setup: greedy pack placement (neuroemu.networks.place) -------------------------------- */

int64_t ne_pack_greedy(int64_t n, const int64_t *ptr, const int64_t *keys, int64_t *seen,
                       int64_t neurons_per_core, int64_t axons_per_core, int64_t n_cores,
                       int64_t *core_of) {
    if (n < 0 || neurons_per_core < 1 || axons_per_core < 1 || n_cores < 1) return NE_TICK_EBADARG;
    int64_t core = 0, used_n = 0, used_a = 0;
    for (int64_t j = 0; j < n; j++) {
        int64_t fresh = 0;  /* the neuron's axons not yet on this core */
        for (int64_t p = ptr[j]; p < ptr[j + 1]; p++) fresh += seen[keys[p]] != core;
        if (used_n + 1 > neurons_per_core || used_a + fresh > axons_per_core) {
            core += 1;
            if (core >= n_cores) return -2 - j;   /* full: the caller names neuron j */
            used_n = 0;
            used_a = 0;
            fresh = ptr[j + 1] - ptr[j];         /* every axon is new on a new core */
        }
        for (int64_t p = ptr[j]; p < ptr[j + 1]; p++) seen[keys[p]] = core;
        used_a += fresh;
        used_n += 1;
        core_of[j] = core;
    }
    return core + 1;
}

/* NVM synapses: a column ADC on each column sum (devices.adc_quantise in numpy). The floor
 * division by 2**shift is an arithmetic right shift (as numpy's floor_divide rounds a negative
 * sum; GCC and Clang shift signed integers arithmetically), not a divide per column. */
int32_t ne_adc_quantise(int32_t *acc, int64_t n, int32_t shift, int64_t lo, int64_t hi) {
    if (shift < 0 || shift > 40) return -1;
    const int64_t step = (int64_t)1 << shift, half = step >> 1;
    for (int64_t g = 0; g < n; g++) {
        int64_t x = (int64_t)acc[g] + half;
        int64_t q = x >> shift;
        if (q < lo) q = lo;
        if (q > hi) q = hi;
        acc[g] = (int32_t)(q * step);
    }
    return 0;
}

/* NVM read noise (devices.ReadNoise.input in numpy): each synapse read adds sigma x a normal drawn
 * from the table by the top bits of splitmix64(base[p] + reads[row] + key); the sums are kept in
 * double in the numpy order (rows ascending, CSR order) and rounded half to even into acc. The
 * multiply and the add stay two roundings (no FMA), as numpy does them. */
#if defined(__GNUC__) && !defined(__clang__)
__attribute__((optimize("fp-contract=off")))
#endif
int64_t ne_integrate_noisy(const int64_t *active, int64_t n_active, const int64_t *row_ptr,
                           const void *row_neurons, int32_t neuron_bytes, const int16_t *row_weights,
                           const int8_t *axon_type, int32_t n_types, int64_t n_neurons,
                           int32_t axons_per_core, int32_t neurons_per_core, const uint64_t *base,
                           int64_t *reads, uint64_t key, const double *table, int32_t table_bits,
                           double sigma, double *accf, int32_t *acc, uint8_t *touched, uint8_t *seen,
                           int64_t *core_sops) {
    if (n_active < 0 || axons_per_core <= 0 || neurons_per_core <= 0 || n_types <= 0 || n_neurons < 0)
        return NE_TICK_EBADARG;
    if ((neuron_bytes != 1 && neuron_bytes != 2) || table_bits < 1 || table_bits > 24) return NE_TICK_EBADARG;
    const int shift = 64 - table_bits;
    const double magic = 4503599627370496.0;  /* 2**52: adding and taking it away rounds half to even */
    int64_t sops = 0;
    for (int pass = 0; pass < 2; pass++) {
        for (int64_t k = 0; k < n_active; k++) {
            int64_t a = active[k];
            if (seen[a] != pass) continue;   /* pass 0 visits each row once, pass 1 once more */
            seen[a] = (uint8_t)(pass ^ 1);
            int64_t core = a / axons_per_core;
            int64_t base_n = core * (int64_t)neurons_per_core;
            int64_t plane = n_types > 1 ? (int64_t)axon_type[a] : 0;
            if (plane < 0 || plane >= n_types) return NE_TICK_EBADARG;
            int64_t off = plane * n_neurons + base_n;
            int64_t lo = row_ptr[a], hi = row_ptr[a + 1];
            if (pass == 0) {
                uint64_t read = (uint64_t)reads[a] + key;
                reads[a] += 1;
                for (int64_t p = lo; p < hi; p++) {
                    uint32_t j = neuron_bytes == 1 ? ((const uint8_t *)row_neurons)[p]
                                                   : ((const uint16_t *)row_neurons)[p];
                    double z = table[ne_mix64(base[p] + read) >> shift];
                    double noise = sigma * z;
                    double w = (double)row_weights[p] + noise;
                    accf[off + j] += w;
                    touched[base_n + j] = 1;
                }
                sops += hi - lo;
                if (core_sops) core_sops[core] += hi - lo;
            } else {
                for (int64_t p = lo; p < hi; p++) {
                    uint32_t j = neuron_bytes == 1 ? ((const uint8_t *)row_neurons)[p]
                                                   : ((const uint16_t *)row_neurons)[p];
                    double s = accf[off + j];
                    if (s != 0.0) {   /* a column already rounded (or summing to 0) is left as it is */
                        double r = s >= 0.0 ? (s + magic) - magic : (s - magic) + magic;
                        acc[off + j] += (int32_t)r;
                        accf[off + j] = 0.0;
                    }
                }
            }
        }
    }
    return sops;
}

/* --- the fused TrueNorth tick: bit-packed rows, core by core, cores split over threads --------- */

#include <stdlib.h>
#if !defined(_WIN32)
#include <pthread.h>
#define NE_HAVE_PTHREADS 1
#endif

int64_t ne_pack_rows(int64_t n_rows, const int64_t *row_ptr, const void *row_neurons, int32_t neuron_bytes,
                     int32_t words, int32_t width, uint64_t *bits) {
    if (n_rows < 0 || words <= 0 || width <= 0 || (int64_t)words * 64 < width) return NE_TICK_EBADARG;
    if (neuron_bytes != 1 && neuron_bytes != 2) return NE_TICK_EBADARG;
    int64_t repeats = 0;
    for (int64_t a = 0; a < n_rows; a++) {
        uint64_t *row = bits + a * words;
        for (int64_t p = row_ptr[a]; p < row_ptr[a + 1]; p++) {
            uint32_t j = neuron_bytes == 1 ? ((const uint8_t *)row_neurons)[p] : ((const uint16_t *)row_neurons)[p];
            if (j >= (uint32_t)width) return NE_TICK_EBADARG;
            uint64_t m = 1ULL << (j & 63);
            repeats += (row[j >> 6] & m) != 0;
            row[j >> 6] |= m;
        }
    }
    return repeats;
}

/* One thread's share of a fused tick: the cores [c0, c1). */
typedef struct {
    const ne_tn_fused_t *cfg;
    const uint64_t *spread;            /* byte -> its 8 bits as 8 bytes of 0/1 */
    int64_t c0, c1;
    uint64_t leak_base, threshold_base;
    int any_stochastic;
    int64_t *fired_out;                /* this range writes from fired_out[c0 * neurons_per_core] */
    int64_t *core_sops, *core_active;
    int64_t fired, sops, active;
    int status;
} tn_range_t;

/* The hot neuron update of one core (one profile, linear reset, no threshold noise, whole blocks
 * of eight), written as plain loops over core-local arrays so the compiler vectorises them; TYPE
 * is int32_t when the caller vouched that nothing overflows 32 bits (cfg->narrow), else int64_t. */
#define NE_FUSED_UNIFORM(TYPE)                                                                       \
    for (int64_t j = 0; j < N; j++) {                                                                \
        TYPE lk = stochastic ? (TYPE)(((int32_t)rho[j] < mag) ? sign : 0) : (TYPE)leak;              \
        TYPE x = (TYPE)v[j] + (TYPE)acc[j] + lk;                                                     \
        x = x < (TYPE)vmin ? (TYPE)vmin : (x > (TYPE)vmax ? (TYPE)vmax : x);                         \
        TYPE sp = x >= (TYPE)theta;                                                                  \
        x -= sp ? (TYPE)theta : 0;                                                                   \
        x = x < (TYPE)floor_v ? (TYPE)floor_v : x;                                                   \
        v[j] = (int32_t)x;                                                                           \
        spb[j] = (uint8_t)sp;                                                                        \
        act += (int32_t)(tch[j] | (uint8_t)sp);                                                      \
    }

/* Wider vector units where the CPU has them (the loops are integer: the same numbers either way) */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define NE_VECTOR_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define NE_VECTOR_CLONES
#endif

NE_VECTOR_CLONES static void *tn_range(void *arg) {
    tn_range_t *R = (tn_range_t *)arg;
    const ne_tn_fused_t *c = R->cfg;
    const uint64_t *spread = R->spread;
    const int64_t N = c->neurons_per_core, A = c->axons_per_core, W = c->words, T = c->n_types;
    const int64_t N8 = (N + 7) & ~(int64_t)7, B = N8 / 8;   /* buffers padded to whole 8-byte words */
    /* core-local scratch: accumulator, per-type row counts (bytes, added 8 at a time), touched and
     * spiked bytes, leak bytes, the OR of the core's rows, rows seen per type */
    char *mem = (char *)calloc(1, (size_t)(N8 * 4 + T * N8 + 3 * N8 + W * 8 + T * 8 + 64));
    if (mem == NULL) { R->status = -1; return NULL; }
    int32_t *acc = (int32_t *)mem;
    uint64_t *cnt = (uint64_t *)(mem + N8 * 4);                       /* [T][B] */
    uint64_t *tor = (uint64_t *)(mem + N8 * 4 + T * N8);              /* [W] */
    int64_t *rows_of = (int64_t *)(mem + N8 * 4 + T * N8 + W * 8);    /* [T] */
    uint8_t *tch = (uint8_t *)(mem + N8 * 4 + T * N8 + W * 8 + T * 8);
    uint8_t *spb = tch + N8, *rho = spb + N8;
    const profile_t uniform = load_profile(0, c->p_leak, c->p_leak_stochastic, c->p_threshold, c->p_threshold_mask,
                                           c->p_reset_mode, c->p_reset_value, c->p_floor, c->p_enabled);
    const int fast = c->n_profiles == 1 && uniform.mask == 0 && uniform.reset_mode == 0 && N % 8 == 0;
    const int32_t leak = uniform.leak, mag = uniform.mag, sign = uniform.sign, theta = uniform.threshold;
    const int32_t vmin = c->vmin, vmax = c->vmax, stochastic = uniform.stochastic;
    const int64_t floor_v = uniform.floor_v;
    const int64_t *bucket = c->bucket, *core_start = c->core_start;
    const int64_t k_end = core_start[R->c1];
    const int64_t ahead = 16;          /* rows fetched ahead: the row reads are random */
    int64_t fired = 0, sops = 0, active = 0;
    int64_t *out = R->fired_out + R->c0 * N;
    for (int64_t core = R->c0; core < R->c1; core++) {
        const int64_t g0 = core * N;
        int32_t *restrict v = c->v + g0;
        int64_t core_sop = 0;
        const int64_t lo = core_start[core], hi = core_start[core + 1];
        if (hi > lo) {
            /* each row adds its 0/1 bytes to its type's counts (eight columns per add: a count
             * stays below 256, flushed at 255 rows); the weights are applied once per type */
            const int16_t *wcore = c->weight_blocks + (int64_t)c->core_block[core] * T * N;
            for (int64_t k = lo; k < hi; k++) {
                if (k + ahead < k_end) {
                    int64_t b = bucket[k + ahead];
                    __builtin_prefetch(c->row_bits + b * W);
                    __builtin_prefetch(c->axon_type + b);
                }
                const int64_t a = bucket[k];
                const int64_t t = c->axon_type[a];
                const uint64_t *row = c->row_bits + a * W;
                uint64_t *ct = cnt + t * B;
                for (int64_t w = 0; w < W; w++) {
                    const uint64_t word = row[w];
                    tor[w] |= word;
                    if (!word) continue;
                    const int64_t top = B - w * 8 < 8 ? B - w * 8 : 8;
                    for (int64_t i = 0; i < top; i++) ct[w * 8 + i] += spread[(word >> (8 * i)) & 0xFF];
                }
                if (++rows_of[t] == 255) {   /* one more row could carry a count past a byte */
                    const uint8_t *cb = (const uint8_t *)ct;
                    const int16_t *wt = wcore + t * N;
                    int32_t ones = 0;
                    for (int64_t j = 0; j < N; j++) {
                        acc[j] += (int32_t)cb[j] * (int32_t)wt[j];
                        ones += cb[j];
                    }
                    core_sop += ones;
                    memset(ct, 0, (size_t)B * 8);
                    rows_of[t] = 0;          /* rows since the last flush: the counts are zero again */
                }
            }
            for (int64_t t = 0; t < T; t++) {
                if (!rows_of[t]) continue;
                const uint8_t *cb = (const uint8_t *)(cnt + t * B);
                const int16_t *restrict wt = wcore + t * N;
                int32_t ones = 0;            /* the SOPs: every one of the rows counted once */
                for (int64_t j = 0; j < N; j++) {
                    acc[j] += (int32_t)cb[j] * (int32_t)wt[j];
                    ones += cb[j];
                }
                core_sop += ones;
                memset(cnt + t * B, 0, (size_t)B * 8);
                rows_of[t] = 0;
            }
            for (int64_t w = 0; w < W; w++) {
                const uint64_t word = tor[w];
                const int64_t top = B - w * 8 < 8 ? B - w * 8 : 8;
                for (int64_t i = 0; i < top; i++) memcpy(tch + (w * 8 + i) * 8, &spread[(word >> (8 * i)) & 0xFF], 8);
                tor[w] = 0;
            }
        }
        int32_t act = 0;
        if (fast) {
            if (stochastic)
                for (int64_t b = 0; b < B; b++) {
                    uint64_t word = ne_mix64(R->leak_base + (uint64_t)((g0 >> 3) + b));
                    for (int i = 0; i < 8; i++) rho[b * 8 + i] = (uint8_t)(word >> (8 * i));
                }
            if (c->narrow) { NE_FUSED_UNIFORM(int32_t) } else { NE_FUSED_UNIFORM(int64_t) }
            act = uniform.enabled ? act : 0;
            /* the fired ids, ascending: spikes are rare, so test eight at a time */
            for (int64_t b = 0; b < B; b++) {
                uint64_t any;
                memcpy(&any, spb + b * 8, 8);
                if (!any) continue;
                for (int i = 0; i < 8; i++) {
                    out[fired] = g0 + b * 8 + i;
                    fired += spb[b * 8 + i];
                }
            }
        } else {
            profile_t tmp;
            uint64_t word = 0;
            for (int64_t j = 0; j < N; j++) {
                const int64_t g = g0 + j;
                if (j == 0 || (g & 7) == 0)
                    word = R->any_stochastic ? ne_mix64(R->leak_base + (uint64_t)(g >> 3)) : 0;
                const profile_t *P = &uniform;
                if (c->n_profiles > 1) {
                    tmp = load_profile(c->profile[g], c->p_leak, c->p_leak_stochastic, c->p_threshold,
                                       c->p_threshold_mask, c->p_reset_mode, c->p_reset_value, c->p_floor,
                                       c->p_enabled);
                    P = &tmp;
                }
                int spiked;
                int64_t x = step_one((int64_t)v[j] + acc[j], P, (int32_t)((word >> (8 * (g & 7))) & 0xFF), g,
                                     R->threshold_base, vmin, vmax, &spiked);
                act += P->enabled & (tch[j] | spiked);
                out[fired] = g;
                fired += spiked;
                v[j] = (int32_t)x;
            }
        }
        if (hi > lo) {
            memset(acc, 0, (size_t)N * 4);
            memset(tch, 0, (size_t)N);
        }
        sops += core_sop;
        active += act;
        if (R->core_sops) R->core_sops[core] = core_sop;
        if (R->core_active) R->core_active[core] = act;
    }
    free(mem);
    R->fired = fired;
    R->sops = sops;
    R->active = active;
    R->status = 0;
    return NULL;
}
#undef NE_FUSED_UNIFORM

int64_t ne_truenorth_fused(const ne_tn_fused_t *cfg, const int64_t *active, int64_t n_active_axons,
                           int64_t tick, int64_t *fired_out, int64_t *sops, int64_t *n_active,
                           int64_t *core_sops, int64_t *core_active) {
    const ne_tn_fused_t *c = cfg;
    if (c == NULL || n_active_axons < 0 || c->words <= 0 || c->neurons_per_core > 65536 || c->n_types <= 0 || c->axons_per_core <= 0 ||
        c->neurons_per_core <= 0 || c->live_cores < 0 || c->n_profiles <= 0 || c->threads < 1 ||
        (int64_t)c->words * 64 < c->neurons_per_core)
        return NE_TICK_EBADARG;
    const int64_t L = c->live_cores, A = c->axons_per_core, N = c->neurons_per_core;
    /* the distinct active axons grouped by core (a counting sort: counts, running ends, then a
     * backwards scatter that leaves each core's axons in arrival order and clears seen) */
    for (int64_t k = 0; k < n_active_axons; k++)
        if (active[k] < 0) return NE_TICK_EBADARG;
    int64_t *start = c->core_start;
    memset(start, 0, (size_t)(L + 1) * sizeof(int64_t));
    for (int64_t k = 0; k < n_active_axons; k++) {
        const int64_t a = active[k];
        if (a >= L * A || c->seen[a]) continue;   /* past the live cores every row is empty */
        c->seen[a] = 1;
        start[a / A] += 1;
    }
    for (int64_t i = 1; i <= L; i++) start[i] += start[i - 1];   /* start[L] (0) + start[L-1]: total */
    for (int64_t k = n_active_axons - 1; k >= 0; k--) {
        const int64_t a = active[k];
        if (a >= L * A || !c->seen[a]) continue;
        c->seen[a] = 0;
        c->bucket[--start[a / A]] = a;
    }
    uint64_t spread[256];
    for (int b = 0; b < 256; b++) {
        uint8_t bytes[8];
        for (int i = 0; i < 8; i++) bytes[i] = (uint8_t)((b >> i) & 1);
        memcpy(&spread[b], bytes, 8);
    }
    int any_stochastic = 0;
    for (int32_t q = 0; q < c->n_profiles; q++) any_stochastic |= c->p_leak_stochastic[q];
    int64_t n_threads = c->threads < L ? c->threads : (L > 0 ? L : 1);
    if (n_threads > 256) n_threads = 256;
    tn_range_t ranges[256];
    for (int64_t i = 0; i < n_threads; i++) {
        tn_range_t *R = &ranges[i];
        R->cfg = c;
        R->spread = spread;
        R->c0 = L * i / n_threads;
        R->c1 = L * (i + 1) / n_threads;
        R->leak_base = c->leak_key + ((uint64_t)tick << 32);
        R->threshold_base = c->threshold_key + ((uint64_t)tick << 32);
        R->any_stochastic = any_stochastic;
        R->fired_out = fired_out;
        R->core_sops = core_sops;
        R->core_active = core_active;
        R->status = -1;
    }
#ifdef NE_HAVE_PTHREADS
    pthread_t tid[256];
    int started[256] = {0};
    for (int64_t i = 1; i < n_threads; i++)
        started[i] = pthread_create(&tid[i], NULL, tn_range, &ranges[i]) == 0;
    tn_range(&ranges[0]);
    for (int64_t i = 1; i < n_threads; i++) {
        if (started[i]) pthread_join(tid[i], NULL);
        else tn_range(&ranges[i]);   /* no thread to be had: the range runs here, same result */
    }
#else
    for (int64_t i = 0; i < n_threads; i++) tn_range(&ranges[i]);
#endif
    int64_t fired = 0, total_sops = 0, total_active = 0;
    for (int64_t i = 0; i < n_threads; i++) {
        const tn_range_t *R = &ranges[i];
        if (R->status != 0) return NE_TICK_ETHREAD;
        /* the ranges' fired ids, in core order: each range's block moves down to the end so far */
        if (R->fired && fired != R->c0 * N)
            memmove(fired_out + fired, fired_out + R->c0 * N, (size_t)R->fired * sizeof(int64_t));
        fired += R->fired;
        total_sops += R->sops;
        total_active += R->active;
    }
    *sops = total_sops;
    *n_active = total_active;
    return fired;
}

/* --- the routing of a tick's fired neurons (engine/run.py) ------------------------------------ */

int64_t ne_route_fired(const int64_t *fired, int64_t n, const int32_t *routes, const int64_t *emit, int64_t t,
                       int64_t tick_ps, int64_t floor_ps, int64_t *out_arrival, int64_t *out_target,
                       int64_t *out_due, int64_t *spikes) {
    if (n < 0 || tick_ps < 0 || (tick_ps == 0 && emit == NULL)) return NE_TICK_EBADARG;
    const int64_t ahead = 16;   /* the records are read at scattered rows: fetch ahead */
    int64_t m = 0;
    for (int64_t k = 0; k < n; k++) {
        if (k + ahead < n) {
            __builtin_prefetch(routes + 4 * fired[k + ahead]);
            if (spikes != NULL) __builtin_prefetch(spikes + fired[k + ahead]);
        }
        const int32_t *r = routes + 4 * fired[k];
        if (spikes != NULL) spikes[fired[k]] += 1;
        if (r[0] < 0) continue;
        const int64_t due = t + (int64_t)r[1];
        const int64_t arrival = tick_ps > 0 ? due * tick_ps : emit[k] + (int64_t)r[2];
        out_arrival[m] = arrival < floor_ps ? floor_ps : arrival;
        out_target[m] = r[0];
        out_due[m] = due;
        m++;
    }
    return m;
}
