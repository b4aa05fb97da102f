#!/bin/bash
# Issue 14 on the AMD EPYC machine: the peers (300 steps), the float32 step, then its matmul-only floor; one after the other, alone.
cd /work/main
OUT=benchmarks/results/training_ceiling_amd
PEERS=/tmp/peers/runs/m30k-n300-s43
echo "peers start $(date +%T)"
../shared/peers/bench.sh -d /tmp/peers/m30k -n 300 -p tf,py --tok sp --sp-vocab 8000 -o $PEERS > $OUT/peers_n300.log 2>&1
echo "peers done $(date +%T) rc=$?"
python benchmarks/training_step.py --task translator --precision float32 --rounds 3 --label "whole softmax (d7a7664)" --peers $PEERS --output $OUT/step 2>&1 | grep -v "^I0000\|^W0000\|WARNING: All\|^E0000\|rebuild\|To enable"
echo "step done $(date +%T)"
python benchmarks/training_ceiling.py --precision float32 --step-results $OUT/step/results.json --peers $PEERS --output $OUT 2>&1 | grep -v "^I0000\|^W0000\|WARNING: All\|^E0000\|rebuild\|To enable"
echo "floor done $(date +%T)"
