/*
 * Peer parsers for bench_tokenizer, each built only when its headers are
 * installed (the Makefile defines SL_PEER_*; Debian: libxml2-dev,
 * libpugixml-dev, librapidxml-dev, and g++ for the last two).
 *
 * Each function parses the whole corpus once and returns the number of
 * depth-1 elements it found when count is nonzero (0 otherwise), or -1
 * when the parser rejected the stream (a message is on stderr).
 *
 *   libxml2    the push parser (xmlCreatePushParserCtxt) with a SAX2 handler
 *              that sets no callbacks, fed the same chunks as the others:
 *              streaming and namespace-aware, like stanzalink, building
 *              nothing
 *   pugixml    xml_document::load_buffer_inplace with parse_minimal over the
 *              whole buffer: not streaming, no namespaces, no check of UTF-8
 *              or of characters, a DOM built in the buffer itself
 *   rapidxml   xml_document::parse<0> over the whole buffer (NUL-terminated):
 *              the same kind of in-place, non-validating DOM parser
 *
 * The in-place parsers write into their input, so `scratch` (len + 1 bytes)
 * gets a fresh copy of the corpus before each pass; the caller copies it
 * outside the timed region, which favours those two.
 */
#ifndef BENCH_PEERS_H
#define BENCH_PEERS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#ifdef SL_PEER_LIBXML2
long long peer_libxml2(const uint8_t *buf, size_t len, size_t chunk, int count);
#endif
#ifdef SL_PEER_PUGIXML
long long peer_pugixml(char *scratch, size_t len, int count);
#endif
#ifdef SL_PEER_RAPIDXML
long long peer_rapidxml(char *scratch, size_t len, int count);
#endif

#ifdef __cplusplus
}
#endif
#endif
