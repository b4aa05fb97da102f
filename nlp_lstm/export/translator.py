"""SavedModel export of a translator: text in, text out, tokenization in-graph.

The exported graph only needs TensorFlow and tensorflow-text to load; it never
imports `nlp_lstm`. Signatures (dense outputs only, as TF Serving needs):

- `serving_default`: `sources` tf.string `(batch,)` -> `translations` tf.string
  `(batch,)` and `scores` float32 `(batch,)` (beam search, the configured size).
- `translate_greedy`: the same with greedy search.
- `translate_nbest`: `sources` tf.string `(batch,)` -> `translations` tf.string
  `(batch, beam_size)` and `scores` float32 `(batch, beam_size)`: every
  hypothesis of the final beam, best first (column 0 is `serving_default`'s).
- `translate_ids`: pre-tokenized input, `source_ids` int32 `(batch, time)`
  (SentencePiece ids of the source without EOS, padded with 0) ->
  `translation_ids` int32 `(batch, time)` (padded with 0, without EOS),
  `lengths` int32 `(batch,)`, `scores` float32 `(batch,)` and `translations`
  tf.string `(batch,)`, with beam search. Ids outside the vocabulary become
  the unknown id.

Empty or whitespace-only sources give an empty translation and score 0.
Invalid UTF-8 bytes are replaced by U+FFFD before tokenization; sources longer
than `max_source_tokens` tokens are cut there.
"""

from __future__ import annotations

import os

import numpy as np
import tensorflow as tf

from nlp_lstm.config import DecodingConfig
from nlp_lstm.decoding.search import output_lengths
from nlp_lstm.decoding.shortlist import Shortlist
from nlp_lstm.decoding.translate import decoding_variables, translate_ids
from nlp_lstm.export import saved_model
from nlp_lstm.export.signature import serving_signature
from nlp_lstm.layers import linear
from nlp_lstm.text import sentencepiece as sp
from nlp_lstm.text.sentencepiece import EOS_ID, PAD_ID, UNK_ID, in_graph_tokenizer
from nlp_lstm.text.words import normalize_spaces

SIGNATURES = {
    "serving_default": "sources -> translations, scores (beam search)",
    "translate_greedy": "sources -> translations, scores (greedy)",
    "translate_nbest": "sources -> translations, scores [batch, beam_size] (n-best)",
    "translate_ids": "source_ids -> translation_ids, lengths, scores, translations",
}
SOURCES = tf.TensorSpec([None], tf.string, name="sources")
SOURCE_IDS = tf.TensorSpec([None, None], tf.int32, name="source_ids")

