"""Tagger parts (embedder, featurizer, model) and a tiny end-to-end pipeline run
whose SavedModel is reloaded in a fresh process."""

import json
import os
import shutil

import keras
import numpy as np
import pytest
import tensorflow as tf

import nlp_lstm
from nlp_lstm import cli
from nlp_lstm import config as config_lib
from nlp_lstm.data import batching
from nlp_lstm.data.batching import tagging_training_dataset
from nlp_lstm.export.runners import SavedModelTagger
from nlp_lstm.export.serving.reexport import export_run
from nlp_lstm.export.tagger import TaggerServing
from nlp_lstm.export.tflite.export import export_tflite
from nlp_lstm.export.tflite.runtime import TFLiteTagger
from nlp_lstm.layers.crf import CRF
from nlp_lstm.layers.encoder import StackedBidirectionalEncoder
from nlp_lstm.layers.word_embedding import WordEmbedder
from nlp_lstm.models.tagger import Tagger
from nlp_lstm.pipelines import tagging
from nlp_lstm.text import words
from tests.helpers import REPO_ROOT, run_in_fresh_process
from tests.test_case import TestCase

CHECKS = TestCase()

FEATURES = {
    "word_ids": np.array([[2, 3, 1, 0], [4, 0, 0, 0]], "int32"),
    "char_ids": np.random.default_rng(0).integers(0, 6, (2, 4, 5)).astype("int32"),
    "casing_ids": np.array([[1, 2, 3, 0], [4, 0, 0, 0]], "int32"),
}


@pytest.mark.parametrize("char_encoder", ["cnn", "lstm", "none"])
def test_word_embedder_serialization(char_encoder):
    embedder = WordEmbedder(8, 4, char_vocabulary_size=6, char_encoder=char_encoder,
                            char_dim=3, char_units=2, num_casing=8, casing_dim=2)
    outputs = embedder(FEATURES)
    assert outputs.shape[-1] == embedder.output_dim
    CHECKS.run_serialization_test(embedder, lambda layer, _: layer(FEATURES), None)


def test_word_embedder_char_features_ignore_padding():
    embedder = WordEmbedder(8, 4, char_vocabulary_size=6, char_units=3)
    more_padding = np.pad(FEATURES["char_ids"], [(0, 0), (0, 0), (0, 3)])
    padded = dict(FEATURES, char_ids=more_padding)
    np.testing.assert_allclose(embedder(FEATURES), embedder(padded), atol=1e-6)


@pytest.mark.parametrize("head", ["softmax", "crf"])
def test_tagger_serialization_and_masking(head):
    crf = None
    if head == "crf":
        crf = CRF(5, allowed_start=[True, True, False, True, False])
    tagger = Tagger(
        WordEmbedder(8, 4, char_vocabulary_size=6, char_units=3, num_casing=8,
                     casing_dim=2),
        StackedBidirectionalEncoder(1, 3),
        num_tags=5,
        crf=crf,
    )
    tags = tagger.decode(FEATURES).numpy()
    assert (tags[FEATURES["word_ids"] == 0] == 0).all()
    if head == "crf":
        assert tags[0, 0] not in (2, 4)
    rebuilt = CHECKS.run_serialization_test(
        tagger, lambda model, _: (model(FEATURES), model.decode(FEATURES)), None
    )
    assert (rebuilt.crf is None) == (head == "softmax")
    loss, count = tagger.tag_loss(FEATURES, np.zeros((2, 4), "int32"))
    assert float(count) == 4.0 and np.isfinite(float(loss))
    with pytest.raises(ValueError, match="crf.num_tags must equal num_tags 4"):
        Tagger(tagger.embedder, tagger.encoder, num_tags=4, crf=CRF(5))


