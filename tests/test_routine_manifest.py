"""Both engines' ``ml.*`` files, the dispatching routines and README's table, held to
the one manifest of the routines (``sqlml.routines.ROUTINES``, issue 23).

Read from the files, without a database: SQL Server cannot run here, and the
PostgreSQL side is held the same way so that a routine added to the manifest asks
for its files on both engines at once (``tests/test_routines_postgres.py`` holds the
deployed PostgreSQL catalog to it too).
"""

import re

import pytest

from sqlml.paths import project_root
from sqlml.routines import PUBLIC, ROUTINES, Routine

pytestmark = pytest.mark.unit

ROOT = project_root()
ENGINES = ("postgres", "mssql")


def procedure(engine: str, name: str) -> str:
    return (ROOT / "procedures" / engine / f"{name}.sql").read_text(encoding="utf-8")


def split_top_level(text: str) -> list[str]:
    """``a, f(b, c), d`` -> ``['a', 'f(b, c)', 'd']``."""
    parts, depth, current = [], 0, ""
    for char in text:
        depth += (char == "(") - (char == ")")
        if char == "," and depth == 0:
            parts.append(current.strip())
            current = ""
        else:
            current += char
    return [p for p in [*parts, current.strip()] if p]


def closing(text: str, start: int) -> int:
    """Index of the parenthesis that closes the one at ``start``."""
    depth = 0
    for i in range(start, len(text)):
        depth += (text[i] == "(") - (text[i] == ")")
        if depth == 0:
            return i
    raise AssertionError("unbalanced parentheses")


# --- PostgreSQL: CREATE OR REPLACE FUNCTION ml.x(params) RETURNS ... -------------------

def composite_types() -> dict[str, list[tuple[str, str]]]:
    """ml.<type> composites the migrations create (RETURNS SETOF ml.trained_model)."""
    found = {}
    for path in (ROOT / "migrations" / "versions").glob("*.py"):
        text = re.sub(r'"\s+"', "", path.read_text(encoding="utf-8"))  # joined literals
        for name, body in re.findall(r"CREATE TYPE (ml\.\w+) AS \(([^)]*)\)", text):
            found[name] = [tuple(c.split(None, 1)) for c in split_top_level(body)]
    return found


def pg_signature(name: str):
    """(params as (name, type, default or None), result as (name or None, type))."""
    text = procedure("postgres", f"ml.{name}")
    head = re.search(rf"CREATE OR REPLACE FUNCTION ml\.{name}\(", text)
    end = closing(text, head.end() - 1)
    params = []
    for part in split_top_level(text[head.end():end]):
        words = re.match(r"(\w+)\s+(.+?)(?:\s+DEFAULT\s+(.+))?$", part, re.S | re.I)
        params.append((words[1], words[2].strip(), words[3]))
    returns = re.match(r"\s*RETURNS\s+(.+?)\n\s*LANGUAGE", text[end + 1:], re.S)[1].strip()
    if returns.startswith("TABLE"):
        body = returns[returns.index("(") + 1:returns.rindex(")")]
        result = [tuple(c.split(None, 1)) for c in split_top_level(body)]
    elif returns.startswith("SETOF ml."):
        result = composite_types()[returns.split()[1]]
    else:  # a scalar: the column is named by the caller's AS
        result = [(None, returns)]
    return params, result


# --- T-SQL: CREATE OR ALTER PROCEDURE ml.x @params AS; the result set's SELECT ------

def tsql_declarations(text: str) -> dict[str, str]:
    """Each @variable's type: the procedure's parameters and its DECLAREs."""
    header = text[text.index("CREATE OR ALTER PROCEDURE"):re.search(r"^AS\s*$", text,
                                                                    re.M).start()]
    types = {m[1]: m[2] for m in re.finditer(r"^\s*@(\w+)\s+([A-Z]+(?:\(\w+\))?)", header, re.M)}
    types.update({m[1]: m[2] for m in re.finditer(
        r"DECLARE\s+@(\w+)\s+([A-Z]+(?:\(\w+\))?)", text)})
    return types


