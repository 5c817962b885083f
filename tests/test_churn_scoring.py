"""The lean churn scoring path: the same scores as the pandas implementation it
replaced, a per-process model cache that never serves a changed blob, and no
heavy import on any scoring or forecasting path."""

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from sqlml import artifacts
from sqlml.demo import churn_data
from sqlml.errors import ArtifactError
from sqlml.kinds.churn import encode, scoring
from sqlml.kinds.churn import model as churn
from sqlml.kinds.churn.preprocessing import Preprocessor
from sqlml.kinds.columns import as_numeric
from sqlml.paths import project_root

pytestmark = pytest.mark.unit

SPEC = json.loads((project_root() / "models" / "churn.json").read_text())
FAST = {"epochs": 2, "hidden_units": [8], "patience": 1, "refit": False}
PARITY = 1e-6


@pytest.fixture(scope="module")
def trained():
    frame, _ = churn_data.customers(1500, seed=21)
    return churn.train(frame, SPEC, FAST)


def legacy_scores(frame: pd.DataFrame, onnx_artifact: bytes, sha: str) -> np.ndarray:
    """Scoring as it was before issue 11 (pandas transform), with issue 13's bins, kept
    here as the reference."""
    bundle = artifacts.unpack(onnx_artifact, sha)
    pre = Preprocessor.from_json(bundle.preprocessing["features"])
    frame = frame.rename(columns=str.lower)
    out = np.zeros((len(frame), pre.width), dtype=np.float32)
    pos = 0
    for col in pre.numeric:
        values = as_numeric(frame[col.name], col.name, strict=True).to_numpy()
        nan = np.isnan(values)
        filled = np.where(nan, col.median, values)
        out[:, pos] = np.clip((filled - col.mean) / col.std, -10.0, 10.0)
        if col.indicator:
            out[:, pos + 1] = nan
        # Piecewise-linear bins (issue 13), one column per bin, written out bin by bin.
        # Without them this reference matched only models whose bin weights happened to
        # be near zero, and the parity tests failed at random.
        first_bin = pos + 1 + int(col.indicator)
        for t in range(col.bins):
            low, high = col.edges[t], col.edges[t + 1]
            out[:, first_bin + t] = np.clip((filled - low) / (high - low), 0.0, 1.0)
        pos += col.width

    def text(v):
        if v is None or (isinstance(v, float) and np.isnan(v)):
            return np.nan
        if isinstance(v, float) and v.is_integer():
            return str(int(v))
        s = str(v).strip()
        return s if s else np.nan

    for col in pre.categorical:
        values = frame[col.name].astype(object).map(text)
        codes = pd.Index(col.vocabulary, dtype=object).get_indexer(values)
        slots = np.where(codes >= 0, codes + 2, np.where(values.isna(), 0, 1))
        out[np.arange(len(frame)), pos + slots] = 1.0
        pos += col.width
    session = artifacts.onnx_session(bundle.model_bytes)
    return artifacts.onnx_predict(session, out).reshape(-1)


def awkward_frame(n=400, seed=5) -> pd.DataFrame:
    """Scoring rows with what real extracts hold: NULLs, blanks, padding, unseen
    categories, numbers as text, booleans as objects, float ids."""
    frame, _ = churn_data.customers(n, seed=seed)
    frame = frame.drop(columns=["churned"]).astype({"contract": object, "region": object})
    frame.loc[::7, "contract"] = None
    frame.loc[1::7, "contract"] = "  "
    frame.loc[2::7, "contract"] = " two_year "
    frame.loc[3::7, "region"] = "atlantis"
    frame["tenure_months"] = frame["tenure_months"].astype(object)
    frame.loc[4::7, "tenure_months"] = " 12 "
    frame.loc[5::7, "tenure_months"] = ""
    frame["phone_service"] = frame["phone_service"].astype(object)
    frame["customer_id"] = frame["customer_id"].astype(float)
    return frame


@pytest.mark.slow
def test_scores_equal_the_pandas_implementation(trained):
    sha = trained.registration["onnx_sha256"]
    numeric = artifacts.unpack(trained.onnx_artifact, sha).preprocessing["features"]["numeric"]
    assert any(c["edges"] for c in numeric), "the model has bins: the reference must encode them"
    frame = awkward_frame()
    got = churn.score(frame, trained.onnx_artifact, sha)
    want = legacy_scores(frame, trained.onnx_artifact, sha)
    assert np.max(np.abs(got["churn_probability"].to_numpy() - want)) <= PARITY
    assert got["customer_id"].iloc[0] == str(int(frame["customer_id"].iloc[0]))


