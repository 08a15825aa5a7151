//! Deterministic logstash V1 events shaped like Python `logging` + `logstash_formatter` output
//! (`@timestamp`, `@version`, `message`, `levelname`, `source_host`, `name`, `funcName`,
//! `lineno`, a random request `uuid`, a few extra fields and a nested object), about 400 bytes
//! each. Event `i` is a pure function of the seed and `i`, so any slice of a run can be
//! generated on its own, and the generator knows exactly which events a benchmark query must
//! find.

use std::fmt::Write as _;
use std::time::{Duration, UNIX_EPOCH};

use crate::workload::Rng;

/// Loggers (`name`), which ingest takes as the service.
pub(crate) const SERVICES: [&str; 20] = [
    "checkout",
    "payments",
    "cart",
    "catalog",
    "search",
    "auth",
    "users",
    "orders",
    "inventory",
    "shipping",
    "notifications",
    "recommendations",
    "billing",
    "gateway",
    "reviews",
    "media",
    "pricing",
    "fraud",
    "email",
    "analytics",
];

/// The service of the `level:ERROR AND service:…` query.
pub(crate) const QUERY_SERVICE: usize = 1;
/// A word that only the rare template uses, in 1 line of 1,000.
pub(crate) const RARE_TERM: &str = "breaker";
/// A phrase only one template produces (a request answered 503, about 0.4 % of lines).
pub(crate) const PHRASE: &str = "completed with status 503";

const HOSTS: usize = 24;
const BACKENDS: [&str; 8] = [
    "postgres-main",
    "postgres-replica",
    "redis-cache",
    "kafka",
    "elasticsearch",
    "s3",
    "stripe-api",
    "smtp-relay",
];
const RESOURCES: [&str; 10] = [
    "orders",
    "users",
    "carts",
    "products",
    "invoices",
    "sessions",
    "payments",
    "reviews",
    "shipments",
    "coupons",
];
const CLIENTS: [&str; 6] = [
    "ios-app",
    "android-app",
    "web-frontend",
    "partner-api",
    "admin-console",
    "batch-importer",
];
const TABLES: [&str; 6] = [
    "orders",
    "order_items",
    "users",
    "inventory_levels",
    "payments",
    "audit_log",
];
const CURRENCIES: [&str; 4] = ["EUR", "USD", "GBP", "CHF"];
const REGIONS: [&str; 3] = ["eu-west-1", "eu-central-1", "us-east-1"];
const KEYS: [&str; 5] = ["user_id", "order_id", "sku", "currency", "address"];

/// Normalised level, as ingest stores it (`WARNING` becomes `WARN`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Level {
    Info,
    Warn,
    Error,
}

/// One generated event and what the benchmark queries need to know about it.
#[derive(Debug, Clone)]
pub(crate) struct LogEvent {
    /// The event as one line of compact JSON, without the newline.
    pub(crate) json: String,
    pub(crate) time_ms: i64,
    pub(crate) level: Level,
    pub(crate) service: usize,
    /// The message contains [`RARE_TERM`].
    pub(crate) rare: bool,
    /// The message contains [`PHRASE`].
    pub(crate) phrase: bool,
}

/// Events `0..n` spread evenly over `[start_ms, start_ms + span_ms)`, in time order.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LogGen {
    pub(crate) seed: u64,
    pub(crate) n: u64,
    pub(crate) start_ms: i64,
    pub(crate) span_ms: i64,
}

impl LogGen {
    pub(crate) fn time_ms(&self, i: u64) -> i64 {
        self.start_ms + ((i as f64 / self.n.max(1) as f64) * self.span_ms as f64) as i64
    }

    /// The last event's time (the end of the data).
    pub(crate) fn end_ms(&self) -> i64 {
        self.time_ms(self.n.saturating_sub(1))
    }

    pub(crate) fn all(&self) -> Vec<LogEvent> {
        (0..self.n).map(|i| self.event(i)).collect()
    }

