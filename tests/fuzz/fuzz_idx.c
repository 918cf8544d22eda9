/*
 * tests/fuzz/fuzz_idx.c — libFuzzer target for the IDX readers, raw and
 * gzip. Byte 0 of the input selects: bit 0 images (ds_read_idx_images) or
 * labels (ds_read_idx_labels); bit 1 gzip-compress the rest with zlib
 * first (so the fuzzer explores the decompressed layout too) or write it as
 * it is (raw files, and hand-made or corrupt gzip streams). Checked: no
 * crash, sanitizer report or leak; on failure a non-empty message, NULL
 * output and zero sizes; on success sizes that match the header.
 */
#include <hypertape/models/data.h>
#include "fuzz_tmpfile.h"

#include <string.h>
#include <zlib.h>

static void bad(const char *what)
{
    fprintf(stderr, "fuzz_idx: %s\n", what);
    abort();
}

static const char *write_gzip(const uint8_t *d, size_t n)
{
    const char *path = fz_tmp_path("in.idx");
    gzFile gz = gzopen(path, "wb");
    if (!gz || (n && gzwrite(gz, d, (unsigned)n) != (int)n))
        abort();
    gzclose(gz);
    return path;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int images = data[0] & 1;
    const char *path = data[0] & 2 ? write_gzip(data + 1, size - 1)
                                   : fz_write("in.idx", data + 1, size - 1);
    char msg[256] = "x";
    int n = -1, rows = -1, cols = -1;
    unsigned char *buf = (unsigned char *)1;
    bl_status st = images ? ds_read_idx_images(path, &n, &rows, &cols, &buf, msg, sizeof msg)
                          : ds_read_idx_labels(path, &n, &buf, msg, sizeof msg);
    if (st == BL_OK) {
        if (!buf || n <= 0 || (images && (rows <= 0 || cols <= 0)))
            bad("success with empty output");
        size_t total = images ? (size_t)n * rows * cols : (size_t)n;
        volatile unsigned char sum = 0;
        for (size_t k = 0; k < total; k++) /* ASan: the buffer has the size it claims */
            sum ^= buf[k];
        (void)sum;
    } else {
        if (!msg[0])
            bad("failure without a message");
        if (buf || n != 0 || (images && (rows != 0 || cols != 0)))
            bad("failure left output");
    }
    free(buf);
    return 0;
}
