#!/usr/bin/env python3
"""Bad input: each case exits 2 with one line on stderr naming the problem,
nothing on stdout, no crash, and no output file left behind.
  cli_errors.py HYPERTAPE"""
import glob
import os
import shutil
import sys
import tempfile

from clitest import DATA, TRAIN, VAL, check, finish, run

cli = os.path.abspath(sys.argv[1])
HG = [cli, 'hypergrad', '--problem', 'logreg']
PAIR = ['--train', TRAIN, '--val', VAL]

CASES = [
    ('unknown subcommand', [cli, 'frobnicate'], 'frobnicate'),
    ('unknown flag', HG + PAIR + ['--frob'], '--frob'),
    ('unexpected argument', HG + PAIR + ['stray'], 'stray'),
    ('missing flag value', HG + PAIR + ['--method'], '--method'),
    ('empty flag value', HG + PAIR + ['--method='], '--method'),
    ('value to a switch', HG + PAIR + ['--json=yes'], '--json'),
    ('--lambda non-numeric', HG + PAIR + ['--lambda', 'abc'], '--lambda'),
    ('--lambda trailing comma', HG + PAIR + ['--lambda', '1,'], '--lambda'),
    ('--lambda nan', HG + PAIR + ['--lambda', 'nan'], '--lambda'),
    ('--lambda wrong count', HG + PAIR + ['--reg', 'per-feature', '--lambda', '1,2,3'], '--lambda'),
    ('--lambda wrong count (scalar)', HG + PAIR + ['--reg', 'scalar', '--lambda', '1,2'], '--lambda'),
    ('--method unknown', HG + PAIR + ['--method', 'magic'], 'magic'),
    ('--reg bad', HG + PAIR + ['--reg', 'diagonal'], '--reg'),
    ('missing train file', HG + ['--train', '/nonexistent/train.svm', '--val', VAL], '/nonexistent/train.svm'),
    ('missing val file', HG + ['--train', TRAIN, '--val', '/nonexistent/val.svm'], '/nonexistent/val.svm'),
    ('no --train', HG + ['--val', VAL], '--train'),
    ('--iters 0', HG + PAIR + ['--method', 'unroll', '--iters', '0'], '--iters'),
    ('--iters non-numeric', HG + PAIR + ['--iters', '10x'], '--iters'),
    ('--truncate 0', HG + PAIR + ['--truncate', '0'], '--truncate'),
    ('--snapshots 0', HG + PAIR + ['--snapshots', '0'], '--snapshots'),
    ('--inner-tol non-numeric', HG + PAIR + ['--inner-tol', 'tight'], '--inner-tol'),
    ('--seed negative', HG + PAIR + ['--seed', '-1'], '--seed'),
    ('--problem unknown', [cli, 'hypergrad', '--problem', 'svm'] + PAIR, '--problem'),
    # issue 19 #7: strict values, repeated flags, flags that do not apply
    ('--inner-tol negative', HG + PAIR + ['--inner-tol', '-1e-8'], '--inner-tol'),
    ('--linear-tol negative', HG + PAIR + ['--linear-tol', '-1'], '--linear-tol'),
    ('--inner-tol -0', HG + PAIR + ['--inner-tol', '-0'], '--inner-tol'),
    ('--inner-tol hex', HG + PAIR + ['--inner-tol', '0x1p-30'], '--inner-tol'),
    ('--inner-tol inf', HG + PAIR + ['--inner-tol', 'inf'], '--inner-tol'),
    ('--iters hex', HG + PAIR + ['--iters', '0x1'], '--iters'),
    ('--iters -0', HG + PAIR + ['--method', 'unroll', '--iters', '-0'], '--iters'),
    ('--iters +5', HG + PAIR + ['--iters', '+5'], '--iters'),
    ('--lambda hex', HG + PAIR + ['--lambda', '0x1'], '--lambda'),
    ('--seed hex', HG + PAIR + ['--seed', '0x1'], '--seed'),
    ('--lambda 800 (exp overflows)', HG + PAIR + ['--lambda', '800'], '--lambda 800'),
    ('--lambda 800 per-feature', HG + PAIR + ['--reg', 'per-feature', '--lambda', '800'], '--lambda 800'),
    ('repeated --method', HG + PAIR + ['--method', 'ift-cg', '--method', 'exact'], '--method'),
    ('repeated --lambda', HG + PAIR + ['--lambda', '1', '--lambda=2'], '--lambda'),
    ('repeated --seed', HG + PAIR + ['--seed', '1', '--seed', '2'], '--seed'),
    ('repeated --out', HG + PAIR + ['--out', 'a', '--out', 'b'], '--out'),
    ('repeated --quiet', HG + PAIR + ['--quiet', '--quiet'], '--quiet'),
    ('repeated --json', HG + PAIR + ['--json', '--json'], '--json'),
    ('--truncate for ift-cg', HG + PAIR + ['--method', 'ift-cg', '--truncate', '3'], '--truncate'),
    ('--snapshots for unroll', HG + PAIR + ['--method', 'unroll', '--snapshots', '3'], '--snapshots'),
    ('--linear-tol for unroll', HG + PAIR + ['--method', 'unroll', '--linear-tol', '1e-3'], '--linear-tol'),
    ('--linear-tol for exact', HG + PAIR + ['--method', 'exact', '--linear-tol', '1e-3'], '--linear-tol'),
    ('--rows for logreg', HG + PAIR + ['--rows', '10'], '--rows'),
    ('--corrupt for logreg', HG + PAIR + ['--corrupt', '0.1'], '--corrupt'),
    ('--train for lstsq', [cli, 'hypergrad', '--problem', 'lstsq', '--train', TRAIN], '--train'),
    ('--reg for ridge', [cli, 'hypergrad', '--problem', 'ridge', '--reg', 'scalar'] + PAIR, '--reg'),
    ('--method shine --inner gd', HG + PAIR + ['--method', 'shine', '--inner', 'gd'], 'lbfgs'),
    ('--threads 0', HG + PAIR + ['--threads', '0'], '--threads'),
    ('--threads text', HG + PAIR + ['--threads', 'all'], '--threads'),
    ('bounds --budget without --cleaning', [cli, 'bounds', '--budget', '10'], '--budget'),
    ('bounds --inner-tols without --cleaning', [cli, 'bounds', '--inner-tols', '0.1'], '--inner-tols'),
    ('bounds --cleaning --linear-iters', [cli, 'bounds', '--cleaning', '--linear-iters', '5'],
     '--linear-iters'),
    ('bounds --rows without lstsq', [cli, 'bounds', '--problems', 'logreg', '--rows', '50'], '--rows'),
    ('bounds --logreg-inner without logreg', [cli, 'bounds', '--problems', 'lstsq', '--logreg-inner',
                                              'hb'], '--logreg-inner'),
    ('bounds repeated --problems', [cli, 'bounds', '--problems', 'lstsq', '--problems', 'logreg'],
     '--problems'),
    ('bounds --lambda 800', [cli, 'bounds', '--problems', 'logreg', '--n-train', '50', '--n-val',
                             '50', '--lambda', '800'], '--lambda 800'),
    ('compare --lambda without logreg', [cli, 'compare', '--problems', 'lstsq', '--lambda', '1'],
     '--lambda'),
    ('compare --threads -1', [cli, 'compare', '--threads', '-1'], '--threads'),
    ('compare unknown flag', [cli, 'compare', '--frob'], '--frob'),
    ('compare --problems bad', [cli, 'compare', '--problems', 'lstsq,svm'], '--problems'),
    ('compare --max-iters 0', [cli, 'compare', '--max-iters', '0'], '--max-iters'),
    ('compare missing Fashion-MNIST (no --out folder left)',
     [cli, 'compare', '--problems', 'logreg', '--fashion-dir', '/nonexistent/fashion'],
     '/nonexistent/fashion'),
    # issue 22: --intercept free | ridge=V (bare: ridge=0.01), strict in hypergrad and tune
    ('--intercept bad word', HG + PAIR + ['--intercept', 'lasso'], '--intercept'),
    ('--intercept ridge= empty', HG + PAIR + ['--intercept', 'ridge='], '--intercept'),
    ('--intercept ridge=0', HG + PAIR + ['--intercept', 'ridge=0'], '--intercept'),
    ('--intercept ridge negative', HG + PAIR + ['--intercept=ridge=-0.1'], '--intercept'),
    ('--intercept ridge text', HG + PAIR + ['--intercept', 'ridge=small'], '--intercept'),
    ('--intercept ridge inf', HG + PAIR + ['--intercept', 'ridge=inf'], '--intercept'),
    ('--intercept ridge hex', HG + PAIR + ['--intercept', 'ridge=0x1'], '--intercept'),
    ('--intercept ridge overflow', HG + PAIR + ['--intercept', 'ridge=1e999'], '--intercept'),
    ('--intercept FREE (case)', HG + PAIR + ['--intercept', 'FREE'], '--intercept'),
    ('--intercept free=1', HG + PAIR + ['--intercept', 'free=1'], '--intercept'),
    ('--intercept= empty', HG + PAIR + ['--intercept='], '--intercept'),
    ('repeated --intercept', HG + PAIR + ['--intercept', '--intercept', 'free'], '--intercept'),
    ('--intercept for lstsq', [cli, 'hypergrad', '--problem', 'lstsq', '--intercept', 'free'],
     '--intercept'),
    ('tune --intercept bad word', [cli, 'tune'] + PAIR + ['--intercept', 'lasso'], '--intercept'),
    ('tune --intercept ridge=0', [cli, 'tune'] + PAIR + ['--intercept=ridge=0'], '--intercept'),
    ('tune --intercept bad, no files', [cli, 'tune', '--intercept', 'ridge=x'], '--intercept ridge=V'),
    ('tune --intercept without files', [cli, 'tune', '--intercept', 'free'], '--intercept'),
    ('tune --intercept for lstsq', [cli, 'tune', '--problem', 'lstsq', '--intercept'], '--intercept'),
    ('bounds unknown flag', [cli, 'bounds', '--frob'], '--frob'),
    ('bounds --problems bad', [cli, 'bounds', '--problems', 'cleaning'], '--problems'),
    ('bounds --linear-iters 0', [cli, 'bounds', '--linear-iters', '0'], '--linear-iters'),
    ('bounds --rows < --p', [cli, 'bounds', '--rows', '5', '--p', '10'], '--rows'),
    ('bounds --logreg-inner lbfgs', [cli, 'bounds', '--logreg-inner', 'lbfgs'], '--logreg-inner'),
    ('bounds missing Fashion-MNIST', [cli, 'bounds', '--problems', 'logreg', '--fashion-dir',
                                      '/nonexistent/fashion'], '/nonexistent/fashion'),
    ('bounds --cleaning --inner-solvers bad', [cli, 'bounds', '--cleaning', '--inner-solvers',
                                               'hb,newton'], '--inner-solvers'),
    ('bounds --cleaning --linear-solvers bad', [cli, 'bounds', '--cleaning', '--linear-solvers',
                                                'minres'], '--linear-solvers'),
    ('bounds --cleaning --inner-tols negative', [cli, 'bounds', '--cleaning', '--inner-tols',
                                                 '0.1,-1'], '--inner-tols'),
    ('bounds --cleaning --linear-tols text', [cli, 'bounds', '--cleaning', '--linear-tols', 'tight'],
     '--linear-tols'),
    ('bounds --cleaning --budget 0', [cli, 'bounds', '--cleaning', '--budget', '0'], '--budget'),
    ('bounds --cleaning --upper-step 0', [cli, 'bounds', '--cleaning', '--upper-step', '0'],
     '--upper-step'),
    ('bounds --cleaning --mu 0', [cli, 'bounds', '--cleaning', '--mu', '0'], '--mu'),
    ('bounds --cleaning --corrupt 2', [cli, 'bounds', '--cleaning', '--corrupt', '2'], '--corrupt'),
    ('bounds --cleaning too many samples', [cli, 'bounds', '--cleaning', '--n-train', '58000',
                                            '--n-val', '5000'], '--n-train'),
    ('bounds --cleaning missing Fashion-MNIST', [cli, 'bounds', '--cleaning', '--fashion-dir',
                                                 '/nonexistent/fashion'], '/nonexistent/fashion'),
]
for path in sorted(glob.glob(os.path.join(DATA, 'bad', 'svm_*.svm'))):
    CASES.append(('malformed LIBSVM ' + os.path.basename(path), HG + ['--train', path, '--val', VAL], path))
    CASES.append(('malformed LIBSVM (val) ' + os.path.basename(path), HG + ['--train', TRAIN, '--val', path], path))

