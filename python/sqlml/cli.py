"""The ``sqlml`` command line.

    sqlml db start|stop|status|url        the embedded PostgreSQL
    sqlml deploy [--url URL]              migrations, procedures, runtime, setup scripts
    sqlml demo [--url URL]                the end-to-end demo
    sqlml train churn|forecaster NAME     ml.train_churn_model / ml.train_forecaster
    sqlml score NAME [--explain K]        ml.score_churn (K reasons per customer)
    sqlml forecast NAME [--horizon N]     ml.forecast
    sqlml activate NAME VERSION           ml.activate_model (promote or roll back)
    sqlml models [NAME]                   the registry, without blobs
    sqlml models export --name NAME [--version V] --out FILE   one version, to promote
    sqlml models import FILE --name NAME [--activate]          ... into another database
    sqlml models import FILE.onnx --name NAME --options JSON   ml.import_model
    sqlml runs [--limit N]                the run log, newest first
    sqlml drift [NAME]                    the latest input drift per model and feature
    sqlml report --out FILE.html          a self-contained HTML report of models, runs, drift
    sqlml runtime build DIR               a runtime for a server on another host
    sqlml objects status|revision|freeze  procedures and views under Alembic
    sqlml spark score|forecast --model NAME --query SQL   the same models on Apache Spark

``--url`` defaults to SQLML_DATABASE_URL, then to the embedded engine. Errors are
one line, with the database's detail and a hint; ``sqlml --verbose COMMAND`` adds
where in the database it was raised, ``sqlml --debug COMMAND`` the traceback.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import traceback
from pathlib import Path

from sqlalchemy.exc import DBAPIError

from sqlml.errors import SqlmlError


def _db(args: argparse.Namespace) -> int:
    from sqlml import embedded_pg

    if args.action == "start":
        print(embedded_pg.start())
    elif args.action == "stop":
        print("stopped" if embedded_pg.stop() else "not running")
    elif args.action == "status":
        print(embedded_pg.status())
        return 0 if embedded_pg.is_running() else 3  # pg_ctl's convention
    else:
        print(embedded_pg.url())
    return 0


def _url(args: argparse.Namespace) -> str:
    """``--url``, else SQLML_DATABASE_URL, else the embedded engine, started if it was
    stopped, and then said so on stderr: a command that silently starts a server
    leaves one running that nobody asked for."""
    from sqlml.connect import URL_ENV, resolve_url

    if args.url or os.environ.get(URL_ENV):
        return resolve_url(args.url)
    from sqlml import embedded_pg

    was_running = embedded_pg.is_running()
    url = resolve_url(None)
    if not was_running:
        print(f"sqlml: no --url or {URL_ENV}: started the embedded PostgreSQL "
              f"({embedded_pg.server().data}); `sqlml db stop` stops it", file=sys.stderr)
    return url


def _deploy(args: argparse.Namespace) -> int:
    from sqlml.deploy import deploy

    deploy(_url(args), runtime_path=args.runtime_path)
    return 0


def _demo(args: argparse.Namespace) -> int:
    from sqlml.demo import run_demo

    run_demo(_url(args), skip_deploy=args.skip_deploy)
    return 0


def _engine(args: argparse.Namespace):
    from sqlml.connect import create_engine

    return create_engine(_url(args))


def _print_rows(rows: list[dict]) -> None:
    for row in rows:
        print("  ".join(f"{k}={v}" for k, v in row.items()))


def _call(args: argparse.Namespace, routine: str, shape=None, **params) -> int:
    from sqlml import routines
    from sqlml.progress import NoticePrinter

    engine = _engine(args)
    printer = NoticePrinter()
    try:
        rows = routines.call(engine, routine, progress=printer, **params)
        printer.close()
        _print_rows([(shape or _compact)(r) for r in rows])
    finally:
        printer.close()
        engine.dispose()
    return 0


# Metrics too long for a terminal line: stored for the report, shown by `sqlml report`.
BULKY_METRICS = ("curves", "backtest_points", "coverage_by_step")


def _compact(row: dict) -> dict:
    import json

    if "metrics" in row and row["metrics"] is not None:
        metrics = json.loads(row["metrics"]) if isinstance(row["metrics"], str) else row["metrics"]
        row["metrics"] = json.dumps({k: v for k, v in metrics.items() if k not in BULKY_METRICS})
    return row


def _trained(kind: str):
    """A trained version as one short line: its key metric beside the baseline's, and
    where the whole metrics document is (it runs to kilobytes: curves, importances)."""

    def shape(row: dict) -> dict:
        row = dict(row)
        row["metric"] = _key_metric(kind, row.pop("metrics", None))
        row["all_metrics"] = (f"sqlml models {row['model_name']} / SELECT metrics FROM "
                              f"models.registry WHERE model_id = {row['model_id']}")
        return row

    return shape


def _train(args: argparse.Namespace) -> int:
    routine = {"churn": "train_churn_model", "forecaster": "train_forecaster"}[args.kind]
    return _call(args, routine, shape=_trained(args.kind), model_name=args.name,
                 input_query=args.input_query, options=args.options,
                 activate=not args.no_activate)


def _query(args: argparse.Namespace, sql: str, params: dict | None = None,
           limit: int | None = None) -> list[dict]:
    import sqlalchemy as sa

    engine = _engine(args)
    try:
        with engine.connect() as connection:
            result = connection.execute(sa.text(sql), params or {}).mappings()
            return [dict(r) for r in (result.fetchmany(limit) if limit else result.all())]
    finally:
        engine.dispose()


def _query_named(args: argparse.Namespace, select: str, order_by: str,
                 limit: int | None = None) -> list[dict]:
    """``select``'s rows, only model ``args.name``'s when one is named, in ``order_by``."""
    where = " WHERE model_name = :name" if args.name else ""
    return _query(args, f"{select}{where} ORDER BY {order_by}", {"name": args.name}, limit=limit)


def _print_table(rows: list[dict], empty: str) -> None:
    if not rows:
        print(empty)
        return
    text = [{k: "" if v is None else str(v).replace("\n", " ") for k, v in r.items()}
            for r in rows]
    widths = {k: min(60, max(len(k), *(len(r[k]) for r in text))) for k in text[0]}
    print("  ".join(k.ljust(w) for k, w in widths.items()).rstrip())
    for row in text:
        print("  ".join(row[k][:w].ljust(w) for k, w in widths.items()).rstrip())


def _key_metric(kind: str, metrics) -> str:
    import json

    m = json.loads(metrics) if isinstance(metrics, str) else (metrics or {})
    nan = float("nan")
    if kind == "imported":
        return f"imported {m.get('task', '')}"
    if kind == "churn":
        return f"auc {m.get('auc', nan):.4f} (baseline {m.get('baseline_auc', nan):.4f})"
    return f"mase {m.get('mase', nan):.4f} (naive {m.get('baseline_mase', nan):.4f})"


def _positive(text: str) -> int:
    """argparse type: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more; got {value}")
    return value


