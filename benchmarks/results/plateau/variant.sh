#!/bin/bash
# Plateau study: NAME, extra --set args in EXTRA, seeds, STEPS steps each, one after the other.
cd /work/main
for seed in ${SEEDS:-1234 1235 1236}; do
  run=/work/exp/s31/${NAME}_s${seed}
  [ -f $run/report.json ] && continue
  python pipelines/translation.py --config pipelines/configs/translation_multi30k_en_de.yaml \
    --set run_dir=$run --set training.keep_checkpoints=20 --set training.steps=${STEPS:-1000} \
    --set training.seed=$seed --set export.enabled=false \
    --set training.eval_every=250 --set training.checkpoint_every=250 $EXTRA > $run.log 2>&1
done
