#!/usr/bin/env python3
"""Golden tests of each subcommand on small inputs: the hypergrad table,
`compare --problems lstsq` (CSV header, a row per method, PNG when gnuplot
exists, the table and the "wrote" line, no scratch or .tmp files), --help.
  cli_golden.py HYPERTAPE"""
import csv
import os
import shutil
import sys
import tempfile

from clitest import TRAIN, VAL, check, finish, run

cli = os.path.abspath(sys.argv[1])

METHODS = ['unroll', 'unroll-generic', 'unroll-truncated', 'unroll-checkpointed', 'unroll-forward',
           'inexact-ad', 'ift-cg', 'ift-gd', 'ift-hb', 'ift-neumann', 'ift-identity', 'shine',
           'shine-opa', 'shine-refine', 'exact']

# --help of the tool and of each subcommand: exit 0, usage on stdout.
for sub in ([], ['hypergrad'], ['compare'], ['bounds']):
    rc, out, err = run([cli] + sub + ['--help'])
    tag = ' '.join(['hypertape'] + sub + ['--help'])
    check(rc == 0, tag + ': exit 0')
    check(out.startswith('usage: hypertape'), tag + ': usage on stdout')
    if sub:
        for flag in ('--help', '--quiet', '--seed', '--out'):
            check(flag in out, '%s lists %s' % (tag, flag))
rc, out, err = run([cli, 'hypergrad', '--help'])
for flag in ('--problem', '--train', '--val', '--reg', '--lambda', '--method', '--inner-tol',
             '--linear-tol', '--iters', '--truncate', '--snapshots', '--json'):
    check(flag in out, 'hypergrad --help lists ' + flag)

# hypergrad table (not --json): the expected fields; progress on stderr only.
base = [cli, 'hypergrad', '--problem', 'logreg', '--train', TRAIN, '--val', VAL]
rc, out, err = run(base + ['--reg', 'scalar', '--lambda', '-1.5', '--method', 'ift-cg'])
check(rc == 0, 'hypergrad table: exit 0')
for field in ('problem', 'method', 'hypergradient', 'outer value', 'inner grad norm',
              'linear residual', 'error bound', 'counts', 'seconds', 'peak tape bytes'):
    check(any(line.startswith(field) for line in out.splitlines()), 'hypergrad table has "%s"' % field)
check('ift-cg' in out and 'logreg (scalar lambda), 120 train x 8 features' in out,
      'hypergrad table names the method and the problem')
check('9.2616081' in out, 'hypergrad table shows the hypergradient 9.2616081...e-02')
check('[hypergrad]' in err and '[hypergrad]' not in out, 'progress on stderr, not stdout')
rc, out, err = run(base + ['--reg', 'scalar', '--lambda', '-1.5', '--quiet'])
check(rc == 0 and err == '', 'hypergrad --quiet: nothing on stderr (%r)' % err[:200])
check('ift-cg' in out, 'hypergrad: default method is ift-cg')
rc, out, err = run(base + ['--reg', 'per-feature', '--lambda', '-1', '--method', 'unroll',
                           '--iters', '20', '--quiet', '--seed', '3', '--out', tempfile.gettempdir()])
check(rc == 0 and 'unroll' in out and 'equivalent iterate q_u; unroll gap' in out
      and 'error bound' in out and 'a-priori bound' not in out,
      'hypergrad unroll table: residual of q_u with the unroll gap, no a-priori bound; --seed/--out accepted')
rc, out, err = run(base + ['--reg', 'scalar', '--lambda', '-1.5', '--method', 'ift-cg', '--inner', 'gd',
                           '--iters', '200', '--quiet'])
check(rc == 0 and 'a-priori bound' in out and 'certified)' in out,
      'hypergrad ift-cg with gd inner: an a-priori bound line')
rc, out, err = run(base + ['--reg', 'scalar', '--lambda', '-1.5', '--method', 'unroll-truncated',
                           '--iters', '100', '--truncate', '10', '--quiet'])
check(rc == 0 and 'hvp 10 ' in out, 'hypergrad unroll-truncated --truncate 10: 10 hvps')

