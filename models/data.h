/*
 * models/data.h — data sets for the models: the ds_set container, readers
 * (LIBSVM/SVMlight text, IDX raw or gzip), splits, standardisation and
 * seeded synthetic generators. Prefix ds_.
 *
 * Every reader reports malformed input with BL_EFORMAT and a message that
 * names the file and the line (text) or byte offset (binary). None reads
 * past a buffer, aborts or prints.
 */
#ifndef HYPERTAPE_MODELS_DATA_H
#define HYPERTAPE_MODELS_DATA_H

#include "ad/ad.h"
#include "bilevel/bilevel.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** A data set of n samples × d features, dense or sparse (CSR), owned.
 *  Shape comment: X n×d; y n; cls n. */
typedef struct ds_set {
    int n, d;
    double *X;       /**< n×d dense row-major, or NULL when the set is sparse */
    int64_t *rowptr; /**< CSR (when X == NULL): n+1 offsets */
    int *colind;     /**< CSR column indices, increasing within a row */
    double *val;     /**< CSR values */
    double *y;       /**< n targets: ±1 for binary sets, class index for multiclass */
    int *cls;        /**< n class labels in [0, nclass) for multiclass sets, else NULL */
    int nclass;      /**< number of classes (2 for binary) */
} ds_set;

/** Frees the arrays of s and zeroes it; ds_set_free(NULL) is a no-op. */
void ds_set_free(ds_set *s);

/** The CSR view of a sparse set, for ad_spmm (arrays stay owned by s). */
ad_csr ds_csr(const ds_set *s);

/** Number of stored entries (n·d when dense). */
int64_t ds_nnz(const ds_set *s);

#ifdef __cplusplus
}
#endif
#endif
