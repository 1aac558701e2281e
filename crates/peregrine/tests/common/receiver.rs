//! A minimal HTTP/1.1 receiver for sink tests: it records every request
//! (lower-cased headers and body) and answers 200.
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

/// One HTTP request as received: lower-cased headers and the body.
#[derive(Clone, Debug)]
pub struct Request {
    /// The headers, names lower-cased, in the order received.
    pub headers: Vec<(String, String)>,
    /// The body (`Content-Length` bytes).
    pub body: String,
}

/// Serve `listener` on threads of its own; the requests received so far.
pub fn http_receiver(listener: TcpListener) -> Arc<Mutex<Vec<Request>>> {
    let got = Arc::new(Mutex::new(Vec::new()));
    let all = got.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { continue };
            let got = all.clone();
            std::thread::spawn(move || serve(conn, &got));
        }
    });
    got
}

/// Requests on one connection until it closes.
fn serve(mut conn: std::net::TcpStream, got: &Mutex<Vec<Request>>) {
    let mut r = BufReader::new(conn.try_clone().unwrap());
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut headers = Vec::new();
        let mut len = 0usize;
        loop {
            line.clear();
            if r.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            if line == "\r\n" {
                break;
            }
            if let Some((k, v)) = line.split_once(':') {
                let (k, v) = (k.trim().to_ascii_lowercase(), v.trim().to_string());
                if k == "content-length" {
                    len = v.parse().unwrap();
                }
                headers.push((k, v));
            }
        }
        let mut body = vec![0u8; len];
        r.read_exact(&mut body).unwrap();
        got.lock().unwrap().push(Request {
            headers,
            body: String::from_utf8(body).unwrap(),
        });
        let _ = conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    }
}
