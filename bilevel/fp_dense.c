/*
 * bilevel/fp_dense.c — a small dense solve by Gaussian elimination with
 * partial pivoting, for Anderson's least squares and the exact backward.
 */
#include "bilevel/fp_internal.h"

#include <math.h>

int bl__fp_lu_solve(int n, double *A, double *b)
{
    for (int k = 0; k < n; k++) {
        int piv = k;
        for (int i = k + 1; i < n; i++)
            if (fabs(A[(size_t)i * n + k]) > fabs(A[(size_t)piv * n + k]))
                piv = i;
        double pv = A[(size_t)piv * n + k];
        if (!(fabs(pv) > 1e-300) || !isfinite(pv))
            return 1;
        if (piv != k) {
            for (int j = 0; j < n; j++) {
                double t = A[(size_t)k * n + j];
                A[(size_t)k * n + j] = A[(size_t)piv * n + j];
                A[(size_t)piv * n + j] = t;
            }
            double t = b[k];
            b[k] = b[piv];
            b[piv] = t;
        }
        for (int i = k + 1; i < n; i++) {
            double l = A[(size_t)i * n + k] / pv;
            if (l == 0)
                continue;
            A[(size_t)i * n + k] = l;
            cblas_daxpy(n - k - 1, -l, A + (size_t)k * n + k + 1, 1, A + (size_t)i * n + k + 1, 1);
            b[i] -= l * b[k];
        }
    }
    for (int k = n - 1; k >= 0; k--) {
        double s = b[k];
        for (int j = k + 1; j < n; j++)
            s -= A[(size_t)k * n + j] * b[j];
        b[k] = s / A[(size_t)k * n + k];
    }
    return 0;
}
