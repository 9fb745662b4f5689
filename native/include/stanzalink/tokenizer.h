/*
 * stanzalink streaming tokenizer for XMPP's restricted XML (RFC 6120 §11).
 *
 * One opaque handle per stream.  The caller feeds arbitrary chunks; each
 * call processes the whole chunk (or stops early when asked to) and leaves
 * the complete events it found in an output arena owned by the handle:
 *
 *   - SL_EV_OPEN    the <stream:stream> header (element node, its attributes
 *                   and its namespace declarations)
 *   - SL_EV_STANZA  one complete depth-1 element, as a node table
 *   - SL_EV_CLOSE   </stream:stream>
 *   - SL_EV_SKIP    a stanza that crossed max_stanza_bytes, max_depth,
 *                   max_attrs or max_name_len, dropped whole: the stream
 *                   goes on (see "Skipped stanzas" below)
 *
 * Return codes follow the house rule: <0 error, 0 ok, >0 a count.
 * Nothing here allocates per byte or calls back into the caller; limits are
 * explicit and every error carries an RFC 6120 §4.9.3 condition, a message
 * and the byte/line/column where it was found.  See native/README.md for the
 * exact language accepted and the order in which faults are reported.
 */
#ifndef STANZALINK_TOKENIZER_H
#define STANZALINK_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- return codes ------------------------------------------------------ */
#define SL_OK 0
#define SL_E_NOMEM (-1)  /* allocation failed; the handle must be reset */
#define SL_E_STREAM (-2) /* the peer broke the stream: see sl_tok_error() */
#define SL_E_STATE (-3)  /* local misuse: fed after an error or after close */
#define SL_E_ARG (-4)    /* local misuse: bad argument */

/* ---- stream error conditions (RFC 6120 §4.9.3) -------------------------- */
#define SL_COND_NONE 0
#define SL_COND_NOT_WELL_FORMED 1
#define SL_COND_RESTRICTED_XML 2
#define SL_COND_INVALID_NAMESPACE 3
#define SL_COND_POLICY_VIOLATION 4
#define SL_COND_UNSUPPORTED_ENCODING 5

/* ---- limits -------------------------------------------------------------- */
/*
 * A stanza (a depth-1 element) that crosses one of the first four limits is
 * skipped, not fatal: the tokenizer drops it whole, still checks the rest of
 * it for well-formedness (a fault inside it ends the stream as anywhere
 * else), and reports it as one SL_EV_SKIP event when its end tag arrives.
 * The prolog + stream header crossing a limit is a policy-violation stream
 * error, and so is a skipped stanza growing past max_skip_bytes.
 */
typedef struct sl_limits {
    uint32_t max_stanza_bytes; /* raw bytes of one stanza, '<' to '>' inclusive;
                                  also bounds the prolog + stream header.
                                  default 1048576 (SL_DEFAULT_MAX_STANZA_BYTES) */
    uint32_t max_depth;        /* element nesting; the stanza element is depth 1.
                                  default 64 */
    uint32_t max_attrs;        /* attributes per element, namespace declarations
                                  included. default 64 */
    uint32_t max_name_len;     /* bytes of a qualified name as written
                                  (prefix:local). default 256 */
    uint32_t max_skip_bytes;   /* the hard cap: raw bytes of a stanza being
                                  skipped (counted from its '<' like
                                  max_stanza_bytes); byte max_skip_bytes + 1 is a
                                  policy-violation stream error.  At least
                                  max_stanza_bytes.  default 4194304 */
} sl_limits;

#define SL_DEFAULT_MAX_STANZA_BYTES 1048576
#define SL_DEFAULT_MAX_SKIP_BYTES 4194304

/* which limit a skipped stanza crossed first (sl_event.limit) */
#define SL_LIMIT_STANZA_BYTES 1
#define SL_LIMIT_DEPTH 2
#define SL_LIMIT_ATTRS 3
#define SL_LIMIT_NAME_LEN 4

void sl_limits_default(sl_limits *limits);

/* ---- output: events, nodes, string pool ---------------------------------- */
#define SL_EV_OPEN 1
#define SL_EV_STANZA 2
#define SL_EV_CLOSE 3
#define SL_EV_SKIP 4

