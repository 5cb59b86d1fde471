//! The renderers on the committed example run directories.

use std::path::{Path, PathBuf};

use reports::history::History;
use reports::ledger::Kind;
use reports::plot::{self, BAND_OPACITY};
use reports::RunDir;

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../scenarios/examples")
        .join(name)
}

/// Compares with a committed expected file; `UPDATE_EXPECT=1` rewrites it instead.
fn expect_file(got: &str, path: &Path) {
    if std::env::var_os("UPDATE_EXPECT").is_some() {
        std::fs::write(path, got).unwrap();
        return;
    }
    let want = std::fs::read_to_string(path).unwrap();
    for (i, (g, w)) in got.lines().zip(want.lines()).enumerate() {
        assert_eq!(g, w, "line {} of {} differs", i + 1, path.display());
    }
    assert_eq!(
        got.lines().count(),
        want.lines().count(),
        "{}",
        path.display()
    );
}

#[test]
fn the_markdown_report_is_the_expected_text() {
    for name in ["seed-swap", "seed-recreate", "flex-false-completion-gap"] {
        let h = History::load(&RunDir::new(example(name))).unwrap();
        let md = reports::report::markdown(&h);
        let expected =
            Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/expected/{name}.report.md"));
        expect_file(&md, &expected);
    }
    // What the snapshots must say, from the runs' own ledgers as the README tells them
    // (counted by hand, not by the renderer): the seed swap loses items 8 and 9 of
    // occurrence 6, killed before they were sent, and is never down; the seed recreate loses
    // 5 items, killed before they were sent, in one 210 ms window (the cold start).
    let md = |name: &str| {
        reports::report::markdown(&History::load(&RunDir::new(example(name))).unwrap())
    };
    let swap = md("seed-swap");
    for line in [
        "| lost | 2 | never arrived |",
        "| lost | A(6,8) | killed_before_send |",
        "| lost | A(6,9) | killed_before_send |",
        "| duplicated | 0 |",
    ] {
        assert!(swap.contains(line), "seed-swap's report lacks {line:?}");
    }
    let recreate = md("seed-recreate");
    for line in [
        "| lost | 5 | never arrived |",
        "| lost | killed_before_send | 5 |",
        "| all | 1 | 210.0 | 210.0 |",
    ] {
        assert!(
            recreate.contains(line),
            "seed-recreate's report lacks {line:?}"
        );
    }
}

#[test]
fn the_plotted_series_agree_with_the_verdict() {
    use reports::history::ArrivalClass;
    for name in ["seed-swap", "seed-recreate"] {
        let run = RunDir::new(example(name));
        let h = History::load(&run).unwrap();
        let v = reports::checker::check_run(&run).unwrap();
        let points = h.timeline();
        let count = |c: ArrivalClass| points.iter().filter(|p| p.class == Some(c)).count() as u64;
        assert_eq!(h.lateness_ms().len() as u64, v.delivered, "{name}");
        assert_eq!(h.lost_points().len() as u64, v.lost, "{name}");
        assert_eq!(count(ArrivalClass::Late), v.late, "{name}");
        assert_eq!(count(ArrivalClass::Copy), v.extra_copies, "{name}");
        let max = h.lateness_ms().into_iter().fold(0.0, f64::max);
        assert_eq!(Some(max), v.lateness_ms.map(|q| q.max), "{name}");
    }
}

fn svg_doc(svg: &str) -> roxmltree::Document<'_> {
    roxmltree::Document::parse(svg).expect("the SVG is well-formed XML")
}

fn texts(doc: &roxmltree::Document<'_>) -> Vec<String> {
    doc.descendants()
        .filter(|n| n.has_tag_name("text"))
        .filter_map(|n| n.text().map(|t| t.trim().to_owned()))
        .collect()
}

