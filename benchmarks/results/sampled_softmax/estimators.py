"""Loss and gradient (w.r.t. the attentional outputs) of sampled-softmax
estimators against the whole softmax, on a trained model's training batches."""
import sys, numpy as np, tensorflow as tf
sys.path.insert(0, 'benchmarks')
from nlp_lstm.bundle import load_bundle
from nlp_lstm.text import sentencepiece as sp
from nlp_lstm.benchmarking import training as bench
from nlp_lstm.data.parallel import load_parallel_corpus
from nlp_lstm.training import losses

run = sys.argv[1]
bundle = load_bundle(run)
model, config = bundle.model, bundle.config
processor = sp.processor(sp.load_model(run + '/tokenizer.model'))
corpus, _ = load_parallel_corpus(config.data)
batches = bench.fixed_batches(config, corpus, processor, 6)
V = model.output_projection.vocab_size

def uniform_ce(labels, columns_fn, vocab, samples, e, seed):
    targets, label_columns = tf.unique(labels)
    scores = tf.random.stateless_uniform([vocab], seed)
    scores = tf.tensor_scatter_nd_update(scores, targets[:, None], -tf.ones_like(targets, tf.float32))
    drawn = tf.math.top_k(scores, samples).indices
    weight = tf.math.log(tf.cast(vocab - tf.size(targets), tf.float32) / samples)
    logits, mean = columns_fn(tf.concat([targets, drawn], 0))
    logits = logits + tf.concat([tf.zeros_like(targets, tf.float32), tf.fill([samples], weight)], 0)
    log_z = tf.reduce_logsumexp(logits, -1)
    return log_z - (1 - e) * tf.gather(logits, label_columns, batch_dims=1) - e * mean

def run_est(fn, outputs, labels):
    x = tf.Variable(outputs)
    with tf.GradientTape() as t:
        loss = tf.reduce_mean(fn(x, labels))
    return float(loss), t.gradient(loss, x).numpy().ravel()

rows = {}
for b, ((src, tin), tout) in enumerate(batches[:4]):
    src, tin, tout = map(tf.constant, (src[:32], tin[:32], tout[:32]))
    outputs = model.attentional((src, tin), training=False)
    pos = tf.where(tf.not_equal(tout, model.pad_id))
    labels = tf.cast(tf.gather_nd(tout, pos), tf.int32); out = tf.gather_nd(outputs, pos)
    full = lambda x, l: losses.smoothed_cross_entropy(l, model.logits(x), 0.1)
    fl, fg = run_est(full, out, labels)
    print('batch', b, 'tokens', int(tf.size(labels)), 'unique', int(tf.size(tf.unique(labels)[0])), 'full loss', round(fl, 4))
    for name, k in [('loguniform', 1024), ('loguniform', 4096), ('uniform', 512), ('uniform', 1024), ('uniform', 2048)]:
        ls, cs = [], []
        for s in range(8):
            seed = tf.constant([s, b])
            if name == 'loguniform':
                fn = lambda x, l: losses.sampled_cross_entropy(l, lambda ids: model.output_columns(x, ids), V, k, 0.1, seed=seed)
            else:
                fn = lambda x, l: uniform_ce(l, lambda ids: model.output_columns(x, ids), V, k, 0.1, seed)
            sl, sg = run_est(fn, out, labels)
            ls.append(sl - fl); cs.append(sg @ fg / np.linalg.norm(sg) / np.linalg.norm(fg))
        rows.setdefault((name, k), []).append((np.mean(ls), np.std(ls), np.mean(cs)))
        print(f'  {name} {k}: loss bias {np.mean(ls):+.4f} sd {np.std(ls):.4f} grad cosine {np.mean(cs):.4f}')
