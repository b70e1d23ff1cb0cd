//! `vrrp_track_process NAME { ... }` and the `track_process { ... }` lists of instances and
//! sync groups (keepalived.conf(5) "VRRP track processes"). Kept in their own file so the
//! parser's main match only gains one arm per block.
//!
//! keepalived 2.2.7's checks (observed with `keepalived -t`) are errors here, each naming
//! the expected form: weight outside -254..254, quorum outside 1..65535, quorum_max
//! outside 0..65535, quorum above quorum_max, delays outside 0.000001..3600 s or with more
//! than six decimals, `param_match` other than `initial`/`partial`, `process` or `weight`
//! given twice, a block without `process`, and in the lists an unknown option, an unknown
//! block name (see config::validate) or a name listed twice.

use super::super::diag::{DiagClass, Span};
use super::super::model::{ParamMatch, TrackProcess, TrackProcessRef};
use super::super::tree::Stmt;
use super::super::values as v;
use super::Parser;
use std::time::Duration;

const WEIGHT_FORM: &str = "N [reverse], N from -254 to 254";
const REF_FORM: &str = "NAME [weight N [reverse|noreverse]], N from -254 to 254";
const DELAY_FORM: &str = "seconds from 0.000001 to 3600 (at most 6 decimals), e.g. 0.5";

/// A process delay as keepalived reads it: seconds with up to six decimals, in
/// 0.000001..=3600.
fn process_delay(s: &str) -> Option<Duration> {
    if s.split_once('.').is_some_and(|(_, f)| f.len() > 6) {
        return None;
    }
    v::timer(s).filter(|d| !d.is_zero() && *d <= Duration::from_secs(3600))
}

impl Parser {
    /// `vrrp_track_process NAME { ... }`.
    pub(super) fn track_process_def(&mut self, st: &Stmt) -> Option<TrackProcess> {
        let name = self.name(st)?;
        let mut p = TrackProcess {
            name,
            process: String::new(),
            params: Vec::new(),
            param_match: None,
            full_command: false,
            // keepalived 2.2.7 starts from 0 (the man page says 1; the daemon does FAULT).
            weight: 0,
            reverse: false,
            quorum: 1,
            quorum_max: u32::MAX,
            fork_delay: Duration::ZERO,
            terminate_delay: Duration::ZERO,
            span: st.span().clone(),
        };
        let mut process_at: Option<Span> = None;
        let mut weight_at: Option<Span> = None;
        let mut quorum: Option<(u32, Span)> = None;
        let mut quorum_max: Option<(u32, Span)> = None;
        for x in self.block(st) {
            match x.kw.text.as_str() {
                "process" => {
                    self.no_block(x);
                    if let Some(first) = &process_at {
                        self.error(
                            DiagClass::Duplicate,
                            x.span(),
                            format!(
                                "vrrp_track_process `{}`: `process` already given at line {}",
                                p.name, first.line
                            ),
                        );
                        continue;
                    }
                    let Some(t) = self.arg(x, 0, "PROCESS [ARGUMENTS...]") else {
                        continue;
                    };
                    p.process = t.text.clone();
                    p.params = x.args[1..].iter().map(|t| t.text.clone()).collect();
                    process_at = Some(x.span().clone());
                }
                "param_match" => {
                    self.no_block(x);
                    let form = "`param_match` alone (exact), `param_match initial` or `param_match partial`";
                    self.max_args(x, 1, form);
                    p.param_match = match x.args.first() {
                        None => Some(ParamMatch::Exact),
                        Some(t) => match t.text.as_str() {
                            "initial" => Some(ParamMatch::Initial),
                            "partial" => Some(ParamMatch::Partial),
                            "exact" => {
                                self.warn(
                                    DiagClass::Semantic,
                                    &t.span,
                                    "keepalived 2.2.7 rejects `param_match exact` (\"Invalid param_match type\"); write `param_match` alone for an exact match",
                                );
                                Some(ParamMatch::Exact)
                            }
                            _ => {
                                self.bad(t, "param_match type", form);
                                p.param_match
                            }
                        },
                    };
                }
                "weight" => {
                    self.no_block(x);
                    if let Some(first) = &weight_at {
                        self.error(
                            DiagClass::Duplicate,
                            x.span(),
                            format!(
                                "vrrp_track_process `{}`: `weight` already given at line {}",
                                p.name, first.line
                            ),
                        );
                        continue;
                    }
                    weight_at = Some(x.span().clone());
                    let Some(t) = self.arg(x, 0, WEIGHT_FORM) else {
                        continue;
                    };
                    if let Some(n) =
                        self.tok_val(t, |s| v::int_in(s, -254, 254), "weight", WEIGHT_FORM)
                    {
                        p.weight = n as i32;
                    }
                    match x.args.get(1).map(|t| t.text.as_str()) {
                        None => {}
                        Some("reverse") => p.reverse = true,
                        Some(_) => self.bad(&x.args[1], "weight option", WEIGHT_FORM),
                    }
                    self.max_args(x, 2, WEIGHT_FORM);
                }
                "quorum" => {
                    if let Some(n) = self.u32_in(x, 1, 65535) {
                        quorum = Some((n, x.span().clone()));
                    }
                }
                "quorum_max" => {
                    if let Some(n) = self.u32_in(x, 0, 65535) {
                        quorum_max = Some((n, x.span().clone()));
                    }
                }
                "fork_delay" | "terminate_delay" | "delay" => {
                    let Some(d) = self.one(x, process_delay, DELAY_FORM) else {
                        continue;
                    };
                    if x.kw.text != "fork_delay" {
                        p.terminate_delay = d;
                    }
                    if x.kw.text != "terminate_delay" {
                        p.fork_delay = d;
                    }
                }
                "full_command" => {
                    // keepalived takes `full_command` with any argument as "on".
                    self.no_block(x);
                    p.full_command = match x.args.first() {
                        None => true,
                        Some(t) => v::boolean(&t.text).unwrap_or_else(|| {
                            self.warn(
                                DiagClass::Semantic,
                                &t.span,
                                format!("`full_command` takes no value; `{}` ignored (on)", t.text),
                            );
                            true
                        }),
                    };
                    self.max_args(x, 1, "`full_command` alone");
                }
                _ => self.other(x, "vrrp_track_process", super::kw::TRACK_PROCESS, &[]),
            }
        }
        // keepalived: quorum_max 0 means "fail while any is running" and takes quorum to 0,
        // unless a quorum above 1 was asked for.
        match (&quorum, &quorum_max) {
            (Some((q, q_at)), Some((m, m_at))) if *m > 0 || *q > 1 => {
                // Reported where the second of the two is written, as keepalived does.
                let at = if q_at.line > m_at.line { q_at } else { m_at };
                if q > m {
                    self.error_help(
                        DiagClass::Semantic,
                        at,
                        format!(
                            "vrrp_track_process `{}`: quorum_max {m} is below quorum {q}",
                            p.name
                        ),
                        "expected quorum <= quorum_max (quorum_max 0 alone: no such process may run)",
                    );
                }
            }
            _ => {}
        }
        if let Some((q, _)) = quorum {
            p.quorum = q;
        }
        if let Some((m, _)) = quorum_max {
            p.quorum_max = m;
            if m == 0 {
                p.quorum = 0;
            }
        }
        // Arguments or param_match mean the command line is matched (keepalived).
        if !p.params.is_empty() || p.param_match.is_some() {
            p.full_command = true;
            if p.param_match.is_none() {
                p.param_match = Some(ParamMatch::Exact);
            }
        }
        if process_at.is_none() {
            self.error_help(
                DiagClass::Missing,
                st.span(),
                format!("vrrp_track_process `{}` has no `process`", p.name),
                "expected `process NAME [ARGUMENTS...]` in the block",
            );
            return None;
        }
        Some(p)
    }

