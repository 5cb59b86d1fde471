//! The code's own shape, held as the design doc states it: no import circle between the
//! files of `harness` or of `reports`. A file's imports are the `crate::`, `super::` and
//! `self::` paths of its code (tests left out), each followed to the file that defines the
//! item, through `pub use` re-exports; a circle is a strongly connected set of more than one
//! file.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type Module = Vec<String>;

struct Crate {
    /// Module path -> its source, code only (comments and `#[cfg(test)]` parts dropped).
    code: BTreeMap<Module, String>,
    /// Module -> name it re-exports -> the path it names.
    reexports: BTreeMap<Module, BTreeMap<String, Module>>,
}

fn read_crate(src: &Path) -> Crate {
    let mut code = BTreeMap::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                if path.file_name().unwrap() != "bin" {
                    stack.push(path);
                }
                continue;
            }
            let name = path.file_name().unwrap().to_str().unwrap();
            if !name.ends_with(".rs") || name == "tests.rs" || name == "main.rs" {
                continue;
            }
            let mut module: Module = path
                .strip_prefix(src)
                .unwrap()
                .with_extension("")
                .iter()
                .map(|p| p.to_str().unwrap().to_owned())
                .collect();
            if matches!(module.last().map(String::as_str), Some("mod" | "lib")) {
                module.pop();
            }
            code.insert(module, code_of(&path));
        }
    }
    let mut reexports: BTreeMap<Module, BTreeMap<String, Module>> = BTreeMap::new();
    for (module, text) in &code {
        for body in statements(text, true) {
            for (first, segs) in expand(&body) {
                if let Some(full) = absolute(&code, module, &first, &segs) {
                    let name = full.last().cloned().unwrap_or_default();
                    reexports
                        .entry(module.clone())
                        .or_default()
                        .insert(name, full);
                }
            }
        }
    }
    Crate { code, reexports }
}

/// The file's code: comment lines dropped, and everything from `#[cfg(test)]` on.
fn code_of(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    let mut out = String::new();
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with("#[cfg(test)]") {
            break;
        }
        if !t.starts_with("//") {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// The bodies of `use` statements (only `pub use` ones when `public`), whitespace normalised.
fn statements(text: &str, public: bool) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("use ") {
        let before = &rest[..at];
        let starts = before.is_empty() || before.ends_with(char::is_whitespace);
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let prefix = before[line_start..].trim();
        rest = &rest[at + 4..];
        if !starts {
            continue;
        }
        let is_pub = prefix.starts_with("pub");
        // A `use` of its own line: every one, or only the `pub` ones.
        let keep = is_pub || (prefix.is_empty() && !public);
        if !keep {
            continue;
        }
        let Some(end) = rest.find(';') else { break };
        let body: String = rest[..end].split_whitespace().collect::<Vec<_>>().join(" ");
        out.push(body.replace(" ::", "::").replace(":: ", "::"));
        rest = &rest[end..];
    }
    out
}

/// `a::b::{c, d::{e}}` as the paths it names, each split into its first part and the rest.
fn expand(body: &str) -> Vec<(String, Vec<String>)> {
    fn parse(prefix: &[String], s: &str, out: &mut Vec<Vec<String>>) {
        let (mut depth, mut start, mut items) = (0, 0, Vec::new());
        for (i, c) in s.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    items.push(&s[start..i]);
                    start = i + 1;
                }
                _ => {}
            }
        }
        items.push(&s[start..]);
        for item in items.into_iter().map(str::trim).filter(|i| !i.is_empty()) {
            let mut path = prefix.to_vec();
            match item.find('{') {
                None => {
                    let name = item.split(" as ").next().unwrap();
                    path.extend(name.split("::").map(|p| p.trim().to_owned()));
                    out.push(path);
                }
                Some(open) => {
                    path.extend(
                        item[..open]
                            .split("::")
                            .map(str::trim)
                            .filter(|p| !p.is_empty())
                            .map(str::to_owned),
                    );
                    let inner = &item[open + 1..item.rfind('}').unwrap()];
                    parse(&path, inner, out);
                }
            }
        }
    }
    let mut paths = Vec::new();
    parse(&[], body, &mut paths);
    paths
        .into_iter()
        .filter(|p| !p.is_empty())
        .map(|mut p| {
            let first = p.remove(0);
            (first, p)
        })
        .collect()
}

/// The path from the crate's root that `first::segs`, written in `module`, names.
fn absolute(
    code: &BTreeMap<Module, String>,
    module: &Module,
    first: &str,
    segs: &[String],
) -> Option<Module> {
    let mut segs = segs.to_vec();
    let base = match first {
        "crate" => Vec::new(),
        "self" => module.clone(),
        "super" => {
            let mut base = module[..module.len().saturating_sub(1)].to_vec();
            while segs.first().map(String::as_str) == Some("super") {
                base.pop();
                segs.remove(0);
            }
            base
        }
        child => {
            let mut m = module.clone();
            m.push(child.to_owned());
            if !code.contains_key(&m) {
                return None; // another crate's
            }
            m.extend(segs);
            return Some(m);
        }
    };
    let mut full = base;
    full.extend(segs);
    Some(full)
}

impl Crate {
    /// The file that defines what `path` names, through re-exports.
    fn resolve(&self, path: &[String], depth: usize) -> Option<Module> {
        for n in (0..=path.len()).rev() {
            let module = path[..n].to_vec();
            if !self.code.contains_key(&module) {
                continue;
            }
            if depth < 20 {
                if let Some(target) = path
                    .get(n)
                    .and_then(|name| self.reexports.get(&module).and_then(|r| r.get(name)))
                {
                    if target[..] != path[..=n] {
                        let mut next = target.clone();
                        next.extend(path[n + 1..].iter().cloned());
                        if let Some(found) = self.resolve(&next, depth + 1) {
                            return Some(found);
                        }
                    }
                }
            }
            return Some(module);
        }
        None
    }

