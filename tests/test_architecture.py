"""The architecture a reader finds (issue 23): docs/architecture.md names only files
that exist, generated snapshots are marked for tools, and the README points to the
pages that hold what moved out of it."""

import re
import subprocess

import pytest

from sqlml.paths import project_root

pytestmark = pytest.mark.unit

ROOT = project_root()
# A path in `code`: has a folder and names a file (a dot in its last part) or a folder (/).
PATH = re.compile(r"`((?:[\w.-]+/)+(?:[\w.-]+\.\w+)?)`")


def named_paths(page: str) -> set[str]:
    return set(PATH.findall((ROOT / page).read_text(encoding="utf-8")))


def test_the_architecture_page_names_only_files_that_exist():
    named = named_paths("docs/architecture.md")
    assert len(named) > 40, sorted(named)  # it names the path, file by file
    missing = sorted(p for p in named if not (ROOT / p).exists())
    assert not missing, f"docs/architecture.md names files that do not exist: {missing}"


def test_the_architecture_page_walks_both_engines_and_both_calls():
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    for heading in ("Scoring: `ml.score_churn` on PostgreSQL",
                    "Scoring: `ml.score_churn` on SQL Server",
                    "Training: `ml.train_churn_model` on PostgreSQL",
                    "Training: `ml.train_churn_model` on SQL Server"):
        assert f"## {heading}" in text
    named = named_paths("docs/architecture.md")
    for engine in ("postgres", "mssql"):
        for routine in ("ml.score_churn", "ml.train_churn_model", "ops.call"):
            assert f"procedures/{engine}/{routine}.sql" in named


def test_a_missing_file_is_found():
    assert not (ROOT / "procedures" / "postgres" / "ops.run_predict.sql").exists()
    assert "procedures/postgres/ops.run_predict.sql" in PATH.findall(
        "`procedures/postgres/ops.run_predict.sql`")


def test_snapshots_are_marked_generated_for_tools():
    snapshot = next((ROOT / "migrations" / "objects").rglob("*.sql")).relative_to(ROOT)
    done = subprocess.run(["git", "check-attr", "linguist-generated", "--", str(snapshot)],
                          cwd=ROOT, capture_output=True, text=True, check=True)
    assert done.stdout.strip().endswith(": linguist-generated: true"), done.stdout
    live = "procedures/postgres/ops.call.sql"
    done = subprocess.run(["git", "check-attr", "linguist-generated", "--", live],
                          cwd=ROOT, capture_output=True, text=True, check=True)
    assert done.stdout.strip().endswith(": unspecified"), done.stdout


def test_every_revision_that_ships_objects_names_them():
    from sqlml.deploy import objects
    from sqlml.deploy.revisions import shipped_lines

    revisions = objects.revisions_with_snapshots(ROOT)
    assert revisions
    for revision in revisions:
        [path] = (ROOT / "migrations" / "versions").glob(f"{revision}_*.py")
        docstring = path.read_text(encoding="utf-8").split('"""')[1]
        assert "\n".join(shipped_lines(ROOT, revision)) in docstring, (
            f"{path.name}'s docstring does not name what it ships: "
            f"run `sqlml objects revision` or copy revisions.shipped_lines({revision!r})")


def test_readme_links_the_pages_that_hold_what_moved_out_of_it():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for page in ("docs/architecture.md", "docs/benchmarks.md", "procedures/README.md"):
        assert f"({page})" in readme and (ROOT / page).is_file()
