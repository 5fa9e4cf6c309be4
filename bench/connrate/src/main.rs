//! `connrate`: measures new TCP connections per second and their latency, for comparing a
//! path (a service's VIP, the routing mesh) with the direct one.
//!
//! ```text
//! connrate serve PORT [THREADS]          answer each connection with the host name, then close
//! connrate run ADDR:PORT[,...] SECS [THREADS]  connect (to one of the addresses, at random),
//!                                        read the answer to EOF, close; repeat
//! connrate until ADDR:PORT TEXT SECS     connect until an answer is TEXT; print the wait
//! ```
//!
//! `run` prints one JSON object: connections, failures, rate per second, and the p50/p90/p99
//! connection latency in microseconds (connect to EOF). The server closes first, so its side
//! holds TIME_WAIT and the client never runs out of ports.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let r = match args.first().map(String::as_str) {
        Some("serve") => serve(&args[1..]),
        Some("run") => run(&args[1..]),
        Some("until") => until(&args[1..]),
        _ => Err("usage: connrate serve PORT [THREADS] | run ADDR:PORT[,ADDR:PORT...] SECS [THREADS] | until ADDR:PORT TEXT SECS".into()),
    };
    if let Err(e) = r {
        eprintln!("connrate: {e}");
        std::process::exit(2);
    }
}

type Result<T> = std::result::Result<T, String>;

fn arg<T: std::str::FromStr>(
    args: &[String],
    i: usize,
    what: &str,
    default: Option<T>,
) -> Result<T> {
    match args.get(i) {
        Some(s) => s.parse().map_err(|_| format!("invalid {what}: {s:?}")),
        None => default.ok_or_else(|| format!("missing {what}")),
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "?".into())
}

fn serve(args: &[String]) -> Result<()> {
    let port: u16 = arg(args, 0, "port", None)?;
    let threads: usize = arg(args, 1, "thread count", Some(2))?;
    let listener = TcpListener::bind(("0.0.0.0", port)).map_err(|e| format!("bind {port}: {e}"))?;
    let answer = format!("{}\n", hostname()).into_bytes();
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let l = listener.try_clone().expect("clone listener");
            let answer = answer.clone();
            std::thread::spawn(move || loop {
                if let Ok((mut s, _)) = l.accept() {
                    let _ = s.write_all(&answer);
                }
            })
        })
        .collect();
    for w in workers {
        let _ = w.join();
    }
    Ok(())
}

/// One connection: connect, read to EOF. Returns the answer.
fn once(addr: SocketAddr) -> std::io::Result<String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(2)))?;
    let mut buf = String::new();
    s.read_to_string(&mut buf)?;
    Ok(buf)
}

fn run(args: &[String]) -> Result<()> {
    // One address, or several (comma-separated), one picked at random per connection: the
    // same spread over servers as a load balancer's, without one.
    let list: String = arg(args, 0, "ADDR:PORT[,ADDR:PORT...]", None)?;
    let addrs: Vec<SocketAddr> = list
        .split(',')
        .map(|a| a.parse().map_err(|_| format!("invalid address {a:?}")))
        .collect::<Result<_>>()?;
    let secs: f64 = arg(args, 1, "duration", None)?;
    let threads: usize = arg(args, 2, "thread count", Some(1))?;
    let end = Instant::now() + Duration::from_secs_f64(secs);
    let start = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|i| {
            let addrs = addrs.clone();
            std::thread::spawn(move || {
                let mut lat = Vec::with_capacity(1 << 16);
                let mut failed = 0u64;
                // xorshift: cheap, and a different sequence per thread.
                let mut x: u64 =
                    0x9e37_79b9_7f4a_7c15 ^ (i as u64 + 1).wrapping_mul(0xbf58_476d_1ce4_e5b9);
                while Instant::now() < end {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    let addr = addrs[(x % addrs.len() as u64) as usize];
                    let t = Instant::now();
                    match once(addr) {
                        Ok(a) if !a.is_empty() => lat.push(t.elapsed().as_micros() as u64),
                        _ => failed += 1,
                    }
                }
                (lat, failed)
            })
        })
        .collect();
    let mut lat = Vec::new();
    let mut failed = 0;
    for h in handles {
        let (l, f) = h.join().map_err(|_| "a client thread panicked")?;
        lat.extend(l);
        failed += f;
    }
    let elapsed = start.elapsed().as_secs_f64();
    lat.sort_unstable();
    let pct = |p: f64| {
        if lat.is_empty() {
            0
        } else {
            lat[((lat.len() - 1) as f64 * p).round() as usize]
        }
    };
    println!(
        "{{\"connections\":{},\"failed\":{failed},\"per_sec\":{:.0},\"p50_us\":{},\"p90_us\":{},\"p99_us\":{}}}",
        lat.len(),
        lat.len() as f64 / elapsed,
        pct(0.5),
        pct(0.9),
        pct(0.99)
    );
    Ok(())
}

fn until(args: &[String]) -> Result<()> {
    let addr: SocketAddr = arg(args, 0, "ADDR:PORT", None)?;
    let text: String = arg(args, 1, "text", None)?;
    let secs: f64 = arg(args, 2, "timeout", None)?;
    let start = Instant::now();
    while start.elapsed().as_secs_f64() < secs {
        if once(addr).is_ok_and(|a| a.trim() == text) {
            println!("{:.1}", start.elapsed().as_secs_f64() * 1000.0);
            return Ok(());
        }
    }
    Err(format!("no answer {text:?} from {addr} within {secs} s"))
}
