//! What one LIST of an account may read in total: a number of pages and a number
//! of body bytes across all of them. Each page keeps its own cap
//! ([`BodyLimits::list`]); the budget bounds the whole LIST, so a provider whose
//! paging never ends (a loop of links, a hostile or broken server) or an account
//! larger than the operator planned for stops with
//! [`ProviderError::ListTooLarge`] instead of growing memory without bound.
//!
//! A provider client makes one [`ListMeter`] per `list()` and reads every page
//! through [`ListMeter::page`]: the page's body is read only up to the bytes the
//! budget has left, and its length is counted once it is read.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use super::error::{Operation, ProviderError};
use super::http::{BodyLimits, Executor, RawResponse};

/// Pages one LIST may read by default.
pub const DEFAULT_LIST_MAX_PAGES: u32 = 1000;
/// Body bytes one LIST may read by default, across all its pages (64 MiB).
pub const DEFAULT_LIST_MAX_BYTES: u64 = 64 * 1024 * 1024;

/// The most one LIST of an account may read (`clientops run --list-max-pages`,
/// `--list-max-bytes`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ListBudget {
    /// Pages (requests that returned a page; retries of one page count once).
    pub max_pages: u32,
    /// Response body bytes of all pages together.
    pub max_bytes: u64,
}

impl Default for ListBudget {
    fn default() -> Self {
        Self {
            max_pages: DEFAULT_LIST_MAX_PAGES,
            max_bytes: DEFAULT_LIST_MAX_BYTES,
        }
    }
}

/// What one LIST has read so far, against its budget.
#[derive(Debug)]
pub struct ListMeter {
    budget: ListBudget,
    pages: u32,
    bytes: u64,
}

impl ListMeter {
    /// A LIST that has read nothing yet.
    pub fn new(budget: ListBudget) -> Self {
        Self {
            budget,
            pages: 0,
            bytes: 0,
        }
    }

    /// Pages read so far.
    pub fn pages(&self) -> u32 {
        self.pages
    }

    /// Body bytes read so far.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// The error for this LIST having run out of budget (`pages` and `bytes`: the
    /// pages read whole before it stopped).
    pub fn exceeded(&self) -> ProviderError {
        ProviderError::ListTooLarge {
            pages: self.pages,
            bytes: self.bytes,
            max_pages: self.budget.max_pages,
            max_bytes: self.budget.max_bytes,
        }
    }

    /// Read one page with `exec` ([`Operation::List`]): `build` and `interpret` as
    /// for [`Executor::execute`]. Refused before sending when the budget's pages
    /// are used up; the body is read up to the smaller of `page_cap` and the
    /// bytes left. A body cut by the budget (not by `page_cap`) is
    /// [`ProviderError::ListTooLarge`]; a body over `page_cap` stays the
    /// executor's `Decode` error.
    pub async fn page<T>(
        &mut self,
        exec: &Executor,
        page_cap: usize,
        build: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
        interpret: impl Fn(RawResponse) -> Result<T, ProviderError>,
    ) -> Result<T, ProviderError> {
        let left = self.budget.max_bytes.saturating_sub(self.bytes);
        if self.pages >= self.budget.max_pages || left == 0 {
            return Err(self.exceeded());
        }
        let by_budget = left < page_cap as u64;
        let limit = if by_budget { left as usize } else { page_cap };
        let exec = exec.clone().with_body_limits(BodyLimits {
            object: limit,
            list: limit,
        });
        // The executor refuses an over-long success body before `interpret`
        // sees it; `interpreted` tells that refusal apart from a body
        // `interpret` could not decode. `build` runs first in every attempt.
        let interpreted = AtomicBool::new(false);
        let read = AtomicUsize::new(0);
        let result = exec
            .execute(
                Operation::List,
                |client| {
                    interpreted.store(false, Ordering::Relaxed);
                    build(client)
                },
                |raw| {
                    interpreted.store(true, Ordering::Relaxed);
                    read.store(raw.body.len(), Ordering::Relaxed);
                    interpret(raw)
                },
            )
            .await;
        match result {
            Ok(v) => {
                self.pages += 1;
                self.bytes += read.load(Ordering::Relaxed) as u64;
                Ok(v)
            }
            Err(ProviderError::Decode { .. })
                if by_budget && !interpreted.load(Ordering::Relaxed) =>
            {
                Err(self.exceeded())
            }
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_error_names_the_limits_and_the_fix() {
        let mut m = ListMeter::new(ListBudget {
            max_pages: 3,
            max_bytes: 1000,
        });
        m.pages = 3;
        m.bytes = 900;
        let e = m.exceeded();
        let text = e.to_string();
        for part in [
            "3 pages",
            "1000 bytes",
            "900 bytes",
            "--list-max-pages",
            "--list-max-bytes",
            "clientops run",
        ] {
            assert!(text.contains(part), "{text}");
        }
        assert!(!e.is_retryable());
        assert_eq!(e.kind(), "list_too_large");
        assert_eq!(e.misconfiguration(), Some("ProviderListTooLarge"));
    }

    #[test]
    fn defaults() {
        let b = ListBudget::default();
        assert_eq!(b.max_pages, 1000);
        assert_eq!(b.max_bytes, 64 << 20);
    }
}
