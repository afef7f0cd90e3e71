// Option checks for every constructor, with one message template: the option, what it must
// be, what it received (never a secret's value), and what to do: "`code.length` must be an
// integer from 6 to 10 (received 4). Omit it to use 6." Programmer mistakes: TypeError.

/** A short, safe description of a received option value for error messages (never the value of a secret). */
export function describe(value: unknown): string {
  if (typeof value === 'string') return value.length > 40 ? `a string of ${value.length} characters` : JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || value === null || value === undefined) return String(value);
  if (Array.isArray(value)) return `an array of ${value.length}`;
  return typeof value === 'object' ? 'an object' : typeof value;
}

/** The template: "`option` must be `rule` (received …). `hint`" */
export function invalidOption(option: string, rule: string, received: unknown, hint?: string): TypeError {
  return new TypeError(`\`${option}\` must be ${rule} (received ${describe(received)}).${hint ? ` ${hint}` : ''}`);
}

/** The first key of `value` that `known` lacks. */
export function unknownKey(value: object, known: readonly string[]): string | undefined {
  return Object.keys(value).find((key) => !known.includes(key));
}

/**
 * Throws when `value` has a key that `known` lacks (it catches `ttlSecs` typos). `where` is
 * shown as given: '`code`' for an option, 'requireStepUp' for a function's options.
 */
export function rejectUnknown(value: object, known: readonly string[], where: string): void {
  const unknown = unknownKey(value, known);
  if (unknown !== undefined) throw new TypeError(`${where} has no option \`${unknown}\`. Known: ${known.join(', ')}.`);
}

/** A plain object (not null, not an array), else "`option` must be an object." */
export function requireObject(value: unknown, option: string): asserts value is object {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new TypeError(`\`${option}\` must be an object.`);
}

/** An integer from `min` to `max`, or `fallback` when omitted. `rule` overrides the wording of the range. */
export function integerIn(value: unknown, min: number, max: number, fallback: number, option: string, rule = `an integer from ${min} to ${max}`): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw invalidOption(option, rule, value, `Omit it to use ${fallback}.`);
  }
  return value;
}

/** A required integer from `min` to `max`, no default. */
export function requireInteger(value: unknown, min: number, max: number, option: string, rule = `an integer from ${min} to ${max}`): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) throw invalidOption(option, rule, value);
  return value;
}

/** true or false, or `fallback` when omitted. */
export function booleanOr(value: unknown, fallback: boolean, option: string): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw invalidOption(option, 'true or false', value);
  return value;
}

/** A required, non-empty string, without echoing its value (it may be a secret). */
export function requireText(value: unknown, option: string, hint: string): string {
  if (typeof value !== 'string' || value.trim() === '') throw new TypeError(`\`${option}\` is required: ${hint}.`);
  return value;
}

/** The options object of `option`: a plain object with none but the `known` keys. */
export function requireOptions(value: unknown, known: readonly string[], option: string): void {
  requireObject(value, option);
  rejectUnknown(value, known, `\`${option}\``);
}
