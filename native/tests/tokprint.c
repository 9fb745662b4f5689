/* Print the events of a stream file in the golden-case form:
 *   tokprint FILE [CHUNK]   */
#include <stdio.h>
#include <stdlib.h>

#include "print_events.h"

int main(int argc, char **argv) {
    FILE *f;
    uint8_t buf[65536];
    size_t chunk = argc > 2 ? (size_t)atol(argv[2]) : sizeof buf, n;
    sl_tok *tok = sl_tok_new(NULL);
    sl_text out = {0};
    if (argc < 2 || !(f = fopen(argv[1], "rb"))) {
        fprintf(stderr, "usage: tokprint FILE [CHUNK]\n");
        return 2;
    }
    if (chunk == 0 || chunk > sizeof buf) chunk = sizeof buf;
    while ((n = fread(buf, 1, chunk, f)) > 0) {
        int rc = sl_tok_feed(tok, buf, n, 0, NULL);
        print_events(&out, tok);
        if (rc < 0) {
            const sl_error *e = sl_tok_error(tok);
            txt_str(&out, "error ");
            txt_str(&out, e ? sl_condition_name(e->condition) : "local");
            txt_str(&out, "\n");
            break;
        }
    }
    fclose(f);
    if (out.buf) fputs(out.buf, stdout);
    free(out.buf);
    sl_tok_free(tok);
    return 0;
}
