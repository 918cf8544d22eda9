/*
 * tests/gradcheck/gc_linalg.c — gradient, Hvp (both modes), jvp and cross
 * checks against central differences of the reductions (sum, mean,
 * sum_rows, sum_cols, broadcast), linear algebra (dot, matmul in all four
 * transpose combinations including the dgemv shapes, matvec, transpose)
 * and the softmax family (logsumexp_rows, softmax_xent). The products'
 * values are also compared with naive loops.
 */
#include "gc.h"

static const int base_shapes[][2] = {{1, 1}, {3, 5}, {5, 3}, {1, 6}, {6, 1}, {4, 4}};
#define NBASE ((int)(sizeof base_shapes / sizeof base_shapes[0]))

/* ---------------------------------------------------------- reductions */

typedef ad_var (*unop)(ad_tape *, ad_var);

static ad_var run_unop(ad_tape *t, const ad_var *x, const void *ctx)
{
    return (*(const unop *)ctx)(t, x[0]);
}

static ad_var run_broadcast(ad_tape *t, const ad_var *x, const void *ctx)
{
    const int *rc = ctx;
    return ad_broadcast(t, x[0], rc[0], rc[1]);
}

static void check_reductions(int r, int c)
{
    static const struct {
        const char *name;
        unop f;
    } reds[] = {{"sum", ad_sum}, {"mean", ad_mean}, {"sum_rows", ad_sum_rows},
                {"sum_cols", ad_sum_cols}, {"transpose", ad_transpose},
                {"logsumexp_rows", ad_logsumexp_rows}};
    for (size_t k = 0; k < sizeof reds / sizeof reds[0]; k++) {
        gc_input in = gc_uniform(r, c, -2.0, 2.0);
        gc_run(reds[k].name, run_unop, &reds[k].f, 1, &in);
    }
    unop lse = ad_logsumexp_rows;
    gc_input wide = gc_uniform(r, c, -20.0, 20.0);
    gc_run("logsumexp_rows wide", run_unop, &lse, 1, &wide);

    int rc[2] = {r, c};
    const int from[4][2] = {{1, 1}, {1, c}, {r, 1}, {r, c}};
    for (int k = 0; k < 4; k++) {
        gc_input in = gc_uniform(from[k][0], from[k][1], -2.0, 2.0);
        gc_run("broadcast", run_broadcast, rc, 1, &in);
    }
}

/* ------------------------------------------------------ softmax_xent */

static ad_var run_xent(ad_tape *t, const ad_var *x, const void *ctx)
{
    return ad_softmax_xent(t, x[0], ctx);
}

static void check_xent(int r, int c)
{
    int labels[16];
    for (int i = 0; i < r; i++)
        labels[i] = gc_int(c);
    gc_input in = gc_uniform(r, c, -3.0, 3.0);
    gc_run("softmax_xent", run_xent, labels, 1, &in);
}

/* -------------------------------------------------------- dot, matmul */

static ad_var run_dot(ad_tape *t, const ad_var *x, const void *ctx) { return ad_dot(t, x[0], x[1]); }
static ad_var run_dot_self(ad_tape *t, const ad_var *x, const void *ctx)
{
    return ad_dot(t, x[0], x[0]);
}

typedef struct mm_ctx {
    int ta, tb, self; /* self: B is the same leaf as A */
} mm_ctx;

static ad_var run_matmul(ad_tape *t, const ad_var *x, const void *ctx)
{
    const mm_ctx *m = ctx;
    return ad_matmul(t, x[0], m->self ? x[0] : x[1], m->ta, m->tb);
}

static ad_var run_matvec(ad_tape *t, const ad_var *x, const void *ctx)
{
    return ad_matvec(t, x[0], x[1], *(const int *)ctx);
}

/* op(X)[i][j] for X stored rows×cols. */
static double opel(const double *x, int cols, int tr, int i, int j)
{
    return tr ? x[(size_t)j * cols + i] : x[(size_t)i * cols + j];
}

