/*
 * models/ridge.c — ridge regression with scalar λ (rdg_): recording,
 * references, closed forms and certified constants.
 *
 * Shapes: X n×d, y n, θ d×1, λ 1×1, K = XᵀX/n d×d, c = Xᵀy/n d.
 */
#include <hypertape/models/ridge.h>

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

struct rdg_model {
    const ds_set *train, *val;
    int d;
    double *K, *c;        /* K = XᵀX/n (d×d), c = Xᵀy/n; NULL when d > RDG_GRAM_MAX_D */
    double kmin, kmax;    /* certified extreme eigenvalues of K (kmin may be 0) */
    double kval;          /* certified ≥ largest eigenvalue of X_valᵀX_val/n_val */
};

/* ------------------------------------------------------------ lifecycle */

/* K = XᵀX/n for a dense or CSR set. */
static void gram(const ds_set *s, double *K)
{
    int n = s->n, d = s->d;
    if (s->X) {
        cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, d, d, n, 1.0 / n, s->X, d, s->X, d,
                    0.0, K, d);
        return;
    }
    memset(K, 0, (size_t)d * d * sizeof *K);
    for (int i = 0; i < n; i++)
        for (int64_t a = s->rowptr[i]; a < s->rowptr[i + 1]; a++)
            for (int64_t b = s->rowptr[i]; b < s->rowptr[i + 1]; b++)
                K[(size_t)s->colind[a] * d + s->colind[b]] += s->val[a] * s->val[b] / n;
}

/* Certified [lo, hi] ⊇ spectrum of XᵀX/n: Jacobi when d is small, else
 * [0, ‖X‖²-bound/n]. K may be NULL (then it is formed in scratch). */
static bl_status extremes(const ds_set *s, const double *K, double *lo, double *hi, char *msg,
                          size_t msglen)
{
    int d = s->d;
    if (d > RDG_EIG_MAX_D) {
        double b = md_opnorm_sq_bound(s, 0);
        if (b < 0)
            return md_fail(msg, msglen, BL_ENOMEM, "rdg_model_new: out of memory (d %d)", d);
        *lo = 0.0;
        *hi = b / s->n;
        return BL_OK;
    }
    double *own = K ? NULL : malloc((size_t)d * d * sizeof *own), *w = malloc((size_t)d * sizeof *w);
    bl_status st = (!K && !own) || !w
                       ? md_fail(msg, msglen, BL_ENOMEM, "rdg_model_new: out of memory (d %d)", d)
                       : BL_OK;
    if (st == BL_OK) {
        if (own)
            gram(s, own);
        st = md_sym_eig(d, K ? K : own, w, NULL, msg, msglen);
    }
    if (st == BL_OK) {
        double mg = md_eig_margin(d, w);
        *lo = w[0] - mg > 0 ? w[0] - mg : 0.0;
        *hi = w[d - 1] + mg;
    }
    free(own), free(w);
    return st;
}

bl_status rdg_model_new(const ds_set *train, const ds_set *val, rdg_model **out, char *msg,
                        size_t msglen)
{
    if (!out)
        return md_fail(msg, msglen, BL_EINVAL, "rdg_model_new: out is NULL");
    *out = NULL;
    bl_status st = md_check_set(train, "rdg_model_new: train", 0, 0, msg, msglen);
    if (st == BL_OK)
        st = md_check_set(val, "rdg_model_new: val", 0, 0, msg, msglen);
    if (st != BL_OK)
        return st;
    if (val->d != train->d)
        return md_fail(msg, msglen, BL_EINVAL, "rdg_model_new: train is %dx%d but val is %dx%d",
                       train->n, train->d, val->n, val->d);
    int d = train->d;
    rdg_model *M = calloc(1, sizeof *M);
    if (!M)
        return md_fail(msg, msglen, BL_ENOMEM, "rdg_model_new: out of memory");
    M->train = train;
    M->val = val;
    M->d = d;
    if (d <= RDG_GRAM_MAX_D) {
        M->K = malloc(((size_t)d * d + d) * sizeof *M->K);
        if (!M->K) {
            free(M);
            return md_fail(msg, msglen, BL_ENOMEM, "rdg_model_new: out of memory (d %d)", d);
        }
        M->c = M->K + (size_t)d * d;
        gram(train, M->K);
        md_tmul(train, NULL, 0, train->y, 1, 0.0, M->c);
        cblas_dscal(d, 1.0 / train->n, M->c, 1);
    }
    double unused;
    st = extremes(train, M->K, &M->kmin, &M->kmax, msg, msglen);
    if (st == BL_OK)
        st = extremes(val, NULL, &unused, &M->kval, msg, msglen);
    if (st != BL_OK) {
        rdg_model_free(M);
        return st;
    }
    *out = M;
    return md_ok(msg, msglen);
}

