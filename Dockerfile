# bwnode in a container. The base image's Node 24 runs it: the `node` devDependency (the runtime
# a clone gets from npm) and the other dev tools stay out (npm ci --omit=dev). It runs as the
# dedicated user bwnode; its data dir (identity, LevelDB, chunks, API token and port) is the
# volume /var/lib/bwnode. See README.md, "Run as a service".
#
#   docker build -t bwnode .
#   docker run -d --name bwnode -v bwnode-data:/var/lib/bwnode -p 4010:4010 bwnode
#   docker exec bwnode bwnode status
FROM node:24-slim

WORKDIR /opt/bwnode
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY bin ./bin
COPY src ./src
COPY seeds ./seeds
COPY node-configs ./node-configs
COPY deploy/peer-entrypoint.sh ./deploy/peer-entrypoint.sh
COPY LICENSE README.md ./

RUN groupadd --system bwnode \
 && useradd --system --gid bwnode --home-dir /var/lib/bwnode --shell /usr/sbin/nologin bwnode \
 && mkdir -p /var/lib/bwnode \
 && chown bwnode:bwnode /var/lib/bwnode \
 && chmod 0700 /var/lib/bwnode \
 && ln -s /opt/bwnode/bin/bwnode.js /usr/local/bin/bwnode

# BWNODE_CONFIG listens on 0.0.0.0:4010 for peers and keeps the API on the container's loopback,
# port 4020 (`docker exec ... bwnode <command>` reaches it). Override any of it with BWNODE_*
# variables, another BWNODE_CONFIG, or flags after the image name.
ENV NODE_ENV=production \
    BWNODE_DATA=/var/lib/bwnode \
    BWNODE_CONFIG=/opt/bwnode/node-configs/container.json
VOLUME ["/var/lib/bwnode"]
EXPOSE 4010/tcp
USER bwnode
# SIGTERM (docker stop) stops the node cleanly, exit 0.
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
  CMD ["bwnode", "status", "--timeout", "3"]
ENTRYPOINT ["bwnode", "start"]
