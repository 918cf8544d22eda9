#!/bin/bash
# The hypercleaning study of README ("The hypercleaning study"): every run,
# one after the other, 1 thread; then the IJCNN1-shaped first-order runs.
# usage (from the repository root): examples/results/cleaning/run.sh [OUTDIR]
# (default out/cleaning_study; about 50 minutes on one core).

H=$PWD/build/examples/hypertape
mkdir -p "${1:-out/cleaning_study}"
cd "${1:-out/cleaning_study}"
export OPENBLAS_NUM_THREADS=1
C="--problem cleaning --n-train 20000 --n-val 5000 --corrupt-mode uniform --batch-size 64 --seeds 5 --budget-seconds 20 --eval iterate --threads 1 --json"
for p in 0.5 0.7; do
  t=${p/0./}
  $H tune $C --corrupt $p --algo f2sa,f2sa-adam,soba,saba,stocbio --eval-every 100 --tune-steps --out clean_$t > clean_$t.json 2> clean_$t.log
  $H tune $C --corrupt $p --algo f2sa --inner-step 0.1 --outer-step 0.1 --xi 1 --nu0 1 --nu-delta 0.1 --eval-every 10 --out seed_$t/f2sa > seed_${t}_f2sa.json 2> seed_${t}_f2sa.log
  $H tune $C --corrupt $p --algo f2sa-adam --inner-step 0.001 --outer-step 0.001 --xi 1 --nu0 1 --nu-delta 0.1 --beta1 0.9 --beta2 0.99 --eval-every 10 --out seed_$t/f2sa-adam > seed_${t}_adam.json 2> seed_${t}_adam.log
  $H tune $C --corrupt $p --algo soba --outer-step 1e-12 --eval-every 100 --out base_$t > base_$t.json 2> base_$t.log
done
$H tune --synthetic ijcnn1 --reg per-feature --algo f2sa,f2sa-adam,stocbio,saba --batch-size 64 --seeds 5 --budget-seconds 20 --eval iterate --eval-every 200 --tune-steps --threads 1 --json --out ijcnn1 > ijcnn1.json 2> ijcnn1.log
