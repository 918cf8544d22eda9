/*
 * tests/models/test_lstsq.c — the least-squares bilevel problem (lsq_):
 *   1. the independent PyTorch fixture (tests/data/lstsq.json defines its
 *      own A, C, D, b, e): the closed forms x*(w), h(w), ∇h(w) reproduce it
 *      to 1e-9, and so does the dense-solve hypergradient of the reference;
 *   2. the closed forms against conjugate gradients on the reference
 *      gradient and against central differences of h(w) (the sign
 *      convention of ∇h = 2(A D⁺ C)ᵀ(b − A x*));
 *   3. generated instances (m ≠ p): ad vs reference (1e-10), full and
 *      minibatch, reference vs finite differences, minibatch vs a model on
 *      the subset rows, constants (μ, L, L_f, ‖B‖ attained; L_H = L_B = 0);
 *   4. the generator (sizes, U[0,1) entries, determinism) and errors;
 *   5. the certified constants (LAPACK dsyev in the model) against a
 *      cyclic Jacobi written here on the same Gram matrices (the model's
 *      former method), for m < p, m = p and m > p: equal to 1e-12·‖·‖.
 * Usage: test_models_lstsq DATA_DIR
 */
#include "mcheck.h"

#include <hypertape/models/lstsq.h>

#include <float.h>
#include <stdlib.h>

static void test_fixture(const char *dir)
{
    char path[1024], msg[256];
    snprintf(path, sizeof path, "%s/lstsq.json", dir);
    char *js = j_read(path);
    EXPECT(js != NULL, "cannot read %s", path);
    if (!js)
        return;
    enum { R = 60, P = 5 };
    double A[R * P], C[R * P], D[R * P], b[R], e[R], w[P], xs[P], want_f = NAN, hg[P];
    EXPECT(j_nums(j_key(js, "A"), A, R * P) == R * P && j_nums(j_key(js, "C"), C, R * P) == R * P &&
               j_nums(j_key(js, "D"), D, R * P) == R * P && j_nums(j_key(js, "b"), b, R) == R &&
               j_nums(j_key(js, "e"), e, R) == R && j_nums(j_key(js, "w"), w, P) == P &&
               j_nums(j_key(js, "x_star"), xs, P) == P &&
               j_nums(j_key(js, "outer_value"), &want_f, 1) == 1 &&
               j_nums(j_key(js, "hypergradient"), hg, P) == P,
           "fixture %s has unexpected sizes", path);
    lsq_model *M;
    bl_status st = lsq_model_new(R, P, P, R, A, b, C, D, e, &M, msg, sizeof msg);
    EXPECT(st == BL_OK, "lsq_model_new: %s", msg);
    if (st == BL_OK) {
        double x[P], f, g[P], x2[P] = {0}, g2[P], f2;
        EXPECT(lsq_hypergrad(M, w, &f, g, x, msg, sizeof msg) == BL_OK, "%s", msg);
        EXPECT(t_relerr(x, xs, P, 1e-300) < 1e-9, "x* vs PyTorch: rel %.3g", t_relerr(x, xs, P, 1e-300));
        EXPECT(fabs(f - want_f) < 1e-9 * want_f, "h(w) %.17g vs PyTorch %.17g", f, want_f);
        EXPECT(t_relerr(g, hg, P, 1e-300) < 1e-9, "closed-form hypergradient vs PyTorch: rel %.3g",
               t_relerr(g, hg, P, 1e-300));
        md_reference ref = lsq_reference(M);
        mc_newton(ref, P, P, x2, w);
        mc_dense_hypergrad(ref, P, P, x2, w, g2, &f2);
        EXPECT(t_relerr(g2, hg, P, 1e-300) < 1e-8, "dense-solve hypergradient vs PyTorch: rel %.3g",
               t_relerr(g2, hg, P, 1e-300));
        lsq_model_free(M);
    }
    free(js);
}

