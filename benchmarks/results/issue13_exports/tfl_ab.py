"""One-off: two .tflite translators (issue 13's code and HEAD, same weights), batch 1,
LiteRT 1 thread, text in and out; outputs compared, latency interleaved round robin."""
import gzip, json, statistics, sys, time
from nlp_lstm.export.tflite.runtime import TFLiteTranslator
files = dict(a.split("=", 1) for a in sys.argv[1:])
texts = [l.rstrip("\n") for l in gzip.open("/work/shared/data/multi30k/test_2016_flickr.en.gz", "rt", encoding="utf-8")]
models = {k: TFLiteTranslator(v, num_threads=1) for k, v in files.items()}
out = {}
for beam in (False, True):
    outs = {k: m.translate(texts, beam=beam) for k, m in models.items()}
    names = list(outs)
    same = sum(x == y for x, y in zip(outs[names[0]], outs[names[1]]))
    print("beam" if beam else "greedy", "identical", same, "of", len(texts), flush=True)
    times = {k: [] for k in models}
    for r in range(3):
        for text in texts[:200]:
            for k, m in (models.items() if r % 2 == 0 else reversed(list(models.items()))):
                t = time.perf_counter(); m.translate([text], beam=beam); times[k].append(time.perf_counter() - t)
    for k in models:
        print(f"  {k}: median {statistics.median(times[k])*1e3:.2f} ms mean {statistics.mean(times[k])*1e3:.2f} ms", flush=True)
    out["beam" if beam else "greedy"] = {"identical": same, **{k: statistics.median(v) * 1e3 for k, v in times.items()}}
print(json.dumps(out))
