"""Rebuilds a trained Keras model for TFLite export from a run or a SavedModel.

A run folder holds the config and `best.weights.h5` (the weights the pipeline
exported). A SavedModel folder is traced back to its run: a translator's
metadata names its `run_dir`; a tagger's run is the one whose `report.json`
has this SavedModel as `export_path`.
"""

from __future__ import annotations

import dataclasses
import glob
import json
import os
import types

from nlp_lstm import config as config_lib


@dataclasses.dataclass
class ExportSource:
    """What the TFLite export needs about a trained model.

    Attributes:
        task: str. `"translation"` or `"tagging"`.
        model: the built Keras `Translator` or `Tagger` with trained weights.
        config: the pipeline config dataclass.
        run_dir: str. The run folder.
        saved_model: str or None. The SavedModel it was exported to.
        sentencepiece: dict. `{"source": bytes, "target": bytes}` (translator).
        vocabulary: dict. Word and char vocabularies, tags (tagger).
    """

    task: str
    model: object
    config: object
    run_dir: str
    saved_model: str | None = None
    sentencepiece: dict = dataclasses.field(default_factory=dict)
    vocabulary: dict = dataclasses.field(default_factory=dict)


def _read_json(path: str) -> dict:
    with open(path, encoding="utf-8") as stream:
        return json.load(stream)


def _tagger_run_of(saved_model: str) -> str:
    target = os.path.realpath(saved_model)
    roots = {os.getcwd(), os.path.dirname(os.path.dirname(os.path.dirname(target)))}
    for root in roots:
        for report in sorted(glob.glob(os.path.join(root, "runs", "*", "report.json"))):
            export_path = _read_json(report).get("export_path")
            if export_path and os.path.realpath(
                os.path.join(root, export_path)
            ) == target:
                return os.path.dirname(report)
    raise FileNotFoundError(
        f"no run folder (runs/*/report.json) exported {saved_model}; pass the run "
        "folder (config and best.weights.h5) instead"
    )


def _run_dir_of(path: str) -> tuple[str, str | None]:
    """`(run_dir, saved_model or None)` for a run folder or a SavedModel."""
    if os.path.isfile(os.path.join(path, "best.weights.h5")):
        report = os.path.join(path, "report.json")
        export_path = (
            _read_json(report).get("export_path") if os.path.isfile(report) else None
        )
        return path, export_path
    from nlp_lstm.export.saved_model import read_metadata, resolve

    saved_model = resolve(path)
    metadata = read_metadata(saved_model)
    if metadata.get("task") == "translation":
        run_dir = metadata.get("config", {}).get("run_dir")
        if not run_dir or not os.path.isdir(run_dir):
            raise FileNotFoundError(
                f"the run folder {run_dir!r} of {saved_model} is not here; pass the "
                "run folder (config.json, best.weights.h5, tokenizer.model)"
            )
        return run_dir, saved_model
    return _tagger_run_of(saved_model), saved_model


def load_source(path: str) -> ExportSource:
    """The trained model of a run folder or a SavedModel folder."""
    if not os.path.isdir(path):
        raise FileNotFoundError(f"model folder not found: {path}")
    run_dir, saved_model = _run_dir_of(path)
    config_path = os.path.join(run_dir, "config.json")
    report_path = os.path.join(run_dir, "report.json")
    if os.path.isfile(config_path):
        data = _read_json(config_path)
    elif os.path.isfile(report_path) and "config" in _read_json(report_path):
        data = _read_json(report_path)["config"]
    else:
        raise FileNotFoundError(f"{run_dir} has neither config.json nor a report.json")
    if "tokenizer" in data and "decoding" in data:
        return _translator_source(data, run_dir, saved_model)
    return _tagger_source(data, run_dir, saved_model)


def _translator_source(data, run_dir, saved_model) -> ExportSource:
    from nlp_lstm.models.translator import build_translator
    from nlp_lstm.text import sentencepiece as sp

    # Only the parts the export reads: the data files need not be here.
    config = types.SimpleNamespace(
        name=data.get("name", "translator"),
        model=config_lib.from_dict(
            config_lib.TranslatorModelConfig, data.get("model"), "model"
        ),
        decoding=config_lib.from_dict(
            config_lib.DecodingConfig, data.get("decoding"), "decoding"
        ),
        tokenizer=config_lib.from_dict(
            config_lib.TokenizerConfig, data.get("tokenizer"), "tokenizer"
        ),
    )
    if config.tokenizer.shared:
        shared = sp.load_model(os.path.join(run_dir, "tokenizer.model"))
        models = {"source": shared, "target": shared}
    else:
        models = {
            side: sp.load_model(os.path.join(run_dir, f"tokenizer.{side}.model"))
            for side in ("source", "target")
        }
    model = build_translator(
        config.model,
        sp.processor(models["source"]).vocab_size(),
        sp.processor(models["target"]).vocab_size(),
    )
    model.load_weights(os.path.join(run_dir, "best.weights.h5"))
    return ExportSource(
        "translation", model, config, run_dir, saved_model, sentencepiece=models
    )


def tagger_vocabulary(featurizer, tag_vocabulary, tokenizer: str) -> dict:
    """The JSON an app needs to featurize tokens like `TokenFeaturizer`."""
    from nlp_lstm.text.words import CASING

    return {
        "words": featurizer.words.all_words,
        "chars": ["", "[UNK]"] + featurizer.chars.chars,
        "lowercase": featurizer.words.lowercase,
        "normalize_digits": featurizer.words.normalize_digits,
        "max_word_chars": featurizer.chars.max_word_chars,
        "casing": list(CASING),
        "tags": list(tag_vocabulary.tags),
        "scheme": tag_vocabulary.scheme,
        "tokenizer": tokenizer,
    }


def _tagger_source(data, run_dir, saved_model) -> ExportSource:
    from nlp_lstm.data.conll import load_tagging_corpus
    from nlp_lstm.models.tagger import build_tagger
    from nlp_lstm.pipelines.tagging import convert_split, model_scheme
    from nlp_lstm.text import tags as tag_schemes
    from nlp_lstm.text.words import CharVocabulary, TokenFeaturizer, WordVocabulary

    config = config_lib.from_dict(config_lib.TaggingConfig, data)
    # The vocabularies are rebuilt from the training data, as the pipeline did.
    corpus, _ = load_tagging_corpus(config.data)
    scheme = model_scheme(config)
    tokens = [list(t) for t in corpus["train"]["tokens"]]
    gold = convert_split(corpus["train"], config.data.scheme, scheme)
    embedder = config.model.embedder
    tag_vocabulary = tag_schemes.TagVocabulary.build(gold, scheme)
    words = WordVocabulary.build(
        tokens,
        min_frequency=embedder.min_frequency,
        max_words=embedder.max_words,
        lowercase=embedder.lowercase,
        normalize_digits=embedder.normalize_digits,
    )
    chars = CharVocabulary.build(
        tokens,
        min_frequency=embedder.min_char_frequency,
        max_word_chars=embedder.max_word_chars,
    )
    model = build_tagger(config.model, tag_vocabulary, words.size, chars.size)
    model.load_weights(os.path.join(run_dir, "best.weights.h5"))
    vocabulary = tagger_vocabulary(
        TokenFeaturizer(words, chars), tag_vocabulary, config.data.tokenizer
    )
    return ExportSource(
        "tagging", model, config, run_dir, saved_model, vocabulary=vocabulary
    )
