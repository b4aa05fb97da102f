"""Fuzzing of exported SavedModels: Hypothesis strategies for hostile inputs and
the checks every signature must pass, shared by `tests/export/test_fuzz.py` (short
runs) and `benchmarks/fuzz_exports.py` (long runs with counts).

Every signature of `loaded.signatures` is fed, whatever its name: its inputs
are generated from their `TensorSpec`s (strings `[batch]`, pre-tokenized
strings `[batch, time]`, ids `[batch, time]`, ...). A call passes when it does
not raise, every output has one row per input, the output lengths stay under
the documented maximum and a second call on the same input gives the same
outputs.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import random
import re
import subprocess
import sys

import numpy as np
import tensorflow as tf
from hypothesis import strategies as st

from nlp_lstm.text.unicode import WHITE_SPACE

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LONG_LENGTH = 100_000
MAX_BATCH = 1000
LONG_MAX_BATCH = 64
# Sources of the tiny translator are cut shorter than the default 256 tokens,
# so that its (untrained, never stopping) searches stay short.
TINY_MAX_SOURCE_TOKENS = 32
SCRIPTS = [
    "Two young men are outside near many bushes.",
    "Zwei junge Männer sind im Freien.",
    "Привет, как дела?",
    "你好，世界。日本語のテキスト",
    "مرحبا بالعالم",
    "שלום עולם",
    "नमस्ते दुनिया",
    "🙂👍🏽👨‍👩‍👧 🇩🇪",
    "e\u0301 ﬁ Ａ ① ß İ",
    "a\u200bb\u200dc\ufeffd",
]
WHITESPACE = ["", " ", "\t", "\n", "\r\n", "\u00a0", "\u3000", "   \t \n "]
# Default_Ignorable_Code_Point (Unicode DerivedCoreProperties.txt) and the 25
# White_Space code points: every one of them, in any mix.
DEFAULT_IGNORABLE = [
    (0x00AD, 0x00AD), (0x034F, 0x034F), (0x061C, 0x061C), (0x115F, 0x1160),
    (0x17B4, 0x17B5), (0x180B, 0x180F), (0x200B, 0x200F), (0x202A, 0x202E),
    (0x2060, 0x206F), (0x3164, 0x3164), (0xFE00, 0xFE0F), (0xFEFF, 0xFEFF),
    (0xFFA0, 0xFFA0), (0xFFF0, 0xFFF8), (0x1BCA0, 0x1BCA3), (0x1D173, 0x1D17A),
    (0xE0000, 0xE0FFF),
]
IGNORABLE = [chr(c) for low, high in DEFAULT_IGNORABLE for c in range(low, high + 1)]
SPACES = [chr(c) for c in range(0x110000) if re.fullmatch(WHITE_SPACE, chr(c))]
LONG_UNITS = ["a", "word ", "🙂", "中文 ", "Mann und Frau, ", "\u0301", " "]

text_pieces = st.one_of(
    st.sampled_from(SCRIPTS),
    st.sampled_from(WHITESPACE),
    st.lists(st.sampled_from(SPACES + IGNORABLE), min_size=1, max_size=4).map("".join),
    st.text(max_size=40),  # any code point but surrogates, control chars included
    st.text(st.characters(categories=["Cc", "Cf", "Zl", "Zp", "Co"]), max_size=8),
)
mixed_text = st.lists(text_pieces, max_size=6).map("".join)
long_text = st.sampled_from(LONG_UNITS).map(
    lambda unit: (unit * (LONG_LENGTH // len(unit) + 1))[:LONG_LENGTH]
)
# A string input: text as UTF-8, or raw bytes (mostly invalid UTF-8).
strings = st.one_of(
    mixed_text.map(lambda text: text.encode("utf-8", "surrogatepass")),
    st.binary(max_size=40),
    st.sampled_from(
        [b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x00", b"a\x00b", b"\xf4\x90"]
    ),
)


@st.composite
def string_batches(draw, max_batch: int = MAX_BATCH) -> list[bytes]:
    """1 to `max_batch` strings: a few drawn by Hypothesis, the batch filled
    with variations of them (cut, joined, repeated), and in batches of up to
    `LONG_MAX_BATCH` rows at most two 100,000-character strings."""
    size = draw(
        st.one_of(
            st.integers(1, 8),
            st.integers(9, min(64, max_batch)),
            st.integers(min(65, max_batch), max_batch),
        )
    )
    base = draw(st.lists(strings, min_size=1, max_size=12))
    # 100,000-character rows go in batches of up to 64 rows (a whole batch
    # decodes as long as its longest row: 1,000 of those are test_fuzz's
    # extreme case, not every example's).
    if size <= LONG_MAX_BATCH and draw(st.integers(0, 4)) == 0:
        long = draw(st.lists(long_text, min_size=1, max_size=2))
        base += [text.encode("utf-8") for text in long]
    rng = random.Random(draw(st.integers(0, 2**32 - 1)))
    batch = list(base[:size])
    short = [s for s in base if len(s) < 1000] or [b""]
    while len(batch) < size:
        first, second = rng.choice(short), rng.choice(short)
        kind = rng.randrange(3)
        if kind == 0:
            start = rng.randrange(len(first) + 1)
            batch.append(first[start : start + rng.randrange(1, 60)])
        elif kind == 1:
            batch.append(first + rng.choice([b" ", b"", b"\t"]) + second)
        else:
            batch.append(first * rng.randrange(1, 4))
    rng.shuffle(batch)
    return batch


def _pad(rows, value, dtype):
    width = max([len(row) for row in rows] + [0])
    array = np.full((len(rows), width), value, dtype=dtype)
    for index, row in enumerate(rows):
        array[index, : len(row)] = row
    return array


@st.composite
def token_batches(draw, max_batch: int = MAX_BATCH) -> np.ndarray:
    """Pre-tokenized sentences `[batch, time]`, padded with "" (tokens may be
    empty, whitespace, invalid UTF-8, or rows of up to 2,000 tokens)."""
    sentences = draw(string_batches(max_batch))
    rows = []
    for sentence in sentences:
        tokens = sentence.split(b" ")
        if len(sentence) > 1000:
            tokens = tokens[:2000]
        rows.append(tokens)
    return _pad(rows, b"", object)


@st.composite
def id_batches(draw, max_batch: int = MAX_BATCH) -> np.ndarray:
    """Integer ids `[batch, time]`, padded with 0: ids in and out of the
    vocabulary, negative, 0 inside a row, rows up to 1,000 ids."""
    size = draw(st.one_of(st.integers(1, 8), st.integers(9, max_batch)))
    rng = random.Random(draw(st.integers(0, 2**32 - 1)))
    special = draw(st.lists(st.integers(-(2**31), 2**31 - 1), min_size=1, max_size=8))
    rows = []
    for _ in range(size):
        length = rng.choice([0, 1, 2, 5, 20, 100, rng.randrange(1000)])
        row = [
            rng.choice(special) if rng.random() < 0.1 else rng.randrange(0, 40000)
            for _ in range(length)
        ]
        rows.append(row)
    return _pad(rows, 0, np.int32)


def strategy_for(spec: tf.TensorSpec, max_batch: int = MAX_BATCH):
    """The Hypothesis strategy of one signature input, from its `TensorSpec`."""
    rank = spec.shape.rank
    if spec.dtype == tf.string and rank == 1:
        return string_batches(max_batch).map(lambda rows: np.array(rows, object))
    if spec.dtype == tf.string and rank == 2:
        return token_batches(max_batch)
    if spec.dtype.is_integer and rank == 2:
        return id_batches(max_batch).map(lambda a: a.astype(spec.dtype.as_numpy_dtype))
    if spec.dtype.is_integer and rank == 1:
        return id_batches(max_batch).map(
            lambda a: a[:, 0] if a.shape[1] else np.zeros(len(a), a.dtype)
        )
    raise NotImplementedError(f"no fuzz strategy for input {spec}")


def signature_inputs(function) -> dict:
    """`{input name: TensorSpec}` of a concrete signature function."""
    _, specs = function.structured_input_signature
    return dict(specs)


def inputs_strategy(function, max_batch: int = MAX_BATCH):
    """Inputs for every argument of `function`, with one batch size for all."""
    specs = signature_inputs(function)
    if len(specs) != 1:
        raise NotImplementedError(f"signature with inputs {sorted(specs)}")
    ((name, spec),) = specs.items()
    return strategy_for(spec, max_batch).map(lambda value: {name: value})


@dataclasses.dataclass
class ModelInfo:
    """What the checks need to know about an export: its task, its documented
    output limits and (for translators) its SentencePiece models."""

    task: str
    max_tokens: int = 512  # tagger
    max_source_tokens: int = 256  # translator
    max_length_ratio: float = 1.5
    max_length_offset: int = 10
    source_processor: object = None
    max_piece_bytes: int = 64
    tags: tuple = ()

    def max_output_tokens(self, source_tokens: int) -> int:
        """The documented bound: `ceil(ratio * source_tokens) + offset`, with
        the source cut to `max_source_tokens` and ended with EOS."""
        source = min(source_tokens, self.max_source_tokens) + 1
        return math.ceil(self.max_length_ratio * source) + self.max_length_offset

    def source_tokens(self, text: bytes) -> int:
        if self.source_processor is None:
            return self.max_source_tokens
        clean = text.decode("utf-8", "replace").strip(" \t\n\r\f\v")
        return len(self.source_processor.encode(clean))


def model_info(path: str, loaded=None) -> ModelInfo:
    """Reads `assets.extra/nlp_lstm.json` (and the tokenizer it names)."""
    metadata_path = os.path.join(path, "assets.extra", "nlp_lstm.json")
    metadata = {}
    if os.path.isfile(metadata_path):
        with open(metadata_path, encoding="utf-8") as stream:
            metadata = json.load(stream)
    task = metadata.get("task", "translation")
    if task == "tagging":
        return ModelInfo(
            task,
            max_tokens=metadata.get("max_tokens", 512),
            tags=tuple(metadata.get("tags", ())),
        )
    config = metadata.get("config", {})
    decoding = config.get("decoding", {})
    info = ModelInfo(
        task,
        max_source_tokens=metadata.get("max_source_tokens", 256),
        max_length_ratio=decoding.get("max_length_ratio", 1.5),
        max_length_offset=decoding.get("max_length_offset", 10),
    )
    tokenizer = config.get("tokenizer", {})
    if tokenizer.get("shared"):
        model = os.path.join(tokenizer.get("directory", ""), f"{config['name']}.model")
        if os.path.isfile(model):
            import sentencepiece as spm

            processor = spm.SentencePieceProcessor(model_file=model)
            info.source_processor = processor
            pieces = [processor.id_to_piece(i) for i in range(processor.vocab_size())]
            info.max_piece_bytes = max(3, max(len(p.encode()) for p in pieces))
    return info


SENTENCES = [
    "Two young men are outside near many bushes.",
    "Zwei junge Männer sind im Freien in der Nähe vieler Büsche.",
    "A little girl climbing into a wooden playhouse.",
    "Ein kleines Mädchen klettert in ein Spielhaus aus Holz.",
] * 20


def tiny_exports(root: str) -> dict:
    """Exports a tiny untrained translator (beam 3) and tagger (CRF) under
    `root`, as the pipelines export them; returns their version folders.
    Untrained, the translator emits tokens up to the length limit."""
    from nlp_lstm import config as config_lib
    from nlp_lstm.export.tagger import TaggerServing, export_tagger
    from nlp_lstm.export.translator import TranslatorModule, export_translator
    from nlp_lstm.models.tagger import build_tagger
    from nlp_lstm.models.translator import build_translator
    from nlp_lstm.text import sentencepiece as sp
    from nlp_lstm.text.tags import TagVocabulary
    from nlp_lstm.text.words import CharVocabulary, TokenFeaturizer, WordVocabulary

    tf.keras.utils.set_random_seed(0)
    model_bytes = sp.train_sentencepiece(SENTENCES, vocab_size=300)
    sp.save_model(model_bytes, os.path.join(root, "tokenizers", "tiny.model"))
    config = config_lib.TranslationConfig(name="tiny")
    config.tokenizer.directory = os.path.join(root, "tokenizers")
    config.model.embedding_dim = 16
    config.model.encoder.units = 8
    config.model.decoder.units = 16
    vocab = sp.processor(model_bytes).vocab_size()
    translator_model = build_translator(config.model, vocab, vocab)
    ids = tf.constant([[5, 6, 3]])
    translator_model((ids, ids))  # builds it, as training does
    module = TranslatorModule(
        translator_model,
        model_bytes,
        model_bytes,
        beam_size=3,
        max_source_tokens=TINY_MAX_SOURCE_TOKENS,
    )
    saved_models = os.path.join(root, "saved_models")
    translator = export_translator(
        module,
        saved_models,
        "tiny",
        {
            "config": dataclasses.asdict(config),
            "max_source_tokens": TINY_MAX_SOURCE_TOKENS,
        },
        server_versions=(),
    )
    tokens = [sentence.split() for sentence in SENTENCES]
    tags = TagVocabulary.build([["NOUN"] * len(row) for row in tokens], "none")
    words = WordVocabulary.build(tokens, min_frequency=1)
    chars = CharVocabulary.build(tokens, max_word_chars=8)
    tagger_config = config_lib.TaggerModelConfig(head="crf")
    tagger_config.embedder.word_dim = 8
    tagger_config.encoder.units = 8
    tagger_config.encoder.num_layers = 1
    tagger = build_tagger(tagger_config, tags, words.size, chars.size)
    serving = TaggerServing(
        tagger, TokenFeaturizer(words, chars), tags.tags, max_tokens=64
    )
    tagger_path = export_tagger(serving, saved_models, "tagger", {})
    return {"translator": translator, "tagger": tagger_path}


def _rows(value: np.ndarray, name: str, batch: int) -> None:
    assert value.ndim >= 1 and value.shape[0] == batch, (
        f"output {name} has shape {value.shape} for a batch of {batch}"
    )


def check_outputs(info: ModelInfo, inputs: dict, outputs: dict) -> None:
    """The documented contract of any signature's outputs."""
    ((name, value),) = inputs.items()
    batch = len(value)
    outputs = {key: np.asarray(tensor) for key, tensor in outputs.items()}
    for key, output in outputs.items():
        _rows(output, key, batch)
        if output.dtype.kind == "f":
            assert np.isfinite(output).all(), f"{key} has NaN or inf"
    if info.task == "tagging":
        _check_tagger(info, outputs)
    else:
        _check_translator(info, value, outputs)


