import { roles } from "../meta";
import type { PostureExpectations, Violation } from "./postureTypes";
import { get, isLongRunning, type KubeObject, list, podLabels, roleOf, selectorMatches, serviceSelects, stringMap, text } from "./postureModel";

const violation = (obj: Pick<KubeObject, "kind" | "name">, rule: Violation["rule"], detail: string): Violation => ({ kind: obj.kind, name: obj.name, rule, detail });

/** A Service that matches two workloads load-balances across unrelated pods; one that matches none is dead. */
function serviceViolations(objects: readonly KubeObject[]): Violation[] {
  const workloads = objects.filter(isLongRunning);
  return objects
    .filter((o) => o.kind === "Service" && Object.keys(stringMap(get(o.raw, "spec.selector"))).length > 0)
    .flatMap((service) => {
      const matched = workloads.filter((w) => serviceSelects(service, w));
      return matched.length === 1
        ? []
        : [
            violation(
              service,
              "service-selects-one-workload",
              `selects ${matched.length} workloads (${matched.map((w) => `${w.kind}/${w.name}`).join(", ") || "none"}), expected exactly one`,
            ),
          ];
    });
}

function ingressViolations(objects: readonly KubeObject[], serving: readonly KubeObject[], expect: PostureExpectations): Violation[] {
  const out: Violation[] = [];
  const services = objects.filter((o) => o.kind === "Service");
  const servingServices = services.filter((s) => serving.some((w) => serviceSelects(s, w)));
  const ingresses = objects.filter((o) => o.kind === "Ingress");
  for (const ingress of ingresses) {
    for (const rule of list(get(ingress.raw, "spec.rules"))) {
      for (const path of list(get(rule, "http.paths"))) {
        const backend = text(get(path, "backend.service.name"));
        const target = services.find((s) => s.name === backend && s.namespace === ingress.namespace);
        if (!target) out.push(violation(ingress, "ingress-routes-serving", `routes to Service '${String(backend)}', which is not in the manifests`));
        const port = get(path, "backend.service.port.number") ?? get(path, "backend.service.port.name");
        const ports = list(get(target?.raw, "spec.ports")).flatMap((p) => [get(p, "port"), get(p, "name")]);
        if (target && !ports.includes(port))
          out.push(violation(ingress, "ingress-routes-serving", `routes to port ${String(port)} of Service '${target.name}', which has no such port`));
      }
    }
    for (const tls of list(get(ingress.raw, "spec.tls"))) {
      if (!text(get(tls, "secretName"))) out.push(violation(ingress, "ingress-routes-serving", "a tls entry has no secretName"));
    }
  }
  const wanted = expect.ingress;
  if (!wanted) return out;
  const routes = ingresses.some((ing) =>
    list(get(ing.raw, "spec.rules")).some(
      (rule) => get(rule, "host") === wanted.host && list(get(rule, "http.paths")).some((p) => servingServices.some((s) => s.name === get(p, "backend.service.name"))),
    ),
  );
  if (!routes) out.push({ kind: "Ingress", name: "(serving)", rule: "ingress-routes-serving", detail: `no Ingress routes host ${wanted.host} to the serving Service` });
  const tls = ingresses.some((ing) => list(get(ing.raw, "spec.tls")).some((t) => list(get(t, "hosts")).includes(wanted.host) && Boolean(text(get(t, "secretName")))));
  if (wanted.tls && !tls) out.push({ kind: "Ingress", name: "(serving)", rule: "ingress-routes-serving", detail: `no TLS entry (hosts + secretName) for ${wanted.host}` });
  return out;
}

function autoscalingViolations(objects: readonly KubeObject[], serving: readonly KubeObject[], expect: PostureExpectations): Violation[] {
  const hpas = objects.filter(
    (o) => o.kind === "HorizontalPodAutoscaler" && serving.some((d) => get(o.raw, "spec.scaleTargetRef.kind") === d.kind && get(o.raw, "spec.scaleTargetRef.name") === d.name),
  );
  const pdbs = objects.filter((o) => o.kind === "PodDisruptionBudget" && serving.some((d) => selectorMatches(get(o.raw, "spec.selector"), podLabels(d))));
  const out: Violation[] = [];
  const wanted = expect.autoscaling ?? (hpas.length > 0 || pdbs.length > 0);
  const subject = { kind: "Deployment", name: serving[0]?.name ?? "(serving)" };
  if (wanted && hpas.length === 0) out.push(violation(subject, "autoscaling", "autoscaling is set but no HorizontalPodAutoscaler targets the serving Deployment"));
  if (wanted && pdbs.length === 0) out.push(violation(subject, "autoscaling", "autoscaling is set but no PodDisruptionBudget covers the serving pods"));
  if (!wanted && hpas.length + pdbs.length > 0) out.push(violation(subject, "autoscaling", "autoscaling is not set, yet an HPA or PodDisruptionBudget targets serving"));
  for (const hpa of hpas) {
    const min = get(hpa.raw, "spec.minReplicas");
    const max = get(hpa.raw, "spec.maxReplicas");
    if (typeof max !== "number" || (typeof min === "number" && min > max))
      out.push(violation(hpa, "autoscaling", `minReplicas ${String(min)} / maxReplicas ${String(max)} are inconsistent`));
  }
  return out;
}

