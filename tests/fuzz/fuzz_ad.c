/*
 * tests/fuzz/fuzz_ad.c — libFuzzer target for the ad engine: the input bytes
 * are a small program (a leaf x of a fuzzed shape, then up to 16 ops of
 * hypertape/ad.h on earlier values, with fuzzed shapes, indices and handles,
 * including invalid ones). Checked, for every input:
 *  - no crash, no sanitizer report, no leak;
 *  - an op that fails leaves a tape error with a non-empty message and
 *    returns AD_NONE;
 *  - on a valid program whose values are finite and moderate (and whose
 *    sweeps fit the 16 MB byte cap, which the tangent and second-order
 *    sweeps' scratch counts against): jvp(d) equals
 *    ⟨∇f, d⟩, Hvp forward-over-reverse equals reverse-over-reverse, and,
 *    when every op is smooth and finite differences at h and h/2 agree,
 *    ∇f·d and H·v match central differences of f and of ∇f.
 * A failed check prints what differed and aborts (libFuzzer saves the input).
 * With FUZZ_AD_DUMP=1 in the environment, the decoded program (ops,
 * operands, parameters, result shapes, spmm's CSR) and each derivative
 * check (its values, and whether it ran or was skipped) go to stderr:
 *   FUZZ_AD_DUMP=1 build-fuzz/tests/fuzz/fuzz_ad INPUT
 */
#include <hypertape/ad.h>

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MAXD = 5, MAXOPS = 16, MAXV = MAXOPS + 2, MAXIDX = 64, MAXC = 25, NOPS = 40 };

typedef struct fz_op {
    uint8_t code, a, b, c;  /* opcode and operand bytes */
    int p[4];               /* shape / index parameters */
    double s[2];            /* scalar parameters */
    int idx[MAXIDX];        /* index arrays (gather, labels, CSR columns) */
    double cv[MAXC];        /* constant values */
} fz_op;

typedef struct fz_prog {
    int r, c;               /* shape of the leaf x */
    double x0[MAXD * MAXD];
    int nops;
    fz_op ops[MAXOPS];
} fz_prog;

typedef struct fz_rd {
    const uint8_t *d;
    size_t n, k;
} fz_rd;

static uint8_t u8(fz_rd *r) { return r->k < r->n ? r->d[r->k++] : 0; }

/* Mostly small sizes 0..5, sometimes hostile ones. */
static int dim(fz_rd *r)
{
    static const int odd[] = {-1, 0, 1 << 16, 1 << 30, 2147483647, -2147483647 - 1};
    uint8_t b = u8(r);
    return b < 240 ? b % 6 : odd[b % 6];
}

static double small(fz_rd *r) { return ((int)u8(r) - 128) / 64.0; }

static void parse(const uint8_t *d, size_t n, fz_prog *p)
{
    fz_rd r = {d, n, 0};
    memset(p, 0, sizeof *p);
    p->r = 1 + u8(&r) % MAXD;
    p->c = 1 + u8(&r) % MAXD;
    for (int k = 0; k < p->r * p->c; k++)
        p->x0[k] = small(&r);
    while (p->nops < MAXOPS && r.k < r.n) {
        fz_op *o = &p->ops[p->nops++];
        o->code = u8(&r) % NOPS;
        o->a = u8(&r);
        o->b = u8(&r);
        o->c = u8(&r);
        for (int k = 0; k < 4; k++)
            o->p[k] = dim(&r);
        o->s[0] = small(&r);
        o->s[1] = small(&r);
        uint8_t nidx = u8(&r) % 8;      /* a few explicit entries, the rest a pattern */
        for (int k = 0; k < MAXIDX; k++)
            o->idx[k] = k < nidx ? (int8_t)u8(&r) : (k * 7 + o->c) % (1 + o->b % 9);
        for (int k = 0; k < MAXC; k++)
            o->cv[k] = 0.5 + 0.25 * sin(k + o->c);
    }
}

/* The values recorded so far and whether a finite-difference check applies. */
typedef struct fz_run {
    ad_var v[MAXV];
    int nv;
    int smooth;    /* every op used is smooth (no kinks, no detach) */
    int stopped;   /* the program asked for something the harness cannot pass safely */
    /* CSR row offsets, one array per op: ad_spmm keeps a pointer to them
     * (hypertape/ad.h: "its arrays are not" copied) and the backward sweep reads
     * them again, so an array shared by two spmm ops would hand the first
     * one the second one's matrix in the gradient. */
    int64_t rowptr[MAXOPS][MAXD + 1];
} fz_run;

