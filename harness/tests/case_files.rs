//! Case files: a case survives a JSON round trip exactly, and every kind of bad file — broken
//! JSON, a truncated file, a wrong format string, an unknown name — is a `CaseError` that says
//! where and what, never a panic.

mod support;

use harness::case::{
    CASE_FORMAT, Case, CaseError, DriverPolicy, GenConfig, LayoutCase, OnError, StoreKind,
};
use harness::fault::{CrashKind, Effect, TamperKind, Target};
use harness::sim::PolicyKind;
use restore_core::strategy::{CommitMode, CommitStrategy};
use support::{case, fault, with_corruption, with_crash, with_faults};

/// A case using every variant of every enum a case file can hold.
fn everything_case() -> Case {
    let targets = [
        Target::NodeBatch { nth: 2 },
        Target::ChunkBatch { chunk: 1 },
        Target::KvWrite { nth: 0 },
        Target::ProgressRead { nth: 3 },
        Target::NodeRead { nth: 4 },
        Target::RightmostLeaf { nth: 1 },
    ];
    let effects = [
        Effect::IoError,
        Effect::DiskFull,
        Effect::Torn { shards: 2 },
        Effect::FailedButPersisted,
        Effect::AckThenLost,
        Effect::Slow { points: 7 },
    ];
    let faults: Vec<_> = targets
        .iter()
        .zip(effects.iter())
        .map(|(t, e)| fault(*t, *e))
        .collect();
    let mut c = with_faults(case(CommitStrategy::WaitThenJoin, &[2, 3, 1]), &faults);
    c = with_crash(c, 0, 17, CrashKind::Process);
    c = with_crash(c, 1, 5, CrashKind::power_loss(3));
    for (chunk, t) in [
        TamperKind::ChangeValue { item: 1 },
        TamperKind::DropKey { item: 0 },
        TamperKind::WrongSibling { sibling: 0 },
        TamperKind::SwapOrder { item: 0 },
        TamperKind::TruncateProof,
        TamperKind::ExtraSibling,
    ]
    .into_iter()
    .enumerate()
    {
        c = with_corruption(c, (chunk % 3) as u32, t, 2);
    }
    c.commit = Some(CommitMode::Sync);
    c.store = StoreKind::Rocksdb;
    c.snapshot.layout = LayoutCase::Clustered {
        clusters: 3,
        nibbles: 5,
    };
    c.schedule = PolicyKind::Replay {
        decisions: vec![1, 2, 0, 7],
    };
    c.driver = DriverPolicy {
        on_error: OnError::RetrySameObject,
        retries: 2,
        max_lives: 3,
    };
    c
}

#[test]
fn generated_cases_round_trip_exactly() {
    for seed in 0..300 {
        for strategy in CommitStrategy::ALL {
            for store in [StoreKind::Mem, StoreKind::Rocksdb] {
                let c = Case::generate(
                    seed,
                    strategy,
                    &GenConfig {
                        store,
                        ..GenConfig::default()
                    },
                );
                let text = c.to_json();
                let back = Case::from_json(&text)
                    .unwrap_or_else(|e| panic!("seed {seed} {strategy}: {e}\n{text}"));
                assert_eq!(back, c);
                assert_eq!(back.to_json(), text, "serialisation is stable");
            }
        }
    }
}

#[test]
fn every_variant_round_trips() {
    let mut cases = vec![everything_case()];
    for layout in [
        LayoutCase::Random,
        LayoutCase::SharedPrefix { nibbles: 9 },
        LayoutCase::Adjacent,
    ] {
        let mut c = everything_case();
        c.snapshot.layout = layout;
        cases.push(c);
    }
    for schedule in [
        PolicyKind::RandomWalk { seed: u64::MAX },
        PolicyKind::Pct {
            seed: 3,
            depth: 4,
            horizon: 99,
        },
        PolicyKind::FirstRunnable,
        PolicyKind::Replay { decisions: vec![] },
        PolicyKind::Dfs {
            prefix: vec![0, 3, 1],
        },
    ] {
        let mut c = everything_case();
        c.schedule = schedule;
        cases.push(c);
    }
    for strategy in CommitStrategy::ALL {
        for commit in [None, Some(CommitMode::Async), Some(CommitMode::Sync)] {
            let mut c = everything_case();
            c.strategy = strategy;
            c.commit = commit;
            cases.push(c);
        }
    }
    for c in cases {
        let text = c.to_json();
        assert_eq!(Case::from_json(&text), Ok(c), "{text}");
    }
}

