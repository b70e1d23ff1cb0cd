//! Broken configurations, each with the exact position and class of the diagnostic rampart
//! must give. Error cases must produce exactly that one error; warning cases must produce that
//! warning and no error.

use rampart::config::{
    DiagClass, Diagnostics, Limits, LoadOptions, MemFs, Severity, analyse, load_with,
};

use DiagClass::*;
use Severity::{Error as E, Warning as W};

/// A minimal valid instance body (interface eth0, VRID 1) with the given extra lines.
fn inst(name: &str, extra: &str) -> String {
    format!(
        "vrrp_instance {name} {{\n    interface eth0\n    virtual_router_id 1\n    virtual_ipaddress {{\n        10.0.0.1\n    }}\n{extra}}}\n"
    )
}

/// A virtual server on 10.0.0.1:80 with the given body.
fn vs(body: &str) -> String {
    format!("virtual_server 10.0.0.1 80 {{\n{body}}}\n")
}

struct Case {
    name: &'static str,
    text: String,
    sev: Severity,
    class: DiagClass,
    line: u32,
    col: u32,
    /// A fragment the message or help must contain.
    says: &'static str,
}

fn c(
    name: &'static str,
    text: impl Into<String>,
    sev: Severity,
    class: DiagClass,
    line: u32,
    col: u32,
    says: &'static str,
) -> Case {
    Case {
        name,
        text: text.into(),
        sev,
        class,
        line,
        col,
        says,
    }
}

