"""Old loss (whole logits, masked) vs new (real positions) on the real config:
two identically built models, same batches, same seeds; the losses of 30 steps."""
import sys
sys.path.insert(0, "benchmarks")
import numpy as np, tensorflow as tf
import profile_training as pt
from nlp_lstm.benchmarking import training as bench
from nlp_lstm.data.parallel import load_parallel_corpus
from nlp_lstm.models.translator import build_translator
from nlp_lstm.text import sentencepiece as sp
from nlp_lstm.training import trainer
from nlp_lstm.training.losses import masked_cross_entropy, translator_loss

config = pt.task_config("translator")
corpus, _ = load_parallel_corpus(config.data)
processor = sp.processor(sp.load_model(pt.TOKENIZER))
batches = bench.fixed_batches(config, corpus, processor, 30)

def old_loss(model, batch, training):
    (source, target_in), target_out = batch
    return masked_cross_entropy(target_out, model((source, target_in), training=training), label_smoothing=0.1)

losses = {}
for name, fn in (("new", translator_loss(0.1)), ("old", old_loss)):
    trainer.set_seed(1234)
    model = build_translator(config.model, processor.vocab_size(), processor.vocab_size())
    step = bench.training_step(model, config, fn)
    losses[name] = [float(step(b)[0]) for b in batches]
    print(name, np.round(losses[name][:5], 6), np.round(losses[name][-3:], 6), flush=True)
diff = np.abs(np.array(losses["new"]) - np.array(losses["old"]))
print("max abs diff per step:", np.round(diff, 7))