typedef struct sl_event {
    uint32_t kind;       /* SL_EV_* */
    uint32_t node_start; /* first node of this event in the node table */
    uint32_t node_count; /* nodes belonging to this event (0 for CLOSE) */
    uint32_t pool_start; /* first byte of this event's strings in the pool */
    uint32_t pool_len;   /* bytes of pool used by this event */
    uint32_t tag_id;     /* SL_EV_STANZA: a small number (1..SL_TAG_IDS) naming the
                            stanza element's namespace + local name, the same
                            number for the same name for the life of the handle
                            (resets included), so a binding can cache the tag
                            string; 0 when not numbered (long names, or after
                            SL_TAG_IDS different names).  Zero for other events. */
    uint32_t limit;      /* SL_EV_SKIP: the SL_LIMIT_* crossed first, in document
                            order; zero for other events */
    uint64_t byte_start; /* stream offset of the event's first byte ('<') */
    uint64_t byte_end;   /* stream offset one past its last byte ('>') */
} sl_event;

/* how many different stanza names get a tag_id */
#define SL_TAG_IDS 32

#define SL_NODE_ELEM 1   /* an element; its attributes follow it directly */
#define SL_NODE_ATTR 2   /* an attribute of the preceding element */
#define SL_NODE_TEXT 3   /* character data (merged: never two TEXT in a row) */
#define SL_NODE_NSDECL 4 /* a namespace declaration; only in SL_EV_OPEN */

/*
 * Nodes of one event are in document order (pre-order).  All indices are
 * relative to the event's node_start, all string offsets relative to its
 * pool_start, so an event can be sliced out and kept on its own.
 * Strings are UTF-8, fully decoded (references resolved, line ends and
 * attribute whitespace normalised), not NUL-terminated.
 *
 *   kind    next                      ns_*            name_*        val_*
 *   ELEM    index one past subtree    namespace name  local name    val_off = number of
 *                                     (len 0: none)                 ATTR/NSDECL nodes after it
 *   ATTR    own index + 1             namespace name  local name    value
 *   TEXT    own index + 1             0, 0            0, 0          character data
 *   NSDECL  own index + 1             0, 0            prefix        namespace name
 *                                                     (len 0: default)
 *
 * Text before an element's first child element is its "text"; text after
 * a child's subtree (before the next sibling or the parent's end) is that
 * child's "tail", exactly as in xml.etree.ElementTree.
 *
 * Skipped stanzas: an SL_EV_SKIP event's nodes are one ELEM, the stanza
 * element's namespace and local name (both empty when the stanza's start
 * tag was not read whole within max_stanza_bytes), followed by an ATTR node
 * for each of its unprefixed "from", "to", "id" and "type" attributes, in
 * document order (none when the start tag was not read; all of them also
 * when the start tag itself crossed max_attrs or max_name_len).  Its
 * byte_start is the stanza's '<', its byte_end one past its last '>', its
 * limit the SL_LIMIT_* crossed first.  The stanza's content is checked as
 * XML like any other; max_depth, max_attrs and max_name_len no longer apply
 * inside it, max_skip_bytes does.  While skipping, the handle keeps the
 * names and namespace declarations of the open elements (and the current
 * start tag), not the text or the nodes: its memory grows with the
 * skipped stanza's markup, up to a small multiple of max_skip_bytes, and
 * is released when the stanza ends.
 */
typedef struct sl_node {
    uint32_t kind;
    uint32_t next;
    uint32_t ns_off, ns_len;
    uint32_t name_off, name_len;
    uint32_t val_off, val_len;
} sl_node;

typedef struct sl_error {
    int condition;        /* SL_COND_* */
    uint64_t byte_offset; /* stream offset of the byte where it was found */
    uint32_t line;        /* 1-based */
    uint32_t column;      /* 1-based, in bytes */
    const char *message;  /* NUL-terminated, valid until the next feed/reset/free */
} sl_error;

/* ---- the tokenizer --------------------------------------------------------- */
typedef struct sl_tok sl_tok;

/* NULL limits means defaults.  Returns NULL when out of memory, when a
 * limit is zero, or when max_skip_bytes < max_stanza_bytes. */
sl_tok *sl_tok_new(const sl_limits *limits);
void sl_tok_free(sl_tok *tok);

/* Forget the stream (a restart after STARTTLS or SASL success): the next
 * byte fed is byte 0 of a new stream.  Only between feeds.  Keeps limits
 * and releases memory above the steady-state size. */
