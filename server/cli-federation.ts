import type { Services } from './services.ts';
import { parseChain } from './flow/chain.ts';
import { PRESETS, DEFAULT_SCOPES, IDP_NAME, checkIssuer, type ClaimMapping } from './federation/identity-providers.ts';

export type IdpFlags = {
  preset?: string; issuer?: string; 'client-id'?: string; 'client-secret-stdin': boolean; jit: boolean;
  scopes?: string; 'display-name'?: string; claim?: string[];
};

type Out = { json: boolean; print(human: string, data: unknown): void };

/**
 * `stepgate idp add|list|remove` and `stepgate user link|unlink`. Mistakes throw `usage`
 * (one stderr line, exit 2); nothing is written until every check passed.
 */
export async function federationCommand(
  s: Services, out: Out, key: string, rest: string[], values: IdpFlags,
  readStdin: () => Promise<string>, usage: new (message: string) => Error,
): Promise<number> {
  switch (key) {
    case 'idp add': {
      const [name] = rest;
      if (!name || !IDP_NAME.test(name)) throw new usage('idp add needs a name of lowercase letters, digits, "-" or "_" (the name chains use), e.g. "yahoo"');
      if (s.runner.catalog.has(name)) throw new usage(`"${name}" is already the name of an authenticator or identity provider`);
      if ((values.preset === undefined) === (values.issuer === undefined)) throw new usage('choose one of --preset yahoo|google|microsoft or --issuer <url>');
      const preset = values.preset === undefined ? undefined : PRESETS[values.preset];
      if (values.preset !== undefined && !preset) throw new usage(`unknown preset "${values.preset}" (known: ${Object.keys(PRESETS).join(', ')})`);
      const issuer = (preset?.issuer ?? values.issuer!).replace(/\/$/, '');
      const bad = checkIssuer(issuer);
      if (bad) throw new usage(bad);
      const clientId = values['client-id'];
      if (!clientId) throw new usage('idp add needs --client-id (the id the provider gave this broker)');
      if (!values['client-secret-stdin']) throw new usage('idp add needs --client-secret-stdin (never pass a secret as an argument)');
      const scopes = (values.scopes ?? DEFAULT_SCOPES.join(' ')).split(/[\s,]+/).filter(Boolean);
      if (!scopes.includes('openid')) throw new usage('--scopes must include "openid"');
      const claimMapping: ClaimMapping = {};
      for (const pair of values.claim ?? []) {
        const [field, claim] = pair.split('=');
        if ((field !== 'username' && field !== 'email') || !claim) throw new usage(`--claim "${pair}": expected username=<claim> or email=<claim>`);
        claimMapping[field] = claim;
      }
      const clientSecret = await readStdin();
      const displayName = values['display-name'] ?? preset?.displayName ?? name;
      if (!(await s.idps.add({ name, issuer, clientId, clientSecret, scopes, displayName, claimMapping, jit: values.jit }))) {
        throw new usage(`identity provider "${name}" already exists`);
      }
      out.print(`identity provider ${name} added (${issuer}); register this redirect URI with it: ${s.upstream.redirectUri(name)}`,
        { name, issuer, client_id: clientId, scopes, display_name: displayName, claim_mapping: claimMapping, jit: values.jit, redirect_uri: s.upstream.redirectUri(name) });
      return 0;
    }
    case 'idp list': {
      const idps = await s.idps.list();
      out.print(idps.map((i) => `${i.name}\t${i.issuer}\t${i.clientId}\t${i.jit ? 'jit' : 'no-jit'}\t${i.displayName}`).join('\n') || '(no identity providers)',
        idps.map((i) => ({ name: i.name, issuer: i.issuer, client_id: i.clientId, scopes: i.scopes, display_name: i.displayName, claim_mapping: i.claimMapping, jit: i.jit, redirect_uri: s.upstream.redirectUri(i.name) })));
      return 0;
    }
    case 'idp remove': {
      const [name] = rest;
      if (!name) throw new usage('usage: stepgate idp remove <name>');
      const users = (await s.clients.list()).filter((c) => parseChain(c.chain, s.runner.catalog).steps.some((step) => step.options.includes(name)));
      if (users.length > 0) throw new usage(`"${name}" is in the chain of ${users.map((c) => c.clientId).join(', ')}; change those chains first`);
      if (!(await s.idps.remove(name))) throw new usage(`no identity provider "${name}"`);
      out.print(`identity provider ${name} removed`, { name, removed: true });
      return 0;
    }
    case 'user link': {
      const [username, idpName, subject] = rest;
      if (!username || !idpName || !subject) throw new usage('usage: stepgate user link <username> <idp> <subject>');
      const user = await s.users.byUsername(username);
      if (!user) throw new usage(`no user "${username}"`);
      const idp = await s.idps.get(idpName);
      if (!idp) throw new usage(`no identity provider "${idpName}"`);
      const result = await s.links.link({ idpName, issuer: idp.issuer, subject }, user.id);
      if (result === 'taken') throw new usage(`that ${idp.displayName} identity is already linked to another user`);
      out.print(`${idp.displayName} identity ${subject} ${result === 'linked' ? 'linked to' : 'was already linked to'} ${user.username}`,
        { username: user.username, idp: idpName, issuer: idp.issuer, subject, linked: true });
      return 0;
    }
    case 'user unlink': {
      const [username, idpName, subject] = rest;
      if (!username || !idpName) throw new usage('usage: stepgate user unlink <username> <idp> [<subject>]');
      const user = await s.users.byUsername(username);
      if (!user) throw new usage(`no user "${username}"`);
      const removed = await s.links.unlink(user.id, idpName, subject);
      if (removed === 0) throw new usage(`${user.username} has no linked ${idpName} identity${subject ? ` "${subject}"` : ''}`);
      out.print(`${removed} ${idpName} identit${removed === 1 ? 'y' : 'ies'} unlinked from ${user.username}`, { username: user.username, idp: idpName, removed });
      return 0;
    }
    default:
      throw new usage(`unknown command "${key}"; run stepgate --help`);
  }
}
