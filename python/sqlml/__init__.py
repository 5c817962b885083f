"""sqlml: in-database deep learning for SQL Server, with PostgreSQL as the local engine.

The package has two audiences, and its folders say which code serves which:

* In the database server's own Python (installed there by ``sqlml deploy``):
  ``entrypoints`` (plain functions ``DataFrame (+ params) -> DataFrame``), the
  engine glue under ``adapters/`` (the only code that knows PL/Python or
  ``sp_execute_external_script``), and the model kinds under ``kinds/``, one
  folder each (``kinds/churn``, ``kinds/forecaster``), with what they share
  (``artifacts``, ``specs``, ``errors``).
* On a developer's or DBA's machine: ``cli``, ``connect`` and ``routines`` (reach
  an engine, call its procedures), ``deploy/`` (migrations, replaceable objects,
  the in-database runtimes), ``embedded_pg`` (the local PostgreSQL) and ``demo/``.
"""

__version__ = "0.1.0"
