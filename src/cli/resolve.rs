//! `aspen resolve`: which enrollment policy applies to a directory user, and
//! why — or why the user cannot enroll.

use super::Outcome;
use crate::error::{Error, Result};
use crate::model::directory::{User, find_user};
use crate::model::policy::{Choice, Policy};
use crate::model::resolution::{Decision, Resolution, resolve};
use crate::model::{Channel, Enrollment, EnrollmentKind};
use crate::settings::Settings;
use serde::Serialize;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    config: super::Config,
    #[command(flatten)]
    lookup: Lookup,
    /// Print the explanation as JSON, for scripts.
    #[arg(long)]
    json: bool,
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
    csv: &std::path::Path,
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
        users_file: csv.display().to_string(),
        line: user.line,
        managed_apple_id: user.managed_apple_id.as_ref().map(|m| m.as_str()),
        groups: &user.groups,
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
    }
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
    let mut out = format!(
        "user              {} ({} line {})\n",
        e.user, e.users_file, e.line
    );
    out += &format!(
        "managed Apple ID  {}\n",
        e.managed_apple_id.unwrap_or("(none)")
    );
    let groups = if e.groups.is_empty() {
        "(none)".to_owned()
    } else {
        e.groups.join(", ")
    };
    out += &format!("groups            {groups}\n");
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
    out
}

pub fn run(args: Args) -> Result<Outcome> {
    let settings = args.config.load()?;
    let (csv, user) = args.lookup.user(&settings)?;
    let resolution = resolve(&settings.policies, &user, args.lookup.choice);
    let explanation = explain(
        &csv,
        &user,
        &resolution,
        args.lookup.choice,
        settings.ade.is_some(),
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
    Ok(if explanation.can_enroll {
        Outcome::Clean
    } else {
        Outcome::Found(Some(explanation.why))
    })
}
