//! What a packager and a shell expect of a CLI: `aspen completions` for
//! every shell, and `aspen man` pages that are valid roff naming every
//! command (checked by man(1) and groff when present).

use crate::common;
use common::*;
use std::process::Command;

/// The subcommands `aspen --help` lists (without clap's `help`).
fn subcommands(args: &[&str]) -> Vec<String> {
    let mut args = args.to_vec();
    args.push("--help");
    let help = String::from_utf8(ok(aspen(&args))).unwrap();
    let listed: Vec<String> = help
        .split("Commands:\n")
        .nth(1)
        .expect("a Commands: section")
        .lines()
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .filter(|c| c != "help")
        .collect();
    assert!(!listed.is_empty(), "{help}");
    listed
}

#[test]
fn help_lists_the_commands_the_readme_names() {
    let listed = subcommands(&[]);
    for name in [
        "init",
        "profile",
        "sign",
        "serve",
        "invite",
        "issued",
        "revoke",
        "resolve",
        "bulk",
        "verify",
        "inspect",
        "lint",
        "scep-verify",
        "decrypt",
        "completions",
        "man",
    ] {
        assert!(listed.iter().any(|c| c == name), "{name}: {listed:?}");
    }
}

/// Bash really completes: the script is sourced and its function asked for
/// the words after `aspen ` and after `aspen profile `.
#[test]
fn bash_completion_offers_every_subcommand() {
    if !have_tool("bash", "bash") {
        return;
    }
    let ws = Workspace::new("");
    let script = ws.path("aspen.bash");
    std::fs::write(&script, ok(aspen(&["completions", "bash"]))).unwrap();
    let complete = |words: &str| -> Vec<String> {
        let out = Command::new("bash")
            .arg("-c")
            .arg(format!(
                "set -e; source {}; COMP_WORDS=({words} ''); COMP_CWORD=${{#COMP_WORDS[@]}}; \
                 COMP_CWORD=$((COMP_CWORD-1)); COMP_LINE=\"{words} \"; COMP_POINT=${{#COMP_LINE}}; \
                 _aspen aspen '' {last}; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
                script.display(),
                last = words.split(' ').next_back().unwrap()
            ))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "bash: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_owned)
            .collect()
    };
    let top = complete("aspen");
    for sub in subcommands(&[]) {
        assert!(top.contains(&sub), "{sub} not offered: {top:?}");
    }
    let profile = complete("aspen profile");
    for sub in subcommands(&["profile"]) {
        assert!(
            profile.contains(&sub),
            "profile {sub} not offered: {profile:?}"
        );
    }
}

#[test]
fn every_shell_gets_a_script_naming_every_subcommand() {
    let subs = subcommands(&[]);
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let script = String::from_utf8(ok(aspen(&["completions", shell]))).unwrap();
        for sub in &subs {
            assert!(script.contains(sub.as_str()), "{shell}: no {sub}");
        }
        // Flags too, e.g. verify's --allow-expired.
        assert!(script.contains("allow-expired"), "{shell}");
    }
    let err = stderr(&aspen(&["completions", "tcsh"]));
    assert!(err.contains("invalid value 'tcsh'"), "{err}");
}

/// The page's roff structure: a title, the standard sections, and one
/// cross-reference per subcommand.
fn check_page(page: &str, name: &str, subs: &[String]) {
    assert!(
        page.lines()
            .any(|l| l.starts_with(&format!(".TH {name} 1"))),
        "{name}: no .TH line"
    );
    for section in [".SH NAME", ".SH SYNOPSIS", ".SH DESCRIPTION", ".SH OPTIONS"] {
        assert!(page.contains(section), "{name}: no {section}");
    }
    for sub in subs {
        let roff_name = format!("{name}-{sub}").replace('-', "\\-");
        assert!(
            page.contains(&format!("{roff_name}(1)")),
            "{name}: no {roff_name}(1)"
        );
    }
}

