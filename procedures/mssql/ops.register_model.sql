-- ops.register_model: add the next version of a model to models.registry and apply
-- the activation rule. Called by ops.run_train (for ml.train_churn_model and
-- ml.train_forecaster), inside its transaction, with what the embedded Python returned
-- (two bundles and the registration document). Rule (docs/registry.md), with
-- @activate = 1, on the spec's activation_metric (AUC for churn, higher is better;
-- backtest MASE for forecasts, lower is better), as ops.register_model on PostgreSQL:
--   0. with no active version, the new one becomes active (scoring needs one), its
--      reason saying whether it beat its baseline;
--   1. else a version whose validation metric does not beat its own baseline's (the spec's
--      activation_metric.baseline) stays a candidate;
--   2. else, with no active version, it becomes active;
--   3. else it becomes active only when it beats the active version by more than
--      options.activation_margin (default 0; a tie keeps the active version) on the
--      SAME rows: $.metrics.same_rows, the active version measured by training on the
--      new version's held-out rows. Without that comparison, or with one made against
--      a version that is no longer active, it stays a candidate. A version pinned by
--      ml.activate_model (a rollback) is kept the same way, and the reason says so.
--   An imported version (kind imported) has no baseline and no same-rows comparison:
--      with @activate = 1 it becomes active, replacing the active version (pinned or not).
-- Returns @model_id, @version, @status and @status_reason (OUTPUT).
CREATE OR ALTER PROCEDURE ops.register_model
    @kind NVARCHAR(32),
    @model_name NVARCHAR(128),
    @artifact VARBINARY(MAX),
    @onnx_artifact VARBINARY(MAX),
    @registration NVARCHAR(MAX),
    @activate BIT,
    @model_id BIGINT OUTPUT,
    @version INT OUTPUT,
    @status NVARCHAR(16) OUTPUT,
    @status_reason NVARCHAR(MAX) OUTPUT
