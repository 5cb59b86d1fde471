//! The README and the book under `docs/` hold together: every relative link names a file
//! that exists and, with `#anchor`, a heading of that file (GitHub's slugs); `SUMMARY.md`
//! lists every page; every scenario file the pages name exists and validates; every command
//! they show runs as written; and the README stays a guide, not a manual.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The pages: the README and every Markdown file of `docs/`.
fn pages() -> Vec<PathBuf> {
    let mut pages = vec![root().join("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    pages.extend(docs);
    pages
}

/// A page's text outside fenced code blocks, line by line.
fn prose(text: &str) -> Vec<&str> {
    let mut fenced = false;
    text.lines()
        .filter(|l| {
            if l.starts_with("```") {
                fenced = !fenced;
                return false;
            }
            !fenced
        })
        .collect()
}

/// GitHub's anchor of a heading: lower case, anything but letters, digits, spaces, `-` and
/// `_` dropped, spaces made `-`; a repeated slug gets `-1`, `-2`, ...
fn anchors(text: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    for line in prose(text) {
        let Some(h) = line.strip_prefix('#') else {
            continue;
        };
        let h = h.trim_start_matches('#');
        if !h.starts_with(' ') {
            continue;
        }
        let slug: String = h
            .trim()
            .to_lowercase()
            .chars()
            .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
            .map(|c| if c == ' ' { '-' } else { c })
            .collect();
        let mut unique = slug.clone();
        let mut n = 0;
        while seen.contains(&unique) {
            n += 1;
            unique = format!("{slug}-{n}");
        }
        seen.insert(unique);
    }
    seen
}

/// Every `[label](target)` of a page's prose, a label may span lines.
fn links(text: &str) -> Vec<String> {
    let prose = prose(text).join("\n");
    let mut out = Vec::new();
    let mut rest = prose.as_str();
    while let Some(i) = rest.find("](") {
        let after = &rest[i + 2..];
        let Some(end) = after.find(')') else { break };
        out.push(after[..end].to_owned());
        rest = &after[end..];
    }
    out
}

#[test]
fn every_relative_link_names_a_file_and_a_heading_that_exist() {
    let mut broken = Vec::new();
    let mut checked = 0;
    for page in pages() {
        let text = std::fs::read_to_string(&page).unwrap();
        let dir = page.parent().unwrap();
        for target in links(&text) {
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            checked += 1;
            let (file, anchor) = match target.split_once('#') {
                Some((f, a)) => (f, Some(a)),
                None => (target.as_str(), None),
            };
            let path = if file.is_empty() {
                page.clone()
            } else {
                dir.join(file)
            };
            if !path.exists() {
                broken.push(format!("{}: {target}: no such file", page.display()));
                continue;
            }
            if let Some(a) = anchor {
                let heads = anchors(&std::fs::read_to_string(&path).unwrap());
                if !heads.contains(a) {
                    broken.push(format!("{}: {target}: no such heading", page.display()));
                }
            }
        }
    }
    assert!(broken.is_empty(), "{}", broken.join("\n"));
    assert!(checked > 50, "links were found: {checked}");
}

#[test]
fn the_summary_lists_every_page_and_the_readme_stays_a_guide() {
    let docs = root().join("docs");
    let summary = std::fs::read_to_string(docs.join("SUMMARY.md")).unwrap();
    let listed: BTreeSet<String> = links(&summary).into_iter().collect();
    for page in pages().iter().skip(1) {
        let name = page.file_name().unwrap().to_string_lossy().into_owned();
        if name != "SUMMARY.md" {
            assert!(
                listed.contains(&name),
                "docs/SUMMARY.md does not list {name}"
            );
        }
    }
    // A guide a newcomer reads in ten minutes; the reference is the book.
    let readme = std::fs::metadata(root().join("README.md")).unwrap().len();
    assert!(
        readme < 25_000,
        "the README is {readme} bytes: move reference into docs/"
    );
}

#[test]
fn every_scenario_file_the_pages_name_exists_and_validates() {
    let mut named = BTreeSet::new();
    for page in pages() {
        let text = std::fs::read_to_string(&page).unwrap();
        for word in text.split(|c: char| c.is_whitespace() || "`()[],;'\"".contains(c)) {
            let word = word.trim_end_matches(['.', ':']);
            // `scenarios/x.toml:7:` is how an error names a line, not a file of ours.
            let example = word.starts_with("scenarios/x.toml");
            if word.starts_with("scenarios/")
                && word.ends_with(".toml")
                && !word.contains('*')
                && !example
            {
                named.insert(word.to_owned());
            }
        }
    }
    assert!(named.len() > 10, "scenario files are named: {named:?}");
    let paths: Vec<PathBuf> = named.iter().map(|n| root().join(n)).collect();
    let missing: Vec<&String> = named.iter().filter(|n| !root().join(n).exists()).collect();
    assert!(missing.is_empty(), "named but missing: {missing:?}");
    let out = Command::new(env!("CARGO_BIN_EXE_harness"))
        .arg("validate")
        .args(&paths)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The `harness` command lines the pages show: every line of a ```sh block, and every
/// `$ `-prompted line of a plain block (its other lines are output), continuation lines
/// joined, `cargo run [--release] -p harness --` read as `harness`; each with its page.
fn shown_commands() -> Vec<(String, String)> {
    let mut commands = Vec::new();
    for page in pages() {
        let name = page.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&page).unwrap();
        let (mut fence, mut pending) = (None::<String>, String::new());
        for line in text.lines() {
            if let Some(info) = line.strip_prefix("```") {
                fence = match fence {
                    None => Some(info.trim().to_owned()),
                    Some(_) => None,
                };
                continue;
            }
            let Some(info) = &fence else { continue };
            let command = if !pending.is_empty() {
                Some(line.trim())
            } else if info == "sh" {
                Some(line.trim()).filter(|l| !l.is_empty() && !l.starts_with('#'))
            } else if info.is_empty() {
                line.strip_prefix("$ ")
            } else {
                None
            };
            let Some(command) = command else { continue };
            if let Some(start) = command.strip_suffix('\\') {
                pending.push_str(start);
                continue;
            }
            let whole = std::mem::take(&mut pending) + command;
            let harness = [
                "cargo run --release -p harness -- ",
                "cargo run -p harness -- ",
            ]
            .iter()
            .find_map(|p| whole.strip_prefix(p))
            .or_else(|| whole.strip_prefix("harness "));
            // `harness run: ...` is a run's own first line, not a command.
            if let Some(args) = harness.filter(|a| !a.split(' ').next().unwrap().ends_with(':')) {
                commands.push((name.clone(), args.to_owned()));
            }
        }
    }
    commands
}

