//! Checker features from keepalived.conf, on the pure core at virtual times and on the
//! configuration front end: ha_suspend (Suspend/Resume/Due), table-weight events for the
//! status board, rs_init_notifies, log_all_failures, lvs_flush_on_stop and the SSL block.

use rampart::check::core::{Action, Core, Input, ProbeId};
use rampart::check::probe::{Outcome, ProbeSpec};
use rampart::config::model::LvsFlushOnStop;
use rampart::config::{Config, LoadOptions, load_str};
use rampart::events::Event;
use std::time::{Duration, Instant};

fn load(text: &str) -> Config {
    match load_str("test.conf", text, &LoadOptions::default()) {
        Ok(l) => l.config,
        Err(d) => panic!("{:?}", d.0),
    }
}

fn load_err(text: &str) -> String {
    match load_str("test.conf", text, &LoadOptions::default()) {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(d) => d
            .errors()
            .map(|e| e.render())
            .collect::<Vec<_>>()
            .join("\n"),
    }
}

fn warnings(text: &str) -> String {
    match load_str("test.conf", text, &LoadOptions::default()) {
        Ok(l) => l
            .warnings
            .0
            .iter()
            .map(|e| e.render())
            .collect::<Vec<_>>()
            .join("\n"),
        Err(d) => panic!("{:?}", d.0),
    }
}

const SUSPENDED: &str = r#"
virtual_server 10.0.0.1 80 {
    delay_loop 2
    protocol TCP
    ha_suspend
    inhibit_on_failure
    real_server 192.0.2.1 80 { TCP_CHECK { } }
}
virtual_server 10.0.0.2 80 {
    delay_loop 2
    protocol TCP
    real_server 192.0.2.1 80 { TCP_CHECK { } }
}
"#;

fn logs(actions: &[Action]) -> Vec<&str> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Log(m) => Some(m.as_str()),
            _ => None,
        })
        .collect()
}

#[test]
fn ha_suspend_skips_checks_while_the_address_is_absent_and_keeps_the_table() {
    let cfg = load(SUSPENDED);
    let (mut core, errors) = Core::new(&cfg, 1);
    assert!(errors.is_empty());
    // The same check in a virtual server without ha_suspend is a separate probe: it must
    // keep running while the other one is suspended.
    assert_eq!(core.probe_count(), 2);
    assert!(core.uses_ha_suspend());
    let (susp, free) = (ProbeId(0), ProbeId(1));
    let t0 = Instant::now();
    let s = |x: f64| t0 + Duration::from_secs_f64(x);
    let table0 = core.desired();

    // Not configured yet: a due check is skipped and comes back a delay_loop later.
    assert!(core.probe_suspended(susp));
    assert!(!core.probe_suspended(free));
    assert_eq!(
        core.step(Input::Due { probe: susp }, s(0.0)),
        vec![Action::Schedule {
            probe: susp,
            at: s(2.0)
        }]
    );
    assert_eq!(
        core.step(Input::Due { probe: free }, s(0.0)),
        vec![Action::Run { probe: free }]
    );
    // Unrelated addresses change nothing.
    assert!(
        core.step(
            Input::Resume {
                addr: "10.0.0.9".parse().unwrap()
            },
            s(0.5)
        )
        .is_empty()
    );

    // The VIP appears: checks resume (one log line), the table is untouched.
    let a = core.step(
        Input::Resume {
            addr: "10.0.0.1".parse().unwrap(),
        },
        s(1.0),
    );
    assert_eq!(logs(&a).len(), 1, "{a:?}");
    assert!(logs(&a)[0].starts_with("resuming TCP_CHECK"), "{a:?}");
    assert_eq!(
        core.step(Input::Due { probe: susp }, s(2.0)),
        vec![Action::Run { probe: susp }]
    );

    // The server fails while resumed: it goes DOWN (inhibited: weight 0).
    for t in [2.1, 3.1] {
        core.step(
            Input::Result {
                probe: susp,
                outcome: Outcome::Down {
                    reason: "refused".into(),
                },
            },
            s(t),
        );
    }
    let down_table = core.desired();
    assert_ne!(down_table, table0);

    // The VIP goes away: checks are suspended, the real server keeps its state and the
    // table stays as it was (keepalived leaves IPVS alone while suspended).
    let a = core.step(
        Input::Suspend {
            addr: "10.0.0.1".parse().unwrap(),
        },
        s(4.0),
    );
    assert!(logs(&a)[0].starts_with("suspending TCP_CHECK"), "{a:?}");
    assert!(!a.iter().any(|x| matches!(x, Action::TableChanged)));
    assert_eq!(core.desired(), down_table);
    assert_eq!(
        core.step(Input::Due { probe: susp }, s(5.1)),
        vec![Action::Schedule {
            probe: susp,
            at: s(7.1)
        }]
    );
    // Suspending twice is a no-op.
    assert!(
        core.step(
            Input::Suspend {
                addr: "10.0.0.1".parse().unwrap()
            },
            s(5.2)
        )
        .is_empty()
    );
}

