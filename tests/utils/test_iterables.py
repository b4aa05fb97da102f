"""batches and sorted_map: order, sizes, streaming."""

import itertools

import pytest

from nlp_lstm.utils.iterables import batches, sorted_map


def test_batches_cut_in_order():
    assert list(batches(range(7), 3)) == [[0, 1, 2], [3, 4, 5], [6]]


@pytest.mark.parametrize("size, window", [(1, 1), (2, 4), (3, 8), (4, 100)])
def test_sorted_map_keeps_the_input_order(size, window):
    words = ["ccc", "a", "bbbbb", "dd", "", "eeee", "f", "gggggg", "hh"]
    calls = []

    def upper(batch):
        calls.append(list(batch))
        return [word.upper() for word in batch]

    assert list(sorted_map(upper, words, size, len, window)) == [
        word.upper() for word in words
    ]
    assert all(len(batch) <= size for batch in calls)
    # Each call gets items of one window, sorted by length.
    for batch in calls:
        assert [len(word) for word in batch] == sorted(len(word) for word in batch)


def test_sorted_map_batches_similar_lengths_within_a_window():
    words = ["x" * length for length in (5, 1, 4, 2, 3, 0)]
    calls = []
    list(sorted_map(lambda batch: calls.append(batch) or batch, words, 2, len, 6))
    assert calls == [["", "x"], ["xx", "xxx"], ["xxxx", "xxxxx"]]


def test_sorted_map_streams_one_window_at_a_time():
    consumed = []

    def source():
        for index in itertools.count():
            consumed.append(index)
            yield str(index)

    results = sorted_map(lambda batch: batch, source(), 2, len, 4)
    assert [next(results) for _ in range(4)] == ["0", "1", "2", "3"]
    assert len(consumed) <= 5  # the first window, not the endless rest


def test_sorted_map_rejects_a_function_that_drops_results():
    with pytest.raises(ValueError, match="1 results for 2 items"):
        list(sorted_map(lambda batch: batch[:1], ["a", "b"], 2, len, 2))


def test_sorted_map_on_threads_keeps_the_order_and_the_batches():
    words = [str(index) * (index % 7) for index in range(300)]
    sequential, threaded = [], []

    def record(calls):
        def upper(batch):
            calls.append(tuple(batch))
            return [word.upper() for word in batch]

        return upper

    expected = list(sorted_map(record(sequential), words, 8, len, 64))
    assert list(sorted_map(record(threaded), words, 8, len, 64, workers=3)) == expected
    assert sorted(threaded) == sorted(sequential)