    fn edges(&self) -> BTreeMap<Module, BTreeSet<Module>> {
        let mut edges: BTreeMap<Module, BTreeSet<Module>> = BTreeMap::new();
        for (module, text) in &self.code {
            let mut paths = Vec::new();
            for body in statements(text, false) {
                paths.extend(expand(&body));
            }
            // Paths written inline: `crate::a::b`, `super::c`.
            for word in text.split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':')) {
                for first in ["crate", "super", "self"] {
                    if let Some(rest) = word.strip_prefix(first).and_then(|r| r.strip_prefix("::"))
                    {
                        let segs: Vec<String> = rest
                            .split("::")
                            .filter(|s| !s.is_empty())
                            .map(str::to_owned)
                            .collect();
                        paths.push((first.to_owned(), segs));
                    }
                }
            }
            for (first, segs) in paths {
                let Some(full) = absolute(&self.code, module, &first, &segs) else {
                    continue;
                };
                if let Some(target) = self.resolve(&full, 0) {
                    if &target != module && !target.is_empty() {
                        edges.entry(module.clone()).or_default().insert(target);
                    }
                }
            }
        }
        edges
    }
}

/// The strongly connected sets of more than one file (Tarjan).
fn circles(edges: &BTreeMap<Module, BTreeSet<Module>>, nodes: &[Module]) -> Vec<Vec<Module>> {
    struct Walk<'a> {
        edges: &'a BTreeMap<Module, BTreeSet<Module>>,
        index: BTreeMap<Module, usize>,
        low: BTreeMap<Module, usize>,
        stack: Vec<Module>,
        on: BTreeSet<Module>,
        found: Vec<Vec<Module>>,
    }
    impl Walk<'_> {
        fn strong(&mut self, v: &Module) {
            let i = self.index.len();
            self.index.insert(v.clone(), i);
            self.low.insert(v.clone(), i);
            self.stack.push(v.clone());
            self.on.insert(v.clone());
            for w in self.edges.get(v).cloned().unwrap_or_default() {
                if !self.index.contains_key(&w) {
                    self.strong(&w);
                    let low = self.low[v].min(self.low[&w]);
                    self.low.insert(v.clone(), low);
                } else if self.on.contains(&w) {
                    let low = self.low[v].min(self.index[&w]);
                    self.low.insert(v.clone(), low);
                }
            }
            if self.low[v] == self.index[v] {
                let mut set = Vec::new();
                loop {
                    let w = self.stack.pop().unwrap();
                    self.on.remove(&w);
                    let done = &w == v;
                    set.push(w);
                    if done {
                        break;
                    }
                }
                if set.len() > 1 {
                    self.found.push(set);
                }
            }
        }
    }
    let mut walk = Walk {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on: BTreeSet::new(),
        found: Vec::new(),
    };
    for v in nodes {
        if !walk.index.contains_key(v) {
            walk.strong(v);
        }
    }
    walk.found
}

fn assert_no_circle(src: PathBuf) {
    let krate = read_crate(&src);
    let edges = krate.edges();
    let nodes: Vec<Module> = krate.code.keys().cloned().collect();
    assert!(nodes.len() > 20, "{}: read its files", src.display());
    assert!(
        edges.values().map(BTreeSet::len).sum::<usize>() > 50,
        "read its imports"
    );
    let found = circles(&edges, &nodes);
    let shown: Vec<String> = found
        .iter()
        .map(|set| {
            set.iter()
                .map(|m| m.join("/"))
                .collect::<Vec<_>>()
                .join(" <-> ")
        })
        .collect();
    assert!(
        shown.is_empty(),
        "{}: import circles:\n{}",
        src.display(),
        shown.join("\n")
    );
}

#[test]
fn no_import_circle_between_the_files_of_harness() {
    assert_no_circle(Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
}

#[test]
fn no_import_circle_between_the_files_of_reports() {
    assert_no_circle(Path::new(env!("CARGO_MANIFEST_DIR")).join("../reports/src"));
}

#[test]
fn a_circle_is_found_where_there_is_one() {
    // Two files importing each other, one through a parent's re-export: the check above
    // would miss nothing it should see.
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path();
    std::fs::create_dir_all(src.join("a")).unwrap();
    std::fs::write(src.join("lib.rs"), "pub mod a;\npub mod b;\n").unwrap();
    std::fs::write(src.join("a/mod.rs"), "mod c;\npub use c::C;\n").unwrap();
    std::fs::write(src.join("a/c.rs"), "use crate::b::B;\npub struct C(B);\n").unwrap();
    std::fs::write(
        src.join("b.rs"),
        "use crate::a::C;\npub struct B(Box<C>);\n",
    )
    .unwrap();
    let krate = read_crate(src);
    let nodes: Vec<Module> = krate.code.keys().cloned().collect();
    let found = circles(&krate.edges(), &nodes);
    let sets: Vec<Vec<String>> = found
        .iter()
        .map(|s| {
            let mut names: Vec<String> = s.iter().map(|m| m.join("/")).collect();
            names.sort();
            names
        })
        .collect();
    assert_eq!(
        sets,
        [["a/c", "b"]],
        "b -> a/c through a's re-export, a/c -> b"
    );
}