def test_featurizer_never_fails_on_unknown_words_and_characters():
    vocabulary = words.WordVocabulary.build(
        [["The", "cat", "sat"], ["the", "Cat", "2024"], ["1999"]], min_frequency=2
    )
    assert vocabulary.words == ["0000", "cat", "the"]
    chars = words.CharVocabulary.build([["ab"]], max_word_chars=3)
    featurizer = words.TokenFeaturizer(vocabulary, chars)
    features = featurizer(tf.constant([["THE", "dog", "1987", "😀中文", ""]]))
    assert features["word_ids"].numpy().tolist() == [[4, 1, 2, 1, 0]]
    assert features["char_ids"].shape == (1, 5, 3)
    assert features["char_ids"].numpy()[0, 3].tolist() == [1, 1, 1]
    casing = [words.CASING[i] for i in features["casing_ids"].numpy()[0]]
    assert casing == ["upper", "lower", "numeric", "other", "pad"]


def test_featurizer_char_ids_are_each_words_first_characters():
    # Rows of different lengths, words longer than the maximum, characters
    # outside the vocabulary and a byte that is not UTF-8 (read as U+FFFD).
    chars = words.CharVocabulary.build([["abcé"]], max_word_chars=4)
    featurizer = words.TokenFeaturizer(words.WordVocabulary.build([["a"]]), chars)
    tokens = [[b"abcabcab", "é".encode(), b"xa"], [b"bad\xff", b"", b""]]
    features = featurizer(tf.constant(tokens))
    ids = {c: i + 2 for i, c in enumerate(chars.chars)}

    def char_ids(token):
        first = [ids.get(c, 1) for c in token.decode("utf-8", "replace")[:4]]
        return first + [0] * (4 - len(first))

    expected = [[char_ids(token) for token in row] for row in tokens]
    assert features["char_ids"].numpy().tolist() == expected
    assert expected[0][0] == [2, 3, 4, 2] and expected[1][0][3] == 1


def test_tokenizers():
    sentences = tf.constant(["Hello, world!", "", "  two  words "])
    whitespace = words.tokenize(sentences, "whitespace").to_list()
    assert whitespace == [[b"Hello,", b"world!"], [], [b"two", b"words"]]
    script = words.tokenize(sentences, "unicode_script").to_list()
    assert script[0] == [b"Hello", b",", b"world", b"!"] and script[1] == []
    tokens, lengths, truncated = words.pad_tokens(words.tokenize(sentences[1:2]), 5)
    assert tokens.shape == (1, 1) and lengths.numpy().tolist() == [0]
    assert not truncated.numpy()[0]


@pytest.mark.parametrize("header", ["", "3 2\n"])
def test_pretrained_vectors(tmp_path, header):
    path = tmp_path / "vectors.txt"
    path.write_text(header + "The 1 2\ncat 3 4\nthe 9 9\nzebra 5 6\n", encoding="utf-8")
    vocabulary = words.WordVocabulary(["the", "cat", "dog"])
    matrix, found = words.load_pretrained_vectors(str(path), vocabulary, 2)
    assert found == 2
    np.testing.assert_array_equal(matrix[2], [1, 2])  # "The" lowercased, first wins
    np.testing.assert_array_equal(matrix[3], [3, 4])
    assert (matrix[0] == 0).all()
    with pytest.raises(ValueError, match="vectors.txt:.*word_dim"):
        words.load_pretrained_vectors(str(path), vocabulary, 3)


SENTENCES = [
    "Paris is the capital of France .",
    "",
    "unknownword xyzzy 😀 !",
    " ".join(["word"] * 10_000),
    "Barack Obama visited New York yesterday",
]

TINY = [
    "training.steps=30",
    "training.eval_every=30",
    "training.checkpoint_every=30",
    "data.max_examples=60",
    "data.batch_size=8",
    "model.embedder.word_dim=16",
    "model.embedder.char_dim=8",
    "model.embedder.char_units=8",
    "model.encoder.units=16",
    "model.encoder.num_layers=1",
    "export.max_tokens=64",
]


def tiny_config(tmp_path, name, extra=()):
    overrides = TINY + [
        f"run_dir={tmp_path / 'run'}",
        f"export.directory={tmp_path / 'saved_models'}",
        *extra,
    ]
    path = os.path.join("pipelines", "configs", name)
    return config_lib.load(config_lib.TaggingConfig, path, overrides)


