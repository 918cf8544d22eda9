/*
 * ad/ops_linalg.c — dot (r×c, r×c → 1×1), matmul (op(A) m×k, op(B) k×n →
 * m×n) and transpose (r×c → c×r), on OpenBLAS.
 */
#include "internal.h"

#include <cblas.h>

/* ---------------------------------------------------------------- dot */

ad_var ad_dot(ad_tape *t, ad_var av, ad_var bv)
{
    const ad_node *a = ad__arg(t, "dot", av), *b = ad__arg(t, "dot", bv);
    if (!a || !b)
        return AD_NONE;
    if (a->rows != b->rows || a->cols != b->cols)
        return ad__fail(t, AD_ESHAPE, "dot: shapes %dx%d and %dx%d differ", a->rows, a->cols,
                        b->rows, b->cols);
    int n = a->rows * a->cols;
    const double *x = a->val, *y = b->val;
    int32_t par[2] = {av.id, bv.id};
    int32_t i = ad__push(t, AD_OP_DOT, 1, 1, 2, par);
    if (i < 0)
        return AD_NONE;
    ad__node(t, i)->val[0] = cblas_ddot(n, x, 1, y, 1);
    return ad__done(t, i);
}

static void jvp_dot(const ad_tape *t, const ad_node *nd, const double *const tin[3],
                    double *tout)
{
    const ad_node *a = ad__node(t, nd->par[0]), *b = ad__node(t, nd->par[1]);
    int n = a->rows * a->cols;
    tout[0] = (tin[0] ? cblas_ddot(n, tin[0], 1, b->val, 1) : 0.0) +
              (tin[1] ? cblas_ddot(n, a->val, 1, tin[1], 1) : 0.0);
}

static void bwd_dot(ad_tape *t, const ad_node *nd, ad_var y, ad_var g, const int need[3],
                    ad_var out[3])
{
    if (need[0])
        out[0] = ad__live(t, g, ad_mul(t, g, ad__var(nd->par[1])));
    if (need[1])
        out[1] = ad__live(t, g, ad_mul(t, g, ad__var(nd->par[0])));
}

/* ------------------------------------------------------------- matmul */

/* Logical dims of op(X) for a stored rows×cols matrix. */
static int op_rows(const ad_node *x, int tr) { return tr ? x->cols : x->rows; }
static int op_cols(const ad_node *x, int tr) { return tr ? x->rows : x->cols; }

/* Skinny products: C (m×n) with few columns (n ≤ SKINNY_N), many rows and
 * a long inner dimension, e.g. the logits X·W (20000×784 · 784×10) and the
 * gradient Xᵀ·R (784×20000 · 20000×10). OpenBLAS evaluates a row-major C
 * as the column-major Cᵀ = op(B)ᵀ·op(A)ᵀ, whose kernel dimension M is then
 * n; with n small, packing the large operand dominates and the call runs
 * 1.6–2.5× slower than the same product with M = m (measured on OpenBLAS
 * 0.3.21, 2 threads). So C is computed in row blocks of SKINNY_BUF / n rows,
 * each as a column-major block (M = block rows) in a stack buffer, and
 * transposed into place. Below the size thresholds the plain call is faster. */
enum { SKINNY_N = 16, SKINNY_BUF = 4096 };

static int is_skinny(int m, int n, int k)
{
    return n >= 2 && n <= SKINNY_N && m >= 256 && k >= 64 && (size_t)m * (size_t)k >= (1u << 18);
}

static void gemm_skinny(int ta, int tb, int m, int n, int k, const double *A, int ac,
                        const double *B, int bc, double beta, double *C)
{
    double T[SKINNY_BUF]; /* block rows × n, column-major */
    int rows = SKINNY_BUF / n;
    for (int i = 0; i < m; i += rows) {
        int b = m - i < rows ? m - i : rows;
        /* Row-major op(A) rows i..i+b−1 seen column-major: A stored k×m
         * (ta) is op(A) itself; A stored m×k is op(A)ᵀ. Likewise for B. */
        const double *Ai = ta ? A + i : A + (size_t)i * ac;
        cblas_dgemm(CblasColMajor, ta ? CblasNoTrans : CblasTrans, tb ? CblasNoTrans : CblasTrans,
                    b, n, k, 1.0, Ai, ac, B, bc, 0.0, T, b);
        double *Ci = C + (size_t)i * n;
        for (int r = 0; r < b; r++)
            for (int j = 0; j < n; j++)
                Ci[(size_t)r * n + j] = (beta != 0.0 ? beta * Ci[(size_t)r * n + j] : 0.0) +
                                        T[(size_t)j * b + r];
    }
}

