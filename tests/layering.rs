//! The modules depend one way (docs/architecture.md, "Modules and their direction"):
//!
//! ```text
//! api  ←  secret  ←  provider  ←  emulator, telemetry  ←  controller  ←  cli
//! ```
//!
//! This test reads every source file under `src/` and fails when production code of
//! a module names a module on its right (`crate::controller` in `src/provider`, say),
//! so the direction cannot regress silently. Test code (`*_tests.rs` files and items
//! marked `#[cfg(test)]`) may reach further: a unit test may render through a real
//! provider. Comments do not count.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// What each top-level module's production code may import from the crate.
fn allowed() -> BTreeMap<&'static str, BTreeSet<&'static str>> {
    let leaf: [&str; 2] = ["tls", "failpoint"];
    let mut m = BTreeMap::new();
    let mut allow = |module: &'static str, deps: &[&'static str]| {
        let mut set: BTreeSet<&'static str> = deps.iter().copied().collect();
        set.extend(leaf);
        set.insert(module);
        m.insert(module, set);
    };
    allow("tls", &[]);
    allow("failpoint", &[]);
    allow("api", &[]);
    allow("secret", &["api"]);
    allow("provider", &["api", "secret"]);
    allow("emulator", &["api", "secret", "provider"]);
    allow("telemetry", &["api", "secret", "provider"]);
    allow("controller", &["api", "secret", "provider", "telemetry"]);
    allow(
        "cli",
        &[
            "api",
            "secret",
            "provider",
            "emulator",
            "telemetry",
            "controller",
        ],
    );
    m
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The production part of a source file: without comments, and without the items
/// marked `#[cfg(test)]`.
fn production_code(text: &str) -> String {
    let mut code = String::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("#[cfg(test)]") {
            // The next item is test-only: skip it, to its closing brace (format
            // strings and JSON literals have balanced braces, so counting works).
            let mut depth = 0usize;
            let mut opened = false;
            for item_line in lines.by_ref() {
                for c in item_line.chars() {
                    match c {
                        '{' => {
                            depth += 1;
                            opened = true;
                        }
                        '}' => depth = depth.saturating_sub(1),
                        _ => {}
                    }
                }
                let ends_item = item_line.trim_end().ends_with(';') && !opened;
                if ends_item || (opened && depth == 0) {
                    break;
                }
            }
            continue;
        }
        if trimmed.starts_with("//") {
            continue;
        }
        let without_comment = match line.find("//") {
            // A `//` inside a string (a URL) is not a comment; good enough: cut only
            // when no quote precedes it.
            Some(i) if !line[..i].contains('"') => &line[..i],
            _ => line,
        };
        code.push_str(without_comment);
        code.push('\n');
    }
    code
}

/// The crate's top-level modules a piece of code names: `crate::x` paths and the
/// roots of `use crate::{x, y::z}` groups.
fn named_modules(code: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                let root: String = item
                    .trim()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !root.is_empty() {
                    found.insert(root);
                }
            }
        } else {
            let root: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !root.is_empty() {
                found.insert(root);
            }
        }
    }
    found
}

#[test]
fn modules_depend_one_way() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let allowed = allowed();
    let mut violations = Vec::new();
    let mut checked = 0;
    for (module, may) in &allowed {
        let mut files = Vec::new();
        let dir = src.join(module);
        if dir.is_dir() {
            rust_files(&dir, &mut files);
        }
        let single = src.join(format!("{module}.rs"));
        if single.is_file() {
            files.push(single);
        }
        assert!(!files.is_empty(), "src/{module} has no source files");
        for file in files {
            if file.to_string_lossy().ends_with("_tests.rs") {
                continue;
            }
            checked += 1;
            let text = std::fs::read_to_string(&file).unwrap();
            for named in named_modules(&production_code(&text)) {
                if allowed.contains_key(named.as_str()) && !may.contains(named.as_str()) {
                    violations.push(format!(
                        "{} names crate::{named}: {module} may import only {:?}",
                        file.strip_prefix(&src).unwrap().display(),
                        may.iter().filter(|m| *m != module).collect::<Vec<_>>()
                    ));
                }
            }
        }
    }
    assert!(
        checked > 50,
        "only {checked} files checked: is src/ laid out as expected?"
    );
    assert!(
        violations.is_empty(),
        "the module direction (docs/architecture.md) is broken:\n{}",
        violations.join("\n")
    );
}

#[test]
fn the_reader_sees_imports_and_ignores_comments_and_tests() {
    let code = production_code(
        "use crate::api::X;\n\
         use crate::{secret::Y, provider};\n\
         // crate::controller in a comment\n\
         let u = \"https://x//y\"; let z = crate::telemetry::m();\n\
         #[cfg(test)]\n\
         mod tests {\n fn f() { let _ = format!(\"{x}\"); }\n use crate::cli;\n }\n\
         fn after() { crate::emulator::run(); }\n",
    );
    let named = named_modules(&code);
    let expect: BTreeSet<String> = ["api", "secret", "provider", "telemetry", "emulator"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(named, expect);
}

/// Where `text` names block `block` as a spec path (`spec.hydra.adminUrl`,
/// `"spec.hydra"`), not a longer name that starts with it (`spec.hydra2`).
fn names_block(text: &str, block: &str) -> bool {
    let needle = format!("spec.{block}");
    text.match_indices(&needle).any(|(i, _)| {
        !text[i + needle.len()..]
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
    })
}

/// The provider type a provider folder implements, from its `kind.rs`
/// (`ProviderType::Hydra`): the first variant of the list it names.
fn folder_type(folder: &Path) -> Option<clientops::api::provider::ProviderType> {
    let kind = std::fs::read_to_string(folder.join("kind.rs")).ok()?;
    clientops::api::provider::ProviderType::ALL
        .iter()
        .copied()
        .find(|t| kind.contains(&format!("ProviderType::{t:?}\n")))
}

/// A provider folder names only its own block in spec paths: what a folder copied
/// from another provider's keeps by mistake (its error messages would send users
/// to the other provider's fields).
#[test]
fn a_provider_folder_names_only_its_own_block() {
    use clientops::api::provider::ProviderType;
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/provider");
    let mut folders = 0;
    let mut wrong = Vec::new();
    for entry in std::fs::read_dir(&root).unwrap() {
        let folder = entry.unwrap().path();
        if !folder.is_dir() {
            continue;
        }
        let own = folder_type(&folder)
            .unwrap_or_else(|| panic!("{}: kind.rs names no provider type", folder.display()));
        folders += 1;
        let mut files = Vec::new();
        rust_files(&folder, &mut files);
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            for other in ProviderType::ALL.iter().filter(|t| **t != own) {
                if names_block(&text, other.block_name()) {
                    wrong.push(format!(
                        "{}: names spec.{} (this folder is {})",
                        file.display(),
                        other.block_name(),
                        own.block_name()
                    ));
                }
            }
        }
    }
    assert_eq!(
        folders,
        ProviderType::ALL.len(),
        "a folder per provider type"
    );
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn a_block_is_named_only_as_itself() {
    assert!(names_block("\"spec.hydra.adminUrl must be\"", "hydra"));
    assert!(names_block("Field::Own(\"spec.hydra\")", "hydra"));
    assert!(!names_block("\"spec.hydra2.adminUrl\"", "hydra"));
    assert!(!names_block("\"spec.secret.name\"", "hydra"));
}
