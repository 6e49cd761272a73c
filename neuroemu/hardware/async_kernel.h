/* Window kernel of the async (continuous-time) engine: exact LIF neurons fed by a diffuser.
 * See neuroemu/asyncsim.py for the model; neuroemu/asynckernel.py holds the Python twin.
 * Return codes: 0 ok, AK_ENOMEM out of memory, AK_EBADARG an event out of range. */
#define AK_ENOMEM -1
#define AK_EBADARG -2
#define AK_KIND_INPUT 1
#define AK_KIND_ARRIVAL 2
#define AK_KIND_CHECK 3

typedef struct {
    /* sizes */
    int64_t n;            /* neurons */
    int64_t nc;           /* neurons per chip (side * side) */
    int32_t side;         /* the array is side x side, neuron (row, col) = row * side + col */
    int32_t n_chips;      /* chips used */
    int32_t k_targets;    /* chips each spike is multicast to */
    int32_t wrap;         /* 1: the diffuser wraps at the array edge, 0: it is clipped */
    int32_t n_rows;       /* rows of the diffuser neighbourhood */
    /* parameters */
    double tau_ps;        /* membrane time constant */
    double theta;         /* threshold */
    double v_reset;       /* reset potential */
    int64_t ref_ps;       /* refractory period */
    int64_t epoch;        /* E: u = (V - binf) * exp((t - E) / tau) */
    int64_t spike_weight; /* the float64 bits of the weight of one diffused spike */
    /* neuron state and tables, owned by the caller (numpy arrays) */
    double *u;            /* [n] scaled distance to the rest potential, see epoch */
    int64_t *r;           /* [n] end of the refractory period: inputs before it are ignored */
    const double *binf;   /* [n] rest potential the bias drives V to */
    int64_t *ver;         /* [n] version of the live threshold check */
    int64_t *pend;        /* [n] time of the live threshold check (INT64_MAX: none) */
    const int32_t *tgt;   /* [n * k_targets] global id of the diffuser centre of each target */
    const int32_t *route; /* [n] route (source chip, target set) of each neuron */
    int64_t *route_spikes;/* [routes] spikes sent over each route */
    const int64_t *lat;   /* [n_chips * n_chips] spike latency from chip to chip (ps, >= 1) */
    const int32_t *row_dy;/* [n_rows] row offset of each diffuser row */
    const int32_t *row_lo;/* [n_rows] first column offset of the row */
    const int32_t *row_hi;/* [n_rows] last column offset of the row (inclusive) */
    /* counters, accumulated over the run */
    int64_t sops, spikes, arrivals, inputs, checks, stale, failed;
    /* outputs of the last call: events to queue and spikes */
    int64_t out_n, out_cap;
    int64_t *out_time;
    int32_t *out_kind;
    int64_t *out_target;
    int64_t *out_payload;
    int32_t *out_prio;
    int64_t spk_n, spk_cap;
    int64_t *spk_time;
    int64_t *spk_neuron;
    /* scratch: the checks that fall inside the current window */
    int64_t heap_n, heap_cap, heap_seq;
    int64_t *heap;        /* [heap_cap * 4]: time, seq, neuron, version */
} ak_state;

/* Process one window of events (sorted by time, priority, seq), all before window_end. New
 * checks inside the window are processed here too; every event for later goes to out_*. */
int ak_process(ak_state *s, int64_t n, const int64_t *time, const int32_t *prio, const int32_t *kind,
               const int64_t *target, const int64_t *payload, int64_t window_end);

/* Schedule the first threshold check of every neuron (all to out_*). */
int ak_predict_all(ak_state *s);

/* Move the epoch to new_epoch (u rescaled). */
void ak_rebase(ak_state *s, int64_t new_epoch);

/* Free the output and scratch buffers. */
void ak_release(ak_state *s);

/* --- TrueNorth neurons read in continuous time (neuroemu/engine/asyncmodels.py, TrueNorthCT) ---
 * Exact integer arithmetic: potentials in units of 1/T; the numpy paths of TrueNorthCT give the
 * same bits (a test). The state and parameters, shared with numpy: */
