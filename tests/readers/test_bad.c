/*
 * tests/readers/test_bad.c — the malformed-input corpus (tests/data/bad/,
 * made by make_bad.py): each file must fail with its own status and a
 * message naming the file and the line (text) or byte offset (binary), and
 * leave every output empty. Usage: readers_bad BAD_DIR
 */
#include <hypertape/models/data.h>
#include "testutil.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum kind { SVM, IMG, LBL, FASHION_TRAIN, FASHION_TEST };

typedef struct bad_case {
    const char *file; /* relative to BAD_DIR */
    enum kind kind;
    bl_status status;
    const char *where; /* must appear in the message: line or byte offset */
    const char *what;  /* must appear in the message: the error */
} bad_case;

static const bad_case cases[] = {
    /* LIBSVM text: "path:LINE: ..." */
    {"svm_nonnumeric_value.svm", SVM, BL_EFORMAT, ".svm:1: ", "value 'abc' of index 2 is not a number"},
    {"svm_nonnumeric_index.svm", SVM, BL_EFORMAT, ".svm:2: ", "index 'x2' is not a positive integer"},
    {"svm_nonnumeric_label.svm", SVM, BL_EFORMAT, ".svm:2: ", "label 'yes' is not a number"},
    {"svm_bad_label.svm", SVM, BL_EFORMAT, ".svm:1: ", "label '2' is not binary"},
    {"svm_mixed_labels.svm", SVM, BL_EFORMAT, ".svm:3: ", "labels 0 (line 1) and -1 (line 3) both used"},
    {"svm_index_2p40.svm", SVM, BL_EFORMAT, ".svm:1: ", "index '1099511627776' exceeds 2^31 - 1"},
    {"svm_index_2p31.svm", SVM, BL_EFORMAT, ".svm:2: ", "index '2147483648' exceeds 2^31 - 1"},
    {"svm_index_zero.svm", SVM, BL_EFORMAT, ".svm:1: ", "index 0: indices are 1-based"},
    {"svm_out_of_order.svm", SVM, BL_EFORMAT, ".svm:2: ", "index 4 after 5: indices must increase"},
    {"svm_duplicate.svm", SVM, BL_EFORMAT, ".svm:1: ", "duplicate index 2"},
    {"svm_nan.svm", SVM, BL_ENONFINITE, ".svm:2: ", "value 'nan' of index 1 is not finite"},
    {"svm_inf.svm", SVM, BL_ENONFINITE, ".svm:1: ", "value '-inf' of index 1 is not finite"},
    {"svm_overflow.svm", SVM, BL_ENONFINITE, ".svm:1: ", "value '1e999' of index 1 is not finite"},
    {"svm_missing_colon.svm", SVM, BL_EFORMAT, ".svm:1: ", "'7' is not index:value"},
    {"svm_empty_value.svm", SVM, BL_EFORMAT, ".svm:1: ", "value '' of index 1 is not a number"},
    {"svm_qid_late.svm", SVM, BL_EFORMAT, ".svm:1: ", "qid must come right after the label"},
    {"svm_nul_byte.svm", SVM, BL_EFORMAT, ".svm:2: ", "NUL byte at column 6"},
    {"svm_empty.svm", SVM, BL_EFORMAT, ".svm: ", "empty file (no samples)"},
    {"svm_comments_only.svm", SVM, BL_EFORMAT, ".svm:4: ", "no samples: all 4 lines are blank or comments"},
    {"no_such_file.svm", SVM, BL_EIO, "no_such_file.svm", "cannot open"},
    {"fashion_bad_label", SVM, BL_EIO, "fashion_bad_label:1: ", "read error (Is a directory)"},
    /* IDX binary: "path: ... byte offset N ..." */
    {"img_header_cut.idx3", IMG, BL_EFORMAT, "byte offset 10,", "header cut"},
    {"img_bad_magic.idx3", IMG, BL_EFORMAT, "byte offset 0:", "bad magic 0x00000804"},
    {"img_zero_rows.idx3", IMG, BL_EFORMAT, "byte offset 8 ", "dimension 1 = 0"},
    {"img_data_cut.idx3", IMG, BL_EFORMAT, "byte offset 24,", "data cut: the header announces 12 data bytes"},
    {"img_data_cut.idx3.gz", IMG, BL_EFORMAT, "byte offset 24 of the decompressed data", "data cut"},
    {"img_trailing.idx3", IMG, BL_EFORMAT, "byte offset 28,", "trailing bytes"},
    {"img_absurd_dims.idx3", IMG, BL_EFORMAT, "byte offsets 4..15", "announce more than 2^40 data bytes"},
    {"img_lying_header.idx3", IMG, BL_EFORMAT, "byte offset 32,", "announces 784000000 data bytes"},
    {"img_gzip_truncated.idx3.gz", IMG, BL_EFORMAT, "byte offset", "gzip stream truncated (unexpected end of file)"},
    {"img_gzip_no_trailer.idx3.gz", IMG, BL_EFORMAT, "of the decompressed data",
     "gzip stream truncated (unexpected end of file), detected after byte offset"},
    {"img_gzip_bad_crc.idx3.gz", IMG, BL_EFORMAT, "of the decompressed data",
     "gzip data corrupt (incorrect data check)"},
    {"lbl_bad_magic.idx1", LBL, BL_EFORMAT, "byte offset 0:", "bad magic 0x00000803"},
    {"lbl_bad_magic.idx1", LBL, BL_EFORMAT, "expected 0x00000801", "(IDX labels: unsigned bytes, 1 dimension)"},
    {"lbl_more_than_present.idx1", LBL, BL_EFORMAT, "byte offset 11,", "announces 5 data bytes"},
    {"lbl_empty.idx1", LBL, BL_EFORMAT, "byte offset 0,", "header cut"},
    {"no_such_file.idx1", LBL, BL_EIO, "no_such_file.idx1", "cannot open"},
    {"fashion_bad_label", LBL, BL_EIO, "byte offset 0", "read error"},
    /* Fashion-MNIST folders: counts that do not pair, a label above 9 */
    {"fashion_count_mismatch", FASHION_TRAIN, BL_EFORMAT, "train-labels-idx1-ubyte: 2 labels",
     "train-images-idx3-ubyte holds 3 images"},
    {"fashion_bad_label", FASHION_TEST, BL_EFORMAT, "byte offset 9", "t10k-labels-idx1-ubyte.gz: label 10"},
    {"no_such_folder", FASHION_TEST, BL_EIO, "t10k-images-idx3-ubyte", "cannot open"},
};