static ad_var operand(ad_tape *t, const fz_run *run, uint8_t b)
{
    if (b == 255)
        return AD_NONE;
    if (b == 254)
        return (ad_var){12345};
    (void)t;
    return run->v[b % run->nv];
}

static size_t rows_of(ad_tape *t, ad_var v) { return ad_ok(v) ? (size_t)ad_rows(t, v) : 0; }
static size_t size_of(ad_tape *t, ad_var v)
{
    return ad_ok(v) && ad_rows(t, v) > 0 ? (size_t)ad_rows(t, v) * (size_t)ad_cols(t, v) : 0;
}

/* The row offsets of op o's CSR, of p[0] clamped to MAXD rows: from idx,
 * clamped so that the arrays are long enough; rowptr[0] sometimes not 0. */
static int csr_rows(const fz_op *o, int64_t *rowptr)
{
    int rows = o->p[0] > MAXD ? MAXD : o->p[0];
    int64_t nnz = 0;
    rowptr[0] = o->c & 1;
    for (int i = 0; i < (rows > 0 ? rows : 0); i++) {
        nnz += o->idx[i] % 4;  /* may decrease */
        rowptr[i + 1] = nnz < 0 ? 0 : nnz > 16 ? 16 : nnz;
    }
    return rows;
}

/* ad_spmm with a CSR of p[0]×p[1] built from the op (columns as fuzzed),
 * its row offsets in the op's own array (the tape keeps a pointer to it). */
static ad_var spmm(ad_tape *t, fz_run *run, const fz_op *o, ad_var a)
{
    int64_t *rowptr = run->rowptr[run->nv - 1];
    ad_csr s = {csr_rows(o, rowptr), o->p[1], rowptr, o->idx + 8, o->cv, 0};
    return ad_spmm(t, &s, a, o->b & 1);
}

static ad_var op_indexed(ad_tape *t, fz_run *run, const fz_op *o, ad_var a)
{
    const int *p = o->p;
    switch (o->code) {
    case 28:
        if (rows_of(t, a) > MAXIDX)
            break;
        return ad_softmax_xent(t, a, o->idx);
    case 29:
        if (p[0] > 0 && p[1] > 0 && (int64_t)p[0] * p[1] > MAXIDX)
            break;
        return ad_gather(t, a, o->idx, p[0], p[1]);
    case 30:
        if (p[0] > MAXIDX)
            break;
        return ad_gather_rows(t, a, o->idx, p[0]);
    case 31:
        if (size_of(t, a) > MAXIDX)
            break;
        return ad_scatter_add(t, a, o->idx, p[0], p[1]);
    case 36:
        return spmm(t, run, o, a);
    }
    run->stopped = 1;
    return AD_NONE;
}

static ad_var op_unary(ad_tape *t, fz_run *run, const fz_op *o, ad_var a)
{
    static const double pw[] = {2, 3, 0.5, -1, 1.5, 0};
    switch (o->code) {
    case 5: return ad_affine(t, a, o->s[0], o->s[1]);
    case 6: return ad_exp(t, a);
    case 7: return ad_log(t, a);
    case 8: return ad_log1p(t, a);
    case 9: return ad_sqrt(t, a);
    case 10: return ad_square(t, a);
    case 11: return ad_pow(t, a, pw[o->c % 6]);
    case 12: run->smooth = 0; return ad_abs(t, a);
    case 13: return ad_sigmoid(t, a);
    case 14: return ad_softplus(t, a);
    case 15: return ad_logsigmoid(t, a);
    case 16: return ad_tanh(t, a);
    case 17: run->smooth = 0; return ad_relu(t, a);
    case 18: return ad_sum(t, a);
    case 19: return ad_mean(t, a);
    case 20: return ad_sum_rows(t, a);
    case 21: return ad_sum_cols(t, a);
    case 22: return ad_broadcast(t, a, o->p[0], o->p[1]);
    case 26: return ad_transpose(t, a);
    case 27: return ad_logsumexp_rows(t, a);
    case 32: return ad_slice(t, a, o->p[0], o->p[1], o->p[2], o->p[3]);
    case 33: return ad_embed(t, a, o->p[0], o->p[1], o->p[2], o->p[3]);
    case 35: return ad_reshape(t, a, o->p[0], o->p[1]);
    case 37: run->smooth = 0; return ad_detach(t, a);
    }
    return op_indexed(t, run, o, a);
}

