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
    let mut out = Vec::new();
    let mut b = Builder::new(max_depth);
    for t in tokens {
        b.push(t, diags, &mut |s| out.push(s));
    }
    b.finish(diags, &mut |s| out.push(s));
    out
}

/// Incremental tree builder: tokens go in one at a time, complete top-level statements come
/// out as soon as they are known to be complete (a top-level statement is complete when the
/// next one starts, since its `{` may stand on the following line).
pub struct Builder {
    frames: Vec<Frame>,
    cur: Option<Stmt>,
    /// Inside a block nested too deeply we only count braces.
    skip_depth: usize,
    max_depth: usize,
}

impl Builder {
    pub fn new(max_depth: usize) -> Builder {
        Builder {
            frames: vec![Frame {
                stmts: Vec::new(),
                owner: None,
                open: Span::builtin(),
            }],
            cur: None,
            skip_depth: 0,
            max_depth,
        }
    }

    pub fn push(&mut self, tok: Token, diags: &mut Vec<Diagnostic>, emit: &mut dyn FnMut(Stmt)) {
        if self.skip_depth > 0 {
            match tok.kind {
                TokKind::Open => self.skip_depth += 1,
                TokKind::Close => self.skip_depth -= 1,
                _ => {}
            }
            return;
        }
        let frames = &mut self.frames;
        match tok.kind {
            TokKind::Word => match &mut self.cur {
                Some(s) => s.args.push(tok),
                None => {
                    if frames.len() == 1 {
                        for s in frames[0].stmts.drain(..) {
                            emit(s);
                        }
                    }
                    self.cur = Some(Stmt {
                        kw: tok,
                        args: Vec::new(),
                        block: None,
                    })
                }
            },
            TokKind::Eol => {
                if let Some(s) = self.cur.take() {
                    push(frames, s);
                }
            }
            TokKind::Open => {
                let top = frames.len() - 1;
                let owner = match self.cur.take() {
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
                if frames.len() > self.max_depth {
                    diags.push(Diagnostic::error(
                        DiagClass::Syntax,
                        Some(tok.span.clone()),
                        format!("blocks nested deeper than {} levels", self.max_depth),
                    ));
                    self.skip_depth = 1;
                    return;
                }
                frames.push(Frame {
                    stmts: Vec::new(),
                    owner,
                    open: tok.span,
                });
            }
            TokKind::Close => {
                if let Some(s) = self.cur.take() {
                    push(frames, s);
                }
                if frames.len() == 1 {
                    diags.push(Diagnostic::error(
                        DiagClass::Syntax,
                        Some(tok.span),
                        "`}` without a matching `{`",
                    ));
                    return;
                }
                close(frames);
            }
        }
    }

    /// End of input: close what is open (reporting it) and emit the rest.
    pub fn finish(mut self, diags: &mut Vec<Diagnostic>, emit: &mut dyn FnMut(Stmt)) {
        if let Some(s) = self.cur.take() {
            push(&mut self.frames, s);
        }
        while self.frames.len() > 1 {
            let f = self
                .frames
                .last()
                .map(|f| f.open.clone())
                .unwrap_or_default();
            diags.push(Diagnostic::error(
                DiagClass::Syntax,
                Some(f),
                "this `{` is never closed (missing `}`)",
            ));
            close(&mut self.frames);
        }
        if let Some(f) = self.frames.pop() {
            for s in f.stmts {
                emit(s);
            }
        }
    }
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
