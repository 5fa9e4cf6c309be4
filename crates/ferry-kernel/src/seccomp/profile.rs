//! Docker's seccomp profile format (`--security-opt seccomp=FILE`, `profiles/seccomp/
//! default.json`), typed. Keys are spelt as Docker writes them; an unknown key is an error
//! that names it, so a misspelt key is not silently ignored.

use serde::{Deserialize, Serialize};

/// A seccomp profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Profile {
    /// What a system call no rule matches gets.
    pub default_action: Action,
    /// The errno of `SCMP_ACT_ERRNO` (or data of `SCMP_ACT_TRACE`) as default action
    /// (EPERM when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_errno_ret: Option<u32>,
    /// Architectures (`SCMP_ARCH_X86_64`, ...). ferry filters x86_64 only: a system call
    /// made through any other ABI kills the process.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub architectures: Option<Vec<String>>,
    /// Architectures and their sub-architectures (Docker's format); read as `architectures`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arch_map: Option<Vec<ArchMap>>,
    /// `SECCOMP_FILTER_FLAG_LOG`, `SECCOMP_FILTER_FLAG_SPEC_ALLOW`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flags: Option<Vec<String>>,
    /// A user-space notification listener (unsupported; must be absent or empty).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listener_path: Option<String>,
    /// Metadata for the listener (unsupported).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listener_metadata: Option<String>,
    /// The rules.
    #[serde(default)]
    pub syscalls: Vec<Syscall>,
}

/// One entry of `archMap`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ArchMap {
    /// The main architecture.
    pub architecture: String,
    /// Its other ABIs.
    #[serde(default)]
    pub sub_architectures: Option<Vec<String>>,
}

/// A rule: an action for some system calls, maybe only for some arguments, capabilities or
/// architectures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Syscall {
    /// The system calls.
    #[serde(default)]
    pub names: Vec<String>,
    /// One system call (Docker's older format).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// What they get.
    pub action: Action,
    /// The errno for `SCMP_ACT_ERRNO`, the data for `SCMP_ACT_TRACE` (EPERM when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errno_ret: Option<u32>,
    /// Argument conditions, all of which must hold; but when two name the same argument,
    /// each condition is a rule of its own (either may hold), as runc does.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<Arg>,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// The rule applies only when all of these hold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub includes: Option<Filter>,
    /// The rule does not apply when any of these holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub excludes: Option<Filter>,
}

/// Conditions on the sandbox for a rule to apply (`includes`) or not (`excludes`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Filter {
    /// Capabilities (`CAP_SYS_ADMIN`): includes need all, excludes any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub caps: Vec<String>,
    /// Architectures as Go names them (`amd64` is ferry's).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub arches: Vec<String>,
    /// A kernel version, `MAJOR.MINOR`: includes need at least it, excludes less.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_kernel: Option<String>,
}

/// A condition on one 64-bit argument.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Arg {
    /// Which argument, 0 to 5.
    pub index: u32,
    /// The value compared with (the mask, for `SCMP_CMP_MASKED_EQ`).
    pub value: u64,
    /// The value the masked argument must equal, for `SCMP_CMP_MASKED_EQ`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub value_two: u64,
    /// The comparison.
    pub op: Op,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

/// What a system call gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Action {
    /// It runs.
    #[serde(rename = "SCMP_ACT_ALLOW")]
    Allow,
    /// It fails with `errnoRet` (EPERM when absent).
    #[serde(rename = "SCMP_ACT_ERRNO")]
    Errno,
    /// The thread is killed (libseccomp's name for `SCMP_ACT_KILL_THREAD`).
    #[serde(rename = "SCMP_ACT_KILL")]
    Kill,
    /// The thread is killed.
    #[serde(rename = "SCMP_ACT_KILL_THREAD")]
    KillThread,
    /// The whole process is killed.
    #[serde(rename = "SCMP_ACT_KILL_PROCESS")]
    KillProcess,
    /// The thread gets `SIGSYS`.
    #[serde(rename = "SCMP_ACT_TRAP")]
    Trap,
    /// It runs and is logged.
    #[serde(rename = "SCMP_ACT_LOG")]
    Log,
    /// A ptrace tracer is told (with `errnoRet` as data); without one it fails with ENOSYS.
    #[serde(rename = "SCMP_ACT_TRACE")]
    Trace,
    /// A user-space listener decides (not supported by ferry).
    #[serde(rename = "SCMP_ACT_NOTIFY")]
    Notify,
}

