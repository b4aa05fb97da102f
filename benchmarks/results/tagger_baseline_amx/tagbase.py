"""One-off: the tagger's benchmark training throughput (suite "full") of the
checkout on PYTHONPATH, in float32 or bfloat16 (argv[1]); prints JSON."""
import json, os, sys
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import nlp_lstm
from nlp_lstm.benchmarking import training
from nlp_lstm.benchmarking.suites import SUITES
precision = sys.argv[1] if len(sys.argv) > 1 else "float32"
suite = SUITES["full"]
setup = training.tagging_setup(training.tagging_config(suite))
kwargs = {} if precision == "float32" else {"precision": precision}
report, _ = training.tagger_training(suite, setup, None, verbose=False, **kwargs)
print(json.dumps({"code": nlp_lstm.__file__, "precision": precision,
                  "tokens_per_second": report["tokens_per_second"],
                  "median_step": report["step_seconds"]["median"]}))
