// A small typed flag parser: every flag declared once with its type, default and help text, so
// --help, validation and error messages come from one table.
export type FlagType = 'string' | 'int' | 'number' | 'boolean';

export interface FlagSpec {
  type: FlagType;
  help: string;
  default?: string | number | boolean;
  /** Allowed values for a string flag. */
  choices?: readonly string[];
  min?: number;
  max?: number;
}

export type FlagValues = Record<string, string | number | boolean | undefined>;

export class UsageError extends Error {
  override name = 'UsageError';
}

export interface Parsed {
  flags: FlagValues;
  positional: string[];
  help: boolean;
}

export function parseArgs(argv: readonly string[], specs: Record<string, FlagSpec>): Parsed {
  const flags: FlagValues = {};
  for (const [name, spec] of Object.entries(specs)) flags[name] = spec.default;
  const positional: string[] = [];
  let help = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--help' || arg === '-h') {
      help = true;
      continue;
    }
    if (!arg.startsWith('--')) {
      positional.push(arg);
      continue;
    }
    let [name, value] = arg.slice(2).split(/=(.*)/s, 2) as [string, string | undefined];
    let negate = false;
    if (!(name in specs) && name.startsWith('no-') && specs[name.slice(3)]?.type === 'boolean') {
      name = name.slice(3);
      negate = true;
    }
    const spec = specs[name];
    if (!spec) throw new UsageError(`unknown flag --${name} (see --help)`);
    if (spec.type === 'boolean') {
      if (value === undefined) flags[name] = !negate;
      else if (value === 'true' || value === 'false') flags[name] = value === 'true';
      else throw new UsageError(`--${name} takes true or false, got '${value}'`);
      continue;
    }
    if (value === undefined) {
      value = argv[++i];
      if (value === undefined || value.startsWith('--')) throw new UsageError(`--${name} needs a value (${spec.help})`);
    }
    flags[name] = convert(name, spec, value);
  }
  return { flags, positional, help };
}

function convert(name: string, spec: FlagSpec, value: string): string | number {
  if (spec.type === 'string') {
    if (spec.choices && !spec.choices.includes(value))
      throw new UsageError(`--${name} must be one of ${spec.choices.join(', ')}; got '${value}'`);
    return value;
  }
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n)) throw new UsageError(`--${name} expects a number, got '${value}'`);
  if (spec.type === 'int' && !Number.isInteger(n)) throw new UsageError(`--${name} expects an integer, got '${value}'`);
  if (spec.min !== undefined && n < spec.min) throw new UsageError(`--${name} must be >= ${spec.min}, got ${value}`);
  if (spec.max !== undefined && n > spec.max) throw new UsageError(`--${name} must be <= ${spec.max}, got ${value}`);
  return n;
}

export function usage(command: string, summary: string, specs: Record<string, FlagSpec>, positional = ''): string {
  const lines = [`Usage: ${command} ${positional}[flags]`, '', summary, '', 'Flags:'];
  for (const [name, spec] of Object.entries(specs)) {
    const arg = spec.type === 'boolean' ? '' : ` <${spec.choices ? spec.choices.join('|') : spec.type}>`;
    const def = spec.default === undefined ? '' : ` (default: ${spec.default})`;
    const head = `  --${name}${arg}`;
    // A long choice list takes its own line rather than running into the help text.
    lines.push(head.length <= 38 ? head.padEnd(40) + `${spec.help}${def}` : `${head}\n${' '.repeat(40)}${spec.help}${def}`);
  }
  lines.push('  --help'.padEnd(40) + 'show this help');
  return lines.join('\n');
}

/** Runs a CLI main: usage/data/checkpoint errors print one line and exit 1. */
export async function runCli(main: () => Promise<void>): Promise<void> {
  try {
    await main();
  } catch (e) {
    const err = e as Error;
    const debug = process.env.FER_DEBUG === '1';
    process.stderr.write(`\nerror: ${err.message}\n`);
    if (debug && err.stack) process.stderr.write(`${err.stack}\n`);
    process.exitCode = 1;
  }
}
