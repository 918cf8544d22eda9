# h(final lambda) of each run of the IJCNN1 first-order study, by one evaluator
import json, subprocess, statistics as S, sys, os
d = json.load(open(sys.argv[1]))
H = sys.argv[2]
out = []
for r in d['runs']:
    lam = ','.join('%.17g' % v for v in r['lambda'])
    p = subprocess.run([H, 'hypergrad', '--synthetic', 'ijcnn1', '--reg', 'per-feature', '--lambda', lam,
                        '--method', 'ift-cg', '--inner-tol', '1e-10', '--threads', '1', '--json'],
                       capture_output=True, text=True)
    j = json.loads(p.stdout)
    out.append(dict(algo=r['algo'], seed=r['seed'], h=j['outer_value'], acc=r['test_accuracy'],
                    iters=r['iters'], ips=r['iters'] / r['seconds'], mem=r['memory_bytes'],
                    steps=r['steps']))
json.dump(out, open(sys.argv[3], 'w'), indent=1)
by = {}
for o in out: by.setdefault(o['algo'], []).append(o)
print('| algorithm | steps | h(final λ) median (min–max) | test accuracy median (min) | iterations | it/s | memory |')
print('|---|---|---|---|---|---|---|')
for a, rs in by.items():
    h = [o['h'] for o in rs]; acc = [o['acc'] for o in rs]
    st = rs[0]['steps']
    print(f"| {a} | {st['inner']:g}, {st['outer']:g} | {S.median(h):.6f} ({min(h):.6f}–{max(h):.6f}) | {S.median(acc):.4f} ({min(acc):.4f}) | {S.median([o['iters'] for o in rs]):.0f} | {S.median([o['ips'] for o in rs]):.0f} | {rs[0]['mem']/1e3:.1f} kB |")