type PeerCheck = (peer: unknown) => string | undefined;

/** Every policy selecting `target` must admit only peers `check` accepts; at least one must exist. */
function policyViolations(objects: readonly KubeObject[], target: KubeObject, check: PeerCheck): Violation[] {
  const policies = objects.filter((o) => o.kind === "NetworkPolicy" && o.namespace === target.namespace && selectorMatches(get(o.raw, "spec.podSelector"), podLabels(target)));
  const restricting = policies.filter((p) => {
    const types = list(get(p.raw, "spec.policyTypes"));
    return types.length === 0 ? true : types.includes("Ingress");
  });
  if (restricting.length === 0) return [violation(target, "network-policy", `no NetworkPolicy restricts ingress to the ${roleOf(target) ?? "workload"} pods`)];
  return restricting.flatMap((policy) =>
    list(get(policy.raw, "spec.ingress")).flatMap((rule) => {
      const from = list(get(rule, "from"));
      if (from.length === 0) return [violation(policy, "network-policy", "an ingress rule without 'from' admits every source")];
      return from.flatMap((peer) => {
        const problem = check(peer);
        return problem ? [violation(policy, "network-policy", problem)] : [];
      });
    }),
  );
}

const onlyRoles =
  (allowed: readonly string[]): PeerCheck =>
  (peer) => {
    if (get(peer, "ipBlock") !== undefined || get(peer, "namespaceSelector") !== undefined) return "admits an ipBlock or other namespaces";
    const role = stringMap(get(peer, "podSelector.matchLabels"))["app.kubernetes.io/component"];
    return role !== undefined && allowed.includes(role) ? undefined : `admits pods other than ${allowed.join(" or ")} (podSelector component '${String(role)}')`;
  };

const servingPeers =
  (ingressNamespace: string): PeerCheck =>
  (peer) => {
    if (get(peer, "ipBlock") !== undefined) return "admits an ipBlock";
    const namespaceSelector = get(peer, "namespaceSelector");
    if (namespaceSelector === undefined) return get(peer, "podSelector") === undefined ? "an empty peer admits everyone" : undefined;
    const names = stringMap(get(namespaceSelector, "matchLabels"));
    return names["kubernetes.io/metadata.name"] === ingressNamespace && Object.keys(names).length === 1 && list(get(namespaceSelector, "matchExpressions")).length === 0
      ? undefined
      : `admits namespaces other than the ingress controller's (${ingressNamespace})`;
  };

function networkViolations(objects: readonly KubeObject[], serving: readonly KubeObject[], expect: PostureExpectations): Violation[] {
  const workloads = objects.filter(isLongRunning);
  // Trainer pods share the study in the database's `optuna` database (the shared trial queue).
  const databaseClients = [roles.trackingServer, roles.trainerPrepare, roles.trainer];
  const database = workloads.filter((w) => roleOf(w) === roles.database).flatMap((w) => policyViolations(objects, w, onlyRoles(databaseClients)));
  const store = workloads.filter((w) => roleOf(w) === roles.objectStore).flatMap((w) => policyViolations(objects, w, onlyRoles([roles.trackingServer, roles.bucketInit])));
  const servingPolicies = serving.flatMap((w) => policyViolations(objects, w, servingPeers(expect.ingressControllerNamespace ?? "ingress-nginx")));
  return [...database, ...store, ...servingPolicies];
}

export function topologyViolations(objects: readonly KubeObject[], expect: PostureExpectations): Violation[] {
  const serving = objects.filter((o) => o.kind === "Deployment" && roleOf(o) === roles.modelServer);
  return [
    ...serviceViolations(objects),
    ...ingressViolations(objects, serving, expect),
    ...(serving.length > 0 ? autoscalingViolations(objects, serving, expect) : []),
    ...networkViolations(objects, serving, expect),
  ];
}
