//! The smallest PNG encoder that yields a valid file: 8-bit grayscale, no filtering, the image
//! data in a zlib stream of stored (uncompressed) deflate blocks. The simulator's code images
//! are a few hundred kilobytes at most, so compression is not worth a dependency.
//! Formats: PNG (RFC 2083 / ISO 15948), zlib (RFC 1950), deflate stored blocks (RFC 1951 §3.2.4).

/// The eight bytes every PNG starts with.
pub(crate) const SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a];

/// Largest payload of one stored deflate block (its length field is 16 bits).
const STORED_BLOCK_MAX: usize = 65_535;

/// Encodes `pixels`, rows of `width` gray levels (0 black, 255 white), top row first. `None`
/// when `pixels` is empty, `width` is 0, or the length is not a whole number of rows.
pub(crate) fn encode_gray8(width: u32, pixels: &[u8]) -> Option<Vec<u8>> {
    let row_len = usize::try_from(width).ok().filter(|w| *w > 0)?;
    if pixels.is_empty() || !pixels.len().is_multiple_of(row_len) {
        return None;
    }
    let height = u32::try_from(pixels.len() / row_len).ok()?;
    // Each row is prefixed by its filter type; 0 = none.
    let mut raw = Vec::with_capacity(pixels.len() + pixels.len() / row_len);
    for row in pixels.chunks(row_len) {
        raw.push(0);
        raw.extend_from_slice(row);
    }
    let mut ihdr = Vec::with_capacity(13);
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    // Bit depth 8, colour type 0 (grayscale), deflate, filter method 0, no interlace.
    ihdr.extend_from_slice(&[8, 0, 0, 0, 0]);

    let idat = zlib_stored(&raw);
    let mut png = Vec::with_capacity(SIGNATURE.len() + idat.len() + 3 * 12 + 13);
    png.extend_from_slice(&SIGNATURE);
    push_chunk(&mut png, b"IHDR", &ihdr);
    push_chunk(&mut png, b"IDAT", &idat);
    push_chunk(&mut png, b"IEND", &[]);
    Some(png)
}

/// Length, type, data, and the CRC-32 of type and data.
fn push_chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    // Chunks here are at most a few MB, far below the 2^31 limit.
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let mut crc = Crc32::new();
    crc.update(kind);
    crc.update(data);
    out.extend_from_slice(&crc.finish().to_be_bytes());
}

/// A zlib stream of stored blocks: header `78 01` (deflate, 32 KiB window, no dictionary,
/// check bits so that the header is a multiple of 31), the blocks, Adler-32 of `data`.
fn zlib_stored(data: &[u8]) -> Vec<u8> {
    let blocks = data.len().div_ceil(STORED_BLOCK_MAX).max(1);
    let mut out = Vec::with_capacity(2 + data.len() + 5 * blocks + 4);
    out.extend_from_slice(&[0x78, 0x01]);
    let mut chunks = data.chunks(STORED_BLOCK_MAX).peekable();
    if chunks.peek().is_none() {
        // An empty stream still needs one final (empty) block.
        out.extend_from_slice(&[0x01, 0x00, 0x00, 0xff, 0xff]);
    }
    while let Some(block) = chunks.next() {
        // BFINAL in bit 0, BTYPE 00 (stored), then padding to the byte boundary.
        out.push(u8::from(chunks.peek().is_none()));
        let len = block.len() as u16;
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(block);
    }
    out.extend_from_slice(&adler32(data).to_be_bytes());
    out
}

/// CRC-32 as PNG and zlib use it (reflected polynomial 0xEDB88320, init and xor-out all ones).
struct Crc32(u32);

const CRC_TABLE: [u32; 256] = crc_table();

const fn crc_table() -> [u32; 256] {
    let mut table = [0u32; 256];
    let mut n = 0;
    while n < 256 {
        let mut c = n as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 == 1 {
                0xedb8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        table[n] = c;
        n += 1;
    }
    table
}

impl Crc32 {
    fn new() -> Self {
        Crc32(0xffff_ffff)
    }

    fn update(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = CRC_TABLE[((self.0 ^ u32::from(b)) & 0xff) as usize] ^ (self.0 >> 8);
        }
    }

    fn finish(&self) -> u32 {
        self.0 ^ 0xffff_ffff
    }
}

