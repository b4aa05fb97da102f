import os, time, sys
import tensorflow as tf
tf.config.threading.set_inter_op_parallelism_threads(2)
tf.config.threading.set_intra_op_parallelism_threads(1)
from nlp_lstm.training.losses import smoothed_cross_entropy
from nlp_lstm.layers.linear import dense
R, D, V, E_ = 525, 256, 8000, 0.1
g = tf.random.Generator.from_seed(0)
emb = tf.Variable(g.normal((V, D)) * 0.05); bias = tf.Variable(tf.zeros(V))
hs = [g.normal((R, D)) for _ in range(2)]
labels = [g.uniform((R,), 0, V, tf.int32) for _ in range(2)]

def base_tower(h, y):
    with tf.GradientTape() as tape:
        tape.watch(h)
        logits = tf.nn.bias_add(dense(h, emb, transpose_kernel=True), bias)
        loss = tf.reduce_mean(smoothed_cross_entropy(y, logits, E_))
    return [loss] + tape.gradient(loss, [h, emb, bias])

def chunked_nll(h, y, chunks):
    """sum over rows of smoothed CE; returns (sum_loss, dh, d_logits_all) unscaled"""
    rows = tf.shape(h)[0]
    size = (rows + chunks - 1) // chunks
    losses, dhs, gs = [], [], []
    e = E_; off = e / V
    for k in range(chunks):
        start = tf.minimum(k * size, rows); stop = tf.minimum(start + size, rows)
        hc = h[start:stop]; yc = y[start:stop]
        logits = tf.nn.bias_add(tf.matmul(hc, emb, transpose_b=True), bias)
        top = tf.reduce_max(logits, -1, keepdims=True)
        exps = tf.exp(logits - top)
        sums = tf.reduce_sum(exps, -1, keepdims=True)
        log_z = tf.squeeze(top + tf.math.log(sums), -1)
        lab = tf.gather(logits, yc, batch_dims=1)
        losses.append(log_z - (1 - e) * lab - e * tf.reduce_mean(logits, -1))
        d = exps / sums - off
        n = tf.shape(yc)[0]
        d = tf.tensor_scatter_nd_sub(d, tf.stack([tf.range(n), yc], -1), tf.fill([n], 1 - e))
        gs.append(d); dhs.append(tf.matmul(d, emb))
    return tf.concat(losses, 0), tf.concat(dhs, 0), tf.concat(gs, 0)

def chunk_tower(h, y, chunks):
    loss, dh, d = chunked_nll(h, y, chunks)
    n = tf.cast(tf.shape(h)[0], tf.float32)
    dE = tf.matmul(d, h, transpose_a=True) / n
    db = tf.reduce_sum(d, 0) / n
    return [tf.reduce_mean(loss), dh / n, dE, db]

@tf.function
def base():
    return [base_tower(h, y) for h, y in zip(hs, labels)]
fns = {"base": base}
for c in (1, 4, 8, 16):
    fns[f"chunk{c}"] = tf.function(lambda c=c: [chunk_tower(h, y, c) for h, y in zip(hs, labels)])
ref = base()
for name, f in fns.items():
    out = f()
    err = max(float(tf.reduce_max(tf.abs(a - b))) for t1, t2 in zip(ref, out) for a, b in zip(t1, t2))
    print(name, "max abs diff vs base", err)
for rnd in range(3):
    for name, f in fns.items():
        f(); t = time.perf_counter()
        for _ in range(20): f()
        print(rnd, name, f"{(time.perf_counter()-t)/20*1000:.2f} ms")
