"""The model card lists what the config leaves unsaid and never fills it in."""

import types

from nlp_lstm import config as config_lib
from nlp_lstm.bundle import card as card_lib


def fake_bundle(config, evaluation=None):
    metadata = {"data": [{"path": "/data/train.tsv", "bytes": 10, "sha256": "ab" * 32}],
                "created": "2026-12-01T00:00:00+00:00"}
    if evaluation is not None:
        metadata["evaluation"] = evaluation
    return types.SimpleNamespace(config=config, metadata=metadata)


def test_empty_user_fields_are_listed_as_missing_not_invented():
    card = card_lib.build_card(fake_bundle(config_lib.TranslationConfig()))
    assert card["missing"][:5] == list(card_lib.USER_FIELDS.values())
    assert "test-set evaluation" in card["missing"][5]
    assert card["use"] == {"intended": None, "out_of_scope": None}
    assert card["training_data"]["licence"] is None and card["languages"] == []
    markdown = card_lib.render_markdown(card)
    assert "## Missing" in markdown and "- Intended: missing" in markdown
    assert "## Evaluation\n\nmissing" in markdown


def test_stated_fields_appear_and_leave_nothing_missing(tmp_path):
    config = config_lib.TaggingConfig(name="ner")
    config.card = config_lib.CardConfig(
        languages=["Dutch"], data_licence="research only", intended_use="NER",
        out_of_scope_use="profiling people", contact="team@example.org",
    )
    evaluation = {
        "test_set": {"description": "3 sentences of test.conll", "sentences": 3},
        "decoding": "Viterbi decoding of the CRF",
        "scores": {"f1": 50.0},
        "slices": {
            "metric": "f1", "bootstrap_samples": 10,
            "overall": {"entities": 4, "f1": 50.0, "f1_ci95": [20.0, 80.0]},
            "slices": {"type": [{"slice": "PER", "entities": 4, "f1": 50.0,
                                 "f1_ci95": [20.0, 80.0]}]},
        },
        "limits": {"notes": ["Sentences longer than 512 tokens are cut there."]},
    }
    card = card_lib.build_card(fake_bundle(config, evaluation),
                               {"format": "tflite", "quantization": "float16"})
    assert card["missing"] == [] and card["task"] == "named-entity tagging"
    json_path, markdown_path = tmp_path / "c.json", tmp_path / "c.md"
    card_lib.write_card(card, str(json_path), str(markdown_path))
    markdown = markdown_path.read_text()
    assert "## Missing" not in markdown
    assert "- Languages: Dutch" in markdown and "Licence: research only" in markdown
    assert "| PER | 4 | 50.00 [20.00, 80.00] |" in markdown
    assert "- Sentences longer than 512 tokens are cut there." in markdown
    assert "- This copy: tflite, quantization float16" in markdown
