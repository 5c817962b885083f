-- ml.check_input_query(input_query): sqlml spark's check of its input query before
-- Spark's JDBC source embeds it in "SELECT ... FROM (<query>) AS sqlml_input ..."
-- (issue 22: "SELECT 1 AS id) AS a; <statement>; SELECT * FROM (SELECT 1 AS id"
-- would close that parenthesis and run <statement>). The rule is the readers' own
-- (sqlml.adapters.pg_reader.check_query): PostgreSQL's parser must take the text alone
-- (so its parentheses, quotes and comments close inside it) and as a derived table,
-- where only one query can stand (a second statement, or one that is not a query, is
-- a syntax error there). Both are prepared (parsed and analysed), never run.
-- Self-contained (no sqlml import): the Spark job's role runs it with its own
-- rights, and names resolve in its own search_path, as Spark's read will.
-- Executable by sqlml_spark and sqlml_operator. Returns true; raises 22023 or 42601
-- naming input_query.
CREATE OR REPLACE FUNCTION ml.check_input_query(input_query text)
RETURNS boolean
LANGUAGE plpython3u
SECURITY INVOKER
AS $$
import re
if input_query is None or not input_query.strip():
    plpy.error("sqlml: input_query is empty", sqlstate="22023")
body = re.sub(r"[;\s]+$", "", input_query.strip())
try:
    plpy.prepare(input_query)
except plpy.SPIError as exc:
    if getattr(exc, "sqlstate", None) != "42601":  # not a syntax error: as it is
        raise
    # The parser's sentence, positioned in the caller's own text: spidata is
    # (sqlerrcode, detail, hint, query, position, ...).
    position = (getattr(exc, "spidata", None) or (None,) * 5)[4]
    at = " at character %d" % position if position else ""
    plpy.error("sqlml: input_query has a syntax error%s: %s" % (at, exc.args[0]),
               sqlstate="42601")
try:
    plpy.prepare("SELECT * FROM (\n" + body + "\n) AS sqlml_input")
except plpy.SPIError as exc:
    if getattr(exc, "sqlstate", None) != "42601":  # syntax_error
        raise
    plpy.error("sqlml: input_query must be exactly one query (one SELECT statement): "
               "PostgreSQL reads it as more than one statement, or as a statement that "
               "returns no query's rows", sqlstate="22023")
return True
$$;
REVOKE ALL ON FUNCTION ml.check_input_query(text) FROM public;
GRANT EXECUTE ON FUNCTION ml.check_input_query(text) TO sqlml_spark;
GRANT EXECUTE ON FUNCTION ml.check_input_query(text) TO sqlml_operator;
