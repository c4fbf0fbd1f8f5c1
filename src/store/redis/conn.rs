//! Connections to the three shapes of deployment, behind one handle that commands and scripts
//! run on, plus the source of the dedicated pub/sub connection.
//!
//! - Standalone: one [`ConnectionManager`] (it reconnects by itself).
//! - Sentinel: a [`ConnectionManager`] on the master the sentinels name. A manager follows one
//!   address, so after a failover it would keep reaching the old master (down, or demoted to a
//!   read-only replica): errors and timeouts trigger a fresh lookup in the background, and a
//!   new manager when the master moved.
//! - Cluster: the redis crate's cluster connection, which follows slots and reconnects itself.
//!
//! Command connections speak RESP3 so a dropped connection is noticed (and re-established)
//! while idle, instead of failing the first command after Redis comes back. RESP3 and
//! `GETDEL` need Redis 6.2 or later.
//!
//! During an outage each operation starts one short reconnection round; the store retries an
//! operation once when its connection was refused (see `RedisStore::run`).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use ::redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use ::redis::cluster::ClusterClientBuilder;
use ::redis::cluster_async::ClusterConnection;
use ::redis::cluster_routing::{MultipleNodeRoutingInfo, RoutingInfo};
use ::redis::sentinel::{SentinelClient, SentinelClientBuilder, SentinelServerType};
use ::redis::{
    Client, Cmd, ConnectionAddr, ConnectionInfo, ErrorKind, IntoConnectionInfo, Pipeline,
    ProtocolVersion, RedisConnectionInfo, RedisError, RedisFuture, RedisResult, ServerErrorKind,
    Value,
};

use crate::config::redis_url::{Node, RedisUrl, Topology};

/// The longest any one store operation waits for Redis, reconnection included. Login
/// endpoints must answer 503 quickly during an outage, and WeChat's callback within 5 s.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(1);

/// A command connection's reconnection round: the first attempt, then this many more…
const RECONNECT_RETRIES: usize = 1;
/// …after this (plus up to as much jitter). Rounds are short so that during an outage an
/// operation fails in a fraction of [`COMMAND_TIMEOUT`] (a refused connection is quick) rather
/// than waiting out a long round; the next operation starts the next round.
const RECONNECT_DELAY: Duration = Duration::from_millis(50);
/// How long sentinels have to name the master.
const DISCOVERY_TIMEOUT: Duration = Duration::from_secs(3);
/// At most one sentinel lookup per this long, however many commands fail.
const REDISCOVERY_PAUSE: Duration = Duration::from_millis(500);

/// Where commands go.
pub(crate) enum Commands {
    Direct(ConnectionManager),
    Sentinel(Arc<SentinelCommands>),
    Cluster(ClusterConnection),
}

/// Where the dedicated subscriber connection goes (RESP2, as the redis crate's `PubSub`
/// requires).
pub(crate) enum PubSubSource {
    Direct(Box<Client>),
    Sentinel(Arc<SentinelCommands>),
    /// Classic `PUBLISH` reaches subscribers on every node of a cluster, so any seed will do;
    /// each reconnection tries the next one.
    Cluster {
        seeds: Vec<Client>,
        next: AtomicUsize,
    },
}

/// Connects for commands now, so that an unreachable server, a wrong password or a TLS
/// failure surfaces at startup as itself. Errors are the redis crate's: the caller words
/// them for the operator.
pub(crate) async fn connect(url: &RedisUrl) -> RedisResult<(Commands, PubSubSource)> {
    match &url.topology {
        Topology::Standalone { node, tls } => {
            let client = Client::open(node_info(node, *tls, url, ProtocolVersion::RESP3)?)?;
            let manager = ConnectionManager::new_with_config(client, manager_config()).await?;
            let pubsub = Client::open(node_info(node, *tls, url, ProtocolVersion::RESP2)?)?;
            Ok((
                Commands::Direct(manager),
                PubSubSource::Direct(Box::new(pubsub)),
            ))
        }
        Topology::Sentinel { sentinels, master } => {
            let sentinel = Arc::new(SentinelCommands::connect(sentinels, master, url).await?);
            Ok((
                Commands::Sentinel(sentinel.clone()),
                PubSubSource::Sentinel(sentinel),
            ))
        }
        Topology::Cluster { seeds } => {
            let mut builder = ClusterClientBuilder::new(
                seeds
                    .iter()
                    .map(|n| ConnectionAddr::Tcp(n.host.clone(), n.port))
                    .collect::<Vec<_>>(),
            )
            .connection_timeout(COMMAND_TIMEOUT)
            .response_timeout(COMMAND_TIMEOUT);
            if let Some(user) = &url.username {
                builder = builder.username(user);
            }
            if let Some(password) = &url.password {
                builder = builder.password(password);
            }
            let mut connection = builder.build()?.get_async_connection().await?;
            ::redis::cmd("PING")
                .query_async::<Value>(&mut connection)
                .await?;
            let seeds = seeds
                .iter()
                .map(|n| Client::open(node_info(n, false, url, ProtocolVersion::RESP2)?))
                .collect::<RedisResult<Vec<_>>>()?;
            Ok((
                Commands::Cluster(connection),
                PubSubSource::Cluster {
                    seeds,
                    next: AtomicUsize::new(0),
                },
            ))
        }
    }
}