/* Compares ad_matmul's value with a naive product. */
static void check_matmul_value(int m, int k, int n, int ta, int tb)
{
    int ar = ta ? k : m, ac = ta ? m : k, br = tb ? n : k, bc = tb ? k : n;
    double A[64], B[64], C[64], e = 0, nn = 0;
    t_fill(&gc_rng, A, (size_t)ar * ac, -1.0, 1.0);
    t_fill(&gc_rng, B, (size_t)br * bc, -1.0, 1.0);
    ad_tape *t = ad_tape_new(NULL);
    ad_var y = ad_matmul(t, ad_const(t, ar, ac, A), ad_const(t, br, bc, B), ta, tb);
    const double *yv = ad_value(t, y);
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            double s = 0;
            for (int q = 0; q < k; q++)
                s += opel(A, ac, ta, i, q) * opel(B, bc, tb, q, j);
            C[i * n + j] = s;
        }
    EXPECT(ad_ok(y) && ad_rows(t, y) == m && ad_cols(t, y) == n,
           "matmul value [%dx%d, %dx%d, ta %d tb %d]: bad result shape", ar, ac, br, bc, ta, tb);
    if (ad_ok(y) && ad_rows(t, y) == m && ad_cols(t, y) == n) {
        for (int q = 0; q < m * n; q++) {
            e = fmax(e, fabs(yv[q] - C[q]));
            nn = fmax(nn, fabs(C[q]));
        }
        EXPECT(e <= 1e-13 * fmax(nn, 1.0),
               "matmul value [%dx%d, %dx%d, ta %d tb %d]: max error %.3g vs naive loop", ar, ac,
               br, bc, ta, tb, e);
    }
    ad_tape_free(t);
}

static void check_matmul(int m, int k, int n)
{
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            mm_ctx mc = {ta, tb, 0};
            gc_input in[2] = {ta ? gc_uniform(k, m, -1.5, 1.5) : gc_uniform(m, k, -1.5, 1.5),
                              tb ? gc_uniform(n, k, -1.5, 1.5) : gc_uniform(k, n, -1.5, 1.5)};
            char name[48];
            snprintf(name, sizeof name, "matmul ta=%d tb=%d (m,k,n)=(%d,%d,%d)", ta, tb, m, k, n);
            gc_run(name, run_matmul, &mc, 2, in);
            check_matmul_value(m, k, n, ta, tb);
        }
}

/* A·Aᵀ, Aᵀ·A (and the same-transpose products when A is square). */
static void check_matmul_self(int r, int c)
{
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            if (ta == tb && r != c)
                continue;
            mm_ctx mc = {ta, tb, 1};
            gc_input in = gc_uniform(r, c, -1.5, 1.5);
            char name[48];
            snprintf(name, sizeof name, "matmul(A, A) ta=%d tb=%d", ta, tb);
            gc_run(name, run_matmul, &mc, 1, &in);
        }
}

static void check_matvec(int r, int c)
{
    for (int tr = 0; tr < 2; tr++) {
        gc_input in[2] = {gc_uniform(r, c, -1.5, 1.5), gc_uniform(tr ? r : c, 1, -1.5, 1.5)};
        gc_run(tr ? "matvec trans" : "matvec", run_matvec, &tr, 2, in);
    }
}

/* ------------------------------------------- matmul at blocked sizes */
/* Products with few columns and many rows take ops_linalg.c's blocked
 * path (gemm_skinny), which the small shapes above never reach. Coordinate
 * differences are too dear at these sizes, so the value, the tangent (both
 * inputs: the beta = 1 accumulation), the gradient and the Hvp of
 * s = ½‖op(A)·op(B)‖² are compared with closed forms from naive loops:
 *   jvp:  op(U_A)·op(B) + op(A)·op(U_B);
 *   grad: ∂s/∂op(A) = C·op(B)ᵀ, ∂s/∂op(B) = op(A)ᵀ·C;
 *   hvp in A along U_A: (op(U_A)·op(B))·op(B)ᵀ (transposed back when ta). */

