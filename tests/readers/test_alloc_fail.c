/*
 * tests/readers/test_alloc_fail.c — allocation-failure injection over the
 * readers and data functions (models/libsvm.c binary and multiclass, csv.c raw and gzip,
 * idx.c raw and gzip, multiclass.c, fashion.c, data.c, split.c, synth.c), SQLite-style: for N = 1, 2, … the
 * N-th allocation (malloc, calloc or realloc, by this thread, libc's own
 * included) returns NULL, until a run completes without reaching N. Each
 * failed run must return a status with a message naming the memory it did
 * not get, leave its outputs empty (or unchanged for the in-place
 * functions) and freeable, and free everything it allocated (checked by a
 * table of live allocations; LSan checks again in sanitizer builds). A run
 * that returns BL_OK must give the same result as the unfailed reference:
 * a tolerated failure (a shrinking realloc) may not change the data.
 * Also:
 *  - a memory limit in the middle of a long LIBSVM line (every allocation
 *    of 128 KiB or more fails) is an error naming the file and line 2,
 *    never a set of the lines before it;
 *  - reading the 22-byte file with feature index 1e8 as a sparse set
 *    (max_index raised) allocates nothing of size d (largest request
 *    below 1 MiB).
 * The allocator is interposed in this program (dlsym(RTLD_NEXT), so it
 * also works over the sanitizer's allocator).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include <hypertape/models/data.h>
#include <hypertape/models/multiclass.h>
#include "testutil.h"

#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

/* ------------------------------------------------ the failing allocator */

static void *(*real_malloc)(size_t);
static void *(*real_calloc)(size_t, size_t);
static void *(*real_realloc)(void *, size_t);
static void (*real_free)(void *);

/* Bootstrap arena for the allocations dlsym itself makes. */
static _Alignas(16) unsigned char arena[1 << 16];
static size_t arena_used;
static int resolving;

static _Thread_local int counting; /* only this thread, only while set */
static long n_alloc, fail_at = -1, n_failed;
static size_t fail_min_size = SIZE_MAX; /* requests at least this big fail */
static size_t max_request;

/* Live allocations made while counting (open addressing, tombstones). */
#define LIVE_CAP (1 << 16)
static void *live[LIVE_CAP];
static long n_live;
#define TOMB ((void *)1)

static size_t live_slot(const void *p)
{
    return (size_t)(((uintptr_t)p >> 4) * 0x9e3779b97f4a7c15ULL >> 48) & (LIVE_CAP - 1);
}

static void live_add(void *p)
{
    size_t k = live_slot(p);
    while (live[k] && live[k] != TOMB)
        k = (k + 1) & (LIVE_CAP - 1);
    live[k] = p;
    n_live++;
}

static void live_del(void *p)
{
    if (!p || n_live == 0)
        return;
    for (size_t k = live_slot(p), i = 0; live[k] && i < LIVE_CAP; k = (k + 1) & (LIVE_CAP - 1), i++)
        if (live[k] == p) {
            live[k] = TOMB;
            n_live--;
            return;
        }
}

static void resolve(void)
{
    if (real_malloc || resolving)
        return;
    resolving = 1;
    real_malloc = (void *(*)(size_t))dlsym(RTLD_NEXT, "malloc");
    real_calloc = (void *(*)(size_t, size_t))dlsym(RTLD_NEXT, "calloc");
    real_realloc = (void *(*)(void *, size_t))dlsym(RTLD_NEXT, "realloc");
    real_free = (void (*)(void *))dlsym(RTLD_NEXT, "free");
    resolving = 0;
}

static void *arena_get(size_t n)
{
    size_t at = (arena_used + 15) & ~(size_t)15;
    if (at + n > sizeof arena)
        return NULL;
    arena_used = at + n;
    memset(arena + at, 0, n);
    return arena + at;
}

static int is_arena(const void *p)
{
    return (const unsigned char *)p >= arena && (const unsigned char *)p < arena + sizeof arena;
}

