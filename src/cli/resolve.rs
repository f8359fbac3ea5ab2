//! `aspen resolve`: which enrollment policy and enrollment restriction
//! apply to a directory user, and why — or why the user (or the device
//! `--platform`, `--os` and `--owner` describe) cannot enroll.

use super::Outcome;
use crate::error::{Error, Result};
use crate::model::assignment;
use crate::model::device::{Device, Os, OsVersion, Platform};
use crate::model::directory::{User, find_user};
use crate::model::policy::{Choice, Policy};
use crate::model::resolution::{Decision, Resolution, resolve};
use crate::model::restriction::{Personal, Restriction, matching};
use crate::model::{Channel, Enrollment, EnrollmentKind, Ownership};
use crate::settings::Settings;
use serde::Serialize;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    config: super::Config,
    #[command(flatten)]
    lookup: Lookup,
    /// The user's groups as the identity provider would send them
    /// ([oidc] groups_claim), comma-separated (names or object IDs): what a
    /// user in these groups gets, without an IdP. The directory, when the
    /// user is in it, still gives the Managed Apple Account. `--groups ""`
    /// for none.
    #[arg(long, value_name = "GROUPS", value_delimiter = ',')]
    groups: Option<Vec<String>>,
    /// The device's platform (iOS, iPadOS, macOS, tvOS, visionOS): which
    /// rule of the user's enrollment restriction would refuse it.
    #[arg(long, value_name = "PLATFORM")]
    platform: Option<String>,
    /// The device's OS version, e.g. 17.4 (with --platform).
    #[arg(long, value_name = "VERSION", requires = "platform")]
    os: Option<String>,
    /// Who owns the device: personal or corporate (default: what the
    /// policy gives).
    #[arg(long, value_enum)]
    owner: Option<Owner>,
    /// Print the explanation as JSON, for scripts.
    #[arg(long)]
    json: bool,
}

/// `--owner`.
#[derive(Clone, Copy, clap::ValueEnum)]
enum Owner {
    Personal,
    Corporate,
}

/// Which user, from which directory, with which answer.
#[derive(clap::Args)]
pub struct Lookup {
    /// The user's e-mail address, as in the directory (case-insensitive).
    #[arg(long, value_name = "EMAIL")]
    user: String,
    /// The user directory (CSV: email,managed_apple_id,groups); overrides
    /// `[directory] users` in the settings.
    #[arg(long, value_name = "CSV")]
    users: Option<PathBuf>,
    /// The user's answer under a user-choice policy: corporate ("my
    /// organisation owns this device"), device ("I own it, secure the entire
    /// device") or work ("I own it, secure work apps and data only").
    #[arg(long, value_enum)]
    choice: Option<Choice>,
}

/// The directory to read: `--users`, else `[directory] users`.
pub fn users_csv(settings: &Settings, users: Option<PathBuf>) -> Result<PathBuf> {
    users
        .or_else(|| settings.directory_users.clone())
        .ok_or_else(|| {
            Error::invalid(format!(
                "no user directory: give --users CSV or set [directory] users in {}",
                settings.file.display()
            ))
        })
}

impl Lookup {
    fn user(&self, settings: &Settings) -> Result<(PathBuf, User)> {
        let csv = users_csv(settings, self.users.clone())?;
        let user = find_user(&csv, &self.user)?;
        Ok((csv, user))
    }

