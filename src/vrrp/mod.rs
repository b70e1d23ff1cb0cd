//! See crate docs.
pub mod addr;
pub mod garp;
pub mod net;
pub mod notify;
pub mod script;
pub mod service;
