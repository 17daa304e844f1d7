//! A small blocking HTTP/1.1 client for the live sources: `GET` over a unix socket (Docker
//! Engine API), TCP (Loki over http) or TLS over TCP (Loki over https, [`Endpoint::Tls`]: rustls
//! with the trust roots of [`super::tls`]), one request per connection (`Connection: close`),
//! with chunked, `Content-Length` and read-to-EOF bodies.
//!
//! Why hand-written: the sources need only `GET` with a streamed body, and the engine speaks
//! plain HTTP on a unix socket; a full client (hyper, tokio) would dominate build time. TLS is
//! rustls' blocking `StreamOwned` over the `TcpStream`, so the rest of the client is the same
//! for every transport.
//!
//! # Invariants
//! * Never panics on any server bytes: malformed status lines, headers or chunk sizes are
//!   [`HttpError::Protocol`]; header blocks are capped at 64 KiB.
//! * Only this module (and its siblings in `source/`) opens sockets.
//! * Header values passed in (e.g. credentials) are never included in errors.
//! * TLS: the handshake (certificate verification) completes before the request is written, so
//!   credentials never reach a server whose certificate was refused ([`HttpError::Tls`]).

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

use rustls::pki_types::ServerName;
use rustls::{ClientConnection, StreamOwned};

use super::tls::{self, TlsConfig};

/// Where to connect.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// A unix socket path.
    Unix(PathBuf),
    /// `host:port` over TCP.
    Tcp(String),
    /// `host:port` over TCP with TLS; the certificate must be valid for `server_name` (a DNS
    /// name or an IP address, without brackets) and chain to a root of `config`.
    Tls {
        /// `host:port`.
        addr: String,
        /// The name checked against the certificate (SNI too, for DNS names).
        server_name: String,
        /// Trust roots and protocol settings.
        config: TlsConfig,
    },
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Endpoint::Unix(p) => write!(f, "unix://{}", p.display()),
            Endpoint::Tcp(a) => write!(f, "tcp://{a}"),
            Endpoint::Tls { addr, .. } => write!(f, "tls://{addr}"),
        }
    }
}

/// Failures talking HTTP.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// Could not connect.
    #[error("cannot connect to {endpoint}: {cause}")]
    Connect {
        /// The endpoint.
        endpoint: String,
        /// Cause (shown in the message; not an error `source`, so it is not printed twice).
        cause: io::Error,
    },
    /// I/O error after connecting (including read timeouts).
    #[error("{0}")]
    Io(#[from] io::Error),
    /// The server's bytes are not HTTP/1.x.
    #[error("malformed HTTP response: {0}")]
    Protocol(String),
    /// The TLS handshake failed (certificate not trusted, wrong name, not TLS …): not retried.
    #[error("TLS handshake with {endpoint} failed: {message}")]
    Tls {
        /// `host:port`.
        endpoint: String,
        /// What went wrong, in plain words ([`tls::explain`]).
        message: String,
    },
}

enum Conn {
    Unix(UnixStream),
    Tcp(TcpStream),
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Conn::Unix(s) => s.read(buf),
            Conn::Tcp(s) => s.read(buf),
            // A server that closes without close_notify: end of stream, as over plain TCP.
            // Truncation is still detected by the framing (Content-Length, chunks, frames).
            Conn::Tls(s) => match s.read(buf) {
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(0),
                r => r,
            },
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Conn::Unix(s) => s.write(buf),
            Conn::Tcp(s) => s.write(buf),
            Conn::Tls(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Conn::Unix(s) => s.flush(),
            Conn::Tcp(s) => s.flush(),
            Conn::Tls(s) => s.flush(),
        }
    }
}

/// A response whose body is read as it arrives.
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Headers, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Body,
}

impl Response {
    /// First header value named `name` (lower-case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Read the whole body (at most `cap` bytes; the rest is dropped).
    ///
    /// # Errors
    /// I/O and framing errors.
    pub fn text(mut self, cap: usize) -> Result<String, HttpError> {
        let mut buf = Vec::new();
        (&mut self.body).take(cap as u64).read_to_end(&mut buf)?;
        Ok(String::from_utf8_lossy(&buf).into_owned())
    }
}

enum Framing {
    Chunked { left: u64, done: bool },
    Length(u64),
    Eof,
}

/// A response body (de-chunked).
pub struct Body {
    conn: BufReader<Conn>,
    framing: Framing,
}

impl Body {
    /// Bytes already received and buffered (reading them will not block on the network). Over
    /// TLS, decrypted bytes still inside rustls are not counted (an underestimate).
    pub fn buffered(&self) -> usize {
        self.conn.buffer().len()
    }

    /// Write raw bytes to the connection (after a `101 Switching Protocols` upgrade, where the
    /// body is the connection's read side).
    ///
    /// # Errors
    /// I/O errors.
    pub fn write_raw(&mut self, data: &[u8]) -> io::Result<()> {
        let c = self.conn.get_mut();
        c.write_all(data)?;
        c.flush()
    }
}

