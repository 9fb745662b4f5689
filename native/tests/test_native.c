/* C unit tests and golden cases for the stanzalink native core.
 * Usage: test_native GOLDEN_DIR
 * Prints one line per failure and a closing "N passed, N failed". */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "print_events.h"
#include "stanzalink/ringbuf.h"
#include "stanzalink/tokenizer.h"
#include "stanzalink/tree.h"

static int passed, failed;

#define CHECK(cond, ...)                                   \
    do {                                                   \
        if (cond) passed++;                                \
        else {                                             \
            failed++;                                      \
            printf("FAIL %s:%d: ", __FILE__, __LINE__);    \
            printf(__VA_ARGS__);                           \
            printf("\n");                                  \
        }                                                  \
    } while (0)

static const char HEADER[] =
    "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
    "xmlns:stream='http://etherx.jabber.org/streams' from='example.net' id='s1' version='1.0'>";

/* Feed data in chunks of `chunk` bytes (0: whole); returns the printed
 * events, ending with "error <condition>" on a fault. */
static char *run_chunked(const uint8_t *data, size_t len, size_t chunk, const sl_limits *lim) {
    sl_tok *tok = sl_tok_new(lim);
    sl_text out = {0};
    size_t off = 0;
    if (!chunk) chunk = len ? len : 1;
    while (off < len) {
        size_t n = len - off < chunk ? len - off : chunk, used = 0;
        int rc = sl_tok_feed(tok, data + off, n, 0, &used);
        print_events(&out, tok);
        if (rc < 0) {
            const sl_error *e = sl_tok_error(tok);
            txt_str(&out, "error ");
            txt_str(&out, e ? sl_condition_name(e->condition) : "local");
            txt_str(&out, "\n");
            break;
        }
        off += n;
    }
    if (!out.buf) txt_str(&out, "");
    sl_tok_free(tok);
    return out.buf;
}

static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    char *buf;
    long n;
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc((size_t)n + 1);
    if (fread(buf, 1, (size_t)n, f) != (size_t)n) n = 0;
    buf[n] = 0;
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static void golden(const char *dir) {
    DIR *d = opendir(dir);
    struct dirent *de;
    static const size_t chunks[] = {0, 1, 2, 3, 5, 64, 4096};
    int cases = 0;
    if (!d) {
        CHECK(0, "cannot open golden directory %s", dir);
        return;
    }
    while ((de = readdir(d))) {
        char path[1024], outpath[1024];
        size_t n = strlen(de->d_name), len, olen, i;
        char *data, *expect;
        if (n < 5 || strcmp(de->d_name + n - 4, ".xml")) continue;
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        snprintf(outpath, sizeof outpath, "%s/%.*s.out", dir, (int)(n - 4), de->d_name);
        data = read_file(path, &len);
        expect = read_file(outpath, &olen);
        cases++;
        if (!expect) {
            char *got = run_chunked((const uint8_t *)data, len, 0, NULL);
            CHECK(0, "%s: no .out file; the tokenizer prints:\n%s", de->d_name, got);
            free(got);
            free(data);
            continue;
        }
        for (i = 0; i < sizeof chunks / sizeof chunks[0]; i++) {
            char *got = run_chunked((const uint8_t *)data, len, chunks[i], NULL);
            CHECK(strcmp(got, expect) == 0, "%s at chunk %zu:\n--- expected\n%s--- got\n%s", de->d_name,
                  chunks[i], expect, got);
            free(got);
        }
        free(data);
        free(expect);
    }
    closedir(d);
    CHECK(cases >= 20, "only %d golden cases found in %s", cases, dir);
}

/* The events and the fault (with its byte, line and column) of data fed in
 * the pieces that end at cuts[0..ncut) and then the rest, at most
 * max_events per call (0: all); a piece is fed again from where the last
 * call stopped. */
static char *run_cuts(const uint8_t *data, size_t len, const size_t *cuts, size_t ncut, uint32_t max_events) {
    sl_tok *tok = sl_tok_new(NULL);
    sl_text out = {0};
    size_t off = 0, k;
    char line[160];
    for (k = 0; k <= ncut && off <= len; k++) {
        size_t stop = k < ncut ? cuts[k] : len;
        while (off < stop) {
            size_t used = 0;
            int rc = sl_tok_feed(tok, data + off, stop - off, max_events, &used);
            print_events(&out, tok);
            if (rc < 0) {
                const sl_error *e = sl_tok_error(tok);
                snprintf(line, sizeof line, "error %s at %llu line %u column %u\n",
                         sl_condition_name(e->condition), (unsigned long long)e->byte_offset, e->line, e->column);
                txt_str(&out, line);
                off = len + 1;
                break;
            }
            off += used;
            if (!used) break; /* the rest goes with the next piece */
        }
    }
    if (!out.buf) txt_str(&out, "");
    sl_tok_free(tok);
    return out.buf;
}

/* A tag cut anywhere by a chunk boundary (held by the fast path until it is
 * whole) gives what the whole input gives: the same stanzas and the same
 * fault at the same place, also one event per call. */
