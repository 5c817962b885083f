"""One adapter per engine: the only code that knows ``plpy`` or ``sp_execute_external_script``."""
