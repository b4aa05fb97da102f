#!/bin/bash
# Issue 14 sitting on the AMD EPYC machine: peers (300 steps), then the step (whole and sampled softmax), alone.
cd /work/main
echo "peers start $(date +%T)"
../shared/peers/bench.sh -d /tmp/peers/m30k -n 300 -p tf,py --tok sp --sp-vocab 8000 -o /tmp/peers/runs/m30k-n300-s41 > /work/exp/s41/peers_n300.log 2>&1
echo "peers done $(date +%T) rc=$?"
python benchmarks/training_step.py --task translator --precision float32 --rounds 3 --label "whole softmax (2481545)" --variant "sampled softmax 4096" training.sampled_softmax=4096 --peers /tmp/peers/runs/m30k-n300-s41 --output benchmarks/results/training_step_amd_s41 2>&1 | grep -v "^I0000\|^W0000\|WARNING: All\|^E0000\|rebuild\|To enable"
echo "step done $(date +%T)"
