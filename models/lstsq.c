/*
 * models/lstsq.c — the least-squares bilevel problem (lsq_): recording,
 * references, closed forms x*(w) and ∇h(w), certified constants.
 *
 * Shapes: C nrow×m, D nrow×p, e nrow; A na×p, b na; x p×1, w m×1.
 * The matrices are held as dense ds_set views (y = e or b) so that the
 * shared minibatch products of hypertape/models/dense.h apply unchanged.
 */
#include <hypertape/models/lstsq.h>

#include <cblas.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

struct lsq_model {
    int nrow, p, m, na;
    double *buf;        /* one allocation: A b C D e DtD_chol */
    double *A, *b, *C, *D, *e, *chol;
    ds_set Cs, Ds, As;  /* views: C and D with y = e, A with y = b */
    double mu, L, Lf;   /* certified constants */
    double bnorm;       /* certified ≥ ‖B‖ = 2‖DᵀC‖ */
};

/* ------------------------------------------------------------ lifecycle */

/* LAPACK (OpenBLAS ships it): eigenvalues of a symmetric matrix. */
extern void dsyev_(const char *jobz, const char *uplo, const int *n, double *a, const int *lda,
                   double *w, double *work, const int *lwork, int *info);

/* Ascending eigenvalues w of the symmetric n×n matrix S (overwritten), by
 * LAPACK's dsyev (O(n³), tridiagonal QL/QR): the setup stays near
 * O(nrow·(p + m)²) where a cyclic Jacobi grew faster than n³. */
static bl_status sym_eigvals(int n, double *S, double *w, const char *what, char *msg,
                             size_t msglen)
{
    for (size_t k = 0; k < (size_t)n * n; k++)
        if (!isfinite(S[k]))
            return md_fail(msg, msglen, BL_ENONFINITE, "lsq_model_new: %s[%zu] of %dx%d is not finite",
                           what, k, n, n);
    int lwork = -1, info = 0;
    double q = 0;
    dsyev_("N", "U", &n, S, &n, w, &q, &lwork, &info); /* workspace query */
    lwork = info == 0 && q >= 1 ? (int)q : 3 * n;
    if (lwork < 3 * n - 1)
        lwork = 3 * n - 1 > 1 ? 3 * n - 1 : 1;
    double *work = malloc((size_t)lwork * sizeof *work);
    if (!work)
        return md_fail(msg, msglen, BL_ENOMEM,
                       "lsq_model_new: out of memory for the eigenvalue workspace (%d doubles)", lwork);
    dsyev_("N", "U", &n, S, &n, w, work, &lwork, &info);
    free(work);
    if (info != 0)
        return md_fail(msg, msglen, BL_EINVAL, "lsq_model_new: dsyev on %s (%dx%d) failed (info %d)",
                       what, n, n, info);
    return BL_OK;
}

/* Eigenvalues of 2·MᵀM for M rows×cols, certified extremes in lo, hi;
 * gram holds 2·MᵀM on return (the scratch for dsyev is separate). */
static bl_status gram_extremes(const double *M, int rows, int cols, double *gram, double *lo,
                               double *hi, char *msg, size_t msglen)
{
    size_t cc = (size_t)cols * cols;
    double *w = malloc(((size_t)cols + cc) * sizeof *w), *S = w + cols;
    if (!w)
        return md_fail(msg, msglen, BL_ENOMEM, "lsq_model_new: out of memory for a %dx%d Gram scratch",
                       cols, cols);
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, cols, cols, rows, 2.0, M, cols, M, cols,
                0.0, gram, cols);
    memcpy(S, gram, cc * sizeof *S);
    bl_status st = sym_eigvals(cols, S, w, "2 M^T M", msg, msglen);
    if (st == BL_OK) {
        double mg = md_eig_margin(cols, w);
        *lo = w[0] - mg;
        *hi = w[cols - 1] + mg;
    }
    free(w);
    return st;
}

/* ‖2DᵀC‖ = 2√(λ_max((DᵀC)ᵀ(DᵀC))), widened by the eigenvalue margin of
 * the m×m matrix. λ_max is taken from the smaller of the two Gram matrices
 * (DᵀC)ᵀ(DᵀC) (m×m) and (DᵀC)(DᵀC)ᵀ (p×p), which share their nonzero
 * eigenvalues. */
