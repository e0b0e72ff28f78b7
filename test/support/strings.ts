/** Every string inside a value (object keys included), for checking that nothing raw got through. */
export function everyString(v: unknown, out: string[] = []): string[] {
  if (typeof v === 'string') out.push(v);
  else if (Array.isArray(v)) for (const x of v) everyString(x, out);
  else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) everyString([k, x], out);
  return out;
}
