# moscow-time: nginx on :8080 in front of the FastCGI responder, one image.
#
#   make image          (scripts/image.sh build: docker or podman, offline base)
#   docker run --read-only --tmpfs /tmp --tmpfs /run -v moscow-time-data:/data \
#       -p 8080:8080 moscow-time:1.0.0
#
# The default command runs both processes (moscow-time-serve); the Helm chart
# runs `moscow-time --config FILE` and `moscow-time-nginx /run/moscow-time` as
# two containers of this image instead. tests/image/run.sh checks all of it.
ARG BASE=debian:bookworm-slim

# Build stage: the responder with the flags of the Makefile, and the unit tests.
FROM ${BASE} AS build
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        gcc libc6-dev make libfcgi-dev libiniparser-dev libcurl4-openssl-dev libcmocka-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# .dockerignore lets through only the sources, the unit tests and the run files.
COPY . .
# The commit goes into moscow_time_build_info (there is no .git in the build context).
ARG REVISION=unknown
RUN make build COMMIT="${REVISION}"
# The unit tests (cmocka, under ASan/UBSan) must pass for the image to build.
RUN make build/unit-tests \
    && CMOCKA_MESSAGE_OUTPUT=TAP EXAMPLE_CONFIG=fcgi-app/config.ini build/unit-tests

# Runtime stage: nginx, the shared libraries (libfcgi, iniparser, libcurl), tzdata; no compiler.
FROM ${BASE}
# uid 10001 and group 0 own only what must be written: the counter's volume
# and the socket and nginx folders (emptyDirs or tmpfs at run time), mode
# 0775: OpenShift runs a container with an arbitrary uid in group 0, which
# may then write them too (tests/image runs the image so). /run is
# world-writable and sticky like /tmp: `docker run --tmpfs /run` mounts an
# empty tmpfs that keeps the folder's mode but not its contents or owner, and
# moscow-time-serve must create /run/moscow-time in it. No set-uid or set-gid
# programs remain: nothing here needs to gain privileges.
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        nginx-light libfcgi0ldbl libiniparser1 libcurl4 tzdata \
    && rm -rf /var/lib/apt/lists/* /var/log/* /etc/nginx/sites-enabled/* \
    && groupadd --gid 10001 moscow-time \
    && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin moscow-time \
    && mkdir -p /data /run/moscow-time/sock /run/moscow-time/nginx \
    && chown 10001:0 /data /run/moscow-time /run/moscow-time/sock /run/moscow-time/nginx \
    && chmod 0775 /data /run/moscow-time /run/moscow-time/sock /run/moscow-time/nginx \
    && chmod 1777 /run \
    && find / -xdev -type f -perm /6000 -exec chmod a-s {} +
COPY --from=build /src/build/moscow-time /usr/local/bin/moscow-time
COPY docs/moscow-time.8 /usr/local/share/man/man8/moscow-time.8
COPY scripts/serve.sh /usr/local/bin/moscow-time-serve
COPY scripts/start-nginx.sh /usr/local/bin/moscow-time-nginx
# nginx.conf, listen.conf (the public port) and metrics-listen.conf (the
# metrics port) where nginx-conf/ has it: every .conf of nginx-conf/.
COPY fcgi-app/config.ini nginx-conf/*.conf /etc/moscow-time/
# Last: a new revision changes only these labels, not the layers above.
ARG VERSION=unknown
ARG REVISION=unknown
# The project has no licence file yet: NOASSERTION (SPDX) until it has one.
ARG LICENSES=NOASSERTION
ARG SOURCE=unknown
LABEL org.opencontainers.image.title="moscow-time" \
      org.opencontainers.image.description="The time in Moscow and a visit counter: nginx and a FastCGI responder" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="${LICENSES}"
USER 10001:10001
VOLUME /data
EXPOSE 8080
CMD ["moscow-time-serve", "/etc/moscow-time/config.ini", "/run/moscow-time"]
