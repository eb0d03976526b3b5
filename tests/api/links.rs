//! Every relative link in the README and in `docs/` leads to a file inside the
//! repository: the documentation carries its own map, and never points outside it.

use std::path::{Path, PathBuf};

/// The targets of a Markdown text's inline links, outside fenced code blocks.
fn link_targets(markdown: &str) -> Vec<String> {
    let mut targets = Vec::new();
    let mut fenced = false;
    for line in markdown.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        let mut rest = line;
        while let Some(at) = rest.find("](") {
            rest = &rest[at + 2..];
            if let Some(end) = rest.find(')') {
                targets.push(rest[..end].trim().to_owned());
                rest = &rest[end + 1..];
            }
        }
    }
    targets
}

/// The relative links of `file` that do not lead to a file inside `root`.
fn broken_links(root: &Path, file: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(file).expect("readable");
    let dir = file.parent().expect("a folder");
    link_targets(&text)
        .into_iter()
        .filter(|target| {
            !(target.starts_with("http://")
                || target.starts_with("https://")
                || target.starts_with("mailto:")
                || target.starts_with('#'))
        })
        .filter(|target| {
            let path = target.split('#').next().unwrap_or_default();
            match dir.join(path).canonicalize() {
                Ok(found) => !found.starts_with(root),
                Err(_) => true,
            }
        })
        .collect()
}

fn documents(root: &Path) -> Vec<PathBuf> {
    let mut files = vec![root.join("README.md")];
    let docs = std::fs::read_dir(root.join("docs")).expect("docs/");
    files.extend(
        docs.filter_map(Result::ok)
            .map(|entry| entry.path())
            .filter(|path| path.extension().is_some_and(|e| e == "md")),
    );
    files
}

#[test]
fn every_relative_link_in_the_documentation_resolves_inside_the_repository() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .canonicalize()
        .expect("the repository");
    let files = documents(&root);
    assert!(
        files.iter().any(|f| f.ends_with("ARCHITECTURE.md")),
        "docs/ARCHITECTURE.md is the map: {files:?}"
    );
    let broken: Vec<(PathBuf, Vec<String>)> = files
        .into_iter()
        .map(|file| {
            let broken = broken_links(&root, &file);
            (file, broken)
        })
        .filter(|(_, broken)| !broken.is_empty())
        .collect();
    assert!(
        broken.is_empty(),
        "links that lead nowhere or outside: {broken:?}"
    );
}

#[test]
fn a_link_outside_the_repository_or_to_nothing_is_found() {
    let root = tempfile::tempdir().expect("temp dir");
    let repo = root.path().join("repo");
    std::fs::create_dir_all(repo.join("docs")).expect("docs");
    std::fs::write(repo.join("docs/there.md"), "").expect("file");
    std::fs::write(root.path().join("outside.md"), "").expect("file");
    let readme = repo.join("README.md");
    std::fs::write(
        &readme,
        "[ok](docs/there.md#part) [gone](docs/missing.md) [out](../outside.md) \
         [web](https://example.com) [here](#top)\n```\n[in code](nowhere.md)\n```\n",
    )
    .expect("file");
    let repo = repo.canonicalize().expect("repo");
    assert_eq!(
        broken_links(&repo, &readme),
        ["docs/missing.md", "../outside.md"]
    );
}
