"""`export_tflite`: a trained translator or tagger to a `.tflite` and the files
an app needs beside it (metadata JSON, SentencePiece model or vocabularies)."""

from __future__ import annotations

import datetime
import os
import warnings

from nlp_lstm.bundle import TranslatorBundle
from nlp_lstm.bundle import card as card_lib
from nlp_lstm.bundle.files import data_problem, located_config
from nlp_lstm.data.conll import load_tagging_corpus
from nlp_lstm.data.parallel import load_parallel_corpus
from nlp_lstm.evaluation.tagging import score_tagging
from nlp_lstm.evaluation.translation import corpus_scores
from nlp_lstm.export import layout
from nlp_lstm.export.bundles import bundle_of
from nlp_lstm.export.tflite import convert as convert_lib
from nlp_lstm.export.tflite import peepholes as peepholes_lib
from nlp_lstm.export.tflite.runtime import TruncationWarning, load_runner
from nlp_lstm.export.tflite.tagger import TaggerTFLite
from nlp_lstm.export.tflite.translator import TranslatorTFLite
from nlp_lstm.text.words import CASING

FORMAT = "nlp_lstm.tflite/1"


def _source_model(bundle) -> dict:
    """Where the exported model came from: its bundle folder (a run folder,
    or `assets.extra/bundle` of a SavedModel version) and the bundle's
    description of it."""
    path = os.path.abspath(bundle.path) if bundle.path else None
    saved, version = None, None
    if path and os.path.basename(path) == layout.BUNDLE_DIRECTORY:
        candidate = os.path.dirname(os.path.dirname(path))
        if os.path.isfile(os.path.join(candidate, "saved_model.pb")):
            saved = candidate
            name = os.path.basename(candidate)
            version = int(name) if name.isdigit() else None
    return {
        "name": bundle.config.name,
        "bundle": path,
        "saved_model": saved,
        "version": version,
        "bundle_created": bundle.metadata.get("created"),
        "data": bundle.metadata.get("data", []),
    }


def tagger_vocabulary(bundle) -> dict:
    """The JSON an app needs to featurize tokens like `TokenFeaturizer`."""
    words, chars = bundle.featurizer.words, bundle.featurizer.chars
    return {
        "words": words.all_words,
        "chars": ["", "[UNK]"] + chars.chars,
        "lowercase": words.lowercase,
        "normalize_digits": words.normalize_digits,
        "max_word_chars": chars.max_word_chars,
        "casing": list(CASING),
        "tags": list(bundle.tag_vocabulary.tags),
        "scheme": bundle.tag_vocabulary.scheme,
        "tokenizer": bundle.config.data.tokenizer,
    }


def _tensor(dtype: str, shape: list, doc: str) -> dict:
    return {"dtype": dtype, "shape": shape, "doc": doc}


def _translator(bundle: TranslatorBundle, output: str, tokenizer: str,
                beam_size: int | None, batch_size: int | None = None):
    decoding, model = bundle.config.decoding, bundle.model
    beam_size = beam_size or max(decoding.beam_size, 2)
    spm = bundle.tokenizers
    module = TranslatorTFLite(
        model,
        beam_size=beam_size,
        sentencepiece_model=spm["source"] if tokenizer == "in-graph" else None,
        batch_size=batch_size,
        **decoding.search_settings(),
    )
    extra = {"sentencepiece": spm["target"]}
    if spm["source"] != spm["target"]:
        extra["source_sentencepiece"] = spm["source"]
    if tokenizer == "in-graph":
        source_input = _tensor("string", [1], "the source sentence, UTF-8, stripped")
    else:
        source_input = _tensor(
            "int32", [1, -1],
            "SentencePiece ids of the source (at most max_source_tokens), then "
            "eos; right padding with pad is allowed",
        )
    signature = {
        "inputs": {
            "source" if tokenizer == "in-graph" else "source_ids": source_input,
            "max_length": _tensor(
                "int32", [1],
                "output tokens before a forced eos; <= 0: ceil(max_length_ratio * "
                "source_tokens) + max_length_offset",
            ),
            "eos_id": _tensor("int32", [1], "the end-of-sentence id (special_ids.eos)"),
        },
        "outputs": {
            "ids": _tensor("int32", [1, -1], "target ids; eos then 0 after the output"),
            "length": _tensor("int32", [1], "number of ids before eos"),
            "score": _tensor(
                "float32", [1],
                "greedy: sum of log-probabilities; beam: divided by the GNMT "
                "length penalty ((5 + length) / 6) ** length_penalty",
            ),
        },
    }
    signatures = {"translate_greedy": signature, "translate_beam": signature}
    if batch_size:
        for name in ("translate_greedy_batch", "translate_beam_batch"):
            signatures[name] = _batch_signature(signature, batch_size)
    metadata = {
        "task": "translation",
        "signatures": signatures,
        "beam_size": beam_size,
        "length_penalty": decoding.length_penalty,
        "max_length_ratio": decoding.max_length_ratio,
        "max_length_offset": decoding.max_length_offset,
        "max_source_tokens": module.max_source_tokens,
        "special_ids": {
            "pad": model.pad_id, "unk": 1, "bos": model.bos_id, "eos": model.eos_id,
        },
        "detokenize": "outside the file, with the SentencePiece model",
    }
    return module, metadata, extra


