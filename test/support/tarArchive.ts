/**
 * A minimal ustar writer: enough to hand files to the Docker Engine API (`PUT /containers/{id}/archive`),
 * which takes a tar stream. Parent directories are written as entries so extraction creates them.
 */

export interface TarFile {
  /** Absolute or relative path inside the archive; a leading `/` is dropped. */
  readonly path: string;
  readonly content: string | Buffer;
  readonly mode: number;
}

const block = 512;

function header(name: string, size: number, mode: number, type: "0" | "5"): Buffer {
  if (Buffer.byteLength(name) > 100) throw new Error(`tar: path '${name}' is longer than 100 bytes`);
  const h = Buffer.alloc(block, 0);
  const field = (value: string, offset: number, length: number) => h.write(value, offset, length, "utf8");
  const octal = (value: number, offset: number, length: number) => field(`${value.toString(8).padStart(length - 1, "0")}\0`, offset, length);
  field(name, 0, 100);
  octal(mode, 100, 8);
  octal(0, 108, 8); // uid
  octal(0, 116, 8); // gid
  octal(size, 124, 12);
  octal(Math.floor(Date.now() / 1000), 136, 12);
  field("        ", 148, 8); // checksum placeholder: spaces while summing
  field(type, 156, 1);
  field("ustar\0", 257, 6);
  field("00", 263, 2);
  let sum = 0;
  for (const byte of h) sum += byte;
  field(`${sum.toString(8).padStart(6, "0")}\0 `, 148, 8);
  return h;
}

export function tarArchive(files: readonly TarFile[]): Buffer {
  const parts: Buffer[] = [];
  const dirs = new Set<string>();
  for (const file of files) {
    const name = file.path.replace(/^\/+/, "");
    const segments = name.split("/").slice(0, -1);
    segments.forEach((_, i) => {
      const dir = `${segments.slice(0, i + 1).join("/")}/`;
      if (!dirs.has(dir)) {
        dirs.add(dir);
        parts.push(header(dir, 0, 0o755, "5"));
      }
    });
    const content = typeof file.content === "string" ? Buffer.from(file.content, "utf8") : file.content;
    parts.push(header(name, content.length, file.mode, "0"), content, Buffer.alloc((block - (content.length % block)) % block, 0));
  }
  parts.push(Buffer.alloc(block * 2, 0));
  return Buffer.concat(parts);
}
