# Multi-stage build: compile with the Rust toolchain (and npm, for the GraphiQL assets that
# build.rs embeds), run on a small Debian image as a non-root user.
# Docker does not run on the project's development machines: keep this right by reading.
FROM rust:1.95-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends nodejs npm && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# Relative relocations packed (DT_RELR): the loader reads 27 KB instead of 1.8 MB of `.rela.dyn`
# at start, 2 MiB less idle RSS (BENCHMARKS.md). Needs glibc >= 2.36 where the binary runs:
# bookworm, as below; not the default of `cargo build`, which must run on older developer hosts.
ENV RUSTFLAGS="-C link-arg=-Wl,-z,pack-relative-relocs"
# Start-up functions laid out together (build.rs, build/startup-symbols.txt): less idle RSS.
ENV LINK_STARTUP_ORDER=1
RUN cargo build --release --locked --bin login-api

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /app login-api \
    && mkdir -p /app/data && chown login-api /app/data
COPY --from=build /src/target/release/login-api /usr/local/bin/login-api
WORKDIR /app
USER login-api
ENV LISTEN_ADDR=0.0.0.0:8080 LOG_FORMAT=json
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s CMD ["/usr/local/bin/login-api", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/login-api"]
CMD ["serve"]
