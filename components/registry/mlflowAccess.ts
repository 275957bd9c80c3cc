/**
 * Least privilege in MLflow, kept through MLflow's basic-auth REST API as the admin: a training user that
 * may write runs in the study's experiment (EDIT) and a serving user that may only read the registered
 * model and the experiment its artifacts live in (READ). Trainers and model servers log in as these
 * (programs/context.ts `trackingCredentials`), never as the admin. Every step reads first and changes only
 * what differs, so a second run changes nothing. The driver runs these between its phases
 * (driver/mlflowUsers.ts); `pulumi up` on index.ts through the MlflowAccessGrant resource.
 *
 * MLflow's own limits: `default_permission = READ` lets every user read what has no permission of its
 * own, and any user may create a new experiment or registered model (becoming its manager); what this
 * guards is the study's experiment, the champion's registered model and its alias.
 */
import { type MlflowServiceRole, mlflowServiceUsers } from "../shared/mlflowAuth";
import { isErrorCode, MlflowApiError, MlflowClient } from "./mlflowClient";

export type MlflowPermission = "READ" | "EDIT" | "MANAGE" | "NO_PERMISSIONS";

export interface ServiceUserPasswords {
  readonly training: string;
  readonly serving: string;
}

export interface AccessArgs {
  readonly trackingUri: string;
  readonly adminUser: string;
  readonly adminPassword: string;
  readonly passwords: ServiceUserPasswords;
}

/** A user as `users/get` reports it. */
interface MlflowUser {
  readonly username: string;
  readonly is_admin: boolean;
}

const admin = (args: AccessArgs) => new MlflowClient({ trackingUri: args.trackingUri, username: args.adminUser, password: args.adminPassword });

async function getOrUndefined<T>(get: () => Promise<T>): Promise<T | undefined> {
  try {
    return await get();
  } catch (err) {
    if (isErrorCode(err, "RESOURCE_DOES_NOT_EXIST")) return undefined;
    throw err;
  }
}

/** Whether MLflow accepts this login (a 401 says it does not; anything else is the server's answer to a known user). */
async function loginWorks(trackingUri: string, username: string, password: string): Promise<boolean> {
  const client = new MlflowClient({ trackingUri, username, password });
  try {
    await client.call("GET", "users/get", { username });
    return true;
  } catch (err) {
    if (err instanceof MlflowApiError && err.httpStatus === 401) return false;
    throw err;
  }
}

/** The user exists, is no admin, and logs in with `password` (a rotated password is set anew). Returns what changed. */
export async function ensureUser(args: AccessArgs, role: MlflowServiceRole): Promise<string[]> {
  const client = admin(args);
  const username = mlflowServiceUsers[role];
  const password = args.passwords[role];
  const user = await getOrUndefined(() => client.call<{ user: MlflowUser }>("GET", "users/get", { username }));
  if (user === undefined) {
    await client.call("POST", "users/create", { username, password });
    return [`created MLflow user ${username}`];
  }
  const changes: string[] = [];
  if (user.user.is_admin) {
    await client.call("PATCH", "users/update-admin", { username, is_admin: false });
    changes.push(`${username} is no admin any more`);
  }
  if (!(await loginWorks(args.trackingUri, username, password))) {
    await client.call("PATCH", "users/update-password", { username, password });
    changes.push(`set the password of ${username}`);
  }
  return changes;
}

/** One permission of one user on one resource, created or corrected; `what` names it in the change line. */
async function ensurePermission(
  client: MlflowClient,
  kind: "experiments" | "registered-models",
  key: Record<string, string>,
  username: string,
  permission: MlflowPermission,
  what: string,
): Promise<string[]> {
  const field = kind === "experiments" ? "experiment_permission" : "registered_model_permission";
  const found = await getOrUndefined(() => client.call<Record<string, { permission: string }>>("GET", `${kind}/permissions/get`, { ...key, username }));
  const current = found?.[field]?.permission;
  if (current === permission) return [];
  await client.call(current === undefined ? "POST" : "PATCH", `${kind}/permissions/${current === undefined ? "create" : "update"}`, { ...key, username, permission });
  return [`${username}: ${permission} on ${what}${current === undefined ? "" : ` (was ${current})`}`];
}

/**
 * Before training: both users, and the study's experiment (created here, as the trainers would, so it can
 * carry its permissions before the first trial) writable by the training user and readable by the serving user.
 */
export async function grantTrainingAccess(args: AccessArgs, experimentName: string): Promise<string[]> {
  const client = admin(args);
  const changes = [...(await ensureUser(args, "training")), ...(await ensureUser(args, "serving"))];
  const experimentId = await client.ensureExperiment(experimentName);
  const key = { experiment_id: experimentId };
  const what = `experiment ${experimentName}`;
  changes.push(...(await ensurePermission(client, "experiments", key, mlflowServiceUsers.training, "EDIT", what)));
  changes.push(...(await ensurePermission(client, "experiments", key, mlflowServiceUsers.serving, "READ", what)));
  return changes;
}

/** After select registered the champion: the serving user may read that registered model, nothing more. */
export async function grantServingAccess(args: AccessArgs, modelName: string): Promise<string[]> {
  const client = admin(args);
  const changes = await ensureUser(args, "serving");
  changes.push(...(await ensurePermission(client, "registered-models", { name: modelName }, mlflowServiceUsers.serving, "READ", `registered model ${modelName}`)));
  return changes;
}

/** After a rotation: both users log in with their new passwords (created if the stack never trained yet). */
export async function rotateServiceUsers(args: AccessArgs): Promise<string[]> {
  return [...(await ensureUser(args, "training")), ...(await ensureUser(args, "serving"))];
}
