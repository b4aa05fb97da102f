import sys, time
model = sys.argv[1]
from nlp_lstm.export import runtime
runtime.choose_kernels(model); runtime.import_runtime(); runtime.use_threads(1)
from nlp_lstm.export.runners import SavedModelTagger
t = SavedModelTagger(model, pretokenized=True)
tok = [l.split() for l in open("/work/exp/s36/ud_test_tok.txt")]
for name, bs in (("b64", 64), ("b64 again", 64), ("b48 (new shapes)", 48), ("b48 again", 48), ("b64 third", 64)):
    s = time.perf_counter(); t.tag_tokens(tok, bs); print(name, "%.2f s" % (time.perf_counter() - s))
