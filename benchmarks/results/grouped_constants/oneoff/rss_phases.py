import sys, gzip, time
def rss():
    d = {}
    for line in open("/proc/self/status"):
        if line.startswith(("VmRSS", "RssAnon", "RssFile", "VmHWM")):
            k, v = line.split(":"); d[k] = int(v.split()[0]) // 1024
    return d
model, beam = sys.argv[1], int(sys.argv[2])
from nlp_lstm.cli import common
from nlp_lstm.utils import pages
import os; W = int(os.environ.get("WORKERS", 2)); common.start_runtime(model, W)
print("import", rss())
from nlp_lstm.export.runners import SavedModelTranslator
t = SavedModelTranslator(model, workers=W, beam_sizes=[beam])
print("load", rss())
t.warm_up(beam)
pages.release_file_pages()
print("first", rss())
src = [l.decode().rstrip("\n") for l in gzip.open("/work/shared/data/multi30k/test_2016_flickr.en.gz")]
t.translate(src * 3, beam_size=beam)
print("translated", rss())
t.translate(src * 3, beam_size=beam)
print("translated", rss())
