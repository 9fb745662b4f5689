/* Part of the tokenizer unit (src/tokenizer.c): the handle and its records.
 * Constants, the lexer's states, the attribute, binding and frame records,
 * and struct sl_tok itself.  Private: nothing here is API. */
#ifndef SL_TOKENIZER_TOK_H
#define SL_TOKENIZER_TOK_H

#include <stdint.h>

#include "stanzalink/tokenizer.h"


#define NONE 0xFFFFFFFFu
/* The tail of a chunk that is the start of a tag, complete and plain as far
 * as it goes, is held back (at most CARRY_MAX bytes) and tokenized with the
 * next chunk's first bytes, so that a tag cut by a chunk boundary still
 * takes the fast path instead of the byte-at-a-time state machine. */
#define CARRY_CAP 1024
#define CARRY_MAX 512
#define TAG_ID_MAX 96 /* bytes of namespace + local name that get a tag_id */
#define STREAM_NS "http://etherx.jabber.org/streams"
#define XML_NS "http://www.w3.org/XML/1998/namespace"
#define XMLNS_NS "http://www.w3.org/2000/xmlns/"

/* ------------------------------------------------------------------ states */
enum {
    ST_START,      /* offset 0 */
    ST_START_FE,   /* saw FE at offset 0 */
    ST_START_FF,   /* saw FF at offset 0 */
    ST_START_LT,   /* saw '<' at offset 0 */
    ST_MISC,       /* prolog, between stanzas, after the root: whitespace */
    ST_LT,         /* after '<' */
    ST_LT_BANG,    /* after '<!' */
    ST_LT_BANG_DASH,
    ST_COMMENT,
    ST_COMMENT_D1, /* after '-' in a comment */
    ST_COMMENT_D2, /* after '--' */
    ST_CDATA_OPEN, /* matching "[CDATA[" */
    ST_CDATA,
    ST_DT_KW,      /* matching "DOCTYPE" */
    ST_DT_S1,      /* whitespace before the name */
    ST_DT_NAME,
    ST_DT_AFTER_NAME,
    ST_DT_KW2,     /* SYSTEM / PUBLIC */
    ST_DT_S2,
    ST_DT_LIT,
    ST_DT_AFTER_LIT,
    ST_DT_JUNK_LIT, /* a literal where none may be: a fault when it ends */
    ST_PI_TARGET,
    ST_PI_S,       /* after the target: whitespace or '?' */
    ST_PI_BODY,
    ST_PI_Q,       /* '?' inside a PI */
    ST_STAG_NAME,
    ST_STAG_WS,    /* inside a start tag after whitespace */
    ST_STAG_AFTER, /* after the name or a value: needs whitespace, '>' or '/' */
    ST_STAG_SLASH,
    ST_ATTR_NAME,
    ST_ATTR_EQ,    /* whitespace before '=' */
    ST_ATTR_Q,     /* whitespace after '=' before the quote */
    ST_ATTR_VAL,
    ST_ETAG_NAME,
    ST_ETAG_WS,
    ST_TEXT,
    ST_REF,        /* after '&' */
    ST_REF_NAME,
    ST_REF_HASH,
    ST_REF_DEC,
    ST_REF_HEX0,
    ST_REF_HEX,
    ST_UTF8,       /* collecting the rest of a multi-byte character */
    ST_AFTER_CLOSE,
    ST_DONE_ERR
};

/* name scanning contexts (what a name belongs to) */
enum { NM_ELEM, NM_ATTR, NM_ETAG, NM_PI, NM_DT, NM_REF };

/* ------------------------------------------------------------------ data */
typedef struct {
    uint32_t qoff, qlen;  /* qname in the pool (relative to the unit) */
    uint32_t colon;       /* index of ':' in the qname, NONE if none */
    uint32_t voff, vlen;  /* value in the pool */
    uint32_t hash;
    uint32_t is_decl;     /* a namespace declaration (set at the tag's end) */
    uint32_t has_ref;     /* fast_start_tag: the value had references (decoded in the pool) */
} attr_rec;

typedef struct {
    uint32_t poff, plen;  /* prefix in nsbuf */
    uint32_t uoff, ulen;  /* namespace name in nsbuf */
    uint32_t gen;         /* unit generation of the pool copy below */
    uint32_t pool_off;    /* copy of the namespace name in the unit pool */
    uint32_t prev;        /* while skipping with many bindings (bix): the binding of
                             the same prefix it hides, NONE if none */
    uint32_t hash;        /* ... and its prefix's hash */
} binding;

typedef struct {
    uint32_t node;        /* ELEM node, relative to the unit */
    uint32_t qoff, qlen;  /* qname in the pool (the root's is in rootq) */
    uint32_t nbind;       /* bindings in scope before this element */
    uint32_t defb;        /* the default namespace's binding before it (see sl_tok.defb) */
    uint32_t nsbuf_len;   /* nsbuf length before this element */
} frame;

