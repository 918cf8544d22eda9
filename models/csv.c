/*
 * models/csv.c — dense CSV/TSV reader → ds_set (contract in
 * hypertape/models/data.h, ds_read_csv).
 *
 * Sizes: ncols columns fixed by the first line, d = ncols − 1 features,
 * n samples; X n×d row-major grows by doubling from about 64 Ki values.
 * Lines come from models/lines.c (raw or gzip, capped length). The first
 * line decides the delimiter, the header and the label column; every
 * later line must have ncols fields. Fields are split in place: a quoted
 * field is unquoted into its own bytes ("" → "), each field is then
 * NUL-terminated where it ends. Nothing is kept on failure.
 */
#include "models/ds_internal.h"

#include <errno.h>
#include <locale.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The set being built, and what the first line decided. */
typedef struct csv_build {
    double *X, *y;
    int *cls;          /* multiclass only */
    size_t rcap;       /* rows allocated */
    int n, d, ncols, label;
    int multiclass, maxcls;
    long long zero_line, minus_line; /* first line with label 0 / −1, or 0 */
    char *names;       /* the header's fields, NUL-separated (NULL without header) */
    size_t *name_at;   /* ncols offsets into names */
} csv_build;

/* Where a message points: "path:line". */
typedef struct csv_where {
    const char *path;
    long long line;
    char *msg;
    size_t msglen;
} csv_where;

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static bl_status fail_at(const csv_where *w, bl_status st, const char *fmt, ...)
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

static void build_free(csv_build *b)
{
    free(b->X);
    free(b->y);
    free(b->cls);
    free(b->names);
    free(b->name_at);
    memset(b, 0, sizeof *b);
}

/* "column c" or "column c ('name')" for messages. */
static const char *col_desc(const csv_build *b, int c, char *buf, size_t len)
{
    if (b->names && c < b->ncols)
        snprintf(buf, len, "column %d ('%.40s')", c, b->names + b->name_at[c]);
    else
        snprintf(buf, len, "column %d", c);
    return buf;
}

/* ----------------------------------------------------------- splitting */

static int is_blank(char c, char delim)
{
    return c == ' ' || (c == '\t' && delim != '\t');
}

enum { FLD_OK, FLD_UNTERMINATED, FLD_AFTER_QUOTE, FLD_STRAY_QUOTE };

/* One field of line[*pos..end): sets *f to its text (NUL-terminated,
 * unquoted, surrounding blanks removed), *more to 1 when a delimiter
 * follows it, and *pos past that delimiter. */
static int next_field(char *line, size_t *pos, size_t end, char delim, char **f, int *more)
{
    size_t p = *pos;
    while (p < end && is_blank(line[p], delim))
        p++;
    *more = 0;
    if (p < end && line[p] == '"') {
        size_t r = p + 1, o = p;
        for (;;) {
            if (r >= end)
                return FLD_UNTERMINATED;
            if (line[r] == '"') {
                if (r + 1 < end && line[r + 1] == '"') {
                    line[o++] = '"';
                    r += 2;
                    continue;
                }
                r++;
                break;
            }
            line[o++] = line[r++];
        }
        while (r < end && is_blank(line[r], delim))
            r++;
        if (r < end && line[r] != delim)
            return FLD_AFTER_QUOTE;
        *more = r < end;
        line[o] = '\0';
        *f = line + p;
        *pos = r < end ? r + 1 : end;
        return FLD_OK;
    }
    size_t q = p;
    while (q < end && line[q] != delim) {
        if (line[q] == '"')
            return FLD_STRAY_QUOTE;
        q++;
    }
    *more = q < end;
    size_t e = q;
    while (e > p && is_blank(line[e - 1], delim))
        e--;
    line[e] = '\0';
    *f = line + p;
    *pos = q < end ? q + 1 : end;
    return FLD_OK;
}

