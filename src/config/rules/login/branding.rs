//! `login.site_name` and `login.qr_logo`: the site's own name and logo on the login page and
//! its codes.

use std::path::PathBuf;
use std::sync::Arc;

use super::Validator;
use crate::config::model::{LogoFormat, QrLogo};

/// Largest logo accepted: it is held in memory and drawn into every code.
pub const MAX_LOGO_BYTES: usize = 256 * 1024;

const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";

impl Validator<'_> {
    pub(super) fn site_name(&mut self, name: Option<String>) -> Option<Option<String>> {
        let Some(name) = name else {
            return Some(None);
        };
        let name = name.trim().to_string();
        if name.is_empty() {
            return self.reject(
                "login.site_name",
                "is empty (leave it out to show the host)",
            );
        }
        if name.chars().count() > 60 || name.chars().any(char::is_control) {
            return self.reject(
                "login.site_name",
                "must be one line of at most 60 characters",
            );
        }
        Some(Some(name))
    }

    /// Read now, so that a missing or oversized logo fails `check`, not the first login.
    pub(super) fn qr_logo(&mut self, path: Option<String>) -> Option<Option<QrLogo>> {
        const KEY: &str = "login.qr_logo";
        let Some(path) = path else {
            return Some(None);
        };
        if path.is_empty() {
            return self.reject(KEY, "is empty");
        }
        let path = PathBuf::from(path);
        let shown = path.display().to_string();
        let bytes = match self.env.read_bytes(&path) {
            Ok(bytes) => bytes,
            Err(e) => return self.reject(KEY, format!("cannot read {shown:?}: {e}")),
        };
        if bytes.len() > MAX_LOGO_BYTES {
            return self.reject(
                KEY,
                format!(
                    "{shown:?} is {} KB; a logo may be at most 256 KB",
                    bytes.len().div_ceil(1024)
                ),
            );
        }
        let Some(format) = logo_format(&bytes) else {
            return self.reject(KEY, format!("{shown:?} is neither a PNG nor an SVG image"));
        };
        if format == LogoFormat::Png && png_size(&bytes).is_none() {
            return self.reject(KEY, format!("{shown:?} is a damaged PNG (no image header)"));
        }
        Some(Some(QrLogo {
            path,
            format,
            bytes: Arc::from(bytes),
        }))
    }
}

/// PNG by its signature; SVG by an `<svg` element near the start (after an XML declaration,
/// comments or a doctype).
fn logo_format(bytes: &[u8]) -> Option<LogoFormat> {
    if bytes.starts_with(PNG_SIGNATURE) {
        return Some(LogoFormat::Png);
    }
    let head = String::from_utf8_lossy(&bytes[..bytes.len().min(4096)]);
    head.contains("<svg").then_some(LogoFormat::Svg)
}

/// Width and height from a PNG's first chunk, which must be its `IHDR`.
fn png_size(bytes: &[u8]) -> Option<(u32, u32)> {
    let ihdr = bytes.get(8..24)?;
    if &ihdr[4..8] != b"IHDR" {
        return None;
    }
    let w = u32::from_be_bytes(ihdr[8..12].try_into().ok()?);
    let h = u32::from_be_bytes(ihdr[12..16].try_into().ok()?);
    (w > 0 && h > 0).then_some((w, h))
}