#[test]
fn the_timeline_has_one_band_per_phase_and_every_series() {
    let h = History::load(&RunDir::new(example("seed-swap"))).unwrap();
    let svg = plot::to_svg(&plot::timeline::Timeline { history: &h }).unwrap();
    let doc = svg_doc(&svg);
    let bands = doc
        .descendants()
        .filter(|n| n.has_tag_name("rect"))
        .filter(|n| n.attribute("opacity") == Some(&BAND_OPACITY.to_string()[..]))
        .count();
    let phases = h
        .ledger
        .iter()
        .filter(|e| e.event == Kind::PhaseBegun)
        .count();
    assert_eq!(bands, phases, "one band per phase in the ledger");
    let labels = texts(&doc);
    for want in [
        "arrival, version A",
        "arrival, version B",
        "lost (at its scheduled time)",
        "recycle",
        "swap",
    ] {
        assert!(
            labels.iter().any(|t| t == want),
            "missing {want:?} in {labels:?}"
        );
    }
    // One circle per arrival (the run is far below the thinning threshold) plus legends.
    let circles = doc
        .descendants()
        .filter(|n| n.has_tag_name("circle"))
        .count();
    assert!(
        circles >= h.arrivals.len(),
        "{circles} circles for {} arrivals",
        h.arrivals.len()
    );
}

#[test]
fn availability_shades_each_downtime_window() {
    let h = History::load(&RunDir::new(example("seed-recreate"))).unwrap();
    assert_eq!(h.verdict.downtime.windows, 1);
    let svg = plot::to_svg(&plot::availability::Availability { history: &h }).unwrap();
    let doc = svg_doc(&svg);
    let shaded = doc
        .descendants()
        .filter(|n| n.has_tag_name("rect") && n.attribute("opacity") == Some("0.2"))
        .count();
    assert_eq!(shaded, 1);
    let labels = texts(&doc);
    assert!(labels
        .iter()
        .any(|t| t == "probe failed (error status, refused)"));
    assert!(
        !labels.iter().any(|t| t.contains("no answer")),
        "no probe timed out: {labels:?}"
    );

    // A probe that timed out is marked apart, with its own legend entry.
    let mut h = h;
    let p = h.probes.iter_mut().find(|p| p.ok).unwrap();
    (p.ok, p.error) = (false, Some("timeout".into()));
    let svg = plot::to_svg(&plot::availability::Availability { history: &h }).unwrap();
    let labels = texts(&svg_doc(&svg));
    assert!(labels
        .iter()
        .any(|t| t == "probe failed (no answer in time)"));
}

#[test]
fn every_report_is_written_and_the_html_is_self_contained() {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(example("seed-recreate")).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            std::fs::copy(&path, dir.path().join(path.file_name().unwrap())).unwrap();
        }
    }
    let written = reports::report::write(&RunDir::new(dir.path())).unwrap();
    let names: Vec<String> = written
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for want in [
        "timeline.svg",
        "timeline.png",
        "availability.png",
        "lateness.svg",
        "downtime.png",
        "report.md",
        "report.html",
        "probes.hlog",
        "lateness.hgrm",
    ] {
        assert!(names.iter().any(|n| n == want), "{want} not in {names:?}");
    }
    let html = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
    // Every URL is an XML namespace: nothing is fetched (a failure kind such as `http_503`
    // is text, not a URL).
    for scheme in ["http://", "https://", "//cdn", "src=\"//"] {
        let mut rest = html.as_str();
        while let Some(i) = rest.find(scheme) {
            let tail = &rest[i..];
            assert!(
                tail.starts_with("http://www.w3.org/"),
                "external reference in report.html: {}",
                &tail[..tail.len().min(60)]
            );
            rest = &tail[scheme.len()..];
        }
    }
    assert!(!html.contains("<script"), "no script");
    assert_eq!(html.matches("<svg").count(), 4, "four inline plots");
    let png = std::fs::read(dir.path().join("timeline.png")).unwrap();
    assert_eq!(&png[1..4], b"PNG");
}

