//! Where desired tables go: [`KernelSink`] reconciles them into the kernel through the IPVS
//! client; [`DryRunSink`] (for `--dry-run`) logs the operations the same reconciler would send,
//! one parseable line per operation, and touches nothing:
//!
//! ```text
//! ipvs-op op=add-service service=tcp:[10.0.0.1]:80 scheduler=wlc flags=0x0 timeout=0 netmask=32
//! ipvs-op op=add-dest service=tcp:[10.0.0.1]:80 dest=[127.0.0.2]:80 forward=nat weight=1 uthreshold=0 lthreshold=0
//! ipvs-op op=edit-dest ...   ipvs-op op=del-dest service=... dest=...   ipvs-op op=del-service service=...
//! ```
//!
//! Both compute operations with `ipvs::reconcile::reconcile` against the table they believe is
//! in the kernel; every service rampart ever desired counts as managed, so services dropped
//! from the desired table (all of them at shutdown) are deleted while foreign ones are kept.

use crate::config::model::LvsFlushOnStop;
use crate::ipvs::reconcile::{IpvsOp, OpSink, reconcile, reconcile_flush};
use crate::ipvs::table::{
    DesiredTable, DestKey, DestSettings, KernelTable, ServiceKey, ServiceSettings,
};
use std::collections::BTreeSet;

/// Requests sent to the kernel's IPVS table, for the metrics
/// (`rampart_ipvs_operations_total{result="ok"|"failed"}`).
#[derive(Debug, Default)]
pub struct IpvsOpCounters {
    pub ok: std::sync::atomic::AtomicU64,
    pub failed: std::sync::atomic::AtomicU64,
}

pub trait TableSink: Send {
    fn apply(&mut self, desired: &DesiredTable);

    /// The daemon is stopping; `desired` is the (empty) final table. With
    /// `lvs_flush_on_stop` the whole IPVS table is flushed in one operation instead of
    /// deleting each managed service; `lvs_flush_on_stop VS` deletes each managed service
    /// (the kernel drops their real servers), which is what [`TableSink::apply`] does anyway.
    fn shutdown(&mut self, desired: &DesiredTable, flush_on_stop: Option<LvsFlushOnStop>) {
        let _ = flush_on_stop;
        self.apply(desired);
    }
}

fn fmt_service(k: &ServiceKey) -> String {
    match k {
        ServiceKey::Addr {
            protocol,
            addr,
            port,
        } => format!("{}:[{addr}]:{port}", format!("{protocol:?}").to_lowercase()),
        ServiceKey::Fwmark { family, mark } => {
            format!("fwm:{mark}:{}", format!("{family:?}").to_lowercase())
        }
    }
}

fn fmt_dest(k: &DestKey) -> String {
    format!("[{}]:{}", k.addr, k.port)
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
    let mut out = format!(
        "scheduler={} flags={:#x} timeout={} netmask={}",
        s.scheduler, s.flags, s.timeout, s.netmask_prefix
    );
    if let Some(pe) = &s.pe_name {
        out.push_str(&format!(" pe={pe}"));
    }
    out
}

/// One operation as a `key=value` line (the dry-run log format).
pub fn format_op(op: &IpvsOp) -> String {
    match op {
        IpvsOp::Flush => "op=flush".to_string(),
        IpvsOp::AddService { key, settings } => format!(
            "op=add-service service={} {}",
            fmt_service(key),
            fmt_svc_settings(settings)
        ),
        IpvsOp::EditService { key, settings } => format!(
            "op=edit-service service={} {}",
            fmt_service(key),
            fmt_svc_settings(settings)
        ),
        IpvsOp::DelService { key } => format!("op=del-service service={}", fmt_service(key)),
        IpvsOp::AddDest {
            service,
            dest,
            settings,
        } => format!(
            "op=add-dest service={} dest={} {}",
            fmt_service(service),
            fmt_dest(dest),
            fmt_dest_settings(settings)
        ),
        IpvsOp::EditDest {
            service,
            dest,
            settings,
        } => format!(
            "op=edit-dest service={} dest={} {}",
            fmt_service(service),
            fmt_dest(dest),
            fmt_dest_settings(settings)
        ),
        IpvsOp::DelDest { service, dest } => format!(
            "op=del-dest service={} dest={}",
            fmt_service(service),
            fmt_dest(dest)
        ),
    }
}

