#!/usr/bin/env python3
"""Checks that what a client library uses is in the server's OpenAPI document.

    python3 scripts/check-client-openapi.py URL_OF_OPENAPI_JSON USES.json [USES.json ...]

Each USES file (one per client, e.g. crates/gumgate-client/openapi-uses.json) lists, once, every
operation the client calls: its method and path, the request parameters it sends, and per status
the response fields it reads (dotted paths; an array's items are entered through its name, so
`machines.id` is the `id` of each machine). Any of them missing from the document served by the
running server fails the check, with one line per miss.
"""

import json
import sys
import urllib.request


def resolve(doc, node):
    """Follows $ref (local ones) until a node without one."""
    seen = 0
    while isinstance(node, dict) and "$ref" in node:
        ref = node["$ref"]
        if not ref.startswith("#/"):
            raise ValueError(f"non-local $ref {ref}")
        node = doc
        for part in ref[2:].split("/"):
            node = node[part]
        seen += 1
        if seen > 50:
            raise ValueError("a $ref cycle")
    return node


def alternatives(doc, schema):
    """The schema and every schema it combines (allOf/anyOf/oneOf), resolved."""
    schema = resolve(doc, schema)
    out = [schema]
    for key in ("allOf", "anyOf", "oneOf"):
        for sub in schema.get(key, []):
            out.extend(alternatives(doc, sub))
    return out


def has_field(doc, schema, path):
    """Whether the dotted `path` is a property somewhere in `schema`."""
    head, _, rest = path.partition(".")
    for alt in alternatives(doc, schema):
        if alt.get("type") == "array" or "items" in alt:
            if has_field(doc, alt.get("items", {}), path):
                return True
        prop = alt.get("properties", {}).get(head)
        if prop is None:
            continue
        if not rest:
            return True
        if has_field(doc, prop, rest):
            return True
    return False


def request_params(doc, op):
    names = {p.get("name") for p in (resolve(doc, p) for p in op.get("parameters", []))}
    body = op.get("requestBody")
    schemas = []
    if body:
        for content in resolve(doc, body).get("content", {}).values():
            schemas.append(content.get("schema", {}))
    return names, schemas


def check(doc, uses):
    misses = []
    client = uses.get("client", "?")
    for op_use in uses["operations"]:
        method, path = op_use["method"].lower(), op_use["path"]
        where = f"{client}: {method.upper()} {path}"
        op = doc.get("paths", {}).get(path, {}).get(method)
        if op is None:
            misses.append(f"{where}: no such operation")
            continue
        names, schemas = request_params(doc, op)
        for param in op_use.get("params", []):
            if param not in names and not any(has_field(doc, s, param) for s in schemas):
                misses.append(f"{where}: no request parameter {param!r}")
        for status, fields in op_use.get("responses", {}).items():
            response = op.get("responses", {}).get(str(status))
            if response is None:
                misses.append(f"{where}: no {status} response")
                continue
            response = resolve(doc, response)
            bodies = [c.get("schema", {}) for c in response.get("content", {}).values()]
            for field in fields:
                if not any(has_field(doc, b, field) for b in bodies):
                    misses.append(f"{where}: {status} has no field {field!r}")
    return misses


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    with urllib.request.urlopen(sys.argv[1], timeout=10) as res:
        doc = json.load(res)
    misses, checked = [], 0
    for path in sys.argv[2:]:
        with open(path) as f:
            uses = json.load(f)
        checked += len(uses["operations"])
        misses.extend(check(doc, uses))
    for miss in misses:
        print(f"check-client-openapi: {miss}", file=sys.stderr)
    if misses:
        sys.exit(1)
    print(f"check-client-openapi: {checked} operations of {len(sys.argv) - 2} clients are all in the document")


if __name__ == "__main__":
    main()
