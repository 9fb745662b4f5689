/* Rendering one packed stanza as strings, names and element records for a
 * binding: see include/stanzalink/tree.h. */
#include <stdlib.h>
#include <string.h>

#include "stanzalink/tree.h"

#define NONE 0xFFFFFFFFu
#define SLOTS (2 * SL_NAMES_MAX) /* open addressing, at most half full */

struct sl_names {
    uint32_t n, used;                 /* names, bytes of names */
    uint32_t off[SL_NAMES_MAX], len[SL_NAMES_MAX], hash[SL_NAMES_MAX];
    uint16_t slot[SLOTS];             /* id + 1, 0: empty */
    uint8_t bytes[SL_NAMES_BYTES];    /* the names, "{ns}local" or "local" */
};

sl_names *sl_names_new(void) { return calloc(1, sizeof(sl_names)); }

void sl_names_free(sl_names *names) { free(names); }

void sl_names_reset(sl_names *names) {
    if (!names) return;
    names->n = names->used = 0;
    memset(names->slot, 0, sizeof names->slot);
}

uint32_t sl_names_count(const sl_names *names) { return names ? names->n : 0; }

/* up to four bytes of s from i on, as a number (in the host's byte order
 * when all four are there: the number only feeds a hash) */
static uint32_t four(const uint8_t *s, uint32_t i, uint32_t n) {
    uint32_t v = 0, k;
    if (i + 4 <= n) {
        memcpy(&v, s + i, 4);
        return v;
    }
    for (k = 0; k < 4 && i + k < n; k++) v |= (uint32_t)s[i + k] << (8 * k);
    return v;
}

/* A name's hash, in constant time: the lengths, the first and last four
 * bytes of the local name and the last four of the namespace name (which
 * mostly differ at their end); the full compare settles collisions. */
static uint32_t name_hash(const uint8_t *ns, uint32_t ns_len, const uint8_t *loc, uint32_t loc_len) {
    uint32_t h = (ns_len * 31u + loc_len) * 2654435761u;
    h = (h ^ four(loc, 0, loc_len)) * 2654435761u;
    h = (h ^ four(loc, loc_len > 4 ? loc_len - 4 : 0, loc_len)) * 2654435761u;
    h = (h ^ four(ns, ns_len > 4 ? ns_len - 4 : 0, ns_len)) * 2654435761u;
    return h ^ (h >> 15);
}

/* The id of the name {ns}local, added when new; NONE when it does not fit. */
static uint32_t name_id(sl_names *t, const uint8_t *ns, uint32_t ns_len, const uint8_t *loc,
                        uint32_t loc_len) {
    uint32_t h = name_hash(ns, ns_len, loc, loc_len), qlen = (ns_len ? ns_len + 2 : 0) + loc_len, i, id;
    uint8_t *q;
    for (i = h & (SLOTS - 1); t->slot[i]; i = (i + 1) & (SLOTS - 1)) {
        id = t->slot[i] - 1u;
        q = t->bytes + t->off[id];
        if (t->hash[id] != h || t->len[id] != qlen) continue;
        if (ns_len ? (q[0] == '{' && memcmp(q + 1, ns, ns_len) == 0 && q[ns_len + 1] == '}' &&
                      memcmp(q + ns_len + 2, loc, loc_len) == 0)
                   : memcmp(q, loc, loc_len) == 0)
            return id;
    }
    if (t->n == SL_NAMES_MAX || qlen > SL_NAMES_LONG || t->used + qlen > SL_NAMES_BYTES) return NONE;
    id = t->n++;
    t->off[id] = t->used;
    t->len[id] = qlen;
    t->hash[id] = h;
    t->slot[i] = (uint16_t)(id + 1);
    q = t->bytes + t->used;
    if (ns_len) {
        *q++ = '{';
        memcpy(q, ns, ns_len);
        q += ns_len;
        *q++ = '}';
    }
    memcpy(q, loc, loc_len);
    t->used += qlen;
    return id;
}