#[test]
fn ha_suspend_on_a_group_waits_for_any_of_its_addresses() {
    let cfg = load(
        r#"
virtual_server_group G {
    10.0.0.10-12 80
    fwmark 7
}
virtual_server group G {
    protocol TCP
    ha_suspend
    real_server 192.0.2.1 80 { TCP_CHECK { } }
}
"#,
    );
    let (mut core, _) = Core::new(&cfg, 1);
    let p = ProbeId(0);
    let t = Instant::now();
    assert!(core.probe_suspended(p));
    for a in ["10.0.0.12", "10.0.0.11"] {
        core.step(
            Input::Resume {
                addr: a.parse().unwrap(),
            },
            t,
        );
        assert!(!core.probe_suspended(p));
    }
    // One of two addresses gone: still running.
    core.step(
        Input::Suspend {
            addr: "10.0.0.12".parse().unwrap(),
        },
        t,
    );
    assert!(!core.probe_suspended(p));
    core.step(
        Input::Suspend {
            addr: "10.0.0.11".parse().unwrap(),
        },
        t,
    );
    assert!(core.probe_suspended(p));
    // Outside the range (and another family) nothing happens.
    for a in ["10.0.0.13", "::a"] {
        core.step(
            Input::Resume {
                addr: a.parse().unwrap(),
            },
            t,
        );
        assert!(core.probe_suspended(p));
    }
}

fn weights(actions: &[Action]) -> Vec<(String, Option<u32>)> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Emit(Event::RealServerWeight {
                real_server,
                weight,
                ..
            }) => Some((real_server.addr.unwrap().to_string(), *weight)),
            _ => None,
        })
        .collect()
}

#[test]
fn table_weights_are_reported_at_start_and_on_every_change() {
    let cfg = load(
        r#"
virtual_server 10.0.0.1 80 {
    protocol TCP
    real_server 192.0.2.1 80 {
        weight 3
        inhibit_on_failure
        TCP_CHECK { retry 0 }
    }
    real_server 192.0.2.2 80 {
        weight 2
        TCP_CHECK { retry 0 }
    }
    real_server 192.0.2.3 80 {
        weight 1
        MISC_CHECK {
            misc_path /bin/true
            misc_dynamic
        }
    }
}
"#,
    );
    let (mut core, _) = Core::new(&cfg, 1);
    let t = Instant::now();
    assert_eq!(
        weights(&core.report_weights()),
        vec![
            ("192.0.2.1".into(), Some(3)),
            ("192.0.2.2".into(), Some(2)),
            ("192.0.2.3".into(), Some(1))
        ]
    );
    // Reported once: asking again gives nothing.
    assert!(core.report_weights().is_empty());
    let down = |p| Input::Result {
        probe: ProbeId(p),
        outcome: Outcome::Down { reason: "x".into() },
    };
    assert_eq!(
        weights(&core.step(down(0), t)),
        vec![("192.0.2.1".into(), Some(0))]
    );
    assert_eq!(
        weights(&core.step(down(1), t)),
        vec![("192.0.2.2".into(), None)]
    );
    // misc_dynamic: exit code 12 sets weight 10.
    let a = core.step(
        Input::Result {
            probe: ProbeId(2),
            outcome: Outcome::Up { weight: Some(10) },
        },
        t,
    );
    assert_eq!(weights(&a), vec![("192.0.2.3".into(), Some(10))]);
    // No change, no event.
    let a = core.step(
        Input::Result {
            probe: ProbeId(2),
            outcome: Outcome::Up { weight: Some(10) },
        },
        t,
    );
    assert!(weights(&a).is_empty());
}

