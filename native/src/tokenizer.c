/*
 * stanzalink streaming tokenizer: see include/stanzalink/tokenizer.h for the
 * API and native/README.md for the language it accepts.
 *
 * One explicit state machine, fed byte ranges; no recursion, no callbacks.
 * Hot paths (character data, attribute values, names) scan runs of bytes
 * with class tables and copy them with memcpy.  Strings land decoded in the
 * output pool; a start tag's names and values are resolved (namespaces,
 * duplicates, limits) when its '>' arrives, as libexpat does.
 */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "chartab.h"
#include "nametab.h"
#include "stanzalink/tokenizer.h"

/* The tokenizer is one translation unit made of the files below, one job
 * each, in dependency order.  One unit keeps the hot loop's calls
 * (feed -> fast paths -> arena, scanning) open to the compiler's inliner
 * with no link-time optimisation and no exported internal symbols; see
 * native/README.md for the measurement. */
#include "tokenizer/tok.h"     /* the handle, states, records */
#include "tokenizer/scan.inc"  /* byte classes, SIMD runs, UTF-8 */
#include "tokenizer/arena.inc" /* pool, nodes, events, units, packing */
#include "tokenizer/names.inc" /* bindings, namespace names, name characters */
#include "tokenizer/skip.inc"  /* skipped stanzas */
#include "tokenizer/tags.inc"  /* a start tag's and an end tag's '>' */
#include "tokenizer/lexer.inc" /* the state machine */
#include "tokenizer/fast.inc"  /* whole tags in one go */
#include "tokenizer/feed.inc"  /* lifecycle, feeding, the public entry points */
