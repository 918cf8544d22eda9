#!/usr/bin/env python3
"""`hypertape hypergrad --json` against independent truth: the PyTorch
reference hypergradients of tests/data/logreg.json (scalar and per-feature
λ), and the JSON contract (exact keys and types, the only thing on stdout).
  cli_truth.py HYPERTAPE"""
import json
import os
import sys

from clitest import TRAIN, VAL, check, finish, lam_arg, reference, rel_err, run

cli = os.path.abspath(sys.argv[1])

KEYS = {'method': str, 'status': str, 'inner_stop': (str, type(None)),
        'linear_stop': (str, type(None)), 'hypergradient': list, 'outer_value': float, 'inner_grad_norm': float,
        'linear_residual': (float, type(None)), 'bound_a_posteriori': (float, type(None)),
        'bound_certified': bool, 'counts': dict, 'seconds': float, 'peak_tape_bytes': int}


def is_num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def check_schema(obj, tag):
    ok = check(isinstance(obj, dict) and set(obj) == set(KEYS),
               '%s: exactly the contract keys (got %s)' % (tag, sorted(obj) if isinstance(obj, dict) else obj))
    if not ok:
        return
    for k, t in KEYS.items():
        v = obj[k]
        if t is float:
            good = is_num(v)
        elif t == (float, type(None)):
            good = v is None or is_num(v)
        elif t is int:
            good = isinstance(v, int) and not isinstance(v, bool) and v >= 0
        else:
            good = isinstance(v, t)
        check(good, '%s: "%s" has the contract type (%r)' % (tag, k, v))
    check(all(is_num(v) for v in obj['hypergradient']), tag + ': hypergradient is a list of numbers')
    check(obj['status'] == 'ok', '%s: status "ok" with exit 0 (got %r)' % (tag, obj['status']))
    c = obj['counts']
    check(isinstance(c, dict) and set(c) == {'grad', 'hvp', 'cross'} and
          all(isinstance(c[k], int) and not isinstance(c[k], bool) and c[k] >= 0 for k in c),
          tag + ': counts = {grad, hvp, cross} non-negative ints')


def hypergrad(case, method, extra=(), one_value=False):
    lam = case['lambda'][:1] if one_value else case['lambda']
    args = [cli, 'hypergrad', '--problem', 'logreg', '--train', TRAIN, '--val', VAL,
            '--reg', case['reg'], '--lambda', lam_arg(lam), '--method', method, '--json'] + list(extra)
    rc, out, err = run(args)
    tag = '%s/%s%s' % (case['reg'], method, ' ' + ' '.join(extra) if extra else '')
    if not check(rc == 0, tag + ': exit 0 (stderr: %s)' % err.strip()[-300:]):
        return None
    check(out.endswith('\n') and out.count('\n') == 1, tag + ': stdout is one line')
    try:
        obj = json.loads(out)  # raises if anything but one JSON value is on stdout
    except ValueError as e:
        check(False, tag + ': stdout parses with json.loads (%s): %r' % (e, out[:200]))
        return None
    check_schema(obj, tag)
    check(obj.get('method') == method, tag + ': "method" is %s' % method)
    return obj


ref = reference()
cases = {c['reg']: c for c in ref['cases']}
check(set(cases) == {'scalar', 'per-feature'}, 'logreg.json has a scalar and a per-feature case')

# Tight: ift-cg and exact with the defaults, 1e-8 relative (norm-wise and per entry
# relative to the norm), outer value too.
for reg, case in sorted(cases.items()):
    truth = case['hypergradient']
    tnorm = sum(v * v for v in truth) ** 0.5
    for method in ('ift-cg', 'exact'):
        obj = hypergrad(case, method)
        if obj is None:
            continue
        hg = obj['hypergradient']
        tag = '%s/%s' % (reg, method)
        if not check(len(hg) == len(truth), tag + ': %d entries' % len(truth)):
            continue
        e = rel_err(hg, truth)
        check(e <= 1e-8, tag + ': relative error %.3e <= 1e-8' % e)
        worst = max(abs(a - b) for a, b in zip(hg, truth)) / tnorm
        check(worst <= 1e-8, tag + ': worst entry error / |truth| %.3e <= 1e-8' % worst)
        ov = abs(obj['outer_value'] - case['outer_value']) / abs(case['outer_value'])
        check(ov <= 1e-8, tag + ': outer value relative error %.3e <= 1e-8' % ov)
        check(obj['inner_grad_norm'] <= 1e-9, tag + ': inner grad norm %.3e small' % obj['inner_grad_norm'])
        check(obj['linear_residual'] is not None, tag + ': linear_residual is a number')
        b = obj['bound_a_posteriori']
        if b is not None and obj['bound_certified']:
            check(b >= abs(e * tnorm) * 0.5, tag + ': certified bound %.3e not below the error' % b)