static void test_every_cut(void) {
    static const char *bodies[] = {
        "<message id='a&amp;b' to=\"x&lt;y\" type='chat'><body>caf\xc3\xa9 \xf0\x9f\x9a\x80 &#x1F680;</body>"
        "<x xmlns='urn:t' v='\xf0\x9f\x9a\x80&#10;&quot;' xml:lang='en'/><y/></message>"
        "<presence from='&#x5A;o&#xEB;'><c xmlns='urn:c' ver='a=b'/></presence>",
        /* faults inside a tag and after one */
        "<message><a b='1' b='2'/></message>",
        "<message><a b='1'></b></message>",
        "<message><a b='x\x01'/></message>",
        "<message><a b='\xed\xa0\x80'/></message>",
        "<message><a b='&bogus;'/></message>",
        "<message><a p:b='1'/></message>",
        "<message><a b='1'/><c d='<'/></message>",
    };
    size_t i, cut, cut2;
    for (i = 0; i < sizeof bodies / sizeof bodies[0]; i++) {
        char buf[1024];
        size_t len;
        char *whole;
        snprintf(buf, sizeof buf, "%s%s</stream:stream>", HEADER, bodies[i]);
        len = strlen(buf);
        whole = run_cuts((const uint8_t *)buf, len, NULL, 0, 0);
        for (cut = 1; cut < len; cut++) {
            char *got = run_cuts((const uint8_t *)buf, len, &cut, 1, 0);
            char *one = run_cuts((const uint8_t *)buf, len, &cut, 1, 1);
            CHECK(strcmp(got, whole) == 0, "case %zu cut at %zu:\n--- whole\n%s--- cut\n%s", i, cut, whole, got);
            CHECK(strcmp(one, whole) == 0, "case %zu cut at %zu, one event a call:\n--- whole\n%s--- cut\n%s", i,
                  cut, whole, one);
            free(got);
            free(one);
        }
        /* two cuts close together: a held tag still cut by the next chunk */
        for (cut = strlen(HEADER); cut + 3 < len; cut += 3)
            for (cut2 = cut + 1; cut2 < cut + 4; cut2++) {
                size_t cuts[2] = {cut, cut2};
                char *got = run_cuts((const uint8_t *)buf, len, cuts, 2, 0);
                CHECK(strcmp(got, whole) == 0, "case %zu cuts at %zu, %zu:\n--- whole\n%s--- cut\n%s", i, cut, cut2,
                      whole, got);
                free(got);
            }
        free(whole);
    }
}

static void test_limits_exact(void) {
    sl_limits lim;
    char buf[1024];
    size_t hl = strlen(HEADER);
    int body;
    char *out;
    sl_limits_default(&lim);
    lim.max_stanza_bytes = 200;
    /* a stanza of exactly 200 bytes passes, 201 does not */
    for (body = 199; body <= 201; body++) {
        size_t n;
        memcpy(buf, HEADER, hl);
        n = hl;
        n += (size_t)sprintf(buf + n, "<message><body>");
        memset(buf + n, 'x', (size_t)body - 32);
        n += (size_t)body - 32;
        n += (size_t)sprintf(buf + n, "</body></message>");
        out = run_chunked((const uint8_t *)buf, n, 7, &lim);
        if (body <= 200) CHECK(strstr(out, "stanza") && !strstr(out, "error"), "%d-byte stanza: %s", body, out);
        else CHECK(strstr(out, "skip max_stanza_bytes @147-348 E{jabber:client}message /\n") && !strstr(out, "error") &&
                       !strstr(out, "\nstanza"),
                   "%d-byte stanza: %s", body, out);
        free(out);
    }
}

static void test_error_position(void) {
    sl_tok *tok = sl_tok_new(NULL);
    const char *s = "<stream:stream xmlns:stream='http://etherx.jabber.org/streams'>\n<a>\n  <b>\x01</b></a>";
    size_t used = 0;
    int rc = sl_tok_feed(tok, (const uint8_t *)s, strlen(s), 0, &used);
    const sl_error *e = sl_tok_error(tok);
    CHECK(rc == SL_E_STREAM && e && e->condition == SL_COND_NOT_WELL_FORMED, "rc %d", rc);
    CHECK(e && e->line == 3 && e->column == 6, "line %u column %u", e ? e->line : 0, e ? e->column : 0);
    CHECK(e && e->byte_offset == (uint64_t)(strchr(s, 1) - s), "offset %llu",
          e ? (unsigned long long)e->byte_offset : 0ull);
    CHECK(e && e->message && strlen(e->message) > 5, "message");
    CHECK(sl_tok_feed(tok, (const uint8_t *)"<a/>", 4, 0, NULL) == SL_E_STATE, "feed after error");
    sl_tok_reset(tok);
    CHECK(sl_tok_error(tok) == NULL, "reset clears the error");
    CHECK(sl_tok_feed(tok, (const uint8_t *)HEADER, strlen(HEADER), 0, NULL) == 1, "new stream after reset");
    sl_tok_free(tok);
}

static void test_max_events_and_consumed(void) {
    sl_tok *tok = sl_tok_new(NULL);
    char buf[512];
    size_t used = 0, off = 0, hl = strlen(HEADER);
    int rc, total = 0;
    snprintf(buf, sizeof buf, "%s<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>\x16\x03garbage", HEADER);
    rc = sl_tok_feed(tok, (const uint8_t *)buf, strlen(buf), 1, &used);
    CHECK(rc == 1 && used == hl, "open: rc %d used %zu", rc, used);
    off += used;
    rc = sl_tok_feed(tok, (const uint8_t *)buf + off, strlen(buf) - off, 1, &used);
    CHECK(rc == 1 && used == strlen("<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"), "proceed: used %zu",
          used);
    total += rc;
    CHECK(total == 1, "events");
    sl_tok_free(tok);
}

static void test_ring(void) {
    sl_ring *r = sl_ring_new(64);
    sl_tok *tok = sl_tok_new(NULL);
    const char *st = "<message><body>ring</body></message>";
    uint8_t *w;
    size_t n, i, hl = strlen(HEADER);
    int rc, stanzas = 0;
    CHECK(sl_ring_capacity(r) == 64 && sl_ring_writable(r) == 64, "capacity");
    CHECK(sl_ring_write(r, (const uint8_t *)"0123456789", 10) == 10, "write");
    CHECK(sl_ring_consume(r, 11) == SL_E_ARG, "consume too much");
    sl_ring_consume(r, 10);
    sl_ring_clear(r);
    /* feed the header and then stanzas through the ring so that it wraps */
    for (i = 0; i < hl;) {
        size_t k = sl_ring_write(r, (const uint8_t *)HEADER + i, hl - i);
        i += k;
        rc = sl_ring_feed(r, tok, 0);
        CHECK(rc >= 0, "ring feed header rc %d", rc);
    }
    for (i = 0; i < 20; i++) {
        size_t done = 0, len = strlen(st);
        while (done < len) {
            n = sl_ring_write_ptr(r, &w);
            if (n > len - done) n = len - done;
            if (n > 23) n = 23; /* odd sizes: the ring wraps mid-stanza */
            memcpy(w, st + done, n);
            CHECK(sl_ring_commit(r, n) == SL_OK, "commit");
            done += n;
            rc = sl_ring_feed(r, tok, 0);
            CHECK(rc >= 0, "ring feed rc %d", rc);
            if (rc > 0) stanzas += rc;
            CHECK(sl_ring_readable(r) == 0, "ring drained");
        }
    }
    CHECK(stanzas == 20, "stanzas through the ring: %d", stanzas);
    n = sl_ring_write_ptr(r, &w);
    CHECK(sl_ring_commit(r, n + 1) == SL_E_ARG, "commit beyond region");
    sl_tok_free(tok);
    sl_ring_free(r);
}

