/*
 * tests/gradcheck/gc_index.c — gradient, Hvp (both modes), jvp and cross
 * checks against central differences of the indexing ops (gather,
 * gather_rows, scatter_add with repeated indices, slice, embed, concat on
 * both axes, reshape), ad_blocks (each block alone, and a one-hidden-layer
 * network of the blocks), spmm with a CSR matrix built here (both
 * transposes; and two of them with different matrices on one tape),
 * select (a mask holding both values), and detach and
 * greater, whose derivatives must be exactly zero.
 */
#include "gc.h"

#define MAXN 64

/* ------------------------------------------------------ gather / scatter */

typedef struct idx_ctx {
    int r, c; /* output shape */
    int n;    /* rows for gather_rows */
    int idx[MAXN];
} idx_ctx;

static ad_var run_gather(ad_tape *t, const ad_var *x, const void *ctx)
{
    const idx_ctx *g = ctx;
    return ad_gather(t, x[0], g->idx, g->r, g->c);
}

static ad_var run_gather_rows(ad_tape *t, const ad_var *x, const void *ctx)
{
    const idx_ctx *g = ctx;
    return ad_gather_rows(t, x[0], g->idx, g->n);
}

static ad_var run_scatter(ad_tape *t, const ad_var *x, const void *ctx)
{
    const idx_ctx *g = ctx;
    return ad_scatter_add(t, x[0], g->idx, g->r, g->c);
}

/* Random indices into [0, size); with size < n some repeat for sure. */
static void fill_idx(int *idx, int n, int size, int repeat_first)
{
    for (int k = 0; k < n; k++)
        idx[k] = gc_int(size);
    if (repeat_first && n >= 2)
        idx[n - 1] = idx[0];
}

static void check_gather_scatter(int r, int c)
{
    int size = r * c;
    idx_ctx g = {1 + gc_int(5), 1 + gc_int(5), 0, {0}};
    fill_idx(g.idx, g.r * g.c, size, 1);
    gc_input in = gc_uniform(r, c, -2.0, 2.0);
    gc_run("gather", run_gather, &g, 1, &in);

    idx_ctx gr = {0, 0, 1 + gc_int(6), {0}};
    fill_idx(gr.idx, gr.n, r, 1);
    gc_run("gather_rows", run_gather_rows, &gr, 1, &in);

    /* scatter x (r×c) into an output of random shape, indices repeated */
    idx_ctx s = {1 + gc_int(4), 1 + gc_int(4), 0, {0}};
    fill_idx(s.idx, size, s.r * s.c, 1);
    gc_run("scatter_add", run_scatter, &s, 1, &in);
    /* all into one cell */
    idx_ctx s1 = {s.r, s.c, 0, {0}};
    for (int k = 0; k < size; k++)
        s1.idx[k] = s.r * s.c - 1;
    gc_run("scatter_add one cell", run_scatter, &s1, 1, &in);
}

/* --------------------------------------------------------- slice, embed */

typedef struct blk_ctx {
    int a, b, c, d; /* slice: r0, nr, c0, nc; embed: r, c, r0, c0 */
} blk_ctx;

static ad_var run_slice(ad_tape *t, const ad_var *x, const void *ctx)
{
    const blk_ctx *s = ctx;
    return ad_slice(t, x[0], s->a, s->b, s->c, s->d);
}

static ad_var run_embed(ad_tape *t, const ad_var *x, const void *ctx)
{
    const blk_ctx *s = ctx;
    return ad_embed(t, x[0], s->a, s->b, s->c, s->d);
}

static void check_blocks(int r, int c)
{
    gc_input in = gc_uniform(r, c, -2.0, 2.0);
    int nr = 1 + gc_int(r), nc = 1 + gc_int(c);
    blk_ctx s = {gc_int(r - nr + 1), nr, gc_int(c - nc + 1), nc};
    gc_run("slice", run_slice, &s, 1, &in);
    blk_ctx whole = {0, r, 0, c};
    gc_run("slice whole", run_slice, &whole, 1, &in);
    int er = r + gc_int(3), ec = c + gc_int(3);
    blk_ctx e = {er, ec, gc_int(er - r + 1), gc_int(ec - c + 1)};
    gc_run("embed", run_embed, &e, 1, &in);
}

/* ---------------------------------------------------- concat, reshape */

