"""SentencePiece training (Python library) and in-graph tokenization (tf-text).

Every model trained here reserves the same ids, so that the model code can rely
on them: pad 0, unk 1, bos 2, eos 3.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
from collections.abc import Iterable

import sentencepiece as spm
import tensorflow as tf
import tensorflow_text as tf_text
from sentencepiece import sentencepiece_model_pb2
from tensorflow.python.trackable import resource
from tensorflow_text.python.ops.sentencepiece_tokenizer import (
    gen_sentencepiece_tokenizer as sentencepiece_ops,
)

from nlp_lstm.utils.files import atomic_write_bytes

PAD_ID = 0
UNK_ID = 1
BOS_ID = 2
EOS_ID = 3

# SentencePiece's NFKC normalization followed by case folding.
CASE_FOLDING_RULE = "nmt_nfkc_cf"


def train_sentencepiece(
    sentences: Iterable[str],
    vocab_size: int,
    model_type: str = "unigram",
    character_coverage: float = 1.0,
    byte_fallback: bool = True,
    max_sentences: int = 2_000_000,
    seed: int = 1234,
) -> bytes:
    """Trains a SentencePiece model in memory and returns its serialized bytes.

    Args:
        sentences: iterable of str. Raw training text, one sentence each.
        vocab_size: int. Size of the vocabulary, reserved ids included.
        model_type: str. `"unigram"` or `"bpe"`.
        character_coverage: float. Share of characters covered by the vocabulary.
        byte_fallback: bool. Spell characters outside the vocabulary as UTF-8 bytes
            rather than the unknown id, so that any text survives a round trip.
        max_sentences: int. Sample at most this many sentences for training.
        seed: int. Seed of SentencePiece's sampling, for reproducible models.

    Example:
    >>> model = train_sentencepiece(["a b c", "a b"] * 50, vocab_size=300)
    >>> isinstance(model, bytes)
    True
    """
    if vocab_size < 8:
        raise ValueError(f"vocab_size must be at least 8, got {vocab_size}")
    spm.set_random_generator_seed(seed)
    writer = io.BytesIO()
    try:
        _train(
            sentences,
            writer,
            vocab_size,
            model_type,
            character_coverage,
            byte_fallback,
            max_sentences,
        )
    except RuntimeError as error:
        raise _explain(error, vocab_size) from error
    return writer.getvalue()


def _train(
    sentences,
    writer,
    vocab_size,
    model_type,
    character_coverage,
    byte_fallback,
    max_sentences,
) -> None:
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(sentences),
        model_writer=writer,
        vocab_size=vocab_size,
        model_type=model_type,
        character_coverage=character_coverage,
        byte_fallback=byte_fallback,
        pad_id=PAD_ID,
        unk_id=UNK_ID,
        bos_id=BOS_ID,
        eos_id=EOS_ID,
        input_sentence_size=max_sentences,
        shuffle_input_sentence=True,
        hard_vocab_limit=False,
        num_threads=1,
        minloglevel=2,
    )


def _explain(error: RuntimeError, vocab_size: int) -> ValueError:
    """SentencePiece's training errors, with what to change in the config."""
    text = str(error)
    match = re.search(r"smaller than required_chars\. \d+ vs (\d+)", text)
    if match:
        needed = int(match.group(1))
        return ValueError(
            f"tokenizer.vocab_size {vocab_size} is too small for this corpus: its "
            f"characters, the byte-fallback pieces and special ids need {needed} ids. "
            "Raise "
            f"tokenizer.vocab_size to at least {needed}, or lower "
            "tokenizer.character_coverage (e.g. 0.9995) to leave rare characters "
            "to byte fallback."
        )
    if "Vocabulary size is too high" in text or "vocab_size" in text:
        return ValueError(
            f"The corpus is too small for tokenizer.vocab_size {vocab_size} "
            f"({text.splitlines()[-1].strip()}): lower tokenizer.vocab_size or "
            "use more training sentences."
        )
    if "sentences_.empty()" in text or "Corpus is empty" in text:
        return ValueError(
            "SentencePiece got no training sentences: check the corpus path and "
            "columns (data.*), or that data.max_examples is not too small."
        )
    return ValueError(f"SentencePiece training failed: {text}")


