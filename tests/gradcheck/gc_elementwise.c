/*
 * tests/gradcheck/gc_elementwise.c — gradient, Hvp (both modes), jvp and
 * cross checks of the elementwise ops against central differences:
 * add, sub, mul, div under every 2-D broadcasting pattern, and every unary
 * op (neg, scale, shift, affine, exp, log, log1p, sqrt, square, pow, abs,
 * sigmoid, softplus, logsigmoid, tanh, relu) on random shapes.
 */
#include "gc.h"

/* ------------------------------------------------------------- binary */

typedef ad_var (*binop)(ad_tape *, ad_var, ad_var);

static ad_var run_binary(ad_tape *t, const ad_var *x, const void *ctx)
{
    return (*(const binop *)ctx)(t, x[0], x[1]);
}

/* The same input on both sides (adjoints accumulate). */
static ad_var run_self(ad_tape *t, const ad_var *x, const void *ctx)
{
    return (*(const binop *)ctx)(t, x[0], x[0]);
}

static void check_binary(const char *name, binop f, int is_div, int r, int c)
{
    /* a's and b's shapes: none, scalar, row and column broadcasting on
     * either side, and column with row */
    const int sh[9][4] = {
        {r, c, r, c}, {1, 1, r, c}, {r, c, 1, 1}, {1, c, r, c}, {r, c, 1, c},
        {r, 1, r, c}, {r, c, r, 1}, {r, 1, 1, c}, {1, c, r, 1},
    };
    for (int k = 0; k < 9; k++) {
        gc_input in[2] = {gc_uniform(sh[k][0], sh[k][1], -2.0, 2.0),
                          is_div ? gc_signed(sh[k][2], sh[k][3], 0.5, 2.0)
                                 : gc_uniform(sh[k][2], sh[k][3], -2.0, 2.0)};
        gc_run(name, run_binary, &f, 2, in);
    }
    gc_input self = is_div ? gc_signed(r, c, 0.5, 2.0) : gc_uniform(r, c, -2.0, 2.0);
    char nm[32];
    snprintf(nm, sizeof nm, "%s(x, x)", name);
    gc_run(nm, run_self, &f, 1, &self);
}

/* -------------------------------------------------------------- unary */

typedef struct unary_case {
    const char *name;
    int kind; /* 0: plain op, 1: pow(p), 2: affine(α, β), 3: scale(α), 4: shift(β) */
    ad_var (*f)(ad_tape *, ad_var);
    double p0, p1;
    double lo, hi;
    int sign;
} unary_case;

static ad_var run_unary(ad_tape *t, const ad_var *x, const void *ctx)
{
    const unary_case *u = ctx;
    switch (u->kind) {
    case 1: return ad_pow(t, x[0], u->p0);
    case 2: return ad_affine(t, x[0], u->p0, u->p1);
    case 3: return ad_scale(t, x[0], u->p0);
    case 4: return ad_shift(t, x[0], u->p1);
    default: return u->f(t, x[0]);
    }
}

/* Ranges keep inputs 0.1 or more from kinks (abs, relu) and poles (log,
 * sqrt, negative powers on ±[0.5, 2]). The "wide" ranges test the stable
 * forms far out, but stop where f' is so small next to f (tanh, sigmoid
 * near 1) that differences of f lose the digits a 1e-7 check needs. */
static const unary_case unary_cases[] = {
    {"neg", 0, ad_neg, 0, 0, -2.0, 2.0, 0},
    {"scale -1.7", 3, NULL, -1.7, 0, -2.0, 2.0, 0},
    {"scale 0.3", 3, NULL, 0.3, 0, -2.0, 2.0, 0},
    {"shift 0.7", 4, NULL, 0, 0.7, -2.0, 2.0, 0},
    {"affine 2.5,-1.25", 2, NULL, 2.5, -1.25, -2.0, 2.0, 0},
    {"exp", 0, ad_exp, 0, 0, -2.0, 2.0, 0},
    {"log", 0, ad_log, 0, 0, 0.5, 2.0, 0},
    {"log1p", 0, ad_log1p, 0, 0, -0.5, 2.0, 0},
    {"log1p small", 0, ad_log1p, 0, 0, -1e-3, 1e-3, 0},
    {"sqrt", 0, ad_sqrt, 0, 0, 0.5, 2.0, 0},
    {"square", 0, ad_square, 0, 0, -2.0, 2.0, 0},
    {"pow 2.5", 1, NULL, 2.5, 0, 0.5, 2.0, 0},
    {"pow -1.5", 1, NULL, -1.5, 0, 0.5, 2.0, 0},
    {"pow 0.5", 1, NULL, 0.5, 0, 0.5, 2.0, 0},
    {"pow 3", 1, NULL, 3.0, 0, -2.0, 2.0, 0},
    {"pow 2", 1, NULL, 2.0, 0, -2.0, 2.0, 0},
    {"pow 1", 1, NULL, 1.0, 0, -2.0, 2.0, 0},
    {"pow -1", 1, NULL, -1.0, 0, 0.5, 2.0, 1},
    {"pow -2", 1, NULL, -2.0, 0, 0.5, 2.0, 1},
    {"pow 0", 1, NULL, 0.0, 0, 0.5, 2.0, 0},
    {"abs", 0, ad_abs, 0, 0, 0.1, 2.0, 1},
    {"sigmoid", 0, ad_sigmoid, 0, 0, -3.0, 3.0, 0},
    {"sigmoid wide", 0, ad_sigmoid, 0, 0, -20.0, 6.0, 0},
    {"softplus", 0, ad_softplus, 0, 0, -3.0, 3.0, 0},
    {"softplus wide", 0, ad_softplus, 0, 0, 3.0, 20.0, 1},
    {"logsigmoid", 0, ad_logsigmoid, 0, 0, -3.0, 3.0, 0},
    {"logsigmoid wide", 0, ad_logsigmoid, 0, 0, 3.0, 20.0, 1},
    {"tanh", 0, ad_tanh, 0, 0, -2.0, 2.0, 0},
    {"tanh wide", 0, ad_tanh, 0, 0, 2.0, 4.0, 1},
    {"relu", 0, ad_relu, 0, 0, 0.1, 2.0, 1},
};

int main(void)
{
    gc_rng.s = 0x6A09E667F3BCC909ULL;
    int shapes[5][2] = {{1, 1}, {3, 5}, {5, 3}, {0, 0}, {0, 0}};
    for (int k = 3; k < 5; k++) {
        shapes[k][0] = 1 + gc_int(6);
        shapes[k][1] = 1 + gc_int(6);
    }
    static const struct {
        const char *name;
        binop f;
        int is_div;
    } bins[] = {{"add", ad_add, 0}, {"sub", ad_sub, 0}, {"mul", ad_mul, 0}, {"div", ad_div, 1}};
    for (size_t b = 0; b < sizeof bins / sizeof bins[0]; b++)
        for (int s = 0; s < 5; s++)
            check_binary(bins[b].name, bins[b].f, bins[b].is_div, shapes[s][0], shapes[s][1]);

    for (size_t u = 0; u < sizeof unary_cases / sizeof unary_cases[0]; u++) {
        const unary_case *uc = &unary_cases[u];
        for (int s = 0; s < 5; s++) {
            gc_input in = uc->sign ? gc_signed(shapes[s][0], shapes[s][1], uc->lo, uc->hi)
                                   : gc_uniform(shapes[s][0], shapes[s][1], uc->lo, uc->hi);
            gc_run(uc->name, run_unary, uc, 1, &in);
        }
    }
    return gc_done("gc_elementwise");
}