impl Read for Body {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        match &mut self.framing {
            Framing::Eof => self.conn.read(buf),
            Framing::Length(left) => {
                if *left == 0 {
                    return Ok(0);
                }
                let want = buf.len().min(usize::try_from(*left).unwrap_or(usize::MAX));
                let n = self.conn.read(&mut buf[..want])?;
                if n == 0 {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "connection closed inside the body",
                    ));
                }
                *left -= n as u64;
                Ok(n)
            }
            Framing::Chunked { left, done } => {
                if *done {
                    return Ok(0);
                }
                if *left == 0 {
                    let size = read_chunk_size(&mut self.conn)?;
                    if size == 0 {
                        // Trailers until the empty line.
                        loop {
                            let mut line = Vec::new();
                            let n = (&mut self.conn).take(8192).read_until(b'\n', &mut line)?;
                            if n == 0 || line == b"\r\n" || line == b"\n" {
                                break;
                            }
                        }
                        *done = true;
                        return Ok(0);
                    }
                    *left = size;
                }
                let want = buf.len().min(usize::try_from(*left).unwrap_or(usize::MAX));
                let n = self.conn.read(&mut buf[..want])?;
                if n == 0 {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "connection closed inside a chunk",
                    ));
                }
                *left -= n as u64;
                if *left == 0 {
                    let mut crlf = [0u8; 2];
                    self.conn.read_exact(&mut crlf)?;
                    if &crlf != b"\r\n" {
                        return Err(io::Error::new(
                            io::ErrorKind::InvalidData,
                            "chunk not followed by CRLF",
                        ));
                    }
                }
                Ok(n)
            }
        }
    }
}

fn read_chunk_size(r: &mut BufReader<Conn>) -> io::Result<u64> {
    let mut line = Vec::new();
    let n = r.take(1024).read_until(b'\n', &mut line)?;
    if n == 0 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "connection closed before the last chunk",
        ));
    }
    let text = String::from_utf8_lossy(&line);
    let hex = text.trim().split(';').next().unwrap_or("").trim();
    u64::from_str_radix(hex, 16)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad chunk size"))
}

/// Percent-encode a query component (RFC 3986 unreserved kept).
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `GET target` (path + query) with extra headers. `timeout` bounds connecting and each read
/// (`None`: reads may block forever, for followed streams). `Connection: close` is sent unless
/// `headers` has a `Connection` header of its own (a WebSocket upgrade).
///
/// # Errors
/// Connection, I/O and protocol errors. Non-2xx statuses are *not* errors: check `status`.
pub fn get(
    endpoint: &Endpoint,
    host_header: &str,
    target: &str,
    headers: &[(&str, &str)],
    timeout: Option<Duration>,
) -> Result<Response, HttpError> {
    let connect_err = |cause| HttpError::Connect {
        endpoint: endpoint.to_string(),
        cause,
    };
    let mut conn = match endpoint {
        Endpoint::Unix(p) => {
            let s = UnixStream::connect(p).map_err(connect_err)?;
            s.set_read_timeout(timeout)?;
            if timeout.is_none()
                && let Ok(c) = s.try_clone()
            {
                super::live::register_socket(super::live::Socket::Unix(c));
            }
            Conn::Unix(s)
        }
        Endpoint::Tcp(a) => Conn::Tcp(tcp_connect(a, timeout).map_err(connect_err)?),
        Endpoint::Tls {
            addr,
            server_name,
            config,
        } => {
            let tls_err = |message: String| HttpError::Tls {
                endpoint: addr.clone(),
                message,
            };
            let name = ServerName::try_from(server_name.clone())
                .map_err(|e| tls_err(format!("{server_name:?} is not a valid server name: {e}")))?;
            let mut sock = tcp_connect(addr, timeout).map_err(connect_err)?;
            let mut c = ClientConnection::new(config.config.clone(), name)
                .map_err(|e| tls_err(e.to_string()))?;
            // Handshake (and verify the certificate) before any request byte is sent.
            while c.is_handshaking() {
                if let Err(e) = c.complete_io(&mut sock) {
                    return Err(
                        match e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
                            Some(te) => tls_err(tls::explain(te, config)),
                            None => HttpError::Io(e),
                        },
                    );
                }
            }
            Conn::Tls(Box::new(StreamOwned::new(c, sock)))
        }
    };
    let mut req = format!(
        "GET {target} HTTP/1.1\r\nHost: {host_header}\r\nUser-Agent: logsleuth/{}\r\n",
        env!("CARGO_PKG_VERSION")
    );
    if !headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("connection"))
    {
        req.push_str("Connection: close\r\n");
    }
    for (k, v) in headers {
        req.push_str(k);
        req.push_str(": ");
        req.push_str(v);
        req.push_str("\r\n");
    }
    req.push_str("\r\n");
    conn.write_all(req.as_bytes())?;
    conn.flush()?;
    let mut r = BufReader::with_capacity(64 * 1024, conn);
    let (status, headers) = read_head(&mut r)?;
    let find = |n: &str| headers.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
    let framing =
        if find("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked")) {
            Framing::Chunked {
                left: 0,
                done: false,
            }
        } else if let Some(len) = find("content-length") {
            Framing::Length(
                len.trim()
                    .parse()
                    .map_err(|_| HttpError::Protocol("bad Content-Length".into()))?,
            )
        } else if status == 204 || status == 304 {
            Framing::Length(0)
        } else {
            Framing::Eof
        };
    Ok(Response {
        status,
        headers,
        body: Body { conn: r, framing },
    })
}

