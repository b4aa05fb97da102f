#!/bin/bash
# Luong dot attention, 3,000 steps, three seeds, one after the other (after the 1,000-step runs).
while pgrep -f variant.sh > /dev/null; do sleep 10; done
cd /work/main
for seed in 1234 1235 1236; do
  run=/work/exp/s31/dot3000_s${seed}
  [ -f $run/report.json ] && continue
  python pipelines/translation.py --config pipelines/configs/translation_multi30k_en_de.yaml \
    --set run_dir=$run --set training.keep_checkpoints=20 --set training.steps=3000 \
    --set training.seed=$seed --set export.enabled=false \
    --set model.decoder.attention=luong_dot > $run.log 2>&1
done
