//! Opens the fixture report in headless Chromium: it must render without a console message
//! (no script error, no failed load), run its script to the end, and draw a non-blank page.
//! Skipped, with a note, when no Chromium is installed (Debian: `apt-get install -y chromium`).
use std::{
    path::{Path, PathBuf},
    process::Command as Process,
};

use assert_cmd::Command;

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/report");

fn data(name: &str) -> String {
    Path::new(DATA).join(name).display().to_string()
}

fn find_chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("CHROMIUM").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH")?;
    [
        "chromium",
        "chromium-browser",
        "google-chrome",
        "google-chrome-stable",
    ]
    .iter()
    .flat_map(|name| std::env::split_paths(&path).map(move |d| d.join(name)))
    .find(|p| p.is_file())
}

/// Runs Chromium headless on `url` with `extra` flags; returns (stdout, stderr).
fn chromium(bin: &Path, profile: &Path, url: &str, extra: &[&str]) -> (String, String) {
    let out = Process::new(bin)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--hide-scrollbars",
            "--disable-extensions",
            "--enable-logging=stderr",
            "--v=0",
            "--window-size=1280,1600",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(url)
        .output()
        .expect("could not run chromium");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "chromium failed: {stderr}");
    (stdout, stderr)
}

#[test]
fn report_renders_in_headless_chromium() {
    let Some(bin) = find_chromium() else {
        println!(
            "note: chromium not found; skipping the browser test (apt-get install -y chromium)"
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let html = dir.path().join("report.html");
    Command::cargo_bin("cisformer")
        .unwrap()
        .args(["report", "-q", "--model", &data("model")])
        .args(["--heads", &data("heads.tsv")])
        .args(["--interactions", &data("interactions.tsv")])
        .args(["--validation", &data("validation.tsv")])
        .args(["--spacing", &data("spacing.tsv")])
        .args(["--redundancy", &data("redundancy.tsv")])
        .args(["--predictions", &data("predictions.tsv")])
        .args(["--labels", &data("labels.tsv")])
        .args(["--pruning", &data("pruning.tsv")])
        .args(["--forgetting", &data("forgetting.tsv")])
        .arg("-o")
        .arg(&html)
        .assert()
        .success();
    let url = format!("file://{}", html.display());
    let profile = dir.path().join("profile");

    // The DOM after scripts ran: the sorting script marks the root element when it finished.
    let (dom, log) = chromium(&bin, &profile, &url, &["--dump-dom"]);
    assert!(
        dom.contains("data-ready=\"1\""),
        "the page script did not finish"
    );
    let console: Vec<&str> = log.lines().filter(|l| l.contains(":CONSOLE")).collect();
    assert!(console.is_empty(), "console messages: {console:#?}");

    let png_path = dir.path().join("shot.png");
    let (_, log) = chromium(
        &bin,
        &profile,
        &url,
        &[&format!("--screenshot={}", png_path.display())],
    );
    let console: Vec<&str> = log.lines().filter(|l| l.contains(":CONSOLE")).collect();
    assert!(console.is_empty(), "console messages: {console:#?}");

    let decoder = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(&png_path).unwrap(),
    ));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!((info.width, info.height), (1280, 1600));
    let bytes = &buf[..info.buffer_size()];
    let channels = info.color_type.samples();
    let pixels = bytes.chunks(channels);
    let total = (info.width * info.height) as usize;
    let first = &bytes[..channels];
    let differing = pixels.clone().filter(|p| *p != first).count();
    let mut colours: Vec<&[u8]> = pixels.collect();
    colours.sort_unstable();
    colours.dedup();
    assert!(
        differing * 20 > total,
        "screenshot is nearly uniform ({differing} of {total} pixels differ)"
    );
    assert!(
        colours.len() > 50,
        "only {} distinct colours",
        colours.len()
    );
}