def _batch_signature(signature: dict, batch_size: int) -> dict:
    """`signature` (batch 1) with `batch_size` rows in and out."""

    def rows(tensor: dict, name: str) -> dict:
        if name == "eos_id":
            return tensor
        return dict(tensor, shape=[batch_size] + tensor["shape"][1:])

    return {
        side: {name: rows(tensor, name) for name, tensor in tensors.items()}
        for side, tensors in signature.items()
    }


def _tagger(bundle, output: str, tokenizer: str, max_tokens: int | None):
    if tokenizer == "in-graph":
        raise ValueError(
            "taggers read words, not SentencePiece pieces: their word tokenization "
            "and features (vocabulary lookups, casing) run in the app; use "
            "--tokenizer app"
        )
    vocabulary = tagger_vocabulary(bundle)
    max_tokens = max_tokens or bundle.config.export.max_tokens
    module = TaggerTFLite(
        bundle.model, max_word_chars=vocabulary["max_word_chars"],
        max_tokens=max_tokens,
    )
    docs = {
        "word_ids": _tensor(
            "int32", [1, -1],
            "index in vocabulary.words of the normalized word (lowercased if "
            "vocabulary.lowercase, ASCII digits -> 0 if normalize_digits); 1 if "
            "unknown, 0 is padding",
        ),
        "char_ids": _tensor(
            "int32", [1, -1, vocabulary["max_word_chars"]],
            "index in vocabulary.chars of each of the first max_word_chars code "
            "points of the word (1 if unknown), 0-padded",
        ),
        "casing_ids": _tensor(
            "int32", [1, -1],
            "index in vocabulary.casing: numeric (all \\p{N}), lower (all \\p{Ll}), "
            "upper (all \\p{Lu}), title (\\p{Lu}\\p{Ll}+), has_digit, mixed (all "
            "\\p{L}), else other; first match wins",
        ),
    }
    metadata = {
        "task": "tagging",
        "signatures": {
            "serving_default": {
                "inputs": {name: docs[name] for name in module.input_names},
                "outputs": {
                    "tags": _tensor("int32", [1, -1], "index in tags; 0 on padding")
                },
            }
        },
        "max_tokens": max_tokens,
        "max_word_chars": vocabulary["max_word_chars"],
        "tags": vocabulary["tags"],
        "scheme": vocabulary["scheme"],
        "word_tokenizer": vocabulary["tokenizer"],
        "head": "crf" if bundle.model.crf is not None else "softmax",
        "special_ids": {"pad": 0, "unk": 1},
    }
    return module, metadata, {"vocabulary": vocabulary}