/// Headless Chromium, if installed: `.ci/run` installs Debian's `chromium`.
fn chromium() -> Option<PathBuf> {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

fn run_chromium(
    browser: &Path,
    profile: &Path,
    extra: &[&str],
    page: &Path,
) -> std::process::Output {
    let url = format!("file://{}", page.display());
    std::process::Command::new("timeout")
        .arg("90")
        .arg(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(url)
        .output()
        .expect("chromium runs")
}

#[test]
fn the_html_report_renders_in_a_real_browser() {
    let Some(browser) = chromium() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "chromium is missing: .ci/run installs it (apt-get install chromium)"
        );
        eprintln!("skipping: chromium is not installed here");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(example("seed-recreate")).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            std::fs::copy(&path, dir.path().join(path.file_name().unwrap())).unwrap();
        }
    }
    reports::report::write(&RunDir::new(dir.path())).unwrap();
    let page = dir.path().join("report.html");

    // The DOM after loading: the plots and the tables are there.
    let out = run_chromium(
        &browser,
        &dir.path().join("profile-dom"),
        &["--dump-dom"],
        &page,
    );
    let dom = String::from_utf8_lossy(&out.stdout);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "chromium failed: {log}");
    for id in [
        "plot-timeline",
        "plot-availability",
        "plot-lateness",
        "plot-downtime",
    ] {
        assert!(
            dom.contains(&format!("id=\"{id}\"")),
            "{id} missing from the DOM"
        );
    }
    assert_eq!(dom.matches("<svg").count(), 4);
    assert!(dom.contains("<td>lost</td>"));
    // A rolling update's report adds the completion chart and its tables.
    let flex = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(example("flex-false-completion-gap")).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            std::fs::copy(&path, flex.path().join(path.file_name().unwrap())).unwrap();
        }
    }
    reports::report::write(&RunDir::new(flex.path())).unwrap();
    let out = run_chromium(
        &browser,
        &flex.path().join("profile-dom"),
        &["--dump-dom"],
        &flex.path().join("report.html"),
    );
    let flex_dom = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(
        flex_dom.contains("id=\"plot-completion\""),
        "the completion chart"
    );
    assert_eq!(flex_dom.matches("<svg").count(), 5);
    assert!(flex_dom.contains("Completion query, every evaluation"));
    for bad in ["CONSOLE", "Failed to load resource", "net::ERR"] {
        assert!(!log.contains(bad), "browser console reported {bad}: {log}");
    }

    // A screenshot that is not blank: plenty of pixels are neither white nor near-white.
    let shot = dir.path().join("shot.png");
    let out = run_chromium(
        &browser,
        &dir.path().join("profile-shot"),
        &[
            "--window-size=1100,1600",
            &format!("--screenshot={}", shot.display()),
        ],
        &page,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let decoder = png::Decoder::new(std::fs::File::open(&shot).unwrap());
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    let channels = info.color_type.samples();
    let inked = buf[..info.buffer_size()]
        .chunks(channels)
        .filter(|px| px.iter().take(3).any(|&c| c < 200))
        .count();
    let total = (info.width * info.height) as usize;
    assert!(
        inked * 100 > total,
        "the page looks blank: {inked} of {total} pixels inked"
    );
}

/// The report of a run with two probe series and the apps' lifecycle events: the downtime
/// of each series, what each could resolve, and each instance as it told it.
#[test]
fn the_report_shows_each_probe_series_and_each_instance_as_it_told_it() {
    let dir = tempfile::tempdir().unwrap();
    let src = example("seed-swap");
    for file in ["arrivals.csv", "expected.json", "ledger.csv"] {
        std::fs::copy(src.join(file), dir.path().join(file)).unwrap();
    }
    let run = RunDir::new(dir.path());
    // Every probe twice, once per series; one reused probe fails with an eof.
    let mut probes = Vec::new();
    for (i, p) in RunDir::new(&src)
        .read_probes()
        .unwrap()
        .into_iter()
        .enumerate()
    {
        let mut reused = p.clone();
        reused.conn = Some("reused".into());
        if i == 100 {
            reused.ok = false;
            reused.status = None;
            reused.error = Some("eof".into());
        }
        probes.push(reused);
        probes.push(reports::Probe {
            conn: Some("new".into()),
            ..p
        });
    }
    run.write_probes(&probes).unwrap();
    let ledger = run.read_ledger().unwrap();
    let t = |e: Kind| ledger.iter().find(|l| l.event == e).unwrap().t_ns;
    let (start, end) = (t(Kind::InstanceStarted), t(Kind::RunEnded));
    std::fs::write(
        dir.path().join("events.csv"),
        format!(
            "recv_ns,t_ns,event,instance,version,detail\n\
             {start},,started,a-0,A,pid=1\n\
             {},,cancelled,a-0,A,active=1\n\
             {},,exiting,a-0,A,unacked=0\n",
            start + 1_000_000_000,
            start + 1_250_000_000,
        ),
    )
    .unwrap();
    assert!(start + 1_250_000_000 < end, "a-0 stops during the run");
    let h = History::load(&run).unwrap();
    let md = reports::report::markdown(&h);
    for want in [
        "| reused | 1 |",
        "| new | 0 |",
        "## What the probes could resolve",
        "a keep-alive connection sees a proxy closing idle connections",
        "## Instances, as they told it",
        "| a-0 | A | yes | 250.0 | exited | 0 |",
    ] {
        assert!(md.contains(want), "{want:?} missing in\n{md}");
    }
}

