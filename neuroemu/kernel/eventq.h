/* eventq.h -- the C event queue of neuroemu (a calendar queue / timing wheel over integer time).
 *
 * Private: only neuroemu/kernel/queue.py calls it, through cffi (API mode). The build script
 * reads this file as the cdef after dropping every line that starts with '#', so everything
 * outside preprocessor lines must stay plain declarations cffi can parse.
 *
 * Events are ordered by (time, priority, seq); time is int64 picoseconds >= 0, seq is the
 * insertion number the queue assigns (from 0). Every function returns an EQ_* code.
 */
#ifndef NEUROEMU_EVENTQ_H
#define NEUROEMU_EVENTQ_H

#include <stdint.h>

enum {
    EQ_OK = 0,
    EQ_ERR_NOMEM = 1,   /* out of memory; the queue is then marked broken */
    EQ_ERR_TIME = 2,    /* an event time < max(horizon, 0); *bad_index names it in a batch */
    EQ_ERR_BROKEN = 3,  /* an earlier out-of-memory error left the queue unusable */
    EQ_ERR_ARG = 4      /* an argument outside its documented range */
};

typedef struct eq_queue eq_queue;

typedef struct {
    int64_t bucket_shift;    /* the bucket width is 2**bucket_shift ps */
    int64_t nbuckets;        /* slots in the wheel (a power of two) */
    int64_t base;            /* absolute bucket index of the wheel's earliest slot */
    int64_t wheel_events;    /* events in the wheel */
    int64_t overflow_events; /* events beyond the wheel (open run + sealed runs) */
    int64_t runs;            /* sealed overflow runs */
    int64_t rebuilds;        /* geometry changes so far */
    int64_t adaptive;        /* 1 if the geometry follows the popped windows */
} eq_stats;

/* A new empty queue with buckets of 2**bucket_shift ps (0..62) and nbuckets slots (a power of
 * two, 1..2**20); adaptive != 0 lets it retune both from the windows it is asked to pop.
 * Returns NULL when out of memory or when an argument is out of range. */
eq_queue *eq_new(int bucket_shift, int64_t nbuckets, int adaptive);
void eq_free(eq_queue *q);

/* One event; *seq_out receives its sequence number. */
int eq_push(eq_queue *q, int64_t time, int32_t priority, int32_t kind, int64_t target,
            int64_t payload, int64_t *seq_out);

/* n events; column c of event i is col[i * col_step] (step 0 broadcasts one value, step 1 reads
 * an array). Seq numbers are assigned in array order. All times are checked before anything is
 * queued: on EQ_ERR_TIME nothing was pushed and *bad_index is the first offending element. */
int eq_push_batch(eq_queue *q, int64_t n,
                  const int64_t *time, int64_t time_step,
                  const int32_t *priority, int64_t priority_step,
                  const int32_t *kind, int64_t kind_step,
                  const int64_t *target, int64_t target_step,
                  const int64_t *payload, int64_t payload_step,
                  int64_t *bad_index);

/* Pops every event with time < time_end in (time, priority, seq) order, at most max_events of
 * them when max_events >= 0 (-1: no limit), and raises the horizon to time_end. *n_out receives
 * the count and *block_out an internal block, valid until the next call on this queue, that
 * holds the columns back to back: time[n] seq[n] target[n] payload[n] (int64), then
 * priority[n] kind[n] (int32), i.e. 40 * n bytes. */
int eq_pop_before(eq_queue *q, int64_t time_end, int64_t max_events, int64_t *n_out,
                  const void **block_out);

/* *time_out = the earliest pending time, or -1 when the queue is empty. */
int eq_next_time(eq_queue *q, int64_t *time_out);

int64_t eq_len(const eq_queue *q);
/* The largest time_end popped so far (INT64_MIN before the first pop). */
int64_t eq_horizon(const eq_queue *q);
void eq_get_stats(const eq_queue *q, eq_stats *out);

/* Rebuckets every pending event into a wheel of 2**bucket_shift ps x nbuckets (same ranges as
 * eq_new); the pop order does not change. */
int eq_retune(eq_queue *q, int bucket_shift, int64_t nbuckets);

#endif
