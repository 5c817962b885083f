"""The SQL examples of README.md and docs/*.md, found by their fence's language.

The convention (docs/README.md, "Examples that run"):

* ```` ```postgresql ````: PostgreSQL; every statement runs on the embedded engine;
* ```` ```tsql ````: T-SQL; parsed with sqlfluff's ``tsql`` dialect, and the blocks that
  only read (SELECT) run on Babelfish in the babelfish tests;
* ```` ```sql ````: both engines: runs on PostgreSQL and parses as T-SQL;
* a block right after ``<!-- doc-test: parse-only: why -->`` is checked but not run
  (PostgreSQL: ``EXPLAIN`` plans it, which resolves every name; T-SQL: parsed).

Any other fence (``bash``, ``python``, none) is not SQL; a fence without a language
whose first line reads like SQL is an error, so a new example cannot slip past.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from sqlml.paths import project_root

SQL_LANGUAGES = ("postgresql", "tsql", "sql")
PARSE_ONLY = re.compile(r"<!--\s*doc-test:\s*parse-only\b")
FENCE = re.compile(r"^(?P<indent>[ ]*)```(?P<lang>[\w-]*)[^\n]*\n(?P<body>.*?)^(?P=indent)```[ ]*$",
                   re.MULTILINE | re.DOTALL)
LOOKS_LIKE_SQL = re.compile(r"^\s*(SELECT|EXEC|CREATE|ALTER|GRANT|INSERT|UPDATE|DELETE|WITH)\b",
                            re.IGNORECASE)


@dataclass(frozen=True)
class Example:
    path: Path
    line: int
    language: str
    body: str
    parse_only: bool

    @property
    def label(self) -> str:
        return f"{self.path.relative_to(project_root())}:{self.line}"

    @property
    def statements(self) -> list[str]:
        return split_statements(self.body)

    @property
    def reads_only(self) -> bool:
        return all(re.match(r"^\s*SELECT\b", s, re.IGNORECASE) and "ml." not in s
                   for s in self.statements)


def documents() -> list[Path]:
    root = project_root()
    return [root / "README.md", *sorted((root / "docs").glob("*.md"))]


def examples(paths: list[Path] | None = None) -> list[Example]:
    found = []
    for path in paths or documents():
        text = path.read_text(encoding="utf-8")
        for match in FENCE.finditer(text):
            before = text[:match.start()].rstrip("\n").rsplit("\n", 1)[-1]
            indent = len(match.group("indent"))
            body = "\n".join(line[indent:] for line in match.group("body").splitlines())
            found.append(Example(path, text.count("\n", 0, match.start()) + 1,
                                 match.group("lang"), body,
                                 bool(PARSE_ONLY.search(before))))
    return found


def split_statements(text: str) -> list[str]:
    """Statements split at each ';' outside quotes and comments; comment-only pieces
    dropped, trailing comments kept with their statement's text."""
    statements, current, i, n = [], [], 0, len(text)
    while i < n:
        c = text[i]
        if c == "'":
            end = i + 1
            while end < n and not (text[end] == "'" and text[end + 1:end + 2] != "'"):
                end += 2 if text[end:end + 2] == "''" else 1
            current.append(text[i:end + 1])
            i = end + 1
        elif text.startswith("--", i):
            end = text.find("\n", i)
            end = n if end < 0 else end
            current.append(text[i:end])
            i = end
        elif c == ";":
            statements.append("".join(current))
            current, i = [], i + 1
        else:
            current.append(c)
            i += 1
    statements.append("".join(current))
    out = []
    for statement in statements:
        code = "\n".join(line for line in statement.splitlines()
                         if line.strip() and not line.strip().startswith("--"))
        if code.strip():
            out.append(statement.strip())
    return out
