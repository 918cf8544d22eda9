/*
 * models/logreg.c — binary logistic regression (lr_): the ad recording of G
 * and F, the hand-written references and the certified constants.
 *
 * Per sample, with the logit z = ⟨x̃, θ⟩ (x̃ = x or (x, 1)) and s = −y z:
 *   ℓ = softplus(s),  dℓ/dz = −y σ(s),  d²ℓ/dz² = σ(s)(1 − σ(s)) = σ'(s)
 * (y² = 1), and |d³ℓ/dz³| = |σ''(s)| ≤ 1/(6√3).
 */
#include <hypertape/models/logreg.h>

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

struct lr_model {
    const ds_set *train, *val;
    lr_reg reg;
    int intercept;
    int free_b;         /* 1: free intercept (r_b = 0, no certified μ) */
    double rb;          /* intercept ridge r_b (0 without intercept or when free) */
    int d, p, m;
    double xx_train;    /* certified ≥ ‖X̃_train‖₂² */
    double xx_val;      /* certified ≥ ‖X̃_val‖₂² */
    double rowmax;      /* max_i ‖x̃_i‖ over the training samples */
};

/* ------------------------------------------------------------ lifecycle */

bl_status lr_model_new(const ds_set *train, const ds_set *val, const lr_opts *opts, lr_model **out,
                       char *msg, size_t msglen)
{
    if (!out)
        return md_fail(msg, msglen, BL_EINVAL, "lr_model_new: out is NULL");
    *out = NULL;
    lr_opts o = opts ? *opts : (lr_opts){0};
    if (o.reg != LR_SCALAR && o.reg != LR_PER_FEATURE)
        return md_fail(msg, msglen, BL_EINVAL, "lr_model_new: unknown regularisation %d", (int)o.reg);
    if (o.intercept && (o.intercept_reg < 0 || !isfinite(o.intercept_reg)))
        return md_fail(msg, msglen, BL_EINVAL,
                       "lr_model_new: intercept_reg must be finite and >= 0 (got %g)",
                       o.intercept_reg);
    if (o.intercept < LR_INTERCEPT_NONE || o.intercept > LR_INTERCEPT_FREE)
        return md_fail(msg, msglen, BL_EINVAL,
                       "lr_model_new: intercept must be 0 (none), 1 (ridge) or 2 (free), got %d",
                       o.intercept);
    if (o.intercept == LR_INTERCEPT_FREE && o.intercept_reg != 0)
        return md_fail(msg, msglen, BL_EINVAL,
                       "lr_model_new: a free intercept takes no intercept_reg (got %g)",
                       o.intercept_reg);
    bl_status st = md_check_set(train, "lr_model_new: train", 1, 0, msg, msglen);
    if (st == BL_OK)
        st = md_check_set(val, "lr_model_new: val", 1, 0, msg, msglen);
    if (st != BL_OK)
        return st;
    if (val->d != train->d)
        return md_fail(msg, msglen, BL_EINVAL,
                       "lr_model_new: train is %dx%d but val is %dx%d (widths differ; read with "
                       "a common d_min)",
                       train->n, train->d, val->n, val->d);
    lr_model *M = calloc(1, sizeof *M);
    double *rn = malloc((size_t)train->n * sizeof *rn);
    if (!M || !rn) {
        free(M), free(rn);
        return md_fail(msg, msglen, BL_ENOMEM, "lr_model_new: out of memory (train %dx%d)",
                       train->n, train->d);
    }
    M->train = train;
    M->val = val;
    M->reg = o.reg;
    M->intercept = o.intercept != 0;
    M->free_b = o.intercept == LR_INTERCEPT_FREE;
    M->rb = M->intercept && !M->free_b ? (o.intercept_reg > 0 ? o.intercept_reg : 1e-2) : 0.0;
    M->d = train->d;
    M->p = train->d + M->intercept;
    M->m = o.reg == LR_SCALAR ? 1 : train->d;
    M->xx_train = md_opnorm_sq_bound(train, M->intercept);
    M->xx_val = md_opnorm_sq_bound(val, M->intercept);
    md_row_norms_sq(train, M->intercept, rn);
    for (int i = 0; i < train->n; i++)
        M->rowmax = rn[i] > M->rowmax ? rn[i] : M->rowmax;
    M->rowmax = sqrt(M->rowmax);
    free(rn);
    if (M->xx_train < 0 || M->xx_val < 0) {
        free(M);
        return md_fail(msg, msglen, BL_ENOMEM, "lr_model_new: out of memory (d = %d)", train->d);
    }
    *out = M;
    return md_ok(msg, msglen);
}

