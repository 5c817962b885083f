-- ops.record_job_failure: the failure step of sqlml's SQL Agent jobs (step 2 of each
-- job in sql/mssql/40_agent_jobs.sql), so that a failure is in ops.runs even when the
-- procedure of step 1 never got to record it (procedure missing, database offline at
-- first, permission denied, the step cancelled). The step runs as the job owner,
-- which docs/agent-jobs.md advises be an operator, who may write no table: it reads
-- the job's start and step 1's message from msdb with its own rights and hands them
-- here, and this procedure writes with the owner's (ownership chaining; 35_signing.sql
-- signs it like every ops procedure; 30_roles.sql grants EXECUTE on it alone of ops to
-- sqlml_operator). It closes the caller's own runs of this run type and model that
-- are still 'running' since the job started, and records a 'failed' run when the job
-- left none. @run_type must be one of the jobs' (THROW 50013). Returns nothing.
CREATE OR ALTER PROCEDURE ops.record_job_failure
    @job_name NVARCHAR(128),
    @run_type NVARCHAR(64),
    @model_name NVARCHAR(128),
    @job_started DATETIMEOFFSET = NULL,
    @step_message NVARCHAR(4000) = NULL
AS
BEGIN
    SET NOCOUNT ON;
    SET XACT_ABORT ON;
    DECLARE @since DATETIMEOFFSET = ISNULL(@job_started, DATEADD(HOUR, -24, SYSDATETIMEOFFSET()));
    DECLARE @message NVARCHAR(2048);
    IF @run_type NOT IN (N'score_churn', N'train_churn_model', N'train_forecaster', N'forecast')
    BEGIN
        SET @message = CONCAT(N'sqlml: ops.record_job_failure: no SQL Agent job runs ', @run_type);
        THROW 50013, @message, 1;
    END;
    UPDATE ops.runs
    SET
        status = N'failed',
        finished_at = SYSDATETIMEOFFSET(),
        error = CONCAT(
            N'SQL Agent job ', @job_name, N' ended before the run finished: ',
            ISNULL(@step_message, N'see the job history')
        )
    WHERE
        run_type = @run_type
        AND model_name = @model_name
        AND status = N'running'
        AND started_at >= @since
        AND created_by = SUSER_SNAME();
    IF NOT EXISTS (
        SELECT 1 FROM ops.runs AS r
        WHERE r.run_type = @run_type AND r.model_name = @model_name AND r.started_at >= @since
    )
        INSERT INTO ops.runs (run_type, model_name, status, params, finished_at, error)
        VALUES (
            @run_type, @model_name, N'failed', N'{"source": "sql_agent"}', SYSDATETIMEOFFSET(),
            CONCAT(
                N'SQL Agent job ', @job_name, N' failed before the procedure recorded a run: ',
                ISNULL(@step_message, N'see the job history')
            )
        );
END;