    pub(crate) fn event(&self, i: u64) -> LogEvent {
        let mut r = Rng::new(self.seed ^ i.wrapping_mul(0xA24B_AED4_963E_E407));
        let time_ms = self.time_ms(i);
        // Service popularity falls off with its rank (gateway-ish services log the most).
        let service = {
            let u = r.f64();
            ((u * u) * SERVICES.len() as f64) as usize % SERVICES.len()
        };
        let svc = SERVICES[service];
        let host = (service * 3 + r.below(4) as usize) % HOSTS;
        let id = 10_000 + r.below(990_000);
        let ms = (r.log_uniform(0.5, 3000.0) * 10.0).round() / 10.0;
        let resource = RESOURCES[r.below(RESOURCES.len() as u64) as usize];
        let backend = BACKENDS[r.below(BACKENDS.len() as u64) as usize];
        let mut http: Option<(&str, String, u32)> = None;
        let mut rare = false;
        let mut phrase = false;
        let pick = r.below(1000);
        let (level, func, message) = if pick == 0 {
            rare = true;
            (
                Level::Info,
                "probe_backend",
                format!(
                    "circuit {RARE_TERM} for {backend} closed after {} successful probes",
                    1 + r.below(9)
                ),
            )
        } else if pick < 880 {
            match r.below(100) {
                0..40 => {
                    let method =
                        ["GET", "GET", "GET", "POST", "PUT", "DELETE"][r.below(6) as usize];
                    let status = match r.below(1000) {
                        0..800 => 200,
                        800..860 => 201,
                        860..900 => 204,
                        900..920 => 302,
                        920..970 => 404,
                        970..980 => 500,
                        980..990 => 503,
                        _ => 400,
                    };
                    phrase = status == 503;
                    let path = format!("/api/v1/{resource}/{id}");
                    let m = format!("{method} {path} completed with status {status} in {ms} ms");
                    http = Some((method, path, status));
                    (Level::Info, "handle_request", m)
                }
                40..50 => (
                    Level::Info,
                    "login",
                    format!(
                        "user {id} logged in from 10.{}.{}.{} using {}",
                        r.below(8),
                        r.below(256),
                        1 + r.below(254),
                        CLIENTS[r.below(CLIENTS.len() as u64) as usize]
                    ),
                ),
                50..62 => (
                    Level::Info,
                    "get_cached",
                    format!("cache miss for key {resource}:{id}, loading from {backend}"),
                ),
                62..74 => (
                    Level::Info,
                    "process_batch",
                    format!(
                        "processed batch of {} {resource} in {ms} ms",
                        1 + r.below(500)
                    ),
                ),
                74..86 => (
                    Level::Info,
                    "enqueue",
                    format!(
                        "enqueued job {}-{} for {resource} {id} with priority {}",
                        svc,
                        r.below(100_000),
                        r.below(10)
                    ),
                ),
                86..93 => (
                    Level::Info,
                    "authorize",
                    format!(
                        "payment {id} authorized for {}.{:02} {}",
                        1 + r.below(2000),
                        r.below(100),
                        CURRENCIES[r.below(4) as usize]
                    ),
                ),
                _ => (
                    Level::Info,
                    "run_scheduled",
                    format!(
                        "scheduled task sync_{resource} finished, next run in {} s",
                        30 * (1 + r.below(20))
                    ),
                ),
            }
        } else if pick < 970 {
            match r.below(3) {
                0 => (
                    Level::Warn,
                    "execute",
                    format!(
                        "slow query on table {} took {ms} ms (threshold 500 ms)",
                        TABLES[r.below(TABLES.len() as u64) as usize]
                    ),
                ),
                1 => (
                    Level::Warn,
                    "call_backend",
                    format!(
                        "retrying request to {backend} after {ms} ms (attempt {} of 5)",
                        1 + r.below(4)
                    ),
                ),
                _ => (
                    Level::Warn,
                    "check_quota",
                    format!(
                        "rate limit at {}% for client {}",
                        80 + r.below(20),
                        CLIENTS[r.below(CLIENTS.len() as u64) as usize]
                    ),
                ),
            }
        } else {
            match r.below(3) {
                0 => (
                    Level::Error,
                    "process_order",
                    format!("failed to process order {id}: connection reset by peer"),
                ),
                1 => (
                    Level::Error,
                    "call_backend",
                    format!("timeout after {ms} ms waiting for {backend}"),
                ),
                _ => (
                    Level::Error,
                    "handle_event",
                    format!(
                        "unhandled exception in handle_event: KeyError '{}'",
                        KEYS[r.below(KEYS.len() as u64) as usize]
                    ),
                ),
            }
        };
        let levelname = match level {
            Level::Info => "INFO",
            Level::Warn => "WARNING",
            Level::Error => "ERROR",
        };
        // A function sits on a fixed line of its service's module.
        let lineno = 20 + (service * 131 + func.len() * 37) % 880;
        let ts = humantime::format_rfc3339_millis(
            UNIX_EPOCH + Duration::from_millis(time_ms.max(0) as u64),
        );
        let (a, b) = (r.next_u64(), r.next_u64());
        let mut json = String::with_capacity(480);
        let _ = write!(
            json,
            "{{\"@timestamp\":\"{ts}\",\"@version\":\"1\",\"message\":\"{message}\",\
             \"levelname\":\"{levelname}\",\"source_host\":\"node-{host:02}.prod.internal\",\
             \"name\":\"{svc}\",\"funcName\":\"{func}\",\"lineno\":{lineno},\
             \"process\":{},\"threadName\":\"ThreadPoolExecutor-0_{}\",\
             \"uuid\":\"{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}\"",
            1000 + host * 37 + service,
            r.below(8),
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            0x8000 | ((b >> 48) & 0x3fff),
            b & 0xffff_ffff_ffff,
        );
        match http {
            Some((method, path, status)) => {
                let _ = write!(
                    json,
                    ",\"http\":{{\"method\":\"{method}\",\"path\":\"{path}\",\"status\":{status},\"duration_ms\":{ms}}}"
                );
            }
            None => {
                let _ = write!(
                    json,
                    ",\"ctx\":{{\"env\":\"prod\",\"region\":\"{}\",\"user_id\":{}}}",
                    REGIONS[host % REGIONS.len()],
                    r.below(1_000_000)
                );
            }
        }
        json.push('}');
        LogEvent {
            json,
            time_ms,
            level,
            service,
            rare,
            phrase,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(n: u64) -> (LogGen, Vec<LogEvent>) {
        let g = LogGen {
            seed: 3,
            n,
            start_ms: 1_700_000_000_000,
            span_ms: 3_600_000,
        };
        (g, g.all())
    }

    #[test]
    fn events_are_json_of_about_400_bytes_in_time_order() {
        let (g, events) = sample(20_000);
        let mut bytes = 0usize;
        let mut last = i64::MIN;
        for e in &events {
            let v: serde_json::Value = serde_json::from_str(&e.json).expect("valid JSON");
            assert_eq!(v["@version"], "1");
            assert!(v["uuid"].as_str().is_some_and(|u| u.len() == 36));
            assert!(v["http"].is_object() || v["ctx"].is_object());
            assert_eq!(v["name"], SERVICES[e.service]);
            assert!(e.time_ms >= last);
            last = e.time_ms;
            bytes += e.json.len();
        }
        let avg = bytes as f64 / events.len() as f64;
        assert!((340.0..460.0).contains(&avg), "average {avg} bytes");
        assert_eq!(g.event(123).json, events[123].json, "deterministic");
    }

    #[test]
    fn query_targets_have_the_intended_frequencies() {
        let (_, events) = sample(200_000);
        let n = events.len() as f64;
        let rare = events.iter().filter(|e| e.rare).count() as f64 / n;
        assert!((0.0007..0.0013).contains(&rare), "rare {rare}");
        assert!(events.iter().all(|e| e.rare == e.json.contains(RARE_TERM)));
        assert!(events.iter().all(|e| e.phrase == e.json.contains(PHRASE)));
        let errors = events
            .iter()
            .filter(|e| e.level == Level::Error && e.service == QUERY_SERVICE)
            .count();
        assert!(errors > 100, "{errors}");
        let warn = events.iter().filter(|e| e.level == Level::Warn).count() as f64 / n;
        assert!((0.07..0.11).contains(&warn), "warn {warn}");
    }
}
