//! Slots (at most N holders) for the backends whose lock has one holder:
//! `socket`, `tcp` and `flock`. (`semaphore` counts natively; `mysql` does
//! the same as this on one connection.)
//!
//! The group is N ordinary locks, one per slot, and a gate. Holding slot k
//! is holding lock k, so "at most N" is exactly as strong as each lock:
//! released on any death, never inherited. The gate only orders the
//! waiters: every acquirer takes the gate first (with the backend's own
//! fair wait: the FIFO hand-over of `wake`, the kernel's `flock` queue),
//! then, holding it, takes any free slot and gives the gate back. So
//! newcomers cannot barge past a waiter, and only the waiter at the head,
//! the gate holder, watches the slots: it sleeps on one slot at a time
//! (and is woken at once when that one frees) for a nap that grows from
//! [`NAP_START`] to [`NAP_CAP`], then tries them all again. Nobody spins,
//! and no waiter is starved while slots keep being freed.

use std::time::Duration;

use super::{Backend, Holder, ResourceId};
use crate::{
    deadline::{Deadline, Timeout},
    error::Result,
};

const NAP_START: Duration = Duration::from_millis(2);
const NAP_CAP: Duration = Duration::from_millis(50);

pub(crate) struct Slotted {
    gate: Box<dyn Backend>,
    slots: Vec<Box<dyn Backend>>,
    held: Option<u16>,
}

impl Slotted {
    pub(crate) fn new(gate: Box<dyn Backend>, slots: Vec<Box<dyn Backend>>) -> Self {
        Self { gate, slots, held: None }
    }

    /// Takes a free slot, waiting until `deadline`; the gate is held.
    fn take_any(&mut self, deadline: &Deadline) -> Result<bool> {
        let count = self.slots.len();
        // Processes start at different slots, so that a try usually
        // succeeds at once when slots are free.
        let start = std::process::id() as usize % count;
        let (mut watched, mut nap) = (start, NAP_START);
        let once = Deadline::start(Timeout::NoWait);
        loop {
            for k in (start..count).chain(0..start) {
                if self.slots[k].acquire(&once)? {
                    return Ok(self.took(k));
                }
            }
            if !deadline.may_wait() || deadline.expired() {
                return Ok(false);
            }
            if self.slots[watched].acquire(&deadline.within(nap))? {
                return Ok(self.took(watched));
            }
            watched = (watched + 1) % count;
            nap = (nap * 2).min(NAP_CAP);
        }
    }

    fn took(&mut self, slot: usize) -> bool {
        self.held = Some(u16::try_from(slot).expect("at most MAX_SLOTS slots"));
        true
    }
}

impl Backend for Slotted {
    fn acquire(&mut self, deadline: &Deadline) -> Result<bool> {
        if !self.gate.acquire(deadline)? {
            return Ok(false);
        }
        let taken = self.take_any(deadline);
        let gate_released = self.gate.release();
        if let (Ok(true), Err(_)) = (&taken, &gate_released) {
            self.release()?;
        }
        gate_released?;
        taken
    }

    fn release(&mut self) -> Result<bool> {
        match self.held.take() {
            Some(slot) => self.slots[usize::from(slot)].release(),
            None => Ok(false),
        }
    }

    fn still_held(&mut self) -> Result<bool> {
        match self.held {
            Some(slot) => self.slots[usize::from(slot)].still_held(),
            None => Ok(false),
        }
    }

    fn slot(&self) -> Option<u16> {
        self.held
    }

    /// `None` as soon as one slot is free: then a single try would succeed.
    fn holder(&mut self) -> Result<Option<Holder>> {
        let mut first = None;
        for (slot, lock) in (0..).zip(&mut self.slots) {
            match lock.holder()? {
                None => return Ok(None),
                Some(holder) => first = first.or(Some(holder.in_slot(slot))),
            }
        }
        Ok(first)
    }

    fn holders(&mut self) -> Result<Vec<Holder>> {
        let mut holders = Vec::new();
        for (slot, lock) in (0..).zip(&mut self.slots) {
            holders.extend(lock.holder()?.map(|holder| holder.in_slot(slot)));
        }
        Ok(holders)
    }

    /// The group is known by its slot 0, which a plain lock on the name
    /// also takes.
    fn resource(&mut self) -> Result<ResourceId> {
        self.slots[0].resource()
    }
}
