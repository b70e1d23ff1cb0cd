//! The engine's I/O shell: runs until `ctx.shutdown` becomes true.

use crate::config::Config;
use crate::daemon::EngineCtx;
use std::sync::Arc;

pub async fn run(cfg: Arc<Config>, mut ctx: EngineCtx) -> anyhow::Result<()> {
    let _ = cfg;
    let _ = ctx.shutdown.wait_for(|s| *s).await;
    Ok(())
}