static bl_status field_error(const csv_where *w, const csv_build *b, int c, int e)
{
    char cd[96];
    col_desc(b, c, cd, sizeof cd);
    if (e == FLD_UNTERMINATED)
        return fail_at(w, BL_EFORMAT,
                       "%s: unterminated quote (a quoted field may not span lines)", cd);
    if (e == FLD_AFTER_QUOTE)
        return fail_at(w, BL_EFORMAT, "%s: text after the closing quote", cd);
    return fail_at(w, BL_EFORMAT,
                   "%s: a quote inside an unquoted field (quote the whole field, doubling "
                   "inner quotes)", cd);
}

/* Parses the whole NUL-terminated text as a double. 0: ok; 1: not a
 * number; 2: NaN, Inf or overflow. */
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

/* ------------------------------------------------------------ the rows */

static int grow_rows(csv_build *b)
{
    if ((size_t)b->n < b->rcap)
        return 1;
    size_t maxrows = (size_t)(DS_MAX_ELEMS / b->d);
    if (maxrows > (size_t)INT32_MAX - 1)
        maxrows = (size_t)INT32_MAX - 1;
    size_t cap = b->rcap ? 2 * b->rcap : ((size_t)1 << 16) / (size_t)b->d + 1;
    if (cap > maxrows)
        cap = maxrows;
    if (cap <= (size_t)b->n)
        return -1; /* out of range */
    double *X = realloc(b->X, cap * (size_t)b->d * sizeof *X);
    if (!X)
        return 0;
    b->X = X;
    double *y = realloc(b->y, cap * sizeof *y);
    if (!y)
        return 0;
    b->y = y;
    if (b->multiclass) {
        int *c = realloc(b->cls, cap * sizeof *c);
        if (!c)
            return 0;
        b->cls = c;
    }
    b->rcap = cap;
    return 1;
}

/* Stores label text f of row b->n. */
static bl_status put_label(csv_build *b, const char *f, const csv_where *w)
{
    char cd[96];
    col_desc(b, b->label, cd, sizeof cd);
    double lab;
    int e = parse_double(f, &lab);
    if (e)
        return fail_at(w, e == 2 ? BL_ENONFINITE : BL_EFORMAT, "%s: label '%.40s' is %s", cd, f,
                       e == 2 ? "not finite" : "not a number");
    if (b->multiclass) {
        if (lab != floor(lab) || lab < 0 || lab >= DS_CSV_MAX_CLASSES)
            return fail_at(w, BL_EFORMAT,
                           "%s: label '%.40s' is not a class index (an integer in [0, %d))", cd, f,
                           DS_CSV_MAX_CLASSES);
        b->cls[b->n] = (int)lab;
        b->y[b->n] = lab;
        if ((int)lab > b->maxcls)
            b->maxcls = (int)lab;
        return BL_OK;
    }
    if (lab != 1.0 && lab != -1.0 && lab != 0.0)
        return fail_at(w, BL_EFORMAT, "%s: label '%.40s' is not binary (use -1/+1 or 0/1)", cd, f);
    if (lab == 0.0 && !b->zero_line)
        b->zero_line = w->line;
    if (lab == -1.0 && !b->minus_line)
        b->minus_line = w->line;
    if (b->zero_line && b->minus_line)
        return fail_at(w, BL_EFORMAT,
                       "labels 0 (line %lld) and -1 (line %lld) both used: use -1/+1 or 0/1",
                       b->zero_line, b->minus_line);
    b->y[b->n] = lab == 0.0 ? -1.0 : lab;
    return BL_OK;
}

