/*
 * models/cleaning.c — data hypercleaning (hc_): the ad recording, the
 * hand-written references, the certified constants and label corruption.
 *
 * Shapes: W c×(d+1) row-major = θ; logits U = Ã_B Wᵀ nb×c; λ n×1.
 * Per sample: u = W ã, s = softmax(u), CE = lse(u) − u_b, ∇_u CE = s − e_b,
 * ∇²_u CE = P = diag(s) − s sᵀ.
 */
#include <hypertape/models/cleaning.h>

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

struct hc_model {
    const ds_set *train, *val;
    int n, d, c, p;
    double r;
    double *rn;      /* ‖ã_i‖² of the training samples (n) */
    double xx_train; /* certified ≥ ‖Ã_train‖₂² */
    double xx_val;   /* certified ≥ ‖Ã_val‖₂² */
    double rowmax;   /* max_i ‖ã_i‖ (train) */
};

/* ------------------------------------------------------------ lifecycle */

bl_status hc_model_new(const ds_set *train, const ds_set *val, double r, hc_model **out,
                       char *msg, size_t msglen)
{
    if (!out)
        return md_fail(msg, msglen, BL_EINVAL, "hc_model_new: out is NULL");
    *out = NULL;
    if (!(r > 0) || !isfinite(r))
        return md_fail(msg, msglen, BL_EINVAL, "hc_model_new: ridge r must be finite and > 0 (got %g)", r);
    bl_status st = md_check_set(train, "hc_model_new: train", 0, 1, msg, msglen);
    if (st == BL_OK)
        st = md_check_set(val, "hc_model_new: val", 0, 1, msg, msglen);
    if (st != BL_OK)
        return st;
    if (val->d != train->d || val->nclass > train->nclass)
        return md_fail(msg, msglen, BL_EINVAL,
                       "hc_model_new: train is %dx%d with %d classes but val is %dx%d with %d",
                       train->n, train->d, train->nclass, val->n, val->d, val->nclass);
    hc_model *M = calloc(1, sizeof *M);
    if (!M || !(M->rn = malloc((size_t)train->n * sizeof *M->rn))) {
        free(M);
        return md_fail(msg, msglen, BL_ENOMEM, "hc_model_new: out of memory (train %dx%d)",
                       train->n, train->d);
    }
    M->train = train;
    M->val = val;
    M->n = train->n;
    M->d = train->d;
    M->c = train->nclass;
    M->p = M->c * (M->d + 1);
    M->r = r;
    M->xx_train = md_opnorm_sq_bound(train, 1);
    M->xx_val = md_opnorm_sq_bound(val, 1);
    md_row_norms_sq(train, 1, M->rn);
    for (int i = 0; i < M->n; i++)
        M->rowmax = M->rn[i] > M->rowmax ? M->rn[i] : M->rowmax;
    M->rowmax = sqrt(M->rowmax);
    if (M->xx_train < 0 || M->xx_val < 0) {
        hc_model_free(M);
        return md_fail(msg, msglen, BL_ENOMEM, "hc_model_new: out of memory (d = %d)", train->d);
    }
    *out = M;
    return md_ok(msg, msglen);
}

void hc_model_free(hc_model *m)
{
    if (!m)
        return;
    free(m->rn);
    free(m);
}

int hc_classes(const hc_model *m) { return m->c; }

/* ------------------------------------------------------------ recording */

/* Per-sample cross-entropies of set s on a batch (nb×1). */
static ad_var record_ce(ad_tape *t, const hc_model *M, const ds_set *s, ad_var theta,
                        const int *batch, int nb)
{
    int c = M->c, d = M->d;
    ad_var W = ad_reshape(t, theta, c, d + 1);                          /* c×(d+1) */
    ad_var Wt = ad_transpose(t, ad_slice(t, W, 0, c, 0, d));            /* d×c */
    ad_var bias = ad_reshape(t, ad_slice(t, W, 0, c, d, 1), 1, c);      /* 1×c */
    ad_var U = ad_add(t, md_record_mul(t, s, batch, nb, Wt), bias);     /* nb×c */
    if (!batch || !ad_ok(U)) /* (a failed U means a bad batch, recorded on t) */
        return ad_softmax_xent(t, U, s->cls);
    int *lab = malloc((size_t)nb * sizeof *lab);
    if (!lab) /* no memory for the batch labels: the batch rows of all CEs */
        return ad_gather_rows(
            t, ad_softmax_xent(t, ad_add(t, md_record_mul(t, s, NULL, 0, Wt), bias), s->cls),
            batch, nb);
    for (int k = 0; k < nb; k++)
        lab[k] = s->cls[batch[k]];
    ad_var ce = ad_softmax_xent(t, U, lab); /* copies the labels */
    free(lab);
    return ce;
}