/// Connect (within `timeout` if given) and set the read timeout; with no timeout (a followed
/// stream) the socket is registered with [`super::live`] so a stop request ends blocked reads.
fn tcp_connect(addr: &str, timeout: Option<Duration>) -> io::Result<TcpStream> {
    let s = match timeout {
        Some(t) => {
            use std::net::ToSocketAddrs;
            let a = addr
                .to_socket_addrs()?
                .next()
                .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no address for host"))?;
            TcpStream::connect_timeout(&a, t)?
        }
        None => TcpStream::connect(addr)?,
    };
    s.set_read_timeout(timeout)?;
    let _ = s.set_nodelay(true);
    if timeout.is_none()
        && let Ok(c) = s.try_clone()
    {
        super::live::register_socket(super::live::Socket::Tcp(c));
    }
    Ok(s)
}

type Head = (u16, Vec<(String, String)>);

fn read_head(r: &mut BufReader<Conn>) -> Result<Head, HttpError> {
    let mut total = 0usize;
    let mut line = Vec::new();
    let mut next_line = |r: &mut BufReader<Conn>, line: &mut Vec<u8>| -> Result<(), HttpError> {
        line.clear();
        let n = r.take(16 * 1024).read_until(b'\n', line)?;
        total += n;
        if n == 0 {
            return Err(HttpError::Protocol(
                "connection closed before the headers".into(),
            ));
        }
        if total > 64 * 1024 {
            return Err(HttpError::Protocol("header block too large".into()));
        }
        while line.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
            line.pop();
        }
        Ok(())
    };
    loop {
        next_line(r, &mut line)?;
        let text = String::from_utf8_lossy(&line).into_owned();
        let mut parts = text.splitn(3, ' ');
        let version = parts.next().unwrap_or("");
        if !version.starts_with("HTTP/1.") {
            return Err(HttpError::Protocol(format!("bad status line {text:?}")));
        }
        let status: u16 = parts
            .next()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| HttpError::Protocol(format!("bad status line {text:?}")))?;
        let mut headers = Vec::new();
        loop {
            next_line(r, &mut line)?;
            if line.is_empty() {
                break;
            }
            let text = String::from_utf8_lossy(&line);
            if let Some((k, v)) = text.split_once(':') {
                headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
            }
        }
        // 1xx interim responses are skipped.
        if (100..200).contains(&status) && status != 101 {
            continue;
        }
        return Ok((status, headers));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    fn serve_once(resp: &'static [u8]) -> String {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            s.write_all(resp).unwrap();
        });
        addr
    }

    #[test]
    fn chunked_body_is_decoded() {
        let addr = serve_once(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;x=y\r\n world\r\n0\r\n\r\n",
        );
        let r = get(
            &Endpoint::Tcp(addr),
            "h",
            "/",
            &[],
            Some(Duration::from_secs(5)),
        )
        .unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.text(100).unwrap(), "hello world");
    }

    #[test]
    fn content_length_and_garbage() {
        let addr = serve_once(b"HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n\r\nabcdef");
        let r = get(
            &Endpoint::Tcp(addr),
            "h",
            "/",
            &[],
            Some(Duration::from_secs(5)),
        )
        .unwrap();
        assert_eq!(r.status, 404);
        assert_eq!(r.text(100).unwrap(), "abc");
        let addr = serve_once(b"garbage\r\n\r\n");
        assert!(matches!(
            get(
                &Endpoint::Tcp(addr),
                "h",
                "/",
                &[],
                Some(Duration::from_secs(5))
            ),
            Err(HttpError::Protocol(_))
        ));
        let addr = serve_once(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n");
        let r = get(
            &Endpoint::Tcp(addr),
            "h",
            "/",
            &[],
            Some(Duration::from_secs(5)),
        )
        .unwrap();
        assert!(r.text(100).is_err());
    }

    #[test]
    fn encodes_query() {
        assert_eq!(encode("app=web x/{}"), "app%3Dweb%20x%2F%7B%7D");
    }
}
