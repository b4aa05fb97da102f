"""One-off: the LSTM backward step chain unrolled in the graph vs in a tf.while_loop (1 or 4 steps an iteration)."""
import time
import tensorflow as tf
tf.config.threading.set_inter_op_parallelism_threads(2)
tf.config.threading.set_intra_op_parallelism_threads(1)
from nlp_lstm.layers import cells
B, U, T = 32, 256, 16
g = tf.random.Generator.from_seed(0)
gates = tf.sigmoid(g.normal((T, B, 4 * U)))
carry = g.normal((T, B, U)); tc = tf.tanh(g.normal((T, B, U)))

def unrolled(k):
    dh = tf.ones((B, U)) * (1 + k); dc = tf.zeros((B, U)); acc = tf.zeros((B, 4 * U))
    for t in reversed(range(T)):
        dz, dc = cells.lstm_step_backward(dh, dc, gates[t], carry[t], tc[t])
        dh = dz[:, :U] * 0.5
        acc += dz
    return acc

def looped(k, unroll):
    def body(t, dh, dc, acc):
        for u in range(unroll):
            s = t - u
            dz, dc = cells.lstm_step_backward(dh, dc, gates[s], carry[s], tc[s])
            dh = dz[:, :U] * 0.5
            acc += dz
        return t - unroll, dh, dc, acc
    init = (tf.constant(T - 1), tf.ones((B, U)) * (1 + k), tf.zeros((B, U)), tf.zeros((B, 4 * U)))
    return tf.while_loop(lambda t, *_: t >= 0, body, init)[3]

fns = {
    "unrolled": tf.function(lambda: [unrolled(k) for k in range(2)]),
    "while, 1 step an iteration": tf.function(lambda: [looped(k, 1) for k in range(2)]),
    "while, 4 steps an iteration": tf.function(lambda: [looped(k, 4) for k in range(2)]),
}
ref = fns["unrolled"]()
for name, f in fns.items():
    print(name, "max diff", max(float(tf.reduce_max(tf.abs(p - q))) for p, q in zip(ref, f())))
for r in range(3):
    for name, f in fns.items():
        f(); t0 = time.perf_counter()
        for _ in range(50): f()
        print(r, name, f"{(time.perf_counter() - t0) / 50 * 1000:.2f} ms")
