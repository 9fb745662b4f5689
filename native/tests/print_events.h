/* Canonical text form of tokenizer events, shared by the golden tests,
 * the fuzz target and the benchmark's checks. */
#ifndef SL_PRINT_EVENTS_H
#define SL_PRINT_EVENTS_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stanzalink/tokenizer.h"

typedef struct {
    char *buf;
    size_t len, cap;
} sl_text;

static void txt_put(sl_text *t, const char *s, size_t n) {
    if (t->len + n + 1 > t->cap) {
        size_t c = t->cap ? t->cap : 256;
        while (c < t->len + n + 1) c *= 2;
        t->buf = realloc(t->buf, c);
        if (!t->buf) abort();
        t->cap = c;
    }
    memcpy(t->buf + t->len, s, n);
    t->len += n;
    t->buf[t->len] = 0;
}

static void txt_str(sl_text *t, const char *s) { txt_put(t, s, strlen(s)); }

/* a pool string with control characters and backslashes escaped */
static void txt_pool(sl_text *t, const uint8_t *pool, uint32_t off, uint32_t len) {
    uint32_t i;
    for (i = 0; i < len; i++) {
        uint8_t c = pool[off + i];
        char tmp[8];
        if (c < 0x20 || c == '\\' || c == '|') {
            snprintf(tmp, sizeof tmp, "\\x%02x", c);
            txt_str(t, tmp);
        } else txt_put(t, (const char *)&c, 1);
    }
}

/* Append the current arena's events as lines:
 *   open|stanza  <node>...   one line per event, nodes separated by spaces
 *   skip LIMIT @START-END <node>...   a skipped stanza (its tag and from/to/id/type)
 *   E{ns}local  A{ns}local=value  T"text"  N prefix=ns  and "/" at each element end
 *   close
 */
static void print_events(sl_text *out, const sl_tok *tok) {
    uint32_t ne, nn, pl, i, k;
    const sl_event *ev = sl_tok_events(tok, &ne);
    const sl_node *nodes = sl_tok_nodes(tok, &nn);
    const uint8_t *pool = sl_tok_pool(tok, &pl);
    for (i = 0; i < ne; i++) {
        const sl_event *e = &ev[i];
        const sl_node *n = nodes + e->node_start;
        const uint8_t *p = pool + e->pool_start;
        uint32_t ends[4096];
        int top = 0;
        if (e->kind == SL_EV_CLOSE) {
            txt_str(out, "close\n");
            continue;
        }
        if (e->kind == SL_EV_SKIP) {
            static const char *const limits[] = {"?", "max_stanza_bytes", "max_depth", "max_attrs",
                                                 "max_name_len"};
            char where[64];
            txt_str(out, "skip ");
            txt_str(out, e->limit <= 4 ? limits[e->limit] : "?");
            snprintf(where, sizeof where, " @%llu-%llu", (unsigned long long)e->byte_start,
                     (unsigned long long)e->byte_end);
            txt_str(out, where);
        } else
            txt_str(out, e->kind == SL_EV_OPEN ? "open" : "stanza");
        for (k = 0; k < e->node_count; k++) {
            const sl_node *x = &n[k];
            while (top > 0 && ends[top - 1] == k) {
                txt_str(out, " /");
                top--;
            }
            txt_str(out, " ");
            switch (x->kind) {
            case SL_NODE_ELEM:
                txt_str(out, "E{");
                txt_pool(out, p, x->ns_off, x->ns_len);
                txt_str(out, "}");
                txt_pool(out, p, x->name_off, x->name_len);
                if (top < 4096) ends[top++] = x->next;
                break;
            case SL_NODE_ATTR:
                txt_str(out, "A{");
                txt_pool(out, p, x->ns_off, x->ns_len);
                txt_str(out, "}");
                txt_pool(out, p, x->name_off, x->name_len);
                txt_str(out, "=");
                txt_pool(out, p, x->val_off, x->val_len);
                break;
            case SL_NODE_TEXT:
                txt_str(out, "T|");
                txt_pool(out, p, x->val_off, x->val_len);
                txt_str(out, "|");
                break;
            case SL_NODE_NSDECL:
                txt_str(out, "N");
                txt_pool(out, p, x->name_off, x->name_len);
                txt_str(out, "=");
                txt_pool(out, p, x->val_off, x->val_len);
                break;
            default:
                txt_str(out, "?");
            }
        }
        while (top > 0 && (e->kind == SL_EV_STANZA || e->kind == SL_EV_SKIP)) {
            txt_str(out, " /");
            top--;
        }
        txt_str(out, "\n");
    }
}

#endif
