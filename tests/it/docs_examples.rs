//! Every shell example in the README and docs/ runs as written: each `sh` or
//! `console` block is run by bash, step by step, in a fresh directory against a
//! fresh sandbox, with `bx-events` on PATH. A block that cannot run here carries an
//! honest mark right above it, `<!-- not run: REASON -->`; a block that needs a file
//! or a server the page only mentions gets it from a `<!-- setup: ... -->`
//! comment above it in the page's source (its lines run first, like the block's).
//!
//! Every step must exit 0, unless its comment says `# exits N`, or the next step
//! reads `$?` (the example handles the status itself). In `console` blocks the
//! `error:` and `hint:` lines shown after a command must be what it prints.

use crate::common::TestEnv;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};

/// One command of a block, as bash reads it (continuation lines joined).
#[derive(Debug, Clone, PartialEq)]
struct Step {
    text: String,
    /// Ends with `&`: started, then awaited until it prints its first line.
    background: bool,
    /// `# exits N` in the step's comment.
    expected_exit: Option<i32>,
    /// `error:`/`hint:` lines a console block shows under the command.
    expected_lines: Vec<String>,
}

#[derive(Debug)]
struct Block {
    /// `file:line` of the opening fence.
    origin: String,
    steps: Vec<Step>,
    not_run: Option<String>,
    /// Files the page shows: a `toml` block whose first line is `# NAME.toml`.
    files: Vec<(String, String)>,
}

fn doc_files() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![root.join("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    files.extend(docs);
    files
}

/// Splits a shell line into its code and its trailing `#` comment (outside quotes).
fn split_comment(line: &str) -> (&str, &str) {
    let mut quote = None;
    let mut previous = ' ';
    for (at, c) in line.char_indices() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '#') if previous.is_whitespace() => {
                return (line[..at].trim_end(), line[at + 1..].trim())
            }
            _ => {}
        }
        previous = c;
    }
    (line.trim_end(), "")
}

/// How much deeper a line takes bash's compound commands (`case`, `if`, loops).
fn nesting_change(code: &str) -> i32 {
    code.split(|c: char| c.is_whitespace() || c == ';')
        .map(|word| match word {
            "case" | "if" | "for" | "while" | "until" => 1,
            "esac" | "fi" | "done" => -1,
            _ => 0,
        })
        .sum()
}

/// Groups command lines into steps: a line continues with `\`, a trailing `|`,
/// `&&` or `||`, or while a compound command is open.
fn steps_of(lines: &[(String, Vec<String>)]) -> Vec<Step> {
    let mut steps = Vec::new();
    let mut text = String::new();
    let mut comments = Vec::new();
    let mut expected_lines = Vec::new();
    let mut depth = 0;
    for (line, shown) in lines {
        let (code, comment) = split_comment(line);
        if code.is_empty() && text.is_empty() {
            continue;
        }
        if !text.is_empty() {
            text.push('\n');
        }
        text.push_str(line);
        comments.push(comment.to_string());
        expected_lines.extend(shown.iter().cloned());
        depth += nesting_change(code);
        let continues = code.ends_with('\\')
            || code.ends_with('|')
            || code.ends_with("&&")
            || code.ends_with("||")
            || depth > 0;
        if continues {
            continue;
        }
        let background = code.ends_with('&') && !code.ends_with("&&");
        let expected_exit = comments.iter().find_map(|c| {
            let rest = c.split("exits ").nth(1)?;
            let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
            rest[..digits].parse().ok()
        });
        steps.push(Step {
            text: std::mem::take(&mut text),
            background,
            expected_exit,
            expected_lines: std::mem::take(&mut expected_lines),
        });
        comments.clear();
    }
    steps
}

/// The file a `toml` block shows, when its first line names it (`# bx-events.toml`).
fn shown_file(body: &[String]) -> Option<(String, String)> {
    let name = body
        .first()?
        .strip_prefix("# ")?
        .split_whitespace()
        .next()?;
    let name = name.trim_end_matches(':');
    name.ends_with(".toml")
        .then(|| (name.to_string(), body.join("\n") + "\n"))
}