impl Commands {
    /// A handle to run one command or script on.
    pub fn handle(&self) -> Handle {
        match self {
            Commands::Direct(manager) => Handle::Manager(manager.clone()),
            Commands::Sentinel(sentinel) => Handle::Manager(sentinel.manager()),
            Commands::Cluster(connection) => Handle::Cluster(connection.clone()),
        }
    }

    /// Tells the connection that an operation failed (`None`: timed out), so a Sentinel
    /// deployment can look for a new master.
    pub fn failed(&self, error: Option<&RedisError>) {
        if let Commands::Sentinel(sentinel) = self {
            let master_may_have_moved = error.is_none_or(|e| {
                e.is_unrecoverable_error()
                    || e.is_io_error()
                    || e.is_timeout()
                    || e.kind() == ErrorKind::Server(ServerErrorKind::ReadOnly)
            });
            if master_may_have_moved {
                sentinel.rediscover();
            }
        }
    }

    /// Runs `cmd` on every primary (one in all but a cluster) and returns each answer.
    pub async fn on_every_primary(&self, cmd: &Cmd) -> RedisResult<Vec<Value>> {
        match self {
            Commands::Cluster(connection) => {
                let routing = RoutingInfo::MultiNode((MultipleNodeRoutingInfo::AllMasters, None));
                match connection
                    .clone()
                    .route_command(cmd.clone(), routing)
                    .await?
                {
                    Value::Map(by_node) => Ok(by_node.into_iter().map(|(_, v)| v).collect()),
                    other => Ok(vec![other]),
                }
            }
            _ => Ok(vec![cmd.query_async::<Value>(&mut self.handle()).await?]),
        }
    }
}

impl PubSubSource {
    /// A client for the next subscriber connection.
    pub async fn client(&self) -> RedisResult<Client> {
        match self {
            PubSubSource::Direct(client) => Ok((**client).clone()),
            PubSubSource::Sentinel(sentinel) => {
                let master = sentinel.discover().await?;
                Client::open(with_protocol(
                    master.get_connection_info(),
                    ProtocolVersion::RESP2,
                ))
            }
            PubSubSource::Cluster { seeds, next } => {
                let i = next.fetch_add(1, Ordering::Relaxed) % seeds.len().max(1);
                seeds.get(i).cloned().ok_or_else(|| {
                    RedisError::from((ErrorKind::InvalidClientConfig, "no cluster seed node"))
                })
            }
        }
    }
}

/// One connection's worth of a [`Commands`]: cheap to clone, runs commands and scripts.
#[derive(Clone)]
pub(crate) enum Handle {
    Manager(ConnectionManager),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Handle {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Handle::Manager(c) => c.req_packed_command(cmd),
            Handle::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Handle::Manager(c) => c.req_packed_commands(pipeline, offset, count),
            Handle::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Handle::Manager(c) => c.get_db(),
            Handle::Cluster(c) => c.get_db(),
        }
    }
}

// === Sentinel ===

/// Commands over Sentinel: the current master's manager, replaced when the master moves.
pub(crate) struct SentinelCommands {
    sentinels: tokio::sync::Mutex<SentinelClient>,
    current: RwLock<Arc<Master>>,
    rediscovering: AtomicBool,
    /// The runtime the store was opened on: lookups run there, whoever noticed the failure.
    runtime: tokio::runtime::Handle,
}

struct Master {
    addr: ConnectionAddr,
    manager: ConnectionManager,
}

