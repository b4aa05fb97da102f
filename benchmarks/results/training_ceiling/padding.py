import sys, numpy as np
sys.path.insert(0, "benchmarks")
import profile_training as pt
from nlp_lstm.benchmarking import training as bench
from nlp_lstm.data.parallel import load_parallel_corpus
from nlp_lstm.text import sentencepiece as sp
config = pt.task_config("translator")
corpus, _ = load_parallel_corpus(config.data)
processor = sp.processor(sp.load_model(pt.TOKENIZER))
batches = bench.fixed_batches(config, corpus, processor, 30)
st = sr = tt = tr = 0; tower_t = 0
for (s, ti), to in batches:
    s, to = s.numpy(), to.numpy()
    st += s.size; sr += (s != 0).sum(); tt += to.size; tr += (to != 0).sum()
    h = s.shape[0] // 2
    for part in (to[:h], to[h:]):
        tower_t += part.shape[0] * (part != 0).sum(1).max()
print("source real", sr / st, "target real", tr / tt, "tower-trimmed target", tower_t / tt)
