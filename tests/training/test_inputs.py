"""A translator's SentencePiece models as a run keeps them: the files in the
run folder and in `tokenizer.directory` are those `TokenizerConfig.model_files`
names (which the bundle lists too), and a resumed run reloads them."""

import os

import pytest

from nlp_lstm import config as config_lib
from nlp_lstm.data.parallel import load_parallel_corpus
from nlp_lstm.text import sentencepiece as sp
from nlp_lstm.training import inputs
from tests.helpers import REPO_ROOT

CASES = {
    "shared": ["tokenizer.shared=true", "tokenizer.case_fold_source=false"],
    "shared_folding": ["tokenizer.shared=true", "tokenizer.case_fold_source=true"],
    "separate": ["tokenizer.shared=false", "tokenizer.case_fold_source=false",
                 "model.share_embeddings=false"],
    "separate_folding": ["tokenizer.shared=false", "tokenizer.case_fold_source=true",
                         "model.share_embeddings=false"],
}


@pytest.fixture(scope="module")
def corpus():
    config = tiny_config("/unused", [])
    return load_parallel_corpus(config.data)[0]


def tiny_config(out: str, overrides: list[str]) -> config_lib.TranslationConfig:
    return config_lib.load(
        config_lib.TranslationConfig,
        os.path.join(REPO_ROOT, "pipelines/configs/translation_tatoeba_es_en.yaml"),
        [
            "data.max_examples=600", "data.dev_size=40", "data.test_size=20",
            "tokenizer.vocab_size=500", f"run_dir={out}/run",
            f"tokenizer.directory={out}/tokenizers", *overrides,
        ],
    )


@pytest.mark.parametrize("case", sorted(CASES))
def test_run_folder_and_published_files_are_the_named_models(
    case, corpus, tmp_path, monkeypatch
):
    monkeypatch.chdir(REPO_ROOT)  # the config's data paths are relative
    config = tiny_config(str(tmp_path), CASES[case])
    models = inputs.tokenizer_models(config, corpus)

    tokenizer = config.tokenizer
    in_run = tokenizer.model_files()
    published = tokenizer.model_files(config.name)
    assert sorted(os.listdir(config.run_dir)) == sorted(set(in_run.values()))
    assert sorted(os.listdir(tokenizer.directory)) == sorted(set(published.values()))
    for side in ("source", "target"):
        for directory, names in ((config.run_dir, in_run),
                                 (tokenizer.directory, published)):
            with open(os.path.join(directory, names[side]), "rb") as stream:
                assert stream.read() == models[side], (side, directory)

    assert sp.folds_case(models["source"]) == tokenizer.case_fold_source
    assert not sp.folds_case(models["target"])
    source, target = sp.processor(models["source"]), sp.processor(models["target"])
    same_pieces = [source.id_to_piece(i) for i in range(source.get_piece_size())] == [
        target.id_to_piece(i) for i in range(target.get_piece_size())
    ]
    assert same_pieces == tokenizer.shared
    assert (models["source"] == models["target"]) == (
        tokenizer.shared and not tokenizer.case_fold_source
    )

    # A resumed run reads the run folder's copies and trains nothing.
    def no_training(*args, **kwargs):
        raise AssertionError("a resumed run trained a tokenizer again")

    monkeypatch.setattr(sp, "train_sentencepiece", no_training)
    assert inputs.tokenizer_models(config, corpus) == models
