//! Issue 24 (one inventory, generated, enforced) and issue 25 (every field compared):
//! every leaf field a tenant or an admin writes, and every `clientops.dev/` key
//! clientops reads, has a row in the field inventory of `docs/security.md` (threat
//! class, the test that covers it, whether a resync compares it with the provider)
//! and of `docs/policy.md` (the rule that bounds it, or why none is needed).
//!
//! The fields are generated, never listed by hand: the leaves of `spec` of the
//! three CRDs exactly as `clientops crd` prints them (objects by `.`, array items as
//! `[]`, map values as `{}`), and the keys are every `const NAME: &str =
//! "clientops.dev/…"` in `src/`. `status` is left out by rule: only the operator
//! writes it (the `/status` subresource), so it is not input; docs/security.md says
//! so beside the table. A field without rows fails, and so does a row whose field
//! is gone, a test reference that names no test, and a gap not on the allow-lists
//! below. No apiserver needed.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::Value;

/// The threat classes a row may name (docs/security.md defines each).
const CLASSES: &[&str] = &[
    "carries-privilege",
    "credential-reference",
    "display-only",
    "memory",
    "names-another-object",
    "operator-state",
    "reaches-network",
    "sends-users",
    "shapes-secret",
    "triggers-action",
];

/// Rows of docs/security.md whose "covered by" cell is a `gap: …` (no test shows
/// the defence yet). Shrink it: an entry whose row names a test again fails, so a
/// gap closed is a line removed here.
const TEST_GAPS: &[&str] = &[
    "OAuthProvider spec.keycloak.auth.clientCredentials.clientId",
    "OAuthProvider spec.keycloak.realm",
    "OAuthProvider spec.vmwareCsp.orgId",
];

/// Rows of docs/policy.md whose "bound by" cell is a `gap: …`: a field that widens
/// what a client may do or reach, with no rule of `spec.policy` yet (issue 24,
/// guardrails). Empty since the token lifetimes got `maxTokenLifetime` and
/// `maxRefreshTokenLifetime`; a field added later without a rule must be listed
/// here (and its row say `gap: <why>`), or it fails.
const RULE_GAPS: &[&str] = &[];

/// Where the tables are, between these two lines.
const BEGIN: &str = "<!-- field-inventory:begin -->";
const END: &str = "<!-- field-inventory:end -->";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

// ---------------------------------------------------------------------------
// What exists.

/// Every leaf of `spec` of every CRD, as `Kind spec.path`.
fn schema_fields() -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for crd in clientops::api::crds::all() {
        let kind = crd.spec.names.kind.clone();
        let schema = serde_json::to_value(&crd.spec.versions[0].schema).unwrap();
        let spec = &schema["openAPIV3Schema"]["properties"]["spec"];
        assert!(spec.is_object(), "{kind} has a spec");
        walk(&format!("{kind} spec"), spec, &mut out);
    }
    out
}

fn walk(path: &str, v: &Value, out: &mut BTreeSet<String>) {
    if let Some(props) = v.get("properties").and_then(Value::as_object) {
        for (name, sub) in props {
            walk(&format!("{path}.{name}"), sub, out);
        }
    } else if let Some(items) = v.get("items") {
        walk(&format!("{path}[]"), items, out);
    } else if let Some(values) = v.get("additionalProperties").filter(|a| a.is_object()) {
        walk(&format!("{path}{{}}"), values, out);
    } else if v.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true)) {
        out.insert(format!("{path}.*"));
    } else {
        out.insert(path.to_string());
    }
}

/// Every `clientops.dev/` key a constant in `src/` names: annotations, labels, the
/// finalizer and the marker keys clientops stores at a provider.
fn keys() -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for file in rust_files(&root().join("src")) {
        let text = std::fs::read_to_string(&file).unwrap();
        for line in text.lines() {
            let line = line.trim();
            let Some(rest) = line.split_once("const ").map(|(_, r)| r) else {
                continue;
            };
            let Some((_, value)) = rest.split_once(": &str = \"") else {
                continue;
            };
            let Some(value) = value.strip_suffix("\";") else {
                continue;
            };
            if value.starts_with("clientops.dev/") {
                let at = file.strip_prefix(root()).unwrap().display().to_string();
                out.insert(format!("key {value}"), at);
            }
        }
    }
    out
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![];
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            out.extend(rust_files(&p));
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
    out
}

// ---------------------------------------------------------------------------
// What the docs say.

/// One table row: its field (first cell, without backticks) and its other cells.
struct Row {
    field: String,
    cells: Vec<String>,
}