/* 1 when this request must fail (and counts it). */
static int should_fail(size_t size)
{
    if (!counting)
        return 0;
    if (size > max_request)
        max_request = size;
    long k = n_alloc++;
    if (k == fail_at || size >= fail_min_size) {
        n_failed++;
        errno = ENOMEM;
        return 1;
    }
    return 0;
}

void *malloc(size_t n)
{
    resolve();
    if (!real_malloc)
        return arena_get(n);
    if (should_fail(n))
        return NULL;
    void *p = real_malloc(n);
    if (p && counting)
        live_add(p);
    return p;
}

void *calloc(size_t n, size_t m)
{
    resolve();
    if (!real_calloc)
        return arena_get(n * m);
    if (should_fail(m && n > SIZE_MAX / m ? SIZE_MAX : n * m))
        return NULL;
    void *p = real_calloc(n, m);
    if (p && counting)
        live_add(p);
    return p;
}

void *realloc(void *q, size_t n)
{
    resolve();
    if (is_arena(q)) { /* never happens after bootstrap; copy out of the arena */
        void *p = malloc(n);
        if (p)
            memcpy(p, q, n);
        return p;
    }
    if (should_fail(n))
        return NULL;
    void *p = real_realloc(q, n);
    if (p && counting) {
        live_del(q);
        live_add(p);
    }
    return p;
}

void free(void *p)
{
    if (!p || is_arena(p))
        return;
    resolve();
    if (counting)
        live_del(p);
    real_free(p);
}

/* -------------------------------------------------------------- sweep */

/* One operation: runs it (outputs freed inside), returns its status and
 * message, and sets *same to whether an OK result equals the reference. */
typedef bl_status (*op_fn)(int *same, char *msg, size_t msglen);

/* Runs op with the N-th allocation failing for N = 1, 2, … until a run
 * completes; returns the number of allocations of a complete run. */
static long sweep(const char *name, op_fn op)
{
    char msg[512];
    int same = 0;
    long total = -1;
    for (long N = 0; N < 100000; N++) {
        n_alloc = n_failed = 0;
        fail_at = N;
        msg[0] = '\0';
        counting = 1;
        bl_status st = op(&same, msg, sizeof msg);
        counting = 0;
        fail_at = -1;
        EXPECT(n_live == 0, "%s, allocation %ld failing: %ld allocations leaked (status %d: %s)", name,
               N + 1, n_live, (int)st, msg);
        n_live = 0;
        memset(live, 0, sizeof live);
        if (st == BL_OK) {
            EXPECT(same, "%s, allocation %ld failing: BL_OK but the result differs from the reference",
                   name, N + 1);
            if (n_failed == 0) {
                total = n_alloc;
                break;
            }
            continue;
        }
        if (getenv("AF_VERBOSE"))
            printf("  %s, allocation %ld: %s\n", name, N + 1, msg);
        EXPECT(n_failed > 0, "%s: failed (%d: %s) with no allocation failing", name, (int)st, msg);
        EXPECT(st == BL_ENOMEM, "%s, allocation %ld failing: status %d, expected BL_ENOMEM: %s", name,
               N + 1, (int)st, msg);
        EXPECT(strstr(msg, "memory") != NULL,
               "%s, allocation %ld failing: the message does not name the allocation: '%s'", name,
               N + 1, msg);
    }
    EXPECT(total > 0, "%s: the sweep did not complete", name);
    printf("%-22s %ld allocations, each failed in turn\n", name, total);
    return total;
}

static int set_is_empty(const ds_set *s)
{
    return s->n == 0 && s->d == 0 && !s->X && !s->rowptr && !s->colind && !s->val && !s->y &&
           !s->cls;
}

