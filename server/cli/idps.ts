import { readFileSync } from 'node:fs';
import { parse } from '../manage/schemas.ts';
import { CLAIM_FIELDS } from '../federation/idp-rules.ts';
import type { IdpView } from '../manage/idps.ts';
import { UsageError, type Command, type Option } from './command.ts';

type Values = Record<string, string | string[] | boolean | undefined>;

const idpOptions: Record<string, Option> = {
  preset: { type: 'string', help: 'yahoo, google or microsoft (its issuer and name)', value: 'name' },
  issuer: { type: 'string', help: 'the issuer URL (https, or http on loopback)', value: 'url' },
  'client-id': { type: 'string', help: 'the id the provider gave this broker', value: 'id' },
  'client-secret-stdin': { type: 'boolean', help: 'read its client secret from standard input' },
  'display-name': { type: 'string', help: 'shown to users ("Sign in with ...")', value: 'text' },
  scopes: { type: 'string', help: 'asked for upstream (default "openid profile email")', value: 'scopes' },
  claim: { type: 'string', multiple: true, help: `${CLAIM_FIELDS.map((f) => `${f}=<claim>`).join(' or ')}: the upstream claim that fills it`, value: 'field=claim' },
  jit: { type: 'boolean', help: 'create an account on the first sign-in (--no-jit: only linked identities)' },
  'trust-upstream-amr': { type: 'boolean', help: 'its amr counts: upstream otp/mfa satisfies a later TOTP step (--no-trust-upstream-amr: only "fed")' },
  'amr-map': { type: 'string', multiple: true, help: 'its method name to an RFC 8176 one, e.g. password=pwd', value: 'name=method' },
  'allow-private-network': { type: 'boolean', help: 'an on-premise provider on a loopback, private or link-local address (--no-allow-private-network: public only)' },
};

/** The flags given, as API input (create and update take the same). */
async function idpInput(v: Values, readStdin: (what: string) => Promise<string>): Promise<Record<string, unknown>> {
  let claimMapping: Record<string, string> | undefined;
  for (const pair of (v.claim as string[] | undefined) ?? []) {
    const [field, claim] = pair.split('=');
    if (!CLAIM_FIELDS.some((f) => f === field) || !claim) throw new UsageError(`--claim "${pair}": expected ${CLAIM_FIELDS.map((f) => `${f}=<claim>`).join(' or ')}`);
    (claimMapping ??= {})[field!] = claim;
  }
  let amrMap: Record<string, string> | undefined;
  for (const pair of (v['amr-map'] as string[] | undefined) ?? []) {
    const [from, to] = pair.split('=');
    if (!from || !to) throw new UsageError(`--amr-map "${pair}": expected <upstream name>=<RFC 8176 method>, e.g. password=pwd`);
    (amrMap ??= {})[from] = to;
  }
  return {
    preset: v.preset, issuer: v.issuer, client_id: v['client-id'], display_name: v['display-name'], jit: v.jit, allow_private_network: v['allow-private-network'],
    scopes: typeof v.scopes === 'string' ? v.scopes.split(/[\s,]+/).filter(Boolean) : undefined,
    claim_mapping: claimMapping,
    trust_upstream_amr: v['trust-upstream-amr'], amr_map: amrMap,
    client_secret: v['client-secret-stdin'] ? await readStdin('the client secret') : undefined,
  };
}

const summary = (i: IdpView) => `${i.name}\t${i.issuer}\t${i.client_id}\t${i.jit ? 'jit' : 'no-jit'}\t${i.display_name}`;

