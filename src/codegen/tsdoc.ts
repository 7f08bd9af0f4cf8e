/** TSDoc comments for generated declarations. */
import { type EntityDoc, type Feature, isDeprecated } from './model.js';

export interface DocParts {
  readonly text?: string | null;
  readonly since?: string | null;
  readonly features?: readonly Feature[];
  readonly featureDocs?: ReadonlyMap<string, string>;
  readonly ifcond?: string | null;
  readonly returns?: string | null;
}

export function docParts(
  doc: EntityDoc | null,
  ifcond: string | null,
  features: readonly Feature[],
): DocParts {
  return {
    text: doc?.body ?? null,
    since: doc?.since ?? null,
    features,
    featureDocs: doc?.features ?? new Map(),
    ifcond,
    returns: doc?.returns ?? null,
  };
}

/** A `/** ... *\/` block at `indent`, or '' when there is nothing to say. */
export function tsdoc(parts: DocParts, indent = ''): string {
  const lines: string[] = [];
  if (parts.text) lines.push(...parts.text.split('\n'));
  const tags: string[] = [];
  if (parts.returns) tags.push(`@returns ${parts.returns}`);
  if (parts.since) tags.push(`@since ${parts.since}`);
  if (parts.features && isDeprecated(parts.features)) {
    tags.push(`@deprecated ${parts.featureDocs?.get('deprecated') ?? 'Deprecated in the schema.'}`);
  }
  const others = (parts.features ?? []).filter((f) => f.name !== 'deprecated');
  if (others.length) tags.push(`@remarks Features: ${others.map((f) => f.name).join(', ')}`);
  if (parts.ifcond) tags.push(`@remarks Only when built with: ${parts.ifcond}`);
  if (tags.length && lines.length) lines.push('');
  lines.push(...tags.flatMap((t) => t.split('\n')));
  if (!lines.length) return '';
  const body = lines.map((l) =>
    `${indent} *${l ? ` ${l.replace(/\*\//g, '*\\/')}` : ''}`.trimEnd(),
  );
  return `${indent}/**\n${body.join('\n')}\n${indent} */\n`;
}
