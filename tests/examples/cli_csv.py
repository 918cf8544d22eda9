#!/usr/bin/env python3
"""--train/--val as CSV/TSV (raw or gzip) give the hypergradient of the same
data as LIBSVM: the LIBSVM test files are rewritten here (Python's repr
round-trips every double) as CSV with a header and the default label column,
as gzip TSV without header with --label-col 0, with the label by name in the
middle, and mixed with a LIBSVM file; .svm.gz equals .svm bit for bit. Bad
CSV input and misplaced --label-col exit 2 with one line naming the file,
line and column.
  cli_csv.py HYPERTAPE"""
import gzip
import json
import os
import shutil
import sys
import tempfile

from clitest import TRAIN, VAL, check, finish, rel_err, run

cli = os.path.abspath(sys.argv[1])


def read_svm(path):
    rows = []
    with open(path) as f:
        for line in f:
            tok = line.split('#')[0].split()
            if tok:
                rows.append((float(tok[0]), {int(i): float(v) for i, v in (t.split(':') for t in tok[1:])}))
    return rows


train, val = read_svm(TRAIN), read_svm(VAL)
d = max(max(r[1]) for r in train + val if r[1])


def lines(rows, label_at, delim, header):
    out = []
    if header:
        names = ['x%d' % j for j in range(1, d + 1)]
        names.insert(label_at, header)
        out.append(delim.join(names))
    for y, x in rows:
        f = [repr(x.get(j, 0.0)) for j in range(1, d + 1)]
        f.insert(label_at, '%+g' % y)
        out.append(delim.join(f))
    return '\r\n'.join(out) + '\r\n'


def write(path, text, gz=False):
    if gz:
        with gzip.open(path, 'wt') as f:
            f.write(text)
    else:
        with open(path, 'w', newline='') as f:
            f.write(text)
    return path


def hypergrad(tr, va, extra):
    rc, out, err = run([cli, 'hypergrad', '--problem', 'logreg', '--train', tr, '--val', va,
                        '--json', '--quiet'] + extra)
    return rc, (json.loads(out)['hypergradient'] if rc == 0 else None), err


tmp = tempfile.mkdtemp(prefix='cli_csv.')
P = lambda name: os.path.join(tmp, name)
variants = {
    'CSV, header, default label (last column "label")':
        (write(P('tr.csv'), lines(train, d, ',', 'label')),
         write(P('va.csv'), lines(val, d, ',', 'label')), []),
    'gzip TSV, no header, --label-col 0':
        (write(P('tr.tsv.gz'), lines(train, 0, '\t', None), gz=True),
         write(P('va.tsv.gz'), lines(val, 0, '\t', None), gz=True), ['--label-col', '0']),
    'CSV, --label-col y (a middle column)':
        (write(P('trm.csv'), lines(train, 3, ',', 'y')),
         write(P('vam.csv'), lines(val, 3, ',', 'y')), ['--label-col', 'y']),
    'CSV train, LIBSVM val':
        (P('tr.csv'), VAL, []),
    'gzip LIBSVM (.svm.gz)':
        (write(P('tr.svm.gz'), open(TRAIN).read(), gz=True),
         write(P('va.svm.gz'), open(VAL).read(), gz=True), []),
}
for reg, method in (('scalar', 'exact'), ('per-feature', 'ift-cg')):
    lam = '-1.5' if reg == 'scalar' else ','.join(['-2.0'] * d)
    flags = ['--reg', reg, '--lambda', lam, '--method', method]
    rc, want, err = hypergrad(TRAIN, VAL, flags)
    if not check(rc == 0, '%s/%s: LIBSVM reference exit 0 (%s)' % (reg, method, err.strip())):
        continue
    for tag, (tr, va, extra) in variants.items():
        rc, hg, err = hypergrad(tr, va, flags + extra)
        if not check(rc == 0, '%s/%s, %s: exit 0 (%s)' % (reg, method, tag, err.strip())):
            continue
        # The LIBSVM test files store 82% and 100% of their entries, so the
        # CLI holds them dense (at least half stored: README, "Data files"),
        # and dense rows from a CSV file give the same sums in the same
        # order: bit for bit. Held as CSR they differed by 3e-16 (CSR rows
        # skip the zeros).
        check(hg == want, '%s/%s, %s: == LIBSVM bit for bit (rel. err %.2e)'
              % (reg, method, tag, rel_err(hg, want)))

# Bad input: exit 2, one line on stderr naming what is wrong.
bad = write(P('bad.csv'), 'a,b,label\n1,2,1\n3,oops,-1\n')
badgz = write(P('bad.csv.gz'), 'a,b,label\n1,2,1\n\n3,4\n', gz=True)
narrow = write(P('narrow.csv'), 'a,label\n1,1\n2,-1\n')
cases = [
    ([bad, VAL], [], ['bad.csv:3:', "column 1 ('b')", 'not a number']),
    ([badgz, VAL], [], ['bad.csv.gz:4:', '2 fields, the first line has 3']),
    ([P('tr.csv'), P('va.csv')], ['--label-col', 'nope'], ["no column named 'nope'"]),
    ([P('tr.csv'), P('va.csv')], ['--label-col', '99'], ['label column 99 is out of range']),
    ([TRAIN, VAL], ['--label-col', '0'], ['--label-col is for CSV/TSV files']),
    ([narrow, VAL], [], ['narrow.csv has 1 features', 'has %d' % d]),
]
for files, extra, pieces in cases:
    rc, out, err = run([cli, 'hypergrad', '--problem', 'logreg', '--train', files[0], '--val', files[1],
                        '--json', '--quiet'] + extra)
    tag = 'bad input %s %s' % (' '.join(os.path.basename(f) for f in files), ' '.join(extra))
    check(rc == 2 and err.count('\n') == 1 and all(p in err for p in pieces),
          tag + ': exit 2, one line with %s (rc %d: %s)' % (pieces, rc, err.strip()))
rc, out, err = run([cli, 'hypergrad', '--problem', 'lstsq', '--label-col', '0', '--quiet'])
check(rc == 2 and '--label-col' in err and err.count('\n') == 1,
      '--label-col with --problem lstsq: exit 2 (rc %d: %s)' % (rc, err.strip()))
shutil.rmtree(tmp)
finish()
