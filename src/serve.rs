//! `argus serve`: opens storage (series, logs, traces), binds every listener (HTTP, StatsD,
//! logstash, OTLP gRPC and HTTP), loads the rule files and starts their evaluation and the
//! notifier, prints the ready line, and shuts down in order on SIGTERM/SIGINT: stop
//! listening, flush StatsD, drain HTTP and OTLP, flush the span-derived series, stop rule
//! evaluation, then notification, close storage.

use std::future::IntoFuture;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus::{Encoder, Registry, TextEncoder};
use storage::{
    LogStore, LogStoreConfig, LogWriter, SeriesStore, SeriesStoreConfig, SeriesWriter, TraceStore,
    TraceStoreConfig,
};
use tokio::sync::watch;

use crate::config::Settings;
use crate::rule_files::RuleFiles;
use crate::telemetry::{HttpMetrics, access_log};

#[derive(Clone)]
struct Health {
    ready: Arc<AtomicBool>,
    registry: Registry,
}

pub(crate) async fn run(settings: Settings) -> anyhow::Result<()> {
    let registry = Registry::new();
    let build = prometheus::IntGaugeVec::new(
        prometheus::Opts::new("argus_build_info", "Argus build information."),
        &["version"],
    )?;
    build.with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1);
    registry.register(Box::new(build))?;

    let mut store_config = SeriesStoreConfig::new(&settings.data_dir);
    store_config.retention = settings.retention;
    store_config.out_of_order_window = settings.out_of_order_window;
    let store = {
        let registry = registry.clone();
        tokio::task::spawn_blocking(move || SeriesStore::open(store_config, &registry))
            .await?
            .with_context(|| {
                format!(
                    "opening the series store in {}",
                    settings.data_dir.display()
                )
            })?
    };
    let writer: Arc<dyn SeriesWriter> = store.clone();

    let mut log_config = LogStoreConfig::new(settings.data_dir.join("logs"));
    log_config.retention = settings.retention;
    let log_store = {
        let registry = registry.clone();
        tokio::task::spawn_blocking(move || LogStore::open(log_config, &registry))
            .await?
            .with_context(|| {
                format!(
                    "opening the log store in {}",
                    settings.data_dir.join("logs").display()
                )
            })?
    };
    let log_writer: Arc<dyn LogWriter> = log_store.clone();

    let mut trace_config = TraceStoreConfig::new(settings.data_dir.join("traces"));
    trace_config.retention = settings.retention;
    let trace_store = {
        let registry = registry.clone();
        tokio::task::spawn_blocking(move || TraceStore::open(trace_config, &registry))
            .await?
            .with_context(|| {
                format!(
                    "opening the trace store in {}",
                    settings.data_dir.join("traces").display()
                )
            })?
    };
    let ingest_metrics = ingest::IngestMetrics::new(&registry);

    let mapping = match &settings.statsd_mapping {
        Some(path) => Some(
            ingest::statsd::MappingConfig::load(path)
                .with_context(|| format!("statsd mapping {}", path.display()))?,
        ),
        None => None,
    };
    let statsd_config = ingest::statsd::StatsdConfig {
        flush_interval: settings.statsd_flush_interval,
        mapping,
        max_series: settings.statsd_max_series,
        ..ingest::statsd::StatsdConfig::default()
    };
    let statsd = ingest::statsd::StatsdServer::bind(
        settings.statsd,
        statsd_config,
        writer.clone(),
        ingest_metrics.clone(),
    )
    .await
    .with_context(|| format!("binding StatsD on {}", settings.statsd))?;
    let statsd_addr = statsd.local_addr();

    let log_ingest = ingest::logs::LogIngestConfig::default();
    let logstash = ingest::logs::LogstashServer::bind(
        settings.logstash,
        ingest::logs::LogstashConfig {
            ingest: log_ingest.clone(),
            ..ingest::logs::LogstashConfig::default()
        },
        log_writer.clone(),
        ingest_metrics.clone(),
    )
    .await
    .with_context(|| format!("binding logstash json_lines on {}", settings.logstash))?;
    let logstash_addr = logstash.local_addr();

    let listener = tokio::net::TcpListener::bind(settings.http)
        .await
        .with_context(|| format!("binding HTTP on {}", settings.http))?;
    let http_addr = listener.local_addr()?;

    let health = Health {
        ready: Arc::new(AtomicBool::new(false)),
        registry: registry.clone(),
    };
    let admission = ingest::WriteAdmission::new(
        std::thread::available_parallelism().map_or(4, |n| n.get() * 4),
        std::time::Duration::from_secs(5),
        &ingest_metrics,
    );

    let deriver = ingest::derive::SpanDeriver::new(
        ingest::derive::DeriveConfig {
            flush_interval: settings.span_metrics_interval,
            ..ingest::derive::DeriveConfig::default()
        },
        &ingest_metrics,
    );
    let otlp = ingest::otlp::OtlpIngest::new(
        ingest::otlp::OtlpWriters {
            traces: trace_store.clone(),
            logs: log_writer.clone(),
            series: writer.clone(),
        },
        Some(deriver.clone()),
        ingest_metrics.clone(),
        admission.clone(),
        ingest::otlp::OtlpConfig::default(),
    );
    let http_metrics = HttpMetrics::new(&registry)?;
    let grpc_metrics = http_metrics.clone();
    let otlp_grpc = ingest::otlp::OtlpGrpcServer::bind(settings.otlp_grpc, &otlp)
        .await
        .with_context(|| format!("binding OTLP gRPC on {}", settings.otlp_grpc))?
        // gRPC requests are HTTP/2 requests: logged and counted like every other.
        .map_routes(|routes| {
            routes
                .into_axum_router()
                .layer(axum::middleware::from_fn_with_state(
                    grpc_metrics,
                    access_log,
                ))
                .into()
        });
    let otlp_grpc_addr = otlp_grpc.local_addr();
    let otlp_http_listener = tokio::net::TcpListener::bind(settings.otlp_http)
        .await
        .with_context(|| format!("binding OTLP HTTP on {}", settings.otlp_http))?;
    let otlp_http_addr = otlp_http_listener.local_addr()?;
    let otlp_http_app = otlp
        .http_router()
        .layer(axum::middleware::from_fn_with_state(
            http_metrics.clone(),
            access_log,
        ));
    let (notifier, rule_manager, rule_files) =
        start_alerting(&settings, &registry, &store, &writer, &log_store).await?;
    // One config: each builds and registers the query metrics.
    let query_settings = query_config(&settings, &registry);
    let app = Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(health.clone())
        .merge(ingest::prom::router(
            writer.clone(),
            ingest_metrics.clone(),
            admission.clone(),
            ingest::prom::PromIngestConfig::default(),
        ))
        .merge(ingest::logs::router(
            log_writer.clone(),
            ingest_metrics.clone(),
            admission,
            log_ingest,
        ))
        .merge(query::logs_router(log_store.clone()))
        .merge(query::jaeger_router(
            trace_store.clone(),
            store.clone(),
            &query_settings,
        ))
        .merge(query::router(store.clone(), query_settings))
        .merge(alerting::rules_router(rule_manager.clone()))
        .merge(alerting::silences_router(notifier.clone()))
        .merge(rule_files.router())
        // Last: its fallback serves the app for every path the routers above do not own.
        .merge(ui::router(ui::UiConfig {
            dashboards_dir: settings.dashboards.clone(),
        }))
        .layer(axum::middleware::from_fn_with_state(
            http_metrics,
            access_log,
        ));

    let (stop_tx, stop_rx) = watch::channel(false);
    let stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let statsd_task = tokio::spawn(statsd.run(stopped(stop_rx.clone())));
    let logstash_task = tokio::spawn(logstash.run(stopped(stop_rx.clone())));
    let otlp_grpc_task = tokio::spawn(otlp_grpc.run(stopped(stop_rx.clone())));
    let otlp_http_task = tokio::spawn(
        axum::serve(
            otlp_http_listener,
            otlp_http_app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(stopped(stop_rx.clone()))
        .into_future(),
    );
    // Stopped only after the OTLP servers, so the spans of their last requests are in its
    // final flush.
    let (derive_stop_tx, derive_stop_rx) = watch::channel(false);
    let derive_task = tokio::spawn(deriver.run(writer.clone(), stopped(derive_stop_rx)));
    // Rule evaluation writes to the series store and feeds the notifier: it stops after
    // ingest and before both.
    let (alerting_stop_tx, alerting_stop_rx) = watch::channel(false);
    let (notify_stop_tx, notify_stop_rx) = watch::channel(false);
    let rules_watch_task = tokio::spawn(rule_files.watch(stopped(stop_rx.clone())));
    let eval_task = tokio::spawn(rule_manager.run(stopped(alerting_stop_rx)));
    let notify_task = tokio::spawn(notifier.run(stopped(notify_stop_rx)));
    let http_task = tokio::spawn(
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(stopped(stop_rx.clone()))
        .into_future(),
    );

    health.ready.store(true, Ordering::SeqCst);
    println!(
        "{}",
        serde_json::json!({
            "http": http_addr.to_string(),
            "statsd": statsd_addr.to_string(),
            "logstash": logstash_addr.to_string(),
            "otlp_grpc": otlp_grpc_addr.to_string(),
            "otlp_http": otlp_http_addr.to_string(),
        })
    );
    tracing::info!(http = %http_addr, statsd = %statsd_addr, logstash = %logstash_addr, otlp_grpc = %otlp_grpc_addr, otlp_http = %otlp_http_addr, data_dir = %settings.data_dir.display(), "argus is ready");

    wait_for_signal().await;
    tracing::info!("shutting down");
    health.ready.store(false, Ordering::SeqCst);
    let _ = stop_tx.send(true);
    let shutdown = async {
        match statsd_task.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "statsd flush at shutdown failed"),
            Err(e) => tracing::error!(error = %e, "statsd task failed"),
        }
        match logstash_task.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "logstash listener failed at shutdown"),
            Err(e) => tracing::error!(error = %e, "logstash task failed"),
        }
        match otlp_grpc_task.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "OTLP gRPC server failed at shutdown"),
            Err(e) => tracing::error!(error = %e, "OTLP gRPC task failed"),
        }
        for (name, task) in [("http", http_task), ("OTLP http", otlp_http_task)] {
            match task.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::error!(error = %e, "{name} server failed at shutdown"),
                Err(e) => tracing::error!(error = %e, "{name} server task failed"),
            }
        }
        let _ = derive_stop_tx.send(true);
        match derive_task.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::error!(error = %e, "span-derived series flush at shutdown failed")
            }
            Err(e) => tracing::error!(error = %e, "span deriver task failed"),
        }
        let _ = alerting_stop_tx.send(true);
        for (name, task) in [
            ("rule file watcher", rules_watch_task),
            ("rule evaluation", eval_task),
        ] {
            if let Err(e) = task.await {
                tracing::error!(error = %e, "{name} task failed");
            }
        }
        let _ = notify_stop_tx.send(true);
        if let Err(e) = notify_task.await {
            tracing::error!(error = %e, "notifier task failed");
        }
        let store = store.clone();
        let log_store = log_store.clone();
        let trace_store = trace_store.clone();
        tokio::task::spawn_blocking(move || {
            let logs = log_store.close();
            let traces = trace_store.close();
            store.close()?;
            logs?;
            traces
        })
        .await
    };
    match tokio::time::timeout(settings.shutdown_timeout, shutdown).await {
        Ok(Ok(Ok(()))) => {
            tracing::info!("shutdown complete");
            Ok(())
        }
        Ok(Ok(Err(e))) => Err(e).context("closing storage"),
        Ok(Err(e)) => Err(e).context("closing storage"),
        Err(_) => anyhow::bail!(
            "shutdown took longer than {:?}; acknowledged data is safe in the write-ahead log",
            settings.shutdown_timeout
        ),
    }
}

