import { describe, expect, it } from "vitest";
import { readLoadBalancerTemplate, renderLoadBalancerConfig } from "../../components/docker/loadBalancerConfig";
import { defaultBalancerOptions } from "../../components/local/loadBalancer";
import { balancerLimits } from "../../components/shared/balancerLimits";

// components/shared/balancerLimits.ts owns the limits of both balancers: the local Node balancer's
// defaults and the docker platform's nginx config come from it, never from copies of their own.
describe("the load balancer's limits, one owner for the local balancer and nginx", () => {
  const template = readLoadBalancerTemplate();
  const rendered = renderLoadBalancerConfig(template, 8000, 2);

  it("are the local balancer's defaults", () => {
    expect(defaultBalancerOptions.connectTimeoutMs).toBe(balancerLimits.connectTimeoutSeconds * 1000);
    expect(defaultBalancerOptions.upstreamTimeoutMs).toBe(balancerLimits.upstreamTimeoutSeconds * 1000);
    expect(defaultBalancerOptions.maxBodyBytes).toBe(balancerLimits.maxBodyMiB * 1024 * 1024);
  });

  it("are what the rendered nginx config says", () => {
    expect(rendered).toContain(`proxy_connect_timeout ${balancerLimits.connectTimeoutSeconds}s;`);
    expect(rendered).toContain(`proxy_read_timeout ${balancerLimits.upstreamTimeoutSeconds}s;`);
    expect(rendered).toContain(`client_max_body_size ${balancerLimits.maxBodyMiB}m;`);
    expect(rendered).toContain(`client_body_timeout ${balancerLimits.clientBodyTimeoutSeconds}s;`);
    expect(rendered).toContain(`location = ${balancerLimits.healthPath} {`);
  });

  it("have no copy in the nginx template: each is a placeholder", () => {
    for (const directive of ["proxy_connect_timeout", "proxy_send_timeout", "client_max_body_size", "client_body_timeout"]) {
      expect(template, directive).toMatch(new RegExp(`^\\s*${directive} \\{\\{[A-Z_]+\\}\\};$`, "m"));
    }
    expect(template).not.toMatch(/location = \/lb\//);
  });
});
