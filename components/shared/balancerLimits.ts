/**
 * The load balancer's limits, one owner for both balancers in front of the model servers: the local
 * platform's Node balancer (components/local/loadBalancer.ts) takes them as its defaults and the nginx
 * config of the docker platform (images/loadbalancer/default.conf.template) is rendered from them
 * (components/docker/loadBalancerConfig.ts), so a client meets the same limits on either platform.
 */
export const balancerLimits = {
  /** Time for a replica to accept the connection; past it the request goes to the next replica (nothing was sent). */
  connectTimeoutSeconds: 2,
  /** Time a replica may take to answer once it has the request; then 504. */
  upstreamTimeoutSeconds: 60,
  /** Largest request body; a larger one is refused with 413 before any replica sees it. */
  maxBodyMiB: 16,
  /** A client that stops sending its body is dropped after this. */
  clientBodyTimeoutSeconds: 30,
  /** The balancer's own health endpoint: 200 while any replica is ready. */
  healthPath: "/lb/health",
} as const;

export const maxBodyBytes = balancerLimits.maxBodyMiB * 1024 * 1024;