def _check_tagger(info: ModelInfo, outputs: dict) -> None:
    lengths = outputs["lengths"]
    assert (lengths >= 0).all() and (lengths <= info.max_tokens).all(), lengths.max()
    for key in ("tokens", "tags"):
        assert outputs[key].ndim == 2 and outputs[key].shape[1] <= info.max_tokens
    for token in outputs["tokens"].reshape(-1):
        token.decode("utf-8")  # valid UTF-8 out
    tags = outputs["tags"]
    time = np.arange(tags.shape[1])[None, :]
    real = time < lengths[:, None]
    assert (tags[~real] == b"").all(), "tags past the length"
    if info.tags:
        allowed = {t.encode() for t in info.tags}
        assert set(tags[real].tolist()) <= allowed, "unknown tag"
    if "truncated" in outputs:
        assert not (outputs["truncated"] & (lengths < info.max_tokens)).any()


def _check_translator(info: ModelInfo, sources: np.ndarray, outputs: dict) -> None:
    if sources.dtype == object:
        counts = [info.source_tokens(source) for source in sources]
    else:  # ids: the row up to its first 0
        counts = [
            int(np.argmax(row == 0)) if (row == 0).any() else len(row)
            for row in sources
        ]
    bounds = np.array([info.max_output_tokens(n) for n in counts])
    if "lengths" in outputs:
        assert (outputs["lengths"] <= bounds).all(), "output longer than documented"
        assert (outputs["lengths"] >= 0).all()
    if "translation_ids" in outputs:
        assert outputs["translation_ids"].shape[1] <= bounds.max()
    for key in ("translations",):
        if key not in outputs:
            continue
        texts = outputs[key].reshape(len(sources), -1)
        for row, bound in zip(texts, bounds):
            for text in row:
                assert len(text) <= bound * info.max_piece_bytes, (
                    f"{len(text)} bytes out for at most {bound} tokens"
                )
                text.decode("utf-8")  # valid UTF-8 out


