# syntax=docker/dockerfile:1
# Infrastructure of the replicated cloud topology (deploy/compose/docker-compose.replicas.yml), from Debian's
# own packages on the same base image as everything else (no other registry needed):
#   docker build -f deploy/docker/replicas.Dockerfile --target postgres -t edgewatch-postgres .
#   docker build -f deploy/docker/replicas.Dockerfile --target lb -t edgewatch-lb .
# In production use a managed PostgreSQL and your own load balancer; these are for a complete local stack.

ARG DEBIAN_IMAGE=debian:bookworm-slim

# --------------------------------------------------------------------------------------------- postgres
FROM ${DEBIAN_IMAGE} AS postgres
# A fixed uid/gid, created before the package would pick one, so USER can be numeric.
RUN groupadd --system --gid 10002 postgres \
    && useradd --system --uid 10002 --gid postgres --home-dir /var/lib/postgresql --shell /bin/sh postgres \
    && apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql-15 \
    && rm -rf /var/lib/apt/lists/* \
    && mkdir -p /var/lib/edgewatch-db /run/postgresql \
    && chown postgres:postgres /var/lib/edgewatch-db /run/postgresql
COPY deploy/docker/postgres-entrypoint.sh /usr/local/bin/postgres-entrypoint.sh
USER 10002:10002
ENV PGDATA=/var/lib/edgewatch-db/data
EXPOSE 5432
HEALTHCHECK --interval=5s --timeout=4s --start-period=20s --retries=5 \
    CMD ["/usr/lib/postgresql/15/bin/pg_isready", "-h", "127.0.0.1", "-p", "5432"]
ENTRYPOINT ["sh", "/usr/local/bin/postgres-entrypoint.sh"]

# -------------------------------------------------------------------------------------------------- lb
FROM ${DEBIAN_IMAGE} AS lb
RUN groupadd --system --gid 10003 haproxy \
    && useradd --system --uid 10003 --gid haproxy --home-dir /var/lib/haproxy --shell /usr/sbin/nologin haproxy \
    && apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends haproxy curl \
    && rm -rf /var/lib/apt/lists/*
COPY deploy/docker/haproxy.cfg /etc/haproxy/haproxy.cfg
USER 10003:10003
EXPOSE 8080
HEALTHCHECK --interval=5s --timeout=4s --start-period=10s --retries=3 \
    CMD ["curl", "-fsS", "-o", "/dev/null", "http://127.0.0.1:8404/healthz"]
ENTRYPOINT ["haproxy", "-W", "-db", "-f", "/etc/haproxy/haproxy.cfg"]