/* C (m×n) = beta·C + op(A)·op(B), A stored ar×ac, B stored br×bc (ad.h).
 * Vectors go to dgemv, skinny products to gemm_skinny, the rest to dgemm. */
void ad_gemm(int ta, int tb, int m, int n, int k, const double *A, int ac, const double *B,
             int bc, double beta, double *C)
{
    if (is_skinny(m, n, k)) {
        gemm_skinny(ta, tb, m, n, k, A, ac, B, bc, beta, C);
    } else if (n == 1) { /* C = op(A)·b with b a vector (stored k×1 or 1×k) */
        cblas_dgemv(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, ta ? k : m, ta ? m : k, 1.0,
                    A, ac, B, 1, beta, C, 1);
    } else if (m == 1) { /* Cᵀ = op(B)ᵀ·aᵀ */
        cblas_dgemv(CblasRowMajor, tb ? CblasNoTrans : CblasTrans, tb ? n : k, tb ? k : n, 1.0,
                    B, bc, A, 1, beta, C, 1);
    } else {
        cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                    m, n, k, 1.0, A, ac, B, bc, beta, C, n);
    }
}

/* Value of a matmul node from its parents' values: the eval kernel. */
static void eval_matmul(const ad_tape *t, ad_node *y)
{
    const ad_node *a = ad__node(t, y->par[0]), *b = ad__node(t, y->par[1]);
    int ta = y->iprm[0], tb = y->iprm[1];
    ad_gemm(ta, tb, y->rows, y->cols, op_cols(a, ta), a->val, a->cols, b->val, b->cols, 0.0,
            y->val);
}

ad_var ad_matmul(ad_tape *t, ad_var av, ad_var bv, int ta, int tb)
{
    const ad_node *a = ad__arg_lazy(t, "matmul", av), *b = ad__arg_lazy(t, "matmul", bv);
    if (!a || !b)
        return AD_NONE;
    ta = ta != 0;
    tb = tb != 0;
    int m = op_rows(a, ta), k = op_cols(a, ta), n = op_cols(b, tb);
    if (op_rows(b, tb) != k)
        return ad__fail(t, AD_ESHAPE, "matmul: op(A) is %dx%d (A %dx%d%s) but op(B) is %dx%d (B %dx%d%s)",
                        m, k, a->rows, a->cols, ta ? ", transposed" : "", op_rows(b, tb), n,
                        b->rows, b->cols, tb ? ", transposed" : "");
    int32_t par[2] = {av.id, bv.id};
    int32_t i = ad__push(t, AD_OP_MATMUL, m, n, 2, par);
    if (i < 0)
        return AD_NONE;
    ad_node *y = ad__node(t, i);
    y->iprm[0] = ta;
    y->iprm[1] = tb;
    if (ad__defer(t, i))
        return ad__var(i);
    eval_matmul(t, y);
    return ad__done(t, i);
}

ad_var ad_matvec(ad_tape *t, ad_var a, ad_var x, int trans)
{
    const ad_node *xn = ad__arg_raw(t, "matvec", x), *an = ad__arg_raw(t, "matvec", a);
    if (!xn || !an)
        return AD_NONE;
    if (xn->cols != 1)
        return ad__fail(t, AD_ESHAPE, "matvec: x must be a column vector, got %dx%d (A %dx%d)",
                        xn->rows, xn->cols, an->rows, an->cols);
    return ad_matmul(t, a, x, trans, 0);
}

static void jvp_matmul(const ad_tape *t, const ad_node *nd, const double *const tin[3],
                       double *tout)
{
    const ad_node *a = ad__node(t, nd->par[0]), *b = ad__node(t, nd->par[1]);
    int ta = nd->iprm[0], tb = nd->iprm[1];
    int m = nd->rows, n = nd->cols, k = op_cols(a, ta);
    double beta = 0.0;
    if (tin[0]) { /* op(Ȧ)·op(B) */
        ad_gemm(ta, tb, m, n, k, tin[0], a->cols, b->val, b->cols, beta, tout);
        beta = 1.0;
    }
    if (tin[1]) /* + op(A)·op(Ḃ) */
        ad_gemm(ta, tb, m, n, k, a->val, a->cols, tin[1], b->cols, beta, tout);
}

static void bwd_matmul(ad_tape *t, const ad_node *nd, ad_var y, ad_var g, const int need[3],
                       ad_var out[3])
{
    ad_var a = ad__var(nd->par[0]), b = ad__var(nd->par[1]);
    int ta = nd->iprm[0], tb = nd->iprm[1];
    if (need[0]) /* Ā = ḡ·op(B)ᵀ, or its transpose when A was transposed */
        out[0] = ta ? ad_matmul(t, b, g, tb, 1) : ad_matmul(t, g, b, 0, !tb);
    if (need[1]) /* B̄ = op(A)ᵀ·ḡ, or its transpose when B was transposed */
        out[1] = tb ? ad_matmul(t, g, a, 1, ta) : ad_matmul(t, a, g, !ta, 0);
}

