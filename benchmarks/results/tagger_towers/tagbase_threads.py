"""One-off: the tagger's benchmark training throughput (suite "full") of the
checkout on PYTHONPATH, threads configured as that checkout's
benchmarks/run.py configures them (runner: configure_threads(resolve_towers(
translation config's towers))); argv[1] precision; prints JSON."""
import json, os, sys
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import nlp_lstm
from nlp_lstm import config as config_lib
from nlp_lstm.benchmarking import training
from nlp_lstm.benchmarking.suites import SUITES
from nlp_lstm.training import trainer as trainer_lib
precision = sys.argv[1] if len(sys.argv) > 1 else "float32"
suite = SUITES["full"]
translation = config_lib.load(config_lib.TranslationConfig, suite.translation_config)
configured = trainer_lib.configure_threads(trainer_lib.resolve_towers(translation.training.towers))
setup = training.tagging_setup(training.tagging_config(suite))
kwargs = {} if precision == "float32" else {"precision": precision}
report, _ = training.tagger_training(suite, setup, None, verbose=False, **kwargs)
print(json.dumps({"code": nlp_lstm.__file__, "precision": precision, "threads_configured": configured,
                  "tokens_per_second": report["tokens_per_second"]["tokens"],
                  "median_step": report["step_seconds"]["median"],
                  "padding": report["padding_fraction"]["tokens"]}))
