mod support;
use harness::case::{Case, GenConfig};
use harness::oracle::Oracle;
use harness::trace::{Op, Point};
use restore_core::strategy::CommitStrategy as S;

#[test]
fn probe() {
    if std::env::var("PROBE").unwrap_or_default() != "inv" { return; }
    for s in S::ALL {
        let mut bad = 0; let mut n = 0;
        for seed in 0..1500u64 {
            let c = Case::generate(seed, s, &GenConfig::default());
            let o = support::run(&c);
            let Some(v) = o.violations.iter().find(|v| v.oracle == Oracle::ProgressDivergence) else { continue };
            n += 1;
            let e = &o.trace.events[v.event];
            let kvp = matches!(e.what, Point::After(Op::KvWrite { progress: true, .. }, _, _));
            let tw = matches!(e.what, Point::After(Op::NodeShard { .. } | Op::NodeBatch { .. }, _, _));
            let cr = matches!(e.what, Point::Crash { .. });
            let ahead = e.k > e.t;
            let ok = (ahead && (kvp || cr)) || (!ahead && (tw || cr));
            let prev_ok = v.event == 0 || { let p = &o.trace.events[v.event-1]; p.life != e.life || { let d = p.k as i64 - p.t as i64; 0 <= d && d <= p.l as i64 + 1 } };
            if !ok || !prev_ok { bad += 1; if bad <= 2 { println!("{s} seed {seed}: {e} ok={ok} prev_ok={prev_ok}"); } }
        }
        println!("{s}: divergent {n}, invariant broken {bad}");
    }
}