static bl_status cross_norm_bound(const lsq_model *M, double *out, char *msg, size_t msglen)
{
    int p = M->p, m = M->m, k = p < m ? p : m;
    double *DC = malloc(((size_t)p * m + (size_t)k * k + k) * sizeof *DC), *S = DC + (size_t)p * m,
           *w = S + (size_t)k * k;
    if (!DC)
        return md_fail(msg, msglen, BL_ENOMEM, "lsq_model_new: out of memory for D^T C (p %d, m %d)",
                       p, m);
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, p, m, M->nrow, 1.0, M->D, p, M->C, m, 0.0,
                DC, m);
    if (k == m)
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, m, m, p, 1.0, DC, m, DC, m, 0.0, S, m);
    else
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, p, p, m, 1.0, DC, m, DC, m, 0.0, S, p);
    bl_status st = sym_eigvals(k, S, w, "(D^T C)^T (D^T C)", msg, msglen);
    if (st == BL_OK) {
        double top = fabs(w[0]) > fabs(w[k - 1]) ? fabs(w[0]) : fabs(w[k - 1]);
        *out = 2.0 * sqrt(w[k - 1] + 32.0 * m * DBL_EPSILON * top); /* md_eig_margin of the m×m */
    }
    free(DC);
    return st;
}

bl_status lsq_model_new(int nrow, int p, int m, int na, const double *A, const double *b,
                        const double *C, const double *D, const double *e, lsq_model **out,
                        char *msg, size_t msglen)
{
    if (!out)
        return md_fail(msg, msglen, BL_EINVAL, "lsq_model_new: out is NULL");
    *out = NULL;
    if (nrow < 1 || p < 1 || m < 1 || na < 1 || nrow < p || !A || !b || !C || !D || !e)
        return md_fail(msg, msglen, BL_EINVAL,
                       "lsq_model_new: need A %dx%d, b %d, C %dx%d, D %dx%d, e %d all non-NULL "
                       "with sizes >= 1 and nrow >= p",
                       na, p, na, nrow, m, nrow, p, nrow);
    const struct {
        const char *name;
        const double *x;
        size_t len;
    } in[5] = {{"A", A, (size_t)na * p}, {"b", b, (size_t)na}, {"C", C, (size_t)nrow * m},
               {"D", D, (size_t)nrow * p}, {"e", e, (size_t)nrow}};
    size_t total = (size_t)p * p;
    for (int k = 0; k < 5; k++) {
        total += in[k].len;
        for (size_t i = 0; i < in[k].len; i++)
            if (!isfinite(in[k].x[i]))
                return md_fail(msg, msglen, BL_ENONFINITE,
                               "lsq_model_new: %s[%zu] is not finite", in[k].name, i);
    }
    lsq_model *M = calloc(1, sizeof *M);
    if (!M || !(M->buf = malloc(total * sizeof(double)))) {
        free(M);
        return md_fail(msg, msglen, BL_ENOMEM, "lsq_model_new: out of memory (nrow %d, p %d, m %d)",
                       nrow, p, m);
    }
    M->nrow = nrow, M->p = p, M->m = m, M->na = na;
    double *at = M->buf, **dst[5] = {&M->A, &M->b, &M->C, &M->D, &M->e};
    for (int k = 0; k < 5; k++) {
        *dst[k] = at;
        memcpy(at, in[k].x, in[k].len * sizeof(double));
        at += in[k].len;
    }
    M->chol = at;
    M->Cs = (ds_set){.n = nrow, .d = m, .X = M->C, .y = M->e};
    M->Ds = (ds_set){.n = nrow, .d = p, .X = M->D, .y = M->e};
    M->As = (ds_set){.n = na, .d = p, .X = M->A, .y = M->b};
    double lo, hi, unused;
    bl_status st = gram_extremes(M->A, na, p, M->chol, &unused, &M->Lf, msg, msglen);
    if (st == BL_OK)
        st = gram_extremes(M->D, nrow, p, M->chol, &lo, &hi, msg, msglen);
    if (st == BL_OK && !(lo > 0))
        st = md_fail(msg, msglen, BL_ENONCONVEX,
                     "lsq_model_new: D (%dx%d) is rank-deficient (smallest eigenvalue of "
                     "2 D^T D minus its rounding margin: %.3g)",
                     nrow, p, lo);
    if (st == BL_OK)
        st = cross_norm_bound(M, &M->bnorm, msg, msglen);
    if (st == BL_OK) {
        M->mu = lo;
        M->L = hi;
        for (size_t k = 0; k < (size_t)p * p; k++)
            M->chol[k] *= 0.5; /* DᵀD */
        st = md_cholesky(p, M->chol, msg, msglen);
    }
    if (st != BL_OK) {
        lsq_model_free(M);
        return st;
    }
    *out = M;
    return md_ok(msg, msglen);
}

