"""Issue 22, finding 9: ``sqlml report`` for every role the docs offer it to.

An analyst (the analyst views only) and an operator (no ops.run_drift) each get the
report their rights allow, with what was left out named on the page; a refused
query's hint is true for whoever reads it. Rows are written directly (the views'
fixture), so nothing trains here.
"""

import uuid

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from sqlml import cli
from sqlml.report import write_report
from test_views_postgres import scored  # noqa: F401  (the fixture)

pytestmark = pytest.mark.postgres


@pytest.fixture(params=["sqlml_analyst", "sqlml_operator"])
def member(request, pg_url, scored):  # noqa: F811
    """A login in the role, and its URL."""
    name = f"sqlml_report_{uuid.uuid4().hex[:8]}"
    with scored.begin() as connection:
        connection.exec_driver_sql(f"CREATE ROLE {name} LOGIN IN ROLE {request.param}")
        # the operator's run log is row-level secured to its own runs: give it one
        connection.exec_driver_sql(f"UPDATE ops.runs SET created_by = '{name}' WHERE run_id = 1")
    url = make_url(pg_url).set(username=name).render_as_string(hide_password=False)
    yield request.param, url
    with scored.begin() as connection:
        connection.exec_driver_sql("UPDATE ops.runs SET created_by = current_user")
        connection.exec_driver_sql(f"DROP ROLE {name}")


def test_each_role_gets_the_report_its_rights_allow(member, tmp_path):
    role, url = member
    engine = sa.create_engine(url, poolclass=NullPool)
    try:
        html = write_report(engine, tmp_path / "report.html").read_text(encoding="utf-8")
    finally:
        engine.dispose()
    assert "Customers most at risk (churn)" in html
    # the reasons come from predictions.churn_reasons_latest, which both roles read
    assert "tenure (+0.100)" in html
    assert "Built with this login's rights." in html
    if role == "sqlml_analyst":
        assert "cannot read the run log" in html and "only the active versions" in html
    else:
        assert "cannot read the run log" not in html
        assert "only the active versions" not in html
        assert "Drift history: only the latest" in html


def test_a_refused_listing_hints_at_the_roles_not_at_becoming_an_operator(member, capsys):
    role, url = member
    assert cli.main(["runs", "--url", url]) == (2 if role == "sqlml_analyst" else 0)
    err = capsys.readouterr().err
    if role == "sqlml_analyst":
        assert "permission denied" in err
        assert "GRANT sqlml_operator TO you" not in err and "sqlml_analyst reads" in err
