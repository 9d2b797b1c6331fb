// ClusterIPs and NodePorts for Services, as the API server allocates them: sequential from the
// service CIDRs (10.96.0.0/12, fd00:10:96::/108), never handing out an address twice; NodePorts
// from the default --service-node-port-range.
import { NODE_PORT_MAX, NODE_PORT_MIN } from './kinds/service-node-ports.js';

export class ServiceAddresses {
  #used = new Set<string>();
  #nextV4 = 10;
  #nextV6 = 10;
  #nextNodePort = NODE_PORT_MIN;

  clusterIP(family: 'IPv4' | 'IPv6'): string {
    for (;;) {
      const ip =
        family === 'IPv4'
          ? `10.${96 + Math.floor(this.#nextV4 / 65536)}.${Math.floor(this.#nextV4 / 256) % 256}.${this.#nextV4 % 256}`
          : `fd00:10:96::${(this.#nextV6).toString(16)}`;
      if (family === 'IPv4') this.#nextV4++;
      else this.#nextV6++;
      if (!this.#used.has(ip)) {
        this.#used.add(ip);
        return ip;
      }
    }
  }

  /** Sequential through the range, wrapping, skipping `taken` (the real allocator picks at random). */
  nodePort(taken: ReadonlySet<number>): number | undefined {
    const size = NODE_PORT_MAX - NODE_PORT_MIN + 1;
    for (let i = 0; i < size; i++) {
      const port = NODE_PORT_MIN + ((this.#nextNodePort - NODE_PORT_MIN + i) % size);
      if (taken.has(port)) continue;
      this.#nextNodePort = port === NODE_PORT_MAX ? NODE_PORT_MIN : port + 1;
      return port;
    }
    return undefined;
  }
}
