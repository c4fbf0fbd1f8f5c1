//! The top-level keys (listeners, `public_url`, `auth_path`, trusted networks, `tls`,
//! threads and timeouts) and `identity_headers`: how the gateway is reached and what it
//! hands the upstream.

use std::net::{IpAddr, SocketAddr};

use ipnet::IpNet;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::Validator;
use crate::config::file::{IdentityHeadersFile, TlsFile};
use crate::config::model::{IdentityHeaders, PublicUrl, TlsConfig};
use crate::config::syntax::{check_path_shape, is_token_byte, HttpUrl};

#[cfg(test)]
mod tests;

/// Headers a misconfigured identity header must not overwrite: HTTP framing, credentials
/// the upstream may rely on, and what the gateway sets itself.
const RESERVED_HEADERS: [&str; 15] = [
    "host",
    "cookie",
    "authorization",
    "content-length",
    "transfer-encoding",
    "connection",
    "upgrade",
    "te",
    "keep-alive",
    "trailer",
    "proxy-authorization",
    "proxy-connection",
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-forwarded-host",
];

impl Validator<'_> {
    pub(super) fn socket_addr(&mut self, path: &str, text: &str) -> Option<SocketAddr> {
        match text.parse() {
            Ok(addr) => Some(addr),
            Err(_) => self.reject(path, format!("{text:?} is not an ip:port address")),
        }
    }

    pub(super) fn public_url(&mut self, text: Option<&str>) -> Option<PublicUrl> {
        const KEY: &str = "public_url";
        let Some(text) = text else {
            return self.reject(
                KEY,
                "is required: the URL browsers and WeChat use to reach the gateway",
            );
        };
        let url = match HttpUrl::parse(text) {
            Ok(url) => url,
            Err(why) => return self.reject(KEY, why),
        };
        if url.rest.contains(['?', '#']) {
            return self.reject(KEY, "must not have a query or fragment");
        }
        if !url.rest.is_empty() && url.rest != "/" {
            return self.reject(
                KEY,
                "must not have a path: the gateway serves whole hosts (put apps under routes)",
            );
        }
        Some(PublicUrl {
            origin: url.origin(),
            host: url.host,
            https: url.https,
        })
    }

    pub(super) fn auth_path(&mut self, text: &str) -> Option<String> {
        const KEY: &str = "auth_path";
        if text == "/" {
            return self.reject(KEY, "must not be / (it would hide every app)");
        }
        if let Err(why) = check_path_shape(text) {
            return self.reject(KEY, why);
        }
        if text.ends_with('/') {
            return self.reject(KEY, format!("{text:?} must not end with /"));
        }
        Some(text.to_string())
    }

    /// `admin_listen`, which must not share the public listener's port.
    pub(super) fn admin_listen(
        &mut self,
        text: Option<&str>,
        public: Option<SocketAddr>,
    ) -> Option<Option<SocketAddr>> {
        let Some(text) = text else {
            return Some(None);
        };
        let admin = self.socket_addr("admin_listen", text)?;
        // One port for both would bind once and hand one socket to two services (pingora
        // shares listeners by address), which then both close it at shutdown.
        if let Some(public) = public {
            let overlap = public.ip() == admin.ip()
                || public.ip().is_unspecified()
                || admin.ip().is_unspecified();
            if public.port() == admin.port() && overlap {
                self.issues.add(
                    "admin_listen",
                    format!("{admin} is the public listener's port too; give the admin listener a port of its own"),
                );
            }
        }
        Some(Some(admin))
    }

    /// A list of CIDRs or bare IPs at `key`.
    pub(super) fn networks(&mut self, key: &str, entries: &[String]) -> Option<Vec<IpNet>> {
        self.each(entries, |v, i, entry| {
            let parsed = entry
                .parse::<IpNet>()
                .map(|net| net.trunc())
                .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from));
            match parsed {
                Ok(net) => Some(net),
                Err(_) => v.reject(
                    format!("{key}[{i}]"),
                    format!("{entry:?} is not an IP address or CIDR"),
                ),
            }
        })
    }

    /// Both files are read and parsed as the TLS listener will at start (pingora with
    /// rustls, which panics on a file it cannot use).
    pub(super) fn tls(&mut self, tls: TlsFile) -> Option<TlsConfig> {
        let TlsFile {
            cert_file,
            key_file,
        } = tls;
        let cert = self.required_file("tls.cert_file", cert_file);
        let key = self.required_file("tls.key_file", key_file);
        let chain = match &cert {
            Some((_, pem)) => self.certificates("tls.cert_file", pem),
            None => None,
        };
        let private_key = match &key {
            Some((_, pem)) => self.private_key("tls.key_file", pem),
            None => None,
        };
        if let (Some(chain), Some(private_key)) = (chain, private_key) {
            let provider = rustls::crypto::ring::default_provider();
            match rustls::sign::CertifiedKey::from_der(chain, private_key, &provider) {
                Ok(_) => {}
                Err(rustls::Error::InconsistentKeys(_)) => {
                    return self.reject(
                        "tls.key_file",
                        "is not the private key of the first certificate in tls.cert_file",
                    );
                }
                Err(e) => return self.reject("tls.key_file", format!("cannot be used: {e}")),
            }
        }
        Some(TlsConfig {
            cert_file: cert?.0,
            key_file: key?.0,
        })
    }

    /// The `CERTIFICATE` blocks of a PEM file, leaf first; at least one.
    fn certificates(&mut self, path: &str, pem: &str) -> Option<Vec<CertificateDer<'static>>> {
        match CertificateDer::pem_slice_iter(pem.as_bytes()).collect::<Result<Vec<_>, _>>() {
            Ok(chain) if !chain.is_empty() => Some(chain),
            Ok(_) => self.reject(
                path,
                "holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
            ),
            Err(_) => self.reject(path, "is not a readable PEM file"),
        }
    }

    /// The first private key of a PEM file: PKCS#8, PKCS#1 (RSA) or SEC1 (EC). Never
    /// echoes the file: it is a secret.
    fn private_key(&mut self, path: &str, pem: &str) -> Option<PrivateKeyDer<'static>> {
        match PrivateKeyDer::from_pem_slice(pem.as_bytes()) {
            Ok(key) => Some(key),
            Err(rustls::pki_types::pem::Error::NoItemsFound) => {
                self.reject(path, "holds no PEM private key (PKCS#8, PKCS#1 or SEC1)")
            }
            Err(_) => self.reject(path, "is not a readable PEM file"),
        }
    }

    pub(super) fn threads(&mut self, threads: u64) -> Option<usize> {
        match self.at_least_one("threads", threads).map(usize::try_from) {
            Some(Ok(n)) => Some(n),
            Some(Err(_)) => self.reject("threads", "is too large"),
            None => None,
        }
    }

    pub(super) fn identity_headers(
        &mut self,
        headers: IdentityHeadersFile,
    ) -> Option<IdentityHeaders> {
        let IdentityHeadersFile {
            user_id,
            openid,
            unionid,
            phone,
            method,
            assertion,
        } = headers;
        let mut seen: Vec<(String, &'static str)> = Vec::new();
        let mut ok = true;
        for (key, name) in [
            ("user_id", &user_id),
            ("openid", &openid),
            ("unionid", &unionid),
            ("phone", &phone),
            ("method", &method),
            ("assertion", &assertion),
        ] {
            let path = format!("identity_headers.{key}");
            // The proxy builds each name with `http::HeaderName` at start (which also
            // limits the length).
            if name.is_empty()
                || !name.bytes().all(is_token_byte)
                || http::HeaderName::from_bytes(name.as_bytes()).is_err()
            {
                self.issues
                    .add(path, format!("{name:?} is not a header name"));
                ok = false;
                continue;
            }
            // The proxy strips these in any case and with `_` for `-`, so compare that way.
            let folded = name.to_ascii_lowercase().replace('_', "-");
            if RESERVED_HEADERS.contains(&folded.as_str()) {
                self.issues.add(
                    path,
                    format!("{name:?} is a header the gateway or HTTP itself needs"),
                );
                ok = false;
            } else if let Some((_, other)) =
                seen.iter().find(|(f, _)| same_when_stripped(f, &folded))
            {
                self.issues.add(
                    path,
                    format!("{name:?} is already used by identity_headers.{other}"),
                );
                ok = false;
            } else {
                seen.push((folded, key));
            }
        }
        ok.then_some(IdentityHeaders {
            user_id,
            openid,
            unionid,
            phone,
            method,
            assertion,
        })
    }
}

/// Whether two header names are the same to the proxy's stripping, which ignores case and
/// every `-`, `_` and `.` (`proxy::headers`).
fn same_when_stripped(a: &str, b: &str) -> bool {
    let strip = |s: &str| {
        s.bytes()
            .filter(|b| !matches!(b, b'-' | b'_' | b'.'))
            .map(|b| b.to_ascii_lowercase())
            .collect::<Vec<u8>>()
    };
    strip(a) == strip(b)
}
