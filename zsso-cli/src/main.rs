use clap::Parser;
use std::process::ExitCode;
use zsso_cli::{Cli, Outcome, exit_code, report_error, run, stdout_failed};

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            // The database driver never logs: its statements would show rows.
            tracing_subscriber::EnvFilter::from_env("ZSSO_LOG")
                .add_directive("sqlx=off".parse().expect("a valid directive")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let json = cli.json();
    let code = match run(cli).await {
        Ok(Outcome::Ok) => ExitCode::SUCCESS,
        Ok(Outcome::Differs) => ExitCode::from(1),
        Err(e) => {
            report_error(&e, json);
            ExitCode::from(exit_code(&e))
        }
    };
    if stdout_failed() {
        eprintln!("zsso: error: cannot write the result to standard output");
        return ExitCode::from(1);
    }
    code
}