static ad_var op_one(ad_tape *t, fz_run *run, const fz_op *o)
{
    ad_var a = operand(t, run, o->a), b = operand(t, run, o->b);
    switch (o->code) {
    case 0: return ad_add(t, a, b);
    case 1: return ad_sub(t, a, b);
    case 2: return ad_mul(t, a, b);
    case 3: return ad_div(t, a, b);
    case 4: run->smooth = 0; return ad_greater(t, a, b);
    case 23: return ad_dot(t, a, b);
    case 24: return ad_matmul(t, a, b, o->c & 1, o->c & 2);
    case 25: return ad_matvec(t, a, b, o->c & 1);
    case 34: return ad_concat(t, a, b, o->c % 3 == 2 ? -1 : o->c % 2);
    case 38: run->smooth = 0; return ad_select(t, operand(t, run, o->c), a, b);
    case 39: {
        int r = o->p[0], c = o->p[1];
        if (r > 0 && c > 0 && (int64_t)r * c > MAXC) {
            run->stopped = 1;
            return AD_NONE;
        }
        return ad_const(t, r, c, o->cv);
    }
    }
    return op_unary(t, run, o, a);
}

static void fail(const char *what, double a, double b, double tol)
{
    fprintf(stderr, "fuzz_ad: %s: %.17g vs %.17g (tolerance %.3g)\n", what, a, b, tol);
    abort();
}

/* Records the program at x (r×c); returns the scalar output or AD_NONE. */
static ad_var record(ad_tape *t, const fz_prog *p, const double *x, fz_run *run)
{
    memset(run, 0, sizeof *run);
    run->smooth = 1;
    run->v[run->nv++] = ad_leaf(t, p->r, p->c, x);
    for (int k = 0; k < p->nops && ad_tape_status(t) == AD_OK; k++) {
        ad_var y = op_one(t, run, &p->ops[k]);
        if (run->stopped)
            return AD_NONE;
        if (ad_tape_status(t) != AD_OK) {
            if (ad_ok(y) || !ad_tape_message(t) || !ad_tape_message(t)[0])
                fail("failed op returned a handle or left no message", y.id, 0, 0);
            /* the error is sticky: later ops do nothing */
            if (ad_ok(ad_exp(t, run->v[0])))
                fail("op after an error returned a handle", 0, 0, 0);
            return AD_NONE;
        }
        run->v[run->nv++] = y;
    }
    ad_var y = run->v[run->nv - 1];
    if (ad_rows(t, y) != 1 || ad_cols(t, y) != 1) {  /* a fixed linear functional */
        size_t n = size_of(t, y);
        double *w = malloc((n ? n : 1) * sizeof *w);
        if (!w)
            return AD_NONE;
        for (size_t k = 0; k < n; k++)
            w[k] = 0.3 + 0.7 * cos(1.7 * (double)k);
        y = ad_dot(t, y, ad_const(t, ad_rows(t, y), ad_cols(t, y), w));
        free(w);
    }
    return y;
}

typedef struct fz_ctx {
    ad_tape *t;
    ad_mark m0;
    const fz_prog *p;
    int n;
    int dump;      /* FUZZ_AD_DUMP set: report the program and the checks */
} fz_ctx;

static const char *const op_names[NOPS] = {
    "add", "sub", "mul", "div", "greater", "affine", "exp", "log", "log1p", "sqrt",
    "square", "pow", "abs", "sigmoid", "softplus", "logsigmoid", "tanh", "relu", "sum", "mean",
    "sum_rows", "sum_cols", "broadcast", "dot", "matmul", "matvec", "transpose",
    "logsumexp_rows", "softmax_xent", "gather", "gather_rows", "scatter_add", "slice", "embed",
    "concat", "reshape", "spmm", "detach", "select", "const"};

/* Operand byte b of the op that makes value nv, as printed by dump_prog. */
static void dump_operand(const char *name, uint8_t b, int nv)
{
    if (b == 255)
        fprintf(stderr, " %s=NONE", name);
    else if (b == 254)
        fprintf(stderr, " %s=bogus", name);
    else
        fprintf(stderr, " %s=v%d", name, b % nv);
}

/* The decoded program, one op a line, with the shape of each value that
 * the recording `run` made (ops past a failure or a stop show "-"). */