static void test_bytewise_linear(void) {
    /* a 1 MiB text fed one byte at a time: time per byte must not grow */
    sl_limits lim;
    sl_tok *tok;
    size_t hl = strlen(HEADER), i;
    clock_t t0, t1, t2;
    const uint8_t x = 'x';
    sl_limits_default(&lim);
    lim.max_stanza_bytes = 4u << 20;
    tok = sl_tok_new(&lim);
    sl_tok_feed(tok, (const uint8_t *)HEADER, hl, 0, NULL);
    sl_tok_feed(tok, (const uint8_t *)"<message><body>", 15, 0, NULL);
    t0 = clock();
    for (i = 0; i < (1u << 19); i++) sl_tok_feed(tok, &x, 1, 0, NULL);
    t1 = clock();
    for (i = 0; i < (1u << 19); i++) sl_tok_feed(tok, &x, 1, 0, NULL);
    t2 = clock();
    /* the second half may not cost many times the first (quadratic would be 3x+) */
    CHECK((double)(t2 - t1) < 2.5 * (double)(t1 - t0) + 0.05 * CLOCKS_PER_SEC, "first %ld second %ld",
          (long)(t1 - t0), (long)(t2 - t1));
    CHECK(sl_tok_feed(tok, (const uint8_t *)"</body></message>", 17, 0, NULL) == 1, "stanza delivered");
    {
        uint32_t nn, pl;
        sl_tok_nodes(tok, &nn);
        sl_tok_pool(tok, &pl);
        CHECK(pl >= (1u << 20), "pool holds the text: %u", pl);
    }
    sl_tok_reset(tok);
    CHECK(sl_tok_memory(tok) < 256 * 1024, "memory after reset: %zu", sl_tok_memory(tok));
    sl_tok_free(tok);
}

/* the tag_id of a fed stanza (0 when the feed did not end with one) */
static uint32_t last_tag_id(sl_tok *tok, const char *xml) {
    uint32_t n = 0;
    const sl_event *ev;
    if (sl_tok_feed(tok, (const uint8_t *)xml, strlen(xml), 0, NULL) < 1) return 0xFFFFFFFFu;
    ev = sl_tok_events(tok, &n);
    return n && ev[n - 1].kind == SL_EV_STANZA ? ev[n - 1].tag_id : 0xFFFFFFFFu;
}

static void test_tag_ids(void) {
    sl_tok *tok = sl_tok_new(NULL);
    uint32_t msg, pres, i, ev_n = 0;
    char buf[200];
    const sl_event *ev;
    CHECK(sl_tok_feed(tok, (const uint8_t *)HEADER, strlen(HEADER), 0, NULL) == 1, "header");
    ev = sl_tok_events(tok, &ev_n);
    CHECK(ev_n == 1 && ev[0].tag_id == 0, "the open event has no tag_id");
    msg = last_tag_id(tok, "<message><body>x</body></message>");
    pres = last_tag_id(tok, "<presence/>");
    CHECK(msg >= 1 && msg <= SL_TAG_IDS && pres >= 1 && pres <= SL_TAG_IDS && msg != pres, "ids %u %u", msg, pres);
    CHECK(last_tag_id(tok, "<message type='chat'/>") == msg, "same name, same id");
    CHECK(last_tag_id(tok, "<message xmlns='urn:other'/>") != msg, "same local name in another namespace");
    CHECK(last_tag_id(tok, "<p:message xmlns:p='jabber:client'/>") == msg, "prefixes do not matter");
    CHECK(last_tag_id(tok, "<massage/>") != msg, "same lengths, same first byte");
    /* fill the table: later names get 0, the numbered ones keep theirs */
    for (i = 0; i < SL_TAG_IDS; i++) {
        snprintf(buf, sizeof buf, "<n%u/>", i);
        CHECK(last_tag_id(tok, buf) != 0xFFFFFFFFu, "stanza %u", i);
    }
    CHECK(last_tag_id(tok, "<another/>") == 0, "no id once the table is full");
    CHECK(last_tag_id(tok, "<message/>") == msg, "still numbered");
    snprintf(buf, sizeof buf, "<x xmlns='urn:%0100d'/>", 1);
    CHECK(last_tag_id(tok, buf) == 0, "a long name gets no id");
    sl_tok_reset(tok);
    CHECK(sl_tok_feed(tok, (const uint8_t *)HEADER, strlen(HEADER), 0, NULL) == 1, "header after reset");
    CHECK(last_tag_id(tok, "<presence/>") == pres, "ids survive a reset");
    sl_tok_free(tok);
}

static void test_bad_arguments(void) {
    sl_limits lim;
    sl_limits_default(&lim);
    lim.max_depth = 0;
    CHECK(sl_tok_new(&lim) == NULL, "zero limit refused");
    CHECK(sl_ring_new(0) == NULL, "empty ring refused");
    CHECK(sl_tok_feed(NULL, NULL, 0, 0, NULL) == SL_E_ARG, "null handle");
    CHECK(strcmp(sl_condition_name(SL_COND_RESTRICTED_XML), "restricted-xml") == 0, "names");
}

static void test_escape(void) {
    uint8_t out[64];
    size_t n = sl_escape((const uint8_t *)"a<&>\"\r\n\t", 8, out, sizeof out, 1);
    CHECK(n == strlen("a&lt;&amp;&gt;&quot;&#13;&#10;&#9;") &&
              memcmp(out, "a&lt;&amp;&gt;&quot;&#13;&#10;&#9;", n) == 0,
          "attr escape");
    n = sl_escape((const uint8_t *)"a<\"\r\n", 5, out, sizeof out, 0);
    CHECK(n == strlen("a&lt;\"&#13;\n") && memcmp(out, "a&lt;\"&#13;\n", n) == 0, "text escape");
    CHECK(sl_escape((const uint8_t *)"&&&&", 4, out, 3, 0) == 20, "size when too small");
}

