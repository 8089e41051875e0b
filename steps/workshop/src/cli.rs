//! The flags every step has. Each step's `Args` flattens [`Base`] last and
//! puts its own flags before it; a flag keeps its meaning in every later step.

use clap::{Args, Parser};

/// `--hostname`, `-x/--explain` and the command: present from step01 on.
#[derive(Args, Debug, Clone)]
pub struct Base {
    /// Hostname inside the container (at most 64 bytes).
    #[arg(long, default_value = "container", value_parser = parse_hostname)]
    pub hostname: String,

    /// Print every syscall as it is made: name, arguments, result, in order
    /// (`-x` as in `sh -x`; `-v` is left to mean a volume, as in docker).
    #[arg(short = 'x', long)]
    pub explain: bool,

    /// The command to run inside the container and its arguments
    /// (default: an interactive /bin/sh).
    #[arg(value_name = "COMMAND", trailing_var_arg = true)]
    pub command: Vec<String>,
}

impl Base {
    /// The command line to execute: the one given, or `/bin/sh`.
    pub fn argv(&self) -> Vec<String> {
        if self.command.is_empty() {
            vec!["/bin/sh".to_owned()]
        } else {
            self.command.clone()
        }
    }
}

/// A hostname the kernel accepts: 1 to 64 bytes (`HOST_NAME_MAX`), no NUL.
pub fn parse_hostname(s: &str) -> Result<String, String> {
    if s.is_empty() {
        return Err("a hostname cannot be empty".into());
    }
    if s.len() > 64 {
        return Err(format!(
            "{} bytes is too long: the kernel allows 64 (HOST_NAME_MAX); pick a shorter --hostname",
            s.len()
        ));
    }
    if s.contains('\0') {
        return Err("a hostname cannot contain a NUL byte".into());
    }
    Ok(s.to_owned())
}

/// Parses the command line with clap, but keeps the runtime's contract:
/// `--help` and `--version` exit 0, and any bad flag or value is one line
/// on stderr and exit 125 (clap alone would print a usage block and exit 2).
pub fn parse<T: Parser>() -> T {
    let matches = T::command().try_get_matches();
    let result = matches.and_then(|m| T::from_arg_matches(&m));
    match result {
        Ok(args) => args,
        Err(err) => {
            use clap::error::ErrorKind::*;
            if matches!(
                err.kind(),
                DisplayHelp | DisplayVersion | DisplayHelpOnMissingArgumentOrSubcommand
            ) {
                err.exit();
            }
            let rendered = err.render().to_string();
            let first = rendered
                .lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("bad arguments")
                .trim_start_matches("error: ");
            eprintln!("{}: {first} (see --help)", T::command().get_name());
            std::process::exit(crate::exit::RUNTIME_FAILED);
        }
    }
}

/// Fails unless we are root: namespaces, mounts and cgroups all need it.
pub fn require_root() -> anyhow::Result<()> {
    if nix::unistd::geteuid().is_root() {
        return Ok(());
    }
    anyhow::bail!(
        "must run as root (creating namespaces needs CAP_SYS_ADMIN): \
         use `cargo run -p {}` (the workspace runs binaries through sudo) or `sudo -E {}`",
        crate::explain::program(),
        std::env::args().next().unwrap_or_default()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Parser, Debug)]
    struct Step {
        #[command(flatten)]
        base: Base,
    }

    #[test]
    fn explain_is_dash_x_and_dash_v_is_not_taken() {
        let short = Step::try_parse_from(["step", "-x", "true"]).unwrap();
        assert!(short.base.explain);
        assert_eq!(short.base.command, ["true"]);
        let long = Step::try_parse_from(["step", "--explain", "true"]).unwrap();
        assert!(long.base.explain);
        let quiet = Step::try_parse_from(["step", "true"]).unwrap();
        assert!(!quiet.base.explain);
        // docker's `-v` means a volume: no step may give it another meaning.
        let err = Step::try_parse_from(["step", "-v", "true"]).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::UnknownArgument);
    }

    #[test]
    fn hostnames_are_checked_like_the_kernel_does() {
        assert_eq!(parse_hostname("box-1").unwrap(), "box-1");
        assert!(parse_hostname(&"a".repeat(64)).is_ok());
        assert!(parse_hostname(&"a".repeat(65)).unwrap_err().contains("64"));
        assert!(parse_hostname("").is_err());
    }
}
