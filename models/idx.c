/*
 * models/idx.c — IDX reader (MNIST / Fashion-MNIST), raw or gzip.
 *
 * Layout (big-endian): magic 00 00 08 k (08 = unsigned byte, k = number of
 * dimensions), k uint32 dimensions, then the bytes. Images: k = 3, n×rows×
 * cols; labels: k = 1, n. Both raw and gzip files go through zlib's gzread
 * (gzip detected by its magic 1f 8b, raw files read as they are); the data
 * buffer grows with what is actually read, so a header that lies about the
 * size cannot make us allocate more than twice the real data.
 */
#include "models/ds_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* A sanity cap on the announced data size (1 TiB). */
#define IDX_MAX_BYTES ((uint64_t)1 << 40)

typedef struct idx_src {
    const char *path;
    gzFile gz;
    int gzip;   /* 1: the file starts with the gzip magic */
    size_t off; /* bytes consumed so far (of the decompressed stream) */
    char *msg;
    size_t msglen;
} idx_src;

static const char *where(const idx_src *s)
{
    return s->gzip ? " of the decompressed data" : "";
}

/* Reads up to len bytes; returns the count (short at end of file), or −1
 * after writing a message when zlib reports a read error or a bad stream. */
static long long src_read(idx_src *s, unsigned char *buf, size_t len, bl_status *st)
{
    size_t got = 0;
    while (got < len) {
        size_t ask = len - got;
        if (ask > ((size_t)1 << 30))
            ask = (size_t)1 << 30;
        int r = gzread(s->gz, buf + got, (unsigned)ask);
        if (r > 0) {
            got += (size_t)r;
            s->off += (size_t)r;
        }
        int err = Z_OK;
        const char *zmsg = gzerror(s->gz, &err);
        if (err != Z_OK && err != Z_STREAM_END) {
            const char *what = err == Z_BUF_ERROR    ? "gzip stream truncated"
                               : err == Z_DATA_ERROR ? "gzip data corrupt"
                               : err == Z_MEM_ERROR  ? "out of memory in zlib"
                               : err == Z_ERRNO      ? "read error"
                                                     : "zlib error";
            /* zlib's text is "path: detail"; keep the detail. */
            size_t pl = strlen(s->path);
            if (!zmsg)
                zmsg = "";
            if (strncmp(zmsg, s->path, pl) == 0 && zmsg[pl] == ':' && zmsg[pl + 1] == ' ')
                zmsg += pl + 2;
            /* zlib decompresses ahead, so the error shows up after the
             * bytes delivered so far: report that offset. */
            *st = ds__fail(s->msg, s->msglen,
                           err == Z_MEM_ERROR ? BL_ENOMEM
                           : err == Z_ERRNO   ? BL_EIO
                                              : BL_EFORMAT,
                           "%s: %s (%.80s), detected after byte offset %zu%s", s->path, what, zmsg,
                           s->off, where(s));
            return -1;
        }
        if (r <= 0)
            break;
    }
    return (long long)got;
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* Reads an IDX file of unsigned bytes with ndim dimensions into *data
 * (malloc'ed, *size bytes) and dims. `kind` names the content for messages. */
static bl_status read_idx(const char *path, int ndim, const char *kind, int *dims,
                          unsigned char **data, char *msg, size_t msglen)
{
    *data = NULL;
    /* Detect gzip by its magic; gzread would also read raw files as they are. */
    errno = 0;
    FILE *f = fopen(path, "rb");
    if (!f) {
        int err = errno;
        char ebuf[128] = "unknown error";
        (void)strerror_r(err, ebuf, sizeof ebuf);
        return ds__fail(msg, msglen, err == ENOMEM ? BL_ENOMEM : BL_EIO, "%s: cannot open%s%s%s", path,
                        err == ENOMEM ? ": out of memory for the FILE stream" : " (", err == ENOMEM ? "" : ebuf,
                        err == ENOMEM ? "" : ")");
    }
    unsigned char m2[2] = {0, 0};
    size_t n2 = fread(m2, 1, 2, f);
    fclose(f);
    idx_src s = {path, NULL, n2 == 2 && m2[0] == 0x1f && m2[1] == 0x8b, 0, msg, msglen};
    errno = 0;
    s.gz = gzopen(path, "rb");
    if (!s.gz) {
        int err = errno;
        char ebuf[128] = "unknown error";
        (void)strerror_r(err, ebuf, sizeof ebuf);
        return ds__fail(msg, msglen, err == ENOMEM ? BL_ENOMEM : BL_EIO, "%s: cannot open%s%s%s", path,
                        err == ENOMEM ? ": out of memory for the zlib stream" : " (", err == ENOMEM ? "" : ebuf,
                        err == ENOMEM ? "" : ")");
    }
    (void)gzbuffer(s.gz, 1 << 17);
    bl_status st = BL_OK;
    unsigned char *buf = NULL;
    unsigned char hdr[16];
    size_t hlen = 4 + 4 * (size_t)ndim;
    long long got = src_read(&s, hdr, hlen, &st);
    if (got < 0)
        goto done;
    if (got < 4) {
        st = ds__fail(msg, msglen, BL_EFORMAT,
                      "%s: header cut: the file ends at byte offset %lld%s, before the 4-byte magic",
                      path, got, where(&s));
        goto done;
    }
    uint32_t magic = be32(hdr), want = 0x00000800u | (uint32_t)ndim;
    if (magic != want) {
        st = ds__fail(msg, msglen, BL_EFORMAT,
                      "%s: bad magic 0x%08x at byte offset 0%s: expected 0x%08x (IDX %s: unsigned "
                      "bytes, %d dimension%s)",
                      path, (unsigned)magic, where(&s), (unsigned)want, kind, ndim, ndim > 1 ? "s" : "");
        goto done;
    }
    if ((size_t)got < hlen) {
        st = ds__fail(msg, msglen, BL_EFORMAT,
                      "%s: header cut: the file ends at byte offset %lld%s, the %d dimensions need "
                      "%zu header bytes",
                      path, got, where(&s), ndim, hlen);
        goto done;
    }
    uint64_t total = 1;
    for (int k = 0; k < ndim; k++) {
        uint32_t v = be32(hdr + 4 + 4 * k);
        if (v == 0 || v > INT32_MAX) {
            st = ds__fail(msg, msglen, BL_EFORMAT,
                          "%s: dimension %d = %lu at byte offset %d%s is out of range [1, 2^31 - 1]",
                          path, k, (unsigned long)v, 4 + 4 * k, where(&s));
            goto done;
        }
        dims[k] = (int)v;
        if (total > IDX_MAX_BYTES / v) { /* before multiplying: no overflow */
            total = IDX_MAX_BYTES + 1;
            break;
        }
        total *= v;
    }
    if (total > IDX_MAX_BYTES || total > SIZE_MAX) {
        st = ds__fail(msg, msglen, BL_EFORMAT,
                      "%s: the dimensions at byte offsets 4..%zu announce more than 2^40 data bytes",
                      path, hlen - 1);
        goto done;
    }
    size_t cap = total < ((size_t)1 << 20) ? (size_t)total : ((size_t)1 << 20), have = 0;
    buf = malloc(cap);
    if (!buf) {
        st = ds__fail(msg, msglen, BL_ENOMEM, "%s: out of memory for a data buffer of %zu bytes", path, cap);
        goto done;
    }
    for (;;) {
        got = src_read(&s, buf + have, cap - have, &st);
        if (got < 0)
            goto done;
        have += (size_t)got;
        if (have < cap || have == total)
            break;
        size_t ncap = cap * 2 < total ? cap * 2 : (size_t)total;
        unsigned char *nb = realloc(buf, ncap);
        if (!nb) {
            st = ds__fail(msg, msglen, BL_ENOMEM, "%s: out of memory for a data buffer of %zu bytes", path, ncap);
            goto done;
        }
        buf = nb;
        cap = ncap;
    }
    if (have < total) {
        st = ds__fail(msg, msglen, BL_EFORMAT,
                      "%s: data cut: the header announces %llu data bytes (%s) but the file ends at "
                      "byte offset %zu%s, after %zu of them",
                      path, (unsigned long long)total, kind, s.off, where(&s), have);
        goto done;
    }
    unsigned char extra;
    got = src_read(&s, &extra, 1, &st);
    if (got < 0)
        goto done;
    if (got > 0) {
        st = ds__fail(msg, msglen, BL_EFORMAT,
                      "%s: trailing bytes at byte offset %zu%s, after the %llu data bytes the "
                      "header announces",
                      path, s.off - 1, where(&s), (unsigned long long)total);
        goto done;
    }
    *data = buf;
    buf = NULL;
done:
    free(buf);
    gzclose(s.gz);
    if (st != BL_OK)
        for (int k = 0; k < ndim; k++)
            dims[k] = 0;
    return st;
}

bl_status ds_read_idx_images(const char *path, int *n, int *rows, int *cols, unsigned char **pix,
                             char *msg, size_t msglen)
{
    if (!n || !rows || !cols || !pix)
        return ds__fail(msg, msglen, BL_EINVAL, "ds_read_idx_images: an output pointer is NULL");
    *n = *rows = *cols = 0;
    *pix = NULL;
    if (!path)
        return ds__fail(msg, msglen, BL_EINVAL, "ds_read_idx_images: path is NULL");
    int dims[3] = {0, 0, 0};
    bl_status st = read_idx(path, 3, "images", dims, pix, msg, msglen);
    if (st != BL_OK)
        return st;
    *n = dims[0];
    *rows = dims[1];
    *cols = dims[2];
    ds__ok(msg, msglen);
    return BL_OK;
}

bl_status ds_read_idx_labels(const char *path, int *n, unsigned char **labels, char *msg,
                             size_t msglen)
{
    if (!n || !labels)
        return ds__fail(msg, msglen, BL_EINVAL, "ds_read_idx_labels: an output pointer is NULL");
    *n = 0;
    *labels = NULL;
    if (!path)
        return ds__fail(msg, msglen, BL_EINVAL, "ds_read_idx_labels: path is NULL");
    int dims[1] = {0};
    bl_status st = read_idx(path, 1, "labels", dims, labels, msg, msglen);
    if (st != BL_OK)
        return st;
    *n = dims[0];
    ds__ok(msg, msglen);
    return BL_OK;
}
