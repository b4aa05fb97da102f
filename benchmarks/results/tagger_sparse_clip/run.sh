#!/bin/bash
# One-off: issue 14's tagger throughput (suite "full" architecture, threads as
# benchmarks/run.py sets them), fresh processes alternated, three rounds:
# aaeb36e (the issue's baseline), df689d1 (towers at once), da8355d (+ sparse
# clipping), float32, and da8355d bfloat16. Driver: ../tagger_towers/tagbase_threads.py
D=$(dirname "$(readlink -f "$0")")
for r in 1 2 3; do
  for spec in "/tmp/aaeb float32" "/tmp/after29 float32" "/tmp/now29 float32" "/tmp/now29 bfloat16"; do
    set -- $spec
    (cd $1 && PYTHONPATH=$1 python $D/../tagger_towers/tagbase_threads.py $2 2>/dev/null | tail -1)
  done
done
