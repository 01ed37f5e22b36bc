//! The CAPABILITY list (RFC 9051 6.1.1, 7.2.2) as a function of the session's state: what a client
//! may use before login differs from after it, and depends on TLS.
//!
//! Before authentication we announce what a client needs to log in (STARTTLS, LOGINDISABLED or
//! AUTH=PLAIN, SASL-IR) and the few commands valid in that state; after it, everything the server
//! implements. Clients take the list from the `[CAPABILITY ...]` code of the greeting and of the LOGIN
//! or AUTHENTICATE reply (RFC 9051 7.1), so the session sends it there.

use std::borrow::Cow;

/// What decides the list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapabilityState {
    /// LOGIN or AUTHENTICATE succeeded (or PREAUTH).
    pub authenticated: bool,
    /// The connection is protected by TLS (STARTTLS done, or an implicit TLS port).
    pub tls_active: bool,
    /// STARTTLS can be offered (a certificate is configured and TLS is not active yet).
    pub starttls_available: bool,
    /// Plaintext passwords are accepted without TLS (RFC 9051 11.1 asks servers to refuse them; a
    /// loopback test setup allows them).
    pub plaintext_login: bool,
    /// COMPRESS=DEFLATE is active: the capability is no longer offered (RFC 4978 3).
    pub compress_active: bool,
    /// `LITERAL+` (any size, RFC 7888) when true, `LITERAL-` (up to 4096 bytes) when false.
    pub literal_plus: bool,
    /// APPENDLIMIT=n (RFC 7889): the largest message APPEND accepts.
    pub append_limit: Option<u64>,
    /// Extensions the session may or may not implement; off unless the session says so.
    pub optional: Optional,
}

/// Extensions listed only when the session implements them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Optional {
    /// RFC 5182 SEARCHRES (`SEARCH RETURN (SAVE)` and `$`).
    pub searchres: bool,
    /// RFC 5267 ESORT (`SORT RETURN (...)`).
    pub esort: bool,
    /// RFC 5032 WITHIN (OLDER/YOUNGER search keys).
    pub within: bool,
    /// RFC 9208 QUOTA, with the STORAGE resource.
    pub quota: bool,
    /// RFC 4978 COMPRESS=DEFLATE.
    pub compress: bool,
}

impl Default for CapabilityState {
    /// A fresh plaintext connection with no TLS on offer and plaintext login refused.
    fn default() -> Self {
        CapabilityState {
            authenticated: false,
            tls_active: false,
            starttls_available: false,
            plaintext_login: false,
            compress_active: false,
            literal_plus: true,
            append_limit: None,
            optional: Optional::default(),
        }
    }
}

/// A capability list, in the order it goes on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capabilities(Vec<Cow<'static, str>>);

/// Extensions always listed after login (RFC numbers beside each).
const AUTHENTICATED: &[&str] = &[
    "NAMESPACE",             // RFC 2342
    "UIDPLUS",               // RFC 4315
    "MOVE",                  // RFC 6851
    "UNSELECT",              // RFC 3691
    "CHILDREN",              // RFC 3348
    "LIST-EXTENDED",         // RFC 5258
    "LIST-STATUS",           // RFC 5819
    "SPECIAL-USE",           // RFC 6154
    "CREATE-SPECIAL-USE",    // RFC 6154
    "ESEARCH",               // RFC 4731
    "CONDSTORE",             // RFC 7162
    "QRESYNC",               // RFC 7162
    "SORT",                  // RFC 5256
    "SORT=DISPLAY",          // RFC 5957
    "THREAD=ORDEREDSUBJECT", // RFC 5256
    "THREAD=REFERENCES",     // RFC 5256
    "BINARY",                // RFC 3516
    "STATUS=SIZE",           // RFC 8438
    "UTF8=ACCEPT",           // RFC 6855
    "MULTIAPPEND",           // RFC 3502
];

impl Capabilities {
    /// The list for a session in `state`.
    pub fn for_state(state: &CapabilityState) -> Capabilities {
        let mut caps: Vec<Cow<'static, str>> = Vec::with_capacity(40);
        let mut push = |s: &'static str| caps.push(Cow::Borrowed(s));
        push("IMAP4rev1");
        push("IMAP4rev2");
        // RFC 7888: IMAP4rev2 implies LITERAL-; a rev1 client needs to see one of them.
        push(if state.literal_plus {
            "LITERAL+"
        } else {
            "LITERAL-"
        });
        push("ID"); // RFC 2971
        push("ENABLE"); // RFC 5161
        push("IDLE"); // RFC 2177
        if !state.authenticated {
            push("SASL-IR"); // RFC 4959
            if state.starttls_available && !state.tls_active {
                push("STARTTLS");
            }
            // RFC 9051 6.2.3 / 11.1: no plaintext password without protection.
            if state.tls_active || state.plaintext_login {
                push("AUTH=PLAIN");
            } else {
                push("LOGINDISABLED");
            }
            return Capabilities(caps);
        }
        for &c in AUTHENTICATED {
            push(c);
        }
        if state.optional.esort {
            push("ESORT");
        }
        if state.optional.searchres {
            push("SEARCHRES");
        }
        if state.optional.within {
            push("WITHIN");
        }
        if state.optional.quota {
            push("QUOTA"); // RFC 9208
            push("QUOTA=RES-STORAGE");
        }
        if state.optional.compress && !state.compress_active {
            push("COMPRESS=DEFLATE");
        }
        if let Some(n) = state.append_limit {
            caps.push(Cow::Owned(format!("APPENDLIMIT={n}")));
        }
        Capabilities(caps)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|c| c.as_ref())
    }

    /// Is `name` listed (capability names are case-insensitive, RFC 9051 9 `capability`)?
    pub fn contains(&self, name: &str) -> bool {
        self.names().any(|c| c.eq_ignore_ascii_case(name))
    }

    /// The names separated by spaces (the body of `* CAPABILITY` and of `[CAPABILITY ...]`).
    pub fn write(&self, out: &mut Vec<u8>) {
        for (i, c) in self.names().enumerate() {
            if i > 0 {
                out.push(b' ');
            }
            out.extend_from_slice(c.as_bytes());
        }
    }
}

