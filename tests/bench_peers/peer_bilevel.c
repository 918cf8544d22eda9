/*
 * tests/bench_peers/peer_bilevel.c — the hypergradient workloads of the
 * peer benchmark, on the problem of tests/bench_bilevel/bbl_problem.h
 * (per-feature logistic regression; F the validation loss):
 *
 *   family unroll, ops lean | generic | ckpt, args n nv p K alpha:
 *     K steps of GD θ_{k+1} = θ_k − α∇_θG(θ_k, λ) from θ_0 = 0, then
 *     dF(θ_K)/dλ. hypertape: bl_hypergrad with unroll, unroll-generic or
 *     unroll-checkpointed (10 snapshots). Hand: forward storing θ_k (2
 *     passes over X per step; the (K+1)·p iterates allocated in the call),
 *     reverse c ← c − αH_k c with the cross term
 *     hg −= α e^λ⊙θ_k⊙c (3 passes per step), the same code for each op.
 *   family ift, ops whole | backward, args n nv p:
 *     whole: bl_hypergrad with ift-cg (inner L-BFGS to ‖∇_θG‖ ≤ 1e-10
 *     from 0, CG to 1e-12·max(1, ‖∇_θF‖)); no hand contender.
 *     backward: at the given θ* (PREFIX.theta.f64): record G, ∇F, 11 CG
 *     steps from q = 0, cross: hg = ∇_λF − ∇²_λθG q.
 * Both return hg (p entries).
 */
#include "peer_proto.h"

#include "../bench_bilevel/bbl_problem.h"

typedef struct pbl {
    bbl_data d;
    bl_problem pb;
    int unroll, op, ad, K, p;
    double alpha;
    double *lambda, *theta, *elam, *hg;
    double *thetas, *z, *w, *c, *u, *b, *q, *r, *dir, *hd, *gl;
    bl_oracle *o;
} pbl;

/* ------------------------------------------------------------ AD side */

static void pbl_ad(void *ctx)
{
    pbl *P = ctx;
    if (P->unroll || P->op == 0) {
        static const bl_method um[] = {BL_UNROLL, BL_UNROLL_GENERIC, BL_UNROLL_CHECKPOINTED};
        bl_hg_opts o = {.method = P->unroll ? um[P->op] : BL_IFT_CG, .diag_level = BL_DIAG_NONE};
        if (P->unroll) {
            o.inner_iters = P->K;
            o.step = P->alpha;
        }
        bl_diag d;
        bbl_run(&P->pb, P->lambda, &o, P->hg, &d, 0);
        return;
    }
    int p = P->p;
    bl_linear_opts lo = {.tol = 0, .max_iters = 11};
    memset(P->q, 0, (size_t)p * sizeof(double));
    bl_status st = bl_oracle_point(P->o, NULL, P->theta, P->lambda);
    st = st ? st : bl_oracle_F(P->o, NULL, P->theta, P->lambda, NULL, P->b, P->gl);
    st = st ? st : bl_linear_solve(P->o, BL_LINEAR_CG, P->b, P->q, &lo, NULL);
    st = st ? st : bl_oracle_hvp(P->o, P->q, NULL, P->hg);
    if (st != BL_OK) {
        fprintf(stderr, "peer ift backward: %s\n", bl_oracle_message(P->o));
        exit(1);
    }
    for (int k = 0; k < p; k++)
        P->hg[k] = P->gl[k] - P->hg[k];
}

/* ---------------------------------------------------------- hand side */

/* out = Aᵀ(lab ⊙ σ(lab ⊙ Aθ))/rows: ∇ of mean softplus(lab ⊙ Aθ); z, w rows-long. */
static void loss_grad(int rows, int p, const double *A, const double *lab, const double *th,
                      double *z, double *w, double *out)
{
    cblas_dgemv(CblasRowMajor, CblasNoTrans, rows, p, 1.0, A, p, th, 1, 0.0, z, 1);
    for (int i = 0; i < rows; i++) {
        double m = lab[i] * z[i], e = exp(-fabs(m));
        w[i] = lab[i] * (m >= 0 ? 1.0 / (1.0 + e) : e / (1.0 + e)) / rows;
    }
    cblas_dgemv(CblasRowMajor, CblasTrans, rows, p, 1.0, A, p, w, 1, 0.0, out, 1);
}

