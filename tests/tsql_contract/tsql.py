"""Just enough T-SQL reading to find what a procedure hands sp_execute_external_script.

A tokenizer that knows T-SQL's lexical rules (N'...' literals with doubled quotes,
[bracketed] and "quoted" identifiers, -- and nested /* */ comments), and a reader
for ``EXEC sp_execute_external_script @name = value, ... WITH RESULT SETS (...)``.
It is not a T-SQL parser (sqlfluff is the linters' one); it reads the one call shape
sqlml's procedures use, and fails with the file and position when a file departs
from it, rather than guessing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<line_comment>--[^\n]*)
  | (?P<string>N?'(?:[^']|'')*')
  | (?P<bracket>\[(?:[^\]]|\]\])*\])
  | (?P<quoted>"(?:[^"]|"")*")
  | (?P<variable>@@?[A-Za-z_#@$0-9]+)
  | (?P<number>0x[0-9A-Fa-f]*|\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)
  | (?P<word>[A-Za-z_#][A-Za-z0-9_#$]*)
  | (?P<punct><=|>=|<>|!=|::|[(),;=.+\-*/%<>!~&|^:])
    """,
    re.VERBOSE,
)


class TsqlError(ValueError):
    """A file that does not have the shape the contract harness reads."""


@dataclass(frozen=True)
class Token:
    kind: str  # string, identifier, variable, number, word, punct
    text: str  # as written
    value: str  # strings unquoted and unescaped; identifiers unbracketed
    pos: int

    def is_word(self, *words: str) -> bool:
        return self.kind == "word" and self.text.upper() in words

    def is_punct(self, text: str) -> bool:
        return self.kind == "punct" and self.text == text


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        if text.startswith("/*", pos):
            pos = _skip_block_comment(text, pos)
            continue
        match = _TOKEN.match(text, pos)
        if match is None:
            raise TsqlError(f"unexpected character {text[pos]!r} at offset {pos}")
        kind = match.lastgroup
        raw = match.group()
        if kind == "string":
            body = raw[2:-1] if raw[0] in "Nn" else raw[1:-1]
            tokens.append(Token("string", raw, body.replace("''", "'"), pos))
        elif kind == "bracket":
            tokens.append(Token("identifier", raw, raw[1:-1].replace("]]", "]"), pos))
        elif kind == "quoted":
            tokens.append(Token("identifier", raw, raw[1:-1].replace('""', '"'), pos))
        elif kind not in ("space", "line_comment"):
            tokens.append(Token(kind, raw, raw, pos))
        pos = match.end()
    return tokens


def _skip_block_comment(text: str, pos: int) -> int:
    depth, pos = 0, pos
    while pos < len(text):
        if text.startswith("/*", pos):
            depth, pos = depth + 1, pos + 2
        elif text.startswith("*/", pos):
            depth, pos = depth - 1, pos + 2
            if depth == 0:
                return pos
        else:
            pos += 1
    raise TsqlError("unterminated /* comment")


@dataclass(frozen=True)
class SqlType:
    """A T-SQL type as declared: name upper-cased, arguments as written (MAX, 64, 18 2)."""

    name: str
    args: tuple[str, ...] = ()

    @property
    def length(self) -> int | None:
        """Declared character or byte length; None for MAX or types without one."""
        if self.args and self.args[0].upper() != "MAX" and self.name in LENGTH_TYPES:
            return int(self.args[0])
        return None

    def __str__(self) -> str:
        return self.name + (f"({', '.join(self.args)})" if self.args else "")


LENGTH_TYPES = {"CHAR", "NCHAR", "VARCHAR", "NVARCHAR", "BINARY", "VARBINARY"}


@dataclass(frozen=True)
class Column:
    name: str
    type: SqlType
    nullable: bool


@dataclass(frozen=True)
class Param:
    name: str  # without the @
    type: SqlType
    output: bool


