/* stanzalink ring buffer: see include/stanzalink/ringbuf.h. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "stanzalink/ringbuf.h"

struct sl_ring {
    uint8_t *buf;
    size_t cap;
    size_t head;         /* oldest byte */
    size_t len;          /* bytes stored */
    size_t last_region;  /* length last handed out by sl_ring_write_ptr */
};

sl_ring *sl_ring_new(size_t capacity) {
    sl_ring *r;
    if (capacity == 0) return NULL;
    r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->buf = malloc(capacity);
    if (!r->buf) {
        free(r);
        return NULL;
    }
    r->cap = capacity;
    return r;
}

void sl_ring_free(sl_ring *r) {
    if (!r) return;
    free(r->buf);
    free(r);
}

void sl_ring_clear(sl_ring *r) {
    r->head = r->len = r->last_region = 0;
}

size_t sl_ring_capacity(const sl_ring *r) { return r->cap; }
size_t sl_ring_readable(const sl_ring *r) { return r->len; }
size_t sl_ring_writable(const sl_ring *r) { return r->cap - r->len; }

size_t sl_ring_write_ptr(sl_ring *r, uint8_t **ptr) {
    size_t tail, n;
    if (r->len == r->cap) {
        *ptr = r->buf;
        r->last_region = 0;
        return 0;
    }
    if (r->len == 0) r->head = 0; /* empty: hand out the largest region */
    tail = (r->head + r->len) % r->cap;
    n = tail >= r->head ? r->cap - tail : r->head - tail;
    *ptr = r->buf + tail;
    r->last_region = n;
    return n;
}

int sl_ring_commit(sl_ring *r, size_t n) {
    if (n > r->last_region) return SL_E_ARG;
    r->len += n;
    r->last_region -= n;
    return SL_OK;
}

size_t sl_ring_write(sl_ring *r, const uint8_t *data, size_t len) {
    size_t done = 0;
    while (done < len) {
        uint8_t *p;
        size_t n = sl_ring_write_ptr(r, &p);
        if (n == 0) break;
        if (n > len - done) n = len - done;
        memcpy(p, data + done, n);
        sl_ring_commit(r, n);
        done += n;
    }
    r->last_region = 0;
    return done;
}

size_t sl_ring_read_ptr(const sl_ring *r, const uint8_t **ptr) {
    size_t n = r->head + r->len <= r->cap ? r->len : r->cap - r->head;
    *ptr = r->buf + r->head;
    return n;
}

int sl_ring_consume(sl_ring *r, size_t n) {
    if (n > r->len) return SL_E_ARG;
    r->head = (r->head + n) % r->cap;
    r->len -= n;
    if (r->len == 0) r->head = 0;
    return SL_OK;
}

int sl_ring_feed(sl_ring *r, sl_tok *tok, uint32_t max_events) {
    int rc = SL_OK, first = 1;
    while (r->len) {
        const uint8_t *p;
        size_t n = sl_ring_read_ptr(r, &p), used = 0;
        rc = first ? sl_tok_feed(tok, p, n, max_events, &used)
                   : sl_tok_feed_append(tok, p, n, max_events, &used);
        first = 0;
        sl_ring_consume(r, used);
        if (rc < 0 || used < n) break;
    }
    if (first) rc = sl_tok_feed(tok, NULL, 0, max_events, NULL);
    return rc;
}