typedef struct big_mm {
    int m, k, n, ta, tb;
    double *A, *B, *UA, *UB; /* as stored */
} big_mm;

/* C (m×n) = op(X)·op(Y), X stored for op rows m × k, Y for k × n. */
static void naive_mm(int m, int k, int n, const double *X, int tx, const double *Y, int ty,
                     double *C)
{
    int xc = tx ? m : k, yc = ty ? k : n;
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            double s = 0;
            for (int q = 0; q < k; q++)
                s += opel(X, xc, tx, i, q) * opel(Y, yc, ty, q, j);
            C[(size_t)i * n + j] = s;
        }
}

/* Relative max-norm distance of a and b (n entries). */
static double rel_err(const double *a, const double *b, size_t n)
{
    double e = 0, s = 0;
    for (size_t q = 0; q < n; q++) {
        e = fmax(e, fabs(a[q] - b[q]));
        s = fmax(s, fabs(b[q]));
    }
    return e / fmax(s, 1e-300);
}

/* out (stored like X: rows×cols when !tx, else cols×rows) = M (rows×cols) or Mᵀ. */
static void store_like(const double *M, int rows, int cols, int tx, double *out)
{
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < cols; j++)
            out[tx ? (size_t)j * rows + i : (size_t)i * cols + j] = M[(size_t)i * cols + j];
}

static ad_var big_record(ad_tape *t, const big_mm *b, ad_var *A, ad_var *B)
{
    *A = ad_leaf(t, b->ta ? b->k : b->m, b->ta ? b->m : b->k, b->A);
    *B = ad_leaf(t, b->tb ? b->n : b->k, b->tb ? b->k : b->n, b->B);
    return ad_matmul(t, *A, *B, b->ta, b->tb); /* m×n */
}

static void check_matmul_big(int m, int k, int n, int ta, int tb)
{
    size_t mk = (size_t)m * k, kn = (size_t)k * n, mn = (size_t)m * n;
    double *buf = malloc((2 * mk + 2 * kn + 4 * mn + 3 * mk + kn) * sizeof(double));
    big_mm b = {m, k, n, ta, tb, buf, buf + mk, buf + mk + kn, buf + 2 * mk + kn};
    double *C = b.UB + kn, *ref = C + mn, *tan = ref + mn, *tmp = tan + mn;
    double *gA = tmp + mn, *rA = gA + mk, *hA = rA + mk, *gB = hA + mk;
    t_fill(&gc_rng, b.A, mk, -1.0, 1.0);
    t_fill(&gc_rng, b.B, kn, -1.0, 1.0);
    t_fill(&gc_rng, b.UA, mk, -1.0, 1.0);
    t_fill(&gc_rng, b.UB, kn, -1.0, 1.0);
    char what[80];
    snprintf(what, sizeof what, "matmul (m,k,n)=(%d,%d,%d) ta=%d tb=%d", m, k, n, ta, tb);
    ad_tape *t = ad_tape_new(NULL);
    ad_var A, B, Y = big_record(t, &b, &A, &B);
    naive_mm(m, k, n, b.A, ta, b.B, tb, C);
    EXPECT(ad_ok(Y) && rel_err(ad_value(t, Y), C, mn) < 1e-13, "%s: value vs naive loop", what);

    /* jvp with tangents on both inputs */
    ad_var in[2] = {A, B};
    const double *tin[2] = {b.UA, b.UB};
    double *tout[1] = {tan};
    naive_mm(m, k, n, b.UA, ta, b.B, tb, ref);
    naive_mm(m, k, n, b.A, ta, b.UB, tb, tmp);
    for (size_t q = 0; q < mn; q++)
        ref[q] += tmp[q];
    EXPECT(ad_jvp(t, 2, in, tin, 1, &Y, tout) == AD_OK && rel_err(tan, ref, mn) < 1e-13,
           "%s: jvp vs closed form", what);

    /* gradient and Hvp of s = ½‖C‖² */
    ad_var s = ad_scale(t, ad_dot(t, Y, Y), 0.5);
    double *g[2] = {gA, gB};
    EXPECT(ad_grad_values(t, s, 2, in, g) == AD_OK, "%s: grad failed: %s", what, ad_tape_message(t));
    double *opBt = malloc(kn * sizeof(double)), *M = malloc(mk * sizeof(double));
    /* ∂s/∂op(A) = C·op(B)ᵀ (m×k): op(B)ᵀ is op(B) stored transposed */
    store_like(C, m, n, 0, tmp);
    naive_mm(m, n, k, tmp, 0, b.B, !tb, M);
    store_like(M, m, k, ta, rA);
    EXPECT(rel_err(gA, rA, mk) < 1e-12, "%s: grad A vs closed form", what);
    /* ∂s/∂op(B) = op(A)ᵀ·C (k×n) */
    naive_mm(k, m, n, b.A, !ta, C, 0, tmp);
    store_like(tmp, k, n, tb, opBt);
    EXPECT(rel_err(gB, opBt, kn) < 1e-12, "%s: grad B vs closed form", what);
    EXPECT(ad_hvp_cross(t, s, A, AD_NONE, b.UA, hA, NULL, AD_HVP_FOR) == AD_OK,
           "%s: hvp failed: %s", what, ad_tape_message(t));
    naive_mm(m, k, n, b.UA, ta, b.B, tb, tmp); /* op(U_A)·op(B), m×n */
    naive_mm(m, n, k, tmp, 0, b.B, !tb, M);    /* ·op(B)ᵀ */
    store_like(M, m, k, ta, rA);
    EXPECT(rel_err(hA, rA, mk) < 1e-12, "%s: hvp vs closed form", what);
    ad_tape_free(t);
    free(M);
    free(opBt);
    free(buf);
}

