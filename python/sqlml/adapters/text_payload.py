"""A text column as one payload: its values joined by SEPARATOR, NULL as NULL_MARK.

The PostgreSQL reader (``pg_reader.read_columns``) hands each text column over as
one payload (``ops.column_payloads`` or a ``string_agg``: UTF-8 bytes or text),
because PL/Python builds one Python object per array element.
This module turns such a payload back into the column. Most feature columns hold a
few short values (``Yes``, ``Month-to-month``), and for those splitting 200,000
values into Python strings, only to count a handful of distinct ones, is most of
the cost of reading them; so a column of at most MAX_DISTINCT values of at most
MAX_BYTES bytes is coded straight from its bytes (:func:`code`), with NumPy, without
a Python string per row. Everything else is split.

Codes are exact: two values get the same code only when their UTF-8 bytes are the
same (PostgreSQL text holds no NUL byte, so zero padding cannot make two differ-
ent values alike).
"""

from __future__ import annotations

import numpy as np

from sqlml.entrypoints import Coded

SEPARATOR, NULL_MARK = "\x1f", "\x1e"
# Values coded from bytes: at most this long (four 8-byte words) and this many.
MAX_BYTES, MAX_DISTINCT = 32, 64
# Columns are coded from this many rows up: below it, the plain array costs less than
# coding's NumPy calls (a one-row call would pay about 30 microseconds a column).
MIN_ROWS = 1000
# A split column is coded when at most half of its first rows are distinct values:
# categories, not keys or free text, for which coding costs more than it saves.
CODE_SAMPLE = 1000
# The low r bytes of a little-endian 8-byte word, for r = 0 .. 8.
_MASKS = np.array([(1 << (8 * r)) - 1 for r in range(8)] + [2**64 - 1], dtype=np.uint64)


def column(payload: str | bytes | memoryview, n: int, nulls: int, coded: bool = True
           ) -> np.ndarray | Coded | None:
    """``n`` values (``nulls`` of them NULL) as an object array of ``str`` and None,
    or, with ``coded`` and MIN_ROWS rows or more, as ``Coded`` where the column
    repeats its values. None when
    the payload does not split into ``n`` values with ``nulls`` NULL marks: a value
    holds a separator, and the caller must read the column another way."""
    if n == 0:
        return np.empty(0, dtype=object)
    coded = coded and n >= MIN_ROWS
    text = code(payload, n) if coded else None
    if text is None:
        if not isinstance(payload, str):
            payload = str(payload, "utf-8")
        items = payload.split(SEPARATOR)
        if len(items) != n:
            return None
        if coded and len(set(items[:CODE_SAMPLE])) <= CODE_SAMPLE // 2:
            text = Coded.of(items)
        else:
            if items.count(NULL_MARK) != nulls:
                return None
            values = np.array(items, dtype=object)
            if nulls:
                values[values == NULL_MARK] = None
            return values
    marked = sum(c for v, c in zip(text.values, text.counts(), strict=True) if v == NULL_MARK)
    if marked != nulls:
        return None
    return Coded([None if v == NULL_MARK else v for v in text.values], text.index)


def code(payload: str | bytes | memoryview, n: int) -> Coded | None:
    """The payload's ``n`` values coded from their bytes, in order of first appearance;
    None when there are not ``n`` of them, or they are too long or too many to code so
    (the caller then splits the payload)."""
    raw = payload.encode("utf-8") if isinstance(payload, str) else payload
    size = len(raw)
    data = np.zeros(size + MAX_BYTES + 8, dtype=np.uint8)  # zero padding past the end
    data[:size] = np.frombuffer(raw, dtype=np.uint8)
    cuts = np.flatnonzero(data[:size] == ord(SEPARATOR))
    if len(cuts) != n - 1:
        return None
    starts = np.empty(n, dtype=np.intp)
    starts[0], starts[1:] = 0, cuts + 1
    lengths = np.empty(n, dtype=np.intp)
    lengths[:-1], lengths[-1] = cuts, size
    lengths -= starts
    width = int(lengths.max())
    if width > MAX_BYTES:
        return None
    # Each value as up to four 8-byte words, zero past its end: word j of value i is
    # the 8 bytes from starts[i] + 8j, read through a view that starts a word at every
    # byte, masked to the bytes the value has there.
    at = np.ndarray((size + MAX_BYTES + 1,), dtype="<u8", buffer=data, strides=(1,))
    keys = [at[starts + 8 * j] & _MASKS[np.clip(lengths - 8 * j, 0, 8)]
            for j in range(max(1, -(-width // 8)))]
    # Few distinct values: each pass takes the first row not yet coded and codes every
    # row equal to it, so codes come in order of first appearance.
    index = np.empty(n, dtype=np.intp)
    firsts: list[int] = []
    rest = np.arange(n)
    while len(rest):
        if len(firsts) == MAX_DISTINCT:
            return None
        first = rest[0]
        same = keys[0][rest] == keys[0][first]
        for word in keys[1:]:
            same &= word[rest] == word[first]
        index[rest[same]] = len(firsts)
        firsts.append(int(first))
        rest = rest[~same]
    values = [str(raw[starts[i]:starts[i] + lengths[i]], "utf-8") for i in firsts]
    return Coded(values, index)
