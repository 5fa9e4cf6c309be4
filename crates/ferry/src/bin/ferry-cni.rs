//! `ferry-cni`: ferry's CNI plugin. Install it as `ferry` in a CNI plugin directory
//! (`/opt/cni/bin`, `/usr/lib/cni`) and name `"type": "ferry"` in a network list.

fn main() -> std::process::ExitCode {
    ferry_cni::main()
}
