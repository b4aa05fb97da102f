#!/bin/bash
# One-off: issue 14's tagger throughput on the AMD EPYC reference machine:
# aaeb36e (the baseline) against HEAD, float32 (and HEAD bfloat16),
# fresh processes alternated, three rounds. Driver: benchmarks/results/tagger_towers/tagbase_threads.py
D=/work/main/benchmarks/results/tagger_towers
for r in 1 2 3; do
  for spec in "/tmp/aaeb float32" "/work/main float32" "/work/main bfloat16"; do
    set -- $spec
    echo "round $r $1 $2: $(cd $1 && PYTHONPATH=$1 python $D/tagbase_threads.py $2 2>/dev/null | tail -1)"
  done
done