/* Parses data line[0..end) into row b->n. */
static bl_status parse_row(char *line, size_t end, char delim, csv_build *b, const csv_where *w)
{
    int g = grow_rows(b);
    if (g < 0)
        return fail_at(w, BL_ENOMEM, "more than %d samples of %d features (2^31 - 1 values; "
                       "out of memory)", b->n, b->d);
    if (g == 0)
        return fail_at(w, BL_ENOMEM, "out of memory for the sample arrays at sample %d",
                       b->n + 1);
    double *x = b->X + (size_t)b->n * (size_t)b->d;
    size_t pos = 0;
    int c = 0, more = 1;
    char cd[96];
    while (more) {
        if (c == b->ncols)
            return fail_at(w, BL_EFORMAT, "more than %d fields (the first line has %d)", b->ncols,
                           b->ncols);
        char *f;
        int e = next_field(line, &pos, end, delim, &f, &more);
        if (e)
            return field_error(w, b, c, e);
        if (!f[0])
            return fail_at(w, BL_EFORMAT, "%s: empty field (missing values are not supported)",
                           col_desc(b, c, cd, sizeof cd));
        if (c == b->label) {
            bl_status st = put_label(b, f, w);
            if (st != BL_OK)
                return st;
        } else {
            double v;
            e = parse_double(f, &v);
            if (e)
                return fail_at(w, e == 2 ? BL_ENONFINITE : BL_EFORMAT, "%s: value '%.40s' is %s",
                               col_desc(b, c, cd, sizeof cd), f,
                               e == 2 ? "not finite" : "not a number");
            *x++ = v;
        }
        c++;
    }
    if (c < b->ncols)
        return fail_at(w, BL_EFORMAT, "%d field%s, the first line has %d", c, c > 1 ? "s" : "",
                       b->ncols);
    b->n++;
    return BL_OK;
}

/* ------------------------------------------------------ the first line */

/* The most frequent of ',', '\t', ';' outside quotes (ties: that order). */
static char detect_delim(const char *line, size_t end)
{
    size_t cnt[3] = {0, 0, 0};
    int inq = 0;
    for (size_t k = 0; k < end; k++) {
        char ch = line[k];
        if (ch == '"')
            inq = !inq;
        else if (!inq)
            cnt[0] += ch == ',', cnt[1] += ch == '\t', cnt[2] += ch == ';';
    }
    int best = 0;
    for (int k = 1; k < 3; k++)
        if (cnt[k] > cnt[best])
            best = k;
    return ",\t;"[best];
}

/* Splits the first line into its fields, each NUL-terminated in place; the
 * count is returned in *ncols, the fields' offsets in *at (malloc'ed). */
static bl_status split_first(char *line, size_t end, char delim, int max_cols, csv_build *b,
                             size_t **at, int *ncols, const csv_where *w)
{
    size_t cap = 64, pos = 0;
    int c = 0, more = 1;
    *at = malloc(cap * sizeof **at);
    if (!*at)
        return fail_at(w, BL_ENOMEM, "out of memory for the column table");
    while (more) {
        if (c == max_cols)
            return fail_at(w, BL_EFORMAT,
                           "more than %d columns (raise ds_csv_opts.max_cols)", max_cols);
        if ((size_t)c == cap) {
            size_t *p = realloc(*at, 2 * cap * sizeof *p);
            if (!p)
                return fail_at(w, BL_ENOMEM, "out of memory for the column table (%zu columns)",
                               2 * cap);
            *at = p;
            cap *= 2;
        }
        char *f;
        int e = next_field(line, &pos, end, delim, &f, &more);
        if (e)
            return field_error(w, b, c, e);
        (*at)[c++] = (size_t)(f - line);
    }
    *ncols = c;
    return BL_OK;
}

