//! The whole config front end: bytes → preprocess → parse → validate → diagnostics.
//! Includes resolve against an empty in-memory file system, so the fuzzer never reads the disk.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rampart::config::{self, Limits, LoadOptions, MemFs};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut fs = MemFs::default();
    // One includable file so include paths are exercised too.
    fs.files.insert(
        "/fuzz/inc.conf".into(),
        "vrrp_script s {\n script /bin/true\n}\n".into(),
    );
    let opts = LoadOptions {
        config_id: Some("high".into()),
    };
    let (cfg, diags) = config::analyse("/fuzz/main.conf", &text, &opts, &fs, &Limits::small());
    for d in &diags.0 {
        let _ = d.render();
        // Every located diagnostic can show its source line.
        if let Some(s) = &d.span {
            assert!(s.line == 0 || d.source_line.is_some(), "{d:?}");
        }
    }
    // What `check-config --dump` prints must always serialise.
    if !diags.has_errors() {
        assert!(serde_json::to_string(&cfg).is_ok());
    }
});
