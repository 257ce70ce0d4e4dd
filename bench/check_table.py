#!/usr/bin/env python3
"""Checks the Markdown tables printed by scripts/bench.sh (read from stdin).

Fails (exit 1) when a table, a column or a row is missing, or when a value
that must be there is not a positive number: in the main table the gowt
column of every row, the pure-Go column and the gowt/Go ratio of every row
that has a Go counterpart, the wtransport column and gowt/wt ratio of every
row wtransport can run (all but setup_shared and the events_* rows), the
quic-go column of the throughput rows; in the CPU table every column of
every row. The wtransport values are not required when the output says that
column was skipped (scripts/bench.sh does that only outside CI, when cargo
is missing). The "met?" column is not checked: missing a target is a
finding, not a failure of the benchmark.

  scripts/bench.sh --short | python3 bench/check_table.py
"""
import math
import sys

THROUGHPUT = ("upload", "download", "streams100")
# Row names as scripts/bench.sh prints them: (name, has Go, has wtransport).
EXPECTED = [
    ("upload", True, True),
    ("download", True, True),
    ("streams100", True, True),
    ("datagrams unpaced", True, True),
    ("datagrams 10000/s", True, True),
    ("datagrams 20000/s", True, True),
    ("datagrams 40000/s", True, True),
    ("setup_seq", True, True),
    ("setup_seq_full", True, True),
    ("setup_conc8", True, True),
    ("setup_shared", True, False),
    ("idle_mem", True, True),
    ("events_cb", False, False),
    ("events_poll", False, False),
]
MAIN_COLUMNS = ("workload", "gowt", "pure go", "wtransport", "quic-go", "gowt/go", "gowt/wt",
                "target", "met?")
CPU_COLUMNS = ("workload", "gowt", "pure go", "wtransport", "quic-go", "gowt/go", "gowt/wt")


def positive(cell):
    try:
        v = float(cell.replace(",", "").strip())
    except ValueError:
        return False
    return math.isfinite(v) and v > 0


def tables(text):
    """[(header, {row name: {column: cell}})] in order of appearance"""
    out = []
    header = None
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("|"):
            header = None
            continue
        cells = [c.strip() for c in line.strip("|").split("|")]
        if header is None:
            header = [c.lower() for c in cells]
            out.append((header, {}))
            continue
        if set("".join(cells)) <= set("-: "):
            continue  # the separator line
        name = cells[0].split(" (")[0].strip()  # "upload (MB/s)" -> "upload"
        out[-1][1][name] = dict(zip(header, cells))
    return out


def check_columns(errors, what, header, columns):
    for col in columns:
        if col not in header:
            errors.append("%s: column %r missing" % (what, col))


def check_cells(errors, rows, name, columns):
    row = rows.get(name)
    if row is None:
        errors.append("row %r missing" % name)
        return
    for col in columns:
        cell = row.get(col, "")
        if not positive(cell):
            errors.append("row %r: %s value %r is not a positive number" % (name, col, cell))


def main():
    text = sys.stdin.read()
    sys.stdout.write(text)  # keep the tables in the test log
    wt_skipped = "wtransport column skipped" in text
    errors = []
    found = tables(text)
    if len(found) < 2:
        errors.append("want 2 Markdown tables (results, CPU per GB), found %d" % len(found))
    else:
        (h_main, main_rows), (h_cpu, cpu_rows) = found[0], found[1]
        check_columns(errors, "results table", h_main, MAIN_COLUMNS)
        check_columns(errors, "CPU table", h_cpu, CPU_COLUMNS)
        for name, has_go, has_wt in EXPECTED:
            cols = ["gowt"]
            if has_go:
                cols += ["pure go", "gowt/go"]
            if has_wt and not wt_skipped:
                cols += ["wtransport", "gowt/wt"]
            if name in THROUGHPUT:
                cols.append("quic-go")
            check_cells(errors, main_rows, name, cols)
        for name in THROUGHPUT:
            cols = ["gowt", "pure go", "quic-go", "gowt/go"]
            if not wt_skipped:
                cols += ["wtransport", "gowt/wt"]
            check_cells(errors, cpu_rows, name + " CPU", cols)
    if errors:
        for e in errors:
            print("check_table: " + e, file=sys.stderr)
        return 1
    print("check_table: %d + %d rows OK%s" % (len(EXPECTED), len(THROUGHPUT),
          " (wtransport column skipped)" if wt_skipped else ""), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
