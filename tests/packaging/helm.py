#!/usr/bin/env python3
"""Lints and renders a Helm chart with Helm's own Go code (the helm-python-sdk wheel binds Helm's
Go SDK; no helm binary needed), for tests/packaging.rs.

stdin: {"chart": DIR, "cases": [{"values": {...}}, ...]}
stdout: [{"lint": {...}, "manifests": {template: text} | null, "error": str | null}, ...]
Exit 3 when helm_python is not installed."""
import json
import sys

try:
    import helm_python as helm
except ImportError:
    print("helm_python is not installed: pip install helm-python-sdk", file=sys.stderr)
    sys.exit(3)

request = json.load(sys.stdin)
results = []
for case in request["cases"]:
    values = case.get("values") or None
    result = {"lint": helm.lint(request["chart"], values, strict=True), "manifests": None, "error": None}
    try:
        with helm.Chart.load(request["chart"]) as chart:
            result["manifests"] = chart.render(values, name="kx", namespace="monitoring", is_install=True)
    except helm.HelmError as e:
        result["error"] = str(e)
    results.append(result)
json.dump(results, sys.stdout)
