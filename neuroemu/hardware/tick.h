/* Fused per-tick kernels for neurosynaptic cores (struct-of-arrays state): synaptic integration
 * with per-type (TrueNorth) or per-synapse (Loihi, RRAM, learned) weights, and the neuron updates
 * of the TrueNorth LIF and of the current-based LIF (Loihi CUBA).
 * Return codes: >= 0 a count, < 0 an error (NE_TICK_EBADARG). */
#define NE_TICK_EBADARG -1

/* Accumulate the synaptic input of the spiking axons into acc (int32 per global neuron) and mark
 * touched neurons. ``active`` may repeat an axon (it activates once; ``seen``, one zeroed byte per
 * axon, is scratch and left zeroed). row_neurons is uint8 when neuron_bytes == 1, uint16 when 2.
 * weights_ctn holds the weights as [core][axon type][neuron]. Returns the synaptic operations;
 * core_sops (NULL, or one int64 per core, zeroed by the caller) gets each core's share added, so
 * a timing policy reads every core's work without looking at the axons again. The other
 * integrate kernels take core_sops the same way. */
int64_t ne_integrate(const int64_t *active, int64_t n_active, const int64_t *row_ptr,
                     const void *row_neurons, int32_t neuron_bytes, const int8_t *axon_type,
                     const int16_t *weights_ctn, int32_t n_types, int32_t axons_per_core,
                     int32_t neurons_per_core, int32_t *acc, uint8_t *touched, uint8_t *seen,
                     int64_t *core_sops);

/* The same from a dense crossbar (uint8 0/1, [axon][neuron]) with precomputed row lengths: faster
 * when rows are dense (TrueNorth's 128 of 256), as each row is a vectorised multiply-add. */
int64_t ne_integrate_dense(const int64_t *active, int64_t n_active, const uint8_t *dense,
                           const int64_t *row_length, const int8_t *axon_type,
                           const int16_t *weights_ctn, int32_t n_types, int32_t axons_per_core,
                           int32_t neurons_per_core, int32_t *acc, uint8_t *touched, uint8_t *seen,
                           int64_t *core_sops);

/* ne_integrate with one int16 weight per synapse (row_weights, parallel to row_neurons) instead of
 * per-type weights. Separate functions, so the TrueNorth kernels above keep their inner loops. */
int64_t ne_integrate_w(const int64_t *active, int64_t n_active, const int64_t *row_ptr,
                       const void *row_neurons, int32_t neuron_bytes, const int16_t *row_weights,
                       int32_t axons_per_core, int32_t neurons_per_core, int32_t *acc, uint8_t *touched,
                       uint8_t *seen, int64_t *core_sops);

/* ne_integrate_dense with a dense int16 weight copy ([axon][neuron], 0 where no synapse); the 0/1
 * crossbar still decides which neurons are touched (a synapse of weight 0 is still an operation). */
int64_t ne_integrate_dense_w(const int64_t *active, int64_t n_active, const uint8_t *dense,
                             const int16_t *dense_weights, const int64_t *row_length, int32_t axons_per_core,
                             int32_t neurons_per_core, int32_t *acc, uint8_t *touched, uint8_t *seen,
                             int64_t *core_sops);

/* One timestep of every compartment of the current-based LIF (neuroemu.models.loihi):
 * u = clamp(decay(u, du) + acc); unless refractory: v = clamp(decay(v, dv) + u + bias), fire when
 * v > threshold, then v = 0 and the refractory countdown starts. decay(x, d) = sign(x) * ((|x| *
 * (4096 - d)) >> 12). Clamps to [-lim, lim]. Clears acc and touched. Profiles, fired_out and
 * *n_active (and core_active) as for ne_truenorth_step. Returns the number fired. */
int64_t ne_cuba_step(int64_t n, int32_t *v, int32_t *u, int32_t *refractory_left, int32_t *acc,
                     uint8_t *touched, const int32_t *profile, int32_t n_profiles,
                     const int32_t *p_du, const int32_t *p_dv, const int32_t *p_bias,
                     const int32_t *p_threshold, const int32_t *p_refractory, const uint8_t *p_enabled,
                     int32_t lim, int64_t *fired_out, int64_t *n_active,
                     int32_t neurons_per_core, int64_t *core_active);

/* One tick of every neuron: integrate acc, leak, saturate, fire, reset, floor; clears acc and
 * touched. acc may be NULL when the integrate kernels were given v itself as their accumulator
 * (valid while |v| + the largest possible input stays below 2^31: saturation happens here). Neuron g uses parameter profile profile[g] (the p_* tables). Writes the fired ids to
 * fired_out (room for n) and the number of enabled neurons that were active (touched or fired)
 * to *n_active; core_active (NULL, or one int64 per core of neurons_per_core neurons) gets each
 * core's share of that count. Returns the number fired. */
