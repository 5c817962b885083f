"""docker-compose.yml and docker/mssql, held without a Docker engine.

No Docker runs here; these checks read the files for what the stack promises:
a SQL Server service with a GPU reservation that can still start without a GPU,
a health check through sqlcmd, a one-shot deploy after it, the live tests after
that, pinned versions, and build contexts that leave local state out.
"""

from __future__ import annotations

import re

import pytest
import yaml

from sqlml.paths import project_root

pytestmark = pytest.mark.unit

ROOT = project_root()


class ComposeLoader(yaml.SafeLoader):
    """YAML with Compose's !reset tag."""


ComposeLoader.add_constructor("!reset", lambda loader, node: "!reset")


def compose(name: str = "docker-compose.yml") -> dict:
    return yaml.load((ROOT / name).read_text(), Loader=ComposeLoader)


def test_sql_server_reserves_nvidia_gpus():
    devices = compose()["services"]["sqlserver"]["deploy"]["resources"]["reservations"][
        "devices"]
    assert devices == [{"driver": "nvidia", "count": "all", "capabilities": ["gpu"]}]


def test_the_cpu_override_removes_the_reservation_and_nothing_else():
    assert compose("docker-compose.cpu.yml") == {"services": {"sqlserver": {"deploy": "!reset"}}}


def test_health_means_the_server_answers_a_query():
    check = compose()["services"]["sqlserver"]["healthcheck"]
    command = " ".join(check["test"])
    assert "sqlcmd" in command and "SELECT 1" in command and " -b " in command


def test_deploy_waits_for_health_and_tests_wait_for_deploy():
    services = compose()["services"]
    assert services["deploy"]["depends_on"] == {"sqlserver": {"condition": "service_healthy"}}
    assert "sqlml deploy" in " ".join(services["deploy"]["command"])
    assert services["tests"]["depends_on"] == {
        "deploy": {"condition": "service_completed_successfully"}
    }
    assert services["tests"]["command"] == ["pytest", "-m", "mssql", "-v"]
    env = services["tests"]["environment"]
    assert env["SQLML_MSSQL_URL"].startswith("mssql+pyodbc://")
    assert "SQLML_MSSQL_LANGUAGE_ZIP" in env


def test_no_credentials_in_the_files():
    """Passwords come from the environment (SQLML_SA_PASSWORD), never from the file."""
    data = compose()
    environments = [data["x-client-environment"]] + [
        service.get("environment", {}) for service in data["services"].values()
        if isinstance(service.get("environment"), dict)
    ]
    for environment in environments:
        for key, value in environment.items():
            if "PASSWORD" in key or "URL" in key:
                secret = re.sub(r"\$\{SQLML_SA_PASSWORD(:\?[^}]*)?\}", "", str(value))
                assert not re.search(r"//[^:/@]+:[^@]+@", secret), key  # a literal password
                assert "PASSWORD" not in key or secret == "", key


def test_images_and_packages_are_pinned():
    dockerfile = (ROOT / "docker" / "mssql" / "Dockerfile").read_text()
    client = compose()["x-client-build"]["dockerfile_inline"]
    for text in (dockerfile, client):
        for image in re.findall(r"^(?:ARG \w+=|FROM )([\w./-]+:[\w.-]+)", text, re.MULTILINE):
            assert "latest" not in image, image
        assert ":latest" not in text
    # Every version the build takes is pinned to a concrete value in the Dockerfile.
    versions = dict(re.findall(r"^ARG (\w+_VERSION)=(\S*)", dockerfile, re.MULTILINE))
    assert {"MSSQL_VERSION", "PYTHON_VERSION", "BOOST_VERSION"} <= set(versions)
    for name, value in versions.items():
        assert re.fullmatch(r"\d+(\.\d+)+[\w.-]*", value), f"{name}={value!r} is not pinned"
    assert re.search(r"LANGUAGE_EXTENSIONS_COMMIT=[0-9a-f]{40}\b", dockerfile)
    assert '"mssql-server-extensibility=${MSSQL_VERSION}"' in dockerfile
    assert "FROM python:3.11." in client


def test_the_image_installs_the_runtime_pins_and_the_extension_deploy_registers():
    dockerfile = (ROOT / "docker" / "mssql" / "Dockerfile").read_text()
    assert "-r /opt/sqlml/requirements-runtime.txt" in dockerfile
    zip_path = compose()["x-client-environment"]["SQLML_MSSQL_LANGUAGE_ZIP"]
    assert f"/python-lang-extension.zip {zip_path}" in dockerfile


def test_build_contexts_leave_local_state_out():
    ignored = (ROOT / ".dockerignore").read_text().split()
    for path in (".venv", ".sqlml", ".git"):
        assert path in ignored


def test_the_extensibility_check_is_found_in_the_package_file_list():
    """Issue 21: Microsoft's docs run /opt/mssql/bin/checkinstallextensibility.sh, older
    packages ship it under /opt/mssql/lib/...: the build asks dpkg where it is."""
    dockerfile = (ROOT / "docker" / "mssql" / "Dockerfile").read_text()
    assert "dpkg -L mssql-server-extensibility" in dockerfile
    assert "/checkinstallextensibility" in dockerfile
    assert "RUN /opt/mssql/lib/mssql-server-extensibility/checkinstall" not in dockerfile


def test_python312_is_on_every_path_the_satellite_may_get():
    dockerfile = (ROOT / "docker" / "mssql" / "Dockerfile").read_text()
    assert "ln -sf /usr/local/bin/python3.12 /usr/bin/python3.12" in dockerfile


def test_launchpad_starts_only_after_external_scripts_are_enabled():
    """Launchpad reads 'external scripts enabled' when it starts (Microsoft's Linux
    setup restarts it after sp_configure): supervisord starts it from the one-shot
    program that enables the setting, and health waits for it."""
    import configparser

    conf = configparser.ConfigParser(interpolation=None)
    conf.read(ROOT / "docker" / "mssql" / "supervisord.conf")
    assert conf["program:launchpadd"]["autostart"] == "false"
    script = (ROOT / "docker" / "mssql" / "enable-external-scripts.sh").read_text()
    assert conf["program:enable-external-scripts"]["command"].endswith(
        "enable-external-scripts.sh")
    enable = script.index("sp_configure 'external scripts enabled', 1")
    assert enable < script.index("start launchpadd")
    assert "supervisorctl" in conf and "unix_http_server" in conf
    assert "MSSQL_SA_PASSWORD" in script and " -P " not in script  # no password in argv
    health = " ".join(compose()["services"]["sqlserver"]["healthcheck"]["test"])
    assert "status launchpadd" in health
    dockerfile = (ROOT / "docker" / "mssql" / "Dockerfile").read_text()
    assert "enable-external-scripts.sh /opt/sqlml/" in dockerfile