/* D = σ'(m)/n at θ into P->z (n). */
static void curvature(pbl *P, const double *th)
{
    int n = P->d.n, p = P->p;
    cblas_dgemv(CblasRowMajor, CblasNoTrans, n, p, 1.0, P->d.X, p, th, 1, 0.0, P->z, 1);
    for (int i = 0; i < n; i++) {
        double m = P->d.ny[i] * P->z[i], e = exp(-fabs(m));
        double s = m >= 0 ? 1.0 / (1.0 + e) : e / (1.0 + e);
        P->z[i] = s * (1.0 - s) / n;
    }
}

/* out = H x = Xᵀ(D ⊙ Xx) + e^λ ⊙ x with D in P->z. */
static void hess(pbl *P, const double *x, double *out)
{
    int n = P->d.n, p = P->p;
    cblas_dgemv(CblasRowMajor, CblasNoTrans, n, p, 1.0, P->d.X, p, x, 1, 0.0, P->w, 1);
    for (int i = 0; i < n; i++)
        P->w[i] *= P->z[i];
    cblas_dgemv(CblasRowMajor, CblasTrans, n, p, 1.0, P->d.X, p, P->w, 1, 0.0, out, 1);
    for (int k = 0; k < p; k++)
        out[k] += P->elam[k] * x[k];
}

static void hand_unroll(pbl *P)
{
    int n = P->d.n, p = P->p, K = P->K;
    double a = P->alpha;
    P->thetas = peer_alloc((size_t)(K + 1) * p * sizeof(double)); /* per call: its memory counts */
    for (int k = 0; k < K; k++) {
        double *th = P->thetas + (size_t)k * p, *nx = th + p;
        loss_grad(n, p, P->d.X, P->d.ny, th, P->z, P->w, P->u);
        for (int j = 0; j < p; j++)
            nx[j] = th[j] - a * (P->u[j] + P->elam[j] * th[j]);
    }
    loss_grad(P->d.nv, p, P->d.V, P->d.nz, P->thetas + (size_t)K * p, P->r, P->dir, P->c);
    memset(P->hg, 0, (size_t)p * sizeof(double));
    for (int k = K - 1; k >= 0; k--) {
        const double *th = P->thetas + (size_t)k * p;
        curvature(P, th);
        hess(P, P->c, P->u);
        for (int j = 0; j < p; j++) {
            P->hg[j] -= a * P->elam[j] * th[j] * P->c[j];
            P->c[j] -= a * P->u[j];
        }
    }
    free(P->thetas);
    P->thetas = NULL;
}

static void hand_ift_backward(pbl *P)
{
    int p = P->p;
    curvature(P, P->theta);
    loss_grad(P->d.nv, p, P->d.V, P->d.nz, P->theta, P->r, P->dir, P->b);
    memset(P->q, 0, (size_t)p * sizeof(double));
    memcpy(P->r, P->b, (size_t)p * sizeof(double));
    memcpy(P->dir, P->b, (size_t)p * sizeof(double));
    double rr = cblas_ddot(p, P->r, 1, P->r, 1);
    for (int it = 0; it < 11 && rr > 0; it++) {
        hess(P, P->dir, P->hd);
        double al = rr / cblas_ddot(p, P->dir, 1, P->hd, 1);
        cblas_daxpy(p, al, P->dir, 1, P->q, 1);
        cblas_daxpy(p, -al, P->hd, 1, P->r, 1);
        double rn = cblas_ddot(p, P->r, 1, P->r, 1);
        for (int k = 0; k < p; k++)
            P->dir[k] = P->r[k] + (rn / rr) * P->dir[k];
        rr = rn;
    }
    for (int k = 0; k < p; k++)
        P->hg[k] = -P->elam[k] * P->theta[k] * P->q[k]; /* ∇_λF = 0 */
}

static void pbl_hand(void *ctx)
{
    pbl *P = ctx;
    if (P->unroll)
        hand_unroll(P);
    else
        hand_ift_backward(P);
}

static const double *pbl_result(void *ctx, int *n)
{
    pbl *P = ctx;
    *n = P->p;
    return P->hg;
}

