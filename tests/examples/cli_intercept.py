#!/usr/bin/env python3
"""--intercept free | ridge=V (bare: ridge=0.01) on `hypergrad` and `tune`
(README, CLI reference), against an independent truth: Newton and a dense
solve in plain Python on tests/data/logreg.*.svm for
  G(w, b, λ) = (1/n) Σ softplus(−y(⟨x, w⟩ + b)) + ½ e^λ ‖w‖² [+ ½ V b²],
  F = the validation mean of the same loss, ∇h = −e^λ ⟨w, q_w⟩, H q = ∇_θF.
Checks: bare = ridge=0.01 exactly; free and ridge=V against the truth;
the table names the intercept; the bound is "estimated" (free, no
certified μ) or "certified" (ridge); per-feature λ; tune runs with it;
README's HOAG conversion (sums, α = λ + log n) against the same truth in
HOAG's form.
(Bad values: cli_errors.py.)
  cli_intercept.py HYPERTAPE"""
import json
import math
import os
import sys
import tempfile

from clitest import TRAIN, VAL, check, finish, rel_err, run

cli = os.path.abspath(sys.argv[1])
PAIR = ['--train', TRAIN, '--val', VAL]


def read_svm(path, d):
    X, y = [], []
    with open(path) as f:
        for line in f:
            parts = line.split()
            if not parts:
                continue
            row = [0.0] * d
            for tok in parts[1:]:
                k, v = tok.split(':')
                row[int(k) - 1] = float(v)
            X.append(row)
            y.append(float(parts[0]))
    return X, y


def sigmoid(s):
    if s >= 0:
        return 1.0 / (1.0 + math.exp(-s))
    e = math.exp(s)
    return e / (1.0 + e)


def solve(A, b):
    """Gaussian elimination with partial pivoting (A is small and SPD)."""
    n = len(b)
    M = [row[:] + [b[i]] for i, row in enumerate(A)]
    for c in range(n):
        piv = max(range(c, n), key=lambda r: abs(M[r][c]))
        M[c], M[piv] = M[piv], M[c]
        for r in range(c + 1, n):
            f = M[r][c] / M[c][c]
            for k in range(c, n + 1):
                M[r][k] -= f * M[c][k]
    x = [0.0] * n
    for r in range(n - 1, -1, -1):
        x[r] = (M[r][n] - sum(M[r][k] * x[k] for k in range(r + 1, n))) / M[r][r]
    return x


def loss_grad_hess(X, y, th, want_hess, scale):
    """scale · Σ logistic loss over (X, y) at θ = (w[, b]): value, gradient, Hessian."""
    p, d = len(th), len(X[0])
    f, g = 0.0, [0.0] * p
    H = [[0.0] * p for _ in range(p)] if want_hess else None
    for xi, yi in zip(X, y):
        xt = xi + [1.0] * (p - d)
        s = -yi * sum(a * t for a, t in zip(xt, th))
        f += scale * (s + math.log1p(math.exp(-s)) if s > 0 else math.log1p(math.exp(s)))
        sg = sigmoid(s)
        for k in range(p):
            g[k] += -yi * sg * xt[k] * scale
        if want_hess:
            c = sg * (1.0 - sg) * scale
            for i in range(p):
                for j in range(p):
                    H[i][j] += c * xt[i] * xt[j]
    return f, g, H


def truth(lam, V, per_feature, intercept=True, sums=False):
    """(∇h, h) at λ. Means (hypertape): G = (1/n) Σ loss + ½ Σ e^{λ_k} w_k² [+ ½ V b²]
    (V = 0: free b), F = (1/n_val) Σ loss. sums (HOAG's form): G = Σ loss +
    ½ e^{λ}‖w‖², F = Σ_val loss; λ is then HOAG's α."""
    d = 8
    Xt, yt = read_svm(TRAIN, d)
    Xv, yv = read_svm(VAL, d)
    p = d + (1 if intercept else 0)
    st, sv = (1.0, 1.0) if sums else (1.0 / len(Xt), 1.0 / len(Xv))
    e = [math.exp(lam[k] if per_feature else lam[0]) for k in range(d)] + [V] * (p - d)
    th = [0.0] * p
    for _ in range(50):
        _, g, H = loss_grad_hess(Xt, yt, th, True, st)
        for k in range(p):
            g[k] += e[k] * th[k]
            H[k][k] += e[k]
        if math.sqrt(sum(v * v for v in g)) < 1e-14:
            break
        step = solve(H, g)
        th = [t - s for t, s in zip(th, step)]
    _, _, H = loss_grad_hess(Xt, yt, th, True, st)
    for k in range(p):
        H[k][k] += e[k]
    h, gF, _ = loss_grad_hess(Xv, yv, th, False, sv)
    q = solve(H, gF)
    cross = [e[k] * th[k] * q[k] for k in range(d)]  # ∂²G/∂λ_k∂θ · q
    return ([-c for c in cross] if per_feature else [-sum(cross)]), h


def hg(extra):
    lin = [] if 'exact' in extra else ['--linear-tol', '1e-12']
    rc, out, err = run([cli, 'hypergrad'] + PAIR + ['--inner-tol', '1e-12', '--json'] + lin + extra)
    try:
        return rc, json.loads(out), err
    except ValueError:
        return rc, None, err


