"""The native column reader: ops.column_payloads, which `sqlml deploy` creates.

Revision ID: 0023
Revises: 0022
Create Date: 2026-11-28

Why: issue 11 (batch scoring at most 4x an ``INSERT ... SELECT`` of the same rows).
Reading 200,000 telco rows for scoring cost 0.32 s of ``string_agg``, one aggregate
step per value; the C aggregate ``ops.column_payloads``
(procedures/postgres/native/payloads.c) takes one step per row and costs
0.10 s, against 0.09 s for the floor itself. Two set-returning functions of the same
library, ops.payload_texts and ops.payload_float8s, turn a batch's ids and scores
back into rows for its INSERT.

A C function names a library file on the server's host, so no revision can create
it: ``sqlml deploy`` compiles and creates it where it can (python/sqlml/deploy/
native.py), and the reader falls back to ``string_agg`` where it is absent. This
revision changes nothing on upgrade. On downgrade it drops the five functions (the
aggregate, its step and final functions, the two set-returning ones), if a deploy
created them, so that revision 0001's downgrade can drop schema ops. SQL Server has
no such objects (Launchpad hands the rows over).
"""

from sqlml.deploy.ddl import is_mssql
from sqlml.deploy.native import DROP
from sqlml.deploy.objects import execute

revision = "0023"
down_revision = "0022"


def upgrade() -> None:
    pass


def downgrade() -> None:
    if not is_mssql():
        for statement in DROP:
            execute(statement)
