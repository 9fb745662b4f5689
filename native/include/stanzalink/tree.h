/*
 * stanzalink tree rendering: one stanza of a packed arena (sl_tok_pack)
 * turned into the strings, names and element records a binding needs to
 * build its own element objects in one go.
 *
 * A binding that reads every element of a stanza would otherwise decode
 * each name, value and text by itself, and join each namespace name to its
 * local name.  sl_tree_render does that work in C, into caller-owned
 * buffers, and keeps the names (tags and attribute keys, in the
 * xml.etree.ElementTree form "{namespace}local", or "local" without a
 * namespace) in a name table (sl_names) that outlives the call: a binding
 * keeps a list of the same names, so a name seen before costs it no new
 * string.  The output:
 *
 *   str   strings, each followed by a NUL byte: first an empty string
 *         (index 0: "none"); then each attribute's value, attributes in
 *         document order (need[3] of them: the value of attribute number
 *         i, counted from 0, is string 1 + i); then each non-empty text
 *         node's characters, in document order; then the names this call
 *         added to the table, in the order of their ids (need[2] of them:
 *         the binding appends them to its list).  The strings are the
 *         pool's UTF-8, and XML allows no NUL character, so splitting the
 *         whole at the NUL bytes gives them back one by one.
 *   rec   a header of SL_TREE_HEADER uint32: the bytes of strings, the
 *         number of strings (index 0 included), the names added, the
 *         attributes, the width of the numbers that follow (the same as
 *         need[0], need[2], need[3], need[4] below); then numbers: first
 *         the name id of each attribute's key, attributes
 *         in document order (need[3] of them); then per element
 *         SL_TREE_FIELDS numbers, elements in reverse document order (the
 *         root last, each element after its descendants):
 *         tag     its tag's name id
 *         attrs   how many attributes it has
 *         first   1 + the number of its first attribute (its string
 *                 index; the others follow it)
 *         text    the string index of its text (0: none)
 *         tail    the string index of its tail (0: none; the root has none)
 *         kids    how many child elements it has.  Read in this order
 *                 with a stack (each element pushed after it takes its
 *                 children off the top), an element's children are the
 *                 top kids entries, the first child on top.
 *         Each number is in the host's byte order, need[4] bytes wide:
 *         1, 2 or 4, the fewest that hold every number and every name id.
 *
 * Text and tail are as in xml.etree.ElementTree: the text node right after
 * an element's start tag is its text, the one right after its end tag
 * (inside the parent) is its tail.  An empty text node (which the
 * tokenizer never writes) counts as none.  NSDECL nodes (only in a stream
 * header) are left out.
 *
 * The input is read, never trusted: every offset and length is checked
 * against the buffer, every node's kind and subtree end against its
 * parent's.  No allocation, no recursion: the open elements are found
 * through the records already written.
 */
#ifndef STANZALINK_TREE_H
#define STANZALINK_TREE_H

#include <stddef.h>
#include <stdint.h>

#include "stanzalink/tokenizer.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SL_TREE_FIELDS 6   /* numbers per element in the output records */
#define SL_TREE_HEADER 5   /* uint32 words before them */
#define SL_TREE_ROOT 1     /* flags: render the root element alone (its tag,
                              attributes and text), not its descendants */
#define SL_TREE_SHORT (-5) /* the buffers are too small: need[] says how large */
#define SL_TREE_FULL (-6)  /* the stanza's names do not fit in the name table */

/* the name table: at most SL_NAMES_MAX names of at most SL_NAMES_LONG
 * bytes each, SL_NAMES_BYTES bytes in all; names get ids 0, 1, 2, ... in
 * the order they are added, and are never removed except all at once */
#define SL_NAMES_MAX 256
#define SL_NAMES_LONG 512
#define SL_NAMES_BYTES 8192

typedef struct sl_names sl_names;
sl_names *sl_names_new(void); /* NULL when out of memory */
void sl_names_free(sl_names *names);
void sl_names_reset(sl_names *names); /* forget every name */
uint32_t sl_names_count(const sl_names *names);

/*
 * Render one stanza of a packed arena (an event's node table: a root
 * element whose subtree is the whole table).
 *   names          the name table (its names are reused, new ones added)
 *   packed, len    the packed arena (sl_packed.data, .size), or a copy of it
 *   event          the number of the stanza's event in it
 *   nodes_off      sl_packed.nodes_off
 *   pool_off       sl_packed.pool_off
 *   flags          0, or SL_TREE_ROOT
 *   str, str_cap   the strings' buffer and its size in bytes
 *   rec, rec_cap   the records' buffer and its size in uint32 words (the
 *                  call also uses it as scratch space)
 *   need           five numbers: need[0] bytes of strings and need[1]
 *                  bytes of records written, need[2] names added, need[3]
 *                  attributes, need[4] the records' number width; with
 *                  SL_TREE_SHORT need[0] and need[1] are what is needed:
 *                  bytes (saturated at 0xFFFFFFFF) and words
 * Returns the bytes of rec written (the header included, > 0).
 * SL_TREE_SHORT: nothing written, the table unchanged.  SL_TREE_FULL (a
 * stanza with more new names than the table has room for, or a name
 * longer than SL_NAMES_LONG) and SL_E_ARG (the node table is not a
 * consistent stanza): nothing usable written, and the table is left empty
 * (sl_names_reset), so that a binding's list stays the same as the table.
 */
int sl_tree_render(sl_names *names, const uint8_t *packed, size_t len, uint32_t event,
                   uint32_t nodes_off, uint32_t pool_off, uint32_t flags, char *str,
                   uint32_t str_cap, uint32_t *rec, uint32_t rec_cap, uint32_t *need);

/*
 * The same call with the table, the buffers and need[] in one struct that
 * the caller fills once and keeps: a binding that converts every argument
 * of every call (cffi does) passes five fewer.  out NULL: SL_E_ARG.
 */
typedef struct sl_tree_out {
    sl_names *names;
    char *str;
    uint32_t str_cap;
    uint32_t *rec;
    uint32_t rec_cap;
    uint32_t need[5];
} sl_tree_out;

int sl_tree_render_out(sl_tree_out *out, const uint8_t *packed, size_t len, uint32_t event, uint32_t nodes_off,
                       uint32_t pool_off, uint32_t flags);

#ifdef __cplusplus
}
#endif
#endif /* STANZALINK_TREE_H */