#[test]
fn man_page_is_roff_naming_every_subcommand() {
    let page = String::from_utf8(ok(aspen(&["man"]))).unwrap();
    let subs = subcommands(&[]);
    check_page(&page, "aspen", &subs);
    assert!(page.contains(".SH SUBCOMMANDS"));

    let ws = Workspace::new("");
    let file = ws.path("aspen.1");
    std::fs::write(&file, &page).unwrap();
    // groff parses it without a warning; man(1) formats it with every command.
    if have_tool("groff", "groff") {
        let out = Command::new("groff")
            .args(["-man", "-ww", "-z"])
            .arg(&file)
            .output()
            .unwrap();
        assert!(
            out.status.success() && out.stderr.is_empty(),
            "groff: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    if have_tool("man", "man-db") {
        let out = Command::new("man")
            .arg("-l")
            .arg(&file)
            .env("MANPAGER", "cat")
            .env("MANWIDTH", "120")
            .env("MAN_KEEP_FORMATTING", "0")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "man: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // Strip overstrike formatting (x\bx) before comparing text.
        let raw = String::from_utf8_lossy(&out.stdout);
        let mut text = String::new();
        for c in raw.chars() {
            if c == '\u{8}' {
                text.pop();
            } else {
                text.push(c);
            }
        }
        assert!(text.contains("SUBCOMMANDS"), "{text}");
        for sub in &subs {
            assert!(
                text.contains(&format!("aspen-{sub}(1)")),
                "man shows no aspen-{sub}(1)"
            );
        }
    }
}

#[test]
fn man_out_writes_one_page_per_command() {
    let ws = Workspace::new("");
    let dir = ws.path("man");
    let out = aspen(&["man", "--out", dir.to_str().unwrap()]);
    assert!(stderr(&out).contains("manual page(s)"), "{}", stderr(&out));
    ok(out);
    for sub in subcommands(&[]) {
        let page = std::fs::read_to_string(dir.join(format!("aspen-{sub}.1")))
            .unwrap_or_else(|e| panic!("aspen-{sub}.1: {e}"));
        let nested = if sub == "profile" {
            subcommands(&["profile"])
        } else {
            Vec::new()
        };
        check_page(&page, &format!("aspen-{sub}"), &nested);
    }
    let device = std::fs::read_to_string(dir.join("aspen-profile-device.1")).unwrap();
    assert!(device.contains("managed\\-apple\\-id"), "{device}");
    assert_eq!(
        std::fs::read_to_string(dir.join("aspen.1")).unwrap(),
        String::from_utf8(ok(aspen(&["man"]))).unwrap()
    );
}

/// `cargo install --git URL` (without a package name) reads every
/// Cargo.toml in the repository except in dot-folders, `target/` and git
/// submodules, and refuses when more than one package has binaries: only
/// `aspen` may (the fuzz package lives in `.fuzz/` for this reason).
#[test]
fn cargo_install_git_finds_one_package_with_binaries() {
    fn walk(dir: &std::path::Path, top: bool, found: &mut Vec<String>) {
        let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if !top && (name.starts_with('.') || name == "target" || dir.join(".git").exists()) {
            return;
        }
        let manifest = dir.join("Cargo.toml");
        if let Ok(text) = std::fs::read_to_string(&manifest) {
            let doc: toml::Table = toml::from_str(&text).unwrap();
            if let Some(package) = doc.get("package").and_then(|p| p.as_table()) {
                let bins = doc.contains_key("bin")
                    || dir.join("src/main.rs").exists()
                    || dir.join("src/bin").is_dir();
                if bins {
                    found.push(package["name"].as_str().unwrap().to_owned());
                }
            }
        }
        for entry in std::fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            if entry.file_type().unwrap().is_dir() {
                walk(&entry.path(), false, found);
            }
        }
    }
    let mut found = Vec::new();
    walk(&root(), true, &mut found);
    assert_eq!(found, ["aspen"]);
    // The fuzz package is still there for cargo-fuzz.
    assert!(root().join(".fuzz/Cargo.toml").is_file());
}