static ad_var record_G(ad_tape *t, ad_var theta, ad_var lambda, const int *batch, int nb,
                       void *ctx)
{
    const hc_model *M = ctx;
    ad_var ce = record_ce(t, M, M->train, theta, batch, nb); /* nb×1 */
    ad_var lam = batch ? ad_gather_rows(t, lambda, batch, nb) : lambda;
    ad_var data = ad_mean(t, ad_mul(t, ad_sigmoid(t, lam), ce));
    return ad_add(t, data, ad_scale(t, ad_dot(t, theta, theta), 0.5 * M->r));
}

static ad_var record_F(ad_tape *t, ad_var theta, ad_var lambda, const int *batch, int nb,
                       void *ctx)
{
    const hc_model *M = ctx;
    return ad_mean(t, record_ce(t, M, M->val, theta, batch, nb));
}

static bl_status constants_cb(const double *lambda, bl_constants *out, void *ctx)
{
    return hc_constants(ctx, lambda, out);
}

static double cross_norm_cb(const double *theta, const double *lambda, void *ctx)
{
    return hc_cross_norm(ctx, theta, lambda);
}

bl_problem hc_problem(hc_model *m)
{
    return (bl_problem){.name = "cleaning", .p = m->p, .m = m->n, .G = record_G, .F = record_F,
                        .constants = constants_cb, .n_inner = m->n, .n_outer = m->val->n,
                        .ctx = m, .cross_norm = cross_norm_cb};
}

/* ---------------------------------------------------------- constants */

static double sigm(double x) { return x >= 0 ? 1.0 / (1.0 + exp(-x)) : exp(x) / (1.0 + exp(x)); }

/*
 * Derivations. H = rI + (1/n) Σ_i σ(λ_i) P_i ⊗ ã_iã_iᵀ (θ = vec(W) row-major,
 * u_i = W ã_i, ∂u_i/∂θ = I_c ⊗ ã_iᵀ).
 *  μ = r: every P_i ⪰ 0 and σ > 0, so the data term is convex.
 *  L:  vᵀP v = Var_s(v) ≤ (max v − min v)²/4 ≤ ‖v‖²/2 (Popoviciu), so
 *      P_i ⪯ ½ I and, as Kronecker products of PSD matrices are PSD,
 *      P_i ⊗ M ⪯ ½ I ⊗ M for M ⪰ 0. Hence H ⪯ rI + (1/2n) I ⊗ Σσ_i ã_iã_iᵀ,
 *      whose top eigenvalue is r + ‖diag(σ)^{1/2}Ã‖²/(2n) ≤ r + S/(2n) with
 *      S = min(Σσ_i‖ã_i‖² (trace), max σ_i ‖Ã‖²).
 *  L_f = ‖Ã_val‖²/(2 n_val): the same with weights 1/n_val.
 *  L_H: the third derivative of lse along (v, v, w) is the third joint
 *      central moment E_s[(v − v̄)²(w − w̄)] ≤ max_j|w_j − w̄|·Var_s(v) ≤
 *      √2‖w‖·½‖v‖², so ‖P(u) − P(u')‖ ≤ ‖u − u'‖/√2 and ‖u_i − u'_i‖ ≤
 *      ‖ã_i‖‖θ − θ'‖. With D_i = P_i − P'_i: ±D_i ⊗ M ⪯ ‖D_i‖ I ⊗ M, so
 *      ‖H − H'‖ ≤ (1/n)‖Σσ_i‖D_i‖ ã_iã_iᵀ‖ ≤ max‖ã_i‖·S/(√2 n)·‖θ − θ'‖.
 *  L_B: column i of B = ∂∇_θG/∂λ is (1/n)σ'(λ_i)(s_i − e_{b_i}) ⊗ ã_i and
 *      ‖s_i − s'_i‖ ≤ ½‖u_i − u'_i‖ (P ⪯ ½I), so the Frobenius norm gives
 *      ‖B − B'‖ ≤ √(Σσ'(λ_i)²‖ã_i‖⁴)/(2n)·‖θ − θ'‖.
 *  L_Fλ = 0: F does not depend on λ.
 */
