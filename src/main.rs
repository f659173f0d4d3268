//! The `hotline` command line: `serve` runs the server, `calls` shows the
//! latest call records, `check-flows` checks the IVR flows, `user add`
//! creates a user (the first admin), `demo` seeds demo data, `import` loads
//! customers or products from a CSV file.

use std::path::PathBuf;
use std::process::ExitCode;

use hotline::config::{Config, Overrides, Settings};
use hotline::store::{Store, calls_table};

const USAGE: &str = "\
hotline — call-center server for an after-sales service hotline

USAGE:
    hotline serve [--demo] [OPTIONS]  start the server (prints a line with `ready`);
                                     --demo seeds demo data into an empty database
    hotline demo [OPTIONS]           seed the demo data and users, then exit
    hotline calls [--last N] [OPTIONS]   show the latest call records
    hotline check-flows [DIR] [OPTIONS]  check the IVR flows (default: ivr-flows)
    hotline user add NAME --role ROLE [--outlet CODE] [--display NAME]
                     [--skills repair=7,complaint=3] [--queues repair,general] [OPTIONS]
                                     create a user; the password is read from
                                     the first line of standard input
    hotline import customers FILE [OPTIONS]  add customers from a CSV file
    hotline import products FILE [OPTIONS]   add products from a CSV file
    hotline import contacts CAMPAIGN FILE --config FILE
                                     enrol contacts in a configured campaign
    hotline help

OPTIONS (override the config file):
    --config FILE        TOML configuration (default: built-in settings)
    --sip ADDR:PORT      SIP on UDP and TCP (default 0.0.0.0:5060)
    --http ADDR:PORT     HTTP API (default 127.0.0.1:8080)
    --https ADDR:PORT    HTTPS for agents on other machines (default 0.0.0.0:8443;
                         an empty value for none)
    --data DIR           data directory (default ./data)
    --rtp-ports LOW-HIGH RTP port range (default 20000-29999)
    --database URL       sqlite://FILE or postgres://... (default: DIR/hotline.db)
    --flows DIR          IVR flows, prompts and calendars (default ./ivr-flows)
    --log-format FORMAT  text (default) or json: one JSON object a line
                         (HOTLINE_LOG_FORMAT=json does the same)

Without --config, `serve` puts demo customers, tickets and users into an
empty database (server.demo_data in a config file). The demo users admin,
supervisor, agent, qa and xihu (an outlet) share the password hotline-demo:
never seed demo data into a real database.

Roles: admin, supervisor, agent, qa, outlet (needs --outlet CODE).
Skills: name=level, levels 1 to 10, names of a-z, 0-9, '_' and '-'. Queues:
configured [[queues]] names; none given means every queue.

IMPORT (CSV UTF-8 as Excel saves it; a BOM and CRLF are fine):
    customers: header name,phones,region,address,vip (name and phones
        required). Phones separated by ; or /; vip 1/0, yes/no, 是/否.
    products:  header phone,model,serial,purchase_date,warranty_end (phone
        and model required). The phone finds the customer; dates
        YYYY-MM-DD (or YYYY/M/D), empty when not known.
    contacts:  header phone,customer_id,ticket (phone required). A number
        that is not one or is outside the campaign's dial rules, and a row
        naming the same contact as an earlier one, are listed; so is a
        contact the campaign has already.
    Every row is checked and written on its own: good rows are imported,
    bad ones listed with their line and why. A customer row with a number
    that already belongs to a customer is skipped (`phone X already
    belongs to customer #id`), never merged into that customer; a product
    whose model and serial are registered is skipped. Importing a file
    again adds nothing. Prints `imported N, skipped M`; exits 1 if any row
    was skipped.

Logging: HOTLINE_LOG=error|warn|info|debug|trace (default info), to stderr;
--log-format json (or HOTLINE_LOG_FORMAT=json) for a log collector:
docs/operations.md.";

