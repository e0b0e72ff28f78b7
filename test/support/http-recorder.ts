import { type IncomingHttpHeaders, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A real HTTP server on 127.0.0.1: records every request and answers from a script. */
export interface Recorder {
  url: string;
  requests: { path: string; headers: IncomingHttpHeaders; body: string }[];
  /** Answers in order; the last one repeats. `hang` never answers. */
  script: ({ status: number; headers?: Record<string, string>; body?: string } | 'hang')[];
  close(): Promise<void>;
}

export async function startRecorder(): Promise<Recorder> {
  const rec = { requests: [], script: [{ status: 200 }] } as unknown as Recorder;
  const hanging: ServerResponse[] = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c) => {
      body += c;
    });
    req.on('end', () => {
      rec.requests.push({ path: req.url ?? '', headers: req.headers, body });
      const answer = rec.script[Math.min(rec.requests.length - 1, rec.script.length - 1)] ?? { status: 200 };
      if (answer === 'hang') {
        hanging.push(res);
        return;
      }
      res.writeHead(answer.status, answer.headers ?? {});
      res.end(answer.body ?? 'ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  rec.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/services/T000/B000/secret-token`;
  rec.close = async () => {
    for (const r of hanging) r.destroy();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return rec;
}