bl_status hc_constants(const hc_model *M, const double *lambda, bl_constants *out)
{
    if (!M || !lambda || !out)
        return BL_EINVAL;
    double tr = 0, smax = 0, lb = 0;
    for (int i = 0; i < M->n; i++) {
        double s = sigm(lambda[i]), ds = s * (1.0 - s);
        tr += s * M->rn[i];
        smax = s > smax ? s : smax;
        lb += ds * ds * M->rn[i] * M->rn[i];
    }
    double S = smax * M->xx_train < tr ? smax * M->xx_train : tr;
    out->mu = M->r;
    out->L = M->r + S / (2.0 * M->n);
    out->Lf = M->xx_val / (2.0 * M->val->n);
    out->LH = M->rowmax * S / (sqrt(2.0) * M->n);
    out->LB = sqrt(lb) / (2.0 * M->n);
    out->LFlam = 0.0;
    out->certified = 1;
    return BL_OK;
}

/* --------------------------------------------------------- references */

/* Logits (nb×c) of W (c×(d+1) row-major) for the batch of s; wt is d×c
 * scratch. */
static void logits(const hc_model *M, const ds_set *s, const double *W, const int *batch, int nb,
                   double *wt, double *U)
{
    int c = M->c, d = M->d;
    for (int j = 0; j < c; j++)
        for (int k = 0; k < d; k++)
            wt[(size_t)k * c + j] = W[(size_t)j * (d + 1) + k];
    md_mul(s, batch, nb, wt, c, U);
    for (int r = 0; r < nb; r++)
        for (int j = 0; j < c; j++)
            U[(size_t)r * c + j] += W[(size_t)j * (d + 1) + d];
}

/* out (p, θ layout) = Ã_Bᵀ Gu (Gu nb×c), i.e. out = Guᵀ Ã_B; wt d×c scratch. */
static void back(const hc_model *M, const ds_set *s, const int *batch, int nb, const double *Gu,
                 double *wt, double *out)
{
    int c = M->c, d = M->d;
    md_tmul(s, batch, nb, Gu, c, 0.0, wt);
    for (int j = 0; j < c; j++) {
        double b = 0;
        for (int r = 0; r < nb; r++)
            b += Gu[(size_t)r * c + j];
        for (int k = 0; k < d; k++)
            out[(size_t)j * (d + 1) + k] = wt[(size_t)k * c + j];
        out[(size_t)j * (d + 1) + d] = b;
    }
}

/* The shared core: lambda NULL means unit weights and no regulariser (F).
 * Any output may be NULL; v is needed for hv and cross. */
