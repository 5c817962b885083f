-- ops.run_activate: make one version of a model the active one and retire the one it
-- replaces, in one transaction, and pin it (models.registry.pinned). Called by ops.call for ml.activate_model, in the run
-- it opened (@run_id). Returns one row: model_id, model_name, version, status.
CREATE OR ALTER PROCEDURE ops.run_activate
    @run_id BIGINT,
    @model_name NVARCHAR(4000),
    @version INT
AS
BEGIN
    SET NOCOUNT ON;
    SET XACT_ABORT ON;
    DECLARE @model_id BIGINT;
    DECLARE @status NVARCHAR(16);
    DECLARE @versions INT;
    DECLARE @message NVARCHAR(2048);
    BEGIN TRANSACTION;
    SELECT
        @model_id = r.model_id,
        @status = r.status
    FROM models.registry AS r WITH (UPDLOCK, HOLDLOCK)
    WHERE r.model_name = @model_name AND r.version = @version;
    IF @model_id IS NULL
    BEGIN
        SELECT @versions = COUNT(*) FROM models.registry AS r WHERE r.model_name = @model_name;
        SET @message = CONCAT(
            N'sqlml: model ''', @model_name, N''' has no version ', @version,
            N' (', @versions, N' version(s) registered)'
        );
        THROW 50401, @message, 1;
    END;
    IF @status <> N'active'
    BEGIN
        UPDATE models.registry
        SET
            status = N'retired',
            pinned = 0,
            status_reason = CONCAT(N'retired: version ', @version, N' activated by ', SUSER_SNAME())
        WHERE model_name = @model_name AND status = N'active';
        UPDATE models.registry
        SET
            status = N'active',
            status_reason = CONCAT(
                N'activated by ', SUSER_SNAME(), N' with ml.activate_model (run ', @run_id,
                N'); pinned: training keeps it until a version beats it by the margin on the same rows'
            ),
            activated_at = SYSDATETIMEOFFSET()
        WHERE model_id = @model_id;
    END;
    -- Chosen by hand (a rollback, a promotion after review): the activation rule keeps
    -- it until a challenger beats it on the same rows (ops.register_model).
    UPDATE models.registry SET pinned = 1 WHERE model_id = @model_id;
    EXEC ops.finish_run @run_id = @run_id, @model_id = @model_id, @rows_in = 1, @rows_out = 1;
    COMMIT TRANSACTION;

    SELECT
        @model_id AS model_id,
        @model_name AS model_name,
        @version AS version,
        N'active' AS status;
END;
