import os, sys, time, gzip, resource, json
from nlp_lstm.export import runtime
model = sys.argv[1]
runtime.choose_kernels(model)
runtime.use_threads(1)
tf = runtime.import_tensorflow(); runtime.load_text_ops()
from nlp_lstm.utils.iterables import sorted_map
loaded = tf.saved_model.load(model); sig = loaded.signatures[sys.argv[2] if len(sys.argv) > 2 else "translate_greedy"]
def read(p): return [l.rstrip(b"\n") for l in gzip.open(p)][:1000]
D = "/work/shared/data/multi30k/"
sets = {"test": read(D + "test_2016_flickr.en.gz"), "dev": read(D + "val.en.gz"), "train": read(D + "train.en.gz")}
def tr(b): return list(sig(sources=tf.constant(b))["translations"].numpy())
tr(sets["test"][:8])
for name in sys.argv[3].split(","):
    r0 = resource.getrusage(resource.RUSAGE_SELF); t = time.perf_counter()
    list(sorted_map(tr, sets[name], 64, len, 1024))
    el = time.perf_counter() - t; r1 = resource.getrusage(resource.RUSAGE_SELF)
    print(f"{name:6s} {len(sets[name])/el:7.1f} sent/s  minflt {r1.ru_minflt - r0.ru_minflt:7d}  maxrss {r1.ru_maxrss/1024:.0f} MB", flush=True)
