/*
 * bilevel/methods.c — the estimator table: one descriptor per method with
 * its name, its function, its flags, its default inner solver, its linear
 * method and its a-priori scheme. Adding an estimator adds one row here
 * (and its enum value in bilevel.h).
 */
#include "bilevel/internal.h"

#include <stdio.h>
#include <string.h>

enum {
    UNR = BL__MF_UNROLL, KEEP = BL__MF_KEEP, Q = BL__MF_HAS_Q, LB = BL__MF_LBFGS,
    GH = BL__MF_GD_HB, OWN = BL__MF_OWN_LOOP, WQ = BL__MF_WARM_Q,
};

static const bl__method table[BL_METHOD_COUNT] = {
    [BL_UNROLL] = {"unroll", bl__hg_unroll, UNR | KEEP | Q | GH, &bl_inner_gd, BL__LIN_NONE,
                   BL__SCHEME_NONE},
    [BL_UNROLL_GENERIC] = {"unroll-generic", bl__hg_generic, UNR | Q | GH | OWN, &bl_inner_gd,
                           BL__LIN_NONE, BL__SCHEME_NONE},
    [BL_UNROLL_TRUNCATED] = {"unroll-truncated", bl__hg_unroll, UNR | KEEP | Q | GH, &bl_inner_gd,
                             BL__LIN_NONE, BL__SCHEME_NONE},
    [BL_UNROLL_CHECKPOINTED] = {"unroll-checkpointed", bl__hg_checkpointed, UNR | Q | GH | OWN,
                                &bl_inner_gd, BL__LIN_NONE, BL__SCHEME_NONE},
    [BL_UNROLL_FORWARD] = {"unroll-forward", bl__hg_forward, UNR | GH | OWN, &bl_inner_gd,
                           BL__LIN_NONE, BL__SCHEME_NONE},
    [BL_INEXACT_AD] = {"inexact-ad", bl__hg_inexact, UNR | Q | GH, &bl_inner_gd, BL__LIN_NONE,
                       BL__SCHEME_INNER},
    [BL_IFT_CG] = {"ift-cg", bl__hg_ift, Q | WQ, &bl_inner_lbfgs, BL_LINEAR_CG, BL_SCHEME_CG},
    [BL_IFT_GD] = {"ift-gd", bl__hg_ift, Q | WQ, &bl_inner_lbfgs, BL_LINEAR_GD, BL_SCHEME_GD},
    [BL_IFT_HB] = {"ift-hb", bl__hg_ift, Q | WQ, &bl_inner_lbfgs, BL_LINEAR_HB, BL_SCHEME_HB},
    [BL_IFT_NEUMANN] = {"ift-neumann", bl__hg_ift, Q, &bl_inner_lbfgs, BL_LINEAR_NEUMANN,
                        BL_SCHEME_GD},
    [BL_IFT_IDENTITY] = {"ift-identity", bl__hg_identity, Q, &bl_inner_lbfgs, BL__LIN_NONE,
                         BL__SCHEME_NONE},
    [BL_SHINE] = {"shine", bl__hg_shine, Q | LB, &bl_inner_lbfgs, BL__LIN_NONE, BL__SCHEME_NONE},
    [BL_SHINE_OPA] = {"shine-opa", bl__hg_shine, Q | LB, &bl_inner_lbfgs, BL__LIN_NONE,
                      BL__SCHEME_NONE},
    [BL_SHINE_REFINE] = {"shine-refine", bl__hg_shine, Q | LB, &bl_inner_lbfgs, BL_LINEAR_CG,
                         BL__SCHEME_NONE},
    [BL_EXACT] = {"exact", bl__hg_exact, Q, &bl_inner_lbfgs, BL__LIN_NONE, BL__SCHEME_NONE},
};

const bl__method *bl__method_of(bl_method m)
{
    return (unsigned)m < BL_METHOD_COUNT ? &table[m] : NULL;
}

static unsigned flags_of(bl_method m)
{
    const bl__method *M = bl__method_of(m);
    return M ? M->flags : 0;
}

const char *bl_method_name(bl_method m)
{
    const bl__method *M = bl__method_of(m);
    return M ? M->name : "unknown";
}

bl_status bl_method_from_name(const char *name, bl_method *out)
{
    for (int k = 0; name && k < BL_METHOD_COUNT; k++)
        if (!strcmp(name, table[k].name)) {
            *out = (bl_method)k;
            return BL_OK;
        }
    return BL_EINVAL;
}

int bl_method_is_unroll(bl_method m) { return (flags_of(m) & BL__MF_UNROLL) != 0; }
int bl_method_has_q(bl_method m) { return (flags_of(m) & BL__MF_HAS_Q) != 0; }
int bl_method_needs_lbfgs(bl_method m) { return (flags_of(m) & BL__MF_LBFGS) != 0; }

const bl_inner_type *bl_method_default_inner(bl_method m)
{
    const bl__method *M = bl__method_of(m);
    return M ? *M->inner : NULL;
}

int bl_method_list(char *buf, size_t len, const char *sep)
{
    size_t used = 0;
    for (int k = 0; k < BL_METHOD_COUNT; k++) {
        int w = snprintf(buf && used < len ? buf + used : NULL, buf && used < len ? len - used : 0,
                         "%s%s", k ? sep : "", table[k].name);
        if (w < 0)
            return w;
        used += (size_t)w;
    }
    return (int)used;
}