/// The `sh` and `console` blocks of a Markdown file, with their marks.
fn blocks_of(path: &Path) -> Vec<Block> {
    let text = std::fs::read_to_string(path).unwrap();
    let name = path
        .strip_prefix(env!("CARGO_MANIFEST_DIR"))
        .unwrap()
        .display()
        .to_string();
    let mut blocks = Vec::new();
    let mut lines = text.lines().enumerate().peekable();
    let mut not_run = None;
    let mut setup: Vec<(String, Vec<String>)> = Vec::new();
    let mut files = Vec::new();
    while let Some((number, line)) = lines.next() {
        let trimmed = line.trim();
        if let Some(reason) = trimmed.strip_prefix("<!-- not run:") {
            not_run = Some(reason.trim_end_matches("-->").trim().to_string());
            continue;
        }
        if trimmed.starts_with("<!-- setup:") {
            for (_, line) in lines.by_ref() {
                if line.trim() == "-->" {
                    break;
                }
                setup.push((line.trim().to_string(), Vec::new()));
            }
            continue;
        }
        let Some(info) = trimmed.strip_prefix("```") else {
            if !trimmed.is_empty() {
                not_run = None;
                setup.clear();
            }
            continue;
        };
        let console = info == "console";
        let runnable = console || info == "sh";
        let mut body = Vec::new();
        for (_, line) in lines.by_ref() {
            if line.trim().starts_with("```") {
                break;
            }
            body.push(line.trim().to_string());
        }
        if info == "toml" {
            files.extend(shown_file(&body));
        }
        if !runnable {
            not_run = None;
            setup.clear();
            continue;
        }
        let mut commands = std::mem::take(&mut setup);
        let mut continuing = false;
        for line in body {
            if !console || continuing {
                continuing = line.ends_with('\\');
                commands.push((line, Vec::new()));
            } else if let Some(command) = line.strip_prefix("$ ") {
                continuing = command.ends_with('\\');
                commands.push((command.to_string(), Vec::new()));
            } else if line.starts_with("error:") || line.starts_with("hint:") {
                if let Some((_, shown)) = commands.last_mut() {
                    shown.push(line);
                }
            }
        }
        blocks.push(Block {
            origin: format!("{name}:{}", number + 1),
            steps: steps_of(&commands),
            not_run: not_run.take(),
            files: Vec::new(),
        });
    }
    for block in &mut blocks {
        block.files = files.clone();
    }
    blocks
}

/// The bash script that runs a block's steps and writes `STATUS INDEX` lines to fd 3.
fn script_for(steps: &[Step], logs: &Path) -> String {
    let mut script =
        String::from("exec 3>>\"$RESULTS\"\ntrap 'kill $(jobs -p) 2>/dev/null' EXIT\n");
    for (index, step) in steps.iter().enumerate() {
        let log = logs.join(format!("{index}.log"));
        if step.background {
            let (code, _) = split_comment(&step.text);
            let command = code.trim_end_matches('&').trim_end();
            // The first line it prints (to the terminal, or to the file it writes)
            // says it is up: bound, listening, or its profile saved.
            let mut watched = format!("{:?}", log.display().to_string());
            if let Some((_, target)) = command.rsplit_once('>') {
                watched.push(' ');
                watched.push_str(target.trim());
            }
            script.push_str(&format!(
                "{{ {command}\n}} >>{log:?} 2>&1 </dev/null &\n\
                 grep -m1 -q . <(exec timeout 60 tail -q -F -n +1 {watched} 2>/dev/null)\n\
                 echo \"$? {index}\" >&3\n",
                log = log.display().to_string(),
            ));
        } else {
            script.push_str(&format!(
                "{{ {}\n}} >{:?} 2>&1 </dev/null\necho \"$? {index}\" >&3\n",
                step.text,
                log.display().to_string()
            ));
        }
    }
    script
}

/// The work directory: the subscriptions file the README shows (`cat
/// bx-events.toml`), then every file the block's page shows.
fn prepare_work_dir(dir: &Path, block: &Block) {
    std::fs::create_dir_all(dir).unwrap();
    let manifest = "[[subscription]]\nevent = \"ONCRMDEALADD\"\nhandler = \"${HOOKS_URL}/deal\"\n";
    std::fs::write(dir.join("bx-events.toml"), manifest).unwrap();
    for (name, text) in &block.files {
        std::fs::write(dir.join(name), text).unwrap();
    }
}