/* ---------------------------------------------------------- transpose */

static void transpose_kernel(const double *x, int r, int c, double *out)
{
    for (int i = 0; i < r; i++)
        for (int j = 0; j < c; j++)
            out[(size_t)j * r + i] = x[(size_t)i * c + j];
}

ad_var ad_transpose(ad_tape *t, ad_var xv)
{
    const ad_node *x = ad__arg(t, "transpose", xv);
    if (!x)
        return AD_NONE;
    int r = x->rows, c = x->cols;
    const double *xs = x->val;
    if (r == 1 || c == 1) /* same memory layout: a view */
        return ad_reshape(t, xv, c, r);
    int32_t i = ad__push(t, AD_OP_TRANSPOSE, c, r, 1, &xv.id);
    if (i < 0)
        return AD_NONE;
    transpose_kernel(xs, r, c, ad__node(t, i)->val);
    return ad__done(t, i);
}

static void jvp_transpose(const ad_tape *t, const ad_node *nd, const double *const tin[3],
                          double *tout)
{
    transpose_kernel(tin[0], nd->cols, nd->rows, tout);
}

static void bwd_transpose(ad_tape *t, const ad_node *nd, ad_var y, ad_var g, const int need[3],
                          ad_var out[3])
{
    if (need[0])
        out[0] = ad_transpose(t, g);
}

/* ---- numeric adjoints (see ad_vjp_fn) ---- */

/* ā += ḡ·b, b̄ += ḡ·a (ḡ 1×1; nothing where ḡ = 0, as ad__live). */
static void vjp_dot(ad_tape *t, const ad_node *nd, const double *g, double *const acc[3])
{
    const ad_node *a = ad__node(t, nd->par[0]), *b = ad__node(t, nd->par[1]);
    double gv = g[0];
    if (gv == 0.0)
        return;
    size_t n = ad__size(a);
    for (int k = 0; k < 2; k++) {
        if (!acc[k])
            continue;
        const double *o = k ? a->val : b->val;
        double *dst = acc[k];
        for (size_t q = 0; q < n; q++)
            dst[q] += gv * o[q];
    }
}

/* The products of bwd_matmul, accumulated by ad_gemm with beta = 1. */
static void vjp_matmul(ad_tape *t, const ad_node *nd, const double *g, double *const acc[3])
{
    const ad_node *a = ad__node(t, nd->par[0]), *b = ad__node(t, nd->par[1]);
    int ta = nd->iprm[0], tb = nd->iprm[1];
    int m = nd->rows, n = nd->cols, k = op_cols(a, ta);
    if (acc[0]) { /* Ā (a->rows×a->cols) = ḡ·op(B)ᵀ, or op(B)·ḡᵀ when ta */
        if (ta) /* matmul(b, g, tb, 1): op_tb(B) k×n times ḡᵀ n×m → k×m */
            ad_gemm(tb, 1, k, m, n, b->val, b->cols, g, n, 1.0, acc[0]);
        else /* matmul(g, b, 0, !tb): ḡ m×n times op(B)ᵀ n×k → m×k */
            ad_gemm(0, !tb, m, k, n, g, n, b->val, b->cols, 1.0, acc[0]);
    }
    if (acc[1]) { /* B̄ = op(A)ᵀ·ḡ, or ḡᵀ·op(A) when tb */
        if (tb) /* matmul(g, a, 1, ta): ḡᵀ n×m times op(A) m×k → n×k */
            ad_gemm(1, ta, n, k, m, g, n, a->val, a->cols, 1.0, acc[1]);
        else /* matmul(a, g, !ta, 0): op(A)ᵀ k×m times ḡ m×n → k×n */
            ad_gemm(!ta, 0, k, n, m, a->val, a->cols, g, n, 1.0, acc[1]);
    }
}

/* x̄ += ḡᵀ. */
static void vjp_transpose(ad_tape *t, const ad_node *nd, const double *g, double *const acc[3])
{
    int r = nd->rows, c = nd->cols; /* the node is r×c, x is c×r */
    double *x = acc[0];
    for (int i = 0; i < r; i++)
        for (int j = 0; j < c; j++)
            x[(size_t)j * r + i] += g[(size_t)i * c + j];
}

const ad_opdef ad_def_dot = {jvp_dot, bwd_dot, vjp_dot, 0, NULL};
const ad_opdef ad_def_matmul = {jvp_matmul, bwd_matmul, vjp_matmul, 0, eval_matmul};
const ad_opdef ad_def_transpose = {jvp_transpose, bwd_transpose, vjp_transpose, 0, NULL};