tmp = tempfile.mkdtemp(prefix='hypertape-errors-')
try:
    for what, args, needle in CASES:
        for extra in ([], ['--json']) if args[1] == 'hypergrad' and '--json=yes' not in args else ([],):
            rc, out, err = run(args + extra, cwd=tmp)
            tag = what + (' --json' if extra else '')
            check(rc == 2, '%s: exit 2 (got %d)' % (tag, rc))
            lines = err.splitlines()
            check(len(lines) == 1 and err.endswith('\n'), '%s: one line on stderr (%r)' % (tag, err[:300]))
            check(lines and lines[0].startswith('hypertape'), '%s: message starts with "hypertape"' % tag)
            check(needle in err, '%s: message names %r' % (tag, needle))
            check(out == '', '%s: nothing on stdout (%r)' % (tag, out[:200]))
    check(os.listdir(tmp) == [], 'bad input leaves no files (%s)' % os.listdir(tmp))

    # compare --out into an unwritable path: exits 2 at once, writes nothing.
    afile = os.path.join(tmp, 'a-file')
    with open(afile, 'w') as f:
        f.write('x\n')
    bad_outs = [('a file', afile), ('under a file', os.path.join(afile, 'sub')),
                ('/proc', '/proc/hypertape-test')]
    if os.geteuid() != 0:  # root writes through permissions
        ro = os.path.join(tmp, 'read-only')
        os.mkdir(ro, 0o555)
        bad_outs.append(('read-only folder', ro))
        bad_outs.append(('under a read-only folder', os.path.join(ro, 'sub')))
    for what, out_dir in bad_outs:
        rc, out, err = run([cli, 'compare', '--problems', 'lstsq', '--max-iters', '10', '--quiet',
                            '--out', out_dir], cwd=tmp, timeout=60)
        tag = 'compare --out %s' % what
        check(rc == 2, '%s: exit 2 (got %d)' % (tag, rc))
        check(len(err.splitlines()) == 1 and out_dir.split('/')[1] in err,
              '%s: one line naming the folder (%r)' % (tag, err[:300]))
        check(out == '', '%s: nothing on stdout' % tag)
    with open(afile) as f:
        check(f.read() == 'x\n', 'compare --out FILE leaves the file alone')
    left = sorted(os.listdir(tmp))
    check(all(n in ('a-file', 'read-only') for n in left), 'no partial output files: %s' % left)
    if os.path.isdir(os.path.join(tmp, 'read-only')):
        check(os.listdir(os.path.join(tmp, 'read-only')) == [], 'nothing written in the read-only folder')
finally:
    for d, _, _ in os.walk(tmp):
        os.chmod(d, 0o755)
    shutil.rmtree(tmp, ignore_errors=True)

finish()
