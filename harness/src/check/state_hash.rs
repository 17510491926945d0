//! The state hash: what a restart after a crash depends on, as one SHA3-256 value, so that crash
//! states reached by different schedules (or different crash points) are explored once.
//!
//! A restart is a deterministic function of
//! * the durable data of the restore's version ([`Image`]: nodes, KV rows, progress, usage);
//! * how the process died (process crash or power loss: a process crash after a successful
//!   `finish` is judged again on what survives);
//! * the harness state carried across the crash: which process comes next and how many more
//!   may crash (the bound), the fault state ([`FaultCarry`]), whether `finish` succeeded in
//!   this process or any earlier one, the plan's phase, and the corrupted deliveries so far
//!   (only while a corruption is still to come).
//!
//! Nothing else survives a crash: every task, the in-memory restore and the disk's queues die
//! with the process. Two crash states with the same hash therefore have the same futures — the
//! same schedules, the same oracle verdicts — and exploring one of them covers both.
//!
//! The encoding is fixed and length-prefixed (no `Debug` output, no map iteration order), so the
//! hash is stable across runs and builds.

use restore_core::HashValue;
use restore_core::codec::{encode_node, encode_node_key, encode_progress, encode_usage};

use crate::fault::{FaultCarry, Image};

/// The harness state a restart inherits besides the disk.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Carry {
    /// The process that runs after the crash.
    pub next_life: u32,
    /// Crashes the bound still allows after this one.
    pub crashes_left: u32,
    pub faults: FaultCarry,
    /// `finish` returned Ok in the crashing process (a process crash then re-judges it).
    pub finished_in_life: bool,
    /// `finish` returned Ok in some process.
    pub completed: bool,
    /// The restore plan's phase in progress.
    pub phase: usize,
    /// Deliveries per chunk, when a corruption is still to come (empty otherwise).
    pub deliveries: Vec<u32>,
    /// Keys of corrupted rows delivered so far, when the case corrupts chunks.
    pub corrupted_keys: Vec<HashValue>,
    /// What of the plan is still to come: the faults not fired yet and the case's
    /// corruptions, in a fixed text form (two jobs of different plans never share futures).
    pub plan_rest: String,
    /// A disk of several databases lied earlier: from then on two oracles no longer judge.
    pub lie_seen: bool,
}

struct Enc(Vec<u8>);

impl Enc {
    fn tag(&mut self, t: u8) {
        self.0.push(t);
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn bytes(&mut self, b: &[u8]) {
        self.u64(b.len() as u64);
        self.0.extend_from_slice(b);
    }
    fn flag(&mut self, b: bool) {
        self.0.push(u8::from(b));
    }
}

/// The hash of the data a crash leaves: equal images, equal hashes.
pub fn image_hash(image: &Image) -> HashValue {
    let mut e = Enc(Vec::with_capacity(4096));
    encode_image(&mut e, image);
    HashValue::sha3(&e.0)
}

fn encode_image(e: &mut Enc, image: &Image) {
    e.tag(b'N');
    e.u64(image.nodes.len() as u64);
    for (k, n) in &image.nodes {
        e.bytes(&encode_node_key(k));
        e.bytes(&encode_node(n));
    }
    e.tag(b'R');
    e.u64(image.rows.len() as u64);
    for r in image.rows.values() {
        e.bytes(r.key_hash.as_bytes());
        e.bytes(&r.key);
        e.bytes(&r.value);
    }
    e.tag(b'P');
    match &image.progress {
        Some(p) => e.bytes(&encode_progress(p)),
        None => e.flag(false),
    }
    e.tag(b'U');
    match &image.usage {
        Some(u) => e.bytes(&encode_usage(u)),
        None => e.flag(false),
    }
}

/// The hash of a crash state: the image, how the process died, and what the harness carries.
pub fn crash_state_hash(image: &Image, power_loss: bool, carry: &Carry) -> HashValue {
    let mut e = Enc(Vec::with_capacity(4096));
    encode_image(&mut e, image);
    e.tag(b'K');
    e.flag(power_loss);
    e.tag(b'C');
    e.u64(u64::from(carry.next_life));
    e.u64(u64::from(carry.crashes_left));
    e.flag(carry.finished_in_life);
    e.flag(carry.completed);
    e.u64(carry.phase as u64);
    e.flag(carry.lie_seen);
    e.u64(carry.deliveries.len() as u64);
    for d in &carry.deliveries {
        e.u64(u64::from(*d));
    }
    e.u64(carry.corrupted_keys.len() as u64);
    for k in &carry.corrupted_keys {
        e.bytes(k.as_bytes());
    }
    e.bytes(carry.plan_rest.as_bytes());
    let f = &carry.faults;
    e.tag(b'F');
    match f.counters {
        Some(c) => {
            e.flag(true);
            for x in c {
                e.u64(u64::from(x));
            }
        }
        None => e.flag(false),
    }
    e.u64(f.fired.len() as u64);
    for x in &f.fired {
        e.flag(*x);
    }
    e.flag(f.disk_full);
    e.flag(f.lie_pending);
    e.u64(f.chunk_batches_seen.len() as u64);
    for c in &f.chunk_batches_seen {
        e.u64(u64::from(*c));
    }
    HashValue::sha3(&e.0)
}

#[cfg(test)]
mod tests {
    use restore_core::{HashValue, Progress, StateItem, Usage};

