/*
 * ad/ops_sparse.c — constant CSR matrix times dense: op(S) m×k, B k×n → m×n.
 */
#include "internal.h"

#include <stdio.h>
#include <string.h>

/* c (m×1) = S·b, one column: each row is a gathered dot product kept in a
 * register (the same additions, in the same order, as the general loop). */
static void spmv_kernel(const ad_csr *s, const double *b, double *c)
{
    for (int i = 0; i < s->rows; i++) {
        double acc = 0.0;
        for (int64_t p = s->rowptr[i]; p < s->rowptr[i + 1]; p++)
            acc += s->val[p] * b[s->colind[p]];
        c[i] = acc;
    }
}

/* c (k×1) = Sᵀ·b, one column: row i of S scatters b_i into c. */
static void spmv_t_kernel(const ad_csr *s, const double *b, double *c)
{
    memset(c, 0, (size_t)s->cols * sizeof(double));
    for (int i = 0; i < s->rows; i++) {
        double bi = b[i];
        for (int64_t p = s->rowptr[i]; p < s->rowptr[i + 1]; p++)
            c[s->colind[p]] += s->val[p] * bi;
    }
}

/* C (m×n) = op(S)·B. S is s->rows×s->cols; with trans, S is read as Sᵀ. */
static void spmm_kernel(const ad_csr *s, int trans, const double *B, int n, double *C)
{
    if (n == 1) {
        if (trans)
            spmv_t_kernel(s, B, C);
        else
            spmv_kernel(s, B, C);
        return;
    }
    int outr = trans ? s->cols : s->rows;
    memset(C, 0, (size_t)outr * n * sizeof(double));
    for (int i = 0; i < s->rows; i++) {
        for (int64_t p = s->rowptr[i]; p < s->rowptr[i + 1]; p++) {
            int j = s->colind[p];
            double v = s->val[p];
            const double *src = trans ? B + (size_t)i * n : B + (size_t)j * n;
            double *dst = trans ? C + (size_t)j * n : C + (size_t)i * n;
            for (int q = 0; q < n; q++)
                dst[q] += v * src[q];
        }
    }
}

/* The structure problem of s written into msg (0: none); O(nnz). */
static int csr_problem(const ad_csr *s, char *msg, size_t len)
{
    if (!s || !s->rowptr || !s->colind || (!s->val && s->rows > 0 && s->rowptr[s->rows] > 0) ||
        s->rows <= 0 || s->cols <= 0) {
        snprintf(msg, len, "spmm: CSR matrix is NULL, empty or has NULL arrays");
        return 1;
    }
    if (s->rowptr[0] != 0) {
        snprintf(msg, len, "spmm: CSR rowptr[0] is %lld, not 0", (long long)s->rowptr[0]);
        return 1;
    }
    for (int i = 0; i < s->rows; i++) {
        if (s->rowptr[i + 1] < s->rowptr[i]) {
            snprintf(msg, len, "spmm: CSR rowptr decreases at row %d", i);
            return 1;
        }
        for (int64_t p = s->rowptr[i]; p < s->rowptr[i + 1]; p++)
            if (s->colind[p] < 0 || s->colind[p] >= s->cols) {
                snprintf(msg, len, "spmm: CSR column %d in row %d is outside [0, %d)",
                         s->colind[p], i, s->cols);
                return 1;
            }
    }
    return 0;
}

/* The token of a validated header: its sizes, array addresses and entry
 * count, hashed (never 0, so 0 means unchecked). O(1). */
static uint64_t csr_token(const ad_csr *s)
{
    uint64_t h = 0x6a09e667f3bcc908ULL;
    const uint64_t w[6] = {(uint64_t)(uint32_t)s->rows, (uint64_t)(uint32_t)s->cols,
                           (uint64_t)(uintptr_t)s->rowptr, (uint64_t)(uintptr_t)s->colind,
                           (uint64_t)(uintptr_t)s->val, (uint64_t)s->rowptr[s->rows]};
    for (int k = 0; k < 6; k++) {
        h ^= w[k] + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
        h = (h ^ (h >> 31)) * 0xbf58476d1ce4e5b9ULL;
    }
    return h ? h : 1;
}