bl_status lsq_generate(uint64_t seed, int nrow, int p, int m, lsq_model **out, char *msg,
                       size_t msglen)
{
    if (!out)
        return md_fail(msg, msglen, BL_EINVAL, "lsq_generate: out is NULL");
    *out = NULL;
    if (nrow < 1 || p < 1 || m < 1 || nrow < p)
        return md_fail(msg, msglen, BL_EINVAL,
                       "lsq_generate: need nrow >= p >= 1 and m >= 1 (nrow %d, p %d, m %d)", nrow,
                       p, m);
    size_t nA = (size_t)nrow * p, nC = (size_t)nrow * m;
    double *buf = malloc((2 * nA + nC + 2 * (size_t)nrow + p + m) * sizeof *buf);
    if (!buf)
        return md_fail(msg, msglen, BL_ENOMEM, "lsq_generate: out of memory (nrow %d, p %d, m %d)",
                       nrow, p, m);
    double *A = buf, *C = A + nA, *D = C + nC, *b = D + nA, *e = b + nrow, *x0 = e + nrow,
           *w0 = x0 + p;
    md_rng g = {seed};
    for (size_t k = 0; k < nA; k++)
        A[k] = md_rng_uniform(&g);
    for (size_t k = 0; k < nC; k++)
        C[k] = md_rng_uniform(&g);
    for (size_t k = 0; k < nA; k++)
        D[k] = md_rng_uniform(&g);
    for (int k = 0; k < p; k++)
        x0[k] = md_rng_normal(&g);
    for (int k = 0; k < m; k++)
        w0[k] = md_rng_normal(&g);
    for (int i = 0; i < nrow; i++) {
        b[i] = cblas_ddot(p, A + (size_t)i * p, 1, x0, 1) + 0.01 * md_rng_normal(&g);
        e[i] = cblas_ddot(m, C + (size_t)i * m, 1, w0, 1) +
               cblas_ddot(p, D + (size_t)i * p, 1, x0, 1) + 0.01 * md_rng_normal(&g);
    }
    bl_status st = lsq_model_new(nrow, p, m, nrow, A, b, C, D, e, out, msg, msglen);
    free(buf);
    return st;
}

void lsq_model_free(lsq_model *m)
{
    if (!m)
        return;
    free(m->buf);
    free(m);
}

lsq_view lsq_data(const lsq_model *m)
{
    return (lsq_view){m->nrow, m->p, m->m, m->na, m->A, m->b, m->C, m->D, m->e};
}

void lsq_default_lambda(const lsq_model *m, double *w)
{
    for (int k = 0; k < m->m; k++)
        w[k] = 1.0;
}

/* ------------------------------------------------------------ recording */

/* s·Σ_B r_i² with r = X_B·th [+ Y_B·la] − t_B (s = rows/nb). */
static ad_var record_sq(ad_tape *t, const ds_set *X, ad_var th, const ds_set *Y, ad_var la,
                        const int *batch, int nb)
{
    ad_var r = md_record_mul(t, X, batch, nb, th); /* nb×1 */
    if (Y)
        r = ad_add(t, r, md_record_mul(t, Y, batch, nb, la));
    ad_var tgt = ad_const_ref(t, X->n, 1, X->y);
    if (batch)
        tgt = ad_gather_rows(t, tgt, batch, nb);
    double s = batch ? (double)X->n / nb : 1.0;
    return ad_scale(t, ad_sum(t, ad_square(t, ad_sub(t, r, tgt))), s);
}

static ad_var record_G(ad_tape *t, ad_var x, ad_var w, const int *batch, int nb, void *ctx)
{
    const lsq_model *M = ctx;
    return record_sq(t, &M->Ds, x, &M->Cs, w, batch, nb);
}

