"""Truncated BPTT (`nlp_lstm.training.tbptt`): with K >= the sequence length
its gradients are full BPTT's; with a small K they equal a hand-written
reference (the Keras cells stepped one token at a time, the states passed
through `stop_gradient` at every chunk boundary); and a document-level run of
the tagging pipeline trains on whole CoNLL documents."""

import itertools
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from nlp_lstm import config as config_lib
from nlp_lstm.data.conll import join_documents, read_conll
from nlp_lstm.layers.crf import CRF
from nlp_lstm.layers.encoder import StackedBidirectionalEncoder
from nlp_lstm.layers.word_embedding import WordEmbedder
from nlp_lstm.models.tagger import Tagger
from nlp_lstm.text.words import PAD, CharVocabulary, TokenFeaturizer, WordVocabulary
from nlp_lstm.training.tbptt import TruncatedBPTT
from tests.helpers import REPO_ROOT

SENTENCES = [
    "the old man saw a dog in the park near the river bank".split(),
    "a cat sat on the mat".split(),
]
NUM_TAGS = 4


def tagger_and_batch(cell, head):
    keras.utils.set_random_seed(5)
    words = WordVocabulary.build(SENTENCES, min_frequency=1)
    chars = CharVocabulary.build(SENTENCES, max_word_chars=6)
    featurizer = TokenFeaturizer(words, chars)
    model = Tagger(
        WordEmbedder(
            words.size, 6, char_vocabulary_size=chars.size, char_units=3, char_dim=3
        ),
        StackedBidirectionalEncoder(2, 5, cell=cell, dropout=0.0),
        num_tags=NUM_TAGS,
        crf=CRF(NUM_TAGS) if head == "crf" else None,
    )
    model.build()
    width = max(len(s) for s in SENTENCES)
    tokens = tf.constant([s + [PAD] * (width - len(s)) for s in SENTENCES])
    rng = np.random.default_rng(1)
    tags = tf.constant(
        rng.integers(0, NUM_TAGS, size=(len(SENTENCES), width)), tf.int32
    )
    return model, featurizer, tokens, tags


def full_bptt(model, featurizer, tokens, tags):
    with tf.GradientTape() as tape:
        loss, count = model.tag_loss(featurizer(tokens), tags, training=True)
    return loss, count, tape.gradient(loss, model.trainable_variables)


def run_direction(cell, inputs, lengths, chunk, reverse):
    """One direction stepped token by token with the Keras cell; the state
    entering each chunk goes through `stop_gradient`."""
    batch, steps = inputs.shape[0], inputs.shape[1]
    size = 1 if isinstance(cell, keras.layers.GRUCell) else 2
    state = [tf.zeros((batch, cell.units))] * size
    outputs = [None] * steps
    order = range(steps - 1, -1, -1) if reverse else range(steps)
    for t in order:
        entering = (
            (t == steps - 1 or (t + 1) % chunk == 0) if reverse else t % chunk == 0
        )
        if entering:
            state = [tf.stop_gradient(s) for s in state]
        output, new = cell(inputs[:, t], state)
        new = list(new) if isinstance(new, list | tuple) else [new]
        real = (t < lengths)[:, None]
        state = [tf.where(real, n, s) for n, s in zip(new, state)]
        outputs[t] = tf.where(real, output, 0.0)
    return tf.stack(outputs, axis=1)


def reference_loss(model, featurizer, tokens, tags, chunk):
    """The truncated loss written out: the model's embedder, projection and
    head around a step-by-step encoder, each chunk's loss on its own."""
    features = featurizer(tokens)
    mask = model.mask(features)
    lengths = tf.reduce_sum(tf.cast(mask, tf.int32), axis=1)
    x = model.embedder(features, training=True)
    for index, layer in enumerate(model.encoder.rnn_layers):
        forward = run_direction(layer.forward_layer.cell, x, lengths, chunk, False)
        backward = run_direction(layer.backward_layer.cell, x, lengths, chunk, True)
        outputs = tf.concat([forward, backward], axis=-1)
        x = outputs + x if index > 0 else outputs
    scores = model.projection(x)
    total = tf.reduce_sum(tf.cast(mask, tf.float32))
    steps = int(mask.shape[1])
    nll = 0.0
    for start in range(0, steps, chunk):
        part = slice(start, start + chunk)
        if model.crf is None:
            losses = tf.nn.sparse_softmax_cross_entropy_with_logits(
                tags[:, part], scores[:, part]
            )
            nll += tf.reduce_sum(losses * tf.cast(mask[:, part], tf.float32))
        else:
            likelihood = model.crf.log_likelihood(
                scores[:, part], tags[:, part], mask[:, part]
            )
            real = tf.reduce_any(mask[:, part], axis=1)
            nll -= tf.reduce_sum(tf.where(real, likelihood, 0.0))
    return nll / total


# Every cell and every head; the other three pairs run with the slow tests.
DEFAULT_CASES = [("lstm", "crf"), ("peephole_lstm", "softmax"), ("gru", "crf")]
CASES = [
    case if case in DEFAULT_CASES else pytest.param(*case, marks=pytest.mark.slow)
    for case in itertools.product(["lstm", "peephole_lstm", "gru"], ["softmax", "crf"])
]


