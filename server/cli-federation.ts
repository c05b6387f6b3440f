import type { Services } from './services.ts';
import { DEFAULT_SCOPES, type ClaimMapping } from './federation/identity-providers.ts';
import { CLAIM_FIELDS, idpNameProblem, nameTakenProblem, resolveSource, scopesProblem, clientsNaming, inUseProblem } from './federation/idp-rules.ts';

export type IdpFlags = {
  preset?: string; issuer?: string; 'client-id'?: string; 'client-secret-stdin': boolean; jit: boolean; 'allow-private-network': boolean;
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
      if (!name) throw new usage('idp add needs a name of lowercase letters, digits, "-" or "_" (the name chains use), e.g. "yahoo"');
      const badName = idpNameProblem(name) ?? nameTakenProblem(name, s.runner.catalog);
      if (badName) throw new usage(`idp add: ${badName}`);
      const source = resolveSource({ preset: values.preset, issuer: values.issuer });
      if ('problem' in source) throw new usage(`--${source.path}: ${source.problem}`);
      const { issuer } = source;
      const clientId = values['client-id'];
      if (!clientId) throw new usage('idp add needs --client-id (the id the provider gave this broker)');
      if (!values['client-secret-stdin']) throw new usage('idp add needs --client-secret-stdin (never pass a secret as an argument)');
      const scopes = (values.scopes ?? DEFAULT_SCOPES.join(' ')).split(/[\s,]+/).filter(Boolean);
      const badScopes = scopesProblem(scopes);
      if (badScopes) throw new usage(`--scopes: ${badScopes}`);
      const claimMapping: ClaimMapping = {};
      for (const pair of values.claim ?? []) {
        const [field, claim] = pair.split('=');
        const known = CLAIM_FIELDS.find((f) => f === field);
        if (!known || !claim) throw new usage(`--claim "${pair}": expected ${CLAIM_FIELDS.map((f) => `${f}=<claim>`).join(' or ')}`);
        claimMapping[known] = claim;
      }
      const clientSecret = await readStdin();
      const displayName = values['display-name'] ?? source.displayName ?? name;
      if (!(await s.idps.add({ name, issuer, clientId, clientSecret, scopes, displayName, claimMapping, jit: values.jit, allowPrivateNetwork: values['allow-private-network'] }))) {
        throw new usage(`identity provider "${name}" already exists`);
      }
      out.print(`identity provider ${name} added (${issuer}); register this redirect URI with it: ${s.upstream.redirectUri(name)}`,
        { name, issuer, client_id: clientId, scopes, display_name: displayName, claim_mapping: claimMapping, jit: values.jit, allow_private_network: values['allow-private-network'], redirect_uri: s.upstream.redirectUri(name) });
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
      const users = clientsNaming(name, await s.clients.list());
      if (users.length > 0) throw new usage(inUseProblem(name, users));
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
