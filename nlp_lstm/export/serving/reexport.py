"""A new SavedModel version from a finished run, without training.

    nlp-lstm serving export runs/multi30k_en_de [--directory saved_models]

The trained model is rebuilt from the run (config, `best.weights.h5`,
SentencePiece models or, for a tagger, the vocabularies rebuilt from the
training data, as `nlp_lstm.export.tflite.source` does) and exported the way
the pipeline exports it: current signatures, warmup requests made of the
first test sentences, op check. Use it to bring exports made before a change of
the export code up to date.
"""

from __future__ import annotations

import os


def _test_sources(config, count: int) -> list[str]:
    from nlp_lstm.data.parallel import load_parallel_corpus

    corpus, _ = load_parallel_corpus(config.data)
    return list(corpus["test"]["source"][:count])


def _test_sentences(config, count: int) -> list[str]:
    from nlp_lstm.data.conll import load_tagging_corpus

    corpus, _ = load_tagging_corpus(config.data)
    return [" ".join(tokens) for tokens in corpus["test"]["tokens"][:count]]


def export_run(
    path: str,
    directory: str | None = None,
    name: str | None = None,
    warmup_count: int = 8,
) -> str:
    """Exports the trained model of a run (or of the run behind a SavedModel).

    Args:
        path: str. A run folder, or a SavedModel / model folder whose run is
            found (`nlp_lstm.export.tflite.source.load_source`).
        directory: str. SavedModel root; the run config's `export.directory`
            when None.
        name: str. Model folder name; the run config's `name` when None.
        warmup_count: int. Test sentences in the warmup requests.

    Returns:
        The new version folder.
    """
    from nlp_lstm.export.tflite.source import load_source

    source = load_source(path)
    config = source.config
    if source.task == "translation":
        from nlp_lstm import config as config_lib
        from nlp_lstm.pipelines.translation import export

        # The whole run config (the source holds only what a TFLite export
        # reads): the export directory and metadata come from it, warmup reads
        # its test set.
        config = config_lib.load(
            config_lib.TranslationConfig, os.path.join(source.run_dir, "config.json")
        )
    directory = directory or config.export.directory
    name = name or config.name
    if source.task == "translation":
        return export(
            config,
            source.model,
            source.sentencepiece,
            _test_sources(config, warmup_count),
            directory=directory,
            name=name,
            extra_metadata={"exported_from_run": source.run_dir},
        )

    from nlp_lstm.export.tagger import TaggerServing, export_tagger
    from nlp_lstm.text.words import CharVocabulary, TokenFeaturizer, WordVocabulary

    vocabulary = source.vocabulary
    words = WordVocabulary(
        vocabulary["words"][2:],
        lowercase=vocabulary["lowercase"],
        normalize_digits=vocabulary["normalize_digits"],
    )
    chars = CharVocabulary(vocabulary["chars"][2:], vocabulary["max_word_chars"])
    serving = TaggerServing(
        source.model,
        TokenFeaturizer(words, chars),
        vocabulary["tags"],
        tokenizer=config.data.tokenizer,
        max_tokens=config.export.max_tokens,
    )
    metadata = {
        "name": config.name,
        "scheme": vocabulary["scheme"],
        "entity_task": config.is_entity_task,
        "exported_from_run": source.run_dir,
    }
    return export_tagger(
        serving,
        directory,
        name,
        metadata,
        warmup_sentences=_test_sentences(config, warmup_count),
    )
