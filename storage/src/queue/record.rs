//! Queue records, the payload of `Kind::QUEUE` records, and their compact binary encoding.
//!
//! Encoding: a version byte, a tag byte, then the fields (LEB128 integers, length-prefixed UTF-8
//! strings, positions as three integers). Decoding never panics and never allocates more than the input
//! could describe. Unknown tags are an error for this reader; newer tags (the relay's attempts and
//! bounces) get new numbers.

pub(crate) use crate::codec::{put_pos, put_s, put_u, Reader};
use crate::{Error, Position, Result};

const VERSION: u8 = 1;
const TAG_ENQUEUE: u8 = 1;
const TAG_DONE: u8 = 2;

/// How a recipient is reached.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route {
    /// Filed into the INBOX of a local account by its owner shard (`owner` as it was at acceptance;
    /// the consumer asks the owner of the current shard count).
    Local { owner: u32 },
    /// Delivered onward over SMTP by the relay consumer (issue 13).
    Remote,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recipient {
    /// The account (local) or the forward path (remote).
    pub address: String,
    pub route: Route,
}

/// What the queue keeps of one accepted message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope {
    /// The message record; also the queue id.
    pub message: Position,
    pub size: u32,
    /// Seconds since the epoch at acceptance (the INTERNALDATE of the filed copies).
    pub received: i64,
    /// The reverse path (empty for the null sender).
    pub sender: String,
    pub recipients: Vec<Recipient>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QueueRecord {
    Enqueue(Envelope),
    /// These recipients (indexes into the envelope's list) are finished: filed, or (later) delivered
    /// or bounced by the relay.
    Done {
        items: Vec<(Position, Vec<u32>)>,
    },
}

impl Envelope {
    pub(crate) fn encode_fields(&self, out: &mut Vec<u8>) {
        put_pos(out, self.message);
        put_u(out, self.size as u64);
        out.extend_from_slice(&self.received.to_le_bytes());
        put_s(out, &self.sender);
        put_u(out, self.recipients.len() as u64);
        for r in &self.recipients {
            put_s(out, &r.address);
            match r.route {
                Route::Local { owner } => {
                    out.push(0);
                    put_u(out, owner as u64);
                }
                Route::Remote => out.push(1),
            }
        }
    }

    pub(crate) fn decode_fields(r: &mut Reader<'_>) -> Result<Envelope> {
        let message = r.pos()?;
        let size = r.u32()?;
        let received = r.i64()?;
        let sender = r.s()?;
        // Every recipient takes at least 2 bytes.
        let n = r.len(2)?;
        let mut recipients = Vec::with_capacity(n);
        for _ in 0..n {
            let address = r.s()?;
            let route = match r.byte()? {
                0 => Route::Local { owner: r.u32()? },
                1 => Route::Remote,
                _ => return Err(Error::BadEvent("unknown queue route")),
            };
            recipients.push(Recipient { address, route });
        }
        Ok(Envelope {
            message,
            size,
            received,
            sender,
            recipients,
        })
    }
}

impl QueueRecord {
    /// The encoding of `Enqueue(env)` without building the record (no copy of the envelope).
    pub fn encode_enqueue(env: &Envelope) -> Vec<u8> {
        let mut out = vec![VERSION, TAG_ENQUEUE];
        env.encode_fields(&mut out);
        out
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![VERSION];
        match self {
            QueueRecord::Enqueue(env) => return QueueRecord::encode_enqueue(env),
            QueueRecord::Done { items } => {
                out.push(TAG_DONE);
                put_u(&mut out, items.len() as u64);
                for (pos, rcpts) in items {
                    put_pos(&mut out, *pos);
                    put_u(&mut out, rcpts.len() as u64);
                    for i in rcpts {
                        put_u(&mut out, *i as u64);
                    }
                }
            }
        }
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<QueueRecord> {
        let mut r = Reader { b: bytes };
        if r.byte()? != VERSION {
            return Err(Error::BadEvent("unknown queue record version"));
        }
        let rec = match r.byte()? {
            TAG_ENQUEUE => QueueRecord::Enqueue(Envelope::decode_fields(&mut r)?),
            TAG_DONE => {
                // An item takes at least 4 bytes (position and count).
                let n = r.len(4)?;
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    let pos = r.pos()?;
                    let m = r.len(1)?;
                    let mut rcpts = Vec::with_capacity(m);
                    for _ in 0..m {
                        rcpts.push(r.u32()?);
                    }
                    items.push((pos, rcpts));
                }
                QueueRecord::Done { items }
            }
            _ => return Err(Error::BadEvent("unknown queue record tag")),
        };
        if !r.b.is_empty() {
            return Err(Error::BadEvent("trailing bytes after the queue record"));
        }
        Ok(rec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn env() -> Envelope {
        Envelope {
            message: Position::new(1, 2, 300),
            size: 1234,
            received: -5,
            sender: "a@example.test".into(),
            recipients: vec![
                Recipient {
                    address: "b@example.test".into(),
                    route: Route::Local { owner: 1 },
                },
                Recipient {
                    address: "c@remote.test".into(),
                    route: Route::Remote,
                },
            ],
        }
    }

    #[test]
    fn enqueue_and_done_round_trip() {
        for rec in [
            QueueRecord::Enqueue(env()),
            QueueRecord::Done {
                items: vec![
                    (Position::new(0, 1, 16), vec![0, 3]),
                    (Position::new(9, 0, 9), vec![]),
                ],
            },
        ] {
            assert_eq!(QueueRecord::decode(&rec.encode()).unwrap(), rec);
        }
    }

    #[test]
    fn every_truncation_is_an_error() {
        let bytes = QueueRecord::Enqueue(env()).encode();
        for cut in 0..bytes.len() {
            assert!(QueueRecord::decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
    }

    fn arb_env() -> impl Strategy<Value = Envelope> {
        (
            any::<(u32, u32, u32)>(),
            any::<u32>(),
            any::<i64>(),
            ".{0,20}",
            proptest::collection::vec((".{0,20}", proptest::option::of(any::<u32>())), 0..5),
        )
            .prop_map(|((l, s, o), size, received, sender, rcpts)| Envelope {
                message: Position::new(l, s, o),
                size,
                received,
                sender,
                recipients: rcpts
                    .into_iter()
                    .map(|(address, owner)| Recipient {
                        address,
                        route: owner.map_or(Route::Remote, |owner| Route::Local { owner }),
                    })
                    .collect(),
            })
    }

    proptest! {
        #[test]
        fn round_trip(e in arb_env()) {
            let rec = QueueRecord::Enqueue(e);
            prop_assert_eq!(QueueRecord::decode(&rec.encode()).unwrap(), rec);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = QueueRecord::decode(&bytes);
        }

        #[test]
        fn flipped_bytes_never_panic(e in arb_env(), at in any::<usize>(), x in 1u8..) {
            let mut bytes = QueueRecord::Enqueue(e).encode();
            let i = at % bytes.len();
            bytes[i] ^= x;
            let _ = QueueRecord::decode(&bytes);
        }
    }
}
