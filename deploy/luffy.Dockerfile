# The `luffy` image: one binary, every subcommand (origin, edge, judge, migrate, seed,
# ingest, paysim, ...). Build it from the repository root:
#
#   docker build -f deploy/luffy.Dockerfile -t luffy:dev .
#   docker run --rm luffy:dev --help
#
# deploy/luffy.Dockerfile.dockerignore keeps .data/ (the local stack's databases) and
# build output out of the context. The judge's *sandbox* image is another one: see
# deploy/judge.Dockerfile or `luffy judge image`.

FROM golang:1.26-bookworm AS build
WORKDIR /src
# Modules first, so that a source change reuses the download layer.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# No cgo anywhere in the module: a static binary that needs nothing from the runtime
# image but ca-certificates and ffmpeg.
RUN CGO_ENABLED=0 go build -trimpath -o /out/luffy ./cmd/luffy

FROM debian:bookworm-slim
# ffmpeg: `luffy ingest` and `luffy seed` transcode with it. ca-certificates: TLS to
# Postgres, S3 and payment gateways.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates ffmpeg \
 && rm -rf /var/lib/apt/lists/* /usr/share/doc /usr/share/man \
 && groupadd --system --gid 10001 luffy \
 && useradd --system --uid 10001 --gid luffy --home-dir /home/luffy --create-home --shell /usr/sbin/nologin luffy
COPY --from=build /out/luffy /usr/local/bin/luffy
# Numeric, so that Kubernetes' runAsNonRoot can verify it without resolving a name.
USER 10001:10001
WORKDIR /home/luffy
EXPOSE 8080 8081 8082 8083
ENTRYPOINT ["/usr/local/bin/luffy"]
CMD ["--help"]