def mssql_params(name: str) -> list[tuple[str, str, str | None]]:
    text = procedure("mssql", f"ml.{name}")
    header = text[text.index("CREATE OR ALTER PROCEDURE"):re.search(r"^AS\s*$", text,
                                                                    re.M).start()]
    return [(m[1], m[2], m[3]) for m in re.finditer(
        r"^\s*@(\w+)\s+([A-Z]+(?:\(\w+\))?)(?:\s*=\s*([^,\s]+))?,?\s*$", header, re.M)]


def mssql_result(routine: Routine) -> list[tuple[str, str | None]]:
    """The procedure's one result set: its last SELECT's columns, or the external
    script's WITH RESULT SETS when no SELECT follows it. A column's type where the
    text says it (a typed @variable, a CAST, a declared result set), else None."""
    name = routine.work if routine.run_type else f"ml.{routine.name}"
    text = procedure("mssql", name)
    types = tsql_declarations(text)
    if routine.flag:  # the result of the flag's branch: its outer SELECT
        text = text[text.index(f"IF @{routine.flag} = 1"):]
        text = text[:text.index("RETURN;")]
        start = re.search(r"^\s*SELECT\b", text, re.M).end()
        depth, end = 0, len(text)
        for i, ch in enumerate(text[start:], start):
            depth += {"(": 1, ")": -1}.get(ch, 0)
            if depth == 0 and re.match(r"\bFROM\b", text[i:]) and text[i - 1].isspace():
                end = i
                break
        items = split_top_level(text[start:end])
        return [(re.search(r"\bAS\s+(\w+)$", i.strip())[1] if re.search(
                    r"\bAS\s+(\w+)$", i.strip()) else i.strip().split(".")[-1], None)
                for i in items]
    selects = [m.start() for m in re.finditer(r"^\s*SELECT\b", text, re.M)]
    declared = text.rfind("WITH RESULT SETS ((")
    if declared > max(selects, default=-1):
        body = text[declared + len("WITH RESULT SETS ("):]
        body = body[1:closing(body, 0)]
        return [(c.split()[0], c.split()[1]) for c in split_top_level(body)]
    select = text[selects[-1]:].strip()[len("SELECT"):]
    select = re.split(r"\bFROM\b|;", select, maxsplit=1)[0]
    columns = []
    for item in split_top_level(select):
        alias = re.search(r"\bAS\s+(\w+)$", item)
        column = alias[1] if alias else item.split(".")[-1]
        expression = item[:alias.start()].strip() if alias else item
        cast = re.match(r"CAST\(.*\bAS\s+(\w+(?:\(\w+\))?)\)$", expression, re.S)
        variable = re.fullmatch(r"@(\w+)", expression)
        columns.append((column, cast[1] if cast else types.get(variable[1]) if variable
                        else None))
    return columns


def normal(sql_type: str) -> str:
    return re.sub(r"\s+", " ", sql_type).strip().lower()


# --- every ml.* file is a routine of the manifest, on both engines ------------------


@pytest.mark.parametrize("engine", ENGINES)
def test_every_ml_file_is_a_routine_of_the_manifest_and_back(engine):
    files = {p.name[len("ml."):-len(".sql")]
             for p in (ROOT / "procedures" / engine).glob("ml.*.sql")}
    assert files == set(ROUTINES), (
        f"in procedures/{engine} but not in ROUTINES: {sorted(files - set(ROUTINES))}; "
        f"in ROUTINES but not in procedures/{engine}: {sorted(set(ROUTINES) - files)}")


@pytest.mark.parametrize("name", sorted(ROUTINES))
def test_postgres_parameters_and_result_are_the_manifests(name):
    routine = ROUTINES[name]
    params, result = pg_signature(name)
    assert [p[0] for p in params] == list(routine.param_names)
    for (_, sql_type, default), param in zip(params, routine.params, strict=True):
        assert normal(sql_type) == normal(param.type.postgres), (param.name, sql_type)
        expected = param.default_sql("postgres")
        assert (default or "").upper() == (expected or "").upper(), (param.name, default)
    if result[0][0] is None:  # a scalar: one column
        assert len(routine.result) == 1
    else:
        assert [c[0] for c in result] == [c.name for c in routine.result]
    for (_, sql_type), column in zip(result, routine.result, strict=True):
        assert normal(sql_type) == normal(column.type.postgres), (column.name, sql_type)