/* A checksum of a set's contents (shape, storage and values). */
static double set_sum(const ds_set *s)
{
    double t = s->n * 1e6 + s->d * 1e3 + s->nclass + (s->X ? 7 : 0);
    int64_t nnz = ds_nnz(s);
    for (int64_t k = 0; k < nnz; k++)
        t += (s->X ? s->X[k] : s->val[k] + s->colind[k]) * (double)(k % 97 + 1);
    for (int i = 0; s->rowptr && i <= s->n; i++)
        t += (double)s->rowptr[i];
    for (int i = 0; i < s->n; i++)
        t += s->y[i] * (i % 13 + 1) + (s->cls ? s->cls[i] : 0);
    return t;
}

/* ------------------------------------------------------- the operations */

static const char *SVMZ = "ds_af.svm.gz", *CSV = "ds_af.csv", *CSVZ = "ds_af.csv.gz";
static double ref_csv;
static const char *SVM = "ds_af.svm", *IMG = "ds_af.idx3", *IMGZ = "ds_af.idx3.gz",
                  *LBL = "ds_af.idx1", *FDIR = "ds_af_fashion";
static double ref_svm, ref_img, ref_lbl, ref_fashion, ref_split, ref_sub, ref_dense, ref_std,
    ref_ij, ref_sp, ref_svm_mc, ref_idx_mc;
static ds_set base; /* a dense 40 x 22 set for the data functions */

static bl_status op_libsvm(int *same, char *msg, size_t msglen)
{
    ds_set s;
    bl_status st = ds_read_libsvm(SVM, 0, &s, msg, msglen);
    *same = st == BL_OK && set_sum(&s) == ref_svm;
    if (st != BL_OK && !set_is_empty(&s))
        *same = 0, st = BL_EINVAL, snprintf(msg, msglen, "memory: output not empty");
    ds_set_free(&s);
    return st;
}

/* Multiclass LIBSVM: learning the map, then mapping through it; on
 * failure the output is empty and the map unchanged (still empty). */
static bl_status op_libsvm_mc(int *same, char *msg, size_t msglen)
{
    ds_classes cl = {0};
    ds_set s, t = {0};
    bl_status st = ds_read_libsvm_multiclass(SVM, NULL, &cl, &s, msg, msglen);
    if (st == BL_OK)
        st = ds_read_libsvm_multiclass(SVM, NULL, &cl, &t, msg, msglen);
    *same = st == BL_OK && set_sum(&s) + 2 * set_sum(&t) + cl.n == ref_svm_mc;
    if (st != BL_OK && (!set_is_empty(&t) || (cl.n == 0 && !set_is_empty(&s))))
        *same = 0, st = BL_EINVAL, snprintf(msg, msglen, "memory: output not empty");
    ds_set_free(&s);
    ds_set_free(&t);
    return st;
}

static const char *FIMG = "ds_af_fashion/train-images-idx3-ubyte.gz",
                  *FLBL = "ds_af_fashion/train-labels-idx1-ubyte";

static bl_status op_idx_mc(int *same, char *msg, size_t msglen)
{
    ds_classes cl = {0};
    ds_set s;
    bl_status st = ds_read_idx_multiclass(FIMG, FLBL, &cl, &s, msg, msglen);
    *same = st == BL_OK && set_sum(&s) + cl.n == ref_idx_mc;
    if (st != BL_OK && (!set_is_empty(&s) || cl.n != 0))
        *same = 0, st = BL_EINVAL, snprintf(msg, msglen, "memory: output not empty or map changed");
    ds_set_free(&s);
    return st;
}

static bl_status op_libsvm_gz(int *same, char *msg, size_t msglen)
{
    ds_set s;
    bl_status st = ds_read_libsvm(SVMZ, 0, &s, msg, msglen);
    *same = st == BL_OK && set_sum(&s) == ref_svm;
    if (st != BL_OK && !set_is_empty(&s))
        *same = 0, st = BL_EINVAL, snprintf(msg, msglen, "memory: output not empty");
    ds_set_free(&s);
    return st;
}

