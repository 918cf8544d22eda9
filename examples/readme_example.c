/* The C example of README.md, compiled and run by the `examples` suite. */
#include <hypertape/ad.h>
#include <stdio.h>

int main(void)
{
    double X[6] = {1, 2, 0.5, -1, 3, 0.25}, y[3] = {1, -1, 1};
    double th[2] = {0.1, -0.2}, lam[1] = {-1.0}, v[2] = {1, 0}, g[2], hv[2], cr[1];
    ad_tape *t = ad_tape_new(NULL);
    ad_var theta = ad_leaf(t, 2, 1, th), lambda = ad_leaf(t, 1, 1, lam);
    ad_var Xc = ad_const_ref(t, 3, 2, X), yc = ad_const_ref(t, 3, 1, y);
    ad_var margin = ad_mul(t, yc, ad_matvec(t, Xc, theta, 0));
    ad_var G = ad_add(t, ad_mean(t, ad_softplus(t, ad_neg(t, margin))),
                      ad_mul(t, ad_scale(t, ad_exp(t, lambda), 0.5),
                             ad_sum(t, ad_square(t, theta))));
    double *out[1] = {g};
    if (ad_grad_values(t, G, 1, &theta, out) != AD_OK ||
        ad_hvp_cross(t, G, theta, lambda, v, hv, cr, AD_HVP_FOR) != AD_OK) {
        fprintf(stderr, "error: %s\n", ad_tape_message(t));
        return 1;
    }
    printf("G = %.6f  grad = (%.6f, %.6f)  Hv = (%.6f, %.6f)  cross = %.6f\n",
           ad_scalar_value(t, G), g[0], g[1], hv[0], hv[1], cr[0]);
    ad_tape_free(t);
    return 0;
}