def same_outputs(first: dict, second: dict) -> bool:
    return first.keys() == second.keys() and all(
        np.array_equal(np.asarray(first[k]), np.asarray(second[k])) for k in first
    )


def call_and_check(function, info: ModelInfo, inputs: dict) -> dict:
    """Calls the signature twice on `inputs`, checks the outputs and that both
    calls agree; returns the outputs."""
    tensors = {key: tf.constant(value) for key, value in inputs.items()}
    outputs = {key: t.numpy() for key, t in function(**tensors).items()}
    check_outputs(info, inputs, outputs)
    again = {key: t.numpy() for key, t in function(**tensors).items()}
    assert same_outputs(outputs, again), "not deterministic"
    return outputs


# ---------------------------------------------------------------------------
# TFLite files, through the app-like runners of `nlp_lstm.export.tflite`
# (one sentence a call, as on a phone).


def tflite_signatures(runner) -> list[str]:
    """The signatures of a runner's `.tflite` that the checks feed."""
    return sorted(runner.interpreter.get_signature_list())


def check_tflite_translator(runner, signature: str, rows: list[bytes]) -> None:
    """Every row through `signature` (`translate_greedy` or `translate_beam`),
    twice: no error, at most the documented number of tokens, same output."""
    metadata = runner.metadata
    info = ModelInfo(
        "translation",
        max_source_tokens=metadata["max_source_tokens"],
        max_length_ratio=metadata["max_length_ratio"],
        max_length_offset=metadata["max_length_offset"],
        source_processor=runner.source_processor,
    )
    beam = signature == "translate_beam"
    for row in rows:
        ids, score = runner.translate_ids(row, beam=beam)
        assert len(ids) <= info.max_output_tokens(info.source_tokens(row)), row[:80]
        assert math.isfinite(score)
        assert runner.translate_ids(row, beam=beam) == (ids, score), "not deterministic"
        runner.target_processor.decode(ids)


