import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

# Each worker imports Keras as the pipelines do: without scikit-learn and IPython.
from nlp_lstm.utils.imports import import_keras  # noqa: E402

import_keras()

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# The test files that take longest (seconds of one 2-core run, 2026-12-02,
# `pytest --durations=0`), handed out first. Each file runs on one xdist
# worker (`--dist loadfile`, its module fixtures built once); with the
# longest first and `--no-loadscope-reorder` (else files with more tests go
# first, whatever their length), the two workers end close together.
LONGEST_FIRST = (
    "tests/pipelines/test_translation.py",  # 203 s
    "tests/training/test_distribute.py",  # 107
    "tests/pipelines/test_tagging.py",  # 99
    "tests/training/test_tbptt.py",  # 85
    "tests/pipelines/test_cells_translation.py",  # 81
    "tests/export/test_tflite.py",  # 81
    "tests/export/test_serving.py",  # 68
    "tests/export/test_fuzz.py",  # 60
    "tests/training/test_dropout_statistics.py",  # 45
    "tests/pipelines/test_cells_tagging.py",  # 41
    "tests/training/test_training_step.py",  # 15
)


def pytest_collection_modifyitems(config, items):
    rank = {path: index for index, path in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(rank)))
