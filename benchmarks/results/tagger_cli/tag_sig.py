import sys, time
model = sys.argv[1]; sig = sys.argv[2]; bs = int(sys.argv[3]); order = sys.argv[4]
from nlp_lstm.export import runtime
runtime.choose_kernels(model)
runtime.import_runtime(); runtime.use_threads(2)
from nlp_lstm.export.runners import SavedModelTagger
t = SavedModelTagger(model)
lines = [l.rstrip("\n") for l in open("/work/exp/s36/ud_test.txt")]
if order == "sorted": lines = sorted(lines, key=len)
for rnd in range(2):
    s = time.perf_counter()
    if sig == "tokens":
        list(t.iter_tag_tokens([l.split() for l in lines], bs))
    else:
        list(t.iter_tag(lines, bs))
    print(sig, bs, order, "round", rnd, "%.1f sent/s" % (len(lines) / (time.perf_counter() - s)))
def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM"): return line.strip()
print(rss())
