//! Docker's multiplexed stream (logs, attach and exec of a process without a terminal): each
//! chunk framed by an 8-byte header `[stream, 0, 0, 0, length as u32 big-endian]`, stream 1
//! for standard output and 2 for standard error; and what `logs --tail --timestamps --since
//! --until` do to the text, given when each byte was captured (pure).

use ferry_types::time::Timestamp;

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

/// Which lines `logs` shows, and how.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogView {
    /// `--timestamps`: each line begins with its time and a space.
    pub timestamps: bool,
    /// `--since`: lines from this time on.
    pub since: Option<Timestamp>,
    /// `--until`: lines up to this time.
    pub until: Option<Timestamp>,
}

impl LogView {
    /// Whether the lines' times matter at all.
    pub fn needs_times(&self) -> bool {
        self.timestamps || self.since.is_some() || self.until.is_some()
    }
}

/// Applies a [`LogView`] to a log read in chunks (a line may span two).
#[derive(Debug)]
pub struct LogLines {
    view: LogView,
    at_line_start: bool,
    keep: bool,
    /// The last time written, and its text (lines from one write share their time).
    last: Option<(Timestamp, String)>,
}

impl LogLines {
    /// Starts at the beginning of a line.
    pub fn new(view: LogView) -> Self {
        Self {
            view,
            at_line_start: true,
            keep: true,
            last: None,
        }
    }

    /// `chunk`, which begins at byte `base` of the log, with the view applied; a line's time
    /// is `time_of` its first byte's offset (now when that is unknown).
    pub fn render(
        &mut self,
        chunk: &[u8],
        base: u64,
        time_of: impl Fn(u64) -> Option<Timestamp>,
    ) -> Vec<u8> {
        if !self.view.needs_times() {
            return chunk.to_vec();
        }
        let mut out = Vec::with_capacity(chunk.len() + 32);
        for (i, &b) in chunk.iter().enumerate() {
            if self.at_line_start {
                let t = time_of(base + i as u64).unwrap_or_else(Timestamp::now);
                self.keep = self.view.since.is_none_or(|s| t >= s)
                    && self.view.until.is_none_or(|u| t <= u);
                if self.keep && self.view.timestamps {
                    if self.last.as_ref().is_none_or(|(l, _)| *l != t) {
                        self.last = Some((t, t.to_string()));
                    }
                    if let Some((_, text)) = &self.last {
                        out.extend_from_slice(text.as_bytes());
                    }
                    out.push(b' ');
                }
            }
            if self.keep {
                out.push(b);
            }
            self.at_line_start = b == b'\n';
        }
        out
    }
}

/// A `since`/`until` query value as the docker CLI sends it: Unix seconds with an optional
/// fraction (`1700000000.000000001`); empty or `0` for none.
pub fn parse_unix_time(v: &str) -> Option<Result<Timestamp, String>> {
    if v.is_empty() || v == "0" {
        return None;
    }
    let (secs, frac) = v.split_once('.').unwrap_or((v, ""));
    let bad = || format!("invalid time {v:?}: give Unix seconds, with a fraction if need be");
    let Ok(secs) = secs.parse::<i64>() else {
        return Some(Err(bad()));
    };
    if frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return Some(Err(bad()));
    }
    let nanos = if frac.is_empty() {
        0
    } else {
        frac.parse::<u32>().unwrap_or(0) * 10u32.pow(9 - frac.len() as u32)
    };
    Some(Ok(Timestamp::from_unix(secs, nanos)))
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
    fn lines_get_their_capture_times_across_chunks() {
        let t = |s| Timestamp::from_unix(s, 0);
        // Bytes 0..8 arrived at 100, from 8 on at 200.
        let time_of = |o: u64| Some(if o < 8 { t(100) } else { t(200) });
        let mut l = LogLines::new(LogView {
            timestamps: true,
            ..LogView::default()
        });
        let a = l.render(b"one\ntw", 0, time_of);
        let b = l.render(b"o\nthree\n", 7, time_of);
        let t100 = t(100).to_string();
        let t200 = t(200).to_string();
        assert_eq!(
            String::from_utf8(a).unwrap(),
            format!("{t100} one\n{t100} tw")
        );
        assert_eq!(String::from_utf8(b).unwrap(), format!("o\n{t200} three\n"));
        let mut l = LogLines::new(LogView {
            since: Some(t(150)),
            ..LogView::default()
        });
        assert_eq!(l.render(b"one\ntwo\nthree\n", 0, time_of), b"three\n");
        let mut l = LogLines::new(LogView {
            until: Some(t(150)),
            ..LogView::default()
        });
        assert_eq!(l.render(b"one\ntwo\nthree\n", 0, time_of), b"one\ntwo\n");
        let mut l = LogLines::new(LogView::default());
        assert_eq!(l.render(b"as is", 0, |_| None), b"as is");
    }

    #[test]
    fn unix_times_as_the_cli_sends_them() {
        assert!(parse_unix_time("").is_none());
        assert!(parse_unix_time("0").is_none());
        assert_eq!(
            parse_unix_time("1700000000.5").unwrap().unwrap(),
            Timestamp::from_unix(1_700_000_000, 500_000_000)
        );
        assert_eq!(
            parse_unix_time("1700000000").unwrap().unwrap(),
            Timestamp::from_unix(1_700_000_000, 0)
        );
        assert!(parse_unix_time("yesterday").unwrap().is_err());
    }
}
