import sys, gzip, time
def rss():
    d = {}
    for line in open("/proc/self/status"):
        if line.startswith(("VmRSS", "RssAnon", "RssFile", "VmHWM")):
            k, v = line.split(":"); d[k] = int(v.split()[0]) // 1024
    return d
model, beam = sys.argv[1], int(sys.argv[2])
print("start", rss())
from nlp_lstm.export import runtime
runtime.choose_kernels(model)
runtime.import_runtime(); runtime.use_threads(2)
print("import", rss())
from nlp_lstm.export.runners import SavedModelTranslator
print("runners", rss())
t = SavedModelTranslator(model, workers=2, beam_sizes=[beam])
print("load", rss())
t.warm_up(beam)
print("first", rss())
src = [l.decode().rstrip("\n") for l in gzip.open("/work/shared/data/multi30k/test_2016_flickr.en.gz")]
t.translate(src * 3, beam_size=beam)
print("translated", rss())
