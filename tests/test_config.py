"""Config validation: errors name the key or file and the expected form."""

import pytest

from nlp_lstm import config as config_lib
from nlp_lstm.config import ConfigError, TranslationConfig

TATOEBA = "pipelines/configs/translation_tatoeba_es_en.yaml"


def load(*overrides):
    return config_lib.load(TranslationConfig, TATOEBA, list(overrides))


def test_bundled_configs_load(monkeypatch):
    from tests.conftest import REPO_ROOT

    monkeypatch.chdir(REPO_ROOT)
    config = load("training.steps=7", "model.decoder.attention=bahdanau")
    assert config.training.steps == 7
    assert config.model.decoder.attention == "bahdanau"
    assert config.data.source_column == 1


@pytest.fixture(autouse=True)
def _repo_root(monkeypatch):
    from tests.conftest import REPO_ROOT

    monkeypatch.chdir(REPO_ROOT)


def test_unknown_key_suggests_the_closest():
    with pytest.raises(ConfigError, match=r"training\.stpes.*Did you mean 'steps'"):
        load("training.stpes=3")


def test_wrong_type_names_key_and_expected_form():
    with pytest.raises(
        ConfigError, match=r"training\.steps must be an integer, got 'many'"
    ):
        load("training.steps=many")


def test_out_of_range_value():
    with pytest.raises(
        ConfigError, match=r"label_smoothing must be between 0.0 and 0.5"
    ):
        load("training.label_smoothing=0.9")


def test_a_sampled_softmax_is_for_translators_and_counts_draws():
    assert load("training.sampled_softmax=4096").training.sampled_softmax == 4096
    with pytest.raises(ConfigError, match=r"sampled_softmax must be non-negative"):
        load("training.sampled_softmax=-1")
    with pytest.raises(ConfigError, match=r"is for translators.*set it to 0"):
        config_lib.load(
            config_lib.TaggingConfig, "pipelines/configs/tagging_wnut17.yaml",
            ["training.sampled_softmax=8"],
        )


def test_choice_lists_valid_values():
    with pytest.raises(ConfigError, match=r"attention must be one of .*luong_dot"):
        load("model.decoder.attention=dot")


def test_missing_corpus_file_is_named():
    with pytest.raises(ConfigError, match=r"data\.path: file not found: nowhere\.tsv"):
        load("data.path=nowhere.tsv")


def test_a_trained_models_config_loads_without_its_data_files():
    data = config_lib.to_dict(load())
    data["data"]["path"] = "moved/away.tsv"
    config = config_lib.from_dict(TranslationConfig, data)  # no file check
    assert config.data.path == "moved/away.tsv"
    with pytest.raises(ConfigError, match=r"data\.path: file not found: moved/away"):
        config_lib.check_input_files(config)


def test_attention_kinds_match_the_layer_registry():
    from nlp_lstm.layers.attention import ATTENTIONS

    assert set(ATTENTIONS) == set(config_lib.ATTENTION_KINDS)


def test_missing_config_file():
    with pytest.raises(ConfigError, match="Config file not found: missing.yaml"):
        config_lib.load(TranslationConfig, "missing.yaml")


def test_bad_override_syntax():
    with pytest.raises(ConfigError, match="--set expects KEY=VALUE"):
        load("training.steps")


def test_inconsistent_sharing_is_explained():
    with pytest.raises(ConfigError, match="share_embeddings needs one vocabulary"):
        load("tokenizer.shared=false")


def test_case_folding_and_lower_cased_copies_are_not_combined():
    with pytest.raises(ConfigError, match="set one of them only"):
        load("tokenizer.case_fold_source=true", "data.lowercase_sources=0.1")
    assert load("tokenizer.case_fold_source=true").tokenizer.case_fold_source


def test_a_config_that_is_not_a_mapping_is_named(tmp_path):
    path = tmp_path / "list.yaml"
    path.write_text("- name: x\n- data: y\n")
    with pytest.raises(ConfigError, match=f"{path} must hold a mapping .* not a list"):
        config_lib.load(TranslationConfig, str(path))
    path.write_bytes("name: x\n".encode("utf-16"))
    with pytest.raises(ConfigError, match="is not UTF-8 text"):
        config_lib.load(TranslationConfig, str(path))


def test_output_folders_that_cannot_be_made_are_named_before_work(tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("x")
    for key in ("run_dir", "export.directory", "tokenizer.directory"):
        with pytest.raises(ConfigError, match=f"{key}: .* as {afile} is a file"):
            config_lib.load(
                TranslationConfig, None, [f"data.path={afile}", f"{key}={afile}/a/b"]
            )


@pytest.mark.parametrize("name", ["..", ".", "../../x", "a/b", "", ".hidden", "a b"])
def test_a_model_name_cannot_leave_its_folder(name):
    with pytest.raises(ConfigError, match="name must be a folder name"):
        config_lib.load(TranslationConfig, None, [f"name={name}"])


def test_length_penalties_are_checked_one_by_one():
    config = load("decoding.length_penalties=[0, 1.5]")
    assert config.decoding.length_penalties == [0.0, 1.5]
    message = r"decoding\.length_penalties\[1\] must be non-negative"
    with pytest.raises(ConfigError, match=message):
        load("decoding.length_penalties=[0.6, -1]")
