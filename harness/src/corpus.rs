//! The regression corpus: failing (and must-pass) cases kept as files, each with the verdict
//! expected under each commit strategy, re-checked on every test run.
//!
//! One JSON file per entry, named `<name>.json`:
//!
//! ```json
//! {
//!   "format": "restore-sim/corpus/v1",
//!   "name": "audit-race",
//!   "about": "one line: what the entry shows",
//!   "expect": { "join-async": "progress-divergence", "pipelined": "pass" },
//!   "case": { ... a case file (restore-sim/case/v1) ... }
//! }
//! ```
//!
//! `expect` maps strategy names to `"pass"` (every oracle holds) or the name of the oracle that
//! must be the headline (first) violation. The case runs under each listed strategy (its own
//! `strategy` field only records where it was found). The safe strategies (`verify-kv-tree`,
//! `pipelined`) must pass every entry: an entry that expects a violation from one of them is
//! reported by [`check_dir`] as a policy failure even though the recorded verdict matches.
//!
//! [`add`] records the expectations by running the case under all six strategies: it writes
//! what the code does today, which is not necessarily what it should do, so a person must review
//! the recorded expectations before committing the file.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use restore_core::HashValue;
use restore_core::strategy::{CommitStrategy, Safety};
use serde::Serialize;
use serde::ser::SerializeMap;
use serde_json::Value;

use crate::case::{CASE_FORMAT, Case};
use crate::oracle::Oracle;
use crate::run::{Outcome, RunError, run_case};

/// Corpus file format version; bump on incompatible changes.
pub const CORPUS_FORMAT: &str = "restore-sim/corpus/v1";

const FIELDS: [&str; 5] = ["format", "name", "about", "expect", "case"];

/// The verdict expected from (or seen in) one run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// Every oracle holds.
    Pass,
    /// The headline violation is this oracle.
    Violates(Oracle),
}

impl Expect {
    /// The verdict of a run: its headline violation, or pass.
    pub fn of(o: &Outcome) -> Expect {
        match o.first_violation() {
            None => Expect::Pass,
            Some(v) => Expect::Violates(v.oracle),
        }
    }
}

impl fmt::Display for Expect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expect::Pass => f.write_str("pass"),
            Expect::Violates(o) => f.write_str(o.name()),
        }
    }
}

impl FromStr for Expect {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "pass" {
            return Ok(Expect::Pass);
        }
        s.parse().map(Expect::Violates).map_err(|_| {
            format!(
                "expected \"pass\" or an oracle name ({}), got `{s}`",
                Oracle::ALL.map(Oracle::name).join(", ")
            )
        })
    }
}

/// One corpus entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Lowercase letters, digits and dashes; the file is `<name>.json`.
    pub name: String,
    /// One line: what the entry shows.
    pub about: String,
    pub case: Case,
    /// Expected verdict per strategy, in [`CommitStrategy::ALL`] order.
    pub expect: Vec<(CommitStrategy, Expect)>,
}

/// What is wrong with one entry's text.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EntryError {
    #[error("not valid JSON (line {line}, column {column}): {message}")]
    Json {
        line: usize,
        column: usize,
        message: String,
    },
    #[error("a corpus entry must be a JSON object with fields {}", FIELDS.join(", "))]
    NotObject,
    #[error("field `{0}` is missing")]
    Missing(&'static str),
    #[error("unknown field `{0}` (the fields are {fields})", fields = FIELDS.join(", "))]
    Unknown(String),
    #[error("field `format`: unsupported corpus format `{0}` (this build reads `{CORPUS_FORMAT}`)")]
    Format(String),
    #[error("field `{field}`: {message}")]
    Field { field: String, message: String },
}

fn field_err(field: impl Into<String>, message: impl Into<String>) -> EntryError {
    EntryError::Field {
        field: field.into(),
        message: message.into(),
    }
}

