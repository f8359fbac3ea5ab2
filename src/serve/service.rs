//! What the server does, apart from HTTP: find the user, decide the
//! enrollment from the policies and the recorded choice, issue (sign, cache,
//! record) profiles, record choices, create and redeem one-time codes. The
//! handlers only translate between this and requests.
//!
//! (Over 600 lines: the one place every channel goes through to issue,
//! record and redeem, with its tests; splitting it would spread the order
//! of those steps over several files.)

use super::directory::Directory;
use super::issue_limit::{Charged, IssueLimit, Limited};
use super::readiness::Readiness;
use super::repeat::{RepeatWindow, What};
use super::throttle::{Budgets, Throttler, now_ms};
use crate::audit::{self, Record, Source};
use crate::error::{Error, Result};
use crate::issue::{Issuer, Order, Seal};
use crate::model::device::{Device, OsVersion, Platform};
use crate::model::directory::User;
use crate::model::machine_info::DeviceIds;
use crate::model::policy::{Choice, Policy, PolicyType};
use crate::model::resolution::{Decision, resolve};
use crate::model::{Channel, Enrollment, EnrollmentKind, Management};
use crate::settings::{Identity, IdentityUse, Portal, Settings};
use crate::sign::Signer;
use crate::store::{Recorder, Store};
use crate::tokens::{Keys, normalize_code};
use axum::body::Bytes;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long a portal session lasts.
pub const SESSION_SECONDS: i64 = 60 * 60;
/// How long a code shown on the User Enrollment page stays valid.
pub const DEVICE_CODE_SECONDS: i64 = 30 * 60;
/// Signed profiles with static secrets kept in memory (one per kind and
/// Managed Apple ID).
const CACHE_ENTRIES: usize = 10_000;

pub struct Service {
    pub settings: Settings,
    pub portal: Portal,
    pub keys: Keys,
    signer: Option<Arc<Signer>>,
    /// The truth about codes, choices and sessions: read on every decision,
    /// never cached, so replicas sharing it agree.
    pub store: Arc<dyn Store>,
    recorder: Recorder,
    /// `[directory] users`; optional when the identity provider sends the
    /// groups (`[oidc] groups_claim`).
    directory: Option<Arc<Directory>>,
    /// The identity provider (`[portal] auth = "oidc"`).
    pub idp: Option<Arc<crate::identity::Provider>>,
    cache: Mutex<HashMap<(EnrollmentKind, String, IdentityUse), Arc<Issued>>>,
    /// Downloads of the same profile by the same session (or access token,
    /// or proxy-named user) within `[serve] download_repeat_window` get the
    /// same bytes and one audit row.
    repeat: RepeatWindow<Issued>,
    pub throttle: Throttler,
    /// `[serve] issues_per_user`: a signed-in user cannot flood the audit
    /// and secret stores.
    limit: IssueLimit,
    /// `/readyz`'s answer, kept briefly; set at shutdown.
    readiness: Readiness,
    /// Turns at signing, one per core (see [`Service::signing`]).
    signers: Arc<tokio::sync::Semaphore>,
    /// Where request bodies from strangers are read.
    pub untrusted: super::offload::Offload,
    /// What a `MachineInfo` must be signed under (`[ade]`), when ADE is on.
    pub device_ca: Option<Arc<crate::verify::machine_info::DeviceCa>>,
}

/// A profile ready to hand out.
#[derive(Debug)]
pub struct Issued {
    pub bytes: Bytes,
    /// [`audit::sha256_hex`] of `bytes`, for the audit record.
    pub sha256: String,
    pub kind: EnrollmentKind,
}

/// The OS version a device must run first, and what for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Needs {
    pub platform: Platform,
    pub minimum: OsVersion,
    /// What needs it, e.g. "account-driven device enrollment (ADDE, …)".
    pub what: String,
    /// The enrollment restriction that needs it, named to the user.
    pub restriction: Option<String>,
}

