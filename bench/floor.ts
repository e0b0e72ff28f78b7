/**
 * The floor of a line in this runtime: the least any parser of the combined format does per line,
 * timed on the same lines as the core. It finds the client, the time, the request line, the status
 * and the user agent with `indexOf`, compares the time and the agent with the line before's, looks
 * the request line up in a map (where a real classifier keeps its cached verdict) and the client
 * in another (where an aggregator keeps its state), counts, and makes one record. It classifies
 * nothing and keeps no window. What the core may spend on classifying and aggregating a line is at
 * most the time the goal gives a line less the floor's time per line.
 */
export function floorLines(lines: readonly string[]): { seconds: number; requests: number; sources: number } {
  const start = process.hrtime.bigint();
  const requests = new Map<string, { n: number }>();
  const sources = new Map<string, { n: number; status: number }>();
  let lastTime = '';
  let lastAgent = '';
  let changes = 0;
  for (const line of lines) {
    const sp = line.indexOf(' ');
    const open = line.indexOf('[', sp);
    const close = line.indexOf(']', open);
    if (sp < 0 || open < 0 || close < 0) continue;
    const time = line.slice(open + 1, close);
    if (time !== lastTime) {
      lastTime = time;
      changes++;
    }
    const q1 = close + 2;
    const q2 = line.indexOf('"', q1 + 1);
    const q3 = line.indexOf('"', q2 + 1);
    const q4 = line.indexOf('"', q3 + 1);
    const q5 = line.indexOf('"', q4 + 1);
    const q6 = line.indexOf('"', q5 + 1);
    if (q6 < 0) continue;
    const request = line.slice(q1 + 1, q2);
    let verdict = requests.get(request);
    if (verdict === undefined) {
      verdict = { n: 0 };
      requests.set(request, verdict);
    }
    verdict.n++;
    const agent = line.slice(q5 + 1, q6);
    if (agent !== lastAgent) {
      lastAgent = agent;
      changes++;
    }
    const record = { client: line.slice(0, sp), time, request, status: Number(line.slice(q2 + 2, q2 + 5)), agent };
    let source = sources.get(record.client);
    if (source === undefined) {
      source = { n: 0, status: 0 };
      sources.set(record.client, source);
    }
    source.n++;
    source.status += record.status;
  }
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  // Read back so that no part of the loop is dead code.
  if (changes < 0) throw new Error('unreachable');
  return { seconds, requests: requests.size, sources: sources.size };
}
