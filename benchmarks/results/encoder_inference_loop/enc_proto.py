"""Prototype: an inference-only bidirectional LSTM layer loop against
rnn_loops.bidirectional_rnn, at the Multi30k encoder's shapes, one thread."""
import os, sys, time
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
import numpy as np, tensorflow as tf
tf.config.threading.set_intra_op_parallelism_threads(1)
tf.config.threading.set_inter_op_parallelism_threads(1)
from nlp_lstm.layers import rnn_loops, cells

B, T, E, U, V = 64, 22, 256, 128, 8000
rng = np.random.default_rng(0)
def w(*s): return tf.constant(rng.normal(0, 0.1, s).astype("float32"))
def direction(inp):
    return {"kernel": w(inp, 4*U), "recurrent_kernel": w(U, 4*U), "bias": w(4*U), "recurrent_bias": None, "params": []}
l1 = [direction(E), direction(E)]; l2 = [direction(2*U), direction(2*U)]
emb = w(V, E)
table = rnn_loops.input_table(emb, l1[0], l1[1])
ids = tf.constant(rng.integers(1, V, (B, T)).astype("int32"))
lengths = tf.constant(rng.integers(5, T + 1, (B,)).astype("int32"))

@tf.function(autograph=False)
def baseline(ids, lengths):
    out1, _ = rnn_loops.bidirectional_rnn(ids, lengths, l1[0], l1[1], input_table=table)
    out2, _ = rnn_loops.bidirectional_rnn(out1, lengths, l2[0], l2[1])
    return out1 + out2

def layer_loop(x_tm, lengths, fwd, bwd, table=None):
    """x_tm: (time, batch, features) or ids (time, batch) with table."""
    steps = tf.shape(x_tm)[0]; batch = tf.shape(x_tm)[1]
    mask = tf.transpose(tf.sequence_mask(lengths, steps))  # (time, batch)
    if table is None:
        kf = tf.concat([fwd["kernel"], fwd["recurrent_kernel"]], 0)
        kb = tf.concat([bwd["kernel"], bwd["recurrent_kernel"]], 0)
    else:
        vocab = tf.shape(table)[0] // 2
    uf, ub = fwd["recurrent_kernel"], bwd["recurrent_kernel"]
    zeros = tf.zeros([batch, U])
    def body(t, hf, cf, hb, cb, of, ob):
        tb = steps - 1 - t
        if table is None:
            zf = tf.nn.bias_add(tf.matmul(tf.concat([x_tm[t], hf], -1), kf), fwd["bias"])
            zb = tf.nn.bias_add(tf.matmul(tf.concat([x_tm[tb], hb], -1), kb), bwd["bias"])
        else:
            zf = tf.gather(table, x_tm[t]) + tf.matmul(hf, uf)
            zb = tf.gather(table, x_tm[tb] + vocab) + tf.matmul(hb, ub)
        nhf, ncf = cells.lstm_cell(zf, cf)
        nhb, ncb = cells.lstm_cell(zb, cb)
        mf = mask[t][:, None]; mb = mask[tb][:, None]
        hf = tf.where(mf, nhf, hf); cf = tf.where(mf, ncf, cf)
        hb = tf.where(mb, nhb, hb); cb = tf.where(mb, ncb, cb)
        of = of.write(t, tf.where(mf, nhf, 0.0)); ob = ob.write(tb, tf.where(mb, nhb, 0.0))
        return t + 1, hf, cf, hb, cb, of, ob
    ta = lambda: tf.TensorArray(tf.float32, size=steps)
    _, hf, cf, hb, cb, of, ob = tf.while_loop(lambda t, *_: t < steps, body,
        (0, zeros, zeros, zeros, zeros, ta(), ta()))
    return tf.concat([of.stack(), ob.stack()], -1)

@tf.function(autograph=False)
def proto(ids, lengths):
    ids_tm = tf.transpose(ids)
    out1 = layer_loop(ids_tm, lengths, l1[0], l1[1], table=table)
    out2 = layer_loop(out1, lengths, l2[0], l2[1])
    return tf.transpose(out1 + out2, (1, 0, 2))

a = baseline(ids, lengths).numpy(); b = proto(ids, lengths).numpy()
print("max diff", np.abs(a - b).max())
for r in range(4):
    for name, f in (("baseline", baseline), ("proto", proto)):
        t = time.perf_counter()
        for _ in range(50): f(ids, lengths)
        print(name, f"{(time.perf_counter() - t) / 50 * 1e3:.2f} ms")
