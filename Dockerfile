# The gateway image used by docker-compose.yml (production shape).
# The workspace's libsodium.js, installed from the lockfile (integrity-checked, no install scripts).
FROM python:3.11-slim-bookworm AS workspace-js
RUN apt-get update && apt-get install -y --no-install-recommends npm && rm -rf /var/lib/apt/lists/*
WORKDIR /js
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund

FROM python:3.11-slim-bookworm
RUN useradd --system --uid 10001 --home /var/lib/gateway gateway
WORKDIR /app
COPY pyproject.toml README.md ./
COPY gateway ./gateway
COPY consent ./consent
COPY crypto ./crypto
COPY connectors ./connectors
COPY kernel ./kernel
COPY policies ./policies
RUN pip install --no-cache-dir . && mkdir -p /var/lib/gateway && chown gateway /var/lib/gateway
COPY --from=workspace-js /js/node_modules ./node_modules
# The image is the production shape: production checks (a policy bundle signed elsewhere, the runtime
# database role, ...) apply unless a deployment deliberately says otherwise.
ENV GATEWAY_ENV=production GATEWAY_POLICY_DIR=/app/policies GATEWAY_NODE_MODULES=/app/node_modules
USER gateway
EXPOSE 8000
CMD ["gateway", "serve", "--host", "0.0.0.0", "--port", "8000"]