static int set_is_empty(const ds_set *s)
{
    ds_set zero;
    memset(&zero, 0, sizeof zero);
    return memcmp(s, &zero, sizeof zero) == 0;
}

/* Mutation fuzzing: random truncations, byte changes and insertions of a
 * valid input; every outcome must be a status with a terminated message,
 * an empty output on failure and a consistent one on success (ASan checks
 * that nothing reads past a buffer). */
static void fuzz(FILE *tmp, const char *what, enum kind kind, const unsigned char *base, size_t len, int rounds,
                 uint64_t seed)
{
    static const char alphabet[] = "0123456789:#-+.e \t\r\nnaqid";
    unsigned char buf[512];
    t_rng r = {seed};
    int bad = 0, accepted = 0;
    for (int round = 0; round < rounds && len + 8 <= sizeof buf; round++) {
        size_t m = len;
        memcpy(buf, base, len);
        int nmut = 1 + (int)(t_next(&r) % 3);
        for (int u = 0; u < nmut; u++) {
            size_t at = m ? (size_t)(t_next(&r) % m) : 0;
            switch (t_next(&r) % 4) {
            case 0: /* truncate */
                m = at;
                break;
            case 1: /* random byte */
                if (m)
                    buf[at] = (unsigned char)t_next(&r);
                break;
            case 2: /* text-like byte */
                if (m)
                    buf[at] = (unsigned char)alphabet[t_next(&r) % (sizeof alphabet - 1)];
                break;
            default: /* insert */
                if (m < len + 4) {
                    memmove(buf + at + 1, buf + at, m - at);
                    buf[at] = (unsigned char)alphabet[t_next(&r) % (sizeof alphabet - 1)];
                    m++;
                }
            }
        }
        /* Rewrite in place through one open stream: reopening with
         * truncation would make some file systems flush on every close. */
        if (!tmp || fseek(tmp, 0, SEEK_SET) != 0 || fwrite(buf, 1, m, tmp) != m || fflush(tmp) != 0 ||
            ftruncate(fileno(tmp), (off_t)m) != 0) {
            fprintf(stderr, "cannot write ds_bad_fuzz.tmp\n");
            exit(2);
        }
        char msg[256];
        memset(msg, 'x', sizeof msg);
        bl_status st;
        int ok = 1;
        if (kind == SVM) {
            ds_set s;
            st = ds_read_libsvm("ds_bad_fuzz.tmp", 0, &s, msg, sizeof msg);
            if (st == BL_OK) {
                ok &= s.n > 0 && s.d > 0 && s.rowptr[0] == 0 && s.X == NULL;
                for (int i = 0; i < s.n; i++) {
                    ok &= s.y[i] == 1 || s.y[i] == -1;
                    ok &= s.rowptr[i + 1] >= s.rowptr[i];
                    for (int64_t k = s.rowptr[i]; k < s.rowptr[i + 1]; k++) {
                        ok &= s.colind[k] >= 0 && s.colind[k] < s.d && isfinite(s.val[k]);
                        ok &= k == s.rowptr[i] || s.colind[k] > s.colind[k - 1];
                    }
                }
                ds_set_free(&s);
            } else {
                ok &= set_is_empty(&s);
            }
        } else {
            int n = -1, rows = -1, cols = -1;
            unsigned char *pix = NULL;
            st = ds_read_idx_images("ds_bad_fuzz.tmp", &n, &rows, &cols, &pix, msg, sizeof msg);
            if (st == BL_OK) {
                size_t total = (size_t)n * rows * cols;
                volatile unsigned char last = pix[total - 1]; /* ASan: the buffer is that long */
                (void)last;
                free(pix);
            } else {
                ok &= pix == NULL && n == 0 && rows == 0 && cols == 0;
            }
        }
        ok &= (unsigned)st < BL_STATUS_COUNT && memchr(msg, '\0', sizeof msg) != NULL;
        ok &= st == BL_OK ? msg[0] == '\0' : strstr(msg, "ds_bad_fuzz.tmp") != NULL;
        if (!ok && bad++ < 5)
            fprintf(stderr, "%s round %d: status %d, message '%.200s'\n", what, round, st, msg);
        accepted += st == BL_OK;
    }
    EXPECT(bad == 0, "%s fuzz: %d bad outcomes in %d rounds", what, bad, rounds);
    printf("%s fuzz: %d rounds, %d accepted\n", what, rounds, accepted);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s BAD_DIR\n", argv[0]);
        return 2;
    }
    const char *dir = argv[1];
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const bad_case *k = &cases[c];
        char path[1024], msg[512];
        snprintf(path, sizeof path, "%s/%s", dir, k->file);
        memset(msg, 'x', sizeof msg);
        bl_status st = BL_OK;
        int empty = 1;
        if (k->kind == SVM) {
            ds_set s;
            memset(&s, 0x5a, sizeof s); /* garbage in: must come back zeroed */
            st = ds_read_libsvm(path, 0, &s, msg, sizeof msg);
            empty = set_is_empty(&s);
            if (st == BL_OK)
                ds_set_free(&s);
        } else if (k->kind == IMG) {
            int n = -1, r = -1, cl = -1;
            unsigned char *pix = (unsigned char *)path;
            st = ds_read_idx_images(path, &n, &r, &cl, &pix, msg, sizeof msg);
            empty = n == 0 && r == 0 && cl == 0 && pix == NULL;
            if (st == BL_OK)
                free(pix);
        } else if (k->kind == LBL) {
            int n = -1;
            unsigned char *lab = (unsigned char *)path;
            st = ds_read_idx_labels(path, &n, &lab, msg, sizeof msg);
            empty = n == 0 && lab == NULL;
            if (st == BL_OK)
                free(lab);
        } else {
            ds_set s;
            memset(&s, 0x5a, sizeof s);
            st = ds_fashion_mnist(path, k->kind == FASHION_TRAIN, &s, msg, sizeof msg);
            empty = set_is_empty(&s);
            if (st == BL_OK)
                ds_set_free(&s);
        }
        int terminated = memchr(msg, '\0', sizeof msg) != NULL;
        EXPECT(st == k->status, "%s: status %d (%s), expected %d (%s)", k->file, st, bl_strerror(st),
               k->status, bl_strerror(k->status));
        EXPECT(terminated, "%s: message not terminated", k->file);
        if (!terminated)
            continue;
        EXPECT(strstr(msg, k->file) != NULL, "%s: message does not name the file: %s", k->file, msg);
        EXPECT(strstr(msg, k->where) != NULL, "%s: message lacks '%s': %s", k->file, k->where, msg);
        EXPECT(strstr(msg, k->what) != NULL, "%s: message lacks '%s': %s", k->file, k->what, msg);
        EXPECT(empty, "%s: output not left empty", k->file);
        printf("%-28s %-10s %s\n", k->file, bl_strerror(st), msg);
    }

    /* A message buffer too short is truncated and terminated, never overrun. */
    {
        char path[1024], small[9];
        snprintf(path, sizeof path, "%s/%s", dir, "svm_duplicate.svm");
        memset(small, 'x', sizeof small);
        ds_set s;
        bl_status st = ds_read_libsvm(path, 0, &s, small, 8);
        EXPECT(st == BL_EFORMAT && small[7] == '\0' && small[8] == 'x', "short message buffer");
        st = ds_read_libsvm(path, 0, &s, NULL, 0);
        EXPECT(st == BL_EFORMAT && set_is_empty(&s), "NULL message buffer");
    }

    /* Fuzzing around valid inputs: LIBSVM text, raw IDX, gzip IDX. */
    {
        static const char svm[] = "+1 1:0.5 3:-2 # c\r\n\n-1 2:1e-3 10:7\n0 qid:3 4:1\n";
        FILE *tmp = fopen("ds_bad_fuzz.tmp", "w+b");
        fuzz(tmp, "libsvm", SVM, (const unsigned char *)svm, sizeof svm - 1, 1500, 1);
        static const unsigned char img[28] = {0, 0, 8, 3, 0, 0, 0, 3, 0, 0, 0, 2, 0, 0,
                                              0, 2, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
        fuzz(tmp, "idx", IMG, img, sizeof img, 1500, 2);
        char path[1024];
        snprintf(path, sizeof path, "%s/fashion_bad_label/t10k-images-idx3-ubyte.gz", dir);
        unsigned char gz[256];
        FILE *f = fopen(path, "rb");
        size_t m = f ? fread(gz, 1, sizeof gz, f) : 0;
        if (f)
            fclose(f);
        EXPECT(m > 20, "read %s", path);
        fuzz(tmp, "idx.gz", IMG, gz, m, 1500, 3);
        if (tmp)
            fclose(tmp);
    }
    remove("ds_bad_fuzz.tmp");
    return t_done();
}