/* sl_tok_pack: the completed events only (not the stanza still open at the
 * end of the feed), in order, with their nodes and pool bytes after them. */
static void test_pack(void) {
    sl_tok *tok = sl_tok_new(NULL);
    sl_packed pk;
    const char *s1 = "<message id='a'><body>h&amp;i</body></message><iq type='get'/><presence><sh";
    const uint32_t *w;
    const sl_node *nodes;
    const char *pool;
    int rc;
    rc = sl_tok_feed(tok, (const uint8_t *)HEADER, strlen(HEADER), 0, NULL);
    CHECK(rc == 1 && sl_tok_pack(tok, &pk) == 0 && pk.events == 1 &&
              *(const uint32_t *)(const void *)pk.data == SL_TAG_IDS + SL_EV_OPEN,
          "header packed");
    rc = sl_tok_feed(tok, (const uint8_t *)s1, strlen(s1), 0, NULL);
    CHECK(rc == 2, "two stanzas: rc %d", rc);
    CHECK(sl_tok_pack(tok, &pk) == 0 && pk.events == 2, "pack: %u events", pk.events);
    w = (const uint32_t *)(const void *)pk.data;
    CHECK(pk.nodes_off == 2 * SL_PACKED_WORDS * 4, "nodes after the events");
    CHECK(w[0] >= 1 && w[0] <= SL_TAG_IDS && w[4] >= 1 && w[4] <= SL_TAG_IDS && w[4] != w[0],
          "numbered stanzas: their tag ids");
    CHECK(w[1] == 0 && w[5] == w[2] && pk.pool_off == pk.nodes_off + (w[5] + w[6]) * sizeof(sl_node),
          "node ranges: %u+%u, %u+%u", w[1], w[2], w[5], w[6]);
    nodes = (const sl_node *)(const void *)(pk.data + pk.nodes_off);
    pool = pk.data + pk.pool_off;
    CHECK(nodes[3].kind == SL_NODE_TEXT && nodes[3].val_len == 3 && memcmp(pool + w[3] + nodes[3].val_off, "h&i", 3) == 0,
          "the body text decoded in the packed pool");
    CHECK(pk.size > pk.pool_off && pk.size <= pk.pool_off + (w[7] + 64), "size covers the two stanzas' pool");
    /* the open <presence> completes in the next feed and is packed then */
    rc = sl_tok_feed(tok, (const uint8_t *)"ow>away</show></presence>", 25, 0, NULL);
    CHECK(rc == 1 && sl_tok_pack(tok, &pk) == 0 && pk.events == 1, "the rest of the presence");
    w = (const uint32_t *)(const void *)pk.data;
    nodes = (const sl_node *)(const void *)(pk.data + pk.nodes_off);
    CHECK(w[1] == 0 && w[2] == 3 && nodes[1].kind == SL_NODE_ELEM && nodes[1].name_len == 4 &&
              memcmp(pk.data + pk.pool_off + w[3] + nodes[1].name_off, "show", 4) == 0,
          "the presence packed whole");
    /* after a fault, what completed before it */
    rc = sl_tok_feed(tok, (const uint8_t *)"<a/><b></c>", 11, 0, NULL);
    CHECK(rc == SL_E_STREAM && sl_tok_pack(tok, &pk) == 0 && pk.events == 1, "events before a fault: %u", pk.events);
    sl_tok_free(tok);
}


/* the stream of HEADER + body, in the golden form, for every chunk size
 * from 1 to 16 and whole: all the same (returned), else a failure */
static char *skip_run(const char *body, const sl_limits *lim) {
    char *buf = malloc(strlen(HEADER) + strlen(body) + 1), *whole;
    size_t len, chunk;
    strcpy(buf, HEADER);
    strcat(buf, body);
    len = strlen(buf);
    whole = run_chunked((const uint8_t *)buf, len, 0, lim);
    for (chunk = 1; chunk <= 16; chunk++) {
        char *got = run_chunked((const uint8_t *)buf, len, chunk, lim);
        CHECK(strcmp(got, whole) == 0, "chunk %zu:\n--- whole\n%s--- chunked\n%s", chunk, whole, got);
        free(got);
    }
    free(buf);
    return whole;
}

/* the lines of out after the open line */
static const char *after_open(const char *out) {
    const char *nl = strchr(out, '\n');
    return nl ? nl + 1 : out;
}

static void repeat(char *buf, const char *s, int n) {
    while (n--) strcat(buf, s);
}

/* A stanza crossing a limit is skipped whole, reported once, and the
 * stream goes on. */
