"""Exports a tagger as a text-in, tags-out SavedModel for TF Serving.

Layout: `saved_models/<name>/<version>/` with numeric versions (the next free
one is taken, and the folder appears only when it is complete, see
`nlp_lstm.export.saved_model`), plus `assets.extra/nlp_lstm.json` describing
the task, the tags and the scheme.

Signatures (TF Serving cannot return ragged tensors, so outputs are dense and
padded with ""):

- `serving_default(sentences: tf.string [batch])`: raw sentences, split into
  words in the graph (whitespace or Unicode script, as trained).
- `tag_tokens(tokens: tf.string [batch, time])`: pre-tokenized sentences,
  padded with "" (so "" cannot be a token: a row ends at its first "").

Both return `tokens` and `tags` (tf.string `[batch, time]`), `lengths`
(int32 `[batch]`) and `truncated` (bool `[batch]`). A sentence longer than
`max_tokens` (default 512, `export.max_tokens`) is cut to its first
`max_tokens` tokens, `truncated` is set and a warning goes to stderr; an empty
sentence gets length 0 and no tags. Loading needs only `tensorflow` and
`tensorflow_text` (for the tokenizer ops).
"""

from __future__ import annotations

import os
import sys

import numpy as np
import tensorflow as tf
import tensorflow_text  # noqa: F401  (registers the tokenizer ops)

from nlp_lstm.config import TaggingExportConfig
from nlp_lstm.export import layout, runtime, saved_model
from nlp_lstm.export.signature import serving_signature
from nlp_lstm.text.words import (
    PAD,
    TokenFeaturizer,
    pad_tokens,
    tokenize,
    valid_utf8,
)

DEFAULT_MAX_TOKENS = TaggingExportConfig.max_tokens
SIGNATURES = ("serving_default", "tag_tokens")
SENTENCES = tf.TensorSpec([None], tf.string, name="sentences")
TOKENS = tf.TensorSpec([None, None], tf.string, name="tokens")
# Used for warmup requests when an export is given no sample sentences.
DEFAULT_WARMUP_SENTENCES = (
    "Barack Obama visited Madrid yesterday .",
    "The cat sat on the mat .",
    "",
)


class TaggerServing(tf.Module):
    """The exported computation: tokenization, features, model and tag names.

    Args:
        model: a built `Tagger`.
        featurizer: its `TokenFeaturizer`.
        tags: list[str]. Tag names in id order.
        tokenizer: str. `"whitespace"` or `"unicode_script"`.
        max_tokens: int. Longest sentence tagged; longer ones are cut.
    """

    def __init__(self, model, featurizer: TokenFeaturizer, tags: list[str],
                 tokenizer: str = "whitespace",
                 max_tokens: int = DEFAULT_MAX_TOKENS):
        super().__init__(name="tagger_serving")
        if max_tokens < 1:
            raise ValueError(f"max_tokens must be positive, got {max_tokens}")
        self.model = model
        self.featurizer = featurizer
        self.tags = list(tags)
        self.tokenizer = tokenizer
        self.max_tokens = max_tokens

    @classmethod
    def from_bundle(cls, bundle) -> TaggerServing:
        """The module of a `TaggerBundle`, with its config's tokenizer and
        `export.max_tokens`."""
        return cls(
            bundle.model,
            bundle.featurizer,
            bundle.tag_vocabulary.tags,
            tokenizer=bundle.config.data.tokenizer,
            max_tokens=bundle.config.export.max_tokens,
        )

    def _tag(self, tokens, lengths, truncated):
        features = self.featurizer(tokens)
        ids = self.model.decode(features)
        names = tf.gather(tf.constant(self.tags, tf.string), ids)
        real = tf.not_equal(tokens, PAD)
        warning = tf.strings.format(
            "Warning: {} sentence(s) longer than {} tokens were cut to {} tokens",
            (tf.reduce_sum(tf.cast(truncated, tf.int32)), self.max_tokens,
             self.max_tokens),
        )

        def warn():
            tf.print(warning, output_stream=sys.stderr)
            return tf.constant(True)

        tf.cond(tf.reduce_any(truncated), warn, lambda: tf.constant(False))
        return {
            "tokens": tokens,
            "tags": tf.where(real, names, PAD),
            "lengths": lengths,
            "truncated": truncated,
        }

    @serving_signature(SENTENCES)
    def serve(self, sentences):
        tokens = tokenize(sentences, self.tokenizer)
        return self._tag(*pad_tokens(tokens, self.max_tokens))

    @serving_signature(TOKENS)
    def tag_tokens(self, tokens):
        # A row ends at its first "" (padding is trailing; tokens after an
        # inner "" are dropped with it, as `lengths` then says).
        tokens = valid_utf8(tokens)
        real = tf.cast(tf.not_equal(tokens, PAD), tf.int32)
        full = tf.reduce_sum(tf.math.cumprod(real, axis=1), axis=1)
        ragged = tf.RaggedTensor.from_tensor(tokens, lengths=full)
        return self._tag(*pad_tokens(ragged, self.max_tokens))

    def warmup_inputs(self, sentences) -> list[tuple[str, dict]]:
        """`(signature, inputs)` pairs for the warmup file, from sample
        sentences: each signature with one sentence, then with all of them."""
        sentences = [s.encode("utf-8") if isinstance(s, str) else s for s in sentences]
        batches = [sentences[:1], sentences] if len(sentences) > 1 else [sentences]
        requests = []
        for batch in batches:
            texts = np.array(batch, dtype=object)
            tokens = tokenize(tf.constant(texts, tf.string), self.tokenizer)
            requests += [
                ("serving_default", {"sentences": texts}),
                ("tag_tokens", {"tokens": tokens.to_tensor(PAD).numpy()}),
            ]
        return requests


