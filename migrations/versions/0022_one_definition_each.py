"""One definition each: shared steps of the routines and views move into one place.

Revision ID: 0022
Revises: 0021
Create Date: 2026-11-28

Why: issue 10 asks that a step written once be written in one place. This revision
ships the routines and views whose text changed when their repeated steps were
merged; the public interface, every error number and every SQLSTATE stay as they
were.
Definitions: migrations/objects/0022/ (see sqlml/deploy/objects.py).
"""

from sqlml.deploy.objects import replaceable_objects

revision = "0022"
down_revision = "0021"

upgrade, downgrade = replaceable_objects(revision)
