//! Typed parsing: statement tree → [`Config`]. Every keyword is either implemented,
//! recognised as keepalived's but unsupported (a warning), or unknown (an error with a
//! "did you mean"). Values of the wrong form are errors naming the expected form.

use super::diag::{DiagClass, Diagnostic, Span};
use super::keywords as kw;
use super::lexer::Token;
use super::model::*;
use super::tree::Stmt;
use super::values as v;
use std::net::IpAddr;
use std::time::Duration;

mod track_process;

/// Parser context: the diagnostics collected so far. No globals.
#[derive(Default)]
pub struct Parser {
    pub diags: Vec<Diagnostic>,
    /// Per instance (in order): where state, VRID, advert_int, nopreempt were written.
    pub instance_spans: Vec<(String, InstanceSpans)>,
    /// Per sync group (in order): the span of each member name.
    pub member_spans: Vec<(String, Vec<Span>)>,
    /// "did you mean" searches done so far (bounded: a wrong file of 200k garbage lines must
    /// not cost 200k fuzzy searches).
    suggestions: usize,
    /// Rules written without a priority so far: keepalived 2.2.7 gives them 16384, 16383, ...
    /// in file order ("Rule has no preference specified - setting to 16384").
    unprioritised_rules: u32,
    /// FILE_CHECK `track_file` names not defined (yet) where they were used: keepalived
    /// 2.2.7 looks them up while parsing, so a track_file block defined later is "not found".
    file_check_pending: Vec<(String, Span)>,
}

/// Flags whose value keepalived 2.2.7 ignores (`KEYWORD 1` is silent, `KEYWORD off` turns it on;
/// found by benches/config_sweep.py and keepalived's `-d` dump).
const ARG_IGNORED_FLAGS: &[&str] = &[
    "enable_script_security",
    "log_unknown_vrids",
    "lvs_flush",
    "vrrp_check_unicast_src",
    "vrrp_skip_check_adv_addr",
    "vrrp_strict",
    "check_unicast_src",
    "dont_track_primary",
    "promote_secondaries",
    "unicast_fault_no_peer",
    "nopreempt",
    "init_fail",
    "alpha",
    "omega",
    "ha_suspend",
    "ops",
    "sorry_server_inhibit",
    "misc_dynamic",
];

/// At most this many "did you mean" searches per load; later typos get the plain message.
pub const MAX_SUGGESTIONS: usize = 200;

/// Levenshtein distance, bounded work (keywords are short).
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().take(64).collect();
    let b: Vec<char> = b.chars().take(64).collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        cur[0] = i;
        for j in 1..=b.len() {
            let sub = prev[j - 1] + usize::from(a[i - 1] != b[j - 1]);
            cur[j] = sub.min(prev[j] + 1).min(cur[j - 1] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// The closest known keyword, if it is close enough to be a plausible typo.
pub fn did_you_mean<'a>(word: &str, known: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let lower = word.to_ascii_lowercase();
    let limit = (word.chars().count() / 3).clamp(1, 3);
    let mut best: Option<(usize, &str)> = None;
    // Bounded work whatever the number of candidates (instance names can be many).
    for k in known.into_iter().take(5_000) {
        // A length difference above the limit cannot be within the limit.
        if k.len().abs_diff(lower.len()) > limit {
            continue;
        }
        let d = edit_distance(&lower, &k.to_ascii_lowercase());
        if best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, k));
        }
    }
    best.filter(|(d, _)| *d <= limit).map(|(_, k)| k)
}

/// A DNS host name (RFC 1123): dot-separated labels of letters, digits and inner hyphens,
/// the last one not all digits (so `10.0.0` or `4294967296` is no name).
fn is_host_name(s: &str) -> bool {
    let s = s.strip_suffix('.').unwrap_or(s);
    let labels: Vec<&str> = s.split('.').collect();
    s.len() <= 253
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
        && labels
            .last()
            .is_some_and(|l| !l.chars().all(|c| c.is_ascii_digit()))
}

fn join(toks: &[Token]) -> String {
    let mut s = String::new();
    for (i, t) in toks.iter().enumerate() {
        if i > 0 {
            s.push(' ');
        }
        s.push_str(&t.text);
    }
    s
}

