//! The dependency relation of the model checker: when two scheduling steps of different tasks
//! might not commute, so that both of their orders must be explored.
//!
//! A *step* is what one task runs between two scheduling points. Its footprint is observed, not
//! guessed: the faulty store records what the restore touched through it ([`Touch`]), and the
//! scheduler's points say which tasks a step created.
//!
//! # The relation
//!
//! Two steps of different tasks in the same process are **dependent** when
//! 1. either changes the disk (issues, lands, syncs, clears, lies, fills) and the other reads or
//!    changes it, in any database;
//! 2. both advance the same fault counter (the `nth` write or read of a kind is the one a fault
//!    hits, so their order decides which of them fails);
//! 3. both create tasks (task ids are handed out in creation order, and a schedule names tasks
//!    by id).
//!
//! Besides these, the explorer orders steps by *happens-before* edges that no schedule can
//! reverse: program order within a task; a `spawn` or `join` before the new tasks' first
//! steps; a task's last step before the step that returns from `join` or `await` on it; and a
//! crash or a process boundary before everything after it (the driver's steps order their
//! whole process only through these edges and the store).
//!
//! # Why every disk change is dependent on every other, whatever the database
//!
//! Two writes to different databases commute as far as the final state goes, and the issue that
//! asked for this checker proposed to call them independent. That is unsound here: the checker
//! crashes the process at *every* scheduling point, and the oracles read K and T (across the KV
//! metadata database and every tree database) and the tree's shape after every step. The state
//! between two commuting writes — one landed, the other not — differs in the two orders, and a
//! crash there is exactly how progress divergence becomes durable. So a disk change is a
//! *visible* transition (in the sense of partial-order reduction for safety properties) and
//! visible transitions must be ordered both ways. The unit test
//! `writes_to_different_databases_are_dependent` pins this, and the soundness test against
//! naive enumeration (`tests/check_soundness.rs`) checks the whole relation on real restores.
//!
//! # Why steps that touch nothing commute with everything
//!
//! The restore's tasks share no memory except through the store and the runtime: restore-core
//! has no `Mutex`, `RefCell` or atomic outside its stores and its thread runtime (checked by
//! `grep`; the join arms borrow disjoint fields, which the borrow checker enforces, and the
//! spawned writers own their batches). The harness state a step can reach — the driver's shared
//! record — belongs to the driver task alone, and the trace recorder only observes. So a step
//! whose store footprint is empty (verifying a proof, hashing, freezing nodes) reads and writes
//! only its own task's memory, and commutes with every step of every other task.

use crate::fault::Touch;

/// What one step touched.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Footprint {
    /// Through the store.
    pub store: Touch,
    /// Created one or more tasks (spawn or join).
    pub creates_tasks: bool,
    /// Changed harness state that a crash state carries besides the disk (the driver's record
    /// of finishes, phases and deliveries; the fault counters while a fault is armed), or
    /// judged the store (the final-state check when `finish` returns Ok).
    pub visible: bool,
}

impl Footprint {
    /// A step that touched nothing shared.
    pub fn local() -> Footprint {
        Footprint::default()
    }

    pub fn union(self, o: Footprint) -> Footprint {
        Footprint {
            store: self.store.union(o.store),
            creates_tasks: self.creates_tasks || o.creates_tasks,
            visible: self.visible || o.visible,
        }
    }
}

/// Whether the two steps (of different tasks, in one process) may fail to commute.
pub fn dependent(a: &Footprint, b: &Footprint) -> bool {
    let (x, y) = (a.store, b.store);
    (x.writes && (y.writes || y.reads))
        || (y.writes && x.reads)
        || (x.counters & y.counters) != 0
        || (a.creates_tasks && b.creates_tasks)
        || (a.visible && (b.visible || y.writes))
        || (b.visible && x.writes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fp(reads: bool, writes: bool, counters: u8) -> Footprint {
        Footprint {
            store: Touch {
                reads,
                writes,
                counters,
            },
            creates_tasks: false,
            visible: false,
        }
    }

    #[test]
    fn local_steps_commute_with_everything() {
        let all = [
            fp(true, false, 0),
            fp(false, true, 0),
            fp(true, true, 3),
            Footprint {
                creates_tasks: true,
                ..Footprint::local()
            },
        ];
        for other in all {
            assert!(!dependent(&Footprint::local(), &other));
            assert!(!dependent(&other, &Footprint::local()));
        }
    }

    #[test]
    fn reads_commute_with_reads_but_not_with_writes() {
        assert!(!dependent(&fp(true, false, 0), &fp(true, false, 0)));
        assert!(dependent(&fp(true, false, 0), &fp(false, true, 0)));
        assert!(dependent(&fp(false, true, 0), &fp(true, false, 0)));
    }

    #[test]
    fn writes_to_different_databases_are_dependent() {
        // A KV shard write and a tree shard write land in different databases, yet a crash
        // between them shows which came first: both orders must be explored.
        assert!(dependent(&fp(false, true, 0), &fp(false, true, 0)));
    }

    #[test]
    fn fault_counters_order_their_operations() {
        // Two node-batch writes race for "the 2nd node batch fails".
        assert!(dependent(&fp(false, false, 1), &fp(false, false, 1)));
        // A node-batch count and a KV-write count are different counters.
        assert!(!dependent(&fp(false, false, 1), &fp(false, false, 2)));
    }

    #[test]
    fn task_creation_orders_task_ids() {
        let spawn = Footprint {
            creates_tasks: true,
            ..Footprint::local()
        };
        assert!(dependent(&spawn, &spawn));
        assert!(!dependent(&spawn, &fp(false, true, 0)));
    }

    #[test]
    fn visible_steps_are_ordered_against_disk_changes() {
        let visible = Footprint {
            visible: true,
            ..Footprint::local()
        };
        // The driver recording a finish vs a background write: a crash between them carries a
        // different record with the same disk in the two orders.
        assert!(dependent(&visible, &fp(false, true, 0)));
        assert!(dependent(&visible, &visible));
        // A read changes nothing a crash carries.
        assert!(!dependent(&visible, &fp(true, false, 0)));
        assert!(!dependent(&visible, &Footprint::local()));
    }

    #[test]
    fn the_relation_is_symmetric() {
        let samples = [
            Footprint::local(),
            fp(true, false, 0),
            fp(false, true, 0),
            fp(false, false, 1),
            fp(true, false, 4),
            Footprint {
                creates_tasks: true,
                ..fp(true, false, 0)
            },
            Footprint {
                visible: true,
                ..Footprint::local()
            },
        ];
        for a in &samples {
            for b in &samples {
                assert_eq!(dependent(a, b), dependent(b, a), "{a:?} vs {b:?}");
            }
        }
    }
}
