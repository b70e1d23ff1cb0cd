//! IPVS programming over generic netlink: the table model, codec, client, reconciler and the
//! ipvsadm-compatible command.

pub mod table;
pub use table::{DesiredTable, KernelTable, Table};
pub mod client;
pub mod codec;
pub mod consts;
pub mod convert;
pub mod desired;
pub mod fake;
pub mod format;
pub mod ipvsadm;
pub mod reconcile;
