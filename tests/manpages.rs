//! Shell completions and manual pages come from the command line's own
//! definition: every command and option is in them, with no list to keep.

use clap::CommandFactory;
use moor::cli::Cli;
use std::process::Command;

/// Every command by its path (`apply`, `state rm`), groups included.
fn command_paths(cmd: &clap::Command, prefix: &[String], out: &mut Vec<(Vec<String>, clap::Command)>) {
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        let mut path = prefix.to_vec();
        path.push(sub.get_name().to_string());
        out.push((path.clone(), sub.clone()));
        command_paths(sub, &path, out);
    }
}

fn all_commands() -> Vec<(Vec<String>, clap::Command)> {
    let mut cmd = Cli::command();
    cmd.build();
    let mut out = Vec::new();
    command_paths(&cmd, &[], &mut out);
    out
}

/// A long option as roff writes it (`\-\-auto\-approve`).
fn roff(text: &str) -> String {
    text.replace('-', "\\-")
}

#[test]
fn the_bash_completion_offers_every_command_and_option() {
    let script = String::from_utf8(moor::manpages::completions(clap_complete::Shell::Bash)).unwrap();
    let commands = all_commands();
    assert!(commands.len() >= 15, "{}", commands.len());
    for (path, cmd) in &commands {
        let name = path.last().unwrap();
        assert!(script.contains(&format!(" {name}")), "the bash completion lacks `{}`", path.join(" "));
        // bash names each command's case by its path: moor__subcmd__state__subcmd__rm.
        // (A dash in a name is written `__subcmd__` by clap_complete 4.6.)
        let case = format!("moor__subcmd__{}", path.join("__subcmd__").replace('-', "__subcmd__"));
        assert!(script.contains(&case), "no completion case {case} for `{}`", path.join(" "));
        for arg in cmd.get_arguments() {
            if let Some(long) = arg.get_long() {
                assert!(script.contains(&format!("--{long}")), "`{}` --{long} is not completed", path.join(" "));
            }
        }
    }
    for (name, shell) in [
        ("zsh", clap_complete::Shell::Zsh),
        ("fish", clap_complete::Shell::Fish),
        ("powershell", clap_complete::Shell::PowerShell),
        ("elvish", clap_complete::Shell::Elvish),
    ] {
        let script = String::from_utf8(moor::manpages::completions(shell)).unwrap();
        for (path, _) in &commands {
            assert!(script.contains(path.last().unwrap().as_str()), "{name}: no `{}`", path.join(" "));
        }
    }
}

#[test]
fn the_manual_pages_name_every_command_and_every_option_of_apply() {
    let dir = std::env::temp_dir().join(format!("moor-man-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let written = moor::manpages::write_pages(&dir).unwrap();
    let commands = all_commands();
    // One page per command, and the main page.
    assert_eq!(written.len(), commands.len() + 1, "{written:?}");
    for (path, _) in &commands {
        let file = dir.join(format!("moor-{}.1", path.join("-")));
        assert!(file.exists(), "no page {}", file.display());
    }
    let (_, apply) = commands.iter().find(|(p, _)| p == &["apply"]).unwrap();
    let page = std::fs::read_to_string(dir.join("moor-apply.1")).unwrap();
    let mut flags = 0;
    for arg in apply.get_arguments() {
        if let Some(long) = arg.get_long() {
            flags += 1;
            assert!(page.contains(&roff(&format!("--{long}"))), "moor-apply.1 lacks --{long}:\n{page}");
        }
        if let Some(env) = arg.get_env() {
            assert!(page.contains(&roff(&env.to_string_lossy())), "moor-apply.1 lacks {env:?}");
        }
    }
    assert!(flags >= 10, "{flags}");
    // The main page lists the commands.
    let main = String::from_utf8(moor::manpages::main_page().unwrap()).unwrap();
    assert!(main.starts_with(".ie") || main.contains(".TH moor 1"), "{main}");
    for (path, _) in commands.iter().filter(|(p, _)| p.len() == 1) {
        assert!(main.contains(&roff(&format!("moor-{}(1)", path[0]))), "moor.1 lacks {}", path[0]);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_commands_print_what_the_library_generates() {
    let moor = |args: &[&str]| Command::new(env!("CARGO_BIN_EXE_moor")).args(args).output().unwrap();
    let o = moor(&["completions", "bash"]);
    assert!(o.status.success(), "{o:?}");
    assert_eq!(o.stdout, moor::manpages::completions(clap_complete::Shell::Bash));
    let o = moor(&["man"]);
    assert!(o.status.success(), "{o:?}");
    assert_eq!(o.stdout, moor::manpages::main_page().unwrap());
    let o = moor(&["completions", "tcsh"]);
    assert_eq!(o.status.code(), Some(2), "{o:?}");
    assert!(String::from_utf8_lossy(&o.stderr).contains("possible values"), "{o:?}");
}

#[test]
fn writing_the_pages_says_so_unless_quiet() {
    let dir = std::env::temp_dir().join(format!("moor-man-quiet-{}", std::process::id()));
    let moor =
        |args: &[&str]| Command::new(env!("CARGO_BIN_EXE_moor")).args(args).env_remove("MOOR_QUIET").output().unwrap();
    let out = dir.to_str().unwrap();
    let o = moor(&["man", "--out", out]);
    assert!(o.status.success(), "{o:?}");
    assert!(String::from_utf8_lossy(&o.stderr).starts_with("Wrote "), "{o:?}");
    let o = moor(&["man", "--out", out, "-q"]);
    assert!(o.status.success(), "{o:?}");
    assert!(o.stderr.is_empty(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(dir.join("moor-apply.1").is_file());
    std::fs::remove_dir_all(&dir).unwrap();
}