#[test]
fn rs_init_notifies_announces_real_servers_that_start_alive() {
    let text = |global: &str| {
        format!(
            r#"
global_defs {{ {global} }}
virtual_server 10.0.0.1 80 {{
    protocol TCP
    real_server 192.0.2.1 80 {{
        notify_up "/bin/echo up1"
        TCP_CHECK {{ }}
    }}
    real_server 192.0.2.2 80 {{
        notify_up "/bin/echo up2"
        TCP_CHECK {{ alpha }}
    }}
}}
"#
        )
    };
    let t = Instant::now();
    let (core, _) = Core::new(&load(&text("rs_init_notifies")), 1);
    let a = core.start(t);
    let ups: Vec<_> = a
        .iter()
        .filter_map(|a| match a {
            Action::Emit(Event::RealServer {
                real_server, up, ..
            }) => Some((real_server.addr.unwrap().to_string(), *up)),
            _ => None,
        })
        .collect();
    // Only the server that starts alive (the alpha one starts DOWN).
    assert_eq!(ups, vec![("192.0.2.1".to_string(), true)]);
    let scripts: Vec<_> = a
        .iter()
        .filter_map(|a| match a {
            Action::RunScript { command, .. } => Some(command.raw.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(scripts, vec!["/bin/echo up1"]);
    // Not after a reload (start_new) and not without the keyword.
    assert!(
        core.start_new(t, &[false, false])
            .iter()
            .all(|a| matches!(a, Action::Schedule { .. }))
    );
    let (core, _) = Core::new(&load(&text("router_id x")), 1);
    assert!(
        core.start(t)
            .iter()
            .all(|a| matches!(a, Action::Schedule { .. }))
    );
}

#[test]
fn log_all_failures_is_per_checker_and_defaults_to_the_global_keyword() {
    // keepalived 2.2.7 reads log_all_failures only inside a checker ("Unknown keyword" at the
    // virtual_server / real_server level, see tests/config_parity.rs).
    let text = |global: &str| {
        format!(
            r#"
global_defs {{ {global} }}
virtual_server 10.0.0.1 80 {{
    protocol TCP
    real_server 192.0.2.1 80 {{ TCP_CHECK {{ log_all_failures }} }}
}}
virtual_server 10.0.0.2 80 {{
    protocol TCP
    real_server 192.0.2.2 80 {{
        TCP_CHECK {{ log_all_failures on }}
    }}
    real_server 192.0.2.3 80 {{ TCP_CHECK {{ }} }}
    real_server 192.0.2.4 80 {{ TCP_CHECK {{ log_all_failures off }} }}
}}
"#
        )
    };
    let (core, _) = Core::new(&load(&text("router_id x")), 1);
    let flags: Vec<bool> = (0..4)
        .map(|i| core.probe_logs_all_failures(ProbeId(i)))
        .collect();
    assert_eq!(flags, vec![true, true, false, false]);
    let (core, _) = Core::new(&load(&text("checker_log_all_failures")), 1);
    let flags: Vec<bool> = (0..4)
        .map(|i| core.probe_logs_all_failures(ProbeId(i)))
        .collect();
    assert_eq!(flags, vec![true, true, true, false]);
}

#[test]
fn checker_global_keywords_parse_without_unsupported_warnings() {
    let text = r#"
global_defs {
    checker_log_all_failures
    rs_init_notifies
    no_checker_emails
    lvs_flush_on_stop VS
}
virtual_server 10.0.0.1 80 {
    protocol TCP
    ha_suspend
    real_server 192.0.2.1 80 {
        HTTP_GET {
            log_all_failures
            fast_recovery
            url { path / }
        }
    }
}
"#;
    let w = warnings(text);
    assert!(!w.contains("not supported"), "{w}");
    let cfg = load(text);
    let g = &cfg.global;
    assert!(g.checker_log_all_failures && g.rs_init_notifies && g.no_checker_emails);
    assert_eq!(g.lvs_flush_on_stop, Some(LvsFlushOnStop::VirtualServers));
    let cfg = load("global_defs { lvs_flush_on_stop }");
    assert_eq!(cfg.global.lvs_flush_on_stop, Some(LvsFlushOnStop::All));
    let e = load_err("global_defs { lvs_flush_on_stop RS }");
    assert!(e.contains("lvs_flush_on_stop"), "{e}");
}

#[test]
fn the_ssl_block_reaches_ssl_get_and_unreadable_files_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    let cert = dir.path().join("client.pem");
    let key = dir.path().join("client.key");
    for f in [&ca, &cert, &key] {
        std::fs::write(f, "-----BEGIN CERTIFICATE-----\n").unwrap();
    }
    let vs = r#"
virtual_server 10.0.0.1 443 {
    protocol TCP
    real_server 192.0.2.1 443 { SSL_GET { url { path / } } }
}
"#;
    let text = format!(
        "SSL {{\n    password secret\n    ca {}\n    certificate {}\n    key {}\n}}\n{vs}",
        ca.display(),
        cert.display(),
        key.display()
    );
    let cfg = load(&text);
    let ssl = cfg.global.ssl.as_ref().expect("SSL block");
    assert_eq!(ssl.ca.as_deref(), Some(ca.as_path()));
    assert_eq!(ssl.password.as_deref(), Some("secret"));
    let (core, _) = Core::new(&cfg, 1);
    match core.probe_spec(ProbeId(0)) {
        ProbeSpec::Http { tls: Some(t), .. } => {
            assert_eq!(t.ca_file.as_deref(), Some(ca.as_path()));
            assert_eq!(t.client_cert, Some((cert.clone(), key.clone())));
        }
        other => panic!("{other:?}"),
    }
    // Without the block: no verification, no client certificate.
    let (core, _) = Core::new(&load(vs), 1);
    match core.probe_spec(ProbeId(0)) {
        ProbeSpec::Http { tls: Some(t), .. } => {
            assert!(t.ca_file.is_none() && t.client_cert.is_none())
        }
        other => panic!("{other:?}"),
    }
    // A file that cannot be read: an error naming the keyword, the file and the reason.
    let missing = dir.path().join("nope.pem");
    let e = load_err(&format!("SSL {{ ca {} }}\n{vs}", missing.display()));
    assert!(
        e.contains("SSL `ca` file")
            && e.contains("nope.pem")
            && e.contains("No such file")
            && e.contains("test.conf:1"),
        "{e}"
    );
    // certificate without key.
    let e = load_err(&format!("SSL {{ certificate {} }}\n{vs}", cert.display()));
    assert!(e.contains("`certificate` and `key` go together"), "{e}");
    // Unknown keyword in the block.
    let e = load_err("SSL { cafile /x }");
    assert!(e.contains("cafile"), "{e}");
}

#[test]
fn bind_if_sets_the_check_socket_device() {
    // Inside the checker only: keepalived 2.2.7 calls it unknown at the virtual_server and
    // real_server level (tests/config_parity.rs).
    let cfg = load(
        r#"
virtual_server fe80::1 80 {
    protocol TCP
    real_server fe80::2 80 {
        TCP_CHECK {
            bindto fe80::3
            bind_if veth9
        }
    }
    real_server fe80::4 80 {
        TCP_CHECK {
            bind_if lo
        }
    }
}
"#,
    );
    let (core, _) = Core::new(&cfg, 1);
    let dev = |i| match core.probe_spec(ProbeId(i)) {
        ProbeSpec::Tcp(c) => c.bind_if.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(dev(0).as_deref(), Some("veth9"));
    assert_eq!(dev(1).as_deref(), Some("lo"));
    let e = load_err(
        "virtual_server 10.0.0.1 80 {\n protocol TCP\n real_server 10.0.0.2 80 {\n  TCP_CHECK {\n   bind_if averyveryverylongname0\n  }\n }\n}\n",
    );
    assert!(e.contains("interface name"), "{e}");
}

#[test]
fn url_regex_parses_with_clear_errors() {
    let text = |url: &str| {
        format!(
            "virtual_server 10.0.0.1 80 {{\n    protocol TCP\n    real_server 10.0.0.2 80 {{\n        HTTP_GET {{\n            url {{\n                path /\n{url}\n            }}\n        }}\n    }}\n}}\n"
        )
    };
    let ok = text(
        "                regex \"ok|fine\"\n                regex_no_match\n                regex_options caseless dotall\n                regex_min_offset 10\n                regex_max_offset 4096",
    );
    let cfg = load(&ok);
    let r = cfg.virtual_servers[0].real_servers[0].checkers[0].clone();
    let url = match r.kind {
        rampart::config::model::CheckerKind::Http(h) => h.urls[0].clone(),
        other => panic!("{other:?}"),
    };
    let re = url.regex.expect("regex");
    assert_eq!(re.pattern, "ok|fine");
    assert!(re.no_match);
    assert_eq!(re.options, vec!["caseless", "dotall"]);
    assert_eq!((re.min_offset, re.max_offset), (10, 4096));
    assert!(
        !warnings(&ok).contains("not supported"),
        "{}",
        warnings(&ok)
    );
    // PCRE-only syntax: an error with the reason and a hint.
    let e = load_err(&text("                regex \"(?<=a)b\""));
    assert!(
        e.contains("regex does not compile") && e.contains("look-around"),
        "{e}"
    );
    // Options rampart does not map, and regex_stack: warnings.
    let w = warnings(&text(
        "                regex x\n                regex_options caseless no_auto_capture\n                regex_stack 100 1000",
    ));
    assert!(
        w.contains("no_auto_capture") && w.contains("regex_stack"),
        "{w}"
    );
}

#[test]
fn udp_check_parses_keepalived_hex_strings() {
    use rampart::config::model::{CheckerKind, UdpCheck};
    let bytes = |s: &str| -> Vec<u8> {
        let t: Vec<&str> = s.split_whitespace().collect();
        UdpCheck::parse_hex(&t, false)
            .unwrap()
            .iter()
            .map(|b| b.value)
            .collect()
    };
    // keepalived.conf(5)'s example.
    assert_eq!(
        bytes("Ab12f 3 456 546443123"),
        vec![
            0xab, 0x12, 0x0f, 0x03, 0x45, 0x06, 0x54, 0x64, 0x43, 0x12, 0x03
        ]
    );
    assert!(UdpCheck::parse_hex(&["0x"], false).is_err());
    let text = |body: &str| {
        format!(
            "virtual_server 10.0.0.1 53 {{\n    protocol UDP\n    real_server 10.0.0.2 53 {{\n        UDP_CHECK {{\n{body}\n        }}\n    }}\n}}\n"
        )
    };
    let ok = text(
        "            payload 0a1b\n            require_reply 0X 1b\n            min_reply_length 2\n            max_reply_length 512\n            connect_timeout 4",
    );
    assert!(
        !warnings(&ok).contains("not supported"),
        "{}",
        warnings(&ok)
    );
    let cfg = load(&ok);
    match &cfg.virtual_servers[0].real_servers[0].checkers[0].kind {
        CheckerKind::Udp(u) => {
            assert_eq!(u.payload, Some(vec![0x0a, 0x1b]));
            let p = u.require_reply.as_ref().unwrap();
            assert_eq!((p[0].value, p[0].mask, p[1].mask), (0, 0xf0, 0xff));
            assert_eq!((u.min_reply_length, u.max_reply_length), (2, 512));
        }
        other => panic!("{other:?}"),
    }
    let (core, _) = Core::new(&cfg, 1);
    assert_eq!(core.probe_spec(ProbeId(0)).kind(), "UDP_CHECK");
    // An empty block and bad values.
    load(
        "virtual_server 10.0.0.1 53 {\n protocol UDP\n real_server 10.0.0.2 53 {\n  UDP_CHECK {\n  }\n }\n}\n",
    );
    let e = load_err(&text("            payload zz"));
    assert!(
        e.contains("invalid `payload`") && e.contains("`z` is not a hex digit"),
        "{e}"
    );
    let e = load_err(&text(
        "            min_reply_length 10\n            max_reply_length 5",
    ));
    assert!(
        e.contains("min_reply_length 10 is above max_reply_length 5"),
        "{e}"
    );
}

#[test]
fn ping_check_needs_no_port() {
    let cfg = load(
        "virtual_server fwmark 7 {\n    real_server 10.0.0.2 {\n        PING_CHECK {\n            connect_timeout 2\n        }\n    }\n    real_server 10.0.0.3 {\n        PING_CHECK\n    }\n}\n",
    );
    let (core, errors) = Core::new(&cfg, 1);
    assert!(errors.is_empty(), "{errors:?}");
    match core.probe_spec(ProbeId(0)) {
        ProbeSpec::Ping(c) => {
            assert_eq!(c.addr, "10.0.0.2:0".parse().unwrap());
            assert_eq!(c.timeout, Duration::from_secs(2));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(core.probe_spec(ProbeId(1)).kind(), "PING_CHECK");
}

#[test]
fn dns_check_defaults_and_errors() {
    let text = |body: &str| {
        format!(
            "virtual_server 10.0.0.1 53 {{\n    protocol UDP\n    real_server 10.0.0.2 53 {{\n        DNS_CHECK {{\n{body}\n        }}\n    }}\n}}\n"
        )
    };
    let cfg = load(&text(
        "            type aaaa\n            name www.example.com",
    ));
    let (core, _) = Core::new(&cfg, 1);
    match core.probe_spec(ProbeId(0)) {
        ProbeSpec::Dns { qtype, name, .. } => {
            assert_eq!((*qtype, name.as_str()), (28, "www.example.com"))
        }
        other => panic!("{other:?}"),
    }
    // keepalived's defaults: SOA for `.`, retry 3.
    let cfg = load(&text(""));
    match &cfg.virtual_servers[0].real_servers[0].checkers[0].kind {
        rampart::config::model::CheckerKind::Dns(d) => {
            assert_eq!((d.qtype.as_str(), d.name.as_str()), ("SOA", "."))
        }
        other => panic!("{other:?}"),
    }
    let e = load_err(&text("            type PTR"));
    assert!(e.contains("A|NS|CNAME|SOA|MX|TXT|AAAA"), "{e}");
    let e = load_err(&text(&format!("            name {}.com", "x".repeat(64))));
    assert!(e.contains("longer than 63"), "{e}");
}

#[test]
fn smtp_check_helo_name_defaults_to_keepalived_s() {
    let text = |body: &str| {
        format!(
            "virtual_server 10.0.0.1 25 {{\n    protocol TCP\n    real_server 10.0.0.2 25 {{\n        SMTP_CHECK {{\n{body}\n        }}\n    }}\n}}\n"
        )
    };
    let helo = |cfg: &Config| {
        let (core, _) = Core::new(cfg, 1);
        match core.probe_spec(ProbeId(0)) {
            ProbeSpec::Smtp { helo, .. } => helo.clone(),
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(helo(&load(&text(""))), "smtpchecker.keepalived.org");
    assert_eq!(
        helo(&load(&text("            helo_name lb1.example"))),
        "lb1.example"
    );
}

#[test]
fn smtp_check_host_blocks_become_one_probe_each() {
    let cfg = load(
        "virtual_server 10.0.0.1 25 {\n    protocol TCP\n    real_server 10.0.0.2 25 {\n        connect_timeout 7\n        SMTP_CHECK {\n            helo_name a.example\n            host {\n                connect_ip 10.0.0.2\n            }\n            host {\n                connect_ip 192.0.2.9\n                connect_port 587\n                bindto 10.0.0.1\n            }\n        }\n    }\n}\n",
    );
    let (core, _) = Core::new(&cfg, 1);
    assert_eq!(core.probe_count(), 2);
    let target = |i| match core.probe_spec(ProbeId(i)) {
        ProbeSpec::Smtp { connect, helo } => (
            connect.addr.to_string(),
            connect.bind_ip.map(|b| b.to_string()),
            connect.timeout,
            helo.clone(),
        ),
        other => panic!("{other:?}"),
    };
    let t = Duration::from_secs(7);
    assert_eq!(
        target(0),
        ("10.0.0.2:25".into(), None, t, "a.example".into())
    );
    assert_eq!(
        target(1),
        (
            "192.0.2.9:587".into(),
            Some("10.0.0.1".into()),
            t,
            "a.example".into()
        )
    );
}