/// The Flex example: the completion chart shades each false completion and draws one cell
/// per evaluation for the query and one for the truth; the timeline shades them too; the
/// report's tables list every evaluation as the summary's verdict has it.
#[test]
fn the_completion_estimate_is_drawn_and_tabled_as_the_verdict_has_it() {
    let run = RunDir::new(example("flex-false-completion-gap"));
    let h = History::load(&run).unwrap();
    let c = h
        .verdict
        .completion
        .as_ref()
        .expect("a rolling update's estimate");
    assert!(
        !c.false_completions.is_empty(),
        "the example shows a false completion"
    );
    // The verdict in summary.json is what the checker computes again from the files.
    let again = reports::checker::check_run(&run).unwrap();
    assert_eq!(again.completion.as_ref(), Some(c));

    let svg = plot::to_svg(&plot::completion::CompletionChart {
        history: &h,
        estimate: c,
    })
    .unwrap();
    let doc = svg_doc(&svg);
    let rects = |fill: &str, opacity: Option<&str>| {
        doc.descendants()
            .filter(|n| n.has_tag_name("rect"))
            .filter(|n| n.attribute("fill") == Some(fill) && n.attribute("opacity") == opacity)
            .count()
    };
    // Shaded bands: one per false completion, and one in the legend.
    assert_eq!(
        rects("#D62728", Some("0.15")),
        c.false_completions.len() + 1
    );
    let yes = c.evaluations.iter().filter(|e| e.complete).count()
        + c.evaluations.iter().filter(|e| e.truly_complete).count();
    let no = 2 * c.evaluations.len() - yes;
    assert_eq!(
        rects("#2CA02C", Some("1")),
        yes + 1,
        "green cells, and the legend's"
    );
    assert_eq!(
        rects("#BEBEBE", Some("1")),
        no + 1,
        "grey cells, and the legend's"
    );
    let labels = texts(&doc);
    for want in ["query", "truth", "old-version instances alive (truth)"] {
        assert!(labels.iter().any(|t| t == want), "{want:?} in {labels:?}");
    }

    let timeline = plot::to_svg(&plot::timeline::Timeline { history: &h }).unwrap();
    let labels = texts(&svg_doc(&timeline));
    assert_eq!(
        labels.iter().filter(|t| *t == "false YES").count(),
        c.false_completions.len()
    );

    let md = reports::report::markdown(&h);
    assert_eq!(
        md.matches("| YES (false) |").count() as u64,
        c.false_yes,
        "each false YES evaluation is a row"
    );
    assert!(md.contains("a-2 (started_in_gap)"), "{md}");
}

