"""SQL Server's half of the trust model (docs/trust-mssql.md), held by reading the files:
no role may run external scripts, every ml/ops procedure is signed, Launchpad carries
no secret, the classifier does not trust APP_NAME()."""

from __future__ import annotations

import configparser
import re

import pytest

from sqlml.deploy import objects, tsql_batches
from sqlml.paths import project_root

pytestmark = pytest.mark.unit

ROOT = project_root()
MSSQL = ROOT / "sql" / "mssql"
SETUP = sorted(MSSQL.glob("[0-9][0-9]_*.sql"))


def code_and_strings(path) -> str:
    """The file without comments, whitespace collapsed; statements inside string
    literals (the setup scripts hand sp_executesql theirs) stay in place."""
    text = "\n".join(line.split("--", 1)[0] if not line.lstrip().startswith("N'") else line
                     for line in path.read_text().splitlines())
    return re.sub(r"\s+", " ", text)


def grants(text: str) -> list[tuple[str, str]]:
    return re.findall(r"\bGRANT\s+(.*?)\s+TO\s+([\w\[\]]+)", text, re.IGNORECASE | re.DOTALL)


@pytest.mark.parametrize("path", SETUP, ids=lambda p: p.name)
def test_no_role_is_granted_external_scripts(path):
    for permission, grantee in grants(code_and_strings(path)):
        if "EXTERNAL SCRIPT" in permission.upper():
            assert grantee == "sqlml_procedures_signer", (permission, grantee)


def test_the_signer_is_a_certificate_user_that_reads_nothing():
    text = code_and_strings(MSSQL / "35_signing.sql")
    assert re.search(r"CREATE USER sqlml_procedures_signer FROM CERTIFICATE sqlml_procedures",
                     text)
    signer = [p for p, g in grants(text) if g == "sqlml_procedures_signer"]
    assert signer and all("EXTERNAL SCRIPT" in p.upper() for p in signer)


def test_operator_gets_execute_on_ml_and_no_writes():
    operator = [p.upper() for p, g in grants(code_and_strings(MSSQL / "30_roles.sql"))
                if g == "sqlml_operator"]
    assert "EXECUTE ON SCHEMA::ML" in operator
    assert not any(w in p for p in operator for w in ("INSERT", "UPDATE", "DELETE", "ALTER"))
    assert not any("SCHEMA::OPS" in p and "EXECUTE" in p for p in operator)


def test_public_is_granted_nothing():
    for path in SETUP:
        assert not [g for _, g in grants(code_and_strings(path)) if g.lower() == "public"]


def test_every_ml_and_ops_procedure_is_signed():
    """35_signing.sql signs every procedure of both schemas; deploy re-signs each one
    right after its CREATE OR ALTER (which drops a signature)."""
    text = code_and_strings(MSSQL / "35_signing.sql")
    assert text.count("SCHEMA_NAME(p.schema_id) IN (N'ml', N'ops')") == 2
    assert "ADD SIGNATURE TO" in text
    for obj in objects.live_objects(ROOT, "mssql").values():
        if obj.kind == "PROCEDURE":
            assert obj.name.split(".")[0] in ("ml", "ops")
            assert tsql_batches.signed_procedure(obj.text) == obj.name


def test_launchpad_inherits_no_secret():
    conf = configparser.ConfigParser(interpolation=None)
    conf.read(ROOT / "docker" / "mssql" / "supervisord.conf")
    launchpad = conf["program:launchpadd"]
    command = launchpad["command"]
    assert command.startswith("/usr/bin/env -i "), "Launchpad starts with an empty environment"
    assert "PASSWORD" not in command.upper()
    assert "PASSWORD" not in launchpad.get("environment", "").upper()
    assert "PYTHONHOME" not in launchpad.get("environment", ""), "PYTHONHOME is the language's"


def test_pythonhome_is_the_languages_environment():
    from sqlml.deploy.mssql_runtime import create_language_sql

    sql = create_language_sql("/opt/x.zip", "libPythonExtension.so.1.2", "/usr/local")
    assert """ENVIRONMENT_VARIABLES = N'{"PYTHONHOME": "/usr/local"}'""" in sql


def test_classifier_lets_no_application_name_leave_the_limits():
    """Any client sets APP_NAME(): it may only add a session to group sqlml (SQL Agent's
    job steps, issue 21), after the role rule, never send one to another group."""
    text = code_and_strings(MSSQL / "20_resource_pool.sql")
    body = text[text.index("FUNCTION dbo.sqlml_classifier"):]
    body = body[:body.index("END;")].upper()
    whens = re.findall(r"WHEN (.*?) THEN N''(\w+)''", body)
    assert "IS_SRVROLEMEMBER" in whens[0][0] and whens[0][1] == "SQLML"
    for condition, group in whens:
        if "APP_NAME" in condition:
            assert group == "SQLML", condition
    assert "SQLAGENT - TSQL JOBSTEP" in body


def test_dockerfile_checks_the_extensibility_install():
    text = (ROOT / "docker" / "mssql" / "Dockerfile").read_text()
    install = text.index('"mssql-server-extensibility=${MSSQL_VERSION}"')
    check = text.index("dpkg -L mssql-server-extensibility | grep '/checkinstallextensibility")
    assert install < check
