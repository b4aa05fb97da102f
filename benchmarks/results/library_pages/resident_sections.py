"""Which sections of TensorFlow's libraries are resident after a phase (pagemap's present bit)."""
import os, re, struct, subprocess, sys

def sections(path):
    out = subprocess.run(["readelf", "-SW", path], capture_output=True, text=True).stdout
    rows = []
    for line in out.splitlines():
        m = re.match(r'\s*\[\s*\d+\]\s+(\S+)\s+(\S+)\s+([0-9a-f]+)\s+([0-9a-f]+)\s+([0-9a-f]+)', line)
        if m and int(m.group(5), 16) > 0:
            rows.append((m.group(1), int(m.group(4), 16), int(m.group(5), 16)))
    return rows

def resident(lib):
    maps = [l.split() for l in open("/proc/self/maps") if lib in l]
    fd = os.open("/proc/self/pagemap", os.O_RDONLY)
    pages = {}  # file offset page -> present
    for m in maps:
        lo, hi = (int(x, 16) for x in m[0].split("-"))
        off = int(m[2], 16)
        n = (hi - lo) // 4096
        data = os.pread(fd, n * 8, lo // 4096 * 8)
        for i in range(n):
            (e,) = struct.unpack_from("<Q", data, i * 8)
            pages[off // 4096 + i] = bool(e >> 63)
    path = maps[0][5]
    res = []
    for name, off, size in sections(path):
        first, last = off // 4096, (off + size - 1) // 4096
        cnt = sum(pages.get(p, False) for p in range(first, last + 1))
        res.append((name, cnt * 4 / 1024, size / 2**20))
    return res

def report(tag):
    for lib in ("libtensorflow_cc.so", "libtensorflow_framework.so"):
        rows = resident(lib)
        tot = sum(r[1] for r in rows)
        print(f"{tag} {lib}: {tot:.0f} MB resident; " + ", ".join(f"{n} {r:.0f}/{s:.0f}" for n, r, s in rows if r >= 1))

from nlp_lstm.export import runtime
runtime.import_runtime()
report("after import")
if len(sys.argv) > 1:
    from nlp_lstm.export.runners import SavedModelTranslator
    t = SavedModelTranslator(sys.argv[1]) if True else None
    report("after load")
    print(t.translate(["A man in an orange hat starring at something."] * 4)[:1])
    report("after first call")
