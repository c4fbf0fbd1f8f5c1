//! The startup check that users, which live in Redis without a TTL, cannot be evicted or lost
//! on restart: `maxmemory-policy` and persistence, read with `CONFIG GET` from every primary.

use std::collections::HashMap;

use ::redis::{FromRedisValue, Value};

use super::conn::{Commands, COMMAND_TIMEOUT};

/// The warning when neither AOF nor RDB snapshots are on.
pub(crate) const NO_PERSISTENCE: &str =
    "Redis keeps no data on disk: a restart loses every user (turn on appendonly, or RDB snapshots with save)";

/// Everything that could evict or lose keys without a TTL, one sentence each; empty when the
/// configuration is safe. Never fails: a check that cannot run is itself a warning.
pub(crate) async fn warnings(commands: &Commands) -> Vec<String> {
    let mut warnings = Vec::new();
    let read = async {
        let policies = config_get(commands, "maxmemory-policy").await?;
        let appendonly = config_get(commands, "appendonly").await?;
        let save = config_get(commands, "save").await?;
        Ok::<_, String>((policies, appendonly, save))
    };
    let (policies, appendonly, save) = match read.await {
        Ok(values) => values,
        Err(reason) => {
            return vec![format!(
                "cannot check whether Redis may evict or lose users ({reason}); make sure \
                 maxmemory-policy is noeviction and AOF or RDB persistence is on"
            )]
        }
    };
    for policy in policies.iter().flatten() {
        if policy != "noeviction" && !policy.starts_with("volatile-") {
            push_once(
                &mut warnings,
                format!(
                    "Redis maxmemory-policy is {policy}: when memory runs out Redis may evict \
                     users (set noeviction, or a volatile-* policy, which spares keys without TTL)"
                ),
            );
        }
    }
    // Per primary: AOF on, or at least one RDB save point.
    for (aof, save) in appendonly.iter().zip(save.iter()) {
        let aof_on = aof
            .as_deref()
            .is_some_and(|v| v.eq_ignore_ascii_case("yes"));
        let rdb_on = save.as_deref().is_some_and(|v| !v.trim().is_empty());
        if !aof_on && !rdb_on {
            push_once(&mut warnings, NO_PERSISTENCE.to_string());
        }
    }
    warnings
}

fn push_once(warnings: &mut Vec<String>, warning: String) {
    if !warnings.contains(&warning) {
        warnings.push(warning);
    }
}

/// `CONFIG GET parameter` on every primary: one value per primary (`None` if it did not
/// report the parameter). `Err` says why the check could not run, in words safe to log.
async fn config_get(commands: &Commands, parameter: &str) -> Result<Vec<Option<String>>, String> {
    let mut cmd = ::redis::cmd("CONFIG");
    cmd.arg("GET").arg(parameter);
    let answers = tokio::time::timeout(COMMAND_TIMEOUT, commands.on_every_primary(&cmd))
        .await
        .map_err(|_| format!("Redis did not answer CONFIG GET within {COMMAND_TIMEOUT:?}"))?
        .map_err(|e| format!("CONFIG GET failed, perhaps disabled by the provider: {e}"))?;
    answers
        .into_iter()
        .map(|answer| parameter_value(answer, parameter))
        .collect()
}

/// The value of `parameter` in one `CONFIG GET` answer: a flat name/value array (RESP2) or a
/// map (RESP3).
fn parameter_value(answer: Value, parameter: &str) -> Result<Option<String>, String> {
    let pairs = HashMap::<String, String>::from_redis_value(answer)
        .map_err(|_| "CONFIG GET gave an answer of an unexpected shape".to_string())?;
    Ok(pairs.get(parameter).cloned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameter_values_are_read_from_both_protocols() {
        let name = || Value::BulkString(b"maxmemory-policy".to_vec());
        let value = || Value::BulkString(b"allkeys-lru".to_vec());
        let resp2 = Value::Array(vec![name(), value()]);
        let resp3 = Value::Map(vec![(name(), value())]);
        for answer in [resp2, resp3] {
            assert_eq!(
                parameter_value(answer, "maxmemory-policy").unwrap(),
                Some("allkeys-lru".to_string())
            );
        }
        assert_eq!(parameter_value(Value::Array(vec![]), "save").unwrap(), None);
    }
}
