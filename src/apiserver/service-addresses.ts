// ClusterIPs and NodePorts for Services, as the API server allocates them: sequential from the
// service CIDRs (10.96.0.0/12, fd00:10:96::/108), never handing out an address twice.
export class ServiceAddresses {
  #used = new Set<string>();
  #nextV4 = 10;
  #nextV6 = 10;
  #nextNodePort = 30000;

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

  nodePort(): number {
    return this.#nextNodePort++;
  }
}
