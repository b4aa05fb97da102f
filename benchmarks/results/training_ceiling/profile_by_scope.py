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
            if "MatMul" in op or op in ("Process", "ExecutorDoneCallback"): continue
            scope = re.sub(r"_\d+", "", scope)
            key = scope + " :" + op
            t[key] += e.duration_ps / 1e9 / steps; c[key] += 1 / steps
for k, v in t.most_common(40):
    print(f"{v:6.2f} ms {c[k]:7.1f}  {k[-120:]}")
