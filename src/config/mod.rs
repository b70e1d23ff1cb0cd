//! The keepalived.conf front end: lexer (with include / `$DEF` / `@id` / `~SEQ` preprocessing),
//! parser, typed model, validation and diagnostics.
//!
//! The pipeline is parse → validate → hand over: `load_file` either returns a complete,
//! validated [`Config`] with the warnings found on the way, or every diagnostic it found.
//! Nothing is "patched and run on" as keepalived does.

pub mod diag;
pub mod model;

pub use diag::{DiagClass, Diagnostic, Diagnostics, Severity, Span};
pub use model::*;

use std::path::Path;

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

/// Load, preprocess, parse and validate a configuration file.
/// `Err` carries every diagnostic (errors and warnings) in source order.
pub fn load_file(path: &Path, opts: &LoadOptions) -> Result<Loaded, Diagnostics> {
    let _ = (path, opts);
    Err(Diagnostics(vec![Diagnostic::error(
        DiagClass::Syntax,
        None,
        "config front end not implemented yet",
    )]))
}
