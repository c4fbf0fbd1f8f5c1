//! The load benchmark's floor: a bare pingora proxy with an HS256 cookie check and nothing
//! else (no routing table, no identity headers, no metrics, no access log), as the issue's
//! starting point describes. `benches/load/run.sh` runs it beside scangate when it is built,
//! so the table shows how much of a proxied request's CPU is pingora's own and how much is
//! scangate's:
//!
//! ```sh
//! cargo build --release --example bare_pingora
//! BARE_KEY=secret target/release/examples/bare_pingora 127.0.0.1:8081 127.0.0.1:8080
//! ```
//!
//! A request needs a cookie `bare=<HS256 JWT signed with BARE_KEY>` with a future `exp`,
//! else 401; it is proxied with `X-Forwarded-For` and `X-User` (the token's `sub`). Like
//! scangate it runs one worker thread on jemalloc.

use std::net::SocketAddr;

use async_trait::async_trait;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use pingora::http::RequestHeader;
use pingora::proxy::{http_proxy_service, ProxyHttp, Session};
use pingora::server::configuration::ServerConf;
use pingora::server::Server;
use pingora::upstreams::peer::HttpPeer;

// The allocator scangate uses, so memory and CPU compare like for like.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

struct Bare {
    upstream: SocketAddr,
    key: DecodingKey,
    validation: Validation,
}

#[derive(serde::Deserialize)]
struct Claims {
    sub: String,
}

#[async_trait]
impl ProxyHttp for Bare {
    type CTX = Option<String>;

    fn new_ctx(&self) -> Self::CTX {
        None
    }

    async fn request_filter(
        &self,
        session: &mut Session,
        user: &mut Self::CTX,
    ) -> pingora::Result<bool> {
        let token = session
            .req_header()
            .headers
            .get_all(http::header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .find_map(|c| c.trim().strip_prefix("bare="));
        match token
            .and_then(|t| jsonwebtoken::decode::<Claims>(t, &self.key, &self.validation).ok())
        {
            Some(data) => {
                *user = Some(data.claims.sub);
                Ok(false)
            }
            None => {
                session.respond_error(401).await?;
                Ok(true)
            }
        }
    }

    async fn upstream_peer(
        &self,
        _session: &mut Session,
        _user: &mut Self::CTX,
    ) -> pingora::Result<Box<HttpPeer>> {
        Ok(Box::new(HttpPeer::new(self.upstream, false, String::new())))
    }

    async fn upstream_request_filter(
        &self,
        session: &mut Session,
        upstream_request: &mut RequestHeader,
        user: &mut Self::CTX,
    ) -> pingora::Result<()> {
        if let Some(addr) = session.client_addr().and_then(|a| a.as_inet()) {
            upstream_request.insert_header("x-forwarded-for", addr.ip().to_string())?;
        }
        if let Some(user) = user.take() {
            upstream_request.insert_header("x-user", user)?;
        }
        Ok(())
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(listen), Some(upstream)) = (args.first(), args.get(1)) else {
        eprintln!("usage: BARE_KEY=<secret> bare_pingora <listen addr> <upstream addr>");
        std::process::exit(64);
    };
    let Ok(upstream) = upstream.parse::<SocketAddr>() else {
        eprintln!("bad upstream address: {upstream}");
        std::process::exit(64);
    };
    let Ok(key) = std::env::var("BARE_KEY") else {
        eprintln!("BARE_KEY is not set");
        std::process::exit(64);
    };
    let conf = ServerConf {
        threads: 1,
        // SIGTERM stops it within a second (pingora's defaults wait minutes for a drain).
        grace_period_seconds: Some(0),
        graceful_shutdown_timeout_seconds: Some(1),
        ..ServerConf::default()
    };
    let mut server = Server::new_with_opt_and_conf(None, conf);
    server.bootstrap();
    let mut service = http_proxy_service(
        &server.configuration,
        Bare {
            upstream,
            key: DecodingKey::from_secret(key.as_bytes()),
            validation: Validation::new(Algorithm::HS256),
        },
    );
    service.add_tcp(listen);
    server.add_service(service);
    server.run_forever();
}
