#!/bin/bash
# Plateau study: warm-up W over seeds, 1,500 steps each, one after the other.
cd /work/main
W=${W:-500}
for seed in ${SEEDS:-1234 1235 1236}; do
  run=/work/exp/s31/wu${W}_s${seed}
  [ -f $run/report.json ] && continue
  python pipelines/translation.py --config pipelines/configs/translation_multi30k_en_de.yaml \
    --set run_dir=$run --set training.keep_checkpoints=20 --set training.steps=${STEPS:-1500} \
    --set training.seed=$seed --set training.warmup_steps=$W --set export.enabled=false \
    --set training.eval_every=250 --set training.checkpoint_every=250 > $run.log 2>&1
done
