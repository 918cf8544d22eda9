/*
 * models/auto.c — ds_read_auto: the reader a file's name asks for (CSV/TSV
 * by extension, else LIBSVM; contract in hypertape/models/data.h).
 */
#include "models/ds_internal.h"

#include <string.h>
#include <strings.h>

/* 1 when name ends in suffix, ignoring case. */
static int ends_with(const char *name, size_t len, const char *suffix)
{
    size_t k = strlen(suffix);
    return len >= k && !strncasecmp(name + len - k, suffix, k);
}

bl_status ds_read_auto(const char *path, const ds_libsvm_opts *svm, const ds_csv_opts *csv,
                       ds_set *out, char *msg, size_t msglen)
{
    if (!path) {
        if (out)
            memset(out, 0, sizeof *out);
        return ds__fail(msg, msglen, BL_EINVAL, "ds_read_auto: path is NULL");
    }
    size_t len = strlen(path);
    if (ends_with(path, len, ".gz"))
        len -= 3;
    int tsv = ends_with(path, len, ".tsv");
    if (!tsv && !ends_with(path, len, ".csv"))
        return ds_read_libsvm_opts(path, svm, out, msg, msglen);
    ds_csv_opts o = csv ? *csv : ds_csv_defaults();
    if (tsv && o.delim == 0)
        o.delim = '\t';
    return ds_read_csv(path, &o, out, msg, msglen);
}
