/*
 * tests/readers/test_csv.c — ds_read_csv, ds_read_auto and gzip input
 * (hypertape/models/data.h), on small files written here whose contents
 * are known by hand: header or not, comma / tab / semicolon (given or
 * detected), the label by name, index and the default rule, binary (±1,
 * 0/1) and multiclass labels, CRLF, a byte order mark, blank lines, RFC
 * 4180 quotes; a 2500 × 40 random file printed with %.17g read back
 * exactly; the same CSV and LIBSVM data give the same set; a gzip file
 * (written here with zlib, any name) gives the set of its raw text, for
 * both readers. Every malformed file is rejected with the right status and
 * a message naming the file, the line and the column, and leaves the set
 * empty; truncated and corrupt gzip streams are errors, not short sets;
 * bzip2, xz and zstd files are errors naming the tool that decompresses
 * them.
 */
#include <hypertape/models/data.h>
#include "testutil.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(text, 1, strlen(text), f) != strlen(text)) {
        perror(path);
        exit(2);
    }
    fclose(f);
}

static void write_gz(const char *path, const char *text, size_t len)
{
    gzFile g = gzopen(path, "wb");
    if (!g || gzwrite(g, text, (unsigned)len) != (int)len) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(2);
    }
    gzclose(g);
}

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        exit(2);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    if (!b || fread(b, 1, (size_t)n, f) != (size_t)n)
        exit(2);
    fclose(f);
    *len = (size_t)n;
    return b;
}

static int set_is_empty(const ds_set *s)
{
    return s->n == 0 && s->d == 0 && !s->X && !s->rowptr && !s->colind && !s->val && !s->y &&
           !s->cls && s->nclass == 0;
}

/* Compares a dense set with the expected arrays, exactly (cls NULL for a
 * binary set). */
static void expect_dense(const char *what, const ds_set *s, int n, int d, const double *X,
                         const double *y, const int *cls, int nclass)
{
    EXPECT(s->n == n && s->d == d, "%s: shape %dx%d, expected %dx%d", what, s->n, s->d, n, d);
    EXPECT(s->X && !s->rowptr && !s->colind && !s->val, "%s: not a dense set", what);
    EXPECT(s->nclass == nclass, "%s: nclass %d, expected %d", what, s->nclass, nclass);
    EXPECT((s->cls != NULL) == (cls != NULL), "%s: cls %s", what, s->cls ? "set" : "NULL");
    if (s->n != n || s->d != d || !s->X)
        return;
    for (int k = 0; k < n * d; k++)
        EXPECT(s->X[k] == X[k], "%s: X[%d] = %.17g, expected %.17g", what, k, s->X[k], X[k]);
    for (int i = 0; i < n; i++) {
        EXPECT(s->y[i] == y[i], "%s: y[%d] = %g, expected %g", what, i, s->y[i], y[i]);
        if (cls && s->cls)
            EXPECT(s->cls[i] == cls[i], "%s: cls[%d] = %d, expected %d", what, i, s->cls[i], cls[i]);
    }
}

/* 1 when a and b hold the same data (shape, storage, values, labels). */
static int same_set(const ds_set *a, const ds_set *b)
{
    if (a->n != b->n || a->d != b->d || a->nclass != b->nclass || !a->X != !b->X ||
        !a->cls != !b->cls || a->n == 0)
        return 0;
    int64_t nnz = ds_nnz(a);
    if (nnz != ds_nnz(b))
        return 0;
    if (a->X && memcmp(a->X, b->X, (size_t)nnz * sizeof(double)))
        return 0;
    if (!a->X && (memcmp(a->rowptr, b->rowptr, ((size_t)a->n + 1) * sizeof(int64_t)) ||
                  memcmp(a->colind, b->colind, (size_t)nnz * sizeof(int)) ||
                  memcmp(a->val, b->val, (size_t)nnz * sizeof(double))))
        return 0;
    if (memcmp(a->y, b->y, (size_t)a->n * sizeof(double)))
        return 0;
    return !a->cls || !memcmp(a->cls, b->cls, (size_t)a->n * sizeof(int));
}

/* Reads text (written to path) with opts; expects status want, every
 * piece in the message and an empty set. */
