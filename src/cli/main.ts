/**
 * `bike`: the command-line program over the engine. `bike <command> --help` describes each command.
 * Errors are reported on stderr as `bike <command>: <what is wrong, naming the input at fault>` with
 * exit status 1 (2 for command-line usage mistakes).
 */
import { UsageError, describeFlags } from './args.ts';
import { COMMANDS } from './commands.ts';

function overview(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((k) => k.length)) + 2;
  const lines = Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}${c.summary}`);
  return [
    'bike: BIKE video recognition (CVPR 2023) on libtorch',
    '',
    'usage: bike <command> [arguments] [options]',
    '',
    'commands:',
    ...lines,
    '',
    "The config is an original BIKE YAML config; `bike <command> --help` lists each command's options.",
  ].join('\n');
}

function commandHelp(name: string): string {
  const c = COMMANDS[name]!;
  return [`${c.summary}`, '', `usage: ${c.usage}`, '', 'options:', describeFlags(c.flags)].join('\n');
}

export async function main(argv: readonly string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    const topic = name === 'help' ? rest[0] : undefined;
    process.stdout.write(`${topic && COMMANDS[topic] ? commandHelp(topic) : overview()}\n`);
    return name === undefined ? 2 : 0;
  }
  const command = COMMANDS[name];
  if (!command) {
    process.stderr.write(
      `bike: unknown command ${JSON.stringify(name)}; commands: ${Object.keys(COMMANDS).join(', ')} (bike --help)\n`,
    );
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(`${commandHelp(name)}\n`);
    return 0;
  }
  try {
    await command.run(rest);
    return 0;
  } catch (error) {
    const rank =
      process.env.RANK !== undefined && process.env.WORLD_SIZE !== undefined && process.env.WORLD_SIZE !== '1'
        ? ` (rank ${process.env.RANK})`
        : '';
    if (error instanceof UsageError) {
      process.stderr.write(`bike ${name}: ${error.message}\nusage: ${command.usage} (bike ${name} --help)\n`);
      return 2;
    }
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`bike ${name}${rank}: ${message}\n`);
    if (process.env.BIKE_DEBUG && error instanceof Error && error.stack) process.stderr.write(`${error.stack}\n`);
    return 1;
  }
}

// Run as a script (`node --import tsx src/cli/main.ts ...`); bin/bike.mjs calls main() itself.
const invokedDirectly = import.meta.url === `file://${process.argv[1]}`;
if (invokedDirectly) {
  main(process.argv.slice(2)).then((code) => {
    // Loader threads and process groups must not keep a finished command alive.
    process.exit(code);
  });
}
