"""The package's exceptions: one base class, so callers can catch all of ours.

Messages name the model, column or parameter at fault and say what to do, because
they surface verbatim in SSMS, psql and SQL Agent job history.
"""


class SqlmlError(Exception):
    """Base class of every error sqlml raises on purpose."""


class InputError(SqlmlError):
    """The caller's data or parameters are unusable (a column, a value, an option)."""


class ModelNotFoundError(SqlmlError):
    """No model, or no such version, under the given name."""


class ArtifactError(SqlmlError):
    """A stored model blob is corrupt, tampered with, or of an unknown format."""


class EngineError(SqlmlError):
    """The database engine cannot do what was asked (not running, missing a feature)."""


class ResourceLimitError(SqlmlError):
    """A run went past a limit of its spec (training time)."""
