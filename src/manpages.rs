//! Shell completions and manual pages, both generated from the command
//! line's own definition ([`crate::cli::Cli`]): a command or option added
//! there is completed and documented without another list to keep.

use crate::cli::Cli;
use clap::CommandFactory;
use std::path::{Path, PathBuf};

/// The completion script of `shell` for `moor`.
pub fn completions(shell: clap_complete::Shell) -> Vec<u8> {
    let mut cmd = Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, "moor", &mut out);
    out
}

/// The main manual page, `moor(1)`, as roff.
pub fn main_page() -> Result<Vec<u8>, String> {
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    let mut out = Vec::new();
    clap_mangen::Man::new(cmd).render(&mut out).map_err(|e| format!("cannot render the manual page: {e}"))?;
    Ok(out)
}

/// Writes one page per command into `dir` (`moor.1`, `moor-apply.1`,
/// `moor-state-list.1`, …), creating it; the files written, in order.
pub fn write_pages(dir: &Path) -> Result<Vec<PathBuf>, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    let mut written = Vec::new();
    page(cmd, dir, &mut written)?;
    Ok(written)
}

fn page(cmd: clap::Command, dir: &Path, written: &mut Vec<PathBuf>) -> Result<(), String> {
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()).cloned() {
        page(sub, dir, written)?;
    }
    let man = clap_mangen::Man::new(cmd);
    let path = dir.join(man.get_filename());
    man.generate_to(dir).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    written.push(path);
    Ok(())
}
