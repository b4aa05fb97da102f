import time, os
os.environ["TF_ENABLE_ONEDNN_OPTS"] = "0"
import tensorflow as tf
tf.config.threading.set_intra_op_parallelism_threads(1)
tf.config.threading.set_inter_op_parallelism_threads(1)
x = tf.random.normal((64, 256)); E = tf.random.normal((8000, 256)); b = tf.random.normal((3584,))
ids = tf.sort(tf.random.shuffle(tf.range(8000))[:3584])
def chain(f):
    @tf.function(autograph=False)
    def g(x, E):
        k = f(E)
        def body(i, acc):
            return i + 1, acc + f_step(x + acc[:, :1] * 0, k)
        return tf.while_loop(lambda i, a: i < 29, body, (0, tf.zeros((64, 3584))))[1]
    return g
def f_step_plain(x, k): return tf.nn.bias_add(tf.matmul(x, k), b)
def f_step_tb(x, k): return tf.nn.bias_add(tf.matmul(x, k, transpose_b=True), b)
for name, prep, step in (("gather+transpose, plain", lambda E: tf.transpose(tf.gather(E, ids)), f_step_plain),
                         ("gather, transpose_b", lambda E: tf.gather(E, ids), f_step_tb)):
    f_step = step
    g = chain(prep); g(x, E)
    for _ in range(3):
        t = time.perf_counter()
        for _ in range(10): g(x, E)
        print(name, f"{(time.perf_counter()-t)/10*1e3:.2f} ms per 29 steps")
