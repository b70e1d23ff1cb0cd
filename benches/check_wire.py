# Per-check durations on the wire from `tcpdump -n -tt` text (benches/check_one_cpu.sh): SYN,
# SYN-ACK, the server's first data, the checker's FIN/RST per connection; the SYNs per 100 ms bin.
# usage: check_wire.py TCPDUMP_TEXT [SERVER_PORT]
# The checker side of a connection is the port that is not SERVER_PORT.
import sys, re, collections
PORT = sys.argv[2] if len(sys.argv) > 2 else "18080"
conns = {}
for line in open(sys.argv[1]):
    m = re.match(r"(\d+\.\d+) IP (\S+)\.(\d+) > (\S+)\.(\d+): Flags \[([^\]]+)\]", line)
    if not m: continue
    t, sa, sp, da, dp, fl = float(m[1]), m[2], m[3], m[4], m[5], m[6]
    if dp == PORT: key, fromc = (sa, sp, da), True
    elif sp == PORT: key, fromc = (da, dp, sa), False
    else: continue
    c = conns.setdefault(key, {})
    if fl == "S" and fromc: c["syn"] = t
    elif fl.startswith("S.") and not fromc: c.setdefault("synack", t)
    elif fromc and "F" in fl: c.setdefault("cfin", t)
    elif fromc and "R" in fl: c.setdefault("crst", t)
    elif not fromc and "F" in fl: c.setdefault("sfin", t)
    elif fromc and fl == "." and "synack" in c: c.setdefault("ack", t)
    elif not fromc and fl.startswith("P"): c.setdefault("sdata", t)
def pct(xs, p): xs=sorted(xs); return xs[min(len(xs)-1,int(p*len(xs)))] if xs else float('nan')
rows = collections.defaultdict(list)
for k,c in conns.items():
    if "syn" not in c: continue
    end = c.get("cfin", c.get("crst"))
    if end is None: continue
    kind = "http" if "sdata" in c else "tcp"
    rows[kind+" SYN->close"].append(end - c["syn"])
    if "synack" in c: rows[kind+" SYN->SYNACK"].append(c["synack"]-c["syn"]); rows[kind+" SYNACK->close"].append(end-c["synack"])
    if "sfin" in c and kind=="http": rows[kind+" SYN->server data"].append(c["sdata"]-c["syn"])
    rows[kind+(" closes with RST" if "crst" in c and "cfin" not in c else " closes with FIN")].append(0)
for k in sorted(rows):
    xs = rows[k]
    print("%-28s n=%5d  p50 %7.1f ms  p90 %7.1f ms  max %7.1f ms" % (k, len(xs), pct(xs,.5)*1e3, pct(xs,.9)*1e3, max(xs)*1e3))
syns = sorted(c["syn"] for c in conns.values() if "syn" in c)
if syns:
    bins = collections.Counter(int(t * 10) for t in syns)
    nb = int(syns[-1] * 10) - int(syns[0] * 10) + 1
    print("SYN spread: %d SYNs over %d bins of 100 ms, %d bins with a SYN (%.0f%%), max %d in one bin" % (len(syns), nb, len(bins), 100 * len(bins) / nb, max(bins.values())))
