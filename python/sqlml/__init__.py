"""sqlml: in-database deep learning for SQL Server, with PostgreSQL as the local engine.

The package has two audiences. The client side (``cli``, ``deploy``,
``localdb``, ``connect``) runs on a developer's or DBA's machine. The
in-database side (``entrypoints`` and what it imports, plus one adapter per
engine under ``sqlml.adapters``) runs inside the database server's own Python,
where ``sqlml deploy`` installs it.
"""

__version__ = "0.1.0"
