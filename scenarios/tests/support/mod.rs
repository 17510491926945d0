//! Running the built `restore-sim` binary from tests.

#![allow(dead_code)] // each test file uses a different subset

use std::process::{Command, Output};

/// Runs the binary with `args` as CI would (no terminal progress bar).
pub fn sim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_restore-sim"))
        .args(args)
        .env("CI", "true")
        .output()
        .expect("the binary runs")
}

pub fn code(o: &Output) -> i32 {
    o.status.code().expect("exited normally, not by a signal")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}
