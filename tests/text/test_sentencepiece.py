"""SentencePiece: reserved ids, in-graph == Python, round trips, determinism."""

import numpy as np
import tensorflow as tf

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
