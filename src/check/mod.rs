//! See crate docs.
pub mod service;
