use torrentedge::app::App;
use torrentedge::config::Config;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,librqbit=warn,librqbit_dht=warn,tracing=warn".into()),
        )
        .init();
    let config = Config::from_env()?;
    App::build(config).await?.run().await
}
