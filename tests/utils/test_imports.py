"""The pipelines import Keras without scikit-learn and IPython, which stay
importable afterwards."""

from tests.helpers import run_in_fresh_process


def test_the_pipeline_entry_imports_keras_without_its_optional_extras():
    output = run_in_fresh_process("""
        import sys
        import nlp_lstm.cli.pipeline  # what pipelines/*.py import first
        from nlp_lstm.utils.imports import KERAS_EXTRAS
        assert "keras" in sys.modules and "tensorflow" in sys.modules
        print(sorted(name for name in KERAS_EXTRAS if name in sys.modules))
        import sklearn  # seqeval's scorer imports it later, as usual
        from nlp_lstm.evaluation.tagging import entity_scores
        print(entity_scores([["B-PER", "I-PER", "O"]], [["B-PER", "O", "O"]])["f1"])
    """)
    extras, f1 = output.strip().splitlines()[-2:]
    assert extras == "[]"
    assert float(f1) == 0.0  # strict: a cut entity is a miss
