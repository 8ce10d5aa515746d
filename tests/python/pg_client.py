"""Runs SQL against Vigil's Postgres port with psycopg 3, the way applications do.

Usage: pg_client.py HOST PORT [--user U] [--password P] [--sslmode M] [--text]
                    [--cancel-after SECONDS]
Reads a JSON list of steps on stdin; each step is {"sql": "...", "params": [...]}
(params optional; strings starting with "ts:" are sent as timezone-aware datetimes,
{"decimal": "..."} as Decimal).
Every step runs with prepare=True (named prepared statements over the extended
protocol) and, unless --text is given, binary result format. Prints one JSON object:
{"connected": true, "results": [...]}, each result either
{"columns": [[name, type_oid], ...], "rows": [[value, ...], ...]} with values tagged by
their Python type, or {"error": {"sqlstate": ..., "message": ...}}.
A failed connection prints {"connected": false, "error": ...} and exits 0.
With --cancel-after, a cancel request is sent that many seconds after the first step
starts, as psql does on Ctrl-C.
"""

import argparse
import datetime
import decimal
import json
import sys
import threading

import psycopg


def tag(value):
    """A value as JSON, tagged with the Python type psycopg decoded it to."""
    if value is None:
        return None
    if isinstance(value, bool):
        return {"bool": value}
    if isinstance(value, int):
        return {"int": value}
    if isinstance(value, float):
        return {"float": value if value == value else "NaN"}
    if isinstance(value, decimal.Decimal):
        return {"decimal": str(value)}
    if isinstance(value, str):
        return {"str": value}
    if isinstance(value, (bytes, memoryview)):
        return {"bytes": bytes(value).hex()}
    if isinstance(value, datetime.datetime):
        return {"datetime": value.isoformat()}
    if isinstance(value, datetime.date):
        return {"date": value.isoformat()}
    if isinstance(value, datetime.timedelta):
        return {"timedelta": value.total_seconds()}
    if isinstance(value, list):
        return {"list": [tag(v) for v in value]}
    return {"json": value}


def param(value):
    if isinstance(value, str) and value.startswith("ts:"):
        return datetime.datetime.fromisoformat(value[3:])
    if isinstance(value, dict) and "decimal" in value:
        return decimal.Decimal(value["decimal"])
    return value


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("host")
    parser.add_argument("port", type=int)
    parser.add_argument("--user", default="vigil")
    parser.add_argument("--password")
    parser.add_argument("--sslmode", default="disable")
    parser.add_argument("--text", action="store_true")
    parser.add_argument("--cancel-after", type=float)
    args = parser.parse_args()
    steps = json.load(sys.stdin)

    try:
        conn = psycopg.connect(
            host=args.host,
            port=args.port,
            user=args.user,
            password=args.password,
            dbname="vigil",
            sslmode=args.sslmode,
            connect_timeout=10,
        )
    except psycopg.Error as e:
        print(json.dumps({"connected": False, "error": str(e)}))
        return

    if args.cancel_after is not None:
        threading.Timer(args.cancel_after, conn.cancel_safe).start()
    results = []
    with conn:
        for step in steps:
            params = [param(p) for p in step.get("params", [])] or None
            try:
                with conn.cursor(binary=not args.text) as cur:
                    cur.execute(step["sql"], params, prepare=True)
                    columns = [[d.name, d.type_code] for d in cur.description or []]
                    rows = [[tag(v) for v in row] for row in cur.fetchall()] if columns else []
                results.append({"columns": columns, "rows": rows})
            except psycopg.Error as e:
                conn.rollback()
                results.append(
                    {"error": {"sqlstate": e.sqlstate, "message": str(e).strip()}}
                )
    print(json.dumps({"connected": True, "results": results}))


if __name__ == "__main__":
    main()
