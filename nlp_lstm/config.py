"""Dataclass configs loaded from YAML, with `--set KEY=VALUE` overrides.

Every pipeline config is a tree of small dataclasses. Loading validates the whole
tree before any work starts: unknown keys (with a "did you mean"), wrong types,
out-of-range values and missing files all raise `ConfigError` naming the key and
the expected form.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
import re
import types
import typing
import warnings
from typing import Any

import psutil
import yaml


class ConfigError(ValueError):
    """A config key, value or file is wrong; the message says what to change."""


class MemoryRiskWarning(UserWarning):
    """One training step may not fit in the machine's memory."""


# SentencePiece models are trained with byte fallback: 256 byte pieces and the
# 4 special ids come before any character or word piece.
MIN_VOCAB_SIZE = 300


def _suggest(name: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(name, choices, n=1)
    if close:
        return f" Did you mean '{close[0]}'?"
    return f" Valid keys: {', '.join(sorted(choices))}."


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp))


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """Checks `value` against the annotation `tp`, converting where lossless."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, key)
            except ConfigError as error:
                errors.append(str(error))
        raise ConfigError(errors[0] if errors else f"{key}: bad value {value!r}")
    if origin is typing.Literal:
        allowed = typing.get_args(tp)
        if value not in allowed:
            raise ConfigError(
                f"{key} must be one of {', '.join(map(repr, allowed))}, got {value!r}"
            )
        return value
    if origin in (list, tuple):
        (item_type, *_) = typing.get_args(tp) or (Any,)
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key} must be a list, got {value!r}")
        return [_coerce(v, item_type, f"{key}[{i}]") for i, v in enumerate(value)]
    if tp is Any:
        return value
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{key} must be true or false, got {value!r}")
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key} must be an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key} must be a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key} must be a string, got {value!r}")
        return value
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, prefix=key)
    raise ConfigError(f"{key}: unsupported type {_type_name(tp)}")


def from_dict(cls: type, data: Any, prefix: str = "") -> Any:
    """Builds dataclass `cls` from a nested dict, validating every key."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        where = prefix or "config"
        raise ConfigError(f"{where} must be a mapping of keys, got {data!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs = {}
    for name, value in data.items():
        key = f"{prefix}.{name}" if prefix else str(name)
        if name not in fields:
            raise ConfigError(
                f"Unknown config key '{key}'.{_suggest(name, list(fields))}"
            )
        kwargs[name] = _coerce(value, hints[name], key)
    config = cls(**kwargs)
    validate = getattr(config, "validate", None)
    if validate is not None:
        validate(prefix)
    return config


def to_dict(config: Any) -> dict:
    return dataclasses.asdict(config)


def parse_override(text: str) -> tuple[list[str], Any]:
    """Parses `a.b.c=VALUE`; VALUE is read as YAML (numbers, booleans, lists)."""
    if "=" not in text:
        raise ConfigError(f"--set expects KEY=VALUE, got {text!r}")
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key:
        raise ConfigError(f"--set expects KEY=VALUE, got {text!r}")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return key.split("."), value


def apply_overrides(data: dict, overrides: list[str]) -> dict:
    for text in overrides:
        path, value = parse_override(text)
        node = data
        for part in path[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"--set {text}: '{part}' is not a section")
            node = child
        node[path[-1]] = value
    return data


def load(cls: type, path: str | None, overrides: list[str] | None = None) -> Any:
    """Loads a YAML config file into dataclass `cls`, applying `--set` overrides."""
    data: dict = {}
    if path is not None:
        if not os.path.isfile(path):
            raise ConfigError(
                f"Config file not found: {path}. Pass an existing YAML file."
            )
        with open(path, encoding="utf-8") as stream:
            try:
                data = yaml.safe_load(stream) or {}
            except yaml.YAMLError as error:
                raise ConfigError(f"Config file {path} is not valid YAML: {error}")
            except UnicodeDecodeError:
                raise ConfigError(
                    f"Config file {path} is not UTF-8 text; save it as UTF-8"
                ) from None
        if not isinstance(data, dict):
            raise ConfigError(
                f"Config file {path} must hold a mapping of keys (name: ..., "
                f"data: ...), not a {type(data).__name__}"
            )
    apply_overrides(data, list(overrides or []))
    config = from_dict(cls, data)
    check_input_files(config)
    return config


def check_input_files(config: Any, prefix: str = "") -> None:
    """Checks that the input files a run reads (corpora, pretrained vectors)
    exist: every nested config's `check_files`. `from_dict` does not, so that
    a trained model's config loads without its training data."""
    check = getattr(config, "check_files", None)
    if check is not None:
        check(prefix)
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        if dataclasses.is_dataclass(value):
            check_input_files(value, join(prefix, field.name))


def check_positive(value: float, key: str, allow_zero: bool = False) -> None:
    if value < 0 or (value == 0 and not allow_zero):
        bound = "non-negative" if allow_zero else "positive"
        raise ConfigError(f"{key} must be {bound}, got {value!r}")


def check_range(value: float, key: str, low: float, high: float) -> None:
    if not low <= value <= high:
        raise ConfigError(f"{key} must be between {low} and {high}, got {value!r}")


def check_file(path: str, key: str) -> None:
    if not os.path.isfile(path):
        raise ConfigError(
            f"{key}: file not found: {path}. Point it at an existing file."
        )


NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def check_name(name: str, key: str) -> None:
    """A model name is one folder name (`saved_models/<name>`): letters,
    digits, `.`, `_` and `-`, not starting with `.` (no `..`, no `/`), so
    that it can never point outside its folder."""
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise ConfigError(
            f"{key} must be a folder name of letters, digits, '.', '_' and '-' "
            f"that starts with a letter or digit, got {name!r}"
        )


def check_folder(path: str, key: str) -> None:
    """Fails unless `path` is a folder or can be made one here: its nearest
    existing ancestor must be a folder this process can write in."""
    current = os.path.abspath(path)
    while not os.path.exists(current) and os.path.dirname(current) != current:
        current = os.path.dirname(current)
    if not os.path.isdir(current):
        raise ConfigError(
            f"{key}: {path} cannot be made a folder, as {current} is a file; "
            f"set {key} to a folder path"
        )
    if not os.access(current, os.W_OK | os.X_OK):
        raise ConfigError(
            f"{key}: cannot write in {current} (permission denied); set {key} "
            "to a folder you can write to"
        )


def join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


# ---------------------------------------------------------------------------
# Component configs shared by the pipelines.


@dataclasses.dataclass
class TokenizerConfig:
    """SentencePiece training options."""

    model_type: typing.Literal["unigram", "bpe"] = "unigram"
    vocab_size: int = 8000
    character_coverage: float = 1.0
    shared: bool = True
    # The source model reads text case-folded (SentencePiece's `nmt_nfkc_cf`
    # normalization: NFKC, then lower case), wherever it runs (training,
    # SavedModel, TFLite); targets keep their case. With `shared`, one
    # vocabulary, trained on the folded sources and the targets, and two
    # model files of the same pieces that differ in their normalizer. For a
    # source language whose case is mostly position ("Hola, ¿cómo estás?"
    # against the corpus's "¿Cómo estás?").
    case_fold_source: bool = False
    directory: str = "tokenizers"
    max_sentences: int = 2_000_000

    def model_files(self, stem: str = "tokenizer") -> dict:
        """`{side: file name}` of the SentencePiece models, named from `stem`
        (`"tokenizer"` in a run folder and a bundle, the config's name in
        `directory`): `<stem>.model` for both sides when shared,
        `<stem>.source.model` and `<stem>.target.model` when not; shared and
        folding case, the source's copy (same pieces, folding normalizer) is
        `<stem>.source.model`."""
        if self.shared and self.case_fold_source:
            return {"source": f"{stem}.source.model", "target": f"{stem}.model"}
        if self.shared:
            return {"source": f"{stem}.model", "target": f"{stem}.model"}
        return {side: f"{stem}.{side}.model" for side in ("source", "target")}

    def check_files(self, prefix: str = "") -> None:
        check_folder(self.directory, join(prefix, "directory"))

    def validate(self, prefix: str = "") -> None:
        if self.vocab_size < MIN_VOCAB_SIZE:
            raise ConfigError(
                f"{join(prefix, 'vocab_size')} must be at least {MIN_VOCAB_SIZE} "
                "(256 byte-fallback pieces, 4 special ids and the characters of "
                f"the corpus), got {self.vocab_size}"
            )
        check_range(
            self.character_coverage, join(prefix, "character_coverage"), 0.9, 1.0
        )
        check_positive(self.max_sentences, join(prefix, "max_sentences"))


@dataclasses.dataclass
class EncoderConfig:
    num_layers: int = 2
    units: int = 128
    cell: typing.Literal["lstm", "peephole_lstm", "gru"] = "lstm"
    dropout: float = 0.2
    residual: bool = True

    def validate(self, prefix: str = "") -> None:
        check_positive(self.num_layers, join(prefix, "num_layers"))
        check_positive(self.units, join(prefix, "units"))
        check_range(self.dropout, join(prefix, "dropout"), 0.0, 0.9)


@dataclasses.dataclass
class ClusterConfig:
    """The workers of `training.distribution: multi_worker`, when not given
    by the `TF_CONFIG` environment variable (which it then overrides).

    Attributes:
        workers: `host:port` of every worker, the chief (worker 0) first.
        index: this process's position in `workers`.
        timeout_seconds: how long a worker waits for its peers (at start-up
            and in every all-reduce) before it fails naming them.
    """

    workers: list[str] = dataclasses.field(default_factory=list)
    index: int = -1
    timeout_seconds: int = 120

    def validate(self, prefix: str = "") -> None:
        check_positive(self.timeout_seconds, join(prefix, "timeout_seconds"))
        if self.workers and not 0 <= self.index < len(self.workers):
            raise ConfigError(
                f"{join(prefix, 'index')} must be from 0 to {len(self.workers) - 1} "
                f"(the position of this worker in {join(prefix, 'workers')}), "
                f"got {self.index}"
            )
        for address in self.workers:
            host, _, port = address.rpartition(":")
            if not host or not port.isdigit():
                raise ConfigError(
                    f"{join(prefix, 'workers')}: {address!r} is not host:port"
                )


# Arithmetic of matmuls (`training.precision`, `decoding.precision`;
# `layers.linear.matmul_precision`).
PRECISIONS = ("float32", "bfloat16")
Precision = typing.Literal[PRECISIONS]


@dataclasses.dataclass
class TrainingConfig:
    optimizer: typing.Literal["adam", "rmsprop", "sgd"] = "adam"
    learning_rate: float = 1e-3
    schedule: typing.Literal["constant", "inverse_sqrt", "exponential"] = "constant"
    # Linear warm-up of the learning rate over the first steps, for every
    # schedule (0: none; `training.optimizers.build_schedule`).
    warmup_steps: int = 0
    decay_rate: float = 0.5
    decay_steps: int = 10000
    clip_norm: float = 5.0
    label_smoothing: float = 0.1
    # Translators: a sampled softmax in training (`training.losses.
    # sampled_cross_entropy`): the normalizer from the batch's target pieces
    # and this many log-uniform draws, not the whole vocabulary (0). Faster
    # steps where the output projection is a large share of the step (large
    # vocabularies, small decoders); validation, search and export are
    # unchanged. On Multi30k: 0.75-0.78x the float32 step, 0.65 BLEU less
    # after the full schedule over four paired runs (README, "Sampled
    # softmax").
    sampled_softmax: int = 0
    # The share of `steps` trained with the sampled softmax when it is on; the
    # steps after it train on the whole vocabulary, so that the run ends on
    # the exact loss (1.0: every step; the switch traces the step once more).
    # Multi30k, float32, 0.75, one seed: 0.54 of the sampled softmax's 1.28
    # BLEU back for a quarter of its time saved (README, "Sampled softmax").
    sampled_softmax_until: float = 1.0
    steps: int = 10000
    eval_every: int = 1000
    checkpoint_every: int = 500
    keep_checkpoints: int = 3
    early_stopping_metric: typing.Literal["val_loss", "val_bleu", "none"] = "val_loss"
    patience: int = 4
    seed: int = 1234
    # Weights averaged over training (0: off): each step the average moves
    # `1 - ema_decay` of the way to the weights (0.999: about the last 1,000
    # steps). Validation, the best weights and the trained model use the
    # average; training goes on from the weights (`training.trainer.averaged`).
    ema_decay: float = 0.0
    # Slices of each batch computed at once on different cores (0: one per
    # core, up to two; 1: off; see `training.trainer.make_train_step`). The
    # objective and the distribution of gradients under dropout are those of
    # one tower (tests/training/test_training_step.py and
    # tests/training/test_dropout_statistics.py).
    towers: int = 0
    # Arithmetic of the training step's matmuls: `float32`, or `bfloat16`
    # (mixed precision: bfloat16 products, float32 weights, states, losses and
    # optimizer; `layers.linear`). bfloat16 pays on CPUs with bfloat16
    # instructions (AVX512-BF16, AMX); elsewhere it is emulated and slower.
    # The search has its own, `decoding.precision`.
    precision: Precision = "float32"
    # Replicas with tf.distribute (`nlp_lstm.training.distribute`): `none`;
    # `mirrored`, `replicas` logical CPU devices of this machine; or
    # `multi_worker`, one process per worker (`TF_CONFIG` or `cluster`).
    distribution: typing.Literal["none", "mirrored", "multi_worker"] = "none"
    replicas: int = 2
    cluster: ClusterConfig = dataclasses.field(default_factory=ClusterConfig)

    def validate(self, prefix: str = "") -> None:
        check_positive(self.towers, join(prefix, "towers"), allow_zero=True)
        check_positive(self.replicas, join(prefix, "replicas"))
        check_positive(self.learning_rate, join(prefix, "learning_rate"))
        check_positive(self.steps, join(prefix, "steps"))
        check_positive(self.eval_every, join(prefix, "eval_every"))
        check_positive(self.checkpoint_every, join(prefix, "checkpoint_every"))
        check_positive(self.keep_checkpoints, join(prefix, "keep_checkpoints"))
        check_positive(self.clip_norm, join(prefix, "clip_norm"), allow_zero=True)
        check_positive(self.warmup_steps, join(prefix, "warmup_steps"), allow_zero=True)
        check_range(self.label_smoothing, join(prefix, "label_smoothing"), 0.0, 0.5)
        check_positive(
            self.sampled_softmax, join(prefix, "sampled_softmax"), allow_zero=True
        )
        check_range(
            self.sampled_softmax_until, join(prefix, "sampled_softmax_until"), 0.0, 1.0
        )
        check_positive(self.patience, join(prefix, "patience"))
        check_range(self.ema_decay, join(prefix, "ema_decay"), 0.0, 0.99999)


# Larger beams are refused: the search's time and memory grow with the beam
# (a typo like 1000 would otherwise run out of memory rather than fail).
MAX_BEAM_SIZE = 64


@dataclasses.dataclass
class DecodingConfig:
    beam_size: int = 5
    length_penalty: float = 0.6
    # Length penalties tried on the dev set after training (beam search only):
    # the one with the best dev BLEU replaces `length_penalty` in the run and
    # its exports. Empty: `length_penalty` as given.
    length_penalties: list[float] = dataclasses.field(default_factory=list)
    max_length_ratio: float = 1.5
    max_length_offset: int = 10
    batch_size: int = 64
    # Longer sources are cut to this many tokens (before EOS), in every format.
    max_source_tokens: int = 256
    # Arithmetic of the search's matmuls in Python and the SavedModel:
    # `float32`, or `bfloat16` (faster on CPUs with bfloat16 instructions;
    # some translations change, see the README). TFLite files stay float32.
    precision: Precision = "float32"
    # Lexical shortlist (`nlp_lstm.decoding.shortlist`): a search projects
    # onto the target pieces that translate its batch's source pieces (this
    # many per source piece, estimated on the training corpus), the
    # `shortlist_frequent` most frequent ones and copies of the source only,
    # instead of the whole vocabulary. 0: the whole vocabulary. Python and
    # SavedModel searches; TFLite files keep the whole vocabulary.
    shortlist: int = 0
    shortlist_frequent: int = 100
    # SavedModel searches look up the first decoder cell's product with the
    # previous token's embedding and the encoder's first input projections
    # in tables made at export (vocabulary x gates floats each: about 50 MB
    # for the Multi30k model) instead of computing them: 1.07x greedy and
    # 1.04-1.06x beam each, the same translations (README). false: a
    # smaller export and process.
    lookup_tables: bool = True

    def search_settings(self) -> dict:
        """The settings that every search of a model runs with, whatever
        runs it (Python, the SavedModel, a TFLite file): keyword arguments of
        `TextTranslator`, `TranslatorModule` and `TranslatorTFLite`."""
        return {
            "length_penalty": self.length_penalty,
            "max_length_ratio": self.max_length_ratio,
            "max_length_offset": self.max_length_offset,
            "max_source_tokens": self.max_source_tokens,
        }

    def validate(self, prefix: str = "") -> None:
        check_range(self.beam_size, join(prefix, "beam_size"), 1, MAX_BEAM_SIZE)
        check_positive(self.shortlist, join(prefix, "shortlist"), allow_zero=True)
        check_positive(
            self.shortlist_frequent, join(prefix, "shortlist_frequent"), allow_zero=True
        )
        check_positive(self.max_source_tokens, join(prefix, "max_source_tokens"))
        check_positive(
            self.length_penalty, join(prefix, "length_penalty"), allow_zero=True
        )
        for index, value in enumerate(self.length_penalties):
            check_positive(
                value, join(prefix, f"length_penalties[{index}]"), allow_zero=True
            )
        check_positive(self.max_length_ratio, join(prefix, "max_length_ratio"), True)
        check_positive(self.max_length_offset, join(prefix, "max_length_offset"), True)
        check_positive(self.batch_size, join(prefix, "batch_size"))


@dataclasses.dataclass
class ExportConfig:
    enabled: bool = True
    directory: str = "saved_models"
    warmup_sentences: int = 8

    def check_files(self, prefix: str = "") -> None:
        if self.enabled:
            check_folder(self.directory, join(prefix, "directory"))


@dataclasses.dataclass
class CardConfig:
    """What the model card (`nlp_lstm.bundle.card`) says that no file can
    tell, filled in by the user: fields left empty are listed on the card as
    missing, never invented. Also how the test set is sliced for it.

    Attributes:
        languages: the languages, as the user names them (translators:
            source then target).
        data_licence: the training data's licence, as its source declares it.
        intended_use, out_of_scope_use: who should use the model for what,
            and what it must not be used for.
        contact: who answers for the model.
        rare_below: words of the test set seen fewer times than this in the
            training data are "rare" in the card's slices.
        plots: write the training curves, attention heatmaps and confusion
            matrix into the run folder's `plots/` (translators then also log
            validation BLEU at each evaluation, for its curve).
        attention_examples: test sentences drawn as attention heatmaps.
    """

    languages: list[str] = dataclasses.field(default_factory=list)
    data_licence: str = ""
    intended_use: str = ""
    out_of_scope_use: str = ""
    contact: str = ""
    rare_below: int = 5
    plots: bool = True
    attention_examples: int = 3

    def validate(self, prefix: str = "") -> None:
        check_positive(self.rare_below, join(prefix, "rare_below"))
        check_positive(self.attention_examples, join(prefix, "attention_examples"),
                       allow_zero=True)


# ---------------------------------------------------------------------------
# Translation pipeline.


@dataclasses.dataclass
class TranslationDataConfig:
    """Where the parallel corpus is and how it is split, filtered and batched.

    `format: tsv` reads one `a<TAB>b` pair a line from `path` (Tatoeba's
    `spa.txt` is `english<TAB>spanish`) and takes `source_column` and
    `target_column`; it is split into train/dev/test with `seed`.
    `format: parallel` reads aligned files (plain or `.gz`) given per split.
    """

    format: typing.Literal["tsv", "parallel"] = "tsv"
    path: str = ""
    source_column: int = 0
    target_column: int = 1
    train_source: str = ""
    train_target: str = ""
    dev_source: str = ""
    dev_target: str = ""
    test_source: str = ""
    test_target: str = ""
    dev_size: int = 1000
    test_size: int = 1000
    seed: int = 1234
    max_examples: int = 0
    max_length: int = 64
    batch_size: int = 64
    batch_tokens: int = 0
    # Length buckets this many tokens wide, of the longer side of each pair.
    bucket_width: int = 4
    # Training batches whose pairs share a bucket of source lengths and one of
    # target lengths (evaluation keeps the longer side): Multi30k's training
    # batches pad 1.5% of their tokens instead of 14% (buckets 2 wide) and a
    # step takes 1.10x less time per real token, but four 3,000-step seeds
    # scored 34.66 +- 1.32 BLEU against 35.35 +- 0.63 without (three of four
    # lower): off (docs/benchmarks.md, "Translation batches bucketed by both
    # lengths").
    pair_buckets: bool = False
    shuffle_buffer: int = 50000
    # Subword regularization (Kudo 2018): besides the best segmentation, the
    # training pairs in `sampling_copies` segmentations sampled from the
    # SentencePiece models with smoothing `sampling_alpha` (unigram; for BPE
    # the merge-dropout probability), one per pass over the data in turn.
    # 0: off. Dev, test and exports use the best segmentation.
    sampling_alpha: float = 0.0
    sampling_copies: int = 8
    # This fraction of the training pairs is added again with its source
    # lower-cased (a seeded draw among the sources that change), so that a
    # model meets lower-case input: "Hola, ¿cómo estás?" writes a lower-case
    # "¿cómo" that the corpus has almost only as "¿Cómo". 0: off. With
    # `sampling_alpha`, only the passes over the best segmentation read them.
    lowercase_sources: float = 0.0

    def check_files(self, prefix: str = "") -> None:
        if self.format == "tsv":
            check_file(self.path, join(prefix, "path"))
            return
        for split in ("train", "dev", "test"):
            for side in ("source", "target"):
                name = f"{split}_{side}"
                check_file(getattr(self, name), join(prefix, name))

    def validate(self, prefix: str = "") -> None:
        if self.format == "tsv":
            for name in ("source_column", "target_column"):
                check_positive(getattr(self, name), join(prefix, name), allow_zero=True)
            if self.source_column == self.target_column:
                raise ConfigError(
                    f"{join(prefix, 'source_column')} and target_column must differ, "
                    f"both are {self.source_column}"
                )
        check_positive(self.dev_size, join(prefix, "dev_size"))
        check_positive(self.test_size, join(prefix, "test_size"))
        check_positive(self.max_examples, join(prefix, "max_examples"), allow_zero=True)
        check_positive(self.max_length, join(prefix, "max_length"))
        check_positive(self.batch_size, join(prefix, "batch_size"))
        check_positive(self.batch_tokens, join(prefix, "batch_tokens"), allow_zero=True)
        check_positive(self.bucket_width, join(prefix, "bucket_width"))
        check_positive(self.shuffle_buffer, join(prefix, "shuffle_buffer"))
        check_range(self.sampling_alpha, join(prefix, "sampling_alpha"), 0.0, 1.0)
        check_positive(self.sampling_copies, join(prefix, "sampling_copies"))
        check_range(self.lowercase_sources, join(prefix, "lowercase_sources"), 0.0, 1.0)


# The attention kinds a decoder can be configured with; the registry of
# `nlp_lstm.layers.attention` has one layer per name (tested).
ATTENTION_KINDS = ("luong_dot", "luong_general", "bahdanau")


@dataclasses.dataclass
class DecoderConfig:
    num_layers: int = 2
    units: int = 256
    cell: typing.Literal["lstm", "peephole_lstm", "gru"] = "lstm"
    dropout: float = 0.2
    attention: str = "luong_general"
    input_feeding: bool = True
    bridge: typing.Literal["dense", "copy", "zero"] = "dense"

    def validate(self, prefix: str = "") -> None:
        check_positive(self.num_layers, join(prefix, "num_layers"))
        check_positive(self.units, join(prefix, "units"))
        check_range(self.dropout, join(prefix, "dropout"), 0.0, 0.9)
        if self.attention not in ATTENTION_KINDS:
            raise ConfigError(
                f"{join(prefix, 'attention')} must be one of "
                f"{', '.join(ATTENTION_KINDS)}, got {self.attention!r}"
            )


@dataclasses.dataclass
class TranslatorModelConfig:
    embedding_dim: int = 256
    share_embeddings: bool = True
    tie_output: bool = False
    # Embeddings start uniform in [-embedding_init, embedding_init]. Keras'
    # default (0.05) kept the Multi30k translator on a plateau for its first
    # ~700 steps: validation loss 5.28 at step 500 against 3.59 with 0.1.
    embedding_init: float = 0.1
    encoder: EncoderConfig = dataclasses.field(default_factory=EncoderConfig)
    decoder: DecoderConfig = dataclasses.field(default_factory=DecoderConfig)

    def validate(self, prefix: str = "") -> None:
        check_positive(self.embedding_dim, join(prefix, "embedding_dim"))
        check_positive(self.embedding_init, join(prefix, "embedding_init"))


@dataclasses.dataclass
class TranslationConfig:
    name: str = "translator"
    run_dir: str = "runs/translator"
    data: TranslationDataConfig = dataclasses.field(
        default_factory=TranslationDataConfig
    )
    tokenizer: TokenizerConfig = dataclasses.field(default_factory=TokenizerConfig)
    model: TranslatorModelConfig = dataclasses.field(
        default_factory=TranslatorModelConfig
    )
    training: TrainingConfig = dataclasses.field(default_factory=TrainingConfig)
    decoding: DecodingConfig = dataclasses.field(default_factory=DecodingConfig)
    export: ExportConfig = dataclasses.field(default_factory=ExportConfig)
    card: CardConfig = dataclasses.field(default_factory=CardConfig)

    def check_files(self, prefix: str = "") -> None:
        check_folder(self.run_dir, join(prefix, "run_dir"))

    def validate(self, prefix: str = "") -> None:
        check_name(self.name, join(prefix, "name"))
        if self.tokenizer.case_fold_source and self.data.lowercase_sources:
            raise ConfigError(
                "data.lowercase_sources adds lower-cased copies of sources that "
                "tokenizer.case_fold_source already folds: set one of them only"
            )
        if self.model.share_embeddings and not self.tokenizer.shared:
            raise ConfigError(
                "model.share_embeddings needs one vocabulary: "
                "set tokenizer.shared=true "
                "or model.share_embeddings=false"
            )


# ---------------------------------------------------------------------------
# Tagging pipeline (sequence labeling: NER and POS).


@dataclasses.dataclass
class TaggingDataConfig:
    """Where the labeled corpus is, how to read it and how to batch it.

    `format: conll` reads one `token ... tag` line per token (columns split on
    tabs when the line has one, else on whitespace), blank lines between
    sentences, `-DOCSTART-` lines skipped; `token_column` and `tag_column`
    choose the columns (negative counts from the end). `format: conllu` reads
    CoNLL-U and takes the `tag_field` column (`upos` or `xpos`). Files may be
    gzipped. `scheme` is the tagging scheme of the files (`none` for POS tags);
    `repair` turns an I- tag that starts an entity into B- (IOB2/BIOES).
    `bad_lines` says what to do with a malformed line: `skip` drops its token
    and reports the file and line, `error` stops. `documents: true` (CoNLL
    files with `-DOCSTART-` lines) keeps each document whole as one sequence,
    up to `max_length` tokens; pair it with `training.tbptt`.
    """

    format: typing.Literal["conll", "conllu"] = "conll"
    train: str = ""
    dev: str = ""
    test: str = ""
    token_column: int = 0
    tag_column: int = -1
    tag_field: typing.Literal["upos", "xpos"] = "upos"
    scheme: typing.Literal["iob1", "iob2", "bioes", "none"] = "iob2"
    repair: bool = True
    bad_lines: typing.Literal["skip", "error"] = "skip"
    max_examples: int = 0
    max_length: int = 128
    batch_size: int = 32
    shuffle_buffer: int = 20000
    tokenizer: typing.Literal["whitespace", "unicode_script"] = "whitespace"
    documents: bool = False

    def check_files(self, prefix: str = "") -> None:
        for name in ("train", "dev", "test"):
            check_file(getattr(self, name), join(prefix, name))

    def validate(self, prefix: str = "") -> None:
        if self.token_column == self.tag_column:
            raise ConfigError(
                f"{join(prefix, 'token_column')} and tag_column must differ, "
                f"both are {self.token_column}"
            )
        if self.documents and self.format != "conll":
            raise ConfigError(
                f"{join(prefix, 'documents')} needs format: conll (documents are "
                f"marked by -DOCSTART- lines), got format: {self.format}"
            )
        check_positive(self.max_examples, join(prefix, "max_examples"), allow_zero=True)
        check_positive(self.max_length, join(prefix, "max_length"))
        check_positive(self.batch_size, join(prefix, "batch_size"))
        check_positive(self.shuffle_buffer, join(prefix, "shuffle_buffer"))


@dataclasses.dataclass
class WordEmbedderConfig:
    """Word, character and casing features of each token.

    `min_frequency` words of the training set (after `lowercase` and
    `normalize_digits`) get an embedding, the rest map to the unknown word.
    `pretrained` is an optional local GloVe or word2vec text file whose vectors
    (of size `word_dim`) initialize the matching words.
    `word_dropout` replaces words by the unknown word in training (so that
    its embedding is trained for the words never seen); `word_dropout_max_count`
    (0: any word) limits it to words seen at most that many times in training:
    1 with `word_dropout: 0.5` is Lample et al.'s singleton replacement.
    """

    word_dim: int = 100
    min_frequency: int = 2
    max_words: int = 0
    lowercase: bool = True
    normalize_digits: bool = True
    pretrained: str = ""
    char_encoder: typing.Literal["cnn", "lstm", "none"] = "cnn"
    char_dim: int = 30
    char_units: int = 50
    char_kernel_size: int = 3
    max_word_chars: int = 20
    min_char_frequency: int = 1
    casing_dim: int = 8
    dropout: float = 0.5
    word_dropout: float = 0.0
    word_dropout_max_count: int = 0
    # Word, character and casing embeddings start uniform in
    # [-embedding_init, embedding_init] (0.05: Keras' default).
    embedding_init: float = 0.05

    def check_files(self, prefix: str = "") -> None:
        if self.pretrained:
            check_file(self.pretrained, join(prefix, "pretrained"))

    def validate(self, prefix: str = "") -> None:
        check_positive(self.word_dim, join(prefix, "word_dim"))
        check_positive(self.embedding_init, join(prefix, "embedding_init"))
        check_positive(self.min_frequency, join(prefix, "min_frequency"))
        check_positive(self.max_words, join(prefix, "max_words"), allow_zero=True)
        check_positive(self.char_dim, join(prefix, "char_dim"))
        check_positive(self.char_units, join(prefix, "char_units"))
        check_positive(self.char_kernel_size, join(prefix, "char_kernel_size"))
        check_positive(self.max_word_chars, join(prefix, "max_word_chars"))
        check_positive(self.min_char_frequency, join(prefix, "min_char_frequency"))
        check_positive(self.casing_dim, join(prefix, "casing_dim"), allow_zero=True)
        check_range(self.dropout, join(prefix, "dropout"), 0.0, 0.9)
        check_range(self.word_dropout, join(prefix, "word_dropout"), 0.0, 0.9)
        check_positive(
            self.word_dropout_max_count, join(prefix, "word_dropout_max_count"),
            allow_zero=True,
        )


@dataclasses.dataclass
class TaggerModelConfig:
    """An embedder, the shared BiLSTM encoder and a softmax or CRF head.

    `scheme` is the scheme the model predicts in (entity tags are converted to
    it); `constrain_transitions` forbids invalid transitions in the CRF
    (such as O -> I-PER in IOB2).
    """

    embedder: WordEmbedderConfig = dataclasses.field(default_factory=WordEmbedderConfig)
    encoder: EncoderConfig = dataclasses.field(default_factory=EncoderConfig)
    head: typing.Literal["softmax", "crf"] = "crf"
    scheme: typing.Literal["iob2", "bioes"] = "iob2"
    start_end_transitions: bool = True
    constrain_transitions: bool = True
    dropout: float = 0.5

    def validate(self, prefix: str = "") -> None:
        check_range(self.dropout, join(prefix, "dropout"), 0.0, 0.9)


@dataclasses.dataclass
class TBPTTConfig:
    """Truncated backpropagation through time (`training.tbptt`).

    `chunk: K` (0: off) cuts each training sequence into chunks of K tokens:
    the recurrent states are carried across chunks, the gradients stop at
    chunk boundaries, and memory follows K rather than the sequence length
    (`nlp_lstm.training.tbptt`). For long sequences, such as whole documents
    (`data.documents: true`).
    """

    chunk: int = 0

    def validate(self, prefix: str = "") -> None:
        check_positive(self.chunk, join(prefix, "chunk"), allow_zero=True)


@dataclasses.dataclass
class TaggingTrainingConfig(TrainingConfig):
    """`TrainingConfig` with the tagging metrics for early stopping and
    truncated BPTT.

    `early_stopping_metric: auto` watches `val_f1` for entity tasks and
    `val_accuracy` for POS.
    """

    early_stopping_metric: typing.Literal[
        "auto", "val_loss", "val_f1", "val_accuracy", "none"
    ] = "auto"
    label_smoothing: float = 0.0
    eval_every: int = 500
    tbptt: TBPTTConfig = dataclasses.field(default_factory=TBPTTConfig)

    def validate(self, prefix: str = "") -> None:
        super().validate(prefix)
        if self.sampled_softmax:
            raise ConfigError(
                f"{join(prefix, 'sampled_softmax')} is for translators (a tagger "
                "scores its few tags exactly): set it to 0"
            )
        if self.tbptt.chunk and self.precision != "float32":
            raise ConfigError(
                f"{join(prefix, 'tbptt.chunk')} computes in float32: set "
                f"{join(prefix, 'precision')} to float32, or the chunk to 0"
            )


@dataclasses.dataclass
class TaggingExportConfig(ExportConfig):
    """`ExportConfig` plus the longest sentence the exported model tags.

    Longer sentences are cut to `max_tokens` tokens with a warning.
    """

    max_tokens: int = 512

    def validate(self, prefix: str = "") -> None:
        check_positive(self.max_tokens, join(prefix, "max_tokens"))


@dataclasses.dataclass
class TaggingConfig:
    name: str = "tagger"
    run_dir: str = "runs/tagger"
    data: TaggingDataConfig = dataclasses.field(default_factory=TaggingDataConfig)
    model: TaggerModelConfig = dataclasses.field(default_factory=TaggerModelConfig)
    training: TaggingTrainingConfig = dataclasses.field(
        default_factory=TaggingTrainingConfig
    )
    export: TaggingExportConfig = dataclasses.field(default_factory=TaggingExportConfig)
    card: CardConfig = dataclasses.field(default_factory=CardConfig)

    @property
    def is_entity_task(self) -> bool:
        return self.data.scheme != "none"

    @property
    def early_stopping_metric(self) -> str:
        """`training.early_stopping_metric` with `auto` resolved (`val_f1`
        for entity tasks, `val_accuracy` for POS)."""
        metric = self.training.early_stopping_metric
        if metric == "auto":
            return "val_f1" if self.is_entity_task else "val_accuracy"
        return metric

    @property
    def model_scheme(self) -> str:
        """The tag scheme the model predicts in: `model.scheme` for entity
        tasks, `none` for POS."""
        return self.model.scheme if self.is_entity_task else "none"

    def check_files(self, prefix: str = "") -> None:
        check_folder(self.run_dir, join(prefix, "run_dir"))

    def validate(self, prefix: str = "") -> None:
        check_name(self.name, join(prefix, "name"))
        metric = self.training.early_stopping_metric
        wrong = "val_accuracy" if self.is_entity_task else "val_f1"
        if metric == wrong:
            task = "entity" if self.is_entity_task else "POS (data.scheme: none)"
            raise ConfigError(
                f"training.early_stopping_metric {metric!r} is not computed for a "
                f"{task} task: use 'auto', 'val_loss' or 'none'"
            )


# ---------------------------------------------------------------------------
# Memory estimate, checked before training starts.

# Floats kept per token and unit of an LSTM layer for the backward pass (four
# gates, cell and hidden state, their activations) and their gradients.
LSTM_FLOATS_PER_UNIT = 12
# Share of the available memory one training step may take before a warning.
MEMORY_FRACTION = 0.5


def _translation_memory(config: TranslationConfig) -> tuple[int, int, int]:
    """`(floats, batch_size, length)` of one translation training step."""
    data, model = config.data, config.model
    length = data.max_length + 1  # EOS or BOS
    if data.batch_tokens:
        batch = max(1, data.batch_tokens // length)
    else:
        batch = data.batch_size
    tokens = batch * length
    encoder, decoder = model.encoder, model.decoder
    vocab = config.tokenizer.vocab_size
    floats = 2 * 2 * tokens * model.embedding_dim  # source + target, with grads
    floats += tokens * encoder.num_layers * 2 * encoder.units * LSTM_FLOATS_PER_UNIT
    floats += tokens * decoder.num_layers * decoder.units * LSTM_FLOATS_PER_UNIT
    floats += 3 * batch * length * length  # attention scores, weights, grads
    floats += 3 * tokens * (2 * encoder.units + decoder.units)  # contexts
    floats += 3 * tokens * vocab  # logits, softmax and their gradient
    parameters = vocab * model.embedding_dim * (1 if model.share_embeddings else 2)
    parameters += vocab * decoder.units
    floats += 4 * parameters  # weights, gradients, two Adam moments
    return floats, batch, length


def _tagging_memory(config: TaggingConfig) -> tuple[int, int, int]:
    """`(floats, batch_size, length)` of one tagging training step (with
    truncated BPTT, of one chunk)."""
    data, embedder = config.data, config.model.embedder
    batch, length = data.batch_size, data.max_length
    if config.training.tbptt.chunk:
        length = min(length, config.training.tbptt.chunk)
    tokens = batch * length
    char_floats = embedder.char_dim + embedder.char_units * (
        LSTM_FLOATS_PER_UNIT if embedder.char_encoder == "lstm" else 2
    )
    if embedder.char_encoder == "none":
        char_floats = 0
    encoder = config.model.encoder
    floats = 2 * tokens * embedder.max_word_chars * char_floats
    floats += 2 * tokens * (embedder.word_dim + embedder.casing_dim)
    floats += tokens * encoder.num_layers * 2 * encoder.units * LSTM_FLOATS_PER_UNIT
    return floats, batch, length


def estimate_training_memory(config) -> tuple[int, int, int]:
    """Estimated bytes of one training step's activations (and optimizer state)
    of a `TranslationConfig` or `TaggingConfig`, with the batch size and
    sentence length the estimate assumes: `(bytes, batch_size, length)`.

    It counts the tensors kept for the backward pass (embeddings, LSTM gates and
    states, attention, output logits and softmax), in float32, for a batch of
    sentences as long as `data.max_length`: an upper bound for one step, not
    counting TensorFlow's own overhead.
    """
    if isinstance(config, TranslationConfig):
        floats, batch, length = _translation_memory(config)
    elif isinstance(config, TaggingConfig):
        floats, batch, length = _tagging_memory(config)
    else:
        raise TypeError(f"no memory estimate for {type(config).__name__}")
    return 4 * floats, batch, length


def check_memory(config, available_bytes: int | None = None) -> str | None:
    """Warns (`MemoryRiskWarning`) when one training step of `config` may not
    fit in memory, before any work starts; returns the message, or None.

    Args:
        config: a `TranslationConfig` or `TaggingConfig`.
        available_bytes: int. Memory to compare with; default
            `psutil.virtual_memory().available`.
    """
    if available_bytes is None:
        available_bytes = psutil.virtual_memory().available
    needed, batch, length = estimate_training_memory(config)
    if needed <= MEMORY_FRACTION * available_bytes:
        return None
    gib = 2**30
    fits = max(1, math.floor(batch * MEMORY_FRACTION * available_bytes / needed))
    size = (
        "data.batch_tokens"
        if getattr(config.data, "batch_tokens", 0)
        else ("data.batch_size")
    )
    message = (
        f"One training step may not fit in memory: batch {batch} x length {length} "
        f"needs about {needed / gib:.1f} GiB of activations and optimizer state, "
        f"and {available_bytes / gib:.1f} GiB are available. Lower {size} "
        f"(about {fits} sentences a batch would fit) or data.max_length "
        f"(now {config.data.max_length}), or free memory."
    )
    warnings.warn(message, MemoryRiskWarning, stacklevel=2)
    return message
