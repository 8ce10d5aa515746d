"""Times SQL queries in DuckDB over Vigil's Parquet files, for benches/query.rs.

Reads {"glob": ".../spans/**/*.parquet", "queries": ["SELECT ...", ...], "runs": N} on
stdin; a view named `spans` reads the files. Each query runs once to warm up, then N
times; prints [{"median_ms": ..., "rows": ...}, ...] as JSON.
"""

import json
import statistics
import sys
import time

import duckdb


def main():
    job = json.load(sys.stdin)
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    glob = job["glob"].replace("'", "''")
    con.execute(f"CREATE VIEW spans AS SELECT * FROM read_parquet('{glob}')")
    out = []
    for sql in job["queries"]:
        # Results are fetched as Arrow tables: complete, and without Python objects per value.
        rows = con.execute(sql).to_arrow_table().num_rows
        times = []
        for _ in range(job["runs"]):
            started = time.perf_counter()
            con.execute(sql).to_arrow_table()
            times.append((time.perf_counter() - started) * 1000.0)
        out.append({"median_ms": statistics.median(times), "rows": rows})
    print(json.dumps(out))


if __name__ == "__main__":
    main()
