//! The one HTTP origin of the plugin: serves renditions (playlists, init segments,
//! segments and parts) from memory, with blocking playlist reload (LL-HLS), held
//! preload-hinted parts, byte ranges, cache headers and connection limits.
//!
//! Sinks publish into a [`Rendition`]; several sinks with the same address and
//! explicit port share one server, each under its own URL prefix.

mod path;
pub mod reload;
mod server;
mod store;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

pub use reload::{Progress, Skip};
pub use server::Limits;
pub use store::{LivePlaylist, Rendition};

use crate::runtime::Runtime;
use server::Shared;

/// Whether `prefix` can be a rendition's URL prefix: "" (the root) or one path segment
/// of letters, digits, '.', '_' and '-' (not `.` or `..`).
pub fn plain_prefix(prefix: &str) -> bool {
    prefix.is_empty()
        || (prefix != "."
            && prefix != ".."
            && prefix
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')))
}

/// What can go wrong setting up the origin.
#[derive(Debug, thiserror::Error)]
pub enum OriginError {
    #[error("cannot listen on {address}: {source}")]
    Bind {
        address: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot start the HTTP runtime: {0}")]
    Runtime(std::io::Error),
    #[error("the URL prefix /{0}/ is served already on this port")]
    PrefixTaken(String),
}

/// A running server. It stops, and frees its port, when the last handle is dropped.
pub struct Origin {
    shared: Arc<Shared>,
    local: SocketAddr,
    stop: tokio::sync::watch::Sender<bool>,
    task: Option<tokio::task::JoinHandle<()>>,
    /// Keeps the shared runtime running while the server is.
    _runtime: Arc<Runtime>,
}

/// Servers bound to an explicit port, so a second sink joins the first.
static SERVERS: Mutex<Option<HashMap<SocketAddr, Weak<Origin>>>> = Mutex::new(None);

impl Origin {
    /// Listens on `address:port` (port 0: any free port, never shared), or returns the
    /// server already listening there.
    pub fn bind(address: IpAddr, port: u16, limits: Limits) -> Result<Arc<Origin>, OriginError> {
        let wanted = SocketAddr::new(address, port);
        let mut servers = SERVERS.lock().unwrap_or_else(|e| e.into_inner());
        let servers = servers.get_or_insert_with(HashMap::new);
        servers.retain(|_, s| s.strong_count() > 0);
        if port != 0
            && let Some(existing) = servers.get(&wanted).and_then(Weak::upgrade)
        {
            return Ok(existing);
        }
        let runtime = Runtime::acquire().map_err(OriginError::Runtime)?;
        let bind_error = |source| OriginError::Bind {
            address: wanted,
            source,
        };
        let listener = {
            let _in_runtime = runtime.handle().enter();
            let socket = match address {
                IpAddr::V4(_) => tokio::net::TcpSocket::new_v4(),
                IpAddr::V6(_) => tokio::net::TcpSocket::new_v6(),
            }
            .map_err(bind_error)?;
            // A port freed at NULL can be taken again at once (no TIME_WAIT wait).
            socket.set_reuseaddr(true).map_err(bind_error)?;
            socket.bind(wanted).map_err(bind_error)?;
            socket.listen(1024).map_err(bind_error)?
        };
        let local = listener.local_addr().map_err(bind_error)?;
        let shared = Arc::new(Shared::default());
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let task = runtime
            .handle()
            .spawn(server::serve(listener, shared.clone(), limits, stopped));
        let origin = Arc::new(Origin {
            shared,
            local,
            stop,
            task: Some(task),
            _runtime: runtime,
        });
        if port != 0 {
            servers.insert(wanted, Arc::downgrade(&origin));
        }
        Ok(origin)
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Starts serving a rendition under `/prefix/` ("" for the server root).
    pub fn add_rendition(&self, prefix: &str) -> Result<Arc<Rendition>, OriginError> {
        let mut renditions = self
            .shared
            .renditions
            .write()
            .unwrap_or_else(|e| e.into_inner());
        if renditions.contains_key(prefix) {
            return Err(OriginError::PrefixTaken(prefix.to_string()));
        }
        let r = Arc::new(Rendition::default());
        renditions.insert(prefix.to_string(), r.clone());
        Ok(r)
    }

    /// Stops serving the rendition under `/prefix/`.
    pub fn remove_rendition(&self, prefix: &str) {
        self.shared
            .renditions
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(prefix);
        self.shared.variants().remove(prefix);
    }

    /// Sets (or with `None` clears) the multivariant playlist entry of a rendition.
    pub fn set_variant(&self, prefix: &str, entry: Option<String>) {
        let mut v = self.shared.variants();
        match entry {
            Some(e) => v.insert(prefix.to_string(), e),
            None => v.remove(prefix),
        };
    }

    /// Where every rendition's live playlist stands: (prefix, playlist name, progress),
    /// for rendition reports.
    pub fn playlists(&self) -> Vec<(String, String, Progress)> {
        let renditions: Vec<(String, Arc<Rendition>)> = self
            .shared
            .renditions
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let mut out = Vec::new();
        for (prefix, r) in renditions {
            if let Some(name) = r.playlist_name()
                && let store::Found::Playlist(p) = r.find(&name)
            {
                out.push((prefix, name, p.progress.clone()));
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// The multivariant entries of every rendition served, by prefix.
    pub fn variants(&self) -> Vec<(String, String)> {
        self.shared
            .variants()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}

impl Drop for Origin {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        // The accept loop drops its listener as it ends: wait (briefly) so the port is
        // free when the element reaches NULL.
        if let Some(task) = self.task.take() {
            let until = Instant::now() + Duration::from_secs(2);
            while !task.is_finished() && Instant::now() < until {
                std::thread::sleep(Duration::from_millis(2));
            }
            task.abort();
        }
    }
}