/// Whether `name` is a valid entry name: 1–64 of `a-z`, `0-9`, `-`, starting with a letter or
/// digit.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('-')
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn string_field(
    obj: &serde_json::Map<String, Value>,
    f: &'static str,
) -> Result<String, EntryError> {
    match obj.get(f) {
        None => Err(EntryError::Missing(f)),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(other) => Err(field_err(
            f,
            format!("expected a string, got {}", kind(other)),
        )),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Deserializes the case, naming the part of it that is wrong.
fn parse_case(v: &Value) -> Result<Case, EntryError> {
    use crate::case::{ChunkingCase, DriverPolicy, SnapshotCase};
    use crate::fault::FaultPlan;
    use crate::sim::PolicyKind;

    fn part<T: serde::de::DeserializeOwned>(v: &Value, f: &str) -> Option<EntryError> {
        let x = v.get(f)?;
        serde_json::from_value::<T>(x.clone())
            .err()
            .map(|e| field_err(format!("case.{f}"), e.to_string()))
    }
    match serde_json::from_value::<Case>(v.clone()) {
        Ok(c) if c.format != CASE_FORMAT => Err(field_err(
            "case.format",
            format!(
                "unsupported case format `{}` (this build reads `{CASE_FORMAT}`)",
                c.format
            ),
        )),
        // The same limits as any case file: a corpus entry must not crash or hang the tool.
        Ok(c) => match c.validate() {
            Ok(()) => Ok(c),
            Err(e) => {
                let field = match &e {
                    crate::case::CaseError::Limit { field, .. } => format!("case.{field}"),
                    _ => "case".to_string(),
                };
                Err(field_err(field, e.to_string()))
            }
        },
        Err(e) => {
            if !v.is_object() {
                return Err(field_err(
                    "case",
                    format!("expected an object (a case), got {}", kind(v)),
                ));
            }
            // Point at the sub-object that fails, when one does.
            let deeper = part::<SnapshotCase>(v, "snapshot")
                .or_else(|| part::<ChunkingCase>(v, "chunking"))
                .or_else(|| part::<FaultPlan>(v, "faults"))
                .or_else(|| part::<PolicyKind>(v, "schedule"))
                .or_else(|| part::<DriverPolicy>(v, "driver"));
            Err(deeper.unwrap_or_else(|| field_err("case", e.to_string())))
        }
    }
}

impl Entry {
    /// Parses an entry, naming the field when something is wrong.
    pub fn from_json(text: &str) -> Result<Entry, EntryError> {
        let v: Value = serde_json::from_str(text).map_err(|e| EntryError::Json {
            line: e.line(),
            column: e.column(),
            message: e.to_string(),
        })?;
        let Value::Object(obj) = v else {
            return Err(EntryError::NotObject);
        };
        if let Some(k) = obj.keys().find(|k| !FIELDS.contains(&k.as_str())) {
            return Err(EntryError::Unknown(k.clone()));
        }
        let format = string_field(&obj, "format")?;
        if format != CORPUS_FORMAT {
            return Err(EntryError::Format(format));
        }
        let name = string_field(&obj, "name")?;
        if !valid_name(&name) {
            return Err(field_err(
                "name",
                format!("`{name}` is not a valid name (lowercase letters, digits and dashes)"),
            ));
        }
        let about = string_field(&obj, "about")?;
        let expect = match obj.get("expect") {
            None => return Err(EntryError::Missing("expect")),
            Some(Value::Object(m)) => {
                let mut out = Vec::new();
                for (k, v) in m {
                    let s: CommitStrategy =
                        k.parse().map_err(|e| field_err("expect", format!("{e}")))?;
                    let Value::String(x) = v else {
                        return Err(field_err(
                            format!("expect.{k}"),
                            format!("expected a string, got {}", kind(v)),
                        ));
                    };
                    let x: Expect = x.parse().map_err(|e| field_err(format!("expect.{k}"), e))?;
                    out.push((s, x));
                }
                if out.is_empty() {
                    return Err(field_err("expect", "lists no strategy"));
                }
                out.sort_by_key(|(s, _)| *s);
                out
            }
            Some(other) => {
                return Err(field_err(
                    "expect",
                    format!(
                        "expected an object mapping strategies to verdicts, got {}",
                        kind(other)
                    ),
                ));
            }
        };
        let case = parse_case(obj.get("case").ok_or(EntryError::Missing("case"))?)?;
        Ok(Entry {
            name,
            about,
            case,
            expect,
        })
    }

    pub fn to_json(&self) -> String {
        struct Expects<'a>(&'a [(CommitStrategy, Expect)]);
        impl Serialize for Expects<'_> {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let mut m = s.serialize_map(Some(self.0.len()))?;
                for (k, v) in self.0 {
                    m.serialize_entry(k.name(), &v.to_string())?;
                }
                m.end()
            }
        }
        #[derive(Serialize)]
        struct Out<'a> {
            format: &'a str,
            name: &'a str,
            about: &'a str,
            expect: Expects<'a>,
            case: &'a Case,
        }
        let mut text = serde_json::to_string_pretty(&Out {
            format: CORPUS_FORMAT,
            name: &self.name,
            about: &self.about,
            expect: Expects(&self.expect),
            case: &self.case,
        })
        .expect("an entry always serializes");
        text.push('\n');
        text
    }

    /// The case as run under `strategy`.
    pub fn case_for(&self, strategy: CommitStrategy) -> Case {
        Case {
            strategy,
            ..self.case.clone()
        }
    }

    /// Runs the case under every listed strategy.
    pub fn check(&self) -> Result<Vec<CheckLine>, RunError> {
        self.expect
            .iter()
            .map(|&(s, x)| self.check_strategy(s, x))
            .collect()
    }

    /// Runs the case under `strategy` and compares the headline verdict with `expected`.
    pub fn check_strategy(
        &self,
        strategy: CommitStrategy,
        expected: Expect,
    ) -> Result<CheckLine, RunError> {
        let o = run_case(&self.case_for(strategy))?;
        Ok(CheckLine {
            entry: self.name.clone(),
            strategy,
            expected,
            got: Expect::of(&o),
            detail: o.first_violation().map(|v| v.detail.clone()),
            trace_hash: o.trace_hash(),
        })
    }

    /// Safe strategies this entry expects to fail (each one is a bug, or a wrong entry).
    pub fn safe_failures(&self) -> Vec<(CommitStrategy, Expect)> {
        self.expect
            .iter()
            .copied()
            .filter(|(s, e)| s.safety() == Safety::Safe && *e != Expect::Pass)
            .collect()
    }
}

