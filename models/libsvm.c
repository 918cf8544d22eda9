/*
 * models/libsvm.c — LIBSVM/SVMlight text reader → binary CSR ds_set.
 *
 * Format, one sample per line:   label [qid:Q] index:value index:value ...
 * Sizes: n samples (lines with a label), d = max(d_min, highest index),
 * nnz stored entries. The file, raw or gzip, is read in blocks and split
 * into lines of at most max_line_bytes (models/lines.c), the CSR arrays
 * grow by doubling; any read or allocation failure is an error naming the
 * file and line, and nothing is kept on failure.
 */
#include "models/ds_internal.h"

#include <hypertape/models/multiclass.h>

#include <errno.h>
#include <locale.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Growing CSR arrays: rowptr holds n+1 offsets, colind/val nnz entries. */
typedef struct svm_build {
    int64_t *rowptr;
    double *y;
    size_t rcap; /* capacity of y (rowptr has rcap + 1) */
    int *colind;
    double *val;
    size_t ecap;
    int n;
    int64_t nnz;
    int maxidx;
    int max_index; /* largest index accepted */
    long long zero_line, minus_line; /* first line with label 0 / −1, or 0 */
    /* multiclass (ds_read_libsvm_multiclass): map the labels through `map`,
     * or (map NULL) collect their distinct values in `seen` */
    int multi;
    const ds_classes *map;
    ds_classes *seen;
} svm_build;

/* Where a message points: "path:line". */
typedef struct svm_where {
    const char *path;
    long long line;
    char *msg;
    size_t msglen;
} svm_where;

static void build_free(svm_build *b)
{
    free(b->rowptr);
    free(b->y);
    free(b->colind);
    free(b->val);
    memset(b, 0, sizeof *b);
}

static int build_grow_rows(svm_build *b)
{
    if ((size_t)b->n < b->rcap)
        return 1;
    size_t cap = b->rcap ? 2 * b->rcap : 1024;
    if (cap > (size_t)INT32_MAX - 1)
        cap = (size_t)INT32_MAX - 1;
    if (cap <= (size_t)b->n)
        return 0;
    int64_t *rp = realloc(b->rowptr, (cap + 1) * sizeof *rp);
    if (!rp)
        return 0;
    b->rowptr = rp;
    double *y = realloc(b->y, cap * sizeof *y);
    if (!y)
        return 0;
    b->y = y;
    b->rcap = cap;
    return 1;
}

static int build_grow_entries(svm_build *b)
{
    if ((size_t)b->nnz < b->ecap)
        return 1;
    size_t cap = b->ecap ? 2 * b->ecap : 4096;
    if (cap > SIZE_MAX / sizeof(double))
        return 0;
    int *ci = realloc(b->colind, cap * sizeof *ci);
    if (!ci)
        return 0;
    b->colind = ci;
    double *v = realloc(b->val, cap * sizeof *v);
    if (!v)
        return 0;
    b->val = v;
    b->ecap = cap;
    return 1;
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f' || c == '\n';
}

/* Parses the whole NUL-terminated token as a double. 0: ok; 1: not a number;
 * 2: NaN, Inf or overflow. */
static int parse_double(const char *tok, double *v)
{
    char *end;
    errno = 0;
    *v = strtod(tok, &end);
    if (end == tok || *end != '\0')
        return 1;
    if (!isfinite(*v))
        return 2;
    return 0;
}

/* Parses a non-empty run of decimal digits, capped: 0 ok, 1 not digits,
 * 2 above INT32_MAX. */
static int parse_index(const char *s, size_t len, long long *out)
{
    if (len == 0)
        return 1;
    long long v = 0;
    int big = 0;
    for (size_t k = 0; k < len; k++) {
        if (s[k] < '0' || s[k] > '9')
            return 1;
        if (!big) {
            v = 10 * v + (s[k] - '0');
            if (v > INT32_MAX)
                big = 1;
        }
    }
    *out = v;
    return big ? 2 : 0;
}

/* Writes "path:line: " and the formatted text into the caller's buffer. */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static bl_status fail_at(const svm_where *w, bl_status st, const char *fmt, ...)
{
    if (w->msg && w->msglen > 0) {
        int k = snprintf(w->msg, w->msglen, "%s:%lld: ", w->path, w->line);
        if (k >= 0 && (size_t)k < w->msglen) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(w->msg + k, w->msglen - (size_t)k, fmt, ap);
            va_end(ap);
        }
    }
    return st;
}

/* A multiclass label (text tok, value lab): an integer in int range that
 * is in b->map, or (learning) one more distinct value for b->seen. */
