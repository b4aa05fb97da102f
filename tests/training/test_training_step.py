"""The training step with the batch split into towers computes the whole
batch's loss and gradients."""

import keras
import numpy as np
import tensorflow as tf

from nlp_lstm.config import DecoderConfig, EncoderConfig, TranslatorModelConfig
from nlp_lstm.models.translator import build_translator
from nlp_lstm.training.losses import translator_loss
from nlp_lstm.training.trainer import make_train_step, split_batch


def tiny_translator():
    keras.utils.set_random_seed(3)
    config = TranslatorModelConfig(
        embedding_dim=8,
        encoder=EncoderConfig(num_layers=2, units=4, dropout=0.0),
        decoder=DecoderConfig(num_layers=2, units=6, dropout=0.0),
    )
    return build_translator(config, 30, 30)


def batch_of(size: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    source = rng.integers(4, 30, (size, 5)).astype("int32")
    target = rng.integers(4, 30, (size, 7)).astype("int32")
    source[0, 3:] = 0  # padding
    target[-1, 4:] = 0
    target_in, target_out = tf.constant(target[:, :-1]), tf.constant(target[:, 1:])
    return (tf.constant(source), target_in), target_out


def test_split_batch_keeps_every_row_in_order():
    batch = batch_of(5)
    parts = split_batch(batch, 2)
    assert [int(p[1].shape[0]) for p in parts] == [3, 2]
    joined = tf.nest.map_structure(lambda *xs: tf.concat(xs, 0), *parts)
    for a, b in zip(tf.nest.flatten(joined), tf.nest.flatten(batch)):
        np.testing.assert_array_equal(a, b)


def test_towers_give_the_whole_batch_loss_and_update():
    # Batches of 1 (one tower gets no row), 2 and 5 (uneven slices), each
    # from the same initial weights; one step function per tower count (its
    # traces are most of the test's time).
    sizes = (1, 2, 5)
    results = {}
    for towers in (1, 2):
        model = tiny_translator()
        initial = model.get_weights()
        optimizer = keras.optimizers.SGD(learning_rate=0.5)
        step = make_train_step(model, optimizer, translator_loss(0.1), towers=towers)
        for size in sizes:
            model.set_weights(initial)
            loss, tokens = step(batch_of(size))
            results[towers, size] = (
                (float(loss), float(tokens)),
                [v.numpy() for v in model.trainable_variables],
            )
    initial = [v.numpy() for v in tiny_translator().trainable_variables]
    for size in sizes:
        (one_loss, one_weights), (two_loss, two_weights) = (
            results[1, size], results[2, size]
        )
        assert one_loss[1] == two_loss[1] > 0, size
        np.testing.assert_allclose(one_loss[0], two_loss[0], rtol=1e-5)
        for one, two in zip(one_weights, two_weights, strict=True):
            np.testing.assert_allclose(one, two, atol=1e-5)
        assert sum(int(np.any(a != b)) for a, b in zip(one_weights, initial)) > 0




def test_a_batch_spec_traces_the_step_once_with_the_same_updates():
    # The trainer passes its dataset's `element_spec`: one shape-generic trace
    # for every batch, where `reduce_retracing` traces twice; same updates.
    spec = tf.nest.map_structure(
        lambda t: tf.TensorSpec([None, None], t.dtype), batch_of(2)
    )
    batches = [batch_of(2), batch_of(5, seed=1)]
    results = {}
    for batch_spec in (None, spec):
        model = tiny_translator()
        optimizer = keras.optimizers.SGD(learning_rate=0.5)
        step = make_train_step(model, optimizer, translator_loss(0.1), towers=1,
                               batch_spec=batch_spec)
        losses = [float(step(batch)[0]) for batch in batches]
        results[batch_spec is None] = (
            step.experimental_get_tracing_count(), losses,
            [v.numpy() for v in model.trainable_variables],
        )
    (traces, losses, weights), (generic_traces, generic_losses, generic_weights) = (
        results[False], results[True]
    )
    assert (traces, generic_traces) == (1, 2)
    np.testing.assert_allclose(losses, generic_losses, rtol=1e-6)
    for a, b in zip(weights, generic_weights):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def ordered_stateful_ops(graph) -> list[str]:
    """Stateful ops of `graph` that touch no resource: a `tf.function` runs
    them in program order (automatic control dependencies), so one in each
    tower's forward pass chains the towers one after the other."""
    return [
        f"{op.type} {op.name}"
        for op in graph.get_operations()
        if op._is_stateful and not any(t.dtype == tf.resource for t in op.inputs)
        and op.type not in ("VarHandleOp", "HashTableV2", "Const")
    ]


def test_the_towers_of_a_step_do_not_wait_for_each_other():
    # A tagger on strings (the featurizer in the step: chars cut to the
    # vocabulary's maximum) and the translator's loss without label
    # smoothing; before, each tower's run-time shape assertions (ragged
    # slicing, sparse cross-entropy over 3-d logits) waited for the previous
    # tower's last one.
    from nlp_lstm.config import TaggerModelConfig, WordEmbedderConfig
    from nlp_lstm.models.tagger import build_tagger
    from nlp_lstm.text.tags import TagVocabulary
    from nlp_lstm.text.words import CharVocabulary, TokenFeaturizer, WordVocabulary
    from nlp_lstm.training.losses import tagger_loss
    from nlp_lstm.training.trainer import make_gradient_fn

    sentences = [["the", "extraordinarily", "cat"], ["a", "dog"]]
    featurizer = TokenFeaturizer(
        WordVocabulary.build(sentences, min_frequency=1),
        CharVocabulary.build(sentences, max_word_chars=4),
    )
    tokens = tf.constant([["the", "extraordinarily", "cat"], ["a", "dog", ""]])
    tags = tf.constant([[1, 2, 1], [2, 1, 0]])
    graphs = {}
    for head in ("softmax", "crf"):
        tagger = build_tagger(
            TaggerModelConfig(
                embedder=WordEmbedderConfig(word_dim=4, char_dim=3, char_units=3),
                encoder=EncoderConfig(num_layers=1, units=3, dropout=0.2),
                head=head,
            ),
            TagVocabulary.build([["B-PER", "O"]], scheme="iob2"),
            featurizer.words.size,
            featurizer.chars.size,
        )
        step = tf.function(make_gradient_fn(tagger, tagger_loss(featurizer), 2))
        graphs[f"tagger, {head}"] = step.get_concrete_function((tokens, tags)).graph
    step = tf.function(make_gradient_fn(tiny_translator(), translator_loss(0.0), 2))
    graphs["translator"] = step.get_concrete_function(batch_of(4)).graph
    # A sampled softmax draws its columns with a stateless op.
    step = tf.function(make_gradient_fn(tiny_translator(), translator_loss(0.1, 8), 2))
    sampled = step.get_concrete_function(batch_of(4)).graph
    graphs["translator, sampled softmax"] = sampled
    for name, graph in graphs.items():
        # Two towers: two calls of the tagger, of the translator's encoder
        # (its loss calls `attentional`, which opens no scope of its own).
        scopes = {op.name.split("/")[0] for op in graph.get_operations()}
        marker = "encoder" if name.startswith("translator") else "tagger"
        assert len([s for s in scopes if s.startswith(marker)]) == 2, (name, scopes)
        assert ordered_stateful_ops(graph) == [], name