/// What a user gets, given the policies and their recorded choice.
#[derive(Debug, Clone)]
pub enum Plan {
    /// Enroll with this management under this policy.
    Enroll {
        policy: Policy,
        management: Management,
        /// The recorded answer, for user-choice policies.
        choice: Option<Choice>,
    },
    /// A user-choice policy applies and the user has not answered.
    NeedsChoice { policy: Policy },
    /// The user cannot enroll; the message says why, for the user.
    Cannot(String),
}

impl Service {
    /// The service for `settings`, keeping state in `store`. Call it on the
    /// runtime that will serve: it starts the audit writer there.
    pub fn new(
        settings: Settings,
        keys: Keys,
        signer: Option<Arc<Signer>>,
        store: Arc<dyn Store>,
    ) -> Result<Service> {
        let portal = settings.require_portal()?.clone();
        let idp = match &settings.oidc {
            Some(oidc) => Some(Arc::new(crate::identity::Provider::new(
                oidc,
                &portal.public_url,
                &settings.file,
            )?)),
            None => None,
        };
        let groups_from_idp = settings
            .oidc
            .as_ref()
            .is_some_and(|o| o.groups_claim.is_some());
        let users = settings.directory_users.clone();
        if users.is_none() && !groups_from_idp {
            return Err(Error::invalid(format!(
                "{}: aspen serve needs [directory] users (the CSV of who may enroll), or [oidc] groups_claim (the groups from the identity provider)",
                settings.file.display()
            )));
        }
        let throttle = Throttler::new(Budgets {
            per_address: settings.serve.signin_failures_per_address,
            per_user: settings.serve.signin_failures_per_user,
        });
        Ok(Service {
            repeat: RepeatWindow::new(Duration::from_secs(
                settings.serve.download_repeat_window.into(),
            )),
            throttle,
            limit: IssueLimit::new(settings.serve.issues_per_user, settings.serve.issue_window),
            readiness: Readiness::new(),
            signers: Arc::new(tokio::sync::Semaphore::new(
                std::thread::available_parallelism().map_or(2, |n| n.get()),
            )),
            untrusted: super::offload::Offload::per_core(),
            device_ca: settings
                .ade
                .as_ref()
                .map(|a| Arc::new(crate::verify::machine_info::DeviceCa::new(&a.device_ca))),
            recorder: Recorder::start(store.clone()),
            directory: users
                .map(|u| Directory::open(&u).map(Arc::new))
                .transpose()?,
            idp,
            settings,
            portal,
            keys,
            signer,
            store,
            cache: Mutex::new(HashMap::new()),
        })
    }

    pub fn org(&self) -> &str {
        &self.settings.organization.name
    }

    /// The user with this e-mail: whom a session, code, access token or
    /// trusted header names.
    pub async fn user_by_email(&self, email: &str) -> Option<Arc<User>> {
        self.directory.as_ref()?.by_email(email).await
    }

    /// The user a device's `user-identifier` names: by Managed Apple ID,
    /// else by e-mail.
    pub async fn user_by_identifier(&self, identifier: &str) -> Option<Arc<User>> {
        self.directory.as_ref()?.by_identifier(identifier).await
    }

    /// The plan for `user`; `default_choice` stands in for a user-choice
    /// user who has not answered under their current policy (account-driven
    /// enrollment: BYOD).
    pub async fn plan(&self, user: &User, default_choice: Option<Choice>) -> Result<Plan> {
        let matched = resolve(&self.settings.policies, user, None);
        let recorded = match matched.policy() {
            Some(p) if p.kind == PolicyType::UserChoice => {
                self.store.choice(&user.email, &p.name).await?
            }
            _ => None,
        };
        let choice = recorded.or(default_choice);
        let resolution = resolve(&self.settings.policies, user, choice);
        Ok(match resolution.decision {
            Decision::Enroll { policy, management } => Plan::Enroll {
                policy: policy.clone(),
                management,
                choice: (policy.kind == PolicyType::UserChoice)
                    .then_some(choice)
                    .flatten(),
            },
            Decision::NeedsChoice { policy } => Plan::NeedsChoice {
                policy: policy.clone(),
            },
            Decision::NeedsManagedAppleId { .. } => Plan::Cannot(format!(
                "Your account has no Managed Apple Account, which {} needs for enrollment. Contact your IT department.",
                self.org()
            )),
            Decision::NoPolicy => Plan::Cannot(format!(
                "No enrollment policy of {} applies to your account. Contact your IT department.",
                self.org()
            )),
        })
    }