/* The label column from the options (and the header names, if any). */
static bl_status pick_label(const ds_csv_opts *o, csv_build *b, const csv_where *w)
{
    char cd[96], cd2[96];
    if (o->label_name) {
        if (!b->names)
            return fail_at(w, BL_EFORMAT,
                           "label column '%.40s' is chosen by name, but the file has no header "
                           "(line %lld is data)", o->label_name, w->line);
        int found = -1;
        for (int c = 0; c < b->ncols; c++)
            if (!strcmp(b->names + b->name_at[c], o->label_name)) {
                if (found >= 0)
                    return fail_at(w, BL_EFORMAT, "two columns named '%.40s' (%d and %d)",
                                   o->label_name, found, c);
                found = c;
            }
        if (found < 0)
            return fail_at(w, BL_EFORMAT, "no column named '%.40s' in the header", o->label_name);
        b->label = found;
        return BL_OK;
    }
    if (o->label_col != DS_CSV_LABEL_AUTO) {
        long long k = o->label_col < 0 ? (long long)b->ncols + o->label_col : o->label_col;
        if (k < 0 || k >= b->ncols)
            return fail_at(w, BL_EFORMAT, "label column %d is out of range for %d columns",
                           o->label_col, b->ncols);
        b->label = (int)k;
        return BL_OK;
    }
    static const char *const auto_names[] = {"label", "y", "target", "class"};
    int found = -1;
    for (int c = 0; b->names && c < b->ncols; c++)
        for (size_t k = 0; k < sizeof auto_names / sizeof *auto_names; k++)
            if (!strcasecmp(b->names + b->name_at[c], auto_names[k])) {
                if (found >= 0)
                    return fail_at(w, BL_EFORMAT,
                                   "%s and %s could both be the label: choose one "
                                   "(ds_csv_opts.label_name or label_col, CLI --label-col)",
                                   col_desc(b, found, cd, sizeof cd),
                                   col_desc(b, c, cd2, sizeof cd2));
                found = c;
            }
    b->label = found >= 0 ? found : b->ncols - 1;
    return BL_OK;
}

/* The first non-blank line: delimiter, columns, header, label; parses it
 * as data when it is not a header. */
static bl_status first_line(char *line, size_t end, const ds_csv_opts *o, char *delim,
                            csv_build *b, const csv_where *w)
{
    *delim = o->delim ? (char)o->delim : detect_delim(line, end);
    /* A copy: splitting modifies the line, which parse_row needs intact. */
    char *copy = malloc(end + 1);
    if (!copy)
        return fail_at(w, BL_ENOMEM, "out of memory for a copy of the first line (%zu bytes)",
                       end + 1);
    memcpy(copy, line, end + 1);
    size_t *at = NULL;
    int ncols = 0;
    bl_status st = split_first(copy, end, *delim, o->max_cols, b, &at, &ncols, w);
    if (st == BL_OK && ncols < 2)
        st = fail_at(w, BL_EFORMAT,
                     "1 column (delimiter '%s'): need a label and at least one feature",
                     *delim == '\t' ? "\\t" : *delim == ',' ? "," : ";");
    int header = o->header;
    for (int c = 0; st == BL_OK && header < 0 && c < ncols; c++) {
        double v;
        if (parse_double(copy + at[c], &v) == 1)
            header = 1;
    }
    if (st != BL_OK) {
        free(copy);
        free(at);
        return st;
    }
    b->ncols = ncols;
    b->d = ncols - 1;
    if (header == 1) {
        b->names = copy;
        b->name_at = at;
    } else {
        free(copy);
        free(at);
    }
    st = pick_label(o, b, w);
    if (st == BL_OK && header != 1)
        st = parse_row(line, end, *delim, b, w);
    return st;
}

/* ------------------------------------------------------------ the file */

static bl_status read_lines(const char *path, const ds_csv_opts *o, csv_build *b, csv_where *w)
{
    ds__lines L;
    bl_status st = ds__lines_open(&L, path, o->max_line_bytes,
                                  "raise ds_csv_opts.max_line_bytes, CLI --max-line-bytes", w->msg,
                                  w->msglen);
    if (st != BL_OK)
        return st;
    int seen_first = 0;
    char delim = ',';
    for (;;) {
        int got;
        st = ds__lines_next(&L, &got, w->msg, w->msglen);
        if (st != BL_OK || !got)
            break;
        w->line = L.lineno;
        char *line = L.line;
        size_t end = L.len;
        if (end && line[end - 1] == '\n')
            end--;
        if (end && line[end - 1] == '\r')
            end--;
        line[end] = '\0';
        if (L.lineno == 1 && end >= 3 && !memcmp(line, "\xEF\xBB\xBF", 3))
            line += 3, end -= 3; /* UTF-8 byte order mark */
        size_t k = 0;
        while (k < end && (line[k] == ' ' || line[k] == '\t'))
            k++;
        if (k == end)
            continue; /* blank line */
        st = seen_first ? parse_row(line, end, delim, b, w) : first_line(line, end, o, &delim, b, w);
        seen_first = 1;
        if (st != BL_OK)
            break;
    }
    ds__lines_close(&L);
    if (st == BL_OK && b->n == 0) {
        if (w->line == 0)
            st = ds__fail(w->msg, w->msglen, BL_EFORMAT, "%s: empty file (no samples)", path);
        else if (!seen_first)
            st = fail_at(w, BL_EFORMAT, "no samples: all %lld lines are blank", w->line);
        else
            st = fail_at(w, BL_EFORMAT, "no samples: only a header");
    }
    return st;
}