void lr_model_free(lr_model *m) { free(m); }

/* ------------------------------------------------------------ recording */

/* Mean logistic loss of set s (batch or all) at θ: 1×1. */
static ad_var record_loss(ad_tape *t, const lr_model *M, const ds_set *s, ad_var theta,
                          const int *batch, int nb)
{
    int d = M->d;
    ad_var w = M->intercept ? ad_slice(t, theta, 0, d, 0, 1) : theta; /* d×1 */
    ad_var z = md_record_mul(t, s, batch, nb, w);                      /* nb×1 */
    if (M->intercept)
        z = ad_add(t, z, ad_slice(t, theta, d, 1, 0, 1));
    ad_var y = ad_const_ref(t, s->n, 1, s->y); /* n×1 */
    if (batch)
        y = ad_gather_rows(t, y, batch, nb);
    return ad_mean(t, ad_softplus(t, ad_neg(t, ad_mul(t, y, z))));
}

static ad_var record_G(ad_tape *t, ad_var theta, ad_var lambda, const int *batch, int nb,
                       void *ctx)
{
    const lr_model *M = ctx;
    int d = M->d;
    ad_var w = M->intercept ? ad_slice(t, theta, 0, d, 0, 1) : theta;
    ad_var reg = M->reg == LR_SCALAR
                     ? ad_mul(t, ad_exp(t, lambda), ad_scale(t, ad_dot(t, w, w), 0.5))
                     : ad_scale(t, ad_dot(t, ad_exp(t, lambda), ad_square(t, w)), 0.5);
    if (M->intercept && !M->free_b)
        reg = ad_add(t, reg, ad_scale(t, ad_square(t, ad_slice(t, theta, d, 1, 0, 1)), 0.5 * M->rb));
    return ad_add(t, record_loss(t, M, M->train, theta, batch, nb), reg);
}

static ad_var record_F(ad_tape *t, ad_var theta, ad_var lambda, const int *batch, int nb,
                       void *ctx)
{
    const lr_model *M = ctx;
    return record_loss(t, M, M->val, theta, batch, nb);
}

static bl_status constants_cb(const double *lambda, bl_constants *out, void *ctx)
{
    return lr_constants(ctx, lambda, out);
}

static double cross_norm_cb(const double *theta, const double *lambda, void *ctx)
{
    return lr_cross_norm(ctx, theta, lambda);
}

/* ------------------------------------------------ per-sample quantities */

/* Stable σ(s) (both branches' values computed: a select, no branch to
 * mispredict on the sign). */
static double sigmoid(double s)
{
    double e = exp(-fabs(s)), r = 1.0 / (1.0 + e), er = e * r;
    return s >= 0 ? r : er;
}

/* x̃_iᵀa and, with b, x̃_iᵀb in the same pass (dense or CSR row i of s,
 * plus a_b, b_b with an intercept). Dense rows use two partial sums per
 * product, halving the chain of dependent adds. */
