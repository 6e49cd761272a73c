/* Many ticks per call: the tick loop of a sync, gals or barrier run on the analytic network, in C
 * (neuroemu.engine.blockrun drives it; neuroemu.hardware.block wraps it). Compiled into the same
 * extension as tick.c, whose kernels it calls once per tick. */
#define NE_BLOCK_EBADARG -1

/* Everything one block run reads and writes; the Python wrapper fills it once and then moves
 * only the block's range, its staged inputs and the output buffers between calls. */
typedef struct {
    /* --- the neuron kernel: 0 = current-based LIF (ne_cuba_step), 1 = TrueNorth LIF (ne_truenorth_step) */
    int32_t kernel;
    int64_t n_neurons;          /* every neuron of the arrays (a reset clears them all) */
    int64_t n_live;             /* the neuron kernel visits [0, n_live) (TickStepper._live_end) */
    int64_t n_enabled;          /* enabled neurons: every tick counts n_enabled - active idle updates */
    int64_t n_cores;
    int32_t axons_per_core, neurons_per_core;
    /* --- synapses (CSR); per-synapse weights when row_weights is not NULL, else per axon type */
    const int64_t *row_ptr;
    const void *row_neurons;
    int32_t neuron_bytes;
    const int16_t *row_weights;
    const int8_t *axon_type;
    const int16_t *weights_ctn;
    int32_t n_types;
    /* the dense copy (when TickStepper integrates from it: rows dense enough): 0/1 [axon][neuron],
     * per-synapse weights as a dense copy when row_weights is set, row lengths */
    int32_t use_dense;
    const uint8_t *dense;
    const int16_t *dense_weights;
    const int64_t *row_length;
    /* --- scratch of the tick kernels (zeroed between ticks) */
    int32_t *acc;               /* cuba: the input accumulator; truenorth: v itself or an accumulator */
    int32_t *tn_acc;            /* truenorth: NULL when the input goes straight into v */
    uint8_t *touched, *seen;
    int64_t *fired;             /* room for n_live ids */
    int64_t *due;               /* room for one tick's inputs plus one ring slot */
    int64_t due_cap;
    /* sort_due = 1: the tick's due axons are put in core order before integrating (a counting sort
     * into due_tmp [due_cap], core_count [n_cores + 1] its counts; then a core's axons, when at
     * most 128, in axon order), so each core's accumulators and weights stay in cache while its
     * rows are added: on thousands of cores (pohoiki_beach: 8,192, 32 MB of accumulators) an
     * unsorted tick misses the cache about once per synapse. Integer sums in another order and a
     * set of seen axons: the same result bit for bit */
    int32_t sort_due;
    int64_t *due_tmp;
    int64_t *core_count;
    int64_t ticks_sorted;       /* ticks whose due axons were sorted (counted for the tests) */
    /* --- neuron state and parameter profiles (as TickStepper prepares them) */
    int32_t *v, *u, *refractory_left;
    const int32_t *profile;
    int32_t n_profiles;
    const int32_t *p_du, *p_dv, *p_bias, *p_threshold, *p_refractory;
    const uint8_t *p_enabled;
    int32_t lim;
    const int32_t *p_leak, *p_mask, *p_reset_v, *p_floor;
    const uint8_t *p_leak_st;
    const int8_t *p_reset;
    uint64_t leak_key, threshold_key;
    int32_t vmin, vmax;
    /* truenorth: the fused kernel's config (ne_truenorth_fused, when TickStepper would step with it;
     * NULL: the two passes ne_integrate + ne_truenorth_step) */
    const ne_tn_fused_t *fused;
    /* --- cuba, the fast form (fast_cuba = 1; the wrapper checks that no sum can leave int32):
     * the live neurons as segments [seg_start[i], seg_start[i+1]) of one profile within one core,
     * updated branch-free in int32 (vectorisable), fired ids gathered from spike flags after */
    int32_t fast_cuba;
    int64_t n_seg;
    const int64_t *seg_start;   /* [n_seg + 1] */
    const int32_t *seg_profile; /* [n_seg] */
    uint8_t *flags;             /* [n_live] scratch */
    const uint8_t *seg_skip;    /* [n_seg]: 1 = no synapse in, no bias, threshold >= 0: at rest it stays so */
    int32_t skip_quiet;         /* this call: those segments are at rest, so they are skipped */
    /* --- routes: neuron g's routes are fanout_ptr[g]..fanout_ptr[g+1] (NULL: route g alone) */
    const int64_t *fanout_ptr;
    /* route r: routes[2r] its target global axon (< 0: the route sends nowhere), routes[2r + 1] its
     * delay in whole ticks (>= 1): side by side, so a fired neuron's route costs one cache miss */
    const int64_t *routes;
    const int64_t *route_latency; /* barrier: zero-load network latency (ps) */
    /* --- the spikes in flight: slot d % ring_slots holds the axons due in tick d */
    int64_t ring_slots, ring_cap;
    int64_t *ring;              /* [ring_slots][ring_cap] */
    int64_t *ring_n;            /* [ring_slots] */
    /* --- timing: 0 = sync (a fixed tick), 1 = barrier (the timestep ends with the busiest core,
     * the network's last arrival and the barrier latency; engine/timing.py) */
    int32_t barrier;
    int64_t tick_ps, barrier_ps;
    int32_t no_latency;         /* barrier: no per-operation latency, every core's work takes 0 ps */
    int32_t split_active;       /* barrier: active updates priced apart (active_ps != update_ps) */
    double sop_ps, update_ps, active_ps, spike_ps;
    const int64_t *enabled_per_core;
    int64_t *core_sops, *core_active, *core_spikes, *core_busy;   /* [n_cores] scratch */
    /* gals (1: the barrier fields unused, the tick fixed as under sync; the caller has checked that
     * no spike can arrive late): only a core with work in the tick is clocked and updates its
     * enabled neurons (engine/energy.py's GalsWork, truenorth): one whose gals_always is set, one
     * with an axon receiving a spike, or one with a neuron that fires. Counted in clock_core_tick */
    int32_t gals;
    const uint8_t *gals_always; /* [n_cores] */
    uint8_t *gals_busy;         /* [n_cores] scratch */
    int64_t *tick_starts;       /* [ticks + 1], ps */
    int64_t run_ticks;          /* the run's length: a spike due at or past it stays in flight */
    /* --- the block's staged inputs: tick block_t0 + i receives in_axons[in_ptr[i] .. in_ptr[i+1]) */
    int64_t block_t0;
    const int64_t *in_ptr;
    const int64_t *in_axons;
    /* --- presentations: every reset_period ticks (0: never) all state resets and the spikes in
     * flight are dropped; v of the probe neurons is copied at each period's last tick into
     * probe_out[(t / period - block_t0 / period) * n_probe ...] */
    int64_t reset_period;
    const int64_t *probe_ids;
    int64_t n_probe;
    int64_t *probe_out;
    /* --- outputs: fired (tick, neuron) pairs when record (rec_cap room), spikes per neuron */
    int32_t record;
    int64_t *rec_ticks, *rec_ids;
    int64_t rec_cap, rec_n;
    int64_t *spikes_per_neuron;
    /* --- counters, added to across calls */
    int64_t axon_event, synaptic_op, neuron_update_active, neuron_update, spike, sent, clock_core_tick;
    int64_t dropped_at_reset;   /* in-flight spikes a reset dropped (as the per-tick loop counts them) */
    int64_t past_end;           /* sync: dropped spikes due at or past run_ticks (the per-tick loop's queue keeps them) */
    int64_t ticks_done;
} ne_block_t;

/* Run ticks t0 .. t1 - 1 (t0 the tick the previous call stopped at; block_t0 <= t0, and the staged
 * inputs and probe buffer cover up to t1). Returns the tick it stopped
 * before: t1, or earlier when the spike record could overflow (rec_n + n_live > rec_cap; the
 * caller empties it and calls again from there), or NE_BLOCK_EBADARG. */
int64_t ne_block_run(ne_block_t *b, int64_t t0, int64_t t1);
