import time, os
import tensorflow as tf
tf.config.threading.set_intra_op_parallelism_threads(1)
tf.config.threading.set_inter_op_parallelism_threads(1)
for B, U in ((32, 128), (32, 256), (64, 256)):
    z0 = tf.random.normal((B, 4 * U)); c0 = tf.random.normal((B, U))
    scale = tf.constant([1.0] * (2 * U) + [2.0] * U + [1.0] * U)
    shift = tf.constant([0.0] * (2 * U) + [-1.0] * U + [0.0] * U)
    def current(z, c):
        zi, zf, zc, zo = tf.split(z, 4, axis=-1)
        i, f, g, o = tf.sigmoid(zi), tf.sigmoid(zf), tf.tanh(zc), tf.sigmoid(zo)
        nc = f * c + i * g; tc = tf.tanh(nc)
        return o * tc, nc, tf.concat([i, f, g, o], -1), tc
    def fused(z, c):
        gates = tf.sigmoid(z * scale) * scale + shift
        i, f, g, o = tf.split(gates, 4, axis=-1)
        nc = f * c + i * g; tc = tf.tanh(nc)
        return o * tc, nc, gates, tc
    for name, fn in (("current", current), ("fused", fused)):
        @tf.function(autograph=False)
        def loop(z, c):
            def body(t, h, c):
                out, nc, gates, tc = fn(z + tf.tile(h, [1, 4]) * 0.0, c)
                return t + 1, out, nc + gates[:, :U] * 0 + tc * 0
            return tf.while_loop(lambda t, *_: t < 100, body, (0, tf.zeros((B, U)), c))
        loop(z0, c0)
        ts = []
        for _ in range(5):
            t = time.perf_counter(); loop(z0, c0); ts.append(time.perf_counter() - t)
        print(B, U, name, f"{min(ts)/100*1e6:.1f} us/step")
