//! Bitmaps for the Mini Program code: PNG and JPEG in and out, a white rounded square, and a
//! logo scaled onto it. Only what branding needs; no general image library.

use super::BrandingError;

/// The largest image decoded (pixels): WeChat's codes are at most 1280 x 1280, a logo file at
/// most 256 KB; anything larger is refused rather than allocated.
const MAX_PIXELS: u64 = 4096 * 4096;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageFormat {
    Png,
    Jpeg,
}

pub(super) fn format_of(bytes: &[u8]) -> Option<ImageFormat> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some(ImageFormat::Png)
    } else if bytes.starts_with(b"\xff\xd8\xff") {
        Some(ImageFormat::Jpeg)
    } else {
        None
    }
}

/// RGBA, 8 bits per channel, rows top to bottom. `alpha` says whether the source had any
/// (a PNG written back keeps its transparency; an opaque one stays RGB).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Image {
    pub width: u32,
    pub height: u32,
    pub rgba: Vec<u8>,
    pub alpha: bool,
}

fn too_large(width: u32, height: u32) -> bool {
    u64::from(width) * u64::from(height) > MAX_PIXELS || width == 0 || height == 0
}

/// A PNG of any colour type and depth, as RGBA8.
pub(super) fn decode(bytes: &[u8]) -> Result<Image, BrandingError> {
    let bad = |e: &dyn std::fmt::Display| BrandingError::Decode(e.to_string());
    let mut decoder = png::Decoder::new(bytes);
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    let mut reader = decoder.read_info().map_err(|e| bad(&e))?;
    let (width, height) = reader.info().size();
    if too_large(width, height) {
        return Err(BrandingError::Decode(format!(
            "{width}x{height} is too large"
        )));
    }
    let mut buf = vec![0; reader.output_buffer_size()];
    let frame = reader.next_frame(&mut buf).map_err(|e| bad(&e))?;
    let data = &buf[..frame.buffer_size()];
    let pixels = usize::try_from(u64::from(width) * u64::from(height)).map_err(|e| bad(&e))?;
    let mut rgba = Vec::with_capacity(pixels * 4);
    let alpha = matches!(
        frame.color_type,
        png::ColorType::Rgba | png::ColorType::GrayscaleAlpha
    );
    match frame.color_type {
        png::ColorType::Rgba => rgba.extend_from_slice(data),
        png::ColorType::Rgb => data
            .chunks_exact(3)
            .for_each(|p| rgba.extend_from_slice(&[p[0], p[1], p[2], 255])),
        png::ColorType::GrayscaleAlpha => data
            .chunks_exact(2)
            .for_each(|p| rgba.extend_from_slice(&[p[0], p[0], p[0], p[1]])),
        png::ColorType::Grayscale => data
            .iter()
            .for_each(|&g| rgba.extend_from_slice(&[g, g, g, 255])),
        // Expanded to RGB(A) by normalize_to_color8.
        png::ColorType::Indexed => return Err(bad(&"indexed colour was not expanded")),
    }
    if rgba.len() != pixels * 4 {
        return Err(bad(&"short image data"));
    }
    Ok(Image {
        width,
        height,
        rgba,
        alpha,
    })
}

pub(super) fn decode_jpeg(bytes: &[u8]) -> Result<Image, BrandingError> {
    let bad = |e: &dyn std::fmt::Display| BrandingError::Decode(e.to_string());
    let mut decoder = jpeg_decoder::Decoder::new(bytes);
    decoder.read_info().map_err(|e| bad(&e))?;
    let info = decoder.info().ok_or_else(|| bad(&"no header"))?;
    let (width, height) = (u32::from(info.width), u32::from(info.height));
    if too_large(width, height) {
        return Err(BrandingError::Decode(format!(
            "{width}x{height} is too large"
        )));
    }
    let data = decoder.decode().map_err(|e| bad(&e))?;
    let mut rgba = Vec::with_capacity(data.len() / 3 * 4 + 4);
    match info.pixel_format {
        jpeg_decoder::PixelFormat::RGB24 => data
            .chunks_exact(3)
            .for_each(|p| rgba.extend_from_slice(&[p[0], p[1], p[2], 255])),
        jpeg_decoder::PixelFormat::L8 => data
            .iter()
            .for_each(|&g| rgba.extend_from_slice(&[g, g, g, 255])),
        other => return Err(bad(&format!("{other:?} JPEGs are not supported"))),
    }
    if rgba.len() as u64 != u64::from(width) * u64::from(height) * 4 {
        return Err(bad(&"short image data"));
    }
    Ok(Image {
        width,
        height,
        rgba,
        alpha: false,
    })
}

impl Image {
    fn blend(&mut self, x: u32, y: u32, rgb: [u8; 3], a: f64) {
        if x >= self.width || y >= self.height || a <= 0.0 {
            return;
        }
        let i = ((y as usize) * (self.width as usize) + x as usize) * 4;
        let a = a.min(1.0);
        for (slot, new) in self.rgba[i..i + 3].iter_mut().zip(rgb) {
            let old = f64::from(*slot);
            *slot = (old + (f64::from(new) - old) * a).round() as u8;
        }
        let old_a = f64::from(self.rgba[i + 3]);
        self.rgba[i + 3] = (old_a + (255.0 - old_a) * a).round() as u8;
    }

