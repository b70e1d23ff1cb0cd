#!/usr/bin/env python3
"""Generate a large keepalived.conf for the check-config benchmark.

Default: 2,000 virtual servers x 20 real servers, each with an HTTP_GET checker
(about 200,000 lines). Usage: config_gen.py [VS] [RS] > big.conf
"""
import sys

n_vs = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
n_rs = int(sys.argv[2]) if len(sys.argv) > 2 else 20

out = []
w = out.append
w("global_defs {")
w("    router_id BENCH")
w("}")
w("")
for v in range(n_vs):
    w(f"virtual_server 172.16.{v // 250}.{v % 250 + 1} 80 {{")
    w("    delay_loop 10")
    w("    lb_algo wrr")
    w("    lb_kind NAT")
    w("    protocol TCP")
    for r in range(n_rs):
        w(f"    real_server 10.{v // 250}.{v % 250}.{r + 1} 8080 {{")
        w("        HTTP_GET {")
        w("            url { path /healthz }")
        w("        }")
        w("    }")
    w("}")
sys.stdout.write("\n".join(out) + "\n")
