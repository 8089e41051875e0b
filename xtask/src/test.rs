//! `cargo xtask test`: every check CI runs, as phases.

use std::process::Command;
use std::time::Instant;

use anyhow::bail;

#[derive(clap::Args)]
pub struct Args {
    /// Run only these phases (comma-separated names; see the list printed at the start).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Skip these phases.
    #[arg(long, value_delimiter = ',')]
    skip: Vec<String>,
}

/// One phase: a name and the command line it runs from the workspace root.
struct Phase {
    name: &'static str,
    what: &'static str,
    argv: Vec<&'static str>,
}

fn phases() -> Vec<Phase> {
    vec![
        Phase {
            name: "fmt",
            what: "rustfmt: the code is formatted",
            argv: vec!["cargo", "fmt", "--all", "--", "--check"],
        },
        Phase {
            name: "clippy",
            what: "clippy: no warnings in any crate or test",
            argv: vec!["cargo", "clippy", "--workspace", "--all-targets", "--", "-D", "warnings"],
        },
        Phase {
            name: "tests",
            what: "every crate's tests; black-box ones run the real binaries as root",
            argv: vec!["cargo", "test", "--workspace", "--no-fail-fast"],
        },
    ]
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let root = crate::workspace_root();
    let selected: Vec<Phase> = phases()
        .into_iter()
        .filter(|p| args.only.is_empty() || args.only.iter().any(|o| o == p.name))
        .filter(|p| !args.skip.iter().any(|s| s == p.name))
        .collect();
    if selected.is_empty() {
        bail!("no phase selected; the phases are: {}", names());
    }
    eprintln!("xtask test: phases {}", selected.iter().map(|p| p.name).collect::<Vec<_>>().join(", "));
    let mut results = Vec::new();
    for phase in &selected {
        eprintln!("\n==> {} ({})\n    $ {}", phase.name, phase.what, phase.argv.join(" "));
        let started = Instant::now();
        let ok = Command::new(phase.argv[0])
            .args(&phase.argv[1..])
            .current_dir(&root)
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        results.push((phase.name, ok, started.elapsed().as_secs_f64()));
    }
    eprintln!("\nxtask test summary");
    for (name, ok, secs) in &results {
        eprintln!("  {} {name:<10} {secs:>7.1} s", if *ok { "✔" } else { "✘" });
    }
    let failed = results.iter().filter(|r| !r.1).count();
    // The plain closing line CI reads: one per phase.
    println!("xtask: {} passed, {failed} failed", results.len() - failed);
    if failed > 0 {
        bail!("{failed} phase(s) failed");
    }
    Ok(())
}

fn names() -> String {
    phases().iter().map(|p| p.name).collect::<Vec<_>>().join(", ")
}
