/**
 * Audit details made readable: a change's `before` and `after` (whole views of what was
 * changed) become the fields that differ, each with its old and new value; the other
 * details (revoked tokens, the identity unlinked, the authenticator of a failed step)
 * become "name: value" lines. Nested objects are named with dots ("claim_mapping.email"),
 * lists are shown as one value, so a moved item reads as the list it became.
 */

export type FieldChange = { field: string; before: string; after: string };
export type ReadableDetails = { changes: FieldChange[]; facts: { field: string; value: string }[] };

/** Shown for a field that did not exist or had no value on one side. */
export const NONE = '—';

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function show(v: unknown): string {
  if (v === undefined || v === null || v === '') return NONE;
  if (Array.isArray(v)) return v.length ? v.map((x) => (typeof x === 'string' ? x : JSON.stringify(x))).join(', ') : NONE;
  return typeof v === 'string' ? v : JSON.stringify(v);
}

/** Leaf values by dotted path; an empty object is one value. */
function flatten(value: unknown, prefix = '', into = new Map<string, unknown>()): Map<string, unknown> {
  if (isObject(value) && Object.keys(value).length) {
    for (const [k, v] of Object.entries(value)) flatten(v, prefix ? `${prefix}.${k}` : k, into);
  } else if (prefix) {
    into.set(prefix, value);
  }
  return into;
}

/** The fields whose shown value differs between `before` and `after`, in the order they appear. */
export function changedFields(before: unknown, after: unknown): FieldChange[] {
  const b = flatten(before);
  const a = flatten(after);
  const fields = [...new Set([...b.keys(), ...a.keys()])];
  return fields
    .map((field) => ({ field, before: show(b.get(field)), after: show(a.get(field)) }))
    .filter((c) => c.before !== c.after);
}

export function readableDetails(details: Record<string, unknown>): ReadableDetails {
  const { before, after, ...others } = details;
  const isChange = isObject(before) || isObject(after);
  const changes = isChange ? changedFields(before, after) : [];
  const rest = isChange ? others : details;
  const facts = [...flatten(rest)].map(([field, value]) => ({ field, value: show(value) }));
  return { changes, facts };
}