@pytest.mark.slow
def test_columns_as_the_postgres_reader_hands_them_score_the_same(trained):
    """Numbers (booleans too) as float64 with NaN, text as str/None, ids as text."""
    sha = trained.registration["onnx_sha256"]
    frame, _ = churn_data.customers(300, seed=8)
    frame = frame.drop(columns=["churned"])
    frame.loc[::5, "total_charges"] = np.nan
    columns = {}
    for name in frame.columns:
        values = frame[name]
        if name == "customer_id":
            columns[name] = values.astype(str).to_numpy(dtype=object)
        elif values.dtype == object or pd.api.types.is_string_dtype(values):
            columns[name] = values.astype(object).to_numpy().copy()
        else:
            columns[name] = values.astype("float64").to_numpy()
    ids, probability = scoring.score_columns(columns, len(frame),
                                             scoring.scorer(trained.onnx_artifact, sha))
    want = legacy_scores(frame, trained.onnx_artifact, sha)
    assert np.max(np.abs(probability - want)) <= PARITY
    assert ids == frame["customer_id"].astype(str).tolist()
    # Text columns coded as the reader codes them (NULL, blank, padded and unseen
    # values among them) score to the very same numbers.
    columns["region"][:7] = [None, "", "  ", " north ", "atlantis", None, "north"]
    coded = {name: encode.Coded.of(values.tolist()) for name, values in columns.items()
             if values.dtype == object and name != "customer_id"}
    assert all(np.array_equal(c.column(), columns[name]) for name, c in coded.items())
    model = scoring.scorer(trained.onnx_artifact, sha)
    assert np.array_equal(scoring.score_columns(columns, len(frame), model, coded)[1],
                          scoring.score_columns(columns, len(frame), model)[1])


@pytest.mark.slow
def test_the_cache_never_serves_a_changed_blob(trained):
    sha = trained.registration["onnx_sha256"]
    first = scoring.scorer(trained.onnx_artifact, sha)
    assert scoring.scorer(trained.onnx_artifact, sha) is first  # loaded once
    tampered = bytearray(trained.onnx_artifact)
    tampered[-30] ^= 0xFF
    with pytest.raises(ArtifactError, match="does not match its recorded sha256"):
        scoring.scorer(bytes(tampered), sha)


def loaded_modules(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", f"import sys; {code}; print(' '.join(sys.modules))"],
        capture_output=True, text=True, check=True).stdout
    return {name.split(".")[0] for name in out.split()}


HEAVY = {"sklearn", "scipy", "tensorflow", "keras", "tf2onnx"}


def test_the_postgres_scoring_path_imports_numpy_and_onnxruntime_only():
    loaded = loaded_modules("import sqlml.adapters.postgres, sqlml.kinds.churn.scoring, "
                            "sqlml.entrypoints, onnxruntime")
    assert not loaded & (HEAVY | {"pandas"}), sorted(loaded & (HEAVY | {"pandas"}))


def test_no_scoring_or_forecasting_path_imports_scikit_learn_or_tensorflow():
    loaded = loaded_modules("import sqlml.adapters.mssql, sqlml.adapters.postgres, "
                            "sqlml.entrypoints, sqlml.kinds.churn.model, "
                            "sqlml.kinds.forecaster.model, onnxruntime")
    assert not loaded & HEAVY, sorted(loaded & HEAVY)


def test_scores_cross_to_sql_as_text_that_reads_back_to_the_same_float32():
    # adapters.pg_writes.float4_text: float4 input (strtof, correctly rounded) must
    # give back each float32 exactly, powers of ten and subnormals included.
    import ctypes

    from sqlml.adapters.pg_writes import SEPARATOR, float4_text

    libc = ctypes.CDLL("libc.so.6")
    libc.strtof.restype, libc.strtof.argtypes = ctypes.c_float, [ctypes.c_char_p, ctypes.c_void_p]
    rng = np.random.default_rng(3)
    tens = np.array([10.0 ** -k for k in range(46)], dtype=np.float32)
    values = np.concatenate([
        rng.random(20000).astype(np.float32),
        (10.0 ** rng.uniform(-45, 0, 20000)).astype(np.float32),
        tens, np.nextafter(tens, np.float32(0)), np.nextafter(tens, np.float32(1)),
        np.array([0.0, 1.0, 1e-45, 1.1754944e-38, 0.99999994], dtype=np.float32),
    ])
    values = values[(values >= 0) & (values <= 1)]
    parts = float4_text(values.astype(np.float64)).split(SEPARATOR)
    back = np.array([libc.strtof(p.encode(), None) for p in parts], dtype=np.float32)
    assert np.array_equal(back, values)
    # Not a float32, or outside [0, 1]: None, and the adapter sends arrays instead.
    assert float4_text(np.array([0.1])) is None
    assert float4_text(np.array([np.nan])) is None and float4_text(np.array([2.0])) is None
    assert float4_text(np.array([])) == ""
