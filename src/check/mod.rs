//! Health checkers and the real-server state core.
//!
//! - [`http`]: keepalived's HTTP request/response/digest format (pure).
//! - [`probe`]: what a check is (`ProbeSpec`) and the socket I/O that runs it.
//! - [`misc`]: MISC_CHECK scripts.
//! - [`file_check`]: FILE_CHECK (a real server follows the number in a track_file).
//! - [`core`]: the pure state core: check timing, real server and quorum state, the desired
//!   IPVS table.
//! - [`sink`]: where desired tables go (the IPVS reconciler, or a dry-run log).
//! - [`service`]: the I/O shell: scheduler and probe tasks.
pub mod core;
pub mod dns;
pub mod file_check;
pub mod http;
pub mod icmp;
pub mod misc;
pub mod probe;
pub mod service;
pub mod sink;
pub mod smtp;