static void test_closed_forms(void)
{
    lsq_model *M;
    char msg[256];
    EXPECT(lsq_generate(7, 1000, 10, 10, &M, msg, sizeof msg) == BL_OK, "%s", msg);
    lsq_view v = lsq_data(M);
    int p = v.p, m = v.m;
    double w[10], x[10], xc[10], g[10], f;
    lsq_default_lambda(M, w);
    EXPECT(w[0] == 1.0 && w[9] == 1.0, "default w is not 1");
    EXPECT(lsq_hypergrad(M, w, &f, g, x, msg, sizeof msg) == BL_OK, "%s", msg);
    /* CG on the reference gradient of G (H v from the reference). */
    md_reference ref = lsq_reference(M);
    int it = mc_cg(ref, p, w, xc, 1e-14, 200);
    bl_constants k;
    lsq_constants(M, w, &k);
    EXPECT(it > 0, "CG did not converge");
    EXPECT(t_relerr(xc, x, (size_t)p, 1e-300) < 1e-12 * fmax(1.0, k.L / k.mu),
           "closed-form x* vs CG: rel %.3g (kappa %.3g)", t_relerr(xc, x, (size_t)p, 1e-300), k.L / k.mu);
    /* ∇h by central differences of h(w) = ‖A x*(w) − b‖² (quadratic in w). */
    double fd[10], h = 1e-4;
    for (int j = 0; j < m; j++) {
        double fp, fm;
        w[j] += h;
        lsq_hypergrad(M, w, &fp, NULL, NULL, NULL, 0);
        w[j] -= 2 * h;
        lsq_hypergrad(M, w, &fm, NULL, NULL, NULL, 0);
        w[j] += h;
        fd[j] = (fp - fm) / (2 * h);
    }
    EXPECT(t_relerr(g, fd, (size_t)m, 1e-300) < 1e-7, "hypergradient vs FD of h: rel %.3g",
           t_relerr(g, fd, (size_t)m, 1e-300));
    lsq_model_free(M);
}

static void test_random(t_rng *r)
{
    int nrow = 120, p = 6, m = 4;
    lsq_model *M;
    char msg[256];
    EXPECT(lsq_generate(11, nrow, p, m, &M, msg, sizeof msg) == BL_OK, "%s", msg);
    bl_problem pb = lsq_problem(M);
    md_reference ref = lsq_reference(M);
    EXPECT(pb.p == p && pb.m == m && pb.n_inner == nrow && pb.n_outer == nrow, "problem sizes");
    double x[6], w[4], obs[3];
    int bi[10], bo[7];
    for (int rep = 0; rep < 2; rep++) {
        mc_fill_normal(r, x, p, 1.0);
        mc_fill_normal(r, w, m, 1.0);
        mc_batch(r, nrow, 10, bi);
        mc_batch(r, nrow, 7, bo);
        mc_compare_ad(&pb, ref, x, w, NULL, 0, NULL, 0, r, 1e-10, "lstsq");
        mc_compare_ad(&pb, ref, x, w, bi, 10, bo, 7, r, 1e-10, "lstsq batch");
        mc_check_fd(ref, p, m, x, w, NULL, 0, NULL, 0, r, 1e-4, 1e-7, "lstsq");
        mc_check_fd(ref, p, m, x, w, bi, 10, bo, 7, r, 1e-4, 1e-7, "lstsq batch");
        bl_constants k = mc_check_constants_obs(&pb, ref, x, w, r, "lstsq", obs);
        EXPECT(fabs(obs[0] - k.mu) <= 1e-10 * k.L && fabs(obs[1] - k.L) <= 1e-10 * k.L,
               "mu %.15g L %.15g vs spectrum [%.15g, %.15g]", k.mu, k.L, obs[0], obs[1]);
        EXPECT(fabs(obs[2] - k.Lf) <= 1e-6 * k.Lf, "L_f %.12g vs F's top eigenvalue %.12g", k.Lf, obs[2]);
        EXPECT(k.LB == 0 && k.LH == 0 && k.LFlam == 0, "L_B, L_H, L_Flam not 0");
        /* ‖B‖ = ‖2DᵀC‖ is attained: B's rows are cross(e_k). */
        double B[6 * 4], e[6] = {0}, hv[6];
        for (int q = 0; q < p; q++) {
            e[q] = 1.0;
            ref.hvp(M, x, w, NULL, 0, e, hv, B + q * m, NULL, 0);
            e[q] = 0.0;
        }
        double bn = mc_norm2(p, m, B), cb = pb.cross_norm(x, w, pb.ctx);
        EXPECT(bn <= cb && cb <= bn * (1 + 1e-10), "||B|| %.15g vs cross_norm %.15g", bn, cb);
    }
    /* A minibatch is (nrow/nb) times the same sum on a model of those rows. */
    lsq_view v = lsq_data(M);
    double *A = mc_vec(10 * 6), *b = mc_vec(10), *C = mc_vec(10 * 4), *D = mc_vec(10 * 6), *ee = mc_vec(10);
    for (int k = 0; k < 10; k++) {
        memcpy(A + k * p, v.A + (size_t)bi[k] * p, (size_t)p * sizeof *A);
        memcpy(D + k * p, v.D + (size_t)bi[k] * p, (size_t)p * sizeof *D);
        memcpy(C + k * m, v.C + (size_t)bi[k] * m, (size_t)m * sizeof *C);
        b[k] = v.b[bi[k]];
        ee[k] = v.e[bi[k]];
    }
    lsq_model *Ms;
    EXPECT(lsq_model_new(10, p, m, 10, A, b, C, D, ee, &Ms, msg, sizeof msg) == BL_OK, "%s", msg);
    double fb, fs, gb[6], gs[6], lb[4], ls[4];
    lsq_ref_G(M, x, w, bi, 10, &fb, gb, lb, NULL, 0);
    lsq_ref_G(Ms, x, w, NULL, 0, &fs, gs, ls, NULL, 0);
    double s = nrow / 10.0;
    for (int k = 0; k < p; k++)
        gs[k] *= s;
    for (int k = 0; k < m; k++)
        ls[k] *= s;
    EXPECT(fabs(fb - s * fs) < 1e-12 * fb && t_relerr(gb, gs, 6, 1e-300) < 1e-12 &&
               t_relerr(lb, ls, 4, 1e-300) < 1e-12,
           "batch G vs subset model: %.17g vs %.17g", fb, s * fs);
    lsq_ref_F(M, x, w, bi, 10, &fb, gb, NULL, NULL, 0);
    lsq_ref_F(Ms, x, w, NULL, 0, &fs, gs, NULL, NULL, 0);
    EXPECT(fabs(fb - s * fs) < 1e-12 * fb, "batch F vs subset model: %.17g vs %.17g", fb, s * fs);
    lsq_model_free(Ms);
    free(A), free(b), free(C), free(D), free(ee);
    lsq_model_free(M);
}