@pytest.mark.parametrize("name", sorted(ROUTINES))
def test_sql_server_parameters_and_result_are_the_manifests(name):
    routine = ROUTINES[name]
    params = mssql_params(name)
    assert [p[0] for p in params] == list(routine.param_names)
    for (_, sql_type, default), param in zip(params, routine.params, strict=True):
        assert normal(sql_type) == normal(param.type.mssql), (param.name, sql_type)
        assert (default or "").upper() == (param.default_sql("mssql") or "").upper(), (
            param.name, default)
    result = mssql_result(routine)
    assert [c[0] for c in result] == [c.name for c in routine.result]
    typed = [(c, t) for (_, t), c in zip(result, routine.result, strict=True) if t]
    for column, sql_type in typed:
        assert normal(sql_type) == normal(column.type.mssql), (column.name, sql_type)


# --- run types: each ml routine names its own, and the dispatchers know them all ------

def runs() -> dict[str, Routine]:
    return {name: r for name, r in ROUTINES.items() if r.run_type}


def test_every_run_type_has_a_work_procedure_of_one_name_on_both_engines():
    assert runs()
    for routine in runs().values():
        assert routine.work and routine.work.startswith("ops.run_")
        for engine in ENGINES:
            assert (ROOT / "procedures" / engine / f"{routine.work}.sql").is_file(), (
                engine, routine.work)


@pytest.mark.parametrize("name", sorted(ROUTINES))
def test_each_ml_routine_hands_its_run_type_and_parameters_to_ops_call(name):
    routine = ROUTINES[name]
    postgres, mssql = procedure("postgres", f"ml.{name}"), procedure("mssql", f"ml.{name}")
    if routine.run_type is None:
        assert "ops.call(" not in postgres
        assert "EXEC ops.call" not in mssql
        return
    if routine.caller != "ops.call":  # its own caller's half: the arguments as such
        assert re.search(rf"{re.escape(routine.caller)}\(", postgres), name
        named_args = re.findall(rf"{routine.name}\.(\w+)", postgres)
        assert set(named_args) == set(routine.param_names), name
    else:
        assert re.search(rf"ops\.call\(\s*'{routine.run_type}',", postgres)
    if routine.caller == "ops.call":
        built = re.findall(r"jsonb_build_object\(([^;]*?)\)\s*,\s*(?:NULL|ops\.|\w+\.input_query)",
                           postgres, re.S)
        kept = set(built[0].replace("\n", " ").split(",")[0::2])
        flag = {routine.flag} if routine.flag else set()
        assert {k.strip().strip("'") for k in kept} == (
            set(routine.param_names) - {"model_name"} | flag)
    call = mssql[mssql.index("EXEC ops.call"):]
    call = call[:call.index(";")]
    assert f"@run_type = N'{routine.run_type}'" in call
    passed = dict(re.findall(r"@(\w+) = @(\w+)", call))
    assert passed == {p: p for p in routine.param_names}


def test_postgres_begin_run_accepts_exactly_the_run_types():
    text = procedure("postgres", "ops.begin_run")
    accepted = re.search(r"NOT IN \(([^)]*)\)", text)[1]
    from sqlml.routines import INTERNAL_RUN_TYPES

    assert set(re.findall(r"'(\w+)'", accepted)) == (
        {r.run_type for r in runs().values()} | set(INTERNAL_RUN_TYPES))


def test_postgres_run_call_hands_each_run_type_to_its_work():
    text = procedure("postgres", "ops.run_call")
    dispatch = dict(re.findall(r"WHEN '(\w+)' THEN ([\w.]+)\(", text))
    # a routine with a caller's half of its own (ops.import_call) goes to its work there
    assert dispatch == {r.run_type: r.work for r in runs().values() if r.caller == "ops.call"}
    for routine in runs().values():
        if routine.kind and routine.work == "ops.run_train":
            branch = text[text.index(f"WHEN '{routine.run_type}'"):]
            assert f"'{routine.kind}'" in branch[:branch.index("WHEN", 5)]


