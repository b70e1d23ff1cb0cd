//! Block structure: a statement is a keyword and its arguments on one line, optionally
//! followed by a `{ ... }` block (the `{` may be on the same line or the next one).

use super::diag::{DiagClass, Diagnostic, Span};
use super::lexer::{TokKind, Token};

#[derive(Debug, Clone)]
pub struct Stmt {
    pub kw: Token,
    pub args: Vec<Token>,
    pub block: Option<Block>,
}

#[derive(Debug, Clone)]
pub struct Block {
    pub open: Span,
    pub stmts: Vec<Stmt>,
}

impl Stmt {
    pub fn span(&self) -> &Span {
        &self.kw.span
    }
    /// Keyword and arguments as words (for list blocks such as `group { a b }`).
    pub fn words(&self) -> impl Iterator<Item = &Token> {
        std::iter::once(&self.kw).chain(self.args.iter())
    }
}

struct Frame {
    stmts: Vec<Stmt>,
    owner: Option<Stmt>,
    open: Span,
}

/// Build the statement tree. Brace errors are reported and recovered from.
pub fn build(tokens: Vec<Token>, max_depth: usize, diags: &mut Vec<Diagnostic>) -> Vec<Stmt> {
    let mut frames: Vec<Frame> = vec![Frame {
        stmts: Vec::new(),
        owner: None,
        open: Span::builtin(),
    }];
    let mut cur: Option<Stmt> = None;
    // Inside a block nested too deeply we only count braces.
    let mut skip_depth = 0usize;
    for tok in tokens {
        if skip_depth > 0 {
            match tok.kind {
                TokKind::Open => skip_depth += 1,
                TokKind::Close => skip_depth -= 1,
                _ => {}
            }
            continue;
        }
        match tok.kind {
            TokKind::Word => match &mut cur {
                Some(s) => s.args.push(tok),
                None => {
                    cur = Some(Stmt {
                        kw: tok,
                        args: Vec::new(),
                        block: None,
                    })
                }
            },
            TokKind::Eol => {
                if let Some(s) = cur.take() {
                    push(&mut frames, s);
                }
            }
            TokKind::Open => {
                let top = frames.len() - 1;
                let owner = match cur.take() {
                    Some(s) => Some(s),
                    // `{` on the line after its keyword.
                    None => match frames[top].stmts.last() {
                        Some(s) if s.block.is_none() => frames[top].stmts.pop(),
                        _ => None,
                    },
                };
                if owner.is_none() {
                    diags.push(Diagnostic::error(
                        DiagClass::Syntax,
                        Some(tok.span.clone()),
                        "`{` without a keyword before it",
                    ));
                }
                if frames.len() > max_depth {
                    diags.push(Diagnostic::error(
                        DiagClass::Syntax,
                        Some(tok.span.clone()),
                        format!("blocks nested deeper than {max_depth} levels"),
                    ));
                    skip_depth = 1;
                    continue;
                }
                frames.push(Frame {
                    stmts: Vec::new(),
                    owner,
                    open: tok.span,
                });
            }
            TokKind::Close => {
                if let Some(s) = cur.take() {
                    push(&mut frames, s);
                }
                if frames.len() == 1 {
                    diags.push(Diagnostic::error(
                        DiagClass::Syntax,
                        Some(tok.span),
                        "`}` without a matching `{`",
                    ));
                    continue;
                }
                close(&mut frames);
            }
        }
    }
    if let Some(s) = cur.take() {
        push(&mut frames, s);
    }
    while frames.len() > 1 {
        let f = frames.last().map(|f| f.open.clone()).unwrap_or_default();
        diags.push(Diagnostic::error(
            DiagClass::Syntax,
            Some(f),
            "this `{` is never closed (missing `}`)",
        ));
        close(&mut frames);
    }
    frames.pop().map(|f| f.stmts).unwrap_or_default()
}

fn push(frames: &mut [Frame], s: Stmt) {
    if let Some(f) = frames.last_mut() {
        f.stmts.push(s);
    }
}

fn close(frames: &mut Vec<Frame>) {
    let Some(f) = frames.pop() else { return };
    if let Some(mut owner) = f.owner {
        owner.block = Some(Block {
            open: f.open,
            stmts: f.stmts,
        });
        push(frames, owner);
    }
}
