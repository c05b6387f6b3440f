import { readableDetails, NONE } from '../../server/admin/audit-diff.ts';
import assert from 'node:assert/strict';
import editChain, { ChainEditError } from '../../server/admin/chain-edit.ts';
import { redact } from '../../server/audit/index.ts';
import { parseChain, formatChain } from '../../server/flow/chain.ts';

const catalog = { has: (id: string) => ['password', 'totp', 'recovery'].includes(id), requiresUser: (id: string) => id !== 'password' };
const edit = (text: string, e: Parameters<typeof editChain>[1]) => formatChain(editChain(parseChain(text, catalog), e));

describe('chain editor operations', () => {
  it('adds, removes and reorders steps and alternatives', () => {
    assert.equal(edit('password', { op: 'add-step', authenticator: 'totp' }), 'password,totp');
    assert.equal(edit('password,totp', { op: 'add-option', step: 1, authenticator: 'recovery' }), 'password,totp|recovery');
    assert.equal(edit('password,totp|recovery', { op: 'move-option', step: 1, option: 1, by: -1 }), 'password,recovery|totp');
    assert.equal(edit('password,totp|recovery', { op: 'remove-option', step: 1, option: 0 }), 'password,recovery');
    assert.equal(edit('password,totp,recovery', { op: 'move-step', step: 2, by: -1 }), 'password,recovery,totp');
    assert.equal(edit('password,totp', { op: 'remove-step', step: 1 }), 'password');
    assert.equal(edit('password,totp', { op: 'remove-option', step: 1, option: 0 }), 'password', 'removing the last alternative removes the step');
  });

  it('refuses edits that point nowhere', () => {
    assert.throws(() => edit('password', { op: 'remove-step', step: 3 }), ChainEditError);
    assert.throws(() => edit('password', { op: 'move-step', step: 0, by: -1 }), ChainEditError);
    assert.throws(() => edit('password', { op: 'remove-option', step: 0, option: 5 }), ChainEditError);
  });

  it('leaves validation to parseChain: an edit that puts TOTP first is caught there', () => {
    const moved = edit('password,totp', { op: 'move-step', step: 1, by: -1 });
    assert.throws(() => parseChain(moved, catalog), /cannot be in the first step/);
  });
});

describe('audit redaction', () => {
  it('replaces secrets at any depth and keeps everything else', () => {
    const out = redact({ after: { client_secret: 's3cret', chain: 'password', user_token_ttl: 600, access_token: 'at', nested: [{ password: 'p', passwordHash: 'h', totpSecret: 't', name: 'n' }] }, secret_rotated: true });
    assert.deepEqual(out, { after: { client_secret: '[redacted]', chain: 'password', user_token_ttl: 600, access_token: '[redacted]', nested: [{ password: '[redacted]', passwordHash: '[redacted]', totpSecret: '[redacted]', name: 'n' }] }, secret_rotated: true });
  });
});

describe('audit details made readable', () => {
  it('lists only the changed fields, nested ones by dotted name, lists as one value', () => {
    const before = { name: 'A', chain: 'password', redirect_uris: ['https://a/cb'], claim_mapping: { email: 'mail' }, first_party: false };
    const after = { name: 'B', chain: 'password', redirect_uris: ['https://a/cb', 'https://a/cb2'], claim_mapping: { email: 'mail', username: 'upn' }, first_party: true };
    assert.deepEqual(readableDetails({ before, after, secret_rotated: true }), {
      changes: [
        { field: 'name', before: 'A', after: 'B' },
        { field: 'redirect_uris', before: 'https://a/cb', after: 'https://a/cb, https://a/cb2' },
        { field: 'first_party', before: 'false', after: 'true' },
        { field: 'claim_mapping.username', before: NONE, after: 'upn' },
      ],
      facts: [{ field: 'secret_rotated', value: 'true' }],
    });
  });

  it('a creation lists what was set, a deletion what was there; other details become name: value', () => {
    assert.deepEqual(readableDetails({ after: { name: 'x', roles: [] } }).changes, [{ field: 'name', before: NONE, after: 'x' }]);
    assert.deepEqual(readableDetails({ before: { name: 'x' }, revoked: 2 }), { changes: [{ field: 'name', before: 'x', after: NONE }], facts: [{ field: 'revoked', value: '2' }] });
    assert.deepEqual(readableDetails({ authenticator: 'password', step: 1 }).facts, [{ field: 'authenticator', value: 'password' }, { field: 'step', value: '1' }]);
    assert.deepEqual(readableDetails({ before: { a: 1 }, after: { a: 1 } }).changes, [], 'an empty update changes nothing');
  });
});
