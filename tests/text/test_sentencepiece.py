"""SentencePiece: reserved ids, in-graph == Python, round trips, determinism."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_text as tf_text

from nlp_lstm.data.batching import translation_dataset, translation_examples
from nlp_lstm.text import sentencepiece as sp

SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "El veloz murciélago hindú comía feliz cardillo y kiwi.",
    "Zwei junge Männer sind im Freien in der Nähe vieler Büsche.",
    "A little girl climbing into a wooden playhouse.",
] * 30


def model_bytes(**kwargs):
    return sp.train_sentencepiece(SENTENCES, vocab_size=400, **kwargs)


def test_reserved_ids():
    processor = sp.processor(model_bytes())
    assert processor.pad_id() == sp.PAD_ID == 0
    assert processor.unk_id() == sp.UNK_ID
    assert processor.bos_id() == sp.BOS_ID
    assert processor.eos_id() == sp.EOS_ID


def test_in_graph_tokenizer_matches_python_and_round_trips():
    model = model_bytes()
    processor = sp.processor(model)
    tokenizer = sp.in_graph_tokenizer(model)
    texts = SENTENCES[:4] + ["Übermäßig — 🙂 ñandú", "unseen words: qzx"]
    graph_ids = tokenizer.tokenize(tf.constant(texts)).to_list()
    assert graph_ids == processor.encode(texts)
    decoded = [
        t.decode() for t in tokenizer.detokenize(tf.ragged.constant(graph_ids)).numpy()
    ]
    assert decoded == texts  # byte fallback: every character survives


def test_case_folding_model_reads_every_case_alike_in_every_runtime():
    model = model_bytes()
    folding = sp.with_case_folding(model)
    assert sp.folds_case(folding) and not sp.folds_case(model)
    original, folded = sp.processor(model), sp.processor(folding)
    # The same pieces under the same ids: one embedding table serves both.
    assert [original.id_to_piece(i) for i in range(original.vocab_size())] == [
        folded.id_to_piece(i) for i in range(folded.vocab_size())
    ]
    texts = ["El VELOZ Murciélago HINDÚ", "ÜBERMÄSSIG Männer", "THE QUICK fox", ""]
    lower = [text.lower() for text in texts]
    expected = original.encode(lower)
    assert folded.encode(texts) == expected
    assert sp.case_folded(texts) == lower
    # tf-text's two tokenizers (the SavedModel's and the TFLite file's) read
    # the rule from the model as the Python processor does.
    graph = sp.in_graph_tokenizer(folding).tokenize(tf.constant(texts))
    assert graph.to_list() == expected
    fast = tf_text.FastSentencepieceTokenizer(folding).tokenize(tf.constant(texts))
    assert fast.to_list() == expected


class TwoTokenizers(tf.Module):
    """A translator's export in small: a source and a target tokenizer."""

    def __init__(self, source_model, target_model):
        super().__init__()
        self.source = sp.in_graph_tokenizer(source_model)
        self.target = sp.in_graph_tokenizer(target_model)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def tokenize(self, texts):
        return {
            "source": self.source.tokenize(texts).to_tensor(),
            "target": self.target.tokenize(texts).to_tensor(),
        }


def test_two_tokenizers_keep_their_models_through_a_saved_model(tmp_path):
    model = model_bytes()
    module = TwoTokenizers(sp.with_case_folding(model), model)
    texts = tf.constant(["THE QUICK brown FOX", "the quick brown fox"])
    expected = {name: ids.numpy() for name, ids in module.tokenize(texts).items()}
    # The two models differ on upper case only.
    assert (expected["source"][0] == expected["source"][1]).all()
    assert (expected["target"][0] != expected["target"][1]).any()
    tf.saved_model.save(
        module, str(tmp_path), signatures={"tokenize": module.tokenize}
    )
    loaded = tf.saved_model.load(str(tmp_path)).signatures["tokenize"]
    for name, ids in loaded(texts=texts).items():
        np.testing.assert_array_equal(ids.numpy(), expected[name])


def test_training_is_deterministic():
    assert model_bytes(seed=3) == model_bytes(seed=3)


def test_bpe_option():
    processor = sp.processor(model_bytes(model_type="bpe"))
    assert processor.vocab_size() <= 400
    assert processor.decode(processor.encode("a little girl")) == "a little girl"


