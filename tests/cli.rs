//! The command line as an operator meets it: help, bad flags and a bad
//! configuration stop with a message naming the problem and exit code 2;
//! `check-flows` and start-up name every flow error's file, line and node.

mod common;

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
fn check_flows_accepts_the_demo_flows() {
    let (code, text) = hotline(&["check-flows"]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("ivr-flows: ok, 2 flows"), "{text}");
    assert!(text.contains("(en, zh)"), "{text}");
}

#[test]
fn check_flows_lists_every_error_with_file_line_and_node() {
    let flows = common::flows_copy(|t| {
        t.replace("\"0\" = \"agent\"", "\"0\" = \"agnet\"")
            .replace("prompt = \"enter-ticket\"", "prompt = \"enter-tciket\"")
    });
    let (code, text) = hotline(&["check-flows", flows.to_str().unwrap()]);
    assert_eq!(code, 1, "{text}");
    let file = flows.join("hotline.toml");
    let file = file.display();
    assert!(
        text.contains(&format!(
            "{file}:104: node `main`: option 0 goes to `agnet`, which is not a node of this flow"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "{file}:121: node `enter_ticket`: prompt `enter-tciket` is missing for en, zh"
        )),
        "{text}"
    );
}

/// A queue node must name a configured ACD queue: a caller sent to a
/// queue nobody serves would wait for nothing.
#[test]
fn check_flows_refuses_a_queue_that_is_not_configured() {
    let flows = common::flows_copy(|t| t.replace("queue = \"general\"", "queue = \"sales\""));
    let (code, text) = hotline(&["check-flows", flows.to_str().unwrap()]);
    assert_eq!(code, 1, "{text}");
    let file = flows.join("hotline.toml");
    assert!(
        text.contains(&format!(
            "{}:204: node `agent`: queue `sales` is not configured (configured: repair, installation, complaint, general)",
            file.display()
        )),
        "{text}"
    );
}

/// A callback node must name a configured campaign of kind callbacks: the
/// caller is told they will be called back.
#[test]
fn check_flows_refuses_a_callback_to_a_campaign_that_is_not_configured() {
    let flows = common::flows_copy(|t| {
        t.replace(
            "after_wait = \"leave_message\"",
            "after_wait = \"callback\"",
        ) + "\n[node.callback]\nkind = \"callback\"\ncampaign = \"callbacks\"\nnext = \"goodbye\"\n"
    });
    let (code, text) = hotline(&["check-flows", flows.to_str().unwrap()]);
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains(
            "node `callback`: `callbacks` is not a configured campaign of kind callbacks (configured: none)"
        ),
        "{text}"
    );
}

#[test]
fn serve_refuses_an_invalid_flow_and_a_missing_prompt_file() {
    let flows = common::flows_copy(|t| t.replace("kind = \"say\"", "kind = \"speak\""));
    let (code, text) = hotline(&[
        "serve",
        "--flows",
        flows.to_str().unwrap(),
        "--sip",
        "127.0.0.1:0",
        "--http",
        "127.0.0.1:0",
        "--https",
        "",
    ]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("IVR flows refused"), "{text}");
    assert!(text.contains("unknown node kind `speak`"), "{text}");

    let flows = common::flows_copy(common::always_open);
    std::fs::remove_file(flows.join("prompts/zh/welcome.wav")).unwrap();
    let (code, text) = hotline(&["check-flows", flows.to_str().unwrap()]);
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("node `welcome`: prompt `welcome` is missing for zh"),
        "{text}"
    );
}

#[test]
fn serve_refuses_a_scorecard_whose_weights_do_not_add_up() {
    let dir = common::temp_dir("scorecards");
    let card = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scorecards/standard.toml"),
    )
    .unwrap()
    .replace("weight = 5", "weight = 6");
    std::fs::write(dir.join("standard.toml"), card).unwrap();
    let config = dir.join("hotline.toml");
    std::fs::write(
        &config,
        format!("[qa]\nscorecards_dir = {:?}\n", dir.to_str().unwrap()),
    )
    .unwrap();
    let data = common::temp_dir("data");
    let (code, text) = hotline(&[
        "serve",
        "--config",
        config.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
        "--sip",
        "127.0.0.1:0",
        "--http",
        "127.0.0.1:0",
        "--https",
        "",
    ]);
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("standard.toml: `criteria`: the weights add up to 101, not 100"),
        "{text}"
    );
}