static double row_dots(const lr_model *M, const ds_set *s, int i, const double *a, const double *b,
                       double *zb)
{
    double za = M->intercept ? a[M->d] : 0.0, z2 = b && M->intercept ? b[M->d] : 0.0;
    if (s->X) { /* plain loops: rows are short (d = 22 for IJCNN1), a BLAS call costs more */
        const double *x = s->X + (size_t)i * M->d;
        double za1 = 0, z21 = 0;
        int k = 0, d = M->d;
        if (b) {
            for (; k + 2 <= d; k += 2) {
                za += x[k] * a[k], za1 += x[k + 1] * a[k + 1];
                z2 += x[k] * b[k], z21 += x[k + 1] * b[k + 1];
            }
            if (k < d)
                za += x[k] * a[k], z2 += x[k] * b[k];
        } else {
            for (; k + 2 <= d; k += 2)
                za += x[k] * a[k], za1 += x[k + 1] * a[k + 1];
            if (k < d)
                za += x[k] * a[k];
        }
        za += za1, z2 += z21;
    } else
        for (int64_t e = s->rowptr[i]; e < s->rowptr[i + 1]; e++) {
            za += s->val[e] * a[s->colind[e]];
            z2 += b ? s->val[e] * b[s->colind[e]] : 0.0;
        }
    if (zb)
        *zb = z2;
    return za;
}

/* row = c·x̃_i + base (p) for sample i of s; base may be NULL (0). */
static void row_axpy(const lr_model *M, const ds_set *s, int i, double c, const double *base, double *row)
{
    int d = M->d;
    if (s->X) {
        const double *x = s->X + (size_t)i * d;
        if (base)
            for (int k = 0; k < d; k++)
                row[k] = base[k] + c * x[k];
        else
            for (int k = 0; k < d; k++)
                row[k] = c * x[k];
    } else {
        if (base)
            memcpy(row, base, (size_t)d * sizeof *row);
        else
            memset(row, 0, (size_t)d * sizeof *row);
        for (int64_t e = s->rowptr[i]; e < s->rowptr[i + 1]; e++)
            row[s->colind[e]] += c * s->val[e];
    }
    if (M->intercept)
        row[d] = (base ? base[d] : 0.0) + c;
}

/* The sample-independent parts, once per call: the regulariser's ∇_θR(θ)
 * = e^λ ⊙ θ_w [+ r_b θ_b] in rg (p) and, with v, ∇²R·v in rh (p) and
 * cross(v) (m), which no sample changes. */
static void persample_common(const lr_model *M, const double *theta, const double *lambda,
                             const double *v, double *rg, double *rh, double *cross)
{
    double dot = 0;
    for (int k = 0; k < M->d; k++) {
        double e = exp(lambda[M->reg == LR_SCALAR ? 0 : k]);
        rg[k] = e * theta[k];
        if (v) {
            rh[k] = e * v[k];
            if (M->reg == LR_PER_FEATURE)
                cross[k] = e * theta[k] * v[k];
            dot += theta[k] * v[k];
        }
    }
    if (M->intercept) {
        rg[M->d] = M->rb * theta[M->d];
        if (v)
            rh[M->d] = M->rb * v[M->d];
    }
    if (v && M->reg == LR_SCALAR)
        cross[0] = exp(lambda[0]) * dot;
}

/* The inner rows of sample i (NULL: not wanted) from one x̃_iᵀθ and one
 * x̃_iᵀv: ∇_θG_i = −y σ(s) x̃_i + rg, H_i v = σ'(s)(x̃_iᵀv) x̃_i + rh,
 * cross_i = cross, with s = −y x̃_iᵀθ. */
static void persample_inner(const lr_model *M, int i, const double *theta, const double *v,
                            const double *w, double *g, double *hv, double *cr)
{
    const ds_set *s = M->train;
    const double *rg = w, *rh = w + M->p, *cross = w + 2 * M->p;
    double xv, y = s->y[i];
    double sg = sigmoid(-y * row_dots(M, s, i, theta, hv ? v : NULL, &xv));
    double c = -y * sg, cv = sg * (1.0 - sg) * xv;
    if (g && hv && s->X) { /* the common case in one pass over x_i */
        const double *x = s->X + (size_t)i * M->d;
        for (int k = 0; k < M->d; k++) {
            g[k] = rg[k] + c * x[k];
            hv[k] = rh[k] + cv * x[k];
        }
        if (M->intercept)
            g[M->d] = rg[M->d] + c, hv[M->d] = rh[M->d] + cv;
    } else {
        if (g)
            row_axpy(M, s, i, c, rg, g);
        if (hv)
            row_axpy(M, s, i, cv, rh, hv);
    }
    if (cr)
        memcpy(cr, cross, (size_t)M->m * sizeof *cr);
}