static bl_status ref_core(const hc_model *M, const ds_set *s, const double *theta,
                          const double *lambda, const int *batch, int nb, double *value,
                          double *g_theta, double *g_lambda, const double *v, double *hv,
                          double *cross, const char *what, char *msg, size_t msglen)
{
    bl_status st = md_check_batch(batch, nb, s->n, what, msg, msglen);
    if (st != BL_OK)
        return st;
    if (!batch)
        nb = s->n;
    int c = M->c, d = M->d, p = M->p;
    size_t nc = (size_t)nb * c;
    double *U = malloc((4 * nc + (size_t)d * c + (size_t)c) * sizeof *U);
    if (!U)
        return md_fail(msg, msglen, BL_ENOMEM, "%s: out of memory (batch %d, %d classes)", what,
                       nb, c);
    double *dU = U + nc, *Gu = dU + nc, *Hu = Gu + nc, *wt = Hu + nc, *Pd = wt + (size_t)d * c;
    logits(M, s, theta, batch, nb, wt, U);
    if (v)
        logits(M, s, v, batch, nb, wt, dU);
    if (g_lambda)
        memset(g_lambda, 0, (size_t)M->n * sizeof *g_lambda);
    if (cross)
        memset(cross, 0, (size_t)M->n * sizeof *cross);
    double f = 0;
    for (int r = 0; r < nb; r++) {
        int i = batch ? batch[r] : r, b = s->cls[i];
        double *u = U + (size_t)r * c, *du = dU + (size_t)r * c;
        double *gu = Gu + (size_t)r * c, *hu = Hu + (size_t)r * c;
        double mx = u[0];
        for (int j = 1; j < c; j++)
            mx = u[j] > mx ? u[j] : mx;
        double z = 0;
        for (int j = 0; j < c; j++)
            z += exp(u[j] - mx);
        double ce = mx + log(z) - u[b];
        double w = lambda ? sigm(lambda[i]) : 1.0, dw = w * (1.0 - w);
        f += w * ce;
        double sdu = 0, gdu = 0; /* sᵀδu, ⟨s − e_b, δu⟩ */
        for (int j = 0; j < c; j++) {
            double sj = exp(u[j] - mx) / z;
            gu[j] = sj - (j == b); /* ∇_u CE */
            Pd[j] = sj;
            if (v) {
                sdu += sj * du[j];
                gdu += gu[j] * du[j];
            }
        }
        if (v)
            for (int j = 0; j < c; j++)
                hu[j] = w * Pd[j] * (du[j] - sdu) / nb; /* σ(λ_i) P δu / nb */
        if (g_lambda && lambda)
            g_lambda[i] += dw * ce / nb;
        if (cross && lambda)
            cross[i] += dw * gdu / nb;
        for (int j = 0; j < c; j++)
            gu[j] *= w / nb;
    }
    double reg = lambda ? 0.5 * M->r * cblas_ddot(p, theta, 1, theta, 1) : 0.0;
    if (value)
        *value = f / nb + reg;
    if (g_theta) {
        back(M, s, batch, nb, Gu, wt, g_theta);
        if (lambda)
            cblas_daxpy(p, M->r, theta, 1, g_theta, 1);
    }
    if (hv) {
        back(M, s, batch, nb, Hu, wt, hv);
        cblas_daxpy(p, M->r, v, 1, hv, 1);
    }
    free(U);
    return md_ok(msg, msglen);
}

bl_status hc_ref_G(const hc_model *M, const double *theta, const double *lambda, const int *batch,
                   int nbatch, double *value, double *g_theta, double *g_lambda, char *msg,
                   size_t msglen)
{
    return ref_core(M, M->train, theta, lambda, batch, nbatch, value, g_theta, g_lambda, NULL, NULL,
                    NULL, "hc_ref_G", msg, msglen);
}

bl_status hc_ref_F(const hc_model *M, const double *theta, const double *lambda, const int *batch,
                   int nbatch, double *value, double *g_theta, double *g_lambda, char *msg,
                   size_t msglen)
{
    if (g_lambda)
        memset(g_lambda, 0, (size_t)M->n * sizeof *g_lambda);
    return ref_core(M, M->val, theta, NULL, batch, nbatch, value, g_theta, NULL, NULL, NULL, NULL,
                    "hc_ref_F", msg, msglen);
}

bl_status hc_ref_hvp(const hc_model *M, const double *theta, const double *lambda,
                     const int *batch, int nbatch, const double *v, double *hv, double *cross,
                     char *msg, size_t msglen)
{
    return ref_core(M, M->train, theta, lambda, batch, nbatch, NULL, NULL, NULL, v, hv, cross,
                    "hc_ref_hvp", msg, msglen);
}

/* Column i of B is (1/n)σ'(λ_i)(s_i − e_{b_i}) ⊗ ã_i, of norm
 * (1/n)σ'(λ_i)‖s_i − e_{b_i}‖‖ã_i‖; ‖B‖ ≤ ‖B‖_F. */
double hc_cross_norm(const hc_model *M, const double *theta, const double *lambda)
{
    int n = M->n, c = M->c, d = M->d;
    double *U = malloc(((size_t)n * c + (size_t)d * c) * sizeof *U);
    if (!U)
        return -1.0;
    logits(M, M->train, theta, NULL, n, U + (size_t)n * c, U);
    double fro = 0;
    for (int i = 0; i < n; i++) {
        const double *u = U + (size_t)i * c;
        double mx = u[0], z = 0, q = 0;
        for (int j = 1; j < c; j++)
            mx = u[j] > mx ? u[j] : mx;
        for (int j = 0; j < c; j++)
            z += exp(u[j] - mx);
        for (int j = 0; j < c; j++) {
            double g = exp(u[j] - mx) / z - (j == M->train->cls[i]);
            q += g * g;
        }
        double w = sigm(lambda[i]), dw = w * (1.0 - w);
        fro += dw * dw * q * M->rn[i];
    }
    free(U);
    return sqrt(fro) / n;
}

