//! The OData query options the emulator serves on lists: `$top` (1–999,
//! default 100), `$select`, `$filter` (a subset, below), `$skiptoken` (only as
//! found in `@odata.nextLink`), and `$count=true` (counted only with
//! `ConsistencyLevel: eventual`, silently ignored without, as Graph does;
//! on the first page only).
//! `$orderby`, `$search` and `$expand` are refused with 400
//! `Request_UnsupportedQuery`.
//!
//! `$filter` subset: clauses joined by `and`, each one of `prop eq 'v'`,
//! `prop ne 'v'`, `prop in ('a','b')`, `startswith(prop,'v')`, and
//! `tags/any(t:t eq 'v')`, on the properties the list allows (applications:
//! `appId`, `displayName`, `id`, `signInAudience`, `tags`; service principals:
//! `appId`, `displayName`, `id`, `tags`). Values are compared
//! case-insensitively; `''` escapes a quote. Anything else is 400
//! `Request_UnsupportedQuery`.
//!
//! Paging: items in creation order; `@odata.nextLink` is an absolute URL on the
//! scheme and host the request came to, carrying every original option and a
//! `$skiptoken`.

use axum::http::HeaderMap;
use serde_json::{Map, Value};

use super::errors::GraphError;

/// Default and largest page size.
pub const DEFAULT_TOP: usize = 100;
pub const MAX_TOP: usize = 999;

/// One `$filter` clause.
#[derive(Clone, Debug, PartialEq)]
pub enum Clause {
    Eq(String, String),
    Ne(String, String),
    In(String, Vec<String>),
    StartsWith(String, String),
    AnyTagEq(String),
}

/// A list request's options.
#[derive(Debug, Default)]
pub struct ListQuery {
    pub top: usize,
    pub select: Option<Vec<String>>,
    pub filter: Vec<Clause>,
    /// Return items after this sequence number.
    pub after: Option<u64>,
    pub count: bool,
    /// The options as sent, without `$skiptoken` (for the next link).
    pub pairs: Vec<(String, String)>,
}

/// Parse a raw query string for a list whose filterable properties are
/// `filterable` and whose type (for messages) is `resource`.
pub fn parse(
    raw: Option<&str>,
    headers: &HeaderMap,
    filterable: &[&str],
    resource: &str,
) -> Result<ListQuery, GraphError> {
    let pairs: Vec<(String, String)> =
        url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    let eventual = headers
        .get("consistencylevel")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("eventual"));
    let mut q = ListQuery {
        top: DEFAULT_TOP,
        ..Default::default()
    };
    for (k, v) in &pairs {
        match k.to_ascii_lowercase().as_str() {
            "$top" => {
                q.top = v
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=MAX_TOP).contains(n))
                    .ok_or_else(|| {
                        GraphError::bad_request(format!(
                            "Invalid page size specified: '{v}'. Must be between 1 and {MAX_TOP} inclusive."
                        ))
                    })?;
            }
            "$select" => q.select = Some(select_list(v)),
            "$filter" => q.filter = parse_filter(v, filterable, resource)?,
            "$skiptoken" => {
                q.after = Some(
                    v.strip_prefix("emu")
                        .and_then(|h| u64::from_str_radix(h, 16).ok())
                        .ok_or_else(|| {
                            GraphError::bad_request(
                                "The specified page token value has expired or is invalid.",
                            )
                        })?,
                );
            }
            "$count" => q.count = eventual && v.eq_ignore_ascii_case("true"),
            "$orderby" | "$search" | "$expand" => {
                return Err(GraphError::unsupported_query(format!(
                    "The query option '{k}' is not supported by the emulator."
                )));
            }
            o if o.starts_with('$') => {
                return Err(GraphError::bad_request(format!(
                    "Query option '{k}' is not allowed."
                )));
            }
            _ => {}
        }
        if !k.eq_ignore_ascii_case("$skiptoken") {
            q.pairs.push((k.clone(), v.clone()));
        }
    }
    Ok(q)
}

