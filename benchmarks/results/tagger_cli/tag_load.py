import sys, time
model = sys.argv[1]; mode = sys.argv[2]
from nlp_lstm.export import runtime
runtime.import_runtime(); runtime.use_threads(2)
runtime.load_text_ops(model)
t = time.perf_counter()
if mode == "whole":
    f = runtime.load_saved_model(model).signatures["serving_default"]
else:
    loaded = runtime.load_signatures(model, ["serving_default"])
    print(type(loaded).__name__)
    f = loaded.signatures["serving_default"]
t1 = time.perf_counter()
out = f(sentences=runtime.strings(["Paris is nice ."]))
t2 = time.perf_counter()
print(mode, "load %.2f first %.2f" % (t1 - t, t2 - t1), out["tags"].numpy())
