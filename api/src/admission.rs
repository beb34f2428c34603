//! Who executes now, who waits, and who is turned away.
//!
//! At most `executing` GraphQL requests run at once (executing is CPU-bound and holds an answer
//! in memory). More wait in a queue of at most `queued`; beyond it a request is answered 503
//! at once. One organization may hold at most half of the executing slots and half of the
//! queue, so requests of one tenant that are blocked (on a row lock, a slow statement, a slow
//! client) never take every slot: another tenant's request finds one free.
//!
//! A request is admitted before its body is read, so waiting requests hold no body in memory.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Why a request was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The queue (or this organization's share of it) is full.
    QueueFull,
}

/// The gate every GraphQL request passes.
#[derive(Debug)]
pub struct Admission {
    executing: Arc<Semaphore>,
    queued: usize,
    per_org_executing: usize,
    per_org_queued: usize,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    waiting: usize,
    orgs: HashMap<String, OrgState>,
}

#[derive(Debug)]
struct OrgState {
    executing: Arc<Semaphore>,
    waiting: usize,
    /// Requests of this organization inside the gate (waiting or executing).
    inside: usize,
}

/// A request's slot: executing until dropped.
#[derive(Debug)]
pub struct Slot {
    _global: OwnedSemaphorePermit,
    _org: OwnedSemaphorePermit,
    leave: Leave,
}

/// Forgets an organization's entry once its last request leaves.
#[derive(Debug)]
struct Leave {
    admission: Arc<Admission>,
    org: String,
    waiting: bool,
}

impl Drop for Leave {
    fn drop(&mut self) {
        let Ok(mut state) = self.admission.state.lock() else {
            return;
        };
        if self.waiting {
            state.waiting = state.waiting.saturating_sub(1);
        }
        let remove = match state.orgs.get_mut(&self.org) {
            Some(org) => {
                if self.waiting {
                    org.waiting = org.waiting.saturating_sub(1);
                }
                org.inside = org.inside.saturating_sub(1);
                org.inside == 0
            }
            None => false,
        };
        if remove {
            state.orgs.remove(&self.org);
        }
    }
}

impl Admission {
    /// A gate for `executing` requests at once and `queued` waiting.
    pub fn new(executing: usize, queued: usize) -> Arc<Self> {
        let executing = executing.max(1);
        Arc::new(Self {
            executing: Arc::new(Semaphore::new(executing)),
            queued,
            per_org_executing: executing.div_ceil(2),
            per_org_queued: queued.div_ceil(2),
            state: Mutex::new(State::default()),
        })
    }

    /// Waits for a slot for a request of `org`; refuses at once when the queue is full. The
    /// caller bounds the wait (the request's deadline).
    pub async fn admit(self: &Arc<Self>, org: &str) -> Result<Slot, Refusal> {
        let org_permits = {
            let Ok(mut state) = self.state.lock() else {
                return Err(Refusal::QueueFull);
            };
            let per_org_executing = self.per_org_executing;
            let entry = state
                .orgs
                .entry(org.to_owned())
                .or_insert_with(|| OrgState {
                    executing: Arc::new(Semaphore::new(per_org_executing)),
                    waiting: 0,
                    inside: 0,
                });
            let must_wait =
                entry.executing.available_permits() == 0 || self.executing.available_permits() == 0;
            if must_wait && entry.waiting >= self.per_org_queued {
                return Err(Refusal::QueueFull);
            }
            let org_permits = entry.executing.clone();
            entry.inside += 1;
            if must_wait {
                entry.waiting += 1;
            }
            if must_wait && state.waiting >= self.queued {
                if let Some(entry) = state.orgs.get_mut(org) {
                    entry.inside -= 1;
                    entry.waiting -= 1;
                    if entry.inside == 0 {
                        state.orgs.remove(org);
                    }
                }
                return Err(Refusal::QueueFull);
            }
            if must_wait {
                state.waiting += 1;
            }
            (org_permits, must_wait)
        };
        let (org_semaphore, waiting) = org_permits;
        let mut leave = Leave {
            admission: self.clone(),
            org: org.to_owned(),
            waiting,
        };
        // The organization's share first, so that its blocked requests queue behind each
        // other rather than in front of everyone else's.
        let org_permit = org_semaphore
            .acquire_owned()
            .await
            .map_err(|_| Refusal::QueueFull)?;
        let global = self
            .executing
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| Refusal::QueueFull)?;
        if leave.waiting {
            if let Ok(mut state) = self.state.lock() {
                state.waiting = state.waiting.saturating_sub(1);
                if let Some(entry) = state.orgs.get_mut(org) {
                    entry.waiting = entry.waiting.saturating_sub(1);
                }
            }
            leave.waiting = false;
        }
        Ok(Slot {
            _global: global,
            _org: org_permit,
            leave,
        })
    }
}

impl Slot {
    /// The organization this slot is for.
    pub fn org(&self) -> &str {
        &self.leave.org
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn one_organization_cannot_take_every_slot() {
        let gate = Admission::new(4, 4);
        let a1 = gate.admit("a").await.unwrap();
        let a2 = gate.admit("a").await.unwrap();
        // a's third request waits (its share is 2 of 4), a's fourth too, its fifth is refused.
        let g = gate.clone();
        let a3 = tokio::spawn(async move { g.admit("a").await });
        let g = gate.clone();
        let a4 = tokio::spawn(async move { g.admit("a").await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(gate.admit("a").await.unwrap_err(), Refusal::QueueFull);
        // b is served at once.
        let b = tokio::time::timeout(Duration::from_millis(100), gate.admit("b"))
            .await
            .expect("b is not starved")
            .unwrap();
        assert_eq!(b.org(), "b");
        drop((a1, a2));
        assert!(a3.await.unwrap().is_ok());
        assert!(a4.await.unwrap().is_ok());
    }

    #[tokio::test]
    async fn entries_are_forgotten_when_their_last_request_leaves() {
        let gate = Admission::new(2, 2);
        let slot = gate.admit("a").await.unwrap();
        drop(slot);
        assert!(gate.state.lock().unwrap().orgs.is_empty());
        let waiter = {
            let _held = gate.admit("b").await.unwrap();
            let g = gate.clone();
            let w = tokio::spawn(async move { g.admit("b").await });
            tokio::time::sleep(Duration::from_millis(20)).await;
            assert_eq!(gate.state.lock().unwrap().waiting, 1);
            w
        };
        drop(waiter.await.unwrap());
        let state = gate.state.lock().unwrap();
        assert_eq!(state.waiting, 0);
        assert!(state.orgs.is_empty());
    }
}