/// A command line's words as bash reads them (quotes, `$GIT_SHA`, globs against the
/// repository), cut before a pipe or a redirection: what `harness` itself receives.
fn words(args: &str) -> Vec<String> {
    let args = args
        .split(" | ")
        .next()
        .unwrap()
        .split(" > ")
        .next()
        .unwrap();
    let out = Command::new("bash")
        .current_dir(root())
        .env("GIT_SHA", "abc123")
        .args(["-c", &format!("printf '%s\\0' {args}")])
        .output()
        .unwrap();
    assert!(out.status.success(), "bash splits {args}");
    out.stdout
        .split(|b| *b == 0)
        .filter(|w| !w.is_empty())
        .map(|w| String::from_utf8_lossy(w).into_owned())
        .collect()
}

/// Every command the README and the book show runs as written. Each parses as the CLI
/// reads it; those that would run scenarios (`run`, `compare`, `sweep`, `advise` on
/// scenario files) resolve in full with `--dry-run` (every scenario, flag, threshold, budget
/// and sweep grid), and `validate` runs outright, all with exit 0. A command on a directory
/// an earlier command of its page writes (`check runs/swap`) can only be parsed here; the
/// examples' directories are checked by the report tests. The examples in `--help` parse.
#[test]
fn every_command_the_pages_show_runs_as_written() {
    use clap::Parser;
    // Commands run where a user would: beside `scenarios/`, with `./my-app` their function
    // (here the test function); nothing lands in the repository.
    let cwd = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(root().join("scenarios"), cwd.path().join("scenarios")).unwrap();
    let app = cwd.path().join("my-app");
    std::fs::write(
        &app,
        format!("#!/bin/sh\nexec {} \"$@\"\n", env!("CARGO_BIN_EXE_testfn")),
    )
    .unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&app, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let commands = shown_commands();
    assert!(commands.len() > 25, "commands are found: {commands:?}");
    let (mut resolved, mut parsed_only) = (0, Vec::new());
    for (page, args) in &commands {
        let words = words(args);
        let parsed = harness::cli::Cli::try_parse_from(
            std::iter::once("harness".to_owned()).chain(words.iter().cloned()),
        );
        let parsed =
            parsed.unwrap_or_else(|e| panic!("{page}: `harness {args}` does not parse:\n{e}"));
        // What the CLI parses only when the command runs: priorities and thresholds.
        use harness::cli::Command as Sub;
        let (priority, expect) = match &parsed.command {
            Sub::Advise(a) => (Some(a.priority.as_str()), &[][..]),
            Sub::Check { expect, .. } => (None, &expect[..]),
            _ => (None, &[][..]),
        };
        if let Some(p) = priority {
            if let Err(e) = p.parse::<reports::advice::Priorities>() {
                panic!("{page}: `harness {args}`: --priority {p}: {e}");
            }
        }
        for t in expect {
            if let Err(e) = t.parse::<reports::threshold::Threshold>() {
                panic!("{page}: `harness {args}`: --expect {t}: {e}");
            }
        }
        let scenario_files = words.iter().any(|w| w.ends_with(".toml"));
        let dry = match words[0].as_str() {
            "run" | "compare" | "sweep" => true,
            "advise" if scenario_files => true,
            "validate" | "history" => false,
            _ => {
                parsed_only.push(format!("{page}: harness {args}"));
                continue;
            }
        };
        let out = Command::new(env!("CARGO_BIN_EXE_harness"))
            .current_dir(cwd.path())
            .env("HARNESS_HISTORY", cwd.path().join("history.db"))
            .env("HARNESS_NO_HISTORY", "1")
            .args(&words)
            .args((dry && !words.iter().any(|w| w == "--dry-run")).then_some("--dry-run"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{page}: `harness {args}` exits {:?}:\n{}{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        if dry {
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(stdout.contains("a dry run"), "{page}: {args}: {stdout}");
        }
        resolved += 1;
    }
    assert!(
        resolved >= 20,
        "{resolved} resolved; parsed only: {parsed_only:#?}"
    );
    // The examples each subcommand's --help gives.
    let help = Command::new(env!("CARGO_BIN_EXE_harness"))
        .arg("--help")
        .output()
        .unwrap();
    let subcommands: Vec<String> = String::from_utf8_lossy(&help.stdout)
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .filter(|c| c != "help")
        .collect();
    let mut examples = 0;
    for sub in &subcommands {
        let help = Command::new(env!("CARGO_BIN_EXE_harness"))
            .args([sub, "--help"])
            .output()
            .unwrap();
        for line in String::from_utf8_lossy(&help.stdout).lines() {
            let Some(args) = line.trim().strip_prefix("harness ") else {
                continue;
            };
            if !line.starts_with("  ") || !args.starts_with(sub.as_str()) {
                continue;
            }
            let parsed = harness::cli::Cli::try_parse_from(
                std::iter::once("harness".to_owned()).chain(words(args)),
            );
            if let Err(e) = parsed {
                panic!("harness {sub} --help: `harness {args}` does not parse:\n{e}");
            }
            examples += 1;
        }
    }
    assert!(
        examples >= 10,
        "{examples} help examples in {subcommands:?}"
    );
}