static ad_var run_concat(ad_tape *t, const ad_var *x, const void *ctx)
{
    return ad_concat(t, x[0], x[1], *(const int *)ctx);
}

static ad_var run_concat_self(ad_tape *t, const ad_var *x, const void *ctx)
{
    return ad_concat(t, x[0], x[0], *(const int *)ctx);
}

static ad_var run_reshape(ad_tape *t, const ad_var *x, const void *ctx)
{
    const int *rc = ctx;
    return ad_reshape(t, x[0], rc[0], rc[1]);
}

static void check_concat_reshape(int r, int c)
{
    static const int axes[2] = {0, 1};
    int other = 1 + gc_int(4);
    gc_input rows[2] = {gc_uniform(r, c, -2.0, 2.0), gc_uniform(other, c, -2.0, 2.0)};
    gc_run("concat axis 0", run_concat, &axes[0], 2, rows);
    gc_input cols[2] = {gc_uniform(r, c, -2.0, 2.0), gc_uniform(r, other, -2.0, 2.0)};
    gc_run("concat axis 1", run_concat, &axes[1], 2, cols);
    gc_run("concat(x, x) axis 0", run_concat_self, &axes[0], 1, rows);
    gc_run("concat(x, x) axis 1", run_concat_self, &axes[1], 1, cols);

    const int to[3][2] = {{c, r}, {r * c, 1}, {1, r * c}};
    for (int k = 0; k < 3; k++)
        gc_run("reshape", run_reshape, to[k], 1, rows);
}

/* ------------------------------------------------ parameter blocks of θ */

typedef struct pb_ctx {
    int n, pick; /* pick ≥ 0: output that block alone; −1: the MLP below */
    ad_block spec[4];
} pb_ctx;

/* pick ≥ 0: block `pick` of x[0]. pick = −1: x[0] = θ packs W1 (h×d),
 * b1 (h×1), w2 (1×h), b2 (1×1) and x[1] = X (d×m); the output is the
 * one-hidden-layer network w2·tanh(W1·X + b1) + b2 (1×m), nonlinear in
 * every block and in X, so Hvp and the θ–X cross term are not trivial. */
static ad_var run_param_blocks(ad_tape *t, const ad_var *x, const void *ctx)
{
    const pb_ctx *p = ctx;
    ad_var b[4];
    if (ad_blocks(t, x[0], p->n, p->spec, b) != AD_OK)
        return AD_NONE;
    if (p->pick >= 0)
        return b[p->pick];
    ad_var hid = ad_tanh(t, ad_add(t, ad_matmul(t, b[0], x[1], 0, 0), b[1]));
    return ad_add(t, ad_matmul(t, b[2], hid, 0, 0), b[3]);
}

static void check_param_blocks(void)
{
    int d = 1 + gc_int(4), h = 1 + gc_int(5), m = 1 + gc_int(6);
    pb_ctx mlp = {4, -1, {{"W1", h, d}, {"b1", h, 1}, {"w2", 1, h}, {"b2", 1, 1}}};
    int p = ad_blocks_size(4, mlp.spec);
    for (int k = 0; k < 4; k++) { /* each block alone: a linear view */
        pb_ctx one = mlp;
        one.pick = k;
        gc_input in = gc_uniform(p, 1, -2.0, 2.0);
        gc_run("blocks (one block)", run_param_blocks, &one, 1, &in);
    }
    gc_input in[2] = {gc_uniform(p, 1, -1.0, 1.0), gc_uniform(d, m, -1.0, 1.0)};
    gc_run("blocks (mlp)", run_param_blocks, &mlp, 2, in);
    in[1].konst = 1;
    gc_run("blocks (mlp, X const)", run_param_blocks, &mlp, 2, in);
}

/* ---------------------------------------------------------------- spmm */

typedef struct sp_ctx {
    ad_csr s;
    int trans;
    int64_t rowptr[MAXN + 1];
    int colind[MAXN * MAXN];
    double val[MAXN * MAXN];
} sp_ctx;

static ad_var run_spmm(ad_tape *t, const ad_var *x, const void *ctx)
{
    const sp_ctx *s = ctx;
    return ad_spmm(t, &s->s, x[0], s->trans);
}

