//! A shard's queue snapshot, `queue-K.snap`: the pending entries of the logs it consumes, its durable
//! filings, and for every log the checkpoint they cover. Each run (generation) has one consumer per
//! log; for each log the newest snapshot that consumes it is the one recovery trusts.
//!
//! Format: `SMQ1`, crc32c of the body (u32 LE), the body (LEB128 integers, as in queue records).

use std::path::Path;

use crate::{Error, LogId, Position, Result};

use super::record::{put_pos, put_s, put_u, Envelope, Reader};
use super::state::Entry;

const MAGIC: &[u8; 4] = b"SMQ1";

/// The file name of shard `k`'s queue snapshot.
pub fn queue_snapshot_name(k: u32) -> String {
    format!("queue-{k}.snap")
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QueueSnapshot {
    /// The run that wrote it (the store's generation).
    pub generation: u64,
    /// The logs whose entries this shard consumes.
    pub consumes: Vec<LogId>,
    /// For each log, the packed `seg_off` below which every queue record and filing is covered.
    pub checkpoints: Vec<(LogId, u64)>,
    pub entries: Vec<Entry>,
    pub filed: Vec<(Position, String)>,
}

impl QueueSnapshot {
    pub fn encode(&self) -> Vec<u8> {
        let mut body = Vec::new();
        put_u(&mut body, self.generation);
        put_u(&mut body, self.consumes.len() as u64);
        for l in &self.consumes {
            put_u(&mut body, *l as u64);
        }
        put_u(&mut body, self.checkpoints.len() as u64);
        for (log, cp) in &self.checkpoints {
            put_u(&mut body, *log as u64);
            put_u(&mut body, *cp);
        }
        put_u(&mut body, self.entries.len() as u64);
        for e in &self.entries {
            e.env.encode_fields(&mut body);
            for d in &e.done {
                body.push(*d as u8);
            }
        }
        put_u(&mut body, self.filed.len() as u64);
        for (pos, account) in &self.filed {
            put_pos(&mut body, *pos);
            put_s(&mut body, account);
        }
        let mut out = Vec::with_capacity(body.len() + 8);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&crc32c::crc32c(&body).to_le_bytes());
        out.extend_from_slice(&body);
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<QueueSnapshot> {
        if bytes.len() < 8 || &bytes[..4] != MAGIC {
            return Err(Error::BadEvent("not a queue snapshot"));
        }
        let crc = u32::from_le_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
        let body = &bytes[8..];
        if crc32c::crc32c(body) != crc {
            return Err(Error::BadEvent("queue snapshot checksum mismatch"));
        }
        let mut r = Reader { b: body };
        let generation = r.u()?;
        let n = r.len(1)?;
        let mut consumes = Vec::with_capacity(n);
        for _ in 0..n {
            consumes.push(r.u32()?);
        }
        let n = r.len(2)?;
        let mut checkpoints = Vec::with_capacity(n);
        for _ in 0..n {
            checkpoints.push((r.u32()?, r.u()?));
        }
        let n = r.len(12)?;
        let mut entries = Vec::with_capacity(n);
        for _ in 0..n {
            let env = Envelope::decode_fields(&mut r)?;
            let mut done = Vec::with_capacity(env.recipients.len());
            for _ in 0..env.recipients.len() {
                done.push(r.byte()? != 0);
            }
            entries.push(Entry { env, done });
        }
        let n = r.len(4)?;
        let mut filed = Vec::with_capacity(n);
        for _ in 0..n {
            filed.push((r.pos()?, r.s()?));
        }
        if !r.b.is_empty() {
            return Err(Error::BadEvent("trailing bytes after the queue snapshot"));
        }
        Ok(QueueSnapshot {
            generation,
            consumes,
            checkpoints,
            entries,
            filed,
        })
    }

    pub fn load(path: &Path) -> Result<QueueSnapshot> {
        let bytes = std::fs::read(path).map_err(|e| Error::io("reading", path, e))?;
        QueueSnapshot::decode(&bytes).map_err(|e| Error::BadSnapshot {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })
    }

    /// Writes shard `k`'s snapshot into the data directory `root` (atomically: temporary file, sync,
    /// rename, directory sync).
    pub async fn write(&self, root: &Path, k: u32) -> Result<()> {
        crate::store::write_file_atomically(root, &queue_snapshot_name(k), self.encode()).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::{Recipient, Route};
    use proptest::prelude::*;

    fn snap() -> QueueSnapshot {
        let env = Envelope {
            message: Position::new(0, 1, 16),
            size: 10,
            received: 1_700_000_000,
            sender: "s@x.test".into(),
            recipients: vec![
                Recipient {
                    address: "a@x.test".into(),
                    route: Route::Local { owner: 1 },
                },
                Recipient {
                    address: "b@y.test".into(),
                    route: Route::Remote,
                },
            ],
        };
        QueueSnapshot {
            generation: 7,
            consumes: vec![0, 2],
            checkpoints: vec![(0, 1 << 32 | 400), (1, 16)],
            entries: vec![Entry {
                env,
                done: vec![true, false],
            }],
            filed: vec![(Position::new(1, 0, 16), "a@x.test".into())],
        }
    }

    #[test]
    fn round_trip_and_damage_is_refused() {
        let s = snap();
        let bytes = s.encode();
        assert_eq!(QueueSnapshot::decode(&bytes).unwrap(), s);
        for cut in 0..bytes.len() {
            assert!(QueueSnapshot::decode(&bytes[..cut]).is_err(), "cut {cut}");
        }
        let mut flipped = bytes.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert!(QueueSnapshot::decode(&flipped).is_err());
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(tail in proptest::collection::vec(any::<u8>(), 0..200)) {
            let mut bytes = MAGIC.to_vec();
            bytes.extend_from_slice(&crc32c::crc32c(&tail).to_le_bytes());
            bytes.extend_from_slice(&tail);
            let _ = QueueSnapshot::decode(&bytes);
        }
    }
}