#[test]
fn import_contacts_reports_bad_rows_by_line_and_enrols_the_rest_once() {
    let dir = common::temp_dir("contacts");
    let config = dir.join("hotline.toml");
    std::fs::write(
        &config,
        "[outbound]\nproxy = \"127.0.0.1:5999\"\n[[campaigns]]\nname = \"follow-up\"\nkind = \"survey\"\nflow = \"survey\"\n\
         caller_id = \"4008001234\"\nhours = { mon-fri = \"09:00-20:00\" }\n\
         allow = [\"_1[3-9]XXXXXXXXX\"]\n",
    )
    .unwrap();
    let csv = dir.join("contacts.csv");
    std::fs::write(
        &csv,
        "phone,customer_id,ticket\n\
         +86 139-0000-0001,7,2612010001\n\
         not-a-number,,\n\
         010-12345678,,\n\
         13900000002,,2612010001\n\
         13900000003,x,\n\
         13900000004,,\n",
    )
    .unwrap();
    let data = common::temp_dir("data");
    let args = [
        "import",
        "contacts",
        "follow-up",
        csv.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
        "--data",
        data.to_str().unwrap(),
    ];
    let (code, text) = hotline(&args);
    assert_eq!(code, 1, "{text}");
    for line in [
        "line 3: phone: `not-a-number` is not a phone number",
        "line 4: phone: `010-12345678` is outside the campaign's dial rules",
        "line 5: the same ticket 2612010001 as line 2",
        "line 6: customer_id: `x` is not a customer id",
        "imported 2, skipped 4",
    ] {
        assert!(text.contains(line), "{line}\n{text}");
    }
    // Again: nothing new, each good row already there.
    let (code, text) = hotline(&args);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("line 2: already in the campaign"), "{text}");
    assert!(text.contains("imported 0, skipped 6"), "{text}");
    let (code, text) = hotline(&[
        "import",
        "contacts",
        "nobody",
        csv.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    assert!(
        text.contains("no campaign `nobody` is configured"),
        "{text}"
    );
}

/// `hotline` with the password on standard input.
fn hotline_stdin(args: &[&str], input: &str) -> (i32, String) {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = Command::new(env!("CARGO_BIN_EXE_hotline"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

/// The first admin is made on the command line; mistakes are named and
/// nothing is created by them.
#[test]
fn user_add_makes_the_first_admin() {
    let data = common::temp_dir("user-add");
    let data = data.to_str().unwrap();
    let (code, text) = hotline_stdin(
        &["user", "add", "boss", "--role", "admin", "--data", data],
        "a-long-password\n",
    );
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("created user boss (#1, admin)"), "{text}");
    let (code, text) = hotline_stdin(
        &["user", "add", "boss", "--role", "admin", "--data", data],
        "a-long-password\n",
    );
    assert_eq!(code, 1);
    assert!(
        text.contains("a user named `boss` already exists"),
        "{text}"
    );
    for (args, input, message) in [
        (
            vec!["--role", "admin"],
            "short\n",
            "the password must be 8 to 256 characters",
        ),
        (
            vec!["--role", "chief"],
            "a-long-password\n",
            "unknown role `chief`",
        ),
        (
            vec!["--role", "outlet"],
            "a-long-password\n",
            "--outlet CODE is required",
        ),
        (
            vec!["--role", "outlet", "--outlet", "NOPE"],
            "a-long-password\n",
            "no outlet with code `NOPE`",
        ),
        (vec![], "a-long-password\n", "--role is required"),
    ] {
        let mut all = vec!["user", "add", "second", "--data", data];
        all.extend(args);
        let (code, text) = hotline_stdin(&all, input);
        assert_ne!(code, 0, "{all:?}");
        assert!(text.contains(message), "{all:?}: {text}");
    }
    let (code, text) = hotline_stdin(
        &["user", "add", "Bad Name", "--role", "qa", "--data", data],
        "x\n",
    );
    assert_ne!(code, 0);
    assert!(text.contains("username must be 3 to 40"), "{text}");
}

/// Runs `f` on the store of data directory `data` (what the CLI opens).
fn with_store<T>(data: &str, f: impl AsyncFnOnce(&hotline::store::Store) -> T) -> T {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let url = format!("sqlite://{data}/hotline.db");
        let store = hotline::store::Store::connect(&url).await.unwrap();
        let out = f(&store).await;
        store.close().await;
        out
    })
}

/// `user add` takes an agent's skills and queues; bad ones, and queues
/// the configuration does not have, are named and create nobody.
#[test]
fn user_add_with_skills_and_queues() {
    let data = common::temp_dir("user-skills");
    let data = data.to_str().unwrap();
    let (code, text) = hotline_stdin(
        &[
            "user",
            "add",
            "liu",
            "--role",
            "agent",
            "--data",
            data,
            "--skills",
            "repair=7, complaint=3",
            "--queues",
            "repair,general",
        ],
        "a-long-password\n",
    );
    assert_eq!(code, 0, "{text}");
    let profile = with_store(data, async |store| {
        let users = store.users().await.unwrap();
        store.agent_profile(users[0].id).await.unwrap()
    })
    .expect("an agent");
    assert_eq!(
        profile.skills,
        [("complaint".to_owned(), 3), ("repair".to_owned(), 7)].into()
    );
    assert_eq!(profile.queues, ["repair", "general"]);

    for (flag, value, message) in [
        (
            "--skills",
            "repair=11",
            r#"--skills: "repair=11": level must be 1-10"#,
        ),
        (
            "--skills",
            "Repair=3,x",
            r#"--skills: "Repair=3": name must be 1 to 40 of a-z, 0-9, '_' and '-'; "x": expected name=level"#,
        ),
        ("--queues", "repair,,x", "--queues: an empty item"),
        (
            "--queues",
            "repair,vip",
            r#"--queues: "vip" is not a configured queue (repair, installation, complaint, general)"#,
        ),
    ] {
        let (code, text) = hotline_stdin(
            &[
                "user", "add", "second", "--role", "agent", "--data", data, flag, value,
            ],
            "a-long-password\n",
        );
        assert_ne!(code, 0, "{flag} {value}");
        assert!(text.contains(message), "{flag} {value}: {text}");
    }
    let users = with_store(data, async |store| store.users().await.unwrap());
    assert_eq!(users.len(), 1, "{users:?}");
}

/// `hotline calls` shows what the ACD recorded.
#[test]
fn calls_show_queue_agent_and_times() {
    use hotline::records::RecordOp;
    let data = common::temp_dir("calls-acd");
    let data = data.to_str().unwrap();
    with_store(data, async |store| {
        let id = "c-1".to_owned();
        let ops = [
            RecordOp::Arrived {
                call_id: id.clone(),
                sip_call_id: "sip-1".to_owned(),
                from_number: "13800138000".to_owned(),
                to_number: "4008001234".to_owned(),
                service_number: "4008001234".to_owned(),
                arrived_at: 1_714_552_200_000,
            },
            RecordOp::Queued {
                call_id: id.clone(),
                queue: "complaint".to_owned(),
                at: 1_714_552_210_000,
            },
            RecordOp::AgentAnswered {
                call_id: id.clone(),
                agent_id: 42,
                at: 1_714_552_235_000,
                wait_ms: 25_000,
            },
            RecordOp::Handled {
                call_id: id.clone(),
                talk_ms: 125_000,
                hold_ms: 0,
                transfers: 2,
            },
            RecordOp::WrapUp {
                call_id: id,
                agent_id: 42,
                wrap_up_ms: 9_000,
                disposition: Some("escalated".to_owned()),
                notes: String::new(),
            },
        ];
        store.apply_batch(&ops).await.unwrap();
    });
    let (code, text) = hotline(&["calls", "--data", data]);
    assert_eq!(code, 0, "{text}");
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    let row = lines.next().unwrap();
    let cells = |l: &str| l.split_whitespace().map(str::to_owned).collect::<Vec<_>>();
    assert_eq!(
        cells(header)[7..],
        [
            "QUEUE",
            "AGENT",
            "WAIT",
            "TALK",
            "HOLD",
            "WRAP",
            "XFER",
            "DISPOSITION",
            "END"
        ]
    );
    // ID, date, time, from, to, duration (-), digits (-), then the ACD's
    // (the header's "ARRIVED (UTC)" is two words as well).
    assert_eq!(
        cells(row)[7..],
        [
            "complaint",
            "#42",
            "0:25",
            "2:05",
            "0:00",
            "0:09",
            "2",
            "escalated",
            "-"
        ]
    );
}

/// `hotline demo` fills an empty database once, with users to sign in as.
#[test]
fn demo_seeds_an_empty_database_once() {
    let data = common::temp_dir("demo");
    let data = data.to_str().unwrap();
    let (code, text) = hotline(&["demo", "--data", data]);
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("sign in as admin, supervisor, agent, qa, xihu with password hotline-demo"),
        "{text}"
    );
    let (code, text) = hotline(&["demo", "--data", data]);
    assert_eq!(code, 1);
    assert!(
        text.contains("the database has customers already"),
        "{text}"
    );
}

