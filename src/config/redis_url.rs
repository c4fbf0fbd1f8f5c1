//! `store.url`, parsed by hand into the three shapes of deployment we connect to: by
//! `check` (so a URL the store would refuse at start is refused there) and by the Redis store.
//!
//! The redis crate parses `redis://` itself, but not the multi-host Sentinel and Cluster forms,
//! and its messages are not ours to word. One parser for all four schemes gives one set of
//! errors, each a fixed sentence: no part of the URL (which may carry a password) is ever
//! echoed back.
//!
//! Accepted shapes (credentials `[user]:password@` are optional, percent-encoded):
//! - `redis://[cred@]host[:port][/db]` and `rediss://…` (TLS through rustls), default port 6379;
//! - `redis+sentinel://[cred@]host[:port][,host[:port]…]/<master_name>[/db]`, default port
//!   26379; the credentials and the database are those of the master (sentinels are asked
//!   without credentials);
//! - `redis+cluster://[cred@]host[:port][,host[:port]…]`, default port 6379, database 0 only.

use std::fmt;

use percent_encoding::percent_decode_str;

const DEFAULT_PORT: u16 = 6379;
const DEFAULT_SENTINEL_PORT: u16 = 26379;

/// One `host:port` from the URL. IPv6 hosts are kept without their brackets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Node {
    pub host: String,
    pub port: u16,
}

impl fmt::Display for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// How the Redis deployment is reached.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Topology {
    /// One server; `tls` for `rediss://`.
    Standalone { node: Node, tls: bool },
    /// The master named `master`, found through these sentinels.
    Sentinel {
        sentinels: Vec<Node>,
        master: String,
    },
    /// A Redis Cluster, discovered from these seed nodes.
    Cluster { seeds: Vec<Node> },
}

/// A parsed `store.url`. Its `Debug` never shows the password.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct RedisUrl {
    pub topology: Topology,
    pub username: Option<String>,
    pub password: Option<String>,
    pub db: i64,
}

impl fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisUrl")
            .field("topology", &self.topology)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("db", &self.db)
            .finish()
    }
}

impl RedisUrl {
    /// Where the store lives, for operators' messages: scheme and hosts, never credentials.
    pub fn location(&self) -> String {
        let hosts = |nodes: &[Node]| {
            nodes
                .iter()
                .map(Node::to_string)
                .collect::<Vec<_>>()
                .join(",")
        };
        match &self.topology {
            Topology::Standalone { node, tls } => {
                let scheme = if *tls { "rediss" } else { "redis" };
                format!("{scheme}://{node}/{}", self.db)
            }
            Topology::Sentinel { sentinels, master } => {
                format!("redis+sentinel://{}/{master}/{}", hosts(sentinels), self.db)
            }
            Topology::Cluster { seeds } => format!("redis+cluster://{}", hosts(seeds)),
        }
    }
}

/// Why a URL was refused. Each message is fixed text: none quotes the URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub(crate) struct UrlError(&'static str);

