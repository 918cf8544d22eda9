#!/usr/bin/env python3
"""Hypercleaning on the user's data: `--problem cleaning --train F --val F
[--test F]`, F a LIBSVM multiclass file or IMAGES,LABELS (an IDX pair).

1. The PyTorch fixture tests/data/cleaning.json written as LIBSVM multiclass
   files with labels -4, 3, 10 (classes 0, 1, 2 after the sorted map):
   `hypergrad --method exact` equals the fixture's hypergradient.
2. A tiny IDX pair written here (train raw, validation gzip) and the same
   data as LIBSVM files with byte/255 values: the same hypergradient; and it
   agrees with a central finite difference of h = outer_value along a
   random direction.
3. tune and bounds --cleaning run on the user files (with --test: a test
   accuracy; --corrupt 0.9 --corrupt-mode other: exactly 54 of 60 labels
   wrong, the detector's count).
4. Bad or ambiguous flags exit 2 with one line naming the flag or the file.
  cli_cleaning.py HYPERTAPE"""
import csv
import gzip
import json
import os
import random
import shutil
import struct
import sys
import tempfile

from clitest import DATA, check, finish, lam_arg, rel_err, run

cli = os.path.abspath(sys.argv[1])
tmp = tempfile.mkdtemp(prefix='cli_cleaning_')


def write_svm(path, xs, labels):
    with open(path, 'w') as f:
        for x, b in zip(xs, labels):
            feats = ' '.join('%d:%r' % (j + 1, v) for j, v in enumerate(x) if v != 0)
            f.write('%d %s\n' % (b, feats))


def write_idx(path, magic, dims, data, gz):
    blob = struct.pack('>I', magic) + b''.join(struct.pack('>I', d) for d in dims) + bytes(data)
    with (gzip.open if gz else open)(path, 'wb') as f:
        f.write(blob)


def hypergrad(args, lam):
    rc, out, err = run([cli, 'hypergrad', '--problem', 'cleaning', '--method', 'exact', '--json',
                        '--quiet', '--lambda', lam_arg(lam)] + args)
    try:
        return rc, json.loads(out), err
    except ValueError:
        return rc, {}, err


