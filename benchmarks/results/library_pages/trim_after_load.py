import ctypes, re, sys, os
libc = ctypes.CDLL("libc.so.6"); libc.malloc_trim.argtypes = [ctypes.c_size_t]
def st():
    s = open("/proc/self/status").read()
    return [int(re.search(k + r":\s+(\d+)", s).group(1)) >> 10 for k in ("VmRSS", "VmHWM")]
def heap():
    txt = open("/proc/self/smaps").read()
    m = re.search(r"\[heap\]\n(?:.*\n)*?Rss:\s+(\d+)", txt)
    return int(m.group(1)) >> 10
from nlp_lstm.utils import heap as H, pages
H.limit_arenas(2)
from nlp_lstm.export import runtime
runtime.choose_kernels(sys.argv[1])
runtime.import_runtime(release_pages=True)
print("import", st(), "heap", heap())
from nlp_lstm.export.runners import SavedModelTranslator
runtime.use_threads(2)
t = SavedModelTranslator(sys.argv[1], workers=2, beam_sizes=[int(sys.argv[2])])
t.warm_up(int(sys.argv[2])); pages.release_file_pages()
print("warm", st(), "heap", heap())
if sys.argv[3] == "trim":
    libc.malloc_trim(0)
    print("trimmed", st(), "heap", heap())
out = list(t.iter_translate(open("/tmp/t3.en").read().splitlines(), int(sys.argv[2]), 64))
print("end", st(), "heap", heap())
