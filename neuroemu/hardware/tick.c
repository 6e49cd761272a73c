/* Fused per-tick kernels; see tick.h. The Python twins are neuroemu.hardware.cores.synaptic_input
 * and neuroemu.models.neuron.truenorth_step; tests check the three agree bit for bit. */
#include <stdint.h>
#include <stddef.h>
#include "tick.h"

uint64_t ne_mix64(uint64_t x) {
    uint64_t z = x + 0x9E3779B97F4A7C15ULL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

int64_t ne_integrate(const int64_t *active, int64_t n_active, const int64_t *row_ptr,
                     const void *row_neurons, int32_t neuron_bytes, const int8_t *axon_type,
                     const int16_t *weights_ctn, int32_t n_types, int32_t axons_per_core,
                     int32_t neurons_per_core, int32_t *acc, uint8_t *touched, uint8_t *seen) {
    if (n_active < 0 || axons_per_core <= 0 || neurons_per_core <= 0 || n_types <= 0)
        return NE_TICK_EBADARG;
    if (neuron_bytes != 1 && neuron_bytes != 2) return NE_TICK_EBADARG;
    const int64_t ahead = 8;  /* rows fetched ahead: the row reads are random and latency-bound */
    int64_t sops = 0;
    for (int64_t k = 0; k < n_active; k++) {
        if (k + ahead < n_active) {
            int64_t b = active[k + ahead];
            __builtin_prefetch((const char *)row_neurons + row_ptr[b] * neuron_bytes);
        }
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
        if (neuron_bytes == 1) {
            const uint8_t *restrict cols = (const uint8_t *)row_neurons;
            for (int64_t p = lo; p < hi; p++) {
                uint32_t j = cols[p];
                acc_core[j] += w[j];
                touched_core[j] = 1;
            }
        } else {
            const uint16_t *restrict cols = (const uint16_t *)row_neurons;
            for (int64_t p = lo; p < hi; p++) {
                uint32_t j = cols[p];
                acc_core[j] += w[j];
                touched_core[j] = 1;
            }
        }
        sops += hi - lo;
    }
    for (int64_t k = 0; k < n_active; k++) seen[active[k]] = 0;
    return sops;
}

/* One neuron's update; inlined into the loops below. rho is its random leak byte. */
static inline int64_t step_one(int64_t x, int32_t q, int32_t rho, int64_t g, uint64_t threshold_base,
                               const int32_t *p_leak, const uint8_t *p_leak_stochastic,
                               const int32_t *p_threshold, const int32_t *p_threshold_mask,
                               const int8_t *p_reset_mode, const int32_t *p_reset_value,
                               const int32_t *p_floor, int32_t vmin, int32_t vmax, int *spiked) {
    int32_t lam = p_leak[q];
    if (p_leak_stochastic[q]) {
        int32_t mag = lam < 0 ? -lam : lam;
        int32_t sign = (lam > 0) - (lam < 0);
        x += (int64_t)(rho < mag) * sign;   /* branch-free: the comparison is a coin flip */
    } else {
        x += lam;
    }
    x = x < vmin ? vmin : (x > vmax ? vmax : x);
    int64_t theta = p_threshold[q];
    int32_t mask = p_threshold_mask[q];
    if (mask) theta += (int64_t)(ne_mix64(threshold_base + (uint64_t)g) & 0xFFFFFF & (uint64_t)(uint32_t)mask);
    *spiked = x >= theta;
    if (*spiked) {
        int8_t mode = p_reset_mode[q];
        if (mode == 0) x -= theta;
        else if (mode == 1) x = p_reset_value[q];
    }
    int64_t floor_v = -(int64_t)p_floor[q];
    return x < floor_v ? floor_v : x;
}

int64_t ne_truenorth_step(int64_t n, int32_t *restrict v, int32_t *restrict acc, uint8_t *restrict touched,
                          const int32_t *restrict profile, int32_t n_profiles,
                          const int32_t *p_leak, const uint8_t *p_leak_stochastic,
                          const int32_t *p_threshold, const int32_t *p_threshold_mask,
                          const int8_t *p_reset_mode, const int32_t *p_reset_value,
                          const int32_t *p_floor, const uint8_t *p_enabled,
                          uint64_t leak_key, uint64_t threshold_key, int64_t tick,
                          int32_t vmin, int32_t vmax, int64_t *restrict fired_out, int64_t *n_active) {
    if (n < 0 || n_profiles <= 0) return NE_TICK_EBADARG;
    for (int64_t g = 0; g < n; g++)
        if (profile[g] < 0 || profile[g] >= n_profiles) return NE_TICK_EBADARG;
    int any_stochastic = 0;
    for (int32_t q = 0; q < n_profiles; q++) any_stochastic |= p_leak_stochastic[q];
    int64_t fired = 0, active = 0;
    uint64_t leak_base = leak_key + ((uint64_t)tick << 32);
    uint64_t threshold_base = threshold_key + ((uint64_t)tick << 32);
    /* blocks of eight neurons share one 64-bit draw: neuron g's leak byte is byte g mod 8 of
     * word g / 8 (the same layout as neuroemu.models.rng.leak_bytes) */
    for (int64_t block = 0; block < n; block += 8) {
        uint64_t word = any_stochastic ? ne_mix64(leak_base + (uint64_t)(block >> 3)) : 0;
        int64_t end = block + 8 < n ? block + 8 : n;
        for (int64_t g = block; g < end; g++) {
            int32_t q = profile[g];
            int32_t rho = (int32_t)((word >> (8 * (g & 7))) & 0xFF);
            int spiked;
            int64_t x = step_one((int64_t)v[g] + acc[g], q, rho, g, threshold_base, p_leak, p_leak_stochastic,
                                 p_threshold, p_threshold_mask, p_reset_mode, p_reset_value, p_floor,
                                 vmin, vmax, &spiked);
            active += p_enabled[q] & (touched[g] | spiked);
            if (spiked) fired_out[fired++] = g;
            v[g] = (int32_t)x;
            acc[g] = 0;
            touched[g] = 0;
        }
    }
    *n_active = active;
    return fired;
}
