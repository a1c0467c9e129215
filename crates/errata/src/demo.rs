//! `errata serve --demo`: the gateway in front of the bundled example service.

use errata_gateway::config::Config;

pub async fn run(_cfg: Config) -> Result<(), String> {
    Err("the demo is not built yet".into())
}