@dataclass
class ExternalScriptCall:
    """One ``EXEC sp_execute_external_script`` in a procedure, with its arguments."""

    procedure: str
    arguments: dict[str, Token] = field(default_factory=dict)  # @name (lower) -> value
    output_arguments: set[str] = field(default_factory=set)
    # None: no WITH RESULT SETS; []: WITH RESULT SETS NONE; else one list per set
    result_sets: list[list[Column]] | None = None
    undefined_result_sets: bool = False
    variables: dict[str, str] = field(default_factory=dict)  # @var (lower) -> literal

    def literal(self, argument: str, default: str | None = None) -> str | None:
        """The text an argument passes: a literal, or a variable set from one."""
        token = self.arguments.get(argument.lower())
        if token is None:
            return default
        if token.kind == "string":
            return token.value
        if token.kind == "variable" and token.text.lower() in self.variables:
            return self.variables[token.text.lower()]
        return None

    @property
    def language(self) -> str | None:
        return self.literal("@language")

    @property
    def script(self) -> str:
        script = self.literal("@script")
        if script is None:
            raise TsqlError(f"{self.procedure}: @script is not a literal the harness can read")
        return script

    @property
    def input_name(self) -> str:
        return self.literal("@input_data_1_name") or "InputDataSet"

    @property
    def output_name(self) -> str:
        return self.literal("@output_data_1_name") or "OutputDataSet"

    @property
    def has_input(self) -> bool:
        return "@input_data_1" in self.arguments

    @property
    def params(self) -> list[Param]:
        declaration = self.literal("@params")
        return parse_params(declaration) if declaration else []


def parse_type(text: str) -> SqlType:
    """``"NVARCHAR(64)"`` -> SqlType('NVARCHAR', ('64',))."""
    return _Reader(tokenize(text), text).read_type()


def parse_params(declaration: str) -> list[Param]:
    """``@a INT, @b VARBINARY(MAX) OUTPUT`` -> [Param('a', INT), Param('b', ..., True)]."""
    reader = _Reader(tokenize(declaration), "@params")
    params: list[Param] = []
    while not reader.done:
        name = reader.expect_kind("variable").text[1:]
        sql_type = reader.read_type()
        if reader.peek_punct("="):  # a default value
            reader.next()
            reader.next()
        output = False
        if reader.peek_word("OUTPUT", "OUT"):
            reader.next()
            output = True
        params.append(Param(name, sql_type, output))
        if not reader.done:
            reader.expect_punct(",")
    return params


def read_calls(path: Path) -> list[ExternalScriptCall]:
    """Every sp_execute_external_script call in a T-SQL file, in order."""
    return read_calls_text(path.read_text(encoding="utf-8"), path.name)


def read_calls_text(text: str, file_name: str = "ml.inline.sql") -> list[ExternalScriptCall]:
    """Every sp_execute_external_script call in T-SQL ``text``, read as if from ``file_name``
    (which names the procedure, as ``read_calls`` does)."""
    tokens = tokenize(text)
    variables = _literal_variables(tokens)
    calls = []
    for index, token in enumerate(tokens):
        if token.is_word("SP_EXECUTE_EXTERNAL_SCRIPT") and _after_exec(tokens, index):
            reader = _Reader(tokens, file_name, index + 1)
            call = ExternalScriptCall(procedure=Path(file_name).stem, variables=variables)
            reader.read_arguments(call)
            reader.read_result_sets(call)
            calls.append(call)
    return calls


def _after_exec(tokens: list[Token], index: int) -> bool:
    # EXEC sp_..., EXEC sys.sp_..., EXEC master.sys.sp_...
    back = index - 1
    while back >= 1 and tokens[back].is_punct("."):
        back -= 2
    return back >= 0 and tokens[back].is_word("EXEC", "EXECUTE")


def _literal_variables(tokens: list[Token]) -> dict[str, str]:
    """@var -> literal for ``DECLARE @var <type> = N'...'`` and ``SET @var = N'...'``."""
    found: dict[str, str] = {}
    for index, token in enumerate(tokens):
        if token.kind != "variable":
            continue
        rest = tokens[index + 1:index + 8]
        for offset, candidate in enumerate(rest):
            if candidate.is_punct("="):
                after = rest[offset + 1:offset + 3]
                if (
                    after and after[0].kind == "string"
                    and (len(after) == 1 or after[1].is_punct(";") or after[1].kind == "word")
                ):
                    found[token.text.lower()] = after[0].value
                break
            if candidate.is_punct(",") or candidate.is_punct(";"):
                break
    return found


