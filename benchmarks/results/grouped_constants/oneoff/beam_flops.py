"""One-off: rows x steps and logits width a search runs (bundle, 1 thread), and
its matmul FLOPs per step row, to set against measured time."""
import gzip, sys, time, os
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import tensorflow as tf
tf.config.threading.set_intra_op_parallelism_threads(1)
tf.config.threading.set_inter_op_parallelism_threads(1)
import nlp_lstm
run, beam = sys.argv[1], int(sys.argv[2])
n = int(sys.argv[3]) if len(sys.argv) > 3 else 1000
bundle = nlp_lstm.load(run)
model = bundle.model
rows_seen = tf.Variable(0, dtype=tf.int64); cols_seen = tf.Variable(0, dtype=tf.int64)
steps_seen = tf.Variable(0, dtype=tf.int64)
original = model.decoding_step
def counted(ids, state, constants, group=1, weights=None):
    logits, state, attention = original(ids, state, constants, group=group, weights=weights)
    r = tf.cast(tf.shape(logits)[0], tf.int64); c = tf.cast(tf.shape(logits)[1], tf.int64)
    with tf.control_dependencies([rows_seen.assign_add(r), cols_seen.assign_add(r * c), steps_seen.assign_add(1)]):
        logits = tf.identity(logits)
    return logits, state, attention
model.decoding_step = counted
src = [l.decode().strip() for l in gzip.open("/work/shared/data/multi30k/test_2016_flickr.en.gz")][:n]


t = time.perf_counter(); out = bundle.translate(src[:64], beam_size=beam); t0 = time.perf_counter() - t
for v in (rows_seen, cols_seen, steps_seen): v.assign(0)
t = time.perf_counter(); out = bundle.translate(src, beam_size=beam); el = time.perf_counter() - t
rows, rc, steps = rows_seen.numpy(), cols_seen.numpy(), steps_seen.numpy()
per_row = 2 * (512 * 1024 * 2 + 512 * 256)  # two cells, attentional projection
flops = rows * per_row + 2 * 256 * rc
print(f"beam {beam}: {n} sentences {el:.2f} s ({n/el:.1f}/s, 1 thread); steps {steps}, rows {rows} ({rows/steps:.1f} a step), mean width {rc/rows:.0f}")
print(f"matmul GFLOP (cells+attn proj+output; attention scores excluded) {flops/1e9:.1f}: {flops/el/1e9:.1f} GFLOP/s achieved; output projection share of flops {2*256*rc/flops:.2f}")