    /// The user with `groups` as the identity provider's: the directory's
    /// entry when there is one (for the Managed Apple Account), else a user
    /// only the IdP knows.
    fn with_groups(
        &self,
        settings: &Settings,
        groups: Vec<String>,
    ) -> Result<(Option<PathBuf>, User)> {
        let groups: Vec<String> = groups
            .into_iter()
            .map(|g| g.trim().to_owned())
            .filter(|g| !g.is_empty())
            .collect();
        let claim = settings
            .oidc
            .as_ref()
            .and_then(|o| o.groups_claim.clone())
            .unwrap_or_else(|| "groups".into());
        let csv = users_csv(settings, self.users.clone()).ok();
        let listed = match &csv {
            Some(path) => crate::model::directory::Index::load(path)?
                .0
                .by_email(&self.user)
                .map(|u| User::clone(u)),
            None => None,
        };
        crate::model::check_email(&self.user)
            .map_err(|why| Error::invalid(format!("--user {:?} {why}", self.user)))?;
        let user = User {
            email: listed
                .as_ref()
                .map_or_else(|| self.user.to_ascii_lowercase(), |u| u.email.clone()),
            managed_apple_id: listed.as_ref().and_then(|u| u.managed_apple_id.clone()),
            groups,
            line: listed.as_ref().map_or(0, |u| u.line),
            groups_claim: Some(claim),
        };
        Ok((csv.filter(|_| listed.is_some()), user))
    }

    /// The user's e-mail address as given.
    pub fn email(&self) -> &str {
        &self.user
    }

    /// The enrollment for a profile downloaded by the user and the name of
    /// the policy that gave it, or why there is none.
    pub fn enrollment(&self, settings: &Settings) -> Result<(Enrollment, String)> {
        let (_, user) = self.user(settings)?;
        let resolution = resolve(&settings.policies, &user, self.choice);
        let enrollment = resolution
            .enrollment(&user, Channel::Profile)
            .map_err(|why| match resolution.decision {
                Decision::NeedsChoice { .. } => {
                    Error::invalid(format!("{why}: give --choice corporate, device or work"))
                }
                _ => Error::invalid(why),
            })?;
        let policy = resolution
            .policy()
            .map(|p| p.name.clone())
            .unwrap_or_default();
        Ok((enrollment, policy))
    }
}

/// Everything `resolve` says, in the shape `--json` prints.
#[derive(Serialize)]
struct Explanation<'a> {
    user: &'a str,
    users_file: String,
    line: u64,
    managed_apple_id: Option<&'a str>,
    groups: &'a [String],
    /// The identity provider's claim the groups stand for (`--groups`);
    /// `null`: the directory's groups.
    groups_claim: Option<&'a str>,
    choice: Option<Choice>,
    /// Every policy assigned to one of the user's groups, highest priority
    /// first.
    matched: Vec<Match<'a>>,
    /// The winning policy's name.
    policy: Option<&'a str>,
    /// `enroll`, `needs-choice`, `needs-managed-apple-id` or `no-policy`.
    outcome: &'static str,
    can_enroll: bool,
    /// Why the winner won, or why the user cannot enroll yet.
    why: String,
    kind: Option<&'static str>,
    kind_description: Option<&'static str>,
    ownership: Option<&'static str>,
    /// Under a user-choice policy without `--choice`: what each answer gives.
    choices: Vec<ChoiceResult>,
    /// With `[ade]`: what a device of theirs that comes through Automated
    /// Device Enrollment gets, whatever the policy says.
    #[serde(skip_serializing_if = "Option::is_none")]
    automated_device_enrollment: Option<&'static str>,
    /// Every enrollment restriction assigned to the user, highest priority
    /// first (the first applies).
    restrictions: Vec<RestrictionMatch<'a>>,
    /// The restriction that applies.
    restriction: Option<&'a str>,
    /// The device `--platform`, `--os` and `--owner` describe.
    device: Option<String>,
    /// The rule that would refuse that device (or, without one, the
    /// user's policy), if any.
    refused: Option<String>,
}

#[derive(Serialize)]
struct RestrictionMatch<'a> {
    name: &'a str,
    priority: u32,
    /// The user's groups it is assigned to; empty: it is for everyone.
    via: Vec<&'a str>,
    applies: bool,
    platforms: String,
    personal: &'static str,
    minimum_os: Vec<String>,
    maximum_os: Vec<String>,
    device_limit: Option<u32>,
}

