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
    let (_cfg, diags) = config::analyse("/fuzz/main.conf", &text, &opts, &fs, &Limits::small());
    for d in &diags.0 {
        let _ = d.render();
    }
});
