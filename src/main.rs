//! The `shardmail` command line.

fn main() {
    eprintln!(
        "shardmail {}: the server runtime is not built yet; see README.md",
        env!("CARGO_PKG_VERSION")
    );
    std::process::exit(2);
}