/* bl_problem.persample: each row the batch-of-one quantity (the data term
 * of one sample plus the whole regulariser; cross and ∇_λF do not depend
 * on the sample), every requested kind in one pass over each batch.
 * Hand-written, so the oracle's tests can compare it with the ad
 * recording. */
static bl_status persample_cb(const bl_persample_req *r, const double *theta, const double *lambda,
                              void *ctx)
{
    const lr_model *M = ctx;
    size_t p = (size_t)M->p, m = (size_t)M->m;
    double *g = r->rows[BL_PS_GRAD_G_THETA], *hv = r->rows[BL_PS_HVP], *cr = r->rows[BL_PS_CROSS];
    double *ft = r->rows[BL_PS_GRAD_F_THETA], *fl = r->rows[BL_PS_GRAD_F_LAMBDA];
    if (g || hv || cr) {
        double stack[192], *w = 2 * p + m <= 192 ? stack : malloc((2 * p + m) * sizeof *w);
        if (!w)
            return BL_ENOMEM;
        persample_common(M, theta, lambda, hv || cr ? r->v : NULL, w, w + p, w + 2 * p);
        for (int k = 0; k < r->inner->n; k++)
            persample_inner(M, r->inner->idx[k], theta, r->v, w, g ? g + k * p : NULL,
                            hv ? hv + k * p : NULL, cr ? cr + k * m : NULL);
        if (w != stack)
            free(w);
    }
    for (int k = 0; (ft || fl) && k < r->outer->n; k++) {
        int j = r->outer->idx[k];
        if (ft) {
            double y = M->val->y[j];
            row_axpy(M, M->val, j, -y * sigmoid(-y * row_dots(M, M->val, j, theta, NULL, NULL)), NULL,
                     ft + k * p);
        }
        if (fl)
            memset(fl + k * m, 0, m * sizeof *fl);
    }
    return BL_OK;
}

bl_problem lr_problem(lr_model *m)
{
    return (bl_problem){.name = "logreg", .p = m->p, .m = m->m, .G = record_G, .F = record_F,
                        .constants = constants_cb, .n_inner = m->train->n, .n_outer = m->val->n,
                        .ctx = m, .cross_norm = cross_norm_cb, .persample = persample_cb};
}

/* B = ∂(∇_θG)/∂λ: diag(e^λ ⊙ w) (per feature; the intercept's row is 0),
 * whose norm is max_k e^{λ_k}|w_k|, or the column e^λ w (scalar). */
double lr_cross_norm(const lr_model *M, const double *theta, const double *lambda)
{
    if (M->reg == LR_SCALAR)
        return exp(lambda[0]) * cblas_dnrm2(M->d, theta, 1);
    double b = 0;
    for (int k = 0; k < M->d; k++) {
        double a = exp(lambda[k]) * fabs(theta[k]);
        b = a > b ? a : b;
    }
    return b;
}

/* ---------------------------------------------------------- constants */

