# syntax=docker/dockerfile:1
#
# podlb images. NOT BUILT HERE: the development and CI machines have the docker CLI but no
# container engine, so this file has never been built; test/install-manifests.test.ts only
# checks its structure (targets, COPY sources, entrypoint). Build with:
#   docker build --target agent -t podlb:latest .
#   docker build --target bird  -t podlb-bird:latest .
# (daemonset/kustomization.yaml maps the names podlb and podlb-bird to real tags.)
#
# Targets:
#   build  compiles the TypeScript and prunes dev dependencies
#   agent  the podlb CLI (`podlb agent`, later `podlb controller`, `podlb render bird`)
#   bird   BIRD 2 from Debian bookworm (2.0.12, the version the lab and golden files use)

ARG NODE_IMAGE=node:20-bookworm-slim
ARG DEBIAN_IMAGE=debian:bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: the root package's `prepare` script runs tsc, and the sources are not here
# yet (copying them later keeps this layer cached). `npm rebuild` then runs the dependencies'
# own install scripts.
RUN npm ci --ignore-scripts && npm rebuild
COPY tsconfig.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev

FROM ${NODE_IMAGE} AS agent
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# Same layout as the repository: dist/src/... finds ../../../bird-templates.
COPY bird-templates ./bird-templates
# Non-root by default (the base image's `node` user): enough for the controller and the CLI.
# The DaemonSet runs the agent as uid 0 with every capability dropped but NET_ADMIN, because
# Kubernetes gives capabilities to non-root users only through file capabilities, which need
# allowPrivilegeEscalation (see daemonset/daemonset.yaml).
USER 1000:1000
ENTRYPOINT ["node", "dist/src/cli/podlb.js"]

FROM ${DEBIAN_IMAGE} AS bird
# bird2 ships bird, birdc and birdcl; its postinst starts nothing without systemd.
RUN apt-get update \
 && apt-get install -y --no-install-recommends bird2 \
 && rm -rf /var/lib/apt/lists/*
# The DaemonSet sets the same command explicitly; root with a reduced capability set there.
ENTRYPOINT ["bird", "-f", "-c", "/run/bird/bird.conf", "-s", "/run/bird/bird.ctl"]
