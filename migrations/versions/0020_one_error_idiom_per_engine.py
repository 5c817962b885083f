"""One idiom per engine: thin ml wrappers, the model name check in one place.

Revision ID: 0020
Revises: 0018
Create Date: 2026-11-28

Why: each engine had the same steps copied into every public routine (issue 10).
On PostgreSQL each ml wrapper now makes one statement of ops.call's JSON result
(``jsonb_populate_record`` / ``jsonb_to_record``), and the default input query of a
kind comes from ``ops.input_or_default``. On SQL Server the model name check moves
into ``ops.begin_run`` (the CATCH block still records the refused call), and the
hand-back of the embedded Python's error is ``ops.raise_script_error``. The public
interface and every error number stay as they were.
Definitions: migrations/objects/0020/ (see sqlml/deploy/objects.py).
"""

from sqlml.deploy.objects import replaceable_objects

revision = "0020"
down_revision = "0018"

upgrade, downgrade = replaceable_objects(revision)
