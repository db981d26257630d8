# Multi-stage build: compile with the Rust toolchain, run on a small Debian image as non-root.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin login-api

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /app login-api \
    && mkdir -p /app/data && chown login-api /app/data
COPY --from=build /src/target/release/login-api /usr/local/bin/login-api
WORKDIR /app
USER login-api
ENV LISTEN_ADDR=0.0.0.0:8080
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s CMD ["/usr/local/bin/login-api", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/login-api"]
CMD ["serve"]
