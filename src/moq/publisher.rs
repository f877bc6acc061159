//! The async side of `fragmp4moqsink`: on the plugin's tokio runtime, the `moq-mux` fMP4
//! importer turns the muxer's output into a MoQ broadcast (a `hang` catalog and one track
//! per `trak`, each chunk a frame, each fragment a group), and a `moq-tokio` client
//! publishes it to the relay, reconnecting with back-off when the relay goes away. Knows
//! nothing of GStreamer: the element hands it payloads and hears back through [`Event`]s.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use moq_mux::container::fmp4;
use moq_tokio::moq_net;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use super::queue::{Dropped, GroupQueue, Item};
use crate::runtime::Runtime;

/// Where and how to publish.
#[derive(Debug, Clone)]
pub struct Settings {
    pub url: url::Url,
    pub broadcast: String,
    pub tls_disable_verify: bool,
    pub tls_root: Option<PathBuf>,
    /// Bound on the first connection (dial, TLS and MoQ handshakes); past it the element
    /// fails. Later reconnects retry with back-off from `backoff_initial` to `backoff_max`.
    pub connect_timeout: Duration,
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
    pub max_queued_groups: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("url {url:?}: {reason}")]
    Url { url: String, reason: String },
    #[error("broadcast name is empty")]
    EmptyBroadcast,
    #[error("tls-root {0:?} is not a readable file")]
    TlsRoot(PathBuf),
    #[error("cannot set up the MoQ client: {0}")]
    Client(String),
    #[error("cannot start the tokio runtime: {0}")]
    Runtime(#[from] std::io::Error),
}

/// Checks a `url` property value: an absolute URL of a scheme `moq-tokio` dials, with a host.
pub fn parse_url(url: &str) -> Result<url::Url, Error> {
    let bad = |reason: String| Error::Url {
        url: url.to_string(),
        reason,
    };
    let parsed = url::Url::parse(url).map_err(|e| bad(e.to_string()))?;
    match parsed.scheme() {
        "https" | "http" | "moqt" | "moql" => {}
        other => {
            return Err(bad(format!(
                "scheme {other:?} is not one of https, http, moqt, moql"
            )));
        }
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(bad("no host".into()));
    }
    Ok(parsed)
}

/// A payload the element queues: its bytes are handed over slice by slice (memory by
/// memory for a GStreamer buffer), so nothing is merged or copied before the importer.
pub trait Payload: Send + 'static {
    fn for_each_slice(&self, f: &mut dyn FnMut(&[u8])) -> Result<(), String>;
}

impl Payload for Vec<u8> {
    fn for_each_slice(&self, f: &mut dyn FnMut(&[u8])) -> Result<(), String> {
        f(self);
        Ok(())
    }
}

/// What the publisher tells the element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A session with the relay is up (`reconnect`: not the first one).
    Connected { reconnect: bool },
    /// The session dropped; the publisher retries (a warning, not an error).
    Disconnected(String),
    /// Publishing cannot go on (bad configuration, the relay never answered, the stream
    /// cannot be imported): an element error.
    Failed(String),
}

pub type Events = Arc<dyn Fn(Event) + Send + Sync>;

/// Counters for the element's `stats`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    pub chunks: u64,
    pub bytes: u64,
    pub dropped: Dropped,
    pub reconnects: u64,
    pub connected: bool,
}

