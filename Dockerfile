# The gateway image used by docker-compose.yml (production shape).
FROM python:3.11-slim-bookworm
RUN useradd --system --uid 10001 --home /var/lib/gateway gateway
WORKDIR /app
COPY pyproject.toml README.md ./
COPY gateway ./gateway
COPY consent ./consent
COPY crypto ./crypto
COPY connectors ./connectors
COPY policies ./policies
RUN pip install --no-cache-dir . && mkdir -p /var/lib/gateway && chown gateway /var/lib/gateway
ENV GATEWAY_POLICY_DIR=/app/policies
USER gateway
EXPOSE 8000
CMD ["gateway", "serve", "--host", "0.0.0.0", "--port", "8000"]