void sl_tok_reset(sl_tok *tok);

/*
 * Feed a chunk.  Processes bytes until the chunk ends, an error is found,
 * or max_events events have been produced (0: no such limit; a session
 * negotiating TLS/SASL feeds with 1 so it can reset after <proceed/> or
 * <success/> and feed the rest to the new stream).
 * *consumed (may be NULL) gets the number of bytes taken from data; bytes
 * after an error or beyond max_events are not consumed.
 *
 * Returns the number of events now in the arena (>= 0), or <0.  On
 * SL_E_STREAM the events completed before the fault stay readable and
 * sl_tok_error() describes the fault; further feeds return SL_E_STATE.
 * The arena (events, nodes, pool) is replaced by the next feed or reset.
 * A stanza is delivered by the call that supplies its last byte.  The
 * start of a tag cut by the end of data (at most 512 bytes, none of them
 * at fault) may be held in the handle, counted as consumed, and read whole
 * with the next chunk; a reset drops it with the rest of the stream.
 */
int sl_tok_feed(sl_tok *tok, const uint8_t *data, size_t len,
                uint32_t max_events, size_t *consumed);

const sl_event *sl_tok_events(const sl_tok *tok, uint32_t *count);
const sl_node *sl_tok_nodes(const sl_tok *tok, uint32_t *count);
const uint8_t *sl_tok_pool(const sl_tok *tok, uint32_t *len);
const sl_error *sl_tok_error(const sl_tok *tok); /* NULL when no error */

/*
 * The arena in one piece, for a binding that copies it out once per feed:
 * after sl_tok_feed() (any result, SL_E_STREAM included), the completed
 * events in a compact form, then their nodes, then their pool bytes, one
 * after the other in a buffer owned by the handle (valid until the next
 * feed, reset or free).  Each packed event is SL_PACKED_WORDS uint32:
 *
 *   head,  node_start,  node_count,  pool_start
 *
 * head is the event's tag_id (1..SL_TAG_IDS) for a stanza whose name is
 * numbered, else SL_TAG_IDS + kind (SL_EV_OPEN, SL_EV_STANZA, SL_EV_CLOSE,
 * SL_EV_SKIP; a skip's limit and byte range are in sl_tok_events()):
 * always below 256, so a binding can index a small table with it;
 * with node_start counted from the first packed node and pool_start from
 * the first pool byte (at pool_off).  Returns 0, or SL_E_NOMEM.
 */
#define SL_PACKED_WORDS 4
typedef struct sl_packed {
    const char *data;
    uint32_t events;   /* number of events */
    uint32_t nodes_off; /* byte offset of the nodes (events * SL_PACKED_WORDS * 4) */
    uint32_t pool_off; /* byte offset of the pool */
    uint32_t size;     /* total bytes: a multiple of 4 (zero bytes after the pool) */
} sl_packed;

int sl_tok_pack(sl_tok *tok, sl_packed *out);

/* sl_tok_feed() and, when it completed events (a result > 0, or
 * SL_E_STREAM), sl_tok_pack() into *out in the same call.  Returns what
 * sl_tok_feed() returned, or SL_E_NOMEM when packing failed (the handle is
 * then failed). */
int sl_tok_feed_pack(sl_tok *tok, const uint8_t *data, size_t len, uint32_t max_events,
                     size_t *consumed, sl_packed *out);

/* Total bytes currently held by the handle (arena, stacks, pool): for the
 * memory benchmark and for tests that check the bounds. */
size_t sl_tok_memory(const sl_tok *tok);

/* Name of a condition, e.g. "not-well-formed"; "" for SL_COND_NONE. */
const char *sl_condition_name(int condition);

/* ---- escaping for the serializer ------------------------------------------- */
/* Escape UTF-8 text for XML character data (attr == 0: & < > and CR, which
 * a parser would otherwise read back as LF) or for a double-quoted attribute
 * value (attr != 0: & < > " and TAB LF CR as character references).  Writes at most cap bytes to out and returns the
 * number of bytes the full result needs (call again with a larger buffer
 * when the result is > cap).  Input is not validated here. */
size_t sl_escape(const uint8_t *in, size_t len, uint8_t *out, size_t cap, int attr);

#ifdef __cplusplus
}
#endif
#endif /* STANZALINK_TOKENIZER_H */
