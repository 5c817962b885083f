-- ops.begin_run: open a row in ops.runs (status running) and return its run_id.
-- Called first by ops.call and ml.spark_begin, outside any transaction, so the run is
-- visible while it works and survives its rollback (ops.fail_run then closes it).
-- The row keeps the caller's session (session_id, login_time), so that no run stays
-- 'running' forever: a session runs one request at a time, so a run this session
-- left open in the same login was stopped by a cancel or a query timeout (which end
-- the batch without running its CATCH block) and is marked 'failed'; a run whose
-- session ended (killed, disconnected, the server restarted) is marked 'abandoned',
-- here by the next call on its session id, or by any call that may see all sessions
-- (VIEW SERVER STATE). A model name that is not 1 to 128 characters is refused here
-- (THROW 50010), the call recorded as a failed run with its first 128 characters;
-- the caller's CATCH block has no run id then, and its ops.fail_run does nothing.
-- Returns @run_id (OUTPUT).
CREATE OR ALTER PROCEDURE ops.begin_run
    @run_type NVARCHAR(64),
    @model_name NVARCHAR(4000),
    @params NVARCHAR(MAX),
    @run_id BIGINT OUTPUT
AS
BEGIN
    SET NOCOUNT ON;
    SET XACT_ABORT ON;
    DECLARE @refusal NVARCHAR(2048) = IIF(
        LEN(@model_name) BETWEEN 1 AND 128, NULL,
        CONCAT(N'sqlml: model_name must be 1 to 128 characters (got ', ISNULL(LEN(@model_name), 0), N')')
    );
    DECLARE @login_time DATETIME = (
        SELECT s.login_time FROM sys.dm_exec_sessions AS s WHERE s.session_id = @@SPID
    );
    DECLARE @sees_all BIT = IIF(HAS_PERMS_BY_NAME(NULL, NULL, N'VIEW SERVER STATE') = 1, 1, 0);
    -- One pass over the runs left 'running': this session's own (same login) failed,
    -- those of sessions that ended abandoned.
    UPDATE r
    SET
        r.status = IIF(m.mine = 1, N'failed', N'abandoned'),
        r.finished_at = SYSDATETIMEOFFSET(),
        r.error = IIF(
            m.mine = 1,
            N'sqlml: the call was cancelled or timed out before the run finished',
            N'sqlml: the session that ran this ended before the run finished'
        )
    FROM ops.runs AS r
    CROSS APPLY (
        SELECT IIF(r.session_id = @@SPID AND r.login_time = @login_time, 1, 0) AS mine
    ) AS m
    WHERE
        r.status = N'running'
        AND r.session_id IS NOT NULL
        AND (
            m.mine = 1
            OR (
                (r.session_id = @@SPID OR @sees_all = 1)
                AND NOT EXISTS (
                    SELECT 1
                    FROM sys.dm_exec_sessions AS s
                    WHERE s.session_id = r.session_id AND s.login_time = r.login_time
                )
            )
        );
    INSERT INTO ops.runs (
        run_type, model_name, params, session_id, login_time, status, finished_at, error
    )
    VALUES (
        @run_type, LEFT(@model_name, 128), @params, @@SPID, @login_time,
        IIF(@refusal IS NULL, N'running', N'failed'),
        IIF(@refusal IS NULL, NULL, SYSDATETIMEOFFSET()), @refusal
    );
    SET @run_id = SCOPE_IDENTITY();
    IF @refusal IS NOT NULL
        THROW 50010, @refusal, 1;
END;
