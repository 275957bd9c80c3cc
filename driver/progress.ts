import type { EngineEvent } from "@pulumi/pulumi/automation";

/** Prints what a phase does, how far along it is and how long it took. */
export class PhaseProgress {
  private readonly started = Date.now();
  private done = 0;

  constructor(
    private readonly label: string,
    private readonly write: (line: string) => void = (line) => console.log(line),
  ) {}

  step(message: string): void {
    this.write(`[${this.label}] ${message} (${this.elapsed()} s)`);
  }

  /** Engine events: one line per finished resource operation, ignoring no-op `same` steps. */
  onEvent = (event: EngineEvent): void => {
    const outputs = event.resOutputsEvent;
    if (outputs) {
      const op = outputs.metadata.op;
      if (op === "same" || outputs.metadata.type === "pulumi:pulumi:Stack") return;
      this.done++;
      const name = outputs.metadata.urn.split("::").pop();
      this.write(`[${this.label}]   ${op} ${outputs.metadata.type} ${name} (#${this.done}, ${this.elapsed()} s)`);
    }
    const diag = event.diagnosticEvent;
    if (diag && (diag.severity === "error" || diag.severity === "warning") && !diag.message.includes("pulumi-resource-pulumi-nodejs from $PATH")) {
      this.write(`[${this.label}]   ${diag.severity}: ${diag.message.trim()}`);
    }
  };

  elapsed(): string {
    return ((Date.now() - this.started) / 1000).toFixed(1);
  }

  seconds(): number {
    return (Date.now() - this.started) / 1000;
  }
}