/// One entry under one strategy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckLine {
    pub entry: String,
    pub strategy: CommitStrategy,
    pub expected: Expect,
    pub got: Expect,
    /// The headline violation's detail, if any.
    pub detail: Option<String>,
    pub trace_hash: HashValue,
}

impl CheckLine {
    pub fn ok(&self) -> bool {
        self.expected == self.got
    }
}

impl fmt::Display for CheckLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mark = if self.ok() { "ok      " } else { "MISMATCH" };
        write!(
            f,
            "{mark} {:<32} {:<15} expected {:<20} got {}",
            self.entry,
            self.strategy.name(),
            self.expected.to_string(),
            self.got
        )
    }
}

/// The result of checking a directory.
#[derive(Clone, Debug, Default)]
pub struct CheckReport {
    pub entries: usize,
    pub lines: Vec<CheckLine>,
    /// Entries that expect a safe strategy to fail: `(entry, strategy, expected)`.
    pub safe_failures: Vec<(String, CommitStrategy, Expect)>,
}

impl CheckReport {
    pub fn mismatches(&self) -> impl Iterator<Item = &CheckLine> {
        self.lines.iter().filter(|l| !l.ok())
    }

    /// Every verdict as recorded and no safe strategy expected to fail.
    pub fn ok(&self) -> bool {
        self.mismatches().next().is_none() && self.safe_failures.is_empty()
    }
}

