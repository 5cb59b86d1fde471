//! `harness health`: a container's health check, the harness's own executable standing in
//! for the curl an image built FROM scratch does not have.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use super::EXIT_OK;
use crate::cli::HealthArgs;

/// 0 when the answer is a 2xx, else 1 with the reason on stderr (the Engine keeps the last
/// checks' output in the container's state).
pub fn run(args: &HealthArgs) -> u8 {
    match check(args) {
        Ok(()) => EXIT_OK,
        Err(why) => {
            eprintln!("unhealthy: {why}");
            1
        }
    }
}

fn check(args: &HealthArgs) -> Result<(), String> {
    let addr = match (&args.addr, &args.addr_file) {
        (Some(a), _) => *a,
        (None, Some(file)) => std::fs::read_to_string(file)
            .map_err(|e| format!("reading {}: {e} (not serving yet?)", file.display()))?
            .trim()
            .parse()
            .map_err(|e| format!("{}: not an address: {e}", file.display()))?,
        (None, None) => return Err("no address: give --addr or --addr-file".into()),
    };
    let timeout = Duration::from_millis(args.timeout_ms.max(1));
    let mut stream = TcpStream::connect_timeout(&addr, timeout)
        .map_err(|e| format!("connecting to {addr}: {e}"))?;
    let _ = stream.set_read_timeout(Some(timeout));
    let _ = stream.set_write_timeout(Some(timeout));
    // HTTP/1.0 with no keep-alive: the answer ends when the connection does.
    write!(stream, "GET {} HTTP/1.0\r\nHost: {addr}\r\n\r\n", args.path)
        .map_err(|e| format!("asking {addr}: {e}"))?;
    let mut head = [0u8; 64];
    let mut got = 0;
    while got < 12 {
        match stream.read(&mut head[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) => return Err(format!("reading {addr}'s answer: {e}")),
        }
    }
    let line = String::from_utf8_lossy(&head[..got]);
    match line.split_whitespace().nth(1) {
        Some(code) if code.starts_with('2') && code.len() == 3 => Ok(()),
        Some(code) => Err(format!("{addr}{} answered {code}", args.path)),
        None => Err(format!("{addr}{} gave no HTTP answer", args.path)),
    }
}
