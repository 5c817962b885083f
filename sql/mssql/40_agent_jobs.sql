-- 40_agent_jobs: SQL Server Agent jobs for the scheduled runs of this database.
-- Run by `sqlml deploy` on every deploy; idempotent. Returns nothing; PRINTs why
-- it created nothing where there is no SQL Server Agent (Express, Azure SQL
-- Database) or the login may not create jobs.
--
--   job (one set per database)           schedule          step 1
--   sqlml <db>: nightly churn scoring    daily 02:00       EXEC ml.score_churn @model_name = N'churn'
--   sqlml <db>: weekly churn retraining  Sundays 03:00     EXEC ml.train_churn_model @model_name = N'churn', @activate = 1
--   sqlml <db>: monthly forecast         1st of month 04:00  EXEC ml.forecast @model_name = N'forecast'
--   sqlml <db>: churn retraining check   Mondays 03:00     EXEC ops.retrain_check @model_name = N'churn', ...
--
-- The retraining check (issue 26; docs/agent-jobs.md) retrains only on evidence: the
-- realised metric on the latest labelled window, drift flagged N runs in a row, or
-- the version's age. It is created DISABLED: a DBA sets its window and margins in
-- step 1 and enables it (in place of the weekly retraining, which retrains blindly).
--
-- Step 1 runs the procedure, retried on failure (retry_attempts, retry_interval in
-- minutes). The procedures record their own runs in ops.runs, failed ones from their
-- CATCH blocks. When step 1 still fails it goes to step 2, which makes sure the
-- failure is in ops.runs too when the procedure never got to record it (procedure
-- missing, database offline at first, permission denied, the step cancelled): it
-- reads the job history's message with the job owner's rights and hands it to
-- ops.record_job_failure, which inserts a 'failed' run, closes runs this job's login
-- left 'running' (an operator job owner may write no table itself), and the step
-- ends the job as failed so Agent alerts fire.
--
-- Run by hand with sqlcmd, give it -x: otherwise sqlcmd reads the SQL Agent token
-- $(ESCAPE_NONE(JOBID)) below as a sqlcmd variable and stops.
--
-- Re-deploying updates the jobs in place: job ids and history stay, the DBA's
-- enabled/disabled choice stays, steps and schedules are replaced by these.
SET NOCOUNT ON;

DECLARE @engine_edition INT = CAST(SERVERPROPERTY('EngineEdition') AS INT);
DECLARE @database SYSNAME = DB_NAME();
DECLARE @prefix NVARCHAR(100) = N'sqlml ' + LEFT(DB_NAME(), 80) + N': ';
DECLARE @key NVARCHAR(32);
DECLARE @job_name SYSNAME;
DECLARE @description NVARCHAR(512);
DECLARE @run_type NVARCHAR(64);
DECLARE @model_name NVARCHAR(128);
DECLARE @command NVARCHAR(MAX);
DECLARE @failure_command NVARCHAR(MAX);
DECLARE @retry_attempts INT;
DECLARE @retry_interval INT;
DECLARE @freq_type INT;
DECLARE @freq_interval INT;
DECLARE @freq_recurrence_factor INT;
DECLARE @start_time INT;
DECLARE @job_id UNIQUEIDENTIFIER;
DECLARE @schedule_id INT;
DECLARE @category SYSNAME = N'sqlml';
DECLARE @jobs TABLE (
    job_key NVARCHAR(32) NOT NULL PRIMARY KEY,
    job_name SYSNAME NOT NULL,
    description NVARCHAR(512) NOT NULL,
    run_type NVARCHAR(64) NOT NULL,
    model_name NVARCHAR(128) NOT NULL,
    command NVARCHAR(MAX) NOT NULL,
    retry_attempts INT NOT NULL,
    retry_interval INT NOT NULL,
    freq_type INT NOT NULL,
    freq_interval INT NOT NULL,
    freq_recurrence_factor INT NOT NULL,
    start_time INT NOT NULL
);

IF @engine_edition IN (4, 5) OR OBJECT_ID(N'msdb.dbo.sp_add_job') IS NULL
BEGIN
    PRINT N'sqlml: no SQL Server Agent on this instance ('
        + CAST(SERVERPROPERTY('Edition') AS NVARCHAR(128))
        + N'), so no jobs were created: schedule EXEC ml.score_churn, ml.train_churn_model '
        + N'and ml.forecast with the scheduler you have';
    RETURN;
END;

