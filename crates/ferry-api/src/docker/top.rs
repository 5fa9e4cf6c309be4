//! `docker top`: the sandbox's process and its descendants, read from /proc, in the columns
//! of `ps -ef` that Docker shows by default.

use serde::Serialize;
use std::collections::BTreeMap;

/// `GET /containers/{id}/top`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TopResponse {
    /// Column names.
    pub titles: Vec<String>,
    /// One row per process.
    pub processes: Vec<Vec<String>>,
}

/// The PID and parent PID in a `/proc/PID/stat` line (the command, in parentheses, may hold
/// spaces and parentheses itself).
pub fn stat_pids(stat: &str) -> Option<(u32, u32)> {
    let pid = stat.split(' ').next()?.parse().ok()?;
    let after = &stat[stat.rfind(')')? + 1..];
    let mut f = after.split_whitespace();
    let _state = f.next()?;
    Some((pid, f.next()?.parse().ok()?))
}

/// The real UID in a `/proc/PID/status` text.
fn uid(status: &str) -> String {
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|v| v.split_whitespace().next())
        .unwrap_or("?")
        .to_string()
}

/// `root` and its descendants, in PID order, given every process's parent.
pub fn descendants(root: u32, parents: &BTreeMap<u32, u32>) -> Vec<u32> {
    let mut out = vec![root];
    let mut i = 0;
    while i < out.len() {
        let p = out[i];
        out.extend(parents.iter().filter(|(_, pp)| **pp == p).map(|(c, _)| *c));
        i += 1;
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// The rows of `docker top` for the process tree under `pid`.
pub fn top(pid: u32) -> TopResponse {
    let mut parents = BTreeMap::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let stat = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
        if let Some((p, pp)) = stat_pids(&stat) {
            parents.insert(p, pp);
        }
    }
    let processes = descendants(pid, &parents)
        .into_iter()
        .filter_map(|p| {
            let cmdline = std::fs::read(format!("/proc/{p}/cmdline")).ok()?;
            let cmd = cmdline
                .split(|b| *b == 0)
                .filter(|a| !a.is_empty())
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect::<Vec<_>>()
                .join(" ");
            let status = std::fs::read_to_string(format!("/proc/{p}/status")).unwrap_or_default();
            Some(vec![
                uid(&status),
                p.to_string(),
                parents.get(&p).copied().unwrap_or(0).to_string(),
                "0".into(),
                String::new(),
                "?".into(),
                "00:00:00".into(),
                cmd,
            ])
        })
        .collect();
    TopResponse {
        titles: ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]
            .iter()
            .map(|s| s.to_string())
            .collect(),
        processes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_stat_and_walks_the_tree() {
        assert_eq!(stat_pids("42 (a b) c) S 7 42 42 0"), Some((42, 7)));
        assert_eq!(stat_pids("junk"), None);
        let parents: BTreeMap<u32, u32> = [(1, 0), (10, 1), (11, 10), (12, 10), (20, 1)].into();
        assert_eq!(descendants(10, &parents), vec![10, 11, 12]);
        assert_eq!(uid("Name: x\nUid:\t1000\t1000\t1000\t1000\n"), "1000");
        let me = top(std::process::id());
        assert_eq!(me.processes[0][1], std::process::id().to_string());
    }
}
