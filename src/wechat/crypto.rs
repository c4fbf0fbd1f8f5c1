//! The WXBizMsgCrypt codec of compatible and safe mode callbacks (wechat-protocol.md §6).
//!
//! Plaintext layout: `random(16) | msg_len (u32 BE) | msg | appid`, PKCS#7-padded to 32-byte
//! blocks, AES-256-CBC with `IV = key[..16]`, Base64 (standard alphabet, padded).

use aes::cipher::{block_padding::NoPadding, BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::Engine;

type Aes256CbcEnc = cbc::Encryptor<aes::Aes256>;
type Aes256CbcDec = cbc::Decryptor<aes::Aes256>;

/// Length of an EncodingAESKey as the admin console shows it.
pub const ENCODING_AES_KEY_LEN: usize = 43;

/// The block size of the message padding: 32, not AES's 16 (§6.3).
const PAD_BLOCK: usize = 32;
const RANDOM_LEN: usize = 16;
const HEADER_LEN: usize = RANDOM_LEN + 4;

/// 43 Base64 characters carry 258 bits; Tencent's keys often have non-zero bits in the two that
/// are dropped, which the strict engine rejects (`InvalidLastSymbol`, §6.1, pitfall 6).
const KEY_ENGINE: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
);

/// Why a message could not be encrypted or decrypted. Messages never contain key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// The EncodingAESKey is not 43 characters of `[A-Za-z0-9]` (Tencent code -40004).
    #[error("EncodingAESKey must be 43 characters of [A-Za-z0-9]")]
    InvalidKey,
    /// `Encrypt` is not valid Base64 (-40010).
    #[error("ciphertext is not valid base64")]
    Base64,
    /// The ciphertext is empty or not a whole number of 32-byte blocks.
    #[error("ciphertext length {0} is not a positive multiple of 32")]
    CiphertextLength(usize),
    /// PKCS#7 padding is malformed: usually a wrong EncodingAESKey (-40007, pitfall 5).
    #[error("bad padding (wrong EncodingAESKey?)")]
    BadPadding,
    /// The plaintext is too short or its length field points past the end (-40008).
    #[error("message length field out of range")]
    BadLength,
    /// The appid trailer is not ours: another app, or a tampered length field (-40005).
    #[error("appid in the message does not match")]
    AppIdMismatch,
    /// The message is not UTF-8.
    #[error("message is not valid UTF-8")]
    NotUtf8,
}

/// Encrypts and decrypts messages for one app. Its `Debug` output never shows the key.
#[derive(Clone)]
pub struct MsgCrypt {
    key: [u8; 32],
    app_id: String,
}

impl std::fmt::Debug for MsgCrypt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MsgCrypt")
            .field("key", &"***")
            .field("app_id", &self.app_id)
            .finish()
    }
}

impl MsgCrypt {
    /// Builds the codec from the 43-character EncodingAESKey and the appid that every message
    /// must carry in its trailer. Fails with [`CryptoError::InvalidKey`] on any other key shape.
    pub fn new(encoding_aes_key: &str, app_id: &str) -> Result<Self, CryptoError> {
        Ok(MsgCrypt {
            key: decode_key(encoding_aes_key)?,
            app_id: app_id.to_owned(),
        })
    }

    /// The appid this codec writes and requires.
    pub fn app_id(&self) -> &str {
        &self.app_id
    }

    /// Encrypts `msg` into the Base64 `Encrypt` value. `random` is the 16-byte prefix; callers
    /// pass fresh random bytes (tests pass fixed ones to reproduce published vectors).
    pub fn encrypt(&self, msg: &str, random: &[u8; 16]) -> String {
        let msg = msg.as_bytes();
        let unpadded = HEADER_LEN + msg.len() + self.app_id.len();
        let pad = PAD_BLOCK - unpadded % PAD_BLOCK;
        let mut buf = Vec::with_capacity(unpadded + pad);
        buf.extend_from_slice(random);
        // WeChat messages are kilobytes; a message of 4 GiB cannot reach this point.
        buf.extend_from_slice(&u32::try_from(msg.len()).unwrap_or(u32::MAX).to_be_bytes());
        buf.extend_from_slice(msg);
        buf.extend_from_slice(self.app_id.as_bytes());
        // `pad` is in 1..=32, so the cast is lossless.
        buf.resize(unpadded + pad, pad as u8);
        let cipher = Aes256CbcEnc::new(&self.key.into(), &self.iv().into());
        // The buffer is block-aligned by construction, so no cipher-level padding is needed.
        STANDARD.encode(cipher.encrypt_padded_vec_mut::<NoPadding>(&buf))
    }