def check_tflite_tagger(runner, rows: list[bytes]) -> None:
    """Every row tagged twice: one tag per token (the first `max_tokens`
    tagged, "" after), tags from the vocabulary, same output."""
    results = runner.tag(rows)
    assert len(results) == len(rows)
    allowed = set(runner.tags)
    for result in results:
        tokens, tags = result["tokens"], result["tags"]
        assert len(tags) == len(tokens)
        kept = min(len(tokens), runner.max_tokens)
        assert set(tags[:kept]) <= allowed and set(tags[kept:]) <= {""}
    assert runner.tag(rows) == results, "not deterministic"


# Runs in a fresh process (a crash there fails the test rather than ending
# it): calls every signature of each SavedModel in ARGS with every wrong
# rank and dtype of its inputs and with zero-sized dimensions, printing the
# probe on stderr before each call and one JSON line of results at the end.
WRONG_INPUT_PROBES = """
import itertools, json, sys
import numpy as np
import tensorflow as tf
import tensorflow_text  # noqa: F401

SAMPLES = {tf.string: b"Zwei junge Manner", tf.int32: 5, tf.int64: 5, tf.float32: 5.0}
results = []
for path in ARGS:
    loaded = tf.saved_model.load(path)
    for name, function in sorted(loaded.signatures.items()):
        specs = function.structured_input_signature[1]
        for key, spec in sorted(specs.items()):
            right = {k: tf.constant(SAMPLES[s.dtype], s.dtype, [2] * s.shape.rank)
                     for k, s in specs.items()}
            probes = []
            for rank in range(4):
                for size in (2, 0):
                    shape = [size] * rank if size else [2] * (rank - 1) + [0]
                    if rank == 0 and size == 0:
                        continue
                    wrong = "rank" if rank != spec.shape.rank else None
                    probes.append((spec.dtype, shape, wrong))
            for dtype in SAMPLES:
                if dtype != spec.dtype:
                    probes.append((dtype, [2] * spec.shape.rank, "dtype"))
            for dtype, shape, wrong in probes:
                probe = f"{path} {name} {key}={dtype.name}{shape}"
                print(probe, file=sys.stderr, flush=True)
                inputs = dict(right)
                inputs[key] = tf.constant(SAMPLES[dtype], dtype, shape)
                try:
                    outputs = function(**inputs)
                    rows = {k: int(v.shape[0]) for k, v in outputs.items()}
                    results.append({"probe": probe, "wrong": wrong, "rows": rows,
                                    "batch": shape[0] if shape else None})
                except tf.errors.InvalidArgumentError as error:
                    results.append({"probe": probe, "wrong": wrong,
                                    "error": error.message})
print(json.dumps(results))
"""


def wrong_input_results(paths: list[str]) -> list[dict]:
    """Runs `WRONG_INPUT_PROBES` on SavedModel version folders `paths`."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    code = f"ARGS = {[str(path) for path in paths]!r}\n" + WRONG_INPUT_PROBES
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        cwd=REPO_ROOT,
    )
    probes = [line for line in result.stderr.splitlines() if line.startswith("/")]
    assert result.returncode == 0, (
        f"exit {result.returncode} at probe {probes[-1] if probes else None}: "
        f"{result.stderr[-2000:]}"
    )
    return json.loads(result.stdout.strip().splitlines()[-1])
