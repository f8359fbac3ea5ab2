//! Each user's current answer under each user-choice policy, in the shared
//! store ([`Choices`]): a point read. The answers are written with the
//! audit log's choice events (`events.rs`).

use super::{CALL_TIMEOUT, Postgres, parsed};
use crate::error::Result;
use crate::model::policy::Choice;
use crate::store::Choices;
use async_trait::async_trait;

#[async_trait]
impl Choices for Postgres {
    async fn choice(&self, user: &str, policy: &str) -> Result<Option<Choice>> {
        let (user, policy) = (user.to_ascii_lowercase(), policy.to_owned());
        self.with("reading a choice", CALL_TIMEOUT, move |c| {
            Box::pin(async move {
                let stmt = c
                    .prepare_cached("SELECT choice FROM choices WHERE email = $1 AND policy = $2")
                    .await?;
                let row = c.query_opt(&stmt, &[&user, &policy]).await?;
                row.map(|r| parsed("choices.choice", r.get(0), Choice::parse))
                    .transpose()
            })
        })
        .await
    }
}
