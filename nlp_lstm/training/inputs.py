"""What a training run builds from its corpus before the model: the
SentencePiece models of a translator, the vocabularies of a tagger.

This is the only place (with the corpus readers) that reads training data;
everything after training reads the run's bundle (`nlp_lstm.bundle`).
"""

from __future__ import annotations

import dataclasses
import os

from nlp_lstm import config as config_lib
from nlp_lstm.data.conll import load_tagging_corpus
from nlp_lstm.text import sentencepiece as sp
from nlp_lstm.text import tags as tag_schemes
from nlp_lstm.text.words import (
    CharVocabulary,
    TokenFeaturizer,
    WordVocabulary,
    load_pretrained_vectors,
)


def tokenizer_models(config: config_lib.TranslationConfig, corpus) -> dict:
    """Trains (or, when resuming, reloads) the SentencePiece model(s).

    The models are kept in the run folder (the copy a resumed run reuses) and
    published to `tokenizer.directory`, under the names of
    `TokenizerConfig.model_files`. With `tokenizer.case_fold_source`, the
    source's model reads text case-folded (with a shared vocabulary, a
    case-folding copy of the shared model).

    Returns:
        `{"source": bytes, "target": bytes}` (the same bytes when shared and
        not folding case).
    """
    tokenizer = config.tokenizer
    run_copies = {
        side: os.path.join(config.run_dir, name)
        for side, name in tokenizer.model_files().items()
    }
    if all(os.path.isfile(path) for path in run_copies.values()):
        return {side: sp.load_model(path) for side, path in run_copies.items()}
    sides = ["shared"] if tokenizer.shared else ["source", "target"]
    trained = {
        side: sp.train_sentencepiece(
            _tokenizer_sentences(config, corpus["train"], side),
            vocab_size=tokenizer.vocab_size,
            model_type=tokenizer.model_type,
            character_coverage=tokenizer.character_coverage,
            max_sentences=tokenizer.max_sentences,
            seed=config.training.seed,
        )
        for side in sides
    }
    models = {
        side: trained.get(side, trained.get("shared")) for side in ("source", "target")
    }
    if tokenizer.case_fold_source:
        models["source"] = sp.with_case_folding(models["source"])
    # Published first: the run copies, written last, say the work is done.
    published = tokenizer.model_files(config.name)
    for side, name in published.items():
        sp.save_model(models[side], os.path.join(tokenizer.directory, name))
    for side, path in run_copies.items():
        sp.save_model(models[side], path)
    return models


def _tokenizer_sentences(config, train, side: str) -> list[str]:
    """The training sentences a side's SentencePiece model learns from
    (`"shared"`: sources, then targets); sources case-folded when the source
    model folds case, so that the vocabulary is what it will read."""
    sources = list(train["source"]) if side != "target" else []
    if config.tokenizer.case_fold_source:
        sources = sp.case_folded(sources)
    targets = list(train["target"]) if side != "source" else []
    return sources + targets


@dataclasses.dataclass
class TaggingData:
    """A tagging corpus as the model sees it: tokens and gold tags (in the
    model's scheme) per split, and the vocabularies built from `train`."""

    tokens: dict
    gold: dict
    scheme: str
    tag_vocabulary: tag_schemes.TagVocabulary
    featurizer: TokenFeaturizer
    data_report: dict


def tagging_data(config: config_lib.TaggingConfig) -> TaggingData:
    """Reads the corpus of `config.data` and builds the tag, word and char
    vocabularies (deterministic: the same config gives the same ids)."""
    corpus, data_report = load_tagging_corpus(config.data)
    scheme = config.model_scheme
    tokens = {split: [list(t) for t in corpus[split]["tokens"]] for split in corpus}
    gold = {
        split: tag_schemes.convert_sentences(
            corpus[split]["tags"], config.data.scheme, scheme
        )
        for split in corpus
    }
    embedder = config.model.embedder
    words = WordVocabulary.build(
        tokens["train"],
        min_frequency=embedder.min_frequency,
        max_words=embedder.max_words,
        lowercase=embedder.lowercase,
        normalize_digits=embedder.normalize_digits,
    )
    chars = CharVocabulary.build(
        tokens["train"],
        min_frequency=embedder.min_char_frequency,
        max_word_chars=embedder.max_word_chars,
    )
    return TaggingData(
        tokens,
        gold,
        scheme,
        tag_schemes.TagVocabulary.build(gold["train"], scheme),
        TokenFeaturizer(words, chars),
        data_report,
    )


def init_pretrained_embeddings(model, config: config_lib.TaggingConfig,
                               words: WordVocabulary) -> int | None:
    """Sets the tagger's word embeddings from `model.embedder.pretrained` (a
    GloVe / word2vec text file); returns how many words it had, None if no
    file is configured."""
    embedder = config.model.embedder
    if not embedder.pretrained:
        return None
    matrix, found = load_pretrained_vectors(
        embedder.pretrained, words, embedder.word_dim, seed=config.training.seed
    )
    model.embedder.word_embedding.embeddings.assign(matrix)
    return found