/// Can `ENABLE name` turn `name` on (RFC 5161 3.1: "capabilities that the server supports and that
/// can be enabled")? Names are matched case-insensitively; the canonical spelling is returned for the
/// `* ENABLED` reply.
pub fn enableable(name: &str, caps: &Capabilities) -> Option<&'static str> {
    const ENABLEABLE: [&str; 4] = ["CONDSTORE", "QRESYNC", "IMAP4rev2", "UTF8=ACCEPT"];
    ENABLEABLE
        .iter()
        .copied()
        .find(|c| c.eq_ignore_ascii_case(name) && caps.contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(state: &CapabilityState) -> String {
        let mut out = Vec::new();
        Capabilities::for_state(state).write(&mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn before_login_without_tls() {
        let s = CapabilityState::default();
        assert_eq!(
            list(&s),
            "IMAP4rev1 IMAP4rev2 LITERAL+ ID ENABLE IDLE SASL-IR LOGINDISABLED"
        );
        let s = CapabilityState {
            starttls_available: true,
            ..CapabilityState::default()
        };
        assert_eq!(
            list(&s),
            "IMAP4rev1 IMAP4rev2 LITERAL+ ID ENABLE IDLE SASL-IR STARTTLS LOGINDISABLED"
        );
        let s = CapabilityState {
            plaintext_login: true,
            literal_plus: false,
            ..CapabilityState::default()
        };
        assert_eq!(
            list(&s),
            "IMAP4rev1 IMAP4rev2 LITERAL- ID ENABLE IDLE SASL-IR AUTH=PLAIN"
        );
    }

    #[test]
    fn before_login_with_tls() {
        let s = CapabilityState {
            tls_active: true,
            starttls_available: true,
            ..CapabilityState::default()
        };
        let caps = Capabilities::for_state(&s);
        assert!(caps.contains("AUTH=PLAIN"));
        assert!(!caps.contains("STARTTLS"));
        assert!(!caps.contains("LOGINDISABLED"));
        assert!(!caps.contains("UIDPLUS"));
    }

    #[test]
    fn after_login() {
        let mut s = CapabilityState {
            authenticated: true,
            tls_active: true,
            append_limit: Some(50 << 20),
            ..CapabilityState::default()
        };
        s.optional.quota = true;
        s.optional.compress = true;
        let caps = Capabilities::for_state(&s);
        for c in [
            "IMAP4rev1",
            "IMAP4rev2",
            "LITERAL+",
            "IDLE",
            "NAMESPACE",
            "UIDPLUS",
            "MOVE",
            "CONDSTORE",
            "QRESYNC",
            "SPECIAL-USE",
            "ESEARCH",
            "THREAD=REFERENCES",
            "COMPRESS=DEFLATE",
            "QUOTA",
            "QUOTA=RES-STORAGE",
            "APPENDLIMIT=52428800",
            "utf8=accept",
        ] {
            assert!(caps.contains(c), "{c} missing from {caps:?}");
        }
        for c in [
            "AUTH=PLAIN",
            "LOGINDISABLED",
            "STARTTLS",
            "SASL-IR",
            "SEARCHRES",
        ] {
            assert!(!caps.contains(c), "{c} listed after login");
        }
        s.compress_active = true;
        s.optional.searchres = true;
        let caps = Capabilities::for_state(&s);
        assert!(!caps.contains("COMPRESS=DEFLATE"));
        assert!(caps.contains("SEARCHRES"));
        // No name twice.
        let names: Vec<&str> = caps.names().collect();
        let mut dedup = names.clone();
        dedup.sort_unstable();
        dedup.dedup();
        assert_eq!(dedup.len(), names.len());
    }

    #[test]
    fn enable_names() {
        let s = CapabilityState {
            authenticated: true,
            ..CapabilityState::default()
        };
        let caps = Capabilities::for_state(&s);
        assert_eq!(enableable("condstore", &caps), Some("CONDSTORE"));
        assert_eq!(enableable("IMAP4REV2", &caps), Some("IMAP4rev2"));
        assert_eq!(enableable("utf8=accept", &caps), Some("UTF8=ACCEPT"));
        assert_eq!(enableable("IDLE", &caps), None);
        assert_eq!(enableable("X-UNKNOWN", &caps), None);
    }
}