# compare on the least-squares problem.
tmp = tempfile.mkdtemp(prefix='hypertape-compare-')
try:
    outdir = os.path.join(tmp, 'sub', 'dir')  # parents are created
    rc, out, err = run([cli, 'compare', '--problems', 'lstsq', '--max-iters', '30', '--out', outdir,
                        '--quiet'], cwd=tmp)
    check(rc == 0, 'compare: exit 0 (stderr: %s)' % err.strip()[-300:])
    check(err == '', 'compare --quiet: nothing on stderr (%r)' % err[:200])
    check('* = estimated, not certified' in out, 'compare table: the legend says what * means')
    path = os.path.join(outdir, 'compare.csv')
    if check(os.path.isfile(path), 'compare wrote compare.csv'):
        with open(path, newline='') as f:
            rows = list(csv.reader(f))
        header = ['problem', 'method', 'setting', 'rel_error', 'bound_a_posteriori_rel',
                  'bound_certified', 'grad', 'hvp', 'cross', 'work', 'seconds', 'peak_tape_bytes',
                  'status']
        check(rows and rows[0] == header, 'compare.csv header: %s' % (rows[0] if rows else None))
        body = rows[1:]
        check(all(len(r) == len(header) for r in body), 'compare.csv: every row has %d fields' % len(header))
        check(all(r[0] == 'lstsq' for r in body), 'compare.csv: only lstsq rows')
        got = {r[1] for r in body}
        for m in METHODS:
            check(m in got, 'compare.csv has a row for ' + m)
        check(got <= set(METHODS), 'compare.csv: no unknown method (%s)' % sorted(got - set(METHODS)))
        ks = {r[2] for r in body if r[1] == 'unroll'}
        check(ks == {'K=10', 'K=30'}, '--max-iters 30: unroll at K=10, K=30 only (%s)' % sorted(ks))
        check('K=30,T=10' in {r[2] for r in body if r[1] == 'unroll-truncated'},
              'compare.csv: the setting "K=30,T=10" is one (quoted) field')
        # unroll-generic has the unroll family's certified bound; unroll-forward none
        gen = [r for r in body if r[1] == 'unroll-generic' and r[12] == 'success']
        check(gen and all(r[5] == '1' and float(r[4]) + 1e-12 >= float(r[3]) for r in gen),
              'compare.csv: unroll-generic rows carry a certified bound >= their error (%s)' %
              [(r[3], r[4], r[5]) for r in gen])
        fwd = [r for r in body if r[1] == 'unroll-forward']
        check(fwd and all(r[5] == '0' for r in fwd), 'compare.csv: unroll-forward has no certified bound')
        for m in ('ift-cg', 'exact'):
            errs = [float(r[3]) for r in body if r[1] == m and r[12] == 'success']
            check(errs and min(errs) < 1e-8, 'compare.csv: best %s rel. error %s < 1e-8' % (m, min(errs or [None])))
    png = os.path.join(outdir, 'compare_lstsq.png')
    if shutil.which('gnuplot'):
        if check(os.path.isfile(png), 'compare wrote compare_lstsq.png (gnuplot exists)'):
            with open(png, 'rb') as f:
                check(f.read(8) == b'\x89PNG\r\n\x1a\n', 'compare_lstsq.png is a PNG')
        check('compare_lstsq.png' in out, '"wrote" line names the PNG')
    else:
        print('skip PNG checks: no gnuplot')
        check(not os.path.exists(png) and 'compare_lstsq.png' not in out, 'no gnuplot: no PNG claimed')
    left = sorted(os.listdir(outdir))
    check(all(n in ('compare.csv', 'compare_lstsq.png') for n in left),
          'compare leaves only its outputs (no .tmp / scratch files): %s' % left)
    check(os.listdir(tmp) == ['sub'], 'compare writes nothing in its working folder: %s' % os.listdir(tmp))
    check('least squares' in out, 'compare prints the problem title')
    check(any(line.split()[:2] == ['method', 'best'] for line in out.splitlines()), 'compare prints the table header')
    for m in METHODS:
        check(any(line.split()[:1] == [m] for line in out.splitlines()), 'compare table has a line for ' + m)
    wrote = [line for line in out.splitlines() if line.startswith('wrote ')]
    check(len(wrote) == 1 and path in wrote[0], '"wrote" line names %s' % path)
finally:
    shutil.rmtree(tmp, ignore_errors=True)

finish()