static bl_status multi_label(const char *tok, double lab, svm_build *b, const svm_where *w)
{
    if (lab != floor(lab) || lab < (double)INT32_MIN || lab > (double)INT32_MAX)
        return fail_at(w, BL_EFORMAT, "label '%.40s' is not an integer class label", tok);
    int v = (int)lab;
    if (b->map) {
        if (ds_classes_find(b->map, v) < 0)
            return fail_at(w, BL_EFORMAT, "label %d is not a class of the training set (%d classes)",
                           v, b->map->n);
        return BL_OK;
    }
    ds_classes *cl = b->seen;
    int lo = ds__classes_lower(cl, v);
    if (lo < cl->n && cl->value[lo] == v)
        return BL_OK;
    if (cl->n == DS_MAX_CLASSES)
        return fail_at(w, BL_EFORMAT, "label %d: more than %d distinct labels (DS_MAX_CLASSES)", v,
                       DS_MAX_CLASSES);
    memmove(cl->value + lo + 1, cl->value + lo, (size_t)(cl->n - lo) * sizeof cl->value[0]);
    cl->value[lo] = v;
    cl->n++;
    return BL_OK;
}

/* Parses one line (len bytes, line[len] == '\0'; the buffer is modified).
 * Appends a sample unless the line is blank or a comment. */
static bl_status parse_line(char *line, size_t len, svm_build *b, const svm_where *w)
{
    char *hash = memchr(line, '#', len);
    if (hash) {
        *hash = '\0';
        len = (size_t)(hash - line);
    }
    char *p = line, *end = line + len;
    int ntok = 0, prev = 0;
    int64_t row_start = b->nnz;
    while (p < end) {
        while (p < end && is_space(*p))
            p++;
        if (p >= end)
            break;
        char *q = p;
        while (q < end && !is_space(*q))
            q++;
        *q = '\0'; /* q < end: a space overwritten; q == end: already NUL */
        size_t tl = (size_t)(q - p);
        if (ntok == 0) {
            double lab;
            int e = parse_double(p, &lab);
            if (e)
                return fail_at(w, e == 2 ? BL_ENONFINITE : BL_EFORMAT, "label '%.40s' is %s", p,
                            e == 2 ? "not finite" : "not a number");
            if (b->multi) {
                bl_status st = multi_label(p, lab, b, w);
                if (st != BL_OK)
                    return st;
            } else if (lab != 1.0 && lab != -1.0 && lab != 0.0) {
                return fail_at(w, BL_EFORMAT, "label '%.40s' is not binary (use -1/+1 or 0/1)", p);
            }
            if (!b->multi && lab == 0.0 && !b->zero_line)
                b->zero_line = w->line;
            if (!b->multi && lab == -1.0 && !b->minus_line)
                b->minus_line = w->line;
            if (b->zero_line && b->minus_line)
                return fail_at(w, BL_EFORMAT,
                            "labels 0 (line %lld) and -1 (line %lld) both used: use -1/+1 or 0/1",
                            b->zero_line, b->minus_line);
            if (!build_grow_rows(b))
                return fail_at(w, BL_ENOMEM, "out of memory for the row arrays (label, offset) at "
                            "sample %d (or more than 2^31 - 2 samples)", b->n + 1);
            /* multiclass: the class (map) or the raw integer label (learning) */
            b->y[b->n] = b->multi ? (b->map ? ds_classes_find(b->map, (int)lab) : lab)
                                  : lab == 0.0 ? -1.0 : lab;
        } else if (tl >= 4 && memcmp(p, "qid:", 4) == 0) {
            long long q64;
            if (ntok != 1)
                return fail_at(w, BL_EFORMAT, "'%.40s': qid must come right after the label", p);
            if (parse_index(p + 4, tl - 4, &q64) == 1)
                return fail_at(w, BL_EFORMAT, "'%.40s': qid is not a non-negative integer", p);
        } else {
            char *colon = memchr(p, ':', tl);
            if (!colon)
                return fail_at(w, BL_EFORMAT, "'%.40s' is not index:value", p);
            long long idx;
            int e = parse_index(p, (size_t)(colon - p), &idx);
            if (e == 1)
                return fail_at(w, BL_EFORMAT, "index '%.*s' is not a positive integer",
                            (int)((colon - p) < 40 ? (colon - p) : 40), p);
            if (e == 2)
                return fail_at(w, BL_EFORMAT, "index '%.*s' exceeds 2^31 - 1",
                            (int)((colon - p) < 40 ? (colon - p) : 40), p);
            if (idx == 0)
                return fail_at(w, BL_EFORMAT, "index 0: indices are 1-based");
            if (idx > b->max_index)
                return fail_at(w, BL_EFORMAT,
                               "index %lld exceeds the feature limit of %d (a dense model needs "
                               "8 bytes per feature per vector; raise ds_libsvm_opts.max_index)",
                               idx, b->max_index);
            if (idx == prev)
                return fail_at(w, BL_EFORMAT, "duplicate index %lld", idx);
            if (idx < prev)
                return fail_at(w, BL_EFORMAT, "index %lld after %d: indices must increase", idx, prev);
            double v;
            e = parse_double(colon + 1, &v);
            if (e)
                return fail_at(w, e == 2 ? BL_ENONFINITE : BL_EFORMAT, "value '%.40s' of index %lld is %s",
                            colon + 1, idx, e == 2 ? "not finite" : "not a number");
            if (!build_grow_entries(b))
                return fail_at(w, BL_ENOMEM, "out of memory for the entry arrays (index, value) at "
                            "entry %lld", (long long)b->nnz + 1);
            b->colind[b->nnz] = (int)idx - 1;
            b->val[b->nnz] = v;
            b->nnz++;
            prev = (int)idx;
            if (prev > b->maxidx)
                b->maxidx = prev;
        }
        ntok++;
        p = q + 1;
    }
    if (ntok > 0) {
        b->rowptr[b->n] = row_start;
        b->n++;
        b->rowptr[b->n] = b->nnz;
    }
    return BL_OK;
}