    /// The enrollment for `user` over `channel`, with the answer `choice`.
    pub fn enrollment(
        &self,
        user: &User,
        choice: Option<Choice>,
        channel: Channel,
    ) -> Result<Enrollment> {
        resolve(&self.settings.policies, user, choice)
            .enrollment(user, channel)
            .map_err(Error::invalid)
    }

    /// Records the user's answer when it changes it (the same answer again
    /// records nothing), within the user's issue limit.
    pub async fn record_choice(
        self: &Arc<Self>,
        user: &Arc<User>,
        choice: Choice,
        client: Option<String>,
    ) -> Result<Result<(), Limited>> {
        let resolution = resolve(&self.settings.policies, user, Some(choice));
        let Decision::Enroll { policy, management } = resolution.decision else {
            return Err(Error::invalid(resolution.decision.explain(user)));
        };
        if policy.kind != PolicyType::UserChoice {
            return Err(Error::invalid(format!(
                "user {}: policy {:?} offers no choice",
                user.email, policy.name
            )));
        }
        if self.store.choice(&user.email, &policy.name).await? == Some(choice) {
            return Ok(Ok(()));
        }
        if let Err(limited) = self
            .within_limit(&user.email, Source::Portal, client.clone())
            .await?
        {
            return Ok(Err(limited));
        }
        let record = Record::choice(
            Source::Portal,
            &user.email,
            &policy.name,
            choice,
            management.kind(Channel::Profile),
        )
        .with_client(client)
        .with_groups(&user.groups, user.groups_claim.as_deref());
        // Committed (and so the user's current answer) before the answer.
        self.recorder.record(record).await.map(Ok)
    }

    /// Charges one issue (or changed answer) to `user`'s limit; past it,
    /// the first refusal of the window is recorded and logged.
    async fn within_limit(
        &self,
        user: &str,
        source: Source,
        client: Option<String>,
    ) -> Result<Result<(), Limited>> {
        let user = user.to_ascii_lowercase();
        match self
            .limit
            .charge(self.store.as_ref(), &user, now_ms())
            .await?
        {
            Charged::Yes => Ok(Ok(())),
            Charged::No { limited, note } => {
                if note {
                    let (count, window) = self.limit.describe();
                    let reason = format!(
                        "more than {count} profiles issued or answers changed within {} s ([serve] issues_per_user)",
                        window.as_secs()
                    );
                    tracing::warn!(user = %user, client = ?client, "{reason}: refused until the limit refills");
                    self.recorder
                        .record(Record::limited(source, &user, reason).with_client(client))
                        .await?;
                }
                Ok(Err(limited))
            }
        }
    }

    /// The profile for `enrollment`, signed (off the async threads), and
    /// its issue recorded: the one place the server issues a profile.
    /// With static secrets the signed bytes are cached per kind and Managed
    /// Apple ID; with per-profile secrets every issue is built afresh and
    /// its secret is committed to the store before the bytes are returned.
    /// `identity` says which identity settings the profile carries (see
    /// [`Service::fit`]).
    pub async fn issue(
        self: &Arc<Self>,
        user: &User,
        policy: &str,
        enrollment: Enrollment,
        identity: IdentityUse,
        source: Source,
        client: Option<String>,
    ) -> Result<Arc<Issued>> {
        let chosen = self.settings.identity_for(identity);
        let issued = if chosen.is_per_profile() || chosen.varies_per_issue() {
            self.issue_fresh(user, &enrollment, identity).await?
        } else {
            self.issue_cached(&enrollment, identity).await?
        };
        let order = Order {
            enrollment: &enrollment,
            identity,
            user: Some(&user.email),
            policy: Some(policy),
            source,
            client,
            device: None,
        };
        let record = self
            .issuer()
            .record(&order, &issued.sha256)
            .with_groups(&user.groups, user.groups_claim.as_deref());
        self.recorder.record(record).await?;
        Ok(issued)
    }

