#!/usr/bin/env python3
"""VRRP failover benchmark: rampart vs keepalived, side by side, in network namespaces.

For each implementation (the same one runs master and backup), each protocol setting
(VRRPv2 advert_int 1, VRRPv3 advert_int 0.1) and each way of losing the master:

  kill  SIGKILL of the master and, at the same instant, its link down (the host died: a
        killed daemon's VIP would otherwise still answer ARP from the dead master's kernel);
  term  SIGTERM (graceful: priority-0 advert, VIP released);

measures over N trials the time from the signal to the VIP answering ARP from the backup's
MAC in a third namespace (arping every 2 ms, so ±2 ms resolution), and reports median and
worst against the theory: Master_Down_Interval = 3 x Advert_Interval + Skew_Time for kill
(minus up to one advert interval, depending on when the last advert arrived), Skew_Time for
term. Skew_Time = (256 - priority) x Advert_Interval / 256; the backup has priority 100.

Then the CPU time and RSS of one daemon running 100 instances at advert_int 0.1 (VRRPv3),
alone on its LAN (so every instance is MASTER and sends 10 adverts/s), over 60 s.

Run as root from the repository root (never touches the host's interfaces):
    cargo build --release && python3 benches/vrrp_failover.py [--trials 20] [--out FILE]
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

PID = os.getpid()
VIP = "10.77.0.100"
RAMPART = os.environ.get("RAMPART", "target/release/rampart")


def sh(*args, check=True):
    r = subprocess.run(args, capture_output=True, text=True)
    if check and r.returncode != 0:
        raise RuntimeError(f"{args}: {r.stderr.strip()}")
    return r.stdout


def nsx(ns, *args, check=True):
    return sh("ip", "netns", "exec", ns, *args, check=check)


class Lab:
    def __init__(self):
        self.ns = []
        self.procs = []
        self.dir = tempfile.mkdtemp(prefix="rampart-bench-")

    def add_ns(self, short):
        name = f"rpb{PID}-{short}"
        sh("ip", "netns", "add", name)
        self.ns.append(name)
        nsx(name, "ip", "link", "set", "lo", "up")
        return name

    def close(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        for n in reversed(self.ns):
            sh("ip", "netns", "del", n, check=False)

    def spawn(self, ns, args, log):
        f = open(os.path.join(self.dir, log), "a")
        p = subprocess.Popen(["ip", "netns", "exec", ns, *args], stdout=f, stderr=f,
                             stdin=subprocess.DEVNULL)
        self.procs.append(p)
        return p


def build_lan(lab, nodes):
    br = lab.add_ns("br")
    nsx(br, "ip", "link", "add", "br0", "type", "bridge")
    nsx(br, "ip", "link", "set", "br0", "type", "bridge", "forward_delay", "0")
    nsx(br, "ip", "link", "set", "br0", "up")
    out = {}
    for i, (short, addr) in enumerate(nodes, 1):
        ns = lab.add_ns(short)
        sh("ip", "-n", ns, "link", "add", "eth0", "type", "veth", "peer", "name", f"p{i}",
           "netns", br)
        nsx(br, "ip", "link", "set", f"p{i}", "master", "br0")
        nsx(br, "ip", "link", "set", f"p{i}", "up")
        nsx(ns, "ip", "addr", "add", addr, "dev", "eth0")
        nsx(ns, "ip", "link", "set", "eth0", "up")
        mac = nsx(ns, "cat", "/sys/class/net/eth0/address").strip().lower()
        out[short] = (ns, mac)
    return out


def conf(prio, master, version, advert, instances=1):
    s = ["global_defs {", "  router_id bench", "  vrrp_garp_master_delay 5", "}"]
    for i in range(instances):
        vrid = 77 if instances == 1 else i + 1
        vip = VIP if instances == 1 else f"10.78.{i // 250}.{i % 250 + 1}"
        s += [f"vrrp_instance VI_{i} {{",
              f"  state {'MASTER' if master else 'BACKUP'}",
              "  interface eth0",
              f"  virtual_router_id {vrid}",
              f"  priority {prio}",
              f"  advert_int {advert}",
              f"  version {version}",
              "  virtual_ipaddress {",
              f"    {vip}/24" if instances == 1 else f"    {vip}/32",
              "  }",
              "}"]
    return "\n".join(s) + "\n"


def start(lab, impl, ns, label, text):
    path = os.path.join(lab.dir, f"{label}.conf")
    with open(path, "w") as f:
        f.write(text)
    if impl == "rampart":
        args = [RAMPART, "-f", path, "-P", "-n", "-l",
                "-p", os.path.join(lab.dir, f"{label}.pid"),
                "--control-socket", os.path.join(lab.dir, f"{label}.sock")]
    else:
        args = ["keepalived", "-P", "-n", "-l", "-i", label, "-f", path,
                "-p", os.path.join(lab.dir, f"{label}.pid"),
                "-r", os.path.join(lab.dir, f"{label}.vrrp.pid")]
    return lab.spawn(ns, args, f"{label}.log")


def arping_once(ns, ip):
    out = nsx(ns, "arping", "-r", "-C", "1", "-c", "3", "-W", "0.05", "-i", "eth0", ip,
              check=False)
    lines = [l.strip().lower() for l in out.splitlines() if l.count(":") == 5]
    return lines[0] if lines else None


def wait_answer(ns, ip, mac, timeout=30):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if arping_once(ns, ip) == mac:
            return True
        time.sleep(0.05)
    return False


def has_vip(ns, ip):
    return f" {ip}/" in nsx(ns, "ip", "-o", "addr", "show", "dev", "eth0")


def time_to_answer(obs_ns, mac, t0, timeout=30):
    """arping every 2 ms from t0 on; seconds from t0 to the first reply from `mac`."""
    p = subprocess.Popen(["ip", "netns", "exec", obs_ns, "stdbuf", "-oL", "arping", "-r",
                          "-W", "0.002", "-w", str(timeout), "-i", "eth0", VIP],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        for line in p.stdout:
            if line.strip().lower() == mac:
                return time.monotonic() - t0
        return None
    finally:
        p.kill()
        p.wait()


def start_capture(obs_ns, obs_mac):
    """tcpdump in the observer: adverts and other nodes' ARP requests (not the observer's own
    arping flood, which would fill the pipe), with MACs and capture timestamps."""
    flt = f"vrrp or ah or (arp and arp[6:2] = 1 and not ether src {obs_mac})"
    p = subprocess.Popen(["ip", "netns", "exec", obs_ns, "tcpdump", "-i", "eth0", "-n", "-e",
                          "-tt", "-l", "-U", flt],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    return p


def protocol_interval(lines, m_mac, b_mac, how):
    """Seconds from the master's last advert (kill) or its priority-0 advert (term) to the
    backup's first gratuitous ARP, both stamped by the same capture."""
    last_advert = None
    for line in lines:
        parts = line.split()
        if len(parts) < 2:
            continue
        try:
            ts = float(parts[0])
        except ValueError:
            continue
        src_mac = parts[1].lower()
        if src_mac == m_mac and ("VRRP" in line or "AH(" in line):
            if how == "kill" or "prio 0," in line:
                last_advert = ts
        elif (src_mac == b_mac and "who-has" in line and line.count(VIP) == 2
              and last_advert is not None):
            return ts - last_advert
    return None


