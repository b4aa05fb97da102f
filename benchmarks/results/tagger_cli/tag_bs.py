import sys, time
model = sys.argv[1]; threads = int(sys.argv[2])
from nlp_lstm.export import runtime
runtime.choose_kernels(model); runtime.import_runtime(); runtime.use_threads(threads)
from nlp_lstm.export.runners import SavedModelTagger
t = SavedModelTagger(model, workers=threads, pretokenized=True)
tok = [l.split() for l in open("/work/exp/s36/ud_test_tok.txt")]
sizes = [16, 32, 48, 64, 128]
for bs in sizes: t.tag_tokens(tok, bs)  # warm every shape
for r in range(2):
    out = []
    for bs in sizes:
        s = time.perf_counter(); t.tag_tokens(tok, bs); out.append("%d: %.2f" % (bs, time.perf_counter() - s))
    print("threads", threads, "round", r, ", ".join(out))
