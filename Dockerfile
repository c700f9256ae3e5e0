# irface server image. CPU by default; the CUDA variant (issue 7) swaps the base image and sets
# ONNXRUNTIME_NODE_INSTALL=cuda12 so onnxruntime-node fetches its CUDA provider at build time.
FROM node:20-bookworm-slim
ENV NODE_ENV=production \
    ONNXRUNTIME_NODE_INSTALL=skip \
    IRFACE_HOST=0.0.0.0 \
    IRFACE_PORT=8080 \
    IRFACE_DATA_DIR=/data
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
RUN npm ci --omit=dev --no-audit --no-fund
COPY server ./server
COPY gallery ./gallery
COPY models ./models
COPY bin ./bin
RUN useradd --system --uid 10001 irface && mkdir -p /data && chown irface /data
USER irface
VOLUME /data
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s CMD node -e "fetch('http://127.0.0.1:8080/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
CMD ["node", "--import", "tsx", "server/main.ts"]