#[test]
fn import_customers_reports_bad_rows_by_line() {
    let dir = std::env::temp_dir().join(format!(
        "hotline-cli-import-{}-{:x}",
        std::process::id(),
        fastrand::u64(..)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let database = format!("sqlite://{}", dir.join("hotline.db").display());
    // As Excel saves it: a byte order mark, CRLF, a quoted line break.
    let csv = dir.join("customers.csv");
    std::fs::write(
        &csv,
        "\u{feff}name,phones,region,address,vip\r\n\
         王建国,13800138000;0571-86541234,浙江省杭州市西湖区,\"文一西路522号\r\n7幢\",否\r\n\
         ,13900000001,,,\r\n\
         李秀英,13900139000/12,,,是\r\n\
         张伟,18662345678,江苏省苏州市昆山市周庄镇,,1\r\n\
         刘洋,+86 138 0013 8000,,,0\r\n",
    )
    .unwrap();
    let file = csv.to_str().unwrap();
    let (code, text) = hotline(&["import", "customers", file, "--database", &database]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("imported 2, skipped 3"), "{text}");
    for line in [
        format!("{file}: line 4: name: is required"),
        format!("{file}: line 5: phones[1]: `12` is not a phone number"),
        format!("{file}: line 7: phone 13800138000 already belongs to customer #1"),
    ] {
        assert!(text.contains(&line), "{line} in {text}");
    }
    // Again: nothing added, every row accounted for.
    let (code, text) = hotline(&["import", "customers", file, "--database", &database]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("imported 0, skipped 5"), "{text}");

    // A clean file of products: exit 0.
    let products = dir.join("products.csv");
    std::fs::write(
        &products,
        "phone,model,serial,purchase_date,warranty_end\n\
         18662345678,TDR-48V20 电动自行车,V20K2508170093,2025/8/18,2026-08-18\n",
    )
    .unwrap();
    let products = products.to_str().unwrap();
    let (code, text) = hotline(&["import", "products", products, "--database", &database]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("imported 1, skipped 0"), "{text}");

    let (code, text) = hotline(&["import", "tickets", file]);
    assert_eq!(code, 2, "{text}");
    assert!(
        text.contains("`customers`, `products` or `contacts`"),
        "{text}"
    );
    let (code, text) = hotline(&["import", "customers"]);
    assert_eq!(code, 2, "{text}");
    let (code, text) = hotline(&["help"]);
    assert_eq!(code, 0);
    assert!(text.contains("hotline import customers FILE"), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}
