# clientops controller image.
#
#   docker build -t clientops:dev .
#
# Build stage: a release build of the one binary. Runtime stage: distroless "cc"
# (glibc and libgcc for the Rust binary, CA certificates; no shell, no package
# manager), as the non-root user 65532. The binary writes nothing to disk: the
# Deployment adds a read-only root filesystem, drops all capabilities and uses
# the RuntimeDefault seccomp profile.

FROM rust:1.89-bookworm AS build
WORKDIR /src
# Dependencies first, so a source change does not rebuild them.
COPY Cargo.toml Cargo.lock ./
RUN mkdir src && echo 'fn main() {}' > src/main.rs && echo '' > src/lib.rs \
    && cargo build --release --locked \
    && rm -rf src target/release/deps/clientops* target/release/.fingerprint/clientops-*
COPY src ./src
RUN cargo build --release --locked --bin clientops \
    && strip target/release/clientops

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/clientops /usr/local/bin/clientops
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/clientops"]
CMD ["run", "--leader-elect"]
