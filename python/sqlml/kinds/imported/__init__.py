"""Imported models: ONNX graphs trained elsewhere, checked at import and scored from SQL.

``graph.inspect`` checks a blob and says how its inputs and outputs map to query
columns and to scores (the version's ``feature_schema``); ``predict`` scores the
columns of an input query with it. Neither imports pandas, scikit-learn or
TensorFlow: the converters that made the graph are the notebook's business.
"""

KIND = "imported"
