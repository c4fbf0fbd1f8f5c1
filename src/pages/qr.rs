//! QR codes drawn by us as SVG, so the page never fetches an image from WeChat.

use qrcode::render::svg;
use qrcode::{EcLevel, QrCode};

use crate::branding::Logo;

/// Why a QR code could not be drawn. Carries no part of the content.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum QrError {
    #[error("QR content of {len} bytes does not fit in a QR code")]
    TooLong { len: usize },
    #[error("QR content cannot be encoded: {0}")]
    Encode(String),
}

/// Smallest intrinsic size of the drawing, in CSS pixels; `viewBox` lets it scale either way.
const MIN_SIZE_PX: u32 = 264;

/// `content` as a standalone SVG document (`image/svg+xml`): error correction M (a phone camera
/// on a screen reads it easily; WeChat's own codes use M as well), a 4-module quiet zone, black
/// on white, and a `viewBox` so it scales to any box. Fails cleanly when `content` does not fit
/// (beyond about 2.3 KB).
pub fn qr_svg(content: &str) -> Result<String, QrError> {
    qr_svg_with_logo(content, None)
}

/// [`qr_svg`], with `logo` (the site's, `login.qr_logo`) on a white square in the middle:
/// error correction is then raised to H, which restores the modules the logo hides.
pub fn qr_svg_with_logo(content: &str, logo: Option<&Logo>) -> Result<String, QrError> {
    let level = if logo.is_some() {
        EcLevel::H
    } else {
        EcLevel::M
    };
    let code =
        QrCode::with_error_correction_level(content.as_bytes(), level).map_err(|e| match e {
            qrcode::types::QrError::DataTooLong => QrError::TooLong { len: content.len() },
            other => QrError::Encode(other.to_string()),
        })?;
    let svg = code
        .render::<svg::Color<'_>>()
        .quiet_zone(true)
        .min_dimensions(MIN_SIZE_PX, MIN_SIZE_PX)
        .dark_color(svg::Color("#000"))
        .light_color(svg::Color("#fff"))
        .build();
    let Some(logo) = logo else {
        return Ok(svg);
    };
    // The drawing is (modules + 2 x 4 quiet modules) x unit square.
    let size = svg_width(&svg).ok_or_else(|| QrError::Encode("no width".into()))?;
    let unit = size / (code.width() as f64 + 2.0 * QUIET_MODULES);
    let overlay = logo.svg_overlay(size, unit * QUIET_MODULES);
    let end = svg.rfind("</svg>").unwrap_or(svg.len());
    Ok(format!("{}{overlay}{}", &svg[..end], &svg[end..]))
}

/// Modules of quiet zone the renderer draws on each side (the QR specification's 4).
const QUIET_MODULES: f64 = 4.0;

fn svg_width(svg: &str) -> Option<f64> {
    svg.split(" width=\"")
        .nth(1)?
        .split('"')
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_a_scalable_black_on_white_svg() {
        let svg = qr_svg("http://weixin.qq.com/q/02gNTT9vqBdZ01abcdefgh").unwrap();
        assert!(svg.contains("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains(" viewBox=\"0 0 "));
        assert!(svg.contains("fill=\"#000\"") && svg.contains("fill=\"#fff\""));
        let width: u32 = svg
            .split(" width=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .and_then(|s| s.parse().ok())
            .unwrap();
        assert!(width >= MIN_SIZE_PX, "width {width}");
    }

    #[test]
    fn same_content_same_drawing_and_different_content_differs() {
        assert_eq!(qr_svg("abc").unwrap(), qr_svg("abc").unwrap());
        assert_ne!(qr_svg("abc").unwrap(), qr_svg("abd").unwrap());
    }

    #[test]
    fn absurdly_long_content_is_an_error_not_a_panic() {
        let long = "x".repeat(10_000);
        assert_eq!(qr_svg(&long), Err(QrError::TooLong { len: 10_000 }));
        // The message names the size only, never the content.
        assert!(!QrError::TooLong { len: 10_000 }.to_string().contains("xxx"));
    }

    #[test]
    fn empty_content_still_draws() {
        assert!(qr_svg("").unwrap().contains("<svg"));
    }
}
