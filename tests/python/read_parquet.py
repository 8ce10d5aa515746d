"""Reads Vigil's Parquet files with DuckDB and with pyarrow, independently of Vigil.

Usage: read_parquet.py DATA_DIR
Prints one JSON object: per-table row counts from both readers, plus sample aggregates
that the Rust test compares with the same queries run through `vigil sql`.
"""

import glob
import json
import os
import sys

import duckdb
import pyarrow.parquet as pq


def main():
    data = sys.argv[1]
    out = {}
    con = duckdb.connect()
    for table in ("spans", "logs", "metrics", "histograms"):
        files = sorted(glob.glob(os.path.join(data, table, "date=*", "hour=*", "*.parquet")))
        if not files:
            out[table] = {"files": 0}
            continue
        pattern = os.path.join(data, table, "*", "*", "*.parquet")
        duck = con.execute(f"SELECT count(*) FROM read_parquet('{pattern}', hive_partitioning = false)").fetchone()[0]
        arrow_rows = sum(pq.read_table(f).num_rows for f in files)
        out[table] = {"files": len(files), "duckdb_rows": duck, "pyarrow_rows": arrow_rows}
    spans = os.path.join(data, "spans", "*", "*", "*.parquet")
    out["span_names"] = [
        r[0] for r in con.execute(f"SELECT name FROM read_parquet('{spans}') ORDER BY name").fetchall()
    ]
    out["error_spans"] = con.execute(
        f"SELECT count(*) FROM read_parquet('{spans}') WHERE status_code = 'ERROR'"
    ).fetchone()[0]
    out["int_attr_sum"] = con.execute(
        f"SELECT sum(CAST(json_extract(attributes, '$.\"int.attr\"') AS BIGINT)) FROM read_parquet('{spans}')"
    ).fetchone()[0]
    # Timestamps come back as real timestamps with a UTC zone.
    table = pq.read_table(sorted(glob.glob(spans))[0])
    out["start_time_type"] = str(table.schema.field("start_time").type)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