def case_folded(texts: Iterable[str]) -> list[str]:
    """`texts` as a model with `with_case_folding` reads them (spaces kept
    where they are): what its vocabulary should be trained on."""
    normalizer = spm.SentencePieceNormalizer(
        rule_name=CASE_FOLDING_RULE,
        add_dummy_prefix=False,
        escape_whitespaces=False,
        remove_extra_whitespaces=False,
    )
    return [normalizer.normalize(text) for text in texts]


def with_case_folding(model_bytes: bytes) -> bytes:
    """The model with the same pieces and ids whose normalizer folds case
    (`CASE_FOLDING_RULE`) before it segments: the Python processor, the
    tf-text tokenizers and the TFLite op all read the rule from the model.

    Example:
    >>> model = train_sentencepiece(["a b c", "a b"] * 50, vocab_size=300)
    >>> folding = processor(with_case_folding(model))
    >>> folding.encode("A B") == processor(model).encode("a b")
    True
    """
    proto = sentencepiece_model_pb2.ModelProto()
    proto.ParseFromString(model_bytes)
    rule = sentencepiece_model_pb2.NormalizerSpec()
    rule.ParseFromString(
        spm.SentencePieceNormalizer(rule_name=CASE_FOLDING_RULE)
        .serialized_normalizer_spec()
    )
    # Only the mapping changes; the model's own space handling stays.
    proto.normalizer_spec.name = rule.name
    proto.normalizer_spec.precompiled_charsmap = rule.precompiled_charsmap
    return proto.SerializeToString()


def folds_case(model_bytes: bytes) -> bool:
    """Whether the model's normalizer is `CASE_FOLDING_RULE`."""
    proto = sentencepiece_model_pb2.ModelProto()
    proto.ParseFromString(model_bytes)
    return proto.normalizer_spec.name == CASE_FOLDING_RULE


def save_model(model_bytes: bytes, path: str) -> str:
    """Writes a model file atomically (a crash never leaves half a model)."""
    atomic_write_bytes(path, model_bytes)
    return path


def load_model(path: str) -> bytes:
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"SentencePiece model not found: {path}. Train one with the pipeline first."
        )
    with open(path, "rb") as stream:
        return stream.read()


def processor(model_bytes: bytes) -> spm.SentencePieceProcessor:
    """A Python SentencePiece processor for offline encoding of corpora."""
    return spm.SentencePieceProcessor(model_proto=model_bytes)


def sample_ids(processor: spm.SentencePieceProcessor, texts: Iterable[str],
               alpha: float, seed: int | None) -> list[list[int]]:
    """Ids of `texts`, each in a segmentation sampled from the model (subword
    regularization: a unigram model samples among all segmentations with
    smoothing `alpha`, a BPE model drops merges with probability `alpha`).

    Args:
        seed: seeds SentencePiece's (process-wide) generator first; None goes
            on from where it is. One thread: the same seed, the same ids.
    """
    if seed is not None:
        spm.set_random_generator_seed(seed)
    return processor.encode(
        list(texts), enable_sampling=True, alpha=alpha, nbest_size=-1, num_threads=1
    )


def in_graph_tokenizer(model_bytes: bytes):
    """A `tensorflow_text.SentencepieceTokenizer` that runs inside TF graphs,
    its model a resource named after the model's SHA-256 (`_ModelResource`)."""
    tokenizer = tf_text.SentencepieceTokenizer(model=model_bytes, out_type=tf.int32)
    tokenizer._model_resource = _ModelResource(model_bytes)
    return tokenizer


class _ModelResource(resource.TrackableResource):
    """A SentencePiece model resource with a `shared_name` made of its bytes'
    SHA-256. tf-text's own is private to its kernel, unnamed, and two of them
    in one SavedModel (a translator's source and target models) came back from
    `tf.saved_model.load` as one: both tokenizers then used the same model
    (TF 2.21, tf-text 2.21; TF Serving's graph loader kept them apart). Named
    by content, equal models share one and different models never do."""

    def __init__(self, model_bytes: bytes):
        super().__init__()
        self._model = model_bytes
        self._shared_name = "sentencepiece_" + hashlib.sha256(model_bytes).hexdigest()
        _ = self.resource_handle  # Creates the resource now, as tf-text's does.

    def _create_resource(self):
        return sentencepiece_ops.sentencepiece_op(
            model=self._model, shared_name=self._shared_name
        )
