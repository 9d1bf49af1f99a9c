//! An emulator's state behind a lock, persisted to its `--state` file after every
//! change: a change works on a copy, which replaces the state only when the
//! change succeeds and the file was written, so the file and the memory never
//! disagree and a failed request leaves no half-done change behind.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use anyhow::Context as _;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::emulator::CoreError;
use super::persist;

/// A state an emulator keeps and `--state` persists as JSON.
pub trait StateFile: Clone + Default + Serialize + DeserializeOwned + Send + 'static {
    /// The format version this emulator reads and writes.
    const VERSION: u32;

    /// The format version of this state (as read from a file).
    fn version(&self) -> u32;
}

/// The state and, with `--state`, its file.
pub struct Store<S> {
    state: Mutex<S>,
    file: Option<PathBuf>,
}

impl<S: StateFile> Store<S> {
    /// Load `file` if it exists (else start empty), let `seed` add what the
    /// configuration says exists from the start, and write the result back.
    pub fn open(file: Option<&Path>, seed: impl FnOnce(&mut S)) -> anyhow::Result<Self> {
        let mut state = match file {
            Some(p) => persist::read_json::<S>(p)
                .with_context(|| format!("loading state file {}", p.display()))?
                .unwrap_or_default(),
            None => S::default(),
        };
        if state.version() != S::VERSION {
            anyhow::bail!(
                "state file has format version {}, this emulator reads {}",
                state.version(),
                S::VERSION
            );
        }
        seed(&mut state);
        if let Some(p) = file {
            persist::write_json(p, &state)
                .with_context(|| format!("writing state file {}", p.display()))?;
        }
        Ok(Self {
            state: Mutex::new(state),
            file: file.map(Path::to_path_buf),
        })
    }

    fn lock(&self) -> MutexGuard<'_, S> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Read the state.
    pub fn read<R>(&self, f: impl FnOnce(&S) -> R) -> R {
        f(&self.lock())
    }

    /// Change the state: `f` works on a copy, which replaces the state (and the
    /// file) only when `f` succeeds and the file was written. When the file
    /// cannot be written the error is [`CoreError::NotSaved`] (and the cause is
    /// logged here).
    pub fn mutate<R, E: From<CoreError>>(
        &self,
        f: impl FnOnce(&mut S) -> Result<R, E>,
    ) -> Result<R, E> {
        let mut guard = self.lock();
        let mut next = guard.clone();
        let out = f(&mut next)?;
        if let Some(p) = &self.file
            && let Err(e) = persist::write_json(p, &next)
        {
            tracing::error!(path = %p.display(), error = %e, "writing the state file failed");
            return Err(CoreError::NotSaved.into());
        }
        *guard = next;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
    struct Counter {
        version: u32,
        n: u32,
    }

    impl Default for Counter {
        fn default() -> Self {
            Self { version: 1, n: 0 }
        }
    }

    impl StateFile for Counter {
        const VERSION: u32 = 1;
        fn version(&self) -> u32 {
            self.version
        }
    }

    #[derive(Debug, PartialEq)]
    enum Refusal {
        Refused,
        NotSaved,
    }

    impl From<CoreError> for Refusal {
        fn from(_: CoreError) -> Self {
            Refusal::NotSaved
        }
    }

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("clientops-store-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn a_change_is_kept_only_when_it_succeeds_and_survives_a_restart() {
        let d = dir("keep");
        let file = d.join("state.json");
        let store = Store::<Counter>::open(Some(&file), |s| s.n = 1).unwrap();
        store
            .mutate(|s| {
                s.n += 1;
                Ok::<_, Refusal>(())
            })
            .unwrap();
        let failed = store.mutate(|s| {
            s.n = 100;
            Err::<(), _>(Refusal::Refused)
        });
        assert_eq!(failed, Err(Refusal::Refused));
        assert_eq!(store.read(|s| s.n), 2);
        let reopened = Store::<Counter>::open(Some(&file), |_| {}).unwrap();
        assert_eq!(reopened.read(|s| s.n), 2);
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_change_whose_file_cannot_be_written_is_not_applied() {
        let d = dir("unwritable");
        let file = d.join("state.json");
        let store = Store::<Counter>::open(Some(&file), |_| {}).unwrap();
        std::fs::remove_dir_all(&d).unwrap();
        let r = store.mutate(|s| {
            s.n = 7;
            Ok::<_, Refusal>(())
        });
        assert_eq!(r, Err(Refusal::NotSaved));
        assert_eq!(store.read(|s| s.n), 0);
    }

    #[test]
    fn a_file_of_another_format_version_is_refused() {
        let d = dir("version");
        let file = d.join("state.json");
        std::fs::write(&file, r#"{"version": 2, "n": 5}"#).unwrap();
        let e = Store::<Counter>::open(Some(&file), |_| {}).err().unwrap();
        assert!(
            e.to_string()
                .contains("format version 2, this emulator reads 1"),
            "{e}"
        );
        std::fs::remove_dir_all(&d).unwrap();
    }
}
