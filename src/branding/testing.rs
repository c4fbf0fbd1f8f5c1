//! Test support: our QR drawings as bitmaps, so a QR decoder can read them back. Handles
//! exactly what `pages::qr_svg_with_logo` writes: the renderer's path of rectangles, then the
//! logo's white square and its `<image>`. A PNG logo is drawn as it is; an SVG logo, which
//! this has no renderer for, is painted solid black over its whole box: the worst a logo can
//! hide.

use base64::Engine as _;

use super::raster::{self, Image};

fn attr(tag: &str, name: &str) -> Option<String> {
    let at = tag.find(&format!(" {name}=\""))? + name.len() + 3;
    tag[at..].split('"').next().map(str::to_string)
}

fn num(tag: &str, name: &str) -> Option<f64> {
    attr(tag, name)?.parse().ok()
}

/// The drawing at `scale` pixels per SVG unit, as 8-bit grey (0 black, 255 white).
pub fn rasterize_qr_svg(svg: &str, scale: u32) -> Option<(u32, Vec<u8>)> {
    let size = num(&svg[svg.find("<svg")?..], "width")?;
    let px = (size * f64::from(scale)).round() as u32;
    let mut img = Image {
        width: px,
        height: px,
        rgba: vec![255; (px as usize) * (px as usize) * 4],
        alpha: false,
    };
    let s = f64::from(scale);
    let fill = |img: &mut Image, x: f64, y: f64, w: f64, h: f64, v: u8| {
        for py in (y * s).round() as u32..((y + h) * s).round() as u32 {
            for qx in (x * s).round() as u32..((x + w) * s).round() as u32 {
                if qx < img.width && py < img.height {
                    let i = ((py * img.width + qx) * 4) as usize;
                    img.rgba[i..i + 3].copy_from_slice(&[v, v, v]);
                }
            }
        }
    };
    // "M{left} {top}h{width}v{height}H{left}V{top}", repeated.
    let d = attr(&svg[svg.find("<path")?..], "d")?;
    for rect in d.split('M').filter(|r| !r.is_empty()) {
        let n: Vec<f64> = rect
            .split(|c: char| c == ' ' || c.is_ascii_alphabetic())
            .filter(|p| !p.is_empty())
            .filter_map(|p| p.parse().ok())
            .collect();
        if let [x, y, w, h, ..] = n[..] {
            fill(&mut img, x, y, w, h, 0);
        }
    }
    let after_path = &svg[svg.find("<path")?..];
    if let Some(at) = after_path.find("<rect") {
        let tag = &after_path[at..];
        let (x, y, w, h) = (
            num(tag, "x")?,
            num(tag, "y")?,
            num(tag, "width")?,
            num(tag, "height")?,
        );
        fill(&mut img, x, y, w, h, 255);
    }
    if let Some(at) = svg.find("<image") {
        let tag = &svg[at..];
        let (x, y, w, h) = (
            num(tag, "x")?,
            num(tag, "y")?,
            num(tag, "width")?,
            num(tag, "height")?,
        );
        let href = attr(tag, "href")?;
        if let Some(b64) = href.strip_prefix("data:image/png;base64,") {
            let bytes = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
            let logo = raster::decode(&bytes).ok()?;
            img.draw_scaled(&logo, x * s, y * s, w * s, h * s);
        } else {
            fill(&mut img, x, y, w, h, 0);
        }
    }
    let grey = img
        .rgba
        .chunks_exact(4)
        .map(|p| ((u32::from(p[0]) * 3 + u32::from(p[1]) * 6 + u32::from(p[2])) / 10) as u8)
        .collect();
    Some((px, grey))
}

/// A PNG logo for tests: `width` x `height`, a coloured pattern with transparent corners.
pub fn sample_png_logo(width: u32, height: u32) -> Vec<u8> {
    let mut rgba = Vec::with_capacity((width * height * 4) as usize);
    for y in 0..height {
        for x in 0..width {
            let corner = (x < width / 6 || x >= width - width / 6)
                && (y < height / 6 || y >= height - height / 6);
            let dark = ((x * 8 / width.max(1)) + (y * 8 / height.max(1))).is_multiple_of(2);
            let (r, g, b) = if dark { (20, 60, 200) } else { (240, 120, 30) };
            rgba.extend_from_slice(&[r, g, b, if corner { 0 } else { 255 }]);
        }
    }
    Image {
        width,
        height,
        rgba,
        alpha: true,
    }
    .encode_png()
    .unwrap_or_default()
}

/// An SVG logo for tests with the given aspect (`viewBox` width x height).
pub fn sample_svg_logo(width: u32, height: u32) -> Vec<u8> {
    format!(
        r##"<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}"><rect width="{width}" height="{height}" rx="8" fill="#0a7"/><circle cx="{cx}" cy="{cy}" r="{r}" fill="#fff"/></svg>"##,
        cx = width / 2,
        cy = height / 2,
        r = width.min(height) / 3
    )
    .into_bytes()
}
