//! The configuration reference (docs/CONFIGURATION.md), rendered from the clap
//! definitions of every command: each setting's variable, flag, default, the commands
//! that read it and its help text, grouped by the help heading it is defined under.
//! `alerting config-reference` prints it; a test in `cli` fails when the file in the
//! repository is not what the code renders, so the two cannot drift apart.

use std::collections::BTreeSet;

use clap::Command;

/// One setting, as every command that reads it defines it.
struct Setting {
    variable: String,
    flag: String,
    default: String,
    help: String,
    commands: BTreeSet<String>,
}

/// The reference as Markdown.
pub fn render(cli: &Command) -> String {
    let mut groups: Vec<(String, Vec<Setting>)> = Vec::new();
    collect(cli, "all", &mut groups);
    let mut out = String::from(HEADER);
    for (heading, settings) in &groups {
        out.push_str(&format!("\n## {heading}\n\n"));
        out.push_str("| variable | flag | default | commands | meaning |\n|---|---|---|---|---|\n");
        for setting in settings {
            let commands: Vec<&str> = setting.commands.iter().map(String::as_str).collect();
            out.push_str(&format!(
                "| `{}` | `{}` | {} | {} | {} |\n",
                setting.variable,
                setting.flag,
                setting.default,
                commands.join(", "),
                setting.help
            ));
        }
    }
    out
}

const HEADER: &str = "\
# Configuration

Every setting is an environment variable (ECS task definitions set them) and a flag of
the commands that read it, with a default that suits a laptop: with nothing set,
`alerting up` runs the whole platform embedded, in one process. A duration takes a
unit: `500ms`, `10s`, `5m`, `1h` (a bare number is seconds).

This file is generated from the code (`cargo run -- config-reference >
docs/CONFIGURATION.md`); a test fails when it differs from what the code defines.
Log verbosity comes from `RUST_LOG` (default `info`; for example `alerting=debug`).

Renamed settings still work for one release, with a warning naming the new one:
`KAFKA_SESSION_TIMEOUT_MS`, `KAFKA_FETCH_WAIT_MAX_MS`, `KAFKA_MESSAGE_TIMEOUT_MS`,
`DELIVERY_TIMEOUT_MS`, `DELIVERY_BACKOFF_MS` and `DELIVERY_MAX_BACKOFF_MS` (a number of
milliseconds) are read as the same names without `_MS`.
";

fn collect(command: &Command, name: &str, groups: &mut Vec<(String, Vec<Setting>)>) {
    for arg in command.get_arguments() {
        let Some(variable) = arg.get_env() else {
            continue;
        };
        if arg.is_hide_set() {
            continue;
        }
        let variable = variable.to_string_lossy().into_owned();
        let heading = arg.get_help_heading().unwrap_or("Other").to_owned();
        let index = match groups.iter().position(|(known, _)| *known == heading) {
            Some(index) => index,
            None => {
                groups.push((heading, Vec::new()));
                groups.len() - 1
            }
        };
        let group = &mut groups[index].1;
        if let Some(known) = group.iter_mut().find(|s| s.variable == variable) {
            known.commands.insert(name.to_owned());
            continue;
        }
        let defaults: Vec<String> = arg
            .get_default_values()
            .iter()
            .map(|value| value.to_string_lossy().into_owned())
            .collect();
        let help = arg
            .get_long_help()
            .or_else(|| arg.get_help())
            .map(|help| help.to_string())
            .unwrap_or_default();
        group.push(Setting {
            variable,
            flag: format!("--{}", arg.get_long().unwrap_or_default()),
            default: match defaults.as_slice() {
                [] => "none".to_owned(),
                [one] if one.is_empty() => "empty".to_owned(),
                values => format!("`{}`", values.join(",")),
            },
            help: cell(&help),
            commands: BTreeSet::from([name.to_owned()]),
        });
    }
    for sub in command.get_subcommands() {
        if !sub.is_hide_set() {
            collect(sub, sub.get_name(), groups);
        }
    }
}

/// One table cell: one line, pipes escaped.
fn cell(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('|', "\\|")
}
