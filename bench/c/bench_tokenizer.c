/*
 * bench_tokenizer: the stanzalink C tokenizer alone against libexpat with
 * no handlers, over the same bytes fed in the same chunks.
 *
 *   bench_tokenizer FILE [REPS [CHUNK]]
 *
 * FILE is a whole XMPP stream (bench/corpus.py writes one).  Each
 * repetition runs, one after the other on the same in-memory buffer:
 *
 *   stanzalink   sl_tok_new, sl_tok_feed per chunk (no event limit), the
 *                events of each feed read back and counted by kind,
 *                sl_tok_free
 *   libexpat     XML_ParserCreate(NULL) (no namespace processing), no
 *                handlers set, XML_Parse per chunk, a final empty
 *                XML_Parse, XML_ParserFree
 *   libexpat_ns  the same with XML_ParserCreateNS(NULL, '}'), the
 *                configuration ElementTree and slixmpp run expat in
 *   peers        libxml2, pugixml and RapidXML where the Makefile found
 *                them (peers.h says how each is run and what it does not
 *                do); "peers_missing" names the others
 *
 * Times are CLOCK_MONOTONIC around whole passes; the median over the
 * repetitions is reported, with min and max.  A stanzalink sample is as
 * many back-to-back passes as take about as long as one libexpat pass
 * (counted from the warm-up passes; "stanzalink_passes_per_sample"),
 * divided by their number: on a shared machine, whose speed changes from
 * one second to the next, both parsers are then timed over spells of
 * the same length.  Before timing, untimed
 * passes check that both parsers accept the whole stream and see the same
 * number of stanzas (expat counting depth-1 elements with handlers); any
 * disagreement is a failure (exit status 1).
 *
 * Output: one JSON object on stdout.  MB is 10^6 bytes.
 */
#define _POSIX_C_SOURCE 200809L

#include <expat.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "peers.h"
#include "stanzalink/tokenizer.h"

#ifndef BENCH_CFLAGS
#define BENCH_CFLAGS ""
#endif

#if defined(__clang__)
#define COMPILER "clang " __clang_version__
#elif defined(__GNUC__)
#define COMPILER "gcc " __VERSION__
#else
#define COMPILER "unknown"
#endif

#define MAX_REPS 1000

struct counts {
    uint64_t opens;
    uint64_t stanzas;
    uint64_t closes;
    size_t peak_memory;
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void die(const char *what)
{
    fprintf(stderr, "bench_tokenizer: %s\n", what);
    exit(1);
}

static uint8_t *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        die("cannot open the corpus file");
    if (fseek(f, 0, SEEK_END) != 0)
        die("cannot seek the corpus file");
    long size = ftell(f);
    if (size <= 0)
        die("the corpus file is empty");
    rewind(f);
    uint8_t *buf = malloc((size_t)size);
    if (!buf)
        die("out of memory reading the corpus");
    if (fread(buf, 1, (size_t)size, f) != (size_t)size)
        die("short read on the corpus file");
    fclose(f);
    *len = (size_t)size;
    return buf;
}

/* One pass of the stanzalink tokenizer; track_memory adds a
 * sl_tok_memory() call per chunk (only in the untimed check pass). */
static struct counts run_sl(const uint8_t *buf, size_t len, size_t chunk, int track_memory)
{
    struct counts c = {0, 0, 0, 0};
    sl_tok *tok = sl_tok_new(NULL);
    if (!tok)
        die("sl_tok_new failed");
    for (size_t off = 0; off < len; off += chunk) {
        size_t n = len - off < chunk ? len - off : chunk;
        size_t consumed = 0;
        int rc = sl_tok_feed(tok, buf + off, n, 0, &consumed);
        if (rc < 0) {
            const sl_error *err = sl_tok_error(tok);
            fprintf(stderr, "bench_tokenizer: stanzalink rejected the stream: rc %d, %s at line %u column %u: %s\n",
                    rc, err ? sl_condition_name(err->condition) : "?", err ? err->line : 0,
                    err ? err->column : 0, err && err->message ? err->message : "");
            exit(1);
        }
        if (consumed != n)
            die("stanzalink did not consume a whole chunk");
        uint32_t count = 0;
        const sl_event *ev = sl_tok_events(tok, &count);
        for (uint32_t i = 0; i < count; i++) {
            switch (ev[i].kind) {
            case SL_EV_OPEN:
                c.opens++;
                break;
            case SL_EV_STANZA:
                c.stanzas++;
                break;
            case SL_EV_CLOSE:
                c.closes++;
                break;
            default:
                die("unknown event kind");
            }
        }
        if (track_memory) {
            size_t m = sl_tok_memory(tok);
            if (m > c.peak_memory)
                c.peak_memory = m;
        }
    }
    sl_tok_free(tok);
    return c;
}

