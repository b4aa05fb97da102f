import gc, time, sys, json, atexit, statistics
from nlp_lstm.training import trainer
times = []
orig = trainer.make_train_step
def wrapped(*a, **k):
    step = orig(*a, **k)
    def timed(batch):
        t = time.perf_counter(); out = step(batch); float(out[0]); times.append((time.perf_counter() - t, tuple(batch[0].shape)))
        return out
    return timed
trainer.make_train_step = wrapped
def report():
    ts = [t for t, _ in times[5:]]
    slow = sorted(times[5:], key=lambda x: -x[0])[:8]
    print("STEPS", len(ts), "median", round(1000*statistics.median(ts),1), "mean", round(1000*statistics.mean(ts),1), "slowest", [(round(1000*t), s) for t, s in slow], file=sys.stderr)
atexit.register(report)
import runpy
sys.argv = ["tagging"] + sys.argv[1:]
runpy.run_path("pipelines/tagging.py", run_name="__main__")
