//! keepalived's HTTP response reader (digest, status, Content-Length) is total: any bytes, in
//! any split, give the same result and never panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use rampart::check::http::{Progress, ResponseReader};

fn read(data: &[u8], split: usize) -> Result<(Option<u16>, [u8; 16], u64), String> {
    let mut r = ResponseReader::new(1 << 16);
    for c in data.chunks(split.max(1)) {
        match r.feed(c) {
            Ok(Progress::Done) => break,
            Ok(Progress::More) => {}
            Err(e) => return Err(e.to_string()),
        }
    }
    r.finish()
        .map(|x| (x.status, x.digest, x.body_len))
        .map_err(|e| e.to_string())
}

fuzz_target!(|data: &[u8]| {
    let split = data.first().copied().unwrap_or(1) as usize;
    assert_eq!(read(data, split), read(data, usize::MAX));
});