def _models(args: argparse.Namespace) -> int:
    if args.name in ("export", "import"):
        from sqlml.cli_promotion import run

        return run(args.name, args.rest, args.url)
    if args.rest:  # `sqlml models NAME --url URL`: the name took the rest with it
        extra = argparse.ArgumentParser(prog="sqlml models")
        extra.add_argument("--url")
        args.url = extra.parse_args(args.rest).url or args.url
    rows = _query_named(args, "SELECT model_name, version, kind, status, metrics, trained_rows, "
                              "device, created_at, status_reason FROM models.registry",
                        "model_name, version")
    for row in rows:
        row["metric"] = _key_metric(row["kind"], row.pop("metrics"))
        row["created_at"] = str(row["created_at"])[:19]
    _print_table(rows, "no model versions" + (f" named {args.name!r}" if args.name else "")
                 + ": train one with `sqlml train churn NAME` or ml.train_churn_model")
    return 0


def _runs(args: argparse.Namespace) -> int:
    rows = _query_named(args, "SELECT run_id, run_type, model_name, status, rows_in, rows_out, "
                              "started_at, finished_at, error FROM ops.runs",
                        "run_id DESC", limit=args.limit)
    for row in rows:
        started, finished = row.pop("started_at"), row.pop("finished_at")
        row["started"] = str(started)[:19]
        row["seconds"] = f"{(finished - started).total_seconds():.1f}" if finished else ""
        row["error"] = row.pop("error") or ""
    _print_table(rows, "no runs yet")
    return 0


def _drift(args: argparse.Namespace) -> int:
    rows = _query_named(args, "SELECT model_name, model_version, feature, psi, flagged, run_id, "
                              "measured_at FROM models.drift",
                        "model_name, model_version, feature")
    for row in rows:
        row["psi"] = "" if row["psi"] is None else f"{row['psi']:.3f}"
        row["measured_at"] = str(row["measured_at"])[:19]
    _print_table(rows, "no drift measured yet: every scoring and forecasting run records it")
    return 0