/// Short phases that begin together get their labels in separate rows, never on top of
/// each other; a run without downtime says so instead of drawing an empty frame.
#[test]
fn phase_labels_do_not_overlap_and_no_downtime_is_said_in_words() {
    let h = History::load(&RunDir::new(example("seed-swap"))).unwrap();
    let svg = plot::to_svg(&plot::timeline::Timeline { history: &h }).unwrap();
    let doc = svg_doc(&svg);
    let names: Vec<String> = h.phases().iter().map(|p| p.name.clone()).collect();
    let labels: Vec<(f64, f64, String)> = doc
        .descendants()
        .filter(|n| n.has_tag_name("text"))
        .filter_map(|n| {
            let text = n.text()?.trim().to_owned();
            names.contains(&text).then(|| {
                let at = |a: &str| n.attribute(a).and_then(|v| v.parse::<f64>().ok()).unwrap();
                (at("x"), at("y"), text)
            })
        })
        .collect();
    assert_eq!(labels.len(), names.len(), "one label per phase: {labels:?}");
    for (i, a) in labels.iter().enumerate() {
        for b in &labels[i + 1..] {
            let (left, right) = if a.0 <= b.0 { (a, b) } else { (b, a) };
            let same_row = (a.1 - b.1).abs() < 1.0;
            // 6 px a character is a lower bound of DejaVu Sans at 11 px.
            let overlap = right.0 < left.0 + 6.0 * left.2.len() as f64;
            assert!(!(same_row && overlap), "{left:?} and {right:?} overlap");
        }
    }
    assert_eq!(h.verdict.downtime.windows, 0);
    let svg = plot::to_svg(&plot::downtime::DowntimeWindows { history: &h }).unwrap();
    let said = texts(&svg_doc(&svg));
    assert!(
        said.iter().any(|t| t.starts_with("no downtime: all ")),
        "{said:?}"
    );
}