def read_test_split(config):
    """The tokens and gold tags of the test sentences a run was scored on."""
    from nlp_lstm.data.conll import load_tagging_corpus

    test = load_tagging_corpus(config.data)[0]["test"]
    return [list(t) for t in test["tokens"]], [list(t) for t in test["tags"]]


def text(tensor):
    return [[t.decode("utf-8") for t in row] for row in tensor.numpy()]


FRESH_PROCESS = """
import json, sys
import tensorflow as tf
import tensorflow_text  # noqa: F401
loaded = tf.saved_model.load(sys.argv[1] if len(sys.argv) > 1 else {path!r})
assert not [m for m in sys.modules if m.startswith("nlp_lstm")], "imports"
def text(tensor):
    return [[t.decode("utf-8") for t in row] for row in tensor.numpy()]
sentences = tf.constant({sentences!r})
out = loaded.signatures["serving_default"](sentences=sentences)
tokens = loaded.signatures["tag_tokens"](tokens=tf.constant({tokens!r}))
print(json.dumps({{
    "tags": text(out["tags"]),
    "tokens": text(out["tokens"]),
    "lengths": out["lengths"].numpy().tolist(),
    "truncated": out["truncated"].numpy().tolist(),
    "token_tags": text(tokens["tags"]),
}}))
"""


