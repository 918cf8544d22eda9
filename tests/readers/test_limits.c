/*
 * tests/readers/test_limits.c — the LIBSVM reader's bounds on hostile
 * input (README, "Readers and their limits"):
 *  - a NUL byte is rejected at once, naming its line, column and byte
 *    offset; reading /dev/zero stops after one block (a child under a
 *    1 GiB address-space limit must get the NUL error, not "empty file");
 *  - a line longer than max_line_bytes is rejected (inside one read block
 *    and across blocks), a line of exactly max_line_bytes is accepted;
 *  - a feature index above max_index (default 2^24) is rejected naming the
 *    file, the line and the index: the 22-byte file with index 1e8 and the
 *    index 2^31 − 1; raised, the same file reads as a sparse set of
 *    d = 1e8.
 */
#include <hypertape/models/data.h>
#include "testutil.h"

#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define HT_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(memory_sanitizer)
#define HT_SANITIZED 1
#endif
#endif

static void write_bytes(const char *path, const char *bytes, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(bytes, 1, len, f) != len) {
        perror(path);
        exit(2);
    }
    fclose(f);
}

/* Expects status want and every piece in the message. */
static void expect_fail(const char *what, bl_status st, bl_status want, const char *msg,
                        const char *const *pieces)
{
    EXPECT(st == want, "%s: status %d, expected %d (%s)", what, (int)st, (int)want, msg);
    for (int k = 0; pieces[k]; k++)
        EXPECT(strstr(msg, pieces[k]) != NULL, "%s: message lacks '%s': %s", what, pieces[k], msg);
}

static int set_is_empty(const ds_set *s)
{
    return s->n == 0 && s->d == 0 && !s->X && !s->rowptr && !s->colind && !s->val && !s->y;
}

/* Reads /dev/zero in a child (address space capped at 1 GiB outside
 * sanitizer builds, 30 s alarm): 0 when the reader reports the NUL byte at
 * offset 0 of line 1, 1 otherwise. */
static int dev_zero_child(void)
{
    pid_t pid = fork();
    if (pid < 0)
        return 1;
    if (pid == 0) {
#ifndef HT_SANITIZED
        struct rlimit rl = {(rlim_t)1 << 30, (rlim_t)1 << 30};
        (void)setrlimit(RLIMIT_AS, &rl);
#endif
        alarm(30);
        char msg[512];
        ds_set s;
        bl_status st = ds_read_libsvm("/dev/zero", 0, &s, msg, sizeof msg);
        int ok = st == BL_EFORMAT && strstr(msg, "/dev/zero:1: NUL byte at column 1") &&
                 strstr(msg, "byte offset 0") && set_is_empty(&s);
        if (!ok)
            fprintf(stderr, "/dev/zero: status %d: %s\n", (int)st, msg);
        _exit(ok ? 0 : 1);
    }
    int ws = 0;
    if (waitpid(pid, &ws, 0) != pid)
        return 1;
    return WIFEXITED(ws) && WEXITSTATUS(ws) == 0 ? 0 : 1;
}

