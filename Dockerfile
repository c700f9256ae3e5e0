# irface server image. Two targets:
#   docker build -t irface .                 # CUDA (default): NVIDIA CUDA 12 + cuDNN 9 runtime, IRFACE_DEVICE=cuda
#   docker build --target cpu -t irface:cpu . # CPU only, smaller
# Build stage: install dependencies once; onnxruntime-node fetches its CUDA 12 provider here.
FROM node:20-bookworm AS build
ARG ONNXRUNTIME_NODE_INSTALL=cuda12
ENV ONNXRUNTIME_NODE_INSTALL=${ONNXRUNTIME_NODE_INSTALL}
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
RUN npm ci --omit=dev --no-audit --no-fund
COPY server ./server
COPY gallery ./gallery
COPY models ./models
COPY bin ./bin

# CPU image: plain Node.
FROM node:20-bookworm-slim AS cpu
ENV NODE_ENV=production IRFACE_HOST=0.0.0.0 IRFACE_PORT=8080 IRFACE_DATA_DIR=/data IRFACE_DEVICE=cpu
WORKDIR /app
COPY --from=build /app /app
RUN useradd --system --uid 10001 irface && mkdir -p /data && chown irface /data
USER irface
VOLUME /data
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=90s CMD node -e "fetch('http://127.0.0.1:8080/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
CMD ["node", "--import", "tsx", "server/main.ts"]

# CUDA image (default target): the CUDA/cuDNN runtime libraries onnxruntime's CUDA provider loads, plus Node.
FROM nvidia/cuda:12.6.3-cudnn-runtime-ubuntu24.04 AS cuda
ENV NODE_ENV=production IRFACE_HOST=0.0.0.0 IRFACE_PORT=8080 IRFACE_DATA_DIR=/data IRFACE_DEVICE=cuda \
    NVIDIA_VISIBLE_DEVICES=all NVIDIA_DRIVER_CAPABILITIES=compute,utility
COPY --from=node:20-bookworm-slim /usr/local/bin/node /usr/local/bin/node
WORKDIR /app
COPY --from=build /app /app
RUN useradd --system --uid 10001 irface && mkdir -p /data && chown irface /data
USER irface
VOLUME /data
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=90s CMD node -e "fetch('http://127.0.0.1:8080/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
CMD ["node", "--import", "tsx", "server/main.ts"]
