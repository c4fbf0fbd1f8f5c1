//! The site's logo in the middle of the login codes (`login.qr_logo`), as Authing does: on
//! the Official Account code we draw (an SVG fragment over the symbol, whose error correction
//! is raised to H for it) and over the Mini Program code WeChat draws (composited into its
//! JPEG or PNG, which keeps its size and format).
//!
//! The logo sits on a white rounded square whose side is [`BOX_FRACTION`] of the code's: 9 %
//! of its area, well inside the 30 % of codewords that level H restores, and clear of the
//! three finder patterns in the corners. Plain Rust, no I/O: the bytes were read when the
//! config loaded.

mod raster;
#[cfg(any(test, feature = "test-util"))]
pub mod testing;

#[cfg(test)]
mod tests;

use base64::Engine as _;

use crate::config::{LogoFormat, QrLogo};
pub use raster::{Image, ImageFormat};

/// Side of the logo's white square, as a fraction of the code's side (quiet zone excluded).
pub const BOX_FRACTION: f64 = 0.3;
/// Margin between the square's edge and the logo, as a fraction of the square's side.
const PADDING_FRACTION: f64 = 0.1;
/// Corner radius of the square, as a fraction of its side.
const RADIUS_FRACTION: f64 = 0.18;

/// Why a logo or a code image could not be used. Carries no image bytes.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BrandingError {
    #[error("the image cannot be decoded: {0}")]
    Decode(String),
    #[error("the image cannot be encoded: {0}")]
    Encode(String),
    #[error("an SVG logo cannot be drawn into a bitmap (use a PNG logo for Mini Program codes)")]
    SvgOnBitmap,
}

/// A logo ready to draw: its `data:` URI for SVG codes and, for a PNG, its pixels for bitmaps.
pub struct Logo {
    format: LogoFormat,
    data_uri: String,
    /// Width over height, for fitting it in the square.
    aspect: f64,
    pixels: Option<Image>,
}

impl std::fmt::Debug for Logo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Logo")
            .field("format", &self.format)
            .field("aspect", &self.aspect)
            .finish_non_exhaustive()
    }
}

impl Logo {
    /// Decodes the logo once (at start), so that a broken PNG is refused there and not at the
    /// first login.
    pub fn new(logo: &QrLogo) -> Result<Logo, BrandingError> {
        let b64 = base64::engine::general_purpose::STANDARD.encode(&*logo.bytes);
        match logo.format {
            LogoFormat::Png => {
                let pixels = raster::decode(&logo.bytes)?;
                Ok(Logo {
                    format: LogoFormat::Png,
                    data_uri: format!("data:image/png;base64,{b64}"),
                    aspect: f64::from(pixels.width) / f64::from(pixels.height.max(1)),
                    pixels: Some(pixels),
                })
            }
            LogoFormat::Svg => Ok(Logo {
                format: LogoFormat::Svg,
                // Loaded as an image, an SVG runs no script and fetches nothing.
                data_uri: format!("data:image/svg+xml;base64,{b64}"),
                aspect: svg_aspect(&logo.bytes).unwrap_or(1.0),
                pixels: None,
            }),
        }
    }

    pub fn format(&self) -> LogoFormat {
        self.format
    }

    /// The SVG elements that put the logo over a code drawn in a `size` x `size` viewBox
    /// whose symbol starts `margin` units in from each edge (the quiet zone).
    pub fn svg_overlay(&self, size: f64, margin: f64) -> String {
        let side = (size - 2.0 * margin) * BOX_FRACTION;
        let at = (size - side) / 2.0;
        let radius = side * RADIUS_FRACTION;
        let (x, y, w, h) = fit(at, side, self.aspect);
        format!(
            r##"<rect x="{at:.2}" y="{at:.2}" width="{side:.2}" height="{side:.2}" rx="{radius:.2}" fill="#fff"/><image x="{x:.2}" y="{y:.2}" width="{w:.2}" height="{h:.2}" preserveAspectRatio="xMidYMid meet" href="{uri}"/>"##,
            uri = self.data_uri
        )
    }

    /// `code` (WeChat's JPEG or PNG) with the logo over its centre, in the same format and
    /// size.
    pub fn composite(&self, code: &[u8]) -> Result<Vec<u8>, BrandingError> {
        let pixels = self.pixels.as_ref().ok_or(BrandingError::SvgOnBitmap)?;
        let format = raster::format_of(code)
            .ok_or_else(|| BrandingError::Decode("neither PNG nor JPEG".into()))?;
        let mut image = match format {
            ImageFormat::Png => raster::decode(code)?,
            ImageFormat::Jpeg => raster::decode_jpeg(code)?,
        };
        let size = f64::from(image.width.min(image.height));
        let side = size * BOX_FRACTION;
        let cx = f64::from(image.width) / 2.0;
        let cy = f64::from(image.height) / 2.0;
        image.rounded_square(
            cx - side / 2.0,
            cy - side / 2.0,
            side,
            side * RADIUS_FRACTION,
        );
        let (x, y, w, h) = fit(0.0, side, self.aspect);
        image.draw_scaled(pixels, cx - side / 2.0 + x, cy - side / 2.0 + y, w, h);
        match format {
            ImageFormat::Png => image.encode_png(),
            ImageFormat::Jpeg => image.encode_jpeg(),
        }
    }
}

/// The logo's box inside the square at (`at`, `at`) of side `side`, padded, keeping `aspect`.
fn fit(at: f64, side: f64, aspect: f64) -> (f64, f64, f64, f64) {
    let inner = side * (1.0 - 2.0 * PADDING_FRACTION);
    let (w, h) = if aspect >= 1.0 {
        (inner, inner / aspect)
    } else {
        (inner * aspect, inner)
    };
    (at + (side - w) / 2.0, at + (side - h) / 2.0, w, h)
}

/// Width over height from an SVG's `viewBox` (or `width`/`height`), when it says.
fn svg_aspect(bytes: &[u8]) -> Option<f64> {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(4096)]);
    let tag = &text[text.find("<svg")?..];
    let tag = &tag[..tag.find('>')?];
    let attr = |name: &str| {
        let at = tag.find(&format!(" {name}=\""))? + name.len() + 3;
        tag[at..].split('"').next()
    };
    if let Some(view_box) = attr("viewBox") {
        let n: Vec<f64> = view_box
            .split([' ', ','])
            .filter_map(|p| p.parse().ok())
            .collect();
        if let [_, _, w, h] = n[..] {
            return (w > 0.0 && h > 0.0).then_some(w / h);
        }
    }
    let number = |v: &str| v.trim_end_matches("px").parse::<f64>().ok();
    let (w, h) = (number(attr("width")?)?, number(attr("height")?)?);
    (w > 0.0 && h > 0.0).then_some(w / h)
}
