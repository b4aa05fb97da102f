#!/bin/bash
# Issue 14's tagger throughput, AMD EPYC: aaeb36e (the issue's baseline) against HEAD, float32,
# fresh processes alternated, four rounds (the driver of session 40's sitting).
D=/work/main/benchmarks/results/tagger_towers
for r in 1 2 3 4; do
  for spec in "/tmp/aaeb float32" "/work/main float32"; do
    set -- $spec
    echo "round $r $1 $2: $(cd $1 && PYTHONPATH=$1 python $D/tagbase_threads.py $2 2>/dev/null | tail -1)"
  done
done