void rdg_model_free(rdg_model *m)
{
    if (!m)
        return;
    free(m->K);
    free(m);
}

/* ------------------------------------------------------------ recording */

/* ½ mean_B (X_Bθ − y_B)²: 1×1. */
static ad_var record_half_mse(ad_tape *t, const ds_set *s, ad_var theta, const int *batch, int nb)
{
    ad_var y = ad_const_ref(t, s->n, 1, s->y);
    if (batch)
        y = ad_gather_rows(t, y, batch, nb);
    ad_var r = ad_sub(t, md_record_mul(t, s, batch, nb, theta), y);
    return ad_scale(t, ad_mean(t, ad_square(t, r)), 0.5);
}

static ad_var record_G(ad_tape *t, ad_var theta, ad_var lambda, const int *batch, int nb,
                       void *ctx)
{
    const rdg_model *M = ctx;
    ad_var reg = ad_mul(t, ad_exp(t, lambda), ad_scale(t, ad_dot(t, theta, theta), 0.5));
    return ad_add(t, record_half_mse(t, M->train, theta, batch, nb), reg);
}

static ad_var record_F(ad_tape *t, ad_var theta, ad_var lambda, const int *batch, int nb,
                       void *ctx)
{
    const rdg_model *M = ctx;
    return record_half_mse(t, M->val, theta, batch, nb);
}

static bl_status constants_cb(const double *lambda, bl_constants *out, void *ctx)
{
    return rdg_constants(ctx, lambda, out);
}

static double cross_norm_cb(const double *theta, const double *lambda, void *ctx)
{
    return rdg_cross_norm(ctx, theta, lambda);
}

bl_problem rdg_problem(rdg_model *m)
{
    return (bl_problem){.name = "ridge", .p = m->d, .m = 1, .G = record_G, .F = record_F,
                        .constants = constants_cb, .n_inner = m->train->n, .n_outer = m->val->n,
                        .ctx = m, .cross_norm = cross_norm_cb};
}

double rdg_cross_norm(const rdg_model *M, const double *theta, const double *lambda)
{
    return exp(lambda[0]) * cblas_dnrm2(M->d, theta, 1); /* B = e^λ θ */
}

/*
 * H = K + e^λ I exactly (G is quadratic in θ), so μ and L are K's extreme
 * eigenvalues plus e^λ and L_H = 0; ∇²_θθF = K_val gives L_f; B = e^λ θ
 * is linear in θ with norm e^λ (L_B); F does not depend on λ (L_Fλ = 0).
 */
bl_status rdg_constants(const rdg_model *M, const double *lambda, bl_constants *out)
{
    if (!M || !lambda || !out)
        return BL_EINVAL;
    double e = exp(lambda[0]);
    *out = (bl_constants){M->kmin + e, M->kmax + e, M->kval, e, 0.0, 0.0, 1};
    return BL_OK;
}

/* ------------------------------------------------------- closed forms */

bl_status rdg_hypergrad(const rdg_model *M, const double *lambda, double *value, double *grad,
                        double *theta, char *msg, size_t msglen)
{
    if (!M || !lambda)
        return md_fail(msg, msglen, BL_EINVAL, "rdg_hypergrad: NULL argument");
    int d = M->d;
    if (!M->K)
        return md_fail(msg, msglen, BL_EINVAL,
                       "rdg_hypergrad: d = %d is above RDG_GRAM_MAX_D = %d (no closed form)", d,
                       RDG_GRAM_MAX_D);
    double e = exp(lambda[0]);
    double *Lc = malloc(((size_t)d * d + 2 * (size_t)d) * sizeof *Lc), *th = Lc + (size_t)d * d,
           *q = th + d;
    if (!Lc)
        return md_fail(msg, msglen, BL_ENOMEM, "rdg_hypergrad: out of memory (d %d)", d);
    memcpy(Lc, M->K, (size_t)d * d * sizeof *Lc);
    for (int k = 0; k < d; k++)
        Lc[(size_t)k * d + k] += e;
    bl_status st = md_cholesky(d, Lc, msg, msglen);
    if (st == BL_OK) {
        memcpy(th, M->c, (size_t)d * sizeof *th);
        md_cholesky_solve(d, Lc, th);
        double f = 0;
        st = (value || grad) ? rdg_ref_F(M, th, lambda, NULL, 0, &f, q, NULL, msg, msglen) : BL_OK;
        if (st == BL_OK) {
            if (value)
                *value = f;
            if (grad) { /* ∇h = −cross(H⁻¹∇_θF) = −e^λ⟨θ*, q⟩ */
                md_cholesky_solve(d, Lc, q);
                grad[0] = -e * cblas_ddot(d, th, 1, q, 1);
            }
            if (theta)
                memcpy(theta, th, (size_t)d * sizeof *theta);
        }
    }
    free(Lc);
    return st;
}

