"""One-off: export a run with other SOURCE_MULTIPLE / COLUMN_MULTIPLE."""
import sys
src_mult, col_mult, run, directory, precision = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
from nlp_lstm.decoding import translate, shortlist
d = list(translate.translate_ids.__defaults__)
names = translate.translate_ids.__code__.co_varnames[:translate.translate_ids.__code__.co_argcount]
idx = names.index("source_multiple") - (len(names) - len(d))
d[idx] = src_mult; translate.translate_ids.__defaults__ = tuple(d)
translate.SOURCE_MULTIPLE = src_mult
shortlist.padded_columns.__defaults__ = (col_mult,)
shortlist.COLUMN_MULTIPLE = col_mult
from nlp_lstm.cli import main
sys.exit(main(["serving", "export", run, "--directory", directory, "--precision", precision]))