/// Parses `store.url`. See the module documentation for the accepted shapes.
pub(crate) fn parse(url: &str) -> Result<RedisUrl, UrlError> {
    let (scheme, rest) = url.split_once("://").ok_or(UrlError(
        "not a URL: expected redis://, rediss://, redis+sentinel:// or redis+cluster://",
    ))?;
    let scheme = scheme.to_ascii_lowercase();
    if rest.contains('#') {
        return Err(UrlError(
            "URL fragments (such as #insecure) are not supported",
        ));
    }
    if rest.contains('?') {
        return Err(UrlError("URL query parameters are not supported"));
    }
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    // The password may itself contain '@' when not percent-encoded: the hosts follow the last.
    let (userinfo, hosts) = match authority.rsplit_once('@') {
        Some((userinfo, hosts)) => (Some(userinfo), hosts),
        None => (None, authority),
    };
    let (username, password) = match userinfo {
        Some(userinfo) => credentials(userinfo)?,
        None => (None, None),
    };
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();

    let (topology, db) = match scheme.as_str() {
        "redis" | "rediss" => {
            let mut nodes = nodes(hosts, DEFAULT_PORT)?;
            if nodes.len() != 1 {
                return Err(UrlError(
                    "redis:// and rediss:// take one host: use redis+sentinel:// or redis+cluster:// for several",
                ));
            }
            let db = match segments.as_slice() {
                [] => 0,
                [db] => database(db)?,
                _ => return Err(UrlError("the path of a redis:// URL is only /<db>")),
            };
            let node = nodes.remove(0);
            let tls = scheme == "rediss";
            (Topology::Standalone { node, tls }, db)
        }
        "redis+sentinel" => {
            let sentinels = nodes(hosts, DEFAULT_SENTINEL_PORT)?;
            let (master, db) = match segments.as_slice() {
                [master] => (*master, 0),
                [master, db] => (*master, database(db)?),
                _ => {
                    return Err(UrlError(
                        "a sentinel URL is redis+sentinel://host:port[,host:port]/<master_name>[/db]",
                    ))
                }
            };
            let master = percent_decode_str(master)
                .decode_utf8()
                .map_err(|_| UrlError("the master name is not valid UTF-8"))?
                .into_owned();
            (Topology::Sentinel { sentinels, master }, db)
        }
        "redis+cluster" => {
            let seeds = nodes(hosts, DEFAULT_PORT)?;
            match segments.as_slice() {
                [] | ["0"] => {}
                _ => {
                    return Err(UrlError(
                        "a cluster URL has no path: Redis Cluster has only database 0",
                    ))
                }
            }
            (Topology::Cluster { seeds }, 0)
        }
        _ => {
            return Err(UrlError(
                "unsupported scheme: expected redis://, rediss://, redis+sentinel:// or redis+cluster://",
            ))
        }
    };
    Ok(RedisUrl {
        topology,
        username,
        password,
        db,
    })
}

type Credentials = (Option<String>, Option<String>);

fn credentials(userinfo: &str) -> Result<Credentials, UrlError> {
    let (user, pass) = userinfo.split_once(':').ok_or(UrlError(
        "credentials in the URL must be user:password@ or :password@",
    ))?;
    let decode = |s: &str, what: &'static str| {
        percent_decode_str(s)
            .decode_utf8()
            .map(|d| d.into_owned())
            .map_err(|_| UrlError(what))
    };
    let user = decode(
        user,
        "the user name is not valid UTF-8 after percent-decoding",
    )?;
    let pass = decode(
        pass,
        "the password is not valid UTF-8 after percent-decoding",
    )?;
    if pass.is_empty() {
        return Err(UrlError("the URL names a user but no password"));
    }
    Ok(((!user.is_empty()).then_some(user), Some(pass)))
}

fn nodes(hosts: &str, default_port: u16) -> Result<Vec<Node>, UrlError> {
    hosts.split(',').map(|h| node(h, default_port)).collect()
}

fn node(spec: &str, default_port: u16) -> Result<Node, UrlError> {
    let (host, port) = if let Some(bracketed) = spec.strip_prefix('[') {
        let (host, after) = bracketed
            .split_once(']')
            .ok_or(UrlError("an IPv6 host is missing its closing bracket"))?;
        let port = match after {
            "" => None,
            _ => Some(
                after
                    .strip_prefix(':')
                    .ok_or(UrlError("unexpected text after an IPv6 host"))?,
            ),
        };
        (host, port)
    } else {
        match spec.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (spec, None),
        }
    };
    if host.is_empty() {
        return Err(UrlError("a host is empty"));
    }
    if host
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || "@/\\%".contains(c))
    {
        return Err(UrlError(
            "a host contains characters a host name cannot have",
        ));
    }
    let port = match port {
        None => default_port,
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or(UrlError("a port is not a number from 1 to 65535"))?,
    };
    Ok(Node {
        host: host.to_string(),
        port,
    })
}

