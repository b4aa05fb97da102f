#!/bin/bash
# usage: ab_cli.sh MODEL BEAM ROUNDS
M=$1; B=$2; R=$3
for r in $(seq $R); do
 for side in base new; do
  if [ $side = base ]; then P=/work/exp/s36/base; else P=/work/main; fi
  /usr/bin/time -f "$side beam$B %e s %M KB" env PYTHONPATH=$P python -m nlp_lstm.cli translate --model $M --beam-size $B < /work/exp/s36/test.en.x3 > /work/exp/s36/out_${side}_$B.txt 2>>/work/exp/s36/ab_err.txt
 done
done
cmp /work/exp/s36/out_base_$B.txt /work/exp/s36/out_new_$B.txt && echo same