static void test_skip(void) {
    static char body[16384];
    sl_limits lim;
    char *out;
    int i;
    const char *after = "stanza E{jabber:client}message A{}id=ok E{jabber:client}body T|after| / /\n";
    const char *ok = "<message id='ok'><body>after</body></message>";

    /* 70 nested elements (the issue's message), then a stanza that arrives */
    strcpy(body, "<message from='a@b/c' to='me@d' id='x1' type='chat' xml:lang='en'><body>x</body>");
    repeat(body, "<a>", 70);
    repeat(body, "</a>", 70);
    strcat(body, "</message>");
    strcat(body, ok);
    out = skip_run(body, NULL);
    CHECK(strncmp(after_open(out),
                  "skip max_depth @147-",
                  20) == 0 && strstr(out, "E{jabber:client}message A{}from=a@b/c A{}to=me@d A{}id=x1 A{}type=chat /\n") &&
              strstr(out, after) && !strstr(out, "error"),
          "70 nested: %s", out);
    free(out);

    /* 70 attributes on the stanza itself, empty and not; and on a child */
    strcpy(body, "<iq type='set' id='w1' ");
    for (i = 0; i < 70; i++) sprintf(body + strlen(body), " a%d='%d'", i, i);
    strcat(body, "/>");
    strcat(body, ok);
    strcat(body, "<message id='w2'><x ");
    for (i = 0; i < 70; i++) sprintf(body + strlen(body), " xmlns:p%d='urn:%d'", i, i);
    strcat(body, "><p3:y p9:z='1'/></x></message>");
    strcat(body, ok);
    out = skip_run(body, NULL);
    CHECK(strstr(out, "skip max_attrs") && strstr(out, "E{jabber:client}iq A{}type=set A{}id=w1 /\n") &&
              strstr(out, "E{jabber:client}message A{}id=w2 /\n" "stanza") && !strstr(out, "error"),
          "70 attributes: %s", out);
    free(out);

    /* a name over max_name_len, on the stanza and inside it */
    sl_limits_default(&lim);
    lim.max_name_len = 13; /* stream:stream */
    out = skip_run("<message to='t'><body bodybodybodybo='1'/></message><longer-name-xyz id='n'/><message id='ok'/>",
                   &lim);
    CHECK(strcmp(after_open(out), "skip max_name_len @147-199 E{jabber:client}message A{}to=t /\n"
                                  "skip max_name_len @199-224 E{jabber:client}longer-name-xyz A{}id=n /\n"
                                  "stanza E{jabber:client}message A{}id=ok /\n") == 0,
          "names: %s", out);
    free(out);

    /* bytes: over max_stanza_bytes in the start tag (no tag known), in the
     * text, and the first limit in document order wins */
    sl_limits_default(&lim);
    lim.max_stanza_bytes = 160;
    lim.max_depth = 3;
    strcpy(body, "<message id='a' ");
    repeat(body, " ", 200);
    strcat(body, "><body>x</body></message><message id='b'><body>");
    repeat(body, "y", 300);
    strcat(body, "</body></message><message id='c'><a><b><c><d/></c></b></a><body>");
    repeat(body, "z", 300);
    strcat(body, "</body></message><message id='ok'/>");
    out = skip_run(body, &lim);
    CHECK(strstr(out, "skip max_stanza_bytes @147-") && strstr(out, " E{} /\nskip max_stanza_bytes @") &&
              strstr(out, "E{jabber:client}message A{}id=b /\nskip max_depth @") &&
              strstr(out, "E{jabber:client}message A{}id=c /\nstanza E{jabber:client}message A{}id=ok /\n") &&
              !strstr(out, "error"),
          "bytes: %s", out);
    free(out);

    /* broken XML inside a skipped stanza still ends the stream */
    {
        static const char *const broken[][2] = {
            {"</c>", "not-well-formed"},          /* mismatched end tag */
            {"<!-- x -->", "restricted-xml"},     /* a comment */
            {"<q:r/>", "not-well-formed"},        /* an unbound prefix */
            {"<r a='1' a='2'/>", "not-well-formed"}, /* a duplicate attribute */
            {"&nbsp;", "restricted-xml"},         /* an entity */
            {"\xff", "not-well-formed"},          /* bad UTF-8 */
            {"<stream:stream/>", "not-well-formed"},
            {"<r xmlns:p='urn:p' xmlns:q='urn:p' p:a='1' q:a='2'/>", "not-well-formed"},
        };
        size_t k;
        for (k = 0; k < sizeof broken / sizeof broken[0]; k++) {
            char want[64];
            strcpy(body, "<message><a>");
            repeat(body, "<b>", 70);
            strcat(body, broken[k][0]);
            repeat(body, "</b>", 70);
            strcat(body, "</a></message>");
            strcat(body, ok);
            out = skip_run(body, NULL);
            snprintf(want, sizeof want, "error %s\n", broken[k][1]);
            CHECK(strcmp(after_open(out), want) == 0, "%s inside a skipped stanza: %s", broken[k][0], out);
            free(out);
        }
    }

    /* the stream header over a limit stays a stream error */
    sl_limits_default(&lim);
    lim.max_attrs = 3;
    out = skip_run("<message/>", &lim);
    CHECK(strcmp(out, "error policy-violation\n") == 0, "header attrs: %s", out);
    free(out);

    /* the hard cap: a skipped stanza over max_skip_bytes */
    sl_limits_default(&lim);
    lim.max_stanza_bytes = 200;
    lim.max_skip_bytes = 400;
    strcpy(body, "<message><body>");
    repeat(body, "y", 360);
    strcat(body, "</body></message>"); /* 392 bytes: skipped */
    strcat(body, "<message><body>");
    repeat(body, "y", 369);
    strcat(body, "</body></message>"); /* 401 bytes */
    out = skip_run(body, &lim);
    CHECK(strstr(after_open(out), "skip max_stanza_bytes @147-539 E{jabber:client}message /\nerror policy-violation\n"),
          "hard cap: %s", out);
    free(out);
    lim.max_skip_bytes = 199;
    CHECK(sl_tok_new(&lim) == NULL, "max_skip_bytes below max_stanza_bytes is refused");
}

/* Skipping a deep stanza keeps its names, not its text or nodes; what a
 * long skip grew is given back when it ends. */
