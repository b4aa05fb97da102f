#!/bin/bash
# sampled softmax 1024, luong_dot config, 3000 steps, seeds in turn, alone
cd /work/main
for S in "$@"; do
  RUN=/work/exp/s37/samp${K:-1024}_seed$S
  /usr/bin/time -v python pipelines/translation.py --config pipelines/configs/translation_multi30k_en_de.yaml \
    --set training.steps=3000 --set training.seed=$S --set run_dir=$RUN --set training.keep_checkpoints=20 \
    --set export.enabled=false --set training.sampled_softmax=${K:-1024} > /work/exp/s37/samp${K:-1024}_seed$S.log 2>&1
done
