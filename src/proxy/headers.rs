//! What the upstream receives: client-sent identity headers removed in every spelling, then
//! ours injected; `X-Forwarded-*` set; our session cookie removed from `Cookie`.
//!
//! Stripping always happens before injection (oauth2-proxy's rule), on every proxied
//! request, public routes included, so an app can trust the headers without checking
//! where they came from.
//!
//! Header names are compared *folded*: lower case, with every `-`, `_` and `.` removed.
//! Upstreams map names loosely (PHP and CGI turn `.` and `-` into `_`, some frameworks
//! ignore separators), so `X.Auth.User.Id`, `x_auth-user.id` and `XAuthUserId` all count as
//! `X-Auth-User-Id`. Besides our own identity headers, the identity headers of other auth
//! proxies (which an app migrated from one of them may still read) are always removed, and
//! the URL-rewrite and forwarding headers that frameworks believe (`X-Original-URL`,
//! `X-Forwarded-Prefix`, `X-Real-IP`, ...) are removed unless a trusted proxy sent them.

use std::net::IpAddr;

use http::header::{HeaderName, HeaderValue, COOKIE};
use pingora::http::RequestHeader;

use super::client_ip::TrustedProxies;
use crate::config::IdentityHeaders;
use crate::identity::Identity;
use crate::session::{strip_cookie, IdentityValues};

/// Identity headers of other auth proxies and frameworks (oauth2-proxy, Authelia, Pomerium,
/// Grafana's auth proxy, Apache's `REMOTE_USER`), folded: never passed on from a client.
const FOREIGN_IDENTITY: &[&str] = &[
    "remoteuser",
    "remoteemail",
    "remotename",
    "remotegroups",
    "xremoteuser",
    "xforwardeduser",
    "xforwardedemail",
    "xforwardedpreferredusername",
    "xforwardedgroups",
    "xforwardedaccesstoken",
    "xauthrequestuser",
    "xauthrequestemail",
    "xauthrequestpreferredusername",
    "xauthrequestgroups",
    "xauthrequestaccesstoken",
    "xwebauthuser",
    "xpomeriumjwtassertion",
    "xauthenticateduser",
];

/// Headers that make frameworks rewrite the URL or believe another client address or
/// scheme, folded: passed on only from a trusted proxy. (`X-Forwarded-For/-Proto/-Host` and
/// `Forwarded` are handled by [`HeaderPolicy::forwarded`].)
const REWRITE_AND_FORWARDING: &[&str] = &[
    "xoriginalurl",
    "xoriginaluri",
    "xrewriteurl",
    "xoriginalhost",
    "xoriginalmethod",
    "xhost",
    "xforwardedprefix",
    "xforwardedport",
    "xforwardedssl",
    "xforwardedscheme",
    "xforwardedprotocol",
    "xforwardedserver",
    "xforwardeduri",
    "xforwardedmethod",
    "xforwardedpath",
    "xurlscheme",
    "frontendhttps",
    "xrealip",
    "xclientip",
    "trueclientip",
    "xclusterclientip",
];

/// Folds a header name into `buf`: ASCII lower case, `-`, `_` and `.` removed. `None` when
/// the folded name is longer than any name we compare with.
fn fold_into<'b>(name: &str, buf: &'b mut [u8; 48]) -> Option<&'b [u8]> {
    let mut n = 0;
    for b in name.bytes() {
        if matches!(b, b'-' | b'_' | b'.') {
            continue;
        }
        *buf.get_mut(n)? = b.to_ascii_lowercase();
        n += 1;
    }
    Some(&buf[..n])
}

/// Header rules, compiled once from the config.
#[derive(Clone, Debug)]
pub struct HeaderPolicy {
    /// Folded names of the headers never passed on from a client: ours and
    /// [`FOREIGN_IDENTITY`].
    strip_folded: Vec<Box<[u8]>>,
    drop_underscore: bool,
    names: InjectNames,
    session_cookie: String,
    trusted: TrustedProxies,
}

#[derive(Clone, Debug)]
struct InjectNames {
    user_id: InjectName,
    openid: InjectName,
    unionid: InjectName,
    phone: InjectName,
    method: InjectName,
    assertion: InjectName,
}

