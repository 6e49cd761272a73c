/* Many windows per call: the clockless window loop of a TrueNorth core-array network in C
 * (neuroemu.engine.asyncblock drives it; neuroemu.hardware.asyncloop wraps it). Compiled into the
 * same extension as async_kernel.c, whose ak_tn_run it calls once per window, and with a copy of
 * neuroemu/kernel/eventq.c: it pops and pushes the engine's own C event queue (the eq_queue of a
 * neuroemu.kernel.queue.CQueue, passed by address; one source, so one struct layout).
 *
 * Each window is the per-window Python loop's (neuroemu.engine.asynccore.AsyncCoreLoop.run and
 * _window): its start is the next event (or the last window's end while stochastic leak steps
 * run), its end min(start + window, run end, sample boundary, next input chunk); the popped
 * arrivals and inputs (in queue order) and checks go to ak_tn_run; the neurons whose crossing
 * moved get a check queued at it, then the spikes' arrivals are queued (that order: the same seq
 * numbers as the Python loop). Input chunks drawn ahead by Python (feed_*) are queued here, each
 * where the Python loop would queue it (before the first window at or after its start, one
 * push_batch per chunk: the same seq numbers). The call returns to Python only for what Python
 * does: the drawn-ahead inputs used up, a sample boundary, a progress report, a runaway guard
 * tripped, the end. */
#define AL_DONE 0      /* the next window would start at or after the run's end */
#define AL_FEED 1      /* the next event is at or after the start of a chunk not drawn ahead: queue it */
#define AL_BOUNDARY 2  /* a sample boundary comes at or before the next event (and the end) */
#define AL_STOP 3      /* the next window would start at or after stop (a progress report) */
#define AL_RUNAWAY 4   /* a window's arrivals passed a guard: w0 and n_window say which */
#define AL_EQUEUE -3   /* the event queue returned an error: qerr holds its EQ_* code */

typedef struct {
    /* --- the window kernel (neuroemu.hardware.asynckernel.TrueNorthWindowC, routes bound) */
    ak_tn *tn;
    ak_tn_run_scratch *x;
    int64_t *touched;           /* its buffers: [cap] touched, [n] spikes, [6] counts */
    int64_t cap;
    int64_t *spk_n, *spk_t, *counts;
    /* --- the engine's eq_queue, and its event kinds (neuroemu.engine.asyncblock defines them) */
    void *queue;
    int32_t kind_arrival, kind_input, kind_check;
    /* --- the loop */
    int32_t has_steps;          /* stochastic leak steps: the next window starts no later than last_w1 */
    int64_t window_ps, end;     /* the window (min(lookahead, tick)) and the run's end (ps) */
    int64_t last_w1;            /* the last window's end (0 before the first) */
    int64_t drop_seq;           /* arrivals queued with seq <= drop_seq are a finished sample's (-1: none) */
    int64_t max_window_events;  /* guards (-1: none): arrivals in one window, arrivals in the run */
    int64_t max_events;
    /* --- input chunks drawn ahead (Python owns the arrays): chunk i is events feed_off[i] to
     * feed_off[i+1] of feed_at (ps) / feed_ax (axons), queued before the first window starting at
     * or after feed_ps[i]; feed_i chunks are queued, feed_n drawn */
    int64_t feed_n, feed_i;
    const int64_t *feed_ps, *feed_off, *feed_at, *feed_ax;
    /* --- scratch of one window (grown as needed; al_release frees it) */
    int64_t buf_cap;
    int64_t *a_t, *a_ax, *chk, *chk_t;
    /* --- spikes counted per neuron here (spk_count[id]++, nothing recorded) where the caller
     * needs only the counts (NULL: recorded below) */
    int64_t *spk_count;
    /* --- the spikes since the caller last took them (it sets rec_n = 0), in the windows' order */
    int64_t rec_n, rec_cap;
    int64_t *rec_id, *rec_t;
    /* --- counters, totals over the run */
    int64_t axon_event, synaptic_op, neuron_update_active, neuron_update, spike, sent;
    int64_t checks, windows, dropped_at_reset, inputs;  /* inputs: queued from feed_* */
    /* --- on return: the next event's time (AL_STOP, AL_FEED, ...); after AL_RUNAWAY the window's
     * start and arrivals; after AL_EQUEUE the queue's code */
    int64_t t0, w0, n_window;
    int32_t qerr;
} al_loop;

/* Run windows until one of the AL_* conditions above. boundary: the next sample boundary
 * (INT64_MAX: none); feed: the first ps of the first input chunk after the drawn-ahead ones
 * (INT64_MAX: none left); stop: return
 * AL_STOP before a window starting at or after it (INT64_MAX: never). Returns an AL_* code, or
 * AK_ENOMEM / AK_EBADARG from the kernel. */
int64_t al_run(al_loop *L, int64_t boundary, int64_t feed, int64_t stop);

/* Free the scratch and the spike record. */
void al_release(al_loop *L);