typedef struct {
    int64_t n, T, lo, hi, w1;
    int32_t mask_any;
    const int64_t *drift, *low, *floor_v, *alpha, *mask, *reset_mode, *reset_value;
    const uint8_t *enabled;
    const uint64_t *threshold_keys;   /* [n] or NULL when no neuron has a stochastic threshold */
    int64_t *v, *t_last, *ref, *n_upd, *theta, *pend;
} ak_tn;

/* The whole window of a TrueNorth core-array network in one call: the arrivals (sorted by time,
 * one per (instant, axon)) are expanded through the crossbar rows and fed to their neurons in
 * time order, the stochastic leak steps of the window drawn (the tick loop's leak bytes, each step
 * at its own instant inside its tick, see TrueNorthCT.leak_steps), and every touched neuron's
 * inputs of one instant summed and applied in time order, its crossings fired and its next
 * crossing predicted. Scratch per neuron in ak_tn_run_scratch.nx (one 64-byte record, so an
 * input touches one cache line): gt (pending group time, -1), gs (its sum), gsyn, st0/st1 (the
 * neuron's steps in the window, INT64_MAX when none; the steps are put into step_n/step_s0 first
 * and copied here only where a record path or the ordered pass reads them, see below), pos/neg/last_t/ninst of the order-free pass
 * (0, 0, -1, 0) and head (1 while listed as touched, else 0; in a window reaching most neurons the
 * rows of lone arrivals list nothing: pass 2 walks every neuron and knows those by ninst).
 * Arrivals must come in time order; a second arrival on an axon at the same instant activates
 * nothing (as in a tick). The spikes come out sorted by (time, neuron); with route_axon set,
 * out_t/out_ax hold the arrivals they send (time + route_ps, target axon; spikes with no route
 * send none). counts: [spikes, active updates, plain updates, new checks, SOPs, arrivals sent].
 * touched needs room for n + 1 entries (cap > n: its appends are branch-free).
 * Returns the touched neurons' count
 * or < 0; touched[0 .. counts[3]) are then the neurons whose crossing moved and needs a check queued
 * (at pend), the rest of the touched list is not returned. */
typedef struct {
    int64_t pos, neg, last_t, st0, st1, gt, gs;
    int32_t ninst;
    uint8_t gsyn, head, pad0, pad1;
} ak_tn_nx;

