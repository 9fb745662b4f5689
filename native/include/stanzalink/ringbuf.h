/*
 * stanzalink ring buffer: a bounded byte queue the transport writes into
 * directly and the tokenizer consumes from.
 *
 * The transport asks for the contiguous free region (sl_ring_write_ptr),
 * lets the kernel or TLS layer fill part of it, then commits what was
 * written.  The reader takes contiguous readable regions and consumes them.
 * The capacity is fixed at creation: a full ring refuses more input, which
 * is the transport's signal to stop reading (backpressure), never a realloc.
 */
#ifndef STANZALINK_RINGBUF_H
#define STANZALINK_RINGBUF_H

#include <stddef.h>
#include <stdint.h>

#include "stanzalink/tokenizer.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sl_ring sl_ring;

/* capacity in bytes, > 0.  NULL when out of memory or capacity is 0. */
sl_ring *sl_ring_new(size_t capacity);
void sl_ring_free(sl_ring *ring);
void sl_ring_clear(sl_ring *ring);

size_t sl_ring_capacity(const sl_ring *ring);
size_t sl_ring_readable(const sl_ring *ring); /* bytes stored */
size_t sl_ring_writable(const sl_ring *ring); /* free bytes */

/* Contiguous free region: *ptr and its length (0 when full).  When the free
 * space wraps, this is the part up to the end of the storage; the rest is
 * offered by the next call after a commit. */
size_t sl_ring_write_ptr(sl_ring *ring, uint8_t **ptr);
/* Mark n bytes of the region returned by sl_ring_write_ptr as written.
 * SL_E_ARG when n exceeds that region. */
int sl_ring_commit(sl_ring *ring, size_t n);

/* Copy up to len bytes in (for transports that hand over bytes objects).
 * Returns bytes copied (< len only when the ring is full). */
size_t sl_ring_write(sl_ring *ring, const uint8_t *data, size_t len);

/* Contiguous readable region starting at the oldest byte. */
size_t sl_ring_read_ptr(const sl_ring *ring, const uint8_t **ptr);
/* Drop n bytes from the front.  SL_E_ARG when n > readable. */
int sl_ring_consume(sl_ring *ring, size_t n);

/* Feed everything readable (both segments when it wraps) to the tokenizer
 * in one call, consuming what the tokenizer consumed.  Same return value
 * and max_events meaning as sl_tok_feed; the events of both segments are
 * in the arena together. */
int sl_ring_feed(sl_ring *ring, sl_tok *tok, uint32_t max_events);

#ifdef __cplusplus
}
#endif
#endif /* STANZALINK_RINGBUF_H */