struct sl_tok {
    sl_limits lim;
    /* output arena */
    sl_event *ev;
    uint32_t ev_n, ev_cap;
    sl_node *nodes;
    uint32_t node_n, node_cap;
    uint8_t *pool;
    uint32_t pool_n, pool_cap;
    /* the unit being built (header or stanza) */
    int in_unit;
    uint64_t unit_start;
    uint64_t unit_limit;  /* the unit's first byte too many: unit_start + max_stanza_bytes,
                             + max_skip_bytes while skipping */
    uint32_t u_node0, u_pool0, unit_gen;
    uint32_t text_node;   /* open TEXT node (relative) or NONE */
    /* element stack and namespaces */
    frame *stack;
    uint32_t stack_cap;   /* frames allocated: max_depth + 2 */
    uint32_t depth;
    binding *binds;
    uint32_t nbind, bind_cap;
    uint32_t defb;        /* index of the binding of the default namespace in scope, NONE if none */
    uint8_t *nsbuf;
    uint32_t nsbuf_len, nsbuf_cap;
    uint8_t *rootq;
    uint32_t rootq_len;
    /* the start tag being scanned */
    attr_rec *attrs;
    uint32_t nattr, attr_cap;
    uint32_t tag_qoff, tag_qlen, tag_colon;
    uint32_t *hashtab;
    uint32_t hash_cap, hash_mask;
    /* a stanza being skipped (see tokenizer.h): the limit it crossed, and
     * its tag and from/to/id/type for the SL_EV_SKIP event (bytes in skb:
     * namespace, local name, then the values) */
    int skip;
    uint32_t skip_limit;
    uint32_t plain_max;   /* plain_start_tag takes tags below this depth (0 while skipping) */
    uint8_t *skb;
    uint32_t skb_n, skb_cap;
    uint32_t sk_ns_len, sk_name_len, sk_nattr;
    uint8_t sk_which[4];  /* index into SK_NAMES of each kept attribute, in document order */
    uint32_t sk_vlen[4];
    /* the elements opened while skipping, at stack index sk_base and up:
     * 4 bytes each (the name's length, SK_BOUND when it declared namespaces,
     * then 3 words of the scope to restore are on sk_bf), the names one
     * after the other at the end of the unit's pool */
    uint32_t sk_base;
    uint32_t *sk_stack;
    uint32_t sk_cap;
    uint32_t *sk_bf;
    uint32_t sk_bf_n, sk_bf_cap;
    /* while skipping with more than BIX_MIN bindings in scope: the innermost
     * binding of each prefix, by a hash of the prefix (open addressing), so
     * that a lookup does not scan them all */
    int bix_on;
    uint32_t *bix;
    uint32_t bix_cap, bix_n;
    /* lexer */
    int st;
    int ret_st;           /* state to return to after a reference / UTF-8 char */
    int nm_ctx;           /* what the current name belongs to */
    uint32_t nm_len;      /* bytes of the current name so far */
    uint32_t nm_colon;    /* position of ':' in the name, NONE if none */
    int nm_after_colon;   /* the previous char was the colon */
    uint8_t quote;        /* attribute value / literal quote */
    uint8_t pending_cr;   /* a CR was turned into LF/space: skip a following LF */
    uint8_t rsqb;         /* consecutive ']' in text */
    uint8_t at_start_decl;/* the PI being scanned is at offset 0 */
    uint8_t pi_tq;        /* '?' right after the PI target: only '>' may follow */
    uint32_t match_i;     /* progress in a fixed keyword */
    const char *match_kw;
    int dt_public;        /* DOCTYPE: PUBLIC needs two literals */
    int dt_lits;
    int dt_ws;            /* whitespace seen after the last literal */
    int in_attr_ref;      /* the reference is inside an attribute value */
    uint32_t ref_val;     /* numeric reference value */
    int ref_digits;
    uint8_t refname[16];
    uint32_t ref_len;
    int ref_depth1;       /* the reference is character data between stanzas */
    uint32_t etag_pos;    /* bytes of the end tag name matched */
    int etag_bad;         /* the end tag's name does not match (told at '>') */
    uint8_t u8[4];
    int u8_have, u8_need;
    uint8_t u8_lo, u8_hi; /* allowed range of the next continuation byte */
    uint8_t *decl;        /* XML declaration body */
    uint32_t decl_len, decl_cap;
    int is_decl;
    /* position */
    uint64_t base;        /* stream offset of the current chunk's first byte */
    uint64_t line_start;
    uint32_t line;
    int failed, closed, seen_root;
    sl_error err;
    char msg[200];
    /* stanza names numbered for sl_event.tag_id (kept across resets) */
    uint32_t tag_n;
    uint32_t tag_key[SL_TAG_IDS];
    uint8_t tag_buf[SL_TAG_IDS][TAG_ID_MAX];
    /* sl_tok_pack's buffer */
    uint8_t *pack;
    uint32_t pack_cap;
    /* a tag cut by the end of a chunk, held for the next feed (see
     * sl_tok_feed_append); more: the fast tag path ran out of input with
     * every byte so far accepted */
    int more, no_carry;
    uint32_t carry_n;
    uint8_t carry[CARRY_CAP];
};

#endif
