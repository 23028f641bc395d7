use std::io::IsTerminal;

use torrentedge::app::App;
use torrentedge::auth;
use torrentedge::config::Config;

const USAGE: &str = "usage: torrentedge                       run the server
       torrentedge reset-password USER   give USER a new random password (printed once)";

const LOG_FILTER: &str = "info,librqbit=warn,librqbit_dht=warn,tracing=warn";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        [] => {
            init_tracing(false);
            App::build(Config::from_env()?).await?.run().await
        }
        ["reset-password", user] => {
            // Logs go to stderr: stdout carries only the password.
            init_tracing(true);
            let reset = auth::reset_password_in(&Config::from_env()?, user).await?;
            eprintln!(
                "New password for {user} below, shown once. {} refresh tokens revoked: \
                 every session must log in again.",
                reset.revoked_tokens
            );
            println!("{}", reset.password);
            Ok(())
        }
        ["-h" | "--help"] => {
            println!("{USAGE}");
            Ok(())
        }
        _ => anyhow::bail!("{USAGE}"),
    }
}

fn init_tracing(to_stderr: bool) {
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| LOG_FILTER.into());
    let logs = tracing_subscriber::fmt().with_env_filter(filter);
    if to_stderr {
        let ansi = std::io::stderr().is_terminal();
        logs.with_ansi(ansi).with_writer(std::io::stderr).init();
    } else {
        logs.with_ansi(std::io::stdout().is_terminal()).init();
    }
}
