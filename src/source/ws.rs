//! A minimal RFC 6455 WebSocket client over [`super::http`], enough for Loki's
//! `/loki/api/v1/tail`: the opening handshake (with `Sec-WebSocket-Accept` checked), text and
//! binary messages (fragmented or not), ping → pong, and the close handshake. No extensions.
//! `wss://` is this same client over an [`Endpoint::Tls`] (TLS is entirely in `http`).
//!
//! Why hand-written: the tail endpoint needs only receiving text messages; a WebSocket crate
//! pulls in an HTTP stack, SHA-1, base64 and random crates for what is ~250 lines here.
//!
//! # Invariants
//! * Never panics on any server bytes: bad frames are [`WsError::Protocol`]; a message larger
//!   than [`MAX_MESSAGE`] is an error, not an allocation.
//! * Every client frame is masked (RFC 6455 §5.3); the server's frames must not be.
//! * Header values passed in (credentials) never appear in errors.

use std::io::{self, Read};
use std::time::{SystemTime, UNIX_EPOCH};

use super::http::{self, Endpoint, HttpError};

/// Largest message accepted.
pub const MAX_MESSAGE: usize = 64 << 20;
const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// WebSocket failures.
#[derive(Debug, thiserror::Error)]
pub enum WsError {
    /// Transport failure (connect, read, write).
    #[error(transparent)]
    Http(#[from] HttpError),
    /// The server answered the upgrade with a normal HTTP response (e.g. 400 with a message).
    #[error("HTTP {status}: {body}")]
    Refused {
        /// Status code.
        status: u16,
        /// The response body (trimmed, at most 64 KiB).
        body: String,
    },
    /// The server broke the protocol.
    #[error("websocket: {0}")]
    Protocol(String),
}

impl From<io::Error> for WsError {
    fn from(e: io::Error) -> Self {
        WsError::Http(HttpError::Io(e))
    }
}

/// An open client connection.
pub struct WebSocket {
    body: http::Body,
    rng: u64,
    closed: bool,
}

/// `Sec-WebSocket-Accept` for a key (RFC 6455 §4.2.2).
pub fn accept_key(key: &str) -> String {
    let mut s = key.as_bytes().to_vec();
    s.extend_from_slice(GUID.as_bytes());
    base64(&sha1(&s))
}

fn seed() -> u64 {
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mut x = t ^ (u64::from(std::process::id()) << 32) ^ 0x9e37_79b9_7f4a_7c15;
    // splitmix64 once, so nearby seeds differ everywhere.
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    (x ^ (x >> 31)) | 1
}

fn next(rng: &mut u64) -> u64 {
    // xorshift64: masking keys need only be unpredictable to intermediaries, not secret.
    *rng ^= *rng << 13;
    *rng ^= *rng >> 7;
    *rng ^= *rng << 17;
    *rng
}

impl WebSocket {
    /// Open `target` (path + query) on `endpoint` as a WebSocket; `headers` are sent with the
    /// upgrade request (auth). Reads block without timeout; the socket is registered with
    /// [`super::live`] so a stop request ends them.
    ///
    /// # Errors
    /// Connection errors, a non-101 answer ([`WsError::Refused`]), a wrong accept key.
    pub fn connect(
        endpoint: &Endpoint,
        host_header: &str,
        target: &str,
        headers: &[(&str, &str)],
    ) -> Result<WebSocket, WsError> {
        let mut rng = seed();
        let mut raw = [0u8; 16];
        raw[..8].copy_from_slice(&next(&mut rng).to_le_bytes());
        raw[8..].copy_from_slice(&next(&mut rng).to_le_bytes());
        let key = base64(&raw);
        let mut all: Vec<(&str, &str)> = vec![
            ("Connection", "Upgrade"),
            ("Upgrade", "websocket"),
            ("Sec-WebSocket-Version", "13"),
            ("Sec-WebSocket-Key", &key),
        ];
        all.extend_from_slice(headers);
        let r = http::get(endpoint, host_header, target, &all, None)?;
        if r.status != 101 {
            let status = r.status;
            let body = r.text(64 * 1024).unwrap_or_default().trim().to_string();
            return Err(WsError::Refused { status, body });
        }
        let upgrade_ok = r
            .header("upgrade")
            .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
        if !upgrade_ok {
            return Err(WsError::Protocol("101 without Upgrade: websocket".into()));
        }
        if r.header("sec-websocket-accept") != Some(accept_key(&key).as_str()) {
            return Err(WsError::Protocol("wrong Sec-WebSocket-Accept".into()));
        }
        Ok(WebSocket {
            body: r.body,
            rng,
            closed: false,
        })
    }

