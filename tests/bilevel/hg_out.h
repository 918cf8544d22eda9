/*
 * tests/bilevel/hg_out.h — reading θ_ε and q back in the tests: the
 * estimators' outputs live in the context (bl_hg_theta, bl_hg_q).
 */
#ifndef HYPERTAPE_TESTS_BILEVEL_HG_OUT_H
#define HYPERTAPE_TESTS_BILEVEL_HG_OUT_H

#include <hypertape/bilevel.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

/* One evaluation like bl_hypergrad, through a context, that also copies θ_ε
 * (NaN in every entry when none was produced) into theta_out and q into
 * q_out (untouched when the method produced none); either may be NULL. */
static inline bl_status t_hypergrad_out(const bl_problem *pb, const double *lam,
                                        const bl_hg_opts *o, double *hg, bl_diag *d, char *msg,
                                        size_t len, double *theta_out, double *q_out)
{
    bl_status st = bl_hg_check(pb, o, msg, len);
    bl_hg *h = st == BL_OK ? bl_hg_new(pb, o, &st) : NULL;
    for (int j = 0; theta_out && pb && j < pb->p; j++)
        theta_out[j] = NAN;
    if (!h)
        return st;
    st = bl_hg_eval(h, lam, hg, d);
    if (msg && len)
        snprintf(msg, len, "%s", bl_hg_message(h));
    const double *t = bl_hg_theta(h), *q = bl_hg_q(h);
    if (theta_out && t)
        memcpy(theta_out, t, (size_t)pb->p * sizeof(double));
    if (q_out && q)
        memcpy(q_out, q, (size_t)pb->p * sizeof(double));
    bl_hg_free(h);
    return st;
}

#endif
