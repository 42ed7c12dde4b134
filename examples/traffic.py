"""Send an example app a bounded, repeatable mix of requests: reads, a slow upstream call, 404s and 500s.

``python -m examples.traffic --url http://127.0.0.1:8000 --requests 60``. Standard library only, so it runs
outside the app's environment too; it prints how many answers came back with each status.
"""

from __future__ import annotations

import argparse
import sys
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Final

__all__ = ["MIX", "main", "paths", "send"]

MIX: Final = (
    "/get?source=traffic",
    "/items",
    "/items/1",
    "/items/2",
    "/items/3/stock",
    "/get",
    "/items/4/stock",
    "/items/5",
    "/items/999",
    "/fail",
)
"""One round: seven reads, one 404, one 500; the two stock lookups call the upstream (502 if it is down)."""


def paths(total: int) -> list[str]:
    """The first ``total`` paths of the mix, repeated as often as needed."""
    return [MIX[index % len(MIX)] for index in range(total)]


def _fetch(url: str, timeout_s: float) -> int:
    """The answer's status; 0 when nothing answered."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            response.read()
            return int(response.status)
    except urllib.error.HTTPError as error:
        error.read()
        return int(error.code)
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return 0


def send(base_url: str, total: int, *, concurrency: int = 2, timeout_s: float = 5.0) -> Counter[int]:
    """Send ``total`` requests with ``concurrency`` at a time; count the answers by status (0: no answer)."""
    base = base_url.rstrip("/")
    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        statuses = pool.map(lambda path: _fetch(base + path, timeout_s), paths(total))
        return Counter(statuses)


def describe(counts: Counter[int]) -> str:
    parts = [f"{count} x {status if status else 'no answer'}" for status, count in sorted(counts.items())]
    return f"{sum(counts.values())} requests: " + ", ".join(parts)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m examples.traffic", description=__doc__)
    parser.add_argument("--url", default="http://127.0.0.1:8000", help="the app's base URL")
    parser.add_argument("--requests", type=int, default=60, help="how many requests (default 60)")
    parser.add_argument("--concurrency", type=int, default=2)
    args = parser.parse_args(argv)
    if args.requests < 1:
        parser.error("--requests must be at least 1")
    counts = send(args.url, args.requests, concurrency=args.concurrency)
    print(describe(counts))
    if counts.get(0) == args.requests:
        print(f"traffic: nothing answered at {args.url}; is the app running?", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