    /// `process_monitor_rcv_bufs BYTES` / `process_monitor_rcv_bufs_force [BOOL]` in
    /// global_defs: the process connector's socket buffer in keepalived. Checked, accepted,
    /// and without effect: rampart reads /proc (see vrrp::track_process).
    pub(super) fn process_monitor_bufs(&mut self, st: &Stmt) {
        if st.kw.text == "process_monitor_rcv_bufs" {
            let bytes = |s: &str| v::uint_in(s, 0, u64::from(u32::MAX));
            if self.one(st, bytes, "a size in bytes").is_none() {
                return;
            }
        } else {
            self.flag(st);
        }
        self.info(
            st,
            format!(
                "`{}` accepted; it has no effect: rampart tracks processes by reading /proc, not through the process connector socket it sizes",
                st.kw.text
            ),
        );
    }

    /// `track_process { NAME [weight N [reverse|noreverse]] ... }` in an instance or group.
    pub(super) fn track_process_refs(&mut self, st: &Stmt) -> Vec<TrackProcessRef> {
        let mut out: Vec<TrackProcessRef> = Vec::new();
        for s in self.block(st) {
            self.no_block(s);
            let mut r = TrackProcessRef {
                name: s.kw.text.clone(),
                weight: None,
                reverse: None,
                span: s.span().clone(),
            };
            if let Some(opt) = s.args.first() {
                if opt.text != "weight" {
                    self.bad(opt, "track_process option", REF_FORM);
                    continue;
                }
                let Some(n) = s.args.get(1) else {
                    self.error_help(
                        DiagClass::Missing,
                        &opt.span,
                        "`weight` needs a value",
                        format!("expected {REF_FORM}"),
                    );
                    continue;
                };
                r.weight = self.tok_val(
                    n,
                    |x| v::int_in(x, -254, 254).map(|n| n as i32),
                    "weight",
                    REF_FORM,
                );
                match s.args.get(2).map(|t| t.text.as_str()) {
                    None => {}
                    Some("reverse") => r.reverse = Some(true),
                    Some("noreverse") => r.reverse = Some(false),
                    Some(_) => self.bad(&s.args[2], "weight option", REF_FORM),
                }
                self.max_args(s, 3, REF_FORM);
            }
            if let Some(first) = out.iter().find(|o| o.name == r.name) {
                self.error(
                    DiagClass::Duplicate,
                    &r.span,
                    format!(
                        "track_process `{}` listed twice (first at line {})",
                        r.name, first.span.line
                    ),
                );
                continue;
            }
            out.push(r);
        }
        out
    }
}