static void pbl_done(void *ctx)
{
    pbl *P = ctx;
    double *bufs[] = {P->d.X, P->d.ny, P->d.V, P->d.nz, P->lambda, P->theta, P->elam, P->hg,
                      P->thetas, P->z, P->w, P->c, P->u, P->b, P->q, P->r, P->dir, P->hd, P->gl};
    for (size_t k = 0; k < sizeof bufs / sizeof bufs[0]; k++)
        free(bufs[k]);
    bl_oracle_free(P->o);
    free(P);
}

static int pbl_load(pbl *P, const char *prefix, char *msg, size_t msglen)
{
    bbl_data *d = &P->d;
    size_t p = (size_t)d->p;
    d->X = peer_load(prefix, "X.f64", (size_t)d->n * p, 8, msg, msglen);
    d->ny = peer_load(prefix, "ny.f64", (size_t)d->n, 8, msg, msglen);
    d->V = peer_load(prefix, "V.f64", (size_t)d->nv * p, 8, msg, msglen);
    d->nz = peer_load(prefix, "nz.f64", (size_t)d->nv, 8, msg, msglen);
    P->lambda = peer_load(prefix, "lambda.f64", p, 8, msg, msglen);
    if (!P->unroll)
        P->theta = peer_load(prefix, "theta.f64", p, 8, msg, msglen);
    if (!d->X || !d->ny || !d->V || !d->nz || !P->lambda || (!P->unroll && !P->theta))
        return -1;
    for (int i = 0; i < d->n; i++) {
        double r = cblas_ddot(d->p, d->X + (size_t)i * p, 1, d->X + (size_t)i * p, 1);
        d->fro2_X += r;
        d->max_row_X = fmax(d->max_row_X, sqrt(r));
    }
    d->fro2_V = cblas_ddot(d->nv * d->p, d->V, 1, d->V, 1);
    return 0;
}

int peer_bilevel_setup(const char *role, const char *op, const char *prefix, int argc, char **argv,
                       peer_work *w, char *msg, size_t msglen)
{
    int unroll = !strcmp(argv[0], "unroll");
    static const char *uops[] = {"lean", "generic", "ckpt"}, *iops[] = {"whole", "backward"};
    int nops = unroll ? 3 : 2, k = 0;
    while (k < nops && strcmp(op, (unroll ? uops : iops)[k]))
        k++;
    if (k == nops || argc < (unroll ? 6 : 4)) {
        snprintf(msg, msglen, "%s: unknown op %s or missing arguments", argv[0], op);
        return -1;
    }
    int ad = !strcmp(role, "ht");
    if (!unroll && k == 0 && !ad)
        return 1; /* no hand-written L-BFGS */
    pbl *P = peer_alloc(sizeof *P);
    P->unroll = unroll;
    P->op = k;
    P->ad = ad;
    P->d.n = atoi(argv[1]);
    P->d.nv = atoi(argv[2]);
    P->p = P->d.p = atoi(argv[3]);
    if (unroll) {
        P->K = atoi(argv[4]);
        P->alpha = atof(argv[5]);
    }
    w->ctx = P;
    w->call = ad ? pbl_ad : pbl_hand;
    w->result = pbl_result;
    w->done = pbl_done;
    if (pbl_load(P, prefix, msg, msglen)) {
        pbl_done(P);
        return -1;
    }
    int p = P->p, nmax = P->d.n > P->d.nv ? P->d.n : P->d.nv;
    P->pb = bbl_problem_of(&P->d);
    double **pv[] = {&P->elam, &P->hg, &P->c, &P->u, &P->b, &P->q, &P->hd, &P->gl};
    for (size_t j = 0; j < sizeof pv / sizeof pv[0]; j++)
        *pv[j] = peer_alloc((size_t)p * sizeof(double));
    double **nv[] = {&P->z, &P->w, &P->r, &P->dir};
    for (size_t j = 0; j < sizeof nv / sizeof nv[0]; j++)
        *nv[j] = peer_alloc((size_t)(nmax > p ? nmax : p) * sizeof(double));
    for (int j = 0; j < p; j++)
        P->elam[j] = exp(P->lambda[j]);
    if (!unroll && k == 1 && ad && !(P->o = bl_oracle_new(&P->pb, 0))) {
        snprintf(msg, msglen, "ift: cannot create an oracle");
        pbl_done(P);
        return -1;
    }
    return 0;
}
