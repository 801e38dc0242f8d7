#!/usr/bin/env python3
"""Every metric the alert rules and the Grafana dashboard query must exist (issue 10).

    python3 deploy/check_metric_names.py target/metrics.txt

Names are taken from the rules' `expr` (deploy/prometheus/alerts.yml) and from the dashboard's
`targets[].expr` and variable queries (deploy/grafana/gumgate.json). Each must be

* exported by a running server (the /metrics text given as the argument; a histogram's
  `_bucket`, `_sum` and `_count` count as its name), or
* declared in the `metrics!` table of src/metrics.rs: a labelled family with no series yet is not
  in the text; this is reported as a warning, or
* in PENDING below, with a warning: metrics another branch is adding. Once a pending name is in
  the `metrics!` table, it is checked like any other and the warning asks for its removal from
  PENDING (a warning, so that the merge itself does not fail CI).

Anything else fails the check: a typo or a renamed metric would leave an alert that can never
fire or a panel that is always empty. `up` and `ALERTS*` are Prometheus' own, always accepted.

With promtool on PATH, every dashboard query is also parsed by `promtool check rules` (as
recording rules in a temporary file), so a PromQL syntax error fails here too.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RULES = os.path.join(ROOT, "deploy/prometheus/alerts.yml")
DASHBOARD = os.path.join(ROOT, "deploy/grafana/gumgate.json")
TABLE = os.path.join(ROOT, "src/metrics.rs")

# Being added in parallel by issue 10's upstream work; strict once merged (see above).
PENDING: set[str] = set()
PROMETHEUS_OWN = {"up", "ALERTS", "ALERTS_FOR_STATE"}
SUFFIXES = ("_bucket", "_sum", "_count")
NAME = re.compile(r"\b((?:gumgate|process)_[A-Za-z0-9_]+|up|ALERTS(?:_FOR_STATE)?)\b")


def rule_exprs():
    # The rules are plain YAML written by us: `expr:` is either on one line or a `|` block.
    exprs, lines = [], open(RULES).read().splitlines()
    for i, line in enumerate(lines):
        m = re.match(r"(\s*)expr:\s*(.*)$", line)
        if not m:
            continue
        if m.group(2).strip() in ("|", ">", "|-", ">-"):
            indent, block = len(m.group(1)), []
            for more in lines[i + 1 :]:
                if more.strip() and len(more) - len(more.lstrip()) <= indent:
                    break
                block.append(more.strip())
            exprs.append(" ".join(block))
        else:
            exprs.append(m.group(2))
    return exprs


def dashboard_exprs():
    dash = json.load(open(DASHBOARD))
    exprs = []

    def panels(ps):
        for p in ps:
            exprs.extend(t["expr"] for t in p.get("targets", []) if t.get("expr"))
            panels(p.get("panels", []))

    panels(dash.get("panels", []))
    for var in dash.get("templating", {}).get("list", []):
        q = var.get("query")
        if var.get("type") == "query":
            exprs.append(q["query"] if isinstance(q, dict) else q)
    return exprs


def names_in(expr):
    # Label matchers and strings hold no metric names.
    bare = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    bare = re.sub(r"\{[^{}]*\}", "{}", bare)
    return set(NAME.findall(bare))


def exported(path):
    names = set()
    for line in open(path):
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split()[:4]
            names.add(name)
            if kind in ("histogram", "summary"):
                names.update(name + s for s in SUFFIXES)
        elif line.strip() and not line.startswith("#"):
            names.add(re.split(r"[{\s]", line, maxsplit=1)[0])
    return names


def declared():
    text = open(TABLE).read()
    block = text[text.index("metrics! {") : text.index('namespace: "gumgate"')]
    block = re.sub(r"//[^\n]*", "", block)
    names = set()
    for m in re.finditer(r"\b(\w+):\s*(\w+)(?:\[[^\]]*\])?\s*(?:as\s*\"([^\"]+)\")?", block):
        field, kind, renamed = m.groups()
        if kind[0].isupper() and kind != "Self":
            name = "gumgate_" + (renamed or field)
            names.add(name)
            if kind.startswith("Histogram"):
                names.update(name + s for s in SUFFIXES)
    return names


def check_syntax(exprs):
    if not shutil.which("promtool"):
        print("warning: promtool not found, dashboard queries not parsed")
        return True
    rules = []
    for i, e in enumerate(exprs):
        e = e.replace("$__rate_interval", "5m").replace("$__interval", "1m")
        e = re.sub(r"\$\{?\w+\}?", ".*", e)
        if e.startswith("label_values("):
            inner = e[len("label_values(") : e.rindex(",")] if "," in e else e[len("label_values(") : -1]
            e = inner
        rules.append({"record": f"dashboard:query_{i}", "expr": e})
    with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as f:
        json.dump({"groups": [{"name": "dashboard", "rules": rules}]}, f)
    try:
        run = subprocess.run(["promtool", "check", "rules", f.name], capture_output=True, text=True)
    finally:
        os.unlink(f.name)
    if run.returncode != 0:
        print(run.stdout + run.stderr)
        print("error: a dashboard query does not parse")
        return False
    print(f"dashboard: {len(rules)} queries parse")
    return True


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    have, table = exported(sys.argv[1]), declared()
    sources = {"alerts.yml": rule_exprs(), "gumgate.json": dashboard_exprs()}
    ok, warnings, checked = True, 0, set()
    for source, exprs in sources.items():
        for expr in exprs:
            for name in sorted(names_in(expr)):
                if (source, name) in checked:
                    continue
                checked.add((source, name))
                if name in have or name in PROMETHEUS_OWN:
                    continue
                if name in PENDING and name in table:
                    print(f"warning: {name} is in the metrics! table now: remove it from PENDING")
                    warnings += 1
                elif name in PENDING:
                    print(f"warning: {source}: {name} is pending (added on another branch)")
                    warnings += 1
                elif name in table:
                    print(f"warning: {source}: {name} is declared but has no series on this server yet")
                    warnings += 1
                else:
                    print(f"error: {source}: {name} is neither exported nor declared in src/metrics.rs")
                    ok = False
    ok = check_syntax(sources["gumgate.json"]) and ok
    names = {n for _, n in checked}
    print(f"{len(names)} metric names queried by the rules and the dashboard; {warnings} warnings")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
