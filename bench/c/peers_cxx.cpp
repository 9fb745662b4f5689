// pugixml and RapidXML as peers of bench_tokenizer (see peers.h).
#include "peers.h"

#include <cstdio>

#ifdef SL_PEER_PUGIXML
#include <pugixml.hpp>

long long peer_pugixml(char *scratch, size_t len, int count)
{
    pugi::xml_document doc;
    pugi::xml_parse_result res =
        doc.load_buffer_inplace(scratch, len, pugi::parse_minimal, pugi::encoding_utf8);
    if (!res) {
        std::fprintf(stderr, "bench_tokenizer: pugixml rejected the stream: %s at byte %lld\n",
                     res.description(), static_cast<long long>(res.offset));
        return -1;
    }
    long long n = 0;
    if (count)
        for (pugi::xml_node c = doc.first_child().first_child(); c; c = c.next_sibling())
            n += c.type() == pugi::node_element;
    return n;
}
#endif

#ifdef SL_PEER_RAPIDXML
#include <rapidxml.hpp>

long long peer_rapidxml(char *scratch, size_t len, int count)
{
    scratch[len] = '\0';
    rapidxml::xml_document<> doc;
    try {
        doc.parse<0>(scratch);
    } catch (const rapidxml::parse_error &e) {
        std::fprintf(stderr, "bench_tokenizer: rapidxml rejected the stream: %s at byte %lld\n",
                     e.what(), static_cast<long long>(e.where<char>() - scratch));
        return -1;
    }
    long long n = 0;
    if (count)
        for (rapidxml::xml_node<> *c = doc.first_node()->first_node(); c; c = c->next_sibling())
            n += c->type() == rapidxml::node_element;
    return n;
}
#endif