def test_batches_are_padded_bucketed_and_shifted():
    sources = [[5, 6], [7, 8, 9, 10, 11], [12]]
    targets = [[13], [14, 15], [16, 17, 18]]
    src, tgt, dropped = translation_examples(sources, targets, max_length=5)
    assert dropped == 1  # the 5-token source is too long
    dataset = translation_dataset(src, tgt, batch_size=2, bucket_width=4, max_length=5)
    batches = list(dataset.as_numpy_iterator())
    rows = sorted(
        (s.tolist(), ti.tolist(), to.tolist())
        for (source, target_in), target_out in batches
        for s, ti, to in zip(source, target_in, target_out)
    )
    assert rows[0][0][:3] == [5, 6, sp.EOS_ID]
    assert rows[0][1][:2] == [sp.BOS_ID, 13] and rows[0][2][:2] == [13, sp.EOS_ID]
    for (source, target_in), target_out in batches:
        assert target_in.shape == target_out.shape
        assert np.all(source[:, -1] != -1)


@pytest.mark.parametrize("batch_tokens", [0, 60])
def test_training_batches_share_both_length_buckets(batch_tokens):
    """`pair_buckets`: every batch's sources share one bucket of lengths and
    its targets another (the longer side alone left short sources padded
    beside long ones), pairs stay whole, and with `batch_tokens` a batch is
    as many pairs as fit at the bucket's longer upper length."""
    rng = np.random.default_rng(0)
    sources = [list(rng.integers(5, 50, rng.integers(1, 12))) for _ in range(600)]
    targets = [list(rng.integers(5, 50, rng.integers(1, 12))) for _ in range(600)]
    src, tgt, _ = translation_examples(sources, targets, max_length=16)
    pairs = {(tuple(s), tuple(t)) for s, t in zip(src, tgt)}
    dataset = translation_dataset(
        src, tgt, batch_size=8, batch_tokens=batch_tokens, bucket_width=2,
        max_length=16, shuffle_buffer=600, seed=1, repeat=True, pair_buckets=True,
    )
    for (source, target_in), target_out in dataset.take(20).as_numpy_iterator():
        # Targets `[BOS] + ids + [EOS]`: the first input, then the outputs.
        target = np.concatenate([target_in[:, :1], target_out], axis=1)
        source_lengths = (source != 0).sum(axis=1)
        target_lengths = (target != 0).sum(axis=1)
        assert len(set(source_lengths // 2)) == 1
        assert len(set(target_lengths // 2)) == 1
        for s, t, n, m in zip(source, target, source_lengths, target_lengths):
            assert (tuple(s[:n]), tuple(t[:m])) in pairs
        longer = max(source_lengths[0] // 2, target_lengths[0] // 2)
        expected = batch_tokens // ((longer + 1) * 2) if batch_tokens else 8
        assert len(source) == expected


def test_training_dataset_buckets_both_lengths_where_the_config_says():
    from types import SimpleNamespace

    from nlp_lstm.config import TranslationDataConfig
    from nlp_lstm.data.batching import translation_training_dataset

    assert TranslationDataConfig.pair_buckets is False  # the default
    rng = np.random.default_rng(1)
    sources = [list(rng.integers(5, 50, rng.integers(1, 12))) for _ in range(300)]
    targets = [list(rng.integers(5, 50, rng.integers(1, 12))) for _ in range(300)]
    src, tgt, _ = translation_examples(sources, targets, max_length=16)

    def source_buckets(pair_buckets):
        data = SimpleNamespace(batch_size=8, batch_tokens=0, bucket_width=2,
                               max_length=16, shuffle_buffer=300,
                               pair_buckets=pair_buckets)
        config = SimpleNamespace(data=data, training=SimpleNamespace(seed=1))
        dataset = translation_training_dataset(config, src, tgt)
        return [
            len(set((source != 0).sum(axis=1) // 2))
            for (source, _), _ in dataset.take(10).as_numpy_iterator()
        ]

    assert source_buckets(True) == [1] * 10
    assert max(source_buckets(False)) > 1  # the longer side's buckets only


def test_sampled_segmentations_keep_the_text_and_follow_the_seed():
    processor = sp.processor(model_bytes())
    texts = SENTENCES[:4]
    best = processor.encode(texts)
    sampled = sp.sample_ids(processor, texts, 0.1, seed=5)
    assert sampled == sp.sample_ids(processor, texts, 0.1, seed=5)
    assert sampled != sp.sample_ids(processor, texts, 0.1, seed=6)
    assert sampled != best  # alpha 0.1: far from the best segmentation
    assert [processor.decode(ids) for ids in sampled] == texts
    # alpha 1 with all segmentations still samples, mostly the best one.
    mostly_best = sp.sample_ids(processor, texts, 1.0, 1)
    assert [processor.decode(ids) for ids in mostly_best] == texts


def test_each_pass_reads_one_segmentation_of_the_corpus():
    """Alternatives: the first pass is the corpus as given, shuffled, the
    second the alternative; each element keeps its own source and target."""
    sources = [[5 + index, 40] for index in range(12)]
    targets = [[100 + index] for index in range(12)]
    alternative = ([row + [41] for row in sources], [row + [101] for row in targets])
    src, tgt, _ = translation_examples(sources, targets, max_length=8)
    alt = translation_examples(*alternative, max_length=8)[:2]
    dataset = translation_dataset(
        src, tgt, batch_size=1, max_length=8, shuffle_buffer=100, seed=3,
        alternatives=[alt],
    )
    rows = [
        (tuple(source[0].tolist()), tuple(target_in[0][1:].tolist()))
        for (source, target_in), _ in dataset.as_numpy_iterator()
    ]
    first = [(tuple(s), tuple(t[1:-1])) for s, t in zip(src, tgt)]
    second = [(tuple(s), tuple(t[1:-1])) for s, t in zip(*alt)]
    assert sorted(rows[:12]) == sorted(first) and sorted(rows[12:]) == sorted(second)
    assert rows[:12] != first  # shuffled
    plain = translation_dataset(src, tgt, batch_size=1, max_length=8,
                                shuffle_buffer=100, seed=3)
    assert [row[0] for row in rows[:12]] == [
        tuple(source[0].tolist()) for (source, _), _ in plain.as_numpy_iterator()
    ]  # the first pass is what the corpus alone gives


def test_sampled_segmentations_of_a_split():
    from types import SimpleNamespace

    from nlp_lstm.data.batching import sampled_segmentations

    processor = sp.processor(model_bytes())
    data = {"source": SENTENCES[:4], "target": SENTENCES[1:5]}

    def config(alpha, seed=7):
        return SimpleNamespace(
            data=SimpleNamespace(
                sampling_alpha=alpha, sampling_copies=3, max_length=64
            ),
            training=SimpleNamespace(seed=seed),
        )

    assert sampled_segmentations(config(0.0), processor, processor, data) == []
    copies = sampled_segmentations(config(0.2), processor, processor, data)
    assert copies == sampled_segmentations(config(0.2), processor, processor, data)
    assert copies != sampled_segmentations(config(0.2, 8), processor, processor, data)
    assert len(copies) == 3 and copies[0] != copies[1]
    for sources, targets in copies:
        assert [processor.decode(row[:-1]) for row in sources] == data["source"]
        assert [processor.decode(row[1:-1]) for row in targets] == data["target"]


def test_lowercased_pairs_of_a_split():
    from types import SimpleNamespace

    from nlp_lstm.data.batching import lowercased_pairs

    processor = sp.processor(model_bytes())
    sources = [
        "The quick brown fox.", "already lower case", "El veloz Murciélago.",
        "Zwei junge Männer.", "A little girl.", "ÉCOLE Über",
    ]
    targets = [f"target {index}" for index in range(len(sources))]
    data = {"source": sources, "target": targets}

    def config(fraction, seed=7):
        return SimpleNamespace(
            data=SimpleNamespace(lowercase_sources=fraction, max_length=64),
            training=SimpleNamespace(seed=seed),
        )

    assert lowercased_pairs(config(0.0), processor, processor, data) == ([], [])
    added, added_targets = lowercased_pairs(config(0.5), processor, processor, data)
    assert len(added) == 3
    decoded = [processor.decode(row[:-1]) for row in added]
    pairs = {source.lower(): target for source, target in zip(sources, targets)}
    for source, target in zip(decoded, added_targets):
        # A source that has upper case, lower-cased (Unicode too), beside its
        # own target.
        assert source in pairs and source != "already lower case"
        assert processor.decode(target[1:-1]) == pairs[source]
    assert (added, added_targets) == lowercased_pairs(
        config(0.5), processor, processor, data
    )
    other_draws = {
        str(lowercased_pairs(config(0.5, seed), processor, processor, data)[0])
        for seed in range(8)
    }
    assert len(other_draws) > 1  # the seed chooses the pairs
    everything, _ = lowercased_pairs(config(1.0), processor, processor, data)
    # Never more than the sources that change.
    assert len(everything) == 5
