#!/usr/bin/env python3
"""The CLI's JSON hypergradient equals what bl_hypergrad returns for the
same inputs (lib_hypergrad.c makes the library call directly).
  cli_agree.py HYPERTAPE LIB_HYPERGRAD"""
import json
import os
import sys

from clitest import TRAIN, VAL, check, finish, lam_arg, reference, run

cli, lib = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
cases = {c['reg']: c for c in reference()['cases']}
RUNS = [('scalar', 'ift-cg', None, None), ('scalar', 'exact', None, None),
        ('per-feature', 'ift-cg', None, None), ('per-feature', 'exact', None, None),
        ('per-feature', 'shine-refine', None, None), ('scalar', 'unroll', '200', None),
        ('per-feature', 'inexact-ad', '200', None), ('per-feature', 'ift-cg', None, '-1.25')]
for reg, method, iters, one in RUNS:
    lam = one if one else lam_arg(cases[reg]['lambda'])
    args = [cli, 'hypergrad', '--problem', 'logreg', '--train', TRAIN, '--val', VAL, '--reg', reg,
            '--lambda', lam, '--method', method, '--json', '--quiet']
    largs = [lib, TRAIN, VAL, reg, method, lam]
    if iters:
        args += ['--iters', iters]
        largs += [iters]
    tag = '%s/%s%s%s' % (reg, method, ' K=' + iters if iters else '', ' lambda=' + one if one else '')
    rc, out, err = run(args)
    lrc, lout, lerr = run(largs)
    if not (check(rc == 0, tag + ': CLI exit 0 (%s)' % err.strip()) and
            check(lrc == 0, tag + ': library program exit 0 (%s)' % lerr.strip())):
        continue
    hg = json.loads(out)['hypergradient']
    want = [float(v) for v in lout.split()]
    check(hg == want, tag + ': CLI JSON == bl_hypergrad bit for bit\n     cli %s\n     lib %s' % (hg, want))
finish()
