//! `rampart doctor`: check a director against its configuration and explain each problem with
//! its fix.
//!
//! Shape: [`gather`] reads the host into a [`HostFacts`] value (sysctls, interfaces and
//! addresses, firewall rules as `iptables-save` / `nft list ruleset` text, IPVS presence, VRRP
//! daemons running). [`checks::run`] is a set of pure functions from (config, facts) to
//! [`Finding`]s, so each check is unit-tested on hand-written facts, and the facts can be
//! saved on one machine (`--dump-facts`) and examined on another (`--facts FILE`).

pub mod checks;
pub mod facts;
pub mod firewall;
pub mod gather;

pub use checks::run;
pub use facts::HostFacts;

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Likely fine, but worth knowing; does not make doctor fail.
    Info,
    /// Probably wrong, or wrong in some situations (after a failover, under load).
    Warning,
    /// rampart will not work as configured on this host.
    Error,
}

impl Severity {
    pub fn label(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

/// One problem found: a stable id (for scripts and tests), how bad, what is wrong, and what
/// to do about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub id: &'static str,
    pub severity: Severity,
    pub message: String,
    pub fix: String,
    /// Where in the configuration the thing concerned is written, `file:line:col`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    /// Supporting evidence: the firewall rules, addresses, values the finding is based on.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<String>,
}

impl Finding {
    pub fn new(
        id: &'static str,
        severity: Severity,
        message: impl Into<String>,
        fix: impl Into<String>,
    ) -> Finding {
        Finding {
            id,
            severity,
            message: message.into(),
            fix: fix.into(),
            location: None,
            evidence: Vec::new(),
        }
    }
    pub fn at(mut self, span: &crate::config::Span) -> Finding {
        self.location = Some(span.to_string());
        self
    }
    pub fn with_evidence(mut self, evidence: Vec<String>) -> Finding {
        self.evidence = evidence;
        self
    }
    /// Whether this finding makes `rampart doctor` exit 1.
    pub fn is_problem(&self) -> bool {
        self.severity >= Severity::Warning
    }

    /// Human rendering: `error[id] file:line: message`, then the evidence and the fix.
    pub fn render(&self) -> String {
        let mut out = format!("{}[{}]", self.severity.label(), self.id);
        if let Some(loc) = &self.location {
            out.push(' ');
            out.push_str(loc);
        }
        out.push_str(": ");
        out.push_str(&self.message);
        out.push('\n');
        for e in &self.evidence {
            out.push_str("    | ");
            out.push_str(e);
            out.push('\n');
        }
        out.push_str("  fix: ");
        out.push_str(&self.fix.replace('\n', "\n       "));
        out.push('\n');
        out
    }
}