int main(void)
{
    char msg[512];
    ds_set s;

    /* NUL byte: line 2, column 7, byte offset 13 (line 1 is 7 bytes). */
    write_bytes("ds_lim_nul.svm", "+1 1:1\n-1 2:5\0 3:1\n", 20);
    bl_status st = ds_read_libsvm("ds_lim_nul.svm", 0, &s, msg, sizeof msg);
    expect_fail("NUL", st, BL_EFORMAT, msg,
                (const char *const[]){"ds_lim_nul.svm:2: ", "NUL byte at column 7", "byte offset 13", NULL});
    EXPECT(set_is_empty(&s), "NUL: set not empty");

    EXPECT(dev_zero_child() == 0, "/dev/zero is not rejected at once as a NUL byte");

    /* Feature index 1e8 in a 22-byte file: rejected by the default limit,
     * naming the file, the line and the index. */
    write_bytes("ds_lim_1e8.svm", "+1 100000000:1\n-1 1:1\n", 22);
    st = ds_read_libsvm("ds_lim_1e8.svm", 0, &s, msg, sizeof msg);
    expect_fail("index 1e8", st, BL_EFORMAT, msg,
                (const char *const[]){"ds_lim_1e8.svm:1: ", "index 100000000", "limit of 16777216", NULL});
    EXPECT(set_is_empty(&s), "index 1e8: set not empty");

    /* Index 2^31 − 1: the message names the file. */
    write_bytes("ds_lim_2p31m1.svm", "-1 1:1\n+1 2147483647:1\n", 23);
    st = ds_read_libsvm("ds_lim_2p31m1.svm", 0, &s, msg, sizeof msg);
    expect_fail("index 2^31-1", st, BL_EFORMAT, msg,
                (const char *const[]){"ds_lim_2p31m1.svm:2: ", "index 2147483647", NULL});
    EXPECT(set_is_empty(&s), "index 2^31-1: set not empty");

    /* The largest index the default accepts. */
    write_bytes("ds_lim_2p24.svm", "+1 16777216:1\n-1 1:1\n", 21);
    st = ds_read_libsvm("ds_lim_2p24.svm", 0, &s, msg, sizeof msg);
    EXPECT(st == BL_OK && s.d == 16777216 && s.n == 2, "index 2^24: %s", msg);
    ds_set_free(&s);

#ifdef DS_LIBSVM_MAX_INDEX
    ds_libsvm_opts o = ds_libsvm_defaults();
    EXPECT(o.d_min == 0 && o.max_line_bytes == DS_LIBSVM_MAX_LINE_BYTES &&
               o.max_index == DS_LIBSVM_MAX_INDEX && DS_LIBSVM_MAX_LINE_BYTES == (size_t)64 << 20,
           "defaults");

    /* Raised, the 1e8 file reads as a sparse set (nothing of size d). */
    o.max_index = 2147483647;
    st = ds_read_libsvm_opts("ds_lim_1e8.svm", &o, &s, msg, sizeof msg);
    EXPECT(st == BL_OK && s.n == 2 && s.d == 100000000 && s.X == NULL && s.colind[0] == 99999999 &&
               s.rowptr[2] == 2,
           "index 1e8 with max_index raised: %s", msg);
    ds_set_free(&s);

    /* A small max_index: index 4 rejected, 3 accepted, d_min above it EINVAL. */
    o = ds_libsvm_defaults();
    o.max_index = 3;
    write_bytes("ds_lim_idx4.svm", "+1 1:1 4:2\n", 11);
    st = ds_read_libsvm_opts("ds_lim_idx4.svm", &o, &s, msg, sizeof msg);
    expect_fail("max_index 3", st, BL_EFORMAT, msg,
                (const char *const[]){"ds_lim_idx4.svm:1: ", "index 4", "limit of 3", NULL});
    o.max_index = 4;
    st = ds_read_libsvm_opts("ds_lim_idx4.svm", &o, &s, msg, sizeof msg);
    EXPECT(st == BL_OK && s.d == 4, "max_index 4: %s", msg);
    ds_set_free(&s);
    o.d_min = 5;
    EXPECT(ds_read_libsvm_opts("ds_lim_idx4.svm", &o, &s, msg, sizeof msg) == BL_EINVAL &&
               strstr(msg, "d_min = 5"),
           "d_min above max_index: %s", msg);
    o = ds_libsvm_defaults();
    o.max_line_bytes = 0;
    EXPECT(ds_read_libsvm_opts("ds_lim_idx4.svm", &o, &s, msg, sizeof msg) == BL_EINVAL,
           "max_line_bytes 0");
    EXPECT(ds_read_libsvm_opts("ds_lim_idx4.svm", NULL, &s, msg, sizeof msg) == BL_OK && s.d == 4,
           "NULL opts: %s", msg);
    ds_set_free(&s);

    /* Line cap: within one read block (line of 1000 bytes) and across the
     * 64 KiB blocks (line of 200000 bytes after a short first line). */
    const size_t lens[2] = {1000, 200000};
    for (int k = 0; k < 2; k++) {
        size_t L = lens[k], at = 0;
        char *buf = malloc(L + 64);
        if (!buf)
            return 2;
        at += (size_t)sprintf(buf, "-1 1:1\n");
        size_t start = at;
        at += (size_t)sprintf(buf + at, "+1 1:2");
        while (at - start < L) /* pad with spaces to exactly L bytes */
            buf[at++] = ' ';
        buf[at++] = '\r'; /* the CR counts, the LF does not */
        buf[at++] = '\n';
        write_bytes("ds_lim_line.svm", buf, at);
        free(buf);
        o = ds_libsvm_defaults();
        o.max_line_bytes = L; /* line 2 has L + 1 bytes with its CR */
        st = ds_read_libsvm_opts("ds_lim_line.svm", &o, &s, msg, sizeof msg);
        char lim[64];
        snprintf(lim, sizeof lim, "limit of %zu bytes", L);
        expect_fail("long line", st, BL_EFORMAT, msg,
                    (const char *const[]){"ds_lim_line.svm:2: ", "line longer than the", lim,
                                          "max_line_bytes", NULL});
        EXPECT(set_is_empty(&s), "long line: set not empty");
        o.max_line_bytes = L + 1;
        st = ds_read_libsvm_opts("ds_lim_line.svm", &o, &s, msg, sizeof msg);
        EXPECT(st == BL_OK && s.n == 2 && s.val[1] == 2, "line of exactly the limit (%zu): %s",
               L + 1, msg);
        ds_set_free(&s);
    }
#endif
    return t_done();
}
