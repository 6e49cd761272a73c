/* The packet network's hot loop (see packet.h and neuroemu/hardware/packet.py for the model).
 *
 * Python pops one window of events from the event queue and calls pn_run once; everything a
 * window's events cause before the window ends (a link finishing its serialisation, or any event
 * when the window is longer than the lookahead) is handled here through a small heap, and
 * everything later goes back to Python in o_* to be pushed in one batch. Zero-delay effects (a
 * slot freed upstream, a link that may now send) are applied at once through a work list. */
#include "packet.h"

static int key_less(int64_t ta, int32_t pa, int64_t tb, int32_t pb)
{
    return ta < tb || (ta == tb && pa < pb);
}

static void heap_push(pn_state *s, int64_t t, int32_t prio, int64_t target)
{
    int64_t i = s->h_len++;
    while (i > 0) {
        int64_t parent = (i - 1) >> 1;
        if (!key_less(t, prio, s->h_time[parent], s->h_prio[parent]))
            break;
        s->h_time[i] = s->h_time[parent];
        s->h_prio[i] = s->h_prio[parent];
        s->h_target[i] = s->h_target[parent];
        i = parent;
    }
    s->h_time[i] = t;
    s->h_prio[i] = prio;
    s->h_target[i] = target;
}

static void heap_pop(pn_state *s)
{
    int64_t n = --s->h_len;
    int64_t t = s->h_time[n];
    int32_t prio = s->h_prio[n];
    int64_t target = s->h_target[n];
    int64_t i = 0;
    for (;;) {
        int64_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && key_less(s->h_time[c + 1], s->h_prio[c + 1], s->h_time[c], s->h_prio[c]))
            c++;
        if (!key_less(s->h_time[c], s->h_prio[c], t, prio))
            break;
        s->h_time[i] = s->h_time[c];
        s->h_prio[i] = s->h_prio[c];
        s->h_target[i] = s->h_target[c];
        i = c;
    }
    s->h_time[i] = t;
    s->h_prio[i] = prio;
    s->h_target[i] = target;
}

typedef struct {
    pn_state *s;
    int64_t window_end;
    int64_t cap;      /* of the heap and of o_* */
    int64_t n_work;
    int failed;
} ctx;

static void schedule(ctx *c, int64_t t, int32_t prio, int64_t target)
{
    pn_state *s = c->s;
    if (t < c->window_end) {
        if (s->h_len >= c->cap) { c->failed = 1; return; }
        heap_push(s, t, prio, target);
    } else {
        if (s->o_len >= c->cap) { c->failed = 1; return; }
        s->o_time[s->o_len] = t;
        s->o_prio[s->o_len] = prio;
        s->o_target[s->o_len] = target;
        s->o_len++;
    }
}

static void want(ctx *c, int32_t link)
{
    pn_state *s = c->s;
    if (!s->in_work[link]) {
        s->in_work[link] = 1;
        s->work[c->n_work++] = link;
    }
}

static void deliver(ctx *c, int32_t p, int64_t t)
{
    pn_state *s = c->s;
    if (s->d_len >= s->slot_cap || s->n_free >= s->slot_cap) { c->failed = 1; return; }
    s->d_slot[s->d_len] = p;
    s->d_time[s->d_len] = t;
    s->d_len++;
    s->free_slots[s->n_free++] = p;
    s->in_flight--;
}

/* the link from router r towards router d (r != d): the table, or XY in closed form on a mesh
 * (x first towards d's column, then y), which needs no n_routers^2 table */
static int32_t next_link_of(const pn_state *s, int32_t r, int32_t d)
{
    if (s->grid_width <= 0)
        return s->next_link[(int64_t)r * s->n_routers + d];
    int32_t w = s->grid_width, rx = r % w, dx = d % w;
    if (rx != dx)
        return s->ports[(int64_t)(rx < dx ? 0 : 1) * s->n_routers + r];
    return s->ports[(int64_t)(r / w < d / w ? 2 : 3) * s->n_routers + r];
}

/* p, holding buffer p_buf[p] at router r, asks for its next link */
static void request(ctx *c, int32_t p, int32_t r)
{
    pn_state *s = c->s;
    int32_t o = next_link_of(s, r, s->p_dst[p]);
    s->p_next[p] = -1;
    if (s->wait_tail[o] < 0)
        s->wait_head[o] = p;
    else
        s->p_next[s->wait_tail[o]] = p;
    s->wait_tail[o] = p;
    if (++s->wait_len[o] > s->wait_peak[o])
        s->wait_peak[o] = s->wait_len[o];
    want(c, o);
}

/* slots p needs downstream of o: bubble flow control makes a packet entering a ring (injected, or
 * turning into another link class) leave one slot free in it */
static int32_t need(const pn_state *s, int32_t p, int32_t o)
{
    int32_t b = s->p_buf[p];
    return (s->bubble && (b >= s->n_links || s->link_class[b] != s->link_class[o])) ? 2 : 1;
}

