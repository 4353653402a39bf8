"""Ask a node's memory: which moments were most like a text, a file or their sum.

Reads the store a node writes (`edgebind run --store FILE.db`), also while that node runs, and
embeds the query with the store's own model. A term is a text, or MODALITY:FILE (vision, audio,
depth, thermal, imu) for an example file; several terms are added, e.g. an image plus a text.
Moments are ranked by cosine similarity; --last and --modalities filter inside the search, so k
moments come back whenever k match. Times are local wall-clock times.

examples:
  edgebind query "a dog barking" --store memory.db --last 5m
  edgebind query "a hot drill" --store memory.db --modalities thermal,depth --k 10 --json
  edgebind query vision:door.png "a person walking" --store memory.db
  edgebind query --events --store memory.db --last 1h
"""
from __future__ import annotations

import json
import time

from edgebind.cli.common import add_command
from edgebind.config import parse_duration
from edgebind.errors import ConfigError


def run(args) -> int:
    from edgebind.runtime.store import StoreReader

    last_s = parse_duration(args.last, "--last") if args.last else None
    modalities = [m.strip() for m in args.modalities.split(",") if m.strip()] if args.modalities else None
    if not args.events and not args.terms:
        raise ConfigError("give what to look for (a text or MODALITY:FILE), or --events to list events")
    store = StoreReader(args.store)
    try:
        rows = _events(store, last_s) if args.events else _moments(store, args, last_s, modalities)
    finally:
        store.close()
    if args.json:
        print(json.dumps(rows, indent=1))
    else:
        for row in rows:
            print("  ".join(f"{k}={_show(k, v)}" for k, v in row.items()))
        if not rows:
            print("nothing stored matches")
    return 0


def _moments(store, args, last_s, modalities) -> list[dict]:
    from edgebind.runtime.backend import build_backend
    from edgebind.runtime.node import query_vector, term_modality

    backend = build_backend({"model": store.model_id}, sorted({term_modality(t) for t in args.terms}))
    moments = store.query(query_vector(backend, args.terms), args.k, last_s=last_s, modalities=modalities)
    return [{"rank": i + 1, "score": round(m.score, 4), "modality": m.modality, "source": m.source,
             "t_start": round(m.t_start, 3), "t_end": round(m.t_end, 3), "snapshot": m.snapshot}
            for i, m in enumerate(moments)]


def _events(store, last_s) -> list[dict]:
    return [{"event": e.event, "source": e.source, "modality": e.modality, "t_open": round(e.t_open, 3),
             "t_close": None if e.t_close is None else round(e.t_close, 3), "score": round(e.score, 4),
             "peak": round(e.peak, 4), "snapshot": e.snapshot} for e in store.events(last_s=last_s)]


def _show(key: str, value) -> str:
    if key.startswith("t_") and isinstance(value, float):
        return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(value)) + f".{int(value % 1 * 10)}"
    return str(value)


def add_parser(sub) -> None:
    parser = add_command(sub, "query", __doc__, run)
    parser.add_argument("terms", nargs="*", metavar="TERM", help="a text, or MODALITY:FILE (added together)")
    parser.add_argument("--store", required=True, metavar="FILE.db", help="the store of `edgebind run --store`")
    parser.add_argument("--last", metavar="AGE", help="only moments that began within AGE (e.g. 90, 5m, 2h)")
    parser.add_argument("--k", type=int, default=5, help="how many moments (default 5)")
    parser.add_argument("--modalities", help="comma-separated modalities to search (default: all)")
    parser.add_argument("--events", action="store_true", help="list the stored events instead")
    parser.add_argument("--json", action="store_true", help="print JSON")
