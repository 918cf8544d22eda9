/*
 * ad/fingerprint.c — structural fingerprint of a recording (XXH3-64).
 */
#include "internal.h"

#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

/* What is hashed for one node: nothing that depends on values or on where
 * the recording starts. */
typedef struct fp_record {
    int32_t op, rows, cols, np;
    int32_t par[3][4]; /* per parent: inside?, offset or op, rows, cols */
    int32_t iprm[4];
} fp_record;

uint64_t ad_tape_fingerprint(const ad_tape *t, ad_mark from)
{
    if (!t)
        return ad__fingerprint_range(NULL, 0, 0);
    int32_t lo = from.nodes < 0 ? 0 : from.nodes;
    return ad__fingerprint_range(t, lo, t->n);
}

uint64_t ad__fingerprint_range(const ad_tape *t, int32_t lo, int32_t hi)
{
    XXH3_state_t st;
    XXH3_64bits_reset(&st);
    for (int32_t i = lo; t && i < hi; i++) {
        const ad_node *nd = &t->nodes[i];
        fp_record r = {nd->op, nd->rows, nd->cols, nd->np, {{0}}, {0}};
        for (int k = 0; k < 4 && !(nd->flags & AD_NF_INLINE); k++) /* inl: a value */
            r.iprm[k] = nd->iprm[k];
        for (int k = 0; k < nd->np; k++) {
            int32_t p = nd->par[k];
            if (p >= lo) { /* inside: relative position */
                r.par[k][0] = 1;
                r.par[k][1] = p - lo;
            } else { /* outside: what it is, not where */
                const ad_node *q = &t->nodes[p];
                r.par[k][1] = q->op;
                r.par[k][2] = q->rows;
                r.par[k][3] = q->cols;
            }
        }
        XXH3_64bits_update(&st, &r, sizeof r);
    }
    return XXH3_64bits_digest(&st);
}
