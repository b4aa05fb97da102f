#!/bin/bash
# After the whole-softmax run: the sampled softmax on every step, then its
# step-9,000 checkpoint resumed with the whole softmax for the last 3,000.

cd /tmp/b_new
export PYTHONPATH=/tmp/b_new
R=/work/exp/s42/runs
CFG=pipelines/configs/translation_multi30k_en_de.yaml
COMMON="--set training.seed=1234 --set training.keep_checkpoints=24 --set export.enabled=false --set training.sampled_softmax=4096"
date; echo "== sampled every step"
python pipelines/translation.py --config $CFG $COMMON --set run_dir=$R/full12k_f32_samp_s1234
date
# The copy-and-resume part that followed failed (tf.train has no update_checkpoint_state);
# it ran again as resume_at_9000.sh.
