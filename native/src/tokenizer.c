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

/* ------------------------------------------------------------------ classes */
/* sl_text_plain, sl_attr_plain and sl_name_cls: generated const tables
 * (chartab.h, see tools/gen_chartab.py) */

#define IS_WS(c) ((c) == ' ' || (c) == '\t' || (c) == '\n' || (c) == '\r')

/* ------------------------------------------------------------------ run scanning */
/* skip_run(p, end, a, b, c, d, plain): the first byte in [p, end) that is
 * a, b, c or d, below 0x20 or at least 0x80, or end.  Such a byte may still
 * be plain for the caller (a TAB in text, the other quote in a value): the
 * caller looks at it with its table.  Sixteen bytes at a time with SSE2 or
 * NEON, eight at a time in a uint64_t otherwise; SL_NO_SIMD forces the
 * portable path (the tests build it too). */
#if !defined(SL_NO_SIMD) && defined(__SSE2__)
#include <emmintrin.h>
#define SL_SCAN_SSE2 1
#elif !defined(SL_NO_SIMD) && defined(__ARM_NEON)
#include <arm_neon.h>
#define SL_SCAN_NEON 1
#endif

#define SWAR_ONES 0x0101010101010101ull
#define SWAR_HIGH 0x8080808080808080ull
/* nonzero when some byte of x equals the byte v (exact as a yes/no) */
#define SWAR_HAS(x, v) ((((x) ^ (SWAR_ONES * (v))) - SWAR_ONES) & ~((x) ^ (SWAR_ONES * (v))) & SWAR_HIGH)
/* nonzero when some byte of x is below 0x20 or at least 0x80 (exact as a yes/no:
 * a borrow only leaves a byte that is below 0x20 itself) */
#define SWAR_CTL_OR_HIGH(x) ((((x) - SWAR_ONES * 0x20u) | (x)) & SWAR_HIGH)

static inline const uint8_t *skip_run(const uint8_t *p, const uint8_t *end, uint8_t a, uint8_t b,
                                      uint8_t c, uint8_t d) {
#if defined(SL_SCAN_SSE2)
    const __m128i va = _mm_set1_epi8((char)a), vb = _mm_set1_epi8((char)b);
    const __m128i vc = _mm_set1_epi8((char)c), vd = _mm_set1_epi8((char)d);
    const __m128i lo = _mm_set1_epi8(0x20);
    while (end - p >= 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
        /* signed compare: bytes >= 0x80 are negative, so below 0x20 too */
        __m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, va), _mm_cmpeq_epi8(v, vb)),
                                 _mm_or_si128(_mm_cmpeq_epi8(v, vc), _mm_cmpeq_epi8(v, vd)));
        unsigned mask = (unsigned)_mm_movemask_epi8(_mm_or_si128(m, _mm_cmplt_epi8(v, lo)));
        if (mask) return p + __builtin_ctz(mask);
        p += 16;
    }
#elif defined(SL_SCAN_NEON)
    const uint8x16_t va = vdupq_n_u8(a), vb = vdupq_n_u8(b), vc = vdupq_n_u8(c), vd = vdupq_n_u8(d);
    const int8x16_t lo = vdupq_n_s8(0x20);
    while (end - p >= 16) {
        uint8x16_t v = vld1q_u8(p);
        uint8x16_t m = vorrq_u8(vorrq_u8(vceqq_u8(v, va), vceqq_u8(v, vb)),
                                vorrq_u8(vceqq_u8(v, vc), vceqq_u8(v, vd)));
        uint64x2_t m64;
        m = vorrq_u8(m, vcltq_s8(vreinterpretq_s8_u8(v), lo));
        m64 = vreinterpretq_u64_u8(m);
        if (vgetq_lane_u64(m64, 0) | vgetq_lane_u64(m64, 1)) {
            /* found in these 16: the first one byte by byte */
            while (*p != a && *p != b && *p != c && *p != d && *p >= 0x20 && *p < 0x80) p++;
            return p;
        }
        p += 16;
    }
#endif
    while (end - p >= 8) {
        uint64_t x;
        memcpy(&x, p, 8);
        if (SWAR_CTL_OR_HIGH(x) | SWAR_HAS(x, a) | SWAR_HAS(x, b) | SWAR_HAS(x, c) | SWAR_HAS(x, d)) break;
        p += 8;
    }
    while (p < end && *p != a && *p != b && *p != c && *p != d && *p >= 0x20 && *p < 0x80) p++;
    return p;
}

/* skip_name(p, end): the first byte in [p, end) that cannot continue an
 * ASCII name (A-Z a-z 0-9 . - _; the colon and non-ASCII bytes stop it),
 * or end.  One branch per sixteen bytes where vectors are available; the
 * names in XMPP are short, so the usual cost is one vector and no loop. */
static inline const uint8_t *skip_name(const uint8_t *p, const uint8_t *end) {
#if defined(SL_SCAN_SSE2)
    /* unsigned range tests with signed compares: x - lo - 128 < n - 128 */
#define SL_IN_RANGE(x, lo, n) \
    _mm_cmplt_epi8(_mm_add_epi8((x), _mm_set1_epi8((char)(-(lo)-128))), _mm_set1_epi8((char)((n)-128)))
    while (end - p >= 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
        __m128i ok = _mm_or_si128(
            _mm_or_si128(SL_IN_RANGE(_mm_or_si128(v, _mm_set1_epi8(0x20)), 'a', 26), SL_IN_RANGE(v, '0', 10)),
            _mm_or_si128(SL_IN_RANGE(v, '-', 2), _mm_cmpeq_epi8(v, _mm_set1_epi8('_'))));
        unsigned mask = ~(unsigned)_mm_movemask_epi8(ok) & 0xFFFFu;
        if (mask) return p + __builtin_ctz(mask);
        p += 16;
    }
#undef SL_IN_RANGE
#elif defined(SL_SCAN_NEON)
    while (end - p >= 16) {
        uint8x16_t v = vld1q_u8(p);
        uint8x16_t ok = vorrq_u8(vorrq_u8(vcltq_u8(vsubq_u8(vorrq_u8(v, vdupq_n_u8(0x20)), vdupq_n_u8('a')),
                                                   vdupq_n_u8(26)),
                                          vcltq_u8(vsubq_u8(v, vdupq_n_u8('0')), vdupq_n_u8(10))),
                                 vorrq_u8(vcltq_u8(vsubq_u8(v, vdupq_n_u8('-')), vdupq_n_u8(2)),
                                          vceqq_u8(v, vdupq_n_u8('_'))));
        /* four bits per byte: the first byte that is not ok */
        uint64_t bits = ~vget_lane_u64(vreinterpret_u64_u8(vshrn_n_u16(vreinterpretq_u16_u8(ok), 4)), 0);
        if (bits) return p + (__builtin_ctzll(bits) >> 2);
        p += 16;
    }
#endif
    while (p < end && sl_name_cls[*p]) p++;
    return p;
}

#define SKIP_TEXT(p, end) skip_run((p), (end), '<', '&', ']', '<')
#define SKIP_ATTR(p, end) skip_run((p), (end), '"', '\'', '<', '&')

/* ------------------------------------------------------------------ helpers */
static int grow(void **buf, uint32_t *cap, uint32_t need, size_t elem) {
    uint32_t n;
    void *nb;
    if (need <= *cap && *buf) return 0;
    n = *cap ? *cap : 16;
    while (n < need) {
        if (n > 0x7FFFFFFFu / 2) return -1;
        n *= 2;
    }
    nb = realloc(*buf, (size_t)n * elem);
    if (!nb) return -1;
    *buf = nb;
    *cap = n;
    return 0;
}

#define POS(t, p, data) ((t)->base + (uint64_t)((p) - (data)))

static int fail(sl_tok *t, int cond, uint64_t at, const char *msg) {
    t->failed = 1;
    t->st = ST_DONE_ERR;
    t->err.condition = cond;
    t->err.byte_offset = at;
    t->err.line = t->line;
    t->err.column = (uint32_t)(at >= t->line_start ? at - t->line_start + 1 : 1);
    strncpy(t->msg, msg, sizeof t->msg - 1);
    t->msg[sizeof t->msg - 1] = 0;
    t->err.message = t->msg;
    return SL_E_STREAM;
}

/* A not-well-formed fault at stream offset at (what most rules report). */
static int nwf(sl_tok *t, uint64_t at, const char *msg) { return fail(t, SL_COND_NOT_WELL_FORMED, at, msg); }

static inline int pool_put(sl_tok *t, const uint8_t *s, uint32_t n) {
    if (t->pool_n + n > t->pool_cap || !t->pool) {
        if (t->pool_n + n < t->pool_n) return SL_E_NOMEM;
        if (grow((void **)&t->pool, &t->pool_cap, t->pool_n + n, 1)) return SL_E_NOMEM;
    }
    memcpy(t->pool + t->pool_n, s, n);
    t->pool_n += n;
    return 0;
}

static inline uint32_t prel(const sl_tok *t) { return t->pool_n - t->u_pool0; }
static inline uint8_t *pabs(const sl_tok *t, uint32_t rel) { return t->pool + t->u_pool0 + rel; }

static inline sl_node *new_node(sl_tok *t, uint32_t kind) {
    sl_node *n;
    if (t->node_n + 1 > t->node_cap || !t->nodes)
        if (grow((void **)&t->nodes, &t->node_cap, t->node_n + 1, sizeof(sl_node))) return NULL;
    n = &t->nodes[t->node_n];
    memset(n, 0, sizeof *n);
    n->kind = kind;
    n->next = t->node_n - t->u_node0 + 1;
    t->node_n++;
    return n;
}

#if defined(__GNUC__)
#define SL_ALWAYS_INLINE __attribute__((always_inline))
#else
#define SL_ALWAYS_INLINE
#endif

/* (inlined: the fast text path calls it once per run) */
static inline SL_ALWAYS_INLINE int text_append(sl_tok *t, const uint8_t *s, uint32_t n) {
    if (t->skip) return 0; /* a skipped stanza keeps no text */
    if (t->text_node == NONE) {
        sl_node *nd = new_node(t, SL_NODE_TEXT);
        if (!nd) return SL_E_NOMEM;
        nd->val_off = prel(t);
        t->text_node = t->node_n - 1 - t->u_node0;
    }
    if (pool_put(t, s, n)) return SL_E_NOMEM;
    t->nodes[t->u_node0 + t->text_node].val_len += n;
    return 0;
}

static int is_char(uint32_t cp) {
    if (cp < 0x20) return cp == 9 || cp == 10 || cp == 13;
    if (cp < 0xD800) return 1;
    if (cp < 0xE000) return 0;
    if (cp < 0xFFFE) return 1;
    if (cp < 0x10000) return 0;
    return cp <= 0x10FFFF;
}

