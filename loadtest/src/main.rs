//! `loadtest`: the load generator (SMTP, IMAP, POP3). Not built yet; see issue "loadtest".

fn main() {
    eprintln!("loadtest: not built yet");
    std::process::exit(2);
}