/*
 * Derivations (H = ∇²_θθG = (1/n) X̃ᵀ D X̃ + R, D = diag(σ'(s_i)), R = diag
 * of the penalty weights e^{λ_k} (and r_b)):
 *  μ:   X̃ᵀDX̃ ⪰ 0, so H ⪰ R ⪰ min(min_k e^{λ_k}, r_b) I.
 *  L:   σ' ≤ 1/4, so H ⪯ ‖X̃‖²/(4n) I + max(R).
 *  L_f: ∇²_θθF = (1/n_val) X̃_valᵀ D_val X̃_val ⪯ ‖X̃_val‖²/(4 n_val) I.
 *  L_H: H(θ) − H(θ') = (1/n) X̃ᵀ(D − D')X̃ with |σ'(s_i) − σ'(s'_i)| ≤
 *       |σ''|_∞ |x̃_iᵀ(θ − θ')| ≤ ‖x̃_i‖‖θ − θ'‖/(6√3), hence
 *       ‖H − H'‖ ≤ max_i‖x̃_i‖·‖X̃‖²/(6√3 n)·‖θ − θ'‖.
 *  L_B: B = ∂(∇_θG)/∂λ is diag(e^λ ⊙ w) (per feature, zero row for b) or
 *       the column e^λ w (scalar): linear in θ with norm max_k e^{λ_k}.
 *  L_Fλ = 0: F does not depend on λ.
 * ‖X̃‖² is certified by md_opnorm_sq_bound (min of Frobenius and Schur).
 * Free intercept (r_b = 0): L, L_f, L_H, L_B above still hold, but the
 * curvature along b, e_bᵀHe_b = (1/n) Σ_i σ'(s_i), tends to 0 as |b| → ∞
 * (every |s_i| grows), so inf_θ λ_min(H) = 0: μ = 0, certified = 0 and
 * BL_EINVAL (the callers estimate at their θ; logreg.h).
 */
bl_status lr_constants(const lr_model *M, const double *lambda, bl_constants *out)
{
    if (!M || !lambda || !out)
        return BL_EINVAL;
    double emin = INFINITY, emax = 0;
    for (int k = 0; k < M->m; k++) {
        double e = exp(lambda[k]);
        emin = e < emin ? e : emin;
        emax = e > emax ? e : emax;
    }
    double rmin = emin, rmax = emax;
    if (M->intercept) {
        rmin = M->rb < rmin ? M->rb : rmin;
        rmax = M->rb > rmax ? M->rb : rmax;
    }
    int n = M->train->n;
    out->mu = rmin;
    out->L = M->xx_train / (4.0 * n) + rmax;
    out->Lf = M->xx_val / (4.0 * M->val->n);
    out->LH = M->rowmax * M->xx_train / (6.0 * sqrt(3.0) * n);
    out->LB = emax;
    out->LFlam = 0.0;
    out->certified = !M->free_b;
    if (M->free_b) {
        out->mu = 0.0;
        return BL_EINVAL;
    }
    return BL_OK;
}

/* --------------------------------------------------------- references */

/* Stable σ(s) and softplus(s). */
static void sig_softplus(double s, double *sig, double *sp)
{
    double e = exp(-fabs(s));
    *sp = (s > 0 ? s : 0.0) + log1p(e);
    *sig = s >= 0 ? 1.0 / (1.0 + e) : e / (1.0 + e);
}

/* Mean loss of set s on a batch: value, gradient (p, overwritten) and,
 * with v, the data part of H·v (p, overwritten). Needs scratch of 2·nb. */
