//! Parity with `keepalived -t -f FILE` (2.2.7), case by case, as data.
//!
//! Every row is a configuration that the differential sweep (`benches/config_sweep.py`) found
//! rampart treating differently from keepalived, with what keepalived says about it (exit
//! status and a fragment of its message, recorded from keepalived 2.2.7) and what rampart
//! must say now: accept silently, warn, or reject — each with a fragment of the message.
//! Rows marked `deliberate` are differences kept on purpose (docs/config-parity.md).
//!
//! `rows_hold_for_rampart` checks rampart's verdict (pure, no tools needed).
//! `rows_hold_for_keepalived` re-runs keepalived -t on every row, when keepalived is installed
//! and the test runs as root (a network namespace holds veth interfaces eth0/eth1 so that
//! keepalived's interface checks pass), so that the recorded keepalived verdicts stay true.

#[path = "common/netns.rs"]
mod netns;

use rampart::config::{Limits, LoadOptions, MemFs, Severity, analyse};

#[derive(Debug, Clone, Copy)]
enum Rampart {
    /// No error, no warning.
    Accept,
    /// No error; a warning containing the fragment.
    Warn(&'static str),
    /// An error (with a file:line:col span) whose message or help contains the fragment.
    Reject(&'static str),
}
use Rampart::*;

struct Row {
    name: &'static str,
    text: String,
    /// keepalived -t's exit status and a fragment of its output ("" = says nothing).
    keepalived: (i32, &'static str),
    rampart: Rampart,
    /// A difference kept on purpose (see docs/config-parity.md).
    deliberate: bool,
}

const INST: &str = "vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    priority 100
    virtual_ipaddress {
        10.0.0.1
    }
";

fn inst(extra: &str) -> String {
    format!("{INST}{extra}}}\n")
}

/// A complete virtual server; `extra` goes before the real server.
fn vs(extra: &str) -> String {
    format!(
        "virtual_server 10.0.0.1 80 {{\n    protocol TCP\n    lb_algo rr\n    lb_kind NAT\n{extra}    real_server 10.0.1.1 80 {{\n        TCP_CHECK {{\n        }}\n    }}\n}}\n"
    )
}

/// A virtual server whose real server has the given checker body.
fn rs(checker: &str) -> String {
    format!(
        "virtual_server 10.0.0.1 80 {{\n    protocol TCP\n    lb_algo rr\n    lb_kind NAT\n    real_server 10.0.1.1 80 {{\n{checker}    }}\n}}\n"
    )
}

fn script(extra: &str) -> String {
    format!("vrrp_script chk {{\n    script \"/bin/true\"\n{extra}}}\n")
}

fn global(extra: &str) -> String {
    format!("global_defs {{\n{extra}}}\n")
}

fn row(
    name: &'static str,
    text: impl Into<String>,
    keepalived: (i32, &'static str),
    rampart: Rampart,
) -> Row {
    Row {
        name,
        text: text.into(),
        keepalived,
        rampart,
        deliberate: false,
    }
}

fn deliberate(
    name: &'static str,
    text: impl Into<String>,
    keepalived: (i32, &'static str),
    rampart: Rampart,
) -> Row {
    Row {
        deliberate: true,
        ..row(name, text, keepalived, rampart)
    }
}

fn rows() -> Vec<Row> {
    let vs_two_rs = |extra: &str, w1: u32, w2: u32| {
        format!(
            "virtual_server 10.0.0.1 80 {{\n    protocol TCP\n    lb_algo rr\n    lb_kind NAT\n{extra}    real_server 10.0.1.1 80 {{\n        weight {w1}\n    }}\n    real_server 10.0.1.2 80 {{\n        weight {w2}\n    }}\n}}\n"
        )
    };
    vec![
        // --- whole seconds where keepalived reads an integer (it ignores a fraction and keeps
        // its default, so rampart would otherwise run a different timer).
        row(
            "vrrp_script interval with a fraction",
            script("    interval 1.5\n"),
            (5, "vrrp script interval '1.5' must be between 1 and 4294"),
            Reject("whole seconds from 1 to 4294"),
        ),
        row(
            "vrrp_script interval 0",
            script("    interval 0\n"),
            (5, "vrrp script interval must be greater than 0"),
            Reject("whole seconds from 1 to 4294"),
        ),
        row(
            "vrrp_script timeout 0",
            script("    timeout 0\n"),
            (5, "vrrp script timeout must be greater than 0"),
            Reject("whole seconds from 1 to 4294"),
        ),
        row(
            "smtp_connect_timeout 0",
            global("    smtp_connect_timeout 0\n"),
            (5, "smtp_conect_timeout must be greater than 0"),
            Reject("whole seconds from 1 to 4294"),
        ),
        row(
            "smtp_connect_timeout with a fraction",
            global("    smtp_connect_timeout 1.5\n"),
            (5, "smtp_connect_timeout '1.5' must be in [0, 4294]"),
            Reject("whole seconds"),
        ),
        row(
            "vrrp_garp_master_delay with a fraction",
            global("    vrrp_garp_master_delay 1.5\n"),
            (5, "vrrp_garp_master_delay '1.5' invalid"),
            Reject("whole seconds from 0 to 4294"),
        ),
        row(
            "vrrp_garp_master_delay above 4294",
            global("    vrrp_garp_master_delay 4295\n"),
            (5, "outside range [0, 4294]"),
            Reject("whole seconds from 0 to 4294"),
        ),
        row(
            "vrrp_garp_master_refresh with a fraction",
            global("    vrrp_garp_master_refresh 1.5\n"),
            (5, "Invalid vrrp_garp_master_refresh '1.5'"),
            Reject("whole seconds"),
        ),
        row(
            "vrrp_garp_lower_prio_delay with a fraction",
            global("    vrrp_garp_lower_prio_delay 0.5\n"),
            (5, "vrrp_garp_lower_prio_delay '0.5' invalid"),
            Reject("whole seconds from 0 to 4294"),
        ),
        row(
            "instance garp_master_delay with a fraction",
            inst("    garp_master_delay 1.5\n"),
            (5, "garp_master_delay '1.5' invalid"),
            Reject("whole seconds from 0 to 4294"),
        ),
        row(
            "instance garp_master_refresh with a fraction",
            inst("    garp_master_refresh 1.5\n"),
            (5, "Invalid garp_master_refresh '1.5'"),
            Reject("whole seconds"),
        ),
        row(
            "instance garp_lower_prio_delay with a fraction",
            inst("    garp_lower_prio_delay 0.5\n"),
            (5, "garp_lower_prio_delay '0.5' invalid"),
            Reject("whole seconds from 0 to 4294"),
        ),
        row(
            "misc_timeout with a fraction",
            rs(
                "        MISC_CHECK {\n            misc_path /bin/true\n            misc_timeout 1.5\n        }\n",
            ),
            (6, "Invalid misc_timeout value '1.5'"),
            Reject("whole seconds from 0 to 4294"),
        ),
        row(
            "VIP label longer than 15 characters",
            inst("").replace(
                "10.0.0.1\n",
                "10.0.0.1/24 dev eth0 label eth0:abcdefghijklmnop\n",
            ),
            (5, "is longer than maximum length 15 - removing address"),
            Reject("at most 15 characters"),
        ),
        row(
            "connect_port at the virtual_server level",
            vs("    connect_port 81\n"),
            (5, "Unknown keyword 'connect_port'"),
            Reject("`connect_port` is not valid in virtual_server"),
        ),
        row(
            "connect_port at the real_server level",
            rs("        connect_port 82\n        TCP_CHECK {\n        }\n"),
            (5, "Unknown keyword 'connect_port'"),
            Reject("`connect_port` is not valid in real_server"),
        ),
        row(
            "bind_if / log_all_failures at the real_server level",
            rs("        bind_if eth0\n        log_all_failures\n        TCP_CHECK {\n        }\n"),
            (5, "Unknown keyword 'bind_if'"),
            Reject("write it inside each checker"),
        ),
        row(
            "a keyword rampart does not support yet, in the wrong block",
            inst("    vrrp_iptables\n"),
            (5, "Unknown keyword 'vrrp_iptables'"),
            Reject("keepalived reads `vrrp_iptables` in global_defs"),
        ),
        row(
            "enable_sni in HTTP_GET",
            rs(
                "        HTTP_GET {\n            enable_sni\n            url {\n                path /\n            }\n        }\n",
            ),
            (0, ""),
            Warn("`enable_sni` has no effect in HTTP_GET"),
        ),
        row(
            "persistence_engine",
            vs("    persistence_engine sip\n"),
            (0, ""),
            Warn("`persistence_engine` is not supported by rampart yet"),
        ),
        row(
            "protocol in lower case",
            vs("").replace("protocol TCP", "protocol tcp"),
            (0, ""),
            Accept,
        ),
        deliberate(
            "vrrp_strict off (keepalived turns strict mode on)",
            global("    vrrp_strict off\n"),
            (0, ""),
            Reject("`vrrp_strict` takes no value"),
        ),
        deliberate(
            "nopreempt off (keepalived: preempt disabled)",
            inst("    state BACKUP\n    nopreempt off\n"),
            (0, ""),
            Reject("keepalived 2.2.7 ignores the value"),
        ),
        deliberate(
            "virtual_server inhibit_on_failure with a value",
            vs("    inhibit_on_failure 1\n"),
            (0, ""),
            Reject("`inhibit_on_failure` takes no value"),
        ),
        row(
            "a port-0 virtual_server without persistence",
            vs("").replace("10.0.0.1 80 {", "10.0.0.1 0 {"),
            (5, "zero port only valid for persistent services - setting"),
            Warn("persistence_timeout 360 is used"),
        ),
        row(
            "real_server without a port",
            rs("").replace("real_server 10.0.1.1 80", "real_server 10.0.1.1"),
            (0, ""),
            Accept,
        ),
        row(
            "fwmark DR real server with a port",
            "virtual_server fwmark 1 {\n    lb_algo rr\n    lb_kind DR\n    real_server 10.0.1.1 80 {\n    }\n}\n",
            (5, "has port specified - clearing"),
            Warn("port of real_server 10.0.1.1 is ignored"),
        ),
        row(
            "ha_suspend on a fwmark service",
            "virtual_server fwmark 1 {\n    lb_algo rr\n    lb_kind DR\n    ha_suspend\n    real_server 10.0.1.1 0 {\n    }\n}\n",
            (
                5,
                "cannot use ha_suspend with fwmarks - clearing ha_suspend",
            ),
            Warn("`ha_suspend` has no effect on the fwmark 1 virtual server"),
        ),
        row(
            "DR sorry server on another port",
            vs("    sorry_server 10.0.9.9 8080\n").replace("lb_kind NAT", "lb_kind DR"),
            (5, "sorry server ports don't match - resetting"),
            Warn("DR/TUN cannot translate ports"),
        ),
        deliberate(
            "sorry server that is also a real server",
            "virtual_server 10.0.0.1 80 {\n    protocol TCP\n    lb_algo rr\n    lb_kind NAT\n    sorry_server 10.0.1.1 80\n    real_server 10.0.1.1 80 {\n        inhibit_on_failure\n    }\n}\n",
            (5, "matches sorry server, but inhibit setting differs"),
            Reject("is also a real_server"),
        ),
        row(
            "an undefined $NAME",
            global("    router_id $NOPE\n"),
            (0, ""),
            Warn("`$NOPE` is not defined"),
        ),
        // --- ranges
        row(
            "preempt_delay above 1000",
            inst("    state BACKUP\n    preempt_delay 1001\n"),
            (5, "Preempt_delay not valid! must be between 0-1000"),
            Reject("from 0 to 1000 seconds"),
        ),
        row(
            "vrrp_startup_delay 0",
            global("    vrrp_startup_delay 0\n"),
            (5, "vrrp_startup_delay '0' is invalid"),
            Reject("above 0"),
        ),
        row(
            "connect_timeout 0",
            rs("        TCP_CHECK {\n            connect_timeout 0\n        }\n"),
            (5, "connect_timeout 0 invalid"),
            Reject("above 0"),
        ),
        row(
            "delay_loop 0",
            vs("    delay_loop 0\n"),
            (5, "virtual server delay loop '0' invalid"),
            Reject("above 0"),
        ),
        row(
            "connect_port 0",
            rs("        TCP_CHECK {\n            connect_port 0\n        }\n"),
            (5, "Invalid checker connect_port '0'"),
            Reject("a port number 1-65535"),
        ),
        row(
            "ops on a TCP service",
            vs("    ops\n"),
            (5, "one packet scheduling requires UDP"),
            Reject("needs a UDP service"),
        ),
        row(
            "smtp_server that is neither an address nor a host name",
            global("    smtp_server -1\n"),
            (5, "Invalid smtp server -1"),
            Reject("an IP address or a host name"),
        ),
        // --- keepalived reports and patches; rampart warns and interprets the same way.
        row(
            "scope on an IPv6 VIP",
            inst("").replace("10.0.0.1\n", "2001:db8::1/64 dev eth0 scope link\n"),
            (5, "Cannot specify scope for IPv6 addresses"),
            Warn("`scope` is ignored for the IPv6 address"),
        ),
        row(
            "label on an IPv6 VIP",
            inst("").replace("10.0.0.1\n", "2001:db8::1/64 dev eth0 label eth0:v6\n"),
            (5, "Cannot specify label for IPv6 addresses"),
            Warn("`label` is ignored for the IPv6 address"),
        ),
        row(
            "sync group of one instance",
            format!(
                "{}vrrp_sync_group G {{\n    group {{\n        VI_1\n    }}\n}}\n",
                inst("")
            ),
            (5, "Sync group G has only 1 virtual router(s)"),
            Warn("has only one member"),
        ),
        row(
            "empty notification_email block",
            global("    notification_email {\n    }\n"),
            (5, "empty notification_email block"),
            Warn("empty `notification_email` block"),
        ),
        row(
            "empty virtual_server_group",
            "virtual_server_group G {\n}\n",
            (5, "virtual server group G has no entries"),
            Warn("has no members"),
        ),
        row(
            "virtual_server without real servers",
            "virtual_server 10.0.0.1 80 {\n    protocol TCP\n    lb_algo rr\n    lb_kind NAT\n    sorry_server 10.0.9.9 80\n}\n",
            (5, "has no real servers - ignoring"),
            Warn("has no real_server"),
        ),
        row(
            "virtual_server without lb_algo",
            vs("").replace("    lb_algo rr\n", ""),
            (5, "no scheduler set, setting default 'wlc'"),
            Warn("the scheduler is wlc"),
        ),
        row(
            "virtual_server without lb_kind",
            vs("").replace("    lb_kind NAT\n", ""),
            (5, "no forwarding method set, setting default NAT"),
            Warn("the forwarding method is NAT"),
        ),
        row(
            "fwmark virtual_server without lb_algo / lb_kind",
            "virtual_server fwmark 1 {\n    real_server 10.0.1.1 80 {\n    }\n}\n",
            (5, "Virtual server FWM 1: no scheduler set"),
            Warn("has no `lb_algo`"),
        ),
        row(
            "track_interface listed twice",
            inst("    track_interface {\n        eth1\n        eth1 weight 5\n    }\n"),
            (5, "duplicate track_interface eth1 - ignoring"),
            Warn("`eth1` listed twice in `track_interface`"),
        ),
        row(
            "track_script listed twice",
            format!(
                "{}{}",
                script(""),
                inst("    track_script {\n        chk\n        chk weight 0\n    }\n")
            ),
            (6, "duplicate track_script chk - ignoring"),
            Warn("`chk` listed twice in `track_script`"),
        ),
        row(
            "preempt_delay with state MASTER",
            inst("    state MASTER\n    preempt_delay 10\n"),
            (5, "preempt delay will not work with initial state MASTER"),
            Warn("preempt_delay has no effect with state MASTER"),
        ),
        row(
            "default quorum above a total weight of 0",
            vs_two_rs("", 0, 0),
            (5, "exceeds total weight of real servers 0"),
            Warn("above the total weight 0"),
        ),
        row(
            "track_file listed twice",
            format!(
                "track_file tf {{\n    file /tmp/rampart-parity-tf\n}}\n{}",
                inst("    track_file {\n        tf\n        tf weight 2\n    }\n")
            ),
            (5, "duplicate track_file tf - ignoring"),
            Warn("`tf` listed twice in `track_file`"),
        ),
        row(
            "hysteresis not below quorum",
            vs_two_rs("    quorum 1\n    hysteresis 1\n", 1, 1),
            (5, "hysteresis 1 >= quorum 1; setting hysteresis to 0"),
            Warn("reduced to 0, as keepalived does"),
        ),
        row(
            "quorum above the total weight",
            vs_two_rs("    quorum 5\n", 2, 1),
            (5, "reducing quorum to 3"),
            Warn("reduced to 3, as keepalived does"),
        ),
        row(
            "rules without a priority",
            inst(
                "    virtual_rules {\n        from 10.1.0.0/16 table 100\n        to 10.2.0.0/16 table 101\n    }\n",
            ),
            (5, "Rule has no preference specified - setting to 16383"),
            Warn("16383 is used"),
        ),
        // --- kept on purpose
        deliberate(
            "unicast_peer with vrrp_strict (keepalived runs it)",
            format!(
                "{}{}",
                global("    vrrp_strict\n"),
                inst("    unicast_peer {\n        10.0.0.9\n    }\n")
            ),
            (0, ""),
            Warn("unicast_peer with vrrp_strict"),
        ),
        deliberate(
            "nb_get_retry in TCP_CHECK (keepalived: unknown there; rampart: retry)",
            rs("        TCP_CHECK {\n            nb_get_retry 3\n        }\n"),
            (5, "Unknown keyword 'nb_get_retry'"),
            Warn("only in HTTP_GET and SSL_GET"),
        ),
        row(
            "nb_get_retry in HTTP_GET",
            rs(
                "        HTTP_GET {\n            nb_get_retry 3\n            url {\n                path /\n            }\n        }\n",
            ),
            (5, "nb_get_retry is deprecated - please use 'retry'"),
            Warn("`nb_get_retry` is deprecated"),
        ),
        deliberate(
            "vrrp_garp_interval 0 as in keepalived's distributed sample",
            global("    vrrp_garp_interval 0\n    vrrp_gna_interval 0\n"),
            (5, "vrrp_garp_interval '0' is invalid"),
            Accept,
        ),
        deliberate(
            "smtp_server given as a host name (rampart resolves it)",
            global("    smtp_server mail.example.org\n"),
            (5, "Invalid smtp server mail.example.org"),
            Accept,
        ),
        deliberate(
            "scripts without enable_script_security",
            inst("    notify_master \"/bin/true\"\n"),
            (
                6,
                "SECURITY VIOLATION - scripts are being executed but script_security not enabled",
            ),
            Accept,
        ),
        deliberate(
            "virtual_server naming an unknown group",
            "virtual_server group NOPE {\n    protocol TCP\n    lb_algo rr\n    lb_kind NAT\n    real_server 10.0.1.1 80 {\n    }\n}\n",
            (0, ""),
            Reject("unknown virtual_server_group `NOPE`"),
        ),
        deliberate(
            "an extra value keepalived ignores",
            global("    router_id a b\n"),
            (0, ""),
            Reject("unexpected extra value `b`"),
        ),
        deliberate(
            "non-contiguous persistence_granularity",
            vs("    persistence_timeout 10\n    persistence_granularity 255.0.255.0\n"),
            (0, ""),
            Reject("persistence_granularity"),
        ),
        row(
            "real server weight above ipvsadm's 65535 (keepalived: up to 2147483647)",
            rs("        weight 65536\n"),
            (0, ""),
            Accept,
        ),
        deliberate(
            "sorry_server twice (keepalived uses the last)",
            vs("    sorry_server 10.0.9.1 80\n    sorry_server 10.0.9.2 80\n"),
            (0, ""),
            Reject("sorry_server given twice"),
        ),
        // --- agreements worth keeping (they were wrong once or are easy to break)
        row(
            "fractional delay_loop",
            vs("    delay_loop 1.5\n"),
            (0, ""),
            Accept,
        ),
        row(
            "fractional connect_timeout",
            rs("        TCP_CHECK {\n            connect_timeout 0.5\n        }\n"),
            (0, ""),
            Accept,
        ),
        row(
            "fractional preempt_delay",
            inst("    state BACKUP\n    preempt_delay 1.5\n"),
            (0, ""),
            Accept,
        ),
        row(
            "garp_master_refresh 0 (off)",
            inst("    garp_master_refresh 0\n"),
            (0, ""),
            Accept,
        ),
        row(
            "ops on a fwmark service",
            "virtual_server fwmark 1 {\n    lb_algo rr\n    lb_kind NAT\n    ops\n    real_server 10.0.1.1 80 {\n    }\n}\n",
            (0, ""),
            Accept,
        ),
        row(
            "priority out of range",
            inst("    priority 300\n"),
            (5, "Priority not valid! must be between 1 & 255"),
            Reject("priority"),
        ),
    ]
}

fn rampart_diags(text: &str) -> rampart::config::Diagnostics {
    let fs = MemFs {
        files: [("/t/keepalived.conf".into(), text.to_string())].into(),
    };
    let opts = LoadOptions {
        config_id: Some("parity".into()),
    };
    analyse("/t/keepalived.conf", text, &opts, &fs, &Limits::default()).1
}

#[test]
fn rows_hold_for_rampart() {
    let mut failures = Vec::new();
    for r in rows() {
        let d = rampart_diags(&r.text);
        let says = |x: &rampart::config::Diagnostic, frag: &str| {
            x.message.contains(frag) || x.help.as_deref().is_some_and(|h| h.contains(frag))
        };
        let errors: Vec<_> = d.errors().collect();
        let warnings: Vec<_> = d.warnings().collect();
        let ok = match r.rampart {
            Accept => errors.is_empty() && warnings.is_empty(),
            Warn(f) => errors.is_empty() && warnings.iter().any(|w| says(w, f)),
            Reject(f) => errors.iter().any(|e| {
                says(e, f)
                    && e.severity == Severity::Error
                    && e.span.as_ref().is_some_and(|s| s.line > 0 && s.col > 0)
            }),
        };
        if !ok {
            failures.push(format!("{}: expected {:?}, got:\n{d}", r.name, r.rampart));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_difference_is_either_fixed_or_deliberate() {
    // A row where keepalived complains and rampart accepts silently must be marked
    // deliberate (and documented); the same for rampart rejecting what keepalived accepts.
    for r in rows() {
        let k_complains = r.keepalived.0 != 0;
        let silent = matches!(r.rampart, Accept);
        let rejects = matches!(r.rampart, Reject(_));
        if (k_complains && silent) || (!k_complains && rejects) {
            assert!(
                r.deliberate,
                "{}: a difference not marked deliberate",
                r.name
            );
        }
    }
}

#[test]
fn rows_hold_for_keepalived() {
    if std::process::Command::new("keepalived")
        .arg("-v")
        .output()
        .is_err()
    {
        eprintln!("skipping: keepalived not installed");
        return;
    }
    if !netns::available() {
        return;
    }
    let mut lab = netns::Lab::new("parity");
    let ns = lab.ns("k");
    lab.exec_ok(
        &ns,
        &[
            "ip", "link", "add", "eth0", "type", "veth", "peer", "name", "eth1",
        ],
    );
    lab.exec_ok(&ns, &["ip", "link", "set", "eth0", "up"]);
    lab.exec_ok(&ns, &["ip", "link", "set", "eth1", "up"]);
    let mut failures = Vec::new();
    for (n, r) in rows().iter().enumerate() {
        let path = lab.path(&format!("case{n}.conf"));
        std::fs::write(&path, &r.text).expect("write case");
        let p = path.to_str().expect("utf8 path");
        let o = lab.exec(&ns, &["keepalived", "-t", "-f", p, "-i", "parity"]);
        let out = format!(
            "{}{}",
            String::from_utf8_lossy(&o.stderr),
            String::from_utf8_lossy(&o.stdout)
        );
        let rc = o.status.code().unwrap_or(-1);
        let (want_rc, frag) = r.keepalived;
        if rc != want_rc || !out.contains(frag) {
            failures.push(format!(
                "{}: recorded keepalived -t exit {want_rc} saying {frag:?}; got exit {rc}:\n{out}",
                r.name
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn load(text: &str) -> rampart::config::Config {
    let fs = MemFs {
        files: [("/t/keepalived.conf".into(), text.to_string())].into(),
    };
    let opts = LoadOptions {
        config_id: Some("parity".into()),
    };
    let (cfg, d) = analyse("/t/keepalived.conf", text, &opts, &fs, &Limits::default());
    assert!(!d.has_errors(), "{d}");
    cfg
}

/// Values keepalived 2.2.7 patches, read from its `-d` dump (benches/config_sweep.py --dump),
/// resolved the same way by rampart.
#[test]
fn patched_values_are_interpreted_like_keepalived() {
    use std::time::Duration;
    // vrrp_strict: "Gratuitous ARP lower priority delay = 0 / repeat = 0" whatever is written.
    let cfg = load(&format!(
        "{}{}",
        global(
            "    vrrp_strict\n    vrrp_garp_lower_prio_repeat 3\n    vrrp_garp_lower_prio_delay 7\n"
        ),
        inst("    garp_lower_prio_repeat 4\n    garp_lower_prio_delay 8\n")
    ));
    let i = &cfg.instances[0];
    assert_eq!(i.garp_lower_prio_repeat_or(&cfg.global), 0);
    assert_eq!(i.garp_lower_prio_delay_or(&cfg.global), Duration::ZERO);
    // Without strict mode the instance's values count.
    let cfg = load(&inst(
        "    garp_lower_prio_repeat 4\n    garp_lower_prio_delay 8\n",
    ));
    let i = &cfg.instances[0];
    assert_eq!(i.garp_lower_prio_repeat_or(&cfg.global), 4);
    assert_eq!(
        i.garp_lower_prio_delay_or(&cfg.global),
        Duration::from_secs(8)
    );
    // preempt_delay with state MASTER: cleared; with BACKUP: kept (fractions allowed).
    let cfg = load(&inst("    state MASTER\n    preempt_delay 10\n"));
    assert_eq!(cfg.instances[0].preempt_delay, Duration::ZERO);
    let cfg = load(&inst("    state BACKUP\n    preempt_delay 1.5\n"));
    assert_eq!(cfg.instances[0].preempt_delay, Duration::from_millis(1500));
    // hysteresis >= quorum: quorum - 1.
    let cfg = load(
        "virtual_server 10.0.0.1 80 {\n    protocol TCP\n    lb_algo rr\n    lb_kind NAT\n    quorum 3\n    hysteresis 5\n    real_server 10.0.1.1 80 {\n        weight 3\n    }\n}\n",
    );
    assert_eq!(cfg.virtual_servers[0].hysteresis, 2);
    // quorum above the total weight: lowered to it, then hysteresis below it.
    let cfg = load(
        "virtual_server 10.0.0.1 80 {\n    protocol TCP\n    lb_algo rr\n    lb_kind NAT\n    quorum 5\n    hysteresis 4\n    real_server 10.0.1.1 80 {\n        weight 2\n    }\n    real_server 10.0.1.2 80 {\n        weight 1\n    }\n}\n",
    );
    let vs = &cfg.virtual_servers[0];
    assert_eq!((vs.quorum, vs.hysteresis), (3, 2));
    // Rules without a priority: 16384, 16383, ... in file order.
    let cfg = load(&inst(
        "    virtual_rules {\n        from 10.1.0.0/16 table 100\n        to 10.2.0.0/16 table 101 priority 7\n        from 10.3.0.0/16 table 102\n    }\n",
    ));
    let prios: Vec<_> = cfg.instances[0]
        .virtual_rules
        .iter()
        .map(|r| r.priority)
        .collect();
    assert_eq!(prios, vec![Some(16384), Some(7), Some(16383)]);
    // connect_timeout / retry / delay_before_retry / warmup are inherited from the virtual and
    // real server level (keepalived 2.2.7 reads them there).
    let cfg = load(&self::vs("    connect_timeout 7\n    retry 4\n"));
    let c = &cfg.virtual_servers[0].real_servers[0].checkers[0].common;
    assert_eq!(
        (c.connect_timeout, c.retry),
        (Some(Duration::from_secs(7)), Some(4))
    );
    // A real server without a port (or port 0) takes the service's port.
    let cfg = load(
        "virtual_server 10.0.0.1 8080 {\n    protocol TCP\n    lb_algo rr\n    lb_kind NAT\n    real_server 10.0.1.1 {\n    }\n    real_server 10.0.1.2 0 {\n    }\n}\n",
    );
    let ports: Vec<_> = cfg.virtual_servers[0]
        .real_servers
        .iter()
        .map(|r| r.port)
        .collect();
    assert_eq!(ports, vec![Some(8080), Some(8080)]);
    // `weight` in a virtual_server: the default of its real servers that write none.
    let cfg = load(
        "virtual_server 10.0.0.1 80 {\n    protocol TCP\n    lb_algo rr\n    lb_kind NAT\n    real_server 10.0.1.1 80 {\n    }\n    real_server 10.0.1.2 80 {\n        weight 2\n    }\n    weight 5\n}\n",
    );
    let weights: Vec<_> = cfg.virtual_servers[0]
        .real_servers
        .iter()
        .map(|r| r.weight)
        .collect();
    assert_eq!(weights, vec![5, 2]);
    // Port 0 without persistence: 360 s, as keepalived.
    let cfg = load(&self::vs("").replace("10.0.0.1 80 {", "10.0.0.1 0 {"));
    assert_eq!(cfg.virtual_servers[0].persistence_timeout, Some(360));
    // Duplicate track entries: the first one counts.
    let cfg = load(&inst(
        "    track_interface {\n        eth1 weight 5\n        eth1 weight 7\n    }\n",
    ));
    let t = &cfg.instances[0].track_interface;
    assert_eq!((t.len(), t[0].weight), (1, Some(5)));
    // IPv6 VIP: scope and label dropped.
    let cfg = load(&inst("").replace("10.0.0.1\n", "2001:db8::1/64 scope link label x\n"));
    let v = &cfg.instances[0].virtual_ipaddress[0];
    assert_eq!((v.scope, v.label.as_deref()), (None, None));
    // Defaults keepalived fills in for a virtual server without lb_algo / lb_kind.
    let cfg = load(
        "virtual_server 10.0.0.1 80 {\n    protocol TCP\n    real_server 10.0.1.1 80 {\n    }\n}\n",
    );
    let vs = &cfg.virtual_servers[0];
    assert_eq!(vs.lb_algo, None, "None is wlc for the IPVS layer");
    assert_eq!(vs.lb_kind, rampart::config::ForwardMethod::Nat);
}