/// A device that comes through Automated Device Enrollment belongs to the
/// organisation: no policy or choice decides its kind.
const ADE: &str = "device-corporate: a device that comes through Automated Device Enrollment belongs to the organisation, whatever the policy (no choice is asked)";

#[derive(Serialize)]
struct Match<'a> {
    name: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    priority: u32,
    /// The user's groups the policy is assigned to.
    via: Vec<&'a str>,
    wins: bool,
}

#[derive(Serialize)]
struct ChoiceResult {
    choice: Choice,
    kind: &'static str,
    kind_description: &'static str,
    ownership: &'static str,
}

fn kind_of(resolution: &Resolution, user: &User) -> Option<EnrollmentKind> {
    resolution
        .enrollment(user, Channel::Profile)
        .ok()
        .map(|e| e.kind())
}

fn explain<'a>(
    csv: Option<&std::path::Path>,
    user: &'a User,
    resolution: &Resolution<'a>,
    choice: Option<Choice>,
    ade: bool,
) -> Explanation<'a> {
    let winner = resolution.policy();
    let matched = resolution
        .matched
        .iter()
        .map(|p| Match {
            name: &p.name,
            kind: p.kind.as_str(),
            priority: p.priority,
            via: via(p, user),
            wins: winner.is_some_and(|w| std::ptr::eq(w, *p)),
        })
        .collect();
    let why = match (&resolution.decision, winner) {
        (Decision::Enroll { .. }, Some(policy)) => {
            let mut why = match resolution.matched.len() {
                1 => format!(
                    "{:?} is the only policy assigned to the user's groups",
                    policy.name
                ),
                n => format!(
                    "{:?} wins: its priority {} is the highest of the {n} policies assigned to the user's groups (1 is the highest)",
                    policy.name, policy.priority
                ),
            };
            match choice {
                Some(c) if policy.management(None).is_none() => {
                    why.push_str(&format!("; the user chose {:?}", c.as_str()))
                }
                Some(_) => why.push_str(&format!(
                    "; --choice does not apply: the policy is of type {}",
                    policy.kind
                )),
                None => {}
            }
            why
        }
        (decision, _) => decision.explain(user),
    };
    let kind = kind_of(resolution, user);
    let choices = match resolution.decision {
        Decision::NeedsChoice { .. } => [Choice::Corporate, Choice::Device, Choice::Work]
            .into_iter()
            .map(|c| {
                let kind = c.management().kind(Channel::Profile);
                ChoiceResult {
                    choice: c,
                    kind: kind.slug(),
                    kind_description: kind.describe(),
                    ownership: kind.ownership().as_str(),
                }
            })
            .collect(),
        _ => Vec::new(),
    };
    Explanation {
        user: &user.email,
        users_file: csv.map(|c| c.display().to_string()).unwrap_or_default(),
        line: user.line,
        managed_apple_id: user.managed_apple_id.as_ref().map(|m| m.as_str()),
        groups: &user.groups,
        groups_claim: user.groups_claim.as_deref(),
        choice,
        matched,
        policy: winner.map(|p| p.name.as_str()),
        outcome: match resolution.decision {
            Decision::Enroll { .. } => "enroll",
            Decision::NeedsChoice { .. } => "needs-choice",
            Decision::NeedsManagedAppleId { .. } => "needs-managed-apple-id",
            Decision::NoPolicy => "no-policy",
        },
        can_enroll: matches!(
            resolution.decision,
            Decision::Enroll { .. } | Decision::NeedsChoice { .. }
        ),
        why,
        kind: kind.map(EnrollmentKind::slug),
        kind_description: kind.map(EnrollmentKind::describe),
        ownership: kind.map(|k| k.ownership().as_str()),
        choices,
        automated_device_enrollment: ade.then_some(ADE),
        restrictions: Vec::new(),
        restriction: None,
        device: None,
        refused: None,
    }
}

