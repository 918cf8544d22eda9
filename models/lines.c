/*
 * models/lines.c — the text readers' line source (ds__lines, declared in
 * models/ds_internal.h): a raw or gzip file read in 64 KiB blocks through
 * zlib (gzread passes a file without the gzip magic 1f 8b through as it
 * is), split into lines of at most `max` bytes. A NUL byte is rejected as
 * soon as the line holding it is scanned, a line is never grown past the
 * cap, and a read error or a corrupt or truncated gzip stream is an error
 * naming the file and line, never an early end of file. A bzip2, xz or
 * zstd file (by its magic) is an error saying how to decompress it.
 */
#include "models/ds_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define LINES_BLOCK ((size_t)1 << 16)

bl_status ds__lines_open(ds__lines *L, const char *path, size_t max, const char *hint, char *msg,
                         size_t msglen)
{
    memset(L, 0, sizeof *L);
    L->path = path;
    L->max = max;
    L->hint = hint;
    errno = 0;
    L->gz = gzopen(path, "rb");
    if (!L->gz) {
        int err = errno;
        char ebuf[128] = "unknown error";
        (void)strerror_r(err, ebuf, sizeof ebuf);
        if (err == ENOMEM || err == 0) /* zlib leaves errno alone when its malloc fails */
            return ds__fail(msg, msglen, BL_ENOMEM,
                            "%s: cannot open: out of memory for the zlib stream", path);
        return ds__fail(msg, msglen, BL_EIO, "%s: cannot open (%s)", path, ebuf);
    }
    L->blk = malloc(LINES_BLOCK);
    if (!L->blk) {
        gzclose(L->gz);
        L->gz = NULL;
        return ds__fail(msg, msglen, BL_ENOMEM, "%s: out of memory for a read block of %zu bytes",
                        path, LINES_BLOCK);
    }
    return BL_OK;
}

void ds__lines_close(ds__lines *L)
{
    if (L->gz)
        gzclose(L->gz);
    free(L->blk);
    free(L->line);
    memset(L, 0, sizeof *L);
}

/* " of the decompressed data" for gzip files (known after the first read). */
static const char *decomp(const ds__lines *L)
{
    return L->gz && !gzdirect(L->gz) ? " of the decompressed data" : "";
}

/* Maps zlib's error state after a read to a status and message. */
static bl_status read_error(ds__lines *L, long long lineno, char *msg, size_t msglen)
{
    int err = Z_OK;
    const char *zmsg = gzerror(L->gz, &err);
    if (err == Z_ERRNO) {
        int e = errno ? errno : EIO;
        char ebuf[128] = "unknown error";
        (void)strerror_r(e, ebuf, sizeof ebuf);
        return ds__fail(msg, msglen, e == ENOMEM ? BL_ENOMEM : BL_EIO, "%s:%lld: read error (%s)",
                        L->path, lineno, ebuf);
    }
    if (err == Z_MEM_ERROR)
        return ds__fail(msg, msglen, BL_ENOMEM, "%s:%lld: out of memory in zlib", L->path, lineno);
    size_t pl = strlen(L->path);
    if (!zmsg)
        zmsg = "";
    if (strncmp(zmsg, L->path, pl) == 0 && zmsg[pl] == ':' && zmsg[pl + 1] == ' ')
        zmsg += pl + 2; /* zlib's text is "path: detail": keep the detail */
    return ds__fail(msg, msglen, BL_EFORMAT, "%s:%lld: %s (%.80s), after byte offset %llu%s",
                    L->path, lineno,
                    err == Z_BUF_ERROR ? "gzip stream truncated" : "gzip data corrupt", zmsg,
                    L->boff + L->blen, decomp(L));
}