/* let link o send as many waiting packets as it can at time t (one, then it is busy) */
static void try_send(ctx *c, int32_t o, int64_t t)
{
    pn_state *s = c->s;
    for (;;) {
        int32_t p = s->wait_head[o], prev = -1;
        if (p < 0)
            return;
        if (t < s->busy_until[o]) {
            if (!s->pending[o]) {
                s->pending[o] = 1;
                schedule(c, s->busy_until[o], s->n_links + o, o);
            }
            return;
        }
        if (s->buffer_cap > 0) {
            int32_t room = s->buffer_cap - s->occ[o];
            if (room < need(s, p, o)) {
                p = -1;
                /* the one exception to FIFO order: with one slot left, a packet continuing along
                 * the ring passes entering ones, else an entering head could block the ring */
                if (s->bubble && room >= 1) {
                    int32_t q = s->wait_head[o], before = -1;
                    while (q >= 0 && need(s, q, o) > 1) {
                        before = q;
                        q = s->p_next[q];
                    }
                    p = q;
                    prev = before;
                }
                if (p < 0) {
                    if (!s->stalled[o]) {
                        s->stalled[o] = 1;
                        s->stalls[o]++;
                        s->stall_since[o] = t;
                    }
                    return;
                }
            }
        }
        if (s->stalled[o]) {
            s->stalled[o] = 0;
            s->stall_ps[o] += t - s->stall_since[o];
        }
        /* p leaves the FIFO and its buffer, and takes a slot of o's buffer */
        int32_t b = s->p_buf[p];
        if (prev < 0)
            s->wait_head[o] = s->p_next[p];
        else
            s->p_next[prev] = s->p_next[p];
        if (s->wait_tail[o] == p)
            s->wait_tail[o] = prev;
        s->wait_len[o]--;
        if (b < s->n_links) {
            s->occ[b]--;
            want(c, b);  /* b's own waiters may have been stalled on that slot */
        } else {
            s->inj_len[b - s->n_links]--;
        }
        if (++s->occ[o] > s->occ_peak[o])
            s->occ_peak[o] = s->occ[o];
        s->p_buf[p] = o;
        s->p_hops[p]++;
        s->busy_until[o] = t + s->link_ser[o];
        s->busy_ps[o] += s->link_ser[o];
        s->sends[o]++;
        schedule(c, t + s->link_ser[o] + s->link_lat[o], o, p);
    }
}

static void drain_work(ctx *c, int64_t t)
{
    pn_state *s = c->s;
    while (c->n_work > 0) {
        int32_t o = s->work[--c->n_work];
        s->in_work[o] = 0;
        try_send(c, o, t);
    }
}

static int handle(ctx *c, int64_t t, int32_t prio, int64_t target)
{
    pn_state *s = c->s;
    int32_t nl = s->n_links;
    if (prio < 0 || prio > 2 * nl)
        return PN_ERR_ARG;
    s->last_time = t;
    if (prio < nl) { /* packet target arrives over link prio */
        int32_t l = prio, p = (int32_t)target;
        if (target < 0 || target >= s->slot_cap)
            return PN_ERR_ARG;
        int32_t r = s->link_dst[l];
        s->arrivals++;
        if (r == s->p_dst[p]) {
            s->occ[l]--;  /* ejection is immediate: the slot frees at once */
            deliver(c, p, t);
            want(c, l);
        } else {
            request(c, p, r);
        }
    } else if (prio < 2 * nl) { /* link prio - nl has finished serialising */
        int32_t o = prio - nl;
        s->frees++;
        s->pending[o] = 0;
        want(c, o);
    } else { /* packet target is injected at its source router */
        int32_t p = (int32_t)target;
        if (target < 0 || target >= s->slot_cap)
            return PN_ERR_ARG;
        int32_t r = s->p_buf[p] - nl;
        s->injections++;
        if (r == s->p_dst[p]) {
            deliver(c, p, t);
        } else {
            if (++s->inj_len[r] > s->inj_peak[r])
                s->inj_peak[r] = s->inj_len[r];
            request(c, p, r);
        }
    }
    drain_work(c, t);
    return c->failed ? PN_ERR_FULL : PN_OK;
}

int pn_run(pn_state *s, int64_t n, const int64_t *time, const int32_t *prio, const int64_t *target,
           int64_t window_end)
{
    ctx c = {s, window_end, s->slot_cap + s->n_links, 0, 0};
    int64_t i = 0;
    for (;;) {
        int rc;
        /* merge the popped batch with the window's own events; keys never tie across the two */
        if (i < n && (s->h_len == 0 || key_less(time[i], prio[i], s->h_time[0], s->h_prio[0]))) {
            rc = handle(&c, time[i], prio[i], target[i]);
            i++;
        } else if (s->h_len > 0) {
            int64_t t = s->h_time[0], tg = s->h_target[0];
            int32_t pr = s->h_prio[0];
            heap_pop(s);
            rc = handle(&c, t, pr, tg);
        } else {
            break;
        }
        if (rc != PN_OK)
            return rc;
    }
    return PN_OK;
}
