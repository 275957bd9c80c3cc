/**
 * A small stand-in for one model-server replica, run as its own process so tests can kill it for real:
 * `node --import tsx fakeReplica.ts <port> <id>`. Its behaviour is switched over HTTP (`POST /mode/<m>`):
 * - `ok` (default): `/ping` 200, `POST /invocations` answers `{"id", "echo"}`;
 * - `loading`: `/ping` and everything else 503, like a server still loading;
 * - `draining`: `/ping` 503 but `/invocations` still answered, like a server serving out its drain time;
 * - `hang`: `/invocations` never answers (and `/ping` neither);
 * - `half`: `/invocations` sends headers and half a body, then waits (for the test to kill the process).
 * Every `/invocations` that arrives is counted (`GET /count`), so a test can see a replay.
 * `GET /version` answers `{"version", "replica_id"}` like the model server; `POST /set-version/<v>` changes it
 * (a replica replaced by one serving another model version).
 */
import * as http from "node:http";

const [portArg = "0", id = "fake"] = process.argv.slice(2);
let mode = "ok";
let invocations = 0;
let version = "1";

const server = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on("data", (c: Buffer) => chunks.push(c));
  req.on("end", () => {
    const url = req.url ?? "/";
    if (url.startsWith("/mode/")) {
      mode = url.slice("/mode/".length);
      res.end("ok");
      return;
    }
    if (url.startsWith("/set-version/")) {
      version = url.slice("/set-version/".length);
      res.end("ok");
      return;
    }
    if (url === "/count") {
      res.end(JSON.stringify({ invocations }));
      return;
    }
    if (url === "/invocations") invocations++;
    if (mode === "hang") return;
    // Loading refuses everything; draining fails its health checks but still serves predictions.
    if (mode === "loading" || (mode === "draining" && url !== "/invocations")) {
      res.writeHead(503, { "content-type": "application/json", "x-replica-id": id });
      res.end(JSON.stringify({ status: mode }));
      return;
    }
    if (url === "/ping") {
      res.writeHead(200, { "content-type": "application/json", "x-replica-id": id });
      res.end('{"status":"ok"}');
      return;
    }
    if (url === "/version") {
      res.writeHead(200, { "content-type": "application/json", "x-replica-id": id });
      res.end(JSON.stringify({ version, replica_id: id }));
      return;
    }
    if (mode === "half") {
      res.writeHead(200, { "content-type": "application/json", "content-length": "1000", "x-replica-id": id });
      res.write('{"id": "');
      return;
    }
    res.writeHead(200, { "content-type": "application/json", "x-replica-id": id });
    res.end(JSON.stringify({ id, echo: Buffer.concat(chunks).toString() }));
  });
});
server.listen(Number(portArg), "127.0.0.1", () => {
  const address = server.address();
  console.log(`listening ${typeof address === "object" && address ? address.port : portArg}`);
});