    /// A profile for a device that came through Automated Device
    /// Enrollment (`device`, from its verified `MachineInfo`), for `user`
    /// when someone signed in on the web sign-in: corporate, whatever any
    /// policy says. Built for it alone when its identity names it or has a
    /// per-profile secret (recorded with the device's serial number and
    /// UDID before the bytes are returned); its row names the device.
    pub async fn issue_device(
        self: &Arc<Self>,
        device: &DeviceIds,
        user: Option<&str>,
        enrollment: Enrollment,
        identity: IdentityUse,
        client: Option<String>,
    ) -> Result<Arc<Issued>> {
        let chosen = self.settings.identity_for(identity);
        let issued = if chosen.is_per_profile() || chosen.varies_per_issue() {
            let (issued, secret) = self
                .sign_issue(
                    user.map(str::to_owned),
                    Some(device.clone()),
                    &enrollment,
                    identity,
                )
                .await?;
            if let Some(secret) = secret {
                self.store.add_secrets(vec![secret], audit::now()).await?;
            }
            issued
        } else {
            self.issue_cached(&enrollment, identity).await?
        };
        let order = Order {
            enrollment: &enrollment,
            identity,
            user,
            policy: None,
            source: Source::Ade,
            client,
            device: Some(device),
        };
        let record = self.issuer().record(&order, &issued.sha256);
        self.recorder.record(record).await?;
        Ok(issued)
    }

    /// Records an audit row (committed when this returns).
    pub async fn audit(&self, record: Record) -> Result<()> {
        self.recorder.record(record).await
    }

