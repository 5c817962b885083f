"""Small helpers the end-to-end tests share: run SQL, count rows, read the run log.

The tests write the public SQL out in full (``SELECT * FROM ml.score_churn(...)``)
rather than going through ``sqlml.routines``, so that they hold the interface
exactly as users type it.
"""

import sqlalchemy as sa


def call(engine, sql, **params):
    with engine.begin() as connection:
        return connection.execute(sa.text(sql), params).mappings().all()


def count(engine, table, where="TRUE"):
    with engine.connect() as connection:
        return connection.execute(sa.text(f"SELECT count(*) FROM {table} WHERE {where}")).scalar()


def runs(engine):
    return call(engine, "SELECT run_type, model_name, status, rows_in, rows_out, error "
                        "FROM ops.runs ORDER BY run_id")


def train(engine, routine, name, query=None, options=None, activate=True):
    """One ``ml.train_*`` call, as a user types it; returns its row."""
    [row] = call(
        engine,
        f"SELECT * FROM ml.{routine}(model_name => :name, input_query => :query,"
        " options => :options, activate => :activate)",
        name=name, query=query, options=options, activate=activate,
    )
    return row