/* Reads the file line by line into b. */
static bl_status read_stream(const char *path, size_t max_line, svm_build *b, svm_where *w)
{
    ds__lines L;
    bl_status st = ds__lines_open(&L, path, max_line,
                                  "raise ds_libsvm_opts.max_line_bytes, CLI --max-line-bytes", w->msg,
                                  w->msglen);
    if (st != BL_OK)
        return st;
    for (;;) {
        int got;
        st = ds__lines_next(&L, &got, w->msg, w->msglen);
        if (st != BL_OK || !got)
            break;
        w->line = L.lineno;
        st = parse_line(L.line, L.len, b, w);
        if (st != BL_OK)
            break;
    }
    ds__lines_close(&L);
    return st;
}

ds_libsvm_opts ds_libsvm_defaults(void)
{
    return (ds_libsvm_opts){0, DS_LIBSVM_MAX_LINE_BYTES, DS_LIBSVM_MAX_INDEX};
}

bl_status ds_read_libsvm(const char *path, int d_min, ds_set *out, char *msg, size_t msglen)
{
    ds_libsvm_opts o = ds_libsvm_defaults();
    o.d_min = d_min;
    return ds_read_libsvm_opts(path, &o, out, msg, msglen);
}

/* The reader of both kinds: binary (multi 0) or multiclass (see svm_build). */
static bl_status read_libsvm(const char *path, const ds_libsvm_opts *opts, int multi,
                             const ds_classes *map, ds_classes *seen, ds_set *out, char *msg,
                             size_t msglen);

bl_status ds_read_libsvm_opts(const char *path, const ds_libsvm_opts *opts, ds_set *out, char *msg,
                              size_t msglen)
{
    return read_libsvm(path, opts, 0, NULL, NULL, out, msg, msglen);
}

bl_status ds_read_libsvm_multiclass(const char *path, const ds_libsvm_opts *opts, ds_classes *cl,
                                    ds_set *out, char *msg, size_t msglen)
{
    if (!out)
        return ds__fail(msg, msglen, BL_EINVAL, "ds_read_libsvm_multiclass: out is NULL");
    memset(out, 0, sizeof *out);
    if (!cl || cl->n < 0 || cl->n > DS_MAX_CLASSES)
        return ds__fail(msg, msglen, BL_EINVAL, "ds_read_libsvm_multiclass: %s",
                        cl ? "cl->n is outside [0, DS_MAX_CLASSES]" : "cl is NULL");
    if (cl->n > 0)
        return read_libsvm(path, opts, 1, cl, NULL, out, msg, msglen);
    ds_classes *seen = calloc(1, sizeof *seen);
    if (!seen)
        return ds__fail(msg, msglen, BL_ENOMEM, "ds_read_libsvm_multiclass: out of memory");
    bl_status st = read_libsvm(path, opts, 1, NULL, seen, out, msg, msglen);
    if (st == BL_OK) {
        for (int i = 0; i < out->n; i++) { /* raw labels → classes */
            out->cls[i] = ds_classes_find(seen, (int)out->y[i]);
            out->y[i] = out->cls[i];
        }
        out->nclass = seen->n;
        *cl = *seen;
    }
    free(seen);
    return st;
}

