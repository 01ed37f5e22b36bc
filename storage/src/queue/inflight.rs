//! Marks of operations between their append and the in-memory update that follows its durability, so
//! that a snapshot taken meanwhile checkpoints its own log below them (and recovery rescans them).

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;

/// The open marks of one writer (single-threaded; share it with `Rc`).
#[derive(Default)]
pub struct InFlight {
    next: Cell<u64>,
    open: RefCell<BTreeMap<u64, u64>>,
}

/// An open mark; closed when dropped.
pub struct Mark {
    id: u64,
    of: Rc<InFlight>,
}

impl InFlight {
    /// Opens a mark at `committed_end` (the writer's committed end, packed `seg_off`, read *before* the
    /// operation appends anything).
    pub fn begin(self: &Rc<Self>, committed_end: u64) -> Mark {
        let id = self.next.get();
        self.next.set(id + 1);
        self.open.borrow_mut().insert(id, committed_end);
        Mark {
            id,
            of: self.clone(),
        }
    }

    /// The lowest open mark, if any: a snapshot's checkpoint for this writer's log must not pass it.
    pub fn low(&self) -> Option<u64> {
        self.open.borrow().values().min().copied()
    }

    pub fn is_empty(&self) -> bool {
        self.open.borrow().is_empty()
    }
}

impl Drop for Mark {
    fn drop(&mut self) {
        self.of.open.borrow_mut().remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn low_is_the_oldest_open_mark() {
        let f = Rc::new(InFlight::default());
        assert_eq!(f.low(), None);
        let a = f.begin(10);
        let b = f.begin(5);
        let c = f.begin(20);
        assert_eq!(f.low(), Some(5));
        drop(b);
        assert_eq!(f.low(), Some(10));
        drop(a);
        drop(c);
        assert!(f.is_empty());
    }
}