/// A run with faults and a control series: the verdict costs each fault and takes the
/// control's window out of the downtime; the report tables both, the timeline draws a
/// labelled bar per fault in its own band (labels of faults that begin together in separate
/// rows), and the availability plot shades each fault's window.
#[test]
fn faults_and_the_control_are_costed_tabled_and_drawn() {
    let dir = tempfile::tempdir().unwrap();
    let src = example("seed-swap");
    for file in ["arrivals.csv", "expected.json"] {
        std::fs::copy(src.join(file), dir.path().join(file)).unwrap();
    }
    let run = RunDir::new(dir.path());
    let epoch = run.read_expected().unwrap().sources[0].epoch_ns;
    let at = |ms: i64| epoch + ms * 1_000_000;
    // The app fails from +3.20 s to +3.40 s; the control (the sink's /health) from +3.20 s
    // to +3.29 s: 100 ms of the app's window are the machine's, 110 ms stay the app's.
    let mut probes = Vec::new();
    for p in RunDir::new(&src).read_probes().unwrap() {
        let offset_ms = (p.intended_ns - epoch) / 1_000_000;
        let mut app = p.clone();
        if (3200..=3400).contains(&offset_ms) {
            (app.ok, app.status) = (false, Some(503));
        }
        probes.push(app);
        let mut control = reports::Probe::new(p.intended_ns, p.intended_ns + 100_000, true);
        control.conn = Some("control".into());
        if (3200..3300).contains(&offset_ms) {
            (control.ok, control.error) = (false, Some("timeout".into()));
        }
        probes.push(control);
    }
    run.write_probes(&probes).unwrap();
    let mut ledger = RunDir::new(&src).read_ledger().unwrap();
    let row = |t: i64, event: Kind, instance: &str, fault: u64, kind: &str| {
        reports::LedgerEvent::new(t, event, instance, "A", "")
            .with("fault", fault)
            .with("kind", kind)
    };
    ledger.extend([
        row(at(3000), Kind::FaultStarted, "a-0", 0, "pause")
            .with("duration_ms", "500.000")
            .with("instances", "a-0"),
        row(at(3000), Kind::FaultActed, "a-0", 0, "pause").with("action", "sigstop"),
        row(at(3500), Kind::FaultActed, "a-0", 0, "pause").with("action", "sigcont"),
        row(at(3500), Kind::FaultEnded, "", 0, "pause"),
        row(at(3000), Kind::FaultStarted, "", 1, "latency").with("latency_ms", "200.000"),
        row(at(4000), Kind::FaultEnded, "", 1, "latency")
            .with("requests", 40)
            .with("affected", 40),
        // Not restarted: a window of no length, at A(6,8)'s schedule, in the loop that
        // lost A(6,8) and A(6,9).
        row(at(6800), Kind::FaultStarted, "a-0", 2, "crash")
            .with("restart", false)
            .with("instances", "a-0"),
        row(at(6800), Kind::FaultActed, "a-0", 2, "crash").with("action", "sigkill"),
        row(at(6800), Kind::FaultEnded, "", 2, "crash"),
        // Still acting at the run's end.
        row(at(8000), Kind::FaultStarted, "", 3, "blackhole"),
    ]);
    run.write_ledger(&ledger).unwrap();

    let h = History::load(&run).unwrap();
    let v = &h.verdict;
    let control = v.control.as_ref().expect("a control series");
    assert_eq!((control.failed_probes, control.excluded_ms), (10, 100.0));
    assert_eq!(v.downtime.total_ms, 110.0, "{:?}", v.downtime);
    let costs: Vec<(u64, &str, f64, u64, bool)> = v
        .faults
        .iter()
        .map(|f| (f.fault, f.kind.as_str(), f.downtime_ms, f.lost, f.ended))
        .collect();
    assert_eq!(
        costs,
        [
            (0, "pause", 110.0, 0, true),
            (1, "latency", 110.0, 0, true),
            (2, "crash", 0.0, 2, true),
            (3, "blackhole", 0.0, 0, false),
        ]
    );
    assert_eq!(v.faults[1].affected, Some(40));
    // The verdict a re-check makes is the same.
    assert_eq!(&reports::checker::check_run(&run).unwrap(), v);

    let text = reports::terminal::render(None, v);
    for want in [
        "fault 0       pause a-0 at +3.0 s for 0.5 s: down 110 ms, lost 0, dup 0, late 0\n",
        "fault 2       crash a-0 at +6.8 s for 0.0 s: down 0 ms, lost 2, dup 0, late 0\n",
        "control       1001 probes, 10 failed: timeout 10",
    ] {
        assert!(text.contains(want), "{want:?} missing in\n{text}");
    }

    let md = reports::report::markdown(&h);
    for want in [
        "## Faults",
        "| 0 | pause | a-0 sigstop, a-0 sigcont | 3.000 to 3.500 | - | 110.0 | 0 | 0 | 0 | \
         duration_ms=500.000 |",
        "| 1 | latency |  | 3.000 to 4.000 | 40 / 40 | 110.0 |",
        "| 3 | blackhole |  | 8.000 to ",
        " (run's end) | - | 0.0 | 0 | 0 | 0 |  |",
        "## Control probes (the sink's /health: not the app)",
        "| 1001 | 10: timeout 10 | 1 | 100.0 | 100.0 | 100.0 |",
    ] {
        assert!(md.contains(want), "{want:?} missing in\n{md}");
    }
    let html = reports::report::html(&h, &[]);
    assert!(html.contains("<h2>Faults</h2>") && html.contains("<td>a-0 sigstop, a-0 sigcont</td>"));

    // The timeline: a bar per fault in the fault band (and one in the legend), each
    // labelled; the pause and the latency begin together, so their labels take two rows.
    let svg = plot::to_svg(&plot::timeline::Timeline { history: &h }).unwrap();
    let doc = svg_doc(&svg);
    let fault_fill = "#BCBD22";
    let rects = |opacity: f64| {
        doc.descendants()
            .filter(|n| n.has_tag_name("rect"))
            .filter(|n| n.attribute("fill") == Some(fault_fill))
            .filter(|n| n.attribute("opacity") == Some(&opacity.to_string()[..]))
            .count()
    };
    assert_eq!(rects(plot::FAULT_OPACITY), v.faults.len() + 1);
    assert_eq!(rects(plot::FAULT_SHADE_OPACITY), v.faults.len());
    let label_at = |label: &str| {
        let n = doc
            .descendants()
            .find(|n| n.has_tag_name("text") && n.text().map(str::trim) == Some(label))
            .unwrap_or_else(|| panic!("no label {label:?} in {:?}", texts(&doc)));
        let at = |a: &str| n.attribute(a).and_then(|v| v.parse::<f64>().ok()).unwrap();
        (at("x"), at("y"))
    };
    let (pause, latency) = (label_at("pause a-0"), label_at("latency"));
    assert!((pause.0 - latency.0).abs() < 1.0, "they begin together");
    assert!((pause.1 - latency.1).abs() >= 11.0, "{pause:?} {latency:?}");
    for label in ["crash a-0", "blackhole"] {
        label_at(label);
    }
    // Below every item: the fault band is a row of its own.
    let phase = label_at("swap");
    assert!(pause.1 > phase.1 && latency.1 > phase.1);
    assert_eq!(
        bands_of(&doc),
        h.ledger
            .iter()
            .filter(|e| e.event == Kind::PhaseBegun)
            .count(),
        "still one phase band per phase"
    );

    // The availability plot shades each fault's window and names it.
    let svg = plot::to_svg(&plot::availability::Availability { history: &h }).unwrap();
    let doc = svg_doc(&svg);
    let shaded = doc
        .descendants()
        .filter(|n| n.has_tag_name("rect"))
        .filter(|n| n.attribute("fill") == Some(fault_fill))
        .filter(|n| n.attribute("opacity") == Some(&plot::FAULT_SHADE_OPACITY.to_string()[..]))
        .count();
    assert_eq!(shaded, v.faults.len());
    let labels = texts(&doc);
    for want in [
        "pause a-0",
        "fault window",
        "control down (the sink's /health): not counted",
        "control probe failed (not the app)",
    ] {
        assert!(labels.iter().any(|t| t == want), "{want:?} in {labels:?}");
    }
}