/// The restrictions assigned to `user`, and what `device` (from
/// `--platform`, `--os`) and `personal` (from `--owner`, or the policy)
/// meet.
fn restrict<'a>(
    e: &mut Explanation<'a>,
    restrictions: &'a [Restriction],
    user: &'a User,
    device: Option<&Device>,
    personal: Option<bool>,
) {
    let matched = matching(restrictions, Some(&user.groups));
    let versions = |table: &[(Platform, OsVersion)]| {
        table
            .iter()
            .map(|(p, v)| format!("{} {v}", p.os_name()))
            .collect()
    };
    e.restrictions = matched
        .iter()
        .enumerate()
        .map(|(i, r)| RestrictionMatch {
            name: &r.name,
            priority: r.priority,
            via: r
                .groups
                .as_deref()
                .map_or_else(Vec::new, |g| assignment::via(g, &user.groups)),
            applies: i == 0,
            platforms: r.platform_names(),
            personal: match r.personal {
                Personal::Allow => "allow",
                Personal::Block => "block",
            },
            minimum_os: versions(&r.minimum_os),
            maximum_os: versions(&r.maximum_os),
            device_limit: r.device_limit,
        })
        .collect();
    let Some(r) = matched.first() else {
        return;
    };
    e.restriction = Some(&r.name);
    let personal_broken = personal.and_then(|p| r.check_personal(p).err());
    let device_broken = device.and_then(|d| r.check_device(d, true).err());
    e.refused = device_broken.or(personal_broken).map(|b| b.describe(r));
}

/// The user's groups `policy` is assigned to.
fn via<'a>(policy: &Policy, user: &'a User) -> Vec<&'a str> {
    user.groups
        .iter()
        .filter(|g| policy.applies_to(&[g.as_str()]))
        .map(String::as_str)
        .collect()
}

fn text(e: &Explanation) -> String {
    let mut out = if e.users_file.is_empty() {
        format!("user              {} (not in the directory)\n", e.user)
    } else {
        format!(
            "user              {} ({} line {})\n",
            e.user, e.users_file, e.line
        )
    };
    out += &format!(
        "managed Apple ID  {}\n",
        e.managed_apple_id.unwrap_or("(none)")
    );
    let groups = if e.groups.is_empty() {
        "(none)".to_owned()
    } else {
        e.groups.join(", ")
    };
    match e.groups_claim {
        Some(claim) => {
            out += &format!(
                "groups            {groups} (as the identity provider's {claim:?} claim)\n"
            )
        }
        None => out += &format!("groups            {groups}\n"),
    }
    if e.matched.is_empty() {
        out += "policies          (none assigned to these groups)\n";
    }
    for (i, m) in e.matched.iter().enumerate() {
        out += &format!(
            "{:<18}priority {}  {:?} ({}) via {}{}\n",
            if i == 0 { "policies" } else { "" },
            m.priority,
            m.name,
            m.kind,
            m.via.join(", "),
            if m.wins { "  <- wins" } else { "" }
        );
    }
    if let Some(c) = e.choice {
        out += &format!("choice            {c}\n");
    }
    out += &format!("decision          {}\n", e.why);
    if let (Some(kind), Some(desc), Some(owner)) = (e.kind, e.kind_description, e.ownership) {
        out += &format!("kind              {kind}: {desc}\n");
        out += &format!("ownership         {owner}\n");
    }
    for c in &e.choices {
        out += &format!(
            "  --choice {:<10}{}: {} ({})\n",
            c.choice.as_str(),
            c.kind,
            c.kind_description,
            c.ownership
        );
    }
    if let Some(ade) = e.automated_device_enrollment {
        out += &format!("ADE devices       {ade}\n");
    }
    for (i, r) in e.restrictions.iter().enumerate() {
        let via = if r.via.is_empty() {
            "everyone".to_owned()
        } else {
            format!("via {}", r.via.join(", "))
        };
        let mut rules = vec![
            format!("platforms {}", r.platforms),
            format!("personal {}", r.personal),
        ];
        if !r.minimum_os.is_empty() {
            rules.push(format!("minimum_os {}", r.minimum_os.join(", ")));
        }
        if !r.maximum_os.is_empty() {
            rules.push(format!("maximum_os {}", r.maximum_os.join(", ")));
        }
        if let Some(n) = r.device_limit {
            rules.push(format!("device_limit {n}"));
        }
        out += &format!(
            "{:<18}priority {}  {:?} {via}{}\n{:<18}  {}\n",
            if i == 0 { "restrictions" } else { "" },
            r.priority,
            r.name,
            if r.applies { "  <- applies" } else { "" },
            "",
            rules.join("; ")
        );
    }
    if e.restrictions.is_empty() {
        out += "restrictions      (none assigned to these groups)\n";
    }
    if let Some(d) = &e.device {
        out += &format!("device            {d}\n");
    }
    match &e.refused {
        Some(why) => out += &format!("refused           {why}\n"),
        None if e.restriction.is_some() => {
            out += "refused           no: the restriction allows it\n"
        }
        None => {}
    }
    out
}

