#!/usr/bin/python3
"""Scrape a Prometheus endpoint and parse it with the reference parser
(python3-prometheus-client). Prints JSON: {"content_type": ..., "families": [...]}.
Exits non-zero if the text does not parse."""
import json
import sys
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

with urllib.request.urlopen(sys.argv[1], timeout=10) as r:
    ctype = r.headers.get("Content-Type")
    text = r.read().decode("utf-8")

families = []
for fam in text_string_to_metric_families(text):
    families.append({
        "name": fam.name,
        "type": fam.type,
        "help": fam.documentation,
        "samples": [{"name": s.name, "labels": s.labels, "value": s.value} for s in fam.samples],
    })
print(json.dumps({"content_type": ctype, "families": families}))