fn cases() -> Vec<Case> {
    let rs_tcp = "    real_server 10.0.1.1 80 {\n        TCP_CHECK {\n        }\n    }\n";
    vec![
        // --- lexical and structural
        c(
            "unknown top-level keyword",
            "vrrp_instanse VI_1 {\n}\n",
            E,
            UnknownKeyword,
            1,
            1,
            "did you mean `vrrp_instance`",
        ),
        c(
            "unterminated quote",
            "global_defs {\n    router_id \"abc\n}\n",
            E,
            Syntax,
            2,
            15,
            "unterminated",
        ),
        c(
            "unmatched close brace",
            "global_defs {\n}\n}\n",
            E,
            Syntax,
            3,
            1,
            "without a matching",
        ),
        c(
            "unclosed block",
            "global_defs {\n    router_id a\n",
            E,
            Syntax,
            1,
            13,
            "never closed",
        ),
        c(
            "brace without keyword",
            "{\n}\n",
            E,
            Syntax,
            1,
            1,
            "without a keyword",
        ),
        c(
            "block on a plain keyword",
            "global_defs {\n    router_id a {\n    }\n}\n",
            E,
            Syntax,
            2,
            17,
            "does not take a block",
        ),
        c(
            "missing block",
            "global_defs\nvrrp_script s {\n    script /bin/true\n}\n",
            E,
            Missing,
            1,
            13,
            "needs a `{ ... }` block",
        ),
        // --- unknown keywords and typos
        c(
            "typo in sync group (seed 004)",
            format!(
                "{}{}vrrp_sync_group G {{\n    group {{\n        A\n        B\n    }}\n    smtp_alter\n}}\n",
                inst("A", ""),
                inst("B", "    interface eth1\n")
            ),
            E,
            UnknownKeyword,
            21,
            5,
            "did you mean `smtp_alert`",
        ),
        c(
            "typo in instance",
            inst("VI_1", "    prority 100\n"),
            E,
            UnknownKeyword,
            7,
            5,
            "did you mean `priority`",
        ),
        c(
            "typo in global_defs",
            "global_defs {\n    router_di x\n}\n",
            E,
            UnknownKeyword,
            2,
            5,
            "did you mean `router_id`",
        ),
        c(
            "typo in real_server",
            vs("    real_server 10.0.1.1 80 {\n        wieght 2\n    }\n"),
            E,
            UnknownKeyword,
            3,
            9,
            "did you mean `weight`",
        ),
        c(
            "keyword in the wrong block",
            "global_defs {\n    priority 100\n}\n",
            E,
            UnknownKeyword,
            2,
            5,
            "not valid in global_defs",
        ),
        // --- malformed values
        c(
            "state in the wrong case",
            inst("VI_1", "    state Master\n"),
            E,
            BadValue,
            7,
            11,
            "MASTER or BACKUP",
        ),
        c(
            "non-numeric VRID",
            "vrrp_instance VI_1 {\n    interface eth0\n    virtual_router_id abc\n}\n",
            E,
            BadValue,
            3,
            23,
            "integer from 1 to 255",
        ),
        c(
            "advert_int with a unit",
            inst("VI_1", "    advert_int 1s\n"),
            E,
            BadValue,
            7,
            16,
            "time in seconds",
        ),
        c(
            "VIP with a bad octet",
            "vrrp_instance VI_1 {\n    interface eth0\n    virtual_router_id 1\n    virtual_ipaddress {\n        192.168.1.300\n    }\n}\n",
            E,
            BadValue,
            5,
            9,
            "ADDR[/LEN]",
        ),
        c(
            "VIP prefix too long",
            "vrrp_instance VI_1 {\n    interface eth0\n    virtual_router_id 1\n    virtual_ipaddress {\n        192.168.1.3/33\n    }\n}\n",
            E,
            BadValue,
            5,
            9,
            "invalid address",
        ),
        c(
            "VIP with an unknown option",
            "vrrp_instance VI_1 {\n    interface eth0\n    virtual_router_id 1\n    virtual_ipaddress {\n        10.0.0.1/24 device eth0\n    }\n}\n",
            E,
            BadValue,
            5,
            21,
            "address option",
        ),
        c(
            "auth_type in lower case",
            inst(
                "VI_1",
                "    authentication {\n        auth_type pass\n        auth_pass x\n    }\n",
            ),
            E,
            BadValue,
            8,
            19,
            "PASS or AH",
        ),
        c(
            "version 4",
            inst("VI_1", "    version 4\n"),
            E,
            BadValue,
            7,
            13,
            "2 or 3",
        ),
        c(
            "unicast peer not an address",
            inst("VI_1", "    unicast_peer {\n        10.0.0.x\n    }\n"),
            E,
            BadValue,
            8,
            9,
            "IP address",
        ),
        c(
            "track_script weight out of range",
            format!(
                "vrrp_script chk {{\n    script /bin/true\n}}\n{}",
                inst(
                    "VI_1",
                    "    track_script {\n        chk weight 300\n    }\n"
                )
            ),
            E,
            BadValue,
            11,
            20,
            "-253 to 253",
        ),
        c(
            "lb_algo unknown",
            vs("    lb_algo roundrobin\n"),
            E,
            BadValue,
            2,
            13,
            "rr wrr",
        ),
        c(
            "lb_kind in lower case",
            vs("    lb_kind nat\n"),
            E,
            BadValue,
            2,
            13,
            "NAT, DR or TUN",
        ),
        c(
            // keepalived 2.2.7 reads the protocol without case (`tcp` is fine, see
            // tests/config_parity.rs); a protocol IPVS does not balance is an error.
            "protocol IPVS cannot balance",
            vs("    protocol icmp\n"),
            E,
            BadValue,
            2,
            14,
            "TCP, UDP or SCTP",
        ),
        c(
            "virtual server port out of range",
            "virtual_server 10.0.0.1 70000 {\n}\n",
            E,
            BadValue,
            1,
            25,
            "0-65535",
        ),
        c(
            "virtual server bad address",
            "virtual_server 10.0.0 80 {\n}\n",
            E,
            BadValue,
            1,
            16,
            "IP PORT",
        ),
        c(
            "delay_loop negative",
            vs("    delay_loop -1\n"),
            E,
            BadValue,
            2,
            16,
            "time in seconds",
        ),
        c(
            "persistence_granularity non-contiguous",
            vs("    persistence_granularity 255.0.255.0\n"),
            E,
            BadValue,
            2,
            29,
            "netmask",
        ),
        c(
            "digest too short",
            vs(
                "    real_server 10.0.1.1 80 {\n        HTTP_GET {\n            url {\n                path /\n                digest 640205b7b0fc66c1ea91c463fac6334\n            }\n        }\n    }\n",
            ),
            E,
            BadValue,
            6,
            24,
            "32 hex digits",
        ),
        c(
            "digest not hex",
            vs(
                "    real_server 10.0.1.1 80 {\n        HTTP_GET {\n            url {\n                path /\n                digest 640205b7b0fc66c1ea91c463fac6334z\n            }\n        }\n    }\n",
            ),
            E,
            BadValue,
            6,
            24,
            "32 hex digits",
        ),
        c(
            "status_code out of range",
            vs(
                "    real_server 10.0.1.1 80 {\n        HTTP_GET {\n            url {\n                path /\n                status_code 200 600\n            }\n        }\n    }\n",
            ),
            E,
            BadValue,
            6,
            33,
            "100 to 599",
        ),
        c(
            "http_protocol unknown",
            vs(
                "    real_server 10.0.1.1 80 {\n        HTTP_GET {\n            http_protocol 2.0\n            url {\n                path /\n            }\n        }\n    }\n",
            ),
            E,
            BadValue,
            4,
            27,
            "1.0, 1.0C or 1.1",
        ),
        c(
            "vsg range backwards",
            "virtual_server_group G {\n    10.0.0.5-3 80\n}\n",
            E,
            BadValue,
            2,
            5,
            "a.b.c.d-e PORT",
        ),
        c(
            "smtp_server bad port",
            "global_defs {\n    smtp_server 127.0.0.1 smtp\n}\n",
            E,
            BadValue,
            2,
            27,
            "port number",
        ),
        c(
            "mcast group not multicast",
            "global_defs {\n    vrrp_mcast_group4 10.0.0.1\n}\n",
            E,
            BadValue,
            2,
            23,
            "224.0.0.0/4",
        ),
        c(
            "lvs_timeouts bad value",
            "global_defs {\n    lvs_timeouts tcp x\n}\n",
            E,
            BadValue,
            2,
            22,
            "seconds",
        ),
        c(
            "route with bad gateway",
            "static_routes {\n    10.1.0.0/16 via 10.0.0.256\n}\n",
            E,
            BadValue,
            2,
            21,
            "IP address",
        ),
        // --- missing things
        c(
            // Without a port is fine: keepalived gives it the service's port
            // (tests/config_parity.rs); without an address it is not.
            "real_server without address",
            vs("    real_server {\n    }\n"),
            E,
            Missing,
            2,
            17,
            "IP [PORT]",
        ),
        c(
            "vrrp_script without script",
            "vrrp_script chk {\n    interval 2\n}\n",
            E,
            Missing,
            1,
            1,
            "has no `script`",
        ),
        c(
            "instance without interface",
            "vrrp_instance VI_1 {\n    virtual_router_id 1\n}\n",
            E,
            Missing,
            1,
            1,
            "has no `interface`",
        ),
        c(
            "HTTP_GET without url",
            vs(
                "    real_server 10.0.1.1 80 {\n        HTTP_GET {\n            connect_timeout 3\n        }\n    }\n",
            ),
            E,
            Missing,
            3,
            9,
            "no `url",
        ),
        c(
            "notify_master without a script",
            inst("VI_1", "    notify_master\n"),
            E,
            Missing,
            7,
            19,
            "needs a value",
        ),
        // --- semantic errors
        c(
            "VRID 0",
            "vrrp_instance VI_1 {\n    interface eth0\n    virtual_router_id 0\n}\n",
            E,
            Semantic,
            3,
            23,
            "out of range",
        ),
        c(
            "VRID 256",
            "vrrp_instance VI_1 {\n    interface eth0\n    virtual_router_id 256\n}\n",
            E,
            Semantic,
            3,
            23,
            "out of range",
        ),
        c(
            "VRID reused on one interface",
            format!("{}{}", inst("A", ""), inst("B", "")),
            E,
            Semantic,
            10,
            23,
            "already used on interface eth0",
        ),
        c(
            "priority 0",
            inst("VI_1", "    priority 0\n"),
            E,
            Semantic,
            7,
            14,
            "out of range",
        ),
        c(
            "priority 256",
            inst("VI_1", "    priority 256\n"),
            E,
            Semantic,
            7,
            14,
            "out of range",
        ),
        c(
            "fractional advert_int with v2",
            inst("VI_1", "    advert_int 0.5\n"),
            E,
            Semantic,
            7,
            16,
            "version 2",
        ),
        c(
            "mixed VIP families",
            "vrrp_instance VI_1 {\n    interface eth0\n    virtual_router_id 1\n    virtual_ipaddress {\n        10.0.0.1\n        2001:db8::1\n    }\n}\n",
            E,
            Semantic,
            6,
            9,
            "mixes IPv4 and IPv6",
        ),
        c(
            "sync group names unknown instance",
            format!(
                "{}vrrp_sync_group G {{\n    group {{\n        VI_1\n        VI_2\n    }}\n}}\n",
                inst("VI_1", "")
            ),
            E,
            Semantic,
            11,
            9,
            "unknown vrrp_instance `VI_2`",
        ),
        c(
            "instance in two sync groups",
            format!(
                "{}vrrp_sync_group G1 {{\n    group {{\n        VI_1\n    }}\n}}\nvrrp_sync_group G2 {{\n    group {{\n        VI_1\n    }}\n}}\n",
                inst("VI_1", "")
            ),
            E,
            Semantic,
            15,
            9,
            "in two sync groups",
        ),
        c(
            "sync group member twice",
            format!(
                "{}vrrp_sync_group G {{\n    group {{\n        VI_1 VI_1\n    }}\n}}\n",
                inst("VI_1", "")
            ),
            E,
            Duplicate,
            10,
            14,
            "listed twice",
        ),
        c(
            "track_script names unknown script",
            format!(
                "vrrp_script chk_nginx {{\n    script /bin/true\n}}\n{}",
                inst("VI_1", "    track_script {\n        chk_ngnix\n    }\n")
            ),
            E,
            Semantic,
            11,
            9,
            "did you mean `chk_nginx`",
        ),
        c(
            "duplicate real server",
            vs(&format!("{rs_tcp}{rs_tcp}")),
            E,
            Duplicate,
            6,
            5,
            "given twice",
        ),
        c(
            "duplicate sorry server",
            vs("    sorry_server 10.0.2.1 80\n    sorry_server 10.0.2.2 80\n"),
            E,
            Duplicate,
            3,
            5,
            "sorry_server given twice",
        ),
        c(
            "sorry server is a real server",
            vs(&format!("    sorry_server 10.0.1.1 80\n{rs_tcp}")),
            E,
            Duplicate,
            2,
            5,
            "also a real_server",
        ),
        c(
            "virtual server names unknown group",
            "virtual_server group NOPE {\n}\n",
            E,
            Semantic,
            1,
            1,
            "unknown virtual_server_group",
        ),
        c(
            "virtual server defined twice",
            format!("{}{}", vs(""), vs("")),
            E,
            Duplicate,
            3,
            1,
            "defined twice",
        ),
        c(
            "instance defined twice",
            format!(
                "{}{}",
                inst("VI_1", ""),
                inst("VI_1", "    interface eth1\n")
            ),
            E,
            Duplicate,
            8,
            1,
            "defined twice",
        ),
        c(
            "AH with state MASTER",
            inst(
                "VI_1",
                "    state MASTER\n    authentication {\n        auth_type AH\n        auth_pass x\n    }\n",
            ),
            E,
            Semantic,
            7,
            5,
            "incompatible with auth_type AH",
        ),
        c(
            "vrrp_strict with authentication",
            format!(
                "global_defs {{\n    vrrp_strict\n}}\n{}",
                inst("VI_1", "    authentication {\n        auth_pass x\n    }\n")
            ),
            E,
            Semantic,
            10,
            5,
            "not allowed with vrrp_strict",
        ),
        c(
            "vrrp_strict with MASTER below 255",
            format!(
                "global_defs {{\n    vrrp_strict\n}}\n{}",
                inst("VI_1", "    state MASTER\n")
            ),
            E,
            Semantic,
            10,
            5,
            "address owner",
        ),
        c(
            "unicast peers of two families",
            inst(
                "VI_1",
                "    unicast_src_ip 10.0.0.2\n    unicast_peer {\n        10.0.0.3\n        2001:db8::3\n    }\n",
            ),
            E,
            Semantic,
            10,
            9,
            "same address family",
        ),
        c(
            "authentication with VRRPv3",
            inst(
                "VI_1",
                "    version 3\n    authentication {\n        auth_pass x\n    }\n",
            ),
            E,
            Semantic,
            8,
            5,
            "no authentication",
        ),
        // --- preprocessing
        c(
            "SEQ with bad arguments",
            "~SEQ(i, a, 3) x\n",
            E,
            Preprocess,
            1,
            1,
            "~SEQ(var",
        ),
        c(
            "SEQ without closing paren",
            "~SEQ(i, 1, 3 x\n",
            E,
            Preprocess,
            1,
            1,
            "closing",
        ),
        c(
            "conditional without id",
            "@ router_id x\n",
            E,
            Preprocess,
            1,
            1,
            "config id",
        ),
        c(
            "self-referencing definition",
            "$A=${A}x\nglobal_defs {\n    router_id $A\n}\n",
            E,
            Preprocess,
            3,
            15,
            "nested deeper",
        ),
        // --- warnings
        c(
            "nb_get_retry deprecated",
            vs(
                "    real_server 10.0.1.1 80 {\n        TCP_CHECK {\n            nb_get_retry 3\n        }\n    }\n",
            ),
            W,
            Deprecated,
            4,
            13,
            "use `retry`",
        ),
        c(
            "nopreempt with MASTER",
            inst("VI_1", "    state MASTER\n    nopreempt\n"),
            W,
            Semantic,
            8,
            5,
            "nopreempt with state MASTER",
        ),
        c(
            "empty unicast_peer",
            inst("VI_1", "    unicast_peer {\n    }\n"),
            W,
            Semantic,
            7,
            5,
            "falls back to multicast",
        ),
        c(
            "quorum above total weight",
            vs(&format!("    quorum 5\n{rs_tcp}")),
            W,
            Semantic,
            2,
            12,
            "above the total weight",
        ),
        c(
            "BFD_CHECK unsupported",
            vs("    real_server 10.0.1.1 80 {\n        BFD_CHECK {\n        }\n    }\n"),
            W,
            Unsupported,
            3,
            9,
            "not supported by rampart yet",
        ),
        c(
            "track_process naming no vrrp_track_process",
            inst("VI_1", "    track_process {\n        p\n    }\n"),
            E,
            Semantic,
            8,
            9,
            "unknown vrrp_track_process block `p`",
        ),
        c(
            "global snmp unsupported",
            "global_defs {\n    enable_snmp_vrrp\n}\n",
            W,
            Unsupported,
            2,
            5,
            "not supported by rampart yet",
        ),
        c(
            "include without match",
            "include /nonexistent/rampart-test-*.conf\n",
            W,
            Include,
            1,
            1,
            "matches no file",
        ),
    ]
}

