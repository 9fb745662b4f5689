/* Internal declarations shared by the stanzalink C sources. */
#ifndef STANZALINK_INTERNAL_H
#define STANZALINK_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "stanzalink/tokenizer.h"

/* Feed without clearing the previous output first (the ring buffer feeds
 * its two segments into one arena). */
int sl_tok_feed_append(sl_tok *tok, const uint8_t *data, size_t len,
                       uint32_t max_events, size_t *consumed);

/* Events produced so far in the current arena. */
uint32_t sl_tok_event_count(const sl_tok *tok);

#endif