def _report(args: argparse.Namespace) -> int:
    from sqlml.progress import steps
    from sqlml.report import figure_count, write_report

    engine = _engine(args)
    try:
        with steps("report") as advance:
            path = write_report(engine, args.out, progress=advance)
    finally:
        engine.dispose()
    print(f"report: {path} ({figure_count(path.read_text(encoding='utf-8'))} figures)")
    return 0


def _runtime(args: argparse.Namespace) -> int:
    import platform

    from sqlml.deploy import pg_runtime

    version = args.python_version or platform.python_version()
    print(pg_runtime.build(Path(args.target), version))
    return 0


def _objects(args: argparse.Namespace) -> int:
    from sqlml.deploy import objects
    from sqlml.paths import project_root

    root = project_root()
    if args.action == "status":
        problems = objects.drift(root)
        print("\n".join(problems) or "in sync: every file matches its latest revision")
        return 1 if problems else 0
    if args.action == "freeze":
        revision = args.revision or objects.revisions_with_snapshots(root)[-1]
        for path in objects.freeze(root, revision):
            print(path.relative_to(root))
        return 0
    from sqlml.deploy.revisions import new_object_revision

    print(new_object_revision(root, args.message))
    return 0


def _spark(args: argparse.Namespace) -> int:
    from sqlml.connect import resolve_url
    from sqlml.errors import SqlmlError as _Error

    try:
        from sqlml import spark as sqlml_spark
    except ImportError as exc:
        raise _Error("sqlml spark needs pyspark: pip install 'sqlml[spark]'") from exc
    url = resolve_url(args.url)
    found = sqlml_spark.target(url)
    session = sqlml_spark.local_session(found, master=args.master)
    partitioning = sqlml_spark.Partitioning(
        column=args.partition_column, lower=args.lower_bound, upper=args.upper_bound,
        partitions=args.partitions, predicates=args.predicate or None)

    def progress(message: str) -> None:
        print(message, file=sys.stderr)

    if args.action == "score":
        run = sqlml_spark.score(session, url, args.model, args.query, args.version,
                                partitioning, progress=progress)
    else:
        run = sqlml_spark.forecast(session, url, args.model, args.query, args.version,
                                   args.horizon, partitioning, progress=progress)
    _print_rows([{"run_id": run.run_id, "model_id": run.model_id, "version": run.version,
                  "rows_in": run.rows_in, "rows_out": run.rows_out,
                  "seconds": round(run.seconds, 1)}])
    return 0