# Loose: the other estimators, each with its stated tolerance.
LOOSE = [('unroll', ['--iters', '3000'], 1e-6),
         ('inexact-ad', ['--iters', '3000'], 1e-6),
         ('shine-refine', [], 1e-6),
         ('unroll-checkpointed', ['--iters', '2000', '--snapshots', '8'], 1e-6),
         ('ift-neumann', [], 1e-3),
         ('shine', [], 0.5)]  # SHINE's q = B^-1 grad F is a quasi-Newton guess: loose
for reg, case in sorted(cases.items()):
    for method, extra, tol in LOOSE:
        obj = hypergrad(case, method, extra)
        if obj is None:
            continue
        e = rel_err(obj['hypergradient'], case['hypergradient'])
        check(e <= tol, '%s/%s: relative error %.3e <= %g' % (reg, method, e, tol))
    # unroll: the bound of its equivalent iterate q_u plus the unroll gap holds
    obj = hypergrad(case, 'unroll', ['--iters', '50'])
    if obj:
        e = rel_err(obj['hypergradient'], case['hypergradient']) * \
            sum(v * v for v in case['hypergradient']) ** 0.5
        b = obj['bound_a_posteriori']
        check(obj['linear_residual'] is not None and b is not None and b >= e
              and obj['bound_certified'] is True,
              reg + '/unroll: residual of q_u, certified bound %s >= true error %.3e' % (b, e))
        check(obj['counts']['hvp'] == 50, reg + '/unroll --iters 50: 50 hvps (got %d)' % obj['counts']['hvp'])
    # unroll-generic reads q_u off its tape: the same residual and bound as lean unroll
    gen = hypergrad(case, 'unroll-generic', ['--iters', '20'])
    lean = hypergrad(case, 'unroll', ['--iters', '20'])
    if gen and lean:
        bg, bl = gen['bound_a_posteriori'], lean['bound_a_posteriori']
        check(bg is not None and bl is not None and abs(bg - bl) <= 1e-10 * bl
              and gen['bound_certified'] is True,
              reg + '/unroll-generic: certified bound %s = lean unroll\'s %s' % (bg, bl))
    # unroll-forward has no q: null residual and bound
    obj = hypergrad(case, 'unroll-forward', ['--iters', '20'])
    if obj:
        check(obj['linear_residual'] is None and obj['bound_a_posteriori'] is None
              and obj['bound_certified'] is False, reg + '/unroll-forward: null residual/bound, not certified')

# One --lambda value with --reg per-feature fills every feature.
pf = dict(cases['per-feature'])
one = hypergrad(pf, 'ift-cg', one_value=True)
full = hypergrad(dict(pf, **{'lambda': [pf['lambda'][0]] * len(pf['lambda'])}), 'ift-cg')
if one and full:
    check(len(one['hypergradient']) == len(pf['lambda']),
          'per-feature, one --lambda value: %d entries' % len(pf['lambda']))
    check(one['hypergradient'] == full['hypergradient'],
          'per-feature, one --lambda value equals that value repeated')
    # the per-feature gradient sums to the scalar one at the same λ (chain rule)
    sc = hypergrad(dict(cases['scalar'], **{'lambda': [pf['lambda'][0]]}), 'ift-cg')
    if sc:
        s = sum(one['hypergradient'])
        check(abs(s - sc['hypergradient'][0]) <= 1e-8 * max(abs(s), 1e-12),
              'per-feature entries sum to the scalar hypergradient (%.17g vs %.17g)' % (s, sc['hypergradient'][0]))

finish()
