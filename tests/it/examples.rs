//! Every example in the `--help` texts, the README and docs/ parses with today's flags,
//! and the self-contained `--help` examples run against the sandbox without a usage error.

use crate::common::{run, TestEnv};
use bx_events::internal::Cli;
use clap::{CommandFactory, Parser};

/// Examples from every command's `after_help`.
fn help_examples() -> Vec<String> {
    fn walk(command: &clap::Command, out: &mut Vec<String>) {
        if let Some(text) = command.get_after_help() {
            out.extend(
                text.to_string()
                    .lines()
                    .map(str::trim)
                    .filter(|l| {
                        l.starts_with("bx-events ")
                            || l.contains("| bx-events ")
                            || l.contains("$(bx-events")
                    })
                    .map(str::to_string),
            );
        }
        for sub in command.get_subcommands() {
            walk(sub, out);
        }
    }
    let mut out = Vec::new();
    walk(&Cli::command(), &mut out);
    out
}

/// `bx-events ...` lines of the code blocks of a Markdown file (continuations joined).
fn markdown_examples(path: &str) -> Vec<String> {
    let text = std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path))
        .unwrap();
    let mut out = Vec::new();
    let mut in_code = false;
    let mut pending = String::new();
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
            continue;
        }
        if !in_code {
            continue;
        }
        let line = line.trim().trim_start_matches("$ ");
        if !pending.is_empty() {
            pending.push(' ');
            pending.push_str(line.trim_end_matches('\\').trim());
            if !line.ends_with('\\') {
                out.push(std::mem::take(&mut pending));
            }
            continue;
        }
        let starts = line.starts_with("bx-events ")
            || line.split_whitespace().find(|w| !w.contains('=')) == Some("bx-events");
        if starts {
            if line.ends_with('\\') {
                pending = line.trim_end_matches('\\').trim().to_string();
            } else {
                out.push(line.to_string());
            }
        }
    }
    out
}

/// Splits a shell line into the `bx-events` arguments (quotes honoured), dropping
/// leading VAR=value words and anything after an unquoted `|`, `>`, `&`, `;` or `#`.
/// Environment assignments and the command's words.
type ShellLine = (Vec<(String, String)>, Vec<String>);

fn bx_arguments(line: &str) -> Option<ShellLine> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut quote: Option<char> = None;
    let mut has_word = false;
    for c in line.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => current.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                has_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if has_word || !current.is_empty() {
                    words.push(std::mem::take(&mut current));
                    has_word = false;
                }
            }
            (None, '|' | '>' | '&' | ';') => break,
            (None, '#') if current.is_empty() => break,
            (None, c) => current.push(c),
        }
    }
    if has_word || !current.is_empty() {
        words.push(current);
    }
    let mut env = Vec::new();
    let mut rest = words.into_iter().peekable();
    while let Some(word) = rest.peek() {
        match word.split_once('=') {
            Some((name, value))
                if !name.is_empty() && name.chars().all(|c| c.is_ascii_uppercase() || c == '_') =>
            {
                env.push((name.to_string(), value.to_string()));
                rest.next();
            }
            _ => break,
        }
    }
    let args: Vec<String> = rest.collect();
    (args.first().map(String::as_str) == Some("bx-events")).then_some((env, args))
}

