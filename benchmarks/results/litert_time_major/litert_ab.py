import sys, time, gzip, numpy as np
from ai_edge_litert import interpreter as litert
import sentencepiece
path = sys.argv[1]; mode = sys.argv[2]; sig = sys.argv[3] if len(sys.argv) > 3 else "translate_greedy_batch"
kw = {}
if mode == "nodelegate":
    kw["experimental_op_resolver_type"] = litert.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
elif mode == "ref":
    kw["experimental_op_resolver_type"] = litert.OpResolverType.BUILTIN_REF
it = litert.Interpreter(model_path=path, num_threads=1, **kw)
sp = sentencepiece.SentencePieceProcessor(model_file=path.replace(".tflite", ".spm.model"))
src = [l.decode().rstrip("\n") for l in gzip.open("/work/shared/data/multi30k/test_2016_flickr.en.gz")]
rows = sorted([sp.encode(s) + [3] for s in src], key=len)
r = it.get_signature_runner(sig)
def call(batch):
    w = max(map(len, batch)); b = batch + [[3]] * (64 - len(batch))
    return r(source_ids=np.asarray([x + [0] * (w - len(x)) for x in b], np.int32), max_length=np.zeros([64], np.int32), eos_id=np.asarray([3], np.int32))
t = time.perf_counter(); call(rows[:64]); first = time.perf_counter() - t
t = time.perf_counter()
out = [call(rows[i:i + 64]) for i in range(0, len(rows), 64)]
dt = time.perf_counter() - t
print(mode, sig, "first %.2f s" % first, "%.1f sent/s" % (len(rows) / dt), "len sum", sum(int(o["length"].sum()) for o in out))
ops = it._get_ops_details()
from collections import Counter
print(Counter(o["op_name"] for o in ops).most_common(8))
