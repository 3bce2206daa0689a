"""How the ``authz`` command line prints results and which exit code it returns, following the
AWS CLI: ``--output json|text|table``, ``--query`` (JMESPath, with the ``jmespath`` library the
AWS CLI uses), and exit codes that tell a usage error from a service error from a negative
answer.

Exit codes (``EXIT_*``)::

    0    success
    1    a negative answer the command reports: a deny (``check``), an invalid policy, a failing
         policy test, problems in a repository, a refused reload
    2    usage error or bad input (argparse, unreadable file, invalid value; AWS-style error JSON
         on stderr)
    254  service error: the server answered with an error, or could not be reached
    255  any other failure

Owns formatting only; the commands build AWS-shaped documents. Must not import grpc.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping, Sequence
from typing import Any

import jmespath

from authz.errors import ValidationError

EXIT_OK = 0
EXIT_NEGATIVE = 1
EXIT_USAGE = 2
EXIT_SERVICE = 254
EXIT_OTHER = 255
FORMATS = ("json", "text", "table")

EXIT_CODES_HELP = """exit codes:
  0    success
  1    a negative answer: a deny (check), an invalid policy, a failing policy test,
       repository problems, a refused reload
  2    usage error or bad input (an AWS-style error JSON on stderr)
  254  service error: the server answered with an error or could not be reached
  255  any other failure"""


def add_output_options(parser: argparse.ArgumentParser) -> None:
    """``--output`` and ``--query`` on one (sub)command, as the AWS CLI has them everywhere."""
    parser.add_argument(
        "--output",
        choices=FORMATS,
        default=None,
        help="output format, as the AWS CLI: json (default), text (tab-separated) or table",
    )
    parser.add_argument(
        "--query",
        default=None,
        metavar="JMESPATH",
        help="JMESPath expression applied to the result before printing (as the AWS CLI)",
    )


def render(doc: Any, output: str | None = None, query: str | None = None) -> str:
    """The document after ``query``, in ``output`` format."""
    if query:
        try:
            doc = jmespath.search(query, doc)
        except jmespath.exceptions.JMESPathError as err:
            msg = f"--query `{query}` is not a valid JMESPath expression: {err}"
            raise ValidationError(msg) from err
    if output == "text":
        return "\n".join(_text_lines(doc))
    if output == "table":
        return _table(doc)
    return json.dumps(doc, indent=2)


def emit(doc: Any, args: argparse.Namespace | None = None) -> None:
    """Print ``doc`` as the command line asked (``--output``/``--query`` when present)."""
    output = getattr(args, "output", None) if args is not None else None
    query = getattr(args, "query", None) if args is not None else None
    print(render(doc, output, query))


def _scalar(value: Any) -> str:
    if value is None:
        return "None"
    if isinstance(value, bool):
        return "True" if value else "False"
    return str(value)


def _text_lines(doc: Any) -> list[str]:
    """AWS CLI ``text``: scalars of an object on one tab-separated line (keys sorted), nested
    objects and lists below, a list of scalars on one line."""
    if isinstance(doc, Mapping):
        scalars = [_scalar(doc[k]) for k in sorted(doc) if not isinstance(doc[k], Mapping | list)]
        lines = ["\t".join(scalars)] if scalars else []
        for key in sorted(doc):
            value = doc[key]
            if isinstance(value, Mapping | list):
                lines.extend(_prefixed(key.upper(), value))
        return lines
    if isinstance(doc, list):
        if all(not isinstance(v, Mapping | list) for v in doc):
            return ["\t".join(_scalar(v) for v in doc)] if doc else []
        return [line for item in doc for line in _text_lines(item)]
    return [_scalar(doc)]


def _prefixed(name: str, value: Any) -> list[str]:
    if isinstance(value, list) and all(not isinstance(v, Mapping | list) for v in value):
        return [f"{name}\t" + "\t".join(_scalar(v) for v in value)] if value else []
    items = value if isinstance(value, list) else [value]
    out = []
    for item in items:
        sub = _text_lines(item)
        if isinstance(item, Mapping) and sub:
            out.append(f"{name}\t{sub[0]}")
            out.extend(sub[1:])
        else:
            out.extend(f"{name}\t{line}" for line in sub)
    return out


def _table(doc: Any, title: str = "") -> str:
    """AWS CLI ``table``, simplified: a boxed key/value table per object, a column table for a
    list of flat objects."""
    rows: list[Sequence[str]]
    nested: list[str] = []
    if isinstance(doc, Mapping):
        rows = []
        for key in sorted(doc):
            value = doc[key]
            if isinstance(value, Mapping | list) and value:
                nested.append(_table(value, key))
            else:
                rows.append((key, _scalar(value) if not isinstance(value, list) else ""))
    elif isinstance(doc, list) and doc and all(isinstance(v, Mapping) for v in doc):
        keys = sorted({k for v in doc for k in v if not isinstance(v[k], Mapping | list)})
        rows = [keys, *[[_scalar(v.get(k, "")) for k in keys] for v in doc]]
    elif isinstance(doc, list):
        rows = [[_scalar(v)] for v in doc if not isinstance(v, Mapping | list)]
        nested = [_table(v, title) for v in doc if isinstance(v, Mapping | list)]
    else:
        rows = [[_scalar(doc)]]
    return "\n".join([_box(title, rows), *nested]) if rows or title else "\n".join(nested)


def _box(title: str, rows: Sequence[Sequence[str]]) -> str:
    columns = max((len(r) for r in rows), default=1)
    widths = [max((len(r[i]) for r in rows if i < len(r)), default=0) for i in range(columns)]
    inner = max(sum(widths) + 3 * (columns - 1), len(title))
    if columns:
        widths[-1] += inner - (sum(widths) + 3 * (columns - 1))
    line = "+" + "-" * (inner + 2) + "+"
    out = [line]
    if title:
        out.extend([f"| {title.center(inner)} |", line])
    for row in rows:
        cells = [(row[i] if i < len(row) else "").ljust(widths[i]) for i in range(columns)]
        out.append("| " + " | ".join(cells) + " |")
    out.append(line)
    return "\n".join(out)