/// The reconciler's view: what we believe is in the kernel and which services are ours.
#[derive(Debug, Default)]
struct Tracker {
    believed: KernelTable,
    managed: BTreeSet<ServiceKey>,
}

impl Tracker {
    fn ops(&mut self, desired: &DesiredTable) -> Vec<IpvsOp> {
        self.managed.extend(desired.services.keys().copied());
        let ops = reconcile(desired, &self.believed, &self.managed);
        // Foreign services stay in the believed table; managed ones now match `desired`.
        self.believed
            .services
            .retain(|k, _| !self.managed.contains(k));
        for (k, e) in &desired.services {
            self.believed.services.insert(*k, e.clone());
        }
        ops
    }
}

/// Empty the kernel's IPVS table in one operation (the daemon's `lvs_flush_on_stop` fallback
/// when the checker engine did not finish its own shutdown in time).
pub fn flush_kernel_table() {
    let result = crate::ipvs::client::Client::connect()
        .map_err(|e| e.to_string())
        .and_then(|mut c| c.apply(&[IpvsOp::Flush]).map_err(|e| e.to_string()));
    match result {
        Ok(_) => tracing::info!(target: "check", "lvs_flush_on_stop: IPVS table flushed"),
        Err(e) => {
            tracing::error!(target: "check", "lvs_flush_on_stop: cannot flush the IPVS table: {e}")
        }
    }
}

/// Logs what would change in the kernel; changes nothing.
#[derive(Debug, Default)]
pub struct DryRunSink {
    tracker: Tracker,
}

impl TableSink for DryRunSink {
    fn apply(&mut self, desired: &DesiredTable) {
        for op in self.tracker.ops(desired) {
            tracing::info!(target: "dry_run", "ipvs-op {}", format_op(&op));
        }
    }

    fn shutdown(&mut self, desired: &DesiredTable, flush_on_stop: Option<LvsFlushOnStop>) {
        if flush_on_stop == Some(LvsFlushOnStop::All) {
            self.tracker.believed = KernelTable::default();
            tracing::info!(target: "dry_run", "ipvs-op {}", format_op(&IpvsOp::Flush));
        } else {
            self.apply(desired);
        }
    }
}

/// Programs the kernel through an IPVS client (netlink, or a fake in tests).
pub struct KernelSink<S: OpSink + Send> {
    client: S,
    tracker: Tracker,
    flush_first: bool,
    counters: std::sync::Arc<IpvsOpCounters>,
}

impl<S: OpSink + Send> KernelSink<S> {
    /// `kernel`: a dump of the kernel table at start (managed services already there are
    /// adopted and edited into shape); `flush`: `lvs_flush` (empty the table first).
    pub fn new(client: S, kernel: KernelTable, flush: bool) -> Self {
        KernelSink {
            client,
            tracker: Tracker {
                believed: if flush {
                    KernelTable::default()
                } else {
                    kernel
                },
                managed: BTreeSet::new(),
            },
            flush_first: flush,
            counters: Default::default(),
        }
    }

    /// Count the requests sent in `counters`.
    pub fn with_counters(mut self, counters: std::sync::Arc<IpvsOpCounters>) -> Self {
        self.counters = counters;
        self
    }
}

impl<S: OpSink + Send> TableSink for KernelSink<S> {
    fn apply(&mut self, desired: &DesiredTable) {
        let ops = if std::mem::take(&mut self.flush_first) {
            self.tracker
                .managed
                .extend(desired.services.keys().copied());
            self.tracker.believed = desired.clone();
            reconcile_flush(desired)
        } else {
            self.tracker.ops(desired)
        };
        if ops.is_empty() {
            return;
        }
        // Every change to the kernel table is logged, with one summary line per update
        // (`ipvs-apply operations=N failed=M`): an operator (and the reload tests) can see
        // that a reload changing one weight sent exactly one request.
        for op in &ops {
            tracing::info!(target: "ipvs", "ipvs-op {}", format_op(op));
        }
        self.send(&ops);
    }

    fn shutdown(&mut self, desired: &DesiredTable, flush_on_stop: Option<LvsFlushOnStop>) {
        if flush_on_stop == Some(LvsFlushOnStop::All) {
            tracing::info!(target: "check", "lvs_flush_on_stop: flushing the IPVS table");
            self.tracker.believed = KernelTable::default();
            self.send(&[IpvsOp::Flush]);
        } else {
            self.apply(desired);
        }
    }
}