def test_entity_pipeline_exports_a_savedmodel_that_reloads_in_a_fresh_process(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(REPO_ROOT)
    # A copy of the corpus: the end of the test moves it away.
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    splits = {"train": "wnut17train.conll", "dev": "emerging.dev.conll",
              "test": "emerging.test.annotated"}
    for name in splits.values():
        shutil.copyfile(os.path.join("data", "wnut17", name), corpus / name)
    config = tiny_config(
        tmp_path, "tagging_wnut17.yaml",
        [f"data.{split}={corpus / name}" for split, name in splits.items()],
    )
    report = tagging.run(config, verbose=0)
    trained = nlp_lstm.load(str(tmp_path / "run"))

    saved = json.loads((tmp_path / "run" / "report.json").read_text())
    assert saved["export_path"] == report["export_path"]
    for key in ("f1", "per_type", "export_path", "train_seconds"):
        assert key in saved, key
    assert 0.0 <= saved["f1"] <= 100.0 and saved["train_seconds"] > 0
    assert saved["scheme"] == "bioes" and saved["steps"] == 30
    model_dir = tmp_path / "saved_models" / "tagger_wnut17"
    assert report["export_path"] == str(model_dir / "1")

    serving = TaggerServing.from_bundle(trained)
    expected = serving.serve(tf.constant(SENTENCES))
    pre_tokenized = [["Paris", "is", "nice", ""], ["a", "b", "c", "d"]]
    expected_tokens = serving.tag_tokens(tf.constant(pre_tokenized))
    output = run_in_fresh_process(
        FRESH_PROCESS.format(
            path=report["export_path"], sentences=SENTENCES, tokens=pre_tokenized
        )
    )
    reloaded = json.loads(output.strip().splitlines()[-1])
    assert reloaded["tags"] == text(expected["tags"])
    assert reloaded["token_tags"] == text(expected_tokens["tags"])
    assert reloaded["lengths"] == [7, 0, 4, 64, 6]
    assert reloaded["truncated"] == [False, False, False, True, False]
    assert reloaded["tokens"][0][:7] == SENTENCES[0].split()
    assert all(tag == "" for tag in reloaded["tags"][1])
    assert all(tag in trained.tag_vocabulary.tags for tag in reloaded["tags"][0][:7])

    # The runner, on the model folder (highest version).
    tagger = SavedModelTagger(str(model_dir))
    assert tagger.path == report["export_path"]
    metadata = tagger.metadata
    assert metadata["scheme"] == "bioes" and metadata["max_tokens"] == 64
    rows = tagger.tag(SENTENCES[:3], batch_size=2)
    assert [len(row["tags"]) for row in rows] == [7, 0, 4]
    assert rows[0]["tags"] == reloaded["tags"][0][:7]
    assert rows[0]["tokens"] == SENTENCES[0].split()
    (row,) = tagger.tag_tokens([["Paris", "is", "nice"]])
    assert row["tags"] == reloaded["token_tags"][0][:3]
    # Batches sorted by length, two at once: each sentence's row, in input
    # order, as when it is tagged alone.
    mixed = [SENTENCES[index] for index in (0, 2, 1, 4, 0, 2, 4, 1)]
    alone = [tagger.tag([sentence], batch_size=1)[0] for sentence in mixed]
    two = SavedModelTagger(str(model_dir), workers=2)
    assert two.tag(mixed, batch_size=3) == alone
    tokens = [row["tokens"] for row in alone]
    assert two.tag_tokens(tokens, batch_size=3) == [
        tagger.tag_tokens([sentence_tokens])[0] for sentence_tokens in tokens
    ]
    # One signature loaded (what `nlp-lstm tag` does): the same rows; the
    # other signature is refused, naming the fix.
    raw = SavedModelTagger(str(model_dir), pretokenized=False)
    assert sorted(raw._loaded.signatures) == ["serving_default"]
    assert raw.tag(mixed, batch_size=3) == alone
    with pytest.raises(ValueError, match="pass pretokenized=None"):
        raw.tag_tokens(tokens)
    pretokenized = SavedModelTagger(str(model_dir), pretokenized=True)
    assert sorted(pretokenized._loaded.signatures) == ["tag_tokens"]
    assert pretokenized.tag_tokens(tokens, batch_size=3) == two.tag_tokens(tokens, 3)

    # `nlp-lstm evaluate` picks the tagger path from the metadata.
    data = tmp_path / "gold.conll"
    data.write_text("Paris\tB-location\nis\tO\n\nBob\tI-person\n", encoding="utf-8")
    args = ["evaluate", "--model", report["export_path"], "--data", str(data),
            "--batch-size", "8"]
    for format_flag in ("--data-format", "--format"):  # --format: deprecated
        capsys.readouterr()
        assert cli.main(args + [format_flag, "conll"]) == 0
        captured = capsys.readouterr()
        scores = json.loads(captured.out)
        assert scores["sentences"] == 2 and scores["repaired_tags"] == 1
        assert {"f1", "precision", "recall", "per_type", "accuracy"} <= set(scores)
    assert "--format is deprecated; use --data-format" in captured.err
    with pytest.raises(SystemExit, match="--source is a flag of translation models"):
        cli.main(args + ["--source", str(data)])

    # The model card: `evaluate`'s scores on the same test sentences, per
    # type as the report; the slices cover the test set; a confusion matrix.
    card = json.loads((tmp_path / "run" / "card.json").read_text())
    overall = card["evaluation"]["slices"]["overall"]
    assert overall["f1"] == saved["f1"] and overall["accuracy"] == saved["accuracy"]
    families = card["evaluation"]["slices"]["slices"]
    by_type = {row["slice"]: row for row in families["type"]}
    assert {name: row["f1"] for name, row in by_type.items()} == {
        name: row["f1"] for name, row in saved["per_type"].items()
    }
    test_file = tmp_path / "test.conll"
    with open(test_file, "w", encoding="utf-8") as stream:
        for tokens, tags in zip(*read_test_split(config), strict=True):
            stream.writelines(f"{t}\t{g}\n" for t, g in zip(tokens, tags, strict=True))
            stream.write("\n")
    capsys.readouterr()
    assert cli.main(["evaluate", "--model", str(tmp_path / "run"), "--data",
                     str(test_file)]) == 0
    scores = json.loads(capsys.readouterr().out)
    assert (scores["f1"], scores["accuracy"]) == (overall["f1"], overall["accuracy"])
    assert scores["sentences"] == saved["test_sentences"] == 60
    assert sum(row["sentences"] for row in families["sentence_length"]) == 60
    assert sum(row["tokens"] for row in families["vocabulary"]) == overall["tokens"]
    assert sorted(os.path.basename(p) for p in report["plots"]) == [
        "confusion.png", "training.png"
    ]
    before_card = json.loads((tmp_path / "run" / "card.json").read_text())

    # The run folder is a bundle: without its corpus, from another working
    # directory, it re-exports (SavedModel from the run folder, TFLite from
    # the SavedModel's own bundle) with the outputs of the first exports.
    before = export_tflite(str(tmp_path / "run"), str(tmp_path / "before.tflite"))
    shutil.move(str(corpus), str(tmp_path / "moved_away"))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    again = export_run(str(tmp_path / "run"))
    # Version 1 was checked in a fresh process above; its re-export is
    # compared with it here.
    versions = [tf.saved_model.load(p).signatures["serving_default"]
                for p in (report["export_path"], again)]
    outputs = [v(sentences=tf.constant(SENTENCES[:3])) for v in versions]
    assert text(outputs[1]["tags"]) == text(outputs[0]["tags"])
    for row, tags, length in zip(
        nlp_lstm.load(str(tmp_path / "run")).tag(SENTENCES[:3]),
        text(outputs[0]["tags"]), outputs[0]["lengths"].numpy(), strict=True,
    ):
        assert row["tags"] == tags[:length]
    after = export_tflite(report["export_path"], str(tmp_path / "after.tflite"))
    assert TFLiteTagger(after).tag(SENTENCES[:3]) == TFLiteTagger(before).tag(
        SENTENCES[:3]
    )
    # The first file's card measured it on the test set; the second could not.
    cards = [json.loads((tmp_path / f"{name}.card.json").read_text())
             for name in ("before", "after")]
    change = cards[0]["export"]["quality_change"]
    assert change["measured"] and change["metric"] == "f1"
    assert change["reference"] == before_card["evaluation"]["scores"]["f1"]
    assert abs(change["change"]) <= 2.0  # float32: the same model
    assert "is not on this machine" in cards[1]["export"]["quality_change"]["reason"]


def test_pos_pipeline_reports_accuracy(tmp_path, monkeypatch):
    monkeypatch.chdir(REPO_ROOT)
    config = tiny_config(
        tmp_path, "tagging_ud_ewt_upos.yaml",
        ["training.steps=10", "training.eval_every=10", "export.enabled=false"],
    )
    report = tagging.run(config, verbose=0)
    assert report["task"] == "pos" and "f1" not in report
    assert 0.0 < report["accuracy"] <= 100.0
    assert "NOUN" in report["per_type"] and report["export_path"] is None
    assert report["data"]["sentences"] == {"train": 60, "dev": 60, "test": 60}


def test_config_errors_name_the_key():
    with pytest.raises(config_lib.ConfigError, match="model.head must be one of"):
        config_lib.from_dict(config_lib.TaggingConfig, {"model": {"head": "mlp"}})
    with pytest.raises(config_lib.ConfigError, match="data.train: file not found"):
        config_lib.check_input_files(
            config_lib.from_dict(config_lib.TaggingConfig, {"data": {"train": "nope"}})
        )
    with pytest.raises(config_lib.ConfigError, match="is not computed for a POS"):
        config_lib.from_dict(
            config_lib.TaggingConfig,
            {"training": {"early_stopping_metric": "val_f1"},
             "data": {"scheme": "none", "train": __file__, "dev": __file__,
                      "test": __file__}},
        )


def test_keras_model_file_round_trip(tmp_path):
    tagger = Tagger(WordEmbedder(8, 4, char_encoder="none"),
                    StackedBidirectionalEncoder(1, 3), num_tags=3, crf=CRF(3))
    expected = tagger.decode(FEATURES)
    path = str(tmp_path / "tagger.keras")
    tagger.save(path)
    reloaded = keras.saving.load_model(path)
    np.testing.assert_array_equal(reloaded.decode(FEATURES), expected)


def test_word_dropout_trains_the_unknown_word_only_in_training():
    embedder = WordEmbedder(12, 4, char_encoder="none", word_dropout=0.5)
    word_ids = np.array([[2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0, 1]] * 50)
    inputs = {"word_ids": word_ids}
    table = np.asarray(embedder.word_embedding(np.arange(12)[None]))[0]
    trained = np.asarray(embedder(inputs, training=True))
    unknown = np.all(np.isclose(trained, table[words.UNK_ID]), axis=-1)
    # About half of the real words become [UNK]; padding and [UNK] stay as they are.
    assert 0.35 < unknown[:, :10].mean() < 0.65
    assert not unknown[:, 10].any() and unknown[:, 11].all()
    inferred = np.asarray(embedder(inputs, training=False))
    np.testing.assert_allclose(inferred[0], table[word_ids[0]], atol=1e-6)
    assert WordEmbedder.from_config(embedder.get_config()).word_dropout == 0.5
    with pytest.raises(ValueError, match="word_dropout must be in"):
        WordEmbedder(12, 4, char_encoder="none", word_dropout=1.0)


def test_singleton_dropout_replaces_only_the_rarest_words():
    # "a" 3 times, "b" twice, "c" and "d" once: the singletons are ids 4 and 5.
    vocabulary = words.WordVocabulary.build(
        [["a", "b", "c", "a"], ["a", "b", "d"]], min_frequency=1
    )
    assert vocabulary.words == ["a", "b", "c", "d"]
    assert vocabulary.counts == [3, 2, 1, 1]
    assert vocabulary.first_id_seen_at_most(1) == 4
    assert vocabulary.first_id_seen_at_most(2) == 3
    assert vocabulary.first_id_seen_at_most(3) == 2  # every word
    assert vocabulary.first_id_seen_at_most(0) == vocabulary.size == 6  # none
    with pytest.raises(ValueError, match="no training counts"):
        words.WordVocabulary(["a"]).first_id_seen_at_most(1)
    # What the pipeline gives the tagger: every known word, or the singletons.
    config = config_lib.TaggingConfig()
    assert tagging.word_dropout_from_id(config, vocabulary) == 2
    config.model.embedder.word_dropout_max_count = 1
    assert tagging.word_dropout_from_id(config, vocabulary) == 4
    embedder = WordEmbedder(6, 4, char_encoder="none", word_dropout=0.5,
                            word_dropout_from_id=4)
    word_ids = np.array([[2, 3, 4, 5, 0, 1]] * 200)
    table = np.asarray(embedder.word_embedding(np.arange(6)[None]))[0]
    trained = np.asarray(embedder({"word_ids": word_ids}, training=True))
    unknown = np.all(np.isclose(trained, table[words.UNK_ID]), axis=-1)
    assert not unknown[:, :2].any() and not unknown[:, 4].any()
    assert 0.4 < unknown[:, 2:4].mean() < 0.6
    config = WordEmbedder.from_config(embedder.get_config()).get_config()
    assert config["word_dropout_from_id"] == 4
    with pytest.raises(ValueError, match="word_dropout_from_id must be"):
        WordEmbedder(6, 4, char_encoder="none", word_dropout_from_id=1)


@pytest.mark.parametrize("longest", [60, 300])
def test_training_batches_group_one_length_and_keep_every_token(longest):
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, longest, 400)
    tokens = [[f"w{i}"] * int(n) for i, n in enumerate(lengths)]
    tags = [[1 + i % 3] * len(row) for i, row in enumerate(tokens)]
    dataset = tagging_training_dataset(tokens, tags, longest, 16, 1000, seed=1)
    batches = list(dataset.take(25))
    # Sentences of one length a batch; past `TAGGING_BUCKETS` tokens (here 300
    # tokens: buckets 3 wide), of lengths within one bucket.
    width = max(1, -(-int(lengths.max()) // batching.TAGGING_BUCKETS))
    assert width == (1 if longest == 60 else 3)
    for batch_tokens, batch_tags in batches:
        assert batch_tokens.shape == batch_tags.shape
        real_tokens = batch_tokens.numpy() != b""
        np.testing.assert_array_equal(real_tokens, batch_tags.numpy() > 0)
        # Each sentence is whole: its token count is one of the corpus lengths.
        batch_lengths = real_tokens.sum(axis=1)
        assert set(batch_lengths) <= set(lengths.tolist())
        assert len({n // width for n in batch_lengths}) == 1
        assert batch_tokens.shape[1] == batch_lengths.max()