static ad_var record_F(ad_tape *t, ad_var x, ad_var w, const int *batch, int nb, void *ctx)
{
    const lsq_model *M = ctx;
    return record_sq(t, &M->As, x, NULL, AD_NONE, batch, nb);
}

static bl_status constants_cb(const double *lambda, bl_constants *out, void *ctx)
{
    return lsq_constants(ctx, lambda, out);
}

static double cross_norm_cb(const double *theta, const double *lambda, void *ctx)
{
    return lsq_cross_norm(ctx, theta, lambda);
}

bl_problem lsq_problem(lsq_model *m)
{
    return (bl_problem){.name = "lstsq", .p = m->p, .m = m->m, .G = record_G, .F = record_F,
                        .constants = constants_cb, .n_inner = m->nrow, .n_outer = m->na, .ctx = m,
                        .cross_norm = cross_norm_cb};
}

double lsq_cross_norm(const lsq_model *m, const double *x, const double *w) { return m->bnorm; }

bl_status lsq_constants(const lsq_model *M, const double *lambda, bl_constants *out)
{
    if (!M || !out)
        return BL_EINVAL;
    *out = (bl_constants){M->mu, M->L, M->Lf, 0.0, 0.0, 0.0, 1};
    return BL_OK;
}

/* ------------------------------------------------------- closed forms */

bl_status lsq_solve(const lsq_model *M, const double *w, double *x, char *msg, size_t msglen)
{
    if (!M || !w || !x)
        return md_fail(msg, msglen, BL_EINVAL, "lsq_solve: NULL argument");
    int n = M->nrow, p = M->p;
    double *r = malloc(((size_t)n + p) * sizeof *r), *dx = r + n;
    if (!r)
        return md_fail(msg, msglen, BL_ENOMEM, "lsq_solve: out of memory (nrow %d)", n);
    /* x = (DᵀD)⁻¹Dᵀ(e − Cw), then one step of iterative refinement on the
     * residual, which brings the normal equations' error (κ(D)²ε) down to
     * about κ(D)ε. */
    memset(x, 0, (size_t)p * sizeof *x);
    for (int it = 0; it < 2; it++) {
        memcpy(r, M->e, (size_t)n * sizeof *r);
        cblas_dgemv(CblasRowMajor, CblasNoTrans, n, M->m, -1.0, M->C, M->m, w, 1, 1.0, r, 1);
        cblas_dgemv(CblasRowMajor, CblasNoTrans, n, p, -1.0, M->D, p, x, 1, 1.0, r, 1);
        cblas_dgemv(CblasRowMajor, CblasTrans, n, p, 1.0, M->D, p, r, 1, 0.0, dx, 1);
        md_cholesky_solve(p, M->chol, dx);
        cblas_daxpy(p, 1.0, dx, 1, x, 1);
    }
    free(r);
    return md_ok(msg, msglen);
}

bl_status lsq_hypergrad(const lsq_model *M, const double *w, double *value, double *grad,
                        double *x, char *msg, size_t msglen)
{
    if (!M || !w)
        return md_fail(msg, msglen, BL_EINVAL, "lsq_hypergrad: NULL argument");
    int p = M->p, na = M->na, n = M->nrow;
    double *xs = malloc(((size_t)p * 2 + na + n) * sizeof *xs), *q = xs + p, *res = q + p,
           *dq = res + na;
    if (!xs)
        return md_fail(msg, msglen, BL_ENOMEM, "lsq_hypergrad: out of memory (na %d)", na);
    bl_status st = lsq_solve(M, w, xs, msg, msglen);
    if (st == BL_OK) {
        memcpy(res, M->b, (size_t)na * sizeof *res); /* res = b − A x* */
        cblas_dgemv(CblasRowMajor, CblasNoTrans, na, p, -1.0, M->A, p, xs, 1, 1.0, res, 1);
        if (value)
            *value = cblas_ddot(na, res, 1, res, 1);
        if (grad) { /* 2 Cᵀ D (DᵀD)⁻¹ Aᵀ res */
            cblas_dgemv(CblasRowMajor, CblasTrans, na, p, 1.0, M->A, p, res, 1, 0.0, q, 1);
            md_cholesky_solve(p, M->chol, q);
            cblas_dgemv(CblasRowMajor, CblasNoTrans, n, p, 1.0, M->D, p, q, 1, 0.0, dq, 1);
            cblas_dgemv(CblasRowMajor, CblasTrans, n, M->m, 2.0, M->C, M->m, dq, 1, 0.0, grad, 1);
        }
        if (x)
            memcpy(x, xs, (size_t)p * sizeof *x);
    }
    free(xs);
    return st;
}

