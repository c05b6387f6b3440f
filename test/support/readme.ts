import { readFileSync } from 'node:fs';

const README = new URL('../../README.md', import.meta.url);

/**
 * The code block of README.md that follows `<!-- snippet: <name> -->`, with only the
 * placeholders in `fill` replaced (addresses, credentials). Each placeholder must occur in
 * the snippet, so that a README edit that drops one is noticed rather than run as something else.
 */
export function readmeSnippet(name: string, fill: Record<string, string>): string {
  const text = readFileSync(README, 'utf8');
  const marker = `<!-- snippet: ${name} -->`;
  const at = text.indexOf(marker);
  if (at < 0) throw new Error(`README.md has no ${marker}`);
  const block = /^```[^\n]*\n([\s\S]*?)^```$/m.exec(text.slice(at + marker.length));
  if (!block) throw new Error(`README.md has no code block after ${marker}`);
  let code = block[1]!;
  for (const [placeholder, value] of Object.entries(fill)) {
    if (!code.includes(placeholder)) throw new Error(`the README snippet "${name}" no longer contains ${placeholder}`);
    code = code.replaceAll(placeholder, value);
  }
  return code;
}
