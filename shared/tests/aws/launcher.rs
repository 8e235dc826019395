//! The moto launcher's keep-alive mode (tests/moto/serve.py): answers stay whole and in step on a reused
//! connection, including after a request whose body moto never reads.

use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// Reads one HTTP answer (head + Content-Length body) and returns its status code and whether the server
/// announced it would close the connection.
async fn answer(reader: &mut BufReader<TcpStream>) -> (u16, bool) {
    let mut status = String::new();
    reader.read_line(&mut status).await.expect("status line");
    let code: u16 = status
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("status code");
    let (mut length, mut close) = (0usize, false);
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).await.expect("header");
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':').expect("header line");
        match name.to_ascii_lowercase().as_str() {
            "content-length" => length = value.trim().parse().expect("length"),
            "connection" => close = value.trim().eq_ignore_ascii_case("close"),
            _ => {}
        }
    }
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body).await.expect("body");
    (code, close)
}

#[tokio::test]
async fn a_kept_alive_connection_answers_the_request_after_one_whose_body_moto_left_unread() {
    // Given moto launched with keep-alive, and one connection to it
    let moto = waybill::testing::Moto::start_keep_alive().await.expect("moto");
    let addr = moto.endpoint().trim_start_matches("http://").to_owned();
    let stream = TcpStream::connect(&addr).await.expect("connect");
    let mut reader = BufReader::new(stream);
    // When a request carries a body its route never reads (moto's dashboard), then a second request
    // follows on the same connection
    let first = format!("GET /moto-api/ HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 11\r\n\r\nhello moto!");
    let second = format!("GET /moto-api/ HTTP/1.1\r\nHost: {addr}\r\n\r\n");
    let run = async {
        reader.get_mut().write_all(first.as_bytes()).await.expect("first");
        let a = answer(&mut reader).await;
        reader.get_mut().write_all(second.as_bytes()).await.expect("second");
        let b = answer(&mut reader).await;
        (a, b)
    };
    let (a, b) = tokio::time::timeout(Duration::from_secs(10), run)
        .await
        .expect("answered in time");
    // Then both are answered 200 on the one connection, which stays open: the unread body was drained,
    // not parsed as the next request line (a 400) nor left to reset the connection
    assert_eq!(a, (200, false));
    assert_eq!(b, (200, false));
}
