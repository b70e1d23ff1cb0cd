#!/usr/bin/env python3
"""Differential sweep: rampart's config front end against `keepalived -t -f FILE` (2.2.7).

Run on purpose (root: it creates a network namespace holding two veth ends named eth0 and
eth1, so keepalived's interface checks pass; nothing is sent, keepalived -t only parses):

    cargo build --bin rampart
    sudo python3 benches/config_sweep.py [--rampart target/debug/rampart] [--json OUT.json]
                                         [--only SUBSTRING] [--show-agree]

The corpus is built from
  * keepalived's own samples (/work/shared/corpus/keepalived-2.2.7-samples or
    ../shared/corpus/... beside the repository), conf/ and tests/data/config/ of this repository;
  * a base configuration (BASE below, valid for both programs) and mutations of every
    `keyword value` line in it: value missing, a word, negative, zero, huge, fractional,
    the line doubled, the line dropped; an unknown keyword in every block; blocks moved;
  * hand-written cases (HAND below): preprocessor (include, $DEF, @id, ~SEQ), comments,
    quoting, IPv6 VIPs, groups, fwmark services, sorry_server, ...

Each case is run through `keepalived -t -f FILE -i sweep` (in the namespace) and
`rampart check-config -i sweep --format json FILE`, and classified:

  agree          both accept silently, or both reject
  softer         keepalived rejects (exit != 0); rampart accepts but warns about it
  MISSED         keepalived rejects; rampart accepts without a word        <- look at these
  STRICTER       keepalived accepts silently; rampart rejects               <- look at these
  warn-only      keepalived accepts silently; rampart accepts with a warning

keepalived -t's exit status is 0 when no `report_config_error` was raised, 5 (or 1 for a fatal
error / missing file / bad interface) otherwise; it logs and runs on for most problems, so a
non-zero exit does not mean keepalived would refuse to start. rampart's deliberate differences
are listed in docs/config-parity.md; the fixed cases live in tests/config_parity.rs.

A second pass (`--dump`) compares interpretation for the VRRP side: keepalived is started
with `-n -l -d -P` in the namespace for a moment (it dumps its parsed VRRP configuration and
the global definitions; no IPv4 address in the namespace, so every instance sits in FAULT and
sends nothing) and the figures are compared with `rampart check-config --dump`.
"""

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
CONFIG_ID = "sweep"

BASE = """\
global_defs {
    notification_email {
        admin@example.org
    }
    notification_email_from lb@example.org
    smtp_server 127.0.0.1 25
    smtp_connect_timeout 30
    router_id LB1
    vrrp_garp_master_delay 5
    vrrp_garp_master_repeat 3
    vrrp_garp_master_refresh 60
    vrrp_garp_master_refresh_repeat 2
    vrrp_version 2
    vrrp_mcast_group4 224.0.0.18
    lvs_flush
}

vrrp_script chk_web {
    script "/bin/true"
    interval 2
    timeout 3
    weight -20
    rise 2
    fall 3
}

vrrp_instance VI_1 {
    state MASTER
    interface eth0
    virtual_router_id 51
    priority 150
    advert_int 1
    preempt_delay 10
    garp_master_delay 3
    authentication {
        auth_type PASS
        auth_pass secret12
    }
    virtual_ipaddress {
        192.168.200.16/24 dev eth0 label eth0:1
        192.168.200.17
    }
    virtual_ipaddress_excluded {
        192.168.201.1/24
    }
    track_interface {
        eth1 weight -10
    }
    track_script {
        chk_web
    }
    notify_master "/bin/true master"
}

vrrp_instance VI_2 {
    state BACKUP
    interface eth1
    virtual_router_id 52
    priority 100
    advert_int 1
    nopreempt
    virtual_ipaddress {
        10.1.1.1/24
    }
}

vrrp_sync_group G1 {
    group {
        VI_1
        VI_2
    }
    notify_master "/bin/true"
}

virtual_server_group VSG {
    10.2.2.1 80
    10.2.2.10-20 80
}

virtual_server 192.168.200.16 80 {
    delay_loop 6
    lb_algo wrr
    lb_kind NAT
    persistence_timeout 50
    persistence_granularity 255.255.255.0
    protocol TCP
    quorum 1
    hysteresis 0
    sorry_server 192.168.200.200 8080
    real_server 192.168.201.10 80 {
        weight 3
        inhibit_on_failure
        HTTP_GET {
            url {
                path /index.html
                digest 9b3a0c85a887a256d6939da88aabd8cd
                status_code 200
            }
            connect_timeout 3
            retry 3
            delay_before_retry 2
        }
    }
    real_server 192.168.201.11 80 {
        weight 1
        TCP_CHECK {
            connect_port 80
            connect_timeout 5
        }
    }
}

virtual_server group VSG {
    delay_loop 10
    lb_algo rr
    lb_kind DR
    protocol TCP
    real_server 10.2.3.1 80 {
        weight 1
        MISC_CHECK {
            misc_path "/bin/true"
            misc_timeout 5
        }
    }
}

virtual_server fwmark 7 {
    delay_loop 6
    lb_algo sh
    lb_kind DR
    real_server 10.3.3.1 0 {
        weight 2
        TCP_CHECK {
            connect_port 443
            connect_timeout 3
        }
    }
}
"""

# Less common keywords, mutated the same way.
BASE2 = """\
global_defs {
    router_id LB2
    vrrp_garp_lower_prio_delay 4
    vrrp_garp_lower_prio_repeat 2
    vrrp_down_timer_adverts 4
    vrrp_startup_delay 2
    vrrp_higher_prio_send_advert
    vrrp_mcast_group6 ff02::12
    lvs_timeouts tcp 900 tcpfin 120 udp 300
    lvs_sync_daemon eth0 VI_3 id 5
    checker_log_all_failures
    max_auto_priority 10
}

vrrp_track_file tf {
    file /tmp/rampart-sweep-track
    weight 3
}

vrrp_instance VI_3 {
    state BACKUP
    interface eth0
    virtual_router_id 61
    priority 120
    advert_int 2
    version 3
    unicast_src_ip 192.0.2.1
    unicast_peer {
        192.0.2.9
    }
    unicast_ttl 10
    garp_master_repeat 2
    garp_master_refresh 30
    garp_master_refresh_repeat 2
    garp_lower_prio_repeat 1
    down_timer_adverts 5
    track_file {
        tf weight 2
    }
    virtual_ipaddress {
        192.0.2.100/24 dev eth0 label eth0:9
    }
    virtual_routes {
        10.50.0.0/16 via 192.0.2.254 dev eth0 metric 5
    }
    virtual_rules {
        from 10.50.0.0/16 table 100 priority 100
    }
}

vrrp_instance VI_6 {
    interface eth1
    virtual_router_id 62
    priority 100
    advert_int 0.5
    version 3
    virtual_ipaddress {
        2001:db8::100/64
    }
}

virtual_server 192.0.2.100 443 {
    delay_loop 3
    lb_algo mh
    mh-port
    lb_kind TUN
    protocol TCP
    persistence_timeout 600
    alpha
    omega
    quorum 2
    hysteresis 1
    real_server 10.7.0.1 443 {
        weight 2
        uthreshold 100
        lthreshold 10
        SSL_GET {
            url {
                path /health
                status_code 200
            }
            connect_timeout 4
            retry 2
            delay_before_retry 1
        }
    }
    real_server 10.7.0.2 443 {
        weight 2
        HTTP_GET {
            url {
                path /health
                status_code 200-299
            }
            virtualhost www.example.org
            http_protocol 1.1
            warmup 3
        }
    }
}

virtual_server 192.0.2.100 53 {
    delay_loop 5
    lb_algo rr
    lb_kind DR
    protocol UDP
    ops
    real_server 10.7.0.5 53 {
        weight 1
        DNS_CHECK {
            type A
            name example.org
        }
    }
}
"""

