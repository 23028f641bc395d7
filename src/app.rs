//! Wiring: opens the store, starts auth and the engine, binds the HTTP listener and owns
//! graceful shutdown.
//!
//! [`App::build`] binds before it returns, so callers (tests) can read
//! [`App::local_addr`] of a port-0 listener and never sleep waiting for it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::api;
use crate::auth::{Auth, login_limits};
use crate::cache::{Cache, RedisCache};
use crate::config::Config;
use crate::engine::{Engine, Hooks};
use crate::events::Bus;
use crate::events::SinkHealth;
use crate::events::kafka::KafkaSink;
use crate::gateway;
use crate::store::{DynStore, MeteredStore, MongoStore, SqliteStore};
use crate::web;

/// What every edge (REST, Socket.IO) can reach. Owned here, so no edge depends on
/// another's types.
#[derive(Clone)]
pub struct Services {
    pub engine: Arc<Engine>,
    /// Magnet-to-metadata lookups and their caches.
    pub metadata: Arc<crate::metadata::MetadataService>,
    /// The media library: movies, shows, episodes and their files in torrents.
    pub library: Arc<crate::library::Library>,
    /// The torrent catalog and its search index.
    pub catalog: Arc<crate::catalog::Catalog>,
    pub auth: Arc<Auth>,
    pub store: DynStore,
    /// The login limiter, revoked tokens and cached metadata (Redis or in process).
    pub cache: Cache,
    pub bus: Arc<Bus>,
    /// The event sinks whose health the health endpoints report (Kafka, when set).
    pub sink: Option<Arc<dyn SinkHealth>>,
    pub started: Instant,
    /// Whether `X-Forwarded-For` names the client (see `Config::trust_proxy`).
    pub trust_proxy: bool,
    /// Renders `/metrics`; `metrics_token`, when set, guards it.
    pub metrics: metrics_exporter_prometheus::PrometheusHandle,
    pub metrics_token: Option<String>,
    /// Recent `GET /api/torrents` answers (see [`crate::api::ListCache`]).
    pub list_cache: Arc<crate::api::ListCache>,
    /// qBittorrent API sessions and their `sync/maindata` states.
    pub qbt: Arc<crate::api::qbt::Sessions>,
    /// WebDAV credentials checked lately (see [`crate::dav`]).
    pub dav_credentials: Arc<crate::dav::Remembered>,
    pub tracker: Arc<crate::tracker::Tracker>,
    pub graphql: crate::graphql::GraphqlSchema,
}

pub struct App {
    listener: TcpListener,
    state: Services,
    cancel: CancellationToken,
    shutdown_timeout: std::time::Duration,
    kafka: Option<Arc<KafkaSink>>,
    web_dir: Option<std::path::PathBuf>,
}

/// How long shutdown waits for the Kafka sink to relay what is left; the rest stays in
/// the outbox for the next start.
const KAFKA_FLUSH: std::time::Duration = std::time::Duration::from_secs(5);

/// Serves `router` on `listener` until `fut` is done: the listener is shared (a
/// duplicate of its socket), so it keeps accepting for the real router afterwards.
async fn serve_while<T>(
    listener: &TcpListener,
    router: axum::Router,
    fut: impl Future<Output = T>,
) -> anyhow::Result<T> {
    use std::os::fd::AsFd as _;
    let twin = std::net::TcpListener::from(listener.as_fd().try_clone_to_owned()?);
    twin.set_nonblocking(true)?;
    let twin = TcpListener::from_std(twin)?;
    let done = CancellationToken::new();
    let serve = axum::serve(twin, router).with_graceful_shutdown(done.clone().cancelled_owned());
    let task = tokio::spawn(serve.into_future());
    let out = fut.await;
    done.cancel();
    let _ = task.await;
    Ok(out)
}