/// Split a command string shell-like: whitespace separates, single quotes group.
pub fn split_command(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut in_single = false;
    for c in s.chars() {
        if in_single {
            if c == '\'' {
                in_single = false;
            } else {
                cur.push(c);
            }
            continue;
        }
        match c {
            '\'' => {
                in_single = true;
                in_word = true;
            }
            c if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        out.push(cur);
    }
    out
}

/// The position right after a statement's last token, for "missing value" messages.
fn after(st: &Stmt) -> Span {
    let last = st.args.last().unwrap_or(&st.kw);
    let mut s = last.span.clone();
    let width = last.text.chars().count() as u32 + if last.quoted { 2 } else { 0 };
    s.col += width + 1;
    s
}

impl Parser {
    pub fn error(&mut self, class: DiagClass, span: &Span, msg: impl Into<String>) {
        self.diags
            .push(Diagnostic::error(class, Some(span.clone()), msg));
    }
    pub fn error_help(
        &mut self,
        class: DiagClass,
        span: &Span,
        msg: impl Into<String>,
        help: impl Into<String>,
    ) {
        self.diags
            .push(Diagnostic::error(class, Some(span.clone()), msg).with_help(help));
    }
    pub fn warn(&mut self, class: DiagClass, span: &Span, msg: impl Into<String>) {
        self.diags
            .push(Diagnostic::warning(class, Some(span.clone()), msg));
    }

    /// A keyword this context does not implement: unsupported (warning) or unknown (error).
    fn other(&mut self, st: &Stmt, context: &str, known: &[&str], unsupported: &[&str]) {
        let word = st.kw.text.as_str();
        if unsupported.contains(&word) || kw::is_unsupported_anywhere(word) {
            self.warn(
                DiagClass::Unsupported,
                st.span(),
                format!("`{word}` is not supported by rampart yet; ignored"),
            );
            return;
        }
        if kw::is_keepalived(word) {
            if kw::is_implemented_somewhere(word) {
                self.error(
                    DiagClass::UnknownKeyword,
                    st.span(),
                    format!("`{word}` is not valid in {context}"),
                );
            } else if let Some(home) = kw::unsupported_home(word) {
                // Misplaced, not merely unsupported: keepalived 2.2.7 calls it an unknown
                // keyword here and ignores it (found by benches/config_sweep.py --keywords).
                self.error_help(
                    DiagClass::UnknownKeyword,
                    st.span(),
                    format!("`{word}` is not valid in {context}"),
                    format!("keepalived reads `{word}` in {home} (where rampart does not support it yet)"),
                );
            } else {
                self.warn(
                    DiagClass::Unsupported,
                    st.span(),
                    format!("`{word}` (in {context}) is not supported by rampart yet; ignored"),
                );
            }
            return;
        }
        let msg = format!("unknown keyword `{word}` in {context}");
        self.suggestions += 1;
        let suggestion = if self.suggestions <= MAX_SUGGESTIONS {
            did_you_mean(word, known.iter().chain(unsupported.iter()).copied())
        } else {
            None
        };
        match suggestion {
            Some(s) => self.error_help(
                DiagClass::UnknownKeyword,
                st.span(),
                msg,
                format!("did you mean `{s}`?"),
            ),
            None => self.error(DiagClass::UnknownKeyword, st.span(), msg),
        }
    }

    /// Report a block given to a keyword that takes none.
    fn no_block(&mut self, st: &Stmt) {
        if let Some(b) = &st.block {
            self.error(
                DiagClass::Syntax,
                &b.open,
                format!("`{}` does not take a block", st.kw.text),
            );
        }
    }

    fn max_args(&mut self, st: &Stmt, n: usize, form: &str) {
        if st.args.len() > n {
            self.error_help(
                DiagClass::BadValue,
                &st.args[n].span,
                format!(
                    "unexpected extra value `{}` for `{}`",
                    st.args[n].text, st.kw.text
                ),
                format!("expected {form}"),
            );
        }
    }

    fn arg<'s>(&mut self, st: &'s Stmt, i: usize, form: &str) -> Option<&'s Token> {
        match st.args.get(i) {
            Some(t) => Some(t),
            None => {
                self.error_help(
                    DiagClass::Missing,
                    &after(st),
                    format!("`{}` needs a value", st.kw.text),
                    format!("expected {form}"),
                );
                None
            }
        }
    }

    fn bad(&mut self, tok: &Token, what: &str, form: &str) {
        self.error_help(
            DiagClass::BadValue,
            &tok.span,
            format!("invalid {what} `{}`", tok.text),
            format!("expected {form}"),
        );
    }

    /// Parse the single value of `KEYWORD VALUE`.
    fn one<T>(&mut self, st: &Stmt, f: impl Fn(&str) -> Option<T>, form: &str) -> Option<T> {
        self.no_block(st);
        let tok = self.arg(st, 0, form)?;
        let r = f(&tok.text);
        if r.is_none() {
            let what = format!("value for `{}`", st.kw.text);
            self.bad(tok, &what, form);
        } else {
            self.max_args(st, 1, form);
        }
        r
    }

    /// `lvs_method NAT|DR` or `lvs_method TUN [type ipip|gue port N|gre [nocsum|csum|remcsum]]`
    /// (keepalived 2.2.7; also `sorry_server_lvs_method`). The tunnel is Some only when a
    /// `type` was written.
    fn lvs_method(&mut self, st: &Stmt) -> Option<(ForwardMethod, Option<Tunnel>)> {
        const FORM: &str = "NAT, DR or TUN [type ipip|gue port PORT|gre [nocsum|csum|remcsum]]";
        self.no_block(st);
        let tok = self.arg(st, 0, FORM)?;
        let Some(method) = fwd_method(&tok.text) else {
            let what = format!("value for `{}`", st.kw.text);
            self.bad(tok, &what, FORM);
            return None;
        };
        if method != ForwardMethod::Tun {
            self.max_args(st, 1, FORM);
            return Some((method, None));
        }
        let Some(t) = st.args.get(1) else {
            return Some((method, None));
        };
        if t.text != "type" {
            self.bad(t, "tunnel option", "`type ipip|gue|gre` after TUN");
            return None;
        }
        let kt = self.arg(st, 2, "a tunnel type: ipip, gue or gre")?;
        let kind = match kt.text.as_str() {
            "ipip" => TunnelKind::Ipip,
            "gue" => TunnelKind::Gue,
            "gre" => TunnelKind::Gre,
            _ => {
                self.bad(kt, "tunnel type", "ipip, gue or gre");
                return None;
            }
        };
        let mut tunnel = Tunnel {
            kind,
            ..Default::default()
        };
        let mut next = 3;
        if tunnel.kind == TunnelKind::Gue {
            match st.args.get(3) {
                Some(p) if p.text == "port" => {
                    let pt = self.arg(st, 4, "the GUE port (1-65535)")?;
                    tunnel.port = self.tok_val(
                        pt,
                        |x| v::uint_in(x, 1, 65535).map(|n| n as u16),
                        "GUE port",
                        "a port number 1-65535",
                    )?;
                    next = 5;
                }
                _ => {
                    self.error_help(
                        DiagClass::Missing,
                        &st.args.get(3).map_or_else(|| after(st), |t| t.span.clone()),
                        "`lvs_method TUN type gue` needs a port",
                        "expected `type gue port PORT`",
                    );
                    return None;
                }
            }
        }
        if let Some(c) = st.args.get(next) {
            let csum = match (tunnel.kind, c.text.as_str()) {
                (TunnelKind::Ipip, _) => None,
                (_, "nocsum") => Some(TunnelCsum::NoCsum),
                (_, "csum") => Some(TunnelCsum::Csum),
                (TunnelKind::Gue, "remcsum") => Some(TunnelCsum::RemCsum),
                _ => None,
            };
            match csum {
                Some(x) => tunnel.csum = x,
                None => {
                    let form = match tunnel.kind {
                        TunnelKind::Ipip => {
                            "nothing after `type ipip` (checksums are GUE/GRE options)"
                        }
                        TunnelKind::Gue => "nocsum, csum or remcsum",
                        TunnelKind::Gre => "nocsum or csum (GRE has no remcsum)",
                    };
                    self.bad(c, "tunnel checksum option", form);
                    return None;
                }
            }
            next += 1;
        }
        self.max_args(st, next, FORM);
        Some((method, Some(tunnel)))
    }

    fn tok_val<T>(
        &mut self,
        tok: &Token,
        f: impl Fn(&str) -> Option<T>,
        what: &str,
        form: &str,
    ) -> Option<T> {
        let r = f(&tok.text);
        if r.is_none() {
            self.bad(tok, what, form);
        }
        r
    }

    fn string(&mut self, st: &Stmt) -> Option<String> {
        self.one(st, |s| Some(s.to_string()), "a string")
    }

    fn timer(&mut self, st: &Stmt) -> Option<Duration> {
        self.one(
            st,
            v::timer,
            "a time in seconds (at most 1000000000), e.g. 3 or 0.5",
        )
    }

    /// Whole seconds from `lo` to `hi`: keepalived 2.2.7 reads these keywords as integers and
    /// ignores (or clamps) anything else, so a fraction or an out-of-range value is an error
    /// here rather than a silently different timer (docs/config-parity.md).
    fn whole_secs(&mut self, st: &Stmt, lo: u64, hi: u64) -> Option<Duration> {
        let form = format!("whole seconds from {lo} to {hi} (no fraction)");
        self.one(
            st,
            |s| v::uint_in(s, lo, hi).map(Duration::from_secs),
            &form,
        )
    }

    /// A timer that must be above zero (keepalived 2.2.7 rejects 0 and keeps its default).
    fn timer_nonzero(&mut self, st: &Stmt) -> Option<Duration> {
        self.one(
            st,
            |s| v::timer(s).filter(|d| !d.is_zero()),
            "a time in seconds above 0 (at most 1000000000), e.g. 3 or 0.5",
        )
    }

    fn u32_in(&mut self, st: &Stmt, lo: u64, hi: u64) -> Option<u32> {
        let form = format!("an integer from {lo} to {hi}");
        self.one(st, |s| v::uint_in(s, lo, hi).map(|x| x as u32), &form)
    }

    /// `KEYWORD` alone (on) or `KEYWORD <BOOL>`.
    fn flag(&mut self, st: &Stmt) -> bool {
        if ARG_IGNORED_FLAGS.contains(&st.kw.text.as_str()) {
            return self.bare_flag(st);
        }
        self.no_block(st);
        match st.args.first() {
            None => true,
            Some(t) => {
                self.max_args(st, 1, "on|off|true|false|yes|no");
                match v::boolean(&t.text) {
                    Some(b) => b,
                    None => {
                        self.bad(t, "boolean", "on|off|true|false|yes|no");
                        true
                    }
                }
            }
        }
    }

    /// A keyword whose value keepalived 2.2.7 ignores: `vrrp_strict off` turns strict mode
    /// *on* there (its `-d` dump shows it). Rather than read such a file differently, any
    /// value is an error (benches/config_sweep.py, docs/config-parity.md).
    fn bare_flag(&mut self, st: &Stmt) -> bool {
        self.no_block(st);
        if let Some(t) = st.args.first() {
            let k = &st.kw.text;
            self.error_help(
                DiagClass::BadValue,
                &t.span,
                format!("`{k}` takes no value (`{}` given)", t.text),
                format!(
                    "write `{k}` alone to turn it on, or remove the line; keepalived 2.2.7 ignores the value and turns it on, even `{k} off`"
                ),
            );
        }
        true
    }

    /// A command whose arguments are all the remaining tokens (vrrp_script `script`,
    /// `misc_path`, quorum_up/down).
    fn command_all(&mut self, st: &Stmt) -> Option<Command> {
        self.no_block(st);
        self.arg(st, 0, "a command")?;
        let raw = join(&st.args);
        let argv = if st.args.len() == 1 {
            split_command(&st.args[0].text)
        } else {
            st.args
                .iter()
                .flat_map(|t| {
                    if t.quoted {
                        split_command(&t.text)
                    } else {
                        vec![t.text.clone()]
                    }
                })
                .collect()
        };
        if argv.is_empty() {
            self.error(DiagClass::Missing, &st.args[0].span, "empty command");
            return None;
        }
        Some(Command {
            raw,
            argv,
            span: st.args[0].span.clone(),
        })
    }

    /// A notify script: `KEYWORD "SCRIPT ARGS" [USER [GROUP]]`, keepalived's syntax.
    fn notify_command(&mut self, st: &Stmt) -> Option<Command> {
        self.no_block(st);
        let t = self.arg(st, 0, "a script path, quoted if it has arguments")?;
        if st.args.len() > 1 {
            self.warn(
                DiagClass::Unsupported,
                &st.args[1].span,
                format!(
                    "running `{}` as user `{}` is not supported by rampart yet; it runs as script_user (quote the script if `{}` was meant as an argument)",
                    st.kw.text, st.args[1].text, st.args[1].text
                ),
            );
        }
        self.command_of(t)
    }

    fn run_as(&mut self, st: &Stmt) -> Option<RunAs> {
        self.no_block(st);
        let u = self.arg(st, 0, "USER [GROUP]")?;
        self.max_args(st, 2, "USER [GROUP]");
        Some(RunAs {
            user: u.text.clone(),
            group: st.args.get(1).map(|g| g.text.clone()),
        })
    }

    fn block<'s>(&mut self, st: &'s Stmt) -> &'s [Stmt] {
        match &st.block {
            Some(b) => &b.stmts,
            None => {
                self.error(
                    DiagClass::Missing,
                    &after(st),
                    format!("`{}` needs a `{{ ... }}` block", st.kw.text),
                );
                &[]
            }
        }
    }

    /// Warn about a keyword given twice in one block (keepalived silently uses the last).
    fn duplicates(&mut self, stmts: &[Stmt], repeatable: &[&str]) {
        let mut seen: std::collections::HashMap<&str, u32> = std::collections::HashMap::new();
        for s in stmts {
            let k = s.kw.text.as_str();
            // Unknown and unsupported keywords get their own diagnostic.
            if repeatable.contains(&k) || !kw::is_implemented_somewhere(k) {
                continue;
            }
            if let Some(line) = seen.insert(k, s.span().line) {
                self.warn(
                    DiagClass::Duplicate,
                    s.span(),
                    format!("`{k}` given twice in this block (also at line {line}); the last one is used"),
                );
            }
        }
    }

    /// Items of a list block (`group { a b }`, `notification_email { ... }`).
    fn list<'s>(&mut self, st: &'s Stmt) -> Vec<&'s Token> {
        let mut out = Vec::new();
        for s in self.block(st) {
            if let Some(b) = &s.block {
                self.error(
                    DiagClass::Syntax,
                    &b.open,
                    format!("unexpected block inside `{}`", st.kw.text),
                );
            }
            out.extend(s.words());
        }
        out
    }

    // -----------------------------------------------------------------------------------------
    // top level
    // -----------------------------------------------------------------------------------------

    pub fn config(&mut self, stmts: &[Stmt]) -> Config {
        let mut cfg = Config::default();
        for st in stmts {
            self.top(st, &mut cfg);
        }
        cfg
    }

    /// One top-level statement into the configuration.
    pub fn top(&mut self, st: &Stmt, cfg: &mut Config) {
        {
            match st.kw.text.as_str() {
                "global_defs" => {
                    // keepalived merges repeated global_defs blocks; so do we.
                    let mut g = std::mem::take(&mut cfg.global);
                    self.global_defs(st, &mut g);
                    cfg.global = g;
                }
                "vrrp_script" => {
                    if let Some(s) = self.vrrp_script(st) {
                        cfg.vrrp_scripts.push(s)
                    }
                }
                "vrrp_sync_group" => {
                    if let Some(g) = self.sync_group(st) {
                        cfg.sync_groups.push(g)
                    }
                }
                "vrrp_instance" => {
                    if let Some(i) = self.vrrp_instance(st) {
                        cfg.instances.push(i)
                    }
                }
                "static_ipaddress" => {
                    let block = self.block(st);
                    for s in block {
                        if let Some(a) = self.vip(s, true) {
                            cfg.static_ipaddress.push(a)
                        }
                    }
                }
                "static_routes" => {
                    for s in self.block(st) {
                        if let Some(r) = self.route(s) {
                            cfg.static_routes.push(r)
                        }
                    }
                }
                "static_rules" => {
                    for s in self.block(st) {
                        if let Some(r) = self.rule(s) {
                            cfg.static_rules.push(r)
                        }
                    }
                }
                "virtual_server_group" => {
                    if let Some(g) = self.vs_group(st) {
                        cfg.virtual_server_groups.push(g)
                    }
                }
                "virtual_server" => {
                    if let Some(vs) = self.virtual_server(st) {
                        self.note_file_check_refs(&vs, &cfg.track_files);
                        cfg.virtual_servers.push(vs)
                    }
                }
                "garp_group" => {
                    if let Some(g) = self.garp_group(st) {
                        for i in &g.interfaces {
                            if let Some(other) =
                                cfg.garp_groups.iter().find(|o| o.interfaces.contains(i))
                            {
                                self.error(
                                    DiagClass::Duplicate,
                                    st.span(),
                                    format!(
                                        "interface `{i}` is already in the garp_group at line {}",
                                        other.span.line
                                    ),
                                );
                            }
                        }
                        cfg.garp_groups.push(g);
                    }
                }
                "track_file" | "vrrp_track_file" => {
                    if let Some(f) = self.track_file_def(st) {
                        if cfg.track_files.iter().any(|x| x.name == f.name) {
                            self.error(
                                DiagClass::Duplicate,
                                st.span(),
                                format!("track_file `{}` defined twice", f.name),
                            );
                        } else {
                            self.file_check_defined_late(&f);
                            cfg.track_files.push(f)
                        }
                    }
                }
                "vrrp_track_process" => {
                    if let Some(p) = self.track_process_def(st) {
                        if cfg.track_processes.iter().any(|x| x.name == p.name) {
                            self.error(
                                DiagClass::Duplicate,
                                st.span(),
                                format!("vrrp_track_process `{}` defined twice", p.name),
                            );
                        } else {
                            cfg.track_processes.push(p)
                        }
                    }
                }
                "SSL" => {
                    let mut ssl = cfg.global.ssl.take().unwrap_or_default();
                    self.ssl_block(st, &mut ssl);
                    cfg.global.ssl = Some(ssl);
                }
                _ => self.other(st, "the top level", kw::TOP, kw::TOP_UNSUPPORTED),
            }
        }
    }

    /// The top-level `SSL { password ca certificate key }` block (repeated blocks merge).
    fn ssl_block(&mut self, st: &Stmt, ssl: &mut SslContext) {
        self.max_args(st, 0, "`SSL {`");
        for s in self.block(st) {
            let target = match s.kw.text.as_str() {
                "password" => {
                    ssl.password = self.string(s);
                    self.warn(
                        DiagClass::Unsupported,
                        s.span(),
                        "SSL `password`: encrypted keys are not supported by rampart yet; the password is ignored (decrypt the key with `openssl pkey`)",
                    );
                    continue;
                }
                "ca" => &mut ssl.ca,
                "certificate" => &mut ssl.certificate,
                "key" => &mut ssl.key,
                _ => {
                    self.other(s, "SSL", &["password", "ca", "certificate", "key"], &[]);
                    continue;
                }
            };
            let Some(path) = self.string(s) else { continue };
            // Checked now, so that a typo fails `rampart -t` and a reload instead of every
            // SSL_GET check later.
            if let Err(e) = std::fs::File::open(&path) {
                self.error_help(
                    DiagClass::BadValue,
                    &s.args[0].span,
                    format!("SSL `{}` file {path:?} cannot be read: {e}", s.kw.text),
                    "expected a readable PEM file",
                );
                continue;
            }
            *target = Some(std::path::PathBuf::from(path));
        }
        if ssl.certificate.is_some() != ssl.key.is_some() {
            self.error_help(
                DiagClass::Missing,
                st.span(),
                "SSL block: `certificate` and `key` go together",
                "give both the client certificate and its private key, or neither",
            );
        }
    }

    fn name(&mut self, st: &Stmt) -> Option<String> {
        let t = self.arg(st, 0, "a name")?;
        self.max_args(st, 1, "a name");
        Some(t.text.clone())
    }

    // -----------------------------------------------------------------------------------------
    // global_defs
    // -----------------------------------------------------------------------------------------

    fn global_defs(&mut self, st: &Stmt, g: &mut GlobalDefs) {
        if g.span.is_none() {
            g.span = Some(st.span().clone());
        }
        self.max_args(st, 0, "`global_defs {`");
        let stmts = self.block(st);
        self.duplicates(stmts, &["notification_email"]);
        for s in stmts {
            match s.kw.text.as_str() {
                "notification_email" => {
                    let list = self.list(s);
                    if list.is_empty() && s.block.is_some() {
                        // keepalived 2.2.7: "Warning - empty notification_email block".
                        self.warn(
                            DiagClass::Missing,
                            s.span(),
                            "empty `notification_email` block: no alert will be mailed",
                        );
                    }
                    for t in list {
                        g.notification_email.push(t.text.clone());
                    }
                }
                "notification_email_from" => g.notification_email_from = self.string(s),
                "smtp_server" => {
                    self.no_block(s);
                    let Some(h) = self.arg(s, 0, "HOST [PORT]") else {
                        continue;
                    };
                    // keepalived 2.2.7 takes an address only ("Invalid smtp server NAME");
                    // rampart also resolves a host name, but not a malformed one.
                    if v::ip(&h.text).is_none() && !is_host_name(&h.text) {
                        self.bad(h, "smtp_server host", "an IP address or a host name");
                        continue;
                    }
                    let host = h.text.clone();
                    let port = match s.args.get(1) {
                        Some(p) => self.tok_val(p, v::port, "port", "a port number 0-65535"),
                        None => Some(25),
                    };
                    self.max_args(s, 2, "HOST [PORT]");
                    if let Some(port) = port {
                        g.smtp_server = Some(SmtpServer { host, port });
                    }
                }
                "smtp_helo_name" => g.smtp_helo_name = self.string(s),
                "smtp_connect_timeout" => {
                    if let Some(t) = self.whole_secs(s, 1, 4294) {
                        g.smtp_connect_timeout = t
                    }
                }
                "smtp_alert" => g.smtp_alert = Some(self.flag(s)),
                "smtp_alert_vrrp" => g.smtp_alert_vrrp = Some(self.flag(s)),
                "smtp_alert_checker" => g.smtp_alert_checker = Some(self.flag(s)),
                "router_id" | "lvs_id" => g.router_id = self.string(s),
                "enable_script_security" => g.enable_script_security = self.flag(s),
                "script_user" => g.script_user = self.run_as(s),
                "vrrp_garp_master_delay" => {
                    if let Some(t) = self.whole_secs(s, 0, 4294) {
                        g.vrrp_garp_master_delay = t
                    }
                }
                "vrrp_garp_master_repeat" => {
                    if let Some(n) = self.u32_in(s, 1, u32::MAX as u64) {
                        g.vrrp_garp_master_repeat = n
                    }
                }
                "vrrp_garp_master_refresh" => {
                    g.vrrp_garp_master_refresh = self
                        .whole_secs(s, 0, u32::MAX as u64)
                        .filter(|d| !d.is_zero())
                }
                "vrrp_garp_master_refresh_repeat" => {
                    if let Some(n) = self.u32_in(s, 1, u32::MAX as u64) {
                        g.vrrp_garp_master_refresh_repeat = n
                    }
                }
                "vrrp_version" => {
                    if let Some(n) = self.one(s, |x| v::uint_in(x, 2, 3), "2 or 3") {
                        g.vrrp_version = if n == 2 {
                            VrrpVersion::V2
                        } else {
                            VrrpVersion::V3
                        };
                    }
                }
                "vrrp_mcast_group4" => {
                    if let Some(a) = self.one(s, v::ipv4, "an IPv4 multicast address") {
                        if !a.is_multicast() {
                            self.bad(
                                &s.args[0],
                                "IPv4 multicast group",
                                "an address in 224.0.0.0/4",
                            );
                        } else {
                            g.vrrp_mcast_group4 = a
                        }
                    }
                }
                "vrrp_mcast_group6" => {
                    if let Some(a) = self.one(s, v::ipv6, "an IPv6 multicast address") {
                        if !a.is_multicast() {
                            self.bad(&s.args[0], "IPv6 multicast group", "an address in ff00::/8");
                        } else {
                            g.vrrp_mcast_group6 = a
                        }
                    }
                }
                "vrrp_strict" => g.vrrp_strict = self.flag(s),
                "lvs_flush" => g.lvs_flush = self.flag(s),
                "lvs_flush_on_stop" => {
                    self.no_block(s);
                    self.max_args(s, 1, "`lvs_flush_on_stop` or `lvs_flush_on_stop VS`");
                    g.lvs_flush_on_stop = match s.args.first().map(|t| t.text.as_str()) {
                        None => Some(LvsFlushOnStop::All),
                        Some("VS") => Some(LvsFlushOnStop::VirtualServers),
                        Some(_) => {
                            self.bad(&s.args[0], "lvs_flush_on_stop mode", "nothing or `VS`");
                            None
                        }
                    };
                }
                "checker_log_all_failures" => g.checker_log_all_failures = self.flag(s),
                "rs_init_notifies" => g.rs_init_notifies = self.flag(s),
                "no_checker_emails" => g.no_checker_emails = self.flag(s),
                "lvs_sync_daemon" => g.lvs_sync_daemon = self.lvs_sync_daemon(s),
                "lvs_timeouts" => g.lvs_timeouts = self.lvs_timeouts(s),
                "notify_fifo" => g.notify_fifo = self.fifo(s),
                "vrrp_notify_fifo" => g.vrrp_notify_fifo = self.fifo(s),
                "lvs_notify_fifo" => g.lvs_notify_fifo = self.fifo(s),
                "startup_script" => g.startup_script = self.global_script(s),
                "shutdown_script" => g.shutdown_script = self.global_script(s),
                "startup_script_timeout" => {
                    if let Some(n) = self.u32_in(s, 1, 1000) {
                        g.startup_script_timeout = Duration::from_secs(n as u64)
                    }
                }
                "shutdown_script_timeout" => {
                    if let Some(n) = self.u32_in(s, 1, 1000) {
                        g.shutdown_script_timeout = Duration::from_secs(n as u64)
                    }
                }
                "no_email_faults" => g.no_email_faults = self.flag(s),
                "vrrp_notify_priority_changes" => g.vrrp_notify_priority_changes = self.flag(s),
                "fifo_write_vrrp_states_on_reload" => {
                    g.fifo_write_vrrp_states_on_reload = self.flag(s)
                }
                "notify_fifo_script" | "vrrp_notify_fifo_script" | "lvs_notify_fifo_script" => {
                    self.no_block(s);
                    let user = self.trailing_user(s);
                    let cmd = self.command_only(s);
                    let target = match s.kw.text.as_str() {
                        "notify_fifo_script" => &mut g.notify_fifo,
                        "vrrp_notify_fifo_script" => &mut g.vrrp_notify_fifo,
                        _ => &mut g.lvs_notify_fifo,
                    };
                    match target {
                        Some(f) => {
                            f.script = cmd;
                            f.script_user = user;
                        }
                        None => self.error(
                            DiagClass::Semantic,
                            s.span(),
                            format!(
                                "`{}` without its fifo (put `{} PATH` first)",
                                s.kw.text,
                                s.kw.text.trim_end_matches("_script")
                            ),
                        ),
                    }
                }
                "lvs_sync_daemon_interface" => {
                    self.warn(
                        DiagClass::Deprecated,
                        s.span(),
                        "`lvs_sync_daemon_interface` is obsolete; use `lvs_sync_daemon INTERFACE INSTANCE` (ignored)",
                    );
                }
                "vrrp_garp_lower_prio_delay" => {
                    if let Some(t) = self.whole_secs(s, 0, 4294) {
                        g.vrrp_garp_lower_prio_delay = Some(t)
                    }
                }
                "vrrp_garp_lower_prio_repeat" => {
                    if let Some(n) = self.u32_in(s, 0, u32::MAX as u64) {
                        g.vrrp_garp_lower_prio_repeat = Some(n)
                    }
                }
                "vrrp_garp_interval" | "vrrp_gna_interval" => {
                    if let Some(t) = self.garp_interval(s) {
                        if s.kw.text == "vrrp_garp_interval" {
                            g.vrrp_garp_interval = t
                        } else {
                            g.vrrp_gna_interval = t
                        }
                    }
                }
                "vrrp_min_garp" => {
                    if self.flag(s) {
                        // keepalived: one message, no second round, no refresh; only values
                        // still at their defaults change (a setting made earlier is kept).
                        g.vrrp_min_garp = true;
                        if g.vrrp_garp_master_repeat == 5 {
                            g.vrrp_garp_master_repeat = 1;
                        }
                        if g.vrrp_garp_master_delay == Duration::from_secs(5) {
                            g.vrrp_garp_master_delay = Duration::ZERO;
                        }
                    }
                }
                "vrrp_startup_delay" => {
                    if let Some(t) = self.timer_nonzero(s) {
                        g.vrrp_startup_delay = t
                    }
                }
                "vrrp_check_unicast_src" => g.vrrp_check_unicast_src = self.flag(s),
                "vrrp_skip_check_adv_addr" => g.vrrp_skip_check_adv_addr = self.flag(s),
                "vrrp_lower_prio_no_advert" => g.vrrp_lower_prio_no_advert = Some(self.flag(s)),
                "vrrp_higher_prio_send_advert" => g.vrrp_higher_prio_send_advert = self.flag(s),
                "vrrp_down_timer_adverts" => {
                    if let Some(n) = self.u32_in(s, 1, 100) {
                        g.vrrp_down_timer_adverts = n
                    }
                }
                "vrrp_garp_extra_if" => g.vrrp_garp_extra_if = self.garp_extra_if(s),
                "log_unknown_vrids" => g.log_unknown_vrids = self.flag(s),
                "vrrp_priority" | "vrrp_no_swap" | "vrrp_rt_priority" | "vrrp_rlimit_rttime"
                | "vrrp_cpu_affinity" => {
                    let mut t = std::mem::take(&mut g.vrrp_process);
                    self.process_tuning(s, "vrrp", &mut t);
                    g.vrrp_process = t;
                }
                "checker_priority"
                | "checker_no_swap"
                | "checker_rt_priority"
                | "checker_rlimit_rttime"
                | "checker_cpu_affinity" => {
                    let mut t = std::mem::take(&mut g.checker_process);
                    self.process_tuning(s, "checker", &mut t);
                    g.checker_process = t;
                }
                "process_monitor_rcv_bufs" | "process_monitor_rcv_bufs_force" => {
                    self.process_monitor_bufs(s)
                }
                "process_names" | "process_name" | "vrrp_process_name" | "checker_process_name" => {
                    self.no_block(s);
                    let form = if s.kw.text == "process_names" {
                        "no value"
                    } else {
                        "a name"
                    };
                    self.max_args(s, if s.kw.text == "process_names" { 0 } else { 1 }, form);
                    self.info(
                        s,
                        format!(
                            "`{}` accepted; rampart is one process (`rampart`) whose engines are threads, so there are no child processes to name",
                            s.kw.text
                        ),
                    );
                }
                "max_auto_priority" => {
                    self.no_block(s);
                    if let Some(t) = s.args.first() {
                        self.tok_val(
                            t,
                            |x| v::int_in(x, -1, 99),
                            "max_auto_priority",
                            "an integer from -1 to 99",
                        );
                    }
                    self.max_args(s, 1, "[-1..99]");
                    self.info(
                        s,
                        "`max_auto_priority` accepted with no effect: rampart does not raise its scheduling priority by itself when timers run late",
                    );
                }
                "min_auto_priority_delay" => {
                    if self.u32_in(s, 1, 10_000_000).is_some() {
                        self.info(
                            s,
                            "`min_auto_priority_delay` accepted with no effect: rampart does not raise its scheduling priority by itself",
                        );
                    }
                }
                _ => self.other(s, "global_defs", kw::GLOBAL, kw::GLOBAL_UNSUPPORTED),
            }
        }
    }

    /// An informational note (accepted, and how rampart treats it).
    fn info(&mut self, st: &Stmt, msg: impl Into<String>) {
        self.diags.push(Diagnostic::info(
            DiagClass::Unsupported,
            Some(st.span().clone()),
            msg,
        ));
    }

    /// `vrrp_garp_interval` / `vrrp_gna_interval` / `garp_interval`: seconds, µs resolution.
    fn garp_interval(&mut self, st: &Stmt) -> Option<Duration> {
        // 0 is accepted silently although keepalived 2.2.7 reports it ("is invalid"): it is
        // the default, and keepalived's own distributed sample file writes it.
        let t = self.timer(st)?;
        if t >= Duration::from_secs(1) {
            self.warn(
                DiagClass::Semantic,
                st.span(),
                format!(
                    "`{}` {} is very large (seconds between two messages on one interface)",
                    st.kw.text,
                    v::format_timer(t)
                ),
            );
        }
        Some(t)
    }

    /// `[vrrp_]garp_extra_if [all] SECS` (SECS 0..=86400; 0 disables it for an instance).
    fn garp_extra_if(&mut self, st: &Stmt) -> Option<GarpExtraIf> {
        let form = "[all] SECONDS (0 to 86400)";
        self.no_block(st);
        let mut all = false;
        let mut interval = None;
        for t in &st.args {
            if t.text == "all" {
                all = true;
            } else {
                interval = Some(self.tok_val(
                    t,
                    |x| v::uint_in(x, 0, 86400),
                    "garp_extra_if interval",
                    form,
                )?);
            }
        }
        match interval {
            Some(secs) => Some(GarpExtraIf {
                all,
                interval: Duration::from_secs(secs),
            }),
            None => {
                self.error_help(
                    DiagClass::Missing,
                    &after(st),
                    format!("`{}` needs an interval", st.kw.text),
                    format!("expected {form}"),
                );
                None
            }
        }
    }

    /// `vrrp_priority`, `vrrp_no_swap`, ... and their `checker_` twins.
    fn process_tuning(&mut self, st: &Stmt, who: &str, t: &mut ProcessTuning) {
        let key = st.kw.text.trim_start_matches(who).trim_start_matches('_');
        match key {
            "priority" => {
                let form = "an integer from -20 to 19";
                if let Some(n) = self.one(st, |x| v::int_in(x, -20, 19), form) {
                    t.priority = Some(n as i32);
                    self.info(
                        st,
                        format!(
                            "`{}` accepted with no effect: rampart's {who} engine shares its threads with the other engines; use `nice`/systemd's Nice= for the whole daemon",
                            st.kw.text
                        ),
                    );
                }
            }
            "no_swap" => {
                t.no_swap = self.flag(st);
                if t.no_swap && who == "checker" {
                    self.info(
                        st,
                        "`checker_no_swap`: rampart locks the whole daemon in memory (mlockall) when vrrp_no_swap or checker_no_swap is set, at VRRP engine start",
                    );
                }
            }
            "rt_priority" => {
                if let Some(n) = self.u32_in(st, 1, 99) {
                    t.rt_priority = Some(n);
                    self.info(
                        st,
                        format!(
                            "`{}` accepted with no effect: rampart's engines share threads, and making all of them real-time could starve the system; use systemd's CPUSchedulingPolicy=rr if wanted",
                            st.kw.text
                        ),
                    );
                }
            }
            "rlimit_rttime" => {
                let form = "microseconds, at least 2";
                if let Some(n) = self.one(st, |x| v::uint_in(x, 2, u32::MAX as u64), form) {
                    t.rlimit_rttime = Some(n);
                    self.info(
                        st,
                        format!(
                            "`{}` accepted with no effect (rampart does not switch to real-time scheduling)",
                            st.kw.text
                        ),
                    );
                }
            }
            _ => {
                // cpu_affinity: one or more CPU numbers.
                self.no_block(st);
                if self.arg(st, 0, "CPU numbers, e.g. 0 1").is_none() {
                    return;
                }
                let mut cpus = Vec::new();
                for a in &st.args {
                    if let Some(n) =
                        self.tok_val(a, |x| v::uint_in(x, 0, 4095), "CPU number", "0 to 4095")
                    {
                        cpus.push(n as u32);
                    }
                }
                t.cpu_affinity = cpus;
                self.info(
                    st,
                    format!(
                        "`{}` accepted with no effect: rampart's engines share threads; use `taskset`/systemd's CPUAffinity= for the whole daemon",
                        st.kw.text
                    ),
                );
            }
        }
    }

    /// `garp_group { garp_interval S; gna_interval S; interface IF | interfaces { IF ... } }`.
    fn garp_group(&mut self, st: &Stmt) -> Option<GarpGroup> {
        self.max_args(st, 0, "`garp_group {`");
        let mut g = GarpGroup {
            garp_interval: None,
            gna_interval: None,
            interfaces: Vec::new(),
            span: st.span().clone(),
        };
        let stmts = self.block(st);
        self.duplicates(stmts, &[]);
        let mut named = false;
        for x in stmts {
            match x.kw.text.as_str() {
                "garp_interval" => g.garp_interval = self.garp_interval(x),
                "gna_interval" => g.gna_interval = self.garp_interval(x),
                "interface" => {
                    if named {
                        self.error(
                            DiagClass::Semantic,
                            x.span(),
                            "use only one of `interface` and `interfaces` in a garp_group",
                        );
                    }
                    named = true;
                    if let Some(i) = self.string(x) {
                        g.interfaces.push(i)
                    }
                }
                "interfaces" => {
                    if named {
                        self.error(
                            DiagClass::Semantic,
                            x.span(),
                            "use only one of `interface` and `interfaces` in a garp_group",
                        );
                    }
                    named = true;
                    for t in self.list(x) {
                        g.interfaces.push(t.text.clone());
                    }
                }
                _ => self.other(x, "garp_group", kw::GARP_GROUP, &[]),
            }
        }
        if g.interfaces.is_empty() {
            self.error(
                DiagClass::Missing,
                st.span(),
                "garp_group has no `interface` or `interfaces`",
            );
            return None;
        }
        Some(g)
    }

    /// `track_file NAME { file PATH; weight N [reverse]; init_file [VALUE] [overwrite] }`.
    fn track_file_def(&mut self, st: &Stmt) -> Option<TrackFile> {
        let name = self.name(st)?;
        if st.kw.text == "vrrp_track_file" {
            self.warn(
                DiagClass::Deprecated,
                st.span(),
                "`vrrp_track_file` is a deprecated synonym of `track_file`",
            );
        }
        let mut f = TrackFile {
            name,
            file: String::new(),
            weight: 1,
            reverse: false,
            init_file: None,
            span: st.span().clone(),
        };
        let stmts = self.block(st);
        self.duplicates(stmts, &[]);
        let mut have_file = false;
        for x in stmts {
            match x.kw.text.as_str() {
                "file" => {
                    if let Some(p) = self.string(x) {
                        f.file = p;
                        have_file = true;
                    }
                }
                "weight" => {
                    self.no_block(x);
                    // keepalived 2.2.7: "Weight (N) for track_file NAME must be between
                    // [-254..254] inclusive" (`keepalived -t` exits 5); a FILE_CHECK's own
                    // weight may go to ±2147483647.
                    let form = "N [reverse], N from -254 to 254";
                    let Some(t) = self.arg(x, 0, form) else {
                        continue;
                    };
                    if let Some(n) = self.tok_val(
                        t,
                        |s| v::int_in(s, -254, 254).map(|n| n as i32),
                        "weight",
                        form,
                    ) {
                        f.weight = n;
                    }
                    match x.args.get(1).map(|t| t.text.as_str()) {
                        None => {}
                        Some("reverse") => f.reverse = true,
                        Some(_) => self.bad(&x.args[1], "option", form),
                    }
                    self.max_args(x, 2, form);
                }
                "init_file" => {
                    self.no_block(x);
                    let form = "[VALUE] [overwrite]";
                    let mut value = 0;
                    let mut overwrite = false;
                    for t in &x.args {
                        if t.text == "overwrite" {
                            overwrite = true;
                        } else if let Some(n) = self.tok_val(t, v::int, "init_file value", form) {
                            value = n;
                        }
                    }
                    f.init_file = Some((value, overwrite));
                }
                _ => self.other(x, "track_file", kw::TRACK_FILE, &[]),
            }
        }
        if !have_file {
            self.error(
                DiagClass::Missing,
                st.span(),
                format!("track_file `{}` has no `file`", f.name),
            );
            return None;
        }
        Some(f)
    }

    /// `track_file { NAME [weight N [reverse|noreverse]] ... }` in an instance or sync group.
    fn track_file_refs(&mut self, st: &Stmt) -> Vec<TrackFileRef> {
        let form = "NAME [weight N [reverse|noreverse]], N from -254 to 254";
        let mut out = Vec::new();
        for s in self.block(st) {
            self.no_block(s);
            let mut r = TrackFileRef {
                name: s.kw.text.clone(),
                weight: None,
                reverse: None,
                span: s.span().clone(),
            };
            let mut i = 0;
            while i < s.args.len() {
                match s.args[i].text.as_str() {
                    "weight" => match s.args.get(i + 1) {
                        Some(n) => {
                            r.weight = self.tok_val(
                                n,
                                |x| v::int_in(x, -254, 254).map(|n| n as i32),
                                "weight",
                                form,
                            );
                            i += 2;
                        }
                        None => {
                            self.error_help(
                                DiagClass::Missing,
                                &s.args[i].span,
                                "`weight` needs a value",
                                format!("expected {form}"),
                            );
                            i += 1;
                        }
                    },
                    "reverse" => {
                        r.reverse = Some(true);
                        i += 1;
                    }
                    "noreverse" | "no_reverse" => {
                        r.reverse = Some(false);
                        i += 1;
                    }
                    _ => {
                        self.bad(&s.args[i], "option", form);
                        i += 1;
                    }
                }
            }
            // keepalived 2.2.7: "duplicate track_file NAME - ignoring" (the first one counts).
            if let Some(first) = out.iter().find(|o: &&TrackFileRef| o.name == r.name) {
                let line = first.span.line;
                self.warn(
                    DiagClass::Duplicate,
                    &r.span,
                    format!(
                        "`{}` listed twice in `{}` (first at line {line}); this entry is ignored",
                        r.name, st.kw.text
                    ),
                );
                continue;
            }
            out.push(r);
        }
        out
    }

    fn fifo(&mut self, st: &Stmt) -> Option<NotifyFifo> {
        self.no_block(st);
        let p = self.arg(st, 0, "PATH [username [groupname]]")?;
        Some(NotifyFifo {
            path: p.text.clone(),
            script: None,
            owner: self.trailing_user(st),
            script_user: None,
        })
    }

    /// `KEYWORD THING [username [groupname]]`: the optional user and group after argument 0.
    fn trailing_user(&mut self, st: &Stmt) -> Option<RunAs> {
        self.max_args(st, 3, "ARG [username [groupname]]");
        Some(RunAs {
            user: st.args.get(1)?.text.clone(),
            group: st.args.get(2).map(|g| g.text.clone()),
        })
    }

    /// A command in argument 0 (quoted if it has arguments).
    fn command_only(&mut self, st: &Stmt) -> Option<Command> {
        let t = self.arg(st, 0, "a script path, quoted if it has arguments")?;
        self.command_of(t)
    }

    /// The command in one token (split like a shell would split a quoted string).
    fn command_of(&mut self, t: &Token) -> Option<Command> {
        let argv = split_command(&t.text);
        if argv.is_empty() {
            self.error(DiagClass::Missing, &t.span, "empty command");
            return None;
        }
        Some(Command {
            raw: t.text.clone(),
            argv,
            span: t.span.clone(),
        })
    }

    /// `startup_script` / `shutdown_script`: SCRIPT [username [groupname]].
    fn global_script(&mut self, st: &Stmt) -> Option<GlobalScript> {
        self.no_block(st);
        let user = self.trailing_user(st);
        Some(GlobalScript {
            command: self.command_only(st)?,
            user,
        })
    }

    fn lvs_sync_daemon(&mut self, st: &Stmt) -> Option<LvsSyncDaemon> {
        let form = "INTERFACE [inst] VRRP_INSTANCE [id N] [maxlen N] [port N] [ttl N] [group ADDR]";
        self.no_block(st);
        let ifname = self.arg(st, 0, form)?.text.clone();
        let mut d = LvsSyncDaemon {
            interface: ifname,
            instance: String::new(),
            id: None,
            maxlen: None,
            port: None,
            ttl: None,
            group: None,
        };
        let mut i = 1;
        let a = &st.args;
        while i < a.len() {
            let key = a[i].text.as_str();
            let val = a.get(i + 1);
            match (key, val) {
                ("inst", Some(x)) => d.instance = x.text.clone(),
                ("id", Some(x)) => {
                    d.id = self.tok_val(
                        x,
                        |s| v::uint_in(s, 0, 255).map(|n| n as u8),
                        "sync id",
                        "0-255",
                    )
                }
                ("maxlen", Some(x)) => {
                    d.maxlen = self.tok_val(
                        x,
                        |s| v::uint_in(s, 1, 65507).map(|n| n as u16),
                        "maxlen",
                        "1-65507",
                    )
                }
                ("port", Some(x)) => {
                    d.port = self.tok_val(
                        x,
                        |s| v::uint_in(s, 1, 65535).map(|n| n as u16),
                        "port",
                        "1-65535",
                    )
                }
                ("ttl", Some(x)) => {
                    d.ttl = self.tok_val(
                        x,
                        |s| v::uint_in(s, 1, 255).map(|n| n as u8),
                        "ttl",
                        "1-255",
                    )
                }
                ("group", Some(x)) => {
                    d.group = self.tok_val(x, v::ip, "group address", "an IP address")
                }
                ("inst" | "id" | "maxlen" | "port" | "ttl" | "group", None) => {
                    self.error_help(
                        DiagClass::Missing,
                        &a[i].span,
                        format!("`{key}` needs a value"),
                        format!("expected {form}"),
                    );
                    return None;
                }
                _ if i == 1 && d.instance.is_empty() => {
                    d.instance = a[i].text.clone();
                    i += 1;
                    continue;
                }
                _ => {
                    self.bad(&a[i], "lvs_sync_daemon option", form);
                    return None;
                }
            }
            i += 2;
        }
        if d.instance.is_empty() {
            self.warn(
                DiagClass::Unsupported,
                st.span(),
                "lvs_sync_daemon without a VRRP instance (both sync daemons always running) is not supported by rampart yet",
            );
        }
        Some(d)
    }

    fn lvs_timeouts(&mut self, st: &Stmt) -> Option<LvsTimeouts> {
        let form = "[tcp SECS] [tcpfin SECS] [udp SECS]";
        self.no_block(st);
        let mut t = LvsTimeouts::default();
        let a = &st.args;
        if a.is_empty() {
            self.error_help(
                DiagClass::Missing,
                &after(st),
                "`lvs_timeouts` needs at least one timeout",
                format!("expected {form}"),
            );
            return None;
        }
        let mut i = 0;
        while i < a.len() {
            let Some(val) = a.get(i + 1) else {
                self.error_help(
                    DiagClass::Missing,
                    &a[i].span,
                    format!("`{}` needs a value", a[i].text),
                    format!("expected {form}"),
                );
                return None;
            };
            let n = self.tok_val(
                val,
                |s| v::uint_in(s, 1, 86400 * 365).map(|x| x as u32),
                "timeout",
                "seconds (a positive integer)",
            );
            match a[i].text.as_str() {
                "tcp" => t.tcp = n,
                "tcpfin" => t.tcpfin = n,
                "udp" => t.udp = n,
                _ => {
                    self.bad(&a[i], "lvs_timeouts protocol", form);
                    return None;
                }
            }
            i += 2;
        }
        Some(t)
    }

    // -----------------------------------------------------------------------------------------
    // VRRP
    // -----------------------------------------------------------------------------------------

    fn weight_opt(&mut self, toks: &[Token], form: &str) -> (Option<i32>, bool) {
        // `weight N [reverse]`
        let mut weight = None;
        let mut reverse = false;
        let mut i = 0;
        while i < toks.len() {
            match toks[i].text.as_str() {
                "weight" => match toks.get(i + 1) {
                    Some(n) => {
                        weight = self.tok_val(
                            n,
                            |s| v::int_in(s, -253, 253).map(|x| x as i32),
                            "weight",
                            "an integer from -253 to 253",
                        );
                        i += 2;
                    }
                    None => {
                        self.error_help(
                            DiagClass::Missing,
                            &toks[i].span,
                            "`weight` needs a value",
                            "expected an integer from -253 to 253",
                        );
                        i += 1;
                    }
                },
                "reverse" if weight.is_some() => {
                    reverse = true;
                    i += 1;
                }
                _ => {
                    self.bad(&toks[i], "option", form);
                    i += 1;
                }
            }
        }
        (weight, reverse)
    }

    fn vrrp_script(&mut self, st: &Stmt) -> Option<VrrpScript> {
        let name = self.name(st)?;
        let mut script = None;
        let mut s = VrrpScript {
            name,
            script: Command {
                raw: String::new(),
                argv: Vec::new(),
                span: st.span().clone(),
            },
            interval: Duration::from_secs(1),
            timeout: None,
            weight: 0,
            weight_reverse: false,
            rise: 1,
            fall: 1,
            user: None,
            init_fail: false,
            span: st.span().clone(),
        };
        let stmts = self.block(st);
        self.duplicates(stmts, &[]);
        for x in stmts {
            match x.kw.text.as_str() {
                "script" => script = self.command_all(x),
                "interval" => {
                    if let Some(t) = self.whole_secs(x, 1, 4294) {
                        s.interval = t
                    }
                }
                "timeout" => s.timeout = self.whole_secs(x, 1, 4294),
                "weight" => {
                    self.no_block(x);
                    let (w, r) = self.weight_opt(
                        std::iter::once(&x.kw)
                            .chain(x.args.iter())
                            .cloned()
                            .collect::<Vec<_>>()
                            .as_slice(),
                        "weight N [reverse]",
                    );
                    if x.args.is_empty() {
                        continue;
                    }
                    if let Some(w) = w {
                        s.weight = w;
                        s.weight_reverse = r;
                    }
                }
                "rise" => {
                    if let Some(n) = self.u32_in(x, 1, 1_000_000) {
                        s.rise = n
                    }
                }
                "fall" => {
                    if let Some(n) = self.u32_in(x, 1, 1_000_000) {
                        s.fall = n
                    }
                }
                "user" => s.user = self.run_as(x),
                "init_fail" => s.init_fail = self.flag(x),
                _ => self.other(
                    x,
                    "vrrp_script",
                    kw::VRRP_SCRIPT,
                    kw::VRRP_SCRIPT_UNSUPPORTED,
                ),
            }
        }
        match script {
            Some(c) => s.script = c,
            None => {
                self.error(
                    DiagClass::Missing,
                    st.span(),
                    format!("vrrp_script `{}` has no `script`", s.name),
                );
                return None;
            }
        }
        Some(s)
    }

    fn track_list<T>(&mut self, st: &Stmt, mk: impl Fn(String, Option<i32>, Span) -> T) -> Vec<T> {
        let mut out = Vec::new();
        let mut seen: Vec<(&str, u32)> = Vec::new();
        for s in self.block(st) {
            self.no_block(s);
            let (w, _rev) = self.weight_opt(&s.args, "NAME [weight N [reverse]]");
            // keepalived 2.2.7 reports the second entry ("duplicate track_...") and ignores it.
            if let Some((_, line)) = seen.iter().find(|(n, _)| *n == s.kw.text) {
                self.warn(
                    DiagClass::Duplicate,
                    s.span(),
                    format!(
                        "`{}` listed twice in `{}` (first at line {line}); this entry is ignored",
                        s.kw.text, st.kw.text
                    ),
                );
                continue;
            }
            seen.push((s.kw.text.as_str(), s.span().line));
            out.push(mk(s.kw.text.clone(), w, s.span().clone()));
        }
        out
    }

    fn notify(&mut self, s: &Stmt, n: &mut NotifyScripts) -> bool {
        let slot = match s.kw.text.as_str() {
            "notify_master" => &mut n.master,
            "notify_backup" => &mut n.backup,
            "notify_fault" => &mut n.fault,
            "notify_stop" => &mut n.stop,
            "notify" => &mut n.notify,
            _ => return false,
        };
        let c = self.notify_command(s);
        *slot = c;
        true
    }

    fn sync_group(&mut self, st: &Stmt) -> Option<SyncGroup> {
        let name = self.name(st)?;
        let mut g = SyncGroup {
            name,
            members: Vec::new(),
            notify: NotifyScripts::default(),
            smtp_alert: None,
            track_interface: Vec::new(),
            track_script: Vec::new(),
            track_file: Vec::new(),
            track_process: Vec::new(),
            notify_priority_changes: None,
            tracking_weight: false,
            span: st.span().clone(),
        };
        let mut member_spans: Vec<Span> = Vec::new();
        let stmts = self.block(st);
        self.duplicates(stmts, &["group"]);
        for s in stmts {
            if self.notify(s, &mut g.notify) {
                continue;
            }
            match s.kw.text.as_str() {
                "group" => {
                    for t in self.list(s) {
                        if let Some(i) = g.members.iter().position(|m| *m == t.text) {
                            self.error(
                                DiagClass::Duplicate,
                                &t.span,
                                format!(
                                    "instance `{}` listed twice in sync group `{}` (first at line {})",
                                    t.text, g.name, member_spans[i].line
                                ),
                            );
                            continue;
                        }
                        g.members.push(t.text.clone());
                        member_spans.push(t.span.clone());
                    }
                }
                "notify_priority_changes" => g.notify_priority_changes = Some(self.flag(s)),
                "smtp_alert" => g.smtp_alert = Some(self.flag(s)),
                "track_interface" => {
                    g.track_interface = self.track_list(s, |name, weight, span| TrackInterface {
                        name,
                        weight,
                        span,
                    })
                }
                "track_script" => {
                    g.track_script =
                        self.track_list(s, |name, weight, span| TrackScript { name, weight, span })
                }
                "track_file" => {
                    let mut t = self.track_file_refs(s);
                    g.track_file.append(&mut t)
                }
                "track_process" => {
                    let mut t = self.track_process_refs(s);
                    g.track_process.append(&mut t)
                }
                "sync_group_tracking_weight" => g.tracking_weight = self.flag(s),
                "global_tracking" => {
                    self.no_block(s);
                    self.warn(
                        DiagClass::Deprecated,
                        s.span(),
                        "`global_tracking` is deprecated: use track_interface/track_script/track_file on the sync group (it keeps the members' tracking weights, as `sync_group_tracking_weight`)",
                    );
                    g.tracking_weight = true;
                }
                _ => self.other(
                    s,
                    "vrrp_sync_group",
                    kw::SYNC_GROUP,
                    kw::SYNC_GROUP_UNSUPPORTED,
                ),
            }
        }
        if g.members.is_empty() {
            self.error(
                DiagClass::Missing,
                st.span(),
                format!(
                    "vrrp_sync_group `{}` has no `group {{ ... }}` members",
                    g.name
                ),
            );
        } else if g.members.len() == 1 {
            // keepalived 2.2.7: "Sync group G has only 1 virtual router(s) - this probably
            // isn't what you want".
            self.warn(
                DiagClass::Semantic,
                st.span(),
                format!(
                    "vrrp_sync_group `{}` has only one member (`{}`): a sync group keeps several instances together",
                    g.name, g.members[0]
                ),
            );
        }
        self.member_spans.push((g.name.clone(), member_spans));
        Some(g)
    }

    fn vrrp_instance(&mut self, st: &Stmt) -> Option<VrrpInstance> {
        let name = self.name(st)?;
        let mut i = VrrpInstance::new(name, String::new(), 0, st.span().clone());
        let mut spans = InstanceSpans::default();
        let mut have_vrid = false;
        let stmts = self.block(st);
        self.duplicates(
            stmts,
            &[
                "virtual_ipaddress",
                "virtual_ipaddress_excluded",
                "virtual_routes",
                "virtual_rules",
                "track_interface",
                "track_script",
                "track_file",
                "track_process",
                "unicast_peer",
            ],
        );
        for s in stmts {
            if self.notify(s, &mut i.notify) {
                continue;
            }
            match s.kw.text.as_str() {
                "state" => {
                    let r = self.one(
                        s,
                        |x| match x {
                            "MASTER" => Some(InitialState::Master),
                            "BACKUP" => Some(InitialState::Backup),
                            _ => None,
                        },
                        "MASTER or BACKUP (upper case)",
                    );
                    if let Some(r) = r {
                        i.initial_state = r;
                        spans.state = Some(s.span().clone());
                    }
                }
                "interface" => {
                    if let Some(n) = self.string(s) {
                        i.interface = n
                    }
                }
                "virtual_router_id" => {
                    have_vrid = true;
                    let r = self.one(s, v::int, "an integer from 1 to 255");
                    if let Some(n) = r {
                        if !(1..=255).contains(&n) {
                            self.error_help(
                                DiagClass::Semantic,
                                &s.args[0].span,
                                format!("virtual_router_id {n} is out of range"),
                                "expected an integer from 1 to 255",
                            );
                        } else {
                            i.virtual_router_id = n as u8;
                        }
                        spans.vrid = Some(s.args[0].span.clone());
                    }
                }
                "priority" => {
                    if let Some(n) = self.one(s, v::int, "an integer from 1 to 255") {
                        if !(1..=255).contains(&n) {
                            self.error_help(
                                DiagClass::Semantic,
                                &s.args[0].span,
                                format!("priority {n} is out of range"),
                                "expected an integer from 1 to 255 (255 only for the address owner)",
                            );
                        } else {
                            i.priority = n as u8;
                        }
                    }
                }
                "advert_int" => {
                    if let Some(t) = self.timer(s) {
                        if t.is_zero() || t > Duration::from_secs(255) {
                            self.bad(&s.args[0], "advert_int", "a time from 0.01 to 255 seconds");
                        } else {
                            i.advert_int = t;
                            spans.advert_int = Some(s.args[0].span.clone());
                        }
                    }
                }
                "version" => {
                    if let Some(n) = self.one(s, |x| v::uint_in(x, 2, 3), "2 or 3") {
                        i.version = Some(if n == 2 { VrrpVersion::V2 } else { VrrpVersion::V3 });
                    }
                }
                "nopreempt" => {
                    i.nopreempt = self.flag(s);
                    spans.nopreempt = Some(s.span().clone());
                }
                "preempt" => {
                    self.no_block(s);
                    i.nopreempt = false;
                }
                "preempt_delay" => {
                    // keepalived 2.2.7: 0 to 1000 seconds.
                    let t = self.one(
                        s,
                        |x| v::timer(x).filter(|d| *d <= Duration::from_secs(1000)),
                        "a time from 0 to 1000 seconds",
                    );
                    if let Some(t) = t {
                        i.preempt_delay = t;
                        spans.preempt_delay = Some(s.span().clone());
                    }
                }
                "authentication" => {
                    i.authentication = self.authentication(s);
                    spans.authentication = Some(s.span().clone());
                }
                "virtual_ipaddress" => {
                    for x in self.block(s) {
                        if let Some(a) = self.vip(x, false) {
                            i.virtual_ipaddress.push(a)
                        }
                    }
                }
                "virtual_ipaddress_excluded" => {
                    for x in self.block(s) {
                        if let Some(a) = self.vip(x, false) {
                            i.virtual_ipaddress_excluded.push(a)
                        }
                    }
                }
                "virtual_routes" => {
                    for x in self.block(s) {
                        if let Some(r) = self.route(x) {
                            i.virtual_routes.push(r)
                        }
                    }
                }
                "virtual_rules" => {
                    for x in self.block(s) {
                        if let Some(r) = self.rule(x) {
                            i.virtual_rules.push(r)
                        }
                    }
                }
                "track_interface" => {
                    let mut t = self.track_list(s, |name, weight, span| TrackInterface { name, weight, span });
                    i.track_interface.append(&mut t)
                }
                "track_script" => {
                    let mut t = self.track_list(s, |name, weight, span| TrackScript { name, weight, span });
                    i.track_script.append(&mut t)
                }
                "unicast_src_ip" => i.unicast_src_ip = self.one(s, v::ip, "an IP address"),
                "mcast_src_ip" => i.mcast_src_ip = self.one(s, v::ip, "an IP address"),
                "unicast_peer" => {
                    spans.unicast_peer = Some(s.span().clone());
                    let block = self.block(s);
                    if block.is_empty() {
                        self.warn(
                            DiagClass::Semantic,
                            s.span(),
                            "empty `unicast_peer` block: keepalived silently falls back to multicast",
                        );
                    }
                    for x in block {
                        self.no_block(x);
                        let Some(a) = self.tok_val(&x.kw, v::ip, "unicast peer address", "an IP address") else {
                            continue;
                        };
                        let mut k = 0;
                        while k < x.args.len() {
                            match (x.args[k].text.as_str(), x.args.get(k + 1)) {
                                ("min_ttl" | "max_ttl", Some(n)) => {
                                    self.tok_val(n, |s| v::uint_in(s, 0, 255), "ttl", "0-255");
                                    self.warn(DiagClass::Unsupported, &x.args[k].span, format!("`{}` is not supported by rampart yet; ignored", x.args[k].text));
                                    k += 2;
                                }
                                _ => {
                                    self.bad(&x.args[k], "unicast_peer option", "ADDR [min_ttl N] [max_ttl N]");
                                    k += 1;
                                }
                            }
                        }
                        i.unicast_peer.push(UnicastPeer {
                            addr: a,
                            span: x.span().clone(),
                        });
                    }
                }
                "garp_master_delay" => i.garp_master_delay = self.whole_secs(s, 0, 4294),
                "garp_master_repeat" => i.garp_master_repeat = self.u32_in(s, 1, u32::MAX as u64),
                "garp_master_refresh" => {
                    i.garp_master_refresh = self.whole_secs(s, 0, u32::MAX as u64)
                }
                "garp_master_refresh_repeat" => {
                    i.garp_master_refresh_repeat = self.u32_in(s, 1, u32::MAX as u64)
                }
                "smtp_alert" => i.smtp_alert = Some(self.flag(s)),
                "notify_priority_changes" => i.notify_priority_changes = Some(self.flag(s)),
                "use_vmac" => {
                    self.no_block(s);
                    self.max_args(s, 1, "[NAME]");
                    i.use_vmac = Some(s.args.first().map(|t| t.text.clone()));
                }
                "vmac_xmit_base" => i.vmac_xmit_base = self.flag(s),
                "accept" => {
                    self.no_block(s);
                    i.accept = Some(true)
                }
                "no_accept" => {
                    self.no_block(s);
                    i.accept = Some(false)
                }
                "dont_track_primary" => i.dont_track_primary = self.flag(s),
                "lvs_sync_daemon_interface" => self.warn(
                    DiagClass::Deprecated,
                    s.span(),
                    "`lvs_sync_daemon_interface` is obsolete; use `lvs_sync_daemon INTERFACE INSTANCE` in global_defs (ignored)",
                ),
                "skip_check_adv_addr" => i.skip_check_adv_addr = Some(self.flag(s)),
                "garp_lower_prio_delay" => {
                    i.garp_lower_prio_delay = self.whole_secs(s, 0, 4294)
                }
                "garp_lower_prio_repeat" => {
                    i.garp_lower_prio_repeat = self.u32_in(s, 0, u32::MAX as u64)
                }
                "garp_extra_if" | "vrrp_garp_extra_if" => i.garp_extra_if = self.garp_extra_if(s),
                "unicast_ttl" => i.unicast_ttl = self.u32_in(s, 0, 255).map(|n| n as u8),
                "check_unicast_src" => i.check_unicast_src = self.flag(s),
                "lower_prio_no_advert" => i.lower_prio_no_advert = Some(self.flag(s)),
                "higher_prio_send_advert" => i.higher_prio_send_advert = Some(self.flag(s)),
                "notify_master_rx_lower_pri" => {
                    i.notify_master_rx_lower_pri = self.notify_command(s)
                }
                "down_timer_adverts" => i.down_timer_adverts = self.u32_in(s, 1, 100),
                "unicast_fault_no_peer" => i.unicast_fault_no_peer = self.flag(s),
                "track_file" => {
                    let mut t = self.track_file_refs(s);
                    i.track_file.append(&mut t)
                }
                "track_process" => {
                    let mut t = self.track_process_refs(s);
                    i.track_process.append(&mut t)
                }
                "promote_secondaries" => i.promote_secondaries = self.flag(s),
                "strict_mode" => i.strict_mode = Some(self.flag(s)),
                "native_ipv6" => {
                    self.no_block(s);
                    self.warn(
                        DiagClass::Deprecated,
                        s.span(),
                        "`native_ipv6` is deprecated: the virtual addresses decide the family (ignored)",
                    );
                }
                "debug" => {
                    if self.u32_in(s, 0, 4).is_some() {
                        self.info(
                            s,
                            "`debug` accepted with no effect (keepalived does not implement it either)",
                        );
                    }
                }
                "mcast_dst_ip" => {
                    if let Some(a) = self.one(s, v::ip, "a multicast address") {
                        let link_local_v6 = match a {
                            IpAddr::V6(x) => x.segments()[0] & 0xff0f == 0xff02,
                            IpAddr::V4(_) => true,
                        };
                        if !a.is_multicast() || !link_local_v6 {
                            self.bad(
                                &s.args[0],
                                "mcast_dst_ip",
                                "an IPv4 multicast address (224.0.0.0/4) or a link-local IPv6 one (ffX2::/16)",
                            );
                        } else {
                            i.mcast_dst_ip = Some(a);
                        }
                    }
                }
                _ => self.other(s, "vrrp_instance", kw::INSTANCE, kw::INSTANCE_UNSUPPORTED),
            }
        }
        if i.interface.is_empty() {
            self.error(
                DiagClass::Missing,
                st.span(),
                format!("vrrp_instance `{}` has no `interface`", i.name),
            );
        }
        if !have_vrid {
            self.error(
                DiagClass::Missing,
                st.span(),
                format!("vrrp_instance `{}` has no `virtual_router_id`", i.name),
            );
        }
        if i.initial_state == InitialState::Master && !i.preempt_delay.is_zero() {
            // keepalived 2.2.7: "preempt delay will not work with initial state MASTER -
            // clearing". Same interpretation here, said at the preempt_delay line.
            let at = spans
                .preempt_delay
                .clone()
                .unwrap_or_else(|| st.span().clone());
            self.diags.push(
                Diagnostic::warning(
                    DiagClass::Semantic,
                    Some(at),
                    format!(
                        "vrrp_instance `{}`: preempt_delay has no effect with state MASTER (ignored, as keepalived does)",
                        i.name
                    ),
                )
                .with_help("use `state BACKUP` on every node when using preempt_delay"),
            );
            i.preempt_delay = Duration::ZERO;
        }
        self.instance_spans.push((i.name.clone(), spans));
        Some(i)
    }

    fn authentication(&mut self, st: &Stmt) -> Option<Authentication> {
        let mut ty = None;
        let mut pass = None;
        let stmts = self.block(st);
        self.duplicates(stmts, &[]);
        for s in stmts {
            match s.kw.text.as_str() {
                "auth_type" => {
                    ty = self.one(
                        s,
                        |x| match x {
                            "PASS" => Some(AuthType::Pass),
                            "AH" => Some(AuthType::Ah),
                            _ => None,
                        },
                        "PASS or AH",
                    )
                }
                "auth_pass" => {
                    if let Some(p) = self.string(s) {
                        if p.len() > 8 {
                            self.warn(
                                DiagClass::BadValue,
                                &s.args[0].span,
                                "auth_pass is longer than 8 characters; only the first 8 are used (as keepalived does)",
                            );
                        }
                        pass = Some(p);
                    }
                }
                _ => self.other(s, "authentication", &["auth_type", "auth_pass"], &[]),
            }
        }
        match (ty, pass) {
            (Some(auth_type), Some(auth_pass)) => Some(Authentication {
                auth_type,
                auth_pass,
            }),
            (Some(_), None) => {
                self.error(
                    DiagClass::Missing,
                    st.span(),
                    "authentication without `auth_pass`",
                );
                None
            }
            (None, Some(auth_pass)) => Some(Authentication {
                auth_type: AuthType::Pass,
                auth_pass,
            }),
            (None, None) => None,
        }
    }

    /// `ADDR[/LEN] [dev IF] [brd ADDR] [scope S] [label L] [peer ADDR[/LEN]] [-nodad]
    /// [no_track] [preferred_lft N] ...`.
    fn vip(&mut self, st: &Stmt, is_static: bool) -> Option<VirtualIp> {
        self.no_block(st);
        let form = "ADDR[/LEN] [dev IF] [brd ADDR] [scope SCOPE] [label LABEL] [peer ADDR[/LEN]] [-nodad] [no_track] [preferred_lft N]";
        let Some((addr, len)) = v::addr_prefix(&st.kw.text) else {
            self.error_help(
                DiagClass::BadValue,
                st.span(),
                format!("invalid address `{}`", st.kw.text),
                format!("expected {form}"),
            );
            return None;
        };
        let mut a = VirtualIp {
            addr,
            prefix_len: len.unwrap_or(if addr.is_ipv4() { 32 } else { 128 }),
            dev: None,
            brd: None,
            scope: None,
            label: None,
            peer: None,
            nodad: false,
            no_track: false,
            preferred_lft: None,
            span: st.span().clone(),
        };
        let args = &st.args;
        let mut k = 0;
        while k < args.len() {
            let key = args[k].text.as_str();
            let val = args.get(k + 1);
            let needs_val = matches!(
                key,
                "dev" | "brd" | "broadcast" | "scope" | "label" | "peer" | "preferred_lft"
            );
            if needs_val && val.is_none() {
                self.error_help(
                    DiagClass::Missing,
                    &args[k].span,
                    format!("`{key}` needs a value"),
                    format!("expected {form}"),
                );
                return None;
            }
            match key {
                "dev" => a.dev = val.map(|t| t.text.clone()),
                "brd" | "broadcast" => {
                    let t = val?;
                    if t.text == "+" || t.text == "-" {
                        self.warn(
                            DiagClass::Unsupported,
                            &t.span,
                            format!("`brd {}` is not supported by rampart yet; ignored", t.text),
                        );
                    } else {
                        a.brd = self.tok_val(t, v::ipv4, "broadcast address", "an IPv4 address");
                    }
                }
                "scope" => {
                    let t = val?;
                    a.scope = self.tok_val(
                        t,
                        parse_scope,
                        "scope",
                        "global, site, link, host, nowhere or 0-255",
                    );
                }
                "label" => {
                    // IFNAMSIZ: keepalived 2.2.7 drops the whole address ("Address label ... is
                    // longer than maximum length 15 - removing address").
                    let t = val?;
                    a.label = self.tok_val(
                        t,
                        |l| (l.len() <= 15).then(|| l.to_string()),
                        "label",
                        "a label of at most 15 characters, e.g. eth0:1",
                    );
                }
                "peer" => {
                    let t = val?;
                    a.peer = self.tok_val(t, v::prefix, "peer address", "ADDR[/LEN]");
                }
                "preferred_lft" => {
                    let t = val?;
                    a.preferred_lft = if t.text == "forever" {
                        None
                    } else {
                        self.tok_val(
                            t,
                            |s| v::uint(s).and_then(|x| u32::try_from(x).ok()),
                            "preferred_lft",
                            "seconds or `forever`",
                        )
                    };
                }
                "-nodad" => {
                    a.nodad = true;
                    k += 1;
                    continue;
                }
                "no_track" => {
                    a.no_track = true;
                    k += 1;
                    continue;
                }
                "home" | "mngtmpaddr" | "noprefixroute" | "autojoin" => {
                    self.warn(
                        DiagClass::Unsupported,
                        &args[k].span,
                        format!("address option `{key}` is not supported by rampart yet; ignored"),
                    );
                    k += 1;
                    continue;
                }
                "track_group" => {
                    self.warn(
                        DiagClass::Unsupported,
                        &args[k].span,
                        "address option `track_group` is not supported by rampart yet; ignored",
                    );
                    k += 2;
                    continue;
                }
                _ => {
                    self.bad(&args[k], "address option", form);
                    return None;
                }
            }
            k += 2;
        }
        if is_static && a.dev.is_none() {
            // keepalived's default_interface; fine to leave to the engine.
        }
        // keepalived 2.2.7 ignores `scope` and `label` on IPv6 addresses ("Cannot specify
        // scope/label for IPv6 addresses - ignoring"); the kernel has no IPv6 labels. Do the same,
        // and say so.
        if addr.is_ipv6() {
            for (opt, set) in [
                ("scope", a.scope.take().is_some()),
                ("label", a.label.take().is_some()),
            ] {
                if set {
                    let at = args
                        .iter()
                        .find(|t| t.text == opt)
                        .map_or(st.span(), |t| &t.span);
                    let at = at.clone();
                    self.warn(
                        DiagClass::Semantic,
                        &at,
                        format!(
                            "`{opt}` is ignored for the IPv6 address `{}` (as in keepalived)",
                            st.kw.text
                        ),
                    );
                }
            }
        }
        Some(a)
    }

    fn route(&mut self, st: &Stmt) -> Option<VirtualRoute> {
        self.no_block(st);
        let form = "[src ADDR] [TYPE] DST[/LEN]|default [via|gw ADDR [or ADDR]] [dev IF] [scope S] [table N] [metric N] [no_track]";
        let toks: Vec<&Token> = st.words().collect();
        let mut r = VirtualRoute {
            route_type: RouteType::Unicast,
            dst: IpPrefix {
                addr: IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
                len: 0,
            },
            src: None,
            via: None,
            via_alt: None,
            dev: None,
            scope: None,
            table: None,
            metric: None,
            no_track: false,
            span: st.span().clone(),
        };
        let mut have_dst = false;
        let mut k = 0;
        while k < toks.len() {
            let t = toks[k];
            let key = t.text.as_str();
            let val = toks.get(k + 1).copied();
            let with_val = |p: &mut Parser| -> Option<&Token> {
                if val.is_none() {
                    p.error_help(
                        DiagClass::Missing,
                        &t.span,
                        format!("`{key}` needs a value"),
                        format!("expected {form}"),
                    );
                }
                val
            };
            match key {
                "src" => {
                    let x = with_val(self)?;
                    r.src = Some(self.tok_val(x, v::ip, "source address", "an IP address")?);
                }
                "via" | "gw" => {
                    let x = with_val(self)?;
                    r.via = Some(self.tok_val(x, v::ip, "gateway address", "an IP address")?);
                }
                "or" => {
                    let x = with_val(self)?;
                    r.via_alt = Some(self.tok_val(x, v::ip, "gateway address", "an IP address")?);
                }
                "dev" => r.dev = Some(with_val(self)?.text.clone()),
                "scope" => {
                    let x = with_val(self)?;
                    r.scope = Some(self.tok_val(
                        x,
                        parse_scope,
                        "scope",
                        "global, site, link, host, nowhere or 0-255",
                    )?);
                }
                "table" => {
                    let x = with_val(self)?;
                    r.table = Some(self.tok_val(
                        x,
                        parse_table,
                        "table",
                        "a table number or main/local/default",
                    )?);
                }
                "metric" | "preference" | "priority" => {
                    let x = with_val(self)?;
                    r.metric = Some(self.tok_val(
                        x,
                        |s| v::uint(s).and_then(|n| u32::try_from(n).ok()),
                        "metric",
                        "a non-negative integer",
                    )?);
                }
                "no_track" => {
                    r.no_track = true;
                    k += 1;
                    continue;
                }
                "blackhole" | "unreachable" | "prohibit" | "throw" if !have_dst => {
                    r.route_type = match key {
                        "blackhole" => RouteType::Blackhole,
                        "unreachable" => RouteType::Unreachable,
                        "prohibit" => RouteType::Prohibit,
                        _ => RouteType::Throw,
                    };
                    k += 1;
                    continue;
                }
                "to" if !have_dst => {
                    k += 1;
                    continue;
                }
                "default" if !have_dst => {
                    have_dst = true;
                    k += 1;
                    continue;
                }
                "proto" | "protocol" | "realms" | "mtu" | "advmss" | "rtt" | "rttvar"
                | "reordering" | "window" | "cwnd" | "ssthresh" | "initcwnd" | "initrwnd"
                | "features" | "quickack" | "congctl" | "rto_min" | "hoplimit"
                | "fastopen_no_cookie" | "tos" | "dsfield" | "pref" | "nexthop" | "weight"
                | "lock" | "expires" | "ttl-propagate" | "encap" => {
                    self.warn(
                        DiagClass::Unsupported,
                        &t.span,
                        format!("route option `{key}` is not supported by rampart yet; ignored"),
                    );
                    k += if val.is_some() { 2 } else { 1 };
                    continue;
                }
                "onlink" | "pervasive" => {
                    self.warn(
                        DiagClass::Unsupported,
                        &t.span,
                        format!("route option `{key}` is not supported by rampart yet; ignored"),
                    );
                    k += 1;
                    continue;
                }
                _ if !have_dst => {
                    match v::prefix(key) {
                        Some(p) => {
                            r.dst = p;
                            have_dst = true;
                        }
                        None => {
                            self.error_help(
                                DiagClass::BadValue,
                                &t.span,
                                format!("invalid route destination `{key}`"),
                                format!("expected {form}"),
                            );
                            return None;
                        }
                    }
                    k += 1;
                    continue;
                }
                _ => {
                    self.bad(t, "route option", form);
                    return None;
                }
            }
            k += 2;
        }
        if !have_dst {
            self.error_help(
                DiagClass::Missing,
                st.span(),
                "route without a destination",
                format!("expected {form}"),
            );
            return None;
        }
        if let (Some(via), true) = (r.via, r.dst.len > 0 || r.dst.addr.is_ipv6())
            && via.is_ipv4() != r.dst.addr.is_ipv4()
            && toks.iter().all(|t| t.text != "default")
        {
            self.error(
                DiagClass::Semantic,
                st.span(),
                "route gateway and destination are of different address families",
            );
        }
        Some(r)
    }

    fn rule(&mut self, st: &Stmt) -> Option<VirtualRule> {
        self.no_block(st);
        let form = "[from PREFIX|all] [to PREFIX|all] [table N] [priority N] [fwmark N[/MASK]] [iif IF] [oif IF] [no_track]";
        let toks: Vec<&Token> = st.words().collect();
        let mut r = VirtualRule {
            from: None,
            to: None,
            table: None,
            priority: None,
            fwmark: None,
            iif: None,
            oif: None,
            no_track: false,
            span: st.span().clone(),
        };
        let mut k = 0;
        while k < toks.len() {
            let t = toks[k];
            let key = t.text.as_str();
            if key == "no_track" {
                r.no_track = true;
                k += 1;
                continue;
            }
            if matches!(key, "not" | "l3mdev") {
                self.warn(
                    DiagClass::Unsupported,
                    &t.span,
                    format!("rule option `{key}` is not supported by rampart yet; ignored"),
                );
                k += 1;
                continue;
            }
            let Some(x) = toks.get(k + 1).copied() else {
                self.error_help(
                    DiagClass::Missing,
                    &t.span,
                    format!("`{key}` needs a value"),
                    format!("expected {form}"),
                );
                return None;
            };
            let prefix_or_all = |s: &str| -> Option<Option<IpPrefix>> {
                if s == "all" {
                    Some(None)
                } else {
                    v::prefix(s).map(Some)
                }
            };
            match key {
                "from" => {
                    r.from = self.tok_val(x, prefix_or_all, "rule source", "ADDR[/LEN] or all")?
                }
                "to" => {
                    r.to =
                        self.tok_val(x, prefix_or_all, "rule destination", "ADDR[/LEN] or all")?
                }
                "table" | "lookup" => {
                    r.table = Some(self.tok_val(
                        x,
                        parse_table,
                        "table",
                        "a table number or main/local/default",
                    )?)
                }
                "preference" | "priority" | "pref" => {
                    r.priority = Some(self.tok_val(
                        x,
                        |s| v::uint(s).and_then(|n| u32::try_from(n).ok()),
                        "rule priority",
                        "a non-negative integer",
                    )?)
                }
                "fwmark" => {
                    r.fwmark = Some(self.tok_val(x, v::fwmark_mask, "fwmark", "N[/MASK]")?)
                }
                "iif" => r.iif = Some(x.text.clone()),
                "oif" => r.oif = Some(x.text.clone()),
                "tos"
                | "dsfield"
                | "realms"
                | "goto"
                | "suppress_prefixlength"
                | "suppress_ifgroup"
                | "uidrange"
                | "sport"
                | "dport"
                | "ipproto"
                | "protocol"
                | "tun_id" => {
                    self.warn(
                        DiagClass::Unsupported,
                        &t.span,
                        format!("rule option `{key}` is not supported by rampart yet; ignored"),
                    );
                }
                _ => {
                    self.bad(t, "rule option", form);
                    return None;
                }
            }
            k += 2;
        }
        if r.priority.is_none() {
            let pref = 16384u32.saturating_sub(self.unprioritised_rules);
            self.unprioritised_rules += 1;
            self.diags.push(
                Diagnostic::warning(
                    DiagClass::Missing,
                    Some(st.span().clone()),
                    format!(
                        "rule without a `priority`: {pref} is used, as keepalived does, which is probably not what you want"
                    ),
                )
                .with_help("write `priority N` (keepalived's `preference`) on the rule"),
            );
            r.priority = Some(pref);
        }
        if let (Some(f), Some(t)) = (r.from, r.to)
            && f.addr.is_ipv4() != t.addr.is_ipv4()
        {
            self.error(
                DiagClass::Semantic,
                st.span(),
                "rule `from` and `to` are of different address families",
            );
        }
        Some(r)
    }

    // -----------------------------------------------------------------------------------------
    // LVS
    // -----------------------------------------------------------------------------------------

    fn vs_group(&mut self, st: &Stmt) -> Option<VirtualServerGroup> {
        let name = self.name(st)?;
        let mut g = VirtualServerGroup {
            name,
            members: Vec::new(),
            span: st.span().clone(),
        };
        for s in self.block(st) {
            self.no_block(s);
            if s.kw.text == "fwmark" {
                if let Some(m) = self.one(
                    s,
                    |x| {
                        v::uint_any(x)
                            .and_then(|n| u32::try_from(n).ok())
                            .filter(|n| *n > 0)
                    },
                    "a firewall mark 1-4294967295",
                ) {
                    g.members.push(VsgMember::Fwmark {
                        mark: m,
                        span: s.span().clone(),
                    });
                }
                continue;
            }
            let Some((first, last)) = v::ip_range(&s.kw.text) else {
                if v::uint(&s.kw.text).is_none() && !s.kw.text.contains(['.', ':']) {
                    self.other(s, "virtual_server_group", &["fwmark"], &[]);
                } else {
                    self.bad(
                        &s.kw,
                        "address range",
                        "IP PORT, a.b.c.d-e PORT or fwmark N",
                    );
                }
                continue;
            };
            let Some(pt) = self.arg(s, 0, "a port number") else {
                continue;
            };
            let Some(port) = self.tok_val(pt, v::port, "port", "a port number 0-65535") else {
                continue;
            };
            self.max_args(s, 1, "IP PORT");
            g.members.push(VsgMember::Range {
                first,
                last,
                port,
                span: s.span().clone(),
            });
        }
        let stmts = st.block.as_ref().map_or(0, |b| b.stmts.len());
        if stmts == 0 {
            // keepalived: "virtual server group G has no entries - removing".
            self.warn(
                DiagClass::Missing,
                st.span(),
                format!(
                    "virtual_server_group `{}` has no members: a virtual_server using it has no service",
                    g.name
                ),
            );
        }
        Some(g)
    }

    fn virtual_server(&mut self, st: &Stmt) -> Option<VirtualServer> {
        let form = "IP PORT, fwmark N or group NAME";
        let first = self.arg(st, 0, form)?;
        let key = match first.text.as_str() {
            "fwmark" => {
                let t = self.arg(st, 1, "a firewall mark")?;
                let m = self.tok_val(
                    t,
                    |x| {
                        v::uint_any(x)
                            .and_then(|n| u32::try_from(n).ok())
                            .filter(|n| *n > 0)
                    },
                    "firewall mark",
                    "an integer 1-4294967295",
                )?;
                self.max_args(st, 2, "fwmark N");
                VsKey::Fwmark(m)
            }
            "group" => {
                let t = self.arg(st, 1, "a virtual_server_group name")?;
                self.max_args(st, 2, "group NAME");
                VsKey::Group(t.text.clone())
            }
            _ => {
                // `IP PORT`, or keepalived's `IP:PORT`-less forms only.
                let addr = self.tok_val(first, v::ip, "virtual server address", form)?;
                let t = self.arg(st, 1, "a port number")?;
                let port = self.tok_val(t, v::port, "port", "a port number 0-65535")?;
                self.max_args(st, 2, "IP PORT");
                VsKey::Addr { addr, port }
            }
        };
        let mut vs = VirtualServer::new(key, st.span().clone());
        // Checker defaults written at the virtual server level (inherited by every checker).
        let mut defaults = CheckerCommon::default();
        let mut sorry_kind = None;
        let mut quorum_span = None;
        let mut protocol_span = None;
        let mut rs_seen: std::collections::HashMap<(IpAddr, Option<u16>), u32> =
            std::collections::HashMap::new();
        let mut vs_weight: Option<u32> = None;
        let mut rs_own_weight: Vec<bool> = Vec::new();
        let stmts = self.block(st);
        // A second sorry_server is an error of its own (below), not the generic warning.
        self.duplicates(stmts, &["real_server", "sorry_server"]);
        for s in stmts {
            // delay_loop and alpha are the virtual server's own (checker_common would take
            // them as checker defaults).
            let own = matches!(s.kw.text.as_str(), "delay_loop" | "alpha");
            if self.checker_only(s, "virtual_server") {
                continue;
            }
            if !own && self.checker_common(s, &mut defaults) {
                continue;
            }
            match s.kw.text.as_str() {
                "delay_loop" => {
                    if let Some(t) = self.timer_nonzero(s) {
                        vs.delay_loop = t
                    }
                }
                "lb_algo" | "lvs_sched" => {
                    vs.lb_algo = self.one(
                        s,
                        Scheduler::from_name,
                        "one of rr wrr lc wlc lblc lblcr dh sh sed nq mh fo ovf twos",
                    )
                }
                "lb_kind" | "lvs_method" => {
                    if let Some((m, t)) = self.lvs_method(s) {
                        vs.lb_kind = m;
                        vs.tunnel = t;
                    }
                }
                "persistence_timeout" => {
                    self.no_block(s);
                    vs.persistence_timeout = match s.args.first() {
                        None => Some(360),
                        Some(_) => self.one(
                            s,
                            |x| v::uint_in(x, 1, u32::MAX as u64).map(|n| n as u32),
                            "seconds (a positive integer)",
                        ),
                    }
                }
                "persistence_granularity" => {
                    vs.persistence_granularity = self.one(
                        s,
                        v::netmask_len,
                        "a netmask such as 255.255.255.0, or a prefix length",
                    )
                }
                "protocol" => {
                    protocol_span = Some(s.span().clone());
                    vs.protocol = self
                        .one(
                            s,
                            // keepalived 2.2.7 compares without case (`protocol tcp` is
                            // TCP), unlike lb_kind, lb_algo and state.
                            |x| match x.to_ascii_uppercase().as_str() {
                                "TCP" => Some(Protocol::Tcp),
                                "UDP" => Some(Protocol::Udp),
                                "SCTP" => Some(Protocol::Sctp),
                                _ => None,
                            },
                            "TCP, UDP or SCTP (any case)",
                        )
                        .unwrap_or(vs.protocol)
                }
                "ops" => vs.ops = self.flag(s),
                "sh-port" | "sh-fallback" | "mh-port" | "mh-fallback" | "flag-1" | "flag-2"
                | "flag-3" => {
                    self.no_block(s);
                    vs.sched_flags.push(s.kw.text.clone())
                }
                "sorry_server" => {
                    self.no_block(s);
                    let Some(a) = self.arg(s, 0, "IP [PORT]") else {
                        continue;
                    };
                    let Some(addr) =
                        self.tok_val(a, v::ip, "sorry server address", "an IP address")
                    else {
                        continue;
                    };
                    let port = match s.args.get(1) {
                        Some(p) => {
                            match self.tok_val(p, v::port, "port", "a port number 0-65535") {
                                Some(p) => Some(p),
                                None => continue,
                            }
                        }
                        None => None,
                    };
                    self.max_args(s, 2, "IP [PORT]");
                    if let Some(prev) = &vs.sorry_server {
                        self.error(
                            DiagClass::Duplicate,
                            s.span(),
                            format!(
                                "sorry_server given twice (first at line {})",
                                prev.span.line
                            ),
                        );
                        continue;
                    }
                    vs.sorry_server = Some(SorryServer {
                        addr,
                        port,
                        lb_kind: None,
                        tunnel: None,
                        span: s.span().clone(),
                    });
                }
                "sorry_server_lvs_method" => sorry_kind = self.lvs_method(s),
                "sorry_server_inhibit" => vs.sorry_server_inhibit = self.flag(s),
                "quorum" => {
                    if let Some(n) = self.u32_in(s, 1, u32::MAX as u64) {
                        vs.quorum = n;
                        quorum_span = Some(s.args[0].span.clone());
                    }
                }
                "hysteresis" => {
                    if let Some(n) = self.u32_in(s, 0, u32::MAX as u64) {
                        vs.hysteresis = n
                    }
                }
                "quorum_up" => vs.quorum_up = self.notify_command(s),
                "quorum_down" => vs.quorum_down = self.notify_command(s),
                "alpha" => vs.alpha = self.flag(s),
                "omega" => vs.omega = self.flag(s),
                "ha_suspend" => vs.ha_suspend = self.flag(s),
                "virtualhost" => vs.virtualhost = self.string(s),
                // At this level keepalived ignores a value (the real_server one reads it).
                "inhibit_on_failure" => vs.inhibit_on_failure = self.bare_flag(s),
                "smtp_alert" => vs.smtp_alert = Some(self.flag(s)),
                "real_server" => {
                    if let Some(rs) = self.real_server(s, &vs) {
                        if let Some(first_line) = rs_seen.get(&(rs.addr, rs.port)) {
                            self.error(
                                DiagClass::Duplicate,
                                s.span(),
                                format!(
                                    "real_server {} {} given twice in this virtual_server (first at line {})",
                                    rs.addr,
                                    rs.port.map_or(String::new(), |p| p.to_string()),
                                    first_line
                                ),
                            );
                            continue;
                        }
                        rs_seen.insert((rs.addr, rs.port), rs.span.line);
                        let own = s
                            .block
                            .as_ref()
                            .is_some_and(|b| b.stmts.iter().any(|x| x.kw.text == "weight"));
                        rs_own_weight.push(own);
                        vs.real_servers.push(rs)
                    }
                }
                // keepalived 2.2.7: the default weight of the real servers that write none
                // (undocumented in keepalived.conf(5), found by benches/config_sweep.py).
                "weight" => vs_weight = self.u32_in(s, 0, i32::MAX as u64),
                _ => self.other(s, "virtual_server", kw::VS, kw::VS_UNSUPPORTED),
            }
        }
        if let Some(w) = vs_weight {
            for (rs, own) in vs.real_servers.iter_mut().zip(&rs_own_weight) {
                if !own {
                    rs.weight = w;
                }
            }
        }
        if let Some(ss) = &mut vs.sorry_server {
            ss.lb_kind = sorry_kind.map(|k| k.0);
            ss.tunnel = sorry_kind.and_then(|k| k.1);
        }
        if let (VsKey::Fwmark(m), Some(span)) = (&vs.key, &protocol_span) {
            // keepalived rejects this too (`keepalived -t` exits 5): a fwmark service matches
            // packets of every protocol the mark was set on.
            self.error_help(
                DiagClass::Semantic,
                span,
                format!("`protocol` has no effect on the fwmark {m} virtual server"),
                "remove it; the firewall rule that sets the mark decides the protocol",
            );
        }
        // Inherit checker defaults: real server level over virtual server level.
        for rs in &mut vs.real_servers {
            for c in &mut rs.checkers {
                inherit(&mut c.common, &defaults);
            }
        }
        // keepalived 2.2.7 programs an address (or group) service written without `protocol`
        // as UDP ("no protocol set - defaulting to UDP"). Do the same, so that a migrated file
        // gives the same kernel table, but say so: it is rarely what the author meant.
        if protocol_span.is_none() && !matches!(vs.key, VsKey::Fwmark(_)) {
            vs.protocol = Protocol::Udp;
            let d = Diagnostic::warning(
                DiagClass::Semantic,
                Some(vs.span.clone()),
                "virtual_server has no `protocol`: the service is UDP, as keepalived 2.2.7 makes it",
            )
            .with_help("write `protocol TCP` (or UDP/SCTP) in the virtual_server block");
            self.diags.push(d);
        }
        if let VsKey::Addr { port: 0, .. } = vs.key
            && vs.persistence_timeout.is_none()
        {
            // keepalived 2.2.7: "zero port only valid for persistent services - setting" (the
            // default persistence, 360 s).
            self.diags.push(
                Diagnostic::warning(
                    DiagClass::Semantic,
                    Some(vs.span.clone()),
                    "a port-0 virtual_server must be persistent: persistence_timeout 360 is used, as keepalived does",
                )
                .with_help("write `persistence_timeout N`, or give the virtual_server a port"),
            );
            vs.persistence_timeout = Some(360);
        }
        self.vs_keepalived_reports(&vs, stmts);
        // keepalived 2.2.7 checks this for the default quorum 1 too (all weights 0), and
        // lowers the quorum to the total weight ("reducing quorum to N"); so does rampart
        // (a total of 0 keeps the quorum: keepalived's 0 would make the service always up).
        if let Some(span) = quorum_span.or_else(|| Some(vs.span.clone())) {
            let total = vs.total_weight();
            if !vs.real_servers.is_empty() && u64::from(vs.quorum) > total {
                // keepalived 2.2.7: "quorum 10 for [..]:tcp:80 exceeds total weight of real
                // servers 5, reducing quorum to 5". Do the same, so the sorry server and
                // quorum_up/down behave as they did under keepalived.
                let reduced = u32::try_from(total).unwrap_or(u32::MAX);
                self.warn(
                    DiagClass::Semantic,
                    &span,
                    format!(
                        "quorum {} is above the total weight {total} of the real servers; reduced to {reduced}, as keepalived does",
                        vs.quorum
                    ),
                );
                vs.quorum = reduced;
            }
        }
        if vs.hysteresis > 0 && vs.hysteresis >= vs.quorum {
            // keepalived 2.2.7: "hysteresis 5 >= quorum 3; setting hysteresis to 2".
            let reduced = vs.quorum.saturating_sub(1);
            let d = Diagnostic::warning(
                DiagClass::Semantic,
                Some(vs.span.clone()),
                format!(
                    "hysteresis {} is not below quorum {}; reduced to {reduced}, as keepalived does",
                    vs.hysteresis, vs.quorum
                ),
            );
            self.diags.push(d);
            vs.hysteresis = reduced;
        }
        Some(vs)
    }

    /// What keepalived 2.2.7 reports about a whole virtual server (`keepalived -t` exits 5 on
    /// each): defaults it fills in, settings it resets, a service it drops.
    fn vs_keepalived_reports(&mut self, vs: &VirtualServer, stmts: &[Stmt]) {
        let written = |k: &[&str]| stmts.iter().any(|s| k.contains(&s.kw.text.as_str()));
        if !written(&["lb_algo", "lvs_sched"]) {
            self.diags.push(
                Diagnostic::warning(
                    DiagClass::Missing,
                    Some(vs.span.clone()),
                    "virtual_server has no `lb_algo`: the scheduler is wlc (keepalived's default)",
                )
                .with_help(
                    "write `lb_algo wlc` (or rr, wrr, lc, sh, ...) in the virtual_server block",
                ),
            );
        }
        if !written(&["lb_kind", "lvs_method"]) {
            self.diags.push(
                Diagnostic::warning(
                    DiagClass::Missing,
                    Some(vs.span.clone()),
                    "virtual_server has no `lb_kind`: the forwarding method is NAT (keepalived's default)",
                )
                .with_help("write `lb_kind NAT` (or DR, TUN) in the virtual_server block"),
            );
        }
        if vs.ops && !matches!(vs.key, VsKey::Fwmark(_)) && vs.protocol != Protocol::Udp {
            // keepalived: "one packet scheduling requires UDP - resetting".
            let at = stmts
                .iter()
                .find(|s| s.kw.text == "ops")
                .map_or(vs.span.clone(), |s| s.span().clone());
            self.error_help(
                DiagClass::Semantic,
                &at,
                format!(
                    "`ops` (one-packet scheduling) needs a UDP service; this one is {}",
                    vs.protocol.name().to_uppercase()
                ),
                "remove `ops`, or use `protocol UDP`",
            );
        }
        if let VsKey::Fwmark(m) = vs.key {
            if vs.ha_suspend {
                // keepalived: "cannot use ha_suspend with fwmarks - clearing ha_suspend".
                let at = stmts
                    .iter()
                    .find(|s| s.kw.text == "ha_suspend")
                    .map_or(vs.span.clone(), |s| s.span().clone());
                self.warn(
                    DiagClass::Semantic,
                    &at,
                    format!("`ha_suspend` has no effect on the fwmark {m} virtual server (it has no address to wait for; keepalived clears it)"),
                );
            }
            for rs in &vs.real_servers {
                // keepalived: "real server ... has port specified - clearing" (DR/TUN).
                if rs.lb_kind.unwrap_or(vs.lb_kind) != ForwardMethod::Nat
                    && rs.port.is_some_and(|p| p != 0)
                {
                    self.warn(
                        DiagClass::Semantic,
                        &rs.span,
                        format!(
                            "the port of real_server {} is ignored: a DR/TUN fwmark service forwards to the port the client used (keepalived clears it)",
                            rs.addr
                        ),
                    );
                }
            }
        }
        if let (VsKey::Addr { port: vport, .. }, Some(ss)) = (&vs.key, &vs.sorry_server)
            && ss.lb_kind.unwrap_or(vs.lb_kind) != ForwardMethod::Nat
            && ss.port.is_some_and(|p| p != *vport)
        {
            // keepalived: "virtual server ... and sorry server ports don't match - resetting".
            self.warn(
                DiagClass::Semantic,
                &ss.span,
                format!(
                    "sorry_server port {} differs from the virtual server port {vport}, but DR/TUN cannot translate ports (keepalived resets it to {vport})",
                    ss.port.unwrap_or_default()
                ),
            );
        }
        if vs.real_servers.is_empty() {
            // keepalived: "Virtual server ... has no real servers - ignoring" (even with a
            // sorry_server).
            self.diags.push(
                Diagnostic::warning(
                    DiagClass::Missing,
                    Some(vs.span.clone()),
                    "virtual_server has no real_server: ignored (nothing is programmed for it), as keepalived 2.2.7 does",
                )
                .with_help(
                    "add a `real_server IP PORT { ... }` block, or remove the virtual_server",
                ),
            );
        }
    }

    fn real_server(&mut self, st: &Stmt, vs: &VirtualServer) -> Option<RealServer> {
        let a = self.arg(st, 0, "IP [PORT]")?;
        let addr = self.tok_val(a, v::ip, "real server address", "an IP address")?;
        let port = match st.args.get(1) {
            Some(p) => Some(self.tok_val(p, v::port, "port", "a port number 0-65535")?),
            None => None,
        };
        // keepalived 2.2.7 gives a real server of an address service written without a port
        // (or with port 0) the service's port, silently (check_data.c "We can also correct
        // errors here"); so does rampart.
        let port = match (vs.key.clone(), port) {
            (VsKey::Addr { port: vport, .. }, None | Some(0)) => Some(vport),
            (_, p) => p,
        };
        self.max_args(st, 2, "IP [PORT]");
        let mut rs = RealServer {
            addr,
            port,
            weight: 1,
            inhibit_on_failure: None,
            lb_kind: None,
            tunnel: None,
            notify_up: None,
            notify_down: None,
            uthreshold: 0,
            lthreshold: 0,
            smtp_alert: None,
            alpha: None,
            delay_loop: None,
            checkers: Vec::new(),
            file_checks: Vec::new(),
            span: st.span().clone(),
        };
        let mut defaults = CheckerCommon::default();
        let Some(block) = &st.block else {
            return Some(rs);
        };
        self.duplicates(
            &block.stmts,
            &[
                "TCP_CHECK",
                "HTTP_GET",
                "SSL_GET",
                "MISC_CHECK",
                "UDP_CHECK",
                "PING_CHECK",
                "DNS_CHECK",
                "SMTP_CHECK",
                "FILE_CHECK",
            ],
        );
        for s in &block.stmts {
            if self.checker_only(s, "real_server") {
                continue;
            }
            if self.checker_common(s, &mut defaults) {
                continue;
            }
            match s.kw.text.as_str() {
                "weight" => {
                    if let Some(w) = self.u32_in(s, 0, i32::MAX as u64) {
                        rs.weight = w
                    }
                }
                "inhibit_on_failure" => rs.inhibit_on_failure = Some(self.flag(s)),
                "lvs_method" => {
                    if let Some((m, t)) = self.lvs_method(s) {
                        rs.lb_kind = Some(m);
                        rs.tunnel = t;
                    }
                }
                "notify_up" => rs.notify_up = self.notify_command(s),
                "notify_down" => rs.notify_down = self.notify_command(s),
                "uthreshold" => {
                    if let Some(n) = self.u32_in(s, 0, u32::MAX as u64) {
                        rs.uthreshold = n
                    }
                }
                "lthreshold" => {
                    if let Some(n) = self.u32_in(s, 0, u32::MAX as u64) {
                        rs.lthreshold = n
                    }
                }
                "smtp_alert" => rs.smtp_alert = Some(self.flag(s)),
                "TCP_CHECK" | "HTTP_GET" | "SSL_GET" | "MISC_CHECK" | "UDP_CHECK"
                | "PING_CHECK" | "DNS_CHECK" | "SMTP_CHECK" => {
                    if let Some(c) = self.checker(s) {
                        rs.checkers.push(c)
                    }
                }
                "FILE_CHECK" => {
                    if let Some(f) = self.file_check(s) {
                        rs.file_checks.push(f)
                    }
                }
                "track_file" => self.error_help(
                    DiagClass::UnknownKeyword,
                    s.span(),
                    "`track_file` is not valid in real_server (keepalived 2.2.7: \"Unknown keyword\")",
                    "track a file with `FILE_CHECK { track_file NAME [weight N [reverse]] }`",
                ),
                _ => self.other(s, "real_server", kw::RS, kw::RS_UNSUPPORTED),
            }
        }
        rs.alpha = defaults.alpha;
        rs.delay_loop = defaults.delay_loop;
        for c in &mut rs.checkers {
            inherit(&mut c.common, &defaults);
        }
        Some(rs)
    }

    /// Checker options keepalived 2.2.7 reads only inside a checker: at the virtual_server or
    /// real_server level it calls them unknown and ignores them, so each checker keeps its own
    /// default (the real server's port, no bind address). Inheriting them would check another
    /// port than keepalived does. Reports and returns true for such a keyword.
    fn checker_only(&mut self, s: &Stmt, context: &str) -> bool {
        let k = s.kw.text.as_str();
        if !matches!(
            k,
            "connect_ip"
                | "connect_port"
                | "bindto"
                | "bind_port"
                | "bind_if"
                | "fwmark"
                | "nb_get_retry"
                | "log_all_failures"
        ) {
            return false;
        }
        self.error_help(
            DiagClass::UnknownKeyword,
            s.span(),
            format!("`{k}` is not valid in {context}"),
            "write it inside each checker (TCP_CHECK, HTTP_GET, ...); keepalived 2.2.7 ignores it here",
        );
        true
    }

    /// `FILE_CHECK { track_file NAME  weight N [reverse|noreverse] }` (keepalived's
    /// check_file.c): NAME is a `track_file` block; N from -2147483647 to 2147483647, and
    /// without `weight` the track_file block's weight and `reverse` apply.
    fn file_check(&mut self, st: &Stmt) -> Option<TrackFileRef> {
        let form = "weight N [reverse|noreverse], N from -2147483647 to 2147483647";
        self.max_args(st, 0, "`FILE_CHECK {`");
        let mut name: Option<(String, Span)> = None;
        let mut weight = None;
        let mut reverse = None;
        let stmts = self.block(st);
        self.duplicates(stmts, &[]);
        for s in stmts {
            self.no_block(s);
            match s.kw.text.as_str() {
                "track_file" => {
                    if let Some(t) = self.arg(s, 0, "track_file NAME") {
                        name = Some((t.text.clone(), t.span.clone()));
                    }
                    self.max_args(s, 1, "track_file NAME");
                }
                "weight" => {
                    let Some(t) = self.arg(s, 0, form) else {
                        continue;
                    };
                    let Some(w) = self.tok_val(
                        t,
                        |x| v::int_in(x, -i64::from(i32::MAX), i64::from(i32::MAX)).map(|n| n as i32),
                        "weight",
                        form,
                    ) else {
                        continue;
                    };
                    let rev = match s.args.get(1).map(|t| t.text.as_str()) {
                        None | Some("noreverse") => false,
                        Some("reverse") => true,
                        Some(_) => {
                            self.bad(&s.args[1], "weight option", form);
                            continue;
                        }
                    };
                    self.max_args(s, 2, form);
                    weight = Some(w);
                    reverse = Some(rev);
                }
                "dynamic" => self.warn(
                    DiagClass::Unsupported,
                    s.span(),
                    "`dynamic` in FILE_CHECK is documented by keepalived but keepalived 2.2.7 does not accept it (\"Unknown keyword\"); ignored: the file's value always adjusts the weight",
                ),
                _ => self.other(s, "FILE_CHECK", kw::FILE_CHECK, &[]),
            }
        }
        let Some((name, span)) = name else {
            self.error_help(
                DiagClass::Missing,
                st.span(),
                "FILE_CHECK has no `track_file`",
                "expected FILE_CHECK { track_file NAME [weight N [reverse]] }",
            );
            return None;
        };
        Some(TrackFileRef {
            name,
            weight,
            reverse,
            span,
        })
    }

    /// Remember FILE_CHECK references to track_file blocks not defined before them.
    fn note_file_check_refs(&mut self, vs: &VirtualServer, defined: &[TrackFile]) {
        for r in vs.real_servers.iter().flat_map(|r| &r.file_checks) {
            if !defined.iter().any(|f| f.name == r.name) {
                self.file_check_pending
                    .push((r.name.clone(), r.span.clone()));
            }
        }
    }

    /// A track_file block defined after a FILE_CHECK used it: keepalived 2.2.7 does not find
    /// it there (and drops the FILE_CHECK), so the file would be rejected by `keepalived -t`.
    fn file_check_defined_late(&mut self, f: &TrackFile) {
        let pending = std::mem::take(&mut self.file_check_pending);
        for (name, span) in pending {
            if name == f.name {
                self.error_help(
                    DiagClass::Semantic,
                    &span,
                    format!(
                        "FILE_CHECK uses track_file `{name}` before its block (defined at {}:{})",
                        f.span.file, f.span.line
                    ),
                    "move the `track_file` block above the virtual_server: keepalived 2.2.7 only finds blocks defined earlier (\"track_file ... not found\")",
                );
            } else {
                self.file_check_pending.push((name, span));
            }
        }
    }

    /// Options shared by every checker (and inheritable from real_server / virtual_server:
    /// connect_timeout, retry, delay_before_retry, warmup, as keepalived 2.2.7).
    fn checker_common(&mut self, s: &Stmt, c: &mut CheckerCommon) -> bool {
        match s.kw.text.as_str() {
            "connect_ip" => c.connect_ip = self.one(s, v::ip, "an IP address"),
            "connect_port" => {
                // keepalived 2.2.7: "Invalid checker connect_port '0'" (1-65535).
                c.connect_port = self.one(
                    s,
                    |x| v::port(x).filter(|p| *p != 0),
                    "a port number 1-65535",
                )
            }
            "bindto" => c.bindto = self.one(s, v::ip, "an IP address"),
            "bind_port" => c.bind_port = self.one(s, v::port, "a port number 0-65535"),
            "connect_timeout" => c.connect_timeout = self.timer_nonzero(s),
            "retry" => c.retry = self.u32_in(s, 0, u32::MAX as u64),
            "nb_get_retry" => {
                // Read as `retry` everywhere (issue 2). keepalived 2.2.7 does so only in
                // HTTP_GET/SSL_GET; in the other checkers it is an unknown keyword there, ignored,
                // so the default retry applies — say so (docs/config-parity.md).
                self.diags.push(
                    Diagnostic::warning(
                        DiagClass::Deprecated,
                        Some(s.span().clone()),
                        "`nb_get_retry` is deprecated; use `retry`",
                    )
                    .with_help(
                        "rampart reads it as `retry`; keepalived 2.2.7 does so only in HTTP_GET and SSL_GET and ignores it in other checkers",
                    ),
                );
                c.retry = self.u32_in(s, 0, u32::MAX as u64)
            }
            "delay_before_retry" => c.delay_before_retry = self.timer(s),
            "warmup" => c.warmup = self.timer(s),
            "fwmark" => {
                c.fwmark = self.one(
                    s,
                    |x| v::uint_any(x).and_then(|n| u32::try_from(n).ok()),
                    "a firewall mark",
                )
            }
            "delay_loop" => c.delay_loop = self.timer_nonzero(s),
            "alpha" => c.alpha = Some(self.flag(s)),
            "log_all_failures" => c.log_all_failures = Some(self.flag(s)),
            "bind_if" => {
                // IFNAMSIZ: 15 bytes and a NUL.
                c.bind_if = self.one(
                    s,
                    |n| (!n.is_empty() && n.len() < 16 && !n.contains('/')).then(|| n.to_string()),
                    "an interface name (at most 15 characters)",
                )
            }
            _ => return false,
        }
        true
    }

    fn checker(&mut self, st: &Stmt) -> Option<Checker> {
        let mut common = CheckerCommon::default();
        let kind_name = st.kw.text.as_str();
        self.max_args(st, 0, &format!("`{kind_name} {{`"));
        let mut http = HttpCheck {
            urls: Vec::new(),
            http_protocol: HttpProtocol::V1_0,
            virtualhost: None,
            enable_sni: false,
            max_body: None,
        };
        let mut misc_path = None;
        let mut misc = MiscCheck {
            misc_path: Command {
                raw: String::new(),
                argv: Vec::new(),
                span: st.span().clone(),
            },
            misc_timeout: None,
            misc_dynamic: false,
            user: None,
        };
        let mut udp = UdpCheck {
            payload: None,
            require_reply: None,
            min_reply_length: 0,
            max_reply_length: 255,
        };
        let is_http = matches!(kind_name, "HTTP_GET" | "SSL_GET");
        let is_udp = kind_name == "UDP_CHECK";
        let is_dns = kind_name == "DNS_CHECK";
        let mut helo_name = None;
        let mut hosts: Vec<CheckerCommon> = Vec::new();
        let mut dns = DnsCheck {
            qtype: "SOA".into(),
            name: ".".into(),
        };
        let (known, unsupported): (&[&str], &[&str]) = match kind_name {
            "TCP_CHECK" | "PING_CHECK" => (kw::CHECK_COMMON, &[]),
            "MISC_CHECK" => (kw::MISC_CHECK, &[]),
            "UDP_CHECK" => (kw::UDP_CHECK, &[]),
            "DNS_CHECK" => (kw::DNS_CHECK, &[]),
            "SMTP_CHECK" => (kw::SMTP_CHECK, &[]),
            _ => (kw::HTTP_CHECK, kw::HTTP_CHECK_UNSUPPORTED),
        };
        let block: &[Stmt] = match &st.block {
            Some(b) => &b.stmts,
            None if matches!(
                kind_name,
                "TCP_CHECK" | "PING_CHECK" | "DNS_CHECK" | "SMTP_CHECK"
            ) || is_udp =>
            {
                &[]
            }
            None => self.block(st),
        };
        self.duplicates(block, &["url", "host"]);
        for s in block {
            if self.checker_common(s, &mut common) {
                continue;
            }
            match (s.kw.text.as_str(), is_http, kind_name == "MISC_CHECK") {
                ("url", true, _) => {
                    if let Some(u) = self.url(s) {
                        http.urls.push(u)
                    }
                }
                ("http_protocol", true, _) => {
                    if let Some(p) = self.one(
                        s,
                        |x| match x {
                            "1.0" => Some(HttpProtocol::V1_0),
                            "1.0C" | "1.0c" => Some(HttpProtocol::V1_0C),
                            "1.1" => Some(HttpProtocol::V1_1),
                            _ => None,
                        },
                        "1.0, 1.0C or 1.1",
                    ) {
                        http.http_protocol = p
                    }
                }
                ("virtualhost", true, _) => http.virtualhost = self.string(s),
                ("enable_sni", true, _) if kind_name == "SSL_GET" => http.enable_sni = self.flag(s),
                ("enable_sni", true, _) => {
                    // keepalived 2.2.7 accepts it in HTTP_GET too, where there is no TLS.
                    self.flag(s);
                    self.warn(
                        DiagClass::Semantic,
                        s.span(),
                        format!("`enable_sni` has no effect in {kind_name} (no TLS); ignored"),
                    );
                }
                // rampart checks every url in each run (keepalived without fast_recovery
                // checks one url per delay_loop while the server is down): always on.
                ("fast_recovery", true, _) => {
                    self.flag(s);
                }
                ("max_body" | "max_body_len", true, _) => {
                    http.max_body = self.one(s, v::uint, "a number of bytes")
                }
                ("misc_path", _, true) => misc_path = self.command_all(s),
                ("misc_timeout", _, true) => misc.misc_timeout = self.whole_secs(s, 0, 4294),
                ("misc_dynamic", _, true) => misc.misc_dynamic = self.flag(s),
                ("user", _, true) => misc.user = self.run_as(s),
                ("payload" | "require_reply", _, _) if is_udp => {
                    self.no_block(s);
                    let tokens: Vec<&str> = s.args.iter().map(|t| t.text.as_str()).collect();
                    let is_payload = s.kw.text == "payload";
                    if is_payload && tokens.is_empty() {
                        self.arg(s, 0, "hex bytes, e.g. 0a1b 2c");
                        continue;
                    }
                    match UdpCheck::parse_hex(&tokens, !is_payload) {
                        Ok(bytes) if is_payload => {
                            udp.payload = Some(bytes.iter().map(|b| b.value).collect())
                        }
                        Ok(pattern) => udp.require_reply = Some(pattern),
                        Err(e) => self.error_help(
                            DiagClass::BadValue,
                            &s.args[0].span,
                            format!("invalid `{}`: {e}", s.kw.text),
                            if is_payload {
                                "expected hex digits, e.g. 0a1b 2c"
                            } else {
                                "expected hex digits (X for any), e.g. 0a1b 2X"
                            },
                        ),
                    }
                }
                ("helo_name", _, _) if kind_name == "SMTP_CHECK" => helo_name = self.string(s),
                ("host", _, _) if kind_name == "SMTP_CHECK" => {
                    let mut h = CheckerCommon::default();
                    for hs in self.block(s) {
                        if !self.checker_common(hs, &mut h) {
                            self.other(hs, "SMTP_CHECK host", kw::CHECK_COMMON, &[]);
                        }
                    }
                    hosts.push(h);
                }
                ("type", _, _) if is_dns => {
                    let names: Vec<&str> =
                        crate::check::dns::TYPES.iter().map(|(n, _)| *n).collect();
                    if let Some(t) = self.one(
                        s,
                        |x| {
                            let up = x.to_ascii_uppercase();
                            crate::check::dns::type_code(&up).map(|_| up)
                        },
                        &names.join("|"),
                    ) {
                        dns.qtype = t
                    }
                }
                ("name", _, _) if is_dns => {
                    if let Some(n) = self.string(s) {
                        match crate::check::dns::check_name(&n) {
                            Ok(()) => dns.name = n,
                            Err(e) => self.bad(&s.args[0], "DNS name", &e),
                        }
                    }
                }
                ("min_reply_length", _, _) if is_udp => {
                    if let Some(n) = self.u32_in(s, 0, 65535) {
                        udp.min_reply_length = n
                    }
                }
                ("max_reply_length", _, _) if is_udp => {
                    if let Some(n) = self.u32_in(s, 0, 65535) {
                        udp.max_reply_length = n
                    }
                }
                _ => self.other(s, kind_name, known, unsupported),
            }
        }
        let kind = match kind_name {
            "TCP_CHECK" => CheckerKind::Tcp,
            "PING_CHECK" => CheckerKind::Ping,
            "DNS_CHECK" => CheckerKind::Dns(dns),
            "SMTP_CHECK" => {
                // A host inherits the checker's own connect options.
                for h in &mut hosts {
                    inherit(h, &common);
                }
                CheckerKind::Smtp { helo_name, hosts }
            }
            "UDP_CHECK" => {
                if udp.min_reply_length > udp.max_reply_length {
                    self.error(
                        DiagClass::Semantic,
                        st.span(),
                        format!(
                            "UDP_CHECK: min_reply_length {} is above max_reply_length {}",
                            udp.min_reply_length, udp.max_reply_length
                        ),
                    );
                    return None;
                }
                CheckerKind::Udp(udp)
            }
            "HTTP_GET" | "SSL_GET" => {
                if http.urls.is_empty() {
                    self.error(
                        DiagClass::Missing,
                        st.span(),
                        format!("{kind_name} has no `url {{ path ... }}`"),
                    );
                    return None;
                }
                if kind_name == "HTTP_GET" {
                    CheckerKind::Http(http)
                } else {
                    CheckerKind::Ssl(http)
                }
            }
            _ => {
                match misc_path {
                    Some(c) => misc.misc_path = c,
                    None => {
                        self.error(
                            DiagClass::Missing,
                            st.span(),
                            "MISC_CHECK has no `misc_path`",
                        );
                        return None;
                    }
                }
                CheckerKind::Misc(misc)
            }
        };
        Some(Checker {
            kind,
            common,
            span: st.span().clone(),
        })
    }

    fn url(&mut self, st: &Stmt) -> Option<UrlCheck> {
        let mut u = UrlCheck {
            path: String::new(),
            digest: None,
            status_code: Vec::new(),
            virtualhost: None,
            regex: None,
            span: st.span().clone(),
        };
        let mut have_path = false;
        let mut regex: Option<(String, Span)> = None;
        let mut no_match = false;
        let mut options: Vec<String> = Vec::new();
        let (mut min_offset, mut max_offset) = (0u64, 0u64);
        let stmts = self.block(st);
        self.duplicates(stmts, &[]);
        for s in stmts {
            match s.kw.text.as_str() {
                "path" => {
                    if let Some(p) = self.string(s) {
                        u.path = p;
                        have_path = true;
                    }
                }
                "digest" => {
                    if let Some(d) = self.one(
                        s,
                        v::digest,
                        "an MD5 digest: 32 hex digits (as printed by genhash)",
                    ) {
                        u.digest = Some(d)
                    }
                }
                "status_code" => {
                    self.no_block(s);
                    if s.args.is_empty() {
                        self.arg(s, 0, "a status code or range, e.g. 200 or 200-299");
                    }
                    for t in &s.args {
                        if let Some(r) = self.tok_val(
                            t,
                            v::status_range,
                            "status code",
                            "a status code or range from 100 to 599, e.g. 200 or 200-299",
                        ) {
                            u.status_code.push(r)
                        }
                    }
                }
                "virtualhost" => u.virtualhost = self.string(s),
                "regex" => {
                    if let Some(p) = self.string(s) {
                        regex = Some((p, s.args[0].span.clone()));
                    }
                }
                "regex_no_match" => no_match = self.flag(s),
                "regex_options" => {
                    self.no_block(s);
                    for t in &s.args {
                        if UrlRegex::OPTIONS.contains(&t.text.as_str()) {
                            options.push(t.text.clone());
                        } else {
                            self.warn(
                                DiagClass::Unsupported,
                                &t.span,
                                format!(
                                    "regex option `{}` is not supported by rampart yet; ignored (supported: {})",
                                    t.text,
                                    UrlRegex::OPTIONS.join(", ")
                                ),
                            );
                        }
                    }
                }
                "regex_min_offset" => {
                    min_offset = self.one(s, v::uint, "an offset in bytes").unwrap_or(0)
                }
                "regex_max_offset" => {
                    max_offset = self.one(s, v::uint, "an offset in bytes").unwrap_or(0)
                }
                "regex_stack" => self.warn(
                    DiagClass::Unsupported,
                    s.span(),
                    "`regex_stack` has no meaning for rampart's regex engine (no JIT stack); ignored",
                ),
                _ => self.other(s, "url", kw::URL, kw::URL_UNSUPPORTED),
            }
        }
        if let Some((pattern, span)) = regex {
            let r = UrlRegex {
                pattern,
                no_match,
                options,
                min_offset,
                max_offset,
            };
            match r.compile() {
                Ok(_) => u.regex = Some(r),
                Err(e) => self.error_help(
                    DiagClass::BadValue,
                    &span,
                    format!("regex does not compile: {e}"),
                    "rampart uses Rust regex syntax: PCRE look-around and backreferences are not available",
                ),
            }
        } else if no_match || !options.is_empty() || min_offset > 0 || max_offset > 0 {
            self.warn(
                DiagClass::Semantic,
                st.span(),
                "regex options without `regex`: ignored",
            );
        }
        if !have_path {
            self.error(DiagClass::Missing, st.span(), "url without a `path`");
            return None;
        }
        Some(u)
    }
}