/* The reference functions above behind md_reference (see dense.h). */
MD_DEFINE_REFERENCE(hc_reference, hc_model, hc_ref_G, hc_ref_F, hc_ref_hvp)

/* ------------------------------------------------------- corruption */

/* Marks exactly k = round(prob·n) samples, a uniform k-subset (partial
 * Fisher–Yates on the indices), in flag (n, zeroed first). */
static bl_status pick_exact(int n, double prob, md_rng *g, unsigned char *flag, char *msg,
                            size_t msglen)
{
    int k = (int)floor(prob * n + 0.5), *perm = malloc((size_t)n * sizeof *perm);
    if (!perm)
        return md_fail(msg, msglen, BL_ENOMEM, "hc_corrupt_labels_mode: cannot allocate %d ints", n);
    for (int i = 0; i < n; i++)
        perm[i] = i, flag[i] = 0;
    for (int j = 0; j < k; j++) {
        int r = j + md_rng_below(g, n - j), t = perm[j];
        perm[j] = perm[r], perm[r] = t;
        flag[perm[j]] = 1;
    }
    free(perm);
    return BL_OK;
}

/* The new label of a selected sample with label c. */
static int new_label(md_rng *g, int c, int nclass, int mode)
{
    if (mode == HC_CORRUPT_UNIFORM)
        return md_rng_below(g, nclass);
    int k = md_rng_below(g, nclass - 1); /* one of the other nclass − 1 classes */
    return k >= c ? k + 1 : k;
}

bl_status hc_corrupt_labels_mode(int *cls, int n, int nclass, double prob, int mode, int exact,
                                 uint64_t seed, unsigned char *corrupted, int *ncorrupted,
                                 char *msg, size_t msglen)
{
    if (!cls || n < 1 || nclass < 2 || !(prob >= 0 && prob <= 1))
        return md_fail(msg, msglen, BL_EINVAL,
                       "hc_corrupt_labels: need labels, n >= 1, nclass >= 2 and prob in [0, 1] "
                       "(n %d, nclass %d, prob %g)",
                       n, nclass, prob);
    if (mode < 0 || mode >= HC_CORRUPT_MODE_COUNT)
        return md_fail(msg, msglen, BL_EINVAL, "hc_corrupt_labels_mode: unknown mode %d", mode);
    for (int i = 0; i < n; i++)
        if (cls[i] < 0 || cls[i] >= nclass)
            return md_fail(msg, msglen, BL_EINVAL,
                           "hc_corrupt_labels: label %d of sample %d is outside [0, %d)", cls[i],
                           i, nclass);
    md_rng g = {seed};
    unsigned char *pick = NULL;
    if (exact) {
        if (!(pick = malloc((size_t)n)))
            return md_fail(msg, msglen, BL_ENOMEM, "hc_corrupt_labels_mode: cannot allocate %d flags", n);
        bl_status st = pick_exact(n, prob, &g, pick, msg, msglen);
        if (st != BL_OK) {
            free(pick);
            return st;
        }
    }
    int cnt = 0;
    for (int i = 0; i < n; i++) {
        int hit = exact ? pick[i] : md_rng_uniform(&g) < prob;
        if (hit) {
            cls[i] = new_label(&g, cls[i], nclass, mode);
            cnt++;
        }
        if (corrupted)
            corrupted[i] = (unsigned char)hit;
    }
    free(pick);
    if (ncorrupted)
        *ncorrupted = cnt;
    return md_ok(msg, msglen);
}

bl_status hc_corrupt_labels(int *cls, int n, int nclass, double prob, uint64_t seed,
                            unsigned char *corrupted, int *ncorrupted, char *msg, size_t msglen)
{
    return hc_corrupt_labels_mode(cls, n, nclass, prob, HC_CORRUPT_OTHER, 0, seed, corrupted,
                                  ncorrupted, msg, msglen);
}

const char *hc_corrupt_mode_name(int mode)
{
    return mode == HC_CORRUPT_OTHER ? "other" : mode == HC_CORRUPT_UNIFORM ? "uniform" : "(unknown)";
}

int hc_corrupt_mode_from_name(const char *name)
{
    for (int k = 0; name && k < HC_CORRUPT_MODE_COUNT; k++)
        if (!strcmp(hc_corrupt_mode_name(k), name))
            return k;
    return -1;
}