static bl_status op_csv_path(const char *path, int *same, char *msg, size_t msglen)
{
    ds_set s;
    ds_csv_opts o = ds_csv_defaults();
    o.multiclass = 1;
    bl_status st = ds_read_auto(path, NULL, &o, &s, msg, msglen);
    *same = st == BL_OK && set_sum(&s) == ref_csv;
    if (st != BL_OK && !set_is_empty(&s))
        *same = 0, st = BL_EINVAL, snprintf(msg, msglen, "memory: output not empty");
    ds_set_free(&s);
    return st;
}

static bl_status op_csv(int *same, char *msg, size_t msglen) { return op_csv_path(CSV, same, msg, msglen); }
static bl_status op_csv_gz(int *same, char *msg, size_t msglen) { return op_csv_path(CSVZ, same, msg, msglen); }

static double bytes_sum(const unsigned char *p, size_t n)
{
    double t = (double)n;
    for (size_t k = 0; k < n; k++)
        t += p[k] * (double)(k % 101 + 1);
    return t;
}

static bl_status op_images(const char *path, int *same, char *msg, size_t msglen)
{
    int n, r, c;
    unsigned char *pix;
    bl_status st = ds_read_idx_images(path, &n, &r, &c, &pix, msg, msglen);
    *same = st == BL_OK && bytes_sum(pix, (size_t)n * r * c) + n + r + c == ref_img;
    if (st != BL_OK && (pix || n || r || c))
        st = BL_EINVAL, snprintf(msg, msglen, "memory: outputs not empty");
    free(pix);
    return st;
}

static bl_status op_img_raw(int *same, char *msg, size_t msglen) { return op_images(IMG, same, msg, msglen); }
static bl_status op_img_gz(int *same, char *msg, size_t msglen) { return op_images(IMGZ, same, msg, msglen); }

static bl_status op_labels(int *same, char *msg, size_t msglen)
{
    int n;
    unsigned char *lab;
    bl_status st = ds_read_idx_labels(LBL, &n, &lab, msg, msglen);
    *same = st == BL_OK && bytes_sum(lab, (size_t)n) == ref_lbl;
    if (st != BL_OK && (lab || n))
        st = BL_EINVAL, snprintf(msg, msglen, "memory: outputs not empty");
    free(lab);
    return st;
}

static bl_status op_fashion(int *same, char *msg, size_t msglen)
{
    ds_set s;
    bl_status st = ds_fashion_mnist(FDIR, 1, &s, msg, msglen);
    *same = st == BL_OK && set_sum(&s) == ref_fashion;
    if (st != BL_OK && !set_is_empty(&s))
        st = BL_EINVAL, snprintf(msg, msglen, "memory: output not empty");
    ds_set_free(&s);
    return st;
}

static bl_status op_split(int *same, char *msg, size_t msglen)
{
    ds_set a, b, c;
    bl_status st = ds_split(&base, 0.5, 0.3, 7, &a, &b, &c, msg, msglen);
    *same = st == BL_OK && set_sum(&a) + 2 * set_sum(&b) + 3 * set_sum(&c) == ref_split;
    if (st != BL_OK && !(set_is_empty(&a) && set_is_empty(&b) && set_is_empty(&c)))
        st = BL_EINVAL, snprintf(msg, msglen, "memory: outputs not empty");
    ds_set_free(&a), ds_set_free(&b), ds_set_free(&c);
    return st;
}

static bl_status op_subset(int *same, char *msg, size_t msglen)
{
    ds_set h, u;
    const int idx[5] = {3, 1, 3, 39, 0};
    bl_status st = ds_head(&base, 11, &h, msg, msglen);
    if (st == BL_OK)
        st = ds_subset(&base, idx, 5, &u, msg, msglen);
    else
        memset(&u, 0, sizeof u);
    *same = st == BL_OK && set_sum(&h) + 2 * set_sum(&u) == ref_sub;
    if (st != BL_OK && !set_is_empty(&u))
        st = BL_EINVAL, snprintf(msg, msglen, "memory: output not empty");
    ds_set_free(&h), ds_set_free(&u);
    return st;
}