static bl_status ref_loss(const lr_model *M, const ds_set *s, const double *theta, const int *batch,
                          int nb, double *value, double *grad, const double *v, double *hv,
                          const char *what, char *msg, size_t msglen)
{
    bl_status st = md_check_batch(batch, nb, s->n, what, msg, msglen);
    if (st != BL_OK)
        return st;
    if (!batch)
        nb = s->n;
    int d = M->d;
    double *z = malloc((size_t)nb * 2 * sizeof *z), *u = z + nb;
    if (!z)
        return md_fail(msg, msglen, BL_ENOMEM, "%s: out of memory (batch %d)", what, nb);
    md_mul(s, batch, nb, theta, 1, z); /* z = X_B w */
    if (v)
        md_mul(s, batch, nb, v, 1, u); /* u = X_B v_w */
    double b = M->intercept ? theta[d] : 0.0, vb = M->intercept && v ? v[d] : 0.0;
    double f = 0, gb = 0, hb = 0;
    for (int r = 0; r < nb; r++) {
        double y = s->y[batch ? batch[r] : r], sg, sp;
        sig_softplus(-y * (z[r] + b), &sg, &sp);
        f += sp;
        z[r] = -y * sg / nb; /* dℓ/dz / nb */
        gb += z[r];
        if (v) {
            u[r] = sg * (1.0 - sg) * (u[r] + vb) / nb; /* σ'(s)·(x̃ᵀv) / nb */
            hb += u[r];
        }
    }
    if (value)
        *value = f / nb;
    if (grad) {
        md_tmul(s, batch, nb, z, 1, 0.0, grad);
        if (M->intercept)
            grad[d] = gb;
    }
    if (v) {
        md_tmul(s, batch, nb, u, 1, 0.0, hv);
        if (M->intercept)
            hv[d] = hb;
    }
    free(z);
    return md_ok(msg, msglen);
}

bl_status lr_ref_G(const lr_model *M, const double *theta, const double *lambda, const int *batch,
                   int nbatch, double *value, double *g_theta, double *g_lambda, char *msg,
                   size_t msglen)
{
    double f;
    bl_status st = ref_loss(M, M->train, theta, batch, nbatch, &f, g_theta, NULL, NULL, "lr_ref_G",
                            msg, msglen);
    if (st != BL_OK)
        return st;
    int d = M->d;
    double reg = 0;
    for (int k = 0; k < d; k++) {
        double e = exp(lambda[M->reg == LR_SCALAR ? 0 : k]), w = theta[k];
        reg += 0.5 * e * w * w;
        if (g_theta)
            g_theta[k] += e * w;
        if (g_lambda && M->reg == LR_PER_FEATURE)
            g_lambda[k] = 0.5 * e * w * w;
    }
    if (g_lambda && M->reg == LR_SCALAR)
        g_lambda[0] = reg;
    if (M->intercept) {
        reg += 0.5 * M->rb * theta[d] * theta[d];
        if (g_theta)
            g_theta[d] += M->rb * theta[d];
    }
    if (value)
        *value = f + reg;
    return BL_OK;
}

bl_status lr_ref_F(const lr_model *M, const double *theta, const double *lambda, const int *batch,
                   int nbatch, double *value, double *g_theta, double *g_lambda, char *msg,
                   size_t msglen)
{
    if (g_lambda)
        memset(g_lambda, 0, (size_t)M->m * sizeof *g_lambda);
    return ref_loss(M, M->val, theta, batch, nbatch, value, g_theta, NULL, NULL, "lr_ref_F", msg,
                    msglen);
}

bl_status lr_ref_hvp(const lr_model *M, const double *theta, const double *lambda,
                     const int *batch, int nbatch, const double *v, double *hv, double *cross,
                     char *msg, size_t msglen)
{
    int d = M->d;
    if (hv) {
        bl_status st = ref_loss(M, M->train, theta, batch, nbatch, NULL, NULL, v, hv,
                                "lr_ref_hvp", msg, msglen);
        if (st != BL_OK)
            return st;
        for (int k = 0; k < d; k++)
            hv[k] += exp(lambda[M->reg == LR_SCALAR ? 0 : k]) * v[k];
        if (M->intercept)
            hv[d] += M->rb * v[d];
    }
    if (cross) {
        if (M->reg == LR_SCALAR)
            cross[0] = exp(lambda[0]) * cblas_ddot(d, theta, 1, v, 1);
        else
            for (int k = 0; k < d; k++)
                cross[k] = exp(lambda[k]) * theta[k] * v[k];
    }
    return md_ok(msg, msglen);
}

/* The reference functions above behind md_reference (see dense.h). */
MD_DEFINE_REFERENCE(lr_reference, lr_model, lr_ref_G, lr_ref_F, lr_ref_hvp)
