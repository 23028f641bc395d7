//! Points where a test can hold the engine, to drive an interleaving on purpose rather
//! than by luck. Production code never installs a hook; each point costs one branch.

use std::sync::Arc;

use futures::future::BoxFuture;

/// Where the engine is when it calls the hook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HookPoint {
    /// The sampler has read every torrent's state and not yet written what it saw.
    SamplerObserved,
}

type HookFn = dyn Fn(HookPoint) -> BoxFuture<'static, ()> + Send + Sync;

/// A test's hook, or none.
#[derive(Clone, Default)]
pub struct Hooks(Option<Arc<HookFn>>);

impl Hooks {
    /// Calls `f` at every point and waits for the future it returns.
    pub fn new(f: impl Fn(HookPoint) -> BoxFuture<'static, ()> + Send + Sync + 'static) -> Self {
        Self(Some(Arc::new(f)))
    }

    pub(super) async fn at(&self, point: HookPoint) {
        if let Some(f) = &self.0 {
            f(point).await;
        }
    }
}

impl std::fmt::Debug for Hooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "Hooks(set)"
        } else {
            "Hooks(none)"
        })
    }
}