pub fn run(args: Args) -> Result<Outcome> {
    let settings = args.config.load()?;
    let (csv, user) = match args.groups {
        Some(groups) => args.lookup.with_groups(&settings, groups)?,
        None => args.lookup.user(&settings).map(|(c, u)| (Some(c), u))?,
    };
    let resolution = resolve(&settings.policies, &user, args.lookup.choice);
    let mut explanation = explain(
        csv.as_deref(),
        &user,
        &resolution,
        args.lookup.choice,
        settings.ade.is_some(),
    );
    let device = match &args.platform {
        None => None,
        Some(name) => {
            let platform = Platform::from_os_name(name).ok_or_else(|| {
                Error::invalid(format!(
                    "--platform {name:?} is not an OS aspen knows; name one of iOS, iPadOS, macOS, tvOS, visionOS"
                ))
            })?;
            let os = match &args.os {
                None => Os::Unknown,
                Some(v) => Os::Known(
                    OsVersion::parse(v)
                        .filter(|_| v.chars().all(|c| c.is_ascii_digit() || c == '.'))
                        .ok_or_else(|| {
                            Error::invalid(format!("--os {v:?} is not a version such as 17.4"))
                        })?,
                ),
            };
            Some(Device {
                platform: Some(platform),
                os,
            })
        }
    };
    // Personal: as --owner says, else as the policy gives.
    let personal = match args.owner {
        Some(Owner::Personal) => Some(true),
        Some(Owner::Corporate) => Some(false),
        None => kind_of(&resolution, &user).map(|k| k.ownership() == Ownership::Personal),
    };
    explanation.device = device.as_ref().map(|d| {
        let os = match d.os {
            Os::Unknown => String::new(),
            _ => format!(" {}", d.describe_os()),
        };
        let owner = match args.owner {
            Some(Owner::Personal) => ", personal",
            Some(Owner::Corporate) => ", corporate",
            None => "",
        };
        format!("{}{os}{owner}", d.platform.map_or("", Platform::os_name))
    });
    restrict(
        &mut explanation,
        &settings.restrictions,
        &user,
        device.as_ref(),
        personal,
    );
    let printed = if args.json {
        let mut json = serde_json::to_string_pretty(&explanation)
            .map_err(|e| Error::invalid(format!("writing JSON: {e}")))?;
        json.push('\n');
        json
    } else {
        text(&explanation)
    };
    super::printer::out(&printed)?;
    Ok(match (&explanation.refused, explanation.can_enroll) {
        (Some(refused), _) => Outcome::Found(Some(refused.clone())),
        (None, true) => Outcome::Clean,
        (None, false) => Outcome::Found(Some(explanation.why)),
    })
}