class _Reader:
    def __init__(self, tokens: list[Token], where: str, pos: int = 0):
        self.tokens, self.where, self.pos = tokens, where, pos

    @property
    def done(self) -> bool:
        return self.pos >= len(self.tokens)

    def peek(self, ahead: int = 0) -> Token | None:
        at = self.pos + ahead
        return self.tokens[at] if at < len(self.tokens) else None

    def peek_word(self, *words: str) -> bool:
        token = self.peek()
        return token is not None and token.is_word(*words)

    def peek_punct(self, text: str) -> bool:
        token = self.peek()
        return token is not None and token.is_punct(text)

    def next(self) -> Token:
        token = self.peek()
        if token is None:
            raise TsqlError(f"{self.where}: unexpected end of text")
        self.pos += 1
        return token

    def fail(self, expected: str) -> TsqlError:
        token = self.peek()
        got = token.text if token else "end of text"
        at = f" at offset {token.pos}" if token else ""
        return TsqlError(f"{self.where}: expected {expected}, found {got!r}{at}")

    def expect_punct(self, text: str) -> Token:
        if not self.peek_punct(text):
            raise self.fail(repr(text))
        return self.next()

    def expect_kind(self, kind: str) -> Token:
        token = self.peek()
        if token is None or token.kind != kind:
            raise self.fail(kind)
        return self.next()

    def read_name(self) -> str:
        token = self.peek()
        if token is None or token.kind not in ("word", "identifier"):
            raise self.fail("a name")
        return self.next().value

    def read_type(self) -> SqlType:
        name = self.read_name().upper()
        args: list[str] = []
        if self.peek_punct("("):
            self.next()
            while not self.peek_punct(")"):
                token = self.next()
                if not token.is_punct(","):
                    args.append(token.text.upper() if token.kind == "word" else token.text)
            self.next()
        return SqlType(name, tuple(args))

    def read_arguments(self, call: ExternalScriptCall) -> None:
        while True:
            name = self.expect_kind("variable").text.lower()
            self.expect_punct("=")
            value = self.next()
            if value.is_punct("-"):  # a negative number
                number = self.next()
                value = Token("number", "-" + number.text, "-" + number.text, value.pos)
            call.arguments[name] = value
            if self.peek_word("OUTPUT", "OUT"):
                self.next()
                call.output_arguments.add(name)
            if not self.peek_punct(","):
                return
            self.next()

    def read_result_sets(self, call: ExternalScriptCall) -> None:
        if not (self.peek_word("WITH") and (self.peek(1) and self.peek(1).is_word("RESULT"))):
            return
        self.next()
        self.next()
        if not self.peek_word("SETS"):
            raise self.fail("SETS")
        self.next()
        if self.peek_word("NONE"):
            self.next()
            call.result_sets = []
            return
        if self.peek_word("UNDEFINED"):
            self.next()
            call.undefined_result_sets = True
            return
        self.expect_punct("(")
        sets: list[list[Column]] = []
        while True:
            sets.append(self.read_column_list())
            if self.peek_punct(","):
                self.next()
                continue
            self.expect_punct(")")
            call.result_sets = sets
            return

    def read_column_list(self) -> list[Column]:
        self.expect_punct("(")
        columns = []
        while True:
            name = self.read_name()
            sql_type = self.read_type()
            nullable = True
            while self.peek_word("NULL", "NOT", "COLLATE"):
                word = self.next().text.upper()
                if word == "NOT":
                    if not self.peek_word("NULL"):
                        raise self.fail("NULL")
                    self.next()
                    nullable = False
                elif word == "COLLATE":
                    self.read_name()
            columns.append(Column(name, sql_type, nullable))
            if self.peek_punct(","):
                self.next()
                continue
            self.expect_punct(")")
            return columns
