#!/bin/bash
# One-off: issue 14's tagger throughput (suite "full" architecture, threads as
# benchmarks/run.py sets them), fresh processes alternated, three rounds:
# aaeb36e (the issue's baseline), e386c77 (before: buckets 4 tokens wide),
# the working tree (batches of one length), float32. Driver: tagbase_threads.py
D=$(dirname "$(readlink -f "$0")")/../tagger_towers
for r in 1 2 3; do
  for spec in "/tmp/aaeb aaeb36e" "/tmp/head34 e386c77" "$(dirname "$(readlink -f "$0")")/../../.. one_length"; do
    set -- $spec
    echo -n "round $r $2 "
    (cd $1 && PYTHONPATH=$1 python $D/tagbase_threads.py float32 2>/dev/null | tail -1)
  done
done
