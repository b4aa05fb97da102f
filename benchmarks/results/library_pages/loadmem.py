import re, sys
def rss():
    s = open("/proc/self/status").read()
    return int(re.search(r"VmRSS:\s+(\d+)", s).group(1)) >> 10
from nlp_lstm.export import runtime
runtime.import_runtime(release_pages=True)
from nlp_lstm.export.runners import SavedModelTranslator
from nlp_lstm.utils import pages
a = rss()
t = SavedModelTranslator(sys.argv[1], workers=2, beam_sizes=[5])
pages.release_file_pages()
b = rss()
t.warm_up(5); d = rss(); t.warm_up(5); pages.release_file_pages()
c = rss()
print(sys.argv[1].split("/")[0], "before load", a, "loaded", b, "warm", d, "released", c)