@pytest.mark.parametrize("cell, head", CASES)
def test_a_chunk_as_long_as_the_sequence_is_full_bptt(cell, head):
    model, featurizer, tokens, tags = tagger_and_batch(cell, head)
    expected_loss, expected_count, expected = full_bptt(model, featurizer, tokens, tags)
    for chunk in (tokens.shape[1], 50):
        loss, count, gradients = TruncatedBPTT(model, featurizer, chunk)((tokens, tags))
        np.testing.assert_allclose(loss, expected_loss, rtol=1e-6)
        assert float(count) == float(expected_count) == 19
        assert len(gradients) == len(expected)
        for gradient, reference in zip(gradients, expected):
            np.testing.assert_allclose(
                gradient, tf.convert_to_tensor(reference), atol=2e-6
            )


@pytest.mark.parametrize("cell, head", CASES)
def test_small_chunks_equal_the_hand_written_truncated_reference(cell, head):
    model, featurizer, tokens, tags = tagger_and_batch(cell, head)
    variables = model.trainable_variables
    _, _, full = full_bptt(model, featurizer, tokens, tags)
    for chunk in (3, 5):
        with tf.GradientTape() as tape:
            expected_loss = reference_loss(model, featurizer, tokens, tags, chunk)
        expected = tape.gradient(expected_loss, variables)
        loss, _, gradients = TruncatedBPTT(model, featurizer, chunk)((tokens, tags))
        np.testing.assert_allclose(loss, expected_loss, rtol=1e-5)
        for gradient, reference in zip(gradients, expected):
            np.testing.assert_allclose(
                gradient, tf.convert_to_tensor(reference), atol=1e-5
            )
        # Truncation changes the recurrent weights' gradients (the test can
        # tell full from truncated).
        recurrent = [i for i, v in enumerate(variables) if "recurrent" in v.path]
        assert any(
            not np.allclose(gradients[i], tf.convert_to_tensor(full[i]), atol=1e-4)
            for i in recurrent
        )


def test_chunks_cover_the_sequence():
    model, featurizer, _, _ = tagger_and_batch("lstm", "softmax")
    tbptt = TruncatedBPTT(model, featurizer, 4)
    assert tbptt.chunks(10) == [(0, 4), (4, 8), (8, 10)]
    assert tbptt.chunks(8) == [(0, 4), (4, 8)]
    with pytest.raises(ValueError, match="chunk must be a positive integer, got 0"):
        TruncatedBPTT(model, featurizer, 0)


def write_conll(path, documents):
    lines = []
    for document in documents:
        lines += ["-DOCSTART- -DOCSTART- O", ""]
        for sentence in document:
            lines += [f"{word} X {tag}" for word, tag in sentence] + [""]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_documents_join_the_sentences_between_docstart_lines(tmp_path):
    path = tmp_path / "docs.conll"
    write_conll(
        path,
        [
            [[("Jan", "B-PER"), ("zag", "O")], [("Piet", "B-PER")]],
            [[("in", "O"), ("Gent", "B-LOC")]],
        ],
    )
    documents = join_documents(read_conll(str(path)))
    assert [d.tokens for d in documents] == [["Jan", "zag", "Piet"], ["in", "Gent"]]
    assert [d.tags for d in documents] == [["B-PER", "O", "B-PER"], ["O", "B-LOC"]]
    assert documents[0].lines == [3, 4, 6]
    plain = tmp_path / "plain.conll"
    plain.write_text("Jan B-PER\nzag O\n", encoding="utf-8")
    with pytest.raises(ValueError, match="no -DOCSTART- lines.*documents: false"):
        join_documents(read_conll(str(plain)))


def test_config_rejects_documents_outside_conll_and_negative_chunks():
    with pytest.raises(config_lib.ConfigError, match="documents needs format: conll"):
        config_lib.load(
            config_lib.TaggingConfig,
            None,
            ["data.format=conllu", "data.documents=true"],
        )
    with pytest.raises(config_lib.ConfigError, match="tbptt.chunk"):
        config_lib.load(config_lib.TaggingConfig, None, ["training.tbptt.chunk=-1"])


NED = os.path.join(REPO_ROOT, "..", "shared", "data", "conll2002", "ned.train")


@pytest.mark.skipif(not os.path.exists(NED), reason="../shared/data is not here")
def test_document_level_pipeline_trains_with_tbptt(tmp_path):
    from nlp_lstm.pipelines import tagging

    # The first documents of CoNLL-2002 Dutch (read, not copied into the repo).
    with open(NED, encoding="utf-8") as stream:
        head = [next(stream) for _ in range(3000)]
    files = {}
    for split in ("train", "dev", "test"):
        files[split] = tmp_path / f"{split}.conll"
        files[split].write_text("".join(head), encoding="utf-8")
    os.chdir(REPO_ROOT)
    config = config_lib.load(
        config_lib.TaggingConfig,
        "pipelines/configs/tagging_conll2002_es.yaml",
        [
            *(f"data.{split}={path}" for split, path in files.items()),
            "data.documents=true",
            "data.max_length=4000",
            "data.batch_size=2",
            "training.tbptt.chunk=64",
            "training.steps=4",
            "training.eval_every=4",
            "training.checkpoint_every=4",
            "model.encoder.units=8",
            "model.embedder.word_dim=8",
            "model.embedder.char_units=4",
            "model.embedder.char_dim=4",
            "export.enabled=false",
            "card.plots=false",
            f"run_dir={tmp_path / 'run'}",
        ],
    )
    report = tagging.run(config, verbose=0)
    sentences = report["data"]["sentences"]
    documents = len(join_documents(read_conll(str(files["train"]))))
    assert sentences["train"] == documents > 1
    assert report["steps"] == 4 and np.isfinite(report["test_loss"])
    assert report["data"]["train_sentences_cut"] == 0