AS
BEGIN
    SET NOCOUNT ON;
    SET XACT_ABORT ON;
    DECLARE @message NVARCHAR(2048);
    DECLARE @metric NVARCHAR(64);
    DECLARE @higher BIT;
    DECLARE @baseline_name NVARCHAR(64);
    DECLARE @score FLOAT;
    DECLARE @baseline FLOAT;
    DECLARE @margin FLOAT;
    DECLARE @same_id BIGINT;
    DECLARE @new FLOAT;
    DECLARE @old FLOAT;
    DECLARE @other_kind NVARCHAR(32);
    DECLARE @active_id BIGINT;
    DECLARE @active_version INT;
    DECLARE @pinned BIT;
    DECLARE @pin_note NVARCHAR(400);
    DECLARE @rows_note NVARCHAR(2000);
    DECLARE @score_text NVARCHAR(32);
    DECLARE @baseline_text NVARCHAR(32);
    DECLARE @new_text NVARCHAR(32);
    DECLARE @old_text NVARCHAR(32);
    DECLARE @ids TABLE (model_id BIGINT);
    IF @model_name IS NULL OR LEN(@model_name) = 0
        THROW 50201, N'sqlml: model_name must be 1 to 128 characters', 1;
    SELECT
        @metric = JSON_VALUE(s.spec, '$.activation_metric.name'),
        @higher = IIF(JSON_VALUE(s.spec, '$.activation_metric.higher_is_better') = 'true', 1, 0),
        @baseline_name = JSON_VALUE(s.spec, '$.activation_metric.baseline')
    FROM models.specs AS s
    WHERE s.kind = @kind;
    IF @metric IS NULL
    BEGIN
        SET @message = CONCAT(N'sqlml: no spec for model kind ', @kind, N'; run sqlml deploy');
        THROW 50202, @message, 1;
    END;

    -- Versions count up per model name: the range lock serialises concurrent
    -- registrations of one name until the caller commits.
    SELECT TOP (1) @other_kind = r.kind
    FROM models.registry AS r WITH (UPDLOCK, HOLDLOCK)
    WHERE r.model_name = @model_name AND r.kind <> @kind;
    IF @other_kind IS NOT NULL
    BEGIN
        SET @message = CONCAT(
            N'sqlml: model ''', @model_name, N''' is a ', @other_kind,
            N' model; choose another name for a ', @kind, N' model'
        );
        THROW 50203, @message, 1;
    END;
    SELECT @version = ISNULL(MAX(r.version), 0) + 1
    FROM models.registry AS r WITH (UPDLOCK, HOLDLOCK)
    WHERE r.model_name = @model_name;

    -- The registration document nests the metrics ($.metrics.auc); the registry's
    -- metrics column holds that object itself ($.auc).
    SET @score = TRY_CAST(JSON_VALUE(@registration, CONCAT(N'$.metrics.', @metric)) AS FLOAT);
    -- A kind without a baseline (imported) has no path to read: '$.metrics.' is no path.
    IF @baseline_name IS NOT NULL
        SET @baseline = TRY_CAST(
            JSON_VALUE(@registration, CONCAT(N'$.metrics.', @baseline_name)) AS FLOAT
        );
    SET @margin = COALESCE(
        TRY_CAST(JSON_VALUE(@registration, '$.spec.options.activation_margin') AS FLOAT), 0
    );
    SET @same_id = TRY_CAST(
        JSON_VALUE(@registration, '$.metrics.same_rows.champion_model_id') AS BIGINT
    );
    SET @new = TRY_CAST(JSON_VALUE(@registration, '$.metrics.same_rows.challenger') AS FLOAT);
    SET @old = TRY_CAST(JSON_VALUE(@registration, '$.metrics.same_rows.champion') AS FLOAT);
    -- Figures as status_reason shows them: four decimals, 'NULL' when missing (the
    -- same text as ops.figure on PostgreSQL).
    SET @score_text = COALESCE(CAST(CAST(@score AS DECIMAL(19, 4)) AS NVARCHAR(32)), N'NULL');
    SET @baseline_text = COALESCE(
        CAST(CAST(@baseline AS DECIMAL(19, 4)) AS NVARCHAR(32)), N'NULL'
    );
    SET @new_text = COALESCE(CAST(CAST(@new AS DECIMAL(19, 4)) AS NVARCHAR(32)), N'NULL');
    SET @old_text = COALESCE(CAST(CAST(@old AS DECIMAL(19, 4)) AS NVARCHAR(32)), N'NULL');
    SET @status = N'candidate';
    IF @activate = 0
        SET @status_reason = N'candidate: trained with activate = 0';
    ELSE
    BEGIN
        SELECT
            @active_id = r.model_id,
            @active_version = r.version,
            @pinned = COALESCE(r.pinned, 0)
        FROM models.registry AS r WITH (UPDLOCK)
        WHERE r.model_name = @model_name AND r.status = N'active';
        SET @pin_note = IIF(@pinned = 1, CONCAT(
            N'; version ', @active_version,
            N' was pinned by ml.activate_model and stays until a version beats it by the margin on the same rows'
        ), N'');
        SET @rows_note = CONCAT(
            N'on the same ', JSON_VALUE(@registration, '$.metrics.same_rows.rows'), N' rows (',
            JSON_VALUE(@registration, '$.metrics.same_rows.rows_from'), N'), margin ',
            CAST(CAST(@margin AS DECIMAL(19, 4)) AS NVARCHAR(32))
        );
        -- An imported model brings no validation metric and no held-out rows to compare
        -- on: activate = 1 is the operator's decision to deploy it (docs/imported-models.md),
        -- so it replaces the active version, and the reason says why.
        IF @kind = N'imported'
        BEGIN
            SET @status = N'active';
            SET @status_reason = IIF(@active_id IS NULL,
                N'activated: first active version (imported with activate = true)',
                CONCAT(
                    N'activated: imported with activate = true, replacing version ', @active_version,
                    N' (an imported model has no validation metric to compare on the same rows)',
                    IIF(@pinned = 1, CONCAT(
                        N'; version ', @active_version, N' had been pinned by ml.activate_model'
                    ), N'')
                ));
            UPDATE models.registry
            SET status = N'retired', pinned = 0,
                status_reason = CONCAT(N'retired: replaced by imported version ', @version)
            WHERE model_id = @active_id;
        END
        -- The first version becomes active whatever its baseline did: scoring needs an
        -- active version, and the reason says when a better one is still wanted.
        ELSE IF @active_id IS NULL AND @score IS NOT NULL
        BEGIN
            SET @status = N'active';
            SET @status_reason = CONCAT(
                N'activated: first active version (validation ', @metric, N' ',
                @score_text,
                IIF(@baseline IS NULL, N'', CONCAT(N', baseline ', @baseline_text)), N')',
                IIF(@baseline IS NOT NULL AND (
                    (@higher = 1 AND @score <= @baseline) OR (@higher = 0 AND @score >= @baseline)
                ), N'; it does not beat its baseline, so the next version that does replaces it',
                N'')
            );
        END
        ELSE IF @score IS NULL OR (@baseline IS NOT NULL AND (
            (@higher = 1 AND @score <= @baseline) OR (@higher = 0 AND @score >= @baseline)
        ))
            -- A network that does not beat the simple method it is measured beside
            -- adds nothing a reader should trust; the rule never lets it replace one.
            SET @status_reason = CONCAT(
                N'candidate: validation ', @metric, N' ', @score_text,
                N' does not beat its baseline''s ', @baseline_text, @pin_note
            );
        ELSE IF @same_id IS NULL OR @same_id <> @active_id OR @new IS NULL OR @old IS NULL
            SET @status_reason = CONCAT(
                N'candidate: not compared with active version ', @active_version,
                N' on the same rows (',
                CASE
                    WHEN JSON_VALUE(@registration, '$.metrics.same_rows.error') IS NOT NULL
                        AND @same_id = @active_id
                        THEN JSON_VALUE(@registration, '$.metrics.same_rows.error')
                    WHEN @same_id IS NOT NULL THEN CONCAT(
                        N'it was compared with version ',
                        JSON_VALUE(@registration, '$.metrics.same_rows.champion_version'),
                        N', which is no longer the active one'
                    )
                    ELSE N'training made no comparison'
                END, N')', @pin_note
            );
        ELSE IF (@higher = 1 AND @new > @old + @margin) OR (@higher = 0 AND @new < @old - @margin)
        BEGIN
            SET @status = N'active';
            SET @status_reason = CONCAT(
                N'activated: ', @metric, N' ', @new_text, N' beats active version ',
                @active_version, N'''s ', @old_text, N' ', @rows_note,
                IIF(@pinned = 1, CONCAT(
                    N'; version ', @active_version, N' had been pinned by ml.activate_model'
                ), N'')
            );
            UPDATE models.registry
            SET
                status = N'retired',
                pinned = 0,
                status_reason = CONCAT(
                    N'retired: replaced by version ', @version, N' (', @metric, N' ',
                    @new_text, N' against ', @old_text, N' ', @rows_note, N')'
                )
            WHERE model_id = @active_id;
        END
        ELSE
            SET @status_reason = CONCAT(
                N'candidate: ', @metric, N' ', @new_text, N' does not beat active version ',
                @active_version, N'''s ', @old_text, N' ', @rows_note,
                IIF(@new = @old, N'; a tie keeps the active version', N''), @pin_note
            );
    END;

    INSERT INTO models.registry (
        model_name, version, kind, status, status_reason, artifact, artifact_sha256,
        onnx_artifact, onnx_sha256, spec, metrics, feature_schema, trained_rows,
        training_seconds, device, activated_at
    )
    OUTPUT inserted.model_id INTO @ids (model_id)
    VALUES (
        @model_name, @version, @kind, @status, @status_reason,
        @artifact, JSON_VALUE(@registration, '$.artifact_sha256'),
        @onnx_artifact, JSON_VALUE(@registration, '$.onnx_sha256'),
        JSON_QUERY(@registration, '$.spec'),
        JSON_QUERY(@registration, '$.metrics'),
        JSON_QUERY(@registration, '$.feature_schema'),
        CAST(JSON_VALUE(@registration, '$.trained_rows') AS BIGINT),
        CAST(JSON_VALUE(@registration, '$.training_seconds') AS FLOAT),
        JSON_VALUE(@registration, '$.device'),
        IIF(@status = N'active', SYSDATETIMEOFFSET(), NULL)
    );
    SELECT @model_id = i.model_id FROM @ids AS i;
END;