/// Adler-32 (RFC 1950 §8.2).
fn adler32(data: &[u8]) -> u32 {
    const MOD: u32 = 65_521;
    // 5552 bytes is the most that can be summed before `b` could overflow a u32.
    let (mut a, mut b) = (1u32, 0u32);
    for chunk in data.chunks(5552) {
        for &byte in chunk {
            a += u32::from(byte);
            b += a;
        }
        a %= MOD;
        b %= MOD;
    }
    (b << 16) | a
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = Crc32::new();
        crc.update(bytes);
        crc.finish()
    }

    #[test]
    fn checksums_known_answers() {
        // The CRC-32/ISO-HDLC check value (reveng CRC catalogue, "123456789").
        assert_eq!(crc32(b"123456789"), 0xcbf4_3926);
        assert_eq!(crc32(b""), 0);
        // The worked example of the Wikipedia "Adler-32" article.
        assert_eq!(adler32(b"Wikipedia"), 0x11e6_0398);
        assert_eq!(adler32(b""), 1);
    }

    #[test]
    fn a_two_by_two_image_byte_for_byte() {
        // Produced independently by Python 3: zlib.compress(raw, 0), zlib.crc32 per chunk.
        let expected = "89504e470d0a1a0a0000000d494844520000000200000002080000000057dd52f8\
                        00000011494441547801010600f9ff0000ff008040054201c079e909c4\
                        0000000049454e44ae426082";
        let png = encode_gray8(2, &[0x00, 0xff, 0x80, 0x40]).unwrap();
        let hex: String = png.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, expected);
    }

    #[test]
    fn rejects_ragged_or_empty_input() {
        assert!(encode_gray8(0, &[1]).is_none());
        assert!(encode_gray8(2, &[]).is_none());
        assert!(encode_gray8(2, &[1, 2, 3]).is_none());
    }

    /// One chunk of a PNG: type and data, after checking its CRC.
    pub(crate) fn chunks(png: &[u8]) -> Vec<([u8; 4], Vec<u8>)> {
        assert_eq!(&png[..8], &SIGNATURE, "PNG signature");
        let mut rest = &png[8..];
        let mut out = Vec::new();
        while !rest.is_empty() {
            let len = u32::from_be_bytes(rest[..4].try_into().unwrap()) as usize;
            let kind: [u8; 4] = rest[4..8].try_into().unwrap();
            let data = rest[8..8 + len].to_vec();
            let crc = u32::from_be_bytes(rest[8 + len..12 + len].try_into().unwrap());
            let mut check = Crc32::new();
            check.update(&kind);
            check.update(&data);
            assert_eq!(
                check.finish(),
                crc,
                "CRC of {:?}",
                String::from_utf8_lossy(&kind)
            );
            out.push((kind, data));
            rest = &rest[12 + len..];
        }
        out
    }

    /// The gray pixels of a PNG this module wrote: (width, height, pixels).
    pub(crate) fn decode_gray8(png: &[u8]) -> (u32, u32, Vec<u8>) {
        let chunks = chunks(png);
        assert_eq!(&chunks[0].0, b"IHDR");
        let ihdr = &chunks[0].1;
        assert_eq!(ihdr.len(), 13);
        let width = u32::from_be_bytes(ihdr[0..4].try_into().unwrap());
        let height = u32::from_be_bytes(ihdr[4..8].try_into().unwrap());
        assert_eq!(&ihdr[8..], &[8, 0, 0, 0, 0], "8-bit gray, no interlace");
        assert_eq!(&chunks.last().unwrap().0, b"IEND");
        let zlib: Vec<u8> = chunks
            .iter()
            .filter(|(kind, _)| kind == b"IDAT")
            .flat_map(|(_, data)| data.clone())
            .collect();
        assert_eq!(
            u16::from_be_bytes([zlib[0], zlib[1]]) % 31,
            0,
            "zlib FCHECK"
        );
        let mut raw = Vec::new();
        let mut at = 2;
        loop {
            let header = zlib[at];
            assert_eq!(header & 0b110, 0, "stored block");
            let len = u16::from_le_bytes([zlib[at + 1], zlib[at + 2]]);
            let nlen = u16::from_le_bytes([zlib[at + 3], zlib[at + 4]]);
            assert_eq!(len, !nlen);
            raw.extend_from_slice(&zlib[at + 5..at + 5 + usize::from(len)]);
            at += 5 + usize::from(len);
            if header & 1 == 1 {
                break;
            }
        }
        assert_eq!(
            u32::from_be_bytes(zlib[at..at + 4].try_into().unwrap()),
            adler32(&raw)
        );
        assert_eq!(at + 4, zlib.len(), "nothing after the Adler-32");
        let row = width as usize + 1;
        assert_eq!(raw.len(), row * height as usize);
        let mut pixels = Vec::new();
        for line in raw.chunks(row) {
            assert_eq!(line[0], 0, "filter type none");
            pixels.extend_from_slice(&line[1..]);
        }
        (width, height, pixels)
    }

    #[test]
    fn a_large_image_spans_several_stored_blocks() {
        let width = 430u32;
        let pixels: Vec<u8> = (0..width * width).map(|i| (i % 251) as u8).collect();
        let png = encode_gray8(width, &pixels).unwrap();
        assert!(png.len() > 2 * STORED_BLOCK_MAX, "three stored blocks");
        assert_eq!(decode_gray8(&png), (width, width, pixels));
    }
}