static void test_skip_memory(void) {
    sl_tok *tok = sl_tok_new(NULL);
    size_t base, peak = 0, i, n = 100000;
    const char *open_tag = "<element>", *close_tag = "</element>";
    uint8_t text[4096];
    int skipped = 0;
    uint32_t ne;
    const sl_event *ev;
    memset(text, 't', sizeof text);
    sl_tok_feed(tok, (const uint8_t *)HEADER, strlen(HEADER), 0, NULL);
    sl_tok_feed(tok, (const uint8_t *)"<message><body>hi</body></message>", 34, 0, NULL);
    base = sl_tok_memory(tok);
    sl_tok_feed(tok, (const uint8_t *)"<message>", 9, 0, NULL);
    /* 100 levels (the skip starts at the 65th), then 200 KiB of text: not kept */
    for (i = 0; i < 100; i++) sl_tok_feed(tok, (const uint8_t *)open_tag, strlen(open_tag), 0, NULL);
    for (i = 0; i < 50; i++) sl_tok_feed(tok, text, sizeof text, 0, NULL);
    CHECK(sl_tok_memory(tok) < base + 16 * 1024, "100 levels and 200 KiB of text: %zu (base %zu)",
          sl_tok_memory(tok), base);
    /* 100,000 levels (1 MB): the names and one frame each */
    for (i = 100; i < n; i++) {
        sl_tok_feed(tok, (const uint8_t *)open_tag, strlen(open_tag), 0, NULL);
        if (sl_tok_memory(tok) > peak) peak = sl_tok_memory(tok);
    }
    /* 9 input bytes a level: its name (7) and 4 bytes in the pool and on the stack, at most doubled */
    CHECK(peak < base + n * 24, "skipping 100000 levels: %zu bytes (base %zu)", peak, base);
    printf("skipping 100000 levels of <element>: peak %zu bytes over %zu\n", peak - base, base);
    for (i = 0; i < n; i++) sl_tok_feed(tok, (const uint8_t *)close_tag, strlen(close_tag), 0, NULL);
    CHECK(sl_tok_feed(tok, (const uint8_t *)"</message>", 10, 0, NULL) == 1, "the skip ends");
    ev = sl_tok_events(tok, &ne);
    skipped = ne == 1 && ev[0].kind == SL_EV_SKIP && ev[0].limit == SL_LIMIT_DEPTH;
    CHECK(skipped, "one skip event");
    CHECK(sl_tok_memory(tok) < base + 512 * 1024, "after the skip: %zu (base %zu)", sl_tok_memory(tok), base);
    CHECK(sl_tok_feed(tok, (const uint8_t *)"<message><body>hi</body></message>", 34, 0, NULL) == 1,
          "a stanza after the skip");
    /* the worst shape: <a> nested up to max_skip_bytes; and namespace
     * declarations on every level */
    {
        static const char *const shapes[] = {"<a>", "<a xmlns:p='u'>"};
        size_t k;
        for (k = 0; k < 2; k++) {
            size_t len = strlen(shapes[k]), levels = (4u << 20) / len - 10, total = 9;
            peak = 0;
            sl_tok_reset(tok);
            sl_tok_feed(tok, (const uint8_t *)HEADER, strlen(HEADER), 0, NULL);
            sl_tok_feed(tok, (const uint8_t *)"<message>", 9, 0, NULL);
            for (i = 0; i < levels; i++) {
                int rc = sl_tok_feed(tok, (const uint8_t *)shapes[k], len, 0, NULL);
                if (rc < 0) break;
                total += len;
                if ((i & 1023) == 0 && sl_tok_memory(tok) > peak) peak = sl_tok_memory(tok);
            }
            CHECK(total > (4u << 20) - 20 * len, "%s: fed %zu", shapes[k], total);
            /* about 2.5 bytes a byte of <a>, 6 of declarations (a binding each) */
            CHECK(peak < base + total * (k ? 7 : 3), "%s nested to 4 MiB: %zu bytes", shapes[k], peak);
            printf("skipping %zu bytes of %s: peak %zu bytes over %zu\n", total, shapes[k], peak - base, base);
            {
                int rc = 0;
                for (i = 0; i < 100 && rc >= 0; i++) rc = sl_tok_feed(tok, (const uint8_t *)"<a>", 3, 0, NULL);
                CHECK(rc == SL_E_STREAM && sl_tok_error(tok)->condition == SL_COND_POLICY_VIOLATION &&
                          sl_tok_error(tok)->byte_offset == strlen(HEADER) + (4u << 20),
                      "over max_skip_bytes: rc %d", rc);
            }
            sl_tok_reset(tok);
            CHECK(sl_tok_memory(tok) < base + 256 * 1024, "after reset: %zu", sl_tok_memory(tok));
        }
    }
    sl_tok_free(tok);
}

/* Prefix lookups in a skipped stanza with many declarations in scope take
 * constant time (an index by prefix): n declarations and n lookups of the
 * outermost prefix cost linear time, not quadratic. */
static double skip_lookups(size_t n) {
    sl_tok *tok = sl_tok_new(NULL);
    size_t i;
    clock_t t0;
    int rc;
    uint32_t ne = 0;
    const sl_event *ev;
    char buf[64];
    sl_tok_feed(tok, (const uint8_t *)HEADER, strlen(HEADER), 0, NULL);
    t0 = clock();
    sl_tok_feed(tok, (const uint8_t *)"<message xmlns:p='urn:p'>", 25, 0, NULL);
    for (i = 0; i < n; i++) {
        /* distinct prefixes, some rebinding p (hiding the outer one) */
        int len = i % 7 == 3 ? snprintf(buf, sizeof buf, "<a xmlns:p='urn:%zu'>", i)
                             : snprintf(buf, sizeof buf, "<a xmlns:q%zu='urn:q'>", i);
        sl_tok_feed(tok, (const uint8_t *)buf, (size_t)len, 0, NULL);
    }
    for (i = 0; i < n; i++) sl_tok_feed(tok, (const uint8_t *)"<p:b q1:c='1'/>", 15, 0, NULL);
    for (i = 0; i < n; i++) sl_tok_feed(tok, (const uint8_t *)"</a>", 4, 0, NULL);
    rc = sl_tok_feed(tok, (const uint8_t *)"<p:b/></message><message/>", 26, 0, NULL);
    ev = sl_tok_events(tok, &ne);
    CHECK(rc == 2 && ne == 2 && ev[0].kind == SL_EV_SKIP && ev[1].kind == SL_EV_STANZA, "%zu declarations: rc %d",
          n, rc);
    /* the rebinding of q5 is gone with its element: unbound again */
    sl_tok_feed(tok, (const uint8_t *)"<message>", 9, 0, NULL);
    for (i = 0; i < 70; i++) sl_tok_feed(tok, (const uint8_t *)"<a xmlns:q5='u'>", 16, 0, NULL);
    for (i = 0; i < 70; i++) sl_tok_feed(tok, (const uint8_t *)"</a>", 4, 0, NULL);
    rc = sl_tok_feed(tok, (const uint8_t *)"<q5:x/>", 7, 0, NULL);
    CHECK(rc == SL_E_STREAM && sl_tok_error(tok)->condition == SL_COND_NOT_WELL_FORMED, "unbound again: rc %d", rc);
    sl_tok_free(tok);
    return (double)(clock() - t0) / CLOCKS_PER_SEC;
}

static void test_skip_lookups_linear(void) {
    double t1 = skip_lookups(10000), t4 = skip_lookups(40000);
    CHECK(t4 < 8 * t1 + 0.05, "10000: %.3f s, 40000: %.3f s", t1, t4);
}