/* Fills the block; sets L->eof at the end of the stream. */
static bl_status fill(ds__lines *L, long long lineno, char *msg, size_t msglen)
{
    L->boff += L->blen;
    L->bpos = L->blen = 0;
    errno = 0;
    int r = gzread(L->gz, L->blk, (unsigned)LINES_BLOCK);
    int err = Z_OK;
    (void)gzerror(L->gz, &err);
    if (r < 0 || (err != Z_OK && err != Z_STREAM_END))
        return read_error(L, lineno, msg, msglen);
    L->blen = (size_t)r;
    if (r == 0)
        L->eof = 1;
    return BL_OK;
}

/* Makes room for `need` bytes plus the NUL in L->line (need ≤ max + 1). */
static bl_status reserve(ds__lines *L, size_t need, long long lineno, char *msg, size_t msglen)
{
    if (need + 1 <= L->cap)
        return BL_OK;
    size_t cap = L->cap ? L->cap : 4096;
    while (cap < need + 1)
        cap = cap > SIZE_MAX / 2 ? need + 1 : 2 * cap;
    if (cap > L->max + 2) /* the longest line: max bytes, its newline, the NUL */
        cap = L->max + 2;
    char *p = realloc(L->line, cap);
    if (!p)
        return ds__fail(msg, msglen, BL_ENOMEM, "%s:%lld: out of memory for a line buffer of %zu bytes",
                        L->path, lineno, cap);
    L->line = p;
    L->cap = cap;
    return BL_OK;
}

/* A compression format zlib does not read, by its magic at the start of
 * the stream (NULL if none). */
static const char *foreign_magic(const ds__lines *L)
{
    const unsigned char *b = (const unsigned char *)L->blk;
    if (L->blen >= 10 && !memcmp(b, "BZh", 3) && b[3] >= '1' && b[3] <= '9' &&
        !memcmp(b + 4, "\x31\x41\x59\x26\x53\x59", 6))
        return "bzip2 (decompress it first: bunzip2 -k FILE)";
    if (L->blen >= 6 && !memcmp(b, "\xFD" "7zXZ\0", 6))
        return "xz (decompress it first: unxz -k FILE)";
    if (L->blen >= 4 && !memcmp(b, "\x28\xB5\x2F\xFD", 4))
        return "zstd (decompress it first: unzstd FILE)";
    return NULL;
}

bl_status ds__lines_next(ds__lines *L, int *got, char *msg, size_t msglen)
{
    long long lineno = L->lineno + 1;
    L->len = 0;
    *got = 0;
    for (;;) {
        if (L->bpos == L->blen) {
            if (L->eof)
                break;
            bl_status st = fill(L, lineno, msg, msglen);
            if (st != BL_OK)
                return st;
            const char *fm = L->boff == 0 && gzdirect(L->gz) ? foreign_magic(L) : NULL;
            if (fm)
                return ds__fail(msg, msglen, BL_EFORMAT,
                                "%s: compressed with %s; only gzip is read", L->path, fm);
            continue;
        }
        char *s = L->blk + L->bpos;
        size_t avail = L->blen - L->bpos;
        char *nl = memchr(s, '\n', avail);
        size_t take = nl ? (size_t)(nl - s) + 1 : avail;
        const char *nul = memchr(s, '\0', take);
        if (nul)
            return ds__fail(msg, msglen, BL_EFORMAT,
                            "%s:%lld: NUL byte at column %llu (byte offset %llu%s)", L->path, lineno,
                            (unsigned long long)(L->len + (size_t)(nul - s)) + 1,
                            L->boff + L->bpos + (unsigned long long)(nul - s), decomp(L));
        size_t body = L->len + take - (nl ? 1 : 0);
        if (body > L->max)
            return ds__fail(msg, msglen, BL_EFORMAT,
                            "%s:%lld: line longer than the limit of %zu bytes (%s)", L->path, lineno,
                            L->max, L->hint);
        bl_status st = reserve(L, L->len + take, lineno, msg, msglen);
        if (st != BL_OK)
            return st;
        memcpy(L->line + L->len, s, take);
        L->len += take;
        L->bpos += take;
        if (nl)
            break;
    }
    if (L->len > 0) {
        L->line[L->len] = '\0';
        L->lineno = lineno;
        *got = 1;
    }
    return BL_OK;
}
