//! `ferry exec --tty` run from a shell: the command's terminal relayed to the caller's. The
//! caller's terminal is put in raw mode (the command's terminal does the line editing and
//! echo; it got the caller's window size at the start) and restored at the end.

use std::io::{Read, Write};
use std::os::fd::OwnedFd;

/// A running relay.
pub struct Relay {
    saved: Option<libc::termios>,
    output: std::thread::JoinHandle<()>,
}

/// Starts relaying the terminal `master` to standard output, and standard input to it with
/// `interactive`.
pub fn relay(master: OwnedFd, interactive: bool) -> Relay {
    let mut saved = None;
    // SAFETY: termios and ioctl calls on standard input with local buffers.
    unsafe {
        if libc::isatty(0) == 1 {
            let mut t: libc::termios = std::mem::zeroed();
            if interactive && libc::tcgetattr(0, &mut t) == 0 {
                saved = Some(t);
                libc::cfmakeraw(&mut t);
                libc::tcsetattr(0, libc::TCSANOW, &t);
            }
        }
    }
    let master = std::fs::File::from(master);
    if interactive {
        if let Ok(mut input) = master.try_clone() {
            // Ends with the process (its writes fail) or at the end of input.
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut std::io::stdin().lock(), &mut input);
            });
        }
    }
    let output = std::thread::spawn(move || {
        let mut master = master;
        let mut buf = [0u8; 16 * 1024];
        let mut out = std::io::stdout().lock();
        // EIO once no process holds the terminal.
        while let Ok(n) = master.read(&mut buf) {
            if n == 0 || out.write_all(&buf[..n]).and_then(|()| out.flush()).is_err() {
                break;
            }
        }
    });
    Relay { saved, output }
}

impl Relay {
    /// Waits for the output's end and gives the caller's terminal its mode back.
    pub fn finish(self) {
        let _ = self.output.join();
        if let Some(t) = self.saved {
            // SAFETY: restoring the attributes read from the same descriptor.
            unsafe { libc::tcsetattr(0, libc::TCSANOW, &t) };
        }
    }
}
