/**
 * Files that are not regular files, made in a temporary directory for tests:
 * a FIFO, a socket, a sparse file over the default archive limit, a
 * directory named like a packet, and a link to the FIFO.
 *
 * @module
 */

import assert from "node:assert/strict";

/** A temporary directory holding one of each kind of file that is not a regular one. */
export interface Specials {
  dir: string;
  fifo: string;
  socket: string;
  /** A sparse file of 2 GiB: over the default 1 GiB archive limit, and no disk used. */
  sparse: string;
  directory: string;
  /** A symbolic link to the FIFO. */
  fifoLink: string;
  close(): Promise<void>;
}

export async function specials(): Promise<Specials> {
  const dir = await Deno.makeTempDir({ prefix: "jrm_files_test_" });
  const fifo = `${dir}/fifo.zip`;
  const made = await new Deno.Command("mkfifo", { args: [fifo] }).output();
  assert.ok(made.success, "mkfifo");
  const socket = `${dir}/socket.zip`;
  await makeSocket(socket);
  const sparse = `${dir}/sparse.zip`;
  await Deno.writeFile(sparse, new Uint8Array());
  await Deno.truncate(sparse, 2 * 1024 ** 3);
  const directory = `${dir}/directory.zip`;
  await Deno.mkdir(directory);
  const fifoLink = `${dir}/fifo-link.zip`;
  await Deno.symlink(fifo, fifoLink);
  return {
    dir,
    fifo,
    socket,
    sparse,
    directory,
    fifoLink,
    async close() {
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/**
 * Make a Unix socket file. Binding one from here needs --allow-net, which the
 * tests do not get; a socket's file outlives the process that bound it, so a
 * short Python process makes it.
 */
export async function makeSocket(path: string): Promise<void> {
  const made = await new Deno.Command("python3", {
    args: ["-c", "import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])", path],
  }).output();
  assert.ok(made.success, new TextDecoder().decode(made.stderr));
}
