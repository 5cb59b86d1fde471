//! The README and the book under `docs/` hold together: every relative link names a file
//! that exists and, with `#anchor`, a heading of that file (GitHub's slugs); `SUMMARY.md`
//! lists every page; every scenario file the pages name exists and validates; and the
//! README stays a guide, not a manual.

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
