#!/bin/bash
# float32 training step with TensorFlow's oneDNN rewrite on (default) and off, alternated
cd /work/main
for r in 1 2; do
  for mode in on off; do
    if [ $mode = off ]; then export TF_ENABLE_ONEDNN_OPTS=0; else unset TF_ENABLE_ONEDNN_OPTS; fi
    echo "== round $r oneDNN $mode $(date +%T)"
    python benchmarks/training_step.py --task translator tagger --precision float32 --rounds 1 --label "oneDNN $mode" --output /work/exp/s40/onednn_$mode.$r 2>&1 | grep -v "^I0000\|^W0000\|^E0000\|WARNING: All\|rebuild TensorFlow"
  done
done
