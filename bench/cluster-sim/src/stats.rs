//! Percentiles of delays.

use std::time::Duration;

/// The median, 99th percentile and maximum of a sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    /// How many values.
    pub count: usize,
    /// The median.
    pub p50: Duration,
    /// The 99th percentile.
    pub p99: Duration,
    /// The largest.
    pub max: Duration,
}

impl Summary {
    /// The summary of `values`; `None` when there are none.
    pub fn of(values: &[Duration]) -> Option<Summary> {
        let mut v = values.to_vec();
        v.sort_unstable();
        Some(Summary {
            count: v.len(),
            p50: percentile(&v, 0.50)?,
            p99: percentile(&v, 0.99)?,
            max: *v.last()?,
        })
    }
}

/// The nearest-rank percentile `q` (0..=1) of sorted values.
pub fn percentile(sorted: &[Duration], q: f64) -> Option<Duration> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len()) - 1).copied()
}

/// Milliseconds, for tables.
pub fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank() {
        let v: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        let s = Summary::of(&v).expect("values");
        assert_eq!(s.p50, Duration::from_millis(50));
        assert_eq!(s.p99, Duration::from_millis(99));
        assert_eq!(s.max, Duration::from_millis(100));
        assert_eq!(Summary::of(&[]), None);
        let one = [Duration::from_millis(7)];
        assert_eq!(percentile(&one, 0.99), Some(Duration::from_millis(7)));
    }
}