/* Densify in place: on failure the CSR set must be unchanged. */
static bl_status op_densify(int *same, char *msg, size_t msglen)
{
    ds_set s;
    counting = 0; /* the input is made without failures */
    bl_status st = ds_read_libsvm(SVM, 0, &s, msg, msglen);
    double before = set_sum(&s);
    counting = 1;
    if (st != BL_OK)
        return BL_EINVAL;
    st = ds_densify(&s, msg, msglen);
    *same = st == BL_OK && set_sum(&s) == ref_dense;
    if (st != BL_OK && (s.X || set_sum(&s) != before))
        st = BL_EINVAL, snprintf(msg, msglen, "memory: set changed by a failed densify");
    ds_set_free(&s); /* counted: frees X, allocated while counting */
    return st;
}

static bl_status op_standardize(int *same, char *msg, size_t msglen)
{
    ds_set s;
    const int idx[4] = {0, 1, 2, 3};
    double mean[DS_IJCNN1_D], sd[DS_IJCNN1_D];
    bl_status st = ds_subset(&base, idx, 4, &s, msg, msglen);
    if (st != BL_OK)
        return st;
    st = ds_standardize_fit(&base, mean, sd, msg, msglen);
    if (st == BL_OK)
        st = ds_standardize_apply(&s, mean, sd, msg, msglen);
    *same = st == BL_OK && set_sum(&s) == ref_std;
    ds_set_free(&s);
    return st;
}

static bl_status op_ijcnn1(int *same, char *msg, size_t msglen)
{
    ds_set tr, va;
    bl_status st = ds_synth_ijcnn1(5, 30, 20, &tr, &va, msg, msglen);
    *same = st == BL_OK && set_sum(&tr) + 2 * set_sum(&va) == ref_ij;
    if (st != BL_OK && !(set_is_empty(&tr) && set_is_empty(&va)))
        st = BL_EINVAL, snprintf(msg, msglen, "memory: outputs not empty");
    ds_set_free(&tr), ds_set_free(&va);
    return st;
}

static bl_status op_sparse(int *same, char *msg, size_t msglen)
{
    ds_set s;
    bl_status st = ds_synth_sparse(9, 50, 400, 0.013, &s, msg, msglen);
    *same = st == BL_OK && set_sum(&s) == ref_sp;
    if (st != BL_OK && !set_is_empty(&s))
        st = BL_EINVAL, snprintf(msg, msglen, "memory: output not empty");
    ds_set_free(&s);
    return st;
}

/* ------------------------------------------------------------- inputs */

static void put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24), p[1] = (unsigned char)(v >> 16), p[2] = (unsigned char)(v >> 8),
    p[3] = (unsigned char)v;
}

/* Writes an IDX file (gzip when gz) of ndim dims and the bytes. */
static void write_idx(const char *path, int gz, int ndim, const uint32_t *dims,
                      const unsigned char *data, size_t len)
{
    unsigned char hdr[16];
    put_be32(hdr, 0x800u | (uint32_t)ndim);
    for (int k = 0; k < ndim; k++)
        put_be32(hdr + 4 + 4 * k, dims[k]);
    size_t hl = 4 + 4 * (size_t)ndim;
    if (gz) {
        gzFile g = gzopen(path, "wb");
        if (!g || gzwrite(g, hdr, (unsigned)hl) != (int)hl || gzwrite(g, data, (unsigned)len) != (int)len) {
            fprintf(stderr, "cannot write %s\n", path);
            exit(2);
        }
        gzclose(g);
        return;
    }
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(hdr, 1, hl, f) != hl || fwrite(data, 1, len, f) != len) {
        perror(path);
        exit(2);
    }
    fclose(f);
}