/// The notifier (receivers, routes, silences, durable delivery), the rule manager (evaluation,
/// alert state) and the rule files loaded into it. Broken rule files at start-up are
/// reported and leave the server running without them, as a broken reload would.
async fn start_alerting(
    settings: &Settings,
    registry: &Registry,
    store: &Arc<SeriesStore>,
    writer: &Arc<dyn SeriesWriter>,
    log_store: &Arc<LogStore>,
) -> anyhow::Result<(
    Arc<alerting::Notifier>,
    Arc<alerting::RuleManager>,
    Arc<RuleFiles>,
)> {
    let dir = settings.data_dir.join("alerting");
    let notifier = alerting::Notifier::open(
        settings.notify.clone(),
        &dir.join("notify"),
        &settings.external_url,
        registry,
    )
    .with_context(|| format!("opening the notifier in {}", dir.join("notify").display()))?;
    let eval_config = alerting::EvalConfig {
        data_dir: dir.join("eval"),
        default_interval: std::time::Duration::from_secs(60),
        default_query_offset: std::time::Duration::ZERO,
        external_url: settings.external_url.clone(),
        external_labels: alerting::LabelSet::new(),
        engine: query::promql::EngineConfig {
            lookback_delta: settings.lookback_delta,
            timeout: settings.query_timeout,
            max_samples: settings.max_samples,
            max_series: settings.query_max_series,
        },
        history_retention: std::time::Duration::from_secs(30 * 86_400),
    };
    let logs: Arc<dyn alerting::LogCounter> = log_store.clone();
    let manager = alerting::RuleManager::open(
        eval_config,
        alerting::EvalDeps {
            source: store.clone(),
            writer: writer.clone(),
            logs: Some(logs),
            sink: notifier.clone(),
            registry,
        },
    )
    .with_context(|| {
        format!(
            "opening rule evaluation state in {}",
            dir.join("eval").display()
        )
    })?;
    let rule_files = RuleFiles::new(
        settings.rules_dir.clone(),
        settings.config_file.clone(),
        manager.clone(),
        notifier.clone(),
        registry,
    );
    if let Err(errors) = rule_files.reload(false).await {
        tracing::error!(
            errors = errors.len(),
            "starting without the rule files of {}; fix them and reload (SIGHUP or POST /-/reload)",
            settings.rules_dir.display()
        );
    }
    Ok((notifier, manager, rule_files))
}

/// The query crate's settings, with its metrics (`argus_query_*`) in the server's registry.
fn query_config(settings: &Settings, registry: &Registry) -> query::QueryConfig {
    query::QueryConfig {
        max_series: settings.query_max_series,
        lookback_delta: settings.lookback_delta,
        query_timeout: settings.query_timeout,
        max_samples: settings.max_samples,
        max_concurrent_queries: settings.max_concurrent_queries,
        storage_retention: settings.retention,
        metrics: query::QueryMetrics::new(registry),
    }
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(e) => {
                    tracing::error!(error = %e, "cannot listen for SIGTERM");
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

async fn readyz(State(h): State<Health>) -> impl IntoResponse {
    if h.ready.load(Ordering::SeqCst) {
        (StatusCode::OK, "ready\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready\n")
    }
}

async fn metrics(State(h): State<Health>) -> impl IntoResponse {
    let mut buf = Vec::new();
    if let Err(e) = TextEncoder::new().encode(&h.registry.gather(), &mut buf) {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            [(header::CONTENT_TYPE, "text/plain")],
            e.to_string().into_bytes(),
        );
    }
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        buf,
    )
}