/* node word i of node k (the packed arena need not be word-aligned) */
static uint32_t word(const uint8_t *nodes, uint32_t k, uint32_t i) {
    uint32_t v;
    memcpy(&v, nodes + (size_t)k * sizeof(sl_node) + i * 4u, 4);
    return v;
}

enum { KIND, NEXT, NS_OFF, NS_LEN, NAME_OFF, NAME_LEN, VAL_OFF, VAL_LEN };
/* a record while rendering (SCRATCH words); the output keeps the first
 * SL_TREE_FIELDS */
enum { R_TAG, R_ATTRS, R_FIRST, R_TEXT, R_TAIL, R_KIDS, R_PARENT, SCRATCH };

static int in_pool(uint64_t off, uint64_t n, uint64_t pool_len) { return off + n <= pool_len; }

/* the nodes to render: all of them, or with SL_TREE_ROOT the root, its
 * attribute nodes and the text node after them */
static uint32_t render_end(const uint8_t *nodes, uint32_t count, uint32_t flags) {
    uint64_t end;
    if (!(flags & SL_TREE_ROOT)) return count;
    end = 2 + (uint64_t)word(nodes, 0, VAL_OFF);
    return end < count ? (uint32_t)end : count;
}

static uint8_t *put(uint8_t *o, const uint8_t *s, uint32_t n) {
    memcpy(o, s, n);
    o[n] = 0;
    return o + n + 1;
}

static uint32_t put_number(uint8_t *out, uint32_t at, uint32_t width, uint32_t v) {
    if (width == 1) {
        out[at] = (uint8_t)v;
    } else if (width == 2) {
        uint16_t h = (uint16_t)v;
        memcpy(out + at, &h, 2);
    } else {
        memcpy(out + at, &v, 4);
    }
    return at + width;
}

/* a fault after the table may have changed: leave it empty */
static int undo(sl_names *names, int rc) {
    sl_names_reset(names);
    return rc;
}