int64_t ne_truenorth_step(int64_t n, int32_t *v, int32_t *acc, uint8_t *touched,
                          const int32_t *profile, int32_t n_profiles,
                          const int32_t *p_leak, const uint8_t *p_leak_stochastic,
                          const int32_t *p_threshold, const int32_t *p_threshold_mask,
                          const int8_t *p_reset_mode, const int32_t *p_reset_value,
                          const int32_t *p_floor, const uint8_t *p_enabled,
                          uint64_t leak_key, uint64_t threshold_key, int64_t tick,
                          int32_t vmin, int32_t vmax, int64_t *fired_out, int64_t *n_active,
                          int32_t neurons_per_core, int64_t *core_active);

/* splitmix64's finaliser: the C twin of neuroemu.models.rng.mix64 */
uint64_t ne_mix64(uint64_t x);

/* ne_integrate_w with several synaptic currents: an axon's type (axon_type[a], 0..n_types-1) picks
 * the current its synapses feed, so acc holds n_types planes of n_neurons (type-major). */
int64_t ne_integrate_w_typed(const int64_t *active, int64_t n_active, const int64_t *row_ptr,
                             const void *row_neurons, int32_t neuron_bytes, const int16_t *row_weights,
                             const int8_t *axon_type, int32_t n_types, int64_t n_neurons,
                             int32_t axons_per_core, int32_t neurons_per_core, int32_t *acc,
                             uint8_t *touched, uint8_t *seen);

/* ne_cuba_step with n_types currents per compartment (u and acc: n_types planes of n, type-major;
 * p_du: [n_profiles][n_types]) and a voltage floor per profile (p_vmin; v is clamped to
 * [max(vmin, -lim), lim]). v = decay(v, dv) + the sum of the currents + bias. Clears acc and touched. */
int64_t ne_cuba_step_multi(int64_t n, int32_t n_types, int32_t *v, int32_t *u, int32_t *refractory_left,
                           int32_t *acc, uint8_t *touched, const int32_t *profile, int32_t n_profiles,
                           const int32_t *p_du, const int32_t *p_dv, const int32_t *p_bias,
                           const int32_t *p_threshold, const int32_t *p_refractory, const int32_t *p_vmin,
                           const uint8_t *p_enabled, int32_t lim, int64_t *fired_out, int64_t *n_active);
/* Setup, not per tick: the rows of one axon type of a chunk of balanced crossbars
 * (neuroemu.networks.crossbars). Row r of core c's rows of the type is written at chunk row
 * c * axons_per_core + axon_idx[c][r]: the k columns col_perm[c][(band_start[row_perm[c][r]] + j)
 * mod n_per], j < k, in increasing order into cols_out ([rows][k]), and as ones into dense
 * ([rows][width], or NULL). Needs k <= n_per <= 65,536, 0 <= band_start < n_per and each row_perm[c]
 * a permutation of 0..R-1. Returns the synapses written, or NE_TICK_EBADARG. */
int64_t ne_balanced_rows(int64_t cores, int64_t R, int32_t k, int32_t n_per, int32_t axons_per_core,
                         int32_t width, const int64_t *band_start, const int64_t *col_perm,
                         const int64_t *row_perm, const int64_t *axon_idx, uint16_t *cols_out,
                         uint8_t *dense);
/* Setup: inputs[c * neurons_per_core + j] += the synapses of core c's rows into its neuron j, for
 * every core (inputs zeroed by the caller). Returns the largest count, or NE_TICK_EBADARG (a
 * column past the core's neurons). */
int64_t ne_fan_in(int64_t n_cores, int32_t axons_per_core, int32_t neurons_per_core, const int64_t *row_ptr,
                  const void *row_neurons, int32_t neuron_bytes, int64_t *inputs);

/* Setup, not per tick: pack's greedy placement (neuroemu.networks.place). Neurons in id order
 * fill core after core; neuron j needs the distinct axon keys keys[ptr[j]:ptr[j+1]] (no repeats
 * within a neuron) and starts a new core when the current one would exceed neurons_per_core
 * neurons or axons_per_core distinct keys. seen (one int64 per key, all -1) is scratch. Writes
 * core_of; returns the cores used, or -2 - j when neuron j finds every core full. */
int64_t ne_pack_greedy(int64_t n, const int64_t *ptr, const int64_t *keys, int64_t *seen,
                       int64_t neurons_per_core, int64_t axons_per_core, int64_t n_cores,
                       int64_t *core_of);

/* NVM synapses: every column sum acc[0..n) through a column ADC (the C twin of
 * neuroemu.hardware.devices.adc_quantise): round to the nearest multiple of 2**shift (halves up),
 * clip the code to [lo, hi], store code << shift. Returns 0, or -1 for a shift outside 0..40. */
int32_t ne_adc_quantise(int32_t *acc, int64_t n, int32_t shift, int64_t lo, int64_t hi);

/* NVM read noise (the C twin of neuroemu.hardware.devices.ReadNoise.input): like ne_integrate_w
 * (or ne_integrate_w_typed when n_types > 1: plane axon_type[a] of acc), but each synapse p of row a
 * reads row_weights[p] + sigma * table[splitmix64(base[p] + reads[a] + key) >> (64 - table_bits)],
 * summed in double into accf (zeros, [n_types * n_neurons]) in row order, then rounded half to even
 * and added to acc; accf is left zero. reads[a] goes up by one per distinct active row. Returns
 * the SOPs (adding each core's to core_sops unless NULL). */