    /// Decrypts an `Encrypt` value and returns the message, after checking the padding, the
    /// length field and that the appid trailer equals ours.
    ///
    /// Call this only on ciphertext whose `msg_signature` has been verified: the error kinds
    /// distinguish padding from length failures, which would be a padding oracle otherwise.
    pub fn decrypt(&self, encrypt: &str) -> Result<String, CryptoError> {
        let ciphertext = STANDARD
            .decode(encrypt.trim())
            .map_err(|_| CryptoError::Base64)?;
        if ciphertext.is_empty() || ciphertext.len() % PAD_BLOCK != 0 {
            return Err(CryptoError::CiphertextLength(ciphertext.len()));
        }
        let cipher = Aes256CbcDec::new(&self.key.into(), &self.iv().into());
        let plain = cipher
            .decrypt_padded_vec_mut::<NoPadding>(&ciphertext)
            .map_err(|_| CryptoError::CiphertextLength(ciphertext.len()))?;
        let body = strip_padding(&plain)?;
        if body.len() < HEADER_LEN {
            return Err(CryptoError::BadLength);
        }
        let mut len_bytes = [0u8; 4];
        len_bytes.copy_from_slice(&body[RANDOM_LEN..HEADER_LEN]);
        let msg_len =
            usize::try_from(u32::from_be_bytes(len_bytes)).map_err(|_| CryptoError::BadLength)?;
        let msg_end = HEADER_LEN
            .checked_add(msg_len)
            .filter(|end| *end <= body.len())
            .ok_or(CryptoError::BadLength)?;
        // The appid is public configuration, so a plain comparison is fine here.
        if &body[msg_end..] != self.app_id.as_bytes() {
            return Err(CryptoError::AppIdMismatch);
        }
        String::from_utf8(body[HEADER_LEN..msg_end].to_vec()).map_err(|_| CryptoError::NotUtf8)
    }

    fn iv(&self) -> [u8; 16] {
        let mut iv = [0u8; 16];
        iv.copy_from_slice(&self.key[..16]);
        iv
    }
}

/// Checks the shape of an EncodingAESKey and decodes it into the 32-byte AES key.
pub fn decode_key(encoding_aes_key: &str) -> Result<[u8; 32], CryptoError> {
    if encoding_aes_key.len() != ENCODING_AES_KEY_LEN
        || !encoding_aes_key.bytes().all(|b| b.is_ascii_alphanumeric())
    {
        return Err(CryptoError::InvalidKey);
    }
    let mut padded = String::with_capacity(ENCODING_AES_KEY_LEN + 1);
    padded.push_str(encoding_aes_key);
    padded.push('=');
    let bytes = KEY_ENGINE
        .decode(padded)
        .map_err(|_| CryptoError::InvalidKey)?;
    <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| CryptoError::InvalidKey)
}

