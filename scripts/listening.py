#!/usr/bin/env python3
"""Waits for a gumgate process's start-up record and prints its addresses.

    python3 scripts/listening.py LOG [SECONDS]

LOG is the process's JSON log (GUMGATE__LOG__FORMAT=json); its "gumgate listening" record
names the API and operations addresses, which is how scripts find a gateway started on port 0.
Prints "API OPS" once the record is there; after SECONDS (default 10) without it, prints the log
to standard error and exits 1.
"""

import json
import sys
import time


def addresses(path):
    try:
        with open(path) as log:
            for line in log:
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                if record.get("message") == "gumgate listening":
                    return record["api"], record["ops"]
    except FileNotFoundError:
        pass
    return None


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    path = sys.argv[1]
    deadline = time.monotonic() + float(sys.argv[2] if len(sys.argv) == 3 else 10)
    while time.monotonic() < deadline:
        found = addresses(path)
        if found:
            print(*found)
            return
        time.sleep(0.1)
    print("gumgate did not start:", file=sys.stderr)
    with open(path) as log:
        sys.stderr.write(log.read())
    sys.exit(1)


if __name__ == "__main__":
    main()
