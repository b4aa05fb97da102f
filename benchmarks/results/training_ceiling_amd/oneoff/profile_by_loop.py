"""One-off: thread time a step of a profile_training.py trace, by where the op ran (the decoder loop, the encoder loop, the backward loops, outside) and matmul or not. Usage: profile_by_loop.py LOGDIR STEPS."""
import glob, sys, collections, re
from tensorflow.tsl.profiler.protobuf import xplane_pb2
logdir, steps = sys.argv[1], int(sys.argv[2])
path = sorted(glob.glob(f"{logdir}/**/*.xplane.pb", recursive=True))[-1]
space = xplane_pb2.XSpace(); space.ParseFromString(open(path, "rb").read())
t = collections.Counter(); c = collections.Counter()
for plane in space.planes:
    if plane.name != "/host:CPU": continue
    for line in plane.lines:
        if not line.name.startswith("tf_Compute"): continue
        for e in line.events:
            full = plane.event_metadata[e.metadata_id].name
            if ":" not in full or "::" in full: continue
            scope, op = full.rsplit(":", 1)
            if op in ("Process", "ExecutorDoneCallback"): continue
            scope = re.sub(r"_\d+", "", scope); mm = "MatMul" in op
            loop = "decoder-loop" if "decoder/while" in scope else "enc-loop" if "encoder/while" in scope else "bwd-loop" if "while/body" in scope else "outside"
            key = (loop, "mm" if mm else "other")
            t[key] += e.duration_ps / 1e9 / steps; c[key] += 1 / steps
for k in sorted(t): print(k, f"{t[k]:7.2f} ms {c[k]:8.1f} calls  {1000*t[k]/max(c[k],1):6.2f} us/call")
print("total", sum(t.values()), sum(c.values()))