static void test_default_limits(void) {
    sl_limits lim;
    sl_limits_default(&lim);
    CHECK(lim.max_stanza_bytes == SL_DEFAULT_MAX_STANZA_BYTES && lim.max_stanza_bytes == 1048576,
          "max_stanza_bytes %u", lim.max_stanza_bytes);
    CHECK(lim.max_skip_bytes == SL_DEFAULT_MAX_SKIP_BYTES && lim.max_skip_bytes >= lim.max_stanza_bytes,
          "max_skip_bytes %u", lim.max_skip_bytes);
}


/* ---- sl_tree_render ------------------------------------------------------ */
typedef struct rendered {
    int rc;
    uint32_t need[5];
    char str[4096];
    uint32_t rec[2048];
    const char *s[256]; /* the strings by index */
    uint32_t ns;
} rendered;

/* Render the stanza that is event 0 of the last feed's pack; split the
 * strings.  str_cap 0 means the whole buffer. */
static void render_first(sl_tok *tok, sl_names *names, uint32_t flags, uint32_t str_cap, rendered *r) {
    sl_packed pk;
    uint32_t i, at = 0;
    memset(r, 0, sizeof *r);
    if (sl_tok_pack(tok, &pk) != 0 || pk.events < 1) {
        r->rc = -100;
        return;
    }
    r->rc = sl_tree_render(names, (const uint8_t *)pk.data, pk.size, 0, pk.nodes_off, pk.pool_off, flags, r->str,
                           str_cap ? str_cap : sizeof r->str, r->rec, sizeof r->rec / 4, r->need);
    if (r->rc <= 0) return;
    for (i = 0; i < r->rec[1] && i < 256; i++) {
        r->s[i] = r->str + at;
        at += (uint32_t)strlen(r->str + at) + 1;
    }
    r->ns = i;
}

/* the n-th number after the header (byte-wide numbers) */
static uint32_t num(const rendered *r, uint32_t n) {
    return ((const uint8_t *)r->rec)[SL_TREE_HEADER * 4 + n];
}