def theory(advert, prio=100, how="kill"):
    skew = (256 - prio) * advert / 256
    return skew if how == "term" else 3 * advert + skew


def failover_trials(impl, version, advert, how, trials, log):
    lab = Lab()
    results = []
    proto = []
    try:
        n = build_lan(lab, [("m", "10.77.0.1/24"), ("b", "10.77.0.2/24"), ("o", "10.77.0.9/24")])
        (m_ns, m_mac), (b_ns, b_mac), (o_ns, o_mac) = n["m"], n["b"], n["o"]
        start(lab, impl, b_ns, "b", conf(100, False, version, advert))
        for t in range(trials):
            nsx(m_ns, "ip", "link", "set", "eth0", "up")
            m = start(lab, impl, m_ns, f"m{t}", conf(150, True, version, advert))
            if not wait_answer(o_ns, VIP, m_mac):
                log(f"  trial {t}: master never took the VIP; skipped")
                m.kill()
                continue
            # Steady state: the backup has released the VIP and seen a few adverts.
            end = time.monotonic() + 10
            while has_vip(b_ns, VIP) and time.monotonic() < end:
                time.sleep(0.05)
            cap = start_capture(o_ns, o_mac)
            time.sleep(max(3 * advert, 0.5) + 0.3)
            t0 = time.monotonic()
            if how == "kill":
                # keepalived's VRRP work is in a child that would get SIGTERM (a graceful
                # priority 0) when its parent dies: kill the children first.
                kids = sh("pgrep", "-P", str(m.pid), check=False).split()
                for k in kids:
                    os.kill(int(k), 9)
                m.kill()
                nsx(m_ns, "ip", "link", "set", "eth0", "down")
            else:
                m.terminate()
            dt = time_to_answer(o_ns, b_mac, t0)
            m.wait()
            time.sleep(0.1)
            cap.terminate()
            lines = cap.communicate()[0].splitlines()
            pi = protocol_interval(lines, m_mac, b_mac, how)
            if pi is not None:
                proto.append(pi)
            if how == "kill":
                # The dead host's leftover VIP must not come back with the link.
                nsx(m_ns, "ip", "addr", "flush", "dev", "eth0", "to", f"{VIP}/32", check=False)
            if dt is None:
                log(f"  trial {t}: backup never answered")
            else:
                results.append(dt)
    finally:
        lab.close()
    return results, proto