    /// The one issue path ([`crate::issue`]) with this server's settings
    /// and key.
    fn issuer(&self) -> Issuer<'_> {
        Issuer {
            settings: &self.settings,
            keys: Some(&self.keys),
        }
    }

    /// Steps 2–4 of the issue path on the signing pool: the bytes and the
    /// record of a fresh secret (the audit row is made by the caller, once
    /// per issue, also for cached bytes).
    async fn sign_issue(
        self: &Arc<Self>,
        user: Option<String>,
        device: Option<DeviceIds>,
        enrollment: &Enrollment,
        identity: IdentityUse,
    ) -> Result<(Arc<Issued>, Option<crate::secret::IssuedSecret>)> {
        let enrollment = enrollment.clone();
        self.signing(move |this| {
            let order = Order {
                enrollment: &enrollment,
                identity,
                user: user.as_deref(),
                policy: None,
                source: Source::Portal,
                client: None,
                device: device.as_ref(),
            };
            let seal = match this.signer.as_deref() {
                Some(s) => Seal::Signer(s),
                None => Seal::None,
            };
            let made = this.issuer().issue(&order, seal, None)?;
            let issued = Arc::new(Issued {
                sha256: made.sha256_hex(),
                kind: made.kind,
                bytes: Bytes::from(made.bytes),
            });
            Ok((issued, made.secret))
        })
        .await
    }

    /// Runs `f` (which builds and signs) on the blocking pool, at most one
    /// per core at a time: a burst of requests signing at once on as many
    /// threads would only take turns on the cores, switching between them.
    async fn signing<T: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&Service) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let turn = self
            .signers
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| Error::invalid(format!("signing: {e}")))?;
        let this = self.clone();
        // The turn ends with the work, even when the request gave up first.
        tokio::task::spawn_blocking(move || {
            let _turn = turn;
            f(&this)
        })
        .await
        .map_err(|e| Error::invalid(format!("signing task: {e}")))?
    }

    /// A profile with a fresh per-profile secret, recorded in the store
    /// before the bytes are returned.
    async fn issue_fresh(
        self: &Arc<Self>,
        user: &User,
        enrollment: &Enrollment,
        identity: IdentityUse,
    ) -> Result<Arc<Issued>> {
        let (issued, secret) = self
            .sign_issue(Some(user.email.clone()), None, enrollment, identity)
            .await?;
        if let Some(secret) = secret {
            self.store.add_secrets(vec![secret], audit::now()).await?;
        }
        Ok(issued)
    }

    /// A profile with a static secret (or none): the same bytes for every
    /// issue of one kind, Managed Apple ID and identity, signed once.
    async fn issue_cached(
        self: &Arc<Self>,
        enrollment: &Enrollment,
        identity: IdentityUse,
    ) -> Result<Arc<Issued>> {
        let key = (
            enrollment.kind(),
            enrollment
                .managed_apple_id()
                .map(|m| m.as_str().to_ascii_lowercase())
                .unwrap_or_default(),
            identity,
        );
        if let Some(issued) = self.cache.lock().ok().and_then(|c| c.get(&key).cloned()) {
            return Ok(issued);
        }
        let (issued, _) = self.sign_issue(None, None, enrollment, identity).await?;
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() >= CACHE_ENTRIES {
                cache.clear();
            }
            cache.insert(key, issued.clone());
        }
        Ok(issued)
    }

    /// What a device that described itself (account-driven enrollment) can
    /// be given under `kind`: the identity settings it can use, or the OS
    /// version it needs first. What the device cannot be judged on (no
    /// platform, no version) passes: the device itself refuses a profile it
    /// cannot install.
    pub fn fit(&self, device: &Device, kind: EnrollmentKind) -> Result<IdentityUse, Needs> {
        let Some(platform) = device.platform else {
            return Ok(IdentityUse::Primary);
        };
        let below = |minimum: OsVersion| device.at_least(minimum) == Some(false);
        if let Some(minimum) = kind.account_driven_minimum(platform)
            && below(minimum)
        {
            return Err(Needs {
                platform,
                minimum,
                what: kind.describe().into(),
                restriction: None,
            });
        }
        if let Identity::Acme(acme) = &self.settings.identity {
            let minimum =
                crate::payload::acme::minimum(platform, acme.hardware_bound || acme.attest);
            if below(minimum) {
                return match self.settings.fallback {
                    Some(_) => Ok(IdentityUse::Fallback),
                    None => Err(Needs {
                        platform,
                        minimum,
                        what: "its device identity (an ACME certificate)".into(),
                        restriction: None,
                    }),
                };
            }
        }
        Ok(IdentityUse::Primary)
    }

    /// [`Service::issue`] for a download by `viewer` (a key naming the
    /// session, access token or proxy-named user), within the user's issue
    /// limit: the same profile asked for again by the same viewer within
    /// `[serve] download_repeat_window` is answered with the same bytes,
    /// not charged and not recorded again.
    // The arguments of `issue`, plus who asks.
    #[allow(clippy::too_many_arguments)]
    pub async fn issue_to(
        self: &Arc<Self>,
        viewer: Vec<u8>,
        user: &User,
        policy: &str,
        enrollment: Enrollment,
        identity: IdentityUse,
        source: Source,
        client: Option<String>,
    ) -> Result<Result<Arc<Issued>, Limited>> {
        let what = What {
            policy: policy.to_owned(),
            enrollment,
            identity,
        };
        if let Some(issued) = self.repeat.get(&viewer, &what) {
            return Ok(Ok(issued));
        }
        if let Err(limited) = self
            .within_limit(&user.email, source, client.clone())
            .await?
        {
            return Ok(Err(limited));
        }
        let issued = self
            .issue(
                user,
                policy,
                what.enrollment.clone(),
                identity,
                source,
                client,
            )
            .await?;
        self.repeat.remember(viewer, what, issued.clone());
        Ok(Ok(issued))
    }

    /// Whether `viewer` was given this very profile within the repeat
    /// window (then [`Service::issue_to`] answers with the same bytes).
    pub fn is_repeat(
        &self,
        viewer: &[u8],
        policy: &str,
        enrollment: &Enrollment,
        identity: IdentityUse,
    ) -> bool {
        let what = What {
            policy: policy.to_owned(),
            enrollment: enrollment.clone(),
            identity,
        };
        self.repeat.get(viewer, &what).is_some()
    }

    /// The server is stopping: not ready for new traffic.
    pub fn stopping(&self) {
        self.readiness.stopping();
    }

    /// What `/readyz` reports (see [`Readiness`]); with an identity
    /// provider, also whether it can be reached.
    pub async fn readiness(&self) -> Vec<(&'static str, super::readiness::Check)> {
        let directory = match (&self.directory, &self.idp) {
            (None, _) => Ok("none (groups come from the identity provider)"),
            (Some(d), idp) => match d.users().await {
                0 if idp.is_none() => Err("no user can sign in (see the server's log)".into()),
                0 => Ok("empty"),
                _ => Ok("loaded"),
            },
        };
        let signer = match (&self.settings.signing, &self.signer) {
            (Some(_), Some(_)) => Ok("loaded"),
            (None, _) => Ok("unsigned (no [signing])"),
            (Some(_), None) => Err("not loaded".into()),
        };
        let mut checks = self
            .readiness
            .report(self.store.as_ref(), directory, signer)
            .await;
        if let Some(idp) = &self.idp {
            // The reason is in the log (the provider logs each failure).
            let reachable = idp
                .ready()
                .map(|_| "reachable")
                .map_err(|_| "cannot be reached (see the server's log)".to_owned());
            checks.push(("identity provider", reachable));
        }
        checks
    }

    /// Redeems a typed code: the user it was issued to, once. `None` for
    /// any failure (unknown, used, expired, malformed, or issued to someone
    /// other than `expected_user`, whose code then stays usable), alike.
    pub async fn redeem_code(
        self: &Arc<Self>,
        typed: &str,
        expected_user: Option<String>,
    ) -> Result<Option<String>> {
        let Some(code) = normalize_code(typed) else {
            return Ok(None);
        };
        let now = audit::now();
        let lookup = self.keys.code_lookup(&code);
        let Ok(invite) = self.store.find_code(lookup.to_vec(), now).await? else {
            return Ok(None);
        };
        if !self
            .keys
            .check_code(&code, &invite.user, &invite.id, invite.expires)
        {
            return Ok(None);
        }
        if expected_user.is_some_and(|u| !u.eq_ignore_ascii_case(&invite.user)) {
            return Ok(None);
        }
        Ok(self
            .store
            .use_code(lookup.to_vec(), now)
            .await?
            .then_some(invite.user))
    }

    /// Waits until every audit record so far is committed (at shutdown).
    pub async fn flush(&self) -> Result<()> {
        self.recorder.flush().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn service(settings: Settings) -> Arc<Service> {
        let location = settings.require_store().unwrap();
        let store = crate::store::open(&location).await.unwrap();
        let keys = Keys::from_bytes(&[1; 32]).unwrap();
        Arc::new(Service::new(settings, keys, None, store).unwrap())
    }

    async fn recorded(svc: &Service, user: &User) -> Option<Choice> {
        match svc.plan(user, None).await.unwrap() {
            Plan::Enroll { choice, .. } => choice,
            Plan::NeedsChoice { .. } => None,
            Plan::Cannot(why) => panic!("{why}"),
        }
    }

    #[tokio::test]
    async fn an_answer_outlives_a_restart_but_not_its_policy() {
        let demo = super::super::demo::prepare("http://localhost:1").unwrap();
        let svc = service(demo.settings.clone()).await;
        let alice = svc.user_by_email("alice@contoso.com").await.unwrap();
        assert_eq!(recorded(&svc, &alice).await, None);
        svc.record_choice(&alice, Choice::Device, None)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(recorded(&svc, &alice).await, Some(Choice::Device));
        drop(svc);
        // Started again: the answer is read back from the store.
        let svc = service(demo.settings.clone()).await;
        assert_eq!(recorded(&svc, &alice).await, Some(Choice::Device));
        // A new user-choice policy in place of the old one: asked again.
        let mut settings = demo.settings.clone();
        for p in &mut settings.policies {
            if p.name == "BYOD staff" {
                p.name = "BYOD 2025".into();
            }
        }
        let svc = service(settings).await;
        assert!(matches!(
            svc.plan(&alice, None).await.unwrap(),
            Plan::NeedsChoice { policy } if policy.name == "BYOD 2025"
        ));
    }
}