/// Strict PKCS#7 with 32-byte blocks: the last byte `k` is in 1..=32 and the last `k` bytes all
/// equal `k` (Tencent's samples accept out-of-range `k` as "no padding"; we do not, §6.3).
fn strip_padding(plain: &[u8]) -> Result<&[u8], CryptoError> {
    let k = usize::from(*plain.last().ok_or(CryptoError::BadPadding)?);
    if k == 0 || k > PAD_BLOCK || k > plain.len() {
        return Err(CryptoError::BadPadding);
    }
    let (body, padding) = plain.split_at(plain.len() - k);
    if padding.iter().any(|b| usize::from(*b) != k) {
        return Err(CryptoError::BadPadding);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    // --- Vector D: official "消息推送" worked example (wechat-protocol.md §6.8),
    // developers.weixin.qq.com/miniprogram/dev/framework/server-ability/message-push.html.
    const D_KEY: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    const D_APPID: &str = "wxba5fad812f8e6fb9";
    const D3_ENCRYPT: &str = "+qdx1OKCy+5JPCBFWw70tm0fJGb2Jmeia4FCB7kao+/Q5c/ohsOzQHi8khUOb05JCpj0JB4RvQMkUyus8TPxLKJGQqcvZqzDpVzazhZv6JsXUnnR8XGT740XgXZUXQ7vJVnAG+tE8NUd4yFyjPy7GgiaviNrlCTj+l5kdfMuFUPpRSrfMZuMcp3Fn2Pede2IuQrKEYwKSqFIZoNqJ4M8EajAsjLY2km32IIjdf8YL/P50F7mStwntrA2cPDrM1kb6mOcfBgRtWygb3VIYnSeOBrebufAlr7F9mFUPAJGj04=";
    const D3_MSG: &str = r#"{"ToUserName":"gh_97417a04a28d","FromUserName":"o9AgO5Kd5ggOC-bXrbNODIiE3bGY","CreateTime":1714112445,"MsgType":"event","Event":"debug_demo","debug_str":"hello world"}"#;

    #[test]
    fn vector_d_key_is_32_zero_bytes() {
        assert_eq!(decode_key(D_KEY).unwrap(), [0u8; 32]);
    }

    #[test]
    fn vector_d3_decrypt() {
        let crypt = MsgCrypt::new(D_KEY, D_APPID).unwrap();
        assert_eq!(crypt.decrypt(D3_ENCRYPT).unwrap(), D3_MSG);
    }

    #[test]
    fn vector_d3_encrypt_with_published_random() {
        let crypt = MsgCrypt::new(D_KEY, D_APPID).unwrap();
        assert_eq!(crypt.encrypt(D3_MSG, b"a8eedb185eb2fecf"), D3_ENCRYPT);
    }

    #[test]
    fn vector_d4_encrypted_reply() {
        let crypt = MsgCrypt::new(D_KEY, D_APPID).unwrap();
        let encrypt = crypt.encrypt(r#"{"demo_resp":"good luck"}"#, b"707722b803182950");
        assert_eq!(
            encrypt,
            "ELGduP2YcVatjqIS+eZbp80MNLoAUWvzzyJxgGzxZO/5sAvd070Bs6qrLARC9nVHm48Y4hyRbtzve1L32tmxSQ=="
        );
        assert_eq!(
            crypt.decrypt(&encrypt).unwrap(),
            r#"{"demo_resp":"good luck"}"#
        );
    }

    // --- Vector B: binarywang/WxJava WxCryptUtilTest.java (= Tencent Java sample
    // WXBizMsgCryptTest). Its key ends in 'G': non-zero trailing bits.
    const B_KEY: &str = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG";
    const B_APPID: &str = "wxb11529c136998cb6";

    #[test]
    fn vector_b_key_needs_lenient_trailing_bits() {
        let strict = STANDARD.decode(format!("{B_KEY}="));
        assert!(strict.is_err(), "the strict engine must reject this key");
        assert!(decode_key(B_KEY).is_ok());
    }

    #[test]
    fn vector_b1_encrypt_and_back() {
        let crypt = MsgCrypt::new(B_KEY, B_APPID).unwrap();
        let encrypt = crypt.encrypt("我是中文abcd123", b"aaaabbbbccccdddd");
        assert_eq!(
            encrypt,
            "jn1L23DB+6ELqJ+6bruv21Y6MD7KeIfP82D6gU39rmkgczbWwt5+3bnyg5K55bgVtVzd832WzZGMhkP72vVOfg=="
        );
        assert_eq!(crypt.decrypt(&encrypt).unwrap(), "我是中文abcd123");
    }

    #[test]
    fn vector_b2_encrypt_xml() {
        let msg = "<xml><ToUserName><![CDATA[oia2Tj我是中文jewbmiOUlr6X-1crbLOvLw]]></ToUserName><FromUserName><![CDATA[gh_7f083739789a]]></FromUserName><CreateTime>1407743423</CreateTime><MsgType><![CDATA[video]]></MsgType><Video><MediaId><![CDATA[eYJ1MbwPRJtOvIEabaxHs7TX2D-HV71s79GUxqdUkjm6Gs2Ed1KF3ulAOA9H1xG0]]></MediaId><Title><![CDATA[testCallBackReplyVideo]]></Title><Description><![CDATA[testCallBackReplyVideo]]></Description></Video></xml>";
        let expected = "jn1L23DB+6ELqJ+6bruv23M2GmYfkv0xBh2h+XTBOKVKcgDFHle6gqcZ1cZrk3e1qjPQ1F4RsLWzQRG9udbKWesxlkupqcEcW7ZQweImX9+wLMa0GaUzpkycA8+IamDBxn5loLgZpnS7fVAbExOkK5DYHBmv5tptA9tklE/fTIILHR8HLXa5nQvFb3tYPKAlHF3rtTeayNf0QuM+UW/wM9enGIDIJHF7CLHiDNAYxr+r+OrJCmPQyTy8cVWlu9iSvOHPT/77bZqJucQHQ04sq7KZI27OcqpQNSto2OdHCoTccjggX5Z9Mma0nMJBU+jLKJ38YB1fBIz+vBzsYjrTmFQ44YfeEuZ+xRTQwr92vhA9OxchWVINGC50qE/6lmkwWTwGX9wtQpsJKhP+oS7rvTY8+VdzETdfakjkwQ5/Xka042OlUb1/slTwo4RscuQ+RdxSGvDahxAJ6+EAjLt9d8igHngxIbf6YyqqROxuxqIeIch3CssH/LqRs+iAcILvApYZckqmA7FNERspKA5f8GoJ9sv8xmGvZ9Yrf57cExWtnX8aCMMaBropU/1k+hKP5LVdzbWCG0hGwx/dQudYR/eXp3P0XxjlFiy+9DMlaFExWUZQDajPkdPrEeOwofJb";
        let crypt = MsgCrypt::new(B_KEY, B_APPID).unwrap();
        assert_eq!(crypt.encrypt(msg, b"aaaabbbbccccdddd"), expected);
        assert_eq!(crypt.decrypt(expected).unwrap(), msg);
    }

    // --- Vector C: wechatpy tests/test_crypto.py (WeCom flavour: the corp id sits in the
    // appid slot; the algorithm is identical). Its key ends in 'R': non-zero trailing bits.
    const C_KEY: &str = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR";
    const C_ID: &str = "wx49f0ab532d5d035a";

    #[test]
    fn vector_c1_echostr() {
        let crypt = MsgCrypt::new(C_KEY, C_ID).unwrap();
        let echostr = "4ByGGj+sVCYcvGeQYhaKIk1o0pQRNbRjxybjTGblXrBaXlTXeOo1+bXFXDQQb1o6co6Yh9Bv41n7hOchLF6p+Q==";
        assert_eq!(crypt.decrypt(echostr).unwrap(), "5927782489442352469");
    }

    #[test]
    fn vector_c2_decrypt_padding_of_one() {
        let crypt = MsgCrypt::new(C_KEY, C_ID).unwrap();
        let encrypt = "RgqEoJj5A4EMYlLvWO1F86ioRjZfaex/gePD0gOXTxpsq5Yj4GNglrBb8I2BAJVODGajiFnXBu7mCPatfjsu6IHCrsTyeDXzF6Bv283dGymzxh6ydJRvZsryDyZbLTE7rhnus50qGPMfp2wASFlzEgMW9z1ef/RD8XzaFYgm7iTdaXpXaG4+BiYyolBug/gYNx410cvkKR2/nPwBiT+P4hIiOAQqGp/TywZBtDh1yCF2KOd0gpiMZ5jSw3e29mTvmUHzkVQiMS6td7vXUaWOMZnYZlF3So2SjHnwh4jYFxdgpkHHqIrH/54SNdshoQgWYEvccTKe7FS709/5t6NMxuGhcUGAPOQipvWTT4dShyqio7mlsl5noTrb++x6En749zCpQVhDpbV6GDnTbcX2e8K9QaNWHp91eBdCRxthuL0=";
        assert_eq!(
            crypt.decrypt(encrypt).unwrap(),
            "<xml><ToUserName><![CDATA[wx49f0ab532d5d035a]]></ToUserName>\n<FromUserName><![CDATA[messense]]></FromUserName>\n<CreateTime>1411525903</CreateTime>\n<MsgType><![CDATA[text]]></MsgType>\n<Content><![CDATA[test]]></Content>\n<MsgId>4363689963896700987</MsgId>\n<AgentID>1</AgentID>\n</xml>"
        );
    }

    #[test]
    fn vector_c3_encrypt() {
        let crypt = MsgCrypt::new(C_KEY, C_ID).unwrap();
        let msg = "<xml>\n<MsgType><![CDATA[text]]></MsgType>\n<Content><![CDATA[test]]></Content>\n<FromUserName><![CDATA[wx49f0ab532d5d035a]]></FromUserName>\n<ToUserName><![CDATA[messense]]></ToUserName>\n<AgentID>1</AgentID>\n<CreateTime>1411525903</CreateTime>\n</xml>";
        assert_eq!(
            crypt.encrypt(msg, b"1234567890123456"),
            "9s4gMv99m88kKTh/H8IdkOiMg6bisoy3ypwy9H4hvSPe9nsGaqyw5hhSjdYbcrKk+j3nba4HMOTzHrluLBYqxgNcBqGsL8GqxlhZgURnAtObvesEl5nZ+uBE8bviY0LWke8Zy9V/QYKxNV2FqllNXcfmstttyIkMKCCmVbCFM2JTF5wY0nFhHZSjPUL2Q1qvSUCUld+/WIXrx0oyKQmpB6o8NRrrNrsDf03oxI1p9FxUgMnwKKZeOA/uu+2IEvEBtb7muXsVbwbgX05UPPJvFurDXafG0RQyPR+mf1nDnAtQmmNOuiR5MIkdQ39xn1vWwi1O5oazPoQJz0nTYjxxEE8kv3kFxtAGVRe3ypD3WeK2XeFYFMNMpatF9XiKzHo3"
        );
    }

    // --- Negative vectors N (wechat-protocol.md §6.8, derived from D).
    #[test]
    fn vector_n1_bad_padding() {
        let crypt = MsgCrypt::new(D_KEY, D_APPID).unwrap();
        let n1 = "+qdx1OKCy+5JPCBFWw70tm0fJGb2Jmeia4FCB7kao+/Q5c/ohsOzQHi8khUOb05JCpj0JB4RvQMkUyus8TPxLKJGQqcvZqzDpVzazhZv6JsXUnnR8XGT740XgXZUXQ7vJVnAG+tE8NUd4yFyjPy7GgiaviNrlCTj+l5kdfMuFUPpRSrfMZuMcp3Fn2Pede2IuQrKEYwKSqFIZoNqJ4M8EajAsjLY2km32IIjdf8YL/P50F7mStwntrA2cPDrM1kb6mOcfBgRtWygb3VIYnSeaxrebufAlr7F9mFUPAJGj04=";
        assert_eq!(crypt.decrypt(n1).unwrap_err(), CryptoError::BadPadding);
    }

    #[test]
    fn vector_n2_tampered_length_field() {
        let crypt = MsgCrypt::new(D_KEY, D_APPID).unwrap();
        let n2 = "+qdx1eKCy+5JPCBFWw70tm0fJGb2Jmeia4FCB7kao+/Q5c/ohsOzQHi8khUOb05JCpj0JB4RvQMkUyus8TPxLKJGQqcvZqzDpVzazhZv6JsXUnnR8XGT740XgXZUXQ7vJVnAG+tE8NUd4yFyjPy7GgiaviNrlCTj+l5kdfMuFUPpRSrfMZuMcp3Fn2Pede2IuQrKEYwKSqFIZoNqJ4M8EajAsjLY2km32IIjdf8YL/P50F7mStwntrA2cPDrM1kb6mOcfBgRtWygb3VIYnSeOBrebufAlr7F9mFUPAJGj04=";
        assert_eq!(crypt.decrypt(n2).unwrap_err(), CryptoError::AppIdMismatch);
    }

    #[test]
    fn vector_n4_wrong_appid() {
        let crypt = MsgCrypt::new(D_KEY, "wx0000000000000000").unwrap();
        assert_eq!(
            crypt.decrypt(D3_ENCRYPT).unwrap_err(),
            CryptoError::AppIdMismatch
        );
    }

    #[test]
    fn vector_n5_key_length_and_charset() {
        for key in [
            &D_KEY[..42],
            &format!("{D_KEY}A"),
            "",
            &format!("{}+", &D_KEY[..42]),
        ] {
            assert_eq!(
                MsgCrypt::new(key, D_APPID).unwrap_err(),
                CryptoError::InvalidKey
            );
        }
    }

    // --- Junk inputs, built with the D key.
    fn d() -> MsgCrypt {
        MsgCrypt::new(D_KEY, D_APPID).unwrap()
    }

    #[test]
    fn truncated_base64_is_rejected() {
        assert_eq!(
            d().decrypt(&D3_ENCRYPT[..50]).unwrap_err(),
            CryptoError::Base64
        );
        assert_eq!(d().decrypt("not base64!").unwrap_err(), CryptoError::Base64);
    }

    #[test]
    fn ciphertext_must_be_whole_32_byte_blocks() {
        assert_eq!(
            d().decrypt("").unwrap_err(),
            CryptoError::CiphertextLength(0)
        );
        let sixteen = STANDARD.encode([0u8; 16]);
        assert_eq!(
            d().decrypt(&sixteen).unwrap_err(),
            CryptoError::CiphertextLength(16)
        );
    }

    /// Encrypts raw plaintext bytes (already padded) so tests can forge malformed layouts.
    fn forge(plain: &[u8]) -> String {
        let cipher = Aes256CbcEnc::new(&[0u8; 32].into(), &[0u8; 16].into());
        STANDARD.encode(cipher.encrypt_padded_vec_mut::<NoPadding>(plain))
    }

    #[test]
    fn huge_length_field_is_rejected() {
        let mut plain = vec![b'r'; 16];
        plain.extend_from_slice(&u32::MAX.to_be_bytes());
        plain.extend_from_slice(b"<xml/>");
        plain.extend_from_slice(D_APPID.as_bytes());
        let pad = 32 - plain.len() % 32;
        plain.resize(plain.len() + pad, pad as u8);
        assert_eq!(
            d().decrypt(&forge(&plain)).unwrap_err(),
            CryptoError::BadLength
        );
    }

    #[test]
    fn short_plaintext_is_rejected() {
        // 32 bytes, of which 20 are padding: only 12 bytes of body, shorter than the header.
        let mut plain = vec![b'r'; 12];
        plain.resize(32, 20);
        assert_eq!(
            d().decrypt(&forge(&plain)).unwrap_err(),
            CryptoError::BadLength
        );
    }

    #[test]
    fn padding_values_out_of_range_are_rejected() {
        for last in [0u8, 33, 255] {
            let mut plain = vec![b'x'; 63];
            plain.push(last);
            assert_eq!(
                d().decrypt(&forge(&plain)).unwrap_err(),
                CryptoError::BadPadding
            );
        }
    }

    #[test]
    fn full_block_of_padding_round_trips() {
        // 16 + 4 + msg + 18-byte appid = 64 when msg is 26 bytes: a full 32-byte pad block.
        let msg = "abcdefghijklmnopqrstuvwxyz";
        let encrypt = d().encrypt(msg, &[7u8; 16]);
        assert_eq!(STANDARD.decode(&encrypt).unwrap().len(), 96);
        assert_eq!(d().decrypt(&encrypt).unwrap(), msg);
    }

    #[test]
    fn non_utf8_message_is_rejected() {
        let mut plain = vec![b'r'; 16];
        plain.extend_from_slice(&2u32.to_be_bytes());
        plain.extend_from_slice(&[0xff, 0xfe]);
        plain.extend_from_slice(D_APPID.as_bytes());
        let pad = 32 - plain.len() % 32;
        plain.resize(plain.len() + pad, pad as u8);
        assert_eq!(
            d().decrypt(&forge(&plain)).unwrap_err(),
            CryptoError::NotUtf8
        );
    }

    #[test]
    fn debug_hides_the_key() {
        let shown = format!("{:?}", MsgCrypt::new(B_KEY, B_APPID).unwrap());
        let key = format!("{:?}", decode_key(B_KEY).unwrap());
        assert!(shown.contains("***"));
        assert!(!shown.contains(&key[1..key.len() - 1]) && !shown.contains(B_KEY));
    }
}
