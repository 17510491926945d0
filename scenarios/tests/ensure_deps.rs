//! `ci/ensure-deps.sh --check` decides whether the build can find libclang. A fresh machine of the
//! project's kind ships only `libclang-cpp.so.14` (the C++ interface library), which clang-sys
//! cannot load; mistaking it for libclang skips the install and the build then fails in bindgen.
//! Each case runs the real script against a fake `ldconfig` and a fake filesystem root, so what
//! this machine happens to have installed cannot leak into the verdict.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A fake machine: what its linker cache lists and which files its library directories hold.
struct FakeMachine {
    dir: tempfile::TempDir,
}

impl FakeMachine {
    fn new(cache: &[&str], files: &[&str]) -> FakeMachine {
        let dir = tempfile::tempdir().unwrap();
        let mut listing = format!("{} libs found in cache `/etc/ld.so.cache'\n", cache.len());
        for name in cache {
            listing.push_str(&format!(
                "\t{name} (libc6,x86-64) => /lib/x86_64-linux-gnu/{name}\n"
            ));
        }
        std::fs::write(dir.path().join("cache.txt"), listing).unwrap();
        let ldconfig = dir.path().join("ldconfig");
        std::fs::write(
            &ldconfig,
            format!(
                "#!/bin/sh\n[ \"$1\" = -p ] || exit 1\ncat '{}'\n",
                dir.path().join("cache.txt").display()
            ),
        )
        .unwrap();
        make_executable(&ldconfig);
        for f in files {
            let p = dir.path().join("root").join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, b"not really a library").unwrap();
        }
        std::fs::create_dir_all(dir.path().join("root")).unwrap();
        FakeMachine { dir }
    }

    fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    /// Runs the detection; returns (exit code, stdout).
    fn check(&self, libclang_path: Option<&Path>) -> (i32, String) {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../ci/ensure-deps.sh");
        let mut cmd = Command::new("bash");
        cmd.arg(&script)
            .arg("--check")
            .env("RESTORE_SIM_DEPS_ROOT", self.root())
            .env("RESTORE_SIM_LDCONFIG", self.dir.path().join("ldconfig"))
            .env_remove("LIBCLANG_PATH");
        if let Some(p) = libclang_path {
            cmd.env("LIBCLANG_PATH", p);
        }
        let o = cmd.output().expect("bash runs");
        (
            o.status.code().expect("exited normally"),
            String::from_utf8_lossy(&o.stdout).into_owned(),
        )
    }
}

fn make_executable(p: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let mut perm = std::fs::metadata(p).unwrap().permissions();
    perm.set_mode(0o755);
    std::fs::set_permissions(p, perm).unwrap();
}

fn assert_missing(m: &FakeMachine, libclang_path: Option<&Path>, why: &str) {
    let (code, out) = m.check(libclang_path);
    assert_eq!((code, out.trim()), (1, "libclang: missing"), "{why}");
}

fn assert_present(m: &FakeMachine, libclang_path: Option<&Path>, why: &str) {
    let (code, out) = m.check(libclang_path);
    assert_eq!(code, 0, "{why}: {out}");
    assert!(out.starts_with("libclang: present ("), "{why}: {out}");
}

#[test]
fn a_fresh_machine_with_only_libclang_cpp_is_missing_libclang() {
    // What `ldconfig -p | grep libclang` shows on a fresh machine of this kind, plus the files
    // libclang-cpp14 installs.
    let m = FakeMachine::new(
        &["libclang-cpp.so.14", "libLLVM-14.so.1"],
        &[
            "usr/lib/x86_64-linux-gnu/libclang-cpp.so.14",
            "usr/lib/llvm-14/lib/libclang-cpp.so.14",
            "usr/lib/llvm-14/lib/libclang-cpp.so",
            "usr/lib/llvm-14/lib/libLLVM-14.so",
        ],
    );
    assert_missing(
        &m,
        None,
        "libclang-cpp is the C++ interface library, not libclang",
    );
}

#[test]
fn an_empty_machine_is_missing_libclang() {
    assert_missing(&FakeMachine::new(&[], &[]), None, "nothing installed");
}

#[test]
fn every_name_clang_sys_loads_counts_as_present() {
    for name in [
        "libclang-14.so.1",
        "libclang.so.1",
        "libclang.so",
        "libclang-14.so",
    ] {
        let m = FakeMachine::new(&["libclang-cpp.so.14", name], &[]);
        assert_present(&m, None, &format!("{name} in the linker cache"));
    }
    // libclang-dev's development link lives only under llvm's libdir, outside the cache.
    let m = FakeMachine::new(
        &["libclang-cpp.so.14"],
        &["usr/lib/llvm-14/lib/libclang.so"],
    );
    assert_present(&m, None, "libclang.so in llvm-config's libdir");
}

#[test]
fn libclang_path_counts_only_when_it_holds_libclang() {
    let m = FakeMachine::new(&["libclang-cpp.so.14"], &[]);
    let good = m.dir.path().join("good");
    std::fs::create_dir_all(&good).unwrap();
    std::fs::write(good.join("libclang-14.so.1"), b"x").unwrap();
    assert_present(
        &m,
        Some(&good),
        "LIBCLANG_PATH names a directory holding libclang",
    );
    assert_present(
        &m,
        Some(&good.join("libclang-14.so.1")),
        "LIBCLANG_PATH names the library itself",
    );
    let bad = m.dir.path().join("bad");
    std::fs::create_dir_all(&bad).unwrap();
    std::fs::write(bad.join("libclang-cpp.so.14"), b"x").unwrap();
    assert_missing(&m, Some(&bad), "a LIBCLANG_PATH with only libclang-cpp");
}
