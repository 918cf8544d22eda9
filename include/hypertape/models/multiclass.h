/*
 * hypertape/models/multiclass.h — multiclass data sets from the user's files
 * (prefix ds_): LIBSVM multiclass text files and IDX image/label pairs, with
 * one class map shared by the training, validation and test files.
 *
 * Class map: the classes are the sorted distinct label values of the
 * training file; class k (0 ≤ k < n) is the k-th smallest value. The
 * validation and test files are mapped through the same table, and a label
 * that is not in it is an error naming the file and the line (LIBSVM) or
 * byte offset (IDX). Usage:
 *
 *   ds_classes cl = {0};                               // n = 0: learn
 *   ds_read_libsvm_multiclass(train, NULL, &cl, &tr, msg, len);
 *   ds_read_libsvm_multiclass(val, NULL, &cl, &va, msg, len); // map only
 *
 * Features: LIBSVM values are kept as they are (no scaling, CSR); IDX
 * pixels (unsigned bytes) are scaled to [0, 1] as byte/255, as
 * ds_fashion_mnist does. The conventions of hypertape/models/data.h hold
 * (statuses, messages, empty output sets on failure).
 */
#ifndef HYPERTAPE_MODELS_MULTICLASS_H
#define HYPERTAPE_MODELS_MULTICLASS_H

#include <hypertape/models/data.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Most classes a class map holds (LIBSVM's aloi has 1000). */
#define DS_MAX_CLASSES 1024

/** A class map: value[k] is the file label of class k, increasing;
 *  n = 0 (a zeroed struct) means "not learnt yet". */
typedef struct ds_classes {
    int n;
    int value[DS_MAX_CLASSES];
} ds_classes;

/** The class of file label v under cl (binary search), or −1. */
int ds_classes_find(const ds_classes *cl, int v);

/** Reads a LIBSVM multiclass file (`label index:value ...`, the syntax and
 *  limits of ds_read_libsvm_opts; opts NULL = ds_libsvm_defaults()) into a
 *  CSR set with cls[i] the class of sample i, y[i] = cls[i], nclass =
 *  cl->n. A label must be an integer in [−2^31, 2^31 − 1] ("3", "-1",
 *  "+2", "4.0"); "2.5" or "x" is BL_EFORMAT naming the line. When cl->n ==
 *  0 the map is learnt from this file (its sorted distinct labels, at most
 *  DS_MAX_CLASSES: more is BL_EFORMAT at the line of the first extra one)
 *  and written to *cl on success; otherwise a label not in *cl is
 *  BL_EFORMAT "path:line: label L is not a class of the training set". *cl
 *  is unchanged on failure. */
bl_status ds_read_libsvm_multiclass(const char *path, const ds_libsvm_opts *opts, ds_classes *cl,
                                    ds_set *out, char *msg, size_t msglen);

/** Reads an IDX pair — images (ds_read_idx_images) and labels
 *  (ds_read_idx_labels), each raw or gzip — into a dense n×(rows·cols) set,
 *  X = byte/255, cls the classes of the label bytes under *cl (learnt from
 *  this pair when cl->n == 0, as ds_read_libsvm_multiclass), y = cls,
 *  nclass = cl->n. BL_EFORMAT when the label count differs from the image
 *  count (the message names both files) or a label is not in *cl (the
 *  labels file and the byte offset); BL_ENOMEM when rows·cols exceeds
 *  2^31 − 1. *cl is unchanged on failure. */
bl_status ds_read_idx_multiclass(const char *images, const char *labels, ds_classes *cl,
                                 ds_set *out, char *msg, size_t msglen);

#ifdef __cplusplus
}
#endif
#endif
