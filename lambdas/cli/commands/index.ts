/** The commands that look at and feed a deployed pipeline: alerts, state, backfill, replay-dlq. */
import { DynamoStateStore } from '../../adapters/dynamodb-state-store.js';
import { AdapterError, ProbeWatchError } from '../../core/errors.js';
import { sanitize } from '../../core/escape.js';
import { ALERTS_USAGE, parseAlertsArgs, runAlerts } from './alerts.js';
import { BACKFILL_USAGE, parseBackfillArgs, runBackfill } from './backfill.js';
import { CommandUsageError, type OpsDeps, type OpsIo, argumentProblem, realSleep } from './common.js';
import { OPS_COMMANDS, type OpsCommand } from './names.js';
import { REPLAY_USAGE, parseReplayArgs, runReplay } from './replay-dlq.js';
import { type StackResources, clientsFor, resolveStack } from './resolve.js';
import { STATE_USAGE, parseStateArgs, runState } from './state.js';

const USAGES: Record<OpsCommand, string> = { alerts: ALERTS_USAGE, state: STATE_USAGE, backfill: BACKFILL_USAGE, 'replay-dlq': REPLAY_USAGE };

function parse(command: OpsCommand, argv: string[]) {
  try {
    switch (command) {
      case 'alerts':
        return { command, a: parseAlertsArgs(argv) } as const;
      case 'state':
        return { command, s: parseStateArgs(argv) } as const;
      case 'backfill':
        return { command, b: parseBackfillArgs(argv) } as const;
      case 'replay-dlq':
        return { command, r: parseReplayArgs(argv) } as const;
    }
  } catch (e) {
    if (argv.includes('--help') || argv.includes('-h')) return { command, help: true } as const;
    throw e instanceof ProbeWatchError ? e : new CommandUsageError(argumentProblem(e));
  }
}

/** An AWS SDK error in one line (service errors carry a name and a message; no stack trace). */
function awsMessage(e: unknown): string | null {
  const err = e as { name?: string; message?: string; $metadata?: unknown };
  if (!err || typeof err !== 'object' || !('$metadata' in err || /ECONNREFUSED|ENOTFOUND|ETIMEDOUT/.test(String(err.message)))) return null;
  return sanitize(`${err.name ?? 'Error'}: ${err.message ?? ''}`, 400);
}

/** Runs one command; returns the exit status (0 done, 1 a failure of the work, 2 usage or set-up). */
export async function runOpsCommand(command: OpsCommand, argv: string[], io: OpsIo, deps: OpsDeps = {}): Promise<number> {
  const err = (s: string) => io.stderr.write(`probewatch ${command}: ${s}\n`);
  try {
    const p = parse(command, argv);
    const values = ('help' in p ? {} : (p.a ?? p.s?.values ?? p.b?.values ?? p.r)) as { help?: boolean; env?: string; region?: string };
    if ('help' in p || values.help) {
      io.stdout.write(`${USAGES[command]}\n`);
      return 0;
    }
    if (!values.env) throw new CommandUsageError('--env NAME is required: the environment of cdk.json (e.g. --env prod), or local');
    const resolve = deps.resolve ?? ((env: string, region?: string) => resolveStack(env, { env: io.env, ...(region ? { region } : {}) }));
    const stack: StackResources = await resolve(values.env, values.region);
    const clients = clientsFor(stack);
    const where = stack.env === 'local' ? 'the local stack' : `${stack.stackName} (table ${stack.tableName})`;
    let limits = 0;
    const inspector = () => new DynamoStateStore({ tableName: stack.tableName, client: clients.dynamo, onLimit: () => limits++ });
    let code: number;
    if (p.command === 'alerts') code = await runAlerts(p.a, inspector(), io, where);
    else if (p.command === 'state') code = await runState(p.s, inspector(), io, where);
    else if (p.command === 'backfill') code = await runBackfill(p.b, stack, clients, io, deps.sleep ?? realSleep);
    else code = await runReplay(p.r, stack, clients.sqs, io);
    if (limits) err('the table holds more than one command reads at once: the list above is partial');
    return code;
  } catch (e) {
    if (e instanceof CommandUsageError) {
      err(e.message);
      io.stderr.write(`Run probewatch ${command} --help for usage.\n`);
      return 2;
    }
    if (e instanceof AdapterError) {
      err(e.message);
      return 1;
    }
    if (e instanceof ProbeWatchError) {
      err(e.message);
      return 2;
    }
    const aws = awsMessage(e);
    if (aws) {
      err(aws);
      return 1;
    }
    throw e;
  }
}