/// The rows between the markers of `doc`, in order (header and rule skipped).
fn rows(doc: &str) -> Vec<Row> {
    let text = std::fs::read_to_string(root().join(doc)).unwrap();
    let start = text
        .find(BEGIN)
        .unwrap_or_else(|| panic!("{doc}: no line {BEGIN}"));
    let end = text
        .find(END)
        .unwrap_or_else(|| panic!("{doc}: no line {END}"));
    text[start + BEGIN.len()..end]
        .lines()
        .filter(|l| l.starts_with('|'))
        .skip(2)
        .map(|l| {
            let cells: Vec<String> = l
                .trim()
                .trim_matches('|')
                .split(" | ")
                .map(|c| c.trim().to_string())
                .collect();
            Row {
                field: cells[0].trim_matches('`').to_string(),
                cells: cells[1..].to_vec(),
            }
        })
        .collect()
}

/// Whether `reference` (`tests/x.rs::name` or `src/…/x.rs::name`) names a test
/// that exists: `fn name` in that file, or a suite row `"name"` there.
fn test_exists(reference: &str) -> Result<(), String> {
    let (file, name) = reference
        .split_once("::")
        .ok_or_else(|| format!("`{reference}` is not file::name"))?;
    if !(file.starts_with("tests/") || file.starts_with("src/")) {
        return Err(format!(
            "`{reference}`: the file must be under tests/ or src/"
        ));
    }
    let text = std::fs::read_to_string(root().join(file))
        .map_err(|e| format!("`{reference}`: cannot read {file}: {e}"))?;
    let is_fn = text
        .match_indices(&format!("fn {name}"))
        .any(|(i, m)| !text[i + m.len()..].starts_with(|c: char| c.is_alphanumeric() || c == '_'));
    if is_fn || text.contains(&format!("\"{name}\"")) {
        Ok(())
    } else {
        Err(format!(
            "`{reference}`: {file} has no `fn {name}` and no suite row \"{name}\""
        ))
    }
}

/// The test references of a "covered by" cell: every backticked `file::name`.
fn references(cell: &str) -> Vec<&str> {
    cell.split('`')
        .skip(1)
        .step_by(2)
        .filter(|r| r.contains("::"))
        .collect()
}

fn is_gap(cell: &str) -> bool {
    cell.starts_with("gap:") && cell.len() > "gap: ".len()
}

// ---------------------------------------------------------------------------
// The check.

const HOW: &str = "\
How to add the rows: one row per field, in sorted order, between the field-inventory \
markers of each doc.
  docs/security.md: | `<field>` | <threat classes, from the list above the table> | \
`tests/<file>.rs::<test fn or suite row>` (or `gap: <why>`, and the field in TEST_GAPS of \
tests/field_inventory.rs) | yes[: detail] or no: <why not> |
  docs/policy.md:   | `<field>` | <the spec.policy rule that bounds it, or why none is \
needed> (or `gap: <why>`, and the field in RULE_GAPS) |
A field is `<Kind> spec.<path>` (array items `[]`, map values `{}`), as `clientops crd` \
prints it; a key is `key clientops.dev/<name>`.";

