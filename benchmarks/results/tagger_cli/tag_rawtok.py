import sys, time
model = sys.argv[1]
from nlp_lstm.export import runtime
runtime.choose_kernels(model); runtime.import_runtime(); runtime.use_threads(1)
from nlp_lstm.export.runners import SavedModelTagger
t = SavedModelTagger(model)
raw = [l.rstrip("\n") for l in open("/work/exp/s36/ud_test.txt")]
tok = [l.split() for l in open("/work/exp/s36/ud_test_tok.txt")]
for name, fn in (("first raw", lambda: t.tag(raw)), ("first tok", lambda: t.tag_tokens(tok))):
    s = time.perf_counter(); fn(); print(name, "%.2f s" % (time.perf_counter() - s))
for r in range(2):
    s = time.perf_counter(); a = t.tag(raw); print("raw %.2f s" % (time.perf_counter() - s))
    s = time.perf_counter(); b = t.tag_tokens(tok); print("tok %.2f s" % (time.perf_counter() - s))
print("same tags", [x["tags"] for x in a] == [x["tags"] for x in b])
