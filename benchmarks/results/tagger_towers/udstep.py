"""One-off: the shipped UD config's training step (char BiLSTM, word dropout), threads as the pipeline sets them; median ms over 60 steps."""
import os, sys, time, json, statistics
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
sys.path.insert(0, "/work/main/benchmarks")
import profile_training
from nlp_lstm import config as config_lib
from nlp_lstm.training import trainer
config = config_lib.load(config_lib.TaggingConfig, "/work/main/pipelines/configs/tagging_ud_ewt_upos.yaml", [])
trainer.configure_threads(trainer.resolve_towers(config.training.towers))
step, batches = profile_training.tagger_step(config, 60, "float32")
for b in batches[:10]: float(step(b)[0])
for b in batches: float(step(b)[0])
times = []
for b in batches:
    t = time.perf_counter(); float(step(b)[0]); times.append(time.perf_counter() - t)
import nlp_lstm
print(json.dumps({"code": nlp_lstm.__file__, "median_ms": round(1000 * statistics.median(times), 1)}))
