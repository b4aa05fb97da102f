"""Training output projection, one tower's shapes (525 tokens x 256 -> 8,000), oneDNN as
training runs it: forward + both gradients, tied (x @ E^T, transpose_b) vs a transposed
copy of E with a hand-written gradient."""
import time, os
import tensorflow as tf
tf.config.threading.set_intra_op_parallelism_threads(1)
tf.config.threading.set_inter_op_parallelism_threads(1)
N, D, V = 525, 256, 8000
x0 = tf.random.normal((N, D)); E = tf.Variable(tf.random.normal((V, D)) * 0.05); b = tf.Variable(tf.zeros((V,)))
dl0 = tf.random.normal((N, V))
def current(x):
    return tf.nn.bias_add(tf.matmul(x, E, transpose_b=True), b)
def transposed_copy(x):
    @tf.custom_gradient
    def proj(x, e, bias):
        k = tf.transpose(e)
        def grad(d):
            return tf.matmul(d, e), tf.matmul(d, x, transpose_a=True), tf.reduce_sum(d, 0)
        return tf.nn.bias_add(tf.matmul(x, k), bias), grad
    return proj(x, E, b)
for name, f in (("current", current), ("transposed copy", transposed_copy)):
    @tf.function
    def step(x, dl):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = f(x)
        gx, gE, gb = tape.gradient(y, [x, E, b], output_gradients=dl)
        return tf.reduce_sum(gx[:1]) + tf.reduce_sum(gE[:1]) + gb[0] + y[0, 0]
    step(x0, dl0)
    for _ in range(3):
        t = time.perf_counter()
        for _ in range(20): step(x0, dl0).numpy()
        print(name, f"{(time.perf_counter()-t)/20*1e3:.2f} ms fwd+bwd")