static void test_generator_and_errors(void)
{
    lsq_model *M1, *M2, *M3;
    char msg[256];
    EXPECT(lsq_generate(3, 1000, 10, 10, &M1, msg, sizeof msg) == BL_OK, "%s", msg);
    EXPECT(lsq_generate(3, 1000, 10, 10, &M2, msg, sizeof msg) == BL_OK, "%s", msg);
    EXPECT(lsq_generate(4, 1000, 10, 10, &M3, msg, sizeof msg) == BL_OK, "%s", msg);
    lsq_view a = lsq_data(M1), b = lsq_data(M2), c = lsq_data(M3);
    EXPECT(a.nrow == 1000 && a.na == 1000 && a.p == 10 && a.m == 10, "generated sizes");
    EXPECT(!memcmp(a.A, b.A, 10000 * sizeof(double)) && !memcmp(a.e, b.e, 1000 * sizeof(double)),
           "same seed, different instance");
    EXPECT(memcmp(a.D, c.D, 10000 * sizeof(double)) != 0, "different seeds, same instance");
    double mn = 1, mx = 0, mean = 0;
    for (int k = 0; k < 10000; k++) {
        mn = fmin(mn, fmin(a.A[k], fmin(a.C[k], a.D[k])));
        mx = fmax(mx, fmax(a.A[k], fmax(a.C[k], a.D[k])));
        mean += (a.A[k] + a.C[k] + a.D[k]) / 30000;
    }
    EXPECT(mn >= 0 && mx < 1 && fabs(mean - 0.5) < 0.01, "entries not U[0,1): min %g max %g mean %g", mn,
           mx, mean);
    lsq_model_free(M1), lsq_model_free(M2), lsq_model_free(M3);

    double A[8] = {1, 2, 3, 4, 5, 6, 7, 8}, D[8] = {1, 1, 2, 2, 3, 3, 4, 4}, v4[4] = {1, 2, 3, 4};
    lsq_model *M = (lsq_model *)&msg;
    EXPECT(lsq_model_new(4, 2, 2, 4, A, v4, A, D, v4, &M, msg, sizeof msg) == BL_ENONCONVEX && !M &&
               strstr(msg, "rank"),
           "rank-deficient D: %s", msg);
    D[1] = NAN;
    EXPECT(lsq_model_new(4, 2, 2, 4, A, v4, A, D, v4, &M, msg, sizeof msg) == BL_ENONFINITE &&
               strstr(msg, "D[1]"),
           "NaN in D: %s", msg);
    EXPECT(lsq_model_new(1, 2, 2, 4, A, v4, A, D, v4, &M, msg, sizeof msg) == BL_EINVAL, "nrow < p");
    EXPECT(lsq_generate(1, 5, 10, 2, &M, msg, sizeof msg) == BL_EINVAL, "generate nrow < p");
    lsq_model_free(NULL);
}

/* Eigenvalues of the symmetric n×n matrix a (destroyed) by cyclic Jacobi
 * rotations, ascending in w: the independent reference. */
