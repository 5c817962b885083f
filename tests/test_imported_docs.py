"""docs/imported-models.md's three worked examples (a scikit-learn pipeline through
skl2onnx, gradient boosting on one tensor input, a Keras network) run as written, in
order, against the embedded PostgreSQL: each imports its model with ml.import_model,
scores with ml.predict, and checks the database's scores against its framework's."""

from __future__ import annotations

import re

import pytest

from sqlml.paths import project_root

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

PAGE = project_root() / "docs" / "imported-models.md"


def blocks() -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", PAGE.read_text(), re.MULTILINE | re.DOTALL)


def test_the_page_has_a_setup_and_three_examples():
    assert len(blocks()) == 4


def test_the_worked_examples_run_and_match_their_frameworks(db, pg_url, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the Keras example writes its .onnx file here
    namespace = {"url": pg_url}
    for number, code in enumerate(blocks()):
        exec(compile(code, f"{PAGE.name} block {number}", "exec"), namespace)
    with db.connect() as connection:
        names = connection.exec_driver_sql(
            "SELECT model_name FROM models.registry WHERE kind = 'imported' ORDER BY model_id"
        ).scalars().all()
        connection.exec_driver_sql("DROP TABLE features.notebook_customers")
        connection.commit()
    assert names == ["churn_pipeline", "churn_boosted", "churn_network"]
