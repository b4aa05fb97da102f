"""One-off: the LSTM backward step, the package's (cells.lstm_step_backward) against TensorFlow's fused LSTMBlockCellGrad (plus the gate reorder), 16 steps, two towers at once."""
import time
import tensorflow as tf
tf.config.threading.set_inter_op_parallelism_threads(2)
tf.config.threading.set_intra_op_parallelism_threads(1)
from nlp_lstm.layers import cells
B, U, T = 32, 256, 16
g = tf.random.Generator.from_seed(0)
gates = tf.sigmoid(g.normal((T, B, 4 * U)))
carry = g.normal((T, B, U)); tc = tf.tanh(g.normal((T, B, U)))
W = tf.zeros((2 * U, 4 * U)); b = tf.zeros(4 * U); zu = tf.zeros(U); x = tf.zeros((B, U))
ORDER = tf.constant([*range(0, U), *range(2 * U, 3 * U), *range(U, 2 * U), *range(3 * U, 4 * U)])  # icfo -> ifgo

def fused_backward(d_hidden, d_carry, gates, carry, tanh_carry):
    i, f, g_, o = tf.split(gates, 4, axis=-1)
    d_prev, dicfo, _, _, _ = tf.raw_ops.LSTMBlockCellGrad(
        x=x, cs_prev=carry, h_prev=d_hidden, w=W, wci=zu, wcf=zu, wco=zu, b=b,
        i=i, cs=carry, f=f, o=o, ci=g_, co=tanh_carry, cs_grad=d_carry, h_grad=d_hidden,
        use_peephole=False)
    return tf.gather(dicfo, ORDER, axis=-1), d_prev

def chain(fn, k):
    dh = tf.ones((B, U)) * (1 + k); dc = tf.zeros((B, U)); acc = []
    for t in reversed(range(T)):
        dz, dc = fn(dh, dc, gates[t], carry[t], tc[t])
        dh = dz[:, :U] * 0.5
        acc.append(dz)
    return tf.add_n(acc)
ours = tf.function(lambda: [chain(cells.lstm_step_backward, k) for k in range(2)])
fused = tf.function(lambda: [chain(fused_backward, k) for k in range(2)])
a, bb = ours(), fused()
print("max diff", max(float(tf.reduce_max(tf.abs(p - q))) for p, q in zip(a, bb)))
for r in range(3):
    for name, f in (("ours", ours), ("fused", fused)):
        f(); t0 = time.perf_counter()
        for _ in range(50): f()
        print(r, name, f"{(time.perf_counter() - t0) / 50 * 1000:.2f} ms")