static void jacobi_eigvals(int n, double *a, double *w)
{
    for (int sweep = 0; sweep < 60; sweep++) {
        double off = 0, all = 0;
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++) {
                all += a[i * n + j] * a[i * n + j];
                if (i != j)
                    off += a[i * n + j] * a[i * n + j];
            }
        if (off <= 1e-32 * all)
            break;
        for (int p = 0; p < n; p++)
            for (int q = p + 1; q < n; q++) {
                double apq = a[p * n + q];
                if (apq == 0)
                    continue;
                double th = (a[q * n + q] - a[p * n + p]) / (2 * apq);
                double t = (th >= 0 ? 1.0 : -1.0) / (fabs(th) + sqrt(th * th + 1));
                double c = 1 / sqrt(t * t + 1), s = t * c;
                for (int k = 0; k < n; k++) {
                    double kp = a[k * n + p], kq = a[k * n + q];
                    a[k * n + p] = c * kp - s * kq;
                    a[k * n + q] = s * kp + c * kq;
                }
                for (int k = 0; k < n; k++) {
                    double pk = a[p * n + k], qk = a[q * n + k];
                    a[p * n + k] = c * pk - s * qk;
                    a[q * n + k] = s * pk + c * qk;
                }
            }
    }
    for (int i = 0; i < n; i++)
        w[i] = a[i * n + i];
    for (int i = 1; i < n; i++) /* insertion sort */
        for (int j = i; j > 0 && w[j] < w[j - 1]; j--) {
            double t = w[j];
            w[j] = w[j - 1];
            w[j - 1] = t;
        }
}

/* G = s·XᵀY for X r×a, Y r×b (row-major), G a×b. */
static void gram_t(const double *X, const double *Y, int r, int a, int b, double s, double *G)
{
    for (int i = 0; i < a; i++)
        for (int j = 0; j < b; j++) {
            double t = 0;
            for (int k = 0; k < r; k++)
                t += X[k * a + i] * Y[k * b + j];
            G[i * b + j] = s * t;
        }
}

static double margin(int n, const double *w)
{
    return 32.0 * n * DBL_EPSILON * fmax(fabs(w[0]), fabs(w[n - 1]));
}

static void test_eigen_vs_jacobi(void)
{
    const int sizes[4][3] = {{30, 4, 9}, {40, 7, 3}, {25, 5, 5}, {80, 12, 30}};
    for (int c = 0; c < 4; c++) {
        int nrow = sizes[c][0], p = sizes[c][1], m = sizes[c][2];
        lsq_model *M;
        char msg[256];
        EXPECT(lsq_generate(100 + c, nrow, p, m, &M, msg, sizeof msg) == BL_OK, "%s", msg);
        if (!M)
            continue;
        lsq_view v = lsq_data(M);
        double *G = malloc(sizeof(double) * ((size_t)p * p + (size_t)p * m + (size_t)m * m + p + m));
        double *DC = G + (size_t)p * p, *S = DC + (size_t)p * m, *w = S + (size_t)m * m;
        if (!G)
            return;
        bl_constants k;
        double lam[30];
        lsq_default_lambda(M, lam);
        EXPECT(lsq_constants(M, lam, &k) == BL_OK, "constants");
        gram_t(v.D, v.D, nrow, p, p, 2.0, G); /* 2 DᵀD */
        jacobi_eigvals(p, G, w);
        double mu = w[0] - margin(p, w), L = w[p - 1] + margin(p, w);
        gram_t(v.A, v.A, v.na, p, p, 2.0, G); /* 2 AᵀA */
        jacobi_eigvals(p, G, w);
        double Lf = w[p - 1] + margin(p, w);
        gram_t(v.D, v.C, nrow, p, m, 1.0, DC); /* DᵀC, then (DᵀC)ᵀ(DᵀC) */
        gram_t(DC, DC, p, m, m, 1.0, S);
        jacobi_eigvals(m, S, w);
        double bn = 2.0 * sqrt(w[m - 1] + margin(m, w));
        double bnorm = lsq_cross_norm(M, NULL, lam);
        EXPECT(fabs(k.mu - mu) <= 1e-12 * L && fabs(k.L - L) <= 1e-12 * L,
               "%dx%d, m %d: mu %.17g vs Jacobi %.17g, L %.17g vs %.17g", nrow, p, m, k.mu, mu, k.L, L);
        EXPECT(fabs(k.Lf - Lf) <= 1e-12 * Lf, "%dx%d, m %d: Lf %.17g vs Jacobi %.17g", nrow, p, m,
               k.Lf, Lf);
        EXPECT(fabs(bnorm - bn) <= 1e-12 * bn, "%dx%d, m %d: ||B|| %.17g vs Jacobi %.17g", nrow, p, m,
               bnorm, bn);
        free(G);
        lsq_model_free(M);
    }
}

int main(int argc, char **argv)
{
    t_rng r = {0x15a};
    test_fixture(argc > 1 ? argv[1] : "tests/data");
    test_closed_forms();
    test_random(&r);
    test_generator_and_errors();
    test_eigen_vs_jacobi();
    return t_done();
}