/// A header name we set: parsed (for `/verify`'s answers) and as the operator wrote it, in a
/// shared buffer. pingora keeps the case of every header it forwards; handing it the written
/// name by reference spares a copy of the name per header per request.
#[derive(Clone, Debug)]
struct InjectName {
    name: HeaderName,
    written: bytes::Bytes,
}

/// Where a request came from, as the gateway sees it.
#[derive(Clone, Copy, Debug)]
pub struct Peer {
    /// The TCP peer.
    pub addr: IpAddr,
    /// The client, after `X-Forwarded-For` from trusted proxies.
    pub client: IpAddr,
    /// Whether the peer is a trusted proxy (whose `X-Forwarded-*` are kept).
    pub trusted: bool,
}

/// Why the policy could not be built (an identity header name that is not a header name;
/// `config` validates this, so it only happens with hand-built configs).
#[derive(Debug, thiserror::Error)]
#[error("identity header name {0:?} is not a valid header name")]
pub struct BadHeaderName(String);

fn header_name(name: &str) -> Result<InjectName, BadHeaderName> {
    let parsed =
        HeaderName::from_bytes(name.as_bytes()).map_err(|_| BadHeaderName(name.to_string()))?;
    Ok(InjectName {
        name: parsed,
        written: bytes::Bytes::copy_from_slice(name.as_bytes()),
    })
}

fn fold(name: &str) -> Box<[u8]> {
    let mut buf = [0u8; 48];
    match fold_into(name, &mut buf) {
        Some(folded) => folded.into(),
        // Longer than any header a client could send us to match: keep it whole.
        None => name.to_ascii_lowercase().into_bytes().into(),
    }
}

impl HeaderPolicy {
    pub fn new(
        names: &IdentityHeaders,
        drop_underscore: bool,
        session_cookie: &str,
        trusted: TrustedProxies,
    ) -> Result<Self, BadHeaderName> {
        Ok(HeaderPolicy {
            strip_folded: names
                .all()
                .iter()
                .map(|n| fold(n))
                .chain(FOREIGN_IDENTITY.iter().map(|n| n.as_bytes().into()))
                .collect(),
            drop_underscore,
            names: InjectNames {
                user_id: header_name(&names.user_id)?,
                openid: header_name(&names.openid)?,
                unionid: header_name(&names.unionid)?,
                phone: header_name(&names.phone)?,
                method: header_name(&names.method)?,
                assertion: header_name(&names.assertion)?,
            },
            session_cookie: session_cookie.to_string(),
            trusted,
        })
    }

    pub fn trusted(&self) -> &TrustedProxies {
        &self.trusted
    }

    /// Works out the client address for a request from `addr`.
    pub fn peer(&self, addr: IpAddr, req: &RequestHeader) -> Peer {
        let trusted = self.trusted.contains(addr);
        let client = if trusted {
            self.trusted.client_ip(
                addr,
                req.headers
                    .get_all("x-forwarded-for")
                    .iter()
                    .filter_map(|v| v.to_str().ok()),
            )
        } else {
            addr
        };
        Peer {
            addr,
            client,
            trusted,
        }
    }

    /// Removes every header a client must not be able to set: identity headers (ours and
    /// other proxies') in any spelling, URL-rewrite and forwarding headers unless `trusted`
    /// sent them, every `_` header when configured, and our session cookie.
    pub fn sanitize(&self, req: &mut RequestHeader, trusted: bool) {
        let mut doomed: Vec<HeaderName> = Vec::new();
        for name in req.headers.keys() {
            let text = name.as_str();
            if self.drop_underscore && text.contains('_') {
                doomed.push(name.clone());
                continue;
            }
            let mut buf = [0u8; 48];
            let Some(folded) = fold_into(text, &mut buf) else {
                continue;
            };
            let doomed_here = self.strip_folded.iter().any(|n| **n == *folded)
                || (!trusted
                    && REWRITE_AND_FORWARDING
                        .iter()
                        .any(|n| n.as_bytes() == folded));
            if doomed_here {
                doomed.push(name.clone());
            }
        }
        for name in &doomed {
            req.remove_header(name);
        }
        self.strip_session_cookie(req);
    }

