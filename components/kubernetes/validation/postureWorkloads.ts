import { pinnedImage } from "../../../config";
import { roles } from "../meta";
import type { PostureExpectations, Violation } from "./postureTypes";
import { containersOf, get, isLongRunning, type KubeObject, list, podTemplate, roleOf, text } from "./postureModel";

const secretEnvName = /(PASSWORD|PASSWD|SECRET|TOKEN|ACCESS_KEY|API_KEY|CREDENTIAL|PRIVATE_KEY)/i;
/** `scheme://user:password@`, unless the password is a `$(VAR)` reference to a secretKeyRef variable. */
const uriWithPassword = /[a-z][a-z0-9+.-]*:\/\/[^\s/:@]+:(?!\$\()[^\s/@]+@/i;

const violation = (obj: KubeObject, rule: Violation["rule"], detail: string): Violation => ({ kind: obj.kind, name: obj.name, rule, detail });

function containerViolations(obj: KubeObject): Violation[] {
  const out: Violation[] = [];
  const podSecurity = get(podTemplate(obj), "spec.securityContext");
  for (const c of containersOf(obj)) {
    const where = `${c.init ? "init container" : "container"} '${c.name}'`;
    const resources = ["requests.cpu", "requests.memory", "limits.cpu", "limits.memory"].filter((path) => get(c.fields.resources, path) === undefined);
    if (resources.length > 0) out.push(violation(obj, "resources", `${where} has no resources.${resources.join(", resources.")}`));
    const image = text(c.fields.image) ?? "";
    if (!pinnedImage.safeParse(image).success) out.push(violation(obj, "pinned-image", `${where} image '${image}' is not pinned to a tag or digest (or uses latest)`));
    const runAsNonRoot = get(c.fields.securityContext, "runAsNonRoot") ?? get(podSecurity, "runAsNonRoot");
    const runAsUser = get(c.fields.securityContext, "runAsUser") ?? get(podSecurity, "runAsUser");
    if (runAsNonRoot !== true || runAsUser === 0) out.push(violation(obj, "run-as-non-root", `${where} does not set runAsNonRoot: true (container or pod securityContext)`));
    if (get(c.fields.securityContext, "allowPrivilegeEscalation") !== false)
      out.push(violation(obj, "no-privilege-escalation", `${where} does not set allowPrivilegeEscalation: false`));
    if (!list(get(c.fields.securityContext, "capabilities.drop")).includes("ALL")) out.push(violation(obj, "drop-capabilities", `${where} does not drop ALL capabilities`));
    if (!c.init && isLongRunning(obj)) {
      const missing = ["readinessProbe", "livenessProbe"].filter((probe) => c.fields[probe] === undefined);
      if (missing.length > 0) out.push(violation(obj, "probes", `${where} has no ${missing.join(" or ")}`));
    }
    out.push(...credentialViolations(obj, where, c.fields));
  }
  return out;
}

function credentialViolations(obj: KubeObject, where: string, container: Readonly<Record<string, unknown>>): Violation[] {
  const out: Violation[] = [];
  for (const env of list(container.env)) {
    const name = text(get(env, "name")) ?? "";
    const value = text(get(env, "value"));
    if (value === undefined || value === "") continue;
    if (secretEnvName.test(name)) out.push(violation(obj, "no-plaintext-credentials", `${where} sets ${name} as a plain value: use valueFrom.secretKeyRef`));
    else if (uriWithPassword.test(value))
      out.push(violation(obj, "no-plaintext-credentials", `${where} env ${name} holds a URI with a password: pass the password through a Secret`));
  }
  for (const arg of [...list(container.command), ...list(container.args)]) {
    if (typeof arg === "string" && uriWithPassword.test(arg)) out.push(violation(obj, "no-plaintext-credentials", `${where} has a URI with a password in its command line`));
  }
  return out;
}

const statefulRoles: readonly string[] = [roles.database, roles.objectStore];
const statefulImage = /(^|\/)(postgres|postgresql|minio|seaweedfs)[:@]/;

/** PostgreSQL and the object store keep data: a StatefulSet whose volume comes from a claim template. */
function storageViolations(obj: KubeObject): Violation[] {
  const role = roleOf(obj);
  const statefulByImage = containersOf(obj).some((c) => !c.init && statefulImage.test(text(c.fields.image) ?? ""));
  if (obj.kind === "Job" || obj.kind === "CronJob" || !(statefulRoles.includes(role ?? "") || statefulByImage)) return [];
  if (obj.kind !== "StatefulSet") return [violation(obj, "stateful-storage", `a ${role ?? "data store"} must run as a StatefulSet with volumeClaimTemplates, not a ${obj.kind}`)];
  const templates = list(get(obj.raw, "spec.volumeClaimTemplates")).map((t) => text(get(t, "metadata.name")));
  if (templates.length === 0) return [violation(obj, "stateful-storage", "StatefulSet has no volumeClaimTemplates: its data would not survive the pod")];
  const mounted = containersOf(obj).some((c) => list(c.fields.volumeMounts).some((m) => templates.includes(text(get(m, "name")))));
  return mounted ? [] : [violation(obj, "stateful-storage", `no container mounts a claim template (${templates.join(", ")})`)];
}

function trainingJobViolations(obj: KubeObject, expect: PostureExpectations): Violation[] {
  const spec = get(obj.raw, "spec");
  const out: Violation[] = [];
  const completions = get(spec, "completions");
  const parallelism = get(spec, "parallelism");
  if (get(spec, "completionMode") !== "Indexed") out.push(violation(obj, "indexed-training-job", "completionMode is not Indexed"));
  if (typeof completions !== "number" || completions !== parallelism)
    out.push(violation(obj, "indexed-training-job", `parallelism (${String(parallelism)}) must equal completions (${String(completions)})`));
  if (expect.workers !== undefined && completions !== expect.workers)
    out.push(violation(obj, "indexed-training-job", `completions ${String(completions)} != training.workers ${expect.workers}`));
  if (typeof get(spec, "backoffLimitPerIndex") !== "number")
    out.push(violation(obj, "indexed-training-job", "backoffLimitPerIndex is not set: one failing shard would use up the retries of all"));
  if (typeof get(spec, "ttlSecondsAfterFinished") !== "number") out.push(violation(obj, "indexed-training-job", "ttlSecondsAfterFinished is not set: finished pods would pile up"));
  const spread = list(get(podTemplate(obj), "spec.topologySpreadConstraints")).some((t) => get(t, "topologyKey") === "kubernetes.io/hostname");
  if (!spread) out.push(violation(obj, "indexed-training-job", "no topologySpreadConstraints over kubernetes.io/hostname"));
  return out;
}

function servingRolloutViolations(obj: KubeObject): Violation[] {
  const strategy = get(obj.raw, "spec.strategy");
  const type = get(strategy, "type") ?? "RollingUpdate";
  const maxUnavailable = get(strategy, "rollingUpdate.maxUnavailable");
  const zero = maxUnavailable === 0 || maxUnavailable === "0" || maxUnavailable === "0%";
  return type === "RollingUpdate" && zero
    ? []
    : [violation(obj, "serving-rollout", `strategy ${String(type)} with maxUnavailable ${String(maxUnavailable ?? "25% (default)")}: serving must roll with maxUnavailable 0`)];
}

export function workloadViolations(objects: readonly KubeObject[], expect: PostureExpectations): Violation[] {
  const workloads = objects.filter((o) => podTemplate(o) !== undefined);
  const out = workloads.flatMap((o) => [...containerViolations(o), ...storageViolations(o)]);
  const trainingJobs = workloads.filter((o) => o.kind === "Job" && roleOf(o) === roles.trainer);
  out.push(...trainingJobs.flatMap((o) => trainingJobViolations(o, expect)));
  if (expect.workers !== undefined && trainingJobs.length !== 1) {
    out.push({
      kind: "Job",
      name: "(training)",
      rule: "indexed-training-job",
      detail: `expected exactly one training Job (component ${roles.trainer}), found ${trainingJobs.length}`,
    });
  }
  out.push(...workloads.filter((o) => o.kind === "Deployment" && roleOf(o) === roles.modelServer).flatMap(servingRolloutViolations));
  return out;
}