fn inherit(c: &mut CheckerCommon, d: &CheckerCommon) {
    c.connect_ip = c.connect_ip.or(d.connect_ip);
    c.connect_port = c.connect_port.or(d.connect_port);
    c.bindto = c.bindto.or(d.bindto);
    c.bind_port = c.bind_port.or(d.bind_port);
    c.connect_timeout = c.connect_timeout.or(d.connect_timeout);
    c.retry = c.retry.or(d.retry);
    c.delay_before_retry = c.delay_before_retry.or(d.delay_before_retry);
    c.warmup = c.warmup.or(d.warmup);
    c.fwmark = c.fwmark.or(d.fwmark);
    c.delay_loop = c.delay_loop.or(d.delay_loop);
    c.alpha = c.alpha.or(d.alpha);
    c.log_all_failures = c.log_all_failures.or(d.log_all_failures);
    c.bind_if = c.bind_if.clone().or_else(|| d.bind_if.clone());
}

fn fwd_method(s: &str) -> Option<ForwardMethod> {
    match s {
        "NAT" => Some(ForwardMethod::Nat),
        "DR" => Some(ForwardMethod::Dr),
        "TUN" => Some(ForwardMethod::Tun),
        _ => None,
    }
}

fn parse_scope(s: &str) -> Option<Scope> {
    Some(match s {
        "global" => Scope::Global,
        "site" => Scope::Site,
        "link" => Scope::Link,
        "host" => Scope::Host,
        "nowhere" => Scope::Nowhere,
        _ => Scope::Other(v::uint_in(s, 0, 255)? as u8),
    })
}

fn parse_table(s: &str) -> Option<u32> {
    match s {
        "default" => Some(253),
        "main" => Some(254),
        "local" => Some(255),
        _ => v::uint_any(s).and_then(|n| u32::try_from(n).ok()),
    }
}

/// Where things were written, for validation messages (the model keeps only block spans).
#[derive(Debug, Default, Clone)]
pub struct InstanceSpans {
    pub state: Option<Span>,
    pub authentication: Option<Span>,
    pub preempt_delay: Option<Span>,
    pub unicast_peer: Option<Span>,
    pub vrid: Option<Span>,
    pub advert_int: Option<Span>,
    pub nopreempt: Option<Span>,
}
