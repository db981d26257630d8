//! `login-api audit …` and `login-api user …`: the members' records, for investigations and
//! for access and erasure requests.

use std::io::Write;

use anyhow::Context;
use chrono::{DateTime, Utc};
use clap::Subcommand;

use crate::auth::records::MemberRef;
use crate::config::Settings;
use crate::domain::audit::{AuditEvent, truncated_network};
use crate::domain::{Email, UserId};
use crate::startup;

#[derive(Subcommand)]
pub enum AuditCommand {
    /// Print a member's security events (or everyone's), newest first.
    List {
        /// The member's user id.
        #[arg(long, conflicts_with = "email")]
        user: Option<String>,
        /// The member's email; also finds failed sign-ins for an email we hold no member for.
        #[arg(long, conflicts_with = "customer_id")]
        email: Option<String>,
        /// The Hybris customer id; also finds a deleted member's pseudonymised events.
        #[arg(long, conflicts_with = "user")]
        customer_id: Option<String>,
        /// How far back: `7d`, `12h`, `30m`, or an RFC 3339 time.
        #[arg(long, default_value = "7d")]
        since: String,
        #[arg(long, default_value_t = 100)]
        limit: u64,
    },
    /// Write every event since `--since` to stdout as NDJSON, newest first.
    Export {
        #[arg(long, default_value = "90d")]
        since: String,
    },
}

#[derive(Subcommand)]
pub enum UserCommand {
    /// Delete a member here, as `deleteAccount` does (the shop account stays).
    Delete {
        #[arg(long, conflicts_with = "email", required_unless_present = "email")]
        id: Option<String>,
        #[arg(long)]
        email: Option<String>,
    },
    /// Print everything held about a member, as JSON (for an access request).
    Export {
        #[arg(long, conflicts_with = "email", required_unless_present = "email")]
        id: Option<String>,
        #[arg(long)]
        email: Option<String>,
    },
}

pub async fn audit(command: AuditCommand) -> anyhow::Result<()> {
    let admin = startup::admin(&Settings::from_env()?, false).await?;
    match command {
        AuditCommand::List {
            user,
            email,
            customer_id,
            since,
            limit,
        } => {
            let member = match customer_id {
                Some(id) => Some(MemberRef::CustomerId(id)),
                None => member_ref(user, email)?,
            };
            let since = parse_since(&since, Utc::now())?;
            let events = admin
                .audit_events(member.as_ref(), Some(since), None, limit.clamp(1, 10_000))
                .await?;
            println!(
                "{:<24} {:<24} {:>6} {:<8} {:<26} {:<10} {:<20} user",
                "time", "type", "count", "outcome", "reason", "method", "network"
            );
            for e in &events {
                println!(
                    "{:<24} {:<24} {:>6} {:<8} {:<26} {:<10} {:<20} {}",
                    e.at.format("%Y-%m-%d %H:%M:%S"),
                    e.kind.as_str(),
                    e.count,
                    e.outcome.as_str(),
                    e.reason.as_deref().unwrap_or("-"),
                    e.method.map(|m| m.as_str()).unwrap_or("-"),
                    e.client_ip
                        .map(truncated_network)
                        .unwrap_or_else(|| "-".into()),
                    e.user_id
                        .map(|id| id.to_string())
                        .or_else(|| e
                            .subject_hash
                            .as_ref()
                            .map(|h| format!("hash:{}", &h[..16.min(h.len())])))
                        .unwrap_or_else(|| "-".into()),
                );
            }
            eprintln!("{}", plural(events.len() as u64, "event"));
        }
        AuditCommand::Export { since } => {
            let since = parse_since(&since, Utc::now())?;
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            let mut before = None;
            let mut written = 0u64;
            loop {
                let page = admin.audit_events(None, Some(since), before, 1000).await?;
                for event in &page {
                    serde_json::to_writer(&mut out, &json_line(event))?;
                    out.write_all(b"\n")?;
                }
                written += page.len() as u64;
                match page.last() {
                    Some(last) if page.len() == 1000 => before = Some(last.id),
                    _ => break,
                }
            }
            out.flush()?;
            eprintln!("{} exported", plural(written, "event"));
        }
    }
    Ok(())
}