static void test_tree(void) {
    sl_tok *tok = sl_tok_new(NULL);
    sl_names *names = sl_names_new();
    static rendered r;
    const char *st = "<message to='a' xml:lang='en'>hi<body>x<b/>t1<c>y</c>t2</body>tl"
                     "<x xmlns='urn:x' a='1' b='2'/></message>";
    uint32_t a, base, e;
    CHECK(names && sl_names_count(names) == 0, "a new name table is empty");
    sl_tok_feed(tok, (const uint8_t *)HEADER, strlen(HEADER), 0, NULL);
    CHECK(sl_tok_feed(tok, (const uint8_t *)st, strlen(st), 0, NULL) == 1, "one stanza");
    render_first(tok, names, 0, 0, &r);
    CHECK(r.rc > 0 && (uint32_t)r.rc == r.need[1], "rendered: rc %d", r.rc);
    /* values (4), texts (6), then the 9 new names */
    CHECK(r.rec[0] == r.need[0] && r.rec[1] == 1 + 4 + 6 + 9 && r.rec[2] == 9 && r.rec[3] == 4 && r.rec[4] == 1,
          "header: %u bytes, %u strings, %u names, %u attributes, width %u", r.rec[0], r.rec[1], r.rec[2], r.rec[3],
          r.rec[4]);
    CHECK(r.ns == 20 && strcmp(r.s[0], "") == 0 && strcmp(r.s[1], "a") == 0 && strcmp(r.s[2], "en") == 0 &&
              strcmp(r.s[3], "1") == 0 && strcmp(r.s[4], "2") == 0,
          "values first");
    CHECK(strcmp(r.s[5], "hi") == 0 && strcmp(r.s[6], "x") == 0 && strcmp(r.s[7], "t1") == 0 &&
              strcmp(r.s[8], "y") == 0 && strcmp(r.s[9], "t2") == 0 && strcmp(r.s[10], "tl") == 0,
          "texts and tails in document order");
    CHECK(strcmp(r.s[11], "{jabber:client}message") == 0 && strcmp(r.s[12], "to") == 0 &&
              strcmp(r.s[13], "{http://www.w3.org/XML/1998/namespace}lang") == 0 &&
              strcmp(r.s[14], "{jabber:client}body") == 0 && strcmp(r.s[17], "{urn:x}x") == 0,
          "the new names in id order, in ElementTree form");
    CHECK(sl_names_count(names) == 9, "names kept: %u", sl_names_count(names));
    /* keys: to (1), xml:lang (2), a, b; records reversed: x, c, b, body, message */
    CHECK(num(&r, 0) == 1 && num(&r, 1) == 2 && num(&r, 2) == 7 && num(&r, 3) == 8, "key ids");
    base = 4;
    e = base;  /* x: tag 6, 2 attributes from string 3, no text, no tail, no kids */
    CHECK(num(&r, e) == 6 && num(&r, e + 1) == 2 && num(&r, e + 2) == 3 && num(&r, e + 3) == 0 &&
              num(&r, e + 4) == 0 && num(&r, e + 5) == 0,
          "x's record");
    e = base + 6;  /* c: text y (8), tail t2 (9) */
    CHECK(num(&r, e) == 5 && num(&r, e + 3) == 8 && num(&r, e + 4) == 9, "c's record");
    e = base + 12; /* b: tail t1 (7) */
    CHECK(num(&r, e) == 4 && num(&r, e + 3) == 0 && num(&r, e + 4) == 7, "b's record");
    e = base + 18; /* body: text x (6), tail tl (10), two kids */
    CHECK(num(&r, e) == 3 && num(&r, e + 3) == 6 && num(&r, e + 4) == 10 && num(&r, e + 5) == 2, "body's record");
    e = base + 24; /* message: 2 attributes from 1, text hi (5), two kids */
    CHECK(num(&r, e) == 0 && num(&r, e + 1) == 2 && num(&r, e + 2) == 1 && num(&r, e + 3) == 5 &&
              num(&r, e + 4) == 0 && num(&r, e + 5) == 2 && (uint32_t)r.rc == SL_TREE_HEADER * 4 + e + 6,
          "the root's record, last");
    /* the same stanza again: no new names, the same ids */
    render_first(tok, names, 0, 0, &r);
    CHECK(r.rc > 0 && r.rec[2] == 0 && r.rec[1] == 11 && num(&r, 0) == 1 && sl_names_count(names) == 9,
          "names reused: %u added", r.rec[2]);
    /* the root alone */
    render_first(tok, names, SL_TREE_ROOT, 0, &r);
    CHECK(r.rc > 0 && r.rec[1] == 4 && r.rec[3] == 2 && strcmp(r.s[3], "hi") == 0 &&
              (uint32_t)r.rc == SL_TREE_HEADER * 4 + 2 + 6 && num(&r, 2) == 0 && num(&r, 5) == 3,
          "the root alone: its attributes and text");
    /* buffers too small: nothing changes, need says how much */
    render_first(tok, names, 0, 8, &r);
    CHECK(r.rc == SL_TREE_SHORT && r.need[0] > 8 && r.need[1] > 0 && sl_names_count(names) == 9,
          "too small: %d, need %u bytes", r.rc, r.need[0]);
    /* a node table that is not a stanza: refused, the table emptied */
    {
        sl_packed pk;
        uint8_t copy[4096];
        uint32_t bad, nodes_off;
        const uint32_t *w;
        sl_tok_pack(tok, &pk);
        w = (const uint32_t *)(const void *)pk.data;
        nodes_off = pk.nodes_off + w[1] * (uint32_t)sizeof(sl_node);
        CHECK(pk.size <= sizeof copy, "pack fits");
        memcpy(copy, pk.data, pk.size);
        bad = 0xFFFFu; /* the second node's subtree end, past its parent's */
        memcpy(copy + nodes_off + sizeof(sl_node) * 4 + 4, &bad, 4);
        CHECK(sl_tree_render(names, copy, pk.size, 0, pk.nodes_off, pk.pool_off, 0, r.str, sizeof r.str, r.rec,
                             sizeof r.rec / 4, r.need) == SL_E_ARG &&
                  sl_names_count(names) == 0,
              "a bad subtree end: refused, table empty");
        bad = 1u << 30; /* a string past the pool */
        memcpy(copy, pk.data, pk.size);
        memcpy(copy + nodes_off + 4 * 4, &bad, 4); /* the root's name_off */
        CHECK(sl_tree_render(names, copy, pk.size, 0, pk.nodes_off, pk.pool_off, 0, r.str, sizeof r.str, r.rec,
                             sizeof r.rec / 4, r.need) == SL_E_ARG,
              "a string past the pool: refused");
        memcpy(copy, pk.data, pk.size);
        bad = 1u << 20; /* nodes past the block */
        memcpy(copy + 8, &bad, 4);
        CHECK(sl_tree_render(names, copy, pk.size, 0, pk.nodes_off, pk.pool_off, 0, r.str, sizeof r.str, r.rec,
                             sizeof r.rec / 4, r.need) == SL_E_ARG,
              "nodes past the block: refused");
        CHECK(sl_tree_render(names, copy, pk.size, 1, pk.nodes_off, pk.pool_off, 0, r.str, sizeof r.str, r.rec,
                             sizeof r.rec / 4, r.need) == SL_E_ARG,
              "an event past the events: refused");
    }
    /* more new names than the table holds: refused, the table emptied */
    {
        static char big[65536];
        strcpy(big, "<iq>");
        for (a = 0; a < SL_NAMES_MAX + 4; a++) sprintf(big + strlen(big), "<n%u/>", a);
        strcat(big, "</iq>");
        render_first(tok, names, 0, 0, &r); /* some names in the table first */
        CHECK(sl_tok_feed(tok, (const uint8_t *)big, strlen(big), 0, NULL) == 1, "a stanza of many names");
        {
            sl_packed pk;
            static char sbuf[65536];
            static uint32_t rbuf[16384];
            sl_tok_pack(tok, &pk);
            CHECK(sl_tree_render(names, (const uint8_t *)pk.data, pk.size, 0, pk.nodes_off, pk.pool_off, 0, sbuf,
                                 sizeof sbuf, rbuf, 16384, r.need) == SL_TREE_FULL &&
                      sl_names_count(names) == 0,
                  "names past the table: refused, table empty");
        }
    }
    /* sl_tree_render_out: the same call, its buffers in a struct */
    {
        static rendered r2;
        static sl_tree_out out;
        sl_packed pk;
        sl_names *fresh = sl_names_new();
        sl_names_reset(names);
        CHECK(sl_tok_feed(tok, (const uint8_t *)st, strlen(st), 0, NULL) == 1, "the stanza again");
        render_first(tok, names, 0, 0, &r);
        sl_tok_pack(tok, &pk);
        memset(&r2, 0, sizeof r2);
        out.names = fresh;
        out.str = r2.str;
        out.str_cap = sizeof r2.str;
        out.rec = r2.rec;
        out.rec_cap = sizeof r2.rec / 4;
        r2.rc = sl_tree_render_out(&out, (const uint8_t *)pk.data, pk.size, 0, pk.nodes_off, pk.pool_off, 0);
        CHECK(r2.rc > 0 && r2.rc == r.rc && memcmp(out.need, r.need, sizeof r.need) == 0 &&
                  memcmp(r2.str, r.str, r.need[0]) == 0 && memcmp(r2.rec, r.rec, (size_t)r.rc) == 0 &&
                  sl_names_count(fresh) == sl_names_count(names),
              "the struct call renders the same: %d", r2.rc);
        out.str_cap = 8;
        CHECK(sl_tree_render_out(&out, (const uint8_t *)pk.data, pk.size, 0, pk.nodes_off, pk.pool_off, 0) ==
                      SL_TREE_SHORT &&
                  out.need[0] == r.need[0],
              "too small through the struct: need in the struct");
        CHECK(sl_tree_render_out(NULL, (const uint8_t *)pk.data, pk.size, 0, pk.nodes_off, pk.pool_off, 0) ==
                  SL_E_ARG,
              "no struct: refused");
        sl_names_free(fresh);
    }
    sl_names_free(names);
    sl_tok_free(tok);
}

int main(int argc, char **argv) {
    test_limits_exact();
    test_skip();
    test_skip_memory();
    test_skip_lookups_linear();
    test_default_limits();
    test_error_position();
    test_max_events_and_consumed();
    test_ring();
    test_bytewise_linear();
    test_tag_ids();
    test_bad_arguments();
    test_escape();
    test_pack();
    test_tree();
    test_every_cut();
    golden(argc > 1 ? argv[1] : "tests/golden");
    printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
