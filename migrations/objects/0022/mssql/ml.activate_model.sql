-- ml.activate_model: make one version of a model the active one (and retire the one
-- it replaces): promotion after review, or a rollback. Called by ML engineers and
-- `sqlml`. Returns one row: model_id, model_name, version, status. Recorded in
-- ops.runs and in the versions' status_reason. The work is ops.call's
-- (ops.run_activate).
CREATE OR ALTER PROCEDURE ml.activate_model
    @model_name NVARCHAR(4000),
    @version INT
AS
BEGIN
    SET NOCOUNT ON;
    SET XACT_ABORT ON;
    EXEC ops.call @run_type = N'activate_model', @model_name = @model_name, @version = @version;
END;
