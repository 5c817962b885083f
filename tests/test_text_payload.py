"""The PostgreSQL reader's text payloads back into columns: coded from their bytes
or split, always to the very values string_agg joined."""

import numpy as np
import pytest

from sqlml.adapters import text_payload
from sqlml.adapters.text_payload import NULL_MARK, SEPARATOR
from sqlml.kinds.churn.encode import Coded

pytestmark = pytest.mark.unit

# Lengths around the 8-byte words and the 32-byte limit, multi-byte UTF-8, blank.
VALUES = ["Yes", "No", "", " ", "Month-to-month", "12345678", "123456789", "Zürich",
          "東京", "🙂 emoji", "a" * 16, "b" * 17, "c" * 32, "No internet service"]


def payload_of(values: list) -> tuple[str, int]:
    text = SEPARATOR.join(NULL_MARK if v is None else v for v in values)
    return text, sum(v is None for v in values)


def as_list(column) -> list:
    return (column.column() if isinstance(column, Coded) else column).tolist()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_categories_are_coded_from_their_bytes_to_the_same_values(seed):
    rng = np.random.default_rng(seed)
    values = [None if v == "NULL" else v
              for v in rng.choice(VALUES + ["NULL"], size=5000).tolist()]
    text, nulls = payload_of(values)
    coded = text_payload.code(text, len(values))  # 5000 rows: coded from bytes
    assert coded is not None
    split = Coded.of(text.split(SEPARATOR))
    assert coded.values == split.values  # first-appearance order, as Counter keeps it
    assert np.array_equal(coded.index, split.index)
    column = text_payload.column(text, len(values), nulls)
    assert isinstance(column, Coded)
    assert as_list(column) == values


def test_long_or_many_values_are_split_instead():
    long_values = ["x" * 33, "y", None, "x" * 33]
    text, nulls = payload_of(long_values)
    assert text_payload.code(text, 4) is None
    assert as_list(text_payload.column(text, 4, nulls)) == long_values
    many = [f"v{i}" for i in range(text_payload.MAX_DISTINCT + 1)] * 20
    text, _ = payload_of(many)
    assert text_payload.code(text, len(many)) is None
    assert as_list(text_payload.column(text, len(many), 0)) == many
    keys = [f"customer-{i}" for i in range(3000)]  # an id-like column stays an array
    text, _ = payload_of(keys)
    column = text_payload.column(text, len(keys), 0)
    assert isinstance(column, np.ndarray) and column.tolist() == keys
    assert text_payload.column(text, len(keys), 0, coded=False).tolist() == keys


def test_a_payload_that_does_not_split_back_is_refused():
    # A value holding the separator, or the NULL mark, makes the counts disagree:
    # the reader then reads that column the plain way.
    text, _ = payload_of(["a", "b" + SEPARATOR + "c"])
    assert text_payload.column(text, 2, 0) is None
    assert text_payload.column(text, 2, 0, coded=False) is None
    text, _ = payload_of(["a", NULL_MARK])
    assert text_payload.column(text, 2, 0) is None
    assert text_payload.column(text, 2, 0, coded=False) is None


def test_edge_sizes():
    assert text_payload.column("", 0, 0).tolist() == []
    assert as_list(text_payload.column("", 1, 0)) == [""]
    assert as_list(text_payload.column(NULL_MARK, 1, 1)) == [None]
    # A few rows stay a plain array: coding them would cost more than it saves.
    assert text_payload.column("only", 1, 0).tolist() == ["only"]
    assert as_list(text_payload.code("", 1)) == [""]
    assert as_list(text_payload.code("a" + SEPARATOR + "a", 2)) == ["a", "a"]