/* A random sr×sc CSR matrix, density ~0.4, with an empty row when sr > 1. */
static void build_csr(sp_ctx *s, int sr, int sc)
{
    int64_t nnz = 0;
    s->rowptr[0] = 0;
    for (int i = 0; i < sr; i++) {
        for (int j = 0; j < sc; j++)
            if ((sr > 1 && i == sr - 1) ? 0 : t_uniform(&gc_rng, 0, 1) < 0.4) {
                s->colind[nnz] = j;
                s->val[nnz++] = t_uniform(&gc_rng, -2.0, 2.0);
            }
        s->rowptr[i + 1] = nnz;
    }
    s->s = (ad_csr){sr, sc, s->rowptr, s->colind, s->val, 0};
}

/* Compares spmm's value with a dense product. */
static void check_spmm_value(const sp_ctx *s, int n)
{
    int sr = s->s.rows, sc = s->s.cols, k = s->trans ? sr : sc, m = s->trans ? sc : sr;
    double D[64] = {0}, B[64], e = 0;
    for (int i = 0; i < sr; i++)
        for (int64_t p = s->rowptr[i]; p < s->rowptr[i + 1]; p++)
            D[i * sc + s->colind[p]] = s->val[p];
    t_fill(&gc_rng, B, (size_t)k * n, -1.0, 1.0);
    ad_tape *t = ad_tape_new(NULL);
    ad_var y = ad_spmm(t, &s->s, ad_const(t, k, n, B), s->trans);
    int ok = ad_ok(y) && ad_rows(t, y) == m && ad_cols(t, y) == n;
    EXPECT(ok, "spmm value [S %dx%d trans %d, B %dx%d]: failed or bad shape", sr, sc, s->trans, k,
           n);
    for (int i = 0; ok && i < m; i++)
        for (int j = 0; j < n; j++) {
            double v = 0;
            for (int q = 0; q < k; q++)
                v += (s->trans ? D[q * sc + i] : D[i * sc + q]) * B[q * n + j];
            e = fmax(e, fabs(v - ad_value(t, y)[i * n + j]));
        }
    EXPECT(e <= 1e-13, "spmm value [S %dx%d trans %d, B %dx%d]: max error %.3g vs dense", sr, sc,
           s->trans, k, n, e);
    ad_tape_free(t);
}

static void check_spmm(int sr, int sc, int n)
{
    static sp_ctx s; /* large; one at a time */
    build_csr(&s, sr, sc);
    for (int tr = 0; tr < 2; tr++) {
        s.trans = tr;
        gc_input in = gc_uniform(tr ? sr : sc, n, -2.0, 2.0);
        char name[48];
        snprintf(name, sizeof name, "spmm S %dx%d%s", sr, sc, tr ? " trans" : "");
        gc_run(name, run_spmm, &s, 1, &in);
        check_spmm_value(&s, n);
    }
}

/* Two spmm ops with different matrices on one tape, y = (S1·x) ⊙ (S2ᵀ·x):
 * the tape keeps a pointer to each CSR's arrays (hypertape/ad.h), and each
 * node's backward sweep must use its own matrix. */
static ad_var run_spmm_pair(ad_tape *t, const ad_var *x, const void *ctx)
{
    const sp_ctx *s = ctx;
    return ad_mul(t, ad_spmm(t, &s[0].s, x[0], 0), ad_spmm(t, &s[1].s, x[0], 1));
}

static void check_spmm_pair(int m, int k, int n)
{
    static sp_ctx s[2]; /* large; one pair at a time */
    build_csr(&s[0], m, k);
    build_csr(&s[1], k, m);
    gc_input in = gc_uniform(k, n, -2.0, 2.0);
    char name[48];
    snprintf(name, sizeof name, "spmm pair S1 %dx%d, S2 %dx%d trans", m, k, k, m);
    gc_run(name, run_spmm_pair, s, 1, &in);
}

/* --------------------------------------------------------------- select */

static ad_var run_select(ad_tape *t, const ad_var *x, const void *ctx)
{
    return ad_select(t, x[0], x[1], x[2]);
}

/* select(mask, x, x²): both branches from one input. */
static ad_var run_select_self(ad_tape *t, const ad_var *x, const void *ctx)
{
    return ad_select(t, x[0], x[1], ad_square(t, x[1]));
}