    fn strip_session_cookie(&self, req: &mut RequestHeader) {
        // The usual case costs nothing: no cookie, or one cookie line without ours.
        let mut lines = req.headers.get_all(COOKIE).iter();
        match (lines.next(), lines.next()) {
            (None, _) => return,
            (Some(only), None)
                if only.to_str().is_ok_and(|v| {
                    crate::session::find_cookie(v, &self.session_cookie).is_none()
                }) =>
            {
                return
            }
            _ => {}
        }
        // HTTP/2 clients may send several cookie lines; join them as HTTP/1.1 requires.
        let joined = req
            .headers
            .get_all(COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect::<Vec<_>>()
            .join("; ");
        req.remove_header(&COOKIE);
        if let Some(rest) = strip_cookie(&joined, &self.session_cookie) {
            if let Ok(value) = HeaderValue::from_str(&rest) {
                let _ = req.insert_header(COOKIE, value);
            }
        }
    }

    /// Sets `X-Forwarded-For`, `-Proto` and `-Host`. From a trusted proxy the chain is
    /// extended and its proto/host kept; from anyone else they are replaced. (`X-Real-IP` is
    /// not set: a client's was removed by [`Self::sanitize`], a trusted proxy's is kept.)
    ///
    /// `-Host` is `req`'s `Host`, which the caller has already made the canonical host the
    /// route was chosen by: with its port, so an app that builds absolute URLs from it
    /// (`127.0.0.1:8080`, `app.test:8443`) points back at the gateway, not at port 80.
    pub fn forwarded(&self, req: &mut RequestHeader, peer: Peer, scheme: &str) {
        let xff = if peer.trusted {
            let prior = req
                .headers
                .get_all("x-forwarded-for")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .collect::<Vec<_>>()
                .join(", ");
            if prior.is_empty() {
                peer.addr.to_string()
            } else {
                format!("{prior}, {}", peer.addr)
            }
        } else {
            req.remove_header("forwarded");
            peer.addr.to_string()
        };
        let _ = req.insert_header("x-forwarded-for", xff);
        if !(peer.trusted && req.headers.contains_key("x-forwarded-proto")) {
            let _ = req.insert_header("x-forwarded-proto", scheme);
        }
        if !(peer.trusted && req.headers.contains_key("x-forwarded-host")) {
            match req.headers.get(http::header::HOST).cloned() {
                Some(host) => {
                    let _ = req.insert_header("x-forwarded-host", host);
                }
                // Never the client's own: it was not believed.
                None => {
                    req.remove_header("x-forwarded-host");
                }
            }
        }
    }

    /// Adds our identity headers (after [`Self::sanitize`]).
    pub fn inject(
        &self,
        req: &mut RequestHeader,
        values: &IdentityValues,
        assertion: &HeaderValue,
    ) {
        let n = &self.names;
        for (name, value) in [
            (&n.user_id, values.user_id.as_ref()),
            (&n.method, Some(&values.method)),
            (&n.openid, values.openid.as_ref()),
            (&n.unionid, values.unionid.as_ref()),
            (&n.phone, values.phone.as_ref()),
            (&n.assertion, Some(assertion)),
        ] {
            if let Some(value) = value {
                // The name was checked when the policy was built.
                let _ = req.insert_header(name.written.clone(), value.clone());
            }
        }
    }

    /// The identity headers as name/value pairs (for `/.auth/verify` responses).
    pub fn identity_pairs<'a>(
        &'a self,
        identity: &'a Identity,
        assertion: &'a str,
    ) -> Vec<(&'a HeaderName, &'a str)> {
        let n = &self.names;
        let mut out = vec![
            (&n.user_id.name, identity.user_id.as_str()),
            (&n.method.name, identity.method.as_str()),
        ];
        if let Some(v) = &identity.openid {
            out.push((&n.openid.name, v.as_str()));
        }
        if let Some(v) = &identity.unionid {
            out.push((&n.unionid.name, v.as_str()));
        }
        if let Some(v) = &identity.phone {
            out.push((&n.phone.name, v.as_str()));
        }
        out.push((&n.assertion.name, assertion));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::{LoginMethod, OpenId, Phone, UserId};

    fn policy(trusted: &[&str]) -> HeaderPolicy {
        HeaderPolicy::new(
            &IdentityHeaders {
                user_id: "X-Auth-User-Id".into(),
                openid: "X-Auth-Openid".into(),
                unionid: "X-Auth-Unionid".into(),
                phone: "X-Auth-Phone".into(),
                method: "X-Auth-Method".into(),
                assertion: "X-Auth-Assertion".into(),
            },
            true,
            "scangate_session",
            TrustedProxies::new(trusted.iter().map(|s| s.parse().unwrap()).collect()),
        )
        .unwrap()
    }

    fn request(headers: &[(&str, &str)]) -> RequestHeader {
        let mut req = RequestHeader::build("GET", b"/x", None).unwrap();
        for (k, v) in headers {
            req.append_header(k.to_string(), *v).unwrap();
        }
        req
    }

    fn values(req: &RequestHeader, name: &str) -> Vec<String> {
        req.headers
            .get_all(name)
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .collect()
    }

    #[test]
    fn every_spelling_of_an_identity_header_is_stripped() {
        let mut req = request(&[
            ("X-Auth-Phone", "+1"),
            ("x-auth-phone", "+2"),
            ("X_Auth_Phone", "+3"),
            ("x_AUTH-phone", "+4"),
            ("X-AUTH-USER-ID", "admin"),
            ("X-Auth-Assertion", "forged"),
            ("X-Other_Thing", "dropped"),
            ("Accept", "text/html"),
        ]);
        policy(&[]).sanitize(&mut req, false);
        let left: Vec<&str> = req.headers.keys().map(|k| k.as_str()).collect();
        assert_eq!(left, vec!["accept"]);
    }

    #[test]
    fn look_alikes_with_any_separator_are_stripped_even_with_underscores_allowed() {
        let mut p = policy(&[]);
        p.drop_underscore = false;
        let mut req = request(&[
            ("X.Auth.User.Id", "admin"),
            ("x_auth-user.id", "admin"),
            ("XAuthUserId", "admin"),
            ("X-AUTH--PHONE", "+1"),
            ("Remote-User", "admin"),
            ("remote_user", "admin"),
            ("X-Forwarded-User", "admin"),
            ("X-Auth-Request-Email", "a@b"),
            ("X-WEBAUTH-USER", "admin"),
            ("X-Auth-Users", "kept: not one of ours"),
            ("X-Authorization-Hint", "kept"),
        ]);
        p.sanitize(&mut req, true);
        let left: Vec<&str> = req.headers.keys().map(|k| k.as_str()).collect();
        let mut left = left;
        left.sort_unstable();
        assert_eq!(left, vec!["x-auth-users", "x-authorization-hint"]);
    }

    #[test]
    fn rewrite_and_forwarding_headers_pass_only_from_trusted_proxies() {
        let spoofs: &[(&str, &str)] = &[
            ("X-Original-URL", "/admin"),
            ("X-Rewrite-URL", "/admin"),
            ("X_Original_URL", "/admin"),
            ("X.Original.URL", "/admin"),
            ("X-Forwarded-Prefix", "/admin"),
            ("X-Forwarded-Port", "443"),
            ("X-Forwarded-Ssl", "on"),
            ("X-Forwarded-Scheme", "https"),
            ("X-Real-IP", "10.0.0.1"),
            ("True-Client-IP", "10.0.0.1"),
            ("X-Client-IP", "10.0.0.1"),
            ("X-Original-Host", "admin.test"),
        ];
        let mut p = policy(&[]);
        p.drop_underscore = false;
        let mut req = request(spoofs);
        req.append_header("Accept", "*/*").unwrap();
        p.sanitize(&mut req, false);
        let left: Vec<&str> = req.headers.keys().map(|k| k.as_str()).collect();
        assert_eq!(left, vec!["accept"]);
        let mut req = request(spoofs);
        p.sanitize(&mut req, true);
        assert_eq!(req.headers.len(), spoofs.len());
    }

    #[test]
    fn underscore_headers_are_kept_when_configured() {
        let mut p = policy(&[]);
        p.drop_underscore = false;
        let mut req = request(&[("X-Other_Thing", "kept"), ("X_Auth_Phone", "+3")]);
        p.sanitize(&mut req, false);
        assert_eq!(values(&req, "x-other_thing"), vec!["kept"]);
        assert!(values(&req, "x_auth_phone").is_empty());
    }

    #[test]
    fn our_cookie_is_removed_and_others_kept() {
        let mut req = request(&[("Cookie", "a=1; scangate_session=tok; b=2")]);
        policy(&[]).sanitize(&mut req, false);
        assert_eq!(values(&req, "cookie"), vec!["a=1; b=2"]);
        let mut req = request(&[("Cookie", "scangate_session=tok"), ("Cookie", "c=3")]);
        policy(&[]).sanitize(&mut req, false);
        assert_eq!(values(&req, "cookie"), vec!["c=3"]);
        let mut req = request(&[("Cookie", "scangate_session=tok")]);
        policy(&[]).sanitize(&mut req, false);
        assert!(values(&req, "cookie").is_empty());
    }

    #[test]
    fn inject_sets_exactly_our_values() {
        let p = policy(&[]);
        let mut req = request(&[("X-Auth-Phone", "+1 forged")]);
        p.sanitize(&mut req, false);
        let who = Identity {
            user_id: UserId::new("u_1"),
            openid: Some(OpenId::new("o_1")),
            unionid: None,
            phone: Some(Phone::parse("13800138000").unwrap()),
            method: LoginMethod::OfficialAccount,
        };
        p.inject(
            &mut req,
            &IdentityValues::of(&who),
            &HeaderValue::from_static("jwt"),
        );
        assert_eq!(values(&req, "x-auth-phone"), vec!["+8613800138000"]);
        assert_eq!(values(&req, "x-auth-user-id"), vec!["u_1"]);
        assert_eq!(values(&req, "x-auth-openid"), vec!["o_1"]);
        assert!(values(&req, "x-auth-unionid").is_empty());
        assert_eq!(values(&req, "x-auth-method"), vec!["official_account"]);
        assert_eq!(values(&req, "x-auth-assertion"), vec!["jwt"]);
        // On the wire, the names are spelled as configured.
        let mut wire = Vec::new();
        req.header_to_h1_wire(&mut wire);
        let wire = String::from_utf8(wire).unwrap();
        assert!(wire.contains("X-Auth-User-Id: u_1\r\n"), "{wire}");
        assert!(wire.contains("X-Auth-Assertion: jwt\r\n"), "{wire}");
    }

    #[test]
    fn forwarded_headers_from_untrusted_peers_are_replaced() {
        let p = policy(&["10.0.0.0/8"]);
        let mut req = request(&[
            ("X-Forwarded-For", "1.1.1.1"),
            ("X-Forwarded-Proto", "https"),
            ("X-Forwarded-Host", "evil"),
            ("Forwarded", "for=1.1.1.1"),
            ("Host", "app.example.com"),
        ]);
        let peer = p.peer("203.0.113.5".parse().unwrap(), &req);
        assert_eq!(peer.client, "203.0.113.5".parse::<IpAddr>().unwrap());
        p.forwarded(&mut req, peer, "http");
        assert_eq!(values(&req, "x-forwarded-for"), vec!["203.0.113.5"]);
        assert_eq!(values(&req, "x-forwarded-proto"), vec!["http"]);
        assert_eq!(values(&req, "x-forwarded-host"), vec!["app.example.com"]);
        assert!(values(&req, "forwarded").is_empty());
    }

    #[test]
    fn forwarded_headers_from_trusted_proxies_are_extended() {
        let p = policy(&["10.0.0.0/8"]);
        let mut req = request(&[
            ("X-Forwarded-For", "198.51.100.7"),
            ("X-Forwarded-Proto", "https"),
            ("Host", "app.example.com"),
        ]);
        let peer = p.peer("10.0.0.9".parse().unwrap(), &req);
        assert_eq!(peer.client, "198.51.100.7".parse::<IpAddr>().unwrap());
        p.forwarded(&mut req, peer, "http");
        assert_eq!(
            values(&req, "x-forwarded-for"),
            vec!["198.51.100.7, 10.0.0.9"]
        );
        assert_eq!(values(&req, "x-forwarded-proto"), vec!["https"]);
        assert_eq!(values(&req, "x-forwarded-host"), vec!["app.example.com"]);
    }

    #[test]
    fn the_forwarded_host_is_the_host_with_its_port() {
        let p = policy(&["10.0.0.0/8"]);
        let mut req = request(&[("Host", "127.0.0.1:8080"), ("X-Forwarded-Host", "evil")]);
        let peer = p.peer("203.0.113.5".parse().unwrap(), &req);
        p.forwarded(&mut req, peer, "http");
        assert_eq!(values(&req, "x-forwarded-host"), vec!["127.0.0.1:8080"]);
        // No Host (never so behind the resolver, which always sets one): none believed.
        let mut req = request(&[("X-Forwarded-Host", "evil")]);
        p.forwarded(&mut req, peer, "http");
        assert!(values(&req, "x-forwarded-host").is_empty());
    }
}
