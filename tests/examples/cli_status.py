#!/usr/bin/env python3
"""`hypertape hypergrad` statuses (issue 15 §5): exit 0 only for BL_OK, 3 for a
result that was produced but did not meet a requested tolerance (with a
one-line warning on stderr, also with --quiet), 2 for options the method
cannot take; the JSON's status, inner_stop and linear_stop.
  cli_status.py HYPERTAPE"""
import json
import os
import sys

from clitest import TRAIN, VAL, check, finish, run

cli = os.path.abspath(sys.argv[1])
HG = [cli, 'hypergrad', '--problem', 'logreg', '--train', TRAIN, '--val', VAL]
STOPS = {'not run', 'tolerance', 'iteration cap', 'non-positive curvature', 'direct solve',
         'stalled at rounding level'}


def one_json(out, tag):
    check(out.endswith('\n') and out.count('\n') == 1, tag + ': stdout is one line')
    try:
        return json.loads(out)
    except ValueError as e:
        check(False, '%s: stdout is JSON (%s): %r' % (tag, e, out[:200]))
        return {}


# An inner cap of 3 with the default tolerance: produced, not converged.
for quiet in ([], ['--quiet']):
    tag = 'ift-cg --iters 3' + (' --quiet' if quiet else '')
    rc, out, err = run(HG + ['--iters', '3', '--method', 'ift-cg', '--json'] + quiet)
    check(rc == 3, '%s: exit 3 (got %d; stderr %r)' % (tag, rc, err[-300:]))
    warn = [l for l in err.splitlines() if 'warning' in l]
    check(len(warn) == 1 and warn[0].startswith('hypertape hypergrad: warning: not-converged'),
          '%s: one warning line on stderr (%r)' % (tag, err[-400:]))
    check(warn and 'inner lbfgs' in warn[0] and '3 iterations' in warn[0],
          '%s: the warning names the solver and its iterations (%r)' % (tag, warn))
    if quiet:
        check(len(err.splitlines()) == 1, '%s: only the warning on stderr (%r)' % (tag, err))
    obj = one_json(out, tag)
    check(obj.get('status') == 'not-converged', '%s: "status" not-converged (%r)' % (tag, obj.get('status')))
    check(obj.get('inner_stop') == 'iteration cap', '%s: "inner_stop" iteration cap (%r)' % (tag, obj.get('inner_stop')))
    check(isinstance(obj.get('hypergradient'), list) and len(obj['hypergradient']) >= 1,
          '%s: the result is still printed' % tag)

# The defaults: every tolerance met.
rc, out, err = run(HG + ['--json', '--quiet'])
check(rc == 0 and err == '', 'default run: exit 0, nothing on stderr (got %d, %r)' % (rc, err))
obj = one_json(out, 'default')
check(obj.get('status') == 'ok', 'default: "status" ok (%r)' % obj.get('status'))
check(obj.get('inner_stop') == 'tolerance', 'default: "inner_stop" tolerance (%r)' % obj.get('inner_stop'))
check(obj.get('linear_stop') == 'tolerance', 'default: "linear_stop" tolerance (%r)' % obj.get('linear_stop'))

# The unroll family runs exactly K steps: ok; its stops are names or null.
for method in ('unroll', 'unroll-forward', 'inexact-ad', 'unroll-checkpointed'):
    rc, out, err = run(HG + ['--method', method, '--iters', '20', '--json', '--quiet'])
    check(rc == 0 and err == '', '%s --iters 20: exit 0, quiet stderr (got %d, %r)' % (method, rc, err))
    obj = one_json(out, method)
    check(obj.get('status') == 'ok', '%s: "status" ok (%r)' % (method, obj.get('status')))
    for key in ('inner_stop', 'linear_stop'):
        v = obj.get(key, 'missing')
        check(v is None or v in STOPS, '%s: "%s" is a stop name or null (%r)' % (method, key, v))

# Options the method cannot take: bad input, exit 2, one line, nothing on stdout.
rc, out, err = run(HG + ['--method', 'shine', '--inner', 'gd', '--quiet'])
check(rc == 2, 'shine --inner gd: exit 2 (got %d)' % rc)
check(len(err.splitlines()) == 1 and err.startswith('hypertape hypergrad:') and 'lbfgs' in err,
      'shine --inner gd: one line naming lbfgs (%r)' % err)
check('hypergrad: hypergrad:' not in err, 'shine --inner gd: no doubled prefix (%r)' % err)
check(out == '', 'shine --inner gd: nothing on stdout (%r)' % out[:200])
rc, out, err = run(HG + ['--method', 'shine', '--inner', 'gd', '--json'])
check(rc == 2 and out == '' and err.splitlines() and 'lbfgs' in err.splitlines()[-1],
      'shine --inner gd --json: exit 2, the reason on stderr, nothing on stdout (%d, %r)' % (rc, err))

finish()
