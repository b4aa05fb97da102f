"""One-off: an in-cache float32 matmul chain on one thread alone vs two threads at once (are the 2 vCPUs two physical cores?)."""
import time
import tensorflow as tf
tf.config.threading.set_inter_op_parallelism_threads(2)
tf.config.threading.set_intra_op_parallelism_threads(1)
N, CH = 256, 200
g = tf.random.Generator.from_seed(0)
a = [g.normal((N, N)) / 16 for _ in range(2)]
def chain(x):
    for _ in range(CH):
        x = tf.matmul(x, x) * 0.5
    return tf.reduce_sum(x[:1, :1])
one = tf.function(lambda: [chain(a[0])])
two = tf.function(lambda: [chain(x) for x in a])
fl = 2 * N**3 * CH
for rnd in range(3):
    for name, f, n in (("one thread", one, 1), ("two threads at once", two, 2)):
        f(); best = 1e9
        for _ in range(5):
            t = time.perf_counter(); f(); best = min(best, time.perf_counter() - t)
        print(rnd, name, f"{best*1000:.1f} ms, {fl/best/1e9:.1f} GFLOP/s a thread, {n*fl/best/1e9:.1f} total")