    use super::*;

    fn item(b: u8, v: &[u8]) -> StateItem {
        StateItem {
            key_hash: HashValue([b; 32]),
            key: vec![b],
            value: v.to_vec(),
        }
    }

    fn image(rows: &[StateItem], progress: Option<u8>) -> Image {
        let mut img = Image::default();
        for r in rows {
            img.rows.insert(r.key_hash, r.clone());
        }
        img.progress = progress.map(|b| Progress {
            key_hash: HashValue([b; 32]),
            usage: Usage { items: 1, bytes: 2 },
        });
        img
    }

    #[test]
    fn equal_images_hash_equal_whatever_the_insertion_order() {
        let a = image(&[item(1, b"x"), item(2, b"y")], Some(2));
        let b = image(&[item(2, b"y"), item(1, b"x")], Some(2));
        assert_eq!(image_hash(&a), image_hash(&b));
        let c = Carry::default();
        assert_eq!(
            crash_state_hash(&a, true, &c),
            crash_state_hash(&b, true, &c)
        );
    }

    #[test]
    fn every_part_of_the_image_counts() {
        let base = image(&[item(1, b"x")], Some(1));
        let h = image_hash(&base);
        assert_ne!(h, image_hash(&image(&[item(1, b"z")], Some(1))), "value");
        assert_ne!(h, image_hash(&image(&[item(1, b"x")], None)), "progress");
        assert_ne!(
            h,
            image_hash(&image(&[item(1, b"x"), item(3, b"")], Some(1))),
            "an extra row"
        );
        let mut with_usage = base.clone();
        with_usage.usage = Some(Usage { items: 1, bytes: 1 });
        assert_ne!(h, image_hash(&with_usage), "usage");
    }

    #[test]
    fn the_encoding_is_unambiguous() {
        // Moving a byte from the key to the value must change the hash (length prefixes).
        let a = image(
            &[StateItem {
                key_hash: HashValue([1; 32]),
                key: vec![1, 2],
                value: vec![3],
            }],
            None,
        );
        let b = image(
            &[StateItem {
                key_hash: HashValue([1; 32]),
                key: vec![1],
                value: vec![2, 3],
            }],
            None,
        );
        assert_ne!(image_hash(&a), image_hash(&b));
    }

    #[test]
    fn the_carried_state_and_the_crash_kind_count() {
        let img = image(&[item(1, b"x")], Some(1));
        let c = Carry::default();
        let h = crash_state_hash(&img, false, &c);
        assert_ne!(h, crash_state_hash(&img, true, &c), "kind");
        let variants = [
            Carry {
                next_life: 1,
                ..c.clone()
            },
            Carry {
                crashes_left: 1,
                ..c.clone()
            },
            Carry {
                finished_in_life: true,
                ..c.clone()
            },
            Carry {
                completed: true,
                ..c.clone()
            },
            Carry {
                deliveries: vec![1],
                ..c.clone()
            },
            Carry {
                lie_seen: true,
                ..c.clone()
            },
            Carry {
                plan_rest: "io-error at node batch 2".into(),
                ..c.clone()
            },
            Carry {
                corrupted_keys: vec![HashValue([9; 32])],
                ..c.clone()
            },
            Carry {
                faults: FaultCarry {
                    counters: Some([1, 0, 0, 0, 0]),
                    ..FaultCarry::default()
                },
                ..c.clone()
            },
            Carry {
                faults: FaultCarry {
                    disk_full: true,
                    ..FaultCarry::default()
                },
                ..c.clone()
            },
        ];
        let mut seen = std::collections::BTreeSet::new();
        seen.insert(h);
        for v in &variants {
            assert!(seen.insert(crash_state_hash(&img, false, v)), "{v:?}");
        }
    }

    #[test]
    fn the_hash_is_stable() {
        // Computed by hand from the encoding above: an empty image, a process crash, nothing
        // carried. If this changes, so does every stored exploration figure.
        let mut e = Enc(Vec::new());
        e.tag(b'N');
        e.u64(0);
        e.tag(b'R');
        e.u64(0);
        e.tag(b'P');
        e.flag(false);
        e.tag(b'U');
        e.flag(false);
        let want_image = HashValue::sha3(&e.0);
        assert_eq!(image_hash(&Image::default()), want_image);
    }
}
