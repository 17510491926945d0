mod support;
use harness::case::OnError;
use harness::fault::*;
use restore_core::strategy::CommitStrategy as S;
use support::*;

fn show(c: &harness::case::Case, ss: &[S]) {
    for &s in ss {
        let cc = under(c, s);
        let o = run(&cc);
        println!(
            "===== {s} passed={} completed={} viol={:?}\n{}",
            o.passed(),
            o.completed,
            o.violations,
            if std::env::var("T").is_ok() {
                o.timeline()
            } else {
                String::new()
            }
        );
    }
}

#[test]
fn probe() {
    let which = std::env::var("PROBE").unwrap_or_default();
    let all = [
        S::JoinAsync,
        S::JoinSync,
        S::TreeThenKv,
        S::WaitThenJoin,
        S::VerifyKvTree,
        S::Pipelined,
    ];
    let c = match which.as_str() {
        "behind" => with_faults(
            case(S::JoinSync, &[3, 3, 3, 3]),
            &[fault(Target::KvWrite { nth: 1 }, Effect::IoError)],
        ),
        "d1" => with_faults(
            case(S::JoinAsync, &[3, 3, 3, 3]),
            &[fault(Target::ChunkBatch { chunk: 0 }, Effect::IoError)],
        ),
        "d2" => with_corruption(
            case(S::JoinAsync, &[3, 3, 3]),
            1,
            TamperKind::ChangeValue { item: 1 },
            1,
        ),
        "d3" => {
            let mut c = with_corruption(
                case(S::TreeThenKv, &[3, 3, 3]),
                2,
                TamperKind::ChangeValue { item: 1 },
                1,
            );
            c.driver.on_error = OnError::RetrySameObject;
            c.driver.retries = 1;
            c
        }
        "d4" => with_faults(
            case(S::JoinAsync, &[3, 3, 3, 3]),
            &[
                fault(Target::KvWrite { nth: 1 }, Effect::IoError),
                fault(Target::ChunkBatch { chunk: 1 }, Effect::IoError),
            ],
        ),
        "torn" => with_faults(
            case(S::JoinAsync, &[3, 3, 3, 3]),
            &[fault(
                Target::ChunkBatch { chunk: 1 },
                Effect::Torn { shards: 1 },
            )],
        ),
        "fbp" => with_faults(
            case(S::JoinAsync, &[3, 3, 3, 3]),
            &[fault(
                Target::ChunkBatch { chunk: 1 },
                Effect::FailedButPersisted,
            )],
        ),
        "full" => with_faults(
            case(S::JoinAsync, &[3, 3, 3, 3]),
            &[fault(Target::KvWrite { nth: 2 }, Effect::DiskFull)],
        ),
        _ => return,
    };
    show(&c, &all);
}