impl<S: OpSink + Send> KernelSink<S> {
    fn send(&mut self, ops: &[IpvsOp]) {
        match self.client.apply(ops) {
            Ok(outcomes) => {
                let failed = outcomes.iter().filter(|o| !o.ok()).count();
                use std::sync::atomic::Ordering::Relaxed;
                self.counters
                    .ok
                    .fetch_add((ops.len() - failed) as u64, Relaxed);
                self.counters.failed.fetch_add(failed as u64, Relaxed);
                if failed > 0 {
                    tracing::error!(target: "check", "{failed} of {} IPVS operations failed", ops.len());
                }
                tracing::info!(target: "ipvs", "ipvs-apply operations={} failed={failed}", ops.len());
            }
            Err(e) => tracing::error!(target: "check", "IPVS update failed: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::model::ForwardMethod;
    use crate::ipvs::table::{IpvsProtocol, ServiceEntry};

    pub(super) fn table_pub(dests: &[(u8, u32)]) -> DesiredTable {
        table(dests)
    }

    fn table(dests: &[(u8, u32)]) -> DesiredTable {
        let mut t = DesiredTable::default();
        t.services.insert(
            ServiceKey::Addr {
                protocol: IpvsProtocol::Tcp,
                addr: "10.0.0.1".parse().unwrap(),
                port: 80,
            },
            ServiceEntry {
                settings: ServiceSettings {
                    scheduler: "wlc".into(),
                    flags: 0,
                    timeout: 0,
                    netmask_prefix: 32,
                    pe_name: None,
                },
                dests: dests
                    .iter()
                    .map(|(last, w)| {
                        (
                            DestKey {
                                addr: format!("127.0.0.{last}").parse().unwrap(),
                                port: 80,
                            },
                            DestSettings {
                                forward: ForwardMethod::Nat,
                                weight: *w,
                                upper_threshold: 0,
                                lower_threshold: 0,
                                tunnel: Default::default(),
                            },
                        )
                    })
                    .collect(),
            },
        );
        t
    }

    #[test]
    fn successive_tables_become_minimal_ops() {
        let mut tr = Tracker::default();
        let lines = |ops: Vec<IpvsOp>| ops.iter().map(format_op).collect::<Vec<_>>();
        assert_eq!(
            lines(tr.ops(&table(&[(2, 1), (3, 1)]))),
            vec![
                "op=add-service service=tcp:[10.0.0.1]:80 scheduler=wlc flags=0x0 timeout=0 netmask=32",
                "op=add-dest service=tcp:[10.0.0.1]:80 dest=[127.0.0.2]:80 forward=nat weight=1 uthreshold=0 lthreshold=0",
                "op=add-dest service=tcp:[10.0.0.1]:80 dest=[127.0.0.3]:80 forward=nat weight=1 uthreshold=0 lthreshold=0",
            ]
        );
        assert_eq!(
            lines(tr.ops(&table(&[(2, 0)]))),
            vec![
                "op=del-dest service=tcp:[10.0.0.1]:80 dest=[127.0.0.3]:80",
                "op=edit-dest service=tcp:[10.0.0.1]:80 dest=[127.0.0.2]:80 forward=nat weight=0 uthreshold=0 lthreshold=0",
            ]
        );
        assert!(tr.ops(&table(&[(2, 0)])).is_empty());
        assert_eq!(
            lines(tr.ops(&DesiredTable::default())),
            vec!["op=del-service service=tcp:[10.0.0.1]:80"]
        );
    }
}

#[cfg(test)]
mod kernel_tests {
    use super::*;
    use crate::ipvs::client::Client;
    use crate::ipvs::convert::table_from_dump;
    use crate::ipvs::fake::FakeKernel;

    #[test]
    fn kernel_sink_programs_the_fake_kernel_and_cleans_up() {
        let client = Client::with_transport(FakeKernel::new()).expect("fake kernel");
        let mut sink = KernelSink::new(client, KernelTable::default(), false);
        let t1 = tests_table(&[(2, 1), (3, 1)]);
        sink.apply(&t1);
        assert_eq!(table_from_dump(&sink.client.table().unwrap()), t1);
        let t2 = tests_table(&[(2, 0)]);
        sink.apply(&t2);
        assert_eq!(table_from_dump(&sink.client.table().unwrap()), t2);
        sink.apply(&DesiredTable::default());
        assert!(sink.client.table().unwrap().is_empty());
    }

    fn tests_table(d: &[(u8, u32)]) -> DesiredTable {
        super::tests::table_pub(d)
    }
}