struct Args {
    command: String,
    config: Option<PathBuf>,
    overrides: Overrides,
    last: i64,
    /// Words after the command that are not options (`user add NAME`).
    words: Vec<String>,
    role: Option<String>,
    outlet: Option<String>,
    display: Option<String>,
    /// `user add --skills`, as typed.
    skills: Option<String>,
    /// `user add --queues`, as typed.
    queues: Option<String>,
    /// `import`: what (`customers` or `products`) and the file.
    import: Option<(ImportKind, PathBuf)>,
    /// `--log-format`, as typed.
    log_format: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum ImportKind {
    Customers,
    Products,
    /// Contacts for the named campaign.
    Contacts(String),
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Args, String> {
    let command = args.next().ok_or("no command given")?;
    let import = if command == "import" {
        let kind = match args.next().as_deref() {
            Some("customers") => ImportKind::Customers,
            Some("products") => ImportKind::Products,
            Some("contacts") => ImportKind::Contacts(
                args.next()
                    .filter(|c| !c.starts_with("--"))
                    .ok_or("import contacts needs the campaign's name, then the file")?,
            ),
            Some(other) => {
                return Err(format!(
                    "import what? `customers`, `products` or `contacts`, not `{other}`"
                ));
            }
            None => return Err("import needs `customers FILE` or `products FILE`".to_owned()),
        };
        let file = args
            .next()
            .filter(|f| !f.starts_with("--"))
            .ok_or("import needs the CSV file to read")?;
        Some((kind, PathBuf::from(file)))
    } else {
        None
    };
    let mut parsed = Args {
        command,
        config: None,
        overrides: Overrides::default(),
        last: 10,
        words: Vec::new(),
        role: None,
        outlet: None,
        display: None,
        skills: None,
        queues: None,
        import,
        log_format: None,
    };
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--config" => parsed.config = Some(PathBuf::from(value()?)),
            "--sip" => parsed.overrides.sip = Some(value()?),
            "--http" => parsed.overrides.http = Some(value()?),
            "--https" => parsed.overrides.https = Some(value()?),
            "--data" => parsed.overrides.data_dir = Some(PathBuf::from(value()?)),
            "--rtp-ports" => parsed.overrides.rtp_ports = Some(value()?),
            "--database" => parsed.overrides.database = Some(value()?),
            "--flows" => parsed.overrides.flows_dir = Some(PathBuf::from(value()?)),
            "--log-format" => parsed.log_format = Some(value()?),
            "--last" if parsed.command == "calls" => {
                let v = value()?;
                parsed.last = v
                    .parse()
                    .ok()
                    .filter(|n| (1..=10_000).contains(n))
                    .ok_or(format!("--last needs a number from 1 to 10000, not `{v}`"))?;
            }
            "--demo" if parsed.command == "serve" => parsed.overrides.demo_data = Some(true),
            "--role" if parsed.command == "user" => parsed.role = Some(value()?),
            "--outlet" if parsed.command == "user" => parsed.outlet = Some(value()?),
            "--display" if parsed.command == "user" => parsed.display = Some(value()?),
            "--skills" if parsed.command == "user" => parsed.skills = Some(value()?),
            "--queues" if parsed.command == "user" => parsed.queues = Some(value()?),
            word if parsed.command == "user" && !word.starts_with('-') => {
                parsed.words.push(word.to_owned());
            }
            dir if parsed.command == "check-flows"
                && !dir.starts_with('-')
                && parsed.overrides.flows_dir.is_none() =>
            {
                parsed.overrides.flows_dir = Some(PathBuf::from(dir));
            }
            _ => return Err(format!("unknown option `{flag}`")),
        }
    }
    Ok(parsed)
}

