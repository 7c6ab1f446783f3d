// GET /nodes: the nodes of a cluster as the catalog knows them (heartbeats, the cameras each leases);
// outside a cluster, `cluster: false` and no nodes.
import type { FastifyInstance } from 'fastify';
import { NodesAnswer } from '../../protocol/schemas.js';
import type { ClusterNode } from '../cluster/cluster-node.js';
import { route } from './server.js';

export function addNodesRoute(app: FastifyInstance, cluster: () => ClusterNode | null): void {
  route(app, {
    method: 'GET', url: '/nodes', schema: { summary: 'The nodes of the cluster, their cameras and heartbeats.', response: { 200: NodesAnswer } },
    handler: async (c) => {
      const cl = cluster();
      const rows = cl ? await cl.nodes() : [];
      c.json(200, {
        ok: true, cluster: cl !== null, node: cl?.node ?? null,
        nodes: rows.map((n) => ({
          node: n.node, url: n.url, live: n.live, stopping: n.stopping, started_at_ms: n.startedAtMs, heartbeat_at_ms: n.heartbeatAtMs, cameras: n.cameras,
        })),
      });
    },
  });
}
