//! Per-profile identity secrets in the shared store ([`Secrets`]), kept
//! under a keyed hash of the secret: a batch is stored in one statement,
//! and using one is a single conditional `UPDATE … RETURNING`, so of many
//! concurrent callers exactly one wins.

use super::{CALL_TIMEOUT, Postgres, parsed};
use crate::error::Result;
use crate::secret::{IssuedSecret, SecretKind};
use crate::store::{Refused, Revoke, Secrets};
use async_trait::async_trait;

#[async_trait]
impl Secrets for Postgres {
    async fn add_secrets(&self, secrets: Vec<IssuedSecret>, now: i64) -> Result<()> {
        if secrets.is_empty() {
            return Ok(());
        }
        let mut lookup = Vec::with_capacity(secrets.len());
        let mut kind = Vec::with_capacity(secrets.len());
        let mut email = Vec::with_capacity(secrets.len());
        let mut payload_uuid = Vec::with_capacity(secrets.len());
        let mut expires = Vec::with_capacity(secrets.len());
        let mut serial = Vec::with_capacity(secrets.len());
        let mut udid = Vec::with_capacity(secrets.len());
        for s in secrets {
            lookup.push(s.lookup);
            kind.push(s.kind.as_str());
            email.push(s.user.map(|u| u.to_ascii_lowercase()));
            payload_uuid.push(s.payload_uuid);
            expires.push(s.expires);
            serial.push(s.serial.map(|v| v.to_ascii_uppercase()));
            udid.push(s.udid);
        }
        self.with("storing secrets", CALL_TIMEOUT, move |c| {
            Box::pin(async move {
                let stmt = c
                    .prepare_cached(
                        "INSERT INTO secrets (lookup, kind, email, payload_uuid, created, expires,
                                              serial, udid)
                         SELECT s.lookup, s.kind, s.email, s.payload_uuid, $6, s.expires,
                                s.serial, s.udid
                         FROM UNNEST($1::BYTEA[], $2::TEXT[], $3::TEXT[], $4::TEXT[], $5::BIGINT[],
                                     $7::TEXT[], $8::TEXT[])
                              AS s(lookup, kind, email, payload_uuid, expires, serial, udid)",
                    )
                    .await?;
                c.execute(
                    &stmt,
                    &[
                        &lookup,
                        &kind,
                        &email,
                        &payload_uuid,
                        &expires,
                        &now,
                        &serial,
                        &udid,
                    ],
                )
                .await?;
                Ok(())
            })
        })
        .await
    }

    async fn use_secret(&self, lookup: Vec<u8>, now: i64) -> Result<Result<IssuedSecret, Refused>> {
        self.with("using a secret", CALL_TIMEOUT, move |c| {
            Box::pin(async move {
                // The winner's update returns the record; the others find it
                // used, and only then is the reason looked up.
                let take = c
                    .prepare_cached(
                        "UPDATE secrets SET used = $2
                         WHERE lookup = $1 AND used IS NULL AND expires > $2
                         RETURNING kind, email, payload_uuid, expires, serial, udid",
                    )
                    .await?;
                if let Some(r) = c.query_opt(&take, &[&lookup, &now]).await? {
                    return Ok(Ok(IssuedSecret {
                        kind: parsed("secrets.kind", r.get(0), SecretKind::parse)?,
                        user: r.get(1),
                        payload_uuid: r.get(2),
                        expires: r.get(3),
                        serial: r.get(4),
                        udid: r.get(5),
                        lookup,
                    }));
                }
                let why = c
                    .prepare_cached("SELECT used, expires FROM secrets WHERE lookup = $1")
                    .await?;
                Ok(Err(match c.query_opt(&why, &[&lookup]).await? {
                    None => Refused::Unknown,
                    Some(r) if r.get::<_, Option<i64>>(0) >= Some(r.get::<_, i64>(1)) => {
                        Refused::Revoked
                    }
                    Some(r) if r.get::<_, Option<i64>>(0).is_some() => Refused::Used,
                    Some(_) => Refused::Expired,
                }))
            })
        })
        .await
    }

    async fn find_secret(&self, lookup: Vec<u8>) -> Result<Option<IssuedSecret>> {
        self.with("reading a secret", CALL_TIMEOUT, move |c| {
            Box::pin(async move {
                let stmt = c
                    .prepare_cached(
                        "SELECT kind, email, payload_uuid, expires, serial, udid
                         FROM secrets WHERE lookup = $1",
                    )
                    .await?;
                match c.query_opt(&stmt, &[&lookup]).await? {
                    None => Ok(None),
                    Some(r) => Ok(Some(IssuedSecret {
                        kind: parsed("secrets.kind", r.get(0), SecretKind::parse)?,
                        user: r.get(1),
                        payload_uuid: r.get(2),
                        expires: r.get(3),
                        serial: r.get(4),
                        udid: r.get(5),
                        lookup,
                    })),
                }
            })
        })
        .await
    }

    async fn revoke_secrets(&self, which: Revoke, now: i64) -> Result<Vec<IssuedSecret>> {
        let (column, value) = match which {
            Revoke::Profile(uuid) => ("payload_uuid", uuid),
            Revoke::User(user) => ("email", user.to_ascii_lowercase()),
        };
        self.with("revoking secrets", CALL_TIMEOUT, move |c| {
            Box::pin(async move {
                let stmt = c
                    .prepare_cached(&format!(
                        "UPDATE secrets SET used = $2, expires = $2
                         WHERE {column} = $1 AND used IS NULL AND expires > $2
                         RETURNING kind, email, payload_uuid, expires, serial, udid, lookup"
                    ))
                    .await?;
                let rows = c.query(&stmt, &[&value, &now]).await?;
                rows.iter()
                    .map(|r| {
                        Ok(IssuedSecret {
                            kind: parsed("secrets.kind", r.get(0), SecretKind::parse)?,
                            user: r.get(1),
                            payload_uuid: r.get(2),
                            expires: r.get(3),
                            serial: r.get(4),
                            udid: r.get(5),
                            lookup: r.get(6),
                        })
                    })
                    .collect()
            })
        })
        .await
    }
}
