//! The keepalived.conf front end: lexer (with include / `$DEF` / `@id` / `~SEQ` preprocessing),
//! parser, typed model, validation and diagnostics.
//!
//! The pipeline is parse → validate → hand over: `load_file` either returns a complete,
//! validated [`Config`] with the warnings found on the way, or every diagnostic it found.
//! Nothing is "patched and run on" as keepalived does.

pub mod diag;
pub mod keywords;
pub mod lexer;
pub mod model;
pub mod parser;
pub mod preprocess;
pub mod tree;
pub mod validate;
pub mod values;

pub use diag::{DiagClass, Diagnostic, Diagnostics, Severity, Span};
pub use model::*;
pub use preprocess::{Limits, MemFs, RealFs, SourceFs};

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

/// Options that change how a file is read.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// The config id for `@ID` conditional lines (`-i`); None: host name up to the first dot.
    pub config_id: Option<String>,
}

/// A successfully loaded configuration and its warnings.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub config: Config,
    pub warnings: Diagnostics,
}

/// keepalived's default config id: the host name up to the first dot.
pub fn default_config_id() -> String {
    let host = nix::unistd::gethostname()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_default();
    host.split('.').next().unwrap_or_default().to_string()
}

/// Load, preprocess, parse and validate a configuration file.
/// `Err` carries every diagnostic (errors and warnings) in source order.
pub fn load_file(path: &Path, opts: &LoadOptions) -> Result<Loaded, Diagnostics> {
    let fs = RealFs::default();
    let name = path.to_string_lossy();
    let text = match fs.read(path) {
        Ok(t) => t,
        Err(e) => {
            return Err(Diagnostics(vec![Diagnostic::error(
                DiagClass::Include,
                None,
                format!("cannot read {name}: {e}"),
            )]));
        }
    };
    load_with(&name, &text, opts, &fs, &Limits::default())
}

/// Load a configuration given as text; `name` is used in diagnostics, and includes are
/// resolved relative to its directory on the real file system.
pub fn load_str(name: &str, text: &str, opts: &LoadOptions) -> Result<Loaded, Diagnostics> {
    load_with(name, text, opts, &RealFs::default(), &Limits::default())
}

/// The whole front end with an explicit file system and limits (tests, fuzzing).
pub fn load_with(
    name: &str,
    text: &str,
    opts: &LoadOptions,
    fs: &dyn SourceFs,
    limits: &Limits,
) -> Result<Loaded, Diagnostics> {
    let (cfg, diags) = analyse(name, text, opts, fs, limits);
    if diags.has_errors() {
        Err(diags)
    } else {
        Ok(Loaded {
            config: cfg,
            warnings: diags,
        })
    }
}

/// Run every stage and return the model (possibly partial) with all diagnostics, sorted in
/// source order and with their source lines attached.
pub fn analyse(
    name: &str,
    text: &str,
    opts: &LoadOptions,
    fs: &dyn SourceFs,
    limits: &Limits,
) -> (Config, Diagnostics) {
    let id = opts.config_id.clone().unwrap_or_else(default_config_id);
    // Tokens stream from the preprocessor through the block builder into the parser, one
    // top-level statement at a time, so memory stays proportional to the model.
    let mut p = parser::Parser::default();
    let mut cfg = Config::default();
    let mut tree_diags = Vec::new();
    let mut builder = tree::Builder::new(limits.max_block_depth);
    let pre = preprocess::preprocess_into(name, text, &id, fs, limits, &mut |tok| {
        builder.push(tok, &mut tree_diags, &mut |st| p.top(&st, &mut cfg));
    });
    let mut diags = pre.diags;
    if pre.aborted {
        attach_sources(&mut diags, &pre.sources, &pre.file_order);
        return (Config::default(), Diagnostics(diags));
    }
    builder.finish(&mut tree_diags, &mut |st| p.top(&st, &mut cfg));
    diags.append(&mut tree_diags);
    diags.append(&mut p.diags);
    validate::validate(
        &cfg,
        &validate::Extra {
            instance_spans: &p.instance_spans,
            member_spans: &p.member_spans,
        },
        &mut diags,
    );
    // keepalived 2.2.7 drops a virtual server without real servers ("has no real servers -
    // ignoring"), even one with a sorry_server: nothing is programmed for it. It was checked
    // like the others above (and warned about by the parser).
    cfg.virtual_servers.retain(|vs| !vs.real_servers.is_empty());
    attach_sources(&mut diags, &pre.sources, &pre.file_order);
    // A line expanded many times (~SEQ) reports the same problem once.
    diags.dedup_by(|a, b| a.span == b.span && a.message == b.message);
    (cfg, Diagnostics(diags))
}

fn attach_sources(
    diags: &mut [Diagnostic],
    sources: &HashMap<Arc<str>, Arc<str>>,
    order: &[Arc<str>],
) {
    let rank = |f: &Arc<str>| order.iter().position(|o| o == f).unwrap_or(usize::MAX);
    diags.sort_by_key(|d| match &d.span {
        Some(s) => (rank(&s.file), s.line, s.col),
        None => (0, 0, 0),
    });
    // Line starts per file, computed once for the files that have diagnostics.
    let mut starts: HashMap<Arc<str>, Vec<usize>> = HashMap::new();
    for d in diags.iter_mut() {
        if let Some(s) = &d.span
            && let Some(text) = sources.get(&s.file)
            && s.line > 0
        {
            let ls = starts.entry(s.file.clone()).or_insert_with(|| {
                std::iter::once(0)
                    .chain(text.match_indices('\n').map(|(i, _)| i + 1))
                    .collect()
            });
            if let Some(&from) = ls.get(s.line as usize - 1) {
                let to = ls.get(s.line as usize).map_or(text.len(), |e| e - 1);
                d.source_line = Some(text[from..to.max(from)].trim_end_matches('\r').to_string());
            }
        }
    }
}