static int utf8_encode(uint32_t cp, uint8_t *out) {
    if (cp < 0x80) { out[0] = (uint8_t)cp; return 1; }
    if (cp < 0x800) { out[0] = (uint8_t)(0xC0 | (cp >> 6)); out[1] = (uint8_t)(0x80 | (cp & 0x3F)); return 2; }
    if (cp < 0x10000) {
        out[0] = (uint8_t)(0xE0 | (cp >> 12));
        out[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (uint8_t)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (uint8_t)(0xF0 | (cp >> 18));
    out[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (uint8_t)(0x80 | (cp & 0x3F));
    return 4;
}

/* Start a multi-byte sequence with lead byte c: sets need/range; 0 if c is
 * not a valid lead byte. */
static int u8_lead(sl_tok *t, uint8_t c) {
    t->u8[0] = c;
    t->u8_have = 1;
    t->u8_lo = 0x80;
    t->u8_hi = 0xBF;
    if (c >= 0xC0 && c <= 0xDF) t->u8_need = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        t->u8_need = 3;
        if (c == 0xE0) t->u8_lo = 0xA0;
        if (c == 0xED) t->u8_hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        t->u8_need = 4;
        if (c == 0xF0) t->u8_lo = 0x90;
        if (c == 0xF4) t->u8_hi = 0x8F;
    } else return 0;
    return 1;
}

static uint32_t u8_value(const uint8_t *b, int n) {
    if (n == 2) return ((uint32_t)(b[0] & 0x1F) << 6) | (b[1] & 0x3F);
    if (n == 3) return ((uint32_t)(b[0] & 0x0F) << 12) | ((uint32_t)(b[1] & 0x3F) << 6) | (b[2] & 0x3F);
    return ((uint32_t)(b[0] & 0x07) << 18) | ((uint32_t)(b[1] & 0x3F) << 12) |
           ((uint32_t)(b[2] & 0x3F) << 6) | (b[3] & 0x3F);
}

/* Decode a complete sequence in place: >0 length, 0 incomplete (valid so
 * far, the chunk ends), -1 invalid. */
static int u8_decode(const uint8_t *p, const uint8_t *end, uint32_t *cp) {
    uint8_t c = p[0], lo = 0x80, hi = 0xBF;
    int n, i;
    if (c >= 0xC0 && c <= 0xDF) n = 2; /* C0, C1: overlong, judged when complete */
    else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else return -1;
    /* like libexpat, judge a character only once all its bytes are here */
    if (end - p < n) return 0;
    if (c < 0xC2) return -1;
    for (i = 1; i < n; i++) {
        if (p[i] < lo || p[i] > hi) return -1;
        lo = 0x80;
        hi = 0xBF;
    }
    *cp = u8_value(p, n);
    return n;
}

/* The length of a complete 2- or 3-byte character at p that is surely an
 * XML Char (U+0080..U+07FF, U+1000..U+CFFF, U+E000..U+EFFF), else 0: the
 * common case, decided without u8_decode.  Everything else (E0, ED, EF,
 * 4-byte forms, faults) goes to u8_decode. */
static inline int u8_common(const uint8_t *p, const uint8_t *end) {
    uint8_t c = p[0];
    if (c >= 0xC2 && c <= 0xDF) return end - p >= 2 && (p[1] & 0xC0) == 0x80 ? 2 : 0;
    if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE)
        return end - p >= 3 && (p[1] & 0xC0) == 0x80 && (p[2] & 0xC0) == 0x80 ? 3 : 0;
    return 0;
}

/* A code point u8_decode returned (never a surrogate, at most U+10FFFF) is
 * an XML Char unless it is U+FFFE or U+FFFF. */
#define U8_IS_CHAR(cp) ((cp) < 0xFFFE || (cp) > 0xFFFF)

/* Validate a collected sequence (lead byte in b[0]). */
static int u8_valid(const uint8_t *b, int n) {
    uint32_t cp;
    return u8_decode(b, b + n, &cp) == n;
}

static uint32_t fnv(const uint8_t *s, uint32_t n, uint32_t h) {
    uint32_t i;
    for (i = 0; i < n; i++) h = (h ^ s[i]) * 16777619u;
    return h;
}

/* ------------------------------------------------------------------ lifecycle */
void sl_limits_default(sl_limits *l) {
    l->max_stanza_bytes = SL_DEFAULT_MAX_STANZA_BYTES;
    l->max_depth = 64;
    l->max_attrs = 64;
    l->max_name_len = 256;
    l->max_skip_bytes = SL_DEFAULT_MAX_SKIP_BYTES;
}

static void stream_init(sl_tok *t) {
    t->ev_n = t->node_n = t->pool_n = 0;
    t->in_unit = 1; /* the prolog and header are a unit from byte 0 */
    t->unit_start = 0;
    t->unit_limit = t->lim.max_stanza_bytes;
    t->u_node0 = t->u_pool0 = 0;
    t->unit_gen++;
    t->text_node = NONE;
    t->depth = 0;
    t->nbind = 0;
    t->defb = NONE;
    t->nsbuf_len = 0;
    t->rootq_len = 0;
    t->nattr = 0;
    t->skip = 0;
    t->plain_max = t->lim.max_depth;
    t->st = ST_START;
    t->pending_cr = 0;
    t->rsqb = 0;
    t->u8_have = t->u8_need = 0;
    t->base = 0;
    t->line = 1;
    t->line_start = 0;
    t->failed = t->closed = t->seen_root = 0;
    t->decl_len = 0;
    t->carry_n = 0;
    t->more = t->no_carry = 0;
    memset(&t->err, 0, sizeof t->err);
    t->msg[0] = 0;
}

sl_tok *sl_tok_new(const sl_limits *limits) {
    sl_tok *t;
    sl_limits l;
    if (limits) l = *limits;
    else sl_limits_default(&l);
    if (!l.max_stanza_bytes || !l.max_depth || !l.max_attrs || !l.max_name_len) return NULL;
    if (l.max_skip_bytes < l.max_stanza_bytes) return NULL;
    if (l.max_depth > 1000000u) return NULL;
    t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->lim = l;
    t->stack_cap = l.max_depth + 2;
    t->stack = calloc((size_t)t->stack_cap, sizeof(frame));
    t->rootq = malloc((size_t)l.max_name_len + 1);
    if (!t->stack || !t->rootq) {
        sl_tok_free(t);
        return NULL;
    }
    stream_init(t);
    return t;
}

void sl_tok_free(sl_tok *t) {
    if (!t) return;
    free(t->ev);
    free(t->nodes);
    free(t->pool);
    free(t->stack);
    free(t->binds);
    free(t->nsbuf);
    free(t->rootq);
    free(t->attrs);
    free(t->hashtab);
    free(t->decl);
    free(t->pack);
    free(t->skb);
    free(t->sk_stack);
    free(t->sk_bf);
    free(t->bix);
    free(t);
}

/* release buffers grown far beyond their steady-state size */
static void shrink(void **buf, uint32_t *cap, uint32_t keep) {
    if (*cap > keep) {
        free(*buf);
        *buf = NULL;
        *cap = 0;
    }
}

static void skip_release(sl_tok *t);

void sl_tok_reset(sl_tok *t) {
    t->nbind = t->nsbuf_len = t->pool_n = 0; /* the stream is forgotten: all of it may go */
    skip_release(t);
    shrink((void **)&t->pool, &t->pool_cap, 65536);
    shrink((void **)&t->nodes, &t->node_cap, 4096);
    shrink((void **)&t->ev, &t->ev_cap, 256);
    shrink((void **)&t->attrs, &t->attr_cap, 256);
    shrink((void **)&t->hashtab, &t->hash_cap, 1024);
    shrink((void **)&t->decl, &t->decl_cap, 4096);
    shrink((void **)&t->pack, &t->pack_cap, 262144);
    stream_init(t);
}

size_t sl_tok_memory(const sl_tok *t) {
    return sizeof *t + (size_t)t->ev_cap * sizeof(sl_event) + (size_t)t->node_cap * sizeof(sl_node) +
           t->pool_cap + (size_t)t->stack_cap * sizeof(frame) + t->skb_cap +
           ((size_t)t->sk_cap + t->sk_bf_cap + t->bix_cap) * sizeof(uint32_t) +
           (size_t)t->bind_cap * sizeof(binding) + t->nsbuf_cap + t->lim.max_name_len + 1 +
           (size_t)t->attr_cap * sizeof(attr_rec) + (size_t)t->hash_cap * sizeof(uint32_t) +
           t->decl_cap + t->pack_cap;
}

const char *sl_condition_name(int c) {
    switch (c) {
    case SL_COND_NOT_WELL_FORMED: return "not-well-formed";
    case SL_COND_RESTRICTED_XML: return "restricted-xml";
    case SL_COND_INVALID_NAMESPACE: return "invalid-namespace";
    case SL_COND_POLICY_VIOLATION: return "policy-violation";
    case SL_COND_UNSUPPORTED_ENCODING: return "unsupported-encoding";
    default: return "";
    }
}

const sl_event *sl_tok_events(const sl_tok *t, uint32_t *count) {
    if (count) *count = t->ev_n;
    return t->ev;
}
const sl_node *sl_tok_nodes(const sl_tok *t, uint32_t *count) {
    if (count) *count = t->node_n;
    return t->nodes;
}
const uint8_t *sl_tok_pool(const sl_tok *t, uint32_t *len) {
    if (len) *len = t->pool_n;
    return t->pool;
}
const sl_error *sl_tok_error(const sl_tok *t) { return t->failed ? &t->err : NULL; }
uint32_t sl_tok_event_count(const sl_tok *t) { return t->ev_n; }

int sl_tok_pack(sl_tok *t, sl_packed *out) {
    /* the completed events own nodes [0, u_node0) and pool [0, u_pool0):
     * a unit still open at the end of the feed starts there */
    uint32_t n_ev = t->ev_n, n_nodes = t->u_node0, n_pool = t->u_pool0, i;
    size_t ev_bytes = (size_t)n_ev * SL_PACKED_WORDS * 4, node_bytes = (size_t)n_nodes * sizeof(sl_node);
    /* padded to whole words, so that the whole can be read as uint32 */
    size_t total = (ev_bytes + node_bytes + n_pool + 3) & ~(size_t)3;
    uint32_t *w;
    if (total > 0xFFFFFFFFu) return SL_E_NOMEM;
    if (total > t->pack_cap || !t->pack)
        if (grow((void **)&t->pack, &t->pack_cap, (uint32_t)total, 1)) return SL_E_NOMEM;
    w = (uint32_t *)(void *)t->pack;
    for (i = 0; i < n_ev; i++) {
        const sl_event *e = &t->ev[i];
        w[0] = e->tag_id ? e->tag_id : SL_TAG_IDS + e->kind;
        w[1] = e->node_start;
        w[2] = e->node_count;
        w[3] = e->pool_start;
        w += SL_PACKED_WORDS;
    }
    if (node_bytes) memcpy(t->pack + ev_bytes, t->nodes, node_bytes);
    if (n_pool) memcpy(t->pack + ev_bytes + node_bytes, t->pool, n_pool);
    memset(t->pack + ev_bytes + node_bytes + n_pool, 0, total - (ev_bytes + node_bytes + n_pool));
    out->data = (const char *)t->pack;
    out->events = n_ev;
    out->nodes_off = (uint32_t)ev_bytes;
    out->pool_off = (uint32_t)(ev_bytes + node_bytes);
    out->size = (uint32_t)total;
    return 0;
}

/* ------------------------------------------------------------------ units and events */
/* The tag_id of the unit's first node (the stanza element): a linear
 * search of at most SL_TAG_IDS entries; the key holds both lengths exactly
 * and two bytes, so most entries are rejected before the bytes are compared. */
static uint32_t stanza_tag_id(sl_tok *t) {
    const sl_node *nd = &t->nodes[t->u_node0];
    const uint8_t *ns = pabs(t, nd->ns_off), *loc = pabs(t, nd->name_off);
    uint32_t nl = nd->ns_len, ll = nd->name_len, key, i;
    if (nl + ll > TAG_ID_MAX || ll == 0) return 0;
    key = nl | ll << 8 | (uint32_t)loc[0] << 16 | (uint32_t)(nl ? ns[nl - 1] : 0) << 24;
    for (i = 0; i < t->tag_n; i++)
        if (t->tag_key[i] == key && memcmp(t->tag_buf[i], ns, nl) == 0 &&
            memcmp(t->tag_buf[i] + nl, loc, ll) == 0)
            return i + 1;
    if (t->tag_n == SL_TAG_IDS) return 0;
    t->tag_key[i] = key;
    memcpy(t->tag_buf[i], ns, nl);
    memcpy(t->tag_buf[i] + nl, loc, ll);
    return ++t->tag_n;
}

static int emit(sl_tok *t, uint32_t kind, uint64_t end) {
    sl_event *e;
    if (t->ev_n + 1 > t->ev_cap || !t->ev)
        if (grow((void **)&t->ev, &t->ev_cap, t->ev_n + 1, sizeof(sl_event))) return SL_E_NOMEM;
    e = &t->ev[t->ev_n++];
    memset(e, 0, sizeof *e);
    e->kind = kind;
    if (kind == SL_EV_CLOSE) {
        e->node_start = t->node_n;
        e->pool_start = t->pool_n;
    } else {
        e->node_start = t->u_node0;
        e->node_count = t->node_n - t->u_node0;
        e->pool_start = t->u_pool0;
        e->pool_len = t->pool_n - t->u_pool0;
        if (kind == SL_EV_STANZA) e->tag_id = stanza_tag_id(t);
        if (kind == SL_EV_SKIP) e->limit = t->skip_limit;
    }
    e->byte_start = t->unit_start;
    e->byte_end = end;
    return 0;
}

/* a unit (stanza, closing tag, ...) starts at stream offset at */
static void unit_begin(sl_tok *t, uint64_t at) {
    t->in_unit = 1;
    t->unit_start = at;
    t->unit_limit = at + t->lim.max_stanza_bytes;
    t->u_node0 = t->node_n;
    t->u_pool0 = t->pool_n;
    t->unit_gen++;
    t->text_node = NONE;
}

static void unit_end(sl_tok *t) {
    t->in_unit = 0;
    t->u_node0 = t->node_n;
    t->u_pool0 = t->pool_n;
}

/* ------------------------------------------------------------------ namespaces */
#define BIX_MIN 64

/* the hash of a prefix for bix, seeded per handle (an attacker who cannot
 * see the handle's address cannot make the prefixes collide) */
static inline uint32_t bix_hash(const sl_tok *t, const uint8_t *p, uint32_t n) {
    uint32_t h = fnv(p, n, 2166136261u ^ (uint32_t)((uintptr_t)t >> 4) * 2654435761u);
    return h ^ (h >> 15);
}

/* the slot of prefix p in bix: its entry, or the empty slot it would take */
static uint32_t bix_slot(const sl_tok *t, const uint8_t *p, uint32_t n, uint32_t h) {
    uint32_t mask = t->bix_cap - 1, i = h & mask;
    while (t->bix[i] != NONE) {
        const binding *b = &t->binds[t->bix[i]];
        if (b->hash == h && b->plen == n && memcmp(t->nsbuf + b->poff, p, n) == 0) break;
        i = (i + 1) & mask;
    }
    return i;
}

/* binding idx (the innermost) enters the index, which has room */
static void bix_insert(sl_tok *t, uint32_t idx) {
    binding *b = &t->binds[idx];
    uint32_t slot;
    if (!b->plen) return; /* the default namespace has defb */
    b->hash = bix_hash(t, t->nsbuf + b->poff, b->plen);
    slot = bix_slot(t, t->nsbuf + b->poff, b->plen, b->hash);
    b->prev = t->bix[slot];
    if (b->prev == NONE) t->bix_n++;
    t->bix[slot] = idx;
}

/* (Re)build bix over the bindings in scope: at least cap slots, and at
 * least twice as many as there are bindings. */
static int bix_build(sl_tok *t, uint32_t cap) {
    uint32_t i, *nb;
    while (cap < 2 * (t->nbind + 1)) {
        if (cap > 0x3FFFFFFFu) return SL_E_NOMEM;
        cap *= 2;
    }
    nb = malloc((size_t)cap * sizeof(uint32_t));
    if (!nb) return SL_E_NOMEM;
    free(t->bix);
    t->bix = nb;
    t->bix_cap = cap;
    t->bix_n = 0;
    memset(nb, 0xFF, (size_t)cap * sizeof(uint32_t));
    t->bix_on = 1;
    for (i = 0; i < t->nbind; i++) bix_insert(t, i);
    return 0;
}

/* the binding just declared (the innermost) while skipping */
static int bix_declared(sl_tok *t) {
    if (!t->bix_on) return t->nbind > BIX_MIN ? bix_build(t, 4 * BIX_MIN) : 0;
    if (2 * (t->bix_n + 1) > t->bix_cap) return bix_build(t, t->bix_cap * 2);
    bix_insert(t, t->nbind - 1);
    return 0;
}

/* binding idx (the innermost) leaves: the one it hid comes back, or its
 * slot is emptied (backward shift: no tombstones) */
static void bix_pop(sl_tok *t, uint32_t idx) {
    const binding *b = &t->binds[idx];
    uint32_t mask = t->bix_cap - 1, i, j;
    if (!b->plen) return;
    i = bix_slot(t, t->nsbuf + b->poff, b->plen, b->hash);
    if (b->prev != NONE) {
        t->bix[i] = b->prev;
        return;
    }
    t->bix_n--;
    for (j = (i + 1) & mask; t->bix[j] != NONE; j = (j + 1) & mask) {
        uint32_t home = t->binds[t->bix[j]].hash & mask;
        /* the entry at j may move to i unless its home lies in (i, j] */
        if (i <= j ? (home <= i || home > j) : (home <= i && home > j)) {
            t->bix[i] = t->bix[j];
            i = j;
        }
    }
    t->bix[i] = NONE;
}

/* Leave only the first n bindings in scope (while skipping, bix follows). */
static void bind_truncate(sl_tok *t, uint32_t n) {
    if (t->bix_on)
        while (t->nbind > n) bix_pop(t, --t->nbind);
    t->nbind = n;
}

static binding *find_binding(sl_tok *t, const uint8_t *prefix, uint32_t plen) {
    uint32_t i = t->nbind;
    if (t->bix_on) {
        i = t->bix[bix_slot(t, prefix, plen, bix_hash(t, prefix, plen))];
        return i == NONE ? NULL : &t->binds[i];
    }
    while (i--) {
        binding *b = &t->binds[i];
        if (b->plen == plen && memcmp(t->nsbuf + b->poff, prefix, plen) == 0) return b;
    }
    return NULL;
}

static inline binding *default_binding(const sl_tok *t) {
    return t->defb == NONE ? NULL : &t->binds[t->defb];
}

static int nsbuf_put(sl_tok *t, const uint8_t *s, uint32_t n, uint32_t *off) {
    if (t->nsbuf_len + n > t->nsbuf_cap || !t->nsbuf)
        if (grow((void **)&t->nsbuf, &t->nsbuf_cap, t->nsbuf_len + n, 1)) return SL_E_NOMEM;
    memcpy(t->nsbuf + t->nsbuf_len, s, n);
    *off = t->nsbuf_len;
    t->nsbuf_len += n;
    return 0;
}

/* the namespace name of binding b as a pool offset of the current unit */
/* A binding's namespace name: in the pool of the unit that uses it (a
 * declaration inside a stanza, taken by plain_start_tag, is only there),
 * or in nsbuf. */
static inline const uint8_t *ns_uri(const sl_tok *t, const binding *b) {
    return b->gen == t->unit_gen ? pabs(t, b->pool_off) : t->nsbuf + b->uoff;
}

static inline int ns_in_pool(sl_tok *t, binding *b, uint32_t *off) {
    if (b->gen != t->unit_gen) {
        b->pool_off = prel(t);
        if (pool_put(t, t->nsbuf + b->uoff, b->ulen)) return SL_E_NOMEM;
        b->gen = t->unit_gen;
    }
    *off = b->pool_off;
    return 0;
}


/* ------------------------------------------------------------------ skipped stanzas */
/* The attributes a skip event keeps (unprefixed), by index. */
static const char *const SK_NAMES[4] = {"from", "to", "id", "type"};
static const uint32_t SK_LENS[4] = {4, 2, 2, 4};

static int sk_index(const uint8_t *name, uint32_t len) {
    int i;
    for (i = 0; i < 4; i++)
        if (len == SK_LENS[i] && memcmp(name, SK_NAMES[i], len) == 0) return i;
    return -1;
}

static int sk_put(sl_tok *t, const uint8_t *s, uint32_t n) {
    if (t->skb_n + n > t->skb_cap || !t->skb)
        if (grow((void **)&t->skb, &t->skb_cap, t->skb_n + n, 1)) return SL_E_NOMEM;
    if (n) memcpy(t->skb + t->skb_n, s, n);
    t->skb_n += n;
    return 0;
}

static int sk_attr(sl_tok *t, const uint8_t *name, uint32_t nlen, const uint8_t *v, uint32_t vlen) {
    int k = sk_index(name, nlen);
    if (k < 0 || t->sk_nattr == 4) return 0;
    t->sk_which[t->sk_nattr] = (uint8_t)k;
    t->sk_vlen[t->sk_nattr++] = vlen;
    return sk_put(t, v, vlen);
}

/* Start skipping the current stanza: keep its tag and from/to/id/type
 * (from the start tag whose '>' is being handled when `tag` is set, from
 * the stanza's element node when it is open (depth >= 2), else none),
 * drop its nodes, and let the namespace bindings in scope read their
 * names from nsbuf (the unit's pool now only keeps the open elements'
 * names: it is cut back after each tag). */
typedef struct {
    const uint8_t *ns;
    uint32_t ns_len;
} sk_tag;

static int skip_begin(sl_tok *t, uint32_t limit, const sk_tag *tag) {
    uint32_t i;
    t->skb_n = t->sk_ns_len = t->sk_name_len = t->sk_nattr = 0;
    if (tag) {
        const uint8_t *q = pabs(t, t->tag_qoff);
        uint32_t off = t->tag_colon == NONE ? 0 : t->tag_colon + 1;
        if (sk_put(t, tag->ns, tag->ns_len) || sk_put(t, q + off, t->tag_qlen - off)) return SL_E_NOMEM;
        t->sk_ns_len = tag->ns_len;
        t->sk_name_len = t->tag_qlen - off;
        for (i = 0; i < t->nattr; i++) {
            const attr_rec *a = &t->attrs[i];
            if (a->is_decl || a->colon != NONE) continue;
            if (sk_attr(t, pabs(t, a->qoff), a->qlen, pabs(t, a->voff), a->vlen)) return SL_E_NOMEM;
        }
    } else if (t->depth >= 2) {
        const sl_node *nd = &t->nodes[t->u_node0];
        uint32_t k, n = nd->val_off;
        if (sk_put(t, pabs(t, nd->ns_off), nd->ns_len) || sk_put(t, pabs(t, nd->name_off), nd->name_len))
            return SL_E_NOMEM;
        t->sk_ns_len = nd->ns_len;
        t->sk_name_len = nd->name_len;
        for (k = 1; k <= n; k++) {
            const sl_node *an = nd + k;
            if (an->kind != SL_NODE_ATTR || an->ns_len) continue;
            if (sk_attr(t, pabs(t, an->name_off), an->name_len, pabs(t, an->val_off), an->val_len))
                return SL_E_NOMEM;
        }
    }
    for (i = 0; i < t->nbind; i++) {
        binding *b = &t->binds[i];
        if (b->gen == t->unit_gen && b->uoff != NONE) b->gen = NONE;
    }
    t->node_n = t->u_node0;
    t->text_node = NONE;
    t->skip = 1;
    t->skip_limit = limit;
    t->plain_max = 0;
    t->sk_base = t->depth;
    t->sk_bf_n = 0;
    t->unit_limit = t->unit_start + t->lim.max_skip_bytes;
    return 0;
}

#define SK_BOUND 0x80000000u

/* The name of the innermost open element (depth >= 2). */
static inline const uint8_t *top_name(const sl_tok *t, uint32_t *len) {
    uint32_t i = t->depth - 1;
    if (t->skip && i >= t->sk_base) {
        *len = t->sk_stack[i - t->sk_base] & ~SK_BOUND;
        return t->pool + t->pool_n - *len;
    }
    *len = t->stack[i].qlen;
    return pabs(t, t->stack[i].qoff);
}

/* Give back what a long skip grew (the frames beyond max_depth, a huge
 * tag's attribute table, declarations no longer in scope). */
static void shrink_to(void **buf, uint32_t *cap, uint32_t used, uint32_t keep, size_t elem) {
    void *nb;
    if (*cap <= keep || used > keep || !*buf) return;
    nb = realloc(*buf, (size_t)keep * elem);
    if (!nb) return; /* keeping the larger block is fine */
    *buf = nb;
    *cap = keep;
}

static void skip_release(sl_tok *t) {
    t->skip = 0;
    t->bix_on = 0;
    free(t->bix);
    t->bix = NULL;
    t->bix_cap = t->bix_n = 0;
    t->plain_max = t->lim.max_depth;
    shrink((void **)&t->sk_stack, &t->sk_cap, 4096);
    shrink((void **)&t->sk_bf, &t->sk_bf_cap, 768);
    shrink((void **)&t->attrs, &t->attr_cap, 256);
    shrink((void **)&t->hashtab, &t->hash_cap, 1024);
    shrink_to((void **)&t->binds, &t->bind_cap, t->nbind, 256, sizeof(binding));
    shrink_to((void **)&t->nsbuf, &t->nsbuf_cap, t->nsbuf_len, 4096, 1);
    shrink((void **)&t->skb, &t->skb_cap, 4096);
    shrink_to((void **)&t->pool, &t->pool_cap, t->pool_n, 65536, 1);
}

/* The skipped stanza's end tag (at depth 1 again): its event. */
static int skip_end(sl_tok *t, uint64_t end) {
    sl_node *nd;
    uint32_t i, off;
    t->node_n = t->u_node0;
    t->pool_n = t->u_pool0;
    if (t->skb_n && pool_put(t, t->skb, t->skb_n)) return SL_E_NOMEM;
    if (t->node_n + 1 + t->sk_nattr > t->node_cap || !t->nodes)
        if (grow((void **)&t->nodes, &t->node_cap, t->node_n + 1 + t->sk_nattr, sizeof(sl_node))) return SL_E_NOMEM;
    nd = &t->nodes[t->node_n];
    memset(nd, 0, (1 + (size_t)t->sk_nattr) * sizeof *nd);
    nd->kind = SL_NODE_ELEM;
    nd->next = 1 + t->sk_nattr;
    nd->ns_off = 0;
    nd->ns_len = t->sk_ns_len;
    nd->name_off = t->sk_ns_len;
    nd->name_len = t->sk_name_len;
    nd->val_off = t->sk_nattr;
    off = t->sk_ns_len + t->sk_name_len;
    for (i = 0; i < t->sk_nattr; i++) {
        sl_node *an = nd + 1 + i;
        uint32_t k = t->sk_which[i];
        an->kind = SL_NODE_ATTR;
        an->next = 2 + i;
        an->name_off = prel(t);
        an->name_len = SK_LENS[k];
        an->val_off = off;
        an->val_len = t->sk_vlen[i];
        off += t->sk_vlen[i];
        if (pool_put(t, (const uint8_t *)SK_NAMES[k], SK_LENS[k])) return SL_E_NOMEM;
    }
    t->node_n += 1 + t->sk_nattr;
    if (emit(t, SL_EV_SKIP, end)) return SL_E_NOMEM;
    unit_end(t);
    skip_release(t);
    return 1;
}

/* A start tag inside a skipped stanza, checked: its name stays in the pool
 * for the end tag, the rest of it goes; no nodes. */
static int skip_push(sl_tok *t, uint64_t pos, int empty, uint32_t nbind0, uint32_t nsbuf0, uint32_t defb0) {
    uint32_t i;
    frame *f;
    for (i = nbind0; i < t->nbind; i++) t->binds[i].gen = NONE; /* their names are in nsbuf */
    t->nattr = 0;
    if (empty) {
        t->pool_n = t->u_pool0 + t->tag_qoff;
        bind_truncate(t, nbind0);
        t->nsbuf_len = nsbuf0;
        t->defb = defb0;
        return t->depth == 1 ? skip_end(t, pos + 1) : 0;
    }
    t->pool_n = t->u_pool0 + t->tag_qoff + t->tag_qlen;
    if (t->depth < t->sk_base) {
        /* below where the skip began (its elements were closed): a frame */
        f = &t->stack[t->depth];
        f->node = 0;
        f->qoff = t->tag_qoff;
        f->qlen = t->tag_qlen;
        f->nbind = nbind0;
        f->nsbuf_len = nsbuf0;
        f->defb = defb0;
    } else {
        uint32_t k = t->depth - t->sk_base, bound = t->nbind != nbind0;
        if (k + 1 > t->sk_cap || !t->sk_stack)
            if (grow((void **)&t->sk_stack, &t->sk_cap, k + 1, sizeof(uint32_t))) return SL_E_NOMEM;
        t->sk_stack[k] = t->tag_qlen | (bound ? SK_BOUND : 0);
        if (bound) {
            if (t->sk_bf_n + 3 > t->sk_bf_cap || !t->sk_bf)
                if (grow((void **)&t->sk_bf, &t->sk_bf_cap, t->sk_bf_n + 3, sizeof(uint32_t))) return SL_E_NOMEM;
            t->sk_bf[t->sk_bf_n++] = nbind0;
            t->sk_bf[t->sk_bf_n++] = nsbuf0;
            t->sk_bf[t->sk_bf_n++] = defb0;
        }
    }
    t->depth++;
    return 0;
}

/* An end tag's '>' inside a skipped stanza. */
static int skip_pop(sl_tok *t, uint64_t pos) {
    uint32_t i = --t->depth;
    if (i < t->sk_base) {
        const frame *f = &t->stack[i];
        bind_truncate(t, f->nbind);
        t->nsbuf_len = f->nsbuf_len;
        t->defb = f->defb;
        /* the closed element's name (and whatever followed it) goes */
        t->pool_n = t->u_pool0 + f->qoff;
    } else {
        uint32_t e = t->sk_stack[i - t->sk_base];
        t->pool_n -= e & ~SK_BOUND;
        if (e & SK_BOUND) {
            t->sk_bf_n -= 3;
            bind_truncate(t, t->sk_bf[t->sk_bf_n]);
            t->nsbuf_len = t->sk_bf[t->sk_bf_n + 1];
            t->defb = t->sk_bf[t->sk_bf_n + 2];
        }
    }
    return t->depth == 1 ? skip_end(t, pos + 1) : 0;
}

/* Is the unit at the byte limit a stanza (an element)?  Inside one, or in
 * its start tag at depth 1 (not an end tag, comment, PI or reference). */
static int unit_is_stanza(const sl_tok *t) {
    int st = t->st == ST_UTF8 ? t->ret_st : t->st;
    if (t->depth >= 2) return 1;
    if (t->depth != 1) return 0;
    if (st >= ST_REF && st <= ST_REF_HEX) return t->in_attr_ref;
    return st >= ST_STAG_NAME && st <= ST_ATTR_VAL;
}

/* ------------------------------------------------------------------ start tags */
/* Open addressing over attribute indexes by qualified name; 1 when the
 * attribute duplicates one inserted before. */
static int hash_insert(sl_tok *t, uint32_t idx, uint32_t h) {
    uint32_t mask = t->hash_mask, i = h & mask;
    attr_rec *a = &t->attrs[idx];
    while (t->hashtab[i] != NONE) {
        attr_rec *o = &t->attrs[t->hashtab[i]];
        if (o->hash == h && o->qlen == a->qlen && memcmp(pabs(t, o->qoff), pabs(t, a->qoff), a->qlen) == 0)
            return 1;
        i = (i + 1) & mask;
    }
    t->hashtab[i] = idx;
    return 0;
}

static int prepare_hash(sl_tok *t) {
    uint32_t need = 16;
    while (need < t->nattr * 2 + 2) need *= 2;
    if (need > t->hash_cap) {
        uint32_t *nh = realloc(t->hashtab, (size_t)need * sizeof(uint32_t));
        if (!nh) return SL_E_NOMEM;
        t->hashtab = nh;
        t->hash_cap = need;
    }
    /* only the part in use is cleared: a table grown by one huge tag costs
     * the later small tags nothing */
    t->hash_mask = need - 1;
    memset(t->hashtab, 0xFF, (size_t)need * sizeof(uint32_t));
    return 0;
}

static inline int xmlns_name(const sl_tok *t, const attr_rec *a) {
    const uint8_t *q;
    if (a->colon == NONE ? a->qlen != 5 : a->colon != 5) return 0;
    q = pabs(t, a->qoff);
    return q[0] == 'x' && q[1] == 'm' && q[2] == 'l' && q[3] == 'n' && q[4] == 's';
}

/* The '>' of a start tag (empty: "/>"): namespaces, duplicates, limits,
 * framing, then the nodes. */
static int end_start_tag(sl_tok *t, uint64_t pos, int empty, const uint8_t *data, const uint8_t *p) {
    uint32_t i, ndecl = 0, nbind0 = t->nbind, nsbuf0 = t->nsbuf_len, defb0 = t->defb;
    const uint8_t *q;
    binding *b;
    uint32_t elem_ns_off = 0, elem_ns_len = 0, node_idx;
    sl_node *nd;
    int r, is_stream;
    (void)data;
    (void)p;

    /* 1. duplicate attributes by qualified name: pairwise when few, hashed
     * when many (cost stays linear however many attributes come) */
    uint32_t nprefixed = 0, nlong = 0, ndecls = 0;
    for (i = 0; i < t->nattr; i++) {
        attr_rec *a = &t->attrs[i];
        a->is_decl = (uint32_t)xmlns_name(t, a);
        ndecls += a->is_decl;
        if (!a->is_decl && a->colon != NONE) nprefixed++;
        if (a->qlen > t->lim.max_name_len) nlong++;
    }
    if (t->nattr > 1 && t->nattr <= 8) {
        uint32_t j;
        for (i = 1; i < t->nattr; i++)
            for (j = 0; j < i; j++)
                if (t->attrs[i].qlen == t->attrs[j].qlen &&
                    *pabs(t, t->attrs[i].qoff) == *pabs(t, t->attrs[j].qoff) &&
                    memcmp(pabs(t, t->attrs[i].qoff), pabs(t, t->attrs[j].qoff), t->attrs[i].qlen) == 0)
                    return nwf(t, pos, "duplicate attribute");
    } else if (t->nattr > 8) {
        if (prepare_hash(t)) return SL_E_NOMEM;
        for (i = 0; i < t->nattr; i++) {
            attr_rec *a = &t->attrs[i];
            a->hash = fnv(pabs(t, a->qoff), a->qlen, 2166136261u);
            if (hash_insert(t, i, a->hash)) return nwf(t, pos, "duplicate attribute");
        }
    }
    /* 2. namespace declarations, in document order */
    for (i = 0; ndecls && i < t->nattr; i++) {
        attr_rec *a = &t->attrs[i];
        const uint8_t *prefix;
        uint32_t plen;
        const uint8_t *v = pabs(t, a->voff);
        binding *nb;
        if (!a->is_decl) continue;
        ndecl++;
        q = pabs(t, a->qoff);
        if (a->colon == NONE) {
            prefix = q;
            plen = 0;
            if ((a->vlen == sizeof XML_NS - 1 && memcmp(v, XML_NS, a->vlen) == 0) ||
                (a->vlen == sizeof XMLNS_NS - 1 && memcmp(v, XMLNS_NS, a->vlen) == 0))
                return nwf(t, pos, "prefix must not be bound to one of the reserved namespace names");
        } else {
            prefix = q + 6;
            plen = a->qlen - 6;
            if (plen == 5 && memcmp(prefix, "xmlns", 5) == 0)
                return nwf(t, pos, "reserved prefix (xmlns) must not be declared or undeclared");
            if (plen == 3 && memcmp(prefix, "xml", 3) == 0) {
                if (!(a->vlen == sizeof XML_NS - 1 && memcmp(v, XML_NS, a->vlen) == 0))
                    return nwf(t, pos, "reserved prefix (xml) must not be undeclared or bound to another namespace name");
            } else if ((a->vlen == sizeof XML_NS - 1 && memcmp(v, XML_NS, a->vlen) == 0) ||
                       (a->vlen == sizeof XMLNS_NS - 1 && memcmp(v, XMLNS_NS, a->vlen) == 0)) {
                return nwf(t, pos, "prefix must not be bound to one of the reserved namespace names");
            }
            if (a->vlen == 0) return nwf(t, pos, "must not undeclare prefix");
        }
        if (t->nbind + 1 > t->bind_cap || !t->binds)
            if (grow((void **)&t->binds, &t->bind_cap, t->nbind + 1, sizeof(binding))) return SL_E_NOMEM;
        nb = &t->binds[t->nbind++];
        if (plen == 0) t->defb = t->nbind - 1;
        if (nsbuf_put(t, prefix, plen, &nb->poff)) return SL_E_NOMEM;
        nb->plen = plen;
        if (nsbuf_put(t, v, a->vlen, &nb->uoff)) return SL_E_NOMEM;
        nb->ulen = a->vlen;
        nb->gen = t->unit_gen;
        nb->pool_off = a->voff;
        if (t->skip && bix_declared(t)) return SL_E_NOMEM;
    }
    /* the element's namespace */
    q = pabs(t, t->tag_qoff);
    if (t->tag_colon == NONE) b = default_binding(t);
    else if (t->tag_colon == 3 && memcmp(q, "xml", 3) == 0) b = NULL;
    else {
        b = find_binding(t, q, t->tag_colon);
        if (!b) return nwf(t, pos, "unbound prefix");
    }
    /* attributes' namespaces and duplicates after resolution */
    for (i = 0; nprefixed && i < t->nattr; i++) {
        attr_rec *a = &t->attrs[i];
        if (a->is_decl || a->colon == NONE) continue;
        q = pabs(t, a->qoff);
        if (!(a->colon == 3 && memcmp(q, "xml", 3) == 0) && !find_binding(t, q, a->colon))
            return nwf(t, pos, "unbound prefix");
    }
    if (nprefixed > 1) {
        /* expanded-name duplicates: hash (namespace, local) and compare */
        if (prepare_hash(t)) return SL_E_NOMEM;
        for (i = 0; i < t->nattr; i++) {
            attr_rec *a = &t->attrs[i];
            const uint8_t *ns = (const uint8_t *)"";
            uint32_t nslen = 0, mask, slot;
            const uint8_t *loc;
            uint32_t loclen;
            if (a->is_decl || a->colon == NONE) continue;
            q = pabs(t, a->qoff);
            if (a->colon == 3 && memcmp(q, "xml", 3) == 0) {
                ns = (const uint8_t *)XML_NS;
                nslen = sizeof XML_NS - 1;
            } else {
                binding *ab = find_binding(t, q, a->colon);
                ns = ns_uri(t, ab);
                nslen = ab->ulen;
            }
            loc = q + a->colon + 1;
            loclen = a->qlen - a->colon - 1;
            a->hash = fnv(loc, loclen, fnv(ns, nslen, 2166136261u) ^ 0x5bd1e995u);
            mask = t->hash_mask;
            slot = a->hash & mask;
            while (t->hashtab[slot] != NONE) {
                attr_rec *o = &t->attrs[t->hashtab[slot]];
                if (o->hash == a->hash) {
                    const uint8_t *oq = pabs(t, o->qoff);
                    const uint8_t *ons;
                    uint32_t onslen;
                    if (o->colon == 3 && memcmp(oq, "xml", 3) == 0) {
                        ons = (const uint8_t *)XML_NS;
                        onslen = sizeof XML_NS - 1;
                    } else {
                        binding *ob = find_binding(t, oq, o->colon);
                        ons = ns_uri(t, ob);
                        onslen = ob->ulen;
                    }
                    if (onslen == nslen && memcmp(ons, ns, nslen) == 0 &&
                        o->qlen - o->colon - 1 == loclen && memcmp(oq + o->colon + 1, loc, loclen) == 0)
                        return nwf(t, pos, "duplicate attribute");
                }
                slot = (slot + 1) & mask;
            }
            t->hashtab[slot] = i;
        }
    }
    /* 3. limits: the stream header's are faults; a stanza crossing one is
     * skipped from here on (and none applies inside a skipped stanza) */
    if (!t->skip) {
        uint32_t limit = 0;
        if (t->nattr > t->lim.max_attrs) limit = SL_LIMIT_ATTRS;
        else if (t->tag_qlen > t->lim.max_name_len || nlong) limit = SL_LIMIT_NAME_LEN;
        else if (t->depth > t->lim.max_depth) limit = SL_LIMIT_DEPTH;
        if (limit && t->depth == 0)
            return fail(t, SL_COND_POLICY_VIOLATION, pos,
                        limit == SL_LIMIT_ATTRS      ? "too many attributes on one element"
                        : limit == SL_LIMIT_NAME_LEN ? "a name is longer than the limit"
                                                     : "elements nested deeper than the limit");
        if (limit) {
            sk_tag tag = {NULL, 0};
            if (t->depth == 1) {
                if (b != NULL) {
                    tag.ns = ns_uri(t, b);
                    tag.ns_len = b->ulen;
                } else if (t->tag_colon != NONE) { /* xml: prefix */
                    tag.ns = (const uint8_t *)XML_NS;
                    tag.ns_len = sizeof XML_NS - 1;
                }
            }
            if (skip_begin(t, limit, t->depth == 1 ? &tag : NULL)) return SL_E_NOMEM;
        }
    }
    /* 4. framing */
    q = pabs(t, t->tag_qoff);
    {
        const uint8_t *loc = t->tag_colon == NONE ? q : q + t->tag_colon + 1;
        uint32_t loclen = t->tag_colon == NONE ? t->tag_qlen : t->tag_qlen - t->tag_colon - 1;
        is_stream = loclen == 6 && memcmp(loc, "stream", 6) == 0 && b != NULL &&
                    b->ulen == sizeof STREAM_NS - 1 &&
                    memcmp(ns_uri(t, b), STREAM_NS, b->ulen) == 0;
    }
    if (t->depth == 0 && !is_stream)
        return fail(t, SL_COND_INVALID_NAMESPACE, pos,
                    "the root element is not <stream> in http://etherx.jabber.org/streams");
    if (t->depth > 0 && is_stream) return nwf(t, pos, "a <stream:stream> inside the stream");
    if (t->skip) return skip_push(t, pos, empty, nbind0, nsbuf0, defb0);

    /* 5. nodes */
    if (b != NULL && b->ulen > 0) {
        if (ns_in_pool(t, b, &elem_ns_off)) return SL_E_NOMEM;
        elem_ns_len = b->ulen;
    } else if (b == NULL && t->tag_colon != NONE) { /* xml: prefix */
        elem_ns_off = prel(t);
        if (pool_put(t, (const uint8_t *)XML_NS, sizeof XML_NS - 1)) return SL_E_NOMEM;
        elem_ns_len = sizeof XML_NS - 1;
    }
    /* the element and its attribute nodes: room for all of them at once */
    if (t->node_n + 1 + t->nattr > t->node_cap || !t->nodes)
        if (grow((void **)&t->nodes, &t->node_cap, t->node_n + 1 + t->nattr, sizeof(sl_node)))
            return SL_E_NOMEM;
    node_idx = t->node_n - t->u_node0;
    nd = &t->nodes[t->node_n++];
    nd->kind = SL_NODE_ELEM;
    nd->next = node_idx + 1;
    nd->ns_off = elem_ns_off;
    nd->ns_len = elem_ns_len;
    nd->name_off = t->tag_colon == NONE ? t->tag_qoff : t->tag_qoff + t->tag_colon + 1;
    nd->name_len = t->tag_colon == NONE ? t->tag_qlen : t->tag_qlen - t->tag_colon - 1;
    {
        uint32_t nextra = 0;
        for (i = 0; i < t->nattr; i++) {
            attr_rec *a = &t->attrs[i];
            sl_node *an;
            if (a->is_decl) continue;
            an = &t->nodes[t->node_n];
            an->kind = SL_NODE_ATTR;
            an->next = t->node_n - t->u_node0 + 1;
            t->node_n++;
            nextra++;
            if (a->colon != NONE) {
                q = pabs(t, a->qoff);
                if (a->colon == 3 && memcmp(q, "xml", 3) == 0) {
                    an->ns_off = prel(t);
                    an->ns_len = sizeof XML_NS - 1;
                    if (pool_put(t, (const uint8_t *)XML_NS, an->ns_len)) return SL_E_NOMEM;
                } else {
                    binding *ab = find_binding(t, q, a->colon);
                    uint32_t off;
                    if (ns_in_pool(t, ab, &off)) return SL_E_NOMEM;
                    an->ns_off = off;
                    an->ns_len = ab->ulen;
                }
                an->name_off = a->qoff + a->colon + 1;
                an->name_len = a->qlen - a->colon - 1;
            } else {
                an->ns_off = an->ns_len = 0;
                an->name_off = a->qoff;
                an->name_len = a->qlen;
            }
            an->val_off = a->voff;
            an->val_len = a->vlen;
        }
        if (t->depth == 0) { /* the stream header keeps its declarations */
            for (i = 0; i < t->nattr; i++) {
                attr_rec *a = &t->attrs[i];
                sl_node *dn;
                if (!a->is_decl) continue;
                dn = new_node(t, SL_NODE_NSDECL);
                if (!dn) return SL_E_NOMEM;
                nextra++;
                if (a->colon == NONE) {
                    dn->name_off = a->qoff;
                    dn->name_len = 0;
                } else {
                    dn->name_off = a->qoff + 6;
                    dn->name_len = a->qlen - 6;
                }
                dn->val_off = a->voff;
                dn->val_len = a->vlen;
            }
        }
        nd = &t->nodes[t->u_node0 + node_idx];
        nd->val_off = nextra;
        nd->val_len = 0;
    }
    /* push the frame */
    {
        frame *f = &t->stack[t->depth];
        f->node = node_idx;
        f->qoff = t->tag_qoff;
        f->qlen = t->tag_qlen;
        f->nbind = nbind0;
        f->nsbuf_len = nsbuf0;
        f->defb = defb0;
    }
    if (t->depth == 0) {
        memcpy(t->rootq, pabs(t, t->tag_qoff), t->tag_qlen);
        t->rootq_len = t->tag_qlen;
    }
    t->depth++;
    t->nattr = 0;
    r = 0;
    if (t->depth == 1) {
        /* the stream header is complete */
        t->nodes[t->u_node0 + node_idx].next = t->node_n - t->u_node0;
        t->seen_root = 1;
        if (emit(t, SL_EV_OPEN, pos + 1)) return SL_E_NOMEM;
        unit_end(t);
        r = 1;
    }
    if (empty) {
        /* close at once */
        t->depth--;
        if (t->depth == 0) {
            t->nbind = nbind0;
            t->nsbuf_len = nsbuf0;
            t->defb = defb0;
            unit_begin(t, pos + 1); /* <stream:stream/>: the close takes no bytes of its own */
            if (emit(t, SL_EV_CLOSE, pos + 1)) return SL_E_NOMEM;
            unit_end(t);
            t->closed = 1;
            return 1;
        }
        t->nodes[t->u_node0 + node_idx].next = t->node_n - t->u_node0;
        t->nbind = nbind0;
        t->nsbuf_len = nsbuf0;
        t->defb = defb0;
        if (t->depth == 1) {
            if (emit(t, SL_EV_STANZA, pos + 1)) return SL_E_NOMEM;
            unit_end(t);
            return 1;
        }
    }
    return r;
}

/* end_start_tag() for the common shape, inside the stream (depth >= 1):
 * no prefix on the element or any attribute, at most 8 attributes, so the
 * only declaration can be a default one (xmlns=...).  The same checks in
 * the same order, in fewer passes. */
static int end_start_tag_plain(sl_tok *t, uint64_t pos, int empty) {
    uint32_t i, j, n = t->nattr, nbind0 = t->nbind, nsbuf0 = t->nsbuf_len, node_idx, nlong = 0;
    uint32_t defb0 = t->defb;
    uint32_t decl = NONE, elem_ns_off = 0, elem_ns_len = 0;
    attr_rec *at = t->attrs;
    const uint8_t *base = t->pool + t->u_pool0;
    binding *b;
    sl_node *nd;
    /* 1. duplicates by name; which attribute is the declaration */
    for (i = 0; i < n; i++) {
        const uint8_t *qi = base + at[i].qoff;
        uint32_t ql = at[i].qlen;
        at[i].is_decl = ql == 5 && qi[0] == 'x' && qi[1] == 'm' && qi[2] == 'l' && qi[3] == 'n' && qi[4] == 's';
        if (at[i].is_decl) decl = i;
        if (ql > t->lim.max_name_len) nlong++;
        for (j = 0; j < i; j++)
            if (at[j].qlen == ql && base[at[j].qoff] == qi[0] && memcmp(base + at[j].qoff, qi, ql) == 0)
                return nwf(t, pos, "duplicate attribute");
    }
    /* 2. the declaration, and the element's namespace */
    if (decl != NONE) {
        const uint8_t *v = base + at[decl].voff;
        uint32_t vl = at[decl].vlen;
        binding *nb;
        if ((vl == sizeof XML_NS - 1 && memcmp(v, XML_NS, vl) == 0) ||
            (vl == sizeof XMLNS_NS - 1 && memcmp(v, XMLNS_NS, vl) == 0))
            return nwf(t, pos, "prefix must not be bound to one of the reserved namespace names");
        if (t->nbind + 1 > t->bind_cap || !t->binds)
            if (grow((void **)&t->binds, &t->bind_cap, t->nbind + 1, sizeof(binding))) return SL_E_NOMEM;
        nb = &t->binds[t->nbind++];
        t->defb = t->nbind - 1;
        nb->poff = t->nsbuf_len;
        nb->plen = 0;
        if (nsbuf_put(t, v, vl, &nb->uoff)) return SL_E_NOMEM;
        nb->ulen = vl;
        nb->gen = t->unit_gen;
        nb->pool_off = at[decl].voff;
        b = nb;
    } else {
        b = default_binding(t);
    }
    /* 3. limits: crossing one starts a skip, which end_start_tag() handles
     * (the declaration is undone; it finds the same faults before) */
    if (n > t->lim.max_attrs || t->tag_qlen > t->lim.max_name_len || nlong || t->depth > t->lim.max_depth) {
        t->nbind = nbind0;
        t->nsbuf_len = nsbuf0;
        t->defb = defb0;
        return end_start_tag(t, pos, empty, NULL, NULL);
    }
    /* 4. framing: no second <stream:stream> */
    if (t->tag_qlen == 6 && b != NULL && b->ulen == sizeof STREAM_NS - 1 &&
        memcmp(base + t->tag_qoff, "stream", 6) == 0 && memcmp(ns_uri(t, b), STREAM_NS, b->ulen) == 0)
        return nwf(t, pos, "a <stream:stream> inside the stream");
    /* 5. nodes */
    if (b != NULL && b->ulen > 0) {
        if (ns_in_pool(t, b, &elem_ns_off)) return SL_E_NOMEM;
        elem_ns_len = b->ulen;
    }
    if (t->node_n + 1 + n > t->node_cap || !t->nodes)
        if (grow((void **)&t->nodes, &t->node_cap, t->node_n + 1 + n, sizeof(sl_node))) return SL_E_NOMEM;
    node_idx = t->node_n - t->u_node0;
    nd = &t->nodes[t->node_n++];
    nd->kind = SL_NODE_ELEM;
    nd->ns_off = elem_ns_off;
    nd->ns_len = elem_ns_len;
    nd->name_off = t->tag_qoff;
    nd->name_len = t->tag_qlen;
    nd->val_off = n - (decl != NONE);
    nd->val_len = 0;
    for (i = 0; i < n; i++) {
        sl_node *an;
        if (i == decl) continue;
        an = &t->nodes[t->node_n];
        an->kind = SL_NODE_ATTR;
        an->next = t->node_n - t->u_node0 + 1;
        t->node_n++;
        an->ns_off = an->ns_len = 0;
        an->name_off = at[i].qoff;
        an->name_len = at[i].qlen;
        an->val_off = at[i].voff;
        an->val_len = at[i].vlen;
    }
    t->nattr = 0;
    if (empty) {
        nd->next = t->node_n - t->u_node0;
        t->nbind = nbind0;
        t->nsbuf_len = nsbuf0;
        t->defb = defb0;
        if (t->depth == 1) {
            if (emit(t, SL_EV_STANZA, pos + 1)) return SL_E_NOMEM;
            unit_end(t);
            return 1;
        }
        return 0;
    }
    nd->next = node_idx + 1;
    {
        frame *f = &t->stack[t->depth];
        f->node = node_idx;
        f->qoff = t->tag_qoff;
        f->qlen = t->tag_qlen;
        f->nbind = nbind0;
        f->nsbuf_len = nsbuf0;
        f->defb = defb0;
    }
    t->depth++;
    return 0;
}

/* an end tag's '>' */
static inline int end_end_tag(sl_tok *t, uint64_t pos) {
    frame *f;
    if (t->skip) return skip_pop(t, pos);
    t->depth--;
    f = &t->stack[t->depth];
    t->nbind = f->nbind;
    t->nsbuf_len = f->nsbuf_len;
    t->defb = f->defb;
    if (t->depth == 0) {
        if (emit(t, SL_EV_CLOSE, pos + 1)) return SL_E_NOMEM;
        unit_end(t);
        t->closed = 1;
        return 1;
    }
    t->nodes[t->u_node0 + f->node].next = t->node_n - t->u_node0;
    t->text_node = NONE;
    if (t->depth == 1) {
        if (emit(t, SL_EV_STANZA, pos + 1)) return SL_E_NOMEM;
        unit_end(t);
        return 1;
    }
    return 0;
}

/* ------------------------------------------------------------------ names */
static void name_begin(sl_tok *t, int ctx) {
    t->nm_ctx = ctx;
    t->nm_len = 0;
    t->nm_colon = NONE;
    t->nm_after_colon = 0;
}

/* Add a name character (already validated as UTF-8 and as a name char of the
 * right kind) to the name being scanned. */
static int name_add(sl_tok *t, const uint8_t *s, uint32_t n) {
    int ctx = t->nm_ctx;
    t->nm_len += n;
    if (ctx == NM_ELEM || ctx == NM_ATTR) return pool_put(t, s, n);
    if (ctx == NM_REF) {
        uint32_t i;
        for (i = 0; i < n && t->ref_len < sizeof t->refname; i++) t->refname[t->ref_len++] = s[i];
        if (t->ref_len >= sizeof t->refname) t->ref_len = sizeof t->refname; /* too long: undefined */
    }
    if (ctx == NM_PI) {
        uint32_t i;
        for (i = 0; i < n && t->ref_len < sizeof t->refname; i++) t->refname[t->ref_len++] = s[i];
    }
    return 0;
}

/* Is cp acceptable as the next character of the current name?  Handles the
 * namespace rules on ':' for element and attribute names. */
static int name_char_ok(sl_tok *t, uint32_t cp, int first) {
    int ns = t->nm_ctx == NM_ELEM || t->nm_ctx == NM_ATTR || t->nm_ctx == NM_DT;
    if (cp == ':' && t->nm_ctx == NM_REF) return 0;
    if (cp == ':' && (ns || t->nm_ctx == NM_ETAG)) {
        /* an end tag's name only has to match its start tag exactly, so
         * its colons are checked by that comparison, as libexpat does */
        if (first || (ns && t->nm_colon != NONE)) return 0;
        return 1;
    }
    if (first || (ns && t->nm_after_colon)) {
        if (cp < 0x80) return sl_name_cls[cp] == 1 || cp == ':';
        return sl_is_name_start_cp(cp);
    }
    if (cp < 0x80) return sl_name_cls[cp] != 0 || cp == ':';
    return sl_is_name_cp(cp);
}

/* ------------------------------------------------------------------ references */
static int ref_done(sl_tok *t, uint32_t cp, uint64_t pos) {
    uint8_t buf[4];
    int n;
    if (!is_char(cp)) return nwf(t, pos, "reference to invalid character number");
    if (t->ref_depth1) return nwf(t, pos, "character data between stanzas");
    n = utf8_encode(cp, buf);
    if (t->in_attr_ref) {
        if (pool_put(t, buf, (uint32_t)n)) return SL_E_NOMEM;
        t->attrs[t->nattr].vlen += (uint32_t)n;
    } else {
        t->rsqb = 0;
        if (text_append(t, buf, (uint32_t)n)) return SL_E_NOMEM;
    }
    return 0;
}

static int entity_value(const uint8_t *name, uint32_t n) {
    if (n == 3 && memcmp(name, "amp", 3) == 0) return '&';
    if (n == 2 && memcmp(name, "lt", 2) == 0) return '<';
    if (n == 2 && memcmp(name, "gt", 2) == 0) return '>';
    if (n == 4 && memcmp(name, "quot", 4) == 0) return '"';
    if (n == 4 && memcmp(name, "apos", 4) == 0) return '\'';
    return -1;
}

/* ------------------------------------------------------------------ XML declaration */
static int decl_ws(uint8_t c) { return IS_WS(c); }

/* Parse the body of <?xml ...?> (between "<?xml" and "?>"), as libexpat does. */
static int parse_decl(sl_tok *t, uint64_t pos) {
    static const uint8_t empty[1] = {0};
    const uint8_t *s = t->decl ? t->decl : empty, *e = s + t->decl_len;
    const char *names[3] = {"version", "encoding", "standalone"};
    int which = 0, have_version = 0;
    while (1) {
        const uint8_t *nm;
        size_t nlen;
        uint8_t qc;
        const uint8_t *v;
        size_t vlen;
        int k, found = -1;
        int had_ws = 0;
        while (s < e && decl_ws(*s)) {
            s++;
            had_ws = 1;
        }
        if (s == e) break;
        if (!had_ws) return nwf(t, pos, "XML declaration not well-formed");
        nm = s;
        while (s < e && !decl_ws(*s) && *s != '=') s++;
        nlen = (size_t)(s - nm);
        while (s < e && decl_ws(*s)) s++;
        if (s == e || *s != '=') return nwf(t, pos, "XML declaration not well-formed");
        s++;
        while (s < e && decl_ws(*s)) s++;
        if (s == e || (*s != '"' && *s != '\'')) return nwf(t, pos, "XML declaration not well-formed");
        qc = *s++;
        v = s;
        while (s < e && *s != qc) s++;
        if (s == e) return nwf(t, pos, "XML declaration not well-formed");
        vlen = (size_t)(s - v);
        s++;
        for (k = which; k < 3; k++)
            if (strlen(names[k]) == nlen && memcmp(names[k], nm, nlen) == 0) {
                found = k;
                break;
            }
        if (found < 0 || (found > 0 && !have_version)) return nwf(t, pos, "XML declaration not well-formed");
        if (found == 0) {
            size_t i;
            for (i = 0; i < vlen; i++) {
                uint8_t c = v[i];
                if (!(((c | 0x20) >= 'a' && (c | 0x20) <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
                      c == '_' || c == '-'))
                    return nwf(t, pos, "XML declaration not well-formed");
            }
            have_version = 1;
        }
        if (found == 1) {
            size_t i;
            if (vlen == 0 || !((v[0] | 0x20) >= 'a' && (v[0] | 0x20) <= 'z'))
                return nwf(t, pos, "XML declaration not well-formed");
            for (i = 1; i < vlen; i++) {
                uint8_t c = v[i];
                if (!(((c | 0x20) >= 'a' && (c | 0x20) <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
                      c == '_' || c == '-'))
                    return nwf(t, pos, "XML declaration not well-formed");
            }
            if (!(vlen == 5 && (v[0] | 0x20) == 'u' && (v[1] | 0x20) == 't' && (v[2] | 0x20) == 'f' &&
                  v[3] == '-' && v[4] == '8')) {
                /* checked after the whole declaration is known to be well-formed */
                which = 2;
                t->is_decl = 2;
                continue;
            }
        }
        if (found == 2) {
            if (!((vlen == 3 && memcmp(v, "yes", 3) == 0) || (vlen == 2 && memcmp(v, "no", 2) == 0)))
                return nwf(t, pos, "XML declaration not well-formed");
        }
        which = found + 1;
    }
    if (!have_version) return nwf(t, pos, "XML declaration not well-formed");
    if (t->is_decl == 2)
        return fail(t, SL_COND_UNSUPPORTED_ENCODING, pos, "the XML declaration names an encoding other than UTF-8");
    return 0;
}

/* ------------------------------------------------------------------ the machine */
static int after_markup_state(const sl_tok *t) {
    if (t->closed) return ST_AFTER_CLOSE;
    if (t->depth >= 2) return ST_TEXT;
    return ST_MISC;
}

/* Handle one complete code point (ASCII or decoded) in state st.
 * `raw` holds its UTF-8 bytes.  pos is the offset of its first byte.
 * Returns 0, 1 (an event was completed: the caller checks max_events), or <0. */
static int step_cp(sl_tok *t, uint32_t c, const uint8_t *raw, uint32_t rn, uint64_t pos);

static int kw_step(sl_tok *t, uint32_t c, uint64_t pos, int next_state) {
    if (c != (uint8_t)t->match_kw[t->match_i]) return nwf(t, pos, "not well-formed (invalid token)");
    t->match_i++;
    if (t->match_kw[t->match_i] == 0) t->st = next_state;
    return 0;
}

static int start_tag_name_done(sl_tok *t) {
    t->tag_qlen = t->nm_len;
    t->tag_colon = t->nm_colon;
    return 0;
}

static int attr_new(sl_tok *t) {
    attr_rec *a;
    if (grow((void **)&t->attrs, &t->attr_cap, t->nattr + 1, sizeof(attr_rec))) return SL_E_NOMEM;
    a = &t->attrs[t->nattr];
    a->qoff = prel(t);
    a->qlen = 0;
    a->colon = NONE;
    a->vlen = 0;
    return 0;
}

static int step_cp(sl_tok *t, uint32_t c, const uint8_t *raw, uint32_t rn, uint64_t pos) {
    int r;
again: /* a state that ends at c hands c on to the next one (no recursion) */
    switch (t->st) {
    case ST_START:
        if (c == '<') {
            t->st = ST_START_LT;
            return 0;
        }
        /* the raw byte decides: callers pass FE/FF/00/EF through here */
        if (c == 0) return fail(t, SL_COND_UNSUPPORTED_ENCODING, pos, "the stream is not UTF-8 (UTF-16/32)");
        if (IS_WS(c)) {
            t->st = ST_MISC;
            goto again;
        }
        if (c == 0xFEFF) return nwf(t, pos, "U+FEFF (a byte order mark) before the stream header (RFC 6120 11.6)");
        return nwf(t, pos, "not well-formed (invalid token)");
    case ST_START_LT:
        if (c == 0) return fail(t, SL_COND_UNSUPPORTED_ENCODING, pos - 1, "the stream is not UTF-8 (UTF-16LE)");
        t->st = ST_LT;
        if (c == '?') {
            t->at_start_decl = 1;
            t->st = ST_PI_TARGET;
            name_begin(t, NM_PI);
            t->ref_len = 0;
            return 0;
        }
        goto again;

    case ST_MISC:
        if (IS_WS(c)) return 0;
        if (t->depth == 1 && t->seen_root && !t->in_unit) unit_begin(t, pos);
        if (c == '<') {
            t->st = ST_LT;
            return 0;
        }
        if (c == '&' && t->depth == 1) {
            t->ref_depth1 = 1;
            t->in_attr_ref = 0;
            t->ret_st = ST_MISC;
            t->st = ST_REF;
            return 0;
        }
        if (t->depth == 1) return nwf(t, pos, "character data between stanzas");
        return nwf(t, pos, t->seen_root ? "junk after document element" : "not well-formed (invalid token)");

    case ST_AFTER_CLOSE:
        if (IS_WS(c)) return 0;
        if (!t->in_unit) unit_begin(t, pos);
        if (c == '<') {
            t->st = ST_LT;
            return 0;
        }
        return nwf(t, pos, "junk after document element");

    case ST_LT:
        if (c == '/') {
            if (t->depth == 0) return nwf(t, pos, "not well-formed (invalid token)");
            t->st = ST_ETAG_NAME;
            t->etag_pos = 0;
            t->etag_bad = 0;
            t->text_node = NONE;
            name_begin(t, NM_ETAG);
            return 0;
        }
        if (c == '!') {
            t->st = ST_LT_BANG;
            return 0;
        }
        if (c == '?') {
            t->at_start_decl = 0;
            t->st = ST_PI_TARGET;
            name_begin(t, NM_PI);
            t->ref_len = 0;
            return 0;
        }
        if (t->closed) return nwf(t, pos, "junk after document element");
        /* a start tag */
        t->text_node = NONE;
        t->nattr = 0;
        name_begin(t, NM_ELEM);
        t->tag_qoff = prel(t);
        if (!name_char_ok(t, c, 1)) return nwf(t, pos, "not well-formed (invalid token)");
        t->st = ST_STAG_NAME;
        return name_add(t, raw, rn);

    case ST_LT_BANG:
        if (c == '-') {
            t->st = ST_LT_BANG_DASH;
            return 0;
        }
        if (c == '[' && t->depth >= 1 && !t->closed) {
            t->match_kw = "CDATA[";
            t->match_i = 0;
            t->st = ST_CDATA_OPEN;
            return 0;
        }
        if (c == 'D' && t->depth == 0 && !t->seen_root) {
            t->match_kw = "OCTYPE";
            t->match_i = 0;
            t->st = ST_DT_KW;
            return 0;
        }
        if (t->depth == 0 && !t->seen_root) return nwf(t, pos, "syntax error");
        return nwf(t, pos, "not well-formed (invalid token)");
    case ST_LT_BANG_DASH:
        if (c != '-') return nwf(t, pos, "not well-formed (invalid token)");
        t->st = ST_COMMENT;
        return 0;
    case ST_COMMENT:
        if (c == '-') t->st = ST_COMMENT_D1;
        return 0;
    case ST_COMMENT_D1:
        t->st = c == '-' ? ST_COMMENT_D2 : ST_COMMENT;
        return 0;
    case ST_COMMENT_D2:
        if (c != '>') return nwf(t, pos, "not well-formed (invalid token)");
        return fail(t, SL_COND_RESTRICTED_XML, pos, "comments are not allowed in XMPP");

    case ST_CDATA_OPEN:
        if (c != (uint8_t)t->match_kw[t->match_i]) return nwf(t, pos, "not well-formed (invalid token)");
        if (t->match_kw[++t->match_i] == 0) {
            if (t->depth < 2) return nwf(t, pos, "a CDATA section between stanzas");
            t->st = ST_CDATA;
            t->rsqb = 0;
        }
        return 0;
    case ST_CDATA:
        if (c == ']') {
            t->pending_cr = 0;
            if (t->rsqb < 2) t->rsqb++;
            else {
                /* the oldest ']' of three is text */
                if (text_append(t, (const uint8_t *)"]", 1)) return SL_E_NOMEM;
            }
            return 0;
        }
        if (c == '>' && t->rsqb == 2) {
            t->rsqb = 0;
            t->pending_cr = 0;
            t->st = ST_TEXT;
            return 0;
        }
        while (t->rsqb) {
            if (text_append(t, (const uint8_t *)"]", 1)) return SL_E_NOMEM;
            t->rsqb--;
        }
        if (c == '\r') {
            t->pending_cr = 1;
            return text_append(t, (const uint8_t *)"\n", 1);
        }
        if (c == '\n' && t->pending_cr) {
            t->pending_cr = 0;
            return 0;
        }
        t->pending_cr = 0;
        return text_append(t, raw, rn);

    case ST_DT_KW:
        return kw_step(t, c, pos, ST_DT_S1);
    case ST_DT_S1:
        if (!IS_WS(c)) return nwf(t, pos, "not well-formed (invalid token)");
        t->st = ST_DT_NAME;
        name_begin(t, NM_DT);
        return 0;
    case ST_DT_NAME:
        if (t->nm_len == 0) {
            if (IS_WS(c)) return 0;
            if (c == '"' || c == '\'') { /* libexpat reads a literal first */
                t->quote = (uint8_t)c;
                t->st = ST_DT_JUNK_LIT;
                return 0;
            }
            if (!name_char_ok(t, c, 1)) return nwf(t, pos, "not well-formed (invalid token)");
            t->nm_len += rn;
            return 0;
        }
        if (IS_WS(c) || c == '>' || c == '[') {
            if (t->nm_after_colon) return nwf(t, pos, "not well-formed (invalid token)");
            if (IS_WS(c)) {
                t->st = ST_DT_AFTER_NAME;
                return 0;
            }
            return fail(t, SL_COND_RESTRICTED_XML, pos, "a DTD is not allowed in XMPP");
        }
        if (!name_char_ok(t, c, 0)) return nwf(t, pos, "not well-formed (invalid token)");
        if (c == ':') {
            t->nm_colon = t->nm_len;
            t->nm_after_colon = 1;
        } else t->nm_after_colon = 0;
        t->nm_len += rn;
        return 0;
    case ST_DT_AFTER_NAME:
        if (IS_WS(c)) return 0;
        if (c == '"' || c == '\'') {
            t->quote = (uint8_t)c;
            t->st = ST_DT_JUNK_LIT;
            return 0;
        }
        if (c == '>' || c == '[') return fail(t, SL_COND_RESTRICTED_XML, pos, "a DTD is not allowed in XMPP");
        if (c == 'S') {
            t->match_kw = "YSTEM";
            t->dt_public = 0;
        } else if (c == 'P') {
            t->match_kw = "UBLIC";
            t->dt_public = 1;
        } else return nwf(t, pos, "syntax error");
        t->match_i = 0;
        t->dt_lits = 0;
        t->st = ST_DT_KW2;
        return 0;
    case ST_DT_KW2:
        if (t->match_kw[t->match_i] == 0) {
            if (!IS_WS(c)) return nwf(t, pos, "not well-formed (invalid token)");
            t->st = ST_DT_S2;
            return 0;
        }
        if (c != (uint8_t)t->match_kw[t->match_i]) return nwf(t, pos, "syntax error");
        t->match_i++;
        return 0;
    case ST_DT_S2:
        if (IS_WS(c)) return 0;
        if (c != '"' && c != '\'') return nwf(t, pos, "syntax error");
        t->quote = (uint8_t)c;
        t->st = ST_DT_LIT;
        return 0;
    case ST_DT_LIT:
        if (c == t->quote) {
            t->dt_lits++;
            t->dt_ws = 0;
            t->st = ST_DT_AFTER_LIT;
            return 0;
        }
        if (t->dt_public && t->dt_lits == 0) { /* PubidChar */
            if (!(c == ' ' || c == '\r' || c == '\n' || (c < 0x80 && sl_name_cls[c] == 1 && c != '_') ||
                  (c >= '0' && c <= '9') || (c < 0x80 && strchr("-'()+,./:=?;!*#@$_%", (int)c))))
                return nwf(t, pos, "not well-formed (invalid token)");
        }
        return 0;
    case ST_DT_AFTER_LIT:
        if (t->dt_public && t->dt_lits == 1) {
            if (IS_WS(c)) {
                t->st = ST_DT_S2;
                return 0;
            }
            if (c == '"' || c == '\'') return nwf(t, pos, "not well-formed (invalid token)");
            return nwf(t, pos, "syntax error");
        }
        if (IS_WS(c)) {
            t->dt_ws = 1;
            return 0;
        }
        if (c == '>' || c == '[') return fail(t, SL_COND_RESTRICTED_XML, pos, "a DTD is not allowed in XMPP");
        if ((c == '"' || c == '\'') && t->dt_ws) {
            t->quote = (uint8_t)c;
            t->st = ST_DT_JUNK_LIT;
            return 0;
        }
        if (c == '"' || c == '\'') return nwf(t, pos, "not well-formed (invalid token)");
        return nwf(t, pos, "syntax error");
    case ST_DT_JUNK_LIT:
        if (c == t->quote) return nwf(t, pos, "syntax error");
        return 0;

    case ST_PI_TARGET:
        if (t->nm_len == 0) {
            if (!name_char_ok(t, c, 1) || c == ':') return nwf(t, pos, "not well-formed (invalid token)");
            return name_add(t, raw, rn);
        }
        if (IS_WS(c) || c == '?') {
            int is_xml = t->ref_len == 3 && (t->refname[0] | 0x20) == 'x' && (t->refname[1] | 0x20) == 'm' &&
                         (t->refname[2] | 0x20) == 'l';
            t->is_decl = 0;
            if (is_xml) {
                if (!(t->at_start_decl && memcmp(t->refname, "xml", 3) == 0))
                    return nwf(t, pos, memcmp(t->refname, "xml", 3) == 0 ? "XML or text declaration not at start of entity"
                                                          : "not well-formed (invalid token)");
                t->is_decl = 1;
                t->decl_len = 0;
            }
            t->st = c == '?' ? ST_PI_Q : ST_PI_BODY;
            t->pi_tq = c == '?';
            if (c != '?' && t->is_decl) {
                if (grow((void **)&t->decl, &t->decl_cap, t->decl_len + 1, 1)) return SL_E_NOMEM;
                t->decl[t->decl_len++] = (uint8_t)c;
            }
            return 0;
        }
        if (!name_char_ok(t, c, 0) || c == ':') return nwf(t, pos, "not well-formed (invalid token)");
        return name_add(t, raw, rn);
    case ST_PI_BODY:
        if (c == '?') {
            t->st = ST_PI_Q;
            t->pi_tq = 0;
            return 0;
        }
        if (t->is_decl) {
            if (grow((void **)&t->decl, &t->decl_cap, t->decl_len + rn, 1)) return SL_E_NOMEM;
            memcpy(t->decl + t->decl_len, raw, rn);
            t->decl_len += rn;
        }
        return 0;
    case ST_PI_Q:
        if (c == '>') {
            if (t->is_decl) {
                r = parse_decl(t, pos);
                if (r < 0) return r;
                t->st = ST_MISC;
                return 0;
            }
            return fail(t, SL_COND_RESTRICTED_XML, pos, "processing instructions are not allowed in XMPP");
        }
        if (t->pi_tq) return nwf(t, pos, "not well-formed (invalid token)");
        if (t->is_decl) {
            if (grow((void **)&t->decl, &t->decl_cap, t->decl_len + 1 + rn, 1)) return SL_E_NOMEM;
            t->decl[t->decl_len++] = '?';
            memcpy(t->decl + t->decl_len, raw, rn);
            t->decl_len += rn;
        }
        if (c != '?') t->st = ST_PI_BODY;
        return 0;

    case ST_STAG_NAME:
    case ST_ATTR_NAME: {
        int is_tag = t->st == ST_STAG_NAME;
        if (IS_WS(c) || c == '>' || c == '/' || c == '=') {
            if (t->nm_after_colon) return nwf(t, pos, "not well-formed (invalid token)");
            if (is_tag) {
                start_tag_name_done(t);
                t->st = ST_STAG_AFTER;
            } else {
                attr_rec *a = &t->attrs[t->nattr];
                a->qlen = t->nm_len;
                a->colon = t->nm_colon;
                t->st = ST_ATTR_EQ;
                if (c == '>' || c == '/') return nwf(t, pos, "not well-formed (invalid token)");
            }
            goto again;
        }
        if (!name_char_ok(t, c, 0)) return nwf(t, pos, "not well-formed (invalid token)");
        if (c == ':') {
            t->nm_colon = t->nm_len;
            t->nm_after_colon = 1;
        } else t->nm_after_colon = 0;
        return name_add(t, raw, rn);
    }
    case ST_STAG_AFTER:
    case ST_STAG_WS:
        if (IS_WS(c)) {
            t->st = ST_STAG_WS;
            return 0;
        }
        if (c == '>') {
            r = end_start_tag(t, pos, 0, NULL, NULL);
            if (r < 0) return r;
            if (t->st != ST_DONE_ERR) t->st = t->closed ? ST_AFTER_CLOSE : (t->depth >= 2 ? ST_TEXT : ST_MISC);
            t->rsqb = 0;
            return r;
        }
        if (c == '/') {
            t->st = ST_STAG_SLASH;
            return 0;
        }
        if (t->st == ST_STAG_AFTER) return nwf(t, pos, "not well-formed (invalid token)");
        if (r = attr_new(t), r) return r;
        name_begin(t, NM_ATTR);
        if (!name_char_ok(t, c, 1)) return nwf(t, pos, "not well-formed (invalid token)");
        t->st = ST_ATTR_NAME;
        return name_add(t, raw, rn);
    case ST_STAG_SLASH:
        if (c != '>') return nwf(t, pos, "not well-formed (invalid token)");
        r = end_start_tag(t, pos, 1, NULL, NULL);
        if (r < 0) return r;
        if (t->st != ST_DONE_ERR) t->st = after_markup_state(t);
        t->rsqb = 0;
        return r;
    case ST_ATTR_EQ:
        if (IS_WS(c)) return 0;
        if (c != '=') return nwf(t, pos, "not well-formed (invalid token)");
        t->st = ST_ATTR_Q;
        return 0;
    case ST_ATTR_Q:
        if (IS_WS(c)) return 0;
        if (c != '"' && c != '\'') return nwf(t, pos, "not well-formed (invalid token)");
        t->quote = (uint8_t)c;
        t->attrs[t->nattr].voff = prel(t);
        t->attrs[t->nattr].vlen = 0;
        t->pending_cr = 0;
        t->st = ST_ATTR_VAL;
        return 0;
    case ST_ATTR_VAL:
        if (c == t->quote) {
            t->nattr++;
            t->st = ST_STAG_AFTER;
            t->pending_cr = 0;
            return 0;
        }
        if (c == '<') return nwf(t, pos, "not well-formed (invalid token)");
        if (c == '&') {
            t->in_attr_ref = 1;
            t->ref_depth1 = 0;
            t->ret_st = ST_ATTR_VAL;
            t->st = ST_REF;
            t->pending_cr = 0;
            return 0;
        }
        if (c == '\n' && t->pending_cr) {
            t->pending_cr = 0;
            return 0;
        }
        t->pending_cr = c == '\r';
        if (c == '\t' || c == '\n' || c == '\r') {
            raw = (const uint8_t *)" ";
            rn = 1;
        }
        if (pool_put(t, raw, rn)) return SL_E_NOMEM;
        t->attrs[t->nattr].vlen += rn;
        return 0;

    case ST_ETAG_NAME: {
        const uint8_t *expect;
        uint32_t elen;
        if (t->depth == 1) {
            expect = t->rootq;
            elen = t->rootq_len;
        } else {
            expect = top_name(t, &elen);
        }
        if (t->etag_pos == 0 && !name_char_ok(t, c, 1)) return nwf(t, pos, "not well-formed (invalid token)");
        if (IS_WS(c) || c == '>') {
            if (t->etag_pos != elen) t->etag_bad = 1;
            t->st = ST_ETAG_WS;
            goto again;
        }
        if (t->etag_pos > 0 && !name_char_ok(t, c, 0)) return nwf(t, pos, "not well-formed (invalid token)");
        t->nm_len += rn;
        if (t->etag_bad || t->etag_pos + rn > elen || memcmp(expect + t->etag_pos, raw, rn) != 0)
            t->etag_bad = 1;
        else t->etag_pos += rn;
        return 0;
    }
    case ST_ETAG_WS:
        if (IS_WS(c)) return 0;
        if (c != '>') return nwf(t, pos, "not well-formed (invalid token)");
        if (t->etag_bad) return nwf(t, pos, "mismatched tag");
        r = end_end_tag(t, pos);
        if (r < 0) return r;
        t->st = after_markup_state(t);
        t->rsqb = 0;
        return r;

    case ST_TEXT:
        if (c == '<') {
            t->st = ST_LT;
            t->pending_cr = 0;
            return 0;
        }
        if (c == '&') {
            t->in_attr_ref = 0;
            t->ref_depth1 = 0;
            t->ret_st = ST_TEXT;
            t->st = ST_REF;
            t->pending_cr = 0;
            return 0;
        }
        if (c == ']') {
            if (t->rsqb < 2) t->rsqb++;
            t->pending_cr = 0;
            return text_append(t, raw, rn);
        }
        if (c == '>' && t->rsqb >= 2) return nwf(t, pos, "not well-formed (invalid token)");
        t->rsqb = 0;
        if (c == '\n' && t->pending_cr) {
            t->pending_cr = 0;
            return 0;
        }
        if (c == '\r') {
            t->pending_cr = 1;
            return text_append(t, (const uint8_t *)"\n", 1);
        }
        t->pending_cr = 0;
        return text_append(t, raw, rn);

    case ST_REF:
        if (c == '#') {
            t->st = ST_REF_HASH;
            return 0;
        }
        name_begin(t, NM_REF);
        t->ref_len = 0;
        if (!name_char_ok(t, c, 1)) return nwf(t, pos, "not well-formed (invalid token)");
        t->st = ST_REF_NAME;
        return name_add(t, raw, rn);
    case ST_REF_NAME:
        if (c == ';') {
            int v = t->nm_len <= 4 ? entity_value(t->refname, t->ref_len) : -1;
            t->st = t->ret_st;
            if (v < 0) return fail(t, SL_COND_RESTRICTED_XML, pos, "undefined entity (XMPP allows only the five predefined ones)");
            return ref_done(t, (uint32_t)v, pos);
        }
        if (!name_char_ok(t, c, 0)) return nwf(t, pos, "not well-formed (invalid token)");
        return name_add(t, raw, rn);
    case ST_REF_HASH:
        t->ref_val = 0;
        t->ref_digits = 0;
        if (c == 'x') {
            t->st = ST_REF_HEX0;
            return 0;
        }
        if (c >= '0' && c <= '9') {
            t->st = ST_REF_DEC;
            goto again;
        }
        return nwf(t, pos, "not well-formed (invalid token)");
    case ST_REF_DEC:
        if (c >= '0' && c <= '9') {
            if (t->ref_val <= 0x10FFFF) t->ref_val = t->ref_val * 10 + (c - '0');
            t->ref_digits++;
            return 0;
        }
        if (c == ';' && t->ref_digits) {
            t->st = t->ret_st;
            return ref_done(t, t->ref_val > 0x10FFFF ? 0 : t->ref_val, pos);
        }
        return nwf(t, pos, "not well-formed (invalid token)");
    case ST_REF_HEX0:
    case ST_REF_HEX: {
        int d = -1;
        if (c >= '0' && c <= '9') d = (int)(c - '0');
        else if (c >= 'a' && c <= 'f') d = (int)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') d = (int)(c - 'A' + 10);
        if (d >= 0) {
            if (t->ref_val <= 0x10FFFF) t->ref_val = t->ref_val * 16 + (uint32_t)d;
            t->st = ST_REF_HEX;
            return 0;
        }
        if (c == ';' && t->st == ST_REF_HEX) {
            t->st = t->ret_st;
            return ref_done(t, t->ref_val > 0x10FFFF ? 0 : t->ref_val, pos);
        }
        return nwf(t, pos, "not well-formed (invalid token)");
    }
    default:
        return nwf(t, pos, "internal error: bad state");
    }
}

/* Validate a code point for the current state's character class; returns 0
 * when fine, else the fault. */
static int check_cp(sl_tok *t, uint32_t cp, uint64_t pos) {
    if (!is_char(cp)) return nwf(t, pos, "not well-formed (invalid token)");
    return 0;
}


/* A complete reference at p ('&') within [p, stop) in its plain form (one
 * of the five entities, or a character reference of at most 7 digits to a
 * Char): its length, with the code point in *cp; 0 for anything else,
 * which the state machine then takes and judges. */
static inline int plain_ref(const uint8_t *p, const uint8_t *stop, uint32_t *cp) {
    const uint8_t *q = p + 1;
    ptrdiff_t room = stop - p;
    if (room < 4) return 0;
    switch (q[0]) {
    case 'l':
        if (q[1] == 't' && q[2] == ';') return *cp = '<', 4;
        return 0;
    case 'g':
        if (q[1] == 't' && q[2] == ';') return *cp = '>', 4;
        return 0;
    case 'a':
        if (room >= 5 && q[1] == 'm' && q[2] == 'p' && q[3] == ';') return *cp = '&', 5;
        if (room >= 6 && q[1] == 'p' && q[2] == 'o' && q[3] == 's' && q[4] == ';') return *cp = '\'', 6;
        return 0;
    case 'q':
        if (room >= 6 && q[1] == 'u' && q[2] == 'o' && q[3] == 't' && q[4] == ';') return *cp = '"', 6;
        return 0;
    case '#': {
        uint32_t v = 0;
        int nd = 0;
        q++;
        if (*q == 'x') {
            for (q++; q < stop && nd < 8; q++, nd++) {
                uint8_t c = *q;
                if (c >= '0' && c <= '9') v = v * 16 + (uint32_t)(c - '0');
                else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f') v = v * 16 + (uint32_t)((c | 0x20) - 'a' + 10);
                else break;
            }
        } else {
            for (; q < stop && nd < 8 && *q >= '0' && *q <= '9'; q++, nd++) v = v * 10 + (uint32_t)(*q - '0');
        }
        if (nd == 0 || nd == 8 || q >= stop || *q != ';' || !is_char(v)) return 0;
        *cp = v;
        return (int)(q + 1 - p);
    }
    default:
        return 0;
    }
}

/* ------------------------------------------------------------------ whole-tag fast path */
/* Scan an ASCII name with the namespace colon rules; returns its end or
 * NULL when the name is unusual (the state machine then takes over). */
static inline const uint8_t *fast_name(const uint8_t *q, const uint8_t *stop, uint32_t *colon) {
    const uint8_t *s = q;
    *colon = NONE;
    if (q >= stop || sl_name_cls[*q] != 1) return NULL;
    q++;
    for (;;) {
        while (q < stop && sl_name_cls[*q]) q++;
        if (q < stop && *q == ':') {
            if (*colon != NONE || q + 1 >= stop || sl_name_cls[q[1]] != 1) return NULL;
            *colon = (uint32_t)(q - s);
            q += 2;
            continue;
        }
        break;
    }
    if (q >= stop || *q >= 0x80) return NULL;
    return q;
}

/* A complete start tag at p ('<') within [p, stop), in the common form
 * (ASCII names, values without references or line breaks).  Returns the
 * position after it, or NULL (nothing changed) to let the state machine
 * handle it byte by byte.  *rc gets end_start_tag()'s result. */
static const uint8_t *fast_start_tag(sl_tok *t, const uint8_t *data, const uint8_t *p,
                                     const uint8_t *stop, int *rc) {
    /* The tag's bytes after '<' are copied to the pool in one piece once the
     * tag is known to be complete and plain; names and values are offsets
     * into that copy (the quotes, '=' and spaces between them are unused). */
    const uint8_t *s = p + 1, *q = s, *e;
    uint32_t base = prel(t), colon, nattr = 0;
    int empty = 0, any_colon;
    e = fast_name(q, stop, &colon);
    if (!e) return NULL;
    t->tag_qoff = base;
    t->tag_qlen = (uint32_t)(e - q);
    t->tag_colon = colon;
    any_colon = colon != NONE;
    q = e;
    for (;;) {
        uint8_t c;
        if (q >= stop) goto bail;
        c = *q;
        if (c == '>') break;
        if (c == '/') {
            if (q + 1 >= stop || q[1] != '>') goto bail;
            empty = 1;
            q++;
            break;
        }
        if (c != ' ' && c != '\t') goto bail;
        while (q < stop && (*q == ' ' || *q == '\t')) q++;
        if (q >= stop) goto bail;
        if (*q == '>' || *q == '/') continue;
        {
            attr_rec *a;
            const uint8_t *v;
            uint8_t quote;
            e = fast_name(q, stop, &colon);
            if (!e) goto bail;
            if (nattr + 1 > t->attr_cap || !t->attrs)
                if (grow((void **)&t->attrs, &t->attr_cap, nattr + 1, sizeof(attr_rec))) goto bail;
            a = &t->attrs[nattr];
            a->qoff = base + (uint32_t)(q - s);
            a->qlen = (uint32_t)(e - q);
            a->colon = colon;
            any_colon |= colon != NONE;
            q = e;
            while (q < stop && *q == ' ') q++;
            if (q >= stop || *q != '=') goto bail;
            q++;
            while (q < stop && *q == ' ') q++;
            if (q >= stop || (*q != '"' && *q != '\'')) goto bail;
            quote = *q++;
            v = q;
            for (;;) {
                q = SKIP_ATTR(q, stop);
                if (q >= stop) goto bail;
                c = *q;
                if (c == quote) break;
                if (sl_attr_plain[c] || c == '"' || c == '\'') {
                    q++;
                    continue;
                }
                if (c >= 0x80) {
                    uint32_t cp;
                    int n = u8_common(q, stop);
                    if (n) {
                        q += n;
                        continue;
                    }
                    n = u8_decode(q, stop, &cp);
                    if (n > 0 && U8_IS_CHAR(cp)) {
                        q += n;
                        continue;
                    }
                }
                goto bail;
            }
            a->voff = base + (uint32_t)(v - s);
            a->vlen = (uint32_t)(q - v);
            q++;
            nattr++;
            if (q < stop && *q != ' ' && *q != '\t' && *q != '>' && *q != '/') goto bail;
        }
    }
    if (pool_put(t, s, (uint32_t)(q - s))) goto bail;
    t->nattr = nattr;
    t->text_node = NONE;
    if (t->depth >= 1 && !any_colon && nattr <= 8 && !t->skip)
        *rc = end_start_tag_plain(t, POS(t, q, data), empty);
    else
        *rc = end_start_tag(t, POS(t, q, data), empty, NULL, NULL);
    if (*rc >= 0 && t->st != ST_DONE_ERR) t->st = after_markup_state(t);
    t->rsqb = 0;
    return q + 1;
bail:
    t->nattr = 0;
    return NULL;
}

/* The commonest start tag inside a stanza, checked and built in one pass:
 * complete within [p, stop), an unprefixed ASCII name, at most
 * PLAIN_ATTRS attributes (unprefixed or xml:), spaces (no tabs or line
 * breaks) before each and none around '=', values without references,
 * line breaks or tabs, at
 * most one default namespace declaration, nothing a limit or a rule
 * refuses.  Anything else returns NULL with nothing changed, and the
 * general path (fast_start_tag, then the state machine) takes the tag and
 * reports what is wrong with it. */
#define PLAIN_ATTRS 8
/* the input ends inside the tag, every byte of it accepted so far */
#define PLAIN_MORE()      \
    do {                  \
        t->more = 1;      \
        return NULL;      \
    } while (0)
/* an attribute name at q runs to the end of the input, or "=" or "=quote" does */
#define PLAIN_CUT_NAME(q) ((q) == stop || (*(q) == '=' && ((q) + 1 == stop || (q)[1] == '"' || (q)[1] == '\'')))
static const uint8_t *plain_start_tag(sl_tok *t, const uint8_t *data, const uint8_t *p,
                                      const uint8_t *stop, int *rc) {
    const uint8_t *s = p + 1, *q = s, *decl_v = NULL;
    const uint8_t *aname[PLAIN_ATTRS];
    uint32_t alen_of[PLAIN_ATTRS];
    uint32_t base, tag_len, nattr = 0, decl_vlen = 0, nxml = 0, node_rel, i, seen = 0, refs = 0;
    const uint32_t max_name = t->lim.max_name_len;
    sl_node *nd, *an;
    binding *b;
    int empty = 0;
    if (t->depth >= t->plain_max) return NULL; /* max_depth; 0 while skipping */
    if (stop - s < 2) {
        if (s == stop || sl_name_cls[*s] == 1) t->more = 1;
        return NULL;
    }
    if (sl_name_cls[*q] != 1) return NULL;
    q = skip_name(q + 1, stop);
    if (q >= stop) PLAIN_MORE();
    if (*q == ':' || *q >= 0x80) return NULL;
    tag_len = (uint32_t)(q - s);
    if (tag_len > max_name) return NULL;
    if (t->node_n + 1 + PLAIN_ATTRS > t->node_cap || !t->nodes)
        if (grow((void **)&t->nodes, &t->node_cap, t->node_n + 1 + PLAIN_ATTRS, sizeof(sl_node))) return NULL;
    base = prel(t);
    nd = &t->nodes[t->node_n];
    an = nd + 1;
    node_rel = t->node_n - t->u_node0;
    /* q < stop holds at the top of each round */
    for (;;) {
        const uint8_t *a, *v;
        uint32_t alen, is_xml = 0, vref = 0;
        uint8_t c = *q, quote;
        if (c == '>') break;
        if (c == '/') {
            if (stop - q < 2) PLAIN_MORE();
            if (q[1] != '>') return NULL;
            empty = 1;
            q++;
            break;
        }
        if (c != ' ') return NULL;
        do q++;
        while (q < stop && *q == ' ');
        if (q >= stop) PLAIN_MORE();
        if (*q == '>' || *q == '/') continue;
        a = q;
        if (sl_name_cls[*q] != 1) return NULL;
        q = skip_name(q + 1, stop);
        if (stop - q < 3) {
            if (PLAIN_CUT_NAME(q)) t->more = 1;
            return NULL;
        }
        if (*q == ':') {
            if (q - a != 3 || a[0] != 'x' || a[1] != 'm' || a[2] != 'l' || sl_name_cls[q[1]] != 1) return NULL;
            q = skip_name(q + 2, stop);
            if (stop - q < 3) {
                if (PLAIN_CUT_NAME(q)) t->more = 1;
                return NULL;
            }
            is_xml = 1;
        }
        alen = (uint32_t)(q - a);
        if (*q != '=' || alen > max_name) return NULL;
        quote = q[1];
        if (quote != '"' && quote != '\'') return NULL;
        q += 2;
        v = q;
        for (;;) {
            q = skip_run(q, stop, quote, '<', '&', '<');
            if (q >= stop) PLAIN_MORE();
            c = *q;
            if (c == quote) break;
            if (c == '"' || c == '\'') {
                q++;
                continue;
            }
            if (c == '&') {
                /* a predefined entity or a character reference: decoded
                 * in the pool's copy once the tag is known to be plain */
                uint32_t cp;
                int n = plain_ref(q, stop, &cp);
                if (!n) return NULL;
                vref = 1;
                q += n;
                continue;
            }
            if (c >= 0x80) {
                uint32_t cp;
                int n = u8_common(q, stop);
                if (n) {
                    q += n;
                    continue;
                }
                n = u8_decode(q, stop, &cp);
                if (n > 0 && U8_IS_CHAR(cp)) {
                    q += n;
                    continue;
                }
                if (n == 0) PLAIN_MORE(); /* judged when complete, as everywhere */
            }
            return NULL;
        }
        if (alen == 5 && !is_xml && memcmp(a, "xmlns", 5) == 0) {
            uint32_t vl = (uint32_t)(q - v);
            if (vref || decl_v || (vl == sizeof XML_NS - 1 && memcmp(v, XML_NS, vl) == 0) ||
                (vl == sizeof XMLNS_NS - 1 && memcmp(v, XMLNS_NS, vl) == 0))
                return NULL;
            decl_v = v;
            decl_vlen = vl;
        } else {
            uint32_t bit = 1u << ((alen + a[0] + a[alen - 1]) & 31);
            if (nattr == PLAIN_ATTRS) return NULL;
            /* the pairwise check only when the name's bit was seen */
            if (seen & bit)
                for (i = 0; i < nattr; i++)
                    if (alen_of[i] == alen && aname[i][0] == a[0] && memcmp(aname[i], a, alen) == 0) return NULL;
            seen |= bit;
            aname[nattr] = a;
            alen_of[nattr] = alen;
            refs |= vref << nattr;
            an->kind = SL_NODE_ATTR;
            an->next = node_rel + 2 + nattr;
            an->ns_off = 0;
            if (is_xml) {
                an->ns_len = sizeof XML_NS - 1;
                an->name_off = base + (uint32_t)(a - s) + 4;
                an->name_len = alen - 4;
                nxml++;
            } else {
                an->ns_len = 0;
                an->name_off = base + (uint32_t)(a - s);
                an->name_len = alen;
            }
            an->val_off = base + (uint32_t)(v - s);
            an->val_len = (uint32_t)(q - v);
            an++;
            nattr++;
        }
        q++;
        if (q >= stop) PLAIN_MORE();
        c = *q;
        if (c != ' ' && c != '>' && c != '/') return NULL;
    }
    /* checked: now the namespace, which may still refuse (a second stream) */
    if (nattr + (decl_v != NULL) > t->lim.max_attrs) return NULL;
    if (decl_v) {
        if (tag_len == 6 && decl_vlen == sizeof STREAM_NS - 1 && memcmp(s, "stream", 6) == 0 &&
            memcmp(decl_v, STREAM_NS, decl_vlen) == 0)
            return NULL;
        if (t->nbind + 1 > t->bind_cap || !t->binds)
            if (grow((void **)&t->binds, &t->bind_cap, t->nbind + 1, sizeof(binding))) return NULL;
        b = NULL;
    } else {
        b = default_binding(t);
        if (tag_len == 6 && b != NULL && b->ulen == sizeof STREAM_NS - 1 && memcmp(s, "stream", 6) == 0 &&
            memcmp(ns_uri(t, b), STREAM_NS, b->ulen) == 0)
            return NULL;
    }
    /* commit */
    {
        uint32_t nbind0 = t->nbind, nsbuf0 = t->nsbuf_len, defb0 = t->defb, ns_off = 0, ns_len = 0;
        if (pool_put(t, s, (uint32_t)(q - s))) return NULL;
        for (i = 0; refs; i++, refs >>= 1)
            if (refs & 1) {
                /* in place: a reference's bytes outnumber its character's */
                sl_node *va = &nd[1 + i];
                uint8_t *w = pabs(t, va->val_off), *r = w, *e = w + va->val_len, *v0 = w;
                while (r < e) {
                    if (*r == '&') {
                        uint32_t cp = 0;
                        r += plain_ref(r, e, &cp); /* > 0: checked above */
                        w += utf8_encode(cp, w);
                    } else {
                        *w++ = *r++;
                    }
                }
                va->val_len = (uint32_t)(w - v0);
            }
        if (decl_v) {
            binding *nb = &t->binds[t->nbind];
            nb->poff = t->nsbuf_len;
            nb->plen = 0;
            /* the name stays in this stanza's pool only: the binding ends
             * with its element, inside the stanza (see ns_uri) */
            nb->uoff = NONE;
            t->defb = t->nbind;
            t->nbind++;
            nb->ulen = decl_vlen;
            nb->gen = t->unit_gen;
            nb->pool_off = base + (uint32_t)(decl_v - s);
            ns_off = nb->pool_off;
            ns_len = decl_vlen;
        } else if (b != NULL && b->ulen > 0) {
            if (ns_in_pool(t, b, &ns_off)) return NULL;
            ns_len = b->ulen;
        }
        if (nxml) {
            uint32_t xml_off = prel(t);
            if (pool_put(t, (const uint8_t *)XML_NS, sizeof XML_NS - 1)) return NULL;
            for (i = 0; i < nattr; i++)
                if (nd[1 + i].ns_len) nd[1 + i].ns_off = xml_off;
        }
        nd->kind = SL_NODE_ELEM;
        nd->ns_off = ns_off;
        nd->ns_len = ns_len;
        nd->name_off = base;
        nd->name_len = tag_len;
        nd->val_off = nattr;
        nd->val_len = 0;
        t->node_n += 1 + nattr;
        t->nattr = 0;
        t->text_node = NONE;
        t->rsqb = 0;
        *rc = 0;
        if (empty) {
            nd->next = node_rel + 1 + nattr;
            t->nbind = nbind0;
            t->nsbuf_len = nsbuf0;
            t->defb = defb0;
            if (t->depth == 1) {
                if (emit(t, SL_EV_STANZA, POS(t, q, data) + 1)) {
                    *rc = SL_E_NOMEM;
                    return q + 1;
                }
                unit_end(t);
                *rc = 1;
                t->st = ST_MISC;
            } else {
                t->st = ST_TEXT;
            }
        } else {
            frame *f = &t->stack[t->depth];
            nd->next = node_rel + 1;
            f->node = node_rel;
            f->qoff = base;
            f->qlen = tag_len;
            f->nbind = nbind0;
            f->nsbuf_len = nsbuf0;
            f->defb = defb0;
            t->depth++;
            t->st = ST_TEXT;
        }
    }
    return q + 1;
}

/* A complete end tag "</qname>" matching the open element. */
static const uint8_t *fast_end_tag(sl_tok *t, const uint8_t *data, const uint8_t *p,
                                   const uint8_t *stop, int *rc) {
    const uint8_t *expect;
    uint32_t elen;
    if (t->depth < 2) return NULL;
    expect = top_name(t, &elen);
    if (stop - p < (ptrdiff_t)elen + 3) {
        /* cut short: held for the next chunk if the name matches so far */
        if (memcmp(p + 2, expect, (size_t)(stop - p - 2)) == 0) t->more = 1;
        return NULL;
    }
    if (p[2 + elen] != '>') return NULL;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    if (elen <= 16 && stop - (p + 2) >= 16 && expect + 16 <= t->pool + t->pool_cap) {
        /* names are short: two words, no loop (the bytes after the name on
         * either side are masked off) */
        uint64_t a0, a1, b0, b1, m0, m1;
        memcpy(&a0, p + 2, 8);
        memcpy(&a1, p + 10, 8);
        memcpy(&b0, expect, 8);
        memcpy(&b1, expect + 8, 8);
        m0 = elen >= 8 ? ~0ull : (1ull << (8 * elen)) - 1;
        m1 = elen <= 8 ? 0 : elen == 16 ? ~0ull : (1ull << (8 * (elen - 8))) - 1;
        if (((a0 ^ b0) & m0) | ((a1 ^ b1) & m1)) return NULL;
    } else
#endif
    {
        uint32_t i;
        for (i = 0; i < elen; i++)
            if (p[2 + i] != expect[i]) return NULL;
    }
    t->text_node = NONE;
    *rc = end_end_tag(t, POS(t, p + 2 + elen, data));
    if (*rc >= 0) t->st = after_markup_state(t);
    t->rsqb = 0;
    return p + 3 + elen;
}

/* ------------------------------------------------------------------ feeding */
/* States in which a non-ASCII character may come next (character data,
 * values, literals, comments, PIs, names). */
static int accepts_non_ascii(const sl_tok *t) {
    switch (t->st) {
    case ST_TEXT: case ST_ATTR_VAL: case ST_CDATA: case ST_COMMENT: case ST_COMMENT_D1:
    case ST_PI_BODY: case ST_PI_Q: case ST_DT_LIT: case ST_DT_JUNK_LIT: case ST_LT: case ST_START_LT:
    case ST_STAG_NAME: case ST_STAG_WS: case ST_ATTR_NAME: case ST_ETAG_NAME:
    case ST_PI_TARGET: case ST_DT_NAME: case ST_REF: case ST_REF_NAME:
        return 1;
    default:
        return 0;
    }
}

static int feed_range(sl_tok *t, const uint8_t *data, const uint8_t *p, const uint8_t *end,
                      uint32_t max_events, const uint8_t **out) {
    int r;
    /* where the current unit's byte limit falls in this range: depends on
     * the unit's limit only, so it is computed again when that changes */
    uint64_t lim_unit = 0;
    const uint8_t *lim_stop = NULL;
    while (p < end) {
        const uint8_t *stop = end;
        uint64_t pos;
        uint8_t c;
        if (t->in_unit) {
            if (!lim_stop || lim_unit != t->unit_limit) {
                uint64_t limit = t->unit_limit; /* the first byte too many */
                uint64_t avail = limit > t->base ? limit - t->base : 0;
                lim_unit = limit;
                lim_stop = avail < (uint64_t)(end - data) ? data + avail : end;
            }
            if (p >= lim_stop) {
                if (!t->skip && t->seen_root && unit_is_stanza(t)) {
                    /* a stanza over max_stanza_bytes: skipped from this byte on */
                    if (skip_begin(t, SL_LIMIT_STANZA_BYTES, NULL)) return SL_E_NOMEM;
                    continue;
                }
                *out = p;
                return fail(t, SL_COND_POLICY_VIOLATION, POS(t, p, data),
                            t->skip        ? "skipped stanza larger than max_skip_bytes"
                            : t->seen_root ? "stanza larger than the limit"
                                           : "stream header larger than the limit");
            }
            stop = lim_stop;
        }
        /* fast path: character data inside a stanza, with the plain
         * references decoded in line; ']' is taken when it cannot begin
         * "]]>", and so is '>' (no "]]" can precede it here) */
        if (t->st == ST_TEXT && !t->pending_cr && !t->rsqb) {
            const uint8_t *start = p, *run = p;
            if (*p == '<') goto one_char;
            while (p < stop) {
                p = SKIP_TEXT(p, stop);
                if (p >= stop) break;
                c = *p;
                if (sl_text_plain[c]) {
                    p++;
                    continue;
                }
                if (c == '\n') {
                    t->line++;
                    t->line_start = POS(t, p, data) + 1;
                    p++;
                    continue;
                }
                if (c == ']') {
                    if (stop - p >= 3 && !(p[1] == ']' && p[2] == '>')) {
                        p++;
                        continue;
                    }
                    break;
                }
                if (c == '&') {
                    uint32_t cp;
                    uint8_t u8[4];
                    int n = plain_ref(p, stop, &cp);
                    if (!n) break;
                    if (p > run && text_append(t, run, (uint32_t)(p - run))) return SL_E_NOMEM;
                    if (text_append(t, u8, (uint32_t)utf8_encode(cp, u8))) return SL_E_NOMEM;
                    p += n;
                    run = p;
                    continue;
                }
                if (c >= 0x80) {
                    uint32_t cp;
                    int n = u8_common(p, stop);
                    if (n) {
                        p += n;
                        continue;
                    }
                    n = u8_decode(p, stop, &cp);
                    if (n > 0 && U8_IS_CHAR(cp)) {
                        p += n;
                        continue;
                    }
                }
                break;
            }
            if (p > start) {
                if (p > run && text_append(t, run, (uint32_t)(p - run))) return SL_E_NOMEM;
                /* markup next (the common case): straight to it */
                if (p < stop && *p == '<') goto one_char;
                continue;
            }
        } else if (t->st == ST_ATTR_VAL && !t->pending_cr) {
            const uint8_t *run = p;
            while (p < stop) {
                p = SKIP_ATTR(p, stop);
                if (p >= stop) break;
                c = *p;
                if (sl_attr_plain[c]) {
                    p++;
                    continue;
                }
                if (c >= 0x80) {
                    uint32_t cp;
                    int n = u8_decode(p, stop, &cp);
                    if (n > 0 && U8_IS_CHAR(cp)) {
                        p += n;
                        continue;
                    }
                }
                break;
            }
            if (p > run) {
                if (pool_put(t, run, (uint32_t)(p - run))) return SL_E_NOMEM;
                t->attrs[t->nattr].vlen += (uint32_t)(p - run);
                continue;
            }
        } else if ((t->st == ST_STAG_NAME || t->st == ST_ATTR_NAME) && !t->nm_after_colon) {
            const uint8_t *run = p;
            while (p < stop && sl_name_cls[*p]) p++;
            if (p > run) {
                if (pool_put(t, run, (uint32_t)(p - run))) return SL_E_NOMEM;
                t->nm_len += (uint32_t)(p - run);
                continue;
            }
        } else if (t->st == ST_COMMENT) {
            while (p < stop && sl_text_plain[*p] && *p != '-') p++;
            if (p < stop && *p == '\n') {
                /* handled below */
            }
            if (p == stop) continue;
        }
        /* slow path: one character */
    one_char:
        c = *p;
        if (c == '<' && !t->closed && (t->st == ST_TEXT || t->st == ST_MISC)) {
            /* whole tags while they come one after the other in the same unit */
            const uint8_t *lim = stop;
            int tags = 0;
            t->pending_cr = 0; /* markup: a CR before it stays a line break of its own */
            if (t->st == ST_MISC && !t->in_unit && t->depth == 1) {
                unit_begin(t, POS(t, p, data));
                if ((uint64_t)(end - p) > t->lim.max_stanza_bytes) lim = p + t->lim.max_stanza_bytes;
            }
            for (;;) {
                const uint8_t *q = NULL;
                int frc = 0;
                t->more = 0;
                if (p + 1 < lim && p[1] == '/') q = fast_end_tag(t, data, p, lim, &frc);
                else if (t->depth > 0) {
                    q = plain_start_tag(t, data, p, lim, &frc);
                    if (!q && !t->more) q = fast_start_tag(t, data, p, lim, &frc);
                } else if (t->st == ST_MISC) q = fast_start_tag(t, data, p, lim, &frc);
                if (!q) {
                    /* a plain tag cut by the end of the chunk: held, and
                     * read whole with the next chunk's first bytes */
                    if (t->more && lim == end && !t->no_carry && end - p <= CARRY_MAX) {
                        memcpy(t->carry, p, (size_t)(end - p));
                        t->carry_n = (uint32_t)(end - p);
                        *out = end;
                        return 0;
                    }
                    break;
                }
                tags++;
                p = q;
                if (frc < 0) {
                    *out = p;
                    return frc;
                }
                if (frc > 0 && max_events && t->ev_n >= max_events) {
                    *out = p;
                    return 0;
                }
                /* (a skip started here: lim is still the smaller stanza limit) */
                if (frc != 0 || p >= lim || *p != '<' || t->st != ST_TEXT) break;
            }
            if (tags) continue;
        }
        pos = POS(t, p, data);
        if (t->st == ST_UTF8) {
            t->u8[t->u8_have++] = c;
            p++;
            if (t->u8_have == t->u8_need) {
                uint32_t cp = u8_value(t->u8, t->u8_need);
                uint64_t start = pos + 1 - (uint64_t)t->u8_need;
                if (!u8_valid(t->u8, t->u8_need)) {
                    *out = p;
                    return fail(t, SL_COND_NOT_WELL_FORMED, start, "not well-formed (invalid token)");
                }
                t->st = t->ret_st;
                if ((r = check_cp(t, cp, start)) < 0) {
                    *out = p;
                    return r;
                }
                r = step_cp(t, cp, t->u8, (uint32_t)t->u8_need, start);
                if (r < 0) {
                    *out = p;
                    return r;
                }
                if (r > 0 && max_events && t->ev_n >= max_events) {
                    *out = p;
                    return 0;
                }
            }
            continue;
        }
        if (c < 0x80) {
            if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') {
                if (t->st == ST_START && c == 0) {
                    *out = p;
                    return fail(t, SL_COND_UNSUPPORTED_ENCODING, pos, "the stream is not UTF-8 (UTF-16/32)");
                }
                if (t->st == ST_START_LT && c == 0) {
                    *out = p;
                    return fail(t, SL_COND_UNSUPPORTED_ENCODING, pos - 1, "the stream is not UTF-8 (UTF-16LE)");
                }
                *out = p;
                return fail(t, SL_COND_NOT_WELL_FORMED, pos, "not well-formed (invalid token)");
            }
            if (c == '\n') {
                t->line++;
                t->line_start = pos + 1;
            }
            p++;
            r = step_cp(t, c, p - 1, 1, pos);
            if (r < 0) {
                *out = p;
                return r;
            }
            if (r > 0 && max_events && t->ev_n >= max_events) {
                *out = p;
                return 0;
            }
            continue;
        }
        /* non-ASCII */
        if (t->st == ST_START) {
            if (c == 0xFE) {
                t->st = ST_START_FE;
                p++;
                continue;
            }
            if (c == 0xFF) {
                t->st = ST_START_FF;
                p++;
                continue;
            }
            *out = p;
            if (c == 0xEF) return fail(t, SL_COND_NOT_WELL_FORMED, pos,
                                       "U+FEFF (a byte order mark) or text before the stream header");
            return fail(t, SL_COND_NOT_WELL_FORMED, pos, "not well-formed (invalid token)");
        }
        if (t->st == ST_START_FE || t->st == ST_START_FF) {
            *out = p;
            if ((t->st == ST_START_FE && c == 0xFF) || (t->st == ST_START_FF && c == 0xFE))
                return fail(t, SL_COND_UNSUPPORTED_ENCODING, pos - 1, "the stream is not UTF-8 (UTF-16/32)");
            return fail(t, SL_COND_NOT_WELL_FORMED, pos - 1, "not well-formed (invalid token)");
        }
        {
            uint32_t cp;
            int n = u8_decode(p, stop, &cp);
            if (n < 0) {
                *out = p;
                return fail(t, SL_COND_NOT_WELL_FORMED, pos, "not well-formed (invalid token)");
            }
            if (n == 0) {
                /* the chunk ends inside the character: where no non-ASCII
                 * character can follow, that is a fault already */
                if (!accepts_non_ascii(t)) {
                    *out = p;
                    return fail(t, SL_COND_NOT_WELL_FORMED, pos,
                                t->st == ST_MISC && t->depth == 1 ? "character data between stanzas"
                                                                  : "not well-formed (invalid token)");
                }
                /* collect the rest */
                if (!u8_lead(t, c)) {
                    *out = p;
                    return fail(t, SL_COND_NOT_WELL_FORMED, pos, "not well-formed (invalid token)");
                }
                p++;
                while (p < stop) t->u8[t->u8_have++] = *p++;
                t->ret_st = t->st;
                t->st = ST_UTF8;
                continue;
            }
            if ((r = check_cp(t, cp, pos)) < 0) {
                *out = p;
                return r;
            }
            p += n;
            r = step_cp(t, cp, p - n, (uint32_t)n, pos);
            if (r < 0) {
                *out = p;
                return r;
            }
            if (r > 0 && max_events && t->ev_n >= max_events) {
                *out = p;
                return 0;
            }
        }
    }
    *out = p;
    return 0;
}

/* Move an unfinished unit to the front of the arena and drop the rest. */
static void compact(sl_tok *t) {
    if (t->in_unit) {
        uint32_t nn = t->node_n - t->u_node0, pn = t->pool_n - t->u_pool0;
        if (t->u_node0) memmove(t->nodes, t->nodes + t->u_node0, (size_t)nn * sizeof(sl_node));
        if (t->u_pool0) memmove(t->pool, t->pool + t->u_pool0, pn);
        t->node_n = nn;
        t->pool_n = pn;
    } else {
        t->node_n = t->pool_n = 0;
    }
    t->u_node0 = t->u_pool0 = 0;
    t->ev_n = 0;
}

/* The held tail of the last chunk, then this chunk's bytes up to the
 * first '>' (where a plain tag ends): *done is how many of those were used. */
static int feed_carry(sl_tok *t, const uint8_t *data, size_t len, uint32_t max_events, size_t *done) {
    const uint8_t *end_p;
    uint32_t held = t->carry_n;
    size_t room = CARRY_CAP - held, k = len < room ? len : room, used;
    const uint8_t *gt = memchr(data, '>', k);
    int r;
    if (gt) k = (size_t)(gt - data) + 1;
    memcpy(t->carry + held, data, k);
    t->carry_n = 0;
    t->base -= held; /* the held bytes were counted as consumed */
    t->no_carry = 1; /* still cut: the state machine takes it from here */
    r = feed_range(t, t->carry, t->carry, t->carry + held + k, max_events, &end_p);
    t->no_carry = 0;
    used = (size_t)(end_p - t->carry);
    t->base += used;
    *done = 0;
    if (used < held) {
        /* stopped inside the held bytes: what is left stays held */
        if (r >= 0) {
            memmove(t->carry, t->carry + used, held - used);
            t->carry_n = (uint32_t)(held - used);
        }
        return r;
    }
    *done = used - held;
    return r;
}

int sl_tok_feed_append(sl_tok *t, const uint8_t *data, size_t len, uint32_t max_events, size_t *consumed) {
    const uint8_t *end_p = data;
    size_t done = 0;
    int r = 0;
    if (consumed) *consumed = 0;
    if (!t || (!data && len)) return SL_E_ARG;
    if (t->failed) return SL_E_STATE;
    if (max_events && t->ev_n >= max_events) return (int)t->ev_n;
    if (t->carry_n && len) {
        r = feed_carry(t, data, len, max_events, &done);
        if (r < 0 || (max_events && t->ev_n >= max_events)) {
            if (consumed) *consumed = done;
            goto out;
        }
    }
    r = feed_range(t, data + done, data + done, data + len, max_events, &end_p);
    if (consumed) *consumed = (size_t)(end_p - data);
    t->base += (uint64_t)(end_p - (data + done));
out:
    if (r < 0) {
        if (r == SL_E_NOMEM) {
            t->failed = 1;
            t->err.condition = SL_COND_NONE;
            t->err.message = "out of memory";
        }
        return r;
    }
    return (int)t->ev_n;
}

int sl_tok_feed(sl_tok *t, const uint8_t *data, size_t len, uint32_t max_events, size_t *consumed) {
    if (consumed) *consumed = 0;
    if (!t || (!data && len)) return SL_E_ARG;
    if (t->failed) return SL_E_STATE;
    compact(t);
    return sl_tok_feed_append(t, data, len, max_events, consumed);
}

int sl_tok_feed_pack(sl_tok *t, const uint8_t *data, size_t len, uint32_t max_events, size_t *consumed,
                     sl_packed *out) {
    int rc = sl_tok_feed(t, data, len, max_events, consumed);
    if ((rc > 0 || rc == SL_E_STREAM) && sl_tok_pack(t, out) < 0) {
        t->failed = 1;
        t->err.condition = SL_COND_NONE;
        t->err.message = "out of memory";
        return SL_E_NOMEM;
    }
    return rc;
}