def export_tagger(serving: TaggerServing, directory: str, name: str,
                  metadata: dict, warmup_sentences=None,
                  server_versions=saved_model.DEFAULT_SERVER_VERSIONS,
                  bundle=None) -> str:
    """Writes `serving` to `directory/name/<next version>/`, atomically.

    Args:
        serving: the `TaggerServing` module.
        directory: str. The SavedModel root (`saved_models`).
        name: str. The model's folder name.
        metadata: dict. Written to `assets.extra/nlp_lstm.json` with the task,
            signatures, tags, tokenizer and `max_tokens` added.
        warmup_sentences: list of str. Real sample sentences for the warmup
            file (a few generic ones when None).
        server_versions: TF Serving versions whose op sets the export must
            pass (`nlp_lstm.export.serving.opcheck`); empty to skip the check.
        bundle: the `TaggerBundle` to embed (`assets.extra/bundle/`).

    Returns:
        The version folder's path.
    """
    info = dict(metadata)
    info.update(
        {
            "task": "tagging",
            "signatures": list(SIGNATURES),
            "tags": serving.tags,
            "tokenizer": serving.tokenizer,
            "max_tokens": serving.max_tokens,
        }
    )
    signatures = {
        "serving_default": serving.serve,
        "tag_tokens": serving.tag_tokens,
    }
    sentences = list(warmup_sentences or DEFAULT_WARMUP_SENTENCES)[:8]
    return saved_model.write_version(
        serving, signatures, os.path.join(directory, name), info,
        warmup=serving.warmup_inputs(sentences), server_versions=server_versions,
        bundle=bundle,
    )


def load_tagger(model_dir: str):
    """Loads an exported tagger from a version folder or a model folder (its
    highest version).

    Returns:
        `(loaded, metadata)`: the `tf.saved_model.load` object and the
        metadata dict.
    """

    path = layout.resolve(model_dir)
    metadata = layout.read_metadata(path)
    if metadata.get("task", "tagging") != "tagging":
        raise ValueError(
            f"{path} holds a {metadata['task']} model, not a tagger; pass the "
            "folder of a model exported by pipelines/tagging.py"
        )
    return runtime.load_saved_model(path), metadata
