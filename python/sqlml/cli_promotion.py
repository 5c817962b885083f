"""``sqlml models export`` and ``sqlml models import``: promotion between databases
(sqlml.promotion) and ONNX imports from the command line (ml.import_model).

Their own parser, because ``sqlml models NAME`` already takes a model name where a
subcommand would stand.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from sqlml.errors import InputError

ONNX_MAGIC_SUFFIXES = (".onnx",)


def _parser(action: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=f"sqlml models {action}")
    if action == "export":
        parser.add_argument("--name", required=True, help="model name in models.registry")
        parser.add_argument("--version", type=int, help="default: the active version")
        parser.add_argument("--out", required=True, type=Path, help="the file to write")
    else:
        parser.add_argument("file", type=Path,
                            help="an export (sqlml models export) or an .onnx model")
        parser.add_argument("--name", required=True, help="the model name in this database")
        parser.add_argument("--options", help="an .onnx file: ml.import_model's options (JSON)")
        parser.add_argument("--activate", action=argparse.BooleanOptionalAction, default=None,
                            help="make it the active version (default: yes for an .onnx "
                                 "file, as ml.import_model; no for an export)")
    parser.add_argument("--url", help="default: SQLML_DATABASE_URL, then embedded")
    return parser


def run(action: str, argv: list[str], url: str | None) -> int:
    from sqlml.connect import create_engine, resolve_url

    args = _parser(action).parse_args(argv)
    engine = create_engine(resolve_url(args.url or url))
    try:
        if action == "export":
            from sqlml import promotion

            lineage = promotion.export(engine, args.name, args.version, args.out)
            print(f"exported {args.name} version {lineage['version']} "
                  f"(onnx sha256 {lineage['onnx_sha256'][:12]}...) to {args.out}")
            return 0
        if not args.file.is_file():
            raise InputError(f"no file {args.file}")
        if args.file.suffix.lower() in ONNX_MAGIC_SUFFIXES:
            from sqlml import routines

            [row] = routines.call(engine, "import_model", progress=print, model_name=args.name,
                                  model=args.file.read_bytes(), options=args.options,
                                  activate=True if args.activate is None else args.activate)
            print(json.dumps({k: row[k] for k in ("model_id", "model_name", "version", "status")}))
            return 0
        if args.options:
            raise InputError("--options is for an .onnx file; an export carries its own")
        from sqlml import promotion

        row = promotion.import_export(engine, args.file, args.name, bool(args.activate))
        source = row["lineage"]
        print(f"imported {args.name} version {row['version']} ({row['status']}) from "
              f"{source['source']} {source['model_name']} version {source['version']}")
        return 0
    finally:
        engine.dispose()