def export_tflite(
    model,
    output: str,
    quantize: str = "none",
    tokenizer: str = "app",
    beam_size: int | None = None,
    max_tokens: int | None = None,
    measure_quality: bool = True,
    batch_size: int | None = None,
) -> str:
    """Exports a trained translator or tagger to `output` (`.tflite`), with
    its model card beside it (`FILE.card.json`, `FILE.card.md`).

    Args:
        model: str, `TranslatorBundle` or `TaggerBundle`. A run folder, a
            SavedModel folder (`nlp_lstm.export.bundles.bundle_of`) or an
            already loaded bundle.
        output: str. Path of the `.tflite`; `FILE.json` (metadata) and
            `FILE.spm.model` (translator) or `FILE.vocab.json` (tagger) go
            beside it.
        quantize: str. `"none"`, `"float16"` or `"dynamic-int8"`.
        tokenizer: str. `"app"` (ids in) or `"in-graph"` (translator: text in,
            TFText tokenize custom op).
        beam_size: int or None. Beam of `translate_beam` (default: the config's).
        max_tokens: int or None. Tagger: longest sentence (default: the
            config's `export.max_tokens`).
        measure_quality: bool. Run the file on the bundle's test set (when
            its data files are here, unchanged) and put the quality change
            on the card (`quality_change`).
        batch_size: int or None. Translator, app tokenizer: also export
            `translate_greedy_batch` and `translate_beam_batch` at this fixed
            batch (the LiteRT runner then translates a batch at a time).

    Returns:
        `output`.

    Example:
    >>> export_tflite("runs/multi30k_en_de", "/tmp/en_de.tflite")  # doctest: +SKIP
    '/tmp/en_de.tflite'
    """
    if tokenizer not in convert_lib.TOKENIZERS:
        raise ValueError(
            f"tokenizer must be one of {convert_lib.TOKENIZERS}, got {tokenizer!r}"
        )
    if quantize not in convert_lib.QUANTIZATIONS:
        raise ValueError(
            f"quantize must be one of {convert_lib.QUANTIZATIONS}, got {quantize!r}"
        )
    bundle = bundle_of(model) if isinstance(model, str | os.PathLike) else model
    if batch_size is not None and bundle.task != "translation":
        raise ValueError("batch_size is for translators; taggers run a sentence a call")
    if bundle.task == "translation":
        module, metadata, extra = _translator(
            bundle, output, tokenizer, beam_size, batch_size
        )
    else:
        module, metadata, extra = _tagger(bundle, output, tokenizer, max_tokens)
    custom = tokenizer == "in-graph"
    data = convert_lib.convert(module, module.functions(), quantize, custom)
    if module.peepholes:
        data = peepholes_lib.add_peepholes(data, module.peepholes)
    data = peepholes_lib.remove_cell_clip(data)
    allowed = (convert_lib.TFTEXT_TOKENIZE_OP,) if custom else ()
    convert_lib.check_ops(convert_lib.op_list(data), allowed, module.fuses_lstms)
    metadata.update(
        {
            "format": FORMAT,
            "quantization": quantize,
            "tokenizer": tokenizer,
            "batch_size": 1,
            "signature_batch_size": batch_size,
            "custom_ops": list(allowed),
            "source_model": _source_model(bundle),
            "exported": datetime.datetime.now(datetime.timezone.utc).isoformat(
                timespec="seconds"
            ),
        }
    )
    convert_lib.write_files(output, data, metadata, extra)
    # The card measures the file just written, then joins its set.
    card = card_lib.build_card(bundle, {
        "format": "tflite",
        "quantization": quantize,
        "tokenizer": tokenizer,
        "quality_change": (
            quality_change(bundle, output) if measure_quality
            else {"measured": False, "reason": "skipped at export (--skip-quality)"}
        ),
    })
    extra["card"] = card
    extra["card_markdown"] = card_lib.render_markdown(card).encode("utf-8")
    return convert_lib.write_files(output, data, metadata, extra)


def _test_set(bundle):
    """The bundle's test set read from its config's data files, or the
    reason it cannot be (`data_problem`)."""
    problem = data_problem(bundle.metadata)
    if problem is not None:
        return None, problem
    config = located_config(bundle.config, bundle.metadata)
    if bundle.task == "translation":
        corpus, _ = load_parallel_corpus(config.data)
        return corpus["test"], None
    corpus, _ = load_tagging_corpus(config.data)
    return corpus["test"], None


def quality_change(bundle, path: str) -> dict:
    """The test-set quality of the `.tflite` at `path` against that of the
    trained model (the bundle's `evaluation`): BLEU for translators (beam
    search when the config's beam is over 1, else greedy), entity F1 or
    accuracy for taggers.

    Returns:
        `{"measured": True, "metric", "reference", "exported", "change",
        "sentences", "setting"}`, or `{"measured": False, "reason"}` when
        the bundle has no evaluation or its test data is not here.
    """
    evaluation = bundle.metadata.get("evaluation")
    if evaluation is None:
        return {"measured": False,
                "reason": "the bundle has no test-set evaluation to compare with"}
    test, reason = _test_set(bundle)
    if reason is not None:
        return {"measured": False, "reason": reason}
    runner = load_runner(path)
    config = bundle.config
    if bundle.task == "translation":
        beam = config.decoding.beam_size > 1
        hypotheses = runner.translate(list(test["source"]), beam=beam)
        metric = "bleu"
        exported = corpus_scores(hypotheses, list(test["target"]))[metric]
        setting = (f"beam search of {runner.metadata['beam_size']} in the file"
                   if beam else "greedy search in the file")
        setting += f"; the trained model: {evaluation['decoding']}"
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", TruncationWarning)
            predicted = [
                [tag for tag in runner.tag_tokens(list(tokens)) if tag]
                for tokens in test["tokens"]
            ]
        scores = score_tagging(
            [list(tags) for tags in test["tags"]], predicted,
            config.data.scheme, config.model_scheme,
        )
        metric = "f1" if config.is_entity_task else "accuracy"
        exported = scores[metric]
        setting = "the same decoding as the trained model"
    reference = evaluation["scores"][metric]
    return {
        "measured": True,
        "metric": metric,
        "reference": reference,
        "exported": exported,
        "change": round(exported - reference, 2),
        "sentences": len(test),
        "setting": setting,
    }