IF HAS_PERMS_BY_NAME(N'msdb.dbo.sp_add_job', N'OBJECT', N'EXECUTE') = 0
BEGIN
    PRINT N'sqlml: login ' + SUSER_SNAME() + N' may not create SQL Agent jobs, so none were '
        + N'created: deploy as a member of msdb''s SQLAgentOperatorRole (or sysadmin)';
    RETURN;
END;

IF HAS_PERMS_BY_NAME(NULL, NULL, N'VIEW SERVER STATE') = 1
    AND NOT EXISTS (
        SELECT 1 FROM sys.dm_exec_sessions AS s
        WHERE s.program_name LIKE N'SQLAgent%'
    )
    PRINT N'sqlml: SQL Server Agent is not running; the jobs are created and run once it is '
        + N'started (on Linux: mssql-conf set sqlagent.enabled true, or MSSQL_AGENT_ENABLED=true)';

-- freq_type 4 = daily, 8 = weekly (freq_interval 1 = Sunday), 16 = monthly
-- (freq_interval = day of month); freq_subday_type 1 = once, at the start time
-- (HHMMSS, in the server's time zone).
INSERT INTO @jobs (
    job_key, job_name, description, run_type, model_name, command,
    retry_attempts, retry_interval, freq_type, freq_interval, freq_recurrence_factor,
    start_time
)
VALUES
(
    N'score_churn', @prefix + N'nightly churn scoring',
    N'Scores every customer with the active churn model; analysts read predictions.churn_latest.',
    N'score_churn', N'churn', N'EXEC ml.score_churn @model_name = N''churn'';',
    2, 10, 4, 1, 0, 20000
),
(
    N'train_churn_model', @prefix + N'weekly churn retraining',
    N'Trains a new churn model version; it becomes active if it is at least as good.',
    N'train_churn_model', N'churn',
    N'EXEC ml.train_churn_model @model_name = N''churn'', @activate = 1;',
    1, 30, 8, 1, 1, 30000
),
(
    N'retrain_check', @prefix + N'churn retraining check',
    N'Retrains the churn model on evidence (realised metric, drift, age); created disabled.',
    N'retrain_check', N'churn',
    N'EXEC ops.retrain_check @model_name = N''churn'', '
    + N'@evaluate_query = N''SELECT * FROM features.churn_features'', '
    + N'@max_drop = 0.02, @drift_runs = 3, @max_age_days = 28;',
    0, 30, 8, 2, 1, 30000
),
(
    N'forecast', @prefix + N'monthly forecast',
    N'Forecasts every series with the active forecaster; analysts read predictions.forecast_latest.',
    N'forecast', N'forecast', N'EXEC ml.forecast @model_name = N''forecast'';',
    2, 10, 16, 1, 1, 40000
);

-- Only sysadmin may add a job category; other job creators file them under the default.
IF NOT EXISTS (
    SELECT 1 FROM msdb.dbo.syscategories AS c
    WHERE c.name = N'sqlml' AND c.category_class = 1
)
BEGIN
    IF IS_SRVROLEMEMBER(N'sysadmin') = 1
        EXEC msdb.dbo.sp_add_category @class = N'JOB', @type = N'LOCAL', @name = N'sqlml';
    ELSE
        SET @category = N'[Uncategorized (Local)]';
END;

SET @key = (SELECT MIN(j.job_key) FROM @jobs AS j);
WHILE @key IS NOT NULL
BEGIN
    SELECT
        @job_name = j.job_name,
        @description = j.description,
        @run_type = j.run_type,
        @model_name = j.model_name,
        @command = j.command,
        @retry_attempts = j.retry_attempts,
        @retry_interval = j.retry_interval,
        @freq_type = j.freq_type,
        @freq_interval = j.freq_interval,
        @freq_recurrence_factor = j.freq_recurrence_factor,
        @start_time = j.start_time
    FROM @jobs AS j
    WHERE j.job_key = @key;

    -- Step 2. $(ESCAPE_NONE(JOBID)) is a SQL Agent token, replaced by this job's id
    -- when the step runs; the {placeholders} are filled in below.
    SET @failure_command = REPLACE(REPLACE(REPLACE(
        N'SET NOCOUNT ON;
DECLARE @job_id UNIQUEIDENTIFIER = CONVERT(UNIQUEIDENTIFIER, $(ESCAPE_NONE(JOBID)));
DECLARE @job_started DATETIMEOFFSET;
DECLARE @step_message NVARCHAR(4000);
BEGIN TRY
    -- msdb may be closed to a job owner who is not sysadmin: then the last day counts.
    SET @job_started = (
        SELECT TOP (1) TODATETIMEOFFSET(a.start_execution_date, DATEPART(TZOFFSET, SYSDATETIMEOFFSET()))
        FROM msdb.dbo.sysjobactivity AS a
        WHERE a.job_id = @job_id AND a.start_execution_date IS NOT NULL
        ORDER BY a.start_execution_date DESC
    );
    SET @step_message = (
        SELECT TOP (1) h.message FROM msdb.dbo.sysjobhistory AS h
        WHERE h.job_id = @job_id AND h.step_id = 1
        ORDER BY h.instance_id DESC
    );
END TRY
BEGIN CATCH
    SET @step_message = NULL;
END CATCH;
-- The signed procedure writes: the job owner (an operator) may write no table.
EXEC ops.record_job_failure
    @job_name = N''{job}'',
    @run_type = N''{run_type}'',
    @model_name = N''{model}'',
    @job_started = @job_started,
    @step_message = @step_message;',
        N'{job}', REPLACE(@job_name, N'''', N'''''')),
        N'{run_type}', @run_type),
        N'{model}', @model_name);

    SET @job_id = (SELECT j.job_id FROM msdb.dbo.sysjobs AS j WHERE j.name = @job_name);
    SET @schedule_id = (
        SELECT TOP (1) s.schedule_id
        FROM msdb.dbo.sysjobschedules AS js
        INNER JOIN msdb.dbo.sysschedules AS s ON js.schedule_id = s.schedule_id
        WHERE js.job_id = @job_id AND s.name = @job_name
    );

    BEGIN TRANSACTION;
    BEGIN TRY
        IF @job_id IS NULL
            EXEC msdb.dbo.sp_add_job
                @job_name = @job_name,
                -- The retraining check waits for a DBA to set its window and margins.
                @enabled = IIF(@key = N'retrain_check', 0, 1),
                @description = @description,
                @category_name = @category,
                @job_id = @job_id OUTPUT;
        ELSE
        BEGIN
            EXEC msdb.dbo.sp_update_job
                @job_id = @job_id, @description = @description, @category_name = @category;
            EXEC msdb.dbo.sp_delete_jobstep @job_id = @job_id, @step_id = 0;
        END;

        EXEC msdb.dbo.sp_add_jobstep
            @job_id = @job_id,
            @step_id = 1,
            @step_name = N'run',
            @subsystem = N'TSQL',
            @database_name = @database,
            @command = @command,
            @retry_attempts = @retry_attempts,
            @retry_interval = @retry_interval,
            @on_success_action = 1,
            @on_fail_action = 3;
        EXEC msdb.dbo.sp_add_jobstep
            @job_id = @job_id,
            @step_id = 2,
            @step_name = N'record the failure in ops.runs',
            @subsystem = N'TSQL',
            @database_name = @database,
            @command = @failure_command,
            @on_success_action = 2,
            @on_fail_action = 2;
        EXEC msdb.dbo.sp_update_job @job_id = @job_id, @start_step_id = 1;

        IF @schedule_id IS NULL
        BEGIN
            EXEC msdb.dbo.sp_add_schedule
                @schedule_name = @job_name,
                @freq_type = @freq_type,
                @freq_interval = @freq_interval,
                @freq_subday_type = 1,
                @freq_recurrence_factor = @freq_recurrence_factor,
                @active_start_time = @start_time,
                @schedule_id = @schedule_id OUTPUT;
            EXEC msdb.dbo.sp_attach_schedule @job_id = @job_id, @schedule_id = @schedule_id;
        END;
        ELSE
            EXEC msdb.dbo.sp_update_schedule
                @schedule_id = @schedule_id,
                @freq_type = @freq_type,
                @freq_interval = @freq_interval,
                @freq_subday_type = 1,
                @freq_recurrence_factor = @freq_recurrence_factor,
                @active_start_time = @start_time;

        IF NOT EXISTS (SELECT 1 FROM msdb.dbo.sysjobservers AS s WHERE s.job_id = @job_id)
            EXEC msdb.dbo.sp_add_jobserver @job_id = @job_id, @server_name = N'(local)';
        COMMIT TRANSACTION;
    END TRY
    BEGIN CATCH
        IF @@TRANCOUNT > 0
            ROLLBACK TRANSACTION;
        THROW;
    END CATCH;

    PRINT N'sqlml: SQL Agent job ' + @job_name;
    SET @key = (SELECT MIN(j.job_key) FROM @jobs AS j WHERE j.job_key > @key);
END;
