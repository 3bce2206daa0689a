"""AWS CLI pagination for the ``simulate-*`` commands: follow ``Marker`` to print every
result, or stop at ``--max-items`` and print a ``NextToken`` to continue from
(``--starting-token``), as the AWS CLI does for paginated IAM calls.

Owns only the paging loop over a ``simulate(request) -> response`` callable in the AWS shapes
(``MaxItems`` / ``Marker`` / ``IsTruncated``); the commands own reading input and printing.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping
from typing import Any

from authz.limits import MAX_ITEMS_LIMIT

Simulate = Callable[[Mapping[str, Any]], Mapping[str, Any]]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--max-items",
        type=int,
        help="print at most this many results, then a NextToken (default: all)",
    )
    p.add_argument("--starting-token", help="the NextToken of an earlier run to continue from")
    p.add_argument(
        "--page-size", type=int, help=f"results per call (MaxItems, 1-{MAX_ITEMS_LIMIT})"
    )


def paginate_all(
    simulate: Simulate,
    request: Mapping[str, Any],
    *,
    max_items: int | None = None,
    starting_token: str | None = None,
    page_size: int | None = None,
) -> dict[str, Any]:
    """Every result of ``request`` (following ``Marker``), or the first ``max_items`` and a
    ``NextToken``. A request that sets ``MaxItems`` or ``Marker`` itself, with none of the
    options, is one raw call (the API's own paging)."""
    explicit = "MaxItems" in request or "Marker" in request
    if explicit and max_items is None and starting_token is None and page_size is None:
        return dict(simulate(request))
    page = page_size or MAX_ITEMS_LIMIT
    current = {k: v for k, v in request.items() if k not in ("MaxItems", "Marker")}
    marker = starting_token
    results: list[Any] = []
    while True:
        size = page if max_items is None else min(page, max_items - len(results))
        call = {**current, "MaxItems": size}
        if marker:
            call["Marker"] = marker
        response = simulate(call)
        results.extend(response.get("EvaluationResults", []))
        marker = response.get("Marker") if response.get("IsTruncated") else None
        if marker is None or (max_items is not None and len(results) >= max_items):
            break
    out: dict[str, Any] = {"EvaluationResults": results, "IsTruncated": False}
    if marker is not None:
        out["NextToken"] = marker
    return out
