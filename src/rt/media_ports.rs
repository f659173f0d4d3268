//! The pool of RTP ports. RTP takes the even port of each pair; the odd one
//! above is left for RTCP (RFC 3550 §11).
//!
//! Invariant: a port is either in the free list or held by exactly one call.
//! Released ports go to the back of the list, so a port is reused as late as
//! possible and stray packets of an old call do not reach a new one.

use std::collections::VecDeque;

#[derive(Debug)]
pub struct PortPool {
    free: VecDeque<u16>,
}

impl PortPool {
    /// All even ports `p` in `low..=high` with `p + 1 <= high`.
    pub fn new((low, high): (u16, u16)) -> PortPool {
        let first = low + low % 2;
        let free = (first..high).step_by(2).collect();
        PortPool { free }
    }

    pub fn take(&mut self) -> Option<u16> {
        self.free.pop_front()
    }

    pub fn release(&mut self, port: u16) {
        debug_assert!(!self.free.contains(&port), "port {port} released twice");
        self.free.push_back(port);
    }

    pub fn available(&self) -> usize {
        self.free.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn even_ports_with_room_for_rtcp() {
        let mut p = PortPool::new((20001, 20006));
        assert_eq!(p.available(), 2);
        assert_eq!(p.take(), Some(20002));
        assert_eq!(p.take(), Some(20004));
        assert_eq!(p.take(), None);
        p.release(20002);
        assert_eq!(p.take(), Some(20002));
    }

    #[test]
    fn released_ports_are_reused_last() {
        let mut p = PortPool::new((30000, 30009));
        let a = p.take().unwrap();
        p.release(a);
        assert_ne!(p.take(), Some(a));
    }
}
