"""The translation pipeline: corpus -> SentencePiece -> train -> bundle ->
evaluate -> export."""

from __future__ import annotations

import os
import time

from nlp_lstm import config as config_lib
from nlp_lstm.bundle import TranslatorBundle
from nlp_lstm.bundle.card import write_run_card
from nlp_lstm.bundle.files import set_evaluation
from nlp_lstm.bundle.models import reopen_run
from nlp_lstm.data.batching import (
    encode_split,
    lowercased_pairs,
    sampled_segmentations,
    translation_dataset,
    translation_training_dataset,
)
from nlp_lstm.data.parallel import load_parallel_corpus
from nlp_lstm.decoding.shortlist import training_shortlist
from nlp_lstm.evaluation import plots
from nlp_lstm.evaluation.slices import RARITY, translation_slices, word_counts
from nlp_lstm.evaluation.translation import choose_length_penalty, corpus_scores
from nlp_lstm.evaluation.validation import TranslationValidator
from nlp_lstm.export.bundles import export_saved_model
from nlp_lstm.models.translator import build_translator
from nlp_lstm.text import sentencepiece as sp
from nlp_lstm.training import distribute
from nlp_lstm.training.distribute import Distribution
from nlp_lstm.training.inputs import tokenizer_models
from nlp_lstm.training.losses import translator_loss, translator_training_loss
from nlp_lstm.training.optimizers import build_optimizer
from nlp_lstm.training.trainer import read_history, set_seed, train
from nlp_lstm.utils.files import (
    atomic_write_bytes,
    atomic_write_json,
    exclusive_folder,
)

VALIDATION_BLEU_SENTENCES = 500
SAMPLE_SENTENCES = 8


def run(config: config_lib.TranslationConfig, verbose: int = 1) -> dict:
    """Runs the whole pipeline; returns the report also written to `report.json`.

    The run folder ends up a bundle (`nlp_lstm.load(config.run_dir)`).
    """
    return distribute.run_as_worker(config, verbose, _run)


def _run(config: config_lib.TranslationConfig, verbose: int,
         distribution: Distribution) -> dict:
    os.makedirs(config.run_dir, exist_ok=True)
    atomic_write_json(
        os.path.join(config.run_dir, "config.json"), config_lib.to_dict(config)
    )
    config_lib.check_memory(config)
    set_seed(config.training.seed)
    corpus, skipped = load_parallel_corpus(config.data)
    tokenizers = tokenizer_models(config, corpus)
    source_processor = sp.processor(tokenizers["source"])
    target_processor = sp.processor(tokenizers["target"])

    def examples(split):
        return encode_split(config, source_processor, target_processor, corpus[split])

    train_sources, train_targets, dropped = examples("train")
    lower_sources, lower_targets = lowercased_pairs(
        config, source_processor, target_processor, corpus["train"]
    )
    train_sources, train_targets = (
        train_sources + lower_sources, train_targets + lower_targets
    )
    dev_sources, dev_targets, _ = examples("dev")
    sampled = sampled_segmentations(
        config, source_processor, target_processor, corpus["train"]
    )
    with distribute.scope(distribution.strategy):
        model = build_translator(
            config.model, source_processor.vocab_size(), target_processor.vocab_size()
        )
    test = corpus["test"]
    bundle = TranslatorBundle(
        config, model, tokenizers,
        metadata={"samples": list(test["source"])[:SAMPLE_SENTENCES]},
        shortlist=training_shortlist(
            config, train_sources, train_targets, source_processor.vocab_size()
        ),
    )
    # Validation BLEU (greedy, on the first dev sentences) when it stops
    # training, and for the training curves of the run's plots.
    validation_bleu = (
        config.training.early_stopping_metric == "val_bleu" or config.card.plots
    )
    validator = TranslationValidator(
        model,
        # Validation loss is the plain negative log-likelihood (no smoothing).
        translator_loss(0.0),
        translation_dataset(
            dev_sources, dev_targets, batch_size=64,
            bucket_width=config.data.bucket_width, max_length=config.data.max_length,
        ),
        translate=bundle.text_translator(beam_size=1) if validation_bleu else None,
        texts=corpus["dev"][:VALIDATION_BLEU_SENTENCES],
    )
    with distribute.scope(distribution.strategy):
        result = train(
            model,
            build_optimizer(config.training),
            translator_training_loss(config.training),
            translation_training_dataset(
                config, train_sources, train_targets, sampled
            ),
            validator,
            config.training,
            config.run_dir,
            verbose=verbose,
            strategy=distribution.strategy,
            restore_dir=distribution.restore_dir,
        )
    length_penalty = tune_length_penalty(config, bundle, corpus["dev"], verbose)
    start = time.perf_counter()
    hypotheses = bundle.translate(list(test["source"]))
    decode_seconds = time.perf_counter() - start
    scores = corpus_scores(hypotheses, list(test["target"]))
    atomic_write_bytes(
        os.path.join(config.run_dir, "test.hyp"),
        ("\n".join(hypotheses) + "\n").encode("utf-8"),
    )
    bundle.metadata["evaluation"] = test_evaluation(
        config, corpus, hypotheses, scores, dropped
    )
    bundle.save(config.run_dir)
    card_path, plot_paths = describe(config, bundle, result.history)
    export_path = (
        export_saved_model(bundle, run_dir=config.run_dir)
        if config.export.enabled
        else None
    )

    report = {
        **_test_report(config, scores, decode_seconds, export_path),
        **_training_report(result, corpus, skipped, dropped),
        "vocab_size": {
            "source": source_processor.vocab_size(),
            "target": target_processor.vocab_size(),
        },
        "parameters": int(sum(v.numpy().size for v in model.trainable_variables)),
        "length_penalty": length_penalty,
        "lowercased_pairs": len(lower_sources),
        "card": card_path,
        "plots": plot_paths,
    }
    atomic_write_json(os.path.join(config.run_dir, "report.json"), report)
    if verbose:
        print(
            f"BLEU {report['bleu']} chrF {report['chrf']} "
            f"on {report['test_sentences']} "
            f"test sentences; exported to {export_path}"
        )
    return report