    /// Send one masked frame.
    fn send(&mut self, opcode: u8, payload: &[u8]) -> io::Result<()> {
        let mut f = Vec::with_capacity(payload.len() + 14);
        f.push(0x80 | opcode);
        let n = payload.len();
        if n < 126 {
            f.push(0x80 | n as u8);
        } else if n <= 0xffff {
            f.push(0x80 | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        } else {
            f.push(0x80 | 127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
        let mask = (next(&mut self.rng) as u32).to_be_bytes();
        f.extend_from_slice(&mask);
        f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        self.body.write_raw(&f)
    }

    /// Send a close frame (best effort) and stop reading.
    pub fn close(&mut self) {
        if !self.closed {
            self.closed = true;
            let _ = self.send(0x8, &1000u16.to_be_bytes());
        }
    }

    /// The next text or binary message; `None` once the server closed the connection (close
    /// frame or end of stream between messages).
    ///
    /// # Errors
    /// I/O errors, protocol violations, messages over [`MAX_MESSAGE`].
    pub fn next_message(&mut self) -> Result<Option<Vec<u8>>, WsError> {
        let mut message: Vec<u8> = Vec::new();
        let mut in_fragments = false;
        loop {
            if self.closed {
                return Ok(None);
            }
            let mut head = [0u8; 2];
            match read_full(&mut self.body, &mut head)? {
                0 if !in_fragments => return Ok(None),
                2 => {}
                _ => return Err(WsError::Protocol("connection closed inside a frame".into())),
            }
            let fin = head[0] & 0x80 != 0;
            if head[0] & 0x70 != 0 {
                return Err(WsError::Protocol("reserved bits set".into()));
            }
            let opcode = head[0] & 0x0f;
            if head[1] & 0x80 != 0 {
                return Err(WsError::Protocol("masked frame from the server".into()));
            }
            let len = match head[1] & 0x7f {
                126 => {
                    let mut b = [0u8; 2];
                    self.exact(&mut b)?;
                    u64::from(u16::from_be_bytes(b))
                }
                127 => {
                    let mut b = [0u8; 8];
                    self.exact(&mut b)?;
                    u64::from_be_bytes(b)
                }
                n => u64::from(n),
            };
            let len = usize::try_from(len).unwrap_or(usize::MAX);
            if opcode >= 0x8 && (len > 125 || !fin) {
                return Err(WsError::Protocol("bad control frame".into()));
            }
            if message.len().saturating_add(len) > MAX_MESSAGE {
                return Err(WsError::Protocol(format!(
                    "message larger than {MAX_MESSAGE} bytes"
                )));
            }
            let mut payload = vec![0u8; len];
            self.exact(&mut payload)?;
            match opcode {
                0x0 if in_fragments => {
                    message.extend_from_slice(&payload);
                    if fin {
                        return Ok(Some(message));
                    }
                }
                0x1 | 0x2 if !in_fragments => {
                    if fin {
                        return Ok(Some(payload));
                    }
                    message = payload;
                    in_fragments = true;
                }
                0x8 => {
                    self.close();
                    return Ok(None);
                }
                0x9 => self.send(0xA, &payload)?,
                0xA => {}
                op => {
                    return Err(WsError::Protocol(format!("unexpected opcode {op:#x}")));
                }
            }
        }
    }

    fn exact(&mut self, buf: &mut [u8]) -> Result<(), WsError> {
        if read_full(&mut self.body, buf)? != buf.len() {
            return Err(WsError::Protocol("connection closed inside a frame".into()));
        }
        Ok(())
    }
}

impl Drop for WebSocket {
    fn drop(&mut self) {
        self.close();
    }
}

/// Read until `buf` is full or the stream ends; returns the bytes read.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// Standard base64 with padding (RFC 4648 §4).
pub fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for c in data.chunks(3) {
        let b = [c[0], *c.get(1).unwrap_or(&0), *c.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= c.len() {
                out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// SHA-1 (FIPS 180-4), for the handshake only.
pub fn sha1(data: &[u8]) -> [u8; 20] {
    let mut h: [u32; 5] = [
        0x6745_2301,
        0xEFCD_AB89,
        0x98BA_DCFE,
        0x1032_5476,
        0xC3D2_E1F0,
    ];
    let mut msg = data.to_vec();
    let bits = (data.len() as u64).wrapping_mul(8);
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&bits.to_be_bytes());
    for block in msg.chunks_exact(64) {
        let mut w = [0u32; 80];
        for (i, c) in block.chunks_exact(4).enumerate() {
            w[i] = u32::from_be_bytes([c[0], c[1], c[2], c[3]]);
        }
        for i in 16..80 {
            w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
        }
        let [mut a, mut b, mut c, mut d, mut e] = h;
        for (i, wi) in w.iter().enumerate() {
            let (f, k) = match i {
                0..=19 => ((b & c) | (!b & d), 0x5A82_7999),
                20..=39 => (b ^ c ^ d, 0x6ED9_EBA1),
                40..=59 => ((b & c) | (b & d) | (c & d), 0x8F1B_BCDC),
                _ => (b ^ c ^ d, 0xCA62_C1D6),
            };
            let t = a
                .rotate_left(5)
                .wrapping_add(f)
                .wrapping_add(e)
                .wrapping_add(k)
                .wrapping_add(*wi);
            e = d;
            d = c;
            c = b.rotate_left(30);
            b = a;
            a = t;
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d, e]) {
            *x = x.wrapping_add(y);
        }
    }
    let mut out = [0u8; 20];
    for (i, x) in h.iter().enumerate() {
        out[i * 4..i * 4 + 4].copy_from_slice(&x.to_be_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6455_accept_example() {
        // RFC 6455 §1.3.
        assert_eq!(
            accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn sha1_and_base64_vectors() {
        let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        assert_eq!(
            hex(&sha1(b"abc")),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        assert_eq!(hex(&sha1(b"")), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
        assert_eq!(
            hex(&sha1(&[b'a'; 1000])),
            "291e9a6c66994949b57ba5e650361e98fc36b1ba"
        );
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64(b"user:pa:ss"), "dXNlcjpwYTpzcw==");
    }
}
