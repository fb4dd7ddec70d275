//! The committed completion scripts and man pages match the clap definitions.

use std::path::Path;

#[path = "../../examples/generate_assets.rs"]
mod generate_assets;

#[test]
fn completions_and_man_pages_are_current() {
    let fresh = tempfile::tempdir().unwrap();
    generate_assets::write_assets(fresh.path()).unwrap();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut compared = 0;
    for dir in ["completions", "docs/man"] {
        for entry in std::fs::read_dir(fresh.path().join(dir)).unwrap() {
            let entry = entry.unwrap();
            let committed = repo.join(dir).join(entry.file_name());
            let expected = std::fs::read(entry.path()).unwrap();
            let actual = std::fs::read(&committed).unwrap_or_default();
            assert!(
                expected == actual,
                "{} is stale or missing: run `make completions` and commit the result",
                committed.display()
            );
            compared += 1;
        }
    }
    assert!(
        compared > 10,
        "completions for five shells and a man page per command"
    );
    let man_pages = std::fs::read_dir(repo.join("docs/man")).unwrap().count();
    let fresh_pages = std::fs::read_dir(fresh.path().join("docs/man"))
        .unwrap()
        .count();
    assert_eq!(
        man_pages, fresh_pages,
        "docs/man holds a page no command has any more"
    );
}

#[test]
fn completions_command_prints_a_script() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_bx-events"))
        .args(["completions", "bash"])
        .output()
        .unwrap();
    assert!(output.status.success());
    let script = String::from_utf8(output.stdout).unwrap();
    assert!(script.contains("bx-events") && script.contains("unbind"));
}

/// What bash completes for `words` (the last one being completed), run the way
/// bash's programmable completion runs the committed script.
fn bash_completes(script: &Path, words: &[&str]) -> Vec<String> {
    let current = words.len() - 1;
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let program = format!(
        "source '{}' && COMP_WORDS=({}) && COMP_CWORD={current} && \
         _bx__events bx-events '{}' '{}' && printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        script.display(),
        quoted.join(" "),
        words[current],
        words[current - 1],
    );
    let output = std::process::Command::new("bash")
        .args(["--norc", "--noprofile", "-c", &program])
        .output()
        .expect("bash runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn bash_completes_nested_subcommands_and_their_flags() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let committed = repo.join("completions/bx-events.bash");
    let printed = tempfile::NamedTempFile::new().unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_bx-events"))
        .args(["completions", "bash"])
        .output()
        .unwrap();
    std::fs::write(printed.path(), output.stdout).unwrap();
    for script in [committed.as_path(), printed.path()] {
        assert_eq!(bash_completes(script, &["bx-events", "unb"]), ["unbind"]);
        assert_eq!(
            bash_completes(script, &["bx-events", "bind", "--of"]),
            ["--offline"]
        );
        assert_eq!(
            bash_completes(script, &["bx-events", "offline", "con"]),
            ["consume"]
        );
        assert!(
            bash_completes(script, &["bx-events", "offline", "consume", "--fo"])
                .contains(&"--follow".to_string())
        );
        assert_eq!(
            bash_completes(script, &["bx-events", "auth", "log"]),
            ["login", "logout"]
        );
    }
}

/// What fish completes for a command line, run the way fish runs the committed
/// script (`complete -C`); `None` when fish is not installed (.ci/run installs it).
fn fish_completes(line: &str) -> Option<Vec<String>> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("completions/bx-events.fish");
    let program = format!("source '{}'; complete -C '{line}'", script.display());
    let output = std::process::Command::new("fish")
        .args(["--no-config", "-c", &program])
        .output()
        .ok()?;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    Some(
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .map(|line| line.split('\t').next().unwrap_or_default().to_string())
            .collect(),
    )
}

/// The same completions in every shell: nested subcommands and their flags.
/// `completes` is `None` when the shell is not installed (.ci/run installs it).
fn completes_nested_subcommands_and_flags(shell: &str, completes: fn(&str) -> Option<Vec<String>>) {
    let Some(flags) = completes("bx-events bind --of") else {
        eprintln!("skipped: {shell} is not installed (apt-get install {shell}; .ci/run does)");
        return;
    };
    assert_eq!(flags, ["--offline"], "{shell}");
    assert_eq!(
        completes("bx-events offline con").unwrap(),
        ["consume"],
        "{shell}"
    );
    assert_eq!(
        completes("bx-events auth log").unwrap(),
        ["login", "logout"],
        "{shell}"
    );
}

#[test]
fn fish_completes_nested_subcommands_and_their_flags() {
    completes_nested_subcommands_and_flags("fish", fish_completes);
}

/// Drives an interactive zsh through a pseudo-terminal (zsh's own `zpty`): loads
/// the committed `_bx-events` with `compinit`, types the line and a TAB, and prints
/// every candidate the completion system was offered (`compadd` wrapped).
const ZSH_DRIVER: &str = r#"
zmodload zsh/zpty || exit 3
zpty z zsh -f -i
zpty -w z "PROMPT= ; RPROMPT= ; PS2="
zpty -w z "fpath=(${(q)1} \$fpath); autoload -U compinit; compinit -u -D"
zpty -w z 'compadd () {
  if [[ ${@[1,(i)(-|--)]} == *-(O|A|D)\ * ]]; then builtin compadd "$@"; return $?; fi
  typeset -a __hits; builtin compadd -A __hits "$@"; local ret=$?
  for h in $__hits; do print -r -- "<hit>$h</hit>"; done
  return $ret
}'
zpty -w z "bindkey '^I' complete-word"
zpty -w z "print -r -- '<rea''dy>'"
zpty -r z line '*<ready>*'
zpty -n -w z "$2"$'\t'
zpty -w z $'\C-u'"print -r -- '<do''ne>'"
zpty -r z out '*<done>*'
print -r -- "$out"
zpty -d z
"#;

/// What zsh completes for a command line; `None` when zsh is not installed
/// (.ci/run installs it).
fn zsh_completes(line: &str) -> Option<Vec<String>> {
    let dir = tempfile::tempdir().unwrap();
    let driver = dir.path().join("driver.zsh");
    std::fs::write(&driver, ZSH_DRIVER).unwrap();
    let completions = Path::new(env!("CARGO_MANIFEST_DIR")).join("completions");
    let output = std::process::Command::new("timeout")
        .arg("60")
        .arg("zsh")
        .arg("-f")
        .arg(&driver)
        .arg(&completions)
        .arg(line)
        .env("TERM", "dumb")
        .output()
        .ok()
        .filter(|output| output.status.code() != Some(127))?;
    assert!(output.status.success(), "zsh: {output:?}");
    let mut hits: Vec<String> = String::from_utf8_lossy(&output.stdout)
        .split("<hit>")
        .skip(1)
        .filter_map(|rest| rest.split_once("</hit>").map(|(hit, _)| hit.to_string()))
        .collect();
    hits.sort();
    hits.dedup();
    Some(hits)
}

#[test]
fn zsh_completes_nested_subcommands_and_their_flags() {
    completes_nested_subcommands_and_flags("zsh", zsh_completes);
}