int sl_tree_render(sl_names *names, const uint8_t *packed, size_t len, uint32_t event,
                   uint32_t nodes_off, uint32_t pool_off, uint32_t flags, char *str,
                   uint32_t str_cap, uint32_t *rec, uint32_t rec_cap, uint32_t *need) {
    const uint8_t *nodes, *pool;
    uint64_t pool_len, val_bytes = 0, text_bytes = 0, name_bytes = 0, bytes, words, first;
    uint32_t k, end, cur = 0, elems = 0, attrs = 0, texts = 0, s_text, n_attr = 0, n0, i, f,
                     width, top, at = 0, count, ev[SL_PACKED_WORDS], *scr, *keys;
    uint8_t *o_val, *o_text, *out;
    if (!names || !packed || !need || (flags & ~(uint32_t)SL_TREE_ROOT)) return SL_E_ARG;
    /* the event's words, its nodes and its strings inside the block */
    if ((uint64_t)event * sizeof ev + sizeof ev > nodes_off || nodes_off > len || pool_off > len) return SL_E_ARG;
    memcpy(ev, packed + (size_t)event * sizeof ev, sizeof ev);
    count = ev[2];
    first = nodes_off + (uint64_t)ev[1] * sizeof(sl_node);
    if (count == 0 || first + (uint64_t)count * sizeof(sl_node) > len || (uint64_t)pool_off + ev[3] > len)
        return SL_E_ARG;
    nodes = packed + first;
    pool = packed + pool_off + ev[3];
    pool_len = len - pool_off - ev[3];
    if (word(nodes, 0, KIND) != SL_NODE_ELEM || word(nodes, 0, NEXT) != count) return SL_E_ARG;
    end = render_end(nodes, count, flags);

    /* pass 1: every node's strings inside the pool; the sizes (every name
     * counted as if new) */
    for (k = 0; k < end; k++) {
        uint32_t kind = word(nodes, k, KIND), ns_len = word(nodes, k, NS_LEN),
                 name_len = word(nodes, k, NAME_LEN), val_len = word(nodes, k, VAL_LEN);
        if (kind == SL_NODE_ELEM && k && (flags & SL_TREE_ROOT)) break; /* the root alone */
        if (kind == SL_NODE_ELEM || kind == SL_NODE_ATTR) {
            if (!in_pool(word(nodes, k, NS_OFF), ns_len, pool_len) ||
                !in_pool(word(nodes, k, NAME_OFF), name_len, pool_len))
                return SL_E_ARG;
            name_bytes += (ns_len ? (uint64_t)ns_len + 2 : 0) + name_len + 1;
            if (kind == SL_NODE_ELEM) {
                elems++;
                continue;
            }
            attrs++;
        } else if (kind == SL_NODE_NSDECL) {
            continue;
        } else if (kind != SL_NODE_TEXT) {
            return SL_E_ARG;
        }
        if (!in_pool(word(nodes, k, VAL_OFF), val_len, pool_len)) return SL_E_ARG;
        if (kind == SL_NODE_ATTR) {
            val_bytes += (uint64_t)val_len + 1;
        } else if (val_len) {
            text_bytes += (uint64_t)val_len + 1;
            texts++;
        }
    }
    bytes = 1 + val_bytes + text_bytes + name_bytes;
    /* the output (keys, records), then the scratch records and keys */
    words = SL_TREE_HEADER + 2 * (uint64_t)attrs + (uint64_t)elems * (SL_TREE_FIELDS + SCRATCH);
    if (words > 0xFFFFFFFFu || 1 + (uint64_t)attrs + texts + elems + attrs > 0x7FFFFFFF) return SL_E_ARG;
    need[0] = bytes > 0xFFFFFFFFu ? 0xFFFFFFFFu : (uint32_t)bytes;
    need[1] = (uint32_t)words;
    if (!str || !rec || bytes > str_cap || words > rec_cap) return SL_TREE_SHORT;

    /* pass 2: values and texts in document order, the names, the scratch
     * records; the structure checked on the way */
    scr = rec + SL_TREE_HEADER + attrs + (size_t)elems * SL_TREE_FIELDS;
    keys = scr + (size_t)elems * SCRATCH;
    n0 = names->n;
    str[0] = 0;
    o_val = (uint8_t *)str + 1;
    o_text = o_val + val_bytes;
    s_text = 1 + attrs;
    elems = 0;
    for (k = 0; k < end; k++) {
        uint32_t kind = word(nodes, k, KIND), next = word(nodes, k, NEXT), popped = NONE;
        /* close the elements whose subtree ends here (the root's never does):
         * while open, an element's tail word holds its end */
        while (k && k >= scr[cur * SCRATCH + R_TAIL]) {
            popped = cur;
            scr[cur * SCRATCH + R_TAIL] = 0;
            cur = scr[cur * SCRATCH + R_PARENT];
        }
        if (kind == SL_NODE_ELEM) {
            uint32_t nattr = word(nodes, k, VAL_OFF), a, *r;
            if ((flags & SL_TREE_ROOT) && k) break;
            if (next <= k || (k && next > scr[cur * SCRATCH + R_TAIL]) || (uint64_t)k + nattr >= next)
                return undo(names, SL_E_ARG);
            r = &scr[elems * SCRATCH];
            r[R_TAG] = name_id(names, pool + word(nodes, k, NS_OFF), word(nodes, k, NS_LEN),
                               pool + word(nodes, k, NAME_OFF), word(nodes, k, NAME_LEN));
            if (r[R_TAG] == NONE) return undo(names, SL_TREE_FULL);
            r[R_ATTRS] = 0;
            r[R_FIRST] = 1 + n_attr;
            r[R_TEXT] = 0;
            r[R_TAIL] = next;
            r[R_KIDS] = 0;
            r[R_PARENT] = k ? cur : 0;
            if (k) scr[cur * SCRATCH + R_KIDS]++;
            for (a = k + 1; a <= k + nattr; a++) {
                uint32_t akind = word(nodes, a, KIND);
                if ((akind != SL_NODE_ATTR && akind != SL_NODE_NSDECL) || word(nodes, a, NEXT) != a + 1)
                    return undo(names, SL_E_ARG);
                if (akind == SL_NODE_NSDECL) continue;
                if (n_attr == attrs) return undo(names, SL_E_ARG);
                keys[n_attr] = name_id(names, pool + word(nodes, a, NS_OFF), word(nodes, a, NS_LEN),
                                       pool + word(nodes, a, NAME_OFF), word(nodes, a, NAME_LEN));
                if (keys[n_attr] == NONE) return undo(names, SL_TREE_FULL);
                n_attr++;
                r[R_ATTRS]++;
                o_val = put(o_val, pool + word(nodes, a, VAL_OFF), word(nodes, a, VAL_LEN));
            }
            cur = elems++;
            k += nattr;
            /* a text node right here is this element's text */
            if (k + 1 < next && k + 1 < end && word(nodes, k + 1, KIND) == SL_NODE_TEXT) {
                uint32_t val_len = word(nodes, k + 1, VAL_LEN);
                if (word(nodes, k + 1, NEXT) != k + 2) return undo(names, SL_E_ARG);
                k++;
                if (val_len) {
                    scr[cur * SCRATCH + R_TEXT] = s_text++;
                    o_text = put(o_text, pool + word(nodes, k, VAL_OFF), val_len);
                }
            }
        } else if (kind == SL_NODE_TEXT && popped != NONE && next == k + 1) {
            /* after an element's end: that element's tail */
            uint32_t val_len = word(nodes, k, VAL_LEN);
            if (val_len) {
                scr[popped * SCRATCH + R_TAIL] = s_text++;
                o_text = put(o_text, pool + word(nodes, k, VAL_OFF), val_len);
            }
        } else {
            /* an attribute outside a start tag, two text nodes in a row */
            return undo(names, SL_E_ARG);
        }
    }
    /* the elements still open have no tail */
    while (elems) {
        scr[cur * SCRATCH + R_TAIL] = 0;
        if (!cur) break;
        cur = scr[cur * SCRATCH + R_PARENT];
    }
    if (n_attr != attrs || o_val != (uint8_t *)str + 1 + val_bytes ||
        (uint64_t)(o_text - (uint8_t *)str) != 1 + val_bytes + text_bytes)
        return undo(names, SL_E_ARG);
    /* the names this call added, after the texts */
    for (i = n0; i < names->n; i++) o_text = put(o_text, names->bytes + names->off[i], names->len[i]);

    /* the output: keys, then the records in reverse, each number as wide
     * as the largest needs */
    top = names->n;
    for (i = 0; i < elems; i++)
        for (f = 0; f < SL_TREE_FIELDS; f++)
            if (scr[i * SCRATCH + f] > top) top = scr[i * SCRATCH + f];
    width = top < 0x100 ? 1 : top < 0x10000 ? 2 : 4;
    out = (uint8_t *)rec;
    at = SL_TREE_HEADER * 4;
    for (i = 0; i < attrs; i++) at = put_number(out, at, width, keys[i]);
    for (i = elems; i-- > 0;)
        for (f = 0; f < SL_TREE_FIELDS; f++) at = put_number(out, at, width, scr[i * SCRATCH + f]);
    need[0] = rec[0] = (uint32_t)(o_text - (uint8_t *)str);
    need[1] = at;
    rec[1] = s_text + (names->n - n0);
    need[2] = rec[2] = names->n - n0;
    need[3] = rec[3] = attrs;
    need[4] = rec[4] = width;
    return (int)at;
}

int sl_tree_render_out(sl_tree_out *out, const uint8_t *packed, size_t len, uint32_t event, uint32_t nodes_off,
                       uint32_t pool_off, uint32_t flags) {
    if (!out) return SL_E_ARG;
    return sl_tree_render(out->names, packed, len, event, nodes_off, pool_off, flags, out->str, out->str_cap,
                          out->rec, out->rec_cap, out->need);
}