static void dump_prog(ad_tape *t, const fz_prog *p, const fz_run *run)
{
    fprintf(stderr, "fuzz_ad: v0 = leaf %dx%d:", p->r, p->c);
    for (int k = 0; k < p->r * p->c; k++)
        fprintf(stderr, " %g", p->x0[k]);
    fprintf(stderr, "\n");
    for (int k = 0; k < p->nops; k++) {
        const fz_op *o = &p->ops[k];
        fprintf(stderr, "fuzz_ad: v%d = %s", k + 1, op_names[o->code]);
        dump_operand("a", o->a, k + 1);
        dump_operand("b", o->b, k + 1);
        dump_operand("c", o->c, k + 1);
        fprintf(stderr, " (bytes %u %u %u) p=%d,%d,%d,%d s=%g,%g idx=%d,%d,%d,%d,..", o->a, o->b,
                o->c, o->p[0], o->p[1], o->p[2], o->p[3], o->s[0], o->s[1], o->idx[0], o->idx[1],
                o->idx[2], o->idx[3]);
        if (k + 1 < run->nv)
            fprintf(stderr, " -> %dx%d", ad_rows(t, run->v[k + 1]), ad_cols(t, run->v[k + 1]));
        else
            fprintf(stderr, " -> -");
        if (o->code == 36 && k + 1 < run->nv) {
            const int64_t *rp = run->rowptr[k];
            fprintf(stderr, "\nfuzz_ad:     CSR %dx%d%s:", o->p[0], o->p[1], o->b & 1 ? " (transposed)" : "");
            for (int i = 0; i < (o->p[0] > MAXD ? MAXD : o->p[0]); i++)
                for (int64_t q = rp[i]; q < rp[i + 1]; q++)
                    fprintf(stderr, " (%d,%d)=%g", i, o->idx[8 + q], o->cv[q]);
        }
        fprintf(stderr, "\n");
    }
}

/* f(x) and, when g is not NULL, ∇f(x); NaN when the recording fails. */
static double eval(fz_ctx *c, const double *x, double *g)
{
    fz_run run;
    ad_tape_rewind(c->t, c->m0);
    ad_var y = record(c->t, c->p, x, &run);
    if (!ad_ok(y))
        return NAN;
    double f = ad_scalar_value(c->t, y);
    if (g) {
        double *out[1] = {g};
        if (ad_grad_values(c->t, y, 1, &run.v[0], out) != AD_OK)
            return NAN;
    }
    return f;
}

static double dotp(const double *a, const double *b, int n, double *absum)
{
    double s = 0, as = 0;
    for (int k = 0; k < n; k++) {
        s += a[k] * b[k];
        as += fabs(a[k] * b[k]);
    }
    if (absum)
        *absum = as;
    return s;
}

/* Largest |value| over the recorded values (finite check included). */
static double max_abs(ad_tape *t, const fz_run *run)
{
    double m = 0;
    for (int i = 0; i < run->nv; i++) {
        size_t n = size_of(t, run->v[i]);
        const double *v = ad_value(t, run->v[i]);
        for (size_t k = 0; v && k < n; k++)
            m = isfinite(v[k]) && fabs(v[k]) < m ? m : isfinite(v[k]) ? fabs(v[k]) : INFINITY;
    }
    return m;
}

/* Central difference of f along d, at step h. */
static double fd(fz_ctx *c, const double *x, const double *d, double h)
{
    double xp[MAXD * MAXD], xm[MAXD * MAXD];
    for (int k = 0; k < c->n; k++) {
        xp[k] = x[k] + h * d[k];
        xm[k] = x[k] - h * d[k];
    }
    return (eval(c, xp, NULL) - eval(c, xm, NULL)) / (2 * h);
}

/* Checks a derivative `ad` against the central differences D(h), D(h/2):
 * only when they agree with each other (the function is smooth at this
 * scale); scale bounds the terms, big the largest value (rounding floor). */
static void check_fd(const fz_ctx *c, const char *what, double ad, double d1, double d2,
                     double scale, double big, double h)
{
    double s = fmax(scale, fmax(fabs(d2), fabs(ad)));
    double spread = fabs(d1 - d2), floor = 1e-11 * (1 + big) / h;
    int skip = !isfinite(d1) || !isfinite(d2) || spread > 1e-3 * s + floor;
    if (c->dump)
        fprintf(stderr, "fuzz_ad: %s: ad %.17g, fd(h) %.17g, fd(h/2) %.17g: %s\n", what, ad, d1, d2,
                skip ? "skipped (not smooth at this scale)" : "checked");
    if (skip)
        return;
    double tol = 1e-3 * s + 10 * spread + 10 * floor;
    if (fabs(ad - d2) > tol)
        fail(what, ad, d2, tol);
}