fn settings(args: &Args) -> Result<Settings, String> {
    let mut config = Config::load(args.config.as_deref()).map_err(|e| e.to_string())?;
    config.apply(&args.overrides);
    let mut settings = config.validate().map_err(|e| e.to_string())?;
    settings.reload_from = args.config.clone().map(|p| (p, args.overrides.clone()));
    Ok(settings)
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LogFormat {
    /// For a person at a terminal.
    Text,
    /// One JSON object a line, for a log collector: `timestamp`, `level`,
    /// `target`, `fields` (with `message`), and `span` inside one.
    Json,
}

/// `--log-format`, else `HOTLINE_LOG_FORMAT`, else text.
fn log_format(flag: Option<&str>) -> Result<LogFormat, String> {
    let env = std::env::var("HOTLINE_LOG_FORMAT").ok();
    match flag.or(env.as_deref().filter(|v| !v.is_empty())) {
        None | Some("text") => Ok(LogFormat::Text),
        Some("json") => Ok(LogFormat::Json),
        Some(other) => Err(format!(
            "log format `{other}` (--log-format or HOTLINE_LOG_FORMAT): `text` or `json`"
        )),
    }
}

fn init_logging(format: LogFormat) {
    let level = match std::env::var("HOTLINE_LOG").as_deref() {
        Ok("error") => tracing::Level::ERROR,
        Ok("warn") => tracing::Level::WARN,
        Ok("debug") => tracing::Level::DEBUG,
        Ok("trace") => tracing::Level::TRACE,
        _ => tracing::Level::INFO,
    };
    let builder = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .init(),
    }
}