static void check_select(int r, int c)
{
    double mask[MAXN];
    int n = r * c;
    for (int k = 0; k < n; k++)
        mask[k] = gc_int(2) ? 1.0 : 0.0;
    if (n >= 2) { /* both values present */
        mask[0] = 1.0;
        mask[n - 1] = 0.0;
    }
    gc_input in[3] = {gc_fixed(r, c, mask), gc_uniform(r, c, -2.0, 2.0),
                      gc_uniform(r, c, -2.0, 2.0)};
    gc_run("select", run_select, NULL, 3, in);
    gc_input in2[2] = {in[0], in[1]};
    gc_run("select(m, x, x^2)", run_select_self, NULL, 2, in2);
}

/* --------------------------------------------------------------- detach */

/* y = x ⊙ detach(x) + detach(x)²: it must differentiate like x ⊙ x0 + x0²
 * with x0 the constant value of x. */
static ad_var run_detach_mix(ad_tape *t, const ad_var *x, const void *ctx)
{
    ad_var d = ad_detach(t, x[0]);
    return ad_add(t, ad_mul(t, x[0], d), ad_square(t, d));
}

static int all_zero(const double *x, size_t n)
{
    for (size_t k = 0; k < n; k++)
        if (x[k] != 0.0)
            return 0;
    return 1;
}

/* Through detach(x) alone the gradient, both Hvps and the jvp must be
 * exactly zero; x ⊙ detach(x) must differentiate like x ⊙ const (closed
 * forms). */
static void check_detach(int r, int c)
{
    size_t n = (size_t)r * c;
    double x[MAXN], v[MAXN], out[MAXN], w[MAXN];
    t_fill(&gc_rng, x, n, -2.0, 2.0);
    t_fill(&gc_rng, w, n, -1.0, 1.0);
    gc_unit(v, n);
    ad_tape *t = ad_tape_new(NULL);
    ad_var xv = ad_leaf(t, r, c, x);
    ad_var y = ad_detach(t, xv);
    ad_var s = ad_add(t, ad_dot(t, ad_const(t, r, c, w), y), ad_sum(t, ad_square(t, y)));
    double *o = out;
    for (size_t k = 0; k < n; k++)
        out[k] = NAN;
    EXPECT(ad_grad_values(t, s, 1, &xv, &o) == AD_OK && all_zero(out, n),
           "detach [%dx%d] grad: not exactly zero", r, c);
    for (int mode = 0; mode < 2; mode++) {
        for (size_t k = 0; k < n; k++)
            out[k] = NAN;
        EXPECT(ad_hvp_cross(t, s, xv, AD_NONE, v, out, NULL, (ad_hvp_mode)mode) == AD_OK &&
                   all_zero(out, n),
               "detach [%dx%d] hvp-%s: not exactly zero", r, c, mode ? "ror" : "for");
    }
    for (size_t k = 0; k < n; k++)
        out[k] = NAN;
    const double *tin = v;
    EXPECT(ad_jvp(t, 1, &xv, &tin, 1, &y, &o) == AD_OK && all_zero(out, n),
           "detach [%dx%d] jvp: not exactly zero", r, c);
    ad_var gv;
    EXPECT(ad_grad(t, s, 1, &xv, &gv, AD_CREATE_GRAPH) == AD_OK && all_zero(ad_value(t, gv), n),
           "detach [%dx%d] grad with AD_CREATE_GRAPH: not exactly zero", r, c);
    ad_tape_free(t);

    /* y = x ⊙ detach(x) + detach(x)² and s = Σ w⊙y²: with x0 the value of
     * x, the closed forms are ∇s = 2 w⊙y⊙x0 and H v = 2 w⊙x0²⊙v */
    t = ad_tape_new(NULL);
    double g[MAXN], hv[MAXN], gt[MAXN], ht[MAXN];
    for (size_t k = 0; k < n; k++) {
        gt[k] = 2 * w[k] * (x[k] * x[k] + x[k] * x[k]) * x[k];
        ht[k] = 2 * w[k] * x[k] * x[k] * v[k];
    }
    xv = ad_leaf(t, r, c, x);
    y = run_detach_mix(t, &xv, NULL);
    s = ad_dot(t, ad_const(t, r, c, w), ad_square(t, y));
    o = g;
    EXPECT(ad_grad_values(t, s, 1, &xv, &o) == AD_OK, "detach mix: grad failed");
    gc_expect("x*detach(x)+detach(x)^2", "", "grad vs closed form", gc_relerr(g, gt, n));
    for (int mode = 0; mode < 2; mode++) {
        EXPECT(ad_hvp_cross(t, s, xv, AD_NONE, v, hv, NULL, (ad_hvp_mode)mode) == AD_OK,
               "detach mix: hvp failed");
        gc_expect("x*detach(x)+detach(x)^2", "", mode ? "hvp-ror vs closed form" : "hvp-for vs closed form",
                  gc_relerr(hv, ht, n));
    }
    ad_tape_free(t);
}

