//! include / $DEFINITION / @conditional / ~SEQ / ~LST, end to end through the real file system.

use rampart::config::{DiagClass, LoadOptions, VsKey, load_file, load_str};
use std::fs;

fn opts(id: &str) -> LoadOptions {
    LoadOptions {
        config_id: Some(id.into()),
    }
}

#[test]
fn includes_resolve_relative_to_the_including_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    fs::create_dir_all(root.join("conf.d/vs")).expect("mkdir");
    fs::write(
        root.join("main.conf"),
        "global_defs {\n    router_id main\n}\ninclude conf.d/*.conf\n",
    )
    .expect("write");
    // Sorted glob order: a.conf before b.conf.
    fs::write(
        root.join("conf.d/a.conf"),
        "vrrp_script chk {\n    script /bin/true\n}\ninclude vs/*.conf\n",
    )
    .expect("write");
    fs::write(
        root.join("conf.d/b.conf"),
        "vrrp_instance VI_1 {\n    interface eth0\n    virtual_router_id 9\n    virtual_ipaddress {\n        10.0.0.9\n    }\n    track_script {\n        chk\n    }\n}\n",
    )
    .expect("write");
    fs::write(
        root.join("conf.d/vs/web.conf"),
        "virtual_server 10.0.0.9 80 {\n    real_server 10.0.1.1 80 {\n        weight 2\n    }\n}\n",
    )
    .expect("write");
    let l = load_file(&root.join("main.conf"), &opts("x")).expect("valid");
    assert_eq!(l.config.global.router_id.as_deref(), Some("main"));
    assert_eq!(l.config.vrrp_scripts[0].name, "chk");
    assert_eq!(l.config.instances[0].track_script[0].name, "chk");
    let vs = &l.config.virtual_servers[0];
    assert!(
        vs.span.file.ends_with("conf.d/vs/web.conf"),
        "{}",
        vs.span.file
    );
    assert_eq!((vs.span.line, vs.span.col), (1, 1));
    assert_eq!(vs.real_servers[0].weight, 2);
}

#[test]
fn include_problems() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    fs::write(root.join("a.conf"), "include b.conf\n").expect("write");
    fs::write(root.join("b.conf"), "\ninclude ./a.conf\n").expect("write");
    let d = load_file(&root.join("a.conf"), &opts("x")).expect_err("cycle");
    let e: Vec<_> = d.errors().collect();
    assert_eq!(e.len(), 1, "{d}");
    assert_eq!(e[0].class, DiagClass::Include);
    assert_eq!(e[0].span.as_ref().map(|s| s.line), Some(2));
    assert!(e[0].message.contains("include cycle"), "{}", e[0].message);
    assert!(e[0].message.contains("a.conf -> "), "{}", e[0].message);

    // A missing match is only a warning.
    let l = load_str(
        &root.join("c.conf").to_string_lossy(),
        "include nothing-here-*.conf\n",
        &opts("x"),
    )
    .expect("warning only");
    assert_eq!(l.warnings.len(), 1);
    assert_eq!(l.warnings.0[0].class, DiagClass::Include);

    // A directory is not a readable file.
    fs::create_dir(root.join("d.conf")).expect("mkdir");
    let d = load_str(
        &root.join("x.conf").to_string_lossy(),
        "include d.conf\n",
        &opts("x"),
    )
    .expect_err("unreadable");
    assert!(d.0[0].message.contains("cannot read"), "{d}");
}

#[test]
fn load_str_resolves_includes_next_to_its_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    fs::write(
        dir.path().join("scripts.conf"),
        "vrrp_script s {\n    script /bin/true\n}\n",
    )
    .expect("write");
    let name = dir.path().join("virtual.conf");
    let l = load_str(
        &name.to_string_lossy(),
        "include scripts.conf\n",
        &opts("x"),
    )
    .expect("valid");
    assert_eq!(l.config.vrrp_scripts.len(), 1);
}