def test_sql_server_ops_call_hands_each_run_type_to_its_work_and_kind():
    text = procedure("mssql", "ops.call")
    body = text[text.index("BEGIN TRY"):]
    branches = re.findall(r"(?:IF @run_type = N'(\w+)'\s*|ELSE\s*)EXEC (ops\.\w+)", body)
    named = {run_type: work for run_type, work in branches if run_type}
    fallback = [work for run_type, work in branches if not run_type]
    for routine in runs().values():
        assert named.get(routine.run_type, fallback[0]) == routine.work, routine.name
    kinds = dict(re.findall(r"WHEN N'(\w+)' THEN N'(\w+)'", text))
    assert kinds == {r.run_type: r.kind for r in runs().values() if r.work == "ops.run_train"}
    # ops.call declares every parameter it passes on, with the routine's type
    declared = tsql_declarations(text)
    for routine in runs().values():
        for param in routine.params:
            assert normal(declared[param.name]) == normal(param.type.mssql), (
                routine.name, param.name)


# --- README's table of the public routines ------------------------------------------


def readme_rows() -> dict[str, tuple[str, str]]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    table = text[text.index("| routine | parameters | returns |"):]
    rows = {}
    for line in table.splitlines()[2:]:
        if not line.startswith("|"):
            break
        name, params, returns = (c.strip() for c in line.strip("|").split(" | "))
        rows[re.fullmatch(r"`ml\.(\w+)`", name)[1]] = (params, returns)
    return rows


def named(cell: str, rows: dict, column: int) -> set[str]:
    """The backticked names of a cell; 'as `ml.x`' stands for x's cell."""
    same = re.fullmatch(r"as `ml\.(\w+)`", cell)
    if same:
        return named(rows[same[1]][column], rows, column)
    return set(re.findall(r"`(\w+)`", cell))


def test_readme_lists_every_public_routine_with_its_parameters_and_result():
    rows = readme_rows()
    assert set(rows) == set(PUBLIC)
    for name, routine in PUBLIC.items():
        params, returns = rows[name]
        assert named(params, rows, 0) == set(routine.param_names) or (
            not routine.params and params == "none"), name
        assert named(returns, rows, 1) >= {c.name for c in routine.result}, name


def test_a_routine_without_its_files_is_found(monkeypatch):
    """The manifest test is not vacuous: a new entry without files fails it."""
    from sqlml import routines

    extra = Routine("score_anything", routines.ROUTINES["score_churn"].params,
                    routines.ROUTINES["score_churn"].result, run_type="score_anything",
                    work="ops.run_score_anything")
    monkeypatch.setitem(routines.ROUTINES, "score_anything", extra)
    with pytest.raises(AssertionError):
        test_every_ml_file_is_a_routine_of_the_manifest_and_back("postgres")
    with pytest.raises(AssertionError):
        test_every_run_type_has_a_work_procedure_of_one_name_on_both_engines()


@pytest.mark.parametrize("call", ["begin", "publish", "fail"])
def test_the_spark_clients_calls_name_the_manifests_parameters_in_order(call):
    """sqlml.spark writes its own JDBC statements (``?`` placeholders, PostgreSQL casts):
    both engines' texts name the manifest's parameters of ``ml.spark_<call>``, in order."""
    from sqlml.spark import routines as spark

    routine = ROUTINES[f"spark_{call}"]
    postgres, mssql = spark.statement("postgres", call), spark.statement("mssql", call)
    assert re.findall(r"(\w+) => \?", postgres) == list(routine.param_names)
    assert re.findall(r"@(\w+) = \?", mssql) == list(routine.param_names)
    casts = re.findall(r"=> \?::(\w+)", postgres)
    assert casts == [p.type.postgres for p in routine.params]


def test_the_client_calls_public_routines_only_and_names_what_it_refuses():
    from sqlml.errors import InputError
    from sqlml.routines import statement

    assert statement("mssql", "score_churn", {"model_name": "m", "explain": 3}) == (
        "EXEC ml.score_churn @model_name = :model_name, @explain = :explain")
    assert statement("postgresql", "runtime_info", {}) == "SELECT * FROM ml.runtime_info()"
    with pytest.raises(InputError, match="unknown routine ml.spark_begin; known: "
                                         "train_churn_model, score_churn"):
        statement("postgresql", "spark_begin", {})
    with pytest.raises(InputError, match="ml.forecast has no parameter 'explain'"):
        statement("postgresql", "forecast", {"model_name": "m", "explain": 1})
