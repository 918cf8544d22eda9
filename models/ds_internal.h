/*
 * models/ds_internal.h — helpers shared by the ds_ sources (not installed):
 * the message writer, the seeded generator (splitmix64), checked
 * allocation sizes and the text readers' line source.
 */
#ifndef HYPERTAPE_MODELS_DS_INTERNAL_H
#define HYPERTAPE_MODELS_DS_INTERNAL_H

#include <hypertape/models/data.h>
#include <hypertape/models/multiclass.h>

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <zlib.h>

/* Writes a printf-style message into msg (when msg != NULL and msglen > 0,
 * always NUL-terminated, truncated to fit) and returns st, so that an error
 * path reads `return ds__fail(msg, msglen, BL_EFORMAT, "...", ...)`. */
#if defined(__GNUC__)
__attribute__((format(printf, 4, 5)))
#endif
static inline bl_status ds__fail(char *msg, size_t msglen, bl_status st, const char *fmt, ...)
{
    if (msg && msglen > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, msglen, fmt, ap);
        va_end(ap);
    }
    return st;
}

/* Empties msg (success). */
static inline void ds__ok(char *msg, size_t msglen)
{
    if (msg && msglen > 0)
        msg[0] = '\0';
}

/* The insertion point of v in the increasing table cl->value[0..n): the
 * first index whose value is >= v (n when every value is below v). */
static inline int ds__classes_lower(const ds_classes *cl, int v)
{
    int lo = 0, hi = cl->n;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (cl->value[mid] < v)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* splitmix64 (Steele, Lea & Flood 2014): a 64-bit state, one add and a
 * mix per draw. Used both as the stream generator and to derive seeds. */
typedef struct ds_rng {
    uint64_t s;
} ds_rng;

static inline uint64_t ds__mix(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static inline uint64_t ds__next(ds_rng *r)
{
    r->s += 0x9e3779b97f4a7c15ULL;
    return ds__mix(r->s);
}

/* The generator for item `index` of stream `tag` under `seed`: items are
 * independent of each other, so a reduced-size call yields a prefix of the
 * full-size data. */
static inline ds_rng ds__stream(uint64_t seed, uint64_t tag, uint64_t index)
{
    ds_rng r = {ds__mix(ds__mix(seed ^ ds__mix(tag + 0x632be59bd9b4e019ULL)) + index)};
    return r;
}

/* Uniform on [0, 1) with 53 random bits. */
static inline double ds__uniform(ds_rng *r)
{
    return (double)(ds__next(r) >> 11) * (1.0 / 9007199254740992.0);
}

/* Uniform integer in [0, m), m > 0 (Lemire's multiply-shift; the bias is
 * below 2^-32 for m < 2^32, irrelevant for synthetic data). */
static inline uint32_t ds__below(ds_rng *r, uint32_t m)
{
    return (uint32_t)(((ds__next(r) >> 32) * (uint64_t)m) >> 32);
}

/* Standard normal (Box–Muller, one value per call). */
double ds__normal(ds_rng *r);

/* Largest sample count / dense element count a ds_set may hold. */
#define DS_MAX_ELEMS ((int64_t)INT32_MAX)

/* Allocates an empty set shell of n samples × d features with y (and cls
 * when withcls) and either X (dense, nnz ignored) or CSR arrays of nnz
 * entries. Returns BL_ENOMEM with a message on failure (out zeroed). */
bl_status ds__alloc(ds_set *out, int n, int d, int dense, int64_t nnz, int withcls, char *msg,
                    size_t msglen);

/* BL_EINVAL with a message naming fn unless s is a non-empty, complete set
 * (n, d >= 1, y, and X or the three CSR arrays). */
bl_status ds__check(const ds_set *s, const char *fn, char *msg, size_t msglen);

/* The line source of the text readers (models/lines.c): a raw or gzip
 * file (zlib reads a file without the gzip magic as it is) read in 64 KiB
 * blocks and split into lines. Memory: the block and one line buffer of at
 * most max + 2 bytes. */
typedef struct ds__lines {
    const char *path;
    const char *hint;        /* how to raise the line cap, for the message */
    gzFile gz;
    char *blk;               /* the read block */
    size_t bpos, blen;       /* unread part of the block: blk[bpos..blen) */
    unsigned long long boff; /* stream offset of blk[0] (decompressed) */
    int eof;
    char *line;              /* the current line, NUL-terminated, newline kept */
    size_t len, cap, max;    /* its length, the buffer's size, the cap (newline excluded) */
    long long lineno;        /* 1-based number of the current line (0 before the first) */
} ds__lines;

/* Opens path (BL_EIO when it cannot be opened, BL_ENOMEM); on failure L
 * holds nothing to close. */
bl_status ds__lines_open(ds__lines *L, const char *path, size_t max, const char *hint, char *msg,
                         size_t msglen);

/* The next line into L->line (L->len bytes, newline kept) and L->lineno;
 * *got is 0 at the end of the file. BL_EFORMAT for a NUL byte, a line
 * longer than max bytes or a corrupt or truncated gzip stream, BL_EIO for a
 * read error, BL_ENOMEM; the message names the file and line. A file that
 * starts with the bzip2, xz or zstd magic is BL_EFORMAT with a message
 * naming the command that decompresses it. */
bl_status ds__lines_next(ds__lines *L, int *got, char *msg, size_t msglen);

/* Closes the file and frees the buffers (L zeroed). */
void ds__lines_close(ds__lines *L);

#endif