/* 1500 samples (beyond the first row capacity of 1024), > 4096 entries,
 * one line of ~7 KB (beyond the first line buffer of 4 KiB). */
static void write_svm(void)
{
    FILE *f = fopen(SVM, "wb");
    if (!f) {
        perror(SVM);
        exit(2);
    }
    t_rng r = {11};
    for (int i = 0; i < 1500; i++) {
        fprintf(f, "%s", t_uniform(&r, 0, 1) < 0.5 ? "+1" : "-1");
        int nf = i == 700 ? 900 : 3;
        for (int j = 1; j <= nf; j++)
            fprintf(f, " %d:%.3f", j + (i % 5), t_uniform(&r, -1, 1));
        fputc('\n', f);
    }
    fclose(f);
}

/* Copies file src into a gzip file dst. */
static void gzip_copy(const char *src, const char *dst)
{
    FILE *f = fopen(src, "rb");
    gzFile g = gzopen(dst, "wb");
    char buf[8192];
    size_t k;
    if (!f || !g)
        exit(2);
    while ((k = fread(buf, 1, sizeof buf, f)) > 0)
        if (gzwrite(g, buf, (unsigned)k) != (int)k)
            exit(2);
    fclose(f);
    gzclose(g);
}

/* A multiclass CSV file with a header: 400 rows (beyond the first
 * capacity of 65536/199 + 1 rows) of 200 columns, lines of ~4.4 KB (beyond
 * the first line buffer of 4 KiB), the label (named "label") in column 3. */
static void write_csv(void)
{
    FILE *f = fopen(CSV, "wb");
    if (!f)
        exit(2);
    for (int j = 0; j < 200; j++)
        fprintf(f, "%s%s", j ? "," : "", j == 3 ? "label" : "x");
    fputc('\n', f);
    t_rng r = {5};
    for (int i = 0; i < 400; i++) {
        for (int j = 0; j < 200; j++)
            if (j == 3)
                fprintf(f, ",%d", i % 7);
            else
                fprintf(f, "%s%.17g", j ? "," : "", t_uniform(&r, -1, 1));
        fputc('\n', f);
    }
    fclose(f);
    gzip_copy(CSV, CSVZ);
}

static void write_inputs(void)
{
    write_svm();
    gzip_copy(SVM, SVMZ);
    write_csv();
    enum { NI = 1400, R = 28, C = 28 }; /* 1.1 MB: beyond the first 1 MiB buffer */
    unsigned char *pix = malloc((size_t)NI * R * C), lab[NI];
    if (!pix)
        exit(2);
    t_rng r = {3};
    for (size_t k = 0; k < (size_t)NI * R * C; k++)
        pix[k] = (unsigned char)(t_next(&r) >> 56);
    for (int i = 0; i < NI; i++)
        lab[i] = (unsigned char)(i % 10);
    const uint32_t idims[3] = {NI, R, C}, ldims[1] = {NI};
    write_idx(IMG, 0, 3, idims, pix, sizeof(unsigned char) * NI * R * C);
    write_idx(IMGZ, 1, 3, idims, pix, sizeof(unsigned char) * NI * R * C);
    write_idx(LBL, 0, 1, ldims, lab, NI);
    mkdir(FDIR, 0777);
    const uint32_t fdims[3] = {12, R, C}, fl[1] = {12};
    write_idx("ds_af_fashion/train-images-idx3-ubyte.gz", 1, 3, fdims, pix, 12 * R * C);
    write_idx("ds_af_fashion/train-labels-idx1-ubyte", 0, 1, fl, lab, 12);
    free(pix);
    ds_set s;
    char msg[256];
    if (ds_synth_ijcnn1(1, 40, 1, &base, &s, msg, sizeof msg) != BL_OK) {
        fprintf(stderr, "base set: %s\n", msg);
        exit(2);
    }
    ds_set_free(&s);
}

