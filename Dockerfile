# One image for the operator, the tunnel runner and the facade:
#   docker run IMAGE operator | runner | facade
# Multi-stage: the build stage compiles TypeScript and ssh2's native crypto binding (faster
# AES-GCM); the runtime stage has production dependencies only and runs as a non-root user.
# Node 22 LTS (supported to 2027-04-30), not 24: measured with 1000 idle forwards, the runner
# needs 123 MB on Node 22 and 176-180 MB on Node 24 (goal < 150 MB); decision 0024.
ARG NODE_VERSION=22

FROM node:${NODE_VERSION}-bookworm AS build
WORKDIR /app
# python3, make and g++ are in this image: ssh2 and cpu-features build their native addons here
# (allowed by "allowScripts" in package.json).
# patches/ holds the ssh2 hot-path patches; npm ci applies them (postinstall: patch-package, a
# devDependency, which is why the build stage installs everything and prunes afterwards).
COPY package.json package-lock.json ./
COPY patches ./patches
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npx tsc -p tsconfig.build.json \
 && npm prune --omit=dev --no-audit --no-fund

FROM node:${NODE_VERSION}-bookworm-slim AS runtime
LABEL org.opencontainers.image.title="jupyterhub-forward-operator" \
      org.opencontainers.image.description="Operator, SSH tunnel runner and hub-compatible API that let JupyterHub reach notebook servers on remote systems" \
      org.opencontainers.image.licenses="BSD-3-Clause"
# MALLOC_ARENA_MAX=2: far less idle memory for the same work (decision 0022; glibc reads it at start).
ENV NODE_ENV=production \
    MALLOC_ARENA_MAX=2
WORKDIR /app
COPY --from=build --chown=0:0 /app/package.json ./package.json
COPY --from=build --chown=0:0 /app/node_modules ./node_modules
COPY --from=build --chown=0:0 /app/dist ./dist
COPY --chown=0:0 crds ./crds
# 65532 is the conventional "nonroot" uid; the files stay owned by root and read-only for it.
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["node", "/app/dist/cli.js"]
CMD ["--help"]