impl SentinelCommands {
    async fn connect(sentinels: &[Node], master: &str, url: &RedisUrl) -> RedisResult<Self> {
        let addrs = sentinels
            .iter()
            .map(|n| ConnectionAddr::Tcp(n.host.clone(), n.port));
        let mut builder = SentinelClientBuilder::new(addrs, master, SentinelServerType::Master)?
            .set_client_to_redis_db(url.db)
            .set_client_to_redis_protocol(ProtocolVersion::RESP3);
        if let Some(user) = &url.username {
            builder = builder.set_client_to_redis_username(user);
        }
        if let Some(password) = &url.password {
            builder = builder.set_client_to_redis_password(password);
        }
        let mut sentinels = builder.build()?;
        // The lookup checks that the node it names calls itself master.
        let client = sentinels.async_get_client().await?;
        let addr = client.get_connection_info().addr().clone();
        let manager = ConnectionManager::new_with_config(client, manager_config()).await?;
        Ok(SentinelCommands {
            sentinels: tokio::sync::Mutex::new(sentinels),
            current: RwLock::new(Arc::new(Master { addr, manager })),
            rediscovering: AtomicBool::new(false),
            runtime: tokio::runtime::Handle::current(),
        })
    }

    fn manager(&self) -> ConnectionManager {
        // A poisoned lock still holds a valid master: the writer only swaps an Arc.
        let current = self.current.read().unwrap_or_else(|e| e.into_inner());
        current.manager.clone()
    }

    /// A client for the master the sentinels name now.
    async fn discover(&self) -> RedisResult<Client> {
        let lookup = async { self.sentinels.lock().await.async_get_client().await };
        tokio::time::timeout(DISCOVERY_TIMEOUT, lookup)
            .await
            .map_err(|_| {
                RedisError::from((ErrorKind::Io, "the sentinels did not name a master in time"))
            })?
    }

    /// Looks the master up again in the background, at most once per [`REDISCOVERY_PAUSE`].
    fn rediscover(self: &Arc<Self>) {
        if self.rediscovering.swap(true, Ordering::SeqCst) {
            return;
        }
        let this = self.clone();
        self.runtime.spawn(async move {
            match this.discover().await {
                Ok(client) => this.follow(client),
                Err(e) => {
                    tracing::warn!(error = %e, "asking the sentinels for the Redis master failed")
                }
            }
            tokio::time::sleep(REDISCOVERY_PAUSE).await;
            this.rediscovering.store(false, Ordering::SeqCst);
        });
    }

    /// Switches commands to `client` if it is a different node from the current master.
    fn follow(&self, client: Client) {
        let addr = client.get_connection_info().addr().clone();
        if self.current.read().unwrap_or_else(|e| e.into_inner()).addr == addr {
            return;
        }
        match ConnectionManager::new_lazy_with_config(client, manager_config()) {
            Ok(manager) => {
                tracing::warn!(master = %addr, "the Redis master moved: following it");
                *self.current.write().unwrap_or_else(|e| e.into_inner()) =
                    Arc::new(Master { addr, manager });
            }
            Err(e) => tracing::warn!(error = %e, "cannot connect to the new Redis master"),
        }
    }
}

// === helpers ===

fn manager_config() -> ConnectionManagerConfig {
    ConnectionManagerConfig::new()
        .set_connection_timeout(Some(COMMAND_TIMEOUT))
        .set_response_timeout(Some(COMMAND_TIMEOUT))
        .set_min_delay(RECONNECT_DELAY)
        .set_max_delay(RECONNECT_DELAY)
        .set_number_of_retries(RECONNECT_RETRIES)
}

fn node_info(
    node: &Node,
    tls: bool,
    url: &RedisUrl,
    protocol: ProtocolVersion,
) -> RedisResult<ConnectionInfo> {
    let addr = if tls {
        ConnectionAddr::TcpTls {
            host: node.host.clone(),
            port: node.port,
            insecure: false,
            tls_params: None,
        }
    } else {
        ConnectionAddr::Tcp(node.host.clone(), node.port)
    };
    let mut redis = RedisConnectionInfo::default()
        .set_db(url.db)
        .set_protocol(protocol);
    if let Some(user) = &url.username {
        redis = redis.set_username(user);
    }
    if let Some(password) = &url.password {
        redis = redis.set_password(password);
    }
    Ok(addr.into_connection_info()?.set_redis_settings(redis))
}

fn with_protocol(info: &ConnectionInfo, protocol: ProtocolVersion) -> ConnectionInfo {
    let redis = info.redis_settings().clone().set_protocol(protocol);
    info.clone().set_redis_settings(redis)
}