/* The reference results, from unfailed runs. */
static void references(void)
{
    char msg[512];
    int same;
    ds_set s = {0};
    EXPECT(ds_read_libsvm(SVM, 0, &s, msg, sizeof msg) == BL_OK, "reference libsvm: %s", msg);
    ref_svm = set_sum(&s);
    ds_set cs;
    ds_csv_opts co = ds_csv_defaults();
    co.multiclass = 1;
    EXPECT(ds_read_csv(CSV, &co, &cs, msg, sizeof msg) == BL_OK && cs.n == 400 && cs.d == 199 &&
               cs.nclass == 7,
           "reference csv: %s", msg);
    ref_csv = set_sum(&cs);
    ds_set_free(&cs);
    EXPECT(ds_densify(&s, msg, sizeof msg) == BL_OK, "reference densify: %s", msg);
    ref_dense = set_sum(&s);
    ds_set_free(&s);
    int n, rr, c;
    unsigned char *p = NULL;
    EXPECT(ds_read_idx_images(IMG, &n, &rr, &c, &p, msg, sizeof msg) == BL_OK, "reference idx: %s", msg);
    ref_img = p ? bytes_sum(p, (size_t)n * rr * c) + n + rr + c : 0;
    free(p);
    p = NULL;
    EXPECT(ds_read_idx_labels(LBL, &n, &p, msg, sizeof msg) == BL_OK, "reference labels: %s", msg);
    ref_lbl = p ? bytes_sum(p, (size_t)n) : 0;
    free(p);
    {
        ds_classes cl = {0};
        ds_set t = {0};
        EXPECT(ds_read_libsvm_multiclass(SVM, NULL, &cl, &s, msg, sizeof msg) == BL_OK &&
                   ds_read_libsvm_multiclass(SVM, NULL, &cl, &t, msg, sizeof msg) == BL_OK,
               "reference libsvm multiclass: %s", msg);
        ref_svm_mc = set_sum(&s) + 2 * set_sum(&t) + cl.n;
        ds_set_free(&s), ds_set_free(&t);
        ds_classes c2 = {0};
        EXPECT(ds_read_idx_multiclass(FIMG, FLBL, &c2, &s, msg, sizeof msg) == BL_OK,
               "reference idx multiclass: %s", msg);
        ref_idx_mc = set_sum(&s) + c2.n;
        ds_set_free(&s);
    }
    EXPECT(ds_fashion_mnist(FDIR, 1, &s, msg, sizeof msg) == BL_OK, "reference fashion: %s", msg);
    ref_fashion = set_sum(&s);
    ds_set_free(&s);
    /* The other references: the ops themselves, with nothing failing (same is
     * then computed against a reference of 0 and ignored). */
    ds_set a, b, cc, h, u, tr, va;
    const int idx[5] = {3, 1, 3, 39, 0}, i4[4] = {0, 1, 2, 3};
    EXPECT(ds_split(&base, 0.5, 0.3, 7, &a, &b, &cc, msg, sizeof msg) == BL_OK, "split: %s", msg);
    ref_split = set_sum(&a) + 2 * set_sum(&b) + 3 * set_sum(&cc);
    EXPECT(ds_head(&base, 11, &h, msg, sizeof msg) == BL_OK &&
               ds_subset(&base, idx, 5, &u, msg, sizeof msg) == BL_OK,
           "subset: %s", msg);
    ref_sub = set_sum(&h) + 2 * set_sum(&u);
    double mean[DS_IJCNN1_D], sd[DS_IJCNN1_D];
    ds_set_free(&h);
    EXPECT(ds_subset(&base, i4, 4, &h, msg, sizeof msg) == BL_OK &&
               ds_standardize_fit(&base, mean, sd, msg, sizeof msg) == BL_OK &&
               ds_standardize_apply(&h, mean, sd, msg, sizeof msg) == BL_OK,
           "standardize: %s", msg);
    ref_std = set_sum(&h);
    EXPECT(ds_synth_ijcnn1(5, 30, 20, &tr, &va, msg, sizeof msg) == BL_OK, "ijcnn1: %s", msg);
    ref_ij = set_sum(&tr) + 2 * set_sum(&va);
    ds_set_free(&a), ds_set_free(&b), ds_set_free(&cc), ds_set_free(&h), ds_set_free(&u);
    ds_set_free(&tr), ds_set_free(&va);
    EXPECT(ds_synth_sparse(9, 50, 400, 0.013, &s, msg, sizeof msg) == BL_OK, "sparse: %s", msg);
    ref_sp = set_sum(&s);
    ds_set_free(&s);
    (void)same;
}

