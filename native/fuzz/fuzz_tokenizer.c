/* libFuzzer target for the tokenizer.
 * Byte 0 picks a chunk schedule, byte 1 max_events, byte 2 the limits (tight
 * ones make most stanzas skipped: SL_EV_SKIP, max_skip_bytes); the
 * rest is the stream.  After every feed the arena is checked for
 * consistency, and the events of the chunked run must equal those of a
 * whole run (same events, same error condition).  Every stanza completed
 * is also rendered (sl_tree_render, whole and its root alone): never
 * refused as inconsistent, and its strings as many as it says. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "print_events.h"
#include "stanzalink/ringbuf.h"
#include "stanzalink/tokenizer.h"
#include "stanzalink/tree.h"

static void check_arena(const sl_tok *tok) {
    uint32_t ne, nn, pl, i, k;
    const sl_event *ev = sl_tok_events(tok, &ne);
    const sl_node *nodes = sl_tok_nodes(tok, &nn);
    sl_tok_pool(tok, &pl);
    for (i = 0; i < ne; i++) {
        const sl_event *e = &ev[i];
        if (e->kind < SL_EV_OPEN || e->kind > SL_EV_SKIP) abort();
        if ((e->kind == SL_EV_SKIP) != (e->limit != 0) || e->limit > SL_LIMIT_NAME_LEN) abort();
        if (e->byte_start > e->byte_end) abort();
        if (i && ev[i - 1].byte_end > e->byte_start) abort();
        if (e->node_start + e->node_count > nn) abort();
        if (e->pool_start + e->pool_len > pl) abort();
        {
            uint32_t ends[256];
            int top = 0, prev_text = 0;
            for (k = 0; k < e->node_count; k++) {
                const sl_node *x = &nodes[e->node_start + k];
                int closed = 0;
                if (x->kind < SL_NODE_ELEM || x->kind > SL_NODE_NSDECL) abort();
                if (x->next <= k || x->next > e->node_count) abort();
                if (x->ns_off + x->ns_len > e->pool_len) abort();
                if (x->name_off + x->name_len > e->pool_len) abort();
                if (x->kind != SL_NODE_ELEM && x->val_off + x->val_len > e->pool_len) abort();
                while (top > 0 && ends[top - 1] == k) {
                    top--;
                    closed = 1;
                }
                /* never two text nodes without an element boundary between */
                if (x->kind == SL_NODE_TEXT && prev_text && !closed) abort();
                prev_text = x->kind == SL_NODE_TEXT;
                if (x->kind == SL_NODE_ELEM) {
                    if (top > 0 && x->next > ends[top - 1]) abort(); /* subtrees nest */
                    if (top < 256) ends[top++] = x->next;
                }
            }
        }
        if (e->kind != SL_EV_CLOSE && (e->node_count == 0 || nodes[e->node_start].kind != SL_NODE_ELEM))
            abort();
    }
}

static void check_render(sl_tok *tok, sl_names *names) {
    static char str[1 << 17];
    static uint32_t rec[1 << 15];
    uint32_t need[5], i, flags, k, nul;
    sl_packed pk;
    const uint32_t *w;
    if (sl_tok_pack(tok, &pk) != 0) abort();
    w = (const uint32_t *)(const void *)pk.data;
    for (i = 0; i < pk.events; i++, w += SL_PACKED_WORDS) {
        if (w[0] == SL_TAG_IDS + SL_EV_OPEN || w[0] == SL_TAG_IDS + SL_EV_CLOSE || w[0] == SL_TAG_IDS + SL_EV_SKIP)
            continue;
        for (flags = 0; flags <= SL_TREE_ROOT; flags++) {
            /* the root alone through the struct call, the whole directly */
            sl_tree_out out = {names, str, sizeof str, rec, sizeof rec / 4, {0, 0, 0, 0, 0}};
            int rc = flags ? sl_tree_render_out(&out, (const uint8_t *)pk.data, pk.size, i, pk.nodes_off,
                                                pk.pool_off, flags)
                           : sl_tree_render(names, (const uint8_t *)pk.data, pk.size, i, pk.nodes_off, pk.pool_off,
                                            flags, str, sizeof str, rec, sizeof rec / 4, need);
            if (flags) memcpy(need, out.need, sizeof need);
            if (rc == SL_E_ARG) abort();
            if (rc <= 0) continue;
            if ((uint32_t)rc != need[1] || rec[0] != need[0] || need[0] > sizeof str) abort();
            for (k = 0, nul = 0; k < need[0]; k++) nul += str[k] == 0;
            if (nul != rec[1] || rec[4] != need[4]) abort();
        }
    }
}

static char *run(const uint8_t *data, size_t len, uint8_t sched, uint32_t max_events,
                 const sl_limits *lim, int use_ring) {
    static const size_t patterns[8][4] = {{1, 1, 1, 1},  {2, 3, 5, 7},     {4096, 4096, 4096, 4096},
                                          {1, 64, 3, 17}, {13, 1, 1, 100}, {7, 7, 7, 7},
                                          {31, 2, 9, 1},  {1000, 1, 3, 5}};
    sl_tok *tok = sl_tok_new(lim);
    sl_ring *ring = use_ring ? sl_ring_new(61) : NULL;
    sl_names *names = sl_names_new();
    sl_text out = {0};
    size_t off = 0, step = 0;
    txt_str(&out, "");
    while (off < len) {
        size_t n = patterns[sched & 7][step++ & 3], used = 0;
        int rc;
        if (n > len - off) n = len - off;
        if (ring) {
            size_t w = sl_ring_write(ring, data + off, n);
            rc = sl_ring_feed(ring, tok, max_events);
            used = w - sl_ring_readable(ring);
            sl_ring_clear(ring);
        } else {
            rc = sl_tok_feed(tok, data + off, n, max_events, &used);
        }
        check_arena(tok);
        check_render(tok, names);
        print_events(&out, tok);
        if (sl_tok_memory(tok) > (size_t)lim->max_stanza_bytes * 64 + (8u << 20)) abort();
        if (rc < 0) {
            const sl_error *e = sl_tok_error(tok);
            if (!e) abort();
            if (e->byte_offset > off + n + 4) abort();
            txt_str(&out, "error ");
            txt_str(&out, sl_condition_name(e->condition));
            txt_str(&out, "\n");
            break;
        }
        if (used > n) abort();
        off += used ? used : n;
        if (!used && max_events == 0) abort();
    }
    sl_names_free(names);
    sl_ring_free(ring);
    sl_tok_free(tok);
    return out.buf;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    sl_limits lim;
    char *a, *b;
    if (size < 3) return 0;
    sl_limits_default(&lim);
    if (data[2] & 1) {
        lim.max_stanza_bytes = 64 + data[2] * 4u;
        lim.max_depth = 1 + (data[2] >> 5);
        lim.max_attrs = 1 + (data[2] & 7);
        lim.max_name_len = 4 + (data[2] >> 4);
        /* a skipped stanza may grow to 1..4 times max_stanza_bytes */
        lim.max_skip_bytes = lim.max_stanza_bytes * (1u + ((data[2] >> 1) & 3u));
    }
    a = run(data + 3, size - 3, data[0], data[1] & 3, &lim, data[0] & 8);
    b = run(data + 3, size - 3, 2, 0, &lim, 0);
    if (strcmp(a, b) != 0) {
        fprintf(stderr, "chunked:\n%s\nwhole:\n%s\n", a, b);
        abort();
    }
    free(a);
    free(b);
    return 0;
}
