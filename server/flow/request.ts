import { decodeJwt } from 'jose';
import type { PlanContext } from './plan.ts';

export type RequestFacts = NonNullable<PlanContext['request']>;

/**
 * What a relying party's authorization request asks of the login, from its parameters:
 * acr_values, an essential `acr` in the claims parameter, max_age, prompt and the subject of
 * id_token_hint. oidc-provider has validated all of them (the id_token_hint's signature
 * too) before any of our code sees the request, so the hint is only decoded here.
 */
export function requestFacts(params: Record<string, unknown>): RequestFacts {
  const facts: RequestFacts = {};
  const words = (v: unknown) => (typeof v === 'string' ? v.split(' ').filter(Boolean) : []);
  const acrValues = words(params.acr_values);
  if (acrValues.length) facts.acrValues = acrValues;
  const prompt = words(params.prompt);
  if (prompt.length) facts.prompt = prompt;
  if (params.max_age !== undefined && Number.isInteger(Number(params.max_age))) facts.maxAge = Number(params.max_age);
  if (typeof params.claims === 'string') {
    try {
      const acr = (JSON.parse(params.claims) as { id_token?: { acr?: { essential?: boolean; value?: unknown; values?: unknown } } }).id_token?.acr;
      if (acr?.essential) {
        const values = [...(typeof acr.value === 'string' ? [acr.value] : []), ...(Array.isArray(acr.values) ? acr.values.filter((v): v is string => typeof v === 'string') : [])];
        if (values.length) facts.essentialAcr = values;
      }
    } catch {
      // oidc-provider refuses a malformed claims parameter before an interaction exists
    }
  }
  if (typeof params.id_token_hint === 'string') {
    try {
      const sub = decodeJwt(params.id_token_hint).sub;
      if (sub) facts.hintSubject = sub;
    } catch {
      // likewise validated upstream of us
    }
  }
  return facts;
}
