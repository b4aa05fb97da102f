"""One-off: a bfloat16 export with the decoder's lookup table only (no encoder table)."""
import sys
from nlp_lstm.models.translator import Translator
original = Translator.decoding_weights
def decoder_table_only(self, transposed=True, input_tables=False):
    weights = original(self, transposed, input_tables)
    if "encoder_table" in weights:
        weights["encoder_table"] = None
    return weights
Translator.decoding_weights = decoder_table_only
from nlp_lstm.export.serving.reexport import export_run
print(export_run(sys.argv[1], directory=sys.argv[2], precision="bfloat16", lookup_tables=True))
