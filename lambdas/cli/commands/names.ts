/**
 * The names and the help line of the commands on a deployed pipeline, apart from the commands
 * themselves: the CLI reads these at every start, and loads the commands (and the AWS SDK they
 * need) only when one of them is run.
 */

/** The command names main.ts dispatches here. */
export const OPS_COMMANDS = ['alerts', 'state', 'backfill', 'replay-dlq'] as const;
export type OpsCommand = (typeof OPS_COMMANDS)[number];
export const isOpsCommand = (c: string | undefined): c is OpsCommand => (OPS_COMMANDS as readonly string[]).includes(c ?? '');

/** One line of the main help per command. */
export const OPS_HELP = `Commands on a deployed pipeline (--env NAME, or --env local for npm run local -- --keep-running):
  probewatch alerts --env NAME [--since 24h]      past alerts, newest first
  probewatch state --env NAME [SOURCE]            what the detector holds for a source, or the top sources
  probewatch backfill --env NAME s3://BUCKET/PREFIX   feed objects already in the bucket, paced
  probewatch replay-dlq --env NAME                move dead-lettered objects back to the queue
Run probewatch COMMAND --help for a command's options.`;
