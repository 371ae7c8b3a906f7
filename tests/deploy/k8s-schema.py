# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
"""Check Kubernetes objects in YAML files against the API's schema, offline.

kubectl's client-side validation downloads the schema from a cluster's API
server; without one, this reads it from Debian's python3-kubernetes models
(the generated classes of one Kubernetes release, 1.22 for 22.6): every
field must be one the schema has, of its type, and the required fields
must be there. Usage: k8s-schema.py FILE...; prints one line per problem
and exits 1 if there is any.
"""
import re
import sys

import kubernetes
import yaml
from kubernetes import client

PRIMS = {"str": str, "int": int, "bool": bool, "float": (int, float)}
errs = []


def build(val, typ, path):
    """The model value for val of openapi type typ, recording problems."""
    m = re.fullmatch(r"list\[(.+)\]", typ)
    if m:
        if not isinstance(val, list):
            errs.append(f"{path}: not a list")
            return None
        return [build(v, m.group(1), f"{path}[{i}]") for i, v in enumerate(val)]
    m = re.fullmatch(r"dict\(str, (.+)\)", typ)
    if m:
        if not isinstance(val, dict):
            errs.append(f"{path}: not a map")
            return None
        return {k: build(v, m.group(1), f"{path}.{k}") for k, v in val.items()}
    if typ == "object":
        return val
    if typ in PRIMS:
        ok = isinstance(val, PRIMS[typ]) and not (typ != "bool" and isinstance(val, bool))
        if not ok:
            errs.append(f"{path}: {val!r} is not {typ}")
        return val
    cls = getattr(client, typ, None)
    if cls is None:
        errs.append(f"{path}: unknown type {typ}")
        return None
    if not isinstance(val, dict):
        errs.append(f"{path}: not an object ({typ})")
        return None
    by_json = {j: a for a, j in cls.attribute_map.items()}
    kwargs = {}
    for k, v in val.items():
        if k not in by_json:
            errs.append(f"{path}.{k}: no such field in {typ} (Kubernetes {release})")
            continue
        a = by_json[k]
        kwargs[a] = build(v, cls.openapi_types[a], f"{path}.{k}")
    try:
        return cls(**kwargs)
    except ValueError as e:  # a required field missing, or a bad enum value
        errs.append(f"{path}: {e}")
        return None


release = "1." + kubernetes.__version__.split(".")[0]
for f in sys.argv[1:]:
    for i, doc in enumerate(d for d in yaml.safe_load_all(open(f)) if d):
        kind, api = doc.get("kind", ""), doc.get("apiVersion", "")
        group, _, ver = api.rpartition("/")
        typ = ver.capitalize() + kind
        if not hasattr(client, typ):
            errs.append(f"{f}: document {i}: {api} {kind} is not in the schema")
            continue
        build(doc, typ, f"{f}:{kind}")
for e in errs:
    print(e)
sys.exit(1 if errs else 0)