struct Shared<P> {
    queue: Mutex<GroupQueue<P>>,
    notify: Notify,
    stats: Mutex<Stats>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A running publisher; dropping it stops its tasks at once (nothing waits).
pub struct Publisher<P: Payload> {
    shared: Arc<Shared<P>>,
    tasks: Vec<JoinHandle<()>>,
    _runtime: Arc<Runtime>,
}

impl<P: Payload> Publisher<P> {
    /// Builds the client (TLS settings are checked here) and starts the tasks; the
    /// connection outcome arrives later through `events`.
    pub fn start(settings: Settings, events: Events) -> Result<Self, Error> {
        if settings.broadcast.trim_matches('/').is_empty() {
            return Err(Error::EmptyBroadcast);
        }
        if let Some(root) = &settings.tls_root
            && !root.is_file()
        {
            return Err(Error::TlsRoot(root.clone()));
        }
        let runtime = Runtime::acquire()?;
        let client = {
            // The client binds its UDP socket in the runtime's reactor.
            let _guard = runtime.handle().enter();
            client(&settings)?
        };
        let shared = Arc::new(Shared {
            queue: Mutex::new(GroupQueue::new(settings.max_queued_groups)),
            notify: Notify::new(),
            stats: Mutex::new(Stats::default()),
        });
        let task = {
            let shared = shared.clone();
            let events = events.clone();
            let settings = settings.clone();
            runtime.handle().spawn(async move {
                if let Err(reason) = publish(settings, client, shared, events.clone()).await {
                    events(Event::Failed(reason));
                }
            })
        };
        Ok(Self {
            shared,
            tasks: vec![task],
            _runtime: runtime,
        })
    }

    /// Queues an item; never blocks beyond a short lock.
    pub fn push(&self, item: Item<P>) {
        let dropped = {
            let mut queue = lock(&self.shared.queue);
            queue.push(item);
            queue.dropped()
        };
        lock(&self.shared.stats).dropped = dropped;
        self.shared.notify.notify_one();
    }