static void check_derivatives(fz_ctx *c, ad_var y, const fz_run *run)
{
    ad_tape *t = c->t;
    int n = c->n;
    const double *x = c->p->x0;
    double g[MAXD * MAXD], d[MAXD * MAXD], hv1[MAXD * MAXD], hv2[MAXD * MAXD], jv = 0;
    for (int k = 0; k < n; k++)
        d[k] = sin(3.1 * k + 0.7);
    double big = max_abs(t, run);
    double *out[1] = {g};
    ad_status st = ad_grad_values(t, y, 1, &run->v[0], out);
    if (st != AD_OK || big > 1e6)
        return;
    const double *tin[1] = {d};
    double *tout[1] = {&jv};
    st = ad_jvp(t, 1, &run->v[0], tin, 1, &y, tout);
    if (c->dump && st != AD_OK)
        fprintf(stderr, "fuzz_ad: jvp: %s\n", ad_tape_message(t));
    if (st == AD_ENOMEM)
        return; /* the byte cap may stop the tangent sweep (its scratch counts) */
    if (st != AD_OK)
        fail("jvp failed on a valid program", st, 0, 0);
    double as, gd = dotp(g, d, n, &as);
    if (fabs(jv - gd) > 1e-9 * (as + big) + 1e-300)
        fail("jvp vs <grad, d>", jv, gd, 1e-9 * (as + big));
    if (ad_hvp_cross(t, y, run->v[0], AD_NONE, d, hv1, NULL, AD_HVP_FOR) != AD_OK ||
        ad_hvp_cross(t, y, run->v[0], AD_NONE, d, hv2, NULL, AD_HVP_ROR) != AD_OK)
        return; /* the byte cap may stop the second-order sweep */
    double hs = 0;
    for (int k = 0; k < n; k++)
        hs = fmax(hs, fmax(fabs(hv1[k]), fabs(hv2[k])));
    for (int k = 0; k < n; k++)
        if (fabs(hv1[k] - hv2[k]) > 1e-8 * (hs + big))
            fail("Hvp forward-over-reverse vs reverse-over-reverse", hv1[k], hv2[k], 1e-8 * (hs + big));
    if (!run->smooth) {
        if (c->dump)
            fprintf(stderr, "fuzz_ad: a non-smooth op: no finite-difference checks\n");
        return;
    }
    double h = 1e-4;
    check_fd(c, "<grad, d> vs finite differences", gd, fd(c, x, d, h), fd(c, x, d, h / 2), as, big, h);
    double gp[MAXD * MAXD], gm[MAXD * MAXD], gp2[MAXD * MAXD], gm2[MAXD * MAXD];
    double xp[MAXD * MAXD], xm[MAXD * MAXD], xp2[MAXD * MAXD], xm2[MAXD * MAXD];
    for (int k = 0; k < n; k++) {
        xp[k] = x[k] + h * d[k], xm[k] = x[k] - h * d[k];
        xp2[k] = x[k] + h / 2 * d[k], xm2[k] = x[k] - h / 2 * d[k];
    }
    if (!isfinite(eval(c, xp, gp)) || !isfinite(eval(c, xm, gm)) ||
        !isfinite(eval(c, xp2, gp2)) || !isfinite(eval(c, xm2, gm2)))
        return;
    double gs = 0;
    for (int k = 0; k < n; k++)
        gs = fmax(gs, fabs(g[k]));
    for (int k = 0; k < n; k++)
        check_fd(c, "H.v vs finite differences of the gradient", hv1[k], (gp[k] - gm[k]) / (2 * h),
                 (gp2[k] - gm2[k]) / h, hs, big + gs, h);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_prog p;
    parse(data, size, &p);
    ad_tape_opts o = {0};
    o.max_bytes = (size_t)16 << 20; /* hostile sizes must fail with AD_ENOMEM */
    ad_tape *t = ad_tape_new(&o);
    if (!t)
        return 0;
    const char *dump = getenv("FUZZ_AD_DUMP");
    fz_ctx c = {t, ad_tape_mark(t), &p, p.r * p.c, dump && dump[0] && dump[0] != '0'};
    fz_run run;
    ad_var y = record(t, &p, p.x0, &run);
    if (c.dump) {
        dump_prog(t, &p, &run);
        fprintf(stderr, "fuzz_ad: recording %s\n", ad_ok(y) ? "valid" : ad_tape_status(t) != AD_OK
                ? ad_tape_message(t) : "stopped by the harness");
    }
    if (ad_ok(y) && ad_tape_status(t) == AD_OK && isfinite(ad_scalar_value(t, y)))
        check_derivatives(&c, y, &run);
    ad_tape_free(t);
    return 0;
}