# Used for warmup requests when an export is given no sample sources.
DEFAULT_WARMUP_SOURCES = (
    "Hello.",
    "How are you?",
    "This is a somewhat longer sentence, written to warm up the model.",
    "",
)


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
        precision: str. The search's matmuls: `float32`, or `bfloat16`
            (`layers.linear.matmul_precision`: faster on CPUs with bfloat16
            instructions; translations may differ).
        shortlist: a `nlp_lstm.decoding.shortlist.Shortlist` or None. The
            searches project onto the candidates it gives each batch; its
            arrays become variables of the SavedModel.
        lookup_tables: bool. Keep the products with every embedding that
            the search can look up by token id (`decoding_variables`'
            `input_tables`): faster, and a `vocab x gates` table of floats
            each (about 50 MB for the Multi30k model).
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
        max_source_tokens: int = DecodingConfig.max_source_tokens,
        precision: str = "float32",
        shortlist: Shortlist | None = None,
        lookup_tables: bool = True,
    ):
        super().__init__()
        if beam_size < 1:
            raise ValueError(f"beam_size must be a positive integer, got {beam_size}")
        self.model = model
        self.source_tokenizer = in_graph_tokenizer(source_model)
        self.target_tokenizer = (
            self.source_tokenizer
            if target_model == source_model
            else in_graph_tokenizer(target_model)
        )
        # Python twin of the in-graph tokenizer, for warmup inputs.
        self._source_processor = sp.processor(source_model)
        self.source_vocab_size = self._source_processor.vocab_size()
        self.beam_size = beam_size
        self.length_penalty = length_penalty
        self.max_length_ratio = max_length_ratio
        self.max_length_offset = max_length_offset
        self.max_source_tokens = max_source_tokens
        self.precision = precision
        # What every search reads (the tied output kernel transposed, the
        # cells' merged kernels), made once here and saved beside the model's
        # variables instead of made at every call.
        self.decoding_weights = decoding_variables(
            model, precision, shortlist=shortlist is not None,
            input_tables=lookup_tables,
        )
        inputs = (
            tf.TensorSpec([None, None, None], tf.float32)
            if self.decoding_weights.get("encoder_table") is None
            else tf.TensorSpec([None, None], tf.int32)  # source ids
        )
        self._encode = tf.function(
            self._encode_inputs,
            input_signature=[inputs, tf.TensorSpec([None, None], tf.bool)],
            autograph=False,
        )
        self.shortlist = None
        if shortlist is not None:
            self.shortlist_table = tf.Variable(shortlist.table, trainable=False)
            self.shortlist_frequent = tf.Variable(shortlist.frequent, trainable=False)
            self.shortlist = Shortlist(
                self.shortlist_table, self.shortlist_frequent, shortlist.copy_source
            )

    @classmethod
    def from_bundle(cls, bundle, beam_size: int | None = None) -> TranslatorModule:
        """The module of a `TranslatorBundle`, with its config's decoding
        settings (`beam_size` overrides the config's)."""
        decoding = bundle.config.decoding
        return cls(
            bundle.model,
            bundle.tokenizers["source"],
            bundle.tokenizers["target"],
            beam_size=beam_size or decoding.beam_size,
            precision=decoding.precision,
            shortlist=bundle.shortlist,
            lookup_tables=decoding.lookup_tables,
            **decoding.search_settings(),
        )

    def _with_eos(self, tokens):
        """Ragged ids -> padded ids, each row cut and ended with EOS."""
        tokens = tokens[:, : self.max_source_tokens]
        eos = tf.fill([tokens.nrows(), 1], EOS_ID)
        tokens = tf.concat([tokens, tf.RaggedTensor.from_tensor(eos)], axis=1)
        return tokens.to_tensor(PAD_ID)

    def tokenize(self, sources):
        """Raw strings -> padded ids ending with EOS, and a mask of empty
        inputs: those with no piece left after the tokenizer's normalization
        (whitespace of any kind, zero-width and other invisible characters)."""
        sources = tf.strings.strip(normalize_spaces(sources))
        pieces = self.source_tokenizer.tokenize(sources)
        empty = tf.equal(pieces.row_lengths(), 0)
        return self._with_eos(pieces), empty

    def _encode_inputs(self, inputs, mask):
        """The encoder as one function that every signature's search calls
        (`_encode`): the SavedModel holds it once (README, "Start-up").
        `inputs` are the source ids where the first layer looks up its
        input projections (an `encoder_table` among the decoding weights),
        else their embeddings."""
        with linear.matmul_precision(self.precision):
            return self.model.encoder(
                inputs,
                mask=mask,
                training=False,
                input_table=self.decoding_weights.get("encoder_table"),
            )

    def _search(self, source_ids, beam_size, nbest=False):
        # The search needs one row at least: an empty batch gets a dummy one,
        # cut from the result.
        batch = tf.shape(source_ids)[0]
        source_ids = tf.cond(
            batch > 0, lambda: source_ids, lambda: tf.fill([1, 1], EOS_ID)
        )
        result = translate_ids(
            self.model,
            source_ids,
            beam_size=beam_size,
            length_penalty=self.length_penalty,
            max_length_ratio=self.max_length_ratio,
            max_length_offset=self.max_length_offset,
            precision=self.precision,
            nbest=nbest,
            weights=self.decoding_weights,
            # `_encode` reads the module's own encoder table: the `input_table`
            # that `Translator.encode` passes is that one.
            encoder_fn=lambda inputs, mask, training, **_: self._encode(inputs, mask),
            shortlist=self.shortlist,
        )
        return {key: value[:batch] for key, value in result.items()}

    @tf.function(input_signature=[SOURCE_IDS], autograph=False)
    def _beam_search(self, source_ids):
        """`_search` with the module's beam size, as one function that
        `serving_default` and `translate_ids` call: the SavedModel holds the
        encoder and the search loop once for both, which shortens its load
        (README, "Start-up")."""
        return self._search(source_ids, self.beam_size)

    def _detokenize(self, ids, lengths):
        ragged = tf.RaggedTensor.from_tensor(ids, lengths=lengths)
        return self.target_tokenizer.detokenize(ragged)

    def _translate(self, sources, beam_size):
        source_ids, empty = self.tokenize(sources)
        if beam_size == self.beam_size:
            result = self._beam_search(source_ids)
        else:
            result = self._search(source_ids, beam_size)
        translations = self._detokenize(result["ids"], result["lengths"])
        translations = tf.where(empty, "", translations)
        scores = tf.where(empty, 0.0, result["scores"])
        return {"translations": translations, "scores": scores}

    @serving_signature(SOURCES)
    def serve(self, sources):
        return self._translate(sources, self.beam_size)

    @serving_signature(SOURCES)
    def serve_greedy(self, sources):
        return self._translate(sources, 1)

    @serving_signature(SOURCES)
    def serve_nbest(self, sources):
        source_ids, empty = self.tokenize(sources)
        if self.beam_size == 1:
            result = self._search(source_ids, 1)
            ids = tf.expand_dims(result["ids"], 1)
            scores = tf.expand_dims(result["scores"], 1)
        else:
            result = self._search(source_ids, self.beam_size, nbest=True)
            ids, scores = result["nbest_ids"], result["nbest_scores"]
        shape = tf.shape(ids)  # (batch, beam_size, steps)
        flat = tf.reshape(ids, [shape[0] * shape[1], shape[2]])
        texts = self._detokenize(flat, output_lengths(flat, EOS_ID))
        texts = tf.reshape(texts, shape[:2])
        empty = tf.expand_dims(empty, 1)
        return {
            "translations": tf.where(empty, "", texts),
            "scores": tf.where(empty, 0.0, scores),
        }

    @serving_signature(SOURCE_IDS)
    def serve_ids(self, source_ids):
        known = tf.logical_and(source_ids >= 0, source_ids < self.source_vocab_size)
        source_ids = tf.where(known, source_ids, UNK_ID)
        # Padding is trailing; ids after a 0 inside a row are dropped with it.
        real = tf.cast(tf.not_equal(source_ids, PAD_ID), tf.int32)
        lengths = tf.reduce_sum(tf.math.cumprod(real, axis=1), axis=1)
        ragged = tf.RaggedTensor.from_tensor(source_ids, lengths=lengths)
        empty = tf.equal(lengths, 0)
        result = self._beam_search(self._with_eos(ragged))
        lengths = tf.where(empty, 0, result["lengths"])
        ids = tf.RaggedTensor.from_tensor(result["ids"], lengths=lengths)
        return {
            "translation_ids": ids.to_tensor(PAD_ID),
            "lengths": lengths,
            "scores": tf.where(empty, 0.0, result["scores"]),
            "translations": self._detokenize(result["ids"], lengths),
        }

    def signatures(self) -> dict:
        return {
            "serving_default": self.serve.get_concrete_function(),
            "translate_greedy": self.serve_greedy.get_concrete_function(),
            "translate_nbest": self.serve_nbest.get_concrete_function(),
            "translate_ids": self.serve_ids.get_concrete_function(),
        }

    def warmup_inputs(self, sources) -> list[tuple[str, dict]]:
        """`(signature, inputs)` pairs for the warmup file, from sample sources:
        each signature with one source, then with all of them."""
        sources = [s.encode("utf-8") if isinstance(s, str) else s for s in sources]
        batches = [sources[:1], sources] if len(sources) > 1 else [sources]
        requests = []
        for batch in batches:
            texts = np.array(batch, dtype=object)
            rows = self._source_processor.encode(
                [text.decode("utf-8", errors="replace").strip() for text in batch]
            )
            rows = [row[: self.max_source_tokens] for row in rows]
            width = max(len(row) for row in rows)
            ids = np.array([row + [PAD_ID] * (width - len(row)) for row in rows])
            requests += [
                ("serving_default", {"sources": texts}),
                ("translate_greedy", {"sources": texts}),
                ("translate_nbest", {"sources": texts}),
                ("translate_ids", {"source_ids": ids.astype(np.int32)}),
            ]
        return requests