/* greater is not differentiable: its value is the 0/1 mask of a > b (with
 * broadcasting) and every derivative through it is exactly zero. */
static void check_greater(int r, int c)
{
    size_t n = (size_t)r * c;
    double x[MAXN], b[MAXN], v[MAXN], out[MAXN];
    t_fill(&gc_rng, x, n, -2.0, 2.0);
    t_fill(&gc_rng, b, (size_t)c, -2.0, 2.0);
    gc_unit(v, n);
    ad_tape *t = ad_tape_new(NULL);
    ad_var xv = ad_leaf(t, r, c, x), bv = ad_leaf(t, 1, c, b);
    ad_var y = ad_greater(t, xv, bv);
    int vok = ad_ok(y) && ad_rows(t, y) == r && ad_cols(t, y) == c;
    for (size_t k = 0; vok && k < n; k++)
        vok = ad_value(t, y)[k] == (x[k] > b[k % (size_t)c] ? 1.0 : 0.0);
    EXPECT(vok, "greater [%dx%d, 1x%d]: value is not the mask of x > b", r, c, c);
    ad_var s = ad_add(t, ad_sum(t, ad_mul(t, y, xv)), ad_sum(t, ad_square(t, y)));
    /* s = Σ mask⊙x + Σ mask: ∇_x s = mask exactly, ∇_b s = 0, H = 0 */
    double *o = out;
    EXPECT(ad_grad_values(t, s, 1, &bv, &o) == AD_OK && all_zero(out, (size_t)c),
           "greater [%dx%d, 1x%d]: gradient wrt b is not exactly zero", r, c, c);
    EXPECT(ad_grad_values(t, s, 1, &xv, &o) == AD_OK && !memcmp(out, ad_value(t, y), n * sizeof(double)),
           "greater [%dx%d, 1x%d]: gradient of sum(mask*x) is not the mask", r, c, c);
    for (int mode = 0; mode < 2; mode++) {
        for (size_t k = 0; k < n; k++)
            out[k] = NAN;
        EXPECT(ad_hvp_cross(t, s, xv, AD_NONE, v, out, NULL, (ad_hvp_mode)mode) == AD_OK &&
                   all_zero(out, n),
               "greater [%dx%d, 1x%d]: hvp-%s is not exactly zero", r, c, c, mode ? "ror" : "for");
    }
    const double *tin = v;
    EXPECT(ad_jvp(t, 1, &xv, &tin, 1, &y, &o) == AD_OK && all_zero(out, n),
           "greater [%dx%d, 1x%d]: jvp is not exactly zero", r, c, c);
    ad_tape_free(t);
}

int main(void)
{
    gc_rng.s = 0x3C6EF372FE94F82BULL;
    int shapes[8][2] = {{1, 1}, {3, 5}, {5, 3}, {1, 6}, {6, 1}, {4, 4}, {0, 0}, {0, 0}};
    for (int k = 6; k < 8; k++) {
        shapes[k][0] = 1 + gc_int(6);
        shapes[k][1] = 1 + gc_int(6);
    }
    for (int s = 0; s < 8; s++) {
        int r = shapes[s][0], c = shapes[s][1];
        check_gather_scatter(r, c);
        check_blocks(r, c);
        check_concat_reshape(r, c);
        check_select(r, c);
        check_detach(r, c);
        check_greater(r, c);
        check_spmm(r, c, 1 + gc_int(4));
    }
    check_spmm(4, 6, 1);
    check_spmm(6, 4, 3);
    check_spmm(1, 1, 1);
    check_spmm_pair(4, 5, 2);
    check_spmm_pair(2, 2, 1);
    for (int k = 0; k < 4; k++)
        check_param_blocks();
    return gc_done("gc_index");
}
