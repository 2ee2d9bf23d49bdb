# One image, two binaries: /manager (the operator, the entrypoint) and
# /license-agent (the sidecar; run it with command: ["/license-agent"]).

# The builder runs on the build machine's platform and cross-compiles, so
# `docker buildx --platform linux/arm64` does not emulate the compiler.
FROM --platform=$BUILDPLATFORM golang:1.26 AS builder
ARG TARGETOS
ARG TARGETARCH

WORKDIR /workspace
# Modules first, in their own layer, so a source change does not download them again.
COPY go.mod go.sum ./
RUN go mod download

# Only the Go sources: a change to config/, docs/ or test/ does not rebuild.
COPY api/ api/
COPY cmd/ cmd/
COPY controllers/ controllers/
COPY internal/ internal/
COPY pkg/ pkg/

# Static binaries (no cgo) for distroless; GOARCH follows `docker buildx --platform`.
RUN CGO_ENABLED=0 GOOS=${TARGETOS:-linux} GOARCH=${TARGETARCH} \
    go build -trimpath -ldflags="-s -w" -o /out/manager ./cmd/manager
RUN CGO_ENABLED=0 GOOS=${TARGETOS:-linux} GOARCH=${TARGETARCH} \
    go build -trimpath -ldflags="-s -w" -o /out/license-agent ./cmd/license-agent

FROM gcr.io/distroless/static:nonroot
WORKDIR /
COPY --from=builder /out/manager /out/license-agent /
USER 65532:65532

ENTRYPOINT ["/manager"]
