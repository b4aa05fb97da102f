import sys, time
def hwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM"): return int(line.split()[1]) // 1024
model = sys.argv[1]; sig = sys.argv[2]
from nlp_lstm.export import runtime
runtime.choose_kernels(model); runtime.import_runtime(); runtime.use_threads(1)
from nlp_lstm.export.runners import SavedModelTagger
t = SavedModelTagger(model); t.warm_up(sig == "tokens")
print("after warm", hwm())
lines = [l.rstrip("\n") for l in open("/work/exp/s36/ud_test.txt")]
lines.sort(key=len)
prev = hwm(); jumps = []
for i in range(0, len(lines), 64):
    b = lines[i:i+64]
    if sig == "tokens": t.tag_tokens([l.split() for l in b], 64)
    else: t.tag(b, 64)
    h = hwm()
    if h - prev > 20: jumps.append((i // 64, h - prev, max(len(l.split()) for l in b), max(len(l) for l in b)))
    prev = h
print("final", hwm(), "jumps (batch, MB, max tokens, max chars):", jumps)
