"""The checker's core numbers for a generated run directory, in DuckDB SQL.

Used by checker-vs-duckdb.sh as the reference point: group arrivals by key, anti-join
with the expected grid, count duplicates and late keys, and take lateness quantiles.
"""
import json
import sys

import duckdb

run = sys.argv[1]
spec = json.load(open(f"{run}/expected.json"))
s = spec["sources"][0]
con = duckdb.connect()
con.execute("PRAGMA threads=2")
row = con.execute(
    f"""
    WITH a AS (
        SELECT recv_ns, source, m, n FROM read_csv('{run}/arrivals.csv', header = true)
    ),
    g AS (
        SELECT m, n, min(recv_ns) AS first_ns, count(*) AS copies
        FROM a
        WHERE source = '{s["source"]}' AND m BETWEEN {s["first"]} AND {s["last"]}
              AND n < {s["items"]}
        GROUP BY m, n
    ),
    e AS (
        SELECT r1.range AS m, r2.range AS n
        FROM range({s["first"]}, {s["last"] + 1}) r1, range(0, {s["items"]}) r2
    ),
    l AS (
        SELECT greatest(first_ns - ({s["epoch_ns"]} + m * {s["period_ns"]}
                                    + n * {s["item_delay_ns"]}), 0) AS lateness, copies
        FROM g
    )
    SELECT
        (SELECT count(*) FROM e ANTI JOIN g USING (m, n)) AS lost,
        (SELECT count(*) FROM l WHERE copies > 1) AS duplicated,
        (SELECT count(*) FROM l WHERE lateness > {spec["late_after_ns"]}) AS late,
        (SELECT quantile_cont(lateness, [0.5, 0.9, 0.99]) FROM l) AS q,
        (SELECT count(*) FROM a) - (SELECT sum(copies) FROM g) AS unexpected
    """
).fetchone()
print(f"duckdb: lost {row[0]} duplicated {row[1]} late {row[2]} "
      f"lateness_ms p50/p90/p99 {[round(x / 1e6, 3) for x in row[3]]} unexpected {row[4]}")
