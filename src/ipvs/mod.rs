//! IPVS programming over generic netlink: the table model, codec, client, reconciler and the
//! ipvsadm-compatible command.

pub mod table;
pub use table::{DesiredTable, KernelTable, Table};
