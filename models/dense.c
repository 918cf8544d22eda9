/*
 * models/dense.c — shared helpers of the models: messages, splitmix64,
 * Cholesky, Jacobi eigen-solver, minibatch products of ds_sets (plain and
 * on a tape), the certified ‖X‖₂² bound and data validation.
 */
#include <hypertape/models/dense.h>

#include <cblas.h>
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ messages */

bl_status md_fail(char *msg, size_t msglen, bl_status st, const char *fmt, ...)
{
    if (msg && msglen > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, msglen, fmt, ap);
        va_end(ap);
    }
    return st;
}

bl_status md_ok(char *msg, size_t msglen)
{
    if (msg && msglen > 0)
        msg[0] = '\0';
    return BL_OK;
}

/* ---------------------------------------------------------- randomness */

uint64_t md_rng_next(md_rng *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

double md_rng_uniform(md_rng *r)
{
    return ((double)(md_rng_next(r) >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}

int md_rng_below(md_rng *r, int m)
{
    return (int)(((md_rng_next(r) >> 32) * (uint64_t)(uint32_t)m) >> 32);
}

double md_rng_normal(md_rng *r)
{
    double u = md_rng_uniform(r), v = md_rng_uniform(r);
    return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

/* ---------------------------------------------- small dense linear algebra */

bl_status md_cholesky(int n, double *A, char *msg, size_t msglen)
{
    for (int j = 0; j < n; j++) {
        double *aj = A + (size_t)j * n;
        double s = aj[j] - cblas_ddot(j, aj, 1, aj, 1);
        if (!isfinite(s))
            return md_fail(msg, msglen, BL_ENONFINITE, "cholesky: non-finite pivot %d of %dx%d",
                           j, n, n);
        if (s <= 0)
            return md_fail(msg, msglen, BL_ENONCONVEX,
                           "cholesky: pivot %d of %dx%d is %.3g, not positive", j, n, n, s);
        double l = sqrt(s);
        aj[j] = l;
        for (int i = j + 1; i < n; i++) {
            double *ai = A + (size_t)i * n;
            ai[j] = (ai[j] - cblas_ddot(j, ai, 1, aj, 1)) / l;
        }
    }
    return md_ok(msg, msglen);
}

void md_cholesky_solve(int n, const double *L, double *b)
{
    for (int i = 0; i < n; i++) /* L y = b */
        b[i] = (b[i] - cblas_ddot(i, L + (size_t)i * n, 1, b, 1)) / L[(size_t)i * n + i];
    for (int i = n - 1; i >= 0; i--) { /* Lᵀ x = y */
        double s = b[i];
        for (int k = i + 1; k < n; k++)
            s -= L[(size_t)k * n + i] * b[k];
        b[i] = s / L[(size_t)i * n + i];
    }
}

static int cmp_pair(const void *a, const void *b)
{
    double x = ((const double *)a)[0], y = ((const double *)b)[0];
    return (x > y) - (x < y);
}

bl_status md_sym_eig(int n, const double *A, double *w, double *V, char *msg, size_t msglen)
{
    if (n <= 0 || !A || !w)
        return md_fail(msg, msglen, BL_EINVAL, "sym_eig: need n >= 1 (got %d), A and w", n);
    size_t nn = (size_t)n * n;
    for (size_t k = 0; k < nn; k++)
        if (!isfinite(A[k]))
            return md_fail(msg, msglen, BL_ENONFINITE, "sym_eig: A[%zu] of %dx%d is not finite",
                           k, n, n);
    double *a = malloc(nn * sizeof *a), *v = malloc(nn * sizeof *v);
    double *pairs = malloc((size_t)n * 2 * sizeof *pairs);
    if (!a || !v || !pairs) {
        free(a), free(v), free(pairs);
        return md_fail(msg, msglen, BL_ENOMEM, "sym_eig: cannot allocate scratch for %dx%d", n, n);
    }
    /* Symmetrise (the caller's A may differ from Aᵀ by rounding). */
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            a[(size_t)i * n + j] = 0.5 * (A[(size_t)i * n + j] + A[(size_t)j * n + i]);
    memset(v, 0, nn * sizeof *v);
    for (int i = 0; i < n; i++)
        v[(size_t)i * n + i] = 1.0;
    double fro = 0;
    for (size_t k = 0; k < nn; k++)
        fro += a[k] * a[k];
    int converged = 0;
    for (int sweep = 0; sweep < 100 && !converged; sweep++) {
        double off = 0;
        for (int p = 0; p < n; p++)
            for (int q = p + 1; q < n; q++)
                off += a[(size_t)p * n + q] * a[(size_t)p * n + q];
        if (off <= 1e-34 * fro || off == 0) {
            converged = 1;
            break;
        }
        for (int p = 0; p < n; p++) {
            for (int q = p + 1; q < n; q++) {
                double apq = a[(size_t)p * n + q];
                if (apq == 0)
                    continue;
                double app = a[(size_t)p * n + p], aqq = a[(size_t)q * n + q];
                /* Rotation J (J_pp = J_qq = c, J_pq = s, J_qp = −s) with
                 * (JᵀAJ)_pq = 0: t = s/c solves t² + 2θt − 1 = 0, θ =
                 * (a_qq − a_pp)/(2a_pq); take the smaller root. */
                double th = (aqq - app) / (2.0 * apq);
                double t = (th >= 0 ? 1.0 : -1.0) / (fabs(th) + sqrt(th * th + 1.0));
                double c = 1.0 / sqrt(t * t + 1.0), s = t * c;
                for (int k = 0; k < n; k++) { /* columns p, q */
                    double *rk = a + (size_t)k * n;
                    double kp = rk[p], kq = rk[q];
                    rk[p] = c * kp - s * kq;
                    rk[q] = s * kp + c * kq;
                }
                double *rp = a + (size_t)p * n, *rq = a + (size_t)q * n;
                for (int k = 0; k < n; k++) { /* rows p, q */
                    double pk = rp[k], qk = rq[k];
                    rp[k] = c * pk - s * qk;
                    rq[k] = s * pk + c * qk;
                }
                rp[q] = rq[p] = 0.0;
                for (int k = 0; k < n; k++) { /* V ← V J */
                    double *vk = v + (size_t)k * n;
                    double kp = vk[p], kq = vk[q];
                    vk[p] = c * kp - s * kq;
                    vk[q] = s * kp + c * kq;
                }
            }
        }
    }
    if (!converged) {
        free(a), free(v), free(pairs);
        return md_fail(msg, msglen, BL_EINVAL, "sym_eig: Jacobi did not converge on %dx%d", n, n);
    }
    for (int i = 0; i < n; i++) {
        pairs[2 * i] = a[(size_t)i * n + i];
        pairs[2 * i + 1] = i;
    }
    qsort(pairs, (size_t)n, 2 * sizeof(double), cmp_pair);
    for (int i = 0; i < n; i++) {
        w[i] = pairs[2 * i];
        if (V) {
            int src = (int)pairs[2 * i + 1];
            for (int k = 0; k < n; k++)
                V[(size_t)k * n + i] = v[(size_t)k * n + src];
        }
    }
    free(a), free(v), free(pairs);
    return md_ok(msg, msglen);
}

double md_eig_margin(int n, const double *w)
{
    double mx = fabs(w[0]) > fabs(w[n - 1]) ? fabs(w[0]) : fabs(w[n - 1]);
    return 32.0 * n * DBL_EPSILON * mx;
}

/* ------------------------------------------------------- data matrices */

bl_status md_check_set(const ds_set *s, const char *name, int need_pm1, int need_cls, char *msg,
                       size_t msglen)
{
    if (!s)
        return md_fail(msg, msglen, BL_EINVAL, "%s set is NULL", name);
    if (s->n < 1 || s->d < 1 || !s->y || (!s->X && (!s->rowptr || !s->colind || !s->val)))
        return md_fail(msg, msglen, BL_EINVAL,
                       "%s set (%dx%d) is empty or lacks y, X or its CSR arrays", name, s->n,
                       s->d);
    if (s->X) {
        size_t nd = (size_t)s->n * s->d;
        for (size_t k = 0; k < nd; k++)
            if (!isfinite(s->X[k]))
                return md_fail(msg, msglen, BL_ENONFINITE,
                               "%s set: X[%zu][%zu] of %dx%d is not finite", name,
                               k / (size_t)s->d, k % (size_t)s->d, s->n, s->d);
    } else {
        if (s->rowptr[0] != 0)
            return md_fail(msg, msglen, BL_EINVAL, "%s set: CSR rowptr[0] is %lld, not 0", name,
                           (long long)s->rowptr[0]);
        for (int i = 0; i < s->n; i++) {
            if (s->rowptr[i + 1] < s->rowptr[i])
                return md_fail(msg, msglen, BL_EINVAL, "%s set: CSR rowptr decreases at row %d",
                               name, i);
            for (int64_t p = s->rowptr[i]; p < s->rowptr[i + 1]; p++) {
                if (s->colind[p] < 0 || s->colind[p] >= s->d)
                    return md_fail(msg, msglen, BL_EINVAL,
                                   "%s set: column %d in row %d is outside [0, %d)", name,
                                   s->colind[p], i, s->d);
                if (!isfinite(s->val[p]))
                    return md_fail(msg, msglen, BL_ENONFINITE,
                                   "%s set: value at row %d, column %d is not finite", name, i,
                                   s->colind[p]);
            }
        }
    }
    for (int i = 0; i < s->n; i++) {
        if (!isfinite(s->y[i]))
            return md_fail(msg, msglen, BL_ENONFINITE, "%s set: y[%d] of %d is not finite", name,
                           i, s->n);
        if (need_pm1 && s->y[i] != 1.0 && s->y[i] != -1.0)
            return md_fail(msg, msglen, BL_EINVAL, "%s set: label y[%d] = %g is not +1 or -1",
                           name, i, s->y[i]);
    }
    if (need_cls) {
        if (!s->cls || s->nclass < 2)
            return md_fail(msg, msglen, BL_EINVAL,
                           "%s set: needs class labels (cls) and nclass >= 2 (nclass %d)", name,
                           s->nclass);
        for (int i = 0; i < s->n; i++)
            if (s->cls[i] < 0 || s->cls[i] >= s->nclass)
                return md_fail(msg, msglen, BL_EINVAL,
                               "%s set: class label cls[%d] = %d is outside [0, %d)", name, i,
                               s->cls[i], s->nclass);
    }
    return md_ok(msg, msglen);
}

bl_status md_check_batch(const int *batch, int nb, int n, const char *what, char *msg,
                         size_t msglen)
{
    if (!batch)
        return md_ok(msg, msglen);
    if (nb < 1)
        return md_fail(msg, msglen, BL_EINVAL, "%s: batch has %d indices, need >= 1", what, nb);
    for (int k = 0; k < nb; k++)
        if (batch[k] < 0 || batch[k] >= n)
            return md_fail(msg, msglen, BL_EINVAL,
                           "%s: batch index %d at position %d is outside [0, %d)", what, batch[k],
                           k, n);
    return md_ok(msg, msglen);
}

/* The rows batch[0..nb) of a dense set, copied contiguous (nb×d), or NULL
 * when they cannot be allocated (the callers then go row by row). */
static double *gather_dense(const ds_set *s, const int *batch, int nb)
{
    double *Xb = malloc((size_t)nb * s->d * sizeof *Xb);
    if (Xb)
        for (int r = 0; r < nb; r++)
            memcpy(Xb + (size_t)r * s->d, s->X + (size_t)batch[r] * s->d, (size_t)s->d * sizeof *Xb);
    return Xb;
}

void md_mul(const ds_set *s, const int *batch, int nb, const double *V, int k, double *out)
{
    int d = s->d;
    if (!batch)
        nb = s->n;
    double *Xb = s->X && batch && k > 1 ? gather_dense(s, batch, nb) : NULL;
    if (Xb || (s->X && !batch)) { /* one product (on the gathered rows) beats nb dgemv calls */
        ad_gemm(0, 0, nb, k, d, Xb ? Xb : s->X, d, V, k, 0.0, out);
        free(Xb);
        return;
    }
    for (int r = 0; r < nb; r++) {
        int i = batch ? batch[r] : r;
        double *o = out + (size_t)r * k;
        if (s->X) {
            const double *x = s->X + (size_t)i * d;
            if (k == 1)
                o[0] = cblas_ddot(d, x, 1, V, 1);
            else
                cblas_dgemv(CblasRowMajor, CblasTrans, d, k, 1.0, V, k, x, 1, 0.0, o, 1);
        } else {
            memset(o, 0, (size_t)k * sizeof *o);
            for (int64_t p = s->rowptr[i]; p < s->rowptr[i + 1]; p++) {
                const double *vr = V + (size_t)s->colind[p] * k;
                double a = s->val[p];
                for (int q = 0; q < k; q++)
                    o[q] += a * vr[q];
            }
        }
    }
}

void md_tmul(const ds_set *s, const int *batch, int nb, const double *Gm, int k, double beta,
             double *out)
{
    int d = s->d;
    if (!batch)
        nb = s->n;
    double *Xb = s->X && batch && k > 1 ? gather_dense(s, batch, nb) : NULL;
    if (Xb || (s->X && !batch)) {
        ad_gemm(1, 0, d, k, nb, Xb ? Xb : s->X, d, Gm, k, beta, out);
        free(Xb);
        return;
    }
    size_t dk = (size_t)d * k;
    if (beta == 0)
        memset(out, 0, dk * sizeof *out);
    else if (beta != 1)
        cblas_dscal((int)dk, beta, out, 1);
    for (int r = 0; r < nb; r++) {
        int i = batch ? batch[r] : r;
        const double *g = Gm + (size_t)r * k;
        if (s->X) {
            const double *x = s->X + (size_t)i * d;
            if (k == 1)
                cblas_daxpy(d, g[0], x, 1, out, 1);
            else
                cblas_dger(CblasRowMajor, d, k, 1.0, x, 1, g, 1, out, k);
        } else {
            for (int64_t p = s->rowptr[i]; p < s->rowptr[i + 1]; p++) {
                double *orow = out + (size_t)s->colind[p] * k;
                double a = s->val[p];
                for (int q = 0; q < k; q++)
                    orow[q] += a * g[q];
            }
        }
    }
}

/* X_B·B for CSR data and a batch: the batch's stored entries e (row r(e),
 * column j(e), value a(e)) give rows B[j(e), :] gathered, scaled by a(e)
 * and scatter-added into row r(e) of the nb×k result. O(nnz_B·k). */
static ad_var record_sparse_batch(ad_tape *t, const ds_set *s, const int *batch, int nb, ad_var B,
                                  int k)
{
    int64_t nnz = 0;
    for (int r = 0; r < nb; r++)
        nnz += s->rowptr[batch[r] + 1] - s->rowptr[batch[r]];
    if (nnz == 0)
        return ad_const(t, nb, k, NULL);
    ad_var out = AD_NONE;
    size_t ne = (size_t)nnz;
    double *val = NULL;
    int *col = NULL, *dst = NULL;
    if (nnz <= INT32_MAX / (k > 0 ? k : 1)) {
        val = malloc(ne * sizeof *val);
        col = malloc(ne * sizeof *col);
        dst = malloc(ne * (size_t)k * sizeof *dst);
    }
    if (!val || !col || !dst) { /* too big or no memory: the full product's rows, O(nnz) */
        ad_csr c = ds_csr(s);
        out = ad_gather_rows(t, ad_spmm(t, &c, B, 0), batch, nb);
    } else {
        size_t e = 0;
        for (int r = 0; r < nb; r++)
            for (int64_t p = s->rowptr[batch[r]]; p < s->rowptr[batch[r] + 1]; p++, e++) {
                val[e] = s->val[p];
                col[e] = s->colind[p];
                for (int q = 0; q < k; q++)
                    dst[e * (size_t)k + q] = r * k + q;
            }
        ad_var a = ad_const(t, (int)ne, 1, val);               /* nnz_B×1 */
        ad_var rows = ad_gather_rows(t, B, col, (int)ne);      /* nnz_B×k */
        out = ad_scatter_add(t, ad_mul(t, rows, a), dst, nb, k); /* nb×k */
    }
    free(val), free(col), free(dst);
    return out;
}

ad_var md_record_mul(ad_tape *t, const ds_set *s, const int *batch, int nb, ad_var B)
{
    int n = s->n, d = s->d, k = ad_cols(t, B);
    if (batch) { /* validates the indices on the tape (error: ad_gather_rows's message) */
        ad_var chk = ad_gather_rows(t, ad_const_ref(t, n, 1, s->y), batch, nb);
        if (!ad_ok(chk))
            return AD_NONE;
    }
    if (s->X) {
        ad_var X = ad_const_ref(t, n, d, s->X); /* n×d */
        if (batch)
            X = ad_gather_rows(t, X, batch, nb); /* nb×d */
        return ad_matmul(t, X, B, 0, 0);
    }
    if (!batch) {
        ad_csr c = ds_csr(s);
        return ad_spmm(t, &c, B, 0);
    }
    return record_sparse_batch(t, s, batch, nb, B, k);
}

/* u (n) = |X̃|·v and w (d + ones) = |X̃|ᵀ·u, X̃ = X or [X, 1]. */
static void abs_gram_apply(const ds_set *s, int ones, const double *v, double *u, double *w)
{
    int n = s->n, d = s->d;
    memset(w, 0, ((size_t)d + ones) * sizeof *w);
    for (int i = 0; i < n; i++) {
        double a = ones ? v[d] : 0.0;
        if (s->X) {
            const double *x = s->X + (size_t)i * d;
            for (int j = 0; j < d; j++)
                a += fabs(x[j]) * v[j];
            for (int j = 0; j < d; j++)
                w[j] += fabs(x[j]) * a;
        } else {
            for (int64_t p = s->rowptr[i]; p < s->rowptr[i + 1]; p++)
                a += fabs(s->val[p]) * v[s->colind[p]];
            for (int64_t p = s->rowptr[i]; p < s->rowptr[i + 1]; p++)
                w[s->colind[p]] += fabs(s->val[p]) * a;
        }
        if (ones)
            w[d] += a;
        u[i] = a;
    }
}

/*
 * Three certified bounds, the smallest wins:
 *  - Frobenius: ‖X̃‖₂² ≤ ‖X̃‖_F²;
 *  - Schur test: ‖X̃‖₂² ≤ ‖X̃‖₁‖X̃‖_∞ (max column abs sum × max row abs sum);
 *  - Collatz–Wielandt: ‖X̃‖₂² = ρ(X̃ᵀX̃) ≤ ρ(A) with A = |X̃|ᵀ|X̃| ≥ 0
 *    entrywise (|xᵀX̃ᵀX̃x| ≤ |x|ᵀA|x|), and ρ(A) ≤ max_j (Av)_j / v_j for
 *    every v > 0 (Perron–Frobenius). v runs power iterations on A from 1
 *    until the bound is within 1e-4 of the Rayleigh quotient ‖|X̃|v‖²/‖v‖²
 *    ≤ ρ(A) (at most 20); for non-negative data ρ(A) = ‖X̃‖² itself.
 */
#define MD_CW_ITERS 20
double md_opnorm_sq_bound(const ds_set *s, int ones_col)
{
    int n = s->n, d = s->d, dd = d + (ones_col != 0);
    double *v = malloc(((size_t)2 * dd + n) * sizeof *v);
    if (!v)
        return -1.0;
    double *w = v + dd, *u = w + dd;
    double fro = ones_col ? (double)n : 0.0, rowmax = 0;
    for (int j = 0; j < dd; j++)
        v[j] = 1.0;
    abs_gram_apply(s, ones_col != 0, v, u, w); /* u = row abs sums, w = |X̃|ᵀu */
    for (int i = 0; i < n; i++)
        rowmax = u[i] > rowmax ? u[i] : rowmax;
    if (s->X) {
        for (size_t k = 0; k < (size_t)n * d; k++)
            fro += s->X[k] * s->X[k];
    } else {
        for (int64_t p = 0; p < s->rowptr[n]; p++)
            fro += s->val[p] * s->val[p];
    }
    /* Column abs sums |X̃|ᵀ1 into v (reset to 1 afterwards). */
    double colmax = 0, best = fro;
    memset(v, 0, (size_t)dd * sizeof *v);
    for (int i = 0; i < n; i++) {
        if (s->X) {
            for (int j = 0; j < d; j++)
                v[j] += fabs(s->X[(size_t)i * d + j]);
        } else {
            for (int64_t p = s->rowptr[i]; p < s->rowptr[i + 1]; p++)
                v[s->colind[p]] += fabs(s->val[p]);
        }
    }
    if (ones_col)
        v[d] = n;
    for (int j = 0; j < dd; j++) {
        colmax = v[j] > colmax ? v[j] : colmax;
        v[j] = 1.0;
    }
    if (rowmax * colmax < best)
        best = rowmax * colmax;
    for (int it = 0; it < MD_CW_ITERS; it++) {
        /* Here u = |X̃|v and w = A v for the current v > 0; the Rayleigh
         * quotient ‖u‖²/‖v‖² ≤ ρ(A) says how much is left to gain. */
        double cw = 0, wmax = 0, uu = 0, vv = 0;
        for (int j = 0; j < dd; j++) {
            double q = w[j] / v[j];
            cw = q > cw ? q : cw;
            wmax = w[j] > wmax ? w[j] : wmax;
            vv += v[j] * v[j];
        }
        for (int i = 0; i < n; i++)
            uu += u[i] * u[i];
        if (cw < best)
            best = cw;
        if (!(wmax > 0) || it + 1 == MD_CW_ITERS || cw <= (1 + 1e-4) * (uu / vv))
            break;
        for (int j = 0; j < dd; j++) /* v ← Av / max(Av), kept positive */
            v[j] = w[j] > 0 ? fmax(w[j] / wmax, DBL_MIN) : 1.0;
        abs_gram_apply(s, ones_col != 0, v, u, w);
    }
    free(v);
    return best * (1 + 1e-12); /* rounding of the sums above stays far below this */
}

void md_row_norms_sq(const ds_set *s, int ones_col, double *out)
{
    for (int i = 0; i < s->n; i++) {
        double q = ones_col ? 1.0 : 0.0;
        if (s->X) {
            const double *x = s->X + (size_t)i * s->d;
            q += cblas_ddot(s->d, x, 1, x, 1);
        } else {
            for (int64_t p = s->rowptr[i]; p < s->rowptr[i + 1]; p++)
                q += s->val[p] * s->val[p];
        }
        out[i] = q;
    }
}
