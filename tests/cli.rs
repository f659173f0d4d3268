//! The command line as an operator meets it: help, bad flags and a bad
//! configuration stop with a message naming the problem and exit code 2.

use std::process::Command;

fn hotline(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_hotline"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(args)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn help_lists_the_commands() {
    let (code, text) = hotline(&["help"]);
    assert_eq!(code, 0);
    assert!(
        text.contains("hotline serve") && text.contains("--rtp-ports"),
        "{text}"
    );
}

#[test]
fn bad_flags_are_refused() {
    let (code, text) = hotline(&["serve", "--frobnicate"]);
    assert_eq!(code, 2);
    assert!(text.contains("unknown option `--frobnicate`"), "{text}");
    let (code, text) = hotline(&["serve", "--sip"]);
    assert_eq!(code, 2);
    assert!(text.contains("--sip needs a value"), "{text}");
    let (code, text) = hotline(&["calls", "--last", "zero"]);
    assert_eq!(code, 2);
    assert!(text.contains("--last"), "{text}");
}

#[test]
fn a_bad_configuration_names_the_key() {
    let (code, text) = hotline(&["serve", "--rtp-ports", "30000-20000"]);
    assert_eq!(code, 2);
    assert!(text.contains("`media.rtp_ports`"), "{text}");

    let dir = std::env::temp_dir().join(format!("hotline-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("bad.toml");
    std::fs::write(
        &cfg,
        "[trunk]\nnumbers = [\"4008001234\"]\nallowed = [\"1.2.3.4\"]\n",
    )
    .unwrap();
    let (code, text) = hotline(&["serve", "--config", cfg.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(
        text.contains("allowed") && text.contains("line 3"),
        "{text}"
    );

    let (code, text) = hotline(&["serve", "--config", "/nonexistent/hotline.toml"]);
    assert_eq!(code, 2);
    assert!(text.contains("cannot read config file"), "{text}");
}

#[test]
fn missing_prompts_stop_start_up_with_the_folder_named() {
    let dir = std::env::temp_dir().join(format!("hotline-cli-p-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("prompts/xx")).unwrap();
    let cfg = dir.join("p.toml");
    std::fs::write(
        &cfg,
        format!(
            "[ivr]\nprompts_dir = \"{}\"\nlanguage = \"xx\"\n[server]\nsip = \"127.0.0.1:0\"\nhttp = \"127.0.0.1:0\"\ndata_dir = \"{}\"\n",
            dir.join("prompts").display(),
            dir.join("data").display()
        ),
    )
    .unwrap();
    let (code, text) = hotline(&["serve", "--config", cfg.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(
        text.contains("lacks the prompts") && text.contains("welcome"),
        "{text}"
    );
}