/// The properties of a `$select`.
pub fn select_list(v: &str) -> Vec<String> {
    v.split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// Keep only the `select`ed properties; an unknown one is 400.
pub fn project(
    item: Map<String, Value>,
    select: Option<&[String]>,
    resource: &str,
) -> Result<Map<String, Value>, GraphError> {
    let Some(select) = select else {
        return Ok(item);
    };
    let mut out = Map::new();
    for p in select {
        match item.iter().find(|(k, _)| k.eq_ignore_ascii_case(p)) {
            Some((k, v)) => {
                out.insert(k.clone(), v.clone());
            }
            None => {
                return Err(GraphError::bad_request(format!(
                    "Parsing OData Select and Expand failed: Could not find a property named '{p}' on type 'microsoft.graph.{resource}'."
                )));
            }
        }
    }
    Ok(out)
}

fn unsupported(resource: &str, what: &str) -> GraphError {
    GraphError::unsupported_query(format!(
        "Unsupported or invalid query filter clause specified for property '{what}' of resource '{resource}'."
    ))
}

/// Split on ` and ` outside quotes.
fn split_and(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            quoted = !quoted;
        }
        if !quoted && c == ' ' {
            let rest: String = chars[i..].iter().take(5).collect();
            if rest.eq_ignore_ascii_case(" and ") {
                out.push(cur.trim().to_string());
                cur.clear();
                i += 5;
                continue;
            }
        }
        cur.push(c);
        i += 1;
    }
    out.push(cur.trim().to_string());
    out
}

/// A quoted OData string literal, `''` unescaped.
fn literal(s: &str) -> Option<String> {
    let inner = s.trim().strip_prefix('\'')?.strip_suffix('\'')?;
    if inner.replace("''", "").contains('\'') {
        return None;
    }
    Some(inner.replace("''", "'"))
}

fn parse_filter(v: &str, filterable: &[&str], resource: &str) -> Result<Vec<Clause>, GraphError> {
    let invalid = || GraphError::bad_request(format!("Invalid filter clause: {v}"));
    let check = |p: &str| -> Result<String, GraphError> {
        filterable
            .iter()
            .find(|f| f.eq_ignore_ascii_case(p))
            .map(|f| f.to_string())
            .ok_or_else(|| unsupported(resource, p))
    };
    let mut out = Vec::new();
    for clause in split_and(v) {
        let lower = clause.to_ascii_lowercase();
        if let Some(rest) = lower.strip_prefix("startswith(") {
            let args = &clause[clause.len() - rest.len()..];
            let args = args.strip_suffix(')').ok_or_else(invalid)?;
            let (p, lit) = args.split_once(',').ok_or_else(invalid)?;
            out.push(Clause::StartsWith(
                check(p.trim())?,
                literal(lit).ok_or_else(invalid)?,
            ));
        } else if lower.starts_with("tags/any(") {
            // tags/any(x:x eq 'v')
            let inner = clause
                .get("tags/any(".len()..)
                .and_then(|s| s.strip_suffix(')'))
                .ok_or_else(invalid)?;
            check("tags")?;
            let (var, cond) = inner.split_once(':').ok_or_else(invalid)?;
            let cond = cond.trim();
            let rest = cond
                .strip_prefix(var.trim())
                .map(str::trim_start)
                .ok_or_else(invalid)?;
            let lit = rest
                .strip_prefix("eq ")
                .or_else(|| rest.strip_prefix("EQ "))
                .ok_or_else(|| unsupported(resource, "tags"))?;
            out.push(Clause::AnyTagEq(literal(lit).ok_or_else(invalid)?));
        } else {
            let mut parts = clause.splitn(3, ' ');
            let (p, op, rest) = (
                parts.next().unwrap_or_default(),
                parts.next().unwrap_or_default().to_ascii_lowercase(),
                parts.next().unwrap_or_default(),
            );
            let p = check(p)?;
            if p == "tags" {
                return Err(unsupported(resource, "tags"));
            }
            match op.as_str() {
                "eq" => out.push(Clause::Eq(p, literal(rest).ok_or_else(invalid)?)),
                "ne" => out.push(Clause::Ne(p, literal(rest).ok_or_else(invalid)?)),
                "in" => {
                    let list = rest
                        .trim()
                        .strip_prefix('(')
                        .and_then(|s| s.strip_suffix(')'))
                        .ok_or_else(invalid)?;
                    let values = list
                        .split(',')
                        .map(literal)
                        .collect::<Option<Vec<_>>>()
                        .ok_or_else(invalid)?;
                    out.push(Clause::In(p, values));
                }
                _ => return Err(unsupported(resource, &p)),
            }
        }
    }
    Ok(out)
}

fn text<'a>(item: &'a Map<String, Value>, p: &str) -> &'a str {
    item.get(p).and_then(Value::as_str).unwrap_or_default()
}