int64_t ne_integrate_noisy(const int64_t *active, int64_t n_active, const int64_t *row_ptr,
                           const void *row_neurons, int32_t neuron_bytes, const int16_t *row_weights,
                           const int8_t *axon_type, int32_t n_types, int64_t n_neurons,
                           int32_t axons_per_core, int32_t neurons_per_core, const uint64_t *base,
                           int64_t *reads, uint64_t key, const double *table, int32_t table_bits,
                           double sigma, double *accf, int32_t *acc, uint8_t *touched, uint8_t *seen,
                           int64_t *core_sops);
/* --- the fused TrueNorth tick (bit-packed rows, core by core, cores split over threads) --- */

/* Setup: the crossbar as bits, row a's column j at bits[a * words + (j >> 6)] bit (j & 63);
 * bits must come zeroed (n_rows * words words). Returns the number of synapses that repeated a
 * column already set in their row (the bit form cannot hold those: the caller then keeps the
 * CSR kernels), or NE_TICK_EBADARG. */
int64_t ne_pack_rows(int64_t n_rows, const int64_t *row_ptr, const void *row_neurons, int32_t neuron_bytes,
                     int32_t words, int32_t width, uint64_t *bits);

/* What stays fixed between ticks of ne_truenorth_fused: the crossbar's bits (``words`` uint64 per
 * row, no column repeated), the axon types and the per-type weights as distinct blocks
 * [block][type][neuron] with each core's block in core_block (cores of one neuron type share a
 * block, which then stays in cache), the
 * neuron state and the parameter profiles (as for ne_truenorth_step; one profile skips
 * ``profile``), the keys and the membrane range. ``narrow`` (0/1): the caller has checked that
 * |v| + every core's largest input, the leak, the threshold and the floor fit int32 with room, so
 * the neuron update may run in 32-bit lanes. ``threads``: the cores [0, live_cores) are split
 * in that many ranges, one per thread (POSIX threads; 1 runs in the calling thread). Scratch:
 * ``bucket`` (int64, one per active entry), ``core_start`` (int64, live_cores + 1), ``seen``
 * (one zeroed byte per axon, left zeroed). */
typedef struct {
    const uint64_t *row_bits; int32_t words; const int8_t *axon_type;
    const int16_t *weight_blocks; const int32_t *core_block; int32_t n_types; int32_t axons_per_core; int32_t neurons_per_core;
    int64_t live_cores; int32_t *v; const int32_t *profile; int32_t n_profiles;
    const int32_t *p_leak; const uint8_t *p_leak_stochastic; const int32_t *p_threshold;
    const int32_t *p_threshold_mask; const int8_t *p_reset_mode; const int32_t *p_reset_value;
    const int32_t *p_floor; const uint8_t *p_enabled; uint64_t leak_key; uint64_t threshold_key;
    int32_t vmin; int32_t vmax; int32_t narrow; int32_t threads;
    int64_t *bucket; int64_t *core_start; uint8_t *seen;
} ne_tn_fused_t;

/* One tick of ne_integrate + ne_truenorth_step for per-type weights, fused per core: a core's
 * active rows (``active``: global axon ids in any order, repeats allowed) are integrated into a
 * core-local accumulator and its neurons updated at once while they are in cache. Bit for bit the
 * same as those two kernels. Writes the fired ids (ascending) to fired_out (room for every
 * neuron), the SOPs to *sops, the active neuron updates to *n_active, and per core (when not
 * NULL) core_sops / core_active for the live cores. Returns the number fired, or < 0 on bad
 * arguments or when a thread cannot start (NE_TICK_ETHREAD). */
#define NE_TICK_ETHREAD -2
int64_t ne_truenorth_fused(const ne_tn_fused_t *cfg, const int64_t *active, int64_t n_active_axons,
                           int64_t tick, int64_t *fired_out, int64_t *sops, int64_t *n_active,
                           int64_t *core_sops, int64_t *core_active);

/* The routing of one tick's fired neurons in one pass (engine/run.py's route_and_emit for
 * single-target routes on the analytic network). routes holds one record of four int32 per route:
 * target axon (< 0: sends nowhere), delay in ticks, zero-load latency in ps, unused (one record,
 * one cache line, per fired neuron). For the k-th fired route g that sends, in order, write its
 * target axon, its due tick t + delay and its arrival time: due * tick_ps when tick_ps > 0 (sync:
 * the due tick's start), else emit[k] + latency; at least floor_ps. spikes (NULL, or one int64 per
 * route) gets 1 added for every fired route (fired ids must not repeat). Returns how many were written. */
int64_t ne_route_fired(const int64_t *fired, int64_t n, const int32_t *routes, const int64_t *emit, int64_t t,
                       int64_t tick_ps, int64_t floor_ps, int64_t *out_arrival, int64_t *out_target,
                       int64_t *out_due, int64_t *spikes);
