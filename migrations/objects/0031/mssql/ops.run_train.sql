-- ops.run_train: the work of every training procedure. Called by ops.call for
-- ml.train_churn_model (@kind 'churn') and ml.train_forecaster ('forecaster'), in the
-- run it opened (@run_id). Reads the kind's spec, trains in the embedded Python on
-- @input_query (NULL: the spec's default) with the caller's rights, and registers
-- the version with the activation rule (ops.register_model), in one transaction.
-- What costs nothing is checked before the input is read (issue 22): a name that
-- belongs to a model of another kind, options that are not a JSON object or name an
-- unknown option (the Python entry point checks types and limits again). With
-- @activate, the active version is measured on the new version's held-out rows in the
-- same script (metrics.same_rows, which the rule compares).
-- Returns one row: model_id, model_name, version, status, metrics (JSON).
CREATE OR ALTER PROCEDURE ops.run_train
    @run_id BIGINT,
    @kind NVARCHAR(32),
    @model_name NVARCHAR(4000),
    @input_query NVARCHAR(MAX),
    @options NVARCHAR(MAX),
    @activate BIT
AS
BEGIN
    SET NOCOUNT ON;
    SET XACT_ABORT ON;
    DECLARE @spec NVARCHAR(MAX);
    DECLARE @query NVARCHAR(MAX);
    DECLARE @artifact VARBINARY(MAX);
    DECLARE @onnx_artifact VARBINARY(MAX);
    DECLARE @registration NVARCHAR(MAX);
    DECLARE @model_id BIGINT;
    DECLARE @version INT;
    DECLARE @status NVARCHAR(16);
    DECLARE @status_reason NVARCHAR(MAX);
    DECLARE @trained_rows BIGINT;
    DECLARE @script_error NVARCHAR(MAX);
    DECLARE @message NVARCHAR(2048);
    DECLARE @other_kind NVARCHAR(32);
    DECLARE @unknown NVARCHAR(4000);
    DECLARE @what NVARCHAR(64) = CONCAT(@kind, N' training');
    DECLARE @champion_id BIGINT;
    DECLARE @champion_version INT;
    DECLARE @champion_onnx VARBINARY(MAX);
    DECLARE @champion_sha256 CHAR(64);
    SELECT @spec = s.spec FROM models.specs AS s WHERE s.kind = @kind;
    IF @spec IS NULL
    BEGIN
        SET @message = CONCAT(N'sqlml: no spec for model kind ', @kind, N'; run sqlml deploy');
        THROW 50301, @message, 1;
    END;
    SELECT TOP (1) @other_kind = r.kind
    FROM models.registry AS r
    WHERE r.model_name = @model_name AND r.kind <> @kind;
    IF @other_kind IS NOT NULL
    BEGIN
        SET @message = CONCAT(
            N'sqlml: model ''', @model_name, N''' is a ', @other_kind,
            N' model; choose another name for a ', @kind, N' model'
        );
        THROW 50203, @message, 1;
    END;
    IF LTRIM(RTRIM(ISNULL(@options, N''))) <> N''
    BEGIN
        IF ISJSON(@options) = 0
        BEGIN
            SET @message = CONCAT(N'sqlml: options of ', @what,
                N' is not valid JSON; pass JSON text, like {"epochs": 20}');
            THROW 50303, @message, 1;
        END;
        IF LEFT(LTRIM(@options), 1) <> N'{'
        BEGIN
            SET @message = CONCAT(N'sqlml: options of ', @what,
                N' must be a JSON object, like {"epochs": 20}');
            THROW 50303, @message, 1;
        END;
        SELECT TOP (1) @unknown = o.[key]
        FROM OPENJSON(@options) AS o
        WHERE o.[key] NOT IN (SELECT d.[key] FROM OPENJSON(@spec, '$.options') AS d)
        ORDER BY o.[key];
        IF @unknown IS NOT NULL
        BEGIN
            SELECT @message = CONCAT(N'sqlml: unknown option ''', @unknown, N''' for ', @what,
                N'; known options: ', STRING_AGG(d.[key], N', ') WITHIN GROUP (ORDER BY d.[key]))
            FROM OPENJSON(@spec, '$.options') AS d;
            THROW 50303, @message, 1;
        END;
    END;
    SET @query = COALESCE(@input_query, JSON_VALUE(@spec, '$.input.default_query'));
    -- Types the language extension refuses: a sqlml error naming the column and its CAST.
    EXEC ops.check_input_types @input_query = @query;
    -- With @activate, the active version (if any) is measured on the new version's
    -- held-out rows in the same script (kinds/champion.py), so the rule compares
    -- figures of the same rows.
    IF @activate = 1 AND EXISTS (
        SELECT 1 FROM models.registry AS r
        WHERE r.model_name = @model_name AND r.status = N'active' AND r.kind = @kind
    )
        EXEC ops.model_version
            @kind = @kind,
            @model_name = @model_name,
            @model_id = @champion_id OUTPUT,
            @version = @champion_version OUTPUT,
            @onnx_artifact = @champion_onnx OUTPUT,
            @onnx_sha256 = @champion_sha256 OUTPUT;

    EXEC sp_execute_external_script
        @language = N'sqlml_python',
        @script = N'from sqlml.adapters.mssql import train_model
artifact, onnx_artifact, registration, script_error = train_model(kind, InputDataSet, spec, options, champion_id, champion_version, champion_onnx, champion_sha256)',
        @input_data_1 = @query,
        @input_data_1_name = N'InputDataSet',
        @params = N'@kind NVARCHAR(32), @spec NVARCHAR(MAX), @options NVARCHAR(MAX), @champion_id BIGINT, @champion_version INT, @champion_onnx VARBINARY(MAX), @champion_sha256 CHAR(64), @artifact VARBINARY(MAX) OUTPUT, @onnx_artifact VARBINARY(MAX) OUTPUT, @registration NVARCHAR(MAX) OUTPUT, @script_error NVARCHAR(MAX) OUTPUT',
        @kind = @kind,
        @spec = @spec,
        @options = @options,
        @champion_id = @champion_id,
        @champion_version = @champion_version,
        @champion_onnx = @champion_onnx,
        @champion_sha256 = @champion_sha256,
        @artifact = @artifact OUTPUT,
        @onnx_artifact = @onnx_artifact OUTPUT,
        @registration = @registration OUTPUT,
        @script_error = @script_error OUTPUT
    WITH RESULT SETS NONE;
    EXEC ops.raise_script_error @script_error = @script_error, @error_number = 50302;

    BEGIN TRANSACTION;
    EXEC ops.register_model
        @kind = @kind,
        @model_name = @model_name,
        @artifact = @artifact,
        @onnx_artifact = @onnx_artifact,
        @registration = @registration,
        @activate = @activate,
        @model_id = @model_id OUTPUT,
        @version = @version OUTPUT,
        @status = @status OUTPUT,
        @status_reason = @status_reason OUTPUT;
    SET @trained_rows = CAST(JSON_VALUE(@registration, '$.trained_rows') AS BIGINT);
    EXEC ops.finish_run
        @run_id = @run_id, @model_id = @model_id, @rows_in = @trained_rows, @rows_out = 1;
    COMMIT TRANSACTION;

    SELECT
        @model_id AS model_id,
        @model_name AS model_name,
        @version AS version,
        @status AS status,
        JSON_QUERY(@registration, '$.metrics') AS metrics;
END;