/* --------------------------------------------------------- references */

/* r (nb) = X_B·th [+ Y_B·la] − t_B. */
static void residual(const ds_set *X, const double *th, const ds_set *Y, const double *la,
                     const int *batch, int nb, double *r, double *tmp)
{
    md_mul(X, batch, nb, th, 1, r);
    if (Y) {
        md_mul(Y, batch, nb, la, 1, tmp);
        cblas_daxpy(nb, 1.0, tmp, 1, r, 1);
    }
    for (int k = 0; k < nb; k++)
        r[k] -= X->y[batch ? batch[k] : k];
}

static bl_status ref_sq(const ds_set *X, const double *th, const ds_set *Y, const double *la,
                        const int *batch, int nb, double *value, double *g_th, double *g_la,
                        const char *what, char *msg, size_t msglen)
{
    bl_status st = md_check_batch(batch, nb, X->n, what, msg, msglen);
    if (st != BL_OK)
        return st;
    if (!batch)
        nb = X->n;
    double s = batch ? (double)X->n / nb : 1.0;
    double *r = malloc((size_t)nb * 2 * sizeof *r);
    if (!r)
        return md_fail(msg, msglen, BL_ENOMEM, "%s: out of memory (batch %d)", what, nb);
    residual(X, th, Y, la, batch, nb, r, r + nb);
    if (value)
        *value = s * cblas_ddot(nb, r, 1, r, 1);
    cblas_dscal(nb, 2.0 * s, r, 1);
    if (g_th)
        md_tmul(X, batch, nb, r, 1, 0.0, g_th);
    if (g_la && Y)
        md_tmul(Y, batch, nb, r, 1, 0.0, g_la);
    free(r);
    return md_ok(msg, msglen);
}

bl_status lsq_ref_G(const lsq_model *M, const double *x, const double *w, const int *batch,
                    int nbatch, double *value, double *g_x, double *g_w, char *msg, size_t msglen)
{
    return ref_sq(&M->Ds, x, &M->Cs, w, batch, nbatch, value, g_x, g_w, "lsq_ref_G", msg, msglen);
}

bl_status lsq_ref_F(const lsq_model *M, const double *x, const double *w, const int *batch,
                    int nbatch, double *value, double *g_x, double *g_w, char *msg, size_t msglen)
{
    if (g_w)
        memset(g_w, 0, (size_t)M->m * sizeof *g_w);
    return ref_sq(&M->As, x, NULL, NULL, batch, nbatch, value, g_x, NULL, "lsq_ref_F", msg, msglen);
}

bl_status lsq_ref_hvp(const lsq_model *M, const double *x, const double *w, const int *batch,
                      int nbatch, const double *v, double *hv, double *cross, char *msg,
                      size_t msglen)
{
    bl_status st = md_check_batch(batch, nbatch, M->nrow, "lsq_ref_hvp", msg, msglen);
    if (st != BL_OK)
        return st;
    int nb = batch ? nbatch : M->nrow;
    double s = batch ? (double)M->nrow / nb : 1.0;
    double *u = malloc((size_t)nb * sizeof *u);
    if (!u)
        return md_fail(msg, msglen, BL_ENOMEM, "lsq_ref_hvp: out of memory (batch %d)", nb);
    md_mul(&M->Ds, batch, nb, v, 1, u); /* u = D_B v */
    cblas_dscal(nb, 2.0 * s, u, 1);
    if (hv)
        md_tmul(&M->Ds, batch, nb, u, 1, 0.0, hv);
    if (cross)
        md_tmul(&M->Cs, batch, nb, u, 1, 0.0, cross);
    free(u);
    return md_ok(msg, msglen);
}

/* The reference functions above behind md_reference (see dense.h). */
MD_DEFINE_REFERENCE(lsq_reference, lsq_model, lsq_ref_G, lsq_ref_F, lsq_ref_hvp)