pub async fn user(command: UserCommand) -> anyhow::Result<()> {
    let admin = startup::admin(&Settings::from_env()?, false).await?;
    match command {
        UserCommand::Delete { id, email } => {
            let member = member_ref(id, email)?.context("give --id or --email")?;
            match admin.delete_user(&member).await? {
                Some(deleted) => println!(
                    "deleted user {}: {} outbox rows dropped, {} audit rows pseudonymised; tombstone kept until {}",
                    deleted.tombstone.user_id,
                    deleted.dropped_outbox_rows,
                    deleted.pseudonymised_audit_rows,
                    deleted.tombstone.purge_at.to_rfc3339()
                ),
                None => anyhow::bail!("no such member"),
            }
        }
        UserCommand::Export { id, email } => {
            let member = member_ref(id, email)?.context("give --id or --email")?;
            match admin.export_user(&member).await? {
                Some(mut records) => {
                    // The security events as `audit export` writes them.
                    let events = admin
                        .audit_events(Some(&member), None, None, 100_000)
                        .await?;
                    records["securityEvents"] = events.iter().map(json_line).collect();
                    println!("{}", serde_json::to_string_pretty(&records)?)
                }
                None => anyhow::bail!("no such member"),
            }
        }
    }
    Ok(())
}

fn member_ref(id: Option<String>, email: Option<String>) -> anyhow::Result<Option<MemberRef>> {
    Ok(match (id, email) {
        (Some(id), _) => Some(MemberRef::Id(id.trim().parse::<UserId>().map_err(
            |_| anyhow::anyhow!("--id/--user {id:?} is not a user id (a UUID)"),
        )?)),
        (None, Some(email)) => Some(MemberRef::Email(
            Email::parse(&email).map_err(|e| anyhow::anyhow!("--email: {e}"))?,
        )),
        (None, None) => None,
    })
}

fn plural(n: u64, noun: &str) -> String {
    format!("{n} {noun}{}", if n == 1 { "" } else { "s" })
}

/// `7d`, `12h`, `30m` before `now`, or an RFC 3339 time.
fn parse_since(raw: &str, now: DateTime<Utc>) -> anyhow::Result<DateTime<Utc>> {
    let raw = raw.trim();
    if let Ok(at) = DateTime::parse_from_rfc3339(raw) {
        return Ok(at.with_timezone(&Utc));
    }
    let invalid = || anyhow::anyhow!("--since {raw:?}: use 7d, 12h, 30m or an RFC 3339 time");
    let (number, unit) = raw.split_at(raw.len().saturating_sub(1));
    let n: i64 = number.parse().map_err(|_| invalid())?;
    let span = match unit {
        "d" => chrono::Duration::try_days(n),
        "h" => chrono::Duration::try_hours(n),
        "m" => chrono::Duration::try_minutes(n),
        _ => None,
    }
    .filter(|_| n >= 0)
    .ok_or_else(invalid)?;
    Ok(now - span)
}

/// One exported event: every stored field, the address as stored.
fn json_line(e: &AuditEvent) -> serde_json::Value {
    serde_json::json!({
        "id": e.id.to_string(),
        "occurredAt": e.at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "type": e.kind.as_str(),
        "outcome": e.outcome.as_str(),
        "reason": e.reason,
        "method": e.method.map(|m| m.as_str()),
        "userId": e.user_id.map(|id| id.to_string()),
        "sessionId": e.session_id.map(|id| id.to_string()),
        "deviceHash": e.device_hash,
        "clientIp": e.client_ip.map(|ip| ip.to_string()),
        "requestId": e.request_id,
        "subjectHash": e.subject_hash,
        "details": e.details,
        "count": e.count,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_spans_and_times() {
        let now = DateTime::parse_from_rfc3339("2026-11-30T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            parse_since("7d", now).unwrap(),
            now - chrono::Duration::days(7)
        );
        assert_eq!(
            parse_since("12h", now).unwrap(),
            now - chrono::Duration::hours(12)
        );
        assert_eq!(
            parse_since("2026-11-01T00:00:00Z", now)
                .unwrap()
                .to_rfc3339(),
            "2026-11-01T00:00:00+00:00"
        );
        for bad in ["", "d", "7w", "-1d", "1e9999d", "99999999999999d"] {
            assert!(parse_since(bad, now).is_err(), "{bad}");
        }
    }
}
