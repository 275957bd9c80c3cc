/**
 * The in-stack PostgreSQL's role password, kept equal to the container's POSTGRES_PASSWORD on every
 * platform that runs it (docker's health check, kubernetes' readinessProbe): the images apply that
 * variable only when they create the database, so after a rotation the data volume would keep the old
 * password and lock MLflow out.
 */

/** Set once per container by the check below; /tmp is the container's own, so a new container sets it anew. */
const rolePasswordMarker = "/tmp/mlops-role-password-set";

/**
 * The shell that makes the role's password the container's POSTGRES_PASSWORD, as the superuser over the
 * local socket (trusted in the official image and the stand-in, scripts/docker/standins/postgres). The
 * password travels on psql's stdin (`printf` is a shell builtin), never in an argv, with its single
 * quotes doubled for the SQL literal.
 */
export function rolePasswordSync(): string {
  const sql = `printf "ALTER ROLE :\\"role\\" PASSWORD '%s';\\n" "$(printf '%s' "$POSTGRES_PASSWORD" | sed "s/'/''/g")"`;
  const psql = 'psql -X -q -v ON_ERROR_STOP=1 -v role="$POSTGRES_USER" -U "$POSTGRES_USER" -d "$POSTGRES_DB" >/dev/null';
  return `[ -f ${rolePasswordMarker} ] || { ${sql} | ${psql} && touch ${rolePasswordMarker}; }`;
}

/**
 * Ready only once the server answers on its default port (5432 on both platforms) and the role takes this
 * container's password (a shell command; docker's health check has always been exactly this, so existing
 * containers are not replaced for it).
 */
export function postgresReadyCommand(p: { readonly user: string; readonly database: string }): string {
  return `pg_isready -h 127.0.0.1 -U ${p.user} -d ${p.database} -q && ${rolePasswordSync()}`;
}
