//! The `pipelined` strategy's shape, read off its trace: what makes it fast (each chunk's commit
//! runs beside the next chunk's verification, in one KV write plus one node batch, with the KV
//! progress read once) must not be lost by a change that still keeps every oracle green.

mod support;

use harness::trace::{DriverStep, Op, Point};
use restore_core::strategy::CommitStrategy;
use support::{case, report, run};

#[test]
fn each_commit_is_awaited_only_after_the_next_chunk_was_handed_over() {
    let c = case(CommitStrategy::Pipelined, &[3, 4, 3, 5]);
    let o = run(&c);
    assert!(o.passed(), "{}", report(&c, &o));
    let ev = &o.trace.events;
    let spawns: Vec<(usize, u32, harness::sim::TaskId)> = ev
        .iter()
        .enumerate()
        .filter_map(|(i, e)| match e.what {
            Point::Spawn(t) => Some((i, e.chunk.expect("spawned while feeding a chunk"), t)),
            _ => None,
        })
        .collect();
    assert_eq!(spawns.len(), 4, "one commit per chunk\n{}", report(&c, &o));
    for (at, chunk, task) in spawns {
        let awaited = ev
            .iter()
            .position(|e| matches!(e.what, Point::Await(t) if t == task))
            .unwrap_or_else(|| panic!("commit of chunk {chunk} never awaited"));
        assert!(awaited > at);
        // Awaited by the next chunk (after it was handed to add_chunk), or by finish.
        let handed_over = ev[at..awaited].iter().any(|e| {
            matches!(e.what, Point::Driver(DriverStep::AddChunk { .. }))
                && e.chunk == Some(chunk + 1)
                || matches!(e.what, Point::Driver(DriverStep::Finish))
        });
        assert!(
            handed_over,
            "the commit of chunk {chunk} was awaited before the next step began\n{}",
            report(&c, &o)
        );
        // Exactly one commit in flight: no other spawn between this spawn and its await.
        assert!(
            !ev[at + 1..awaited]
                .iter()
                .any(|e| matches!(e.what, Point::Spawn(_))),
            "two commits in flight\n{}",
            report(&c, &o)
        );
    }
}

#[test]
fn a_commit_is_one_atomic_kv_write_then_one_node_batch_and_progress_is_read_once() {
    let c = case(CommitStrategy::Pipelined, &[3, 4, 3, 5]);
    let o = run(&c);
    let ev = &o.trace.events;
    let writer_ops: Vec<Op> = ev
        .iter()
        .filter(|e| e.task_name == "writer")
        .filter_map(|e| match e.what {
            Point::Before(op, _) => Some(op),
            _ => None,
        })
        .filter(|op| !matches!(op, Op::NodeShard { .. }))
        .collect();
    let sizes = [3u32, 4, 3, 5];
    assert_eq!(writer_ops.len(), 2 * sizes.len(), "{}", report(&c, &o));
    for (pair, rows) in writer_ops.chunks(2).zip(sizes) {
        assert!(
            matches!(pair[0], Op::KvWrite { rows: r, progress: true } if r == rows),
            "rows and progress of a chunk go in one write, before its nodes: {pair:?}\n{}",
            report(&c, &o)
        );
        assert!(
            matches!(pair[1], Op::NodeBatch { .. }),
            "{pair:?}\n{}",
            report(&c, &o)
        );
    }
    // Besides open and finish, the pipeline reads KV progress once, for its first chunk, and
    // carries it in memory after that.
    let reads_while_feeding = ev
        .iter()
        .filter(|e| matches!(e.what, Point::Before(Op::ProgressRead, _)) && e.chunk.is_some())
        .count();
    assert_eq!(reads_while_feeding, 1, "{}", report(&c, &o));
}
