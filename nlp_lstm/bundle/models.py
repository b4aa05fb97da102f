"""Trained models with what they need to run on text: the objects that
`nlp_lstm.load` returns for a run folder, and that the exports start from."""

from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow as tf

from nlp_lstm.bundle.files import (
    BundleFiles,
    located_config,
    read_bundle,
    require_data,
    write_bundle,
)
from nlp_lstm.decoding.shortlist import Shortlist, training_shortlist
from nlp_lstm.decoding.translate import TextTranslator
from nlp_lstm.models.tagger import Tagger, build_tagger
from nlp_lstm.models.translator import Translator, build_translator
from nlp_lstm.text import sentencepiece as sp
from nlp_lstm.text.tags import TagVocabulary
from nlp_lstm.text.words import (
    PAD,
    CharVocabulary,
    TokenFeaturizer,
    WordVocabulary,
    pad_tokens,
    tokenize,
)
from nlp_lstm.utils.iterables import batches


def _save(bundle, directory: str, **assets) -> str:
    """Writes `bundle` (with its tokenizers or vocabularies, `assets`) into
    `directory`; `data`, `samples` and `evaluation` are kept from its
    metadata when there."""
    write_bundle(
        directory, bundle.task, bundle.config, bundle.model, **assets,
        data=bundle.metadata.get("data"), samples=bundle.metadata.get("samples"),
        evaluation=bundle.metadata.get("evaluation"),
    )
    bundle.metadata = read_bundle(directory).metadata
    return directory


@dataclasses.dataclass
class TranslatorBundle:
    """A trained `Translator` with its config and SentencePiece models.

    Attributes:
        config: `TranslationConfig`.
        model: the `Translator` with trained weights.
        tokenizers: dict. `{"source": bytes, "target": bytes}` SentencePiece models.
        metadata: dict. The bundle's `bundle.json` (empty before it is saved).
        path: str or None. The folder it was loaded from.
        shortlist: a `Shortlist` or None. The lexical shortlist that searches
            project onto (`decoding.shortlist`); None: the whole vocabulary.
    """

    config: object
    model: Translator
    tokenizers: dict
    metadata: dict = dataclasses.field(default_factory=dict)
    path: str | None = None
    shortlist: Shortlist | None = None
    _translators: dict = dataclasses.field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    task = "translation"

    @classmethod
    def from_files(cls, files: BundleFiles) -> TranslatorBundle:
        model = build_translator(
            files.config.model,
            sp.processor(files.tokenizers["source"]).vocab_size(),
            sp.processor(files.tokenizers["target"]).vocab_size(),
        )
        model.load_weights(files.weights_path)
        shortlist = None
        if files.shortlist is not None:
            shortlist = Shortlist.from_bytes(files.shortlist)
        return cls(
            files.config, model, files.tokenizers, files.metadata, files.path,
            shortlist=shortlist,
        )

    def save(self, directory: str) -> str:
        """Writes the bundle into `directory` (see `nlp_lstm.bundle.files`)."""
        shortlist = None if self.shortlist is None else self.shortlist.to_bytes()
        return _save(self, directory, tokenizers=self.tokenizers, shortlist=shortlist)

    def text_translator(self, beam_size: int | None = None) -> TextTranslator:
        """A `TextTranslator` with the config's decoding settings, one per beam
        size (each holds a traced `tf.function`: repeated `translate` calls
        reuse it rather than tracing again)."""
        decoding = self.config.decoding
        beam_size = decoding.beam_size if beam_size is None else beam_size
        if beam_size not in self._translators:
            self._translators[beam_size] = self._text_translator(beam_size)
        return self._translators[beam_size]

    def _text_translator(self, beam_size: int) -> TextTranslator:
        decoding = self.config.decoding
        return TextTranslator(
            self.model,
            sp.processor(self.tokenizers["source"]),
            sp.processor(self.tokenizers["target"]),
            beam_size=beam_size,
            precision=decoding.precision,
            **decoding.search_settings(),
            shortlist=self.shortlist,
        )

    def add_shortlist(self, size: int, frequent: int | None = None) -> None:
        """Estimates a lexical shortlist (`decoding.shortlist` = `size`,
        `decoding.shortlist_frequent` = `frequent`, the config's when None)
        on the training corpus the bundle records, which must be here as it
        was (`require_data`); later translations and exports use it. `size`
        0 drops the bundle's shortlist (the whole vocabulary)."""
        # Imported here: the corpus readers import `datasets`, which loading
        # a bundle for translation does not need.
        from nlp_lstm.data.batching import encode_split  # noqa: PLC0415
        from nlp_lstm.data.parallel import load_parallel_corpus  # noqa: PLC0415

        if not size:  # the whole vocabulary: nothing to estimate
            self.set_decoding(shortlist=0)
            self.shortlist = None
            return
        require_data(self.metadata, "estimate a shortlist")
        if frequent is None:
            frequent = self.config.decoding.shortlist_frequent
        self.set_decoding(shortlist=size, shortlist_frequent=frequent)
        config = located_config(self.config, self.metadata)
        corpus, _ = load_parallel_corpus(config.data)
        source = sp.processor(self.tokenizers["source"])
        target = sp.processor(self.tokenizers["target"])
        sources, targets, _ = encode_split(config, source, target, corpus["train"])
        self.shortlist = training_shortlist(
            self.config, sources, targets, source.vocab_size()
        )

    def set_decoding(self, **changes) -> None:
        """Changes the config's decoding settings (`length_penalty=1.0`, ...,
        checked); later translations and exports use them."""
        decoding = dataclasses.replace(self.config.decoding, **changes)
        decoding.validate("decoding")
        self.config.decoding = decoding
        self._translators.clear()

    def translate(self, texts: list[str], beam_size: int | None = None,
                  batch_size: int | None = None) -> list[str]:
        """Translations of `texts` (beam size and batch size from the config
        when None)."""
        batch_size = batch_size or self.config.decoding.batch_size
        # Bytes that are not UTF-8 become U+FFFD, as in the exported graph.
        texts = [
            text.decode("utf-8", errors="replace") if isinstance(text, bytes) else text
            for text in texts
        ]
        return self.text_translator(beam_size)(texts, batch_size=batch_size)

    def align(self, texts: list[str], beam_size: int | None = None) -> list[dict]:
        """Translations of `texts` with their attention weights
        (`TextTranslator.align`: `translation`, `source_pieces`,
        `target_pieces`, `weights`)."""
        return self.text_translator(beam_size).align(list(texts))


