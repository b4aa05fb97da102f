"""SavedModel export of a translator: text in, text out, tokenization in-graph.

The exported graph only needs TensorFlow and tensorflow-text to load; it never
imports `nlp_lstm`. Signatures:

- `serving_default`: `sources` tf.string `(batch,)` -> `translations` tf.string
  `(batch,)` and `scores` float32 `(batch,)` (beam search, the configured size).
- `translate_greedy`: the same with greedy search.

Empty or whitespace-only sources give an empty translation and score 0.
Invalid UTF-8 bytes are replaced by U+FFFD before tokenization; sources longer
than `max_source_tokens` tokens are cut there.
"""

from __future__ import annotations

import tensorflow as tf

from nlp_lstm.decoding.translate import translate_ids
from nlp_lstm.text.sentencepiece import EOS_ID, in_graph_tokenizer


class TranslatorModule(tf.Module):
    """Wraps a trained `Translator` and its SentencePiece models for export.

    Args:
        model: a trained `Translator`.
        source_model: bytes. Source SentencePiece model.
        target_model: bytes. Target SentencePiece model (same bytes if shared).
        beam_size: int. Beam of `serving_default`.
        length_penalty: float. GNMT length penalty alpha.
        max_length_ratio, max_length_offset: output length limit per sentence,
            `ceil(ratio * source_tokens) + offset`.
        max_source_tokens: int. Longer sources are cut to this many tokens.
    """

    def __init__(
        self,
        model,
        source_model: bytes,
        target_model: bytes,
        beam_size: int = 5,
        length_penalty: float = 0.6,
        max_length_ratio: float = 1.5,
        max_length_offset: int = 10,
        max_source_tokens: int = 256,
    ):
        super().__init__()
        self.model = model
        self.source_tokenizer = in_graph_tokenizer(source_model)
        self.target_tokenizer = (
            self.source_tokenizer
            if target_model == source_model
            else in_graph_tokenizer(target_model)
        )
        self.beam_size = beam_size
        self.length_penalty = length_penalty
        self.max_length_ratio = max_length_ratio
        self.max_length_offset = max_length_offset
        self.max_source_tokens = max_source_tokens

    def tokenize(self, sources):
        """Raw strings -> padded ids ending with EOS, and a mask of empty inputs."""
        sources = tf.strings.unicode_transcode(
            sources, "UTF-8", "UTF-8", errors="replace", replacement_char=0xFFFD
        )
        sources = tf.strings.strip(sources)
        empty = tf.equal(tf.strings.length(sources), 0)
        tokens = self.source_tokenizer.tokenize(sources)[:, : self.max_source_tokens]
        eos = tf.fill([tokens.nrows(), 1], EOS_ID)
        tokens = tf.concat([tokens, tf.RaggedTensor.from_tensor(eos)], axis=1)
        return tokens.to_tensor(0), empty

    def _translate(self, sources, beam_size):
        source_ids, empty = self.tokenize(sources)
        result = translate_ids(
            self.model,
            source_ids,
            beam_size=beam_size,
            length_penalty=self.length_penalty,
            max_length_ratio=self.max_length_ratio,
            max_length_offset=self.max_length_offset,
        )
        ids = tf.RaggedTensor.from_tensor(result["ids"], lengths=result["lengths"])
        translations = self.target_tokenizer.detokenize(ids)
        translations = tf.where(empty, "", translations)
        scores = tf.where(empty, 0.0, result["scores"])
        return {"translations": translations, "scores": scores}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="sources")])
    def serve(self, sources):
        return self._translate(sources, self.beam_size)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="sources")])
    def serve_greedy(self, sources):
        return self._translate(sources, 1)

    def signatures(self) -> dict:
        return {
            "serving_default": self.serve.get_concrete_function(),
            "translate_greedy": self.serve_greedy.get_concrete_function(),
        }