/// The store `MONGODB_URI` names, or the embedded SQLite one. MongoDB is waited for,
/// retrying with capped backoff, until it answers or the process is interrupted.
async fn open_store(config: &Config) -> anyhow::Result<DynStore> {
    let Some(uri) = &config.mongodb_uri else {
        let sqlite = SqliteStore::open(&config.database_path()).context("opening the database")?;
        return Ok(Arc::new(sqlite));
    };
    let opts = MongoStore::options(uri)
        .await
        .context("MONGODB_URI is not a usable connection string")?;
    let mut wait = std::time::Duration::from_millis(250);
    loop {
        match MongoStore::connect_with(opts.clone()).await {
            Ok(store) => {
                tracing::info!("connected to MongoDB");
                return Ok(Arc::new(store));
            }
            Err(e) => {
                tracing::warn!(error = %e, retry_in = ?wait, "MongoDB not reachable; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = tokio::signal::ctrl_c() => {
                        anyhow::bail!("stopped while waiting for MongoDB")
                    }
                }
                wait = (wait * 2).min(std::time::Duration::from_secs(30));
            }
        }
    }
}

/// Redis when configured (not waited for: until it answers the in-process cache
/// serves), else the in-process cache.
async fn open_cache(config: &Config) -> anyhow::Result<Cache> {
    let limits = login_limits(&config.auth);
    let Some(redis) = &config.redis else {
        return Ok(Cache::in_process(limits));
    };
    let client = RedisCache::new(redis.url.expose(), &redis.key_prefix, limits)
        .context("REDIS_URL is not a usable Redis address")?;
    Ok(Cache::redis(limits, client).await)
}

/// The catalog, its index under `DATA_DIR/catalog-index` (rebuilt from the store when
/// needed), and its torrents allowed on the tracker (in catalog mode it serves those
/// only) with their completed counts from before the restart.
async fn open_catalog(
    config: &Config,
    store: DynStore,
    engine: Arc<Engine>,
    tracker: Arc<crate::tracker::Tracker>,
) -> anyhow::Result<Arc<crate::catalog::Catalog>> {
    let dir = config.data_dir.join(CATALOG_INDEX_DIR);
    let catalog = crate::catalog::Catalog::open(store, engine, tracker.clone(), &dir)
        .await
        .context("opening the catalog")?;
    for hash in catalog.info_hashes().await? {
        tracker.allow(hash);
    }
    tracker
        .restore_completions()
        .await
        .context("reading the tracker's completed counts")?;
    Ok(Arc::new(catalog))
}

/// The catalog's search index, below `DATA_DIR`.
pub const CATALOG_INDEX_DIR: &str = "catalog-index";

