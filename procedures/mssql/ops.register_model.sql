-- ops.register_model: add the next version of a model to models.registry and apply
-- the activation rule. Called by ops.run_train (for ml.train_churn_model and
-- ml.train_forecaster), inside its transaction, with what the embedded Python returned (two bundles
-- and the registration document). Rule: with @activate = 1 the new version becomes
-- active when the model has no active version, or when its validation metric (the
-- spec's activation_metric: AUC for churn, MASE for forecasts) is at least as good
-- as the active version's; status_reason records why either way.
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
    DECLARE @metric_path NVARCHAR(200);
    DECLARE @active_path NVARCHAR(200);
    DECLARE @score FLOAT;
    DECLARE @other_kind NVARCHAR(32);
    DECLARE @active_id BIGINT;
    DECLARE @active_version INT;
    DECLARE @active_score FLOAT;
    DECLARE @ids TABLE (model_id BIGINT);
    IF @model_name IS NULL OR LEN(@model_name) = 0
        THROW 50201, N'sqlml: model_name must be 1 to 128 characters', 1;
    SELECT
        @metric = JSON_VALUE(s.spec, '$.activation_metric.name'),
        @higher = IIF(JSON_VALUE(s.spec, '$.activation_metric.higher_is_better') = 'true', 1, 0)
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
    SET @metric_path = CONCAT(N'$.metrics.', @metric);
    SET @active_path = CONCAT(N'$.', @metric);
    SET @score = TRY_CAST(JSON_VALUE(@registration, @metric_path) AS FLOAT);
    SET @status = N'candidate';
    IF @activate = 0
        SET @status_reason = N'candidate: trained with activate = 0';
    ELSE
    BEGIN
        SELECT
            @active_id = r.model_id,
            @active_version = r.version,
            @active_score = TRY_CAST(JSON_VALUE(r.metrics, @active_path) AS FLOAT)
        FROM models.registry AS r WITH (UPDLOCK)
        WHERE r.model_name = @model_name AND r.status = N'active';
        IF @active_id IS NULL
        BEGIN
            SET @status = N'active';
            SET @status_reason = CONCAT(
                N'activated: first active version (validation ', @metric, N' ',
                CAST(CAST(@score AS DECIMAL(19, 4)) AS NVARCHAR(32)), N')'
            );
        END
        ELSE IF @active_score IS NULL
            OR (@higher = 1 AND @score >= @active_score)
            OR (@higher = 0 AND @score <= @active_score)
        BEGIN
            SET @status = N'active';
            SET @status_reason = CONCAT(
                N'activated: validation ', @metric, N' ', CAST(CAST(@score AS DECIMAL(19, 4)) AS NVARCHAR(32)),
                IIF(@higher = 1, N' >= ', N' <= '), N'version ', @active_version, N'''s ',
                CAST(CAST(@active_score AS DECIMAL(19, 4)) AS NVARCHAR(32))
            );
            UPDATE models.registry
            SET
                status = N'retired',
                status_reason = CONCAT(N'retired: replaced by version ', @version)
            WHERE model_id = @active_id;
        END
        ELSE
            SET @status_reason = CONCAT(
                N'candidate: validation ', @metric, N' ', CAST(CAST(@score AS DECIMAL(19, 4)) AS NVARCHAR(32)),
                N' is worse than active version ', @active_version, N'''s ',
                CAST(CAST(@active_score AS DECIMAL(19, 4)) AS NVARCHAR(32))
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