/// 1-based number of the first line of `text` containing `needle`.
fn line_of(text: &str, needle: &str) -> usize {
    text.lines()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("`{needle}` not in\n{text}"))
        + 1
}

/// The parse error for `text`, failing the test on success or on another error kind.
fn parse_error(text: &str) -> (usize, usize, String) {
    match Case::from_json(text) {
        Err(CaseError::Parse {
            line,
            column,
            message,
        }) => (line, column, message),
        other => panic!("expected a parse error, got {other:?}\nfor:\n{text}"),
    }
}

#[test]
fn malformed_json_names_line_and_column() {
    let good = everything_case().to_json();
    // A doubled comma after the strategy, on the strategy's line.
    let needle = format!("\"strategy\": \"{}\",", CommitStrategy::WaitThenJoin);
    let bad = good.replacen(&needle, &format!("{needle},"), 1);
    assert_ne!(bad, good);
    let (line, column, message) = parse_error(&bad);
    let expected_line = line_of(&bad, &needle);
    assert_eq!(line, expected_line, "{message}");
    let text_line = bad.lines().nth(line - 1).unwrap();
    let comma = text_line.rfind(',').unwrap() + 1; // 1-based column of the extra comma
    assert_eq!(column, comma, "{message}\n{text_line}");
    assert!(
        message.contains(&format!("line {line} column {column}")),
        "{message}"
    );
    // The error's own rendering carries the position too.
    let shown = CaseError::Parse {
        line,
        column,
        message: message.clone(),
    }
    .to_string();
    assert!(
        shown.contains(&format!("line {line}, column {column}")),
        "{shown}"
    );

    // Not JSON at all, or JSON of the wrong shape.
    for (text, says) in [
        ("", "EOF while parsing"),
        ("   ", "EOF while parsing"),
        ("{", "EOF while parsing"),
        ("not json", "expected"),
        ("}", "expected value"),
        ("\u{0}\u{1}", "expected value"),
        ("[]", "expected struct Case"),
        ("null", "invalid type"),
        ("42", "invalid type"),
    ] {
        let (line, _, message) = parse_error(text);
        assert_eq!(line, 1, "{text:?}: {message}");
        assert!(message.contains(says), "{text:?}: {message}");
    }
}

#[test]
fn every_truncation_of_a_case_file_is_a_parse_error() {
    let good = everything_case().to_json();
    let mut eof_errors = 0;
    let mut cuts = 0;
    for (cut, _) in good.char_indices().skip(1) {
        let prefix = &good[..cut];
        let (line, column, message) = parse_error(prefix);
        cuts += 1;
        // The error is placed inside the text that is there.
        let lines = prefix.matches('\n').count() + 1;
        assert!(
            line <= lines,
            "cut {cut}: line {line} of {lines}: {message}"
        );
        let last = prefix.split('\n').nth(line - 1).unwrap();
        assert!(column <= last.len() + 1, "cut {cut}: {message}");
        eof_errors += usize::from(message.contains("EOF while parsing"));
    }
    // Nearly every cut is reported as the end of the file (the rest end in a half keyword).
    assert!(eof_errors * 10 >= cuts * 9, "{eof_errors} of {cuts}");
    assert_eq!(Case::from_json(&good), Ok(everything_case()));
}