int main(void)
{
    write_inputs();
    references();
    sweep("ds_read_libsvm", op_libsvm);
    sweep("ds_read_libsvm gz", op_libsvm_gz);
    sweep("ds_read_csv", op_csv);
    sweep("ds_read_csv gz", op_csv_gz);
    sweep("ds_read_idx_images", op_img_raw);
    sweep("ds_read_idx_images gz", op_img_gz);
    sweep("ds_read_idx_labels", op_labels);
    sweep("ds_read_libsvm_multiclass", op_libsvm_mc);
    sweep("ds_read_idx_multiclass", op_idx_mc);
    sweep("ds_fashion_mnist", op_fashion);
    sweep("ds_split", op_split);
    sweep("ds_head, ds_subset", op_subset);
    sweep("ds_densify", op_densify);
    sweep("ds_standardize", op_standardize);
    sweep("ds_synth_ijcnn1", op_ijcnn1);
    sweep("ds_synth_sparse", op_sparse);

    /* A memory limit in the middle of a long line: line 2 holds 300 KB. */
    {
        FILE *f = fopen("ds_af_long.svm", "wb");
        if (!f)
            return 2;
        fprintf(f, "+1 1:1\n-1");
        for (int j = 1; j <= 30000; j++)
            fprintf(f, " %d:0.5", j);
        fprintf(f, "\n+1 2:1\n");
        fclose(f);
        char msg[512];
        ds_set s;
        n_alloc = n_failed = 0;
        fail_min_size = (size_t)128 << 10;
        counting = 1;
        bl_status st = ds_read_libsvm("ds_af_long.svm", 0, &s, msg, sizeof msg);
        counting = 0;
        fail_min_size = SIZE_MAX;
        EXPECT(n_failed > 0, "the memory limit was never hit");
        EXPECT(st == BL_ENOMEM && strstr(msg, "ds_af_long.svm:2: ") && strstr(msg, "memory"),
               "memory limit in a long line: status %d (n = %d), '%s'", (int)st, s.n, msg);
        EXPECT(set_is_empty(&s), "memory limit: a set of %d samples was returned", s.n);
        EXPECT(n_live == 0, "memory limit: %ld allocations leaked", n_live);
        n_live = 0;
        memset(live, 0, sizeof live);
        ds_set_free(&s);
    }

    /* Index 1e8 read sparse: no request of size d. */
    {
        FILE *f = fopen("ds_af_1e8.svm", "wb");
        if (!f)
            return 2;
        fputs("+1 100000000:1\n-1 1:1\n", f);
        fclose(f);
        char msg[512];
        ds_set s;
        ds_libsvm_opts o = ds_libsvm_defaults();
        o.max_index = 2147483647;
        max_request = 0;
        counting = 1;
        bl_status st = ds_read_libsvm_opts("ds_af_1e8.svm", &o, &s, msg, sizeof msg);
        counting = 0;
        EXPECT(st == BL_OK && s.d == 100000000, "sparse 1e8: %s", msg);
        EXPECT(max_request < ((size_t)1 << 20), "sparse 1e8: a request of %zu bytes", max_request);
        ds_set_free(&s);
        n_live = 0;
        memset(live, 0, sizeof live);
    }
    ds_set_free(&base);
    return t_done();
}
