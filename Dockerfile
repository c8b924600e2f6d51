# One image per service, built from the workspace: `docker build --target account-server .` (or message-server,
# application-server, all-in-one). docker-compose.yml builds all of them.
FROM node:20-bookworm-slim AS base
RUN npm install -g pnpm@10.34.8
WORKDIR /app

FROM base AS build
COPY . .
RUN pnpm install --frozen-lockfile && pnpm build \
 && rm -rf node_modules packages/*/node_modules services/*/node_modules \
 && pnpm install --frozen-lockfile --prod \
 && rm -rf packages/*/src services/*/src packages/*/test services/*/test test bench docs

FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production IRSP_CONFIG=/etc/irsp/irsp.yaml
WORKDIR /app
COPY --from=build --chown=node:node /app /app
RUN mkdir -p /var/lib/irsp/tls && chown -R node:node /var/lib/irsp
USER node

FROM runtime AS account-server
CMD ["node", "services/account-server/dist/main.js"]

FROM runtime AS message-server
CMD ["node", "services/message-server/dist/main.js"]

FROM runtime AS application-server
CMD ["node", "services/application-server/dist/main.js"]

FROM runtime AS all-in-one
CMD ["node", "services/all-in-one/dist/main.js"]
