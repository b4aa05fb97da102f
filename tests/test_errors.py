"""Clear errors: one test per error class, each checking that the message names
the key, file or line and says what to change. (Further config and CoNLL cases
are in test_config.py and test_conll.py.)"""

import math
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

from nlp_lstm import config as config_lib
from nlp_lstm.config import ConfigError, MemoryRiskWarning
from nlp_lstm.data import conll, parallel
from nlp_lstm.text import sentencepiece as sp
from nlp_lstm.training import trainer
from tests.conftest import REPO_ROOT

TATOEBA = "pipelines/configs/translation_tatoeba_es_en.yaml"
UPOS = "pipelines/configs/tagging_ud_ewt_upos.yaml"
GIB = 2**30


@pytest.fixture(autouse=True)
def _repo_root(monkeypatch):
    monkeypatch.chdir(REPO_ROOT)


def translation(*overrides):
    return config_lib.load(config_lib.TranslationConfig, TATOEBA, list(overrides))


def test_unknown_nested_key_suggests_the_closest():
    with pytest.raises(
        ConfigError,
        match=r"Unknown config key 'model\.embedder\.word_dimm'\. "
        r"Did you mean 'word_dim'\?",
    ):
        config_lib.load(config_lib.TaggingConfig, UPOS, ["model.embedder.word_dimm=3"])


def test_unknown_key_without_close_match_lists_the_valid_ones():
    with pytest.raises(ConfigError, match=r"Valid keys: .*beam_size.*length_penalty"):
        translation("decoding.zzz=1")


def test_wrong_type_says_the_expected_type():
    with pytest.raises(ConfigError, match=r"model\.share_embeddings must be true or"):
        translation("model.share_embeddings=maybe")
    with pytest.raises(ConfigError, match=r"data\.dev_size must be an integer, got"):
        translation("data.dev_size=1.5")


def test_section_given_a_value_says_it_needs_keys():
    with pytest.raises(ConfigError, match=r"training must be a mapping of keys"):
        translation("training=5")


def test_out_of_range_names_the_bound():
    with pytest.raises(ConfigError, match=r"data\.batch_size must be positive, got 0"):
        translation("data.batch_size=0")
    with pytest.raises(ConfigError, match=r"encoder\.dropout must be between 0.0"):
        config_lib.load(config_lib.TaggingConfig, UPOS, ["model.encoder.dropout=1.5"])


def test_missing_file_names_key_and_path():
    with pytest.raises(
        ConfigError, match=r"data\.train: file not found: nope\.conllu\. Point it"
    ):
        config_lib.load(config_lib.TaggingConfig, UPOS, ["data.train=nope.conllu"])


def test_invalid_yaml_names_the_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("training: {steps: 3\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml is not valid YAML"):
        config_lib.load(config_lib.TranslationConfig, str(path))


def test_vocabulary_below_byte_fallback_minimum():
    with pytest.raises(
        ConfigError, match=r"tokenizer\.vocab_size must be at least 300 \(256 byte"
    ):
        translation("tokenizer.vocab_size=100")


def test_vocabulary_too_small_for_the_corpus_says_how_large():
    sentences = ["".join(chr(0x4E00 + i + j) for j in range(5)) for i in range(200)]
    with pytest.raises(
        ValueError,
        match=r"tokenizer\.vocab_size 300 is too small for this corpus.*"
        r"Raise tokenizer\.vocab_size to at least \d+, or lower "
        r"tokenizer\.character_coverage",
    ):
        sp.train_sentencepiece(sentences, vocab_size=300)


def test_empty_tokenizer_corpus_says_what_to_check():
    with pytest.raises(ValueError, match=r"no training sentences: check the corpus"):
        sp.train_sentencepiece([], vocab_size=300)


def test_misaligned_corpus_names_file_and_line(tmp_path):
    source, target = tmp_path / "train.en", tmp_path / "train.de"
    source.write_text("a\nb\nc\n")
    target.write_text("x\ny\n")
    with pytest.raises(
        ValueError,
        match=rf"{source}:3: no matching line in {target}, which has 2 lines",
    ):
        parallel.read_aligned_files(str(source), str(target), parallel.SkipReport())


