"""Issue 8's rules that hold in the files themselves, checked without a database."""

from __future__ import annotations

import json
import re

import pytest

from sqlml.deploy import objects
from sqlml.errors import InputError, ResourceLimitError
from sqlml.kinds import KINDS, training
from sqlml.paths import project_root
from sqlml.specs import resolve_options

ROOT = project_root()
PG_FUNCTIONS = {name: obj for name, obj in objects.live_objects(ROOT, "postgres").items()
                if obj.kind == "FUNCTION"}
SPECS = {p.stem: json.loads(p.read_text()) for p in (ROOT / "models").glob("*.json")}


@pytest.mark.parametrize("name", sorted(PG_FUNCTIONS))
def test_every_routine_revokes_public_and_definers_pin_search_path(name):
    text = PG_FUNCTIONS[name].text
    assert re.search(rf"^REVOKE ALL ON FUNCTION {re.escape(name)}\(.*\) FROM public;$", text,
                     re.MULTILINE | re.IGNORECASE), f"{name} does not revoke EXECUTE from PUBLIC"
    if re.search(r"^SECURITY DEFINER$", text, re.MULTILINE):
        assert "SET search_path = pg_catalog, pg_temp" in text


def test_operators_execute_ml_routines_and_only_the_named_ops_steps():
    granted = {name for name, obj in PG_FUNCTIONS.items() if "TO sqlml_operator" in obj.text}
    # Spark's publishing routines are for sqlml_spark, the Spark job's role (docs/spark.md).
    spark = {"ml.spark_begin", "ml.spark_publish", "ml.spark_fail"}
    ml = {name for name in PG_FUNCTIONS if name.startswith("ml.")} - spark
    assert not granted & spark
    # ops.import_call and ops.run_import: ml.import_model's two halves, as ops.call and
    # ops.run_call are the other routines' (the blob travels as an argument).
    assert granted - ml == {"ops.call", "ops.begin_run", "ops.stage_input", "ops.run_call",
                            "ops.fail_run", "ops.use_python_runtime", "ops.input_or_default",
                            "ops.check_call", "ops.import_call", "ops.run_import",
                            "ops.retrain_check", "ops.record_check"}
    assert ml <= granted


@pytest.mark.parametrize("kind", sorted(SPECS))
def test_every_numeric_option_has_bounds_in_the_spec(kind):
    spec = SPECS[kind]
    numeric = {k for k, v in spec["options"].items()
               if isinstance(v, int | float | list) and not isinstance(v, bool)}
    assert numeric == set(spec["limits"]["options"])
    for name in numeric:  # the defaults are within their own bounds
        resolve_options(spec, {name: spec["options"][name]}, "test")
    if kind in KINDS:  # trained in the database; imported models are not
        assert spec["limits"]["max_training_seconds"] > 0


@pytest.mark.parametrize("options, option", [
    ('{"epochs": 1e400}', "epochs"), ('{"epochs": NaN}', "epochs"),
    ('{"dropout": -Infinity}', "dropout"), ('{"epochs": 100000000}', "epochs"),
    ('{"hidden_units": [100000]}', "hidden_units"), ('{"seed": 1e30}', "seed"),
])
def test_out_of_bounds_and_non_finite_options_name_the_option(options, option):
    with pytest.raises(InputError, match=f"option '{option}'"):
        resolve_options(SPECS["churn"], options, "churn training")


def test_the_training_watch_calls_the_hook_and_keeps_the_time_limit(monkeypatch):
    calls = []
    monkeypatch.setattr(training, "CHECK_SECONDS", 0.0)
    with training.watched(lambda: calls.append(1), max_seconds=3600):
        training.check_watch()
        training.check_watch()
    assert len(calls) == 2
    training.check_watch()  # outside the block: nothing to call
    assert len(calls) == 2
    with training.watched(None, max_seconds=-1), pytest.raises(ResourceLimitError):
        training.check_watch()
