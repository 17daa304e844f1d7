//! The built-in rule files and their fixtures. Add an entry when adding a rule; a test checks
//! that every file in `rules/` is listed.

/// One built-in rule.
#[derive(Clone, Copy, Debug)]
pub struct BuiltinRule {
    /// File name in `rules/`.
    pub file: &'static str,
    /// The rule.
    pub text: &'static str,
    /// `fixtures/rules/<ID>/fire.log`: lines that must fire it.
    pub fire: &'static str,
    /// `fixtures/rules/<ID>/miss.log`: near misses that must not.
    pub miss: &'static str,
}

macro_rules! builtin {
    ($id:literal, $file:literal) => {
        BuiltinRule {
            file: $file,
            text: include_str!(concat!("../../rules/", $file)),
            fire: include_str!(concat!("../../fixtures/rules/", $id, "/fire.log")),
            miss: include_str!(concat!("../../fixtures/rules/", $id, "/miss.log")),
        }
    };
}

/// Every built-in rule.
pub const BUILTIN: &[BuiltinRule] = &[
    builtin!("AUTH001", "AUTH001-skillmeat-token-rejected.toml"),
    builtin!("AUTH002", "AUTH002-clerk-jwks-unreachable.toml"),
    builtin!("AUTH003", "AUTH003-websocket-auth-failed.toml"),
    builtin!("AUTH004", "AUTH004-api-key-validation-failed.toml"),
    builtin!("AUTH005", "AUTH005-unauthorized-burst-per-client.toml"),
    builtin!("AUTH006", "AUTH006-unauthorized-burst-per-path.toml"),
    builtin!("AUTH007", "AUTH007-enterprise-pat-secret-missing.toml"),
    builtin!("DB001", "DB001-sqlalchemy-queuepool-exhausted.toml"),
    builtin!("DB002", "DB002-rust-pool-slot-timeout.toml"),
    builtin!("DB003", "DB003-postgres-pool-exhausted.toml"),
    builtin!("DB004", "DB004-sqlite-database-locked.toml"),
    builtin!("DB005", "DB005-skreaver-postgres-connection-error.toml"),
    builtin!("DB006", "DB006-sqlx-pool-timeout.toml"),
    builtin!("ERR001", "ERR001-skillmeat-high-error-rate.toml"),
    builtin!("ERR002", "ERR002-skreaver-high-error-rate.toml"),
    builtin!("ERR003", "ERR003-unhandled-exception.toml"),
    builtin!("ERR004", "ERR004-skreaver-failed-responses.toml"),
    builtin!("GH001", "GH001-github-rate-limit-exceeded.toml"),
    builtin!("GH002", "GH002-github-token-quota-low.toml"),
    builtin!("LAT001", "LAT001-skillmeat-high-latency.toml"),
    builtin!("LAT002", "LAT002-skreaver-high-latency.toml"),
    builtin!("MCP001", "MCP001-mcp-server-unhealthy.toml"),
    builtin!("PANIC001", "PANIC001-rust-panic.toml"),
    builtin!("RATE001", "RATE001-burst-blocked.toml"),
    builtin!("RATE002", "RATE002-too-many-requests-burst.toml"),
    builtin!("REDIS001", "REDIS001-redis-mesh-connection-failed.toml"),
    builtin!("START001", "START001-fatal-startup-error.toml"),
    builtin!("START002", "START002-skillmeat-migrations-failed.toml"),
    builtin!("WS001", "WS001-websocket-connection-limit.toml"),
    builtin!("WS002", "WS002-websocket-protocol-error.toml"),
    builtin!("WS003", "WS003-websocket-rate-limited.toml"),
    builtin!("WS004", "WS004-websocket-failure-ratio.toml"),
];
