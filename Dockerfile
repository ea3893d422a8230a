# Tally's worker: `tally serve` on port 8787, PGlite under /var/lib/tally unless TALLY_DATABASE_URL
# names a PostgreSQL database. See docs/deploy.md.
#
#   docker build -t tally .
#   docker run -p 8787:8787 -v tally-data:/var/lib/tally tally

# The build: every dependency, and the console's assets (apps/console/dist).
FROM node:24-slim AS build
WORKDIR /app
RUN npm install --global pnpm@10.34.8
COPY . .
RUN pnpm install --frozen-lockfile && pnpm --filter @tally/console build

# The image: sources (Node runs the TypeScript directly), production dependencies, the console.
FROM node:24-slim
ENV NODE_ENV=production \
    TALLY_HOST=0.0.0.0 \
    TALLY_PORT=8787 \
    TALLY_DATA_DIR=/var/lib/tally/data \
    TALLY_LOG_FORMAT=json
WORKDIR /app
RUN npm install --global pnpm@10.34.8 \
 && mkdir -p /var/lib/tally \
 && chown node:node /var/lib/tally
COPY --from=build /app /app
RUN rm -rf node_modules apps/*/node_modules packages/*/node_modules examples/*/node_modules \
 && pnpm install --prod --frozen-lockfile --ignore-scripts \
 && chown -R node:node /app
# The image's own unprivileged user (uid 1000), never root.
USER node
EXPOSE 8787
VOLUME /var/lib/tally
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:8787/readyz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "--conditions=source", "--wasm-tiering-budget=1000000000", "apps/worker/src/bin.ts", "serve"]