def cpu_rss(impl, seconds):
    lab = Lab()
    try:
        n = build_lan(lab, [("m", "10.78.0.250/16")])
        ns, _ = n["m"]
        p = start(lab, impl, ns, "m100", conf(150, True, 3, "0.1", instances=100))
        time.sleep(5)
        pids = [p.pid]
        if impl == "keepalived":
            # The VRRP work happens in keepalived's child process.
            kids = sh("pgrep", "-P", str(p.pid), check=False).split()
            pids += [int(k) for k in kids]
        tick = os.sysconf("SC_CLK_TCK")

        def cpu(pid):
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / tick

        def rss_kb(pid):
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1])
            return 0

        c0 = sum(cpu(x) for x in pids)
        time.sleep(seconds)
        c1 = sum(cpu(x) for x in pids)
        rss = sum(rss_kb(x) for x in pids)
        masters = nsx(ns, "ip", "-o", "addr", "show", "dev", "eth0").count("10.78.")
        return (c1 - c0) / seconds * 100.0, rss, masters - 1
    finally:
        lab.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=20)
    ap.add_argument("--cpu-seconds", type=int, default=60)
    ap.add_argument("--impls", default="rampart,keepalived")
    ap.add_argument("--skip-failover", action="store_true")
    ap.add_argument("--skip-cpu", action="store_true")
    ap.add_argument("--out", default=None, help="append the markdown table here")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("needs root (network namespaces)")

    import signal

    def on_term(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)

    def log(msg):
        print(msg, file=sys.stderr, flush=True)

    rows = []
    for version, advert in (() if args.skip_failover else ((2, 1), (3, 0.1))):
        for how in ("kill", "term"):
            for impl in args.impls.split(","):
                log(f"{impl} v{version} advert_int {advert} {how}: {args.trials} trials")
                r, pr = failover_trials(impl, version, advert, how, args.trials, log)
                th = theory(advert, 100, how)
                if r:
                    pmed = statistics.median(pr) * 1000 if pr else float("nan")
                    pmax = max(pr) * 1000 if pr else float("nan")
                    rows.append((f"v{version} {advert}s", how, impl, len(r),
                                 statistics.median(r) * 1000, max(r) * 1000, min(r) * 1000,
                                 pmed, pmax, th * 1000))
                    log(f"  end to end: median {statistics.median(r)*1000:.1f} ms, worst "
                        f"{max(r)*1000:.1f} ms; protocol: median {pmed:.1f} ms, worst "
                        f"{pmax:.1f} ms; theory {th*1000:.1f} ms")
    table = ["| setting | loss | backup | trials | signal→ARP median ms | worst ms | best ms "
             "| advert→GARP median ms | worst ms | theory ms |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        table.append("| {} | {} | {} | {} | {:.1f} | {:.1f} | {:.1f} | {:.1f} | {:.1f} | {:.1f} |"
                     .format(*row))
    cpu_rows = ["| daemon | instances | advert_int | CPU % of one core | RSS KiB | VIPs held |",
                "|---|---|---|---|---|---|"]
    for impl in ([] if args.skip_cpu else args.impls.split(",")):
        log(f"{impl}: 100 instances at 0.1 s for {args.cpu_seconds} s")
        cpu, rss, held = cpu_rss(impl, args.cpu_seconds)
        cpu_rows.append(f"| {impl} | 100 | 0.1 s (v3) | {cpu:.2f} | {rss} | {held} |")
    text = "\n".join(table) + "\n\n" + "\n".join(cpu_rows) + "\n"
    print(text)
    if args.out:
        with open(args.out, "a") as f:
            f.write(text)


if __name__ == "__main__":
    main()
