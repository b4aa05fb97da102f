"""One-off: load + first call + translate with tf.saved_model.load (eager) vs a TF1 Session
(tf.compat.v1.saved_model.load, as TF Serving's C++ loader), argv: MODEL MODE(eager|session) BEAM N"""
import sys, time
t0 = time.perf_counter()
from nlp_lstm.export import runtime, layout
runtime.choose_kernels(sys.argv[1])
tf = runtime.import_tensorflow()
runtime.use_threads(2)
t1 = time.perf_counter()
path = layout.resolve(sys.argv[1]); mode = sys.argv[2]; beam = int(sys.argv[3]); n = int(sys.argv[4])
name = "translate_greedy" if beam == 1 else "serving_default"
runtime.load_text_ops(path)
lines = [l.rstrip("\n") for l in open("/work/main/benchmarks/results/translation_speed_amx/test_2016_flickr.en.x3")][:n]
batches = [lines[i:i+64] for i in range(0, len(lines), 64)]
if mode == "eager":
    loaded = runtime.load_saved_model(path)
    sig = loaded.signatures[name]
    t2 = time.perf_counter()
    call = lambda b: sig(sources=tf.constant(b))["translations"].numpy()
else:
    graph = tf.Graph()
    cfg = tf.compat.v1.ConfigProto(intra_op_parallelism_threads=1, inter_op_parallelism_threads=2)
    sess = tf.compat.v1.Session(graph=graph, config=cfg)
    with graph.as_default():
        meta = tf.compat.v1.saved_model.load(sess, ["serve"], path)
    sd = meta.signature_def[name]
    feed = sd.inputs["sources"].name; fetch = sd.outputs["translations"].name
    t2 = time.perf_counter()
    call = lambda b: sess.run(fetch, {feed: b})
call(["."])
t3 = time.perf_counter()
from nlp_lstm.utils.iterables import sorted_map
out = list(sorted_map(lambda b: list(call(b)), lines, 64, key=len, window=64 * 16, workers=2))
t4 = time.perf_counter()
open(f"/work/exp/s32/session/out_{mode}_{beam}.txt", "w").write("\n".join(x.decode() for x in out))
print(f"RESULT {mode} beam={beam}: import {t1-t0:.2f} load {t2-t1:.2f} first {t3-t2:.2f} translate {t4-t3:.2f} ({len(out)} sentences)")