# bare --intercept is ridge=0.01, in every spelling
rc0, j0, _ = hg(['--intercept'])
rc1, j1, _ = hg(['--intercept', 'ridge=0.01'])
rc2, j2, _ = hg(['--intercept=ridge=0.01'])
rc3, j3, _ = hg(['--intercept', '--lambda', '-1'])  # bare, then another flag
rc4, j4, _ = hg(['--intercept', 'ridge=0.01', '--lambda', '-1'])
check(rc0 == rc1 == rc2 == rc3 == rc4 == 0 and None not in (j0, j1, j2, j3, j4),
      'bare, ridge=0.01, =ridge=0.01: exit 0 with JSON')
if j0 and j1 and j2 and j3 and j4:
    check(j0['hypergradient'] == j1['hypergradient'] == j2['hypergradient'],
          'bare --intercept = ridge=0.01 exactly (%r, %r)' % (j0['hypergradient'], j1['hypergradient']))
    check(j3['hypergradient'] == j4['hypergradient'], 'bare --intercept before another flag = ridge=0.01')

for per in (0, 1):
    reg = ['--reg', 'per-feature'] if per else []
    lam = [-1.5 - 0.1 * k for k in range(8)] if per else [-1.5]
    lam_txt = ','.join(repr(v) for v in lam)
    for mode, V in (('free', 0.0), ('ridge=0.01', 0.01), ('ridge=0.5', 0.5)):
        tag = '%s %s' % ('per-feature' if per else 'scalar', mode)
        want = truth(lam, V, per)[0]
        for method in ('ift-cg', 'exact'):
            rc, j, err = hg(reg + ['--intercept', mode, '--lambda', lam_txt, '--method', method])
            if not check(rc == 0 and j is not None, '%s %s: exit 0 with JSON (%d, %r)'
                         % (tag, method, rc, err[:200])):
                continue
            e = rel_err(j['hypergradient'], want)
            check(e < 1e-8, '%s %s: hypergradient vs plain-Python truth, rel %.2e' % (tag, method, e))
            if method == 'ift-cg':
                cert = j['bound_certified']
                check(cert == (V > 0), '%s: bound_certified %r (free: estimated, ridge: certified)'
                      % (tag, cert))
                b = j['bound_a_posteriori']
                check(b is not None and math.isfinite(b), '%s: a bound is reported (%r)' % (tag, b))
    # the free and ridged problems are different problems
    check(rel_err(truth(lam, 0.0, per)[0], truth(lam, 0.5, per)[0]) > 1e-4,
          '%s: free and ridge=0.5 truths differ (the test can tell them apart)'
          % ('per-feature' if per else 'scalar'))

# README, "Sums or means": HOAG's G = Σ loss + ½ e^α‖w‖², F = Σ_val loss
# (no intercept) is hypertape's problem at λ = α − log n, with h_HOAG(α) =
# n_val·h(λ) and dh_HOAG/dα = n_val·∇h(λ).
n_tr, n_va = len(read_svm(TRAIN, 8)[0]), len(read_svm(VAL, 8)[0])
alpha = 2.0
hg_sum, h_sum = truth([alpha], 0.0, 0, intercept=False, sums=True)
rc, j, err = hg(['--lambda', repr(alpha - math.log(n_tr)), '--method', 'exact'])
if check(rc == 0 and j is not None, 'HOAG conversion: hypergrad at lambda = alpha - log n runs'):
    check(abs(j['outer_value'] * n_va - h_sum) <= 1e-10 * abs(h_sum),
          'HOAG conversion: n_val * F(theta*) %.15g = HOAG\'s outer sum %.15g'
          % (j['outer_value'] * n_va, h_sum))
    e = rel_err([v * n_va for v in j['hypergradient']], hg_sum)
    check(e < 1e-8, 'HOAG conversion: n_val * dh/dlambda = dh_HOAG/dalpha (rel %.2e)' % e)

# the table names the intercept and labels the bound
for mode, words in (('free', ('free intercept', 'estimated')),
                    ('ridge=0.25', ('intercept ridge 0.25', 'certified'))):
    rc, out, err = run([cli, 'hypergrad', '--quiet'] + PAIR + ['--intercept', mode])
    check(rc == 0 and all(w in out for w in words), 'table for --intercept %s shows %s (%r)'
          % (mode, ' and '.join(words), out[:300]))
rc, out, err = run([cli, 'hypergrad', '--quiet'] + PAIR)
check(rc == 0 and 'intercept' not in out, 'no --intercept: the table names none')
# gd's default steps: from estimated constants when b is free, the model's when ridged
for mode, est in (('free', True), ('ridge=0.5', False)):
    rc, out, err = run([cli, 'hypergrad', '--quiet'] + PAIR + ['--intercept', mode, '--method', 'ift-gd',
                                                              '--inner', 'gd'])
    check(rc == 0 and ('from estimated constants' in out) == est,
          '--intercept %s, gd: steps %s estimated constants (%r)' % (mode, 'from' if est else 'not from',
                                                                    out[-250:]))

# tune takes it: the runs finish with a finite h
with tempfile.TemporaryDirectory(prefix='hypertape-intercept-') as tmp:
    rc, out, err = run([cli, 'tune', '--quiet'] + PAIR + ['--intercept', 'free', '--algo', 'hoag,soba',
                                                         '--budget-iters', '20', '--json', '--out', tmp])
    ok = rc in (0, 3)
    try:
        j = json.loads(out)
    except ValueError:
        j, ok = None, False
    check(ok and j and all(math.isfinite(r['h']) for r in j['runs']),
          'tune --intercept free: runs finish with finite h (rc %d, %r)' % (rc, err[:200]))

finish()
