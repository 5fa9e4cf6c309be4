//! A tiny HTTP/1.1 server on a temporary unix socket that records each request and answers
//! with the next canned reply, one connection per request, as the client makes them.

// Each test file uses its own part of the server.
#![allow(dead_code)]

use ferry_client::Client;
use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixListener;
use tokio::sync::mpsc;

/// A request as the server read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// `METHOD TARGET HTTP/1.1`.
    pub request_line: String,
    /// Header names (lower case) and values, in order.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Seen {
    /// The value of a header, if sent.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("the body is JSON")
    }
}

/// What the server answers to one request.
pub enum Reply {
    /// A status, extra headers and a whole body.
    Whole {
        status: u16,
        headers: Vec<(&'static str, &'static str)>,
        body: Vec<u8>,
    },
    /// A 200 whose body comes in chunks, each written separately.
    Chunked(Vec<Vec<u8>>),
    /// The connection is closed without a reply.
    Hangup,
}

impl Reply {
    /// A JSON reply.
    pub fn json(status: u16, body: serde_json::Value) -> Self {
        Reply::Whole {
            status,
            headers: vec![("Content-Type", "application/json")],
            body: body.to_string().into_bytes(),
        }
    }

    /// A reply with no body.
    pub fn empty(status: u16) -> Self {
        Reply::Whole {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// Docker's error body.
    pub fn error(status: u16, message: &str) -> Self {
        Reply::json(status, serde_json::json!({ "message": message }))
    }
}

/// The running server.
pub struct FakeDaemon {
    _dir: tempfile::TempDir,
    socket: PathBuf,
    seen: mpsc::UnboundedReceiver<Seen>,
}

impl FakeDaemon {
    /// Serves `replies`, in order, to the requests that come.
    pub fn serve(replies: Vec<Reply>) -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let socket = dir.path().join("ferry.sock");
        let listener = UnixListener::bind(&socket).expect("bind the socket");
        let replies = Arc::new(Mutex::new(VecDeque::from(replies)));
        let (tx, seen) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let reply = replies.lock().unwrap().pop_front();
                let tx = tx.clone();
                tokio::spawn(async move {
                    let (read, mut write) = stream.into_split();
                    let seen = read_request(BufReader::new(read)).await;
                    let _ = tx.send(seen);
                    match reply {
                        Some(Reply::Whole {
                            status,
                            headers,
                            body,
                        }) => {
                            let mut head = format!(
                                "HTTP/1.1 {status} X\r\nContent-Length: {}\r\n",
                                body.len()
                            );
                            for (k, v) in headers {
                                head.push_str(&format!("{k}: {v}\r\n"));
                            }
                            head.push_str("\r\n");
                            write.write_all(head.as_bytes()).await.unwrap();
                            write.write_all(&body).await.unwrap();
                        }
                        Some(Reply::Chunked(chunks)) => {
                            write
                                .write_all(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
                                .await
                                .unwrap();
                            for c in chunks {
                                write
                                    .write_all(format!("{:x}\r\n", c.len()).as_bytes())
                                    .await
                                    .unwrap();
                                write.write_all(&c).await.unwrap();
                                write.write_all(b"\r\n").await.unwrap();
                                write.flush().await.unwrap();
                                tokio::task::yield_now().await;
                            }
                            write.write_all(b"0\r\n\r\n").await.unwrap();
                        }
                        Some(Reply::Hangup) | None => {}
                    }
                    let _ = write.shutdown().await;
                });
            }
        });
        FakeDaemon {
            _dir: dir,
            socket,
            seen,
        }
    }

    /// A client of this server.
    pub fn client(&self) -> Client {
        Client::new(&self.socket)
    }

    /// The next request the server read.
    pub async fn request(&mut self) -> Seen {
        self.seen.recv().await.expect("a request")
    }
}

async fn read_request(mut r: BufReader<tokio::net::unix::OwnedReadHalf>) -> Seen {
    let mut request_line = String::new();
    r.read_line(&mut request_line).await.unwrap();
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        r.read_line(&mut line).await.unwrap();
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (k, v) = line.split_once(':').expect("a header line");
        headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
    }
    let len = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .map(|(_, v)| v.parse::<usize>().unwrap())
        .unwrap_or(0);
    let mut body = vec![0; len];
    r.read_exact(&mut body).await.unwrap();
    Seen {
        request_line: request_line.trim_end().to_string(),
        headers,
        body,
    }
}
