use clap::Parser;
use std::process::ExitCode;
use zsso_cli::{Cli, Outcome, report_error, run};

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
    match run(Cli::parse()).await {
        Ok(Outcome::Ok) => ExitCode::SUCCESS,
        Ok(Outcome::Differs) => ExitCode::from(1),
        Err(e) => {
            report_error(&e);
            ExitCode::from(1)
        }
    }
}
