"""The ``sqlml`` command line.

    sqlml db start|stop|status|url        the embedded PostgreSQL
    sqlml deploy [--url URL]              migrations, procedures, runtime, setup scripts
    sqlml demo [--url URL]                the end-to-end demo
    sqlml train churn|forecaster NAME     ml.train_churn_model / ml.train_forecaster
    sqlml score NAME                      ml.score_churn
    sqlml forecast NAME [--horizon N]     ml.forecast
    sqlml activate NAME VERSION           ml.activate_model (promote or roll back)
    sqlml models [NAME]                   the registry, without blobs
    sqlml runtime build DIR               a runtime for a server on another host
    sqlml objects status|revision|freeze  procedures and views under Alembic
    sqlml spark score|forecast --model NAME --query SQL   the same models on Apache Spark

``--url`` defaults to SQLML_DATABASE_URL, then to the embedded engine.
"""

from __future__ import annotations

import argparse
import sys
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


def _deploy(args: argparse.Namespace) -> int:
    from sqlml.connect import resolve_url
    from sqlml.deploy import deploy

    deploy(resolve_url(args.url), runtime_path=args.runtime_path)
    return 0


def _demo(args: argparse.Namespace) -> int:
    from sqlml.connect import resolve_url
    from sqlml.demo import run_demo

    run_demo(resolve_url(args.url), skip_deploy=args.skip_deploy)
    return 0


def _engine(args: argparse.Namespace):
    from sqlml.connect import create_engine, resolve_url

    return create_engine(resolve_url(args.url))


def _print_rows(rows: list[dict]) -> None:
    for row in rows:
        print("  ".join(f"{k}={v}" for k, v in row.items()))


def _call(args: argparse.Namespace, routine: str, **params) -> int:
    from sqlml import routines

    engine = _engine(args)
    try:
        _print_rows(routines.call(engine, routine, progress=print, **params))
    finally:
        engine.dispose()
    return 0


def _train(args: argparse.Namespace) -> int:
    routine = {"churn": "train_churn_model", "forecaster": "train_forecaster"}[args.kind]
    return _call(args, routine, model_name=args.name, input_query=args.input_query,
                 options=args.options, activate=not args.no_activate)


def _models(args: argparse.Namespace) -> int:
    import sqlalchemy as sa

    engine = _engine(args)
    sql = ("SELECT model_name, version, kind, status, device, trained_rows, created_at, "
           "status_reason FROM models.registry")
    if args.name:
        sql += " WHERE model_name = :name"
    try:
        with engine.connect() as connection:
            rows = connection.execute(sa.text(sql + " ORDER BY model_name, version"),
                                      {"name": args.name}).mappings().all()
        _print_rows([dict(r) for r in rows])
    finally:
        engine.dispose()
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
    parser = argparse.ArgumentParser(prog="sqlml", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    db = sub.add_parser("db", help="the embedded PostgreSQL engine")
    db.add_argument("action", choices=["start", "stop", "status", "url"])
    db.set_defaults(func=_db)

    dep = sub.add_parser("deploy", help="install or upgrade sqlml in a database")
    dep.add_argument("--url", help="SQLAlchemy URL (default: SQLML_DATABASE_URL, then embedded)")
    dep.add_argument("--runtime-path", help="a runtime already built on the server's host")
    dep.set_defaults(func=_deploy)

    demo = sub.add_parser("demo", help="deploy, load demo data, train, score, show results")
    demo.add_argument("--url")
    demo.add_argument("--skip-deploy", action="store_true", help="the database is deployed")
    demo.set_defaults(func=_demo)

    train = sub.add_parser("train", help="train a model version inside the database")
    train.add_argument("kind", choices=["churn", "forecaster"])
    train.add_argument("name", help="model name")
    train.add_argument("--input-query", help="default: the spec's feature view")
    train.add_argument("--options", help='JSON, e.g. \'{"epochs": 20}\'')
    train.add_argument("--no-activate", action="store_true", help="register as candidate")
    train.set_defaults(func=_train)

    score = sub.add_parser("score", help="score customers with the active churn model")
    score.add_argument("name")
    score.add_argument("--input-query")
    score.set_defaults(func=lambda a: _call(a, "score_churn", model_name=a.name,
                                            input_query=a.input_query))

    fc = sub.add_parser("forecast", help="forecast every series with the active forecaster")
    fc.add_argument("name")
    fc.add_argument("--horizon", type=int)
    fc.add_argument("--input-query")
    fc.set_defaults(func=lambda a: _call(a, "forecast", model_name=a.name, horizon=a.horizon,
                                         input_query=a.input_query))

    act = sub.add_parser("activate", help="make a version active (promote or roll back)")
    act.add_argument("name")
    act.add_argument("version", type=int)
    act.set_defaults(func=lambda a: _call(a, "activate_model", model_name=a.name,
                                          version=a.version))

    models = sub.add_parser("models", help="list model versions (no blobs)")
    models.add_argument("name", nargs="?")
    models.set_defaults(func=_models)

    for command in (train, score, fc, act, models):
        command.add_argument("--url", help="default: SQLML_DATABASE_URL, then embedded")

    rt = sub.add_parser("runtime", help="the in-database Python runtime")
    rt_sub = rt.add_subparsers(dest="action", required=True)
    build = rt_sub.add_parser("build", help="build a runtime into DIR (run on the server's host)")
    build.add_argument("target", metavar="DIR")
    build.add_argument("--python-version", help="the server's Python, e.g. 3.11 (default: ours)")
    rt.set_defaults(func=_runtime)

    obj = sub.add_parser("objects", help="procedures and views versioned by Alembic")
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


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except SqlmlError as exc:
        print(f"sqlml: {exc}", file=sys.stderr)
        return 2
    except DBAPIError as exc:  # the database's own message, without our stack
        diag = getattr(exc.orig, "diag", None)  # psycopg: the error's fields
        if diag is not None and diag.message_primary:
            hint = f"\nhint: {diag.message_hint}" if diag.message_hint else ""
            print(f"{diag.message_primary}{hint}", file=sys.stderr)
        else:
            print(f"sqlml: database error: {exc.orig}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
