"""First contact with a real SQL Server: every step of sqlml once, pass or fail each.

    python scripts/mssql_smoke.py --url 'mssql+pyodbc://sa:PW@host:1433/sqlml?driver=...'
    (or SQLML_MSSQL_URL / SQLML_DATABASE_URL; the docker compose stack's URL works as is)

Steps: connect, build (the sqlml library deploy uploads), deploy, runtime (ml.runtime_info),
data (demo customers and series), train, score, an operator (a login of its own in role
sqlml_operator scores through the signed procedures, and may neither write ops.runs nor run
a script of its own, nor read others' runs), train forecaster, forecast, an Agent job run
(the nightly job scores model churn, which it trains first), and two error paths (a bad
option, a missing version) that must reach ERROR_MESSAGE() and ops.runs with our sentence.
Each line says PASS, FAIL (with the server's message) or SKIP (why; on Babelfish, the
gap). The exit status is the number of failures. It writes demo data, model versions named
smoke_* and churn, and a login sqlml_smoke_operator that it drops again: run it on a
server and database made for it, as a login that may create logins (the compose stack's sa).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))

import sqlalchemy as sa  # noqa: E402

FAST_CHURN = {"epochs": 2, "hidden_units": [8], "patience": 1}
FAST_FORECAST = {"epochs": 2, "horizon": 6}
AGENT_WAIT_S = 180
OPERATOR = "sqlml_smoke_operator"


class Skip(Exception):
    """The step cannot run here; the message says why."""


class Smoke:
    def __init__(self, url: str):
        self.url = url
        self.engine: sa.Engine | None = None
        self.babelfish = False
        self.results: list[tuple[str, str, str]] = []

    def step(self, name: str, fn: Callable[[], str], needs: tuple[str, ...] = ()) -> None:
        failed = [n for n, status, _ in self.results if n in needs and status != "PASS"]
        if failed:
            self._report(name, "SKIP", f"needs {', '.join(failed)}")
            return
        try:
            detail = fn() or ""
            self._report(name, "PASS", detail)
        except Skip as exc:
            self._report(name, "SKIP", str(exc))
        except Exception as exc:  # every failure is a result to report, not a crash
            message = " ".join(str(getattr(exc, "orig", None) or exc).split())
            gap = self._gap(message)
            if gap:
                self._report(name, "SKIP", f"{gap}: {message[:300]}")
            else:
                self._report(name, "FAIL", f"{type(exc).__name__}: {message[:1500]}")
                if os.environ.get("SQLML_SMOKE_TRACEBACK"):
                    traceback.print_exc()

    def _gap(self, message: str) -> str | None:
        from sqlml.deploy.tsql_batches import BABELFISH_GAPS

        if not self.babelfish:
            return None
        lowered = message.lower()
        if "sp_execute_external_script" in lowered or "msdb" in lowered \
                or "sp_start_job" in lowered:
            return BABELFISH_GAPS[4]
        return None

    def _report(self, name: str, status: str, detail: str) -> None:
        self.results.append((name, status, detail))
        print(f"{status:4}  {name:18} {detail}", flush=True)

    # --- steps -------------------------------------------------------------------

    def connect(self) -> str:
        from sqlml.connect import create_engine

        self.engine = create_engine(self.url)
        with self.engine.connect() as connection:
            version = connection.exec_driver_sql("SELECT @@VERSION").scalar() or ""
        self.babelfish = "Babelfish" in version
        return version.splitlines()[0]

    def build(self) -> str:
        from sqlml.deploy import wheels

        name, content = wheels.sqlml_wheel()
        return f"{name} ({len(content) / 1e3:.0f} kB)"

    def deploy(self) -> str:
        from sqlml.deploy import deploy

        lines: list[str] = []
        components = deploy(self.url, log=lines.append)
        skipped = [line for line in lines if "skipped" in line]
        return (", ".join(f"{k} {v}" for k, v in components.items())
                or "; ".join(skipped)[:300])

    def runtime(self) -> str:
        from sqlml import routines

        rows = routines.call(self.engine, "runtime_info")
        return ", ".join(f"{r['component']} {r['version']}" for r in rows[:4])

    def data(self) -> str:
        from sqlml.demo import churn_data, series_data

        customers = churn_data.load_customers(self.engine, 600)
        series = series_data.load_series(self.engine, n_series=20, length=84, min_length=72)
        return f"{customers} customers, {series} series rows"

    def _call(self, routine: str, **params) -> list[dict]:
        from sqlml import routines

        messages: list[str] = []
        rows = routines.call(self.engine, routine, progress=messages.append, **params)
        if not rows:
            raise AssertionError(f"ml.{routine} returned no row ({len(messages)} messages)")
        return rows

    def _train(self, routine: str, model_name: str, options: dict) -> tuple[dict, str]:
        (row,) = self._call(routine, model_name=model_name, options=json.dumps(options))
        return row, f"version {row['version']} {row['status']}"

    def _predict(self, routine: str, model_name: str, written: str, what: str) -> str:
        """One scoring or forecasting run; ``written`` is the column counting its rows."""
        (row,) = self._call(routine, model_name=model_name)
        return f"run {row['run_id']}: {row[written]} {what}"

    def train(self) -> str:
        row, summary = self._train("train_churn_model", "smoke_churn", FAST_CHURN)
        return f"{summary} metrics {row['metrics'][:120]}"

    def score(self) -> str:
        return self._predict("score_churn", "smoke_churn", "rows_scored", "scores")

    def train_forecaster(self) -> str:
        return self._train("train_forecaster", "smoke_forecast", FAST_FORECAST)[1]

    def forecast(self) -> str:
        return self._predict("forecast", "smoke_forecast", "rows_written", "rows")

    def operator(self) -> str:
        """As docs/trust-mssql.md promises: signing and ownership chaining let an operator
        score, and nothing more. The URL's login (sa in the compose stack) would pass
        every check, so this step connects as a login of its own."""
        import secrets

        from sqlalchemy.engine import make_url

        from sqlml import routines
        from sqlml.connect import create_engine

        password = "Sm0ke!" + secrets.token_hex(12)
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.exec_driver_sql(
                f"IF SUSER_ID(N'{OPERATOR}') IS NULL CREATE LOGIN [{OPERATOR}] WITH "
                f"PASSWORD = N'{password}', CHECK_POLICY = OFF ELSE ALTER LOGIN [{OPERATOR}] "
                f"WITH PASSWORD = N'{password}'")
            c.exec_driver_sql(
                f"IF DATABASE_PRINCIPAL_ID(N'{OPERATOR}') IS NULL "
                f"CREATE USER [{OPERATOR}] FOR LOGIN [{OPERATOR}]")
            c.exec_driver_sql(f"ALTER ROLE sqlml_operator ADD MEMBER [{OPERATOR}]")
        url = make_url(self.url).set(username=OPERATOR, password=password)
        engine = create_engine(url.render_as_string(hide_password=False))
        try:
            (row,) = routines.call(engine, "score_churn", model_name="smoke_churn")
            refused = []
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
                for what, sql in [
                    ("INSERT INTO ops.runs", "INSERT INTO ops.runs (run_type, model_name, "
                     "status) VALUES (N'score_churn', N'forged', N'succeeded')"),
                    ("sp_execute_external_script", "EXEC sp_execute_external_script "
                     "@language = N'sqlml_python', @script = N'x = 1'"),
                ]:
                    try:
                        c.exec_driver_sql(sql)
                    except sa.exc.DBAPIError:
                        refused.append(what)
                    else:
                        raise AssertionError(f"an operator may run {what}")
                others = c.exec_driver_sql(
                    "SELECT COUNT(*) FROM ops.runs WHERE created_by <> SUSER_SNAME()").scalar()
            if others:
                raise AssertionError(f"an operator reads {others} runs of other logins")
            return (f"run {row['run_id']} scored {row['rows_scored']} as {OPERATOR}; "
                    f"refused: {', '.join(refused)}; reads only its own runs")
        finally:
            engine.dispose()
            with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
                c.exec_driver_sql(f"IF DATABASE_PRINCIPAL_ID(N'{OPERATOR}') IS NOT NULL "
                                  f"DROP USER [{OPERATOR}]")
                c.exec_driver_sql(f"IF SUSER_ID(N'{OPERATOR}') IS NOT NULL "
                                  f"DROP LOGIN [{OPERATOR}]")

    def agent_job(self) -> str:
        """The nightly job scores model churn (40_agent_jobs.sql), not smoke_churn: it
        needs an active churn version, trained here first."""
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            database = c.exec_driver_sql("SELECT DB_NAME()").scalar()
            job = f"sqlml {database[:80]}: nightly churn scoring"
            if c.exec_driver_sql("SELECT OBJECT_ID(N'msdb.dbo.sp_start_job')").scalar() is None:
                raise Skip("no SQL Server Agent (msdb.dbo.sp_start_job) on this server")
        self._train("train_churn_model", "churn", FAST_CHURN)
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            last = c.exec_driver_sql("SELECT ISNULL(MAX(run_id), 0) FROM ops.runs").scalar()
            c.exec_driver_sql("EXEC msdb.dbo.sp_start_job @job_name = ?", (job,))
            deadline = time.monotonic() + AGENT_WAIT_S
            while time.monotonic() < deadline:
                row = c.exec_driver_sql(
                    "SELECT TOP (1) run_id, status, model_name, error FROM ops.runs "
                    "WHERE run_id > ? AND run_type = N'score_churn' AND model_name = N'churn' "
                    "AND status <> N'running' ORDER BY run_id", (last,)).first()
                if row:
                    if row.status != "succeeded":
                        raise AssertionError(f"job {job!r}: run {row.run_id} {row.status}: "
                                             f"{row.error}")
                    return f"job {job!r}: run {row.run_id} succeeded"
                time.sleep(3)
        raise AssertionError(f"job {job!r} recorded no finished run in {AGENT_WAIT_S} s "
                             "(is SQL Server Agent running? see its job history)")

    def error_path_option(self) -> str:
        return self._expect_error(
            "train_churn_model", "epochs",
            model_name="smoke_churn", options=json.dumps({"epochs": -5}))

    def error_path_version(self) -> str:
        return self._expect_error("activate_model", "has no version 999",
                                  model_name="smoke_churn", version=999)

    def _expect_error(self, routine: str, expected: str, **params) -> str:
        from sqlml import routines

        try:
            routines.call(self.engine, routine, **params)
        except sa.exc.DBAPIError as exc:
            message = str(exc.orig)
            if expected not in message or "39004" in message:
                raise AssertionError(f"the error does not carry our sentence: {message}") from exc
        else:
            raise AssertionError(f"ml.{routine} succeeded; an error was expected")
        with self.engine.connect() as c:
            run = c.exec_driver_sql(
                "SELECT TOP (1) status, error FROM ops.runs WHERE run_type = ? "
                "ORDER BY run_id DESC", (routine,)).first()
        if run is None or run.status != "failed" or expected not in (run.error or ""):
            raise AssertionError(f"ops.runs does not hold the failure: {run}")
        return f"Msg 50xxx with our sentence, and ops.runs: {run.error[:120]}"

    def run(self) -> int:
        self.step("connect", self.connect)
        self.step("build", self.build)
        self.step("deploy", self.deploy, needs=("connect",))
        self.step("runtime", self.runtime, needs=("deploy",))
        self.step("data", self.data, needs=("deploy",))
        self.step("train", self.train, needs=("data",))
        self.step("score", self.score, needs=("train",))
        self.step("operator", self.operator, needs=("score",))
        self.step("train forecaster", self.train_forecaster, needs=("data",))
        self.step("forecast", self.forecast, needs=("train forecaster",))
        self.step("agent job", self.agent_job, needs=("train",))
        self.step("error: option", self.error_path_option, needs=("deploy",))
        self.step("error: version", self.error_path_version, needs=("deploy",))
        counts = {s: sum(1 for _, status, _ in self.results if status == s)
                  for s in ("PASS", "FAIL", "SKIP")}
        print(" ".join(f"{k.lower()} {v}" for k, v in counts.items()))
        if self.engine is not None:
            self.engine.dispose()
        return counts["FAIL"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default=os.environ.get("SQLML_MSSQL_URL")
                        or os.environ.get("SQLML_DATABASE_URL"))
    args = parser.parse_args(argv)
    if not args.url or not args.url.startswith("mssql"):
        parser.error("give --url mssql+pyodbc://... (or set SQLML_MSSQL_URL)")
    return Smoke(args.url).run()


if __name__ == "__main__":
    sys.exit(main())