impl App {
    /// Opens everything and binds the HTTP listener; nothing is served until [`App::run`].
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        Self::build_with(config, Hooks::default()).await
    }

    /// [`App::build`] with test hooks in the engine.
    pub async fn build_with(config: Config, hooks: Hooks) -> anyhow::Result<Self> {
        std::fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("creating DATA_DIR {:?}", config.data_dir))?;
        let metrics = crate::telemetry::handle();
        let listener = TcpListener::bind(config.http_addr)
            .await
            .with_context(|| format!("binding {}", config.http_addr))?;
        // Answered while the store is not there yet (MongoDB may take a while).
        let store = serve_while(&listener, api::starting::router(), open_store(&config)).await??;
        let store: DynStore = Arc::new(MeteredStore::new(store));
        let cache = open_cache(&config).await?;
        let auth = Auth::with_cache(&config.auth, &config.data_dir, store.clone(), cache.clone());
        let auth = Arc::new(auth.await?);
        auth.bootstrap_admin().await?;
        let cancel = CancellationToken::new();
        let bus = Bus::new(store.clone(), config.event_buffer, config.kafka.is_some())
            .await
            .context("starting the event bus")?;
        // Never waits for the broker; relays what the outbox holds from the last run too.
        let kafka = config
            .kafka
            .clone()
            .map(|k| KafkaSink::start(k, bus.clone(), store.clone(), CancellationToken::new()));
        let engine = Engine::start(
            config.engine.clone(),
            store.clone(),
            bus.clone(),
            hooks,
            cancel.child_token(),
        )
        .await
        .context("starting the torrent engine")?;
        let metadata = crate::metadata::MetadataService::new(
            engine.clone(),
            cache.clone(),
            config.metadata.clone(),
            config.engine.retry,
        );
        // Assignments wait for a new torrent's metadata as long as a lookup would.
        let library = Arc::new(crate::library::Library::new(
            store.clone(),
            engine.clone(),
            config.metadata.timeout,
        ));
        let tracker = crate::tracker::Tracker::new(config.tracker.clone(), store.clone());
        let udp_tracker =
            crate::tracker::udp::serve(tracker.clone(), &config.tracker.udp, cancel.child_token())
                .await?;
        for addr in &udp_tracker {
            tracing::info!(%addr, "UDP tracker listening");
        }
        tokio::spawn(tracker.clone().run(cancel.child_token()));
        let catalog = open_catalog(&config, store.clone(), engine.clone(), tracker.clone()).await?;
        let state = Services {
            engine,
            metadata,
            library,
            catalog,
            auth,
            store,
            cache,
            bus,
            sink: kafka.clone().map(|k| k as Arc<dyn SinkHealth>),
            started: Instant::now(),
            trust_proxy: config.trust_proxy,
            metrics,
            metrics_token: config.metrics_token.clone(),
            list_cache: Default::default(),
            qbt: Default::default(),
            dav_credentials: Default::default(),
            tracker,
            graphql: crate::graphql::schema(),
        };
        Ok(Self {
            listener,
            state,
            cancel,
            shutdown_timeout: config.shutdown_timeout,
            kafka,
            web_dir: config.web_dir.clone(),
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// The engine, for callers that embed the server.
    pub fn engine(&self) -> Arc<Engine> {
        self.state.engine.clone()
    }

    /// The event bus, for callers that embed the server.
    pub fn bus(&self) -> Arc<Bus> {
        self.state.bus.clone()
    }

    /// What [`App::run`] serves: the REST API, the dashboard and the Socket.IO edge
    /// (tests drive it without a socket). Call it inside the Tokio runtime.
    pub fn router(&self) -> axum::Router {
        let socketio = gateway::layer(&self.state, self.cancel.child_token());
        let assets = match &self.web_dir {
            Some(dir) => web::Assets::Dir(dir.clone()),
            None => web::Assets::Embedded,
        };
        api::router(self.state.clone())
            .merge(web::router(assets))
            .layer(socketio)
    }

    /// A token that stops the server when cancelled (tests use it instead of signals).
    pub fn shutdown_token(&self) -> CancellationToken {
        self.cancel.clone()
    }

    /// Serves until SIGINT/SIGTERM or the shutdown token, then stops in order: stop
    /// accepting requests, save every torrent, stop the engine, all within the timeout.
    pub async fn run(self) -> anyhow::Result<()> {
        let addr = self.local_addr();
        tracing::info!(%addr, "TorrentEdge listening");
        let cancel = self.cancel.clone();
        tokio::spawn(watch_signals(cancel.clone()));
        let engine = self.state.engine.clone();
        let tracker = self.state.tracker.clone();
        let router = self.router();
        let serve = axum::serve(
            self.listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(cancel.clone().cancelled_owned());
        serve.await.context("HTTP server")?;
        tracing::info!("shutting down");
        // Transfers accounted from announces the tracker answered are written before
        // the process ends.
        tracker.flush().await;
        if tokio::time::timeout(self.shutdown_timeout, engine.shutdown())
            .await
            .is_err()
        {
            tracing::warn!(timeout = ?self.shutdown_timeout, "engine shutdown timed out");
        }
        if let Some(kafka) = &self.kafka {
            kafka.shutdown(self.shutdown_timeout.min(KAFKA_FLUSH)).await;
        }
        tracing::info!("stopped");
        Ok(())
    }
}

async fn watch_signals(cancel: CancellationToken) {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
        _ = cancel.cancelled() => return,
    }
    tracing::info!("signal received");
    cancel.cancel();
}