/// Runs one block; the failures it shows, one message each.
fn run_block(block: &Block) -> Vec<String> {
    let env = TestEnv::new();
    let work = env.dir.path().join("work");
    let logs = env.dir.path().join("logs");
    prepare_work_dir(&work, block);
    std::fs::create_dir_all(&logs).unwrap();
    let results = env.dir.path().join("results");
    let binary = assert_cmd::cargo::cargo_bin("bx-events");
    let path = format!(
        "{}:{}",
        binary.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let script = script_for(&block.steps, &logs);
    let mut process = std::process::Command::new("timeout")
        .args(["180", "bash", "-c", &script])
        .env_clear()
        .env("PATH", path)
        .env("HOME", env.dir.path())
        .env("NO_COLOR", "1")
        .env("RESULTS", &results)
        .env("BX_EVENTS_CONFIG_DIR", env.config_dir())
        .current_dir(&work)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        // Its own process group, so whatever a block leaves running is stopped with it.
        .process_group(0)
        .spawn()
        .unwrap();
    let status = process.wait().unwrap();
    let _ = std::process::Command::new("kill")
        .args(["-KILL", "--", &format!("-{}", process.id())])
        .stderr(std::process::Stdio::null())
        .status();
    let statuses: Vec<(i32, usize)> = std::fs::read_to_string(&results)
        .unwrap_or_default()
        .lines()
        .filter_map(|line| {
            let (status, index) = line.split_once(' ')?;
            Some((status.parse().ok()?, index.parse().ok()?))
        })
        .collect();
    let mut failures = Vec::new();
    let log_of = |index: usize| {
        std::fs::read_to_string(logs.join(format!("{index}.log"))).unwrap_or_default()
    };
    for (index, step) in block.steps.iter().enumerate() {
        let Some(&(status, _)) = statuses.iter().find(|(_, i)| *i == index) else {
            failures.push(format!(
                "{}: `{}` never finished (bash: {status})",
                block.origin, step.text
            ));
            break;
        };
        let output = log_of(index);
        let handled = block
            .steps
            .get(index + 1)
            .is_some_and(|next| next.text.contains("$?"));
        let expected = step.expected_exit.unwrap_or(0);
        if step.background && status != 0 {
            failures.push(format!(
                "{}: `{}` printed nothing within 60 s:\n{output}",
                block.origin, step.text
            ));
        } else if !handled && status != expected {
            failures.push(format!(
                "{}: `{}` exited {status}, not {expected}:\n{output}",
                block.origin, step.text
            ));
        }
        if output.contains("panicked") {
            failures.push(format!(
                "{}: `{}` panicked:\n{output}",
                block.origin, step.text
            ));
        }
        for line in &step.expected_lines {
            if !output.lines().any(|printed| printed.trim_end() == line) {
                failures.push(format!(
                    "{}: `{}` does not print `{line}`; it printed:\n{output}",
                    block.origin, step.text
                ));
            }
        }
    }
    failures
}

/// Whether a block listens on a port it names (`--port 3000`, or `listen`'s
/// default 8088): such blocks run one at a time, so two never race for a port.
fn uses_a_fixed_port(block: &Block) -> bool {
    block.steps.iter().any(|step| {
        step.text.contains("bx-events listen")
            || step
                .text
                .split("--port ")
                .skip(1)
                .any(|rest| rest.starts_with(|c: char| c.is_ascii_digit() && c != '0'))
    })
}

#[test]
fn every_shell_example_in_the_docs_runs_as_written() {
    let blocks: Vec<Block> = doc_files().iter().flat_map(|f| blocks_of(f)).collect();
    for block in &blocks {
        if let Some(reason) = &block.not_run {
            assert!(reason.len() > 10, "{}: say why it is not run", block.origin);
        }
    }
    let runnable: Vec<&Block> = blocks.iter().filter(|b| b.not_run.is_none()).collect();
    assert!(runnable.len() >= 10, "runnable blocks: {}", runnable.len());
    // DOCS_EXAMPLES=docs/handlers.md runs only the blocks of matching pages.
    let only = std::env::var("DOCS_EXAMPLES").unwrap_or_default();
    let chosen: Vec<&Block> = runnable
        .into_iter()
        .filter(|b| b.origin.contains(&only))
        .collect();
    // Two blocks at a time: each has its own sandbox, directory and config.
    let next = std::sync::atomic::AtomicUsize::new(0);
    let fixed_ports = std::sync::Mutex::new(());
    let worker = || {
        let mut failures = Vec::new();
        loop {
            let index = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let Some(block) = chosen.get(index) else {
                break failures;
            };
            let _turn = uses_a_fixed_port(block)
                .then(|| fixed_ports.lock().unwrap_or_else(|e| e.into_inner()));
            failures.extend(run_block(block));
        }
    };
    let failures: Vec<String> = std::thread::scope(|scope| {
        let workers = [scope.spawn(worker), scope.spawn(worker)];
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    });
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn steps_join_continuations_and_compound_commands_and_read_marks() {
    let lines: Vec<(String, Vec<String>)> = [
        "bx-events diff --exit-code   # exits 3: drift",
        "case $? in",
        "  3) bx-events apply --yes ;;",
        "esac",
        "printf 'a=%s' \"$T\" |",
        "  bx-events auth login --secrets-from -",
        "bx-events listen --port 3000 &   # or your handler",
    ]
    .iter()
    .map(|l| (l.to_string(), Vec::new()))
    .collect();
    let steps = steps_of(&lines);
    assert_eq!(steps.len(), 4, "{steps:#?}");
    assert_eq!(steps[0].expected_exit, Some(3));
    assert!(steps[1].text.ends_with("esac"));
    assert!(steps[2].text.contains("auth login"));
    assert!(steps[3].background && !steps[2].background);
    assert_eq!(
        split_comment("echo '# not a comment' # but this"),
        ("echo '# not a comment'", "but this")
    );
}
