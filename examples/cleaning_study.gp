# examples/cleaning_study.gp — the hypercleaning study's figure (README,
# "The hypercleaning study"): test accuracy, median over seeds with the
# 20-80% band, against outer iterations (log x) and seconds, one row per
# corruption rate. It reads the tune_bands.csv that `hypertape tune` writes:
#   A5, A7: the tuned runs of all five algorithms at p_c 0.5 and 0.7;
#   S5, S7: directories holding f2sa/ and f2sa-adam/ runs at the seed's settings.
# usage: gnuplot -e "A5='a5'; A7='a7'; S5='s5'; S7='s7'; OUT='x.png'" examples/cleaning_study.gp
set terminal pngcairo size 1400,900 font ',10'
set output OUT
set datafile separator ','
set multiplot layout 2,2 title 'Hypercleaning, Fashion-MNIST 20,000 train / 5,000 val / 10,000 test: test accuracy (median over 5 seeds, 20-80% band)'
set grid
set key bottom right font ',9'
algos = 'soba saba stocbio f2sa f2sa-adam'
color(i) = word('#0072b2 #e69f00 #009e73 #cc79a7 #d55e00', i)
sel(a, ax, col) = (strcol(2) eq ax && strcol(3) eq a) ? column(col) : NaN
do for [row = 1:2] {
  A = row == 1 ? A5 : A7
  S = row == 1 ? S5 : S7
  pc = row == 1 ? '0.5' : '0.7'
  set yrange [0.6:0.85]
  set logscale x
  set xrange [10:*]
  set xlabel 'outer iterations'
  set ylabel sprintf('test accuracy, p_c = %s', pc)
  plot for [i = 1:5] A.'/tune_bands.csv' using (sel(word(algos, i), 'iterations', 6)):7:9 with filledcurves fc rgb color(i) fs transparent solid 0.15 notitle, \
       for [i = 1:5] A.'/tune_bands.csv' using (sel(word(algos, i), 'iterations', 6)):8 with lines lw 2 lc rgb color(i) title word(algos, i).' (tuned)', \
       for [i = 4:5] S.'/'.word(algos, i).'/tune_bands.csv' using (sel(word(algos, i), 'iterations', 6)):8 with lines lw 2 dt 2 lc rgb color(i) title word(algos, i).' (seed settings)'
  unset logscale x
  set xrange [0:20]
  set xlabel 'seconds (algorithm only, 1 thread)'
  unset key
  plot for [i = 1:5] A.'/tune_bands.csv' using (sel(word(algos, i), 'seconds', 6)):7:9 with filledcurves fc rgb color(i) fs transparent solid 0.15 notitle, \
       for [i = 1:5] A.'/tune_bands.csv' using (sel(word(algos, i), 'seconds', 6)):8 with lines lw 2 lc rgb color(i) notitle, \
       for [i = 4:5] S.'/'.word(algos, i).'/tune_bands.csv' using (sel(word(algos, i), 'seconds', 6)):8 with lines lw 2 dt 2 lc rgb color(i) notitle
  set key bottom right font ',9'
}
unset multiplot