static bl_status read_libsvm(const char *path, const ds_libsvm_opts *opts, int multi,
                             const ds_classes *map, ds_classes *seen, ds_set *out, char *msg,
                             size_t msglen)
{
    if (!out)
        return ds__fail(msg, msglen, BL_EINVAL, "ds_read_libsvm: out is NULL");
    memset(out, 0, sizeof *out);
    if (!path)
        return ds__fail(msg, msglen, BL_EINVAL, "ds_read_libsvm: path is NULL");
    ds_libsvm_opts o = opts ? *opts : ds_libsvm_defaults();
    int d_min = o.d_min;
    if (d_min < 0)
        return ds__fail(msg, msglen, BL_EINVAL, "ds_read_libsvm: d_min = %d < 0", d_min);
    if (o.max_line_bytes < 1)
        return ds__fail(msg, msglen, BL_EINVAL, "ds_read_libsvm: max_line_bytes = %zu < 1",
                        o.max_line_bytes);
    if (o.max_index < 1)
        return ds__fail(msg, msglen, BL_EINVAL, "ds_read_libsvm: max_index = %d < 1", o.max_index);
    if (d_min > o.max_index)
        return ds__fail(msg, msglen, BL_EINVAL, "ds_read_libsvm: d_min = %d exceeds max_index = %d",
                        d_min, o.max_index);
    /* Numbers are "C"-locale whatever the caller's locale: uselocale is
     * per thread, and restored before returning. */
    locale_t cloc = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
    if (!cloc)
        return ds__fail(msg, msglen, BL_ENOMEM, "%s: out of memory for the \"C\" locale object",
                        path);
    locale_t old = uselocale(cloc);
    svm_build b;
    memset(&b, 0, sizeof b);
    b.max_index = o.max_index;
    b.multi = multi;
    b.map = map;
    b.seen = seen;
    svm_where w = {path, 0, msg, msglen};
    bl_status st = read_stream(path, o.max_line_bytes, &b, &w);
    uselocale(old);
    freelocale(cloc);
    if (st == BL_OK && b.n == 0 && w.line == 0)
        st = ds__fail(msg, msglen, BL_EFORMAT, "%s: empty file (no samples)", path);
    else if (st == BL_OK && b.n == 0)
        st = ds__fail(msg, msglen, BL_EFORMAT,
                      "%s:%lld: no samples: all %lld lines are blank or comments", path, w.line,
                      w.line);
    if (st == BL_OK && b.maxidx == 0 && d_min == 0)
        st = ds__fail(msg, msglen, BL_EFORMAT, "%s:%lld: no features in the file and d_min = 0", path,
                      w.line);
    if (st == BL_OK && b.ecap == 0 && !build_grow_entries(&b))
        st = ds__fail(msg, msglen, BL_ENOMEM, "%s: out of memory for the entry arrays (4096 entries)",
                      path);
    int *cls = NULL;
    if (st == BL_OK && multi && !(cls = malloc((size_t)b.n * sizeof *cls)))
        st = ds__fail(msg, msglen, BL_ENOMEM, "%s: out of memory for %d class labels", path, b.n);
    if (st != BL_OK) {
        build_free(&b);
        return st;
    }
    out->n = b.n;
    out->d = b.maxidx > d_min ? b.maxidx : d_min;
    out->rowptr = b.rowptr;
    out->colind = b.colind;
    out->val = b.val;
    out->y = b.y;
    out->cls = cls;
    out->nclass = 2;
    if (multi && map) {
        for (int i = 0; i < b.n; i++)
            cls[i] = (int)b.y[i];
        out->nclass = map->n;
    }
    /* Give back the slack of the doubling (failure to shrink is harmless). */
    int64_t *rp = realloc(out->rowptr, ((size_t)b.n + 1) * sizeof *rp);
    if (rp)
        out->rowptr = rp;
    double *yy = realloc(out->y, (size_t)b.n * sizeof *yy);
    if (yy)
        out->y = yy;
    size_t m = b.nnz > 0 ? (size_t)b.nnz : 1;
    int *ci = realloc(out->colind, m * sizeof *ci);
    if (ci)
        out->colind = ci;
    double *v = realloc(out->val, m * sizeof *v);
    if (v)
        out->val = v;
    ds_seal(out);
    ds__ok(msg, msglen);
    return BL_OK;
}
