-- ops.reraise(state, message, detail, hint): raise an error with these fields,
-- leaving out an empty DETAIL or HINT (RAISE ... USING takes no NULLs).
-- Called last in the EXCEPTION handler of every ml procedure. Never returns.
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
