//! Where desired tables go. The IPVS reconciler plugs in behind [`TableSink`]; until then (and
//! for `--dry-run`) [`DryRunSink`] logs the operations that would turn the previous desired
//! table into the new one, one parseable line per operation:
//!
//! ```text
//! ipvs-op op=add-service service=tcp:[10.0.0.1]:80 scheduler=wlc flags=0x0 timeout=0
//! ipvs-op op=add-dest service=tcp:[10.0.0.1]:80 dest=[127.0.0.2]:80 forward=nat weight=1 uthreshold=0 lthreshold=0
//! ipvs-op op=edit-dest ...   ipvs-op op=del-dest service=... dest=...   ipvs-op op=del-service service=...
//! ```

use crate::ipvs::table::{DesiredTable, DestKey, DestSettings, ServiceKey, ServiceSettings};

pub trait TableSink: Send {
    fn apply(&mut self, desired: &DesiredTable);
}

/// One change between two tables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TableOp {
    AddService(ServiceKey, ServiceSettings),
    EditService(ServiceKey, ServiceSettings),
    DelService(ServiceKey),
    AddDest(ServiceKey, DestKey, DestSettings),
    EditDest(ServiceKey, DestKey, DestSettings),
    DelDest(ServiceKey, DestKey),
}

fn fmt_service(k: &ServiceKey) -> String {
    match k {
        ServiceKey::Addr {
            protocol,
            addr,
            port,
        } => format!(
            "{}:{}",
            format!("{protocol:?}").to_lowercase(),
            fmt_addr(addr, *port)
        ),
        ServiceKey::Fwmark { family, mark } => {
            format!("fwm:{mark}:{}", format!("{family:?}").to_lowercase())
        }
    }
}

fn fmt_addr(a: &std::net::IpAddr, port: u16) -> String {
    format!("[{a}]:{port}")
}

fn fmt_dest(k: &DestKey) -> String {
    fmt_addr(&k.addr, k.port)
}

fn fmt_dest_settings(s: &DestSettings) -> String {
    format!(
        "forward={} weight={} uthreshold={} lthreshold={}",
        format!("{:?}", s.forward).to_lowercase(),
        s.weight,
        s.upper_threshold,
        s.lower_threshold
    )
}

fn fmt_svc_settings(s: &ServiceSettings) -> String {
    format!(
        "scheduler={} flags={:#x} timeout={} netmask={}",
        s.scheduler, s.flags, s.timeout, s.netmask_prefix
    )
}

impl std::fmt::Display for TableOp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TableOp::AddService(k, s) => write!(
                f,
                "op=add-service service={} {}",
                fmt_service(k),
                fmt_svc_settings(s)
            ),
            TableOp::EditService(k, s) => write!(
                f,
                "op=edit-service service={} {}",
                fmt_service(k),
                fmt_svc_settings(s)
            ),
            TableOp::DelService(k) => write!(f, "op=del-service service={}", fmt_service(k)),
            TableOp::AddDest(k, d, s) => write!(
                f,
                "op=add-dest service={} dest={} {}",
                fmt_service(k),
                fmt_dest(d),
                fmt_dest_settings(s)
            ),
            TableOp::EditDest(k, d, s) => write!(
                f,
                "op=edit-dest service={} dest={} {}",
                fmt_service(k),
                fmt_dest(d),
                fmt_dest_settings(s)
            ),
            TableOp::DelDest(k, d) => write!(
                f,
                "op=del-dest service={} dest={}",
                fmt_service(k),
                fmt_dest(d)
            ),
        }
    }
}

/// The operations that turn `old` into `new` (services added before their destinations,
/// destinations removed before their services).
pub fn diff(old: &DesiredTable, new: &DesiredTable) -> Vec<TableOp> {
    let mut ops = Vec::new();
    for (k, e) in &new.services {
        match old.services.get(k) {
            None => {
                ops.push(TableOp::AddService(*k, e.settings.clone()));
                for (d, s) in &e.dests {
                    ops.push(TableOp::AddDest(*k, *d, *s));
                }
            }
            Some(o) => {
                if o.settings != e.settings {
                    ops.push(TableOp::EditService(*k, e.settings.clone()));
                }
                for d in o.dests.keys().filter(|d| !e.dests.contains_key(d)) {
                    ops.push(TableOp::DelDest(*k, *d));
                }
                for (d, s) in &e.dests {
                    match o.dests.get(d) {
                        None => ops.push(TableOp::AddDest(*k, *d, *s)),
                        Some(os) if os != s => ops.push(TableOp::EditDest(*k, *d, *s)),
                        Some(_) => {}
                    }
                }
            }
        }
    }
    for (k, o) in &old.services {
        if !new.services.contains_key(k) {
            for d in o.dests.keys() {
                ops.push(TableOp::DelDest(*k, *d));
            }
            ops.push(TableOp::DelService(*k));
        }
    }
    ops
}

/// Logs what would change in the kernel; changes nothing.
#[derive(Debug, Default)]
pub struct DryRunSink {
    last: DesiredTable,
}

impl TableSink for DryRunSink {
    fn apply(&mut self, desired: &DesiredTable) {
        for op in diff(&self.last, desired) {
            tracing::info!(target: "dry_run", "ipvs-op {op}");
        }
        self.last = desired.clone();
    }
}
