#!/bin/bash
# Tagger benchmark throughput (suite "full"), fresh processes alternated, three rounds:
# aaeb36e (issue 14's baseline), cced81a (masked loops), this change (no per-step masks).
D=/work/main/benchmarks/results/tagger_towers
for r in 1 2 3; do
  for spec in "/tmp/aaeb float32" "/tmp/before31 float32" "/tmp/now31 float32"; do
    set -- $spec
    (cd $1 && PYTHONPATH=$1 python $D/tagbase_threads.py $2 2>/dev/null | tail -1)
  done
done