ad_status ad_csr_check(ad_csr *s, char *msg, size_t msglen)
{
    char buf[160];
    if (msg && msglen > 0)
        msg[0] = '\0';
    if (s)
        s->checked = 0;
    if (csr_problem(s, buf, sizeof buf)) {
        if (msg && msglen > 0)
            snprintf(msg, msglen, "%s", buf);
        return AD_EINVAL;
    }
    s->checked = csr_token(s);
    return AD_OK;
}

/* Checks the CSR structure of a recorded ad_spmm call (not again in its
 * backward or tangent sweeps): O(1) for a header carrying its
 * ad_csr_check token, else O(nnz). */
static int csr_bad(ad_tape *t, const ad_csr *s)
{
    char buf[160];
    if (s && s->checked && s->rowptr && s->rows > 0 && s->checked == csr_token(s))
        return 0;
    if (!csr_problem(s, buf, sizeof buf))
        return 0;
    ad__fail(t, AD_EINVAL, "%s", buf);
    return 1;
}

/* op(S)·B for a header already on the tape and already validated (hdr is
 * the aux of an earlier spmm node, whose arrays the caller keeps unchanged
 * while that node is on the tape): no new check, no new header. */
static ad_var spmm_on(ad_tape *t, const ad_csr *hdr, ad_var bv, int trans)
{
    const ad_node *b = ad__arg(t, "spmm", bv);
    if (!b)
        return AD_NONE;
    int m = trans ? hdr->cols : hdr->rows, k = trans ? hdr->rows : hdr->cols;
    if (b->rows != k)
        return ad__fail(t, AD_ESHAPE, "spmm: op(S) is %dx%d (S %dx%d%s) but B is %dx%d", m, k,
                        hdr->rows, hdr->cols, trans ? ", transposed" : "", b->rows, b->cols);
    int n = b->cols;
    const double *B = b->val;
    int32_t i = ad__push(t, AD_OP_SPMM, m, n, 1, &bv.id);
    if (i < 0)
        return AD_NONE;
    ad_node *y = ad__node(t, i);
    y->aux = (void *)hdr;
    y->iprm[0] = trans;
    spmm_kernel(hdr, trans, B, n, y->val);
    return ad__done(t, i);
}

ad_var ad_spmm(ad_tape *t, const ad_csr *s, ad_var bv, int trans)
{
    if (!ad__arg(t, "spmm", bv) || csr_bad(t, s))
        return AD_NONE;
    ad_csr *hdr = ad__alloc(t, sizeof *hdr);
    if (!hdr)
        return AD_NONE;
    *hdr = *s;
    return spmm_on(t, hdr, bv, trans != 0);
}

static void jvp_spmm(const ad_tape *t, const ad_node *nd, const double *const tin[3],
                     double *tout)
{
    spmm_kernel(nd->aux, nd->iprm[0], tin[0], nd->cols, tout);
}

static void bwd_spmm(ad_tape *t, const ad_node *nd, ad_var y, ad_var g, const int need[3],
                     ad_var out[3])
{
    if (need[0]) /* B̄ = op(S)ᵀ·ḡ, on the header checked when the node was recorded */
        out[0] = spmm_on(t, nd->aux, g, !nd->iprm[0]);
}

/* Numerically: B̄ += op(S)ᵀ·ḡ, the product into scratch by the recorded
 * rule's kernel, then added. */
static void vjp_spmm(ad_tape *t, const ad_node *nd, const double *g, double *const acc[3])
{
    size_t n = ad__size(ad__node(t, nd->par[0]));
    double *p = ad__scratch_adj(t, n * sizeof(double));
    if (!p)
        return;
    spmm_kernel(nd->aux, !nd->iprm[0], g, nd->cols, p);
    for (size_t k = 0; k < n; k++)
        acc[0][k] += p[k];
}

const ad_opdef ad_def_spmm = {jvp_spmm, bwd_spmm, vjp_spmm, 0, NULL};