ds_csv_opts ds_csv_defaults(void)
{
    return (ds_csv_opts){0, -1, NULL, DS_CSV_LABEL_AUTO, 0, DS_LIBSVM_MAX_LINE_BYTES,
                         DS_CSV_MAX_COLS};
}

static bl_status check_opts(const ds_csv_opts *o, char *msg, size_t msglen)
{
    if (o->delim != 0 && o->delim != ',' && o->delim != '\t' && o->delim != ';')
        return ds__fail(msg, msglen, BL_EINVAL,
                        "ds_read_csv: delim = %d is not ',', '\\t', ';' or 0 (detect)", o->delim);
    if (o->header < -1 || o->header > 1)
        return ds__fail(msg, msglen, BL_EINVAL, "ds_read_csv: header = %d is not -1, 0 or 1",
                        o->header);
    if (o->multiclass != 0 && o->multiclass != 1)
        return ds__fail(msg, msglen, BL_EINVAL, "ds_read_csv: multiclass = %d is not 0 or 1",
                        o->multiclass);
    if (o->max_line_bytes < 1)
        return ds__fail(msg, msglen, BL_EINVAL, "ds_read_csv: max_line_bytes = %zu < 1",
                        o->max_line_bytes);
    if (o->max_cols < 2)
        return ds__fail(msg, msglen, BL_EINVAL, "ds_read_csv: max_cols = %d < 2", o->max_cols);
    return BL_OK;
}

/* Hands the built arrays to out, giving back the slack of the doubling
 * (failure to shrink is harmless). */
static void finish(csv_build *b, ds_set *out)
{
    out->n = b->n;
    out->d = b->d;
    out->X = b->X;
    out->y = b->y;
    out->cls = b->cls;
    out->nclass = b->multiclass ? b->maxcls + 1 : 2;
    double *X = realloc(out->X, (size_t)b->n * (size_t)b->d * sizeof *X);
    if (X)
        out->X = X;
    double *y = realloc(out->y, (size_t)b->n * sizeof *y);
    if (y)
        out->y = y;
    if (out->cls) {
        int *c = realloc(out->cls, (size_t)b->n * sizeof *c);
        if (c)
            out->cls = c;
    }
    b->X = b->y = NULL;
    b->cls = NULL;
    build_free(b);
}

bl_status ds_read_csv(const char *path, const ds_csv_opts *opts, ds_set *out, char *msg,
                      size_t msglen)
{
    if (!out)
        return ds__fail(msg, msglen, BL_EINVAL, "ds_read_csv: out is NULL");
    memset(out, 0, sizeof *out);
    if (!path)
        return ds__fail(msg, msglen, BL_EINVAL, "ds_read_csv: path is NULL");
    ds_csv_opts o = opts ? *opts : ds_csv_defaults();
    bl_status st = check_opts(&o, msg, msglen);
    if (st != BL_OK)
        return st;
    locale_t cloc = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
    if (!cloc)
        return ds__fail(msg, msglen, BL_ENOMEM, "%s: out of memory for the \"C\" locale object",
                        path);
    locale_t old = uselocale(cloc);
    csv_build b;
    memset(&b, 0, sizeof b);
    b.multiclass = o.multiclass;
    csv_where w = {path, 0, msg, msglen};
    st = read_lines(path, &o, &b, &w);
    uselocale(old);
    freelocale(cloc);
    if (st != BL_OK) {
        build_free(&b);
        return st;
    }
    finish(&b, out);
    ds__ok(msg, msglen);
    return BL_OK;
}