bl_status rdg_solve(const rdg_model *M, const double *lambda, double *theta, char *msg,
                    size_t msglen)
{
    if (!theta)
        return md_fail(msg, msglen, BL_EINVAL, "rdg_solve: theta is NULL");
    return rdg_hypergrad(M, lambda, NULL, NULL, theta, msg, msglen);
}

/* --------------------------------------------------------- references */

/* ½ mean_B r², r = X_Bθ − y_B; grad = X_Bᵀr/nb; with v, hv = X_BᵀX_Bv/nb. */
static bl_status ref_mse(const ds_set *s, const double *theta, const int *batch, int nb,
                         double *value, double *grad, const double *v, double *hv,
                         const char *what, char *msg, size_t msglen)
{
    bl_status st = md_check_batch(batch, nb, s->n, what, msg, msglen);
    if (st != BL_OK)
        return st;
    if (!batch)
        nb = s->n;
    double *r = malloc((size_t)nb * sizeof *r);
    if (!r)
        return md_fail(msg, msglen, BL_ENOMEM, "%s: out of memory (batch %d)", what, nb);
    if (v) {
        md_mul(s, batch, nb, v, 1, r);
        cblas_dscal(nb, 1.0 / nb, r, 1);
        md_tmul(s, batch, nb, r, 1, 0.0, hv);
    } else {
        md_mul(s, batch, nb, theta, 1, r);
        for (int k = 0; k < nb; k++)
            r[k] -= s->y[batch ? batch[k] : k];
        if (value)
            *value = 0.5 * cblas_ddot(nb, r, 1, r, 1) / nb;
        if (grad) {
            cblas_dscal(nb, 1.0 / nb, r, 1);
            md_tmul(s, batch, nb, r, 1, 0.0, grad);
        }
    }
    free(r);
    return md_ok(msg, msglen);
}

bl_status rdg_ref_G(const rdg_model *M, const double *theta, const double *lambda,
                    const int *batch, int nbatch, double *value, double *g_theta, double *g_lambda,
                    char *msg, size_t msglen)
{
    double f, e = exp(lambda[0]), tt = cblas_ddot(M->d, theta, 1, theta, 1);
    bl_status st = ref_mse(M->train, theta, batch, nbatch, &f, g_theta, NULL, NULL, "rdg_ref_G",
                           msg, msglen);
    if (st != BL_OK)
        return st;
    if (value)
        *value = f + 0.5 * e * tt;
    if (g_theta)
        cblas_daxpy(M->d, e, theta, 1, g_theta, 1);
    if (g_lambda)
        g_lambda[0] = 0.5 * e * tt;
    return BL_OK;
}

bl_status rdg_ref_F(const rdg_model *M, const double *theta, const double *lambda,
                    const int *batch, int nbatch, double *value, double *g_theta, double *g_lambda,
                    char *msg, size_t msglen)
{
    if (g_lambda)
        g_lambda[0] = 0.0;
    return ref_mse(M->val, theta, batch, nbatch, value, g_theta, NULL, NULL, "rdg_ref_F", msg,
                   msglen);
}

bl_status rdg_ref_hvp(const rdg_model *M, const double *theta, const double *lambda,
                      const int *batch, int nbatch, const double *v, double *hv, double *cross,
                      char *msg, size_t msglen)
{
    double e = exp(lambda[0]);
    if (hv) {
        bl_status st = ref_mse(M->train, theta, batch, nbatch, NULL, NULL, v, hv, "rdg_ref_hvp",
                               msg, msglen);
        if (st != BL_OK)
            return st;
        cblas_daxpy(M->d, e, v, 1, hv, 1);
    }
    if (cross)
        cross[0] = e * cblas_ddot(M->d, theta, 1, v, 1);
    return md_ok(msg, msglen);
}

/* The reference functions above behind md_reference (see dense.h). */
MD_DEFINE_REFERENCE(rdg_reference, rdg_model, rdg_ref_G, rdg_ref_F, rdg_ref_hvp)
