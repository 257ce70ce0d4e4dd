#!/usr/bin/env python3
"""Checks the Markdown table printed by scripts/bench.sh (read from stdin).

Fails (exit 1) when a row is missing, or when a value that must be there is
not a positive number: the gowt column of every row, the pure-Go column and
the ratio of every row that has a Go counterpart. The "met?" column is not
checked: missing a target is a finding, not a failure of the benchmark.

  scripts/bench.sh --short | python3 bench/check_table.py
"""
import math
import sys

# Row names as scripts/bench.sh prints them, and whether a Go value exists.
EXPECTED = [
    ("upload", True),
    ("download", True),
    ("streams100", True),
    ("datagrams unpaced", True),
    ("datagrams 10000/s", True),
    ("datagrams 20000/s", True),
    ("datagrams 40000/s", True),
    ("setup_seq", True),
    ("setup_seq_full", True),
    ("setup_conc8", True),
    ("setup_shared", True),
    ("idle_mem", True),
    ("events_cb", False),
    ("events_poll", False),
]


def positive(cell):
    try:
        v = float(cell.replace(",", "").strip())
    except ValueError:
        return False
    return math.isfinite(v) and v > 0


def main():
    text = sys.stdin.read()
    sys.stdout.write(text)  # keep the table in the test log
    header = None
    rows = {}
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("|"):
            continue
        cells = [c.strip() for c in line.strip("|").split("|")]
        if header is None:
            header = [c.lower() for c in cells]
            continue
        if set("".join(cells)) <= set("-: "):
            continue  # the separator line
        name = cells[0].split(" (")[0].strip()  # "upload (MB/s)" -> "upload"
        rows[name] = dict(zip(header, cells))
    errors = []
    if header is None:
        errors.append("no Markdown table found")
    else:
        for col in ("workload", "gowt", "pure go", "ratio", "target", "met?"):
            if col not in header:
                errors.append("column %r missing" % col)
    for name, has_go in EXPECTED:
        row = rows.get(name)
        if row is None:
            errors.append("row %r missing" % name)
            continue
        wanted = ["gowt"] + (["pure go", "ratio"] if has_go else [])
        for col in wanted:
            cell = row.get(col, "")
            if not positive(cell):
                errors.append("row %r: %s value %r is not a positive number" % (name, col, cell))
    if errors:
        for e in errors:
            print("check_table: " + e, file=sys.stderr)
        return 1
    print("check_table: %d rows OK" % len(EXPECTED), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
