/* libxml2 as a peer of bench_tokenizer (see peers.h). */
#include "peers.h"

#ifdef SL_PEER_LIBXML2
#include <libxml/parser.h>
#include <stdio.h>
#include <string.h>

struct depth_count {
    unsigned depth;
    long long stanzas;
};

static void on_start(void *ctx, const xmlChar *local, const xmlChar *prefix, const xmlChar *uri,
                     int nb_ns, const xmlChar **ns, int nb_attrs, int nb_defaulted,
                     const xmlChar **attrs)
{
    (void)local, (void)prefix, (void)uri, (void)nb_ns, (void)ns, (void)nb_attrs;
    (void)nb_defaulted, (void)attrs;
    ((struct depth_count *)((xmlParserCtxtPtr)ctx)->_private)->depth++;
}

static void on_end(void *ctx, const xmlChar *local, const xmlChar *prefix, const xmlChar *uri)
{
    struct depth_count *dc = ((xmlParserCtxtPtr)ctx)->_private;
    (void)local, (void)prefix, (void)uri;
    if (--dc->depth == 1)
        dc->stanzas++;
}

long long peer_libxml2(const uint8_t *buf, size_t len, size_t chunk, int count)
{
    xmlSAXHandler sax;
    struct depth_count dc = {0, 0};
    memset(&sax, 0, sizeof sax);
    sax.initialized = XML_SAX2_MAGIC; /* SAX2: namespaces resolved, no callbacks */
    if (count) {
        sax.startElementNs = on_start;
        sax.endElementNs = on_end;
    }
    xmlParserCtxtPtr ctx = xmlCreatePushParserCtxt(&sax, NULL, NULL, 0, NULL);
    if (!ctx)
        return -1;
    ctx->_private = &dc;
    int failed = 0;
    for (size_t off = 0; off < len && !failed; off += chunk) {
        size_t n = len - off < chunk ? len - off : chunk;
        failed = xmlParseChunk(ctx, (const char *)buf + off, (int)n, 0) != 0;
    }
    if (!failed)
        failed = xmlParseChunk(ctx, NULL, 0, 1) != 0 || !ctx->wellFormed;
    if (failed)
        fprintf(stderr, "bench_tokenizer: libxml2 rejected the stream (error %d)\n", ctx->errNo);
    xmlFreeParserCtxt(ctx);
    return failed ? -1 : dc.stanzas;
}
#else
typedef int peers_c_is_empty; /* ISO C wants something in a translation unit */
#endif
