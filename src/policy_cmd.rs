//! `moor policy FILE`: the IAM policy document that lets an identity plan,
//! apply and destroy exactly this stack (`--mode plan`: the reads of a
//! plan only). Each kind declares its permissions beside its calls
//! ([`crate::provider::aws::permissions`]); this command loads the file,
//! gathers them for its resources and prints the merged document, or with
//! `--explain` what each statement is for.

use crate::load::LoadOptions;
use crate::provider::aws::permissions::{policy, Mode, Scope};
use crate::run::{Failure, Outcome, Success};
use std::path::Path;

/// What `moor policy` was asked.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub plan_only: bool,
    pub explain: bool,
    /// The account id; `*` when not given.
    pub account: Option<String>,
    pub partition: String,
    /// `--state`: where the record is, beating the file's `state:`.
    pub state: Option<String>,
}

/// A partition IAM knows.
const PARTITIONS: &[&str] = &["aws", "aws-cn", "aws-us-gov", "aws-iso", "aws-iso-b"];

pub fn policy_cmd(file: &Path, load: &LoadOptions, o: &Options, color: bool) -> Outcome {
    if let Some(a) = &o.account {
        if a.len() != 12 || !a.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Failure::Error(format!(
                "--account `{}`: an AWS account id is 12 digits",
                crate::text::abbreviate(a)
            )));
        }
    }
    if !PARTITIONS.contains(&o.partition.as_str()) {
        return Err(Failure::Error(format!(
            "--partition `{}`: not a partition (one of {})",
            crate::text::abbreviate(&o.partition),
            PARTITIONS.join(", ")
        )));
    }
    let (loaded, _) = crate::run::load_and_graph(file, load);
    crate::run::eprint_diags(&loaded.diags, color);
    let Some(mut stack) = loaded.stack else {
        let errors = loaded.diags.iter().filter(|d| d.is_error()).count();
        return Err(Failure::Message(format!("{}: {}", file.display(), crate::text::plural(errors, "error"))));
    };
    if let Some(s) = &o.state {
        stack.state = Some(crate::backend::Location::parse(s).map_err(|e| Failure::Error(format!("--state: {e}")))?);
    }
    let at = Scope {
        partition: o.partition.clone(),
        region: stack.region.clone().unwrap_or_else(|| "*".to_string()),
        account: o.account.clone().unwrap_or_else(|| "*".to_string()),
        stack: stack.name.clone(),
    };
    let p = policy(&stack, &at, if o.plan_only { Mode::Plan } else { Mode::Apply });
    let text = if o.explain {
        p.explain()
    } else {
        let mut t = serde_json::to_string_pretty(&p.document()).map_err(|e| Failure::Error(e.to_string()))?;
        t.push('\n');
        t
    };
    crate::run::out(&text)?;
    Ok(Success::Done)
}