static void expect_bad(const char *path, const char *text, const ds_csv_opts *o, bl_status want,
                       const char *const *pieces)
{
    char msg[512];
    ds_set s;
    write_file(path, text);
    bl_status st = ds_read_csv(path, o, &s, msg, sizeof msg);
    EXPECT(st == want, "%s: status %d, expected %d (%s)", path, (int)st, (int)want, msg);
    for (int k = 0; pieces[k]; k++)
        EXPECT(strstr(msg, pieces[k]) != NULL, "%s: message lacks '%s': %s", path, pieces[k], msg);
    EXPECT(set_is_empty(&s), "%s: failure left a non-empty set", path);
    ds_set_free(&s);
}

#define PIECES(...) ((const char *const[]){__VA_ARGS__, NULL})

/* The small binary set every accepted variant below must give:
 * features (a, b), labels y. */
static const double X2[] = {0.5, -1.25, 2, 1e-3, -0.125, 4.5};
static const double Y2[] = {1, -1, 1};

static void accepted(void)
{
    char msg[512];
    ds_set s;
    ds_csv_opts o = ds_csv_defaults();

    /* Header, label by name in the middle. */
    write_file("ds_csv_name.csv", "a,y,b\n0.5,+1,-1.25\n2,-1,1e-3\n-0.125,1,4.5\n");
    o.label_name = "y";
    EXPECT(ds_read_csv("ds_csv_name.csv", &o, &s, msg, sizeof msg) == BL_OK, "name: %s", msg);
    expect_dense("label by name", &s, 3, 2, X2, Y2, NULL, 2);
    EXPECT(msg[0] == '\0', "message not emptied on success");
    ds_set_free(&s);
    /* The default rule finds the column named "y" too. */
    EXPECT(ds_read_csv("ds_csv_name.csv", NULL, &s, msg, sizeof msg) == BL_OK, "auto y: %s", msg);
    expect_dense("default label (named y)", &s, 3, 2, X2, Y2, NULL, 2);
    ds_set_free(&s);

    /* No header, label by index 1 and by −2 (from the end). */
    write_file("ds_csv_noh.csv", "0.5,1,-1.25\n2,-1,0.001\n-0.125,1,4.5\n");
    o = ds_csv_defaults();
    o.label_col = 1;
    EXPECT(ds_read_csv("ds_csv_noh.csv", &o, &s, msg, sizeof msg) == BL_OK, "index: %s", msg);
    expect_dense("label index 1", &s, 3, 2, X2, Y2, NULL, 2);
    ds_set_free(&s);
    o.label_col = -2;
    EXPECT(ds_read_csv("ds_csv_noh.csv", &o, &s, msg, sizeof msg) == BL_OK, "index -2: %s", msg);
    expect_dense("label index -2", &s, 3, 2, X2, Y2, NULL, 2);
    ds_set_free(&s);
    o.header = 0;
    o.delim = ',';
    EXPECT(ds_read_csv("ds_csv_noh.csv", &o, &s, msg, sizeof msg) == BL_OK, "given: %s", msg);
    expect_dense("header and delimiter given", &s, 3, 2, X2, Y2, NULL, 2);
    ds_set_free(&s);

    /* Tab detected, CRLF, a byte order mark, blank lines (CRLF ones too),
     * the label column named "Label" (any case), spaces around fields. */
    write_file("ds_csv_tab.tsv", "\xEF\xBB\xBF" "a\tLabel\tb\r\n\r\n 0.5 \t+1\t-1.25\r\n"
                                 "2\t-1\t1e-3\r\n   \r\n-0.125\t 1\t4.5\r\n\r\n");
    EXPECT(ds_read_csv("ds_csv_tab.tsv", NULL, &s, msg, sizeof msg) == BL_OK, "tab: %s", msg);
    expect_dense("tab, CRLF, BOM, blank lines", &s, 3, 2, X2, Y2, NULL, 2);
    ds_set_free(&s);

    /* Semicolon detected, no header, default label = last column, 0/1
     * labels (0 → −1), no final newline. */
    write_file("ds_csv_semi.csv", "0.5;-1.25;1\n2;1e-3;0\n-0.125;4.5;1");
    EXPECT(ds_read_csv("ds_csv_semi.csv", NULL, &s, msg, sizeof msg) == BL_OK, "semi: %s", msg);
    expect_dense("semicolon, 0/1 labels, last column", &s, 3, 2, X2, Y2, NULL, 2);
    ds_set_free(&s);

    /* Quotes: names with the delimiter and doubled quotes, quoted numbers. */
    write_file("ds_csv_quote.csv", "\"a,1\",\"x \"\"q\"\"\",b\n"
                                   "\"0.5\",1,-1.25\n2,\"-1\" ,1e-3\n -0.125 , 1 ,\"4.5\"\n");
    o = ds_csv_defaults();
    o.label_name = "x \"q\"";
    EXPECT(ds_read_csv("ds_csv_quote.csv", &o, &s, msg, sizeof msg) == BL_OK, "quotes: %s", msg);
    expect_dense("quoted fields", &s, 3, 2, X2, Y2, NULL, 2);
    ds_set_free(&s);

    /* Multiclass: labels 0, 2, 1, 2 ("2.0" an integer), first column. */
    write_file("ds_csv_multi.csv", "class,u,v\n0,1,2\n2,3,4\n1,5,6\n2.0,7,8\n");
    o = ds_csv_defaults();
    o.multiclass = 1;
    {
        const double X[] = {1, 2, 3, 4, 5, 6, 7, 8}, y[] = {0, 2, 1, 2};
        const int c[] = {0, 2, 1, 2};
        EXPECT(ds_read_csv("ds_csv_multi.csv", &o, &s, msg, sizeof msg) == BL_OK, "multi: %s", msg);
        expect_dense("multiclass", &s, 4, 2, X, y, c, 3);
        ds_set_free(&s);
        /* Labels 1..3: class 0 is empty, nclass 4. */
        write_file("ds_csv_multi1.csv", "1,9\n3,8\n2,7\n");
        o.label_col = 0;
        const double X1[] = {9, 8, 7}, y1[] = {1, 3, 2};
        const int c1[] = {1, 3, 2};
        EXPECT(ds_read_csv("ds_csv_multi1.csv", &o, &s, msg, sizeof msg) == BL_OK, "multi1: %s", msg);
        expect_dense("multiclass 1..3", &s, 3, 1, X1, y1, c1, 4);
        ds_set_free(&s);
    }

    /* ds_read_auto: .tsv forces tab (the names hold commas), .csv reads
     * CSV, any other name LIBSVM. */
    write_file("ds_csv_auto.tsv", "a,b\tc,d\tlabel\n1\t2\t-1\n3\t4\t1\n");
    {
        const double X[] = {1, 2, 3, 4}, y[] = {-1, 1};
        EXPECT(ds_read_auto("ds_csv_auto.tsv", NULL, NULL, &s, msg, sizeof msg) == BL_OK,
               "auto tsv: %s", msg);
        expect_dense("ds_read_auto .tsv", &s, 2, 2, X, y, NULL, 2);
        ds_set_free(&s);
        write_file("ds_csv_auto.CSV", "1,2,-1\n3,4,1\n");
        EXPECT(ds_read_auto("ds_csv_auto.CSV", NULL, NULL, &s, msg, sizeof msg) == BL_OK,
               "auto CSV: %s", msg);
        expect_dense("ds_read_auto .CSV", &s, 2, 2, X, y, NULL, 2);
        ds_set_free(&s);
        write_file("ds_csv_auto.svm", "-1 1:1 2:2\n+1 1:3 2:4\n");
        EXPECT(ds_read_auto("ds_csv_auto.svm", NULL, NULL, &s, msg, sizeof msg) == BL_OK,
               "auto svm: %s", msg);
        EXPECT(s.X == NULL && s.rowptr && s.n == 2 && s.d == 2, "ds_read_auto .svm: not CSR");
        EXPECT(ds_densify(&s, msg, sizeof msg) == BL_OK, "densify: %s", msg);
        expect_dense("ds_read_auto .svm", &s, 2, 2, X, y, NULL, 2);
        ds_set_free(&s);
    }
}