fn database(segment: &str) -> Result<i64, UrlError> {
    if segment.is_empty() || !segment.bytes().all(|b| b.is_ascii_digit()) {
        return Err(UrlError("the database is not a non-negative number"));
    }
    segment
        .parse::<i64>()
        .map_err(|_| UrlError("the database is not a non-negative number"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(host: &str, port: u16) -> Node {
        Node {
            host: host.to_string(),
            port,
        }
    }

    #[test]
    fn standalone_urls() {
        let u = parse("redis://db.internal").unwrap();
        assert_eq!(
            u.topology,
            Topology::Standalone {
                node: n("db.internal", 6379),
                tls: false
            }
        );
        assert_eq!((u.username, u.password, u.db), (None, None, 0));

        let u = parse("rediss://app:p%40ss%3Aword@cache.example.com:6380/3").unwrap();
        assert_eq!(
            u.topology,
            Topology::Standalone {
                node: n("cache.example.com", 6380),
                tls: true
            }
        );
        assert_eq!(u.username.as_deref(), Some("app"));
        assert_eq!(u.password.as_deref(), Some("p@ss:word"));
        assert_eq!(u.db, 3);

        let u = parse("REDIS://:hunter2@[::1]:7000/").unwrap();
        assert_eq!(
            u.topology,
            Topology::Standalone {
                node: n("::1", 7000),
                tls: false
            }
        );
        assert_eq!((u.username, u.password.as_deref()), (None, Some("hunter2")));
        // An unencoded '@' in the password: the hosts follow the last one.
        let u = parse("redis://:a@b@db:1/0").unwrap();
        assert_eq!(u.password.as_deref(), Some("a@b"));
    }

    #[test]
    fn sentinel_urls() {
        let u = parse("redis+sentinel://:pw@s1:26380,s2,[fe80::1]:5000/mymaster/2").unwrap();
        assert_eq!(
            u.topology,
            Topology::Sentinel {
                sentinels: vec![n("s1", 26380), n("s2", 26379), n("fe80::1", 5000)],
                master: "mymaster".to_string()
            }
        );
        assert_eq!(u.db, 2);
        assert_eq!(u.password.as_deref(), Some("pw"));
        let u = parse("redis+sentinel://s1,s2/my%20master").unwrap();
        assert_eq!(
            u.topology,
            Topology::Sentinel {
                sentinels: vec![n("s1", 26379), n("s2", 26379)],
                master: "my master".to_string()
            }
        );
        assert_eq!(u.db, 0);
        assert_eq!(
            u.location(),
            "redis+sentinel://s1:26379,s2:26379/my master/0"
        );
    }

    #[test]
    fn cluster_urls() {
        let u = parse("redis+cluster://user:pw@n1:7000,n2:7001,n3").unwrap();
        assert_eq!(
            u.topology,
            Topology::Cluster {
                seeds: vec![n("n1", 7000), n("n2", 7001), n("n3", 6379)]
            }
        );
        assert_eq!(u.username.as_deref(), Some("user"));
        assert_eq!(u.location(), "redis+cluster://n1:7000,n2:7001,n3:6379");
        assert!(parse("redis+cluster://n1:7000/0").is_ok());
    }

    #[test]
    fn bad_shapes_are_refused_without_echoing_the_url() {
        let secret = "s3cr3t-Pa55";
        let bad = [
            format!("http://:{secret}@cachehost:6379"),
            format!("redis:/:{secret}@cachehost"),
            format!("redis://:{secret}@"),
            format!("redis://:{secret}@cachehost:0"),
            format!("redis://:{secret}@cachehost:99999"),
            format!("redis://:{secret}@cachehost:port"),
            format!("redis://:{secret}@cachehost/one"),
            format!("redis://:{secret}@cachehost/-1"),
            format!("redis://:{secret}@cachehost/1/2"),
            format!("redis://:{secret}@a:1,b:2"),
            format!("redis://:{secret}@cachehost#insecure"),
            format!("rediss://:{secret}@cachehost?protocol=resp3"),
            format!("redis://{secret}@cachehost"),
            "redis://user:@cachehost".to_string(),
            format!("redis://:{secret}@[::1:6379"),
            format!("redis://:{secret}@cachehost,"),
            format!("redis+sentinel://:{secret}@s1,s2"),
            format!("redis+sentinel://:{secret}@s1/m/x"),
            format!("redis+sentinel://:{secret}@s1/m/1/2"),
            format!("redis+cluster://:{secret}@n1/3"),
            format!("unix://:{secret}@/tmp/redis.sock"),
            format!("redis://:{secret}%ff@cachehost"),
        ];
        for url in &bad {
            let err = parse(url).expect_err(url);
            let shown = format!("{err} {err:?}");
            assert!(!shown.contains(secret), "{shown}");
            assert!(!shown.contains("cachehost"), "the host was echoed: {shown}");
        }
    }

    #[test]
    fn debug_and_location_hide_the_password() {
        let u = parse("redis://admin:hunter2@db:6379/1").unwrap();
        let shown = format!("{u:?} {}", u.location());
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("admin"));
        assert_eq!(u.location(), "redis://db:6379/1");
        assert_eq!(
            parse("rediss://[::1]").unwrap().location(),
            "rediss://[::1]:6379/0"
        );
    }
}
