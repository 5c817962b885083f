-- ops.reraise(state, message, detail, hint): raise an error with these fields,
-- leaving out an empty DETAIL or HINT (RAISE ... USING takes no NULLs).
-- Called last by ops.fail_run, the exception handler of every ml routine. Never returns.
CREATE OR REPLACE FUNCTION ops.reraise(state text, message text, detail text, hint text)
RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
    IF coalesce(detail, '') = '' AND coalesce(hint, '') = '' THEN
        RAISE EXCEPTION USING ERRCODE = state, MESSAGE = message;
    ELSIF coalesce(hint, '') = '' THEN
        RAISE EXCEPTION USING ERRCODE = state, MESSAGE = message, DETAIL = detail;
    ELSIF coalesce(detail, '') = '' THEN
        RAISE EXCEPTION USING ERRCODE = state, MESSAGE = message, HINT = hint;
    ELSE
        RAISE EXCEPTION USING ERRCODE = state, MESSAGE = message, DETAIL = detail, HINT = hint;
    END IF;
END;
$$;
REVOKE ALL ON FUNCTION ops.reraise(text, text, text, text) FROM public;
