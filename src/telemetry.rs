//! Logs and traces: `tracing` to stdout (text for people, JSON for log pipelines, `LOG_FORMAT`),
//! and OpenTelemetry spans over OTLP/HTTP when `OTEL_EXPORTER_OTLP_ENDPOINT` is set.
//!
//! Design: every line logged while serving a request carries the `http` span, and with it the
//! `request_id` that the response also returns in `x-request-id`. Spans cover the GraphQL
//! operation, each Hybris call, database work and outbox delivery; the exporter ships them in
//! batches on the Tokio runtime through the process' one HTTP stack (reqwest).

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::{
    Resource,
    trace::{SdkTracerProvider, span_processor_with_async_runtime::BatchSpanProcessor},
};
use tracing_subscriber::{EnvFilter, Layer, fmt, prelude::*};

/// How log lines are written (`LOG_FORMAT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// For people at a terminal.
    Text,
    /// One JSON object per line, for log pipelines.
    Json,
}

/// Keeps the trace exporter alive; dropping it flushes pending spans.
pub struct Telemetry {
    tracer_provider: Option<SdkTracerProvider>,
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        if let Some(provider) = self.tracer_provider.take()
            && let Err(error) = provider.shutdown()
        {
            eprintln!("flushing traces failed: {error}");
        }
    }
}

/// Installs the global subscriber. Must run inside the Tokio runtime when OTLP is on.
pub fn init(format: LogFormat) -> Telemetry {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,sea_orm=warn,hyper=warn"));
    let logs = match format {
        LogFormat::Json => fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(true)
            .boxed(),
        // Colours only for a person at a terminal; piped text goes to files and collectors.
        LogFormat::Text => fmt::layer()
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
            .boxed(),
    };
    let tracer_provider = otlp_tracer_provider();
    let traces = tracer_provider.as_ref().map(|provider| {
        tracing_opentelemetry::layer()
            .with_tracer(provider.tracer("login-api"))
            .with_filter(EnvFilter::new("info,login_api=debug"))
    });
    let _ = tracing_subscriber::registry()
        .with(logs.with_filter(filter))
        .with(traces)
        .try_init();
    if tracer_provider.is_some() {
        tracing::info!("exporting traces over OTLP/HTTP");
    }
    Telemetry { tracer_provider }
}

fn otlp_tracer_provider() -> Option<SdkTracerProvider> {
    std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT")
        .ok()
        .filter(|endpoint| !endpoint.trim().is_empty())?;
    // The exporter reads OTEL_EXPORTER_OTLP_ENDPOINT (and the _TRACES_ variants) itself.
    let exporter = match opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .build()
    {
        Ok(exporter) => exporter,
        Err(error) => {
            eprintln!("OTEL_EXPORTER_OTLP_ENDPOINT: cannot export traces: {error}");
            return None;
        }
    };
    let processor =
        BatchSpanProcessor::builder(exporter, opentelemetry_sdk::runtime::Tokio).build();
    Some(
        SdkTracerProvider::builder()
            .with_span_processor(processor)
            .with_resource(Resource::builder().with_service_name("login-api").build())
            .build(),
    )
}
