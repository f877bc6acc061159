//! The one tokio runtime the plugin owns, shared by every element that needs one (the
//! HTTP origin, later MoQ). It starts with its first user and stops when the last one
//! lets go, so a pipeline back in NULL leaves no threads behind.

use std::sync::{Arc, Mutex, Weak};

/// A handle on the shared runtime; the runtime lives while any handle does.
pub struct Runtime {
    runtime: Option<tokio::runtime::Runtime>,
}

impl Runtime {
    /// The running runtime, started if no one holds it.
    pub fn acquire() -> std::io::Result<Arc<Runtime>> {
        static SHARED: Mutex<Weak<Runtime>> = Mutex::new(Weak::new());
        let mut shared = SHARED.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(rt) = shared.upgrade() {
            return Ok(rt);
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("fragmp4-rt")
            .enable_io()
            .enable_time()
            .build()?;
        let rt = Arc::new(Runtime {
            runtime: Some(runtime),
        });
        *shared = Arc::downgrade(&rt);
        Ok(rt)
    }

    pub fn handle(&self) -> &tokio::runtime::Handle {
        self.runtime
            .as_ref()
            .expect("the runtime lives until drop")
            .handle()
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        // Never blocks, so the last handle may go from any thread, even a worker's.
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_runtime_while_anyone_holds_it() {
        let a = Runtime::acquire().unwrap();
        let b = Runtime::acquire().unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(a.handle().block_on(async { 7 }), 7);
        drop((a, b));
        let c = Runtime::acquire().unwrap();
        assert_eq!(c.handle().block_on(async { 8 }), 8);
    }
}
