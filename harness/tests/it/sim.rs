//! The virtual-time platform (`--platform sim`): the same seed gives the same run
//! directory, byte for byte, within one process and across two; a failed run prints the
//! command that replays it, and that command does. Its agreement with the emulator on every
//! committed local-platform scenario is `agreement.rs`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use harness::platform::PlatformKind;
use reports::RunDir;

use crate::common::{harness, plan_with, run_sim, scenarios, text};

/// Every file under `dir`, by its path inside it.
fn files_of(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, into: &mut BTreeMap<PathBuf, Vec<u8>>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, into);
            } else {
                let bytes = std::fs::read(&path).unwrap();
                into.insert(path.strip_prefix(root).unwrap().to_owned(), bytes);
            }
        }
    }
    let mut files = BTreeMap::new();
    walk(dir, dir, &mut files);
    files
}

/// The two directories hold the same files with the same bytes; on a difference, which
/// file and its first differing line.
fn assert_same_files(a: &Path, b: &Path) {
    let (fa, fb) = (files_of(a), files_of(b));
    assert_eq!(
        fa.keys().collect::<Vec<_>>(),
        fb.keys().collect::<Vec<_>>(),
        "the same files in {} and {}",
        a.display(),
        b.display()
    );
    assert!(fa.len() > 10, "a whole run directory: {:?}", fa.keys());
    for (name, bytes) in &fa {
        if bytes != &fb[name] {
            let (ta, tb) = (text(bytes), text(&fb[name]));
            let first = ta
                .lines()
                .zip(tb.lines())
                .find(|(x, y)| x != y)
                .map(|(x, y)| format!("{x}\n  vs\n{y}"));
            panic!("{} differs: {first:?}", name.display());
        }
    }
}

#[test]
fn a_seed_gives_the_same_run_directory_in_one_process_and_across_two() {
    let dir = tempfile::tempdir().unwrap();
    for name in [
        "seed-swap.toml",
        "queue-rolling.toml",
        "flex-rolling-scale.toml",
    ] {
        let (a, b, c) = (
            dir.path().join(format!("{name}-a")),
            dir.path().join(format!("{name}-b")),
            dir.path().join(format!("{name}-c")),
        );
        let first = run_sim(plan_with(name, PlatformKind::Sim, 0.1, &a, false));
        assert!(first.invalid.is_empty(), "{name}: {:?}", first.invalid);
        run_sim(plan_with(name, PlatformKind::Sim, 0.1, &b, false));
        assert_same_files(&a, &b);
        let path = scenarios().join(name);
        let out = harness(&[
            "run",
            path.to_str().unwrap(),
            "--platform",
            "sim",
            "--time-scale",
            "0.1",
            "--quiet",
            "--out",
            c.to_str().unwrap(),
        ]);
        assert!(
            matches!(out.status.code(), Some(0 | 1)),
            "{name}: {}",
            text(&out.stderr)
        );
        assert_same_files(&a, &c);
    }
}

#[test]
fn a_failed_run_prints_the_command_that_replays_it_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("run");
    let path = scenarios().join("seed-swap.toml");
    // The swap loses two items: a threshold of none fails.
    let out = harness(&[
        "run",
        path.to_str().unwrap(),
        "--platform",
        "sim",
        "--seed",
        "7",
        "--time-scale",
        "0.1",
        "--expect",
        "lost == 0",
        "--quiet",
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    let replay = stderr
        .lines()
        .skip_while(|l| !l.contains("replay this run exactly with:"))
        .nth(1)
        .unwrap_or_else(|| panic!("no replay command in {stderr}"))
        .trim()
        .to_owned();
    // The command as a shell reads it: its words are plain or single-quoted.
    let words = shell_words(&replay);
    assert_eq!(words[..2], ["harness", "run"], "{replay}");
    assert!(replay.contains("--seed 7"), "{replay}");
    assert!(replay.contains("--expect 'lost == 0'"), "{replay}");
    let args: Vec<&str> = words[1..].iter().map(String::as_str).collect();
    let again = harness(&args);
    assert_eq!(again.status.code(), Some(1), "{}", text(&again.stderr));
    let replayed = PathBuf::from(format!("{}-replay", out_dir.display()));
    assert_same_files(&out_dir, &replayed);
    let summary = RunDir::new(&replayed).read_summary().unwrap().unwrap();
    assert_eq!(summary.run.seed, Some(7));
    assert_eq!(summary.verdict.lost, 2);
}

/// Splits a command line of plain and single-quoted words.
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let (mut word, mut quoted, mut any) = (String::new(), false, false);
    for c in line.chars() {
        match c {
            '\'' => {
                quoted = !quoted;
                any = true;
            }
            ' ' if !quoted => {
                if any || !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
                any = false;
            }
            c => word.push(c),
        }
    }
    if any || !word.is_empty() {
        words.push(word);
    }
    words
}
