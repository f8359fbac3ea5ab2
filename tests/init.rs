//! `aspen init`: a commented settings file that works as written.

mod common;
use common::*;

#[test]
fn init_writes_settings_that_generate_a_profile() {
    if !have_tool("python3", "python3") {
        return;
    }
    let ws = Workspace::new("");
    let dir = ws.path("org");
    ok(aspen(&["init", dir.to_str().unwrap()]));
    let settings = dir.join("aspen.toml");
    let text = std::fs::read_to_string(&settings).unwrap();
    assert!(text.contains("[organization]") && text.contains("# [signing]"));

    let out = aspen(&["profile", "device", "-c", settings.to_str().unwrap()]);
    assert!(stderr(&out).contains("unsigned"));
    let p = plistlib_json(&ok(out));
    assert_eq!(p["PayloadIdentifier"], "com.example.mdm.enrollment");
    assert_eq!(p["PayloadOrganization"], "Example Org");

    // A second init never overwrites the admin's edits.
    let err = fails(aspen(&["init", dir.to_str().unwrap()]));
    assert!(err.contains("already exists"), "{err}");
    assert_eq!(std::fs::read_to_string(&settings).unwrap(), text);
}
