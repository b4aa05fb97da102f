import time, sys
import tensorflow as tf
intra, inter = int(sys.argv[1]), int(sys.argv[2])
tf.config.threading.set_intra_op_parallelism_threads(intra)
tf.config.threading.set_inter_op_parallelism_threads(inter)
g = tf.random.Generator.from_seed(0)
for (m, k, n) in ((2048, 2048, 2048), (525, 256, 8000), (256, 256, 256)):
    a = g.normal((m, k)); b = g.normal((k, n))
    f = tf.function(lambda a: tf.reduce_sum(tf.matmul(a, b)[:1, :1]))
    f(a); best = 1e9
    reps = max(1, int(2e9 // (2*m*k*n)))
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(reps): f(a)
        best = min(best, (time.perf_counter() - t) / reps)
    print(f"intra={intra} inter={inter} {m}x{k}x{n}: {2*m*k*n/best/1e9:.1f} GFLOP/s")
