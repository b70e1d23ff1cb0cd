//! The reconciler: a pure function from (desired table, kernel table, managed keys) to the
//! ordered, minimal list of operations; and `apply`, which runs them through the client as
//! pipelined requests and reports a result per operation.
//!
//! Ownership: a kernel service is *managed* when its key is in the desired table or in the set
//! of keys rampart managed before (so a service removed from the configuration is deleted);
//! every other kernel service is *foreign* and never touched. On start rampart adopts managed
//! services already in the kernel: they are edited into shape, not recreated.
//!
//! Order: destinations are removed first, then services, then services are edited and added,
//! then destinations edited and added — so a service exists before its destinations and
//! capacity is released before it is claimed. Deleting a service removes its destinations in
//! the kernel, so no per-destination deletes are sent for it. An edit is one request: changing
//! one weight is exactly one `SET_DEST`.

use super::client::{Client, IpvsError, Transport};
use super::codec::{Cmd, IpvsMessage};
use super::convert::{dest_attrs, dest_key_attrs, service_attrs, service_key_attrs};
use super::table::{DesiredTable, DestKey, DestSettings, KernelTable, ServiceKey, ServiceSettings};
use serde::Serialize;
use std::collections::BTreeSet;

/// One change to the kernel table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum IpvsOp {
    /// `lvs_flush`: empty the whole table (every service, foreign ones included).
    Flush,
    AddService {
        key: ServiceKey,
        settings: ServiceSettings,
    },
    EditService {
        key: ServiceKey,
        settings: ServiceSettings,
    },
    DelService {
        key: ServiceKey,
    },
    AddDest {
        service: ServiceKey,
        dest: DestKey,
        settings: DestSettings,
    },
    EditDest {
        service: ServiceKey,
        dest: DestKey,
        settings: DestSettings,
    },
    DelDest {
        service: ServiceKey,
        dest: DestKey,
    },
}

impl IpvsOp {
    /// The netlink request for this operation.
    pub fn to_message(&self) -> IpvsMessage {
        match self {
            IpvsOp::Flush => IpvsMessage::new(Cmd::Flush),
            IpvsOp::AddService { key, settings } => {
                IpvsMessage::new(Cmd::NewService).with_service(service_attrs(key, settings))
            }
            IpvsOp::EditService { key, settings } => {
                IpvsMessage::new(Cmd::SetService).with_service(service_attrs(key, settings))
            }
            IpvsOp::DelService { key } => {
                IpvsMessage::new(Cmd::DelService).with_service(service_key_attrs(key))
            }
            IpvsOp::AddDest {
                service,
                dest,
                settings,
            } => IpvsMessage::new(Cmd::NewDest)
                .with_service(service_key_attrs(service))
                .with_dest(dest_attrs(dest, settings)),
            IpvsOp::EditDest {
                service,
                dest,
                settings,
            } => IpvsMessage::new(Cmd::SetDest)
                .with_service(service_key_attrs(service))
                .with_dest(dest_attrs(dest, settings)),
            IpvsOp::DelDest { service, dest } => IpvsMessage::new(Cmd::DelDest)
                .with_service(service_key_attrs(service))
                .with_dest(dest_key_attrs(dest)),
        }
    }

    /// The operation to try instead when the kernel's table turned out different from the
    /// snapshot ("already exists" on an add, "not found" on an edit), if any.
    fn fallback(&self, errno: i32) -> Option<IpvsOp> {
        match (self, errno) {
            (IpvsOp::AddService { key, settings }, libc::EEXIST) => Some(IpvsOp::EditService {
                key: *key,
                settings: settings.clone(),
            }),
            (IpvsOp::EditService { key, settings }, libc::ESRCH) => Some(IpvsOp::AddService {
                key: *key,
                settings: settings.clone(),
            }),
            (
                IpvsOp::AddDest {
                    service,
                    dest,
                    settings,
                },
                libc::EEXIST,
            ) => Some(IpvsOp::EditDest {
                service: *service,
                dest: *dest,
                settings: *settings,
            }),
            (
                IpvsOp::EditDest {
                    service,
                    dest,
                    settings,
                },
                libc::ENOENT,
            ) => Some(IpvsOp::AddDest {
                service: *service,
                dest: *dest,
                settings: *settings,
            }),
            _ => None,
        }
    }

    /// Errors that mean the goal is already reached (deleting what is gone).
    fn already_done(&self, errno: i32) -> bool {
        match self {
            IpvsOp::DelService { .. } => errno == libc::ESRCH,
            IpvsOp::DelDest { .. } => errno == libc::ENOENT || errno == libc::ESRCH,
            _ => false,
        }
    }
}

