//! `[store]`: where aspen keeps its state, as a URL or the environment
//! variable that holds one; and where the commands find the store
//! (`[store]`, else the embedded one in `portal.state_dir`).

use super::Settings;
use super::fields::fail;
use crate::error::{Error, FieldError, Result};
use crate::secret::Secret;
use crate::store::Location;
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// `[store]`, validated: a URL, or the environment variable that holds one
/// (read when a command opens the store, so a URL with a password need not
/// be in the file).
#[derive(Debug, Clone)]
pub enum StoreSetting {
    Url(Location),
    Env {
        var: String,
        /// The settings file's folder, for a relative `sqlite:` path.
        base: PathBuf,
    },
}

/// `[store]` as written (the key names are a contract).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStore {
    /// May hold a password: a secret, never echoed.
    url: Option<Secret>,
    url_env: Option<String>,
}

impl Settings {
    /// Where the store is: `[store]`, else the embedded store in
    /// `portal.state_dir`; `None` when neither is set (then the CLI records
    /// nothing). `url_env` is read now; errors never show its value.
    pub fn store_location(&self) -> Result<Option<Location>> {
        match &self.store {
            Some(StoreSetting::Url(location)) => Ok(Some(location.clone())),
            Some(StoreSetting::Env { var, base }) => {
                let fail = |why: &str| {
                    Err(Error::Settings {
                        file: self.file.clone(),
                        line: None,
                        message: format!("[store] url_env = {var:?}: {why}"),
                    })
                };
                match std::env::var(var) {
                    Ok(url) if !url.trim().is_empty() => match Location::parse(url.trim(), base) {
                        Ok(location) => Ok(Some(location)),
                        Err(why) => fail(&format!("the URL in the variable {why}")),
                    },
                    _ => fail("the environment variable is not set"),
                }
            }
            None => Ok(self
                .portal
                .as_ref()
                .and_then(|p| p.state_dir.clone())
                .map(Location::Sqlite)),
        }
    }

    /// [`Settings::store_location`], for the commands that need a store
    /// (`serve`, `invite`, `issued`, `scep-verify`).
    pub fn require_store(&self) -> Result<Location> {
        self.store_location()?.ok_or_else(|| {
            Error::invalid(format!(
                "{}: needs [store] url (or url_env) or portal.state_dir: where codes, choices and issued profiles are recorded",
                self.file.display()
            ))
        })
    }
}

/// `[store]`, checked: exactly one of `url` and `url_env`.
pub(super) fn validate(raw: RawStore, base: &Path) -> Result<StoreSetting, FieldError> {
    match (raw.url, raw.url_env) {
        (Some(_), Some(_)) => Err(FieldError::new(
            "store.url_env",
            None,
            "give either url or url_env, not both",
        )),
        (Some(url), None) => Location::parse(url.expose(), base)
            .map(StoreSetting::Url)
            .map_err(|why| FieldError::new("store.url", None, why)),
        (None, Some(var)) if var.is_empty() || var.contains('=') || var.contains('\0') => {
            fail("store.url_env", &var, "must name an environment variable")
        }
        (None, Some(var)) => Ok(StoreSetting::Env {
            var,
            base: base.to_owned(),
        }),
        (None, None) => Err(FieldError::new(
            "store.url",
            None,
            "is required in [store] (or url_env), e.g. url = \"sqlite:aspen-state\"",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::tests::{MINIMAL, parse};

    #[test]
    fn store_is_a_url_or_an_environment_variable_never_shown() {
        let with = |table: &str| parse(&format!("{MINIMAL}\n[store]\n{table}\n"));
        assert_eq!(
            with("url = \"sqlite:state\"")
                .unwrap()
                .require_store()
                .unwrap(),
            Location::Sqlite("dir/state".into())
        );
        let pg = with("url = \"postgres://aspen:pw0rd@db/aspen\"").unwrap();
        assert_eq!(
            pg.require_store().unwrap().describe(),
            "postgres://aspen@db/aspen"
        );
        let msg = with("url = \"mysql://aspen:pw0rd@db\"")
            .unwrap_err()
            .to_string();
        assert!(
            msg.starts_with("dir/aspen.toml:")
                && msg.contains("store.url")
                && !msg.contains("pw0rd"),
            "{msg}"
        );
        let both = with("url = \"sqlite:s\"\nurl_env = \"X\"")
            .unwrap_err()
            .to_string();
        assert!(both.contains("either url or url_env"), "{both}");
        let var = "ASPEN_TEST_STORE_URL_UNSET_4711";
        let env = with(&format!("url_env = \"{var}\"")).unwrap();
        let msg = env.require_store().unwrap_err().to_string();
        assert!(
            msg.contains(&format!("[store] url_env = \"{var}\"")) && msg.contains("not set"),
            "{msg}"
        );
    }
}
