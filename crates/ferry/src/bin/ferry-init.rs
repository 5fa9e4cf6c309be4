//! `ferry-init`: a sandbox's first process (see `ferry_kernel::process::init`), as a program
//! of its own. The daemon execs it at every start; the daemon's program holds the whole engine
//! and its loader spends about twice as long relocating and faulting it in as this small one
//! needs. The daemon falls back to running itself as the init (by the name `ferry-init`) when
//! this program is not installed beside it.

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(ferry_kernel::process::init::run(&args));
}