fn run(text: &str) -> Diagnostics {
    let fs = MemFs::default();
    let opts = LoadOptions {
        config_id: Some("test".into()),
    };
    analyse("/t/rampart.conf", text, &opts, &fs, &Limits::default()).1
}

#[test]
fn broken_configs_give_exact_diagnostics() {
    let cases = cases();
    assert!(cases.len() >= 40, "only {} cases", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        let d = run(&case.text);
        let errors: Vec<_> = d.errors().collect();
        let hit = d.0.iter().find(|x| {
            x.severity == case.sev
                && x.class == case.class
                && x.span.as_ref().map(|s| (s.line, s.col)) == Some((case.line, case.col))
        });
        let ok = match hit {
            None => false,
            Some(h) => {
                let text = format!("{} {}", h.message, h.help.clone().unwrap_or_default());
                let says = text.contains(case.says);
                let count_ok = match case.sev {
                    Severity::Error => errors.len() == 1,
                    Severity::Warning | Severity::Info => errors.is_empty(),
                };
                says && count_ok
            }
        };
        if !ok {
            failures.push(format!(
                "--- {}: expected {:?} {:?} at {}:{} saying {:?}; got:\n{}",
                case.name, case.sev, case.class, case.line, case.col, case.says, d
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn include_cycle_names_the_chain() {
    let mut fs = MemFs::default();
    fs.files
        .insert("/c/a.conf".into(), "include b.conf\n".into());
    fs.files.insert(
        "/c/b.conf".into(),
        "global_defs {\n}\ninclude a.conf\n".into(),
    );
    let opts = LoadOptions {
        config_id: Some("x".into()),
    };
    let d = load_with(
        "/c/a.conf",
        "include b.conf\n",
        &opts,
        &fs,
        &Limits::default(),
    )
    .expect_err("cycle");
    let e: Vec<_> = d.errors().collect();
    assert_eq!(e.len(), 1, "{d}");
    assert_eq!(e[0].class, Include);
    let s = e[0].span.as_ref().expect("span");
    assert_eq!((&*s.file, s.line, s.col), ("/c/b.conf", 3, 1));
    assert!(
        e[0].message.contains("/c/a.conf -> /c/b.conf -> /c/a.conf"),
        "{}",
        e[0].message
    );
}

#[test]
fn errors_render_with_caret_and_help() {
    let d = run(&inst("VI_1", "    state Master\n"));
    let r = d.0[0].render();
    assert_eq!(
        r,
        "/t/rampart.conf:7:11: error: invalid value for `state` `Master`\n    \
         \x20   state Master\n    \
         \x20         ^\n    \
         = help: expected MASTER or BACKUP (upper case)\n"
    );
}

/// A keyword keepalived knows is never called "unknown", in any block.
#[test]
fn keepalived_keywords_are_never_unknown() {
    use rampart::config::keywords::KEEPALIVED_ALL;
    type Wrap = fn(&str) -> String;
    let wrappers: [(&str, Wrap); 5] = [
        ("top", |k| format!("{k}\n")),
        ("global_defs", |k| format!("global_defs {{\n    {k}\n}}\n")),
        ("vrrp_instance", |k| inst("VI_1", &format!("    {k}\n"))),
        ("virtual_server", |k| vs(&format!("    {k}\n"))),
        ("real_server", |k| {
            vs(&format!(
                "    real_server 10.0.1.1 80 {{\n        {k}\n    }}\n"
            ))
        }),
    ];
    let mut bad = Vec::new();
    for k in KEEPALIVED_ALL {
        for (ctx, wrap) in &wrappers {
            let d = run(&wrap(k));
            for x in &d.0 {
                if x.class == UnknownKeyword && x.message.starts_with("unknown keyword") {
                    bad.push(format!("{k} in {ctx}: {}", x.message));
                }
            }
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}