typedef struct lam_flag {
    double lam;
    int bad;
} lam_flag;

static int cmp_lam(const void *a, const void *b)
{
    double x = ((const lam_flag *)a)->lam, y = ((const lam_flag *)b)->lam;
    return (x > y) - (x < y);
}

bl_status hc_separation_auc(const double *lambda, const unsigned char *corrupted, int n,
                            double *auc, char *msg, size_t msglen)
{
    if (!lambda || !corrupted || !auc || n < 2)
        return md_fail(msg, msglen, BL_EINVAL, "hc_separation_auc: need lambda, flags, auc, n >= 2 (n %d)", n);
    lam_flag *a = malloc((size_t)n * sizeof *a);
    if (!a)
        return md_fail(msg, msglen, BL_ENOMEM, "hc_separation_auc: out of memory (n %d)", n);
    for (int i = 0; i < n; i++)
        a[i] = (lam_flag){lambda[i], corrupted[i] != 0};
    qsort(a, (size_t)n, sizeof *a, cmp_lam);
    /* Walk groups of equal λ in increasing order; each clean sample beats
     * every corrupted one below its group and half of those in it. */
    double wins = 0, nbad = 0, nclean = 0, bad_below = 0;
    for (int i = 0; i < n;) {
        int j = i;
        double gb = 0, gc = 0;
        for (; j < n && a[j].lam == a[i].lam; j++)
            a[j].bad ? gb++ : gc++;
        wins += gc * (bad_below + 0.5 * gb);
        bad_below += gb;
        nbad += gb;
        nclean += gc;
        i = j;
    }
    free(a);
    if (nbad == 0 || nclean == 0)
        return md_fail(msg, msglen, BL_EINVAL,
                       "hc_separation_auc: %g clean and %g corrupted samples; need both", nclean,
                       nbad);
    *auc = wins / (nbad * nclean);
    return md_ok(msg, msglen);
}

bl_status hc_detect(const double *lambda, const unsigned char *corrupted, int n, hc_detection *out,
                    char *msg, size_t msglen)
{
    if (!lambda || !corrupted || !out || n < 1)
        return md_fail(msg, msglen, BL_EINVAL, "hc_detect: need lambda, flags, out, n >= 1 (n %d)", n);
    hc_detection d = {0, 0, 0, NAN, NAN};
    for (int i = 0; i < n; i++) {
        int flag = lambda[i] < 0, bad = corrupted[i] != 0;
        d.flagged += flag;
        d.corrupted += bad;
        d.hits += flag && bad;
    }
    if (d.flagged)
        d.precision = (double)d.hits / d.flagged;
    if (d.corrupted)
        d.recall = (double)d.hits / d.corrupted;
    *out = d;
    return md_ok(msg, msglen);
}

/* ---------------------------------------------------------- evaluation */

bl_status hc_evaluate(const hc_model *M, const ds_set *s, const double *theta, double *ce,
                      double *acc, char *msg, size_t msglen)
{
    bl_status st = md_check_set(s, "hc_evaluate: set", 0, 1, msg, msglen);
    if (st != BL_OK)
        return st;
    if (s->d != M->d || s->nclass > M->c)
        return md_fail(msg, msglen, BL_EINVAL,
                       "hc_evaluate: the set has %d features and %d classes; the model %d and %d",
                       s->d, s->nclass, M->d, M->c);
    int c = M->c, n = s->n;
    double *U = malloc(((size_t)n * c + (size_t)M->d * c) * sizeof *U);
    if (!U)
        return md_fail(msg, msglen, BL_ENOMEM, "hc_evaluate: out of memory (%d samples)", n);
    logits(M, s, theta, NULL, n, U + (size_t)n * c, U);
    double f = 0;
    long right = 0;
    for (int i = 0; i < n; i++) {
        const double *u = U + (size_t)i * c;
        int best = 0;
        for (int j = 1; j < c; j++)
            best = u[j] > u[best] ? j : best;
        double z = 0;
        for (int j = 0; j < c; j++)
            z += exp(u[j] - u[best]);
        f += u[best] + log(z) - u[s->cls[i]];
        right += best == s->cls[i];
    }
    free(U);
    if (ce)
        *ce = f / n;
    if (acc)
        *acc = (double)right / n;
    return md_ok(msg, msglen);
}
