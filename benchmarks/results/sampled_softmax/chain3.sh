#!/bin/bash
cd /work/main
../shared/peers/bench.sh -d /tmp/peers/m30k -n 300 -p py --tok sp --sp-vocab 8000 -o /tmp/peers/runs/m30k-n300-s37b > /work/exp/s37/peers_b.log 2>&1
python benchmarks/training_step.py --task translator --variant "sampled softmax 4096" training.sampled_softmax=4096 --precision float32 --rounds 3 --peers /tmp/peers/runs/m30k-n300-s37b --output benchmarks/results/sampled_softmax/step_second_sitting > /work/exp/s37/step_b.log 2>&1
/usr/bin/time -v python pipelines/translation.py --config pipelines/configs/translation_multi30k_en_de.yaml --set training.precision=bfloat16 --set training.sampled_softmax=4096 --set training.seed=1235 --set run_dir=/work/exp/s37/full12k_bf16_samp4096_s1235 --set training.keep_checkpoints=24 --set export.enabled=false > /work/exp/s37/full12k_s1235.log 2>&1