static void run_expat(const uint8_t *buf, size_t len, size_t chunk, int ns)
{
    XML_Parser p = ns ? XML_ParserCreateNS(NULL, '}') : XML_ParserCreate(NULL);
    if (!p)
        die("XML_ParserCreate failed");
    for (size_t off = 0; off < len; off += chunk) {
        size_t n = len - off < chunk ? len - off : chunk;
        if (XML_Parse(p, (const char *)buf + off, (int)n, 0) != XML_STATUS_OK) {
            fprintf(stderr, "bench_tokenizer: libexpat rejected the stream: %s at line %lu\n",
                    XML_ErrorString(XML_GetErrorCode(p)),
                    (unsigned long)XML_GetCurrentLineNumber(p));
            exit(1);
        }
    }
    if (XML_Parse(p, NULL, 0, 1) != XML_STATUS_OK)
        die("libexpat: the stream is incomplete");
    XML_ParserFree(p);
}

/* The untimed check: expat with handlers counting depth-1 elements. */
struct depth_count {
    unsigned depth;
    uint64_t stanzas;
};

static void XMLCALL on_start(void *data, const XML_Char *name, const XML_Char **attrs)
{
    (void)name;
    (void)attrs;
    ((struct depth_count *)data)->depth++;
}

static void XMLCALL on_end(void *data, const XML_Char *name)
{
    struct depth_count *dc = data;
    (void)name;
    dc->depth--;
    if (dc->depth == 1)
        dc->stanzas++;
}

static uint64_t expat_count_stanzas(const uint8_t *buf, size_t len, size_t chunk)
{
    struct depth_count dc = {0, 0};
    XML_Parser p = XML_ParserCreate(NULL);
    if (!p)
        die("XML_ParserCreate failed");
    XML_SetUserData(p, &dc);
    XML_SetElementHandler(p, on_start, on_end);
    for (size_t off = 0; off < len; off += chunk) {
        size_t n = len - off < chunk ? len - off : chunk;
        if (XML_Parse(p, (const char *)buf + off, (int)n, 0) != XML_STATUS_OK)
            die("libexpat rejected the stream in the check pass");
    }
    if (XML_Parse(p, NULL, 0, 1) != XML_STATUS_OK)
        die("libexpat: the stream is incomplete");
    XML_ParserFree(p);
    return dc.stanzas;
}

/* ---- peers ---------------------------------------------------------- */
struct peer {
    const char *name;
    int in_place; /* parses a copy in scratch, made outside the timed region */
    long long (*run)(const uint8_t *buf, char *scratch, size_t len, size_t chunk, int count);
};

#ifdef SL_PEER_LIBXML2
static long long run_libxml2(const uint8_t *buf, char *scratch, size_t len, size_t chunk, int count)
{
    (void)scratch;
    return peer_libxml2(buf, len, chunk, count);
}
#endif
#ifdef SL_PEER_PUGIXML
static long long run_pugixml(const uint8_t *buf, char *scratch, size_t len, size_t chunk, int count)
{
    (void)buf, (void)chunk;
    return peer_pugixml(scratch, len, count);
}
#endif
#ifdef SL_PEER_RAPIDXML
static long long run_rapidxml(const uint8_t *buf, char *scratch, size_t len, size_t chunk, int count)
{
    (void)buf, (void)chunk;
    return peer_rapidxml(scratch, len, count);
}
#endif

static const struct peer PEERS[] = {
#ifdef SL_PEER_LIBXML2
    {"libxml2", 0, run_libxml2},
#endif
#ifdef SL_PEER_PUGIXML
    {"pugixml", 1, run_pugixml},
#endif
#ifdef SL_PEER_RAPIDXML
    {"rapidxml", 1, run_rapidxml},
#endif
    {NULL, 0, NULL},
};