@dataclasses.dataclass
class TaggerBundle:
    """A trained `Tagger` with its config and vocabularies.

    Attributes:
        config: `TaggingConfig`.
        model: the `Tagger` with trained weights.
        featurizer: the `TokenFeaturizer` of its word and char vocabularies.
        tag_vocabulary: `TagVocabulary`.
        metadata: dict. The bundle's `bundle.json` (empty before it is saved).
        path: str or None. The folder it was loaded from.
    """

    config: object
    model: Tagger
    featurizer: TokenFeaturizer
    tag_vocabulary: TagVocabulary
    metadata: dict = dataclasses.field(default_factory=dict)
    path: str | None = None
    _decode: object = dataclasses.field(
        default=None, init=False, repr=False, compare=False
    )
    task = "tagging"

    def decode_ids(self, tokens) -> np.ndarray:
        """Tag ids `(batch, time)` of padded token strings, in one traced
        `tf.function` (shape-generic) reused by every call."""
        if self._decode is None:
            self._decode = tf.function(
                lambda tokens: self.model.decode(self.featurizer(tokens)),
                input_signature=[tf.TensorSpec([None, None], tf.string)],
                autograph=False,
            )
        return self._decode(tf.constant(tokens)).numpy()

    @classmethod
    def from_files(cls, files: BundleFiles) -> TaggerBundle:
        vocabularies = files.vocabularies
        words = WordVocabulary.from_config(vocabularies["words"])
        chars = CharVocabulary.from_config(vocabularies["chars"])
        tags = TagVocabulary.from_config(vocabularies["tags"])
        model = build_tagger(files.config.model, tags, words.size, chars.size)
        model.load_weights(files.weights_path)
        return cls(
            files.config, model, TokenFeaturizer(words, chars), tags,
            files.metadata, files.path,
        )

    @property
    def vocabularies(self) -> dict:
        return {
            "words": self.featurizer.words.get_config(),
            "chars": self.featurizer.chars.get_config(),
            "tags": self.tag_vocabulary.get_config(),
        }

    def save(self, directory: str) -> str:
        """Writes the bundle into `directory` (see `nlp_lstm.bundle.files`)."""
        return _save(self, directory, vocabularies=self.vocabularies)

    @property
    def scheme(self) -> str:
        """The tag scheme the model predicts in (`none` for POS)."""
        return self.tag_vocabulary.scheme

    def tag_tokens(self, sentences: list[list[str]], batch_size: int = 128):
        """`{"tokens", "tags"}` of pre-tokenized sentences; sentences longer
        than `export.max_tokens` are cut there (as the exports cut them)."""
        limit = self.config.export.max_tokens
        tagged = []
        for chunk in batches([list(row)[:limit] for row in sentences], batch_size):
            width = max(1, max(len(row) for row in chunk))
            padded = np.full((len(chunk), width), PAD, dtype=object)
            for index, row in enumerate(chunk):
                padded[index, : len(row)] = row
            ids = self.decode_ids(padded)
            for row, row_ids in zip(chunk, ids, strict=True):
                tags = self.tag_vocabulary.decode(row_ids[: len(row)])
                tagged.append({"tokens": row, "tags": tags})
        return tagged

    def tag(self, sentences: list[str], batch_size: int = 128) -> list[dict]:
        """`{"tokens", "tags"}` of raw sentences, split into words as in
        training (`data.tokenizer`)."""
        tokens = []
        for chunk in batches(list(sentences), batch_size):
            dense, lengths, _ = pad_tokens(
                tokenize(tf.constant(chunk, tf.string), self.config.data.tokenizer),
                self.config.export.max_tokens,
            )
            for row, length in zip(dense.numpy(), lengths.numpy(), strict=True):
                tokens.append([token.decode("utf-8") for token in row[:length]])
        return self.tag_tokens(tokens, batch_size)


BUNDLES = {"translation": TranslatorBundle, "tagging": TaggerBundle}


def reopen_run(run_dir: str):
    """`(bundle, config)` of a run folder about to be evaluated again: the
    config reads the training data where the bundle recorded it (checked:
    `require_data`) and writes into `run_dir` wherever the run has moved."""
    bundle = load_bundle(run_dir)
    require_data(bundle.metadata, f"evaluate {run_dir} again")
    config = dataclasses.replace(
        located_config(bundle.config, bundle.metadata), run_dir=run_dir
    )
    return bundle, config


def load_bundle(path: str):
    """The `TranslatorBundle` or `TaggerBundle` in bundle folder `path`."""
    files = read_bundle(path)
    return BUNDLES[files.task].from_files(files)
