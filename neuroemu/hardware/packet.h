/* The packet network's hot loop: one window of hop events, processed in order in C.
 *
 * All state lives in arrays owned by Python (numpy); pn_state only points at them, so Python
 * reads every statistic without a copy. The model and the event order are documented in
 * neuroemu/hardware/packet.py; the pure-Python twin there must stay step-for-step identical.
 *
 * Event keys are (time, prio): prio < n_links is "a packet arrives over link prio",
 * n_links <= prio < 2 n_links is "link prio - n_links has finished serialising",
 * prio == 2 n_links is "a packet is injected" (ties among those keep the queue's seq order). */
#include <stdint.h>

#define PN_OK 0
#define PN_ERR_FULL -1  /* an output or scratch array was too small: a sizing bug, not user input */
#define PN_ERR_ARG -2   /* an event names a link or slot out of range */

typedef struct {
    /* topology (read only) */
    int32_t n_routers;
    int32_t n_links;
    const int32_t *next_link;  /* [n_routers * n_routers], -1 on the diagonal; NULL: grid_width */
    int32_t grid_width;        /* > 0: a mesh without wrap links routed XY in closed form, no table */
    const int32_t *ports;      /* [4 * n_routers]: each router's +x, -x, +y, -y link (grid_width > 0) */
    const int32_t *link_dst;   /* [n_links] */
    const int16_t *link_class; /* [n_links] */
    const int64_t *link_lat;   /* [n_links] latency, ps */
    const int64_t *link_ser;   /* [n_links] serialisation time of one packet, ps (>= 1) */
    int32_t buffer_cap;        /* input buffer of each link, packets; <= 0: unbounded */
    int32_t bubble;            /* 1: a packet entering a ring (new link class) needs 2 free slots */
    /* per link */
    int64_t *busy_until; /* the link serialises until this time */
    int32_t *occ;        /* packets holding a slot of the link's input buffer (in flight or waiting) */
    int32_t *occ_peak;
    int32_t *wait_head;  /* FIFO of packets waiting to take the link (slots, -1 = none) */
    int32_t *wait_tail;
    int32_t *wait_len;
    int32_t *wait_peak;
    uint8_t *pending;    /* a "link free" event is scheduled */
    uint8_t *stalled;    /* idle with a waiting packet, for want of a downstream slot */
    int64_t *stall_since;
    int64_t *stall_ps;
    int64_t *stalls;
    int64_t *busy_ps;
    int64_t *sends;
    /* per router */
    int32_t *inj_len;    /* packets waiting in the (unbounded) injection queue */
    int32_t *inj_peak;
    /* per packet slot */
    int32_t *p_dst;      /* destination router */
    int32_t *p_buf;      /* buffer held: a link id, or n_links + router for the injection queue */
    int32_t *p_next;     /* next packet in the same wait FIFO */
    int32_t *p_hops;
    int32_t *free_slots; /* stack of free slots */
    int64_t n_free;
    int64_t slot_cap;
    /* the window's own events (a binary heap on (time, prio)); capacity slot_cap + n_links */
    int64_t *h_time;
    int32_t *h_prio;
    int64_t *h_target;
    int64_t h_len;
    /* events at or after the window's end, for the event queue; capacity slot_cap + n_links */
    int64_t *o_time;
    int32_t *o_prio;
    int64_t *o_target;
    int64_t o_len;
    /* delivered packets (slot, time), appended; capacity slot_cap */
    int64_t *d_slot;
    int64_t *d_time;
    int64_t d_len;
    /* scratch: links to retry after a state change (LIFO), one flag per link */
    int32_t *work;
    uint8_t *in_work;
    /* counters */
    int64_t in_flight;
    int64_t arrivals;
    int64_t frees;
    int64_t injections;
    int64_t last_time;
} pn_state;

/* Process the n events of one window (sorted by (time, prio)) and every event they cause before
 * window_end, in (time, prio) order; later events are appended to o_*. Returns PN_OK or an error. */
int pn_run(pn_state *s, int64_t n, const int64_t *time, const int32_t *prio, const int64_t *target,
           int64_t window_end);