def test_bad_tsv_lines_are_reported_with_file_and_line(tmp_path):
    path = tmp_path / "pairs.tsv"
    path.write_bytes(b"a\tb\nno tab\n\xff\xfe\tx\n\tempty\n")
    report = parallel.SkipReport()
    pairs = parallel.read_tsv_pairs(str(path), 0, 1, report)
    assert pairs == {"source": ["a"], "target": ["b"]}
    assert report.as_dict()["first_lines"] == {
        "missing_tab": [f"{path}:2"],
        "invalid_utf8": [f"{path}:3"],
        "empty_side": [f"{path}:4"],
    }


def test_conll_invalid_utf8_names_file_and_line(tmp_path):
    path = tmp_path / "train.conll"
    path.write_bytes(b"Paris B-LOC\n\nBad \xff\xfe O\n")
    with pytest.raises(conll.BadLine, match=rf"{path}:3: invalid UTF-8.*convert"):
        list(conll.read_conll(str(path)))


def test_memory_warning_before_training_says_what_to_lower():
    config = translation("data.batch_size=512", "data.max_length=200")
    with pytest.warns(MemoryRiskWarning) as caught:
        message = config_lib.check_memory(config, available_bytes=4 * GIB)
    assert str(caught[0].message) == message
    assert "batch 512 x length 201 needs about" in message
    assert "4.0 GiB are available. Lower data.batch_size (about" in message
    assert "or data.max_length (now 200)" in message
    needed, _, _ = config_lib.estimate_training_memory(config)
    fits = int(message.split("(about ")[1].split()[0])
    assert fits < 512 and math.isclose(needed * fits / 512, 2 * GIB, rel_tol=0.01)
    tokens = translation("data.batch_tokens=200000", "data.max_length=200")
    with pytest.warns(MemoryRiskWarning, match=r"Lower data\.batch_tokens"):
        config_lib.check_memory(tokens, available_bytes=4 * GIB)


def test_no_memory_warning_for_the_bundled_configs():
    configs = [translation()] + [
        config_lib.load(config_lib.TaggingConfig, UPOS),
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for config in configs:
            assert config_lib.check_memory(config, available_bytes=8 * GIB) is None


def test_pipeline_warns_before_reading_the_corpus(monkeypatch, tmp_path):
    from nlp_lstm.pipelines import tagging
    from nlp_lstm.training import inputs

    class Stop(Exception):
        pass

    def stop(*args):
        raise Stop

    monkeypatch.setattr(inputs, "load_tagging_corpus", stop)
    monkeypatch.setattr(config_lib, "MEMORY_FRACTION", 1e-9)
    # Not the config's run folder in the repository (`runs/`, which a real run
    # may be using).
    config = config_lib.load(config_lib.TaggingConfig, UPOS, [f"run_dir={tmp_path}"])
    with pytest.warns(MemoryRiskWarning, match="Lower data.batch_size"):
        with pytest.raises(Stop):
            tagging.run(config, verbose=0)


def test_diverging_loss_says_what_to_lower(tmp_path):
    inputs = keras.Input((2,))
    model = keras.Model(inputs, keras.layers.Dense(1)(inputs))
    dataset = tf.data.Dataset.from_tensors(np.ones((4, 2), "float32")).repeat()

    def loss_fn(model, batch, training):
        return tf.reduce_sum(model(batch)) * np.float32("nan"), 4.0

    config = config_lib.TrainingConfig(steps=3, early_stopping_metric="none")
    with pytest.raises(
        FloatingPointError,
        match=r"loss became nan at step 1: lower training\.learning_rate",
    ):
        trainer.train(
            model,
            keras.optimizers.Adam(),
            loss_fn,
            dataset,
            lambda m: {},
            config,
            str(tmp_path),
            verbose=0,
        )