fn all_examples() -> Vec<(String, String)> {
    let mut all: Vec<(String, String)> = help_examples()
        .into_iter()
        .map(|e| ("--help".to_string(), e))
        .collect();
    let mut docs = vec!["README.md".to_string()];
    for entry in
        std::fs::read_dir(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs")).unwrap()
    {
        let name = entry.unwrap().file_name().to_string_lossy().to_string();
        if name.ends_with(".md") {
            docs.push(format!("docs/{name}"));
        }
    }
    for doc in docs {
        all.extend(
            markdown_examples(&doc)
                .into_iter()
                .map(|e| (doc.clone(), e)),
        );
    }
    all
}

#[test]
fn every_example_parses_with_current_flags() {
    let examples = all_examples();
    assert!(
        examples.len() > 80,
        "examples were found: {}",
        examples.len()
    );
    let mut checked = 0;
    for (source, line) in &examples {
        let line = line.rsplit_once("$(").map_or(line.as_str(), |(_, inner)| {
            inner.trim_end_matches([')', '"'])
        });
        let Some((_, args)) = bx_arguments(line) else {
            continue;
        };
        if let Err(error) = Cli::try_parse_from(&args) {
            use clap::error::{ContextKind, ContextValue, ErrorKind};
            // A placeholder the reader replaces (`ID`, `3f2a...`) may fail a
            // value's check; the flag itself must still exist.
            let placeholder = error.kind() == ErrorKind::ValueValidation
                && matches!(
                    error.get(ContextKind::InvalidValue),
                    Some(ContextValue::String(value))
                        if value.contains("...") || value.chars().all(|c| c.is_ascii_uppercase())
                );
            assert!(
                placeholder
                    || matches!(
                        error.kind(),
                        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion
                    ),
                "{source}: `{line}` no longer parses:\n{error}"
            );
        }
        checked += 1;
    }
    assert!(checked > 80, "checked {checked}");
}

/// Examples that need something this test cannot provide: a running server, a
/// browser, a real portal, placeholders, or that would end the session (`dev`
/// follows the queue until stopped).
fn runnable(args: &[String]) -> bool {
    let joined = args.join(" ");
    let first = args.get(1).map(String::as_str).unwrap_or("");
    !matches!(first, "sandbox" | "listen" | "trigger" | "dev")
        && !joined.contains("auth login")
        && !joined.contains("logout")
        && !joined.contains("--follow")
        && !joined.contains("...")
        && !joined.contains('$')
        && !joined.contains('~')
        && !joined.contains("example.bitrix24.com/rest")
        // A shared store needs a PostgreSQL server: tests/it/store.rs runs `store init`.
        && !joined.contains("postgres://")
}

#[test]
fn self_contained_examples_run_against_the_sandbox() {
    let env = TestEnv::new();
    let cwd = env.config_dir().join("work");
    std::fs::create_dir_all(&cwd).unwrap();
    let manifest = "[[subscription]]\nevent = \"ONCRMDEALADD\"\nhandler = \"${HOOKS_URL:-https://hooks.example.com}/deal\"\n";
    std::fs::write(cwd.join("bx-events.toml"), manifest).unwrap();
    std::fs::write(cwd.join("subscriptions.toml"), manifest).unwrap();
    // For `auth import`: one install of the sandbox, and the application's secret.
    let creds = &env.sandbox.credentials;
    let install = serde_json::json!({"access_token": creds.access_token.expose(),
        "client_endpoint": format!("{}/rest/", creds.portal), "profile": "imported"});
    std::fs::write(cwd.join("installs.jsonl"), format!("{install}\n")).unwrap();
    std::fs::write(
        cwd.join("app.env"),
        format!("client_secret={}\n", creds.client_secret.expose()),
    )
    .unwrap();
    let mut ran = 0;
    // The README's and docs' blocks run in order, with their context, in
    // docs_examples.rs; here each --help example runs on its own.
    for (source, line) in all_examples()
        .into_iter()
        .filter(|(source, _)| source == "--help")
    {
        let Some((vars, args)) = bx_arguments(&line) else {
            continue;
        };
        if !runnable(&args) {
            continue;
        }
        let mut cmd = env.cmd();
        cmd.current_dir(&cwd).args(&args[1..]).envs(vars);
        let (code, stdout, stderr) = run(&mut cmd);
        assert!(
            code != 2 && code >= 0,
            "{source}: `{line}` failed with a usage error ({code}):\n{stdout}\n{stderr}"
        );
        assert!(
            !stderr.contains("panicked"),
            "{source}: `{line}` panicked:\n{stderr}"
        );
        ran += 1;
    }
    assert!(ran > 30, "ran {ran} examples");
}

#[test]
fn the_line_splitter_understands_quotes_pipes_and_variables() {
    let (env, args) = bx_arguments(
        "HOOKS_URL=https://h.example.com bx-events list --event 'ON CRM*' -o json | jq '.[]'",
    )
    .unwrap();
    assert_eq!(
        env,
        vec![("HOOKS_URL".to_string(), "https://h.example.com".to_string())]
    );
    assert_eq!(
        args,
        ["bx-events", "list", "--event", "ON CRM*", "-o", "json"]
    );
    assert!(bx_arguments("cargo install --path .").is_none());
    let parsed = Cli::try_parse_from(["bx-events", "list", "-o", "json"]);
    assert!(parsed.is_ok());
    let _ = Cli::parse_from(["bx-events", "events"]);
}

#[test]
fn every_command_has_a_summary_and_two_to_four_examples() {
    fn walk(command: &clap::Command, path: String, missing: &mut Vec<String>) {
        for sub in command.get_subcommands() {
            let name = format!("{path} {}", sub.get_name());
            let examples = sub
                .get_after_help()
                .map(|h| {
                    h.to_string()
                        .lines()
                        .filter(|l| {
                            l.trim_start().starts_with("bx-events") || l.contains("bx-events ")
                        })
                        .count()
                })
                .unwrap_or(0);
            if sub.get_about().is_none() || !(2..=4).contains(&examples) {
                missing.push(format!("{name} ({examples} examples)"));
            }
            walk(sub, name, missing);
        }
    }
    let mut missing = Vec::new();
    walk(&Cli::command(), "bx-events".into(), &mut missing);
    assert!(
        missing.is_empty(),
        "commands without a summary or 2-4 examples: {missing:?}"
    );
}

/// examples/client.rs, which `cargo test` builds beside the tests.
fn client_example() -> std::path::PathBuf {
    let deps = std::env::current_exe().unwrap();
    let profile_dir = deps.parent().unwrap().parent().unwrap();
    let path = profile_dir.join("examples").join("client");
    assert!(
        path.is_file(),
        "{} is missing: `cargo test` builds the examples",
        path.display()
    );
    path
}

#[test]
fn the_client_library_example_binds_lists_and_drains_on_its_own() {
    let env = TestEnv::new();
    env.json(&["bind", "ONCRMDEALADD", "--offline"]);
    env.json(&[
        "sandbox",
        "fire",
        "ONCRMDEALADD",
        "--count",
        "3",
        "--data",
        "FIELDS.ID={N}",
    ]);
    let creds = &env.sandbox.credentials;
    let output = std::process::Command::new(client_example())
        .env("BX_EVENTS_PORTAL", &creds.portal)
        .env("BX_EVENTS_ACCESS_TOKEN", creds.access_token.expose())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("bind: AlreadyBound"), "{stdout}");
    assert!(stdout.contains("handled 3 offline records"), "{stdout}");
    let left = env.json(&["offline", "list"]);
    assert_eq!(left.as_array().map(Vec::len), Some(0), "{left}");
}
