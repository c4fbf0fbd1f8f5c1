use std::sync::Arc;

use super::testing::{rasterize_qr_svg, sample_png_logo, sample_svg_logo};
use super::*;
use crate::config::{LogoFormat, QrLogo};

fn logo(format: LogoFormat, bytes: Vec<u8>) -> Logo {
    Logo::new(&QrLogo {
        path: "logo".into(),
        format,
        bytes: Arc::from(bytes),
    })
    .unwrap()
}

fn decode(svg: &str) -> Vec<String> {
    let (size, grey) = rasterize_qr_svg(svg, 2).expect("our own drawing");
    let size = size as usize;
    let mut img =
        rqrr::PreparedImage::prepare_from_greyscale(size, size, |x, y| grey[y * size + x]);
    img.detect_grids()
        .into_iter()
        .filter_map(|g| g.decode().ok().map(|(_, text)| text))
        .collect()
}

/// What Official Account codes hold (`http://weixin.qq.com/q/<ticket>`), and longer.
const CONTENTS: [&str; 3] = [
    "http://weixin.qq.com/q/02gNTT9vqBdZ01abcdefgh",
    "http://weixin.qq.com/q/02Yg8fE2b0bXe1D0Oq1-1s0000gz07Xw",
    "https://app.example.com/.auth/login?rd=%2Faccount%2Fsettings%3Ftab%3Dsecurity&x=0123456789abcdef",
];

#[test]
fn every_branded_code_decodes_to_the_same_content_for_any_logo() {
    let logos = [
        ("png 16x16", logo(LogoFormat::Png, sample_png_logo(16, 16))),
        (
            "png 512x512",
            logo(LogoFormat::Png, sample_png_logo(512, 512)),
        ),
        (
            "png 600x150",
            logo(LogoFormat::Png, sample_png_logo(600, 150)),
        ),
        (
            "png 90x300",
            logo(LogoFormat::Png, sample_png_logo(90, 300)),
        ),
        ("svg 1:1", logo(LogoFormat::Svg, sample_svg_logo(64, 64))),
        ("svg 4:1", logo(LogoFormat::Svg, sample_svg_logo(400, 100))),
    ];
    for content in CONTENTS {
        let plain = crate::pages::qr_svg(content).unwrap();
        assert_eq!(decode(&plain), [content], "unbranded");
        for (name, logo) in &logos {
            let svg = crate::pages::qr_svg_with_logo(content, Some(logo)).unwrap();
            assert!(svg.contains("<image"), "{name}");
            assert_eq!(decode(&svg), [content], "{name}: {content}");
        }
    }
}

#[test]
fn the_logo_square_covers_at_most_a_fifth_of_the_code() {
    let l = logo(LogoFormat::Svg, sample_svg_logo(10, 10));
    let overlay = l.svg_overlay(300.0, 20.0);
    let side: f64 = overlay
        .split(" width=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .and_then(|s| s.parse().ok())
        .unwrap();
    let code_side = 300.0 - 40.0;
    assert!((side * side) / (code_side * code_side) <= 0.2, "{side}");
    assert!(overlay.contains("href=\"data:image/svg+xml;base64,"));
}

#[test]
fn a_mini_program_code_keeps_its_size_and_format_and_gets_the_logo() {
    let l = logo(LogoFormat::Png, sample_png_logo(100, 100));
    // A black 430 x 430 code, as PNG (grey, as the simulator sends) and as JPEG (WeChat's
    // default).
    let black = Image {
        width: 430,
        height: 430,
        rgba: [0, 0, 0, 255].repeat(430 * 430),
        alpha: false,
    };
    for (format, code) in [
        (ImageFormat::Png, black.encode_png().unwrap()),
        (ImageFormat::Jpeg, black.encode_jpeg().unwrap()),
    ] {
        let out = l.composite(&code).unwrap();
        assert_eq!(raster::format_of(&out), Some(format));
        let img = match format {
            ImageFormat::Png => raster::decode(&out).unwrap(),
            ImageFormat::Jpeg => raster::decode_jpeg(&out).unwrap(),
        };
        assert_eq!((img.width, img.height), (430, 430), "{format:?}");
        let at = |x: usize, y: usize| img.rgba[(y * 430 + x) * 4];
        // The square's white edge, the logo inside, the code untouched around.
        assert!(at(215 - 60, 215) > 200, "{format:?}: white square");
        assert!(
            at(10, 10) < 50 && at(215 - 80, 215) < 50,
            "{format:?}: code kept"
        );
        assert!(at(215, 215) != at(10, 10), "{format:?}: logo drawn");
    }
    // An SVG logo has no pixels for a bitmap.
    let svg = logo(LogoFormat::Svg, sample_svg_logo(10, 10));
    assert_eq!(
        svg.composite(&black.encode_png().unwrap()),
        Err(BrandingError::SvgOnBitmap)
    );
    // Garbage is an error, not a panic.
    assert!(l.composite(b"\x89PNG\r\n\x1a\nnonsense").is_err());
    assert!(l.composite(b"\xff\xd8\xffnonsense").is_err());
    assert!(l.composite(b"GIF89a").is_err());
}
