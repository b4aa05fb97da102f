#!/bin/bash
# One-off: issue 14's tagger throughput (suite "full" architecture), threads as
# each checkout's benchmarks/run.py sets them; fresh processes alternated:
# aaeb36e (the issue's baseline), 3e83537 (before), df689d1 (after), float32,
# and df689d1 bfloat16. Three rounds.
D=$(dirname "$(readlink -f "$0")")
for r in 1 2 3; do
  for spec in "/tmp/aaeb float32" "/tmp/before29 float32" "/tmp/after29 float32" "/tmp/after29 bfloat16"; do
    set -- $spec
    (cd $1 && PYTHONPATH=$1 python $D/tagbase_threads.py $2 2>/dev/null | tail -1)
  done
done
