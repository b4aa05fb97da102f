"""A translator with a lexical shortlist: the bundle keeps it, the SavedModel
searches over it (reloaded in a fresh process, it translates as the Python
`TextTranslator` does), and the bundle inside the export carries it."""

import numpy as np
import pytest

from nlp_lstm import config as config_lib
from nlp_lstm.bundle import TranslatorBundle
from nlp_lstm.decoding.shortlist import build_shortlist
from nlp_lstm.export.bundles import bundle_of, export_saved_model
from nlp_lstm.export.serving.reexport import export_run
from nlp_lstm.models.translator import build_translator
from nlp_lstm.text import sentencepiece as sp
from tests.helpers import saved_model_outputs

SENTENCES = ["a man rides a horse", "two dogs play", "the cat sleeps",
             "a woman reads a book"]


def tiny_bundle(root, shortlist_size: int):
    corpus = root / "pairs.tsv"
    corpus.write_text("".join(f"{s}\t{s}\n" for s in SENTENCES * 30), "utf-8")
    tokenizer = sp.train_sentencepiece(SENTENCES * 30, vocab_size=300)
    config = config_lib.from_dict(
        config_lib.TranslationConfig,
        {"name": "tiny", "data": {"path": str(corpus), "dev_size": 10, "test_size": 10},
         "model": {"embedding_dim": 8, "encoder": {"units": 4},
                   "decoder": {"units": 8, "num_layers": 1}},
         "decoding": {"beam_size": 3, "shortlist": shortlist_size,
                      "shortlist_frequent": 2},
         "export": {"directory": str(root / "saved_models")}},
    )
    processor = sp.processor(tokenizer)
    vocab = processor.vocab_size()
    model = build_translator(config.model, vocab, vocab)
    pairs = [(ids, ids) for ids in processor.encode(SENTENCES)]
    shortlist = build_shortlist(pairs, vocab, shortlist_size, 2, sp.EOS_ID, True)
    return TranslatorBundle(
        config, model, {"source": tokenizer, "target": tokenizer},
        metadata={"samples": SENTENCES[:2]}, shortlist=shortlist,
    )


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    root = tmp_path_factory.mktemp("shortlist")
    bundle = tiny_bundle(root, shortlist_size=2)
    bundle.save(str(root / "run"))
    version = export_saved_model(bundle, run_dir=str(root / "run"))
    return root, bundle, version


def test_the_bundle_keeps_its_shortlist(exported):
    root, bundle, version = exported
    for path in (root / "run", version):  # the run folder, the export's copy
        loaded = bundle_of(str(path))
        np.testing.assert_array_equal(loaded.shortlist.table, bundle.shortlist.table)
        np.testing.assert_array_equal(
            loaded.shortlist.frequent, bundle.shortlist.frequent
        )
        assert loaded.shortlist.copy_source


def test_the_savedmodel_searches_over_the_shortlist(exported):
    root, bundle, version = exported
    inputs = {"name": "sources", "values": SENTENCES + ["horse horse dogs"]}
    (served,) = saved_model_outputs(inputs, [version])
    expected = bundle.translate(inputs["values"])
    assert served["translations"] == expected
    # The shortlist is in effect: the same weights over the whole vocabulary
    # translate otherwise (an untrained model's outputs are any pieces).
    whole = TranslatorBundle(bundle.config, bundle.model, bundle.tokenizers)
    assert whole.translate(inputs["values"]) != expected


def test_serving_export_estimates_a_shortlist_for_a_finished_run(tmp_path):
    bundle = tiny_bundle(tmp_path, shortlist_size=2)
    bundle.shortlist = None
    bundle.set_decoding(shortlist=0)
    bundle.save(str(tmp_path / "run"))
    version = export_run(str(tmp_path / "run"), shortlist=3, shortlist_frequent=1)
    exported = bundle_of(version)
    assert exported.config.decoding.shortlist == 3
    assert exported.config.decoding.shortlist_frequent == 1
    vocab = sp.processor(bundle.tokenizers["source"]).vocab_size()
    assert exported.shortlist.table.shape == (vocab, 3)
    # Estimated on the run's corpus, which pairs each sentence with itself:
    # a piece of "horse" translates as a piece of the one sentence it is in.
    processor = sp.processor(bundle.tokenizers["source"])
    sentence = set(processor.encode(SENTENCES[0]))
    for piece in processor.encode("horse"):
        assert exported.shortlist.table[piece, 0] in sentence
    assert bundle_of(str(tmp_path / "run")).shortlist is None  # the run is as it was
    (tmp_path / "pairs.tsv").unlink()
    with pytest.raises(ValueError, match="pass --shortlist N with it"):
        export_run(str(tmp_path / "run"), shortlist_frequent=5)
    with pytest.raises(FileNotFoundError, match="cannot estimate a shortlist"):
        export_run(str(tmp_path / "run"), shortlist=3)


def test_serving_export_shortlist_0_searches_the_whole_vocabulary(exported, tmp_path):
    root, bundle, version = exported
    whole = export_run(version, directory=str(tmp_path), shortlist=0)
    reloaded = bundle_of(whole)
    assert reloaded.shortlist is None and reloaded.config.decoding.shortlist == 0
    inputs = {"name": "sources", "values": SENTENCES}
    (served,) = saved_model_outputs(inputs, [whole])
    assert served["translations"] == TranslatorBundle(
        bundle.config, bundle.model, bundle.tokenizers
    ).translate(SENTENCES)


def table_shapes(version, vocab: int) -> list[list[int]]:
    """Shapes of the SavedModel's saved variables with `vocab` rows (or two
    for an encoder's two directions) and more than 8 columns: lookup tables
    (the embeddings are 8 wide)."""
    import os

    import tensorflow as tf

    shapes = [
        shape
        for _, shape in tf.train.list_variables(
            os.path.join(version, "variables", "variables")
        )
    ]
    return [
        s for s in shapes if len(s) == 2 and s[0] in (vocab, 2 * vocab) and s[1] > 8
    ]


def test_serving_export_lookup_tables_off_keeps_the_translations(exported, tmp_path):
    """`decoding.lookup_tables` (on by default): the decoder's (vocab, 4 x 8
    gates) and the encoder's (2 x vocab, 4 x 4 gates) tables are in the
    export, and not with `--lookup-tables off`; both translate the same in a
    fresh process."""
    root, bundle, version = exported
    vocab = sp.processor(bundle.tokenizers["source"]).vocab_size()
    assert sorted(table_shapes(version, vocab)) == [[vocab, 32], [2 * vocab, 16]]
    lean = export_run(version, directory=str(tmp_path), lookup_tables=False)
    assert bundle_of(lean).config.decoding.lookup_tables is False
    assert table_shapes(lean, vocab) == []
    inputs = {"name": "sources", "values": SENTENCES + ["horse horse dogs"]}
    with_tables, without = saved_model_outputs(inputs, [version, lean])
    assert without["translations"] == with_tables["translations"]
    assert without["translations"] == bundle.translate(inputs["values"])
