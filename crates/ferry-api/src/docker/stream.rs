//! Docker's multiplexed stream (logs, attach and exec of a process without a terminal): each
//! chunk framed by an 8-byte header `[stream, 0, 0, 0, length as u32 big-endian]`, stream 1
//! for standard output and 2 for standard error; and what `logs --tail --timestamps` do to
//! the text (pure).

/// Standard output's stream number.
pub const STDOUT: u8 = 1;
/// Standard error's stream number.
pub const STDERR: u8 = 2;

/// Content type of a multiplexed stream.
pub const MULTIPLEXED: &str = "application/vnd.docker.multiplexed-stream";
/// Content type of a raw stream (a hijacked connection).
pub const RAW: &str = "application/vnd.docker.raw-stream";

/// One frame of `data` on `stream`.
pub fn frame(stream: u8, data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + data.len());
    out.extend_from_slice(&[stream, 0, 0, 0]);
    // A chunk is at most the read buffer's size, far below 4 GiB.
    out.extend_from_slice(&u32::try_from(data.len()).unwrap_or(u32::MAX).to_be_bytes());
    out.extend_from_slice(data);
    out
}

/// The last `n` lines of `text` (a last line without its newline counts).
pub fn tail(text: &[u8], n: usize) -> &[u8] {
    if n == 0 {
        return &text[text.len()..];
    }
    let body = text.strip_suffix(b"\n").unwrap_or(text);
    let mut seen = 0;
    for (i, b) in body.iter().enumerate().rev() {
        if *b == b'\n' {
            seen += 1;
            if seen == n {
                return &text[i + 1..];
            }
        }
    }
    text
}

/// Prefixes each line of `chunk` with `stamp` and a space, as `logs --timestamps` does;
/// `at_line_start` carries over from the previous chunk.
pub fn stamp(chunk: &[u8], stamp: &str, at_line_start: &mut bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(chunk.len() + 32);
    for &b in chunk {
        if *at_line_start {
            out.extend_from_slice(stamp.as_bytes());
            out.push(b' ');
        }
        out.push(b);
        *at_line_start = b == b'\n';
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_carry_stream_and_length() {
        assert_eq!(frame(STDOUT, b"hi\n"), b"\x01\0\0\0\0\0\0\x03hi\n");
        assert_eq!(frame(STDERR, b""), b"\x02\0\0\0\0\0\0\0");
    }

    #[test]
    fn tails_lines() {
        assert_eq!(tail(b"a\nb\nc\n", 2), b"b\nc\n");
        assert_eq!(tail(b"a\nb\nc", 2), b"b\nc");
        assert_eq!(tail(b"a\nb\n", 5), b"a\nb\n");
        assert_eq!(tail(b"a\nb\n", 0), b"");
        assert_eq!(tail(b"", 3), b"");
    }

    #[test]
    fn stamps_every_line_across_chunks() {
        let mut start = true;
        let a = stamp(b"one\ntw", "T", &mut start);
        let b = stamp(b"o\nthree\n", "U", &mut start);
        assert_eq!(a, b"T one\nT tw");
        assert_eq!(b, b"o\nU three\n");
        assert!(start);
    }
}
