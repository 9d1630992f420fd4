//! The load generator's HTTP/1.1 client for plain `http://` servers. `writ bench authorize`
//! shares the machine with the server it measures, so each request should cost the client as
//! little as possible: the request bytes are built once, the connection is kept alive, and an
//! answer is read by its status line and `Content-Length` only. (`https://` servers are driven
//! through reqwest instead.)

use anyhow::{Context, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Most bytes of answer headers accepted.
const MAX_HEAD: usize = 16 * 1024;
/// Largest answer body accepted.
const MAX_BODY: usize = 1 << 20;

/// `host:port` of a plain `http://` base URL, or `None` for anything else.
pub fn plain_http_authority(base: &str) -> Option<String> {
    let rest = base.strip_prefix("http://")?;
    let authority = rest.split('/').next()?;
    if authority.is_empty() {
        return None;
    }
    Some(if authority.contains(':') {
        authority.to_owned()
    } else {
        format!("{authority}:80")
    })
}

/// The bytes of one request (`body` is sent with `Content-Type: application/json`).
pub fn request_bytes(
    method: &str,
    authority: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&[u8]>,
) -> Vec<u8> {
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {authority}\r\n");
    if let Some(t) = token {
        head.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    if let Some(b) = body {
        head.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            b.len()
        ));
    }
    head.push_str("\r\n");
    let mut out = head.into_bytes();
    if let Some(b) = body {
        out.extend_from_slice(b);
    }
    out
}

/// One kept-alive connection.
pub struct Conn {
    authority: String,
    stream: Option<TcpStream>,
    buf: Vec<u8>,
}

impl Conn {
    pub fn new(authority: &str) -> Conn {
        Conn {
            authority: authority.to_owned(),
            stream: None,
            buf: Vec::with_capacity(8192),
        }
    }

    /// Sends `request` and returns the answer's status and body. Any failure drops the
    /// connection (the next request opens a new one).
    pub async fn exchange(&mut self, request: &[u8]) -> anyhow::Result<(u16, Vec<u8>)> {
        let result = self.exchange_once(request).await;
        if result.is_err() {
            self.stream = None;
        }
        result
    }

    async fn exchange_once(&mut self, request: &[u8]) -> anyhow::Result<(u16, Vec<u8>)> {
        if self.stream.is_none() {
            let s = TcpStream::connect(&self.authority)
                .await
                .with_context(|| format!("cannot connect to {}", self.authority))?;
            s.set_nodelay(true)?;
            self.stream = Some(s);
        }
        let Some(stream) = self.stream.as_mut() else {
            bail!("no connection");
        };
        stream.write_all(request).await?;
        self.buf.clear();
        // Read until the end of the headers.
        let head_end = loop {
            if let Some(p) = find(&self.buf, b"\r\n\r\n") {
                break p + 4;
            }
            if self.buf.len() > MAX_HEAD {
                bail!("answer headers over {MAX_HEAD} bytes");
            }
            let mut chunk = [0u8; 8192];
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                bail!("the server closed the connection");
            }
            self.buf
                .extend_from_slice(chunk.get(..n).unwrap_or_default());
        };
        let head = std::str::from_utf8(self.buf.get(..head_end).unwrap_or_default())
            .context("answer headers are not UTF-8")?;
        let mut lines = head.split("\r\n");
        let status: u16 = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|s| s.parse().ok())
            .context("no status line")?;
        let mut length = None;
        for line in lines {
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse::<usize>().ok();
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                bail!("chunked answers are not supported by the load generator");
            }
        }
        let length = length.context("answer without Content-Length")?;
        if length > MAX_BODY {
            bail!("answer body of {length} bytes");
        }
        let mut body = self.buf.get(head_end..).unwrap_or_default().to_vec();
        if body.len() > length {
            bail!("more bytes than the answer's Content-Length");
        }
        let have = body.len();
        body.resize(length, 0);
        stream
            .read_exact(body.get_mut(have..).unwrap_or_default())
            .await?;
        Ok((status, body))
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorities_of_plain_http_only() {
        assert_eq!(
            plain_http_authority("http://127.0.0.1:8787").as_deref(),
            Some("127.0.0.1:8787")
        );
        assert_eq!(
            plain_http_authority("http://localhost/x").as_deref(),
            Some("localhost:80")
        );
        assert_eq!(plain_http_authority("https://127.0.0.1:8787"), None);
        assert_eq!(plain_http_authority("http://"), None);
    }

    #[tokio::test]
    async fn exchanges_requests_on_one_connection() {
        use tokio::io::AsyncBufReadExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let authority = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            let (s, _) = listener.accept().await.unwrap();
            let mut r = tokio::io::BufReader::new(s);
            for answer in ["{\"decision\":\"allow\"}", "{\"code\":\"x\"}"] {
                let mut len = 0;
                loop {
                    let mut line = String::new();
                    r.read_line(&mut line).await.unwrap();
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        len = v.trim().parse().unwrap();
                    }
                    if line == "\r\n" {
                        break;
                    }
                }
                let mut body = vec![0; len];
                r.read_exact(&mut body).await.unwrap();
                let status = if answer.contains("allow") {
                    "200 OK"
                } else {
                    "403 Forbidden"
                };
                let out = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{answer}",
                    answer.len()
                );
                r.get_mut().write_all(out.as_bytes()).await.unwrap();
            }
        });
        let mut c = Conn::new(&authority);
        let req = request_bytes("POST", &authority, "/v1/authorize", Some("t"), Some(b"{}"));
        let (st, body) = c.exchange(&req).await.unwrap();
        assert_eq!(
            (st, body.as_slice()),
            (200, &b"{\"decision\":\"allow\"}"[..])
        );
        let (st, body) = c.exchange(&req).await.unwrap();
        assert_eq!((st, body.as_slice()), (403, &b"{\"code\":\"x\"}"[..]));
        // The server is gone now: the error says so, and the connection is dropped.
        assert!(c.exchange(&req).await.is_err());
    }
}
