"""Preprocessing for tabular features, learned from the training rows and stored as JSON.

Numeric columns: missing values imputed with the training median (plus a 0/1
"was missing" column when the training rows had any), then standardised with
the training mean and standard deviation and clipped to +-10 deviations so one
absurd value cannot saturate the network. Text columns are categorical: one-hot
over a vocabulary of the training rows' most frequent values, with one slot for
NULL and one for every value outside the vocabulary (unseen at scoring time, or
too rare in training to learn from).

It runs on NumPy and pandas only, at training and at scoring time, so the
network (and its ONNX export) sees nothing but a float32 matrix.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from sqlml.errors import InputError
from sqlml.kinds.churn import encode
from sqlml.kinds.columns import as_numeric

CLIP = encode.CLIP
MISSING, UNSEEN = "__missing__", "__unseen__"


def as_category(values: pd.Series) -> pd.Series:
    """Text form of each value, NaN for NULL or blank; 3.0 and 3 are the same category
    (the rule of ``encode.category_text``, which scoring uses)."""

    def text(v):
        t = encode.category_text(v)
        return np.nan if t is None else t

    return values.astype(object).map(text)


@dataclass
class Numeric:
    name: str
    median: float
    mean: float
    std: float
    indicator: bool  # add a was-missing column

    @property
    def width(self) -> int:
        return 2 if self.indicator else 1

    def output_names(self) -> list[str]:
        return [self.name] + ([f"{self.name}__missing"] if self.indicator else [])


@dataclass
class Categorical:
    name: str
    vocabulary: list[str]

    @property
    def width(self) -> int:
        return len(self.vocabulary) + 2

    def output_names(self) -> list[str]:
        return [f"{self.name}={v}" for v in (MISSING, UNSEEN, *self.vocabulary)]


@dataclass
class Preprocessor:
    numeric: list[Numeric] = field(default_factory=list)
    categorical: list[Categorical] = field(default_factory=list)

    @property
    def columns(self) -> list[str]:
        return [c.name for c in self.numeric] + [c.name for c in self.categorical]

    @property
    def width(self) -> int:
        return sum(c.width for c in self.numeric) + sum(c.width for c in self.categorical)

    def output_names(self) -> list[str]:
        names: list[str] = []
        for col in [*self.numeric, *self.categorical]:
            names += col.output_names()
        return names

    @classmethod
    def fit(cls, frame: pd.DataFrame, max_categories: int, min_count: int) -> Preprocessor:
        if frame.shape[1] == 0:
            raise InputError("input has no feature columns besides the id and the label")
        pre = cls()
        for name in frame.columns:
            numeric = as_numeric(frame[name], name, strict=False)
            if numeric is not None:
                pre.numeric.append(_fit_numeric(name, numeric))
            else:
                pre.categorical.append(_fit_categorical(name, as_category(frame[name]),
                                                        max_categories, min_count))
        return pre

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        missing = [c for c in self.columns if c not in frame.columns]
        if missing:
            raise InputError(
                f"input lacks feature column(s) the model needs: {', '.join(missing)}"
            )
        columns = {c.name: as_numeric(frame[c.name], c.name, strict=True).to_numpy()
                   for c in self.numeric}
        columns.update({c.name: frame[c.name].to_numpy(dtype=object) for c in self.categorical})
        return encode.transform(self.to_json(), columns, len(frame), numeric_ready=True)

    def to_json(self) -> dict:
        return {
            "numeric": [vars(c) for c in self.numeric],
            "categorical": [vars(c) for c in self.categorical],
            "clip": CLIP,
        }

    @classmethod
    def from_json(cls, data: dict) -> Preprocessor:
        return cls(
            numeric=[Numeric(**c) for c in data["numeric"]],
            categorical=[Categorical(**c) for c in data["categorical"]],
        )


def _fit_numeric(name: str, values: pd.Series) -> Numeric:
    present = values.dropna()
    if present.empty:
        return Numeric(name, 0.0, 0.0, 1.0, indicator=False)
    median = float(present.median())
    filled = values.fillna(median)
    std = float(filled.std(ddof=0))
    return Numeric(
        name=name,
        median=median,
        mean=float(filled.mean()),
        std=std if std > 1e-12 else 1.0,
        indicator=bool(values.isna().any()),
    )


def _fit_categorical(name: str, values: pd.Series, max_categories: int,
                     min_count: int) -> Categorical:
    counts = values.dropna().value_counts()
    counts = counts[counts >= min_count]
    # Most frequent first; ties by value, so the same data gives the same vocabulary.
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:max_categories]
    return Categorical(name=name, vocabulary=[str(v) for v, _ in ordered])