export const idpCommands: Command[] = [
  {
    name: 'idp list', summary: 'list upstream OpenID Connect providers',
    async run(cli) {
      const idps = await cli.manage.idps.list();
      cli.print(idps.map(summary).join('\n') || '(no identity providers)', idps);
    },
  },
  {
    name: 'idp show', args: '<name>', summary: 'one provider, with the redirect URI to register there and the clients that use it',
    async run(cli, [name]) {
      const idp = await cli.manage.idps.get(name!);
      cli.print(`${summary(idp)}\nscopes: ${idp.scopes.join(' ')}\nredirect URI: ${idp.redirect_uri}\nused by: ${idp.used_by.join(', ') || '-'}`, idp);
    },
  },
  {
    name: 'idp add', args: '<name>', summary: 'add a provider a chain can name; prints the redirect URI to register with it',
    options: idpOptions,
    notes: 'example: stepgate idp add yahoo --preset yahoo --client-id <id> --client-secret-stdin --jit',
    async run(cli, [name], v) {
      if (!v['client-id']) throw new UsageError('idp add needs --client-id (the id the provider gave this broker)');
      if (!v['client-secret-stdin']) throw new UsageError('idp add needs --client-secret-stdin (never pass a secret as an argument)');
      const input = parse(cli.manage.schemas.idpCreate, { name, ...(await idpInput(v, cli.readStdin)) });
      const idp = await cli.manage.idps.create(input, cli.by);
      cli.print(`identity provider ${idp.name} added (${idp.issuer}); register this redirect URI with it: ${idp.redirect_uri}`, idp);
    },
  },
  {
    name: 'idp update', args: '<name>', summary: 'change a provider (anything but its name)',
    options: idpOptions,
    async run(cli, [name], v) {
      const idp = await cli.manage.idps.update(name!, parse(cli.manage.schemas.idpUpdate, await idpInput(v, cli.readStdin)), cli.by);
      cli.print(summary(idp), idp);
    },
  },
  {
    name: 'idp remove', args: '<name>', summary: "remove a provider (refused while a client's chain names it)",
    async run(cli, [name]) {
      await cli.manage.idps.remove(name!, cli.by);
      cli.print(`identity provider ${name} removed`, { name, removed: true });
    },
  },
  {
    name: 'saml-idp list', summary: 'list SAML IdPs trusted for the saml2-bearer grant',
    async run(cli) {
      const idps = await cli.manage.samlIdps.list();
      cli.print(idps.map((i) => `${i.name}\t${i.issuer}\t${i.certificate_subject}`).join('\n') || '(no SAML IdPs)', idps);
    },
  },
  {
    name: 'saml-idp show', args: '<name>', summary: 'one trusted SAML IdP',
    async run(cli, [name]) {
      const i = await cli.manage.samlIdps.get(name!);
      cli.print(`${i.name}\t${i.issuer}\t${i.certificate_subject}\ncertificate expires ${i.certificate_expires}; accepted by ${i.used_by.join(', ') || '-'}`, i);
    },
  },
  {
    name: 'saml-idp add', args: '<name>', summary: "trust an IdP's signed assertions (then: client update <id> --saml-idps <name>)",
    options: {
      issuer: { type: 'string', help: "its entityID (the assertions' Issuer)", value: 'entityID' },
      'cert-file': { type: 'string', help: 'its signing certificate (PEM)', value: 'pem' },
    },
    async run(cli, [name], v) {
      if (!v.issuer) throw new UsageError("saml-idp add needs --issuer <entityID> (the assertions' Issuer)");
      if (!v['cert-file']) throw new UsageError('saml-idp add needs --cert-file <pem> (the IdP signing certificate)');
      let certificate: string;
      try {
        certificate = readFileSync(v['cert-file'] as string, 'utf8');
      } catch {
        throw new UsageError(`${v['cert-file'] as string} is not a readable file`);
      }
      const idp = await cli.manage.samlIdps.create(parse(cli.manage.schemas.samlIdpCreate, { name, issuer: v.issuer, certificate }), cli.by);
      cli.print(`SAML IdP ${idp.name} trusted for assertions issued by ${idp.issuer}`, idp);
    },
  },
  {
    name: 'saml-idp remove', args: '<name>', summary: 'stop trusting a SAML IdP (refused while a client accepts it)',
    async run(cli, [name]) {
      await cli.manage.samlIdps.remove(name!, cli.by);
      cli.print(`SAML IdP ${name} removed`, { name, removed: true });
    },
  },
];