def tune_length_penalty(config, bundle, dev, verbose: int = 0) -> dict:
    """Sets the bundle's length penalty to the one of
    `decoding.length_penalties` with the best BLEU on the dev set (beam
    search only; none tried otherwise).

    Returns:
        `{"value": chosen, "tried": [{"length_penalty", "bleu", "chrf"}, ...]}`
        (dev scores; `tried` is empty when nothing was tried).
    """
    decoding = config.decoding
    if not decoding.length_penalties or decoding.beam_size == 1:
        return {"value": decoding.length_penalty, "tried": []}
    sources = list(dev["source"])

    def translate(value: float) -> list[str]:
        bundle.set_decoding(length_penalty=value)
        return bundle.translate(sources)

    chosen, tried = choose_length_penalty(
        translate, list(dev["target"]), decoding.length_penalties
    )
    bundle.set_decoding(length_penalty=chosen)
    if verbose:
        scores = ", ".join(f"{row['length_penalty']:g}: {row['bleu']}" for row in tried)
        print(f"length penalty {chosen:g} chosen on {len(sources):,} dev sentences "
              f"(BLEU {scores})")
    return {"value": chosen, "tried": tried}


def _test_report(config, scores: dict, decode_seconds: float, export_path) -> dict:
    return {
        "task": "translation",
        "name": config.name,
        "bleu": scores["bleu"],
        "chrf": scores["chrf"],
        "bleu_signature": scores["bleu_signature"],
        "test_sentences": scores["sentences"],
        "beam_size": config.decoding.beam_size,
        "decode_seconds": round(decode_seconds, 2),
        "export_path": export_path,
    }


def _training_report(result, corpus, skipped, dropped: int) -> dict:
    return {
        "train_seconds": round(result.train_seconds, 1),
        "steps": result.steps,
        "train_tokens_per_second": round(result.tokens_per_second, 1),
        "stopped_early": result.stopped_early,
        "best_validation": result.best_metric,
        "history": result.history,
        "corpus": {split: len(corpus[split]) for split in corpus},
        "skipped_lines": skipped.as_dict(),
        "dropped_too_long": dropped,
    }


