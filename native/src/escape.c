/* XML escaping for the serializer. */
#include "stanzalink/tokenizer.h"

size_t sl_escape(const uint8_t *in, size_t len, uint8_t *out, size_t cap, int attr) {
    size_t i, o = 0;
    for (i = 0; i < len; i++) {
        const char *rep = 0;
        uint8_t c = in[i];
        switch (c) {
        case '&': rep = "&amp;"; break;
        case '<': rep = "&lt;"; break;
        case '>': rep = "&gt;"; break;
        case '\r': rep = "&#13;"; break;
        case '"': if (attr) rep = "&quot;"; break;
        case '\t': if (attr) rep = "&#9;"; break;
        case '\n': if (attr) rep = "&#10;"; break;
        default: break;
        }
        if (rep) {
            while (*rep) {
                if (o < cap) out[o] = (uint8_t)*rep;
                o++;
                rep++;
            }
        } else {
            if (o < cap) out[o] = c;
            o++;
        }
    }
    return o;
}