/// Whether `item` passes every clause.
pub fn matches(item: &Map<String, Value>, filter: &[Clause]) -> bool {
    filter.iter().all(|c| match c {
        Clause::Eq(p, v) => text(item, p).eq_ignore_ascii_case(v),
        Clause::Ne(p, v) => !text(item, p).eq_ignore_ascii_case(v),
        Clause::In(p, vs) => vs.iter().any(|v| text(item, p).eq_ignore_ascii_case(v)),
        Clause::StartsWith(p, v) => text(item, p).to_lowercase().starts_with(&v.to_lowercase()),
        Clause::AnyTagEq(v) => item
            .get("tags")
            .and_then(Value::as_array)
            .is_some_and(|tags| {
                tags.iter()
                    .any(|t| t.as_str().is_some_and(|t| t.eq_ignore_ascii_case(v)))
            }),
    })
}

/// One page of `items` (creation order, with their sequence numbers):
/// (page, the sequence number to continue after, if more remain).
pub fn page(
    items: Vec<(u64, Map<String, Value>)>,
    q: &ListQuery,
) -> (Vec<Map<String, Value>>, Option<u64>, usize) {
    let matching: Vec<(u64, Map<String, Value>)> = items
        .into_iter()
        .filter(|(_, i)| matches(i, &q.filter))
        .collect();
    let total = matching.len();
    let mut rest = matching
        .into_iter()
        .filter(|(s, _)| q.after.is_none_or(|a| *s > a))
        .peekable();
    let mut out = Vec::new();
    let mut last = None;
    while out.len() < q.top {
        match rest.next() {
            Some((s, i)) => {
                last = Some(s);
                out.push(i);
            }
            None => break,
        }
    }
    let next = if rest.peek().is_some() { last } else { None };
    (out, next, total)
}

/// The `@odata.nextLink` continuing after `after`.
pub fn next_link(origin: &str, path: &str, q: &ListQuery, after: u64) -> String {
    let mut query = String::new();
    for (k, v) in &q.pairs {
        let enc: String = url::form_urlencoded::byte_serialize(v.as_bytes()).collect();
        query.push_str(&format!("{k}={enc}&"));
    }
    query.push_str(&format!("$skiptoken=emu{after:x}"));
    format!("{origin}{path}?{query}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const APP: [&str; 5] = ["appId", "displayName", "id", "signInAudience", "tags"];

    fn item(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn filters_parse_and_match() {
        let f = parse_filter(
            "startswith(displayName,'clientops-') and tags/any(t:t eq 'clientops.dev/x') and appId in ('A','b')",
            &APP,
            "Application",
        )
        .unwrap();
        assert_eq!(f.len(), 3);
        let i =
            item(json!({"displayName": "clientops-a", "tags": ["clientops.dev/X"], "appId": "a"}));
        assert!(matches(&i, &f));
        let i2 = item(json!({"displayName": "other", "tags": ["clientops.dev/x"], "appId": "a"}));
        assert!(!matches(&i2, &f));
        let e = parse_filter("uniqueName eq 'x'", &APP, "Application").unwrap_err();
        assert_eq!(e.code, "Request_UnsupportedQuery");
        assert_eq!(
            parse_filter("displayName eq 'it''s'", &APP, "Application").unwrap(),
            vec![Clause::Eq("displayName".into(), "it's".into())]
        );
        assert!(parse_filter("displayName eq it", &APP, "Application").is_err());
    }

    #[test]
    fn pages_continue_after_the_token() {
        let items: Vec<_> = (1..=5)
            .map(|s| (s, item(json!({"displayName": format!("a{s}")}))))
            .collect();
        let mut q = parse(
            Some("$top=2&$select=displayName"),
            &HeaderMap::new(),
            &APP,
            "Application",
        )
        .unwrap();
        let (p, next, total) = page(items.clone(), &q);
        assert_eq!((p.len(), next, total), (2, Some(2), 5));
        let link = next_link("https://h", "/v1.0/applications", &q, 2);
        assert_eq!(
            link,
            "https://h/v1.0/applications?$top=2&$select=displayName&$skiptoken=emu2"
        );
        q.after = Some(4);
        let (p, next, _) = page(items, &q);
        assert_eq!((p.len(), next), (1, None));
        assert!(parse(Some("$top=1000"), &HeaderMap::new(), &APP, "Application").is_err());
        assert!(
            parse(
                Some("$orderby=displayName"),
                &HeaderMap::new(),
                &APP,
                "Application"
            )
            .is_err()
        );
    }
}
