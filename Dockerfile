# Multi-stage build: a static (musl) kurento_exporter in a distroless image, running as non-root.
FROM rust:1.95-alpine AS build
RUN apk add --no-cache musl-dev
WORKDIR /src
COPY . .
ARG KURENTO_EXPORTER_REVISION=unknown
ENV KURENTO_EXPORTER_REVISION=${KURENTO_EXPORTER_REVISION}
RUN cargo build --release --locked --bin kurento_exporter \
 && strip target/release/kurento_exporter \
 && ! ldd target/release/kurento_exporter 2>/dev/null | grep -q '=>'

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /src/target/release/kurento_exporter /usr/local/bin/kurento_exporter
USER 65532:65532
EXPOSE 9888
ENTRYPOINT ["/usr/local/bin/kurento_exporter"]
CMD ["--web.listen-address=:9888"]
