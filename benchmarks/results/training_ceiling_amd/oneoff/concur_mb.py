"""One-off: the output projection's three products (a tower's 525 rows): one tower (its three independent products spread over the two inter-op threads) and two towers at once; GFLOP/s over both cores."""
import time, sys
import tensorflow as tf
tf.config.threading.set_inter_op_parallelism_threads(2)
tf.config.threading.set_intra_op_parallelism_threads(1)
R, D, V = 525, 256, 8000
g = tf.random.Generator.from_seed(0)
E = g.normal((V, D)) * 0.05
hs = [g.normal((R, D)) for _ in range(2)]
ds = [g.normal((R, V)) * 1e-3 for _ in range(2)]
def tower(h, d):
    logits = tf.matmul(h, E, transpose_b=True)
    dh = tf.matmul(d, E)
    dE = tf.matmul(d, h, transpose_a=True)
    return tf.reduce_sum(logits[:1, :1]) + tf.reduce_sum(dh[:1, :1]) + tf.reduce_sum(dE[:1, :1])
one = tf.function(lambda: [tower(hs[0], ds[0])])
two = tf.function(lambda: [tower(h, d) for h, d in zip(hs, ds)])
flops = 3 * 2 * R * D * V
for rnd in range(3):
    for name, f, n in (("one tower", one, 1), ("two towers", two, 2)):
        f(); best = 1e9
        for _ in range(10):
            t = time.perf_counter(); f(); best = min(best, time.perf_counter() - t)
        print(rnd, name, f"{best*1000:.2f} ms, {n*flops/best/1e9:.1f} GFLOP/s on two cores")