/// Compute the operations that make the managed part of `kernel` equal to `desired`.
///
/// `previously_managed`: keys rampart programmed before (from its last run); with them, a
/// service dropped from the configuration is deleted, while services nobody configured stay.
pub fn reconcile(
    desired: &DesiredTable,
    kernel: &KernelTable,
    previously_managed: &BTreeSet<ServiceKey>,
) -> Vec<IpvsOp> {
    let mut del_dests = Vec::new();
    let mut del_services = Vec::new();
    let mut edit_services = Vec::new();
    let mut add_services = Vec::new();
    let mut edit_dests = Vec::new();
    let mut add_dests = Vec::new();

    for (key, entry) in &kernel.services {
        if !desired.services.contains_key(key) && previously_managed.contains(key) {
            del_services.push(IpvsOp::DelService { key: *key });
        }
        let _ = entry;
    }
    for (key, want) in &desired.services {
        match kernel.services.get(key) {
            None => {
                add_services.push(IpvsOp::AddService {
                    key: *key,
                    settings: want.settings.clone(),
                });
                for (d, st) in &want.dests {
                    add_dests.push(IpvsOp::AddDest {
                        service: *key,
                        dest: *d,
                        settings: *st,
                    });
                }
            }
            Some(have) => {
                if have.settings != want.settings {
                    edit_services.push(IpvsOp::EditService {
                        key: *key,
                        settings: want.settings.clone(),
                    });
                }
                for d in have.dests.keys() {
                    if !want.dests.contains_key(d) {
                        del_dests.push(IpvsOp::DelDest {
                            service: *key,
                            dest: *d,
                        });
                    }
                }
                for (d, st) in &want.dests {
                    match have.dests.get(d) {
                        None => add_dests.push(IpvsOp::AddDest {
                            service: *key,
                            dest: *d,
                            settings: *st,
                        }),
                        Some(h) if h != st => edit_dests.push(IpvsOp::EditDest {
                            service: *key,
                            dest: *d,
                            settings: *st,
                        }),
                        Some(_) => {}
                    }
                }
            }
        }
    }
    let mut ops = del_dests;
    ops.extend(del_services);
    ops.extend(edit_services);
    ops.extend(add_services);
    ops.extend(edit_dests);
    ops.extend(add_dests);
    ops
}

/// The operations for a start with `lvs_flush`: flush first, then build the desired table
/// from empty.
pub fn reconcile_flush(desired: &DesiredTable) -> Vec<IpvsOp> {
    let mut ops = vec![IpvsOp::Flush];
    ops.extend(reconcile(
        desired,
        &KernelTable::default(),
        &BTreeSet::new(),
    ));
    ops
}

/// What happened to one operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OpOutcome {
    pub op: IpvsOp,
    /// Ok, or the kernel's errno.
    pub result: Result<(), i32>,
    /// The operation actually sent instead after an "exists"/"not found" answer.
    pub retried_as: Option<IpvsOp>,
}

impl OpOutcome {
    pub fn ok(&self) -> bool {
        self.result.is_ok()
    }
}

/// Run `ops` through the client: all of them pipelined; "already exists"/"not found" answers
/// are handled idempotently (a delete of something gone succeeds; an add of something present
/// becomes an edit and vice versa, sent as a second pipelined batch). One failure does not
/// stop the rest. Only a transport failure is an `Err`.
pub fn apply<T: Transport>(
    client: &mut Client<T>,
    ops: &[IpvsOp],
) -> Result<Vec<OpOutcome>, IpvsError> {
    let msgs: Vec<IpvsMessage> = ops.iter().map(IpvsOp::to_message).collect();
    let results = client.execute(&msgs)?;
    let mut outcomes: Vec<OpOutcome> = Vec::with_capacity(ops.len());
    let mut retries: Vec<(usize, IpvsOp)> = Vec::new();
    for (i, (op, r)) in ops.iter().zip(results).enumerate() {
        let result = match r {
            Err(e) if op.already_done(e) => Ok(()),
            Err(e) => {
                if let Some(f) = op.fallback(e) {
                    retries.push((i, f));
                }
                Err(e)
            }
            Ok(()) => Ok(()),
        };
        outcomes.push(OpOutcome {
            op: op.clone(),
            result,
            retried_as: None,
        });
    }
    if !retries.is_empty() {
        let msgs: Vec<IpvsMessage> = retries.iter().map(|(_, o)| o.to_message()).collect();
        let results = client.execute(&msgs)?;
        for ((i, f), r) in retries.into_iter().zip(results) {
            outcomes[i].result = r;
            outcomes[i].retried_as = Some(f);
        }
    }
    for o in &outcomes {
        if let Err(errno) = o.result {
            tracing::warn!(
                op = ?o.op,
                error = %std::io::Error::from_raw_os_error(errno),
                "IPVS operation failed"
            );
        }
    }
    Ok(outcomes)
}

/// Where operations go: the kernel, or (for `--dry-run`) nowhere but the log.
pub trait OpSink {
    fn apply(&mut self, ops: &[IpvsOp]) -> Result<Vec<OpOutcome>, IpvsError>;
}

impl<T: Transport> OpSink for Client<T> {
    fn apply(&mut self, ops: &[IpvsOp]) -> Result<Vec<OpOutcome>, IpvsError> {
        apply(self, ops)
    }
}

/// A sink that logs every operation and records it, touching nothing.
#[derive(Debug, Default)]
pub struct DryRun {
    pub applied: Vec<IpvsOp>,
}

impl OpSink for DryRun {
    fn apply(&mut self, ops: &[IpvsOp]) -> Result<Vec<OpOutcome>, IpvsError> {
        let mut out = Vec::with_capacity(ops.len());
        for op in ops {
            tracing::info!(op = ?op, "dry run: would apply IPVS operation");
            self.applied.push(op.clone());
            out.push(OpOutcome {
                op: op.clone(),
                result: Ok(()),
                retried_as: None,
            });
        }
        Ok(out)
    }
}