/// A comparison of an argument with `value`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    /// Equal.
    #[serde(rename = "SCMP_CMP_EQ")]
    Eq,
    /// Not equal.
    #[serde(rename = "SCMP_CMP_NE")]
    Ne,
    /// Less than (unsigned).
    #[serde(rename = "SCMP_CMP_LT")]
    Lt,
    /// Less than or equal (unsigned).
    #[serde(rename = "SCMP_CMP_LE")]
    Le,
    /// Greater than (unsigned).
    #[serde(rename = "SCMP_CMP_GT")]
    Gt,
    /// Greater than or equal (unsigned).
    #[serde(rename = "SCMP_CMP_GE")]
    Ge,
    /// `arg & value == valueTwo`.
    #[serde(rename = "SCMP_CMP_MASKED_EQ")]
    MaskedEq,
}

impl Profile {
    /// Reads a profile from Docker's JSON. The error names the key or value that is wrong
    /// and where (line and column).
    pub fn from_json(text: &str) -> Result<Profile, super::SeccompError> {
        serde_json::from_str(text).map_err(|e| super::SeccompError::Parse(e.to_string()))
    }

    /// The profile as Docker's JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_docker_keys() {
        let p = Profile::from_json(
            r#"{
                "defaultAction": "SCMP_ACT_ERRNO",
                "defaultErrnoRet": 1,
                "archMap": [{"architecture": "SCMP_ARCH_X86_64",
                             "subArchitectures": ["SCMP_ARCH_X86"]},
                            {"architecture": "SCMP_ARCH_RISCV64", "subArchitectures": null}],
                "syscalls": [
                    {"names": ["read"], "action": "SCMP_ACT_ALLOW"},
                    {"name": "clone", "action": "SCMP_ACT_ALLOW",
                     "args": [{"index": 0, "value": 2114060288, "op": "SCMP_CMP_MASKED_EQ"}],
                     "comment": "no namespaces",
                     "excludes": {"caps": ["CAP_SYS_ADMIN"], "arches": ["s390x"]}},
                    {"names": ["ptrace"], "action": "SCMP_ACT_ALLOW",
                     "includes": {"minKernel": "4.8"}}
                ]
            }"#,
        )
        .unwrap();
        assert_eq!(p.default_action, Action::Errno);
        assert_eq!(p.syscalls[1].name.as_deref(), Some("clone"));
        assert_eq!(p.syscalls[1].args[0].op, Op::MaskedEq);
        assert_eq!(
            p.syscalls[2]
                .includes
                .as_ref()
                .unwrap()
                .min_kernel
                .as_deref(),
            Some("4.8")
        );
        assert_eq!(Profile::from_json(&p.to_json()).unwrap(), p);
    }

    #[test]
    fn errors_name_the_key_or_value() {
        let e = Profile::from_json(r#"{"defaultAction": "SCMP_ACT_ALLOW", "sycalls": []}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown field `sycalls`"), "{e}");
        assert!(e.contains("line 1"), "{e}");
        let e = Profile::from_json(
            r#"{"defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALOW"}]}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("unknown variant `SCMP_ACT_ALOW`"), "{e}");
        assert!(e.contains("SCMP_ACT_ALLOW"), "{e}");
        assert!(e.contains("line 2"), "{e}");
        let e = Profile::from_json(
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["read"],
                "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "value": 1, "op": "EQ"}]}]}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("unknown variant `EQ`") && e.contains("SCMP_CMP_EQ"),
            "{e}"
        );
        let e = Profile::from_json(r#"{"syscalls": []}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("missing field `defaultAction`"), "{e}");
    }
}
