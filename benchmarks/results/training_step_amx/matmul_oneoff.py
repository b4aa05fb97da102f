import os, time, sys
import tensorflow as tf
tf.config.threading.set_intra_op_parallelism_threads(int(sys.argv[1]) if len(sys.argv)>1 else 2)
def bench(m,k,n,dt,reps=20):
    a=tf.cast(tf.random.normal((m,k)),dt); b=tf.cast(tf.random.normal((k,n)),dt)
    @tf.function
    def f(a,b):
        def body(i,acc):
            y=tf.matmul(a,b)
            return i+1, acc+tf.cast(y[0,0],tf.float32)
        return tf.while_loop(lambda i,acc:i<reps, body,(0,tf.constant(0.)))[1]
    f(a,b)
    best=1e9
    for _ in range(5):
        t=time.perf_counter(); f(a,b).numpy(); best=min(best,time.perf_counter()-t)
    return 2*m*k*n*reps/best/1e9
for shape in [(2048,2048,2048),(64,256,8000),(64,768,1024),(64,512,1024),(320,256,8000),(960,256,8000),(960,384,1024),(64,256,512)]:
    print(shape, "f32 %.0f"%bench(*shape,tf.float32), "bf16 %.0f"%bench(*shape,tf.bfloat16), flush=True)
