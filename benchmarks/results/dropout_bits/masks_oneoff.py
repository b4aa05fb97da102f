import time, os
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
import tensorflow as tf
tf.config.threading.set_intra_op_parallelism_threads(1)
tf.config.threading.set_inter_op_parallelism_threads(1)
x = tf.random.normal((32, 26, 768)); seed = tf.constant([1, 2], tf.int64)
rate = 0.3
def keras_like(x, seed):
    u = tf.random.stateless_uniform(tf.shape(x), seed)
    return tf.where(u >= rate, x / (1 - rate), 0.0)
def bits32(x, seed):
    b = tf.random.stateless_uniform(tf.shape(x), seed, minval=None, maxval=None, dtype=tf.uint32)
    return tf.where(b >= tf.constant(int(rate * 2**32), tf.uint32), x / (1 - rate), 0.0)
def bits8(x, seed):
    shape = tf.shape(x); n = tf.size(x)
    b = tf.random.stateless_uniform([(n + 3) // 4], seed, minval=None, maxval=None, dtype=tf.uint32)
    b = tf.reshape(tf.bitcast(b, tf.uint8), [-1])[:n]
    keep = tf.reshape(b >= 77, shape)
    return tf.where(keep, x * (256 / 179), 0.0)
def bits16(x, seed):
    shape = tf.shape(x); n = tf.size(x)
    b = tf.random.stateless_uniform([(n + 1) // 2], seed, minval=None, maxval=None, dtype=tf.uint32)
    b = tf.reshape(tf.bitcast(b, tf.uint16), [-1])[:n]
    keep = tf.reshape(b >= 19661, shape)
    return tf.where(keep, x / (1 - 19661 / 65536), 0.0)
for name, f in (("keras_like", keras_like), ("bits32", bits32), ("bits16", bits16), ("bits8", bits8)):
    g = tf.function(f, autograph=False); g(x, seed)
    for _ in range(2):
        t = time.perf_counter()
        for _ in range(200): g(x, seed)
        print(name, f"{(time.perf_counter()-t)/200*1e3:.3f} ms")