def export_translator(
    module: TranslatorModule,
    directory: str,
    name: str,
    metadata: dict,
    warmup_sources=None,
    server_versions=saved_model.DEFAULT_SERVER_VERSIONS,
    bundle=None,
) -> str:
    """Writes `module` to `directory/name/<next version>/`, atomically.

    Args:
        module: the `TranslatorModule`.
        directory: str. The SavedModel root (`saved_models`).
        name: str. The model's folder name.
        metadata: dict. Written to `assets.extra/nlp_lstm.json`, with the task,
            the signatures and the beam size added.
        warmup_sources: list of str. Real sample sources for the warmup file
            (a few generic sentences when None).
        server_versions: TF Serving versions whose op sets the export must
            pass (`nlp_lstm.export.serving.opcheck`); empty to skip the check.
        bundle: the `TranslatorBundle` to embed (`assets.extra/bundle/`).

    Returns:
        The version folder's path.
    """
    info = dict(metadata)
    info.update(
        {"task": "translation", "signatures": SIGNATURES, "beam_size": module.beam_size}
    )
    sources = list(warmup_sources or DEFAULT_WARMUP_SOURCES)[:8]
    return saved_model.write_version(
        module,
        module.signatures(),
        os.path.join(directory, name),
        info,
        warmup=module.warmup_inputs(sources),
        server_versions=server_versions,
        bundle=bundle,
    )