/// glibc raises its mmap threshold to the largest block freed so far:
/// after the first Argon2 hash (a 19 MiB block) such blocks come from the
/// threads' heaps instead, which are never given back, and a burst of
/// sign-ins left the server a gigabyte larger (docs/benchmarks.md, the ACD
/// section). A fixed threshold keeps every block over 1 MiB mapped on its
/// own and returned to the system when freed.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn fix_mmap_threshold() {
    unsafe extern "C" {
        fn mallopt(param: i32, value: i32) -> i32;
    }
    /// glibc's `M_MMAP_THRESHOLD` (malloc.h).
    const M_MMAP_THRESHOLD: i32 = -3;
    // SAFETY: mallopt only sets an allocator parameter; called once at
    // start, before any thread but this one exists.
    unsafe {
        mallopt(M_MMAP_THRESHOLD, 1 << 20);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn fix_mmap_threshold() {}

fn main() -> ExitCode {
    fix_mmap_threshold();
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(a) if a.command == "help" || a.command == "--help" || a.command == "-h" => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Ok(a) => a,
        Err(e) => {
            eprintln!("hotline: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let settings = match settings(&args) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("hotline: configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    let format = match log_format(args.log_format.as_deref()) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("hotline: {e}");
            return ExitCode::from(2);
        }
    };
    if args.command == "check-flows" {
        return check_flows(&settings);
    }
    init_logging(format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("hotline: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match args.command.as_str() {
            // On a worker thread, not on block_on's: the driver's timers and
            // sockets are serviced by the workers, and waking a task there
            // is cheaper and more punctual than waking the main thread
            // (RTP pacing, docs/benchmarks.md).
            "serve" => match tokio::spawn(hotline::rt::serve(settings)).await {
                Ok(result) => result.map_err(|e| e.to_string()),
                Err(e) => Err(format!("the server task failed: {e}")),
            },
            "calls" => show_calls(&settings, args.last).await,
            "user" => add_user(&settings, &args).await,
            "demo" => seed_demo(&settings).await,
            "import" => match &args.import {
                Some((kind, file)) => import(&settings, kind, file).await,
                None => Err("import needs `customers FILE` or `products FILE`".to_owned()),
            },
            other => Err(format!("unknown command `{other}`\n\n{USAGE}")),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // Already reported row by row.
        Err(e) if e.is_empty() => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("hotline: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Loads the flows and prompts as the server would; prints every problem
/// with its file, line and node.
fn check_flows(settings: &Settings) -> ExitCode {
    let files = hotline::rt::ivr::IvrFiles::from_settings(settings);
    match hotline::rt::ivr::load_catalog(&files, 1) {
        Ok(c) => {
            println!(
                "{}: ok, {} flows, {} nodes, {} prompts ({})",
                files.dir.display(),
                c.flows.flows.len(),
                c.flows.node_count(),
                c.prompt_count(),
                c.prompts.keys().cloned().collect::<Vec<_>>().join(", ")
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

async fn show_calls(settings: &Settings, last: i64) -> Result<(), String> {
    let store = Store::connect(&settings.database_url)
        .await
        .map_err(|e| format!("database: {e}"))?;
    let rows = store
        .recent_calls(last)
        .await
        .map_err(|e| format!("database: {e}"))?;
    print!("{}", calls_table(&rows));
    store.close().await;
    Ok(())
}

/// `hotline user add NAME --role ROLE [--outlet CODE] [--display NAME]
/// [--skills ...] [--queues ...]`, the password from standard input: how
/// the first admin is made.
async fn add_user(settings: &Settings, args: &Args) -> Result<(), String> {
    use hotline::api::auth::{hash_password, password_problem};
    use hotline::store::{NewUser, Role};

    let [verb, username] = args.words.as_slice() else {
        return Err(format!(
            "usage: hotline user add NAME --role ROLE\n\n{USAGE}"
        ));
    };
    if verb != "add" {
        return Err(format!("unknown `user {verb}`: only `user add` exists"));
    }
    if let Some(p) = hotline::api::username_problem(username) {
        return Err(format!("username {p}"));
    }
    let role_text = args.role.as_deref().ok_or("--role is required")?;
    let role = Role::parse(role_text).ok_or_else(|| {
        format!("unknown role `{role_text}`: admin, supervisor, agent, qa or outlet")
    })?;
    if (role == Role::Outlet) != args.outlet.is_some() {
        return Err("--outlet CODE is required for role outlet, and only for it".to_owned());
    }
    let skills = hotline::store::parse_skills(args.skills.as_deref().unwrap_or(""))
        .map_err(|problems| format!("--skills: {}", problems.join("; ")))?;
    let queues = hotline::store::parse_queues(args.queues.as_deref().unwrap_or(""))
        .map_err(|problems| format!("--queues: {}", problems.join("; ")))?;
    if let Some(q) = queues
        .iter()
        .find(|q| !settings.queues.iter().any(|c| &c.name == *q))
    {
        let known: Vec<&str> = settings.queues.iter().map(|c| c.name.as_str()).collect();
        return Err(format!(
            "--queues: {q:?} is not a configured queue ({})",
            known.join(", ")
        ));
    }
    if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        eprint!("password for {username} (shown as you type): ");
    }
    let mut password = String::new();
    std::io::stdin()
        .read_line(&mut password)
        .map_err(|e| format!("reading the password: {e}"))?;
    let password = password.trim_end_matches(['\r', '\n']).to_owned();
    if let Some(p) = password_problem(&password) {
        return Err(format!("the password {p}"));
    }
    let store = Store::connect(&settings.database_url)
        .await
        .map_err(|e| format!("database: {e}"))?;
    let result = async {
        let outlet_id = match &args.outlet {
            Some(code) => Some(
                store
                    .outlet_by_code(code)
                    .await
                    .map_err(|e| format!("database: {e}"))?
                    .ok_or_else(|| format!("no outlet with code `{code}`"))?
                    .id,
            ),
            None => None,
        };
        let password_hash = hash_password(&password).map_err(|e| format!("hashing: {e}"))?;
        let sip_ha1 = hotline::sip::digest::ha1(username, &settings.sip_realm, &password);
        let new = NewUser {
            username: username.clone(),
            display_name: args.display.clone().unwrap_or_default(),
            role,
            outlet_id,
            password_hash,
            sip_ha1,
            skills,
            queues,
        };
        match store.create_user(&new, wall_ms()).await {
            Ok(user) => {
                println!(
                    "created user {} (#{}, {})",
                    user.username,
                    user.id,
                    role.as_str()
                );
                Ok(())
            }
            Err(hotline::store::StoreError::Duplicate(_)) => {
                Err(format!("a user named `{username}` already exists"))
            }
            Err(e) => Err(format!("database: {e}")),
        }
    }
    .await;
    store.close().await;
    result
}

/// `hotline demo`: the demo world and users into an empty database.
async fn seed_demo(settings: &Settings) -> Result<(), String> {
    use hotline::rt::demo;
    let store = Store::connect(&settings.database_url)
        .await
        .map_err(|e| format!("database: {e}"))?;
    let result = demo::seed(&store, &settings.sip_realm, wall_ms()).await;
    store.close().await;
    match result {
        Ok(true) => {
            println!(
                "demo data added; sign in as {} with password {}",
                demo::DEMO_USERS
                    .iter()
                    .map(|u| u.0)
                    .collect::<Vec<_>>()
                    .join(", "),
                demo::DEMO_PASSWORD
            );
            Ok(())
        }
        Ok(false) => Err(
            "the database has customers already: demo data is only added to an empty one"
                .to_owned(),
        ),
        Err(e) => Err(format!("database: {e}")),
    }
}

/// Wall-clock now, epoch ms.
fn wall_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Imports a CSV file of customers or products: parses and checks every
/// row (src/import.rs), writes the good ones each on its own (the store),
/// prints each bad row's line and why, then `imported N, skipped M`. An
/// empty `Err` means "rows were skipped, already said".
/// Enrols the good rows of a contacts file, due at once; a contact the
/// campaign has already is reported by its line.
async fn enroll_contacts(
    store: &Store,
    campaign: &str,
    rows: &[hotline::import::Line<hotline::import::ContactRow>],
    now_ms: i64,
) -> Result<hotline::store::ImportReport, hotline::store::StoreError> {
    let mut report = hotline::store::ImportReport::default();
    for row in rows {
        let c = &row.value;
        let contact = hotline::store::campaigns::NewContact {
            campaign,
            number: &c.number,
            customer_id: c.customer_id,
            ticket: c.ticket.as_deref(),
            since_at: now_ms,
            due_at: now_ms,
        };
        if store.enroll(&contact, now_ms).await? {
            report.imported += 1;
        } else {
            report.errors.push(hotline::import::RowError {
                line: row.line,
                message: "already in the campaign".into(),
            });
        }
    }
    Ok(report)
}

async fn import(
    settings: &Settings,
    kind: &ImportKind,
    file: &std::path::Path,
) -> Result<(), String> {
    // A campaign's contacts are checked against its rules before the
    // database is opened.
    let campaign = match kind {
        ImportKind::Contacts(name) => Some(
            settings
                .campaigns
                .iter()
                .find(|c| &c.name == name)
                .ok_or_else(|| format!("no campaign `{name}` is configured"))?,
        ),
        _ => None,
    };
    let reader = std::fs::File::open(file)
        .map(std::io::BufReader::new)
        .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    let store = Store::connect(&settings.database_url)
        .await
        .map_err(|e| format!("database: {e}"))?;
    let now_ms = wall_ms();
    let (report, mut errors, skipped) = match kind {
        ImportKind::Customers => {
            let parsed = hotline::import::customers(reader);
            let report = store.import_customers(&parsed.rows, now_ms).await;
            (report, parsed.errors, parsed.skipped)
        }
        ImportKind::Products => {
            let parsed = hotline::import::products(reader);
            let report = store.import_products(&parsed.rows).await;
            (report, parsed.errors, parsed.skipped)
        }
        ImportKind::Contacts(_) => {
            let rules = campaign.expect("looked up above");
            let parsed = hotline::import::contacts(reader, rules);
            let report = enroll_contacts(&store, &rules.name, &parsed.rows, now_ms).await;
            (report, parsed.errors, parsed.skipped)
        }
    };
    store.close().await;
    let report = report.map_err(|e| {
        format!(
            "database: {e}; rows before the failure were imported, \
             and importing the file again skips them"
        )
    })?;
    let skipped = skipped + report.errors.len();
    errors.extend(report.errors);
    errors.sort_by_key(|e| e.line);
    for e in &errors {
        println!("{}: {e}", file.display());
    }
    println!("imported {}, skipped {skipped}", report.imported);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(String::new())
    }
}
