"""In-database Python runtime hooks and the analyst views.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25

Why: procedures need a way to find sqlml inside the server's Python
(``ops.use_python_runtime``), deploy needs to see which Python that is
(``ops.python_runtime``, ``ml.runtime_info``), and analysts need stable views
over predictions and the registry that never expose blobs or features.
Definitions: migrations/objects/0004/ (see sqlml/deploy/objects.py).
postgres ships: ml.runtime_info, models.active_models, ops.python_runtime,
    ops.use_python_runtime, predictions.churn_latest, predictions.forecast_latest.
mssql ships: ml.runtime_info, models.active_models, predictions.churn_latest,
    predictions.forecast_latest.
"""

from sqlml.deploy.objects import replaceable_objects

revision = "0004"
down_revision = "0003"

upgrade, downgrade = replaceable_objects(revision)
