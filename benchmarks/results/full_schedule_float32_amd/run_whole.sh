#!/bin/bash
cd /tmp/b_head
export PYTHONPATH=/tmp/b_head
date
python pipelines/translation.py --config pipelines/configs/translation_multi30k_en_de.yaml \
  --set training.seed=1234 --set run_dir=/work/exp/s42/runs/full12k_f32_whole_s1234 \
  --set training.keep_checkpoints=24 --set export.enabled=false
date