fn bands_of(doc: &roxmltree::Document<'_>) -> usize {
    doc.descendants()
        .filter(|n| n.has_tag_name("rect"))
        .filter(|n| n.attribute("opacity") == Some(&BAND_OPACITY.to_string()[..]))
        .count()
}

/// `harness history --out`'s page in a real browser: a figure per metric of each series,
/// the tables, the invalid runs listed, and nothing the browser complains of.
#[test]
fn the_history_page_renders_in_a_real_browser() {
    use reports::history_page::{MetricTrend, SeriesTrends};
    use reports::plot::trend::{BandPoint, TrendPoint};
    let Some(browser) = chromium() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "chromium is missing: .ci/run installs it (apt-get install chromium)"
        );
        eprintln!("skipping: chromium is not installed here");
        return;
    };
    let point = |i: i64, v: f64, valid: bool| TrendPoint {
        recorded_ns: i,
        value: Some(v),
        valid,
    };
    let band = Some(BandPoint {
        reference: 2.0,
        limit: 3.0,
    });
    let metric = |name: &str| MetricTrend {
        measure: name.into(),
        unit: "items".into(),
        points: vec![
            point(1, 2.0, true),
            point(2, 2.0, true),
            point(3, 9.0, false),
            point(4, 8.0, true),
        ],
        band: vec![None, None, band, band],
        budget: format!("{name} p99 last=5 min_runs=2 add=1 mul=1"),
        budget_given: true,
        runs: 3,
        p50: Some(2.0),
        p95: Some(8.0),
        p99: Some(8.0),
        last: Some(8.0),
        trend_per_run: Some(3.0),
    };
    let series = SeriesTrends {
        scenario: "seed-swap".into(),
        scenario_hash: "1030700f00000000".into(),
        platform: "local".into(),
        strategy: "swap".into(),
        metrics: vec![metric("lost"), metric("lost{phase=update}")],
        invalid: vec![[
            "r3".into(),
            "/runs/r3".into(),
            "the probe client lagged".into(),
        ]],
    };
    let dir = tempfile::tempdir().unwrap();
    let page = reports::history_page::write(dir.path(), "runs/history.sqlite", &[series]).unwrap();
    let out = run_chromium(
        &browser,
        &dir.path().join("profile"),
        &["--dump-dom"],
        &page,
    );
    let dom = String::from_utf8_lossy(&out.stdout);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "chromium failed: {log}");
    for id in ["plot-0-0", "plot-0-1", "series-0"] {
        assert!(dom.contains(&format!("id=\"{id}\"")), "{id}");
    }
    assert_eq!(dom.matches("<svg").count(), 2);
    assert!(dom.contains("<td>lost{phase=update}</td>"));
    assert!(dom.contains("the probe client lagged"));
    for bad in ["CONSOLE", "Failed to load resource", "net::ERR"] {
        assert!(!log.contains(bad), "browser console reported {bad}: {log}");
    }
}