    pub fn stats(&self) -> Stats {
        *lock(&self.shared.stats)
    }
}

impl<P: Payload> Drop for Publisher<P> {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// How long a silent relay is given before the session counts as lost.
const IDLE_TIMEOUT: Duration = Duration::from_secs(3);

fn client(settings: &Settings) -> Result<moq_tokio::Client, Error> {
    let mut config = moq_tokio::connect::Config::default();
    config.url = Some(settings.url.clone());
    config.tls.insecure = Some(settings.tls_disable_verify);
    config.tls.root = settings.tls_root.iter().cloned().collect();
    // Our loop redials (below): one dial per connection, bounded.
    config.once = Some(true);
    config.timeout = settings.connect_timeout;
    let mut quic = moq_tokio::quic::Config::default();
    // A relay that vanished (no close) is noticed within seconds, then redialed.
    quic.idle_timeout = IDLE_TIMEOUT;
    quic.keep_alive = IDLE_TIMEOUT / 4;
    config
        .init(quic)
        .map_err(|e| Error::Client(format!("{e:#}")))
}

/// Imports the queued output into the broadcast while `connect` keeps it on the relay.
async fn publish<P: Payload>(
    settings: Settings,
    client: moq_tokio::Client,
    shared: Arc<Shared<P>>,
    events: Events,
) -> Result<(), String> {
    let origin = moq_tokio::origin::spawn();
    let name = settings.broadcast.trim_matches('/').to_string();
    let mut broadcast = origin
        .create_broadcast(&name)
        .map_err(|e| format!("cannot create broadcast {name:?}: {e}"))?;
    let mut catalog = moq_mux::catalog::Producer::new(&mut broadcast, Default::default())
        .map_err(|e| format!("cannot create the catalog: {e}"))?;
    let mut import = fmp4::Import::new(broadcast.clone(), catalog.reserve());
    broadcast
        .announce(Default::default())
        .map_err(|e| format!("cannot announce broadcast {name:?}: {e}"))?;

    let connection = tokio::spawn(connect(settings, client, origin, shared.clone(), events));
    let _stop = AbortOnDrop(connection);

    // The init segment imported, to tell a repeated one from a new track set or format.
    let mut init: Option<Vec<u8>> = None;
    loop {
        let item = lock(&shared.queue).pop();
        let Some(item) = item else {
            shared.notify.notified().await;
            continue;
        };
        let opens_group = matches!(
            item,
            Item::Chunk {
                opens_group: true,
                ..
            }
        );
        if let Item::Init(payload) = &item {
            let mut bytes = Vec::new();
            payload.for_each_slice(&mut |slice| bytes.extend_from_slice(slice))?;
            match &init {
                Some(previous) if *previous == bytes => continue,
                Some(_) => {
                    return Err(
                        "the muxer wrote a new init segment (a caps change or a track \
                                that started late): a MoQ broadcast keeps the tracks and formats \
                                of its first one; restart the pipeline to publish the new format"
                            .into(),
                    );
                }
                None => init = Some(bytes),
            }
        }
        match item {
            Item::Init(payload) | Item::Chunk { payload, .. } => {
                if opens_group {
                    // A fragment (GOP) starts: so does a MoQ group, on every track.
                    import.cut();
                }
                let mut bytes = 0u64;
                let mut failed = None;
                payload.for_each_slice(&mut |slice| {
                    bytes += slice.len() as u64;
                    if failed.is_none()
                        && let Err(e) = import.decode(slice)
                    {
                        failed = Some(e.to_string());
                    }
                })?;
                if let Some(e) = failed {
                    return Err(format!("cannot import the muxer's output: {e}"));
                }
                let mut stats = lock(&shared.stats);
                stats.chunks += 1;
                stats.bytes += bytes;
            }
            Item::Eos => {
                import
                    .finish()
                    .map_err(|e| format!("cannot finish the tracks: {e}"))?;
                catalog
                    .finish()
                    .map_err(|e| format!("cannot finish the catalog: {e}"))?;
                // Keep the broadcast (and the session) until the element stops.
                std::future::pending::<()>().await;
            }
        }
    }
}

struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Keeps a session with the relay: the first dial must succeed within the connect
/// timeout, else [`Event::Failed`]; afterwards every drop is reported and redialed with
/// back-off, for as long as the element runs.
async fn connect<P: Payload>(
    settings: Settings,
    client: moq_tokio::Client,
    origin: moq_net::origin::Producer,
    shared: Arc<Shared<P>>,
    events: Events,
) {
    let client = client.with_publisher(&origin);
    let url = settings.url.clone();
    let mut delay = settings.backoff_initial;
    let mut sessions = 0u64;
    loop {
        let attempt = tokio::time::timeout(
            settings.connect_timeout,
            client.connect(url.clone()).established(),
        )
        .await;
        let reason = match attempt {
            Ok(Ok(connection)) => {
                sessions += 1;
                {
                    let mut stats = lock(&shared.stats);
                    stats.connected = true;
                    if sessions > 1 {
                        stats.reconnects += 1;
                    }
                }
                events(Event::Connected {
                    reconnect: sessions > 1,
                });
                delay = settings.backoff_initial;
                let reason = session(&connection).await;
                lock(&shared.stats).connected = false;
                reason
            }
            Ok(Err(e)) => format!("cannot connect to {url}: {e:#}"),
            Err(_) => format!(
                "no MoQ session with {url} within {:?}",
                settings.connect_timeout
            ),
        };
        if sessions == 0 {
            events(Event::Failed(reason));
            return;
        }
        events(Event::Disconnected(format!(
            "{reason}; reconnecting in {delay:?}"
        )));
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(settings.backoff_max);
    }
}

/// Waits until the session ends, or the relay announces it is going away (GOAWAY: it
/// drains, then closes): either way, time to dial again. Returns the reason.
async fn session(connection: &moq_tokio::Connection) -> String {
    let goaway = async {
        match connection.draining() {
            // `None`: the session closed without a GOAWAY, which `closed` reports.
            Some(draining) => {
                if draining.recv().await.is_none() {
                    std::future::pending::<()>().await;
                }
            }
            None => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        closed = connection.closed() => match closed {
            Ok(()) => "the relay closed the session".to_string(),
            Err(e) => format!("the session with the relay ended: {e:#}"),
        },
        () = goaway => "the relay is going away (GOAWAY)".to_string(),
    }
}