try:
    # --- 1. the PyTorch fixture as LIBSVM multiclass files
    with open(os.path.join(DATA, 'cleaning.json')) as f:
        ref = json.load(f)
    code = [-4, 3, 10]
    tr = os.path.join(tmp, 'fix.train.svm')
    va = os.path.join(tmp, 'fix.val.svm')
    write_svm(tr, ref['train_x'], [code[b] for b in ref['train_label']])
    write_svm(va, ref['val_x'], [code[b] for b in ref['val_label']])
    rc, j, err = hypergrad(['--train', tr, '--val', va, '--ridge', repr(ref['r']), '--corrupt', '0'],
                           ref['lambda'])
    hg = j.get('hypergradient') or []
    check(rc == 0 and len(hg) == 60 and rel_err(hg, ref['hypergradient']) < 1e-6,
          'LIBSVM multiclass (labels -4, 3, 10): hypergradient = the PyTorch fixture (rel %.2e; %s)'
          % (rel_err(hg, ref['hypergradient']) if len(hg) == 60 else -1, err.strip()[-200:]))
    check(abs(j.get('outer_value', 0) - ref['outer_value']) < 1e-9,
          'LIBSVM multiclass: outer value = the fixture (%r vs %r)'
          % (j.get('outer_value'), ref['outer_value']))

    # --- 2. an IDX pair and the same data as LIBSVM files
    rng = random.Random(7)
    R, C, N, NV, NT = 3, 4, 30, 16, 12
    lab_values = [1, 5, 8]

    def images(n):
        return [rng.randrange(256) if rng.random() < 0.8 else 0 for _ in range(n * R * C)]

    pix, vpix, tpix = images(N), images(NV), images(NT)
    lab = [rng.choice(lab_values) for _ in range(N)]
    vlab = [rng.choice(lab_values) for _ in range(NV)]
    tlab = [rng.choice(lab_values) for _ in range(NT)]
    paths = {}
    for name, p, l, n, gz in (('train', pix, lab, N, False), ('val', vpix, vlab, NV, True),
                              ('test', tpix, tlab, NT, True)):
        ip = os.path.join(tmp, '%s-images%s' % (name, '.gz' if gz else ''))
        lp = os.path.join(tmp, '%s-labels%s' % (name, '.gz' if gz else ''))
        write_idx(ip, 0x803, [n, R, C], p, gz)
        write_idx(lp, 0x801, [n], l, gz)
        paths[name] = ip + ',' + lp
        sp = os.path.join(tmp, name + '.svm')
        write_svm(sp, [[v / 255 for v in p[i * R * C:(i + 1) * R * C]] for i in range(n)], l)
        paths[name + '_svm'] = sp
    lam = [rng.uniform(-1, 1) for _ in range(N)]
    common = ['--ridge', '0.05', '--corrupt', '0.3', '--seed', '3']
    rc1, j1, e1 = hypergrad(['--train', paths['train'], '--val', paths['val']] + common, lam)
    rc2, j2, e2 = hypergrad(['--train', paths['train_svm'], '--val', paths['val_svm']] + common, lam)
    h1, h2 = j1.get('hypergradient') or [], j2.get('hypergradient') or []
    check(rc1 == 0 and rc2 == 0 and len(h1) == N and len(h2) == N and rel_err(h1, h2) < 1e-9,
          'IDX pair (raw train, gzip val) = the same data as LIBSVM files (rel %.2e; %s %s)'
          % (rel_err(h1, h2) if len(h1) == len(h2) == N else -1, e1.strip()[-150:], e2.strip()[-150:]))
    # central difference of h along v (h = F at theta*(lambda): the outer value of exact)
    v = [rng.choice([-1.0, 1.0]) for _ in range(N)]
    eps = 1e-3
    hp = hypergrad(['--train', paths['train'], '--val', paths['val']] + common,
                   [a + eps * b for a, b in zip(lam, v)])[1].get('outer_value')
    hm = hypergrad(['--train', paths['train'], '--val', paths['val']] + common,
                   [a - eps * b for a, b in zip(lam, v)])[1].get('outer_value')
    fd = (hp - hm) / (2 * eps) if hp is not None and hm is not None else float('nan')
    dd = sum(a * b for a, b in zip(h1, v)) if len(h1) == N else float('nan')
    check(abs(fd - dd) <= 1e-3 * abs(dd) + 1e-8,
          'IDX pair: <hypergradient, v> = %.9g agrees with the central difference %.9g' % (dd, fd))

    # --- 3. tune and bounds --cleaning on the user files
    out = os.path.join(tmp, 'tune')
    rc, so, se = run([cli, 'tune', '--problem', 'cleaning', '--train', paths['train'], '--val',
                      paths['val'], '--test', paths['test'], '--n-train', '20', '--corrupt', '0.9',
                      '--corrupt-mode', 'other', '--algo', 'hoag', '--budget-iters', '3', '--json',
                      '--quiet', '--out', out])
    try:
        tj = json.loads(so)
    except ValueError:
        tj = {}
    runs = tj.get('runs', [])
    check(rc in (0, 3) and len(runs) == 1 and len(runs[0]['lambda']) == 20 and
          isinstance(runs[0]['test_accuracy'], float) and 0 <= runs[0]['test_accuracy'] <= 1,
          'tune on an IDX pair: --n-train 20 of 30, a test accuracy from --test (rc %d, %s)'
          % (rc, se.strip()[-200:]))
    check(len(runs) == 1 and runs[0].get('detector', {}).get('wrong') == 18,
          'tune --corrupt 0.9 --corrupt-mode other: exactly 18 of 20 labels wrong (%s)'
          % (runs[0].get('detector') if runs else None))
    for name, extra in (('with --test', ['--test', paths['test_svm']]), ('without --test', [])):
        out = os.path.join(tmp, 'bounds' + str(len(extra)))
        rc, so, se = run([cli, 'bounds', '--cleaning', '--train', paths['train_svm'], '--val',
                          paths['val_svm'], '--budget', '40', '--inner-solvers', 'gd',
                          '--linear-solvers', 'cg', '--inner-tols', '0.1', '--linear-tols', '0.1',
                          '--corrupt', '0.5', '--corrupt-mode', 'uniform', '--quiet', '--out', out] + extra)
        rows = []
        if rc == 0:
            with open(os.path.join(out, 'cleaning_summary.csv')) as f:
                rows = list(csv.DictReader(f))
        acc = [r.get('test_accuracy') for r in rows]
        ok = len(rows) == 1 and (0 <= float(acc[0]) <= 1 if extra else acc[0] == 'nan')
        check(rc == 0 and ok, 'bounds --cleaning on LIBSVM files %s: one configuration, test accuracy %s '
              '(rc %d, %s)' % (name, acc, rc, se.strip()[-200:]))

    # small data, loose tolerances: warm-started solves soon need no iteration, so work stops
    # growing; the grid stops such a configuration after 1000 idle outer steps, with a warning
    out = os.path.join(tmp, 'bounds_idle')
    rc, so, se = run([cli, 'bounds', '--cleaning', '--train', tr, '--val', va, '--budget', '100000',
                      '--inner-solvers', 'gd', '--linear-solvers', 'cg', '--inner-tols', '0.1',
                      '--linear-tols', '0.1', '--mu', '0.1', '--quiet', '--out', out], timeout=120)
    rows = []
    if rc == 0:
        with open(os.path.join(out, 'cleaning_summary.csv')) as f:
            rows = list(csv.DictReader(f))
    check(rc == 0 and len(rows) == 1 and int(rows[0]['work']) < 100000 and
          'no solver iteration' in se and len(se.strip().splitlines()) == 1,
          'bounds --cleaning: a configuration whose solves need no work stops with one warning '
          '(rc %d, %s, %s)' % (rc, rows, se.strip()[-200:]))

    # --- 4. bad flags: exit 2, one line naming the flag or the file
    bad_lab = os.path.join(tmp, 'badlab.svm')
    with open(bad_lab, 'w') as f:
        f.write('1 1:0.5\n# comment\n7 2:1\n')
    HG = [cli, 'hypergrad', '--problem', 'cleaning']
    T, V = paths['train'], paths['val']
    wide = os.path.join(tmp, 'wide-images')
    write_idx(wide, 0x803, [NV, R, C + 1], vpix + [0] * NV * R, False)
    cases = [
        ('--train without --val', HG + ['--train', T], '--val'),
        ('--test without --train', [cli, 'tune', '--problem', 'cleaning', '--test', T], '--test'),
        ('--fashion-dir with --train', HG + ['--train', T, '--val', V, '--fashion-dir', tmp],
         '--fashion-dir'),
        ('--train with two commas', HG + ['--train', 'a,b,c', '--val', V], '--train'),
        ('--train with an empty part', HG + ['--train', 'a,', '--val', V], '--train'),
        ('IDX train, LIBSVM val', HG + ['--train', T, '--val', paths['val_svm']], 'one format'),
        ('val label not in train', HG + ['--train', paths['train_svm'], '--val', bad_lab],
         bad_lab + ':3: label 7'),
        ('IDX widths differ', HG + ['--train', T, '--val', wide + ',' + V.split(',')[1]], wide),
        ('--n-train above the file', HG + ['--train', T, '--val', V, '--n-train', '31'], '--n-train'),
        ('--corrupt 0.95', HG + ['--train', T, '--val', V, '--corrupt', '0.95'], '--corrupt'),
        ('--corrupt -0.1', HG + ['--corrupt', '-0.1'], '--corrupt'),
        ('--corrupt-mode bad', HG + ['--corrupt-mode', 'some'], '--corrupt-mode'),
        ('hypergrad lstsq --corrupt-mode', [cli, 'hypergrad', '--problem', 'lstsq', '--corrupt-mode',
                                            'other'], '--corrupt-mode'),
        ('tune --corrupt 0.91', [cli, 'tune', '--problem', 'cleaning', '--corrupt', '0.91'], '--corrupt'),
        ('bounds --cleaning --corrupt 0.95', [cli, 'bounds', '--cleaning', '--corrupt', '0.95'],
         '--corrupt'),
        ('bounds --train without --cleaning', [cli, 'bounds', '--train', T], '--train'),
        ('bounds --cleaning --corrupt-mode bad', [cli, 'bounds', '--cleaning', '--corrupt-mode', 'x'],
         '--corrupt-mode'),
        ('tune logreg --test', [cli, 'tune', '--problem', 'logreg', '--test', T], '--test'),
        ('missing training file', HG + ['--train', os.path.join(tmp, 'none.svm'), '--val', V],
         'none.svm'),
    ]
    for what, args, want in cases:
        rc, so, se = run(args + ['--out', os.path.join(tmp, 'bad')])
        lines = se.strip().splitlines()
        check(rc == 2 and len(lines) == 1 and want in lines[0] and so == '',
              '%s: exit 2, one line naming %s (rc %d: %s)' % (what, want, rc, se.strip()[:200]))
    check(not os.path.exists(os.path.join(tmp, 'bad')), 'bad input leaves no output folder')
finally:
    shutil.rmtree(tmp, ignore_errors=True)
finish()