#[test]
fn every_field_and_key_has_its_rows() {
    let mut want = schema_fields();
    let key_files = keys();
    let n_fields = want.len();
    want.extend(key_files.keys().cloned());
    let mut problems: Vec<String> = vec![];

    let security = rows("docs/security.md");
    let policy = rows("docs/policy.md");
    let mut test_gaps = BTreeSet::new();
    let mut rule_gaps = BTreeSet::new();

    for (doc, table, columns) in [
        ("docs/security.md", &security, 3),
        ("docs/policy.md", &policy, 1),
    ] {
        let have: Vec<&str> = table.iter().map(|r| r.field.as_str()).collect();
        let mut sorted = have.clone();
        sorted.sort();
        sorted.dedup();
        if sorted != have {
            problems.push(format!(
                "{doc}: rows are not sorted, or a field has two rows"
            ));
        }
        let have: BTreeSet<&str> = have.into_iter().collect();
        for f in &want {
            if !have.contains(f.as_str()) {
                let from = key_files
                    .get(f)
                    .map(|file| format!(" (a constant in {file})"))
                    .unwrap_or_default();
                problems.push(format!("{f}{from}: no row in {doc}"));
            }
        }
        for f in &have {
            if !want.contains(*f) {
                problems.push(format!(
                    "{doc}: row `{f}` names a field or key that no longer exists; remove it"
                ));
            }
        }
        for r in table.iter() {
            if r.cells.len() != columns || r.cells.iter().any(String::is_empty) {
                problems.push(format!(
                    "{doc}: row `{}` needs {columns} non-empty cells after the field",
                    r.field
                ));
            }
        }
    }

    for r in &security {
        let [classes, covered, resync] = r.cells.as_slice() else {
            continue;
        };
        for c in classes.split(',').map(|c| c.trim().trim_matches('`')) {
            if !CLASSES.contains(&c) {
                problems.push(format!(
                    "docs/security.md: row `{}`: threat class {c:?} is not one of {CLASSES:?}",
                    r.field
                ));
            }
        }
        if is_gap(covered) {
            test_gaps.insert(r.field.clone());
            if !TEST_GAPS.contains(&r.field.as_str()) {
                problems.push(format!(
                    "docs/security.md: row `{}` is a gap but not in TEST_GAPS; name a test \
                     or add it there",
                    r.field
                ));
            }
        } else {
            let refs = references(covered);
            if refs.is_empty() {
                problems.push(format!(
                    "docs/security.md: row `{}`: \"covered by\" names no `file::test` \
                     and is no `gap: <why>`",
                    r.field
                ));
            }
            for reference in refs {
                if let Err(e) = test_exists(reference) {
                    problems.push(format!("docs/security.md: row `{}`: {e}", r.field));
                }
            }
        }
        let yes = resync == "yes" || resync.starts_with("yes:") || resync.starts_with("yes (");
        let no = resync.starts_with("no:") && resync.len() > "no: ".len();
        if !(yes || no) {
            problems.push(format!(
                "docs/security.md: row `{}`: \"compared on resync\" must be `yes` or \
                 `no: <why>`, not {resync:?}",
                r.field
            ));
        }
    }
    for r in &policy {
        if r.cells.first().is_some_and(|c| is_gap(c)) {
            rule_gaps.insert(r.field.clone());
            if !RULE_GAPS.contains(&r.field.as_str()) {
                problems.push(format!(
                    "docs/policy.md: row `{}` is a gap but not in RULE_GAPS; name the rule \
                     or add it there",
                    r.field
                ));
            }
        }
    }
    for (list, name, found) in [
        (TEST_GAPS, "TEST_GAPS", &test_gaps),
        (RULE_GAPS, "RULE_GAPS", &rule_gaps),
    ] {
        for g in list {
            if !found.contains(*g) {
                problems.push(format!(
                    "{name} lists `{g}`, whose row is no gap (or no row): remove it from {name}"
                ));
            }
        }
    }

    let text = std::fs::read_to_string(root().join("docs/security.md")).unwrap();
    for c in CLASSES {
        if !text.contains(&format!("| `{c}` |")) {
            problems.push(format!(
                "docs/security.md: threat class `{c}` has no definition row"
            ));
        }
    }

    println!(
        "field inventory: {n_fields} fields, {} keys, {} rows; gaps: {} without a test, \
         {} without a rule",
        key_files.len(),
        want.len(),
        test_gaps.len(),
        rule_gaps.len()
    );
    assert!(
        problems.is_empty(),
        "the field inventory is incomplete:\n  {}\n\n{HOW}",
        problems.join("\n  ")
    );
}

/// The walk sees what it must: maps, arrays, and a field of every kind.
#[test]
fn the_walk_finds_nested_lists_maps_and_both_provider_kinds() {
    let f = schema_fields();
    for want in [
        "OAuthClient spec.redirectUris[]",
        "OAuthClient spec.secret.template{}",
        "OAuthClient spec.hydra.tokenLifespans.clientCredentialsGrantAccessToken",
        "ClusterOAuthProvider spec.namespaceSelector.matchExpressions[].values[]",
        "OAuthProvider spec.keycloak.url",
    ] {
        assert!(f.contains(want), "{want} among {f:#?}");
    }
    assert!(
        f.iter().all(|f| !f.contains(" status")),
        "status is left out"
    );
    let k = keys();
    for want in [
        "key clientops.dev/pending-create",
        "key clientops.dev/rotate",
    ] {
        assert!(k.contains_key(want), "{want} among {k:?}");
    }
}

/// A reference to a test that does not exist is refused; one that does is not.
#[test]
fn a_reference_must_name_an_existing_test() {
    assert!(test_exists("tests/field_inventory.rs::every_field_and_key_has_its_rows").is_ok());
    assert!(test_exists("tests/hostile_input.rs::template-huge-output").is_ok());
    assert!(test_exists("tests/field_inventory.rs::every_field").is_err());
    assert!(test_exists("tests/field_inventory.rs::no_such_test").is_err());
    assert!(test_exists("tests/no_such_file.rs::x").is_err());
    assert!(test_exists("Cargo.toml::x").is_err());
}
