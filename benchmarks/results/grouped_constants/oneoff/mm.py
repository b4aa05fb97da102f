import os, sys, time
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import tensorflow as tf
tf.config.threading.set_intra_op_parallelism_threads(1)
tf.config.threading.set_inter_op_parallelism_threads(1)
dtype = tf.as_dtype(sys.argv[1]) if len(sys.argv) > 1 else tf.float32
shapes = [(320, 256, 3584, "beam projection"), (64, 256, 3584, "greedy projection"),
          (1024, 512, 320, "beam cell, transposed form"), (320, 512, 1024, "beam cell, plain"),
          (2048, 2048, 2048, "square")]
for m, k, n, what in shapes:
    a = tf.random.normal([m, k]); b = tf.random.normal([k, n]); bias = tf.random.normal([n])
    a, b = tf.cast(a, dtype), tf.cast(b, dtype)
    count = max(5, min(300, int(3e9 / (2 * m * k * n))))
    @tf.function(autograph=False)
    def loop(a, b):
        def body(i, total):
            out = tf.matmul(a + tf.cast(tf.cast(i, tf.float32) * 1e-6, dtype), b)
            return i + 1, total + tf.cast(out[0, 0], tf.float32)
        return tf.while_loop(lambda i, _: i < count, body, (0, 0.0))[1]
    loop(a, b).numpy()
    best = 1e9
    for _ in range(5):
        t = time.perf_counter(); loop(a, b).numpy(); best = min(best, (time.perf_counter() - t) / count)
    print(f"{m}x{k}x{n} {what:28s} {best*1e3:8.3f} ms {2*m*k*n/best/1e9:7.1f} GFLOP/s")
