#!/bin/bash
# After the whole-softmax run: the sampled softmax on every step, then its
# step-9,000 checkpoint resumed with the whole softmax for the last 3,000.

cd /tmp/b_new
export PYTHONPATH=/tmp/b_new
R=/work/exp/s42/runs
CFG=pipelines/configs/translation_multi30k_en_de.yaml
COMMON="--set training.seed=1234 --set training.keep_checkpoints=24 --set export.enabled=false --set training.sampled_softmax=4096"
rm -rf $R/full12k_f32_samp75_s1234
date; echo "== copy at 9000"
cp -r $R/full12k_f32_samp_s1234 $R/full12k_f32_samp75_s1234
python - <<'PY'
import os, glob, tensorflow as tf
d = "/work/exp/s42/runs/full12k_f32_samp75_s1234"
ck = os.path.join(d, "checkpoints")
keep = [os.path.join(ck, f"ckpt-{s}") for s in range(500, 9001, 500)]
import time
now=time.time()
tf.compat.v1.train.update_checkpoint_state(ck, keep[-1], all_model_checkpoint_paths=keep, all_model_checkpoint_timestamps=[now-100+i for i in range(len(keep))], last_preserved_timestamp=0.0)
for f in glob.glob(os.path.join(ck, "ckpt-*")):
    if int(os.path.basename(f).split(".")[0].split("-")[1].removesuffix("_temp")) > 9000:
        os.remove(f)
for f in ("best.weights.h5",):
    p = os.path.join(d, f)
    if os.path.exists(p): os.remove(p)
print(tf.train.latest_checkpoint(ck))
PY
date; echo "== resumed with sampled_softmax_until=0.75"
python pipelines/translation.py --config $CFG $COMMON --set training.sampled_softmax_until=0.75 --set run_dir=$R/full12k_f32_samp75_s1234
date
