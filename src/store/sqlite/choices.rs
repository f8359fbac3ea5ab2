//! Each user's current answer under each user-choice policy, in the
//! embedded store ([`Choices`]): a point read. The answers are written with
//! the audit log's choice events (`events.rs`).

use super::{Sqlite, parsed};
use crate::error::Result;
use crate::model::policy::Choice;
use crate::store::Choices;
use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};

#[async_trait]
impl Choices for Sqlite {
    async fn choice(&self, user: &str, policy: &str) -> Result<Option<Choice>> {
        let (user, policy) = (user.to_ascii_lowercase(), policy.to_owned());
        self.read(move |conn| {
            let text: Option<String> = conn
                .prepare_cached("SELECT choice FROM choices WHERE user = ?1 AND policy = ?2")?
                .query_row(params![user, policy], |r| r.get(0))
                .optional()?;
            text.map(|t| parsed(0, &t, Choice::parse)).transpose()
        })
    }
}
