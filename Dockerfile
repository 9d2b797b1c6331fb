# syntax=docker/dockerfile:1
#
# podlb images. Built here by `sudo ./dev images` (scripts/images.sh) with buildah, which
# passes bases it made itself (debootstrap, Node.js from the npm registry) as the build arguments
# below; a user builds the same file with the public bases:
#   docker build --target agent -t podlb:latest .
#   docker build --target bird  -t podlb-bird:latest .
# (daemonset/kustomization.yaml maps the names podlb and podlb-bird to real tags.)
#
# Targets:
#   build  compiles the TypeScript and prunes dev dependencies
#   agent  the podlb CLI (`podlb agent`, `podlb controller`, `podlb render bird`); runs nothing at
#          build time, so its base needs no shell (scripts/images.sh's has none)
#   bird   BIRD 2 from Debian bookworm (2.0.12, the version the lab and golden files use)

# NODE_IMAGE needs npm and a shell (the build stage); NODE_RUNTIME_IMAGE only node.
ARG NODE_IMAGE=node:26-bookworm-slim
ARG NODE_RUNTIME_IMAGE=node:26-bookworm-slim
ARG DEBIAN_IMAGE=debian:bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: the root package's `prepare` script runs tsc, and the sources are not here
# yet (copying them later keeps this layer cached); `npm rebuild` would run it too. The one
# dependency with an install script, koffi, only checks there that its prebuilt addon
# (@koromix/koffi-linux-x64) loads, else builds from source with cmake: load it here instead, so
# a platform without a prebuilt fails the build, not the agent at run time.
RUN npm ci --ignore-scripts && node -e "require('koffi')"
COPY tsconfig.json ./
COPY native ./native
COPY src ./src
COPY images/strip-comments.cjs ./images/strip-comments.cjs
# What the agent never reads leaves the image: source maps (no --enable-source-maps), TypeScript
# declarations and sources (node does not strip types under node_modules; client-node 2.x alone
# ships 35 MB of them, maps included), the dependencies' tests and examples (not doc/: yaml keeps code there), and
# prebuilt addons for other platforms than the one built for; and the dependencies' comments
# (images/strip-comments.cjs: 15 MB, most of them client-node's).
# What `podlb version` reports: the build context has no .git, so the commit and its date come in
# as build arguments (scripts/images.sh passes them; with plain docker build add
# --build-arg PODLB_GIT_COMMIT=$(git rev-parse HEAD) --build-arg PODLB_BUILD_DATE=$(git show -s --format=%cI HEAD)).
ARG PODLB_GIT_COMMIT=unknown
ARG PODLB_BUILD_DATE=unknown
# dist/src/build/ is the build step that wrote dist/src/build-info.json: a build tool, not product.
RUN npm run build && npm prune --omit=dev && rm -rf dist/src/build \
 && find dist node_modules -type f \( -name '*.map' -o -name '*.ts' -o -name '*.mts' -o -name '*.cts' \) -delete \
 && find node_modules -mindepth 2 -type d \( -name test -o -name tests -o -name __tests__ -o -name example -o -name examples \
      -o -name benchmark -o -name benchmarks -o -name .github \) -prune -exec rm -rf {} + \
 && find node_modules -type d -path '*/prebuilds/*' ! -name "linux-$(node -p process.arch)*" -prune -exec rm -rf {} + \
 && node images/strip-comments.cjs node_modules

FROM ${NODE_RUNTIME_IMAGE} AS agent
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
