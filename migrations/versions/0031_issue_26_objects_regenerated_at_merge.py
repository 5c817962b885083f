"""issue 26 objects (regenerated at merge)

Revision ID: 0031
Revises: 0030
Create Date: 2026-12-06

Why: <say why this change exists; the title says what>.
Definitions: migrations/objects/0031/ (see sqlml/deploy/objects.py).
"""

from sqlml.deploy.objects import replaceable_objects

revision = "0031"
down_revision = "0030"

upgrade, downgrade = replaceable_objects(revision)