# A minimal valid instance, for hand cases.
INST = """vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    priority 100
    virtual_ipaddress {
        10.0.0.1
    }
%s}
"""
VS = """virtual_server 10.0.0.1 80 {
    protocol TCP
    lb_algo rr
    lb_kind NAT
%s    real_server 10.0.1.1 80 {
        TCP_CHECK {
        }
    }
}
"""
RS = """virtual_server 10.0.0.1 80 {
    protocol TCP
    lb_algo rr
    lb_kind NAT
    real_server 10.0.1.1 80 {
%s    }
}
"""


def vs_(extra):
    """VS with extra lines; the template's lb_algo / lb_kind give way to the case's own."""
    t = VS
    if "lb_algo" in extra or "lvs_sched" in extra:
        t = t.replace("    lb_algo rr\n", "")
    if "lb_kind" in extra or "lvs_method" in extra:
        t = t.replace("    lb_kind NAT\n", "")
    return t % extra


def hand_cases():
    """(name, text, extra files {relative name: text}) written for the things mutation misses."""
    c = []

    def add(name, text, files=None):
        c.append((name, text, files or {}))

    # Comments and quoting.
    add("comment ! mid-line", INST % "    advert_int 1 ! one second\n")
    add("comment # mid-line", INST % "    advert_int 1 # one second\n")
    add("comment glued #", INST % "    advert_int 1#x\n")
    add("quoted name with space", INST % '    notify_master "/bin/echo a b"\n')
    add("quoted # inside", INST % '    notify_master "/bin/echo #a"\n')
    add("brace on same line as close", INST % "    authentication { auth_type PASS\n    auth_pass x }\n")
    add("block brace on next line", "global_defs\n{\n    router_id x\n}\n")
    add("missing close brace", "global_defs {\n    router_id x\n")
    add("extra close brace", "global_defs {\n    router_id x\n}\n}\n")
    add("empty file", "")
    add("only comments", "! x\n# y\n")
    # Preprocessor.
    add("$ definition", "$IF=eth0\n" + (INST % "").replace("interface eth0", "interface $IF"))
    add("${} definition", "$IF=eth0\n" + (INST % "").replace("interface eth0", "interface ${IF}"))
    add("undefined $", (INST % "").replace("interface eth0", "interface $NOPE"))
    add("multi-line definition", "$VIPS=10.0.0.1 \\\n 10.0.0.2\n" +
        (INST % "").replace("        10.0.0.1\n", "        $VIPS\n"))
    add("@id line match", "@sweep global_defs {\n@sweep     router_id x\n@sweep }\n")
    add("@id line other", "@other global_defs {\n@other     bogus\n@other }\n")
    add("@^id line", "@^sweep global_defs {\n@^sweep     bogus\n@^sweep }\n")
    add("~SEQ", "~SEQ(n,1,1,3) vrrp_instance VI_$n {\n    interface eth0\n    virtual_router_id $n\n"
        "    virtual_ipaddress {\n        10.0.0.$n\n    }\n}\n")
    add("include relative", "include sub.conf\n", {"sub.conf": INST % ""})
    add("include glob", "include sub*.conf\n", {"sub1.conf": INST % "", "sub2.conf": "global_defs {\n}\n"})
    add("include missing", "include nothere.conf\n" + (INST % ""))
    add("include inside block", "global_defs {\n    include g.conf\n}\n", {"g.conf": "router_id x\n"})
    # Addresses.
    add("IPv6 VIP dev scope", (INST % "").replace("10.0.0.1", "fe80::1/64 dev eth0 scope link"))
    add("IPv6 VIP label", (INST % "").replace("10.0.0.1", "2001:db8::1/64 dev eth0 label eth0:v6"))
    add("VIP brd", (INST % "").replace("10.0.0.1", "10.0.0.1/24 brd 10.0.0.255 dev eth0"))
    add("VIP scope host", (INST % "").replace("10.0.0.1", "10.0.0.1/24 scope host"))
    add("VIP bad scope", (INST % "").replace("10.0.0.1", "10.0.0.1/24 scope bogus"))
    add("VIP bad prefix", (INST % "").replace("10.0.0.1", "10.0.0.1/33"))
    add("VIP no_track", (INST % "").replace("10.0.0.1", "10.0.0.1/24 no_track"))
    add("VIP peer", (INST % "").replace("10.0.0.1", "10.0.0.1 peer 10.0.0.2"))
    add("VIP unknown option", (INST % "").replace("10.0.0.1", "10.0.0.1/24 frobnicate"))
    add("VIP dev missing", (INST % "").replace("10.0.0.1", "10.0.0.1/24 dev"))
    add("VIP hostname", (INST % "").replace("10.0.0.1", "example.org"))
    add("mixed families", (INST % "").replace("10.0.0.1", "10.0.0.1\n        2001:db8::1"))
    add("VIP excluded mixed", INST % "    virtual_ipaddress_excluded {\n        2001:db8::5\n    }\n")
    add("unicast peers", INST % "    unicast_src_ip 10.9.9.1\n    unicast_peer {\n        10.9.9.2\n    }\n")
    add("unicast peer empty", INST % "    unicast_peer {\n    }\n")
    add("unicast peer bad", INST % "    unicast_peer {\n        10.9.9\n    }\n")
    add("vrid reused", INST % "" + (INST % "").replace("VI_1", "VI_2"))
    add("vrid reused other if", INST % "" + (INST % "").replace("VI_1", "VI_2").replace("eth0", "eth1"))
    add("instance name duplicated", INST % "" + (INST % "").replace("virtual_router_id 51", "virtual_router_id 52"))
    add("no interface", (INST % "").replace("    interface eth0\n", ""))
    add("no vrid", (INST % "").replace("    virtual_router_id 51\n", ""))
    add("no VIPs", "vrrp_instance VI_1 {\n    interface eth0\n    virtual_router_id 51\n}\n")
    add("state Master case", INST % "    state Master\n")
    add("state FAULT", INST % "    state FAULT\n")
    add("priority 255 backup", INST % "    state BACKUP\n".replace("", "") + "")
    add("advert_int fraction v2", INST % "    advert_int 0.5\n")
    add("advert_int fraction v3", INST % "    version 3\n    advert_int 0.5\n")
    add("advert_int 0", INST % "    advert_int 0\n")
    add("advert_int 300", INST % "    advert_int 300\n")
    add("advert_int 256", INST % "    advert_int 256\n")
    add("version 4", INST % "    version 4\n")
    add("auth AH", INST % "    authentication {\n        auth_type AH\n        auth_pass x\n    }\n")
    add("auth pass long", INST % "    authentication {\n        auth_type PASS\n        auth_pass 0123456789\n    }\n")
    add("auth no pass", INST % "    authentication {\n        auth_type PASS\n    }\n")
    add("auth bad type", INST % "    authentication {\n        auth_type MD5\n        auth_pass x\n    }\n")
    add("auth v3", INST % "    version 3\n    authentication {\n        auth_type PASS\n        auth_pass x\n    }\n")
    add("track_script unknown", INST % "    track_script {\n        nope\n    }\n")
    add("track_script weight", "vrrp_script s {\n    script /bin/true\n}\n" +
        INST % "    track_script {\n        s weight 10\n    }\n")
    add("track_script weight out of range", "vrrp_script s {\n    script /bin/true\n}\n" +
        INST % "    track_script {\n        s weight 300\n    }\n")
    add("track_interface weight bad", INST % "    track_interface {\n        eth1 weight x\n    }\n")
    add("track_interface unknown if", INST % "    track_interface {\n        eth9\n    }\n")
    add("vrrp_script no script", "vrrp_script s {\n    interval 1\n}\n")
    add("vrrp_script unused", "vrrp_script s {\n    script /bin/true\n}\n" + (INST % ""))
    add("vrrp_script weight 254", "vrrp_script s {\n    script /bin/true\n    weight 254\n}\n")
    add("vrrp_script weight 255", "vrrp_script s {\n    script /bin/true\n    weight 255\n}\n")
    add("vrrp_script weight reverse", "vrrp_script s {\n    script /bin/true\n    weight 10 reverse\n}\n")
    add("vrrp_script interval 0", "vrrp_script s {\n    script /bin/true\n    interval 0\n}\n")
    add("vrrp_script rise 0", "vrrp_script s {\n    script /bin/true\n    rise 0\n}\n")
    add("sync group unknown member", INST % "" + "vrrp_sync_group G {\n    group {\n        VI_1\n        VI_9\n    }\n}\n")
    add("sync group one member", INST % "" + "vrrp_sync_group G {\n    group {\n        VI_1\n    }\n}\n")
    add("sync group twice", INST % "" + (INST % "").replace("VI_1", "VI_2").replace("51", "52") +
        "vrrp_sync_group G {\n    group {\n        VI_1\n        VI_2\n    }\n}\n"
        "vrrp_sync_group H {\n    group {\n        VI_1\n        VI_2\n    }\n}\n")
    add("nopreempt with MASTER", INST % "    state MASTER\n    nopreempt\n")
    add("preempt_delay too big", INST % "    state BACKUP\n    preempt_delay 1001\n")
    add("garp_master_refresh 0", INST % "    garp_master_refresh 0\n")
    # Virtual servers.
    add("vs no protocol", vs_("").replace("    protocol TCP\n", ""))
    add("vs protocol udp", vs_("").replace("TCP\n", "UDP\n"))
    add("vs protocol sctp", vs_("").replace("TCP\n", "SCTP\n"))
    add("vs protocol lower", vs_("").replace("TCP\n", "tcp\n"))
    add("vs protocol bad", vs_("").replace("TCP\n", "ICMP\n"))
    add("vs ipv6", vs_("").replace("10.0.0.1 80", "2001:db8::1 80").replace("10.0.1.1 80", "2001:db8::2 80"))
    add("vs ipv6 bracket", vs_("").replace("10.0.0.1 80", "[2001:db8::1]:80"))
    add("vs mixed family rs", vs_("").replace("10.0.1.1 80", "2001:db8::2 80"))
    add("vs port 0", vs_("").replace("10.0.0.1 80", "10.0.0.1 0"))
    add("vs port 65536", vs_("").replace("10.0.0.1 80", "10.0.0.1 65536"))
    add("vs port word", vs_("").replace("10.0.0.1 80", "10.0.0.1 http"))
    add("vs no port", vs_("").replace("10.0.0.1 80", "10.0.0.1"))
    add("vs bad ip", vs_("").replace("10.0.0.1 80", "10.0.0.300 80"))
    add("vs duplicated", vs_("") + vs_(""))
    add("vs dup rs", vs_("").replace("    real_server", "    real_server 10.0.1.1 80 {\n    }\n    real_server"))
    add("rs no port", vs_("").replace("10.0.1.1 80", "10.0.1.1"))
    add("rs port 0 nat", vs_("").replace("10.0.1.1 80", "10.0.1.1 0"))
    add("vs fwmark", "virtual_server fwmark 1 {\n    real_server 10.0.1.1 80 {\n    }\n}\n")
    add("vs fwmark 0", "virtual_server fwmark 0 {\n    real_server 10.0.1.1 80 {\n    }\n}\n")
    add("vs fwmark word", "virtual_server fwmark x {\n    real_server 10.0.1.1 80 {\n    }\n}\n")
    add("vs fwmark protocol", "virtual_server fwmark 1 {\n    protocol TCP\n    real_server 10.0.1.1 80 {\n    }\n}\n")
    add("vs fwmark ipv6 rs", "virtual_server fwmark 1 {\n    real_server 2001:db8::2 80 {\n    }\n}\n")
    add("vs group unknown", "virtual_server group NOPE {\n    protocol TCP\n    real_server 10.0.1.1 80 {\n    }\n}\n")
    add("vsg range", "virtual_server_group G {\n    10.0.0.1-10 80\n}\nvirtual_server group G {\n    protocol TCP\n}\n")
    add("vsg range reversed", "virtual_server_group G {\n    10.0.0.10-1 80\n}\nvirtual_server group G {\n    protocol TCP\n}\n")
    add("vsg range ipv6", "virtual_server_group G {\n    2001:db8::1-10 80\n}\nvirtual_server group G {\n    protocol TCP\n}\n")
    add("vsg fwmark", "virtual_server_group G {\n    fwmark 5\n}\nvirtual_server group G {\n}\n")
    add("vsg unused", "virtual_server_group G {\n    10.0.0.1 80\n}\n")
    add("vsg empty", "virtual_server_group G {\n}\nvirtual_server group G {\n    protocol TCP\n}\n")
    add("vsg bad member", "virtual_server_group G {\n    bogus 80\n}\nvirtual_server group G {\n    protocol TCP\n}\n")
    add("vsg no port", "virtual_server_group G {\n    10.0.0.1\n}\nvirtual_server group G {\n    protocol TCP\n}\n")
    add("lb_algo each", "".join(vs_("").replace("10.0.0.1 80", "10.0.0.%d 80" % (i + 1)).replace(
        "    lb_algo rr\n", "    lb_algo %s\n" % a) for i, a in enumerate(
        ["rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "mh", "fo", "ovf", "twos"])))
    add("lb_algo upper", vs_("    lb_algo RR\n"))
    add("lb_algo bogus", vs_("    lb_algo xx\n"))
    add("lvs_sched", vs_("    lvs_sched wlc\n"))
    add("lb_kind lower", vs_("    lb_kind nat\n"))
    add("lb_kind TUN", vs_("    lb_kind TUN\n"))
    add("lb_kind FNAT", vs_("    lb_kind FNAT\n"))
    add("lvs_method", vs_("    lvs_method DR\n"))
    add("sh flags", vs_("    lb_algo sh\n    sh-port\n    sh-fallback\n"))
    add("mh flags", vs_("    lb_algo mh\n    mh-port\n    mh-fallback\n"))
    add("ops", (vs_("    ops\n")).replace("TCP", "UDP"))
    add("ops tcp", vs_("    ops\n"))
    add("persistence 0", vs_("    persistence_timeout 0\n"))
    add("persistence no value", vs_("    persistence_timeout\n"))
    add("persistence huge", vs_("    persistence_timeout 4294967296\n"))
    add("granularity prefix", vs_("    persistence_timeout 10\n    persistence_granularity 24\n"))
    add("granularity bad mask", vs_("    persistence_timeout 10\n    persistence_granularity 255.0.255.0\n"))
    add("granularity no persist", vs_("    persistence_granularity 255.255.255.0\n"))
    add("sorry_server", vs_("    sorry_server 10.0.9.9 80\n"))
    add("sorry_server no port", vs_("    sorry_server 10.0.9.9\n"))
    add("sorry_server bad", vs_("    sorry_server 10.0.9 80\n"))
    add("sorry_server_inhibit", vs_("    sorry_server 10.0.9.9 80\n    sorry_server_inhibit\n"))
    add("sorry_server_lvs_method", vs_("    sorry_server 10.0.9.9 80\n    sorry_server_lvs_method DR\n"))
    add("quorum 0", vs_("    quorum 0\n"))
    add("quorum high", vs_("    quorum 100\n"))
    add("hysteresis high", vs_("    quorum 2\n    hysteresis 5\n"))
    add("alpha omega", vs_("    alpha\n    omega\n"))
    add("delay_loop 0", vs_("    delay_loop 0\n"))
    add("delay_loop fraction", vs_("    delay_loop 1.5\n"))
    add("virtualhost", vs_("    virtualhost www.example.org\n"))
    add("ha_suspend", vs_("    ha_suspend\n"))
    add("vs empty", "virtual_server 10.0.0.1 80 {\n    protocol TCP\n}\n")
    add("vs no block", "virtual_server 10.0.0.1 80\n")
    add("rs weight 0", RS % "        weight 0\n")
    add("rs weight -1", RS % "        weight -1\n")
    add("rs weight huge", RS % "        weight 65536\n")
    add("rs weight word", RS % "        weight x\n")
    add("rs uthreshold", RS % "        uthreshold 100\n        lthreshold 10\n")
    add("rs notify", RS % '        notify_up "/bin/true up"\n        notify_down /bin/true\n')
    add("rs lb_kind", RS % "        lvs_method DR\n")
    add("two checkers", RS % "        TCP_CHECK {\n        }\n        HTTP_GET {\n            url {\n                path /\n            }\n        }\n")
    add("http no url", RS % "        HTTP_GET {\n        }\n")
    add("http url no path", RS % "        HTTP_GET {\n            url {\n                status_code 200\n            }\n        }\n")
    add("http digest short", RS % "        HTTP_GET {\n            url {\n                path /\n                digest abc\n            }\n        }\n")
    add("http status range", RS % "        HTTP_GET {\n            url {\n                path /\n                status_code 200-299\n            }\n        }\n")
    add("http status 600", RS % "        HTTP_GET {\n            url {\n                path /\n                status_code 600\n            }\n        }\n")
    add("http status 99", RS % "        HTTP_GET {\n            url {\n                path /\n                status_code 99\n            }\n        }\n")
    add("http status list", RS % "        HTTP_GET {\n            url {\n                path /\n                status_code 200 301 302\n            }\n        }\n")
    add("http protocol", RS % "        HTTP_GET {\n            http_protocol 1.1\n            url {\n                path /\n            }\n        }\n")
    add("http protocol bad", RS % "        HTTP_GET {\n            http_protocol 2\n            url {\n                path /\n            }\n        }\n")
    add("http virtualhost", RS % "        HTTP_GET {\n            virtualhost a.example\n            url {\n                path /\n                virtualhost b.example\n            }\n        }\n")
    add("ssl_get", RS % "        SSL_GET {\n            url {\n                path /\n            }\n        }\n")
    add("nb_get_retry", RS % "        HTTP_GET {\n            nb_get_retry 3\n            url {\n                path /\n            }\n        }\n")
    add("retry 0", RS % "        TCP_CHECK {\n            retry 0\n        }\n")
    add("connect_timeout 0", RS % "        TCP_CHECK {\n            connect_timeout 0\n        }\n")
    add("connect_timeout fraction", RS % "        TCP_CHECK {\n            connect_timeout 0.5\n        }\n")
    add("connect_ip", RS % "        TCP_CHECK {\n            connect_ip 10.0.1.2\n            connect_port 81\n            bindto 10.0.0.5\n            bind_port 1000\n        }\n")
    add("connect_ip bad", RS % "        TCP_CHECK {\n            connect_ip 10.0.1\n        }\n")
    add("connect_port 0", RS % "        TCP_CHECK {\n            connect_port 0\n        }\n")
    add("checker fwmark", RS % "        TCP_CHECK {\n            fwmark 5\n        }\n")
    add("checker warmup", RS % "        TCP_CHECK {\n            warmup 5\n        }\n")
    add("delay_before_retry 0", RS % "        TCP_CHECK {\n            delay_before_retry 0\n        }\n")
    add("misc dynamic", RS % '        MISC_CHECK {\n            misc_path "/bin/true"\n            misc_dynamic\n        }\n')
    add("misc no path", RS % "        MISC_CHECK {\n            misc_timeout 5\n        }\n")
    add("misc user", RS % '        MISC_CHECK {\n            misc_path "/bin/true"\n            user nobody\n        }\n')
    add("misc user unknown", RS % '        MISC_CHECK {\n            misc_path "/bin/true"\n            user nosuchuser\n        }\n')
    add("checker unknown", RS % "        FOO_CHECK {\n        }\n")
    add("checker lower", RS % "        tcp_check {\n        }\n")
    add("smtp_check", RS % "        SMTP_CHECK {\n        }\n")
    add("dns_check", RS % "        DNS_CHECK {\n            name example.org\n        }\n")
    # Global.
    add("smtp_server port", "global_defs {\n    smtp_server 10.0.0.1 2525\n}\n")
    add("smtp_server name", "global_defs {\n    smtp_server mail.example.org\n}\n")
    add("smtp_server bad port", "global_defs {\n    smtp_server 10.0.0.1 99999\n}\n")
    add("mcast group bad", "global_defs {\n    vrrp_mcast_group4 10.0.0.1\n}\n")
    add("mcast group6 bad", "global_defs {\n    vrrp_mcast_group6 2001:db8::1\n}\n")
    add("vrrp_version 3", "global_defs {\n    vrrp_version 3\n}\n")
    add("vrrp_version 1", "global_defs {\n    vrrp_version 1\n}\n")
    add("lvs_sync_daemon", "global_defs {\n    lvs_sync_daemon eth0 VI_1 id 5\n}\n" + (INST % ""))
    add("lvs_sync_daemon unknown instance", "global_defs {\n    lvs_sync_daemon eth0 VI_9\n}\n" + (INST % ""))
    add("lvs_timeouts", "global_defs {\n    lvs_timeouts tcp 900 tcpfin 120 udp 300\n}\n")
    add("lvs_timeouts bad", "global_defs {\n    lvs_timeouts tcp x\n}\n")
    add("script_user", "global_defs {\n    script_user nobody\n}\n")
    add("script_user unknown", "global_defs {\n    script_user nosuchuser\n}\n")
    add("enable_script_security", "global_defs {\n    enable_script_security\n}\n" +
        'vrrp_script s {\n    script "/bin/true"\n}\n')
    add("global_defs twice", "global_defs {\n    router_id a\n}\nglobal_defs {\n    router_id b\n}\n")
    add("router_id two words", "global_defs {\n    router_id a b\n}\n")
    add("notification_email inline", "global_defs {\n    notification_email a@b\n}\n")
    add("misplaced vrrp_instance in global", "global_defs {\n" + INST % "" + "}\n")
    add("misplaced real_server top", "real_server 10.0.1.1 80 {\n}\n")
    add("misplaced TCP_CHECK in vs", vs_("    TCP_CHECK {\n    }\n"))
    add("misplaced priority in vs", vs_("    priority 100\n"))
    add("misplaced weight in instance", INST % "    weight 10\n")
    add("static_ipaddress", "static_ipaddress {\n    10.9.0.1/24 dev eth0\n}\n")
    add("static_routes", "static_routes {\n    10.8.0.0/16 via 10.9.0.254 dev eth0\n}\n")
    add("virtual_routes", INST % "    virtual_routes {\n        10.8.0.0/16 via 10.9.0.254 dev eth0\n    }\n")
    add("virtual_routes bad", INST % "    virtual_routes {\n        10.8.0.0/16 via\n    }\n")
    add("virtual_rules", INST % "    virtual_rules {\n        from 10.8.0.0/16 table 100\n    }\n")
    add("use_vmac", INST % "    use_vmac\n")
    add("use_vmac name", INST % "    use_vmac vrrp.51\n")
    add("accept", INST % "    accept\n")
    add("no_accept", INST % "    no_accept\n")
    add("strict no auth", "global_defs {\n    vrrp_strict\n}\n" + INST % "")
    add("strict with auth", "global_defs {\n    vrrp_strict\n}\n" + INST % "    authentication {\n        auth_type PASS\n        auth_pass x\n    }\n")
    add("strict unicast", "global_defs {\n    vrrp_strict\n}\n" + INST % "    unicast_peer {\n        10.9.9.2\n    }\n")
    add("track_file", "vrrp_track_file tf {\n    file /tmp/nothere\n}\n" + INST % "    track_file {\n        tf\n    }\n")
    add("notify bad script", INST % "    notify_master /nonexistent/script\n")
    add("notify relative", INST % "    notify_master true\n")
    add("keyword glued to brace", "global_defs{\n    router_id x\n}\n")
    add("value glued to brace", INST % "    authentication {\n        auth_type PASS}\n")
    add("uppercase keyword", "GLOBAL_DEFS {\n}\n")
    add("tab separated", INST % "\tpriority\t100\n")
    add("CRLF", (INST % "").replace("\n", "\r\n"))
    add("non-ascii", INST % "    notify_master \"/bin/echo é\"\n")
    return c


LEAF = re.compile(r"^(\s*)([A-Za-z_][A-Za-z0-9_\-]*)(\s+)(\S.*)$")


def mutations(base):
    """Mutate every `keyword value` line of base; add an unknown keyword to every block."""
    lines = base.split("\n")
    out = []
    for i, line in enumerate(lines):
        m = LEAF.match(line)
        if m and not line.rstrip().endswith("{"):
            ind, kw, sp, val = m.groups()
            first, _, rest = val.partition(" ")
            rest = (" " + rest) if rest else ""
            variants = {
                "no value": ind + kw,
                "word": ind + kw + sp + "abc" + rest,
                "negative": ind + kw + sp + "-1" + rest,
                "zero": ind + kw + sp + "0" + rest,
                "huge": ind + kw + sp + "4294967296" + rest,
                "fraction": ind + kw + sp + "1.5" + rest,
                "doubled": line + "\n" + line,
                "extra arg": line + " extra",
            }
            for vname, new in variants.items():
                mutated = lines[:i] + [new] + lines[i + 1:]
                out.append(("base L%d %s: %s" % (i + 1, kw, vname), "\n".join(mutated), {}))
        if m or LEAF.match(line) is None:
            pass
        stripped = line.strip()
        if stripped.endswith("{"):
            kw = stripped.split()[0]
            ind = re.match(r"^\s*", line).group(0) + "    "
            mutated = lines[: i + 1] + [ind + "bogus_keyword 1"] + lines[i + 1:]
            out.append(("base L%d %s: unknown keyword inside" % (i + 1, kw), "\n".join(mutated), {}))
        elif stripped and not stripped.startswith("}") and LEAF.match(line) is None:
            # A bare keyword (flag or list member): drop it.
            mutated = lines[:i] + lines[i + 1:]
            out.append(("base L%d %s: dropped" % (i + 1, stripped), "\n".join(mutated), {}))
        if m and not line.rstrip().endswith("{"):
            mutated = lines[:i] + lines[i + 1:]
            out.append(("base L%d %s: dropped" % (i + 1, m.group(2)), "\n".join(mutated), {}))
    return out


def corpus_files():
    dirs = [
        os.path.join(REPO, "../shared/corpus/keepalived-2.2.7-samples"),
        "/work/shared/corpus/keepalived-2.2.7-samples",
        os.path.join(REPO, "conf"),
        os.path.join(REPO, "conf/examples"),
        os.path.join(REPO, "tests/data/config"),
    ]
    seen = set()
    out = []
    for d in dirs:
        d = os.path.realpath(d)
        if d in seen or not os.path.isdir(d):
            continue
        seen.add(d)
        for n in sorted(os.listdir(d)):
            p = os.path.join(d, n)
            if os.path.isfile(p):
                with open(p, encoding="utf-8", errors="replace") as f:
                    out.append(("file " + os.path.relpath(p, REPO), f.read(), {}))
    return out


class Netns:
    def __init__(self):
        self.name = "cfgsweep%d" % os.getpid()

    def __enter__(self):
        subprocess.run(["ip", "netns", "add", self.name], check=True)
        for cmd in (
            ["ip", "link", "add", "eth0", "type", "veth", "peer", "name", "eth1"],
            ["ip", "link", "add", "eth2", "type", "veth", "peer", "name", "eth3"],
            ["ip", "link", "add", "eth0.1", "type", "veth", "peer", "name", "eth4"],
            # Addresses, so that keepalived's dump shows configured states rather than FAULT
            # ("no IPv4 address for interface"). Adverts stay inside the namespace.
            ["ip", "addr", "add", "192.0.2.1/24", "dev", "eth0"],
            ["ip", "addr", "add", "192.0.2.2/24", "dev", "eth1"],
            ["ip", "link", "set", "lo", "up"],
            ["ip", "link", "set", "eth0", "up"],
            ["ip", "link", "set", "eth1", "up"],
        ):
            subprocess.run(["ip", "netns", "exec", self.name] + cmd, check=True)
        return self

    def __exit__(self, *a):
        subprocess.run(["ip", "netns", "del", self.name])


def run_keepalived(ns, path):
    try:
        p = subprocess.run(
            ["ip", "netns", "exec", ns.name, "keepalived", "-t", "-f", path, "-i", CONFIG_ID],
            capture_output=True, text=True, errors="replace", timeout=10,
        )
    except subprocess.TimeoutExpired:
        # keepalived -t itself hangs on a few inputs; the case is then rampart's alone.
        return -999, ["keepalived -t did not finish within 10 s"]
    msgs = [l for l in (p.stderr + p.stdout).splitlines() if l.strip()]
    return p.returncode, msgs


def run_rampart(binary, path):
    p = subprocess.run(
        [binary, "check-config", "-i", CONFIG_ID, "--format", "json", path],
        capture_output=True, text=True, errors="replace", timeout=30,
    )
    try:
        diags = json.loads(p.stdout)
    except json.JSONDecodeError:
        diags = [{"severity": "error", "message": "unparseable output: " + p.stdout[:200] + p.stderr[:200]}]
    return p.returncode, diags


def norm_k(m):
    """keepalived message without its file/line prefix."""
    return re.sub(r"^\((?:[^)]*: )?Line \d+\) ", "", m)


def norm_r(d):
    return "%s: %s" % (d.get("severity"), d.get("message"))


def classify(kmsgs, krc, rrc, rdiags, kbase=None, rbase=None):
    """Verdict of one case. For a mutation of BASE, kbase / rbase are BASE's own messages:
    only what the mutation added counts."""
    kcomplaints = [m for m in kmsgs if "SECURITY VIOLATION" not in m]
    # keepalived -t exits 6 when any script is configured without enable_script_security,
    # however safe the script is; rampart does not (docs/config-parity.md).
    kbad = krc not in (0, 6) or (krc == 6 and kcomplaints)
    rdiags = [d for d in rdiags if d.get("severity") in ("warning", "error")]
    if kbase is not None:
        kcomplaints = [m for m in kcomplaints if norm_k(m) not in kbase]
        kbad = kbad and bool(kcomplaints)
        rdiags = [d for d in rdiags if norm_r(d) not in rbase]
    rwarn = any(d.get("severity") == "warning" for d in rdiags)
    if rrc not in (0, 1):
        return "CRASH"
    if krc == -999:
        return "k-hangs"
    if not kbad and rrc == 0:
        return "warn-only" if rwarn else "agree"
    if kbad and rrc == 1:
        return "agree"
    if kbad and rrc == 0:
        return "softer" if rwarn else "MISSED"
    return "STRICTER"


def fmt_diag(d):
    s = d.get("span") or {}
    return "%s:%s %s: %s" % (s.get("line", "?"), s.get("col", "?"), d.get("severity"), d.get("message"))


# ---- interpretation (VRRP side) ---------------------------------------------------------

DUMP_KEYS = {
    "Virtual Router ID": "virtual_router_id",
    "Priority": "priority",
    "Wantstate": "state",
    "Interface": "interface",
    "VRRP Version": "version",
    "Advert interval": "advert_int",
    "Preempt": "preempt",
    "Preempt delay": "preempt_delay",
    "Accept": "accept",
    "Gratuitous ARP delay": "garp_master_delay",
    "Gratuitous ARP repeat": "garp_master_repeat",
    "Gratuitous ARP refresh": "garp_master_refresh",
    "Gratuitous ARP refresh repeat": "garp_master_refresh_repeat",
    "Gratuitous ARP lower priority delay": "garp_lower_prio_delay",
    "Gratuitous ARP lower priority repeat": "garp_lower_prio_repeat",
    "Down timer adverts": "down_timer_adverts",
    "Authentication type": "auth_type",
}


def keepalived_dump(ns, path, tmp):
    """Start keepalived -P with -d for a moment; return {instance: {key: value}, VIPs}."""
    log = os.path.join(tmp, "kdump.log")
    args = ["ip", "netns", "exec", ns.name, "keepalived", "-n", "-l", "-G", "-d", "-P",
            "-i", CONFIG_ID, "-f", path,
            "-p", os.path.join(tmp, "k.pid"), "-r", os.path.join(tmp, "v.pid"),
            "-c", os.path.join(tmp, "c.pid")]
    with open(log, "w") as f:
        proc = subprocess.Popen(args, stdout=f, stderr=subprocess.STDOUT)
        deadline = time.time() + 10
        text = ""
        crashed = False
        while time.time() < deadline:
            time.sleep(0.1)
            text = open(log).read()
            # keepalived's VRRP child crashes on a few valid files ("Please log an issue");
            # its parent then restarts it with growing delays.
            crashed = "Please log an issue" in text or "Restart of VRRP process" in text
            if "------< Interfaces >------" in text or proc.poll() is not None or crashed:
                break
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    text = open(log).read()
    if crashed:
        return None
    insts = {}
    cur = None
    in_vips = False
    for line in text.splitlines():
        body = line.split(": ", 1)[1] if ": " in line[:30] else line
        s = body.strip()
        if not body.startswith(" "):
            # An ordinary log line interleaved with the dump (state changes, nftables).
            continue
        if s.startswith("VRRP Instance = "):
            cur = insts.setdefault(s.split(" = ", 1)[1], {"vips": []})
            in_vips = False
            continue
        if cur is None:
            continue
        if s.startswith("------<"):
            cur = None
            continue
        if s.startswith("Virtual IP ("):
            in_vips = True
            continue
        if in_vips and re.match(r"^[0-9a-fA-F:.]+(/\d+)? ", s):
            cur["vips"].append(s)
            continue
        in_vips = False
        if " = " in s:
            k, v = s.split(" = ", 1)
            if k in DUMP_KEYS:
                cur[DUMP_KEYS[k]] = v
    return insts


def rampart_dump(binary, path):
    p = subprocess.run([binary, "check-config", "-i", CONFIG_ID, "--dump", path],
                       capture_output=True, text=True, errors="replace", timeout=30)
    if p.returncode != 0:
        return None
    return json.loads(p.stdout)


def secs(d):
    return d["secs"] + d["nanos"] / 1e9 if isinstance(d, dict) else d


def vip_text(v, iface):
    """A rampart VIP the way keepalived's dump prints it."""
    full = 32 if ":" not in v["addr"] else 128
    t = v["addr"] + ("" if v["prefix_len"] == full else "/%d" % v["prefix_len"])
    if v.get("brd"):
        t += " brd " + v["brd"]
    t += " dev " + (v.get("dev") or iface)
    scope = v.get("scope")
    names = {0: "global", 200: "site", 253: "link", 254: "host", 255: "nowhere"}
    if isinstance(scope, dict):
        n = scope.get("Other")
        scope = names.get(n, str(n))
    t += " scope " + (scope.lower() if scope is not None else "global")
    if v.get("label"):
        t += " label " + v["label"]
    if v.get("peer"):
        t += " peer %s/%d" % (v["peer"]["addr"], v["peer"]["len"])
    if v.get("no_track"):
        t += " no_track"
    if v.get("preferred_lft") is not None:
        t += " preferred_lft %d" % v["preferred_lft"]
    return t


def compare_vrrp(kd, rd):
    """Differences between keepalived's dump and rampart's resolved model, as strings."""
    diffs = []
    g = rd.get("global", {})
    rinst = {i["name"]: i for i in rd.get("instances", [])}

    def pick(*vals):
        for v in vals:
            if v is not None:
                return v
        return None

    for name, k in kd.items():
        r = rinst.get(name)
        if r is None:
            diffs.append("%s: missing in rampart" % name)
            continue
        want = {}
        want["virtual_router_id"] = str(r.get("virtual_router_id"))
        want["priority"] = str(r.get("priority"))
        want["interface"] = str(r.get("interface"))
        st = r.get("initial_state")
        want["state"] = "MASTER" if r.get("priority") == 255 else (st or "Backup").upper()
        # keepalived starts a sync group's members in BACKUP unless all are address owners;
        # rampart's FSM starts a non-owner in BACKUP whatever `state` says, so both agree on
        # behaviour and only the dump's wording differs.
        for grp in rd.get("sync_groups", []):
            if name in grp.get("members", []):
                owners = all(rinst.get(m, {}).get("priority") == 255 for m in grp["members"])
                want["state"] = "MASTER" if owners else "BACKUP"
        ver = pick(r.get("version"), g.get("vrrp_version"), "V2")
        want["version"] = ver.lstrip("V")
        adv = secs(r.get("advert_int"))
        # keepalived prints VRRPv3 intervals in milliseconds.
        v3 = want["version"] == "3"
        want["advert_int"] = ("%d sec" % adv) if adv == int(adv) and not v3 else ("%d milli-sec" % round(adv * 1000))
        want["preempt"] = "disabled" if r.get("nopreempt") else "enabled"
        want["garp_master_delay"] = "%d" % secs(pick(r.get("garp_master_delay"), g.get("vrrp_garp_master_delay")))
        want["garp_master_repeat"] = str(pick(r.get("garp_master_repeat"), g.get("vrrp_garp_master_repeat")))
        ref = pick(r.get("garp_master_refresh"), g.get("vrrp_garp_master_refresh"))
        want["garp_master_refresh"] = "%d" % (secs(ref) if ref else 0)
        want["garp_master_refresh_repeat"] = str(pick(r.get("garp_master_refresh_repeat"), g.get("vrrp_garp_master_refresh_repeat")))
        strict = pick(r.get("strict_mode"), g.get("vrrp_strict"))
        want["garp_lower_prio_delay"] = "0" if strict else "%d" % secs(pick(r.get("garp_lower_prio_delay"), g.get("vrrp_garp_lower_prio_delay"), g.get("vrrp_garp_master_delay")))
        want["garp_lower_prio_repeat"] = "0" if strict else str(pick(r.get("garp_lower_prio_repeat"), g.get("vrrp_garp_lower_prio_repeat"), g.get("vrrp_garp_master_repeat")))
        want["down_timer_adverts"] = str(pick(r.get("down_timer_adverts"), g.get("vrrp_down_timer_adverts")))
        auth = r.get("authentication")
        want["auth_type"] = {None: "none", "Pass": "SIMPLE_PASSWORD", "Ah": "IPSEC_AH"}.get(
            auth and auth.get("auth_type"), str(auth))
        vmac = "vmac on" in (k.get("interface") or "")
        if vmac:
            # keepalived prints the VMAC ("vrrp.51, vmac on eth0", "dev vrrp.51@eth0").
            want.pop("interface")
        for key in want:
            got = k.get(key)
            if got is not None and got != want[key]:
                diffs.append("%s.%s: keepalived %r, rampart %r" % (name, key, got, want[key]))
        rv = [vip_text(v, r.get("interface") or "") for v in r.get("virtual_ipaddress", [])]
        kv = [re.sub(r" dev (\S+)@\S+", r" dev \1", x) for x in k["vips"]]
        # IPv6 addresses are printed with their (default) lifetime.
        kv = [x.replace(" preferred_lft forever", "") for x in kv]
        if vmac:
            kv = [re.sub(r" dev \S+", " dev " + (r.get("interface") or ""), x) for x in kv]
        if rv != kv:
            diffs.append("%s VIPs: keepalived %r, rampart %r" % (name, k["vips"], rv))
    return diffs


KEYWORD_CONTEXTS = {
    "top": "%s\n",
    "global_defs": "global_defs {\n    %s\n}\n",
    "vrrp_script": "vrrp_script s {\n    script /bin/true\n    %s\n}\n",
    "vrrp_sync_group": INST % "" + "vrrp_sync_group G {\n    group {\n        VI_1\n    }\n    %s\n}\n",
    "vrrp_instance": INST % "    %s\n",
    "virtual_server": "virtual_server 10.0.0.1 80 {\n    protocol TCP\n    lb_algo rr\n    lb_kind NAT\n    real_server 10.0.1.1 80 {\n    }\n    %s\n}\n",
    "real_server": RS % "        %s\n",
    "TCP_CHECK": RS % "        TCP_CHECK {\n            %s\n        }\n",
    "HTTP_GET": RS % "        HTTP_GET {\n            url {\n                path /\n            }\n            %s\n        }\n",
    "url": RS % "        HTTP_GET {\n            url {\n                path /\n                %s\n            }\n        }\n",
    "MISC_CHECK": RS % "        MISC_CHECK {\n            misc_path /bin/true\n            %s\n        }\n",
}


def keyword_sweep(ns, binary, tmp):
    """Every keyword of keepalived.conf(5) in every common block: where keepalived knows it
    (no "Unknown keyword") rampart must not call it unknown, and the reverse."""
    import gzip
    man = gzip.open("/usr/share/man/man5/keepalived.conf.5.gz", "rt", errors="replace").read()
    words = sorted(set(re.findall(r"\\fB([a-zA-Z_][a-zA-Z0-9_-]*)", man)))
    words = [w for w in words if re.match(r"^[a-z][a-z0-9_-]+$|^[A-Z_]+_CHECK$", w)]
    bad = []
    for ctx, tpl in KEYWORD_CONTEXTS.items():
        for w in words:
            path = os.path.join(tmp, "kw.conf")
            with open(path, "w") as f:
                f.write(tpl % (w + " 1"))
            krc, kmsgs = run_keepalived(ns, path)
            k_unknown = any("Unknown keyword '%s'" % w in m for m in kmsgs)
            rrc, rdiags = run_rampart(binary, path)
            r_unknown = any(d.get("class") == "unknown_keyword" and ("`%s`" % w) in d.get("message", "")
                            for d in rdiags)
            if k_unknown != r_unknown:
                bad.append((ctx, w, "keepalived: %s" % ("unknown" if k_unknown else "known"),
                            "rampart: %s" % ("unknown" if r_unknown else "known")))
    for b in bad:
        print("KEYWORD %-16s %-32s %s, %s" % b)
    print("%d keywords x %d blocks, %d differences" % (len(words), len(KEYWORD_CONTEXTS), len(bad)))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rampart", default=os.path.join(REPO, "target/debug/rampart"))
    ap.add_argument("--json", help="write every case's result here")
    ap.add_argument("--only", help="run only cases whose name contains this")
    ap.add_argument("--show-agree", action="store_true")
    ap.add_argument("--dump", action="store_true", help="also compare VRRP interpretation (slower)")
    ap.add_argument("--keywords", action="store_true",
                    help="only: every keyword of keepalived.conf(5) in every common block, known vs unknown")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("config_sweep.py needs root (network namespace for keepalived's interface checks)")
    if not shutil.which("keepalived"):
        sys.exit("keepalived not installed")

    if args.keywords:
        tmp = tempfile.mkdtemp(prefix="cfgsweep.")
        try:
            with Netns() as ns:
                keyword_sweep(ns, args.rampart, tmp)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return
    cases = (corpus_files() + [("base", BASE, {})] + hand_cases() + mutations(BASE)
             + [("base2", BASE2, {})]
             + [(n.replace("base L", "base2 L"), t, f) for n, t, f in mutations(BASE2)])
    if args.only:
        cases = [c for c in cases if args.only in c[0]]
    results = []
    counts = {}
    tmp = tempfile.mkdtemp(prefix="cfgsweep.")
    try:
        with Netns() as ns:
            kbase = rbase = None
            for name, text, files in cases:
                d = tempfile.mkdtemp(dir=tmp)
                path = os.path.join(d, "keepalived.conf")
                with open(path, "w") as f:
                    f.write(text)
                for n, t in files.items():
                    with open(os.path.join(d, n), "w") as f:
                        f.write(t)
                krc, kmsgs = run_keepalived(ns, path)
                rrc, rdiags = run_rampart(args.rampart, path)
                if name in ("base", "base2"):
                    kbase = {norm_k(m) for m in kmsgs}
                    rbase = {norm_r(d) for d in rdiags}
                mutated = name.startswith("base L") or name.startswith("base2 L")
                verdict = classify(kmsgs, krc, rrc, rdiags,
                                   kbase if mutated else None, rbase if mutated else None)
                entry = {"name": name, "verdict": verdict, "keepalived_rc": krc,
                         "keepalived": kmsgs, "rampart_rc": rrc,
                         "rampart": [fmt_diag(x) for x in rdiags]}
                if args.dump and rrc == 0 and krc == 0 and "vrrp_instance" in text:
                    kd = keepalived_dump(ns, path, d)
                    rd = rampart_dump(args.rampart, path)
                    if kd is None:
                        entry["interpretation"] = ["keepalived's VRRP process crashed"]
                    elif rd is not None:
                        entry["interpretation"] = compare_vrrp(kd, rd)
                        if entry["interpretation"]:
                            verdict = entry["verdict"] = "INTERPRETS"
                results.append(entry)
                counts[verdict] = counts.get(verdict, 0) + 1
                if verdict in ("MISSED", "STRICTER", "CRASH", "INTERPRETS") or args.show_agree:
                    print("== %-10s %s" % (verdict, name))
                    print("   keepalived rc=%d" % krc)
                    for m in kmsgs[:6]:
                        print("     | " + m)
                    print("   rampart rc=%d" % rrc)
                    for x in rdiags[:6]:
                        print("     | " + fmt_diag(x))
                    for x in entry.get("interpretation", []):
                        print("     ~ " + x)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("\n%d cases: %s" % (len(results), ", ".join("%s %d" % kv for kv in sorted(counts.items()))))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