int main(void)
{
    gc_rng.s = 0xBB67AE8584CAA73BULL;
    int shapes[NBASE + 2][2];
    memcpy(shapes, base_shapes, sizeof base_shapes);
    for (int k = NBASE; k < NBASE + 2; k++) {
        shapes[k][0] = 1 + gc_int(6);
        shapes[k][1] = 1 + gc_int(6);
    }
    for (int s = 0; s < NBASE + 2; s++) {
        int r = shapes[s][0], c = shapes[s][1];
        check_reductions(r, c);
        check_xent(r, c);
        gc_input in[2] = {gc_uniform(r, c, -2.0, 2.0), gc_uniform(r, c, -2.0, 2.0)};
        gc_run("dot", run_dot, NULL, 2, in);
        gc_run("dot(x, x)", run_dot_self, NULL, 1, in);
        check_matvec(r, c);
        check_matmul_self(r, c);
    }
    /* (m, k, n): general, the dgemv paths (n = 1: op(B) is k×1; m = 1:
     * op(A) is 1×k), inner and outer products, 1×1 */
    static const int mkn[][3] = {{3, 4, 5}, {5, 3, 1}, {1, 4, 3}, {1, 5, 1}, {4, 1, 3},
                                 {1, 1, 1}, {2, 3, 2}, {6, 2, 1}, {1, 3, 4}, {5, 5, 5}};
    for (size_t k = 0; k < sizeof mkn / sizeof mkn[0]; k++)
        check_matmul(mkn[k][0], mkn[k][1], mkn[k][2]);
    /* blocked sizes: one block, several blocks with a ragged last one, n = 2 */
    static const int big[][3] = {{300, 1000, 10}, {513, 600, 16}, {2100, 130, 2}, {600, 500, 1}};
    for (size_t q = 0; q < sizeof big / sizeof big[0]; q++)
        for (int ta = 0; ta < 2; ta++)
            for (int tb = 0; tb < 2; tb++)
                check_matmul_big(big[q][0], big[q][1], big[q][2], ta, tb);
    return gc_done("gc_linalg");
}