/* 2500 × 40 random values (beyond the first capacity of 65536/40 + 1
 * rows; 33 blocks of 64 KiB): written with %.17g, read back exactly, as
 * CSV, as LIBSVM (densified) and gzip-compressed (any name). */
static void round_trip(void)
{
    enum { N = 2500, D = 40 };
    double *X = malloc(sizeof(double) * N * D), y[N];
    FILE *fc = fopen("ds_csv_big.csv", "wb"), *fs = fopen("ds_csv_big.svm", "wb");
    if (!X || !fc || !fs)
        exit(2);
    t_rng r = {42};
    for (int j = 0; j < D; j++)
        fprintf(fc, "f%d,", j);
    fprintf(fc, "target\n");
    for (int i = 0; i < N; i++) {
        y[i] = t_uniform(&r, 0, 1) < 0.4 ? 1 : -1;
        fprintf(fs, "%+g", y[i]);
        for (int j = 0; j < D; j++) {
            X[i * D + j] = t_normal(&r) * pow(10, (int)t_uniform(&r, -5, 5));
            fprintf(fc, "%.17g,", X[i * D + j]);
            fprintf(fs, " %d:%.17g", j + 1, X[i * D + j]);
        }
        fprintf(fc, "%g\n", y[i]);
        fputc('\n', fs);
    }
    fclose(fc);
    fclose(fs);
    char msg[512];
    ds_set c, s, g;
    EXPECT(ds_read_csv("ds_csv_big.csv", NULL, &c, msg, sizeof msg) == BL_OK, "big: %s", msg);
    expect_dense("2500 x 40 round trip", &c, N, D, X, y, NULL, 2);
    EXPECT(ds_read_libsvm("ds_csv_big.svm", 0, &s, msg, sizeof msg) == BL_OK, "big svm: %s", msg);
    EXPECT(ds_densify(&s, msg, sizeof msg) == BL_OK, "densify: %s", msg);
    EXPECT(same_set(&c, &s), "the CSV and LIBSVM forms of the same data differ");
    ds_set_free(&s);

    size_t len;
    char *text = read_all("ds_csv_big.csv", &len);
    write_gz("ds_csv_big.csv.gz", text, len);
    write_gz("ds_csv_big_gz.data", text, len); /* gzip under a name that does not say so */
    EXPECT(ds_read_csv("ds_csv_big.csv.gz", NULL, &g, msg, sizeof msg) == BL_OK, "gz: %s", msg);
    EXPECT(same_set(&c, &g), "the .csv.gz file gives another set than the raw one");
    ds_set_free(&g);
    EXPECT(ds_read_auto("ds_csv_big.csv.gz", NULL, NULL, &g, msg, sizeof msg) == BL_OK,
           "auto gz: %s", msg);
    EXPECT(same_set(&c, &g), "ds_read_auto on .csv.gz: another set");
    ds_set_free(&g);
    EXPECT(ds_read_csv("ds_csv_big_gz.data", NULL, &g, msg, sizeof msg) == BL_OK, "gz magic: %s",
           msg);
    EXPECT(same_set(&c, &g), "gzip detected by its magic: another set");
    ds_set_free(&g);

    /* A truncated and a corrupt gzip stream: errors naming gzip, no set. */
    size_t glen;
    char *gz = read_all("ds_csv_big.csv.gz", &glen);
    FILE *f = fopen("ds_csv_cut.csv.gz", "wb");
    fwrite(gz, 1, glen / 2, f);
    fclose(f);
    EXPECT(ds_read_csv("ds_csv_cut.csv.gz", NULL, &g, msg, sizeof msg) == BL_EFORMAT &&
               strstr(msg, "ds_csv_cut.csv.gz:") && strstr(msg, "gzip stream truncated") &&
               set_is_empty(&g),
           "truncated gzip: '%s' (n = %d)", msg, g.n);
    ds_set_free(&g);
    gz[glen - 8] ^= 0x5a; /* the CRC-32 of the trailer: every line decodes, the check fails */
    f = fopen("ds_csv_bad.csv.gz", "wb");
    fwrite(gz, 1, glen, f);
    fclose(f);
    EXPECT(ds_read_csv("ds_csv_bad.csv.gz", NULL, &g, msg, sizeof msg) == BL_EFORMAT &&
               strstr(msg, "ds_csv_bad.csv.gz:") && strstr(msg, "gzip data corrupt") &&
               set_is_empty(&g),
           "corrupt gzip: '%s' (n = %d)", msg, g.n);
    ds_set_free(&g);
    free(gz);

    /* LIBSVM, gzip: the same CSR set as the raw file. */
    free(text);
    text = read_all("ds_csv_big.svm", &len);
    write_gz("ds_csv_big.svm.gz", text, len);
    EXPECT(ds_read_libsvm("ds_csv_big.svm", 0, &s, msg, sizeof msg) == BL_OK, "svm: %s", msg);
    EXPECT(ds_read_libsvm("ds_csv_big.svm.gz", 0, &g, msg, sizeof msg) == BL_OK, "svm gz: %s", msg);
    EXPECT(s.X == NULL && same_set(&s, &g), "the .svm.gz file gives another set than the raw one");
    ds_set_free(&g);
    ds_set_free(&s);
    /* A LIBSVM error inside a gzip file names the line of the text. */
    write_gz("ds_csv_badline.svm.gz", "+1 1:1\n-1 2:1\n+1 3:x\n", 22);
    EXPECT(ds_read_libsvm("ds_csv_badline.svm.gz", 0, &g, msg, sizeof msg) == BL_EFORMAT &&
               strstr(msg, "ds_csv_badline.svm.gz:3: "),
           "LIBSVM gz error line: '%s'", msg);
    ds_set_free(&g);
    free(text);
    ds_set_free(&c);
    free(X);
}