/// Problems with a corpus directory or one of its files.
#[derive(Debug, thiserror::Error)]
pub enum CorpusError {
    #[error("{}: {error}", path.display())]
    Entry { path: PathBuf, error: EntryError },
    #[error("{}: {error}", path.display())]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{}: field `name`: `{name}` does not match the file name (expected `{stem}`)", path.display())]
    NameMismatch {
        path: PathBuf,
        name: String,
        stem: String,
    },
    #[error("no corpus entries (*.json) in {}", .0.display())]
    Empty(PathBuf),
    #[error("invalid entry name `{0}`: use 1-64 lowercase letters, digits and dashes")]
    BadName(String),
    #[error("{} already exists: pick another name, or remove the file first", .0.display())]
    Exists(PathBuf),
    #[error("running entry `{entry}` under {strategy}: {error}")]
    Run {
        entry: String,
        strategy: String,
        error: RunError,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> CorpusError + '_ {
    move |error| CorpusError::Io {
        path: path.to_path_buf(),
        error,
    }
}

/// Reads one entry file; its `name` must match the file name.
pub fn load_file(path: &Path) -> Result<Entry, CorpusError> {
    let text = std::fs::read_to_string(path).map_err(io(path))?;
    let entry = Entry::from_json(&text).map_err(|error| CorpusError::Entry {
        path: path.to_path_buf(),
        error,
    })?;
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    if entry.name != stem {
        return Err(CorpusError::NameMismatch {
            path: path.to_path_buf(),
            name: entry.name,
            stem,
        });
    }
    Ok(entry)
}

/// Every `*.json` entry of `dir`, sorted by file name. Other files are ignored (a README).
pub fn load_dir(dir: &Path) -> Result<Vec<(PathBuf, Entry)>, CorpusError> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io(dir))?
        .map(|e| e.map(|e| e.path()).map_err(io(dir)))
        .collect::<Result<_, _>>()?;
    paths.retain(|p| p.extension().is_some_and(|x| x == "json") && p.is_file());
    paths.sort();
    paths
        .into_iter()
        .map(|p| load_file(&p).map(|e| (p, e)))
        .collect()
}

/// Loads and checks every entry of `dir`; `on_line` sees each line as it is produced.
pub fn check_dir(
    dir: &Path,
    on_line: &mut dyn FnMut(&CheckLine),
) -> Result<CheckReport, CorpusError> {
    let entries = load_dir(dir)?;
    if entries.is_empty() {
        return Err(CorpusError::Empty(dir.to_path_buf()));
    }
    let mut report = CheckReport {
        entries: entries.len(),
        ..CheckReport::default()
    };
    for (_, e) in &entries {
        for &(strategy, expected) in &e.expect {
            let line = e
                .check_strategy(strategy, expected)
                .map_err(|error| CorpusError::Run {
                    entry: e.name.clone(),
                    strategy: strategy.name().to_string(),
                    error,
                })?;
            on_line(&line);
            report.lines.push(line);
        }
        report.safe_failures.extend(
            e.safe_failures()
                .into_iter()
                .map(|(s, x)| (e.name.clone(), s, x)),
        );
    }
    Ok(report)
}

/// The verdict of `case` under each of the six strategies (what [`add`] records).
pub fn expectations(case: &Case) -> Result<Vec<(CommitStrategy, Expect)>, RunError> {
    CommitStrategy::ALL
        .into_iter()
        .map(|s| {
            let o = run_case(&Case {
                strategy: s,
                ..case.clone()
            })?;
            Ok((s, Expect::of(&o)))
        })
        .collect()
}

/// Adds `case` to the corpus in `dir` as `<name>.json`, with the expectations it has today under
/// all six strategies. Refuses to overwrite an entry. The recorded expectations must be reviewed
/// (see the module documentation); [`Entry::safe_failures`] lists the ones that are bugs.
pub fn add(
    dir: &Path,
    name: &str,
    about: &str,
    case: &Case,
) -> Result<(PathBuf, Entry), CorpusError> {
    if !valid_name(name) {
        return Err(CorpusError::BadName(name.to_string()));
    }
    let path = dir.join(format!("{name}.json"));
    if path.exists() {
        return Err(CorpusError::Exists(path));
    }
    let expect = expectations(case).map_err(|error| CorpusError::Run {
        entry: name.to_string(),
        strategy: "every strategy".to_string(),
        error,
    })?;
    let entry = Entry {
        name: name.to_string(),
        about: about.to_string(),
        case: case.clone(),
        expect,
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    std::fs::write(&path, entry.to_json()).map_err(io(&path))?;
    Ok((path, entry))
}