const TEMPLATE: &str = r#"
@high $PRIO=150
@^high $PRIO=100
$VIP=10.0.${NET}.1
$NET=7
vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 7
    priority $PRIO
    virtual_ipaddress {
        ${VIP}/24
    }
}
$RS= \
    real_server 10.0.7.${N} 80 { \
        weight ${N} \
        TCP_CHECK { \
            connect_timeout 2 \
        } \
    }
virtual_server 10.0.7.1 80 {
    ~SEQ(N, 11, 2, 15) $RS
}
virtual_server_group G {
    ~LST({A, P}, {10.1.0.1, 80}, {10.1.0.2, 443}) ${A} ${P}
    ~SEQx(H, 0x9, 0xa) 2001:db8::${H} 80
}
virtual_server group G {
    real_server 10.1.1.1 80 {
    }
}
"#;

#[test]
fn definitions_conditionals_and_sequences_build_the_model() {
    let high = load_str("/nonexistent/t.conf", TEMPLATE, &opts("high")).expect("valid");
    let low = load_str("/nonexistent/t.conf", TEMPLATE, &opts("low")).expect("valid");
    assert_eq!(high.config.instances[0].priority, 150);
    assert_eq!(low.config.instances[0].priority, 100);
    let vip = &high.config.instances[0].virtual_ipaddress[0];
    assert_eq!(vip.addr.to_string(), "10.0.7.1");
    assert_eq!(vip.prefix_len, 24);
    // The expanded address points at the `$` that produced it.
    assert_eq!((vip.span.line, vip.span.col), (11, 9));

    let vs = &high.config.virtual_servers[0];
    let rs: Vec<(String, u32)> = vs
        .real_servers
        .iter()
        .map(|r| (r.addr.to_string(), r.weight))
        .collect();
    assert_eq!(
        rs,
        vec![
            ("10.0.7.11".into(), 11),
            ("10.0.7.13".into(), 13),
            ("10.0.7.15".into(), 15)
        ]
    );
    // Every generated real server points at the line holding the ~SEQ.
    assert!(vs.real_servers.iter().all(|r| r.span.line == 22));

    let g = &high.config.virtual_server_groups[0];
    assert_eq!(g.members.len(), 4);
    assert_eq!(high.config.virtual_servers[1].key, VsKey::Group("G".into()));
}

#[test]
fn default_config_id_is_the_short_host_name() {
    let id = rampart::config::default_config_id();
    assert!(!id.contains('.'), "{id}");
    let text = format!("global_defs {{\n@{id} router_id mine\n@^{id} router_id other\n}}\n");
    let l = load_str("/nonexistent/t.conf", &text, &LoadOptions::default()).expect("valid");
    assert_eq!(l.config.global.router_id.as_deref(), Some("mine"));
}

#[test]
fn include_inside_a_block_and_brace_alternatives() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    fs::write(
        root.join("body.conf"),
        "    interface eth0\n    virtual_router_id 3\n",
    )
    .expect("write");
    fs::write(root.join("vips-a.conf"), "        10.0.0.3\n").expect("write");
    fs::write(root.join("vips-b.conf"), "        10.0.0.4\n").expect("write");
    fs::write(root.join("vips-c.conf"), "        10.0.0.5\n").expect("write");
    let text = "vrrp_instance VI_1 {\n    include body.conf\n    virtual_ipaddress {\n        include vips-{a,b}.conf\n    }\n}\n";
    let l = load_str(&root.join("main.conf").to_string_lossy(), text, &opts("x")).expect("valid");
    let i = &l.config.instances[0];
    assert_eq!(i.interface, "eth0");
    assert_eq!(i.virtual_router_id, 3);
    let vips: Vec<String> = i
        .virtual_ipaddress
        .iter()
        .map(|v| v.addr.to_string())
        .collect();
    assert_eq!(vips, vec!["10.0.0.3", "10.0.0.4"]);
    assert!(i.virtual_ipaddress[1].span.file.ends_with("vips-b.conf"));
}
