/**
 * Small fixtures for file actions in suites that are not about files (the
 * permission matrix): an HTTP server on 127.0.0.1:0 serving one payload for
 * `files/fetch`, and paths inside a test agent's own file root.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';

let server: Promise<string> | undefined;

/** The URL of a small payload served locally; the server is unref'ed so it never holds the test run open. */
export function payloadUrl(): Promise<string> {
  server ??= new Promise((resolve) => {
    const s: Server = createServer((_req, res) => {
      res.writeHead(200, { 'content-length': 5 });
      res.end('hello');
    });
    s.listen(0, '127.0.0.1', () => {
      s.unref();
      resolve(`http://127.0.0.1:${(s.address() as AddressInfo).port}/payload`);
    });
  });
  return server;
}

/** The agent's default data folder for files (`<stateDir>/files`), made if missing. */
export function agentFiles(stateDir: string): string {
  const dir = join(stateDir, 'files');
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** Makes a file (or a directory) inside an agent's data folder and returns its path. */
export function agentFile(stateDir: string, name: string, kind: 'file' | 'dir' = 'file'): string {
  const path = join(agentFiles(stateDir), name);
  if (kind === 'dir') mkdirSync(path, { recursive: true });
  else writeFileSync(path, 'x');
  return path;
}
