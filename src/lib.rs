//! rampart: a keepalived-compatible high-availability L4 load balancer.
//!
//! Module map (each engine is a pure core plus a thin I/O shell):
//! - [`config`]: keepalived.conf front end and typed model.
//! - [`vrrp`]: VRRP v2/v3 packets, state machine, sockets, addresses.
//! - [`check`]: health checkers and the real-server state core.
//! - [`ipvs`]: generic-netlink IPVS client, reconciler, ipvsadm-compatible CLI.
//! - [`alert`]: SMTP and log alerts, notify fifos.
//! - [`daemon`]: wiring, reload, signals, status.
//! - [`doctor`]: checks a director against its configuration (`rampart doctor`).
//! - [`events`]: what happened, shared between producers and consumers.

pub mod alert;
pub mod check;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod doctor;
pub mod events;
pub mod ipvs;
pub mod vrrp;
