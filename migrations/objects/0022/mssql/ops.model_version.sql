-- ops.model_version: one version of a model, or a clear error: @model_version when
-- given, else the model's active version. Called by ops.run_score_churn and
-- ops.run_forecast (the active version, recorded on their @run_id at once, so that a
-- run failing later keeps its model) and by ml.spark_begin (either). Returns
-- @model_id, @version, @onnx_artifact and @onnx_sha256 (OUTPUT). Errors name the
-- model and say what to do.
CREATE OR ALTER PROCEDURE ops.model_version
    @kind NVARCHAR(32),
    @model_name NVARCHAR(128),
    @model_version INT = NULL,
    @run_id BIGINT = NULL,
    @model_id BIGINT OUTPUT,
    @version INT OUTPUT,
    @onnx_artifact VARBINARY(MAX) OUTPUT,
    @onnx_sha256 CHAR(64) OUTPUT
AS
BEGIN
    SET NOCOUNT ON;
    SET XACT_ABORT ON;
    DECLARE @message NVARCHAR(2048);
    DECLARE @found_kind NVARCHAR(32);
    DECLARE @versions INT;
    SELECT
        @found_kind = MIN(r.kind),
        @versions = COUNT(*)
    FROM models.registry AS r
    WHERE r.model_name = @model_name;
    IF @versions = 0
    BEGIN
        SET @message = CONCAT(
            N'sqlml: model ''', @model_name, N''' not found; train it first, or list ',
            N'models: SELECT model_name, version, status FROM models.registry'
        );
        THROW 50101, @message, 1;
    END;
    IF @found_kind <> @kind
    BEGIN
        SET @message = CONCAT(
            N'sqlml: model ''', @model_name, N''' is a ', @found_kind,
            N' model, not a ', @kind, N' model'
        );
        THROW 50102, @message, 1;
    END;
    SELECT
        @model_id = r.model_id,
        @version = r.version,
        @onnx_artifact = r.onnx_artifact,
        @onnx_sha256 = r.onnx_sha256
    FROM models.registry AS r
    WHERE
        r.model_name = @model_name
        AND (r.version = @model_version OR (@model_version IS NULL AND r.status = N'active'));
    IF @model_id IS NULL
    BEGIN
        SET @message = IIF(@model_version IS NULL,
            CONCAT(
                N'sqlml: model ''', @model_name, N''' has no active version (',
                @versions, N' version(s), none active); activate one with ml.activate_model'
            ),
            CONCAT(N'sqlml: model ''', @model_name, N''' has no version ', @model_version)
        );
        THROW 50103, @message, 1;
    END;
    UPDATE ops.runs SET model_id = @model_id WHERE run_id = @run_id;
END;
