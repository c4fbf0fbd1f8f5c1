//! The simulator's Mini Program code image: a QR code of the scene, drawn in a `width`-pixel
//! square PNG. A real one is a round "sun code" that only WeChat reads; a QR code keeps the
//! simulated one scannable by ordinary tools while being an image of the same size and kind.

use qrcode::{Color, QrCode};

use super::png::encode_gray8;

/// Modules of white border around the symbol, as the QR specification asks.
const QUIET_ZONE: usize = 4;

/// The PNG of a code for `scene`, `width` pixels square; `None` if the scene cannot be encoded
/// (it always can: scenes are at most 32 ASCII characters).
pub(super) fn render(scene: &str, width: u32) -> Option<Vec<u8>> {
    let code = QrCode::new(scene.as_bytes()).ok()?;
    let modules = code.width();
    let colors = code.to_colors();
    let size = usize::try_from(width).ok()?;
    let span = modules + 2 * QUIET_ZONE;
    let scale = (size / span).max(1);
    // Centre the symbol; a remainder of pixels goes to the margins.
    let offset = size.saturating_sub(modules * scale) / 2;
    let mut pixels = vec![255u8; size * size];
    for (y, row) in pixels.chunks_mut(size).enumerate() {
        let Some(my) = module_at(y, offset, scale, modules) else {
            continue;
        };
        for (x, pixel) in row.iter_mut().enumerate() {
            if let Some(mx) = module_at(x, offset, scale, modules) {
                if colors[my * modules + mx] == Color::Dark {
                    *pixel = 0;
                }
            }
        }
    }
    encode_gray8(width, &pixels)
}

/// The module under pixel coordinate `p`, if any.
fn module_at(p: usize, offset: usize, scale: usize, modules: usize) -> Option<usize> {
    let m = p.checked_sub(offset)? / scale;
    (m < modules).then_some(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wechat_sim::png::tests::decode_gray8;

    #[test]
    fn draws_the_scenes_qr_code_in_a_square_of_the_requested_width() {
        let scene = "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6";
        let png = render(scene, 430).unwrap();
        let (width, height, pixels) = decode_gray8(&png);
        assert_eq!((width, height), (430, 430));
        assert!(pixels.iter().all(|p| *p == 0 || *p == 255));

        // Sample each module's centre: the picture is exactly the symbol's module matrix.
        let code = QrCode::new(scene.as_bytes()).unwrap();
        let modules = code.width();
        let colors = code.to_colors();
        let scale = 430 / (modules + 2 * QUIET_ZONE);
        let offset = (430 - modules * scale) / 2;
        assert!(
            offset >= QUIET_ZONE * scale,
            "a quiet zone surrounds the code"
        );
        for my in 0..modules {
            for mx in 0..modules {
                let (x, y) = (
                    offset + mx * scale + scale / 2,
                    offset + my * scale + scale / 2,
                );
                let dark = pixels[y * 430 + x] == 0;
                assert_eq!(
                    dark,
                    colors[my * modules + mx] == Color::Dark,
                    "({mx},{my})"
                );
            }
        }
        // Different scenes, different pictures.
        assert_ne!(render("other", 430).unwrap(), png);
    }
}