static void rejected(void)
{
    ds_csv_opts d = ds_csv_defaults(), o;
    expect_bad("ds_csv_e_fewer.csv", "a,b,y\n1,2,1\n3,4\n", &d, BL_EFORMAT,
               PIECES("ds_csv_e_fewer.csv:3: ", "2 fields, the first line has 3"));
    expect_bad("ds_csv_e_more.csv", "1,2,1\n3,4,1\n5,6,1\n7,8,1,9\n", &d, BL_EFORMAT,
               PIECES("ds_csv_e_more.csv:4: ", "more than 3 fields"));
    expect_bad("ds_csv_e_nan.csv", "a,b,y\n1,2,1\n3,nan,1\n", &d, BL_ENONFINITE,
               PIECES("ds_csv_e_nan.csv:3: ", "column 1 ('b')", "'nan' is not finite"));
    expect_bad("ds_csv_e_inf.csv", "1,2,1\n-Inf,2,1\n", &d, BL_ENONFINITE,
               PIECES("ds_csv_e_inf.csv:2: ", "column 0", "not finite"));
    expect_bad("ds_csv_e_big.csv", "1,2,1\n1,1e999,1\n", &d, BL_ENONFINITE,
               PIECES("ds_csv_e_big.csv:2: ", "column 1", "not finite"));
    expect_bad("ds_csv_e_nanlab.csv", "1,2,1\n1,2,NaN\n", &d, BL_ENONFINITE,
               PIECES("ds_csv_e_nanlab.csv:2: ", "column 2", "label 'NaN' is not finite"));
    expect_bad("ds_csv_e_na.csv", "a,b,y\n1,2,1\n3,NA,1\n", &d, BL_EFORMAT,
               PIECES("ds_csv_e_na.csv:3: ", "column 1 ('b')", "'NA' is not a number"));
    expect_bad("ds_csv_e_word.csv", "1,2,1\n1,2x,1\n", &d, BL_EFORMAT,
               PIECES("ds_csv_e_word.csv:2: ", "column 1", "'2x' is not a number"));
    expect_bad("ds_csv_e_empty.csv", "a,b,y\n1,2,1\n\n,4,1\n", &d, BL_EFORMAT,
               PIECES("ds_csv_e_empty.csv:4: ", "column 0 ('a')", "empty field"));
    expect_bad("ds_csv_e_trail.csv", "1,2,1\n1,2,\n", &d, BL_EFORMAT,
               PIECES("ds_csv_e_trail.csv:2: ", "column 2", "empty field"));
    expect_bad("ds_csv_e_crlf.csv", "a,b,y\r\n1,2,1\r\n\r\n3,4,x\r\n", &d, BL_EFORMAT,
               PIECES("ds_csv_e_crlf.csv:4: ", "column 2 ('y')", "label 'x' is not a number"));
    expect_bad("ds_csv_e_lab2.csv", "1,2,1\n1,2,2\n", &d, BL_EFORMAT,
               PIECES("ds_csv_e_lab2.csv:2: ", "label '2' is not binary"));
    expect_bad("ds_csv_e_lab0m1.csv", "1,2,0\n1,2,1\n1,2,-1\n", &d, BL_EFORMAT,
               PIECES("ds_csv_e_lab0m1.csv:3: ", "labels 0 (line 1) and -1 (line 3) both used"));
    o = d;
    o.multiclass = 1;
    expect_bad("ds_csv_e_cls.csv", "1,2,1\n1,2,1.5\n", &o, BL_EFORMAT,
               PIECES("ds_csv_e_cls.csv:2: ", "label '1.5' is not a class index"));
    expect_bad("ds_csv_e_clsneg.csv", "1,2,1\n1,2,0\n1,2,-1\n", &o, BL_EFORMAT,
               PIECES("ds_csv_e_clsneg.csv:3: ", "label '-1' is not a class index"));
    expect_bad("ds_csv_e_clsbig.csv", "1,2,65536\n", &o, BL_EFORMAT,
               PIECES("ds_csv_e_clsbig.csv:1: ", "label '65536' is not a class index"));
    expect_bad("ds_csv_e_stray.csv", "1,2,1\n1,2\"3,1\n", &d, BL_EFORMAT,
               PIECES("ds_csv_e_stray.csv:2: ", "column 1", "a quote inside an unquoted field"));
    expect_bad("ds_csv_e_unterm.csv", "1,2,1\n1,\"2,1\n", &d, BL_EFORMAT,
               PIECES("ds_csv_e_unterm.csv:2: ", "column 1", "unterminated quote"));
    expect_bad("ds_csv_e_after.csv", "1,2,1\n1,\"2\"x,1\n", &d, BL_EFORMAT,
               PIECES("ds_csv_e_after.csv:2: ", "column 1", "text after the closing quote"));
    expect_bad("ds_csv_e_hdrq.csv", "a,\"b,y\n1,2,1\n", &d, BL_EFORMAT,
               PIECES("ds_csv_e_hdrq.csv:1: ", "column 1", "unterminated quote"));
    o = d;
    o.label_name = "y";
    expect_bad("ds_csv_e_nohdr.csv", "\n1,2,1\n", &o, BL_EFORMAT,
               PIECES("ds_csv_e_nohdr.csv:2: ", "chosen by name", "no header"));
    expect_bad("ds_csv_e_noname.csv", "a,b,c\n1,2,1\n", &o, BL_EFORMAT,
               PIECES("ds_csv_e_noname.csv:1: ", "no column named 'y'"));
    expect_bad("ds_csv_e_twonames.csv", "y,b,y\n1,2,1\n", &o, BL_EFORMAT,
               PIECES("ds_csv_e_twonames.csv:1: ", "two columns named 'y' (0 and 2)"));
    expect_bad("ds_csv_e_ambig.csv", "Y,b,label\n1,2,1\n", &d, BL_EFORMAT,
               PIECES("ds_csv_e_ambig.csv:1: ", "column 0 ('Y') and column 2 ('label')",
                      "could both be the label"));
    o = d;
    o.label_col = 3;
    expect_bad("ds_csv_e_col.csv", "1,2,1\n", &o, BL_EFORMAT,
               PIECES("ds_csv_e_col.csv:1: ", "label column 3 is out of range for 3 columns"));
    o.label_col = -4;
    expect_bad("ds_csv_e_colneg.csv", "1,2,1\n", &o, BL_EFORMAT,
               PIECES("ds_csv_e_colneg.csv:1: ", "label column -4 is out of range"));
    expect_bad("ds_csv_e_onecol.csv", "1\n2\n", &d, BL_EFORMAT,
               PIECES("ds_csv_e_onecol.csv:1: ", "1 column"));
    o = d;
    o.delim = '\t';
    expect_bad("ds_csv_e_wrongdelim.csv", "1,2,1\n", &o, BL_EFORMAT,
               PIECES("ds_csv_e_wrongdelim.csv:1: ", "1 column (delimiter '\\t')"));
    expect_bad("ds_csv_e_void.csv", "", &d, BL_EFORMAT,
               PIECES("ds_csv_e_void.csv: empty file"));
    expect_bad("ds_csv_e_blank.csv", "\n \r\n\n", &d, BL_EFORMAT,
               PIECES("ds_csv_e_blank.csv:3: ", "all 3 lines are blank"));
    expect_bad("ds_csv_e_hdronly.csv", "a,b,y\n\n", &d, BL_EFORMAT,
               PIECES("ds_csv_e_hdronly.csv:2: ", "no samples: only a header"));
    o = d;
    o.header = 1;
    expect_bad("ds_csv_e_hdr1.csv", "1,2,1\n", &o, BL_EFORMAT,
               PIECES("ds_csv_e_hdr1.csv:1: ", "only a header"));
    o = d;
    o.header = 0;
    expect_bad("ds_csv_e_hdr0.csv", "a,b,y\n1,2,1\n", &o, BL_EFORMAT,
               PIECES("ds_csv_e_hdr0.csv:1: ", "column 0", "'a' is not a number"));
    o = d;
    o.max_cols = 3;
    expect_bad("ds_csv_e_cols.csv", "1,2,3,1\n", &o, BL_EFORMAT,
               PIECES("ds_csv_e_cols.csv:1: ", "more than 3 columns", "max_cols"));
    o = d;
    o.max_line_bytes = 8;
    expect_bad("ds_csv_e_long.csv", "1,2,1\n1,2.50,-1\n", &o, BL_EFORMAT,
               PIECES("ds_csv_e_long.csv:2: ", "line longer than the limit of 8 bytes"));
    {
        char msg[512];
        ds_set s;
        FILE *f = fopen("ds_csv_e_nul.csv", "wb");
        fwrite("1,2,1\n1,\0,1\n", 1, 12, f);
        fclose(f);
        EXPECT(ds_read_csv("ds_csv_e_nul.csv", NULL, &s, msg, sizeof msg) == BL_EFORMAT &&
                   strstr(msg, "ds_csv_e_nul.csv:2: NUL byte at column 3") && set_is_empty(&s),
               "NUL: '%s'", msg);
        EXPECT(ds_read_csv("ds_csv_missing.csv", NULL, &s, msg, sizeof msg) == BL_EIO &&
                   strstr(msg, "ds_csv_missing.csv: cannot open") && set_is_empty(&s),
               "missing file: '%s'", msg);
        /* bzip2, xz and zstd files: errors saying how to decompress them. */
        static const struct { const char *bytes; size_t len; const char *tool; } comp[] = {
            {"BZh91AY&SY\x12\x34 1:1\n", 17, "bunzip2 -k FILE"},
            {"\xFD" "7zXZ\0\0\x04\xE6", 10, "unxz -k FILE"},
            {"\x28\xB5\x2F\xFD\x04\x58", 6, "unzstd FILE"}};
        for (size_t k = 0; k < 3; k++) {
            f = fopen("ds_csv_e_comp.csv", "wb");
            fwrite(comp[k].bytes, 1, comp[k].len, f);
            fclose(f);
            EXPECT(ds_read_csv("ds_csv_e_comp.csv", NULL, &s, msg, sizeof msg) == BL_EFORMAT &&
                       strstr(msg, "ds_csv_e_comp.csv: compressed with ") &&
                       strstr(msg, comp[k].tool) && set_is_empty(&s),
                   "compressed %zu (csv): '%s'", k, msg);
            EXPECT(ds_read_libsvm("ds_csv_e_comp.csv", 0, &s, msg, sizeof msg) == BL_EFORMAT &&
                       strstr(msg, comp[k].tool) && set_is_empty(&s),
                   "compressed %zu (libsvm): '%s'", k, msg);
        }
        /* Bad options. */
        const struct { int field, value; } bad[] = {{0, 'x'}, {1, 2}, {2, 2}, {3, 1}};
        for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
            o = d;
            if (bad[k].field == 0)
                o.delim = bad[k].value;
            else if (bad[k].field == 1)
                o.header = bad[k].value;
            else if (bad[k].field == 2)
                o.multiclass = bad[k].value;
            else
                o.max_cols = bad[k].value;
            EXPECT(ds_read_csv("ds_csv_noh.csv", &o, &s, msg, sizeof msg) == BL_EINVAL &&
                       strstr(msg, "ds_read_csv: ") && set_is_empty(&s),
                   "bad option %zu: '%s'", k, msg);
        }
        o.max_line_bytes = 0;
        o.max_cols = 10;
        EXPECT(ds_read_csv("ds_csv_noh.csv", &o, &s, msg, sizeof msg) == BL_EINVAL, "max_line 0");
        EXPECT(ds_read_csv(NULL, NULL, &s, msg, sizeof msg) == BL_EINVAL, "NULL path");
        EXPECT(ds_read_csv("x.csv", NULL, NULL, msg, sizeof msg) == BL_EINVAL, "NULL out");
        EXPECT(ds_read_auto(NULL, NULL, NULL, &s, msg, sizeof msg) == BL_EINVAL, "auto NULL path");
    }
}

int main(void)
{
    accepted();
    round_trip();
    rejected();
    return t_done();
}
