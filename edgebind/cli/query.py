"""Ask a node's memory: which moments were most like a text, a file or their sum.

Reads the store a node writes (`edgebind run --store FILE.db`), also while that node runs, and
embeds the query with the store's own model; or, with --url, asks a running node's network API
(`edgebind run --store FILE.db --serve HOST:PORT`), from this machine or another (texts only there). A term is a text, or MODALITY:FILE (vision, audio,
depth, thermal, imu) for an example file; several terms are added, e.g. an image plus a text.
Moments are ranked by cosine similarity; --last and --modalities filter inside the search, so k
moments come back whenever k match. Times are local wall-clock times.

examples:
  edgebind query "a dog barking" --store memory.db --last 5m
  edgebind query "a hot drill" --store memory.db --modalities thermal,depth --k 10 --json
  edgebind query vision:door.png "a person walking" --store memory.db
  edgebind query --events --store memory.db --last 1h
  edgebind query "a dog barking" --url http://127.0.0.1:8765 --last 5m
  edgebind query --events --url http://robot.local:8765 --token "$EDGEBIND_API_TOKEN"
"""
from __future__ import annotations

import json
import os
import time

from edgebind.cli.common import add_command
from edgebind.config import parse_duration
from edgebind.errors import ConfigError


def run(args) -> int:
    last_s = parse_duration(args.last, "--last") if args.last else None
    modalities = [m.strip() for m in args.modalities.split(",") if m.strip()] if args.modalities else None
    if not args.events and not args.terms:
        raise ConfigError("give what to look for (a text or MODALITY:FILE), or --events to list events")
    if (args.store is None) == (args.url is None):
        raise ConfigError("give the node's store (--store FILE.db) or its API (--url http://HOST:PORT), one of them")
    rows = _ask_api(args, last_s, modalities) if args.url else _ask_store(args, last_s, modalities)
    if args.json:
        print(json.dumps(rows, indent=1))
    else:
        for row in rows:
            print("  ".join(f"{k}={_show(k, v)}" for k, v in row.items()))
        if not rows:
            print("nothing stored matches")
    return 0


def _ask_store(args, last_s, modalities) -> list[dict]:
    from edgebind.runtime.sinks import moment_record, stored_event_record
    from edgebind.runtime.store import StoreReader

    store = StoreReader(args.store)
    try:
        if args.events:
            return [stored_event_record(e) for e in store.events(last_s=last_s)]
        from edgebind.runtime.backend import build_backend
        from edgebind.runtime.queries import query_vector, term_modality

        backend = build_backend({"model": store.model_id}, sorted({term_modality(t) for t in args.terms}))
        moments = store.query(query_vector(backend, args.terms), args.k, last_s=last_s, modalities=modalities)
        return [moment_record(i + 1, m) for i, m in enumerate(moments)]
    finally:
        store.close()


def _ask_api(args, last_s, modalities) -> list[dict]:
    """The same rows from a running node's API (which embeds the texts with its own model)."""
    import urllib.parse

    from edgebind.runtime.api_access import api_request

    token = args.token or os.environ.get("EDGEBIND_API_TOKEN") or None
    if args.events:
        query = urllib.parse.urlencode({} if last_s is None else {"last": last_s})
        return api_request(args.url, f"/events?{query}", token=token)["events"]
    body = {"terms": args.terms, "k": args.k, "last": last_s, "modalities": modalities}
    return api_request(args.url, "/query", body, token=token)["moments"]


def _show(key: str, value) -> str:
    if key.startswith("t_") and isinstance(value, float):
        return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(value)) + f".{int(value % 1 * 10)}"
    return str(value)


def add_parser(sub) -> None:
    parser = add_command(sub, "query", __doc__, run)
    parser.add_argument("terms", nargs="*", metavar="TERM", help="a text, or MODALITY:FILE (added together)")
    parser.add_argument("--store", metavar="FILE.db", help="the store of `edgebind run --store`")
    parser.add_argument("--url", metavar="http://HOST:PORT", help="ask a running node's API (`edgebind run --serve`)")
    parser.add_argument("--token", help="with --url: the node's API token (default: $EDGEBIND_API_TOKEN)")
    parser.add_argument("--last", metavar="AGE", help="only moments that began within AGE (e.g. 90, 5m, 2h)")
    parser.add_argument("--k", type=int, default=5, help="how many moments (default 5)")
    parser.add_argument("--modalities", help="comma-separated modalities to search (default: all)")
    parser.add_argument("--events", action="store_true", help="list the stored events instead")
    parser.add_argument("--json", action="store_true", help="print JSON")