typedef struct {
    ak_tn_nx *nx;             /* [n] per-neuron scratch, see above */
    const int64_t *row_ptr;
    const void *row_neurons;
    int32_t neuron_bytes, n_types;
    const int8_t *axon_type;
    const int64_t *type_w;    /* [n * n_types] weights x T (per axon type), or NULL */
    const int64_t *row_w;     /* [synapses] weights x T (per synapse), or NULL */
    int64_t axons_per_core, neurons_per_core;
    int64_t n_sto;
    const int64_t *sto, *sto_mag, *step_w;  /* stochastic neurons, abs(leak), sign(leak) x T ([n]) */
    const uint64_t *sto_off_keys;
    uint64_t leak_key;
    int64_t neuron_offset;    /* the first neuron's global id: the leak bytes are keyed by it (an MPI rank's block) */
    uint8_t *flag;            /* [n] scratch: steps that share an instant with an input (1, 2), ordered (4) */
    int64_t *queued;          /* [n] time of each neuron's queued check (INT64_MAX... none) */
    int64_t *seen;            /* [axons] scratch: the instant each axon last activated (-1) */
    int64_t *ulist;           /* [n] scratch: the neurons taking their events one instant at a time */
    int64_t end;              /* checks at or after the run's end are not queued */
    const int64_t *route_axon, *route_ps;  /* [n] each neuron's one route: target axon (< 0: none)
                                            * and delay in ps; NULL: the caller routes the spikes */
    int64_t *out_t, *out_ax;  /* [n] the arrivals the window's spikes send, in the spikes' order */
    const uint8_t *row_bits;  /* [axons * ceil(neurons_per_core / 8)] bit j of row a: the row reaches
                               * its core's neuron j (little-endian bits); NULL: rows are scanned */
    /* Pass 1 by byte counts (in a window reaching most neurons with no leak step on an arrival's
     * instant, every row adds its bitmap row to its type's byte counts of its core and one
     * instant's rows their OR to the instant counts; the weights are applied once per type and
     * core into acc_*, which pass 2 reads and clears). cnt_wpos NULL: the path is off. */
    const int32_t *cnt_wpos, *cnt_wneg; /* [cores * n_types * neurons_per_core] type weights / cnt_scale, by sign */
    int64_t cnt_scale;                  /* type_w = cnt_w* x cnt_scale, exactly */
    int64_t cnt_max_arr;                /* the path is taken for at most this many arrivals (int32 sums) */
    const uint64_t *cnt_spread;         /* [256] a byte -> its 8 bits as 8 bytes of 0/1 */
    uint64_t *cnt;                      /* [(n_types + 2) * ceil(neurons_per_core / 8)] scratch, zero between uses */
    int32_t *acc_p, *acc_n, *acc_c;     /* [n] scratch, zero between windows: counted input and instants */
    int64_t cnt_windows;                /* windows that took the path so far (a counter for tests) */
    /* the leak steps' scratch (tn_steps) */
    const uint8_t *sto_lim;   /* [n_sto + 64] min(sto_mag, 256) - 1: a neuron steps when its leak byte is <= this */
    int64_t sto_run;          /* 1: sto[j] = sto[0] + j (the stochastic neurons are one run, e.g. every neuron) */
    uint64_t *step_buf;       /* [4 n_sto + (sto[n_sto - 1] - sto[0]) / 8 + 64] */
    /* The window's leak steps kept apart from the records: tn_steps puts a neuron's count and
     * first instant here (a second step, only in a window across a tick's end, goes to its
     * record's st1); a window on the record paths (not counted) copies them into the records'
     * head/st0 before pass 1, a counted one's pass 2 reads them here and copies only the listed
     * neurons'. */
    uint8_t *step_n;          /* [n] scratch: bits 0-1 the neuron's steps in the window (0 between
                               * windows), bit 7 set by a counted pass 2 for a neuron taken whole */
    int64_t *step_s0;         /* [n] its first step's instant (read only where step_n says) */
    int64_t scalar_only;      /* 1: no vector lanes picked at run time (AVX-512 draws and pass 2), for tests */
    /* the window's own scratch (the arrivals' order and instant set, pass 3's per-arrival lists,
     * the spike sort's buffer), kept from window to window and grown by ak_tn_run (realloc):
     * NULL and 0 at first, freed by ak_tn_run_release */
    int64_t *win_buf;
    int64_t win_cap;          /* win_buf's size in int64 */
} ak_tn_run_scratch;

/* Free ak_tn_run_scratch.win_buf (and set it NULL, win_cap 0); the rest of the scratch is the caller's. */
void ak_tn_run_release(ak_tn_run_scratch *x);

int64_t ak_tn_run(ak_tn *s, ak_tn_run_scratch *x, int64_t w0, int64_t n_arr, const int64_t *a_t,
                  const int64_t *a_ax, int64_t n_chk, const int64_t *chk, int64_t *touched, int64_t cap,
                  int64_t *spk_n, int64_t *spk_t, int64_t *counts);

/* Set row_bits' bits for a crossbar (the layout of ak_tn_run_scratch.row_bits: n_axons rows of
 * ceil(npc / 8) bytes, bit j % 8 of byte j / 8 for the row's core neuron j) from its rows
 * row_neurons[row_ptr[a] .. row_ptr[a + 1]) (8- or 16-bit ids by neuron_bytes); bits must come
 * zeroed. Returns the synapses whose bit was set already (a row reaching one neuron twice: the row
 * scan counts it twice, a bit once), or AK_EBADARG for a neuron id >= npc or a bad neuron_bytes. */
int64_t ak_pack_row_bits(int64_t n_axons, const int64_t *row_ptr, const void *row_neurons, int32_t neuron_bytes,
                         int64_t npc, uint8_t *bits);
