# syntax=docker/dockerfile:1
# Multi-stage build: a static, cgo-free binary (SQLite is pure Go) on a
# distroless base, running as a non-root user.
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 GOOS=linux go build -trimpath \
      -ldflags "-s -w -X github.com/jitaccess/jitaccess/app.Version=${VERSION}" \
      -o /out/jitaccess ./cmd/jitaccess

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/jitaccess /usr/local/bin/jitaccess
# The default 127.0.0.1 would be unreachable from outside the container.
ENV JITACCESS_LISTEN=0.0.0.0:8080
EXPOSE 8080
USER nonroot:nonroot
# A writable working directory, for sqlite:PATH databases.
WORKDIR /home/nonroot
ENTRYPOINT ["/usr/local/bin/jitaccess"]
CMD ["serve"]
