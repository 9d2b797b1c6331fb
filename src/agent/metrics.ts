// Prometheus metrics (design §6), one registry per agent so several agents can share a
// process (the lab, tests). Names carry the podlb_ prefix; label values are bounded sets
// (peer names, results, states), never Pod names.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export class AgentMetrics {
  readonly registry = new Registry();
  readonly bgpSessionUp = new Gauge({
    name: 'podlb_bgp_session_up',
    help: '1 when the BGP session to the peer is Established',
    labelNames: ['peer'],
    registers: [this.registry],
  });
  readonly advertisedPrefixes = new Gauge({ name: 'podlb_advertised_prefixes', help: 'Prefixes this node advertises', registers: [this.registry] });
  readonly members = new Gauge({
    name: 'podlb_members',
    help: 'Load-balancer members of this node by state',
    labelNames: ['state'],
    registers: [this.registry],
  });
  readonly lbInstanceUp = new Gauge({
    name: 'podlb_lb_instance_reachable',
    help: '1 when the load-balancer instance answered the last call',
    labelNames: ['class', 'instance'],
    registers: [this.registry],
  });
  readonly registrationSeconds = new Histogram({
    name: 'podlb_member_registration_seconds',
    help: 'The agent first seeing a Pod ContainersReady to its member added in the load balancer (agent clock)',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly readinessSeconds = new Histogram({
    name: 'podlb_readiness_gate_seconds',
    help: 'The later of member added and ContainersReady seen, to the readiness gate True patch accepted (agent clock; includes the load balancer health check)',
    buckets: [0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 600],
    registers: [this.registry],
  });
  readonly reconcileErrors = new Counter({
    name: 'podlb_reconcile_errors_total',
    help: 'Reconcile steps that failed, by component and error code',
    labelNames: ['component', 'code'],
    registers: [this.registry],
  });
  readonly birdReloads = new Counter({
    name: 'podlb_bird_reloads_total',
    help: 'BIRD configuration applies by result',
    labelNames: ['result'],
    registers: [this.registry],
  });
  readonly gateWrites = new Counter({
    name: 'podlb_readiness_gate_writes_total',
    help: 'Readiness gate patches by status and reason',
    labelNames: ['status', 'reason'],
    registers: [this.registry],
  });

  /** Sum of the round trips every LB client made; the agent registers the source. */
  lbRoundTripsSource: () => number = () => 0;
  readonly lbRoundTrips = new Gauge({
    name: 'podlb_lb_api_round_trips',
    help: 'Load-balancer API round trips made since the agent started (HAProxy runtime API)',
    registers: [this.registry],
    collect: () => {
      this.lbRoundTrips.set(this.lbRoundTripsSource());
    },
  });

  constructor(opts: { processMetrics?: boolean } = {}) {
    // The event-loop delay histogram samples on a timer of this resolution; prom-client's 10 ms
    // woke an idle agent 100 times a second, half of its idle CPU (1.0 -> 0.5 % of a core in
    // the scale bench on a loaded machine). One sample a second still catches any stall of the
    // loop that overlaps it, and the lag gauges are read once per scrape anyway.
    if (opts.processMetrics) collectDefaultMetrics({ register: this.registry, prefix: 'podlb_', eventLoopMonitoringPrecision: 1000 });
  }
}
