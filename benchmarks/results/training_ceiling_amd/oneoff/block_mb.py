import time
import tensorflow as tf
tf.config.threading.set_inter_op_parallelism_threads(2)
tf.config.threading.set_intra_op_parallelism_threads(1)
from nlp_lstm.layers import cells, linear
B, U, T = 32, 256, 16
g = tf.random.Generator.from_seed(0)
K = g.normal((2 * U, 4 * U)) * 0.05   # [x; h] -> gates (ifgo order)
Kt = tf.transpose(K)
b = tf.zeros(4 * U)
xs = g.normal((T, B, U))

def ours_fwd(xs):
    h = tf.zeros((B, U)); c = tf.zeros((B, U)); saved = []
    for t in range(T):
        z = linear.times_transposed(tf.concat([xs[t], h], -1), Kt) + b
        h, c, gates, tc = cells.lstm_step(z, c)
        saved.append((gates, tc))
    return h, saved

def ours_bwd(saved, cs):
    dh = tf.ones((B, U)); dc = tf.zeros((B, U)); out = []
    for t in reversed(range(T)):
        gates, tc = saved[t]
        dz, dc = cells.lstm_step_backward(dh, dc, gates, cs[t], tc)
        dh = tf.matmul(dz, K[U:], transpose_b=True)
        out.append(dz)
    return dh

# TF block cell: gate order i, ci(g), f, o: permute columns
Kb = tf.concat([K[:, :U], K[:, 2*U:3*U], K[:, U:2*U], K[:, 3*U:]], -1)
zeros_u = tf.zeros(U)
def block_fwd(xs):
    h = tf.zeros((B, U)); c = tf.zeros((B, U)); saved = []
    for t in range(T):
        i, cs, f, o, ci, co, hn = tf.raw_ops.LSTMBlockCell(x=xs[t], cs_prev=c, h_prev=h, w=Kb, wci=zeros_u, wcf=zeros_u, wco=zeros_u, b=b, forget_bias=0.0, cell_clip=-1.0, use_peephole=False)
        saved.append((xs[t], c, h, i, cs, f, o, ci, co)); h, c = hn, cs
    return h, saved

def block_bwd(saved):
    dh = tf.ones((B, U)); dc = tf.zeros((B, U))
    for t in reversed(range(T)):
        x, cp, hp, i, cs, f, o, ci, co = saved[t]
        dcp, dicfo, _, _, _ = tf.raw_ops.LSTMBlockCellGrad(x=x, cs_prev=cp, h_prev=hp, w=Kb, wci=zeros_u, wcf=zeros_u, wco=zeros_u, b=b, i=i, cs=cs, f=f, o=o, ci=ci, co=co, cs_grad=dc, h_grad=dh, use_peephole=False)
        dh = tf.matmul(dicfo, Kb[U:], transpose_b=True); dc = dcp
    return dh

@tf.function
def ours():
    outs = []
    for k in range(2):
        h, saved = ours_fwd(xs + k)
        outs.append(h)
    return outs
@tf.function
def ours_fb():
    outs = []
    for k in range(2):
        h, saved = ours_fwd(xs + k)
        cs = [tf.zeros((B, U))] * T
        outs.append(ours_bwd(saved, cs))
    return outs
@tf.function
def block():
    return [block_fwd(xs + k)[0] for k in range(2)]
@tf.function
def block_fb():
    return [block_bwd(block_fwd(xs + k)[1]) for k in range(2)]
a = ours(); bb = block()
print("fwd diff", float(tf.reduce_max(tf.abs(a[0] - bb[0]))))
for rnd in range(3):
    for name, f in (("ours fwd", ours), ("block fwd", block), ("ours f+b", ours_fb), ("block f+b", block_fb)):
        f(); t = time.perf_counter()
        for _ in range(30): f()
        print(rnd, name, f"{(time.perf_counter()-t)/30*1000:.2f} ms")
