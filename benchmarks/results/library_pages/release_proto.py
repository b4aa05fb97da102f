import ctypes, os, re, sys, time
libc = ctypes.CDLL("libc.so.6", use_errno=True)
libc.madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
MADV_DONTNEED = 4

def release(match=("libtensorflow",)):
    txt = open("/proc/self/smaps").read()
    freed = 0
    for block in re.split(r"\n(?=[0-9a-f]+-[0-9a-f]+ )", txt):
        head = block.split("\n", 1)[0].split()
        if len(head) < 6 or not any(m in head[5] for m in match):
            continue
        perms = head[1]
        if "w" in perms or perms[3] != "p":
            continue
        anon = int(re.search(r"^Anonymous:\s+(\d+)", block, re.M).group(1))
        rss = int(re.search(r"^Rss:\s+(\d+)", block, re.M).group(1))
        if anon or not rss:
            continue
        lo, hi = (int(x, 16) for x in head[0].split("-"))
        if libc.madvise(lo, hi - lo, MADV_DONTNEED) == 0:
            freed += rss
    return freed >> 10

def status():
    s = open("/proc/self/status").read()
    return {k: int(re.search(k + r":\s+(\d+)", s).group(1)) >> 10 for k in ("VmRSS", "VmHWM")}

mode = sys.argv[2]
t0 = time.perf_counter()
from nlp_lstm.export import runtime
runtime.choose_kernels(sys.argv[1])
from nlp_lstm.export.runners import SavedModelTranslator
runtime.use_threads(2)
print("import", status(), file=sys.stderr)
if mode != "none":
    print("released", release(), status(), file=sys.stderr)
tr = SavedModelTranslator(sys.argv[1], workers=int(os.environ.get("W", 2)), beam_sizes=[int(sys.argv[3])])
tr.warm_up(int(sys.argv[3]))
print("loaded+warm", status(), file=sys.stderr)
if mode == "twice":
    print("released", release(), status(), file=sys.stderr)
t1 = time.perf_counter()
lines = open("/tmp/t3.en").read().splitlines()
out = list(tr.iter_translate(lines, int(sys.argv[3]), 64))
t2 = time.perf_counter()
open(f"/tmp/proto_{mode}_{sys.argv[3]}.out", "w").write("\n".join(out) + "\n")
print(f"{mode} beam {sys.argv[3]}: start-up {t1-t0:.2f} s, translate {t2-t1:.2f} s", status(), file=sys.stderr)