def build_parser() -> argparse.ArgumentParser:
    # The module docstring, without its reStructuredText literal marks.
    description = re.sub(r"``([^`]*)``", r"\1", __doc__)
    parser = argparse.ArgumentParser(prog="sqlml", description=description,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--debug", action="store_true",
                        help="show the full traceback of an error")
    parser.add_argument("--verbose", action="store_true",
                        help="show where in the database an error was raised (its CONTEXT)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    db = sub.add_parser("db", help="start, stop or locate the embedded PostgreSQL engine")
    db.add_argument("action", choices=["start", "stop", "status", "url"],
                    help="start (idempotent, prints the URL), stop, status, or print the URL")
    db.set_defaults(func=_db)

    dep = sub.add_parser("deploy", help="install or upgrade sqlml in a database")
    dep.add_argument("--url", help="SQLAlchemy URL (default: SQLML_DATABASE_URL, then embedded)")
    dep.add_argument("--runtime-path", help="a runtime already built on the server's host")
    dep.set_defaults(func=_deploy)

    demo = sub.add_parser("demo", help="deploy, load demo data, train, score, show results")
    demo.add_argument("--url", help="default: SQLML_DATABASE_URL, then embedded")
    demo.add_argument("--skip-deploy", action="store_true", help="the database is deployed")
    demo.set_defaults(func=_demo)

    train = sub.add_parser("train", help="train a model version inside the database")
    train.add_argument("kind", choices=["churn", "forecaster"], help="the model kind")
    train.add_argument("name", help="model name")
    train.add_argument("--input-query", help="default: the spec's feature view")
    train.add_argument("--options", help='JSON, e.g. \'{"epochs": 20}\'')
    train.add_argument("--no-activate", action="store_true", help="register as candidate")
    train.set_defaults(func=_train)

    score = sub.add_parser("score", help="score customers with the active churn model")
    score.add_argument("name", help="churn model name (its active version scores)")
    score.add_argument("--input-query", help="default: the spec's feature view")
    score.add_argument("--explain", type=int, default=0,
                       help="reasons kept per customer in predictions.churn_reasons (0 to 20)")
    score.set_defaults(func=lambda a: _call(a, "score_churn", model_name=a.name,
                                            input_query=a.input_query, explain=a.explain))

    fc = sub.add_parser("forecast", help="forecast every series with the active forecaster")
    fc.add_argument("name", help="forecaster model name (its active version forecasts)")
    fc.add_argument("--horizon", type=_positive, help="periods ahead (default: the model's)")
    fc.add_argument("--input-query", help="default: the spec's series view")
    fc.set_defaults(func=lambda a: _call(a, "forecast", model_name=a.name, horizon=a.horizon,
                                         input_query=a.input_query))

    act = sub.add_parser("activate", help="make a version active (promote or roll back)")
    act.add_argument("name", help="model name")
    act.add_argument("version", type=_positive, help="the version to make active")
    act.set_defaults(func=lambda a: _call(a, "activate_model", model_name=a.name,
                                          version=a.version))

    models = sub.add_parser("models", help="list model versions and their key metric (no blobs)")
    models.add_argument("name", nargs="?", help="a model name, or export / import "
                        "(sqlml models export --help)")
    models.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    models.set_defaults(func=_models)

    runs = sub.add_parser("runs", help="list recent runs: status, rows, duration, error")
    runs.add_argument("name", nargs="?", help="only this model name's runs")
    runs.add_argument("--limit", type=_positive, default=20, help="newest N (default 20)")
    runs.set_defaults(func=_runs)

    drift = sub.add_parser("drift", help="latest input drift (PSI) per model and feature")
    drift.add_argument("name", nargs="?", help="only this model name's features")
    drift.set_defaults(func=_drift)

    report = sub.add_parser("report", help="write a self-contained HTML report of the models")
    report.add_argument("--out", default="sqlml-report.html", help="default: sqlml-report.html")
    report.set_defaults(func=_report)

    for command in (train, score, fc, act, models, runs, drift, report):
        command.add_argument("--url", help="default: SQLML_DATABASE_URL, then embedded")

    rt = sub.add_parser("runtime", help="build the in-database Python runtime for another host")
    rt_sub = rt.add_subparsers(dest="action", required=True)
    build = rt_sub.add_parser("build", help="build a runtime into DIR (run on the server's host)")
    build.add_argument("target", metavar="DIR", help="where to build the runtime")
    build.add_argument("--python-version", help="the server's Python, e.g. 3.11 (default: ours)")
    rt.set_defaults(func=_runtime)

    obj = sub.add_parser("objects", help="procedures and views versioned by Alembic (developers)")
    obj_sub = obj.add_subparsers(dest="action", required=True)
    obj_sub.add_parser("status", help="files that differ from what the latest revision deploys")
    rev = obj_sub.add_parser("revision", help="a new revision shipping every changed file")
    rev.add_argument("-m", "--message", required=True)
    fr = obj_sub.add_parser("freeze", help="refresh an unreleased revision's snapshot")
    fr.add_argument("--revision", help="default: the newest revision with a snapshot")
    obj.set_defaults(func=_objects)

    spark = sub.add_parser("spark", help="score or forecast on Apache Spark (sqlml[spark])")
    spark_sub = spark.add_subparsers(dest="action", required=True)
    for action, text in (("score", "churn probabilities to predictions.churn_scores"),
                         ("forecast", "forecasts to predictions.forecasts")):
        job = spark_sub.add_parser(action, help=text)
        job.add_argument("--url", help="SQLAlchemy or jdbc: URL (default: SQLML_DATABASE_URL, "
                                       "then embedded)")
        job.add_argument("--model", required=True, help="model name in models.registry")
        job.add_argument("--query", required=True, help="the input rows, read through JDBC")
        job.add_argument("--version", type=int, help="default: the active version")
        job.add_argument("--partition-column", help="numeric or date column to split the read on")
        job.add_argument("--lower-bound", help="default: the column's minimum")
        job.add_argument("--upper-bound", help="default: the column's maximum")
        job.add_argument("--partitions", type=int, help="default: Spark's default parallelism")
        job.add_argument("--predicate", action="append",
                         help="one read partition per WHERE condition (repeatable)")
        job.add_argument("--master", default="local[2]",
                         help="Spark master when no session exists (default: local[2])")
        if action == "forecast":
            job.add_argument("--horizon", type=int, help="default: the model's horizon")
    spark.set_defaults(func=_spark)
    return parser


# Substrings of the errors users hit most, and what to do about each (docs/troubleshooting.md).
HINTS = (
    (("relation \"models.", "relation \"ops.", "invalid object name 'models.",
      "invalid object name 'ops.", "function ml.", "could not find stored procedure 'ml."),
     "the database is not deployed (or is an older version): run `sqlml deploy --url URL`"),
    (("external scripts", "sp_execute_external_script' is disabled", "39023"),
     "external scripts are disabled: EXEC sp_configure 'external scripts enabled', 1; "
     "RECONFIGURE; then restart the Launchpad service (sqlml deploy runs "
     "sql/mssql/10_external_scripts.sql as sysadmin)"),
    (("no module named", "modulenotfounderror", "importerror", "python runtime"),
     "the in-database Python runtime is missing or lacks a package: rerun `sqlml deploy`, "
     "then check SELECT * FROM ml.runtime_info() (docs/troubleshooting.md)"),
    (("not found", "has no active version"),
     "list what is there with `sqlml models`; train with `sqlml train churn|forecaster NAME`"),
    (("permission denied", "execute permission was denied", "select permission was denied"),
     "this login lacks the right: sqlml_analyst reads the analyst views, sqlml_operator "
     "also runs the ml routines and reads models, predictions and its own runs; a DBA "
     "grants the role that fits (docs/trust.md)"),
    (("connection refused", "could not connect", "no such file or directory",
      "connection failed", "server closed the connection"),
     "is the database running? `sqlml db start` for the embedded engine; else check --url "
     "or SQLML_DATABASE_URL"),
)


# The server answered: the database named in the URL is not on it (PostgreSQL,
# SQL Server). Checked before the connection hints, whose words such a message shares.
NO_DATABASE = re.compile(r'database "[^"]*" does not exist|cannot open database "[^"]*"')
NO_DATABASE_HINT = ("the server is up but has no database of that name: check the "
                    "database in --url or SQLML_DATABASE_URL (`sqlml db url` prints the "
                    "embedded one), or create it and run `sqlml deploy --url URL`")


def hint_for(message: str) -> str | None:
    lowered = message.lower()
    if NO_DATABASE.search(lowered):
        return NO_DATABASE_HINT
    for needles, hint in HINTS:
        if any(n in lowered for n in needles):
            return hint
    return None


def _fail(message: str, hint: str | None, detail: str | None = None,
          context: str | None = None) -> int:
    """The error as the user needs it: the message on one line, the database's DETAIL
    and a hint; the CONTEXT (the procedures' own call stack, which names routines
    the user never called) only when asked for (``--verbose``)."""
    message = " ".join(message.strip().split("\n")[0].split())  # one line
    print(f"sqlml: {message.removeprefix('sqlml: ')}", file=sys.stderr)
    if detail:
        print(f"detail: {' '.join(detail.split())}", file=sys.stderr)
    hint = hint or hint_for(message)
    if hint:
        print(f"hint: {hint}", file=sys.stderr)
    if context:
        print("context:", file=sys.stderr)
        for line in context.strip().splitlines():
            print(f"  {line.strip()}", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code = args.func(args)
        sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
        return code
    except BrokenPipeError:
        # `sqlml drift | head`: the reader has what it wanted. Point stdout at
        # /dev/null so the interpreter's last flush does not raise again, and end as
        # a tool stopped by SIGPIPE does (128 + 13).
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
    except KeyboardInterrupt:
        print("sqlml: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if args.debug:
            traceback.print_exc()
            return 2
        if isinstance(exc, DBAPIError):  # the database's own message, without our stack
            diag = getattr(exc.orig, "diag", None)  # psycopg: the error's fields
            if diag is not None and diag.message_primary:
                return _fail(diag.message_primary, diag.message_hint, diag.message_detail,
                             diag.context if args.verbose else None)
            odbc = _odbc_message(exc.orig)  # SQL Server: the sentence and its Msg number
            return _fail(odbc or f"database error: {exc.orig}", None)
        if isinstance(exc, SqlmlError):
            return _fail(str(exc), None)
        failed = _fail(f"{type(exc).__name__}: {exc}", None)
        print("run `sqlml --debug ...` for the traceback", file=sys.stderr)
        return failed


def _odbc_message(error) -> str | None:
    """pyodbc's ('42000', '[42000] [driver][SQL Server]text (50401) (SQLExecDirectW)')
    as 'text (Msg 50401)'."""
    args = getattr(error, "args", ())
    if len(args) < 2 or not isinstance(args[1], str):
        return None
    match = re.match(r"^(?:\[[^\]]*\]\s*)*(.*?)\s*(?:\((\d+)\))?\s*(?:\(SQL\w+\))?$",
                     args[1], re.S)
    text, number = match.group(1), match.group(2)
    return f"{text} (Msg {number})" if number else text


if __name__ == "__main__":
    sys.exit(main())
