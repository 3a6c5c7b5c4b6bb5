#!/usr/bin/env python3
"""The event store bench's baseline (bench/event_store_bench.cpp runs it):
the prototype's way of storing events, done as well as Python's sqlite3 can:
executemany in 10,000-row transactions, WAL, synchronous=NORMAL, an index on
ts. Rows are the bench's own (same ts, plugin, kind and data).

usage: event_store_baseline.py DB_PATH EVENTS BASE_TS_NS
prints {"events": N, "seconds": S, "events_per_s": R, "events_per_cpu_s": C}
"""
import json
import sqlite3
import sys
import time

# Keep in step with kKinds and event_data() in event_store_bench.cpp.
KINDS = [("firewall", "firewall.drop"), ("firewall", "firewall.pass"),
         ("monitor", "process.exec"), ("adamd", "api.change")]
BATCH = 10_000


def rows(n, base_ts):
    for i in range(n):
        plugin, kind = KINDS[i % len(KINDS)]
        data = '{"src":"198.51.100.%d","dst":"203.0.113.7","dport":%d,"rule":%d}' % (
            i % 250, i % 65536, i % 32)
        yield (base_ts + i * 1000, plugin, kind, data)


def main():
    path, n, base_ts = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("CREATE TABLE events(id INTEGER PRIMARY KEY, ts INTEGER NOT NULL, "
               "plugin TEXT, kind TEXT, data TEXT)")
    db.execute("CREATE INDEX events_ts ON events(ts)")
    all_rows = list(rows(n, base_ts))  # made before the clock starts, as the C++ side does
    start, cpu_start = time.perf_counter(), time.process_time()
    for first in range(0, n, BATCH):
        db.execute("BEGIN")
        db.executemany("INSERT INTO events(ts, plugin, kind, data) VALUES (?, ?, ?, ?)",
                       all_rows[first:first + BATCH])
        db.execute("COMMIT")
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    db.close()
    print(json.dumps({"events": n, "seconds": seconds, "events_per_s": n / seconds,
                      "events_per_cpu_s": n / cpu_seconds}))


if __name__ == "__main__":
    main()