#[test]
fn a_wrong_format_string_is_named() {
    let mut c = everything_case();
    c.format = "restore-sim/case/v0".into();
    let e = Case::from_json(&c.to_json()).unwrap_err();
    assert_eq!(e, CaseError::Format("restore-sim/case/v0".into()));
    let shown = e.to_string();
    assert!(shown.contains("restore-sim/case/v0"), "{shown}");
    assert!(shown.contains(CASE_FORMAT), "{shown}");

    // Missing entirely: a parse error naming the field.
    let without =
        everything_case()
            .to_json()
            .replacen(&format!("\"format\": \"{CASE_FORMAT}\","), "", 1);
    let (_, _, message) = parse_error(&without);
    assert!(message.contains("missing field `format`"), "{message}");
}

#[test]
fn an_unknown_strategy_name_is_a_parse_error_naming_it() {
    let good = everything_case().to_json();
    let bad = good.replacen(
        &format!("\"strategy\": \"{}\"", CommitStrategy::WaitThenJoin),
        "\"strategy\": \"join-faster\"",
        1,
    );
    let (line, _, message) = parse_error(&bad);
    assert_eq!(line, line_of(&bad, "\"strategy\""), "{message}");
    assert!(message.contains("join-faster"), "{message}");
    assert!(message.contains("strategy"), "{message}");
    // It lists what would have been accepted.
    for s in CommitStrategy::ALL {
        assert!(message.contains(s.name()), "{message}");
    }
}

#[test]
fn other_bad_fields_are_parse_errors_naming_the_field_or_value() {
    let good = everything_case().to_json();
    // (what to replace, replacement, a string the message must contain, the line to expect)
    let cases: [(&str, &str, &str, &str); 10] = [
        (
            "\"commit\": \"sync\"",
            "\"commit\": \"eventually\"",
            "eventually",
            "\"commit\"",
        ),
        (
            "\"store\": \"rocksdb\"",
            "\"store\": \"tape\"",
            "tape",
            "\"store\"",
        ),
        (
            "\"effect\": \"io-error\"",
            "\"effect\": \"explode\"",
            "explode",
            "\"explode\"",
        ),
        (
            "\"op\": \"kv-write\"",
            "\"op\": \"kv-erase\"",
            "kv-erase",
            "\"kv-erase\"",
        ),
        (
            "\"tamper\": \"truncate-proof\"",
            "\"tamper\": \"shred\"",
            "shred",
            "\"shred\"",
        ),
        (
            "\"kind\": \"replay\"",
            "\"kind\": \"chaos\"",
            "chaos",
            "\"chaos\"",
        ),
        (
            "\"on_error\": \"retry-same-object\"",
            "\"on_error\": \"ignore\"",
            "ignore",
            "\"on_error\"",
        ),
        (
            "\"keys\": 6",
            "\"keys\": \"six\"",
            "invalid type",
            "\"keys\"",
        ),
        (
            "\"retries\": 2",
            "\"retries\": -2",
            "invalid value",
            "\"retries\"",
        ),
        (
            "\"layout\": \"clustered\"",
            "\"layout\": \"spiral\"",
            "spiral",
            "\"spiral\"",
        ),
    ];
    for (from, to, mentions, at) in cases {
        assert!(good.contains(from), "`{from}` not in the case file\n{good}");
        let bad = good.replacen(from, to, 1);
        let (line, _, message) = parse_error(&bad);
        assert!(message.contains(mentions), "{to}: {message}");
        // serde reports a tagged enum's error at the end of its object, so accept any line
        // from the bad value to the end of the enclosing object.
        let bad_line = line_of(&bad, at);
        assert!(
            line >= bad_line && line <= bad_line + 4,
            "{to}: line {line}, expected near {bad_line}: {message}"
        );
    }

    let missing = good.replacen("\"driver\": {", "\"drivers\": {", 1);
    let (_, _, message) = parse_error(&missing);
    assert!(message.contains("missing field `driver`"), "{message}");
}