    /// An opaque white square at (`x`, `y`) of side `side` with corners of `radius`.
    pub fn rounded_square(&mut self, x: f64, y: f64, side: f64, radius: f64) {
        let (x0, y0) = (x.floor().max(0.0) as u32, y.floor().max(0.0) as u32);
        let (x1, y1) = ((x + side).ceil() as u32, (y + side).ceil() as u32);
        for py in y0..y1.min(self.height) {
            for px in x0..x1.min(self.width) {
                // Distance from the pixel's centre into the nearest corner's circle.
                let (cx, cy) = (f64::from(px) + 0.5, f64::from(py) + 0.5);
                let dx = (x + radius - cx).max(cx - (x + side - radius)).max(0.0);
                let dy = (y + radius - cy).max(cy - (y + side - radius)).max(0.0);
                let inside = radius - (dx * dx + dy * dy).sqrt() + 0.5;
                let edge = (x + side - cx + 0.5)
                    .min(cx - x + 0.5)
                    .min(y + side - cy + 0.5)
                    .min(cy - y + 0.5);
                self.blend(px, py, [255, 255, 255], inside.min(edge).clamp(0.0, 1.0));
            }
        }
    }

    /// `src` scaled (bilinear) into the box at (`x`, `y`) of `w` x `h`, blended by its alpha.
    pub fn draw_scaled(&mut self, src: &Image, x: f64, y: f64, w: f64, h: f64) {
        if w < 1.0 || h < 1.0 {
            return;
        }
        let (x0, y0) = (x.round().max(0.0) as u32, y.round().max(0.0) as u32);
        let (x1, y1) = ((x + w).round() as u32, (y + h).round() as u32);
        let sample = |sx: i64, sy: i64, c: usize| -> f64 {
            let sx = sx.clamp(0, i64::from(src.width) - 1) as usize;
            let sy = sy.clamp(0, i64::from(src.height) - 1) as usize;
            f64::from(src.rgba[(sy * src.width as usize + sx) * 4 + c])
        };
        for py in y0..y1.min(self.height) {
            for px in x0..x1.min(self.width) {
                let u = (f64::from(px) + 0.5 - x) / w * f64::from(src.width) - 0.5;
                let v = (f64::from(py) + 0.5 - y) / h * f64::from(src.height) - 0.5;
                let (iu, iv) = (u.floor() as i64, v.floor() as i64);
                let (fu, fv) = (u - u.floor(), v - v.floor());
                let mut px4 = [0.0; 4];
                for (c, out) in px4.iter_mut().enumerate() {
                    let top = sample(iu, iv, c) * (1.0 - fu) + sample(iu + 1, iv, c) * fu;
                    let bottom =
                        sample(iu, iv + 1, c) * (1.0 - fu) + sample(iu + 1, iv + 1, c) * fu;
                    *out = top * (1.0 - fv) + bottom * fv;
                }
                let rgb = [
                    px4[0].round() as u8,
                    px4[1].round() as u8,
                    px4[2].round() as u8,
                ];
                self.blend(px, py, rgb, px4[3] / 255.0);
            }
        }
    }

    pub fn encode_png(&self) -> Result<Vec<u8>, BrandingError> {
        let bad = |e: &dyn std::fmt::Display| BrandingError::Encode(e.to_string());
        let mut out = Vec::new();
        let mut encoder = png::Encoder::new(&mut out, self.width, self.height);
        encoder.set_depth(png::BitDepth::Eight);
        let data: Vec<u8> = if self.alpha {
            encoder.set_color(png::ColorType::Rgba);
            self.rgba.clone()
        } else {
            encoder.set_color(png::ColorType::Rgb);
            self.rgba
                .chunks_exact(4)
                .flat_map(|p| [p[0], p[1], p[2]])
                .collect()
        };
        let mut writer = encoder.write_header().map_err(|e| bad(&e))?;
        writer.write_image_data(&data).map_err(|e| bad(&e))?;
        writer.finish().map_err(|e| bad(&e))?;
        Ok(out)
    }

    pub fn encode_jpeg(&self) -> Result<Vec<u8>, BrandingError> {
        let bad = |e: &dyn std::fmt::Display| BrandingError::Encode(e.to_string());
        let (w, h) = (
            u16::try_from(self.width).map_err(|e| bad(&e))?,
            u16::try_from(self.height).map_err(|e| bad(&e))?,
        );
        let mut out = Vec::new();
        let encoder = jpeg_encoder::Encoder::new(&mut out, 92);
        encoder
            .encode(&self.rgba, w, h, jpeg_encoder::ColorType::Rgba)
            .map_err(|e| bad(&e))?;
        Ok(out)
    }
}
