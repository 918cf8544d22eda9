/*
 * tests/fuzz/fuzz_tmpfile.h — the readers take paths, so the fuzz targets
 * write each input to one file in a private temporary folder, created on
 * first use and removed at exit.
 */
#ifndef HYPERTAPE_FUZZ_TMPFILE_H
#define HYPERTAPE_FUZZ_TMPFILE_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static char fz_dir[64], fz_path[96];

static void fz_cleanup(void)
{
    unlink(fz_path);
    rmdir(fz_dir);
}

/* Path of the scratch file (the folder is made on the first call). */
static const char *fz_tmp_path(const char *name)
{
    if (!fz_dir[0]) {
        const char *tmp = getenv("TMPDIR");
        snprintf(fz_dir, sizeof fz_dir, "%s/fuzz.XXXXXX", tmp ? tmp : "/tmp");
        if (!mkdtemp(fz_dir))
            abort();
        snprintf(fz_path, sizeof fz_path, "%s/%s", fz_dir, name);
        atexit(fz_cleanup);
    }
    return fz_path;
}

/* Writes n bytes to the scratch file and returns its path. */
static const char *fz_write(const char *name, const uint8_t *d, size_t n)
{
    const char *path = fz_tmp_path(name);
    FILE *f = fopen(path, "wb");
    if (!f || (n && fwrite(d, 1, n, f) != n))
        abort();
    fclose(f);
    return path;
}

#endif
