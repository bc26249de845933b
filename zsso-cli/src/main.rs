use clap::Parser;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU8, Ordering};
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
    stop_on_signals();
    let cli = Cli::parse();
    let json = cli.json();
    let code: u8 = match run(cli).await {
        Ok(Outcome::Ok) => 0,
        Ok(Outcome::Differs) => 1,
        Err(e) => {
            report_error(&e, json);
            exit_code(&e)
        }
    };
    if stdout_failed() {
        eprintln!("zsso: error: cannot write the result to standard output");
        return ExitCode::from(1);
    }
    match STOPPED.load(Ordering::SeqCst) {
        0 => ExitCode::from(code),
        signal => {
            eprintln!("zsso: interrupted");
            // A run that failed after its commit says so by its own code, not the signal's.
            ExitCode::from(if code == 0 { signal } else { code })
        }
    }
}

/// The exit code of a signal that came during held steps (0: none came).
static STOPPED: AtomicU8 = AtomicU8::new(0);

/// SIGINT and SIGTERM end the program with 130 and 143, as they would unhandled, except
/// between a restore's commit and the installation of its secrets.conf
/// ([`zsso::interrupt`]): then the run goes on to its end and exits with that code. SIGXFSZ
/// (a file-size limit reached) no longer ends it silently: the write fails, and the error
/// names the file.
fn stop_on_signals() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut int), Ok(mut term), Ok(xfsz)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
        signal(SignalKind::from_raw(libc::SIGXFSZ)),
    ) else {
        return;
    };
    tokio::spawn(async move {
        let _xfsz = xfsz;
        let code = tokio::select! {
            _ = int.recv() => 130,
            _ = term.recv() => 143,
        };
        STOPPED.store(code, Ordering::SeqCst);
        // Decided under the restore's own lock: a commit cannot start between the look and
        // the exit.
        if zsso::interrupt::stop_unless_held(|| {
            eprintln!("zsso: interrupted");
            std::process::exit(i32::from(code));
        }) {
            return;
        }
        eprintln!(
            "zsso: interrupted during the commit: finishing it and the installation of secrets.conf first"
        );
    });
}