#ifndef SL_PEERS_MISSING
#define SL_PEERS_MISSING ""
#endif

/* One timed pass of a peer (the copy for an in-place parser untimed). */
static uint64_t time_peer(const struct peer *pr, const uint8_t *buf, char *scratch, size_t len,
                          size_t chunk)
{
    if (pr->in_place)
        memcpy(scratch, buf, len);
    uint64_t t0 = now_ns();
    long long rc = pr->run(buf, scratch, len, chunk, 0);
    uint64_t t1 = now_ns();
    if (rc < 0)
        die("a peer parser rejected the stream");
    return t1 - t0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Median of n samples (n >= 1); sorts in place. */
static double median_ns(uint64_t *t, int n)
{
    qsort(t, (size_t)n, sizeof *t, cmp_u64);
    if (n % 2)
        return (double)t[n / 2];
    return ((double)t[n / 2 - 1] + (double)t[n / 2]) / 2.0;
}

static void print_row(const char *name, uint64_t *t, int reps, size_t len, uint64_t stanzas,
                      int last)
{
    double med = median_ns(t, reps); /* t is now sorted */
    double sec = med / 1e9;
    printf("  \"%s\": {\"median_s\": %.6f, \"min_s\": %.6f, \"max_s\": %.6f, "
           "\"mb_per_s\": %.2f, \"stanzas_per_s\": %.0f, \"ns_per_stanza\": %.1f}%s\n",
           name, sec, (double)t[0] / 1e9, (double)t[reps - 1] / 1e9, (double)len / 1e6 / sec,
           (double)stanzas / sec, med / (double)stanzas, last ? "" : ",");
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 4) {
        fprintf(stderr, "usage: %s FILE [REPS [CHUNK]]\n", argv[0]);
        return 2;
    }
    int reps = argc > 2 ? atoi(argv[2]) : 10;
    long chunk_arg = argc > 3 ? atol(argv[3]) : 4096;
    if (reps < 1 || reps > MAX_REPS || chunk_arg < 1 || chunk_arg > (1L << 30)) {
        fprintf(stderr, "bench_tokenizer: REPS must be 1..%d and CHUNK 1..2^30\n", MAX_REPS);
        return 2;
    }
    size_t chunk = (size_t)chunk_arg;
    size_t len = 0;
    uint8_t *buf = read_file(argv[1], &len);

    /* untimed checks, which also bring the buffer and the code into cache */
    struct counts check = run_sl(buf, len, chunk, 1);
    uint64_t expat_stanzas = expat_count_stanzas(buf, len, chunk);
    if (check.opens != 1 || check.closes != 1) {
        fprintf(stderr, "bench_tokenizer: stanzalink saw %llu stream opens and %llu closes, "
                        "expected 1 and 1\n",
                (unsigned long long)check.opens, (unsigned long long)check.closes);
        return 1;
    }
    if (check.stanzas != expat_stanzas || check.stanzas == 0) {
        fprintf(stderr, "bench_tokenizer: stanza counts differ: stanzalink %llu, libexpat %llu\n",
                (unsigned long long)check.stanzas, (unsigned long long)expat_stanzas);
        return 1;
    }
    size_t npeers = sizeof PEERS / sizeof PEERS[0] - 1;
    char *scratch = malloc(len + 1);
    if (!scratch)
        die("out of memory");
    for (size_t k = 0; k < npeers; k++) {
        if (PEERS[k].in_place)
            memcpy(scratch, buf, len);
        long long n = PEERS[k].run(buf, scratch, len, chunk, 1);
        if (n < 0)
            return 1;
        if ((uint64_t)n != check.stanzas) {
            fprintf(stderr, "bench_tokenizer: stanza counts differ: stanzalink %llu, %s %lld\n",
                    (unsigned long long)check.stanzas, PEERS[k].name, n);
            return 1;
        }
    }
    /* warm-up passes, timed to choose how many stanzalink passes make one
     * sample: about as long as one libexpat pass, so that a shared
     * machine's slow and fast spells fall on both alike */
    uint64_t w0 = now_ns();
    run_sl(buf, len, chunk, 0);
    uint64_t w1 = now_ns();
    run_expat(buf, len, chunk, 0);
    uint64_t w2 = now_ns();
    run_expat(buf, len, chunk, 1);
    int sl_passes = (int)((double)(w2 - w1) / (double)(w1 - w0 ? w1 - w0 : 1) + 0.5);
    if (sl_passes < 1) sl_passes = 1;
    if (sl_passes > 64) sl_passes = 64;

    uint64_t *t_sl = calloc((size_t)reps, sizeof(uint64_t));
    uint64_t *t_ex = calloc((size_t)reps, sizeof(uint64_t));
    uint64_t *t_ns = calloc((size_t)reps, sizeof(uint64_t));
    uint64_t *t_peer = calloc((size_t)reps * (npeers ? npeers : 1), sizeof(uint64_t));
    if (!t_sl || !t_ex || !t_ns || !t_peer)
        die("out of memory");
    for (int r = 0; r < reps; r++) {
        uint64_t t0 = now_ns();
        struct counts c = run_sl(buf, len, chunk, 0);
        for (int k = 1; k < sl_passes; k++)
            run_sl(buf, len, chunk, 0);
        uint64_t t1 = now_ns();
        run_expat(buf, len, chunk, 0);
        uint64_t t2 = now_ns();
        run_expat(buf, len, chunk, 1);
        uint64_t t3 = now_ns();
        if (c.stanzas != check.stanzas)
            die("stanzalink's stanza count changed between repetitions");
        t_sl[r] = (t1 - t0) / (uint64_t)sl_passes;
        t_ex[r] = t2 - t1;
        t_ns[r] = t3 - t2;
        for (size_t k = 0; k < npeers; k++)
            t_peer[k * (size_t)reps + (size_t)r] = time_peer(&PEERS[k], buf, scratch, len, chunk);
    }
    double med_sl = median_ns(t_sl, reps);
    double med_ex = median_ns(t_ex, reps);
    double med_ns = median_ns(t_ns, reps);

    printf("{\n");
    printf("  \"bytes\": %zu,\n  \"chunk\": %zu,\n  \"reps\": %d,\n", len, chunk, reps);
    printf("  \"stanzalink_passes_per_sample\": %d,\n", sl_passes);
    printf("  \"stanzas\": %llu,\n", (unsigned long long)check.stanzas);
    printf("  \"expat_version\": \"%s\",\n", XML_ExpatVersion());
    printf("  \"cflags\": \"%s\",\n", BENCH_CFLAGS);
    printf("  \"compiler\": \"%s\",\n", COMPILER);
    printf("  \"stanzalink_peak_memory_bytes\": %zu,\n", check.peak_memory);
    printf("  \"ratio_mb_s_vs_libexpat\": %.3f,\n", med_ex / med_sl);
    printf("  \"ratio_mb_s_vs_libexpat_ns\": %.3f,\n", med_ns / med_sl);
    printf("  \"peers_missing\": \"%s\",\n", SL_PEERS_MISSING);
    printf("  \"peers_in_place\": [");
    for (size_t k = 0, first = 1; k < npeers; k++)
        if (PEERS[k].in_place) {
            printf("%s\"%s\"", first ? "" : ", ", PEERS[k].name);
            first = 0;
        }
    printf("],\n");
    for (size_t k = 0; k < npeers; k++)
        printf("  \"ratio_mb_s_vs_%s\": %.3f,\n", PEERS[k].name,
               median_ns(t_peer + k * (size_t)reps, reps) / med_sl);
    printf("  \"peers\": {\n");
    for (size_t k = 0; k < npeers; k++)
        print_row(PEERS[k].name, t_peer + k * (size_t)reps, reps, len, check.stanzas,
                  k + 1 == npeers);
    printf("  },\n");
    print_row("stanzalink", t_sl, reps, len, check.stanzas, 0);
    print_row("libexpat", t_ex, reps, len, check.stanzas, 0);
    print_row("libexpat_ns", t_ns, reps, len, check.stanzas, 1);
    printf("}\n");
    free(t_peer);
    free(scratch);
    free(t_sl);
    free(t_ex);
    free(t_ns);
    free(buf);
    return 0;
}
