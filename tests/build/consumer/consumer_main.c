/*
 * A program outside hypertape, as a user writes it: it includes the
 * installed headers by their public names and links libhypertape. It checks
 * the gradient of f(x) = Σ x_i² e^{x_i} against the closed form
 * (2x_i + x_i²) e^{x_i}, and that a bilevel-layer symbol links too.
 * Built and run by tests/build/consumer.py (pkg-config and subproject).
 */
#include <hypertape.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

int main(void)
{
    double x[4] = {-1.5, -0.25, 0.5, 2.0}, g[4];
    double *out[1] = {g};
    ad_tape *t = ad_tape_new(NULL);
    if (!t) {
        fprintf(stderr, "consumer: ad_tape_new failed\n");
        return 1;
    }
    ad_var xv = ad_leaf(t, 4, 1, x);
    ad_var f = ad_sum(t, ad_mul(t, ad_square(t, xv), ad_exp(t, xv)));
    if (ad_grad_values(t, f, 1, &xv, out) != AD_OK) {
        fprintf(stderr, "consumer: %s\n", ad_tape_message(t));
        ad_tape_free(t);
        return 1;
    }
    ad_tape_free(t);
    double worst = 0;
    for (int i = 0; i < 4; i++) {
        double truth = (2 * x[i] + x[i] * x[i]) * exp(x[i]);
        double rel = fabs(g[i] - truth) / fmax(1, fabs(truth));
        worst = rel > worst ? rel : worst;
    }
    if (worst > 1e-13 || strcmp(bl_strerror(BL_OK), "") == 0) {
        fprintf(stderr, "consumer: gradient off by %.3g (relative)\n", worst);
        return 1;
    }
    printf("consumer ok: max relative error %.3g\n", worst);
    return 0;
}
