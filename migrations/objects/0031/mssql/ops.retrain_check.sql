-- ops.retrain_check: the retraining job's one step, which retrains only on evidence
-- and records its decision, as ops.retrain_check on PostgreSQL. Called by the SQL
-- Agent job "churn retraining check" (sql/mssql/40_agent_jobs.sql), or by an
-- operator; docs/agent-jobs.md says how a DBA sets its window, margins and schedule.
--   1. evaluates the active version on the latest labelled window, @evaluate_query
--      (EXEC ml.evaluate; NULL: no evaluation, so no 'realised' trigger);
--   2. retrains (ml.train_churn_model or ml.train_forecaster on @train_query, NULL:
--      the kind's default, with @options, @activate = 1) when any trigger holds:
--        realised  the realised metric is worse than the version's validation figure
--                  by more than @max_drop (AUC below it; MASE above it);
--        drift     the version's last @drift_runs scoring or forecasting runs each
--                  had a feature flagged (PSI > 0.2);
--        schedule  the version has been active for @max_age_days or more;
--      the new version is activated only by the activation rule (ops.register_model:
--      on the same rows, by the spec's margin);
--   3. records the decision, its trigger(s) and figures in the run's outcome.
-- The queries run with the caller's rights, in the ml procedures, which keep their own
-- runs (and return their own result sets). Returns one row: run_id, decision
-- ('retrain' or 'none'), outcome (JSON).
CREATE OR ALTER PROCEDURE ops.retrain_check
    @model_name NVARCHAR(128),
    @evaluate_query NVARCHAR(MAX) = NULL,
    @train_query NVARCHAR(MAX) = NULL,
    @options NVARCHAR(MAX) = NULL,
    @max_drop FLOAT = 0.02,
    @drift_runs INT = 3,
    @max_age_days INT = 28
AS
BEGIN
    SET NOCOUNT ON;
    SET XACT_ABORT ON;
    DECLARE @run_id BIGINT;
    DECLARE @params NVARCHAR(MAX);
    DECLARE @message NVARCHAR(2048);
    DECLARE @active_id BIGINT;
    DECLARE @active_version INT;
    DECLARE @kind NVARCHAR(32);
    DECLARE @since DATETIMEOFFSET;
    DECLARE @metric NVARCHAR(64);
    DECLARE @higher BIT;
    DECLARE @validation FLOAT;
    DECLARE @realised FLOAT;
    DECLARE @evaluation_run BIGINT;
    DECLARE @evaluated_rows BIGINT;
    DECLARE @flagged_runs INT;
    DECLARE @age_days FLOAT;
    DECLARE @triggers NVARCHAR(100) = N'';
    DECLARE @trained_version INT;
    DECLARE @trained_status NVARCHAR(16);
    DECLARE @trained_reason NVARCHAR(MAX);
    DECLARE @last_version INT;
    DECLARE @outcome NVARCHAR(MAX);
    SET @params = (
        SELECT
            @evaluate_query AS evaluate_query,
            @train_query AS train_query,
            @options AS options,
            @max_drop AS max_drop,
            @drift_runs AS drift_runs,
            @max_age_days AS max_age_days
        FOR JSON PATH, WITHOUT_ARRAY_WRAPPER, INCLUDE_NULL_VALUES
    );
    BEGIN TRY
        EXEC ops.begin_run
            @run_type = N'retrain_check',
            @model_name = @model_name,
            @params = @params,
            @run_id = @run_id OUTPUT;
        IF @max_drop IS NULL OR @max_drop < 0 OR @drift_runs IS NULL OR @drift_runs < 1
            OR @max_age_days IS NULL OR @max_age_days < 0
            THROW 50801, N'sqlml: retrain_check needs @max_drop >= 0, @drift_runs >= 1 and @max_age_days >= 0', 1;
        SELECT
            @active_id = r.model_id,
            @active_version = r.version,
            @kind = r.kind,
            @since = COALESCE(r.activated_at, r.created_at)
        FROM models.registry AS r
        WHERE r.model_name = @model_name AND r.status = N'active';
        IF @active_id IS NULL
        BEGIN
            SET @message = CONCAT(
                N'sqlml: model ''', @model_name, N''' has no active version to check; ',
                N'train one first (ml.train_churn_model / ml.train_forecaster)'
            );
            THROW 50802, @message, 1;
        END;
        SELECT
            @metric = JSON_VALUE(s.spec, '$.activation_metric.name'),
            @higher = IIF(JSON_VALUE(s.spec, '$.activation_metric.higher_is_better') = 'true', 1, 0)
        FROM models.specs AS s
        WHERE s.kind = @kind;
        SELECT @validation = TRY_CAST(JSON_VALUE(r.metrics, CONCAT(N'$.', @metric)) AS FLOAT)
        FROM models.registry AS r
        WHERE r.model_id = @active_id;

        IF @evaluate_query IS NOT NULL
        BEGIN
            EXEC ml.evaluate
                @model_name = @model_name, @input_query = @evaluate_query,
                @version = @active_version;
            SELECT TOP (1)
                @evaluation_run = e.run_id,
                @evaluated_rows = e.rows,
                @realised = TRY_CAST(JSON_VALUE(e.metrics, CONCAT(N'$.', @metric)) AS FLOAT)
            FROM models.evaluations AS e
            WHERE e.model_id = @active_id AND e.run_id > @run_id
            ORDER BY e.run_id DESC;
            IF (@higher = 1 AND @realised < @validation - @max_drop)
                OR (@higher = 0 AND @realised > @validation + @max_drop)
                SET @triggers = N'realised';
        END;

        SELECT @flagged_runs = SUM(f.flagged)
        FROM (
            SELECT TOP (@drift_runs)
                IIF(EXISTS (
                    SELECT 1 FROM ops.run_drift AS d WHERE d.run_id = u.run_id AND d.flagged = 1
                ), 1, 0) AS flagged
            FROM ops.runs AS u
            WHERE
                u.model_id = @active_id AND u.status = N'succeeded'
                AND u.run_type IN (N'score_churn', N'forecast')
            ORDER BY u.run_id DESC
        ) AS f;
        IF COALESCE(@flagged_runs, 0) >= @drift_runs
            SET @triggers = CONCAT(@triggers, IIF(@triggers = N'', N'', N','), N'drift');

        SET @age_days = DATEDIFF_BIG(SECOND, @since, SYSDATETIMEOFFSET()) / 86400.0;
        IF @age_days >= @max_age_days
            SET @triggers = CONCAT(@triggers, IIF(@triggers = N'', N'', N','), N'schedule');

        IF @triggers <> N''
        BEGIN
            SELECT @last_version = MAX(r.version)
            FROM models.registry AS r WHERE r.model_name = @model_name;
            IF @kind = N'churn'
                EXEC ml.train_churn_model
                    @model_name = @model_name, @input_query = @train_query,
                    @options = @options, @activate = 1;
            ELSE
                EXEC ml.train_forecaster
                    @model_name = @model_name, @input_query = @train_query,
                    @options = @options, @activate = 1;
            SELECT TOP (1)
                @trained_version = r.version,
                @trained_status = r.status,
                @trained_reason = r.status_reason
            FROM models.registry AS r
            WHERE r.model_name = @model_name AND r.version > @last_version
            ORDER BY r.version DESC;
        END;

        SET @outcome = (
            SELECT
                IIF(@triggers = N'', N'none', N'retrain') AS decision,
                JSON_QUERY(CONCAT(N'["', REPLACE(@triggers, N',', N'","'), N'"]')) AS triggers,
                @active_version AS active_version,
                @metric AS metric,
                @validation AS validation,
                @realised AS realised,
                @max_drop AS max_drop,
                @evaluation_run AS evaluation_run_id,
                @evaluated_rows AS evaluated_rows,
                @drift_runs AS drift_runs,
                COALESCE(@flagged_runs, 0) AS flagged_runs,
                ROUND(@age_days, 3) AS age_days,
                @max_age_days AS max_age_days,
                @trained_version AS trained_version,
                @trained_status AS status,
                @trained_reason AS status_reason
            FOR JSON PATH, WITHOUT_ARRAY_WRAPPER
        );
        IF @triggers = N''
            SET @outcome = JSON_MODIFY(@outcome, '$.triggers', JSON_QUERY(N'[]'));
        UPDATE ops.runs
        SET
            status = N'succeeded',
            model_id = @active_id,
            rows_out = IIF(@triggers = N'', 0, 1),
            outcome = @outcome,
            finished_at = SYSDATETIMEOFFSET()
        WHERE run_id = @run_id;

        SELECT
            @run_id AS run_id,
            IIF(@triggers = N'', N'none', N'retrain') AS decision,
            @outcome AS outcome;
    END TRY
    BEGIN CATCH
        IF @@TRANCOUNT > 0 ROLLBACK TRANSACTION;
        EXEC ops.fail_run @run_id = @run_id;
        THROW;
    END CATCH;
END;