def test_evaluation(config, corpus, hypotheses: list[str], scores: dict,
                    dropped: int) -> dict:
    """What the model card shows of the test set: the scores, the same per
    slice with bootstrap intervals, and the limits the data shows."""
    test, train_sources = corpus["test"], list(corpus["train"]["source"])
    sources = list(test["source"])
    counts = word_counts(train_sources)
    sliced = translation_slices(
        sources, hypotheses, list(test["target"]), counts, config.card.rare_below
    )
    beam = config.decoding.beam_size
    decoding = (
        "greedy search" if beam == 1
        else f"beam search of {beam} (length penalty {config.decoding.length_penalty}"
        + (", chosen on the dev set)" if config.decoding.length_penalties else ")")
    )
    lengths = sorted(len(text.split()) for text in train_sources)
    longest = lengths[-1] if lengths else 0
    p99 = lengths[int(0.99 * (len(lengths) - 1))] if lengths else 0
    unseen = next(
        (row["sentences"] for row in sliced["slices"]["rare_words"]
         if row["slice"] == RARITY[0]),
        0,
    )
    longer = sum(len(text.split()) > longest for text in sources)
    decoding_config = config.decoding
    languages = config.card.languages
    notes = [
        f"Sources longer than {decoding_config.max_source_tokens} SentencePiece "
        "pieces are cut there before translation.",
        f"Outputs stop after ceil({decoding_config.max_length_ratio} x source "
        f"pieces) + {decoding_config.max_length_offset} pieces.",
        f"Trained on {len(train_sources):,} sentence pairs of at most "
        f"{config.data.max_length} pieces a side ({dropped:,} longer pairs left "
        f"out); the longest training source has {longest} words, 99% have at "
        f"most {p99}: {longer} of the {len(sources):,} test sources are longer "
        "than any training source.",
        f"{unseen} of the {len(sources):,} test sources "
        f"({100.0 * unseen / max(len(sources), 1):.1f}%) have a word never seen "
        "in the training sources.",
        (f"Trained on {' -> '.join(languages)} only; other languages and "
         "directions are not covered."
         if languages else "The languages are not stated (card.languages)."),
    ]
    return {
        "test_set": {
            "description": _test_description(config, len(sources)),
            "sentences": len(sources),
        },
        "decoding": decoding,
        "scores": scores,
        "slices": sliced,
        "limits": {
            "max_source_tokens": decoding_config.max_source_tokens,
            "train_max_length": config.data.max_length,
            "dropped_too_long": dropped,
            "train_source_words": {"max": longest, "p99": p99},
            "test_sources_longer_than_training": longer,
            "test_sources_with_unseen_words": unseen,
            "notes": notes,
        },
    }


def _test_description(config, sentences: int) -> str:
    data = config.data
    if data.format == "tsv":
        return (f"{sentences:,} pairs held out of {os.path.basename(data.path)} "
                f"(seed {data.seed})")
    return (f"{sentences:,} pairs of {os.path.basename(data.test_source)} / "
            f"{os.path.basename(data.test_target)}")


def draw_plots(config, bundle, history: list[dict], test_sources: list[str]) -> list:
    """The run's training curves and the attention of a few test sentences,
    in `run_dir/plots/`; returns the paths."""
    folder, paths = plots.run_plots(config.run_dir, config.name, history)
    examples = [text for text in test_sources if text.strip()]
    examples = examples[: config.card.attention_examples]
    for index, aligned in enumerate(bundle.align(examples, beam_size=1), start=1):
        if not aligned["source_pieces"]:
            continue
        paths.append(plots.attention_heatmap(
            aligned["source_pieces"], aligned["target_pieces"], aligned["weights"],
            os.path.join(folder, f"attention_{index}.png"),
            f"{examples[index - 1]}\n-> {aligned['translation']}",
        ))
    return paths


def describe(config, bundle, history: list[dict]) -> tuple[str, list[str]]:
    """Writes the run folder's model card and (`card.plots`) its plots;
    returns their paths."""
    card_path = write_run_card(bundle, config.run_dir)
    if not config.card.plots:
        return card_path, []
    examples = bundle.metadata.get("samples", [])
    return card_path, draw_plots(config, bundle, history, examples)


def describe_run(run_dir: str, verbose: int = 1) -> dict:
    """Evaluates a translator's run folder on its test set again and writes
    what `run` writes after training: the evaluation in `bundle.json`, the
    card and the plots (for runs made before cards, or after a change of
    the `card` section). The training data must be there, unchanged.

    Returns:
        The evaluation.
    """
    with exclusive_folder(run_dir):
        bundle, config = reopen_run(run_dir)
        corpus, _ = load_parallel_corpus(config.data)
        _, _, dropped = encode_split(
            config, sp.processor(bundle.tokenizers["source"]),
            sp.processor(bundle.tokenizers["target"]), corpus["train"],
        )
        test = corpus["test"]
        hypotheses = bundle.translate(list(test["source"]))
        scores = corpus_scores(hypotheses, list(test["target"]))
        evaluation = test_evaluation(config, corpus, hypotheses, scores, dropped)
        bundle.metadata = set_evaluation(run_dir, evaluation)
        describe(config, bundle, read_history(run_dir))
    if verbose:
        print(f"BLEU {scores['bleu']} on {scores['sentences']} test sentences; "
              f"card: {os.path.join(run_dir, 'card.md')}")
    return evaluation

